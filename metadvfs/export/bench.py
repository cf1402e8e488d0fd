"""Benchmarks of an exported governor: decision latency (onnxruntime, batch 1) and the control loop on a twin."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.environment import codec


def bench_decision_latency(governor: str | Path, repeats: int = 5000, threads: int = 1) -> dict[str, Any]:
    """Median / p95 time of one ``GovernorRuntime.act`` call on varied observations, microseconds.

    Args:
        governor: Governor directory (``metadvfs export`` output).
        repeats: Timed calls (after 200 warm-up calls).
        threads: onnxruntime intra-op threads.

    Returns:
        ``{"us_median", "us_p95", "us_min", "repeats", "parameters", "window"}``.
    """
    from metadvfs.export.runtime import GovernorRuntime, parameter_count

    rt = GovernorRuntime(governor, threads=threads)
    k = rt.window
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 1, (64, k, codec.OBS_DIM)).astype(np.float32)
    meta = rt.manifest.meta_for("tiktok")
    for i in range(200):
        rt.act(obs[i % 64], meta)
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        rt.act(obs[i % 64], meta)
        times[i] = time.perf_counter() - t0
    us = times * 1e6
    params = parameter_count(Path(governor) / rt.manifest.model_file) if rt.manifest.model_file else 0
    return {"us_median": float(np.median(us)), "us_p95": float(np.percentile(us, 95)), "us_min": float(us.min()),
            "repeats": repeats, "parameters": params, "window": k}


def bench_control_loop_twin(governor: str | Path, app: str = "tiktok", seconds: float = 10.0) -> dict[str, Any]:
    """Deploy ``governor`` on a loopback ADB twin of its device and report the per-step loop time, ms."""
    import json

    from metadvfs.deploy.run import deploy
    from metadvfs.twin.server import TwinServer

    device = json.loads((Path(governor) / "manifest.json").read_text(encoding="utf-8"))["device"]["name"]
    with tempfile.TemporaryDirectory() as tmp, TwinServer(device=device, app=app) as twin:
        s = deploy(Path(governor), twin.serial, seconds=seconds, out_dir=Path(tmp) / "run", handle_signals=False)
    return {"device": device, "app": app, "steps": s["steps"], "loop_ms": s["loop_ms"], "read_ms": s["read_ms"],
            "decide_ms": s["decide_ms"], "write_ms": s["write_ms"], "restore": s["restore"]}
