"""Benchmarks of an exported governor: decision latency (onnxruntime, batch 1) and the control loop on a twin."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.environment import codec


def bench_decision_latency(
    governor: str | Path, repeats: int = 5000, threads: int = 1, lean: bool = True
) -> dict[str, Any]:
    """Median / p95 time of one ``GovernorRuntime.act`` call on varied observations, microseconds.

    Args:
        governor: Governor directory (``metadvfs export`` output).
        repeats: Timed calls (after 200 warm-up calls).
        threads: onnxruntime intra-op threads.
        lean: Time the routed model's lean graph where the governor has ``policy.bin`` (``False``: ``policy.onnx``).

    Returns:
        ``{"us_median", "us_p95", "us_min", "repeats", "parameters", "window", "graph"}``; ``graph`` is ``lean``
        or ``policy.onnx`` (the graph that was timed); ``parameters`` counts ``policy.onnx``'s initializers.
    """
    from metadvfs.export.runtime import GovernorRuntime, parameter_count

    rt = GovernorRuntime(governor, threads=threads, lean=lean)
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
    params = parameter_count(rt.manifest.model_file) if rt.manifest.model_file else 0  # a path already
    return {
        "us_median": float(np.median(us)),
        "us_p95": float(np.percentile(us, 95)),
        "us_min": float(us.min()),
        "repeats": repeats,
        "parameters": params,
        "window": k,
        "graph": "lean" if rt.lean else "policy.onnx",
    }


def bench_streaming_latency(governor: str | Path, repeats: int = 5000) -> dict[str, Any]:
    """Median / p95 of :class:`~metadvfs.export.stream.StreamingPolicy` decisions (numpy, windows sliding by one row).

    Returns:
        ``{"us_median", "us_p95", "repeats", "incremental"}``, or ``{"skipped": reason}`` without ``policy.bin``.
    """
    from metadvfs.export.stream import StreamingPolicy

    if not (Path(governor) / "policy.bin").is_file():
        return {"skipped": f"{Path(governor) / 'policy.bin'} missing (re-export the governor)"}
    sp = StreamingPolicy(governor)
    rng = np.random.default_rng(0)
    seq = rng.uniform(0, 1, (repeats + 200 + sp.k, codec.OBS_DIM)).astype(np.float32)
    for i in range(200):
        sp.act(seq[i : i + sp.k], "tiktok")
    times = np.empty(repeats)
    for i in range(repeats):
        win = seq[200 + i : 200 + i + sp.k]
        t0 = time.perf_counter()
        sp.act(win, "tiktok")
        times[i] = time.perf_counter() - t0
    us = times * 1e6
    return {"us_median": float(np.median(us)), "us_p95": float(np.percentile(us, 95)), "repeats": repeats,
            "incremental": sp.incremental}  # fmt: skip


def reference_us() -> float | None:
    """The runner's reference computation timed now (median, us), or ``None`` where the runner cannot be built."""
    from metadvfs.runner.build import host_target, runner_binary, zig_version
    from metadvfs.runner.decide import runner_reference_us

    target = host_target()
    if target is None or zig_version() is None:
        return None
    return runner_reference_us(runner_binary(target))


def machine_name() -> str:
    """CPU model and core count of this machine (``/proc/cpuinfo``), for quoting latency figures."""
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.machine()}"


def bench_runner_latency(governor: str | Path, repeats: int = 5000) -> dict[str, Any]:
    """The C runner's decision latency on this machine (its ``bench`` mode), with the reference computation.

    The runner times, in the same run and interleaved with the decisions, a 256x256 float32 matrix-vector product
    (65,536 multiply-adds) with its own kernel: ``ref_ns_median`` is that reference, so ``decision / reference``
    compares machines. Also reports the runner's peak resident memory and the binary sizes.

    Returns:
        ``{"us_median", "us_p95", "ref_us_median", "ratio_to_reference", "rss_kb", "binary_bytes", "target"}``,
        or ``{"skipped": reason}`` when the runner cannot be built here (no ``ziglang``, other CPU).
    """
    from metadvfs.errors import MetaDVFSError
    from metadvfs.runner.build import host_target, runner_binary, zig_version
    from metadvfs.runner.decide import runner_bench

    target = host_target()
    if target is None or zig_version() is None:
        return {"skipped": "the runner cannot be built here (needs ziglang and an x86_64 or aarch64 CPU)"}
    weights = Path(governor) / "policy.bin"
    if not weights.is_file():
        return {"skipped": f"{weights} missing (re-export the governor)"}
    binary = runner_binary(target)
    b = runner_bench(binary, weights, repeats)
    ref = float(b["ref_ns_median"]) / 1000.0  # type: ignore[arg-type]
    sizes = {target: binary.stat().st_size}
    other = "aarch64" if target == "x86_64" else "x86_64"
    with contextlib.suppress(MetaDVFSError):  # the other target is reported when it builds here too
        sizes[other] = runner_binary(other).stat().st_size
    return {
        "target": target,
        "us_median": float(b["decide_ns_median"]) / 1000.0,  # type: ignore[arg-type]
        "us_p95": float(b["decide_ns_p95"]) / 1000.0,  # type: ignore[arg-type]
        "ref_us_median": ref,
        "ratio_to_reference": float(b["decide_ns_median"]) / float(b["ref_ns_median"]),  # type: ignore[arg-type]
        "reference": b["reference"],
        "rss_kb": int(b["rss_kb"]),  # type: ignore[call-overload]
        "binary_bytes": sizes,
        "repeats": repeats,
    }


def bench_control_loop_twin(governor: str | Path, app: str = "tiktok", seconds: float = 10.0) -> dict[str, Any]:
    """Deploy ``governor`` on a loopback ADB twin of its device and report the per-step loop time, ms."""
    import json

    from metadvfs.deploy.run import deploy
    from metadvfs.twin.server import TwinServer

    device = json.loads((Path(governor) / "manifest.json").read_text(encoding="utf-8"))["device"]["name"]
    with tempfile.TemporaryDirectory() as tmp, TwinServer(device=device, app=app) as twin:
        s = deploy(Path(governor), twin.serial, seconds=seconds, out_dir=Path(tmp) / "run", handle_signals=False)
    return {
        "device": device,
        "app": app,
        "steps": s["steps"],
        "loop_ms": s["loop_ms"],
        "read_ms": s["read_ms"],
        "decide_ms": s["decide_ms"],
        "write_ms": s["write_ms"],
        "restore": s["restore"],
    }
