"""The runner weight file (policy.bin): written by export, read back, same policy as the ONNX graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.export.exporter import export_governor
from metadvfs.export.manifest import load_manifest
from metadvfs.export.weights import (
    HEADER_SIZE,
    OBS_SCHEMA,
    WEIGHTS_FILE,
    decode_weights,
    encode_weights,
    read_weights,
    reference_actions,
)


@pytest.fixture(scope="module")
def gov(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gov") / "pixel6"
    export_governor(tiny_model, "pixel6", out)
    return out


def test_export_writes_weights_listed_in_manifest(gov: Path) -> None:
    doc = json.loads((gov / "manifest.json").read_text())
    assert WEIGHTS_FILE in doc["files"]
    m = load_manifest(gov)  # hashes every listed file
    w = read_weights(gov / WEIGHTS_FILE)
    assert w.device == "pixel6" and w.profile_hash == m.profile_hash and w.obs_schema == OBS_SCHEMA
    assert w.window == m.codec.window and w.nvec == m.codec.nvec and w.meta_dim == m.meta_dim
    assert {r[0] for r in w.routes} == set(m.meta)
    assert encode_weights(w) == (gov / WEIGHTS_FILE).read_bytes()  # the reader loses nothing


def test_reference_equals_onnx(gov: Path) -> None:
    from metadvfs.export.runtime import GovernorRuntime

    rt = GovernorRuntime(gov)
    w = read_weights(gov / WEIGHTS_FILE)
    rng = np.random.default_rng(3)
    obs = rng.uniform(0, 1.5, (300, rt.window, 26)).astype(np.float32)
    for app in ("tiktok", "3dmark", None):
        ref = np.stack([rt.act(o, rt.manifest.meta_for(app)) for o in obs])
        assert np.array_equal(reference_actions(w, obs, app), ref)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b[:-1], "bytes, the header announces"),
        (lambda b: b[: HEADER_SIZE + 100], "bytes, the header announces"),
        (lambda b: b[:100], "truncated"),
        (lambda b: b"X" + b[1:], "bad magic"),
        (lambda b: b[:8] + (2).to_bytes(4, "little") + b[12:], "format version 2"),
        (lambda b: b[:80] + (1).to_bytes(4, "little") + b[84:], "observation schema"),
        (lambda b: b[: HEADER_SIZE + 50] + bytes([b[HEADER_SIZE + 50] ^ 1]) + b[HEADER_SIZE + 51 :], "corrupt"),
    ],
)
def test_bad_weight_files_are_refused(gov: Path, edit: object, message: str) -> None:
    data = (gov / WEIGHTS_FILE).read_bytes()
    with pytest.raises(MetaDVFSError, match=message):
        decode_weights(edit(data))  # type: ignore[operator]
