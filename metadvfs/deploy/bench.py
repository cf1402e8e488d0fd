"""Benchmarks for the deployment path: control-loop time on the loopback twin, and decision latency.

:func:`bench_control_loop` starts a :class:`~metadvfs.twin.server.TwinServer` on 127.0.0.1, writes a rule
governor for the twin's device and runs :func:`~metadvfs.deploy.run.deploy` against it; the per-step time is
one read round trip (with heartbeat) + encode + decide + decode + one write round trip (when a level changes).

:func:`bench_decision` times :meth:`~metadvfs.export.runtime.GovernorRuntime.act` for a rule governor and for an
ONNX MLP of realistic size built with ``onnx.helper`` (:func:`tiny_onnx_policy`).

Usage::

    .venv/bin/python -c "from metadvfs.deploy.bench import main; main()"
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.environment import codec


def tiny_onnx_policy(path: str | Path, window: int, meta_dim: int, nvec: int, hidden: int = 64, seed: int = 0) -> Path:
    """Write an MLP policy in the governor ONNX interface (inputs ``obs``, ``meta``; output ``action``).

    ``action = argmax(reshape(W2 relu(W1 [flatten(obs), meta] + b1) + b2, (1, 4, nvec)), axis=2)`` (int64).

    Args:
        path: Output ``.onnx`` file.
        window: Observation window K.
        meta_dim: Metadata length M.
        nvec: Choices per domain.
        hidden: Hidden width.
        seed: Weight seed.

    Returns:
        The path.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    d_in = window * codec.OBS_DIM + meta_dim
    w1 = (rng.standard_normal((d_in, hidden)) / np.sqrt(d_in)).astype(np.float32)
    b1 = np.zeros(hidden, dtype=np.float32)
    w2 = (rng.standard_normal((hidden, 4 * nvec)) / np.sqrt(hidden)).astype(np.float32)
    b2 = (rng.standard_normal(4 * nvec) * 0.1).astype(np.float32)
    inits = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "W2"),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(np.array([1, window * codec.OBS_DIM], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([1, 4, nvec], dtype=np.int64), "out_shape"),
    ]
    nodes = [
        helper.make_node("Reshape", ["obs", "flat_shape"], ["obs_flat"]),
        helper.make_node("Concat", ["obs_flat", "meta"], ["x"], axis=1),
        helper.make_node("MatMul", ["x", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "W2"], ["z0"]),
        helper.make_node("Add", ["z0", "b2"], ["z"]),
        helper.make_node("Reshape", ["z", "out_shape"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["action"], axis=2, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "metadvfs_tiny_policy",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, window, codec.OBS_DIM]),
            helper.make_tensor_value_info("meta", TensorProto.FLOAT, [1, meta_dim]),
        ],
        [helper.make_tensor_value_info("action", TensorProto.INT64, [1, 4])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="metadvfs-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def write_onnx_governor(device: str, out_dir: str | Path, window: int = 8, hidden: int = 64, seed: int = 0) -> Path:
    """A kind-``onnx`` governor directory with a :func:`tiny_onnx_policy` model (tests, benchmarks)."""
    from metadvfs.catalog.devices import load_device
    from metadvfs.export.manifest import default_meta, manifest_for_profile, write_manifest

    prof = load_device(device)
    meta = default_meta(prof)
    out = Path(out_dir)
    tiny_onnx_policy(out / "policy.onnx", window, len(meta["default"]), 3, hidden, seed)
    doc = manifest_for_profile(prof, "onnx", None, window=window, meta=meta, model_file="policy.onnx")
    write_manifest(out, doc)
    return out


def bench_decision(device: str = "pixel6", repeats: int = 2000, window: int = 8, hidden: int = 64) -> dict[str, Any]:
    """Median / p95 latency of one :meth:`GovernorRuntime.act` call, rule and ONNX, ms."""
    from metadvfs.export.manifest import write_rule_governor
    from metadvfs.export.runtime import GovernorRuntime, parameter_count

    out: dict[str, Any] = {"device": device, "repeats": repeats}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        rule = GovernorRuntime(write_rule_governor(device, "schedutil", Path(tmp) / "rule"))
        onnx_dir = write_onnx_governor(device, Path(tmp) / "onnx", window=window, hidden=hidden)
        onnx_rt = GovernorRuntime(onnx_dir)
        out["onnx_parameters"] = parameter_count(onnx_dir / "policy.onnx")
        out["onnx_window"] = window
        for name, rt in (("rule", rule), ("onnx", onnx_rt)):
            k = rt.window
            obs = rng.uniform(0, 1, (k, codec.OBS_DIM)).astype(np.float32)
            meta = rt.manifest.meta["default"]
            for _ in range(50):
                rt.act(obs, meta)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                rt.act(obs, meta)
                times.append(time.perf_counter() - t0)
            a = np.asarray(times) * 1000.0
            out[f"{name}_ms_median"] = float(np.median(a))
            out[f"{name}_ms_p95"] = float(np.percentile(a, 95))
    return out


def bench_control_loop(
    device: str = "pixel6",
    app: str = "tiktok",
    seconds: float = 10.0,
    interval_s: float = 0.05,
    rule: str = "schedutil",
    governor_kind: str = "rule",
) -> dict[str, Any]:
    """Run ``deploy`` against a loopback twin and report the per-step control-loop time.

    Args:
        device: Twin device profile.
        app: Twin foreground app.
        seconds: Run length, s.
        interval_s: Decision interval, s (the twin's phone is simulated in real time).
        rule: Rule of the rule governor.
        governor_kind: ``rule`` or ``onnx`` (a :func:`tiny_onnx_policy` with window 8).

    Returns:
        Medians and p95 of the step (read + decide + write), read, decide and write times, ms, and the restore
        report.
    """
    from metadvfs.deploy.run import deploy
    from metadvfs.export.manifest import write_rule_governor
    from metadvfs.twin.server import TwinServer

    with tempfile.TemporaryDirectory() as tmp:
        gdir = Path(tmp) / "gov"
        if governor_kind == "onnx":
            write_onnx_governor(device, gdir)
            doc = json.loads((gdir / "manifest.json").read_text())
            doc["decision_interval_s"] = interval_s
            (gdir / "manifest.json").write_text(json.dumps(doc))
        else:
            write_rule_governor(device, rule, gdir, decision_interval_s=interval_s)
        with TwinServer(device=device, app=app) as twin:
            summary = deploy(gdir, twin.serial, seconds=seconds, out_dir=Path(tmp) / "run", handle_signals=False)
    return {
        "device": device,
        "app": app,
        "governor": governor_kind if governor_kind == "onnx" else f"rule:{rule}",
        "interval_s": interval_s,
        "steps": summary["steps"],
        "loop_ms": summary["loop_ms"],
        "read_ms": summary["read_ms"],
        "decide_ms": summary["decide_ms"],
        "write_ms": summary["write_ms"],
        "write_ms_when_writing": summary["write_ms_when_writing"],
        "loop_ms_when_writing": summary["loop_ms_when_writing"],
        "writes": summary["writes"],
        "restore": summary["restore"],
    }


def main() -> None:
    """Print both benchmarks as JSON."""
    print(json.dumps({"decision": bench_decision(), "control_loop": bench_control_loop()}, indent=2))
