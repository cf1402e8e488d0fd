"""The lean decision graph and the numpy StreamingPolicy against the weight file's numpy reference.

Synthetic weight files cover the variants the shipped model does not: other head depths, ReLU, domains with
different numbers of choices, several routed models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metadvfs.core import codec
from metadvfs.export.decision_graph import app_terms, decision_graph
from metadvfs.export.stream import StreamingPolicy
from metadvfs.export.weights import ModelWeights, RunnerWeights, reference_actions


def _weights(widths: list[int], activation: str, nvec: list[int], seed: int = 0) -> RunnerWeights:
    rng = np.random.default_rng(seed)
    w = RunnerWeights(
        device="synthetic", profile_hash="0" * 16, window=5, hidden=6, proj=4, meta_dim=3, emb=2, widths=widths,
        activation=activation, action_mode="absolute", levels=max(nvec), nvec=nvec, eps=1e-5, routes=[],
    )  # fmt: skip
    for _ in range(2):
        ts = [rng.normal(0, 0.8, s).astype(np.float32) for s in w.shapes()]
        nh = len(widths)
        names = ("ln_w", "ln_b", "w_in", "w_h", "bias", "fc_w", "fc_b", "meta_w", "meta_b", "film_w", "film_b")
        head = [(ts[11 + 2 * i], ts[12 + 2 * i]) for i in range(nh)]
        fields = dict(zip(names, ts[:11], strict=True))
        w.models.append(ModelWeights(**fields, head=head, act_w=ts[11 + 2 * nh], act_b=ts[12 + 2 * nh]))
    keys = rng.normal(0, 1, (3, 3)).astype(np.float32)
    w.routes = [("a", 0, True, keys[0]), ("b", 1, True, keys[1]), ("c", 1, True, keys[2])]
    w.routes.append(("default", 0, False, keys.mean(0)))
    w.routes[-1] = ("default", w.route("default")[0], False, keys.mean(0))  # the nearest key's model
    return w


@pytest.mark.parametrize(
    ("widths", "activation", "nvec"),
    [
        ([8, 8], "tanh", [3, 3, 3, 3]),
        ([7], "relu", [4, 2, 5, 3]),
        ([], "tanh", [3, 3, 3, 3]),
        ([9, 5, 4], "relu", [2, 3, 2, 6]),
    ],
)
def test_lean_graph_and_streaming_equal_reference(widths: list[int], activation: str, nvec: list[int]) -> None:
    import onnxruntime as ort

    w = _weights(widths, activation, nvec)
    rng = np.random.default_rng(1)
    seq = rng.uniform(0, 1, (400 + w.window, codec.OBS_DIM)).astype(np.float32)
    obs = np.stack([seq[i : i + w.window] for i in range(400)])
    sp = StreamingPolicy(w)
    for app in ("a", "b", "zz"):  # two models, and an unknown app (default route)
        ref = reference_actions(w, obs, app)
        g, meta = w.route(app)
        sess = ort.InferenceSession(decision_graph(w, w.models[g]), providers=["CPUExecutionProvider"])
        a, c = app_terms(w, w.models[g], meta)
        got = np.stack([sess.run(["action"], {"obs": o, "A": a, "c": c})[0] for o in obs])
        assert got.shape == (len(obs), 4) and got.dtype == np.int64
        assert int((got != ref).any(axis=1).sum()) == 0, f"lean graph differs ({widths}, {activation}, {nvec})"
        streamed = np.stack([sp.act(o, app) for o in obs])
        assert int((streamed != ref).any(axis=1).sum()) == 0, f"streaming differs ({widths}, {activation}, {nvec})"
        assert len({tuple(x) for x in ref}) > 1
    assert sp.incremental > 0.9 * 3 * len(obs)


def test_lean_runtime_refuses_weights_swapped_after_the_manifest_was_loaded(tiny_model: Path, tmp_path: Path) -> None:
    from metadvfs.errors import MetaDVFSError
    from metadvfs.export.exporter import export_governor
    from metadvfs.export.manifest import load_manifest
    from metadvfs.export.runtime import GovernorRuntime

    out = tmp_path / "gov"
    export_governor(tiny_model, "pixel6", out)
    m = load_manifest(out)
    data = bytearray((out / "policy.bin").read_bytes())
    data[300] ^= 0xFF
    (out / "policy.bin").write_bytes(bytes(data))
    with pytest.raises(MetaDVFSError, match=r"policy\.bin: SHA-256 differs from manifest\.json"):
        GovernorRuntime(m)
    assert not GovernorRuntime(m, lean=False).lean  # the whole policy.onnx does not read policy.bin
