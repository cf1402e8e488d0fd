"""Perfetto frame data -> per-tick demand, for ``metadvfs trace fit --perfetto FILE --device D``.

Input: a CSV exported from Perfetto's trace processor with the query in docs/workloads.md ("Fitting a profile from
Perfetto frame data"): one row per frame (FrameTimeline ``actual_frame_timeline_slice`` of the app) and CPU, with

- ``ts`` (int, ns): the frame's start (trace clock);
- ``dur`` (int, ns >= 0): its duration;
- ``cpu`` (int or empty): a CPU the app's main thread or RenderThread ran on during the frame;
- ``mcycles`` (float >= 0 or empty): megacycles those threads ran on that CPU during the frame (running ns x
  CPU kHz / 1e12).

Rows of one frame (same ``ts``) are summed. ``mcycles`` become reference Mc with the ``ipc`` of the CPU's cluster in
the device profile. The frames' work is the ui role; the export has no GPU, worker or background work, so those
columns are 0 and a fitted profile carries only the frame cadence, phases and ui work (docs/workloads.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metadvfs.errors import MetaDVFSError

PERFETTO_TICK_S = 0.01
"""Tick of the demand built from Perfetto frames, s (the simulator's tick)."""

REQUIRED = ("ts", "dur")
OPTIONAL = ("cpu", "mcycles")


def read_perfetto_frames(
    path: str | Path, device: str
) -> tuple[dict[str, np.ndarray], float, float, tuple[np.ndarray, np.ndarray] | None]:
    """Read a Perfetto frame CSV as per-tick demand.

    Args:
        path: The CSV (module docstring).
        device: Device profile name or path (CPU numbering and ``ipc`` per cluster).

    Returns:
        ``(arrays, tick_s, target_fps, events)``: an array dict as
        :func:`metadvfs.workload.trace.trace_to_arrays` returns (phase ``recorded``), :data:`PERFETTO_TICK_S`, the
        app's frame-rate target (1 / the 5th percentile of the frame intervals, whole frames/s, at most 240) and
        ``None`` (no input track).

    Raises:
        MetaDVFSError: Missing or empty file, a missing column, a non-numeric, negative or unsorted value, a CPU
            the device does not have (one line naming the file, the column and the row).
    """
    from metadvfs.catalog.devices import load_device
    from metadvfs.core.domains import CPU_DOMAINS

    src = Path(path)
    name = str(src)
    if not src.is_file():
        raise MetaDVFSError(f"{name}: Perfetto frame CSV not found")
    try:
        df = pd.read_csv(src)
    except pd.errors.EmptyDataError:
        raise MetaDVFSError(f"{name}: empty file; expected a CSV with columns ts, dur[, cpu, mcycles]") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise MetaDVFSError(f"{name}: not a CSV: {str(exc).strip().splitlines()[0]}") from None
    for col in REQUIRED:
        if col not in df.columns:
            raise MetaDVFSError(f"{name}: missing column {col!r}; required: ts, dur (ns); optional: cpu, mcycles")
    if len(df) == 0:
        raise MetaDVFSError(f"{name}: zero frames")
    ts = _numeric(df["ts"], "ts", name, allow_empty=False)
    dur = _numeric(df["dur"], "dur", name, allow_empty=False)
    bad = np.flatnonzero(dur < 0)
    if bad.size:
        raise MetaDVFSError(f"{name}: column 'dur': negative value {dur[bad[0]]:g} at row {int(bad[0])}; allowed >= 0")
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        r = int(back[0]) + 1
        raise MetaDVFSError(f"{name}: column 'ts': not sorted at row {r} ({ts[r - 1]:.0f} then {ts[r]:.0f} ns)")
    prof = load_device(device)
    ipc_of: dict[int, float] = {}
    for dom in CPU_DOMAINS:
        c = prof.cluster(dom)
        if c is not None:
            for cpu_id in range(c.first_cpu, c.first_cpu + c.cores):
                ipc_of[cpu_id] = c.ipc
    work = np.zeros(len(df))
    if "mcycles" in df.columns:
        if "cpu" not in df.columns:
            raise MetaDVFSError(f"{name}: column 'mcycles' needs the column 'cpu' (its CPU number)")
        mc = _numeric(df["mcycles"], "mcycles", name, allow_empty=True)
        cpu = _numeric(df["cpu"], "cpu", name, allow_empty=True)
        neg = np.flatnonzero(mc < 0)
        if neg.size:
            raise MetaDVFSError(f"{name}: column 'mcycles': negative value at row {int(neg[0])}; allowed >= 0")
        has = ~np.isnan(mc) & ~np.isnan(cpu)
        for row in np.flatnonzero(has).tolist():
            if int(cpu[row]) not in ipc_of:
                raise MetaDVFSError(
                    f"{name}: column 'cpu': CPU {cpu[row]:g} at row {row} is not a CPU of {prof.name} "
                    f"(CPUs {min(ipc_of)}..{max(ipc_of)})"
                )
            work[row] = mc[row] * ipc_of[int(cpu[row])]
    frame_ts, first = np.unique(ts, return_index=True)
    frame_work = np.add.reduceat(work, first) if len(work) else work
    t0 = frame_ts[0]
    tick = PERFETTO_TICK_S
    idx = ((frame_ts - t0) / 1e9 / tick).astype(np.int64)
    n = int(idx[-1]) + 1
    if frame_ts.shape[0] > 1:
        gaps = np.diff(frame_ts) / 1e9
        gaps = gaps[gaps > 0]
        target = float(min(240.0, max(1.0, round(1.0 / float(np.percentile(gaps, 5)))))) if gaps.size else 60.0
    else:
        target = 60.0
    frames = np.bincount(idx, minlength=n).astype(np.int64)
    arrays = {
        "t_s": np.arange(n, dtype=np.float64) * tick,
        "frames": frames,
        "ui_mc": np.bincount(idx, weights=frame_work, minlength=n).astype(np.float64),
        "gpu_mc": np.zeros(n),
        "worker_mc": np.zeros(n),
        "bg_mc": np.zeros(n),
        "phase_id": np.zeros(n, dtype=np.int64),
        "phase_names": np.array(["recorded"], dtype=str),
    }
    return arrays, tick, target, None


def _numeric(series: pd.Series, col: str, name: str, *, allow_empty: bool) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & (series.notna().to_numpy() | (not allow_empty)))
    if bad.size:
        r = int(bad[0])
        raise MetaDVFSError(f"{name}: column {col!r}: non-numeric value {series.iloc[r]!r} at row {r}; allowed numbers")
    if np.any(np.isinf(values)):
        r = int(np.flatnonzero(np.isinf(values))[0])
        raise MetaDVFSError(f"{name}: column {col!r}: infinite value at row {r}")
    return values
