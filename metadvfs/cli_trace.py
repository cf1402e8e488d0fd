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


@trace_app.command("fit")
@handle_errors
def fit(
    out: Annotated[Path, typer.Option("--out", help="App profile to write (.yaml), e.g. envs/apps/NAME.yaml.")],
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Trace to fit (.csv / .parquet: metadvfs record or generate).")
    ] = None,
    perfetto: Annotated[
        Path | None,
        typer.Option("--perfetto", help="Perfetto frame CSV instead of --trace (docs/workloads.md; needs --device)."),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Device profile the Perfetto trace came from (CPU ipc).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Profile name (default: the --out file stem).")] = None,
    category: Annotated[str, typer.Option("--category", help="metadata.category (lowercase identifier).")] = "recorded",
    interaction: Annotated[
        str, typer.Option("--interaction", help="metadata.interaction (lowercase identifier).")
    ] = "recorded",
    phases: Annotated[
        str, typer.Option("--phases", help="default (labels if informative), labels, or auto (segment).")
    ] = "default",
    max_phases: Annotated[int, typer.Option("--max-phases", help="Most phases --phases auto finds (1..12).")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the fit report as one JSON document.")] = False,
) -> None:
    """Fit an app profile (envs/apps schema) to a recorded or generated trace; exit 2 on bad input."""
    from metadvfs.workload.fit import FitOptions, check_out_path, fit_profile, write_profile

    check_out_path(out)
    if (trace is None) == (perfetto is None):
        raise MetaDVFSError("give exactly one of --trace FILE or --perfetto FILE")
    if perfetto is not None:
        from metadvfs.workload.perfetto import read_perfetto_frames

        if device is None:
            raise MetaDVFSError("--perfetto: needs --device (the profile whose CPUs the trace's cpu column numbers)")
        arrays, tick_s, target_fps, events = read_perfetto_frames(perfetto, device)
        source = str(perfetto)
    else:
        from metadvfs.workload.input_events import track_from_json
        from metadvfs.workload.trace import read_trace

        assert trace is not None
        df, meta = read_trace(trace)
        arrays, tick_s, target_fps = trace_to_arrays(df), meta.tick_s, meta.target_fps
        events = track_from_json(meta.input, str(trace)) if meta.input is not None else None
        source = f"{trace} (app {meta.app}, {meta.source}" + (f" on {meta.device})" if meta.device else ")")
    options = FitOptions(
        name=name or out.stem,
        category=category,
        interaction=interaction,
        phases=phases,
        max_phases=max_phases,
        source=source,
    )
    doc, report = fit_profile(arrays, tick_s, target_fps, events, options)
    write_profile(doc, out)
    if as_json:
        print_json({"out": str(out), **report})
        return
    shares = ", ".join(f"{k} {v['share'] * 100:.0f} %" for k, v in report["phases"].items())
    print(
        f"wrote {out}: {len(report['phases'])} phases from {report['mode']} ({shares}); "
        f"{report['mean_fps']:.1f} fps, CPU {report['cpu_mc_per_s']:.0f} Mc/s, GPU {report['gpu_mc_per_s']:.0f} "
        f"GPU-Mc/s, frame_ar1 {report['frame_ar1']:g}"
    )
