"""A task is one (device, app) pair; optionally the app's demand comes from a trace file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metadvfs.catalog.types import DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.sim.demand import RAW_KEYS
from metadvfs.workload.types import AppMetadata, AppProfile


@dataclass(frozen=True)
class Task:
    """One (device, app) task.

    Attributes:
        device: Device profile.
        app: App profile (for a trace of an app outside the catalog: a stand-in with its metadata).
        trace: Raw trace arrays at the simulator tick when demand comes from a file, else ``None``.
        trace_name: File the trace came from.
    """

    device: DeviceProfile
    app: AppProfile
    trace: dict[str, np.ndarray] | None = None
    trace_name: str | None = None

    @property
    def name(self) -> str:
        """``device:app`` identifier."""
        return f"{self.device.name}:{self.app.name}"

    @property
    def target_fps(self) -> float:
        """App frame-rate target, frames/s."""
        return float(self.app.metadata.target_fps)

    def trace_seconds(self, tick_s: float) -> float | None:
        """Length of the file trace, s (``None`` for generated demand)."""
        if self.trace is None:
            return None
        return len(self.trace["frames"]) * tick_s


def stand_in_app(name: str, target_fps: float) -> AppProfile:
    """App profile for a recorded trace of an app that is not in the catalog (metadata only)."""
    meta = AppMetadata(
        category="unknown", target_fps=target_fps, cpu_intensity=0.5, gpu_intensity=0.5, interaction="unknown"
    )
    return AppProfile(name=name, display_name=name, metadata=meta, phases=())


def make_task(
    device: str | DeviceProfile,
    app: str | AppProfile | None = None,
    trace: str | None = None,
    tick_s: float = 0.01,
) -> Task:
    """Build a task from names, paths or profiles.

    Args:
        device: Device name, profile path, generated-phone name (:mod:`metadvfs.tasks.generator`) or profile.
        app: App name, app-profile path, generated-app name or profile (optional when ``trace`` is given).
        trace: Path of a trace file (CSV or Parquet) replacing the generated demand.
        tick_s: Simulator tick, s (the trace is resampled to it).

    Returns:
        The task.
    """
    from metadvfs.catalog.devices import load_device
    from metadvfs.tasks.generator import resolve_generated_app, resolve_generated_device
    from metadvfs.workload.apps import list_apps, load_app

    gen_dev = None if isinstance(device, DeviceProfile) else resolve_generated_device(str(device))
    dev = device if isinstance(device, DeviceProfile) else (gen_dev or load_device(device))
    if trace is None:
        if app is None:
            raise MetaDVFSError("give an app (--app) or a trace file (--trace)")
        prof = app if isinstance(app, AppProfile) else (resolve_generated_app(str(app)) or load_app(app))
        return Task(dev, prof)
    from metadvfs.workload.trace import read_trace, resample_arrays, trace_to_arrays

    df, meta = read_trace(trace)
    arrays = trace_to_arrays(df)
    if abs(meta.tick_s - tick_s) > 1e-12:
        arrays = resample_arrays(arrays, meta.tick_s, tick_s)
    raw = {k: np.ascontiguousarray(arrays[k], dtype=np.float32) for k in RAW_KEYS}
    if app is not None:
        prof = app if isinstance(app, AppProfile) else load_app(app)
    elif meta.app in list_apps():
        prof = load_app(meta.app)
    else:
        prof = stand_in_app(meta.app, meta.target_fps)
    return Task(dev, prof, trace=raw, trace_name=str(Path(trace)))
