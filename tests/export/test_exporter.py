from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from simobs import sim_observations
from typer.testing import CliRunner

from metadvfs.catalog.devices import list_devices, load_device
from metadvfs.cli import app
from metadvfs.export.exporter import export_governor, torch_actions
from metadvfs.learn.checkpoint import load_checkpoint


def _sim_observations(model_dir: Path, device: str, n_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations (and the manifest-style meta) visited by the model itself on the simulated phone."""
    obs, meta, _, _ = sim_observations(model_dir, device, n_min)
    return obs, meta


def test_export_parity_on_10k_simulated_observations(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "gov"
    res = export_governor(tiny_model, "pixel6", out)
    assert (out / "policy.onnx").is_file() and res["parameters"] > 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "onnx" and man["codec"]["window"] == 4 and "default" in man["meta"]
    obs, meta = _sim_observations(tiny_model, "pixel6", 10_000)
    assert len(obs) >= 10_000
    model = load_checkpoint(tiny_model)
    ref = model.act("all", {"obs": obs, "meta": meta})  # the trained SB3 policy itself (ncps CfC, not fused)
    fused = torch_actions(model, load_device("pixel6"), obs, meta)
    assert np.array_equal(fused, ref)
    from metadvfs.export.runtime import GovernorRuntime

    for lean in (True, False):  # the routed model's lean graph (from policy.bin) and the whole policy.onnx
        rt = GovernorRuntime(out, lean=lean)
        assert rt.lean is lean
        got = np.stack([rt.act(o, mm) for o, mm in zip(obs, meta, strict=True)])
        assert got.shape == ref.shape
        assert np.array_equal(got, ref), f"lean={lean}: {int((got != ref).any(1).sum())} mismatches"
    assert len({tuple(a) for a in ref}) > 1  # the model does not answer one constant action


def test_runtime_runs_without_torch(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "gov"
    export_governor(tiny_model, "pixel3", out)
    code = (
        "import sys, numpy as np\n"
        "from metadvfs.export.runtime import GovernorRuntime\n"
        f"rt = GovernorRuntime({str(out)!r})\n"
        "m = rt.manifest\n"
        "a = rt.act(np.zeros((m.codec.window, 26), np.float32), m.meta_for('tiktok'))\n"
        "assert a.shape == (4,) and rt.lean, 'the lean graph was not the path taken'\n"
        "from metadvfs.export.stream import StreamingPolicy\n"
        "assert StreamingPolicy(m.path).act(np.zeros((m.codec.window, 26), np.float32), 'tiktok').shape == (4,)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'gymnasium' not in sys.modules, 'gymnasium was imported'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_export_cli_and_bad_input(tiny_model: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app, ["export", "--model", str(tiny_model), "--device", "pixel8", "--out", str(tmp_path / "g"), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["device"] == "pixel8"
    r = runner.invoke(app, ["export", "--model", str(tiny_model), "--device", "pixel99", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown device" in r.stderr
    assert not (tmp_path / "x" / "policy.onnx").exists()
    r = runner.invoke(
        app, ["export", "--model", str(tmp_path / "nomodel"), "--device", "pixel6", "--out", str(tmp_path / "y")]
    )
    assert r.exit_code == 2 and "\n" not in r.stderr.strip()


@pytest.mark.parametrize("device", [d for d in list_devices() if d != "pixel6"])  # pixel6: the parity test
def test_export_every_device(tiny_model: Path, tmp_path: Path, device: str) -> None:
    res = export_governor(tiny_model, device, tmp_path / device)
    assert res["device"] == device


def test_export_and_bench_governor_count_the_same_parameters(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: export counted torch parameters, bench-governor ONNX initializers (different numbers)."""
    from metadvfs.export.bench import bench_decision_latency
    from metadvfs.export.manifest import file_sha256

    out = tmp_path / "gov"
    res = export_governor(tiny_model, "pixel6", out)
    bench = bench_decision_latency(out, repeats=20)
    assert res["parameters"] == bench["parameters"] > 0
    monkeypatch.chdir(tmp_path)  # a relative directory, as in the README's `bench-governor --governor gov/`
    assert bench_decision_latency("gov/", repeats=5)["parameters"] == res["parameters"]
    man = json.loads((out / "manifest.json").read_text())
    want = {name: file_sha256(out / name) for name in ("policy.onnx", "policy.bin")}
    assert man["files"] == want  # every named file is hashed (the model and the runner's weights)
