"""``metadvfs trace ...``: generate workload traces from app profiles and validate trace files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from metadvfs.cli_common import handle_errors, print_json
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.trace import TICK_S_MAX, TICK_S_MIN, trace_summary, trace_to_arrays

trace_app = typer.Typer(
    name="trace",
    help="Generate workload traces from app profiles (envs/apps) and validate trace files.",
    no_args_is_help=True,
    add_completion=False,
)


def _summary_line(summary: dict[str, float]) -> str:
    return (
        f"{summary['rows']} rows, {summary['duration_s']:g} s at {summary['tick_s'] * 1000:g} ms; "
        f"mean requested {summary['mean_fps']:.1f} fps; "
        f"CPU {summary['cpu_mc_per_s']:.0f} Mc/s (ui {summary['ui_mc_per_s']:.0f}, "
        f"worker {summary['worker_mc_per_s']:.0f}, bg {summary['bg_mc_per_s']:.0f}); "
        f"GPU {summary['gpu_mc_per_s']:.0f} GPU-Mc/s"
    )


@trace_app.command("generate")
@handle_errors
def generate(
    app: Annotated[str, typer.Option("--app", help="Catalog app name (see envs/apps) or path to an app file.")],
    seconds: Annotated[float, typer.Option("--seconds", help="Trace length, s (> 0).")],
    seed: Annotated[int, typer.Option("--seed", help="Generator seed (>= 0).")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .csv or .parquet.")],
    tick_ms: Annotated[float, typer.Option("--tick-ms", help="Row spacing, ms (1 .. 1000).")] = 10.0,
) -> None:
    """Generate a seeded demand trace for an app and write it (atomically) to --out."""
    from metadvfs.workload.generator import generate_trace
    from metadvfs.workload.trace import trace_suffix, write_trace

    if not math.isfinite(seconds) or seconds <= 0:
        raise MetaDVFSError(f"--seconds: {seconds:g} must be > 0")
    if not math.isfinite(tick_ms) or not TICK_S_MIN * 1000 <= tick_ms <= TICK_S_MAX * 1000:
        raise MetaDVFSError(
            f"--tick-ms: {tick_ms:g} is out of range; allowed [{TICK_S_MIN * 1000:g}, {TICK_S_MAX * 1000:g}] ms"
        )
    if seed < 0:
        raise MetaDVFSError(f"--seed: {seed} must be >= 0")
    trace_suffix(out)  # fail on a bad suffix before generating
    df, meta = generate_trace(app, seconds, seed, tick_ms / 1000.0)
    write_trace(df, meta, out)
    summary = trace_summary(trace_to_arrays(df), meta.tick_s)
    print(f"wrote {out}: app {meta.app}, seed {seed}, {_summary_line(summary)}")


@trace_app.command("validate")
@handle_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Trace file (.csv or .parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON document.")] = False,
) -> None:
    """Check a trace file against schema metadvfs.trace/1; exit 2 with a one-line error if it is invalid."""
    from metadvfs.workload.trace import meta_to_dict, read_trace

    df, meta = read_trace(file)
    summary = trace_summary(trace_to_arrays(df), meta.tick_s)
    if as_json:
        print_json({"ok": True, "file": str(file), "meta": meta_to_dict(meta), **summary})
        return
    print(f"OK {file}: {meta.schema}, app {meta.app} ({meta.source}), {_summary_line(summary)}")
