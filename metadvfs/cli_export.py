"""CLI commands: ``export``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from metadvfs.cli_common import check_out_dir, extrapolation_note, handle_errors, print_json

console = Console(stderr=True)


def export_cmd(
    model: str = typer.Option("default", "--model", help="Checkpoint directory or shipped model name."),
    device: str = typer.Option(..., "--device", help="Device name or profile file."),
    out: Path = typer.Option(..., "--out", help="Governor directory to write (policy.onnx + manifest.json)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export a trained model as a per-device governor that runs with onnxruntime + numpy only."""
    from metadvfs.export.exporter import export_governor

    check_out_dir(out)
    with console.status(f"exporting for {device}"):
        res = export_governor(model, device, out)
    if json_out:
        print_json(res)
        return
    console.print(
        f"governor for [bold]{res['device']}[/]: {res['onnx']} "
        f"({res['parameters']:,} parameters = ONNX initializer values, "
        f"models {', '.join(res['models'])}) + {res['manifest']}"
    )
    if res["extrapolated"]:
        hint = f"Its zero-shot quality is extrapolated (metadvfs adapt --device {device} fits the model)."
        console.print(extrapolation_note(res["device"], "phones the model", res["extrapolated"], hint))
    if res["runner_weights"]:
        console.print(f"on-phone runner weights: {res['runner_weights']} (metadvfs deploy --on-phone)")
    else:
        console.print(f"no on-phone runner weights: {res['runner']}")
    console.print(
        f"rehearse: metadvfs twin --device {res['device']} --app tiktok --port 5555 &  then  "
        f"metadvfs deploy --governor {out} --serial 127.0.0.1:5555 --dry-run"
    )


def bench_governor_cmd(
    governor: Path = typer.Option(..., "--governor", help="Exported governor directory."),
    repeats: int = typer.Option(5000, "--repeats", help="Timed decisions (>= 100)."),
    loop_seconds: float = typer.Option(0.0, "--loop-seconds", help="Also deploy on a loopback twin for S s (0: skip)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Benchmark an exported governor: decision latency, and optionally the control loop over an ADB twin."""
    from metadvfs.errors import MetaDVFSError
    from metadvfs.export.bench import (
        bench_control_loop_twin,
        bench_decision_latency,
        bench_runner_latency,
        bench_streaming_latency,
        machine_name,
        reference_us,
    )

    if repeats < 100:
        raise MetaDVFSError(f"--repeats: must be >= 100, got {repeats}")
    if not 0 <= loop_seconds <= 3600:
        raise MetaDVFSError(f"--loop-seconds: must be in [0, 3600], got {loop_seconds}")

    def timed(fn: Callable[[Path, int], dict[str, Any]]) -> dict[str, Any]:
        """One path's latency, with the reference computation timed just before and just after it."""
        before = reference_us()
        got = fn(governor, repeats)
        after = reference_us()
        if before is not None and after is not None and "us_median" in got:
            got["ref_us_median"] = (before + after) / 2.0
            got["ratio_to_reference"] = got["us_median"] / got["ref_us_median"]
        return got

    runner = bench_runner_latency(governor, repeats)  # times the reference interleaved with its decisions
    decision = timed(bench_decision_latency)
    whole = timed(lambda g, n: bench_decision_latency(g, n, lean=False))
    streaming = timed(bench_streaming_latency)
    res: dict[str, object] = {
        "machine": machine_name(),
        "decision": decision,
        "decision_policy_onnx": whole,
        "streaming_numpy": streaming,
        "runner": runner,
    }
    if loop_seconds > 0:
        with console.status("control loop on a loopback twin"):
            res["control_loop"] = bench_control_loop_twin(governor, seconds=loop_seconds)
    if json_out:
        print_json(res)
        return
    d = res["decision"]
    console.print(
        f"decision (onnxruntime, {d['graph']} graph, batch 1, 1 thread): median {d['us_median']:.1f} us, "  # type: ignore[index]
        f"p95 {d['us_p95']:.1f} us over {d['repeats']} calls; "  # type: ignore[index]
        f"{d['parameters']:,} parameters = policy.onnx initializer values"  # type: ignore[index]
    )
    if d["graph"] == "lean":  # type: ignore[index]
        console.print(
            f"decision (onnxruntime, policy.onnx: every routed model, batch 1): median {whole['us_median']:.1f} us, "
            f"p95 {whole['us_p95']:.1f} us"
        )
    if "us_median" in streaming:
        console.print(
            f"decision (numpy streaming from policy.bin, batch 1): median {streaming['us_median']:.1f} us, "
            f"p95 {streaming['us_p95']:.1f} us"
        )
    r: dict = res["runner"]  # type: ignore[assignment]
    if "skipped" in r:
        console.print(f"C runner: skipped ({r['skipped']})")
    else:
        console.print(
            f"decision (C runner, {r['target']}, batch 1, 1 thread): median {r['us_median']:.1f} us, "
            f"p95 {r['us_p95']:.1f} us; peak RSS {r['rss_kb']} kB; binary "
            + ", ".join(f"{t} {n:,} B" for t, n in r["binary_bytes"].items())
        )
        console.print(
            f"reference ({r['reference']}, timed in this run around each path): median {r['ref_us_median']:.2f} us "
            f"(C runner phase), {d['ref_us_median']:.2f} us (onnxruntime phase) -> decision / reference: "  # type: ignore[index]
            f"onnxruntime {d['ratio_to_reference']:.1f}, "  # type: ignore[index]
            + (f"policy.onnx {whole['ratio_to_reference']:.1f}, " if "ratio_to_reference" in whole else "")
            + (f"numpy streaming {streaming['ratio_to_reference']:.1f}, " if "ratio_to_reference" in streaming else "")
            + f"C runner {r['ratio_to_reference']:.2f}"
        )
    console.print(f"machine: {res['machine']}")
    if "control_loop" in res:
        from metadvfs.deploy.session import RestoreReport

        c: dict[str, Any] = res["control_loop"]  # type: ignore[assignment]
        restore = RestoreReport(**c["restore"]).describe()
        ms = " · ".join(f"{k[:-3]} {c[k]['median']:.2f} / {c[k]['p95']:.2f}"
                        for k in ("loop_ms", "read_ms", "decide_ms", "write_ms"))  # fmt: skip
        console.print(f"control loop on a twin of the {c['device']} ({c['app']}, {c['steps']} steps), median / p95 ms: "
                      f"{ms}; {restore}")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("export")(handle_errors(export_cmd))
    app.command("bench-governor")(handle_errors(bench_governor_cmd))
