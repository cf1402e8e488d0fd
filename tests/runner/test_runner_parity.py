"""The C runner decides exactly as the exported ONNX graph and the trained policy, on observations the policy visits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from simobs import sim_observations

from metadvfs.catalog.devices import list_devices
from metadvfs.export.exporter import export_governor
from metadvfs.export.runtime import GovernorRuntime
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.paths import PACKAGE_DIR
from metadvfs.runner.decide import runner_decide

SHIPPED = PACKAGE_DIR / "models" / "default"
N_OBS = 10_000


def _parity(runner_bin: Path, device: str, out: Path) -> None:
    export_governor(SHIPPED, device, out)
    obs, meta, apps, envs = sim_observations(SHIPPED, device, N_OBS)
    assert len(obs) >= N_OBS
    res = runner_decide(runner_bin, out / "policy.bin", obs, apps, envs)
    rt = GovernorRuntime(out, lean=False)  # policy.onnx: every routed model, routed inside the graph
    onnx = np.stack([rt.act(o, rt.manifest.meta_for(a)) for o, a in zip(obs, apps, strict=True)])
    lean = GovernorRuntime(out)  # the routed model's lean graph, routed once per app change
    assert lean.lean
    got = np.stack([lean.act(o, lean.manifest.meta_for(a)) for o, a in zip(obs, apps, strict=True)])
    model = load_checkpoint(SHIPPED)
    trained = np.ones_like(onnx)
    for mid in model.policies:  # the trained SB3 policy of each row's routed model (ModelDriver's routing)
        from metadvfs.learn.tasks import task_map

        tasks = task_map([f"{device}:{a}" for a in sorted(set(apps))])
        rows = np.array([model.model_for(tasks[f"{device}:{a}"]) == mid for a in apps])
        if rows.any():
            trained[rows] = model.act(mid, {"obs": obs[rows], "meta": meta[rows]})
    assert np.array_equal(onnx, trained)
    mism = int((got != trained).any(axis=1).sum())
    assert mism == 0, f"{device}: {mism} of {len(obs)} lean-graph decisions differ from the trained policy"
    mism = int((res.actions != onnx).any(axis=1).sum())
    assert mism == 0, f"{device}: {mism} of {len(obs)} runner decisions differ from the ONNX graph"
    assert res.incremental > 0.9 * len(obs)  # the streaming path (one projection per decision) was the one checked
    from metadvfs.export.stream import StreamingPolicy

    streams = {int(e): StreamingPolicy(out) for e in set(envs.tolist())}  # one per env: its windows slide
    py = np.stack([streams[int(e)].act(o, a) for o, a, e in zip(obs, apps, envs, strict=True)])
    assert int((py != onnx).any(axis=1).sum()) == 0, f"{device}: numpy streaming differs from the ONNX graph"
    assert sum(s.incremental for s in streams.values()) > 0.9 * len(obs)
    assert len({tuple(a) for a in onnx}) > 1


def test_runner_parity_pixel6(runner_bin: Path, tmp_path: Path) -> None:
    _parity(runner_bin, "pixel6", tmp_path / "gov")


@pytest.mark.slow
@pytest.mark.parametrize("device", [d for d in list_devices() if d != "pixel6"])
def test_runner_parity_every_device(runner_bin: Path, tmp_path: Path, device: str) -> None:
    _parity(runner_bin, device, tmp_path / "gov")


def test_runner_refuses_bad_weight_files(runner_bin: Path, tmp_path: Path) -> None:
    out = tmp_path / "gov"
    export_governor(SHIPPED, "pixel3", out)
    data = (out / "policy.bin").read_bytes()
    cases = {
        "truncated": (data[:-100], "truncated?"),
        "corrupt": (data[:400] + bytes([data[400] ^ 0x10]) + data[401:], "corrupt file"),
        "version": (data[:8] + (9).to_bytes(4, "little") + data[12:], "format version 9"),
        "magic": (b"NOTMDVFS" + data[8:], "bad magic"),
        "short": (data[:50], "truncated"),
    }
    for name, (blob, msg) in cases.items():
        bad = tmp_path / f"{name}.bin"
        bad.write_bytes(blob)
        r = subprocess.run([str(runner_bin), "decide", str(bad)], input=b"", capture_output=True, timeout=30)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and msg in lines[0] and lines[0].startswith("error: "), name


def test_runner_bench_targets(runner_bin: Path, tmp_path: Path) -> None:
    """The benchmark runs and reports its numbers; the size/memory budgets are hard limits of the build."""
    from metadvfs.runner.decide import runner_bench

    out = tmp_path / "gov"
    export_governor(SHIPPED, "pixel8", out)
    b = runner_bench(runner_bin, out / "policy.bin", 300)
    assert float(b["decide_ns_median"]) > 0 and float(b["ref_ns_median"]) > 0  # type: ignore[arg-type]
    assert 0 < int(b["rss_kb"]) <= 4096  # type: ignore[call-overload]
    assert runner_bin.stat().st_size <= 1 << 20
