"""``metadvfs record``: sample a phone under its stock governor into a ``metadvfs.trace/1`` trace.

Every ``interval_s`` the phone is read once (:class:`~metadvfs.adb.sampler.Sampler`) and one trace row is
derived from the interval since the previous read, in the simulator's device-independent work units:

- ``bg_mc``: work done on the little cluster: ``sum over its CPUs of busy * f_MHz * ipc * dt``;
- ``ui_mc``: when frames were presented, the busiest CPU of the ui cluster (mid, or big without mid):
  ``busy_max * f_MHz * ipc * dt`` (the main + render thread run on one CPU); 0 otherwise;
- ``worker_mc``: the rest of the mid and big clusters' work;
- ``gpu_mc``: ``gpu_util * f_MHz * throughput * dt``;
- ``frames``: frames presented on the foreground layer in the interval;
- ``phase``: ``frames`` when frames were presented, else ``idle``.

Work is rescaled from the measured interval to the nominal ``tick_s``. This is work *done* under the stock
governor (demand that the phone could not serve in time shows up later, not as lost work). ``ipc`` and
``throughput`` come from the device profile, so a trace replays on any profile
(``metadvfs replay --device D --trace FILE``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metadvfs.adb.binding import Binding, bind, profile_for_codename
from metadvfs.adb.discovery import discover
from metadvfs.adb.link import AdbLink
from metadvfs.adb.sampler import Sampler, StepReading
from metadvfs.catalog.types import DeviceProfile
from metadvfs.core.domains import CPU_DOMAINS
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.trace import TICK_S_MAX, TICK_S_MIN, trace_suffix, write_trace
from metadvfs.workload.types import TRACE_COLUMNS, TRACE_SCHEMA, TraceMeta

MAX_SECONDS = 24 * 3600.0


@dataclass
class TraceRow:
    """One trace row (see the module docstring)."""

    frames: int
    ui_mc: float
    gpu_mc: float
    worker_mc: float
    bg_mc: float
    phase: str


def trace_row(binding: Binding, sr: StepReading, tick_s: float) -> TraceRow:
    """Derive one trace row from an interval reading.

    Args:
        binding: The bound phone (profile ``ipc``/``throughput``, phone core counts).
        sr: The interval.
        tick_s: Nominal row length, s (work is rescaled from ``sr.dt_s`` to it).

    Returns:
        The row.
    """
    prof = binding.profile
    scale = tick_s / max(sr.dt_s, 1e-6)
    work = np.zeros(3)
    ui_dom = 1 if binding.policies[1] is not None else 2
    ui_mc = 0.0
    for d, dom in enumerate(CPU_DOMAINS):
        c = prof.cluster(dom)
        if c is None or binding.policies[d] is None:
            continue
        mhz = sr.freq_khz[d] / 1000.0
        n = len(binding.domain_cpus(d))
        work[d] = sr.busy[d] * n * mhz * c.ipc * sr.dt_s
        if d == ui_dom and sr.frames > 0:
            ui_mc = min(work[d], sr.busy_max[d] * mhz * c.ipc * sr.dt_s)
    gpu = sr.busy[3] * sr.freq_khz[3] / 1000.0 * prof.gpu.throughput * sr.dt_s
    worker = work[1] + work[2] - ui_mc
    return TraceRow(
        frames=int(sr.frames),
        ui_mc=float(ui_mc * scale),
        gpu_mc=float(gpu * scale),
        worker_mc=float(max(0.0, worker) * scale),
        bg_mc=float(work[0] * scale),
        phase="frames" if sr.frames > 0 else "idle",
    )


def rows_to_frame(rows: list[TraceRow], tick_s: float) -> pd.DataFrame:
    """Trace table of rows at ``tick_s``."""
    phases = ["frames", "idle"]
    df = pd.DataFrame(
        {
            "t_s": np.arange(len(rows)) * tick_s,
            "frames": np.array([r.frames for r in rows], dtype=np.int64),
            "ui_mc": [r.ui_mc for r in rows],
            "gpu_mc": [r.gpu_mc for r in rows],
            "worker_mc": [r.worker_mc for r in rows],
            "bg_mc": [r.bg_mc for r in rows],
            "phase": pd.Categorical([r.phase for r in rows], categories=phases),
        },
        columns=list(TRACE_COLUMNS),
    )
    return df


def write_recorded_trace(
    rows: list[TraceRow],
    tick_s: float,
    out: str | Path,
    binding: Binding,
    app: str,
    target_fps: float,
    extra: dict[str, str] | None = None,
) -> None:
    """Validate and write rows as a recorded trace (atomically)."""
    write_trace_rows(rows, tick_s, out, binding.profile.name, app, target_fps,
                     {"codename": binding.layout.codename, **(extra or {})})  # fmt: skip


def write_trace_rows(
    rows: list[TraceRow],
    tick_s: float,
    out: str | Path,
    device: str,
    app: str,
    target_fps: float,
    extra: dict[str, str] | None = None,
) -> None:
    """Validate and write rows as a recorded trace of ``device`` (atomically; also the on-phone runner's log)."""
    meta = TraceMeta(
        schema=TRACE_SCHEMA,
        app=app,
        tick_s=float(tick_s),
        target_fps=float(target_fps),
        source="recorded",
        seed=None,
        device=device,
        extra={"phases": "frames,idle", **(extra or {})},
    )
    write_trace(rows_to_frame(rows, tick_s), meta, out)


def resolve_profile(codename: str, device: str | None) -> DeviceProfile:
    """The profile for a phone: ``device`` if given (name or path), else by codename."""
    if device:
        from metadvfs.catalog.devices import load_device

        prof = load_device(device)
        if codename not in prof.codenames:
            raise MetaDVFSError(
                f"--device {device}: profile codenames {', '.join(prof.codenames)} do not include the phone's "
                f"{codename!r}"
            )
        return prof
    return profile_for_codename(codename)


def record(
    serial: str,
    seconds: float,
    out: str | Path,
    interval_s: float = 0.1,
    device: str | None = None,
    timeout_s: float = 5.0,
    progress: Callable[[int, int, StepReading | None], None] | None = None,
    link: AdbLink | None = None,
) -> dict[str, object]:
    """Record a trace from a phone running its stock governor.

    Args:
        serial: ``HOST:PORT`` or USB serial.
        seconds: Recording length, s.
        out: Trace file (``.csv`` or ``.parquet``), written atomically at the end.
        interval_s: Row length and sampling interval, s (0.001..1).
        device: Device profile name or path (default: the profile whose codenames include the phone's).
        timeout_s: ADB timeout of every call, s.
        progress: ``progress(done_rows, total_rows, reading)`` after every row.
        link: An already connected link (tests, benchmarks); otherwise one is opened and closed.

    Returns:
        Summary (rows, duration, device, app, mean FPS, mean power, read round-trip times).

    Raises:
        MetaDVFSError: Bad arguments, link or discovery problems (nothing is written then).
    """
    if not TICK_S_MIN <= interval_s <= TICK_S_MAX:
        raise MetaDVFSError(f"--interval: must be in [{TICK_S_MIN:g}, {TICK_S_MAX:g}] s, got {interval_s:g}")
    if not 0 < seconds <= MAX_SECONDS:
        raise MetaDVFSError(f"--seconds: must be in (0, {MAX_SECONDS:g}], got {seconds:g}")
    trace_suffix(out)
    n_rows = max(1, round(seconds / interval_s))
    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    sampler: Sampler | None = None
    try:
        if link.root_mode is None:
            link.detect_root()  # reads work without root too (ODPM may need it)
        layout = discover(link)
        profile = resolve_profile(layout.codename, device)
        binding = bind(layout, profile)  # type: ignore[arg-type]
        sampler = Sampler(link, binding, mode="agent")
        sampler.start()
        rows: list[TraceRow] = []
        fps, power, rtts = [], [], []
        apps: dict[str, int] = {}
        prev = sampler.sample()
        next_t = time.monotonic()
        interrupted = False
        try:
            while len(rows) < n_rows:
                next_t += interval_s
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                cur = sampler.sample()
                sr = sampler.reading(prev, cur)
                prev = cur
                rows.append(trace_row(binding, sr, interval_s))
                fps.append(sr.presented / sr.dt_s)
                power.append(sr.power_total_mw)
                rtts.append(cur.rtt_s)
                key = sr.app or sr.foreground or "unknown"
                apps[key] = apps.get(key, 0) + 1
                if progress is not None:
                    progress(len(rows), n_rows, sr)
        except KeyboardInterrupt:
            interrupted = True
            if not rows:
                raise
        app = max(apps, key=lambda k: apps[k]) if apps else "unknown"
        target = sampler.target_fps
        write_recorded_trace(
            rows,
            interval_s,
            out,
            binding,
            app,
            target,
            {"package": sampler.foreground or "", "interval_s": f"{interval_s:g}"},
        )
        return {
            "out": str(out),
            "rows": len(rows),
            "seconds": len(rows) * interval_s,
            "interval_s": interval_s,
            "device": profile.name,  # type: ignore[attr-defined]
            "codename": layout.codename,
            "app": app,
            "package": sampler.foreground,
            "mean_fps": float(np.mean(fps)) if fps else 0.0,
            "mean_power_w": float(np.mean(power)) / 1000.0 if power else 0.0,
            "power_source": layout.power.kind,
            "read_ms_median": float(np.median(rtts) * 1000.0) if rtts else 0.0,
            "interrupted": interrupted,
            "notes": list(layout.notes),
        }
    finally:
        if sampler is not None:
            with contextlib.suppress(MetaDVFSError):
                sampler.stop()
        if own:
            link.close()
