"""Governor directories and the torch-free runtime: onnx and rule kinds, bad manifests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metadvfs.deploy.bench import tiny_onnx_policy, write_onnx_governor
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import load_manifest, write_rule_governor
from metadvfs.export.runtime import GovernorRuntime

NF = len(codec.DOMAIN_FEATURES)


def test_runtime_does_not_import_torch(tmp_path: Path) -> None:
    gdir = write_onnx_governor("pixel6", tmp_path / "g", window=4)
    code = (
        "import sys, numpy as np\n"
        "import metadvfs.export.runtime as rt\n"
        f"r = rt.GovernorRuntime({str(gdir)!r})\n"
        "a = r.act(np.zeros((4, 26), np.float32), r.manifest.meta['default'])\n"
        "assert a.shape == (4,)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_onnx_matches_numpy_reference(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    gdir = write_onnx_governor("pixel6", tmp_path / "g", window=3, hidden=16, seed=3)
    rt = GovernorRuntime(gdir)
    assert rt.kind == "onnx"
    model = onnx.load(str(gdir / "policy.onnx"))
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    rng = np.random.default_rng(1)
    for _ in range(20):
        obs = rng.uniform(0, 2, (3, 26)).astype(np.float32)
        meta = rt.manifest.meta["tiktok"]
        x = np.concatenate([obs.reshape(-1), meta])
        z = np.maximum(x @ w["W1"] + w["b1"], 0) @ w["W2"] + w["b2"]
        want = z.reshape(4, 3).argmax(axis=1)
        got = rt.act(obs, meta)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    with pytest.raises(MetaDVFSError, match="obs_window"):
        rt.act(np.zeros((2, 26), np.float32), rt.manifest.meta["default"])
    with pytest.raises(MetaDVFSError, match="meta"):
        rt.act(np.zeros((3, 26), np.float32), np.zeros(3, np.float32))


def _row(levels: list[float], utils: list[float], freqs: list[float] | None = None) -> np.ndarray:
    row = np.zeros((1, 26), np.float32)
    for d in range(4):
        row[0, d * NF] = 1.0
        row[0, d * NF + 1] = utils[d]
        row[0, d * NF + 2] = (freqs or [1, 1, 1, 1])[d]
        row[0, d * NF + 3] = levels[d]
    return row


@pytest.mark.parametrize(
    ("rule", "want"),
    [("performance", [2, 2, 2, 2]), ("powersave", [0, 0, 0, 0]), ("fixed:0.5", [1, 1, 1, 1])],
)
def test_rules_relative(tmp_path: Path, rule: str, want: list[int]) -> None:
    rt = GovernorRuntime(write_rule_governor("pixel6", rule, tmp_path / "g"))
    n = rt.manifest.codec.n_opp
    mid = [np.rint(0.5 * (k - 1)) / (k - 1) for k in n]  # exactly at fixed:0.5
    np.testing.assert_array_equal(rt.act(_row(mid, [0.3] * 4), rt.manifest.meta["default"]), want)


def test_schedutil_rule_follows_util(tmp_path: Path) -> None:
    rt = GovernorRuntime(write_rule_governor("pixel6", "schedutil", tmp_path / "g"))
    meta = rt.manifest.meta["default"]
    # high util at the bottom level -> up; zero util at the top -> down; GPU: busy at current freq
    a = rt.act(_row([0, 0, 1, 0.5], [0.9, 0.9, 0.0, 0.0], [0.2, 0.2, 1.0, 0.5]), meta)
    np.testing.assert_array_equal(a[:3], [2, 2, 0])
    assert a[3] == 0
    # little: util 0.5 -> 1.25*0.5*1803 = 1127 MHz -> lowest OPP >= it is 1197 MHz (index 5)
    tab = rt.manifest.table(0)
    assert tab[5] == 1197000
    a = rt.act(_row([5 / 10, 0, 0, 0], [0.5, 0, 0, 0]), meta)
    assert a[0] == 1


def test_rule_absolute_mode(tmp_path: Path) -> None:
    rt = GovernorRuntime(write_rule_governor("pixel3", "performance", tmp_path / "g", action_mode="absolute", levels=5))
    m = rt.manifest
    assert m.codec.mask[1] == 0.0  # Pixel 3 has no mid cluster
    a = rt.act(_row([0, 0, 0, 0], [0] * 4), m.meta["default"])
    assert a.tolist() == [4, 0, 4, 4]
    levels = codec.decode(a[None], np.zeros((1, 4), np.int64), m.codec.spec(), "absolute", 5)[0]
    assert levels.tolist() == [n - 1 if n else 0 for n in m.codec.n_opp]


def test_rule_governor_manifest_matches_env_spec(tmp_path: Path) -> None:
    import gymnasium as gym

    import metadvfs.environment  # noqa: F401

    m = load_manifest(write_rule_governor("pixel5", "schedutil", tmp_path / "g", window=4))
    env = gym.make("metadvfs/DVFS-v0", device="pixel5", app="weibo", window=4)
    spec = env.unwrapped.batch.spec
    s = m.codec.spec()
    for k in ("mask", "fmax_mhz", "n_opp", "p_max_mw", "ambient_c", "die_throttle_c", "skin_throttle_c"):
        np.testing.assert_allclose(getattr(s, k), getattr(spec, k))
    np.testing.assert_allclose(m.meta_for("weibo"), env.unwrapped.batch.meta[0])
    assert env.observation_space["meta"].shape == (m.meta_dim,)
    env.close()


def _good(tmp_path: Path) -> Path:
    return write_rule_governor("pixel6", "schedutil", tmp_path / "g")


def _edit(gdir: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads((gdir / "manifest.json").read_text())
    fn(doc)
    (gdir / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(schema="metadvfs.governor/9"), "schema"),
        (lambda d: d.update(kind="tflite"), "kind"),
        (lambda d: d.update(rule="turbo"), "rule"),
        (lambda d: d["codec"].update(obs_dim=30), "codec.obs_dim"),
        (lambda d: d["codec"].update(window=0), "codec.window"),
        (lambda d: d["codec"]["n_opp"].__setitem__(0, 5), r"codec.n_opp\[0\]"),
        (lambda d: d["codec"]["mask"].__setitem__(1, 0.0), r"codec.mask\[1\]"),
        (lambda d: d["domains"]["little"].update(cpufreq_policy="cpu0; reboot"), "cpufreq_policy"),
        (lambda d: d["domains"]["big"]["freqs_khz"].reverse(), "strictly increasing"),
        (lambda d: d["meta"].pop("default"), "meta"),
        (lambda d: d["meta"].update(tiktok=[1.0]), "meta.tiktok"),
        (lambda d: d.pop("throttle"), "throttle"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(decision_interval_s=0), "decision_interval_s"),
        (lambda d: d.update(model_file="policy.onnx"), "model_file"),
    ],
)
def test_bad_manifests(tmp_path: Path, edit, match: str) -> None:  # type: ignore[no-untyped-def]
    gdir = _good(tmp_path)
    _edit(gdir, edit)
    with pytest.raises(MetaDVFSError, match=match) as exc:
        GovernorRuntime(gdir)
    assert "\n" not in str(exc.value)
    assert "manifest.json" in str(exc.value)


def test_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(MetaDVFSError, match="governor directory not found"):
        GovernorRuntime(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetaDVFSError, match=r"no manifest\.json"):
        GovernorRuntime(tmp_path / "empty")
    gdir = _good(tmp_path)
    (gdir / "manifest.json").write_text("{ not json")
    with pytest.raises(MetaDVFSError, match="invalid JSON at line 1"):
        GovernorRuntime(gdir)


def _rehash(gdir: Path) -> None:
    """Re-sign the manifest after replacing its model (what a consistent but bad export would look like)."""
    import json

    from metadvfs.export.manifest import file_sha256

    doc = json.loads((gdir / "manifest.json").read_text())
    doc["files"] = {"policy.onnx": file_sha256(gdir / "policy.onnx")}
    (gdir / "manifest.json").write_text(json.dumps(doc))


def test_onnx_missing_corrupt_or_wrong_interface(tmp_path: Path) -> None:
    gdir = write_onnx_governor("pixel6", tmp_path / "g", window=2)
    (gdir / "policy.onnx").unlink()
    with pytest.raises(MetaDVFSError, match=r"model file 'policy\.onnx'.*missing"):
        GovernorRuntime(gdir)
    (gdir / "policy.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(MetaDVFSError, match=r"SHA-256 .* differs from manifest\.json files\.policy\.onnx"):
        GovernorRuntime(gdir)  # a replaced file is refused by its hash first
    _rehash(gdir)
    with pytest.raises(MetaDVFSError, match="cannot load the ONNX model"):
        GovernorRuntime(gdir)
    # a model whose window disagrees with the manifest
    meta_dim = int(load_manifest(gdir).meta_dim)
    tiny_onnx_policy(gdir / "policy.onnx", window=5, meta_dim=meta_dim, nvec=3)
    _rehash(gdir)
    with pytest.raises(MetaDVFSError, match="input 'obs' has shape"):
        GovernorRuntime(gdir)
    # a model that emits actions outside the relative space (nvec 5 > 3)
    tiny_onnx_policy(gdir / "policy.onnx", window=2, meta_dim=meta_dim, nvec=50, seed=1)
    _rehash(gdir)
    rt = GovernorRuntime(gdir)
    bad = 0
    for s in range(20):
        obs = np.random.default_rng(s).uniform(0, 2, (2, 26)).astype(np.float32)
        try:
            rt.act(obs, rt.manifest.meta["default"])
        except MetaDVFSError as exc:
            assert "outside the action space" in str(exc)
            bad += 1
    assert bad > 0
