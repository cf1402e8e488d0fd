"""The on-phone runner's step log (``steps.csv``) on the host: a copy, and a replayable recorded trace.

The runner logs one row per decision: the interval's readings, its action and target levels, its decision time,
and the interval's work as a trace row (``ui_mc``, ``gpu_mc``, ``worker_mc``, ``bg_mc``, ``phase``: the formula of
:func:`metadvfs.deploy.record.trace_row`, computed on the phone). :func:`write_run_logs` writes the log unchanged
and the trace rows as a ``metadvfs.trace/2`` CSV that ``metadvfs replay --trace`` reads.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from metadvfs.errors import MetaDVFSError
from metadvfs.io import write_text_atomic

LOG_COLUMNS = ("step", "t_s", "dt_s", "app", "frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc", "phase", "decide_us")


def _plan_value(plan_text: str, key: str, default: str) -> str:
    for line in plan_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == key:
            return parts[1]
    return default


def parse_log(text: str, where: str = "steps.csv") -> pd.DataFrame:
    """Read a runner step log.

    Raises:
        MetaDVFSError: Not a runner log (a needed column is missing) or unreadable.
    """
    try:
        df = pd.read_csv(io.StringIO(text), keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise MetaDVFSError(f"{where}: not a runner step log ({str(exc).splitlines()[0]})") from None
    missing = [c for c in LOG_COLUMNS if c not in df.columns]
    if missing:
        raise MetaDVFSError(f"{where}: column {missing[0]!r} missing (not a metadvfs-runner step log)")
    return df


def write_run_logs(log_text: str, plan_text: str, out: Path) -> dict[str, Any]:
    """Write ``out/steps.csv`` (as logged) and, when it holds steps, ``out/trace.csv``.

    Args:
        log_text: The runner's ``steps.csv``.
        plan_text: Its ``plan.txt`` (device, decision interval).
        out: Host directory (created).

    Returns:
        ``{"steps", "steps_csv", "trace", "app", "decide_us_median"}``.
    """
    from metadvfs.deploy.record import TraceRow, write_trace_rows
    from metadvfs.workload.apps import list_apps, load_app

    lines = log_text.splitlines()
    if len(lines) > 1 and lines[-1].count(",") != lines[0].count(","):  # copied mid-write: drop the partial row
        lines.pop()
    log_text = "".join(f"{ln}\n" for ln in lines)
    df = parse_log(log_text)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "steps.csv", log_text)
    res: dict[str, Any] = {"steps": len(df), "steps_csv": str(out / "steps.csv"), "trace": None, "app": ""}
    if df.empty:
        return res
    tick = int(_plan_value(plan_text, "interval_ms", "100")) / 1000.0
    device = _plan_value(plan_text, "device", "unknown")
    apps = [a for a in df["app"].astype(str) if a not in ("-", "")]
    app = Counter(apps).most_common(1)[0][0] if apps else "unknown"
    fps = float(load_app(app).metadata.target_fps) if app in list_apps() else 60.0
    rows = [
        TraceRow(frames=int(r.frames), ui_mc=float(r.ui_mc), gpu_mc=float(r.gpu_mc), worker_mc=float(r.worker_mc),
                 bg_mc=float(r.bg_mc), phase=str(r.phase))
        for r in df.itertuples()
    ]  # fmt: skip
    write_trace_rows(rows, tick, out / "trace.csv", device, app, fps, {"source_log": "metadvfs-runner"})
    res.update(trace=str(out / "trace.csv"), app=app, decide_us_median=float(df["decide_us"].median()))
    return res
