"""A task is one (device, app) pair; optionally the app's demand comes from a trace file."""

from __future__ import annotations

import dataclasses
import re
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
        ambient_c: Ambient temperature override, degC (``None``: the profile's ``thermal.ambient_c``). When set,
            ``device.thermal.ambient_c`` already holds it (see :func:`with_ambient`).
    """

    device: DeviceProfile
    app: AppProfile
    trace: dict[str, np.ndarray] | None = None
    trace_name: str | None = None
    ambient_c: float | None = None

    @property
    def name(self) -> str:
        """``device:app`` identifier, with an ``@<ambient>C`` suffix when the ambient is overridden."""
        base = f"{self.device.name}:{self.app.name}"
        return base if self.ambient_c is None else f"{base}{ambient_suffix(self.ambient_c)}"

    @property
    def target_fps(self) -> float:
        """App frame-rate target, frames/s."""
        return float(self.app.metadata.target_fps)

    @property
    def display_rate(self) -> bool:
        """The app's UI phases render at the display's refresh rate (:class:`AppMetadata` ``display_rate``)."""
        return bool(self.app.metadata.display_rate)

    def trace_seconds(self, tick_s: float) -> float | None:
        """Length of the file trace, s (``None`` for generated demand)."""
        if self.trace is None:
            return None
        return len(self.trace["frames"]) * tick_s


AMBIENT_RANGE_C = (0.0, 50.0)
"""Allowed ambient override, degC (the thermal model's rules trip at 39-55 degC skin)."""

_AMBIENT_RE = re.compile(r"^(?P<base>.+)@(?P<amb>[^@]*)$")


def ambient_suffix(ambient_c: float) -> str:
    """Task-name suffix of an ambient override, e.g. ``@35C`` or ``@27.5C``."""
    return f"@{ambient_c:g}C"


def check_ambient(value: object, where: str) -> float:
    """Validate an ambient temperature.

    Args:
        value: The value given (number or numeric string).
        where: Where it came from, for the error message (``"task 'pixel6:3dmark@99C'"``, a file and field).

    Returns:
        The ambient temperature, degC.

    Raises:
        MetaDVFSError: Not a number or outside :data:`AMBIENT_RANGE_C`.
    """
    lo, hi = AMBIENT_RANGE_C
    try:
        amb = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetaDVFSError(f"{where}: ambient must be a number of degC in [{lo:g}, {hi:g}], got {value!r}") from None
    if not (np.isfinite(amb) and lo <= amb <= hi):
        raise MetaDVFSError(f"{where}: ambient must be in [{lo:g}, {hi:g}] degC, got {value!r}")
    return amb


def split_ambient(app_spec: str, where: str) -> tuple[str, float | None]:
    """Split ``"3dmark@35C"`` into ``("3dmark", 35.0)``; a spec without ``@`` gives ``(spec, None)``.

    Args:
        app_spec: The APP part of a ``DEVICE:APP[@<degC>C]`` task name.
        where: Context for the error message.

    Returns:
        The app name or path and the ambient override (degC) or ``None``.

    Raises:
        MetaDVFSError: A malformed suffix (not ``@<number>C``) or an ambient out of range.
    """
    m = _AMBIENT_RE.match(app_spec)
    if m is None:
        return app_spec, None
    amb = m.group("amb")
    if not amb.upper().endswith("C") or not _is_number(amb[:-1]):
        lo, hi = AMBIENT_RANGE_C
        raise MetaDVFSError(f"{where}: ambient suffix must be @<degC>C with degC in [{lo:g}, {hi:g}], got @{amb}")
    return m.group("base"), check_ambient(amb[:-1], where)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def with_ambient(device: DeviceProfile, ambient_c: float) -> DeviceProfile:
    """A copy of ``device`` whose thermal model uses ``ambient_c`` (degC) as the ambient temperature."""
    return dataclasses.replace(device, thermal=dataclasses.replace(device.thermal, ambient_c=float(ambient_c)))


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
    ambient_c: float | None = None,
) -> Task:
    """Build a task from names, paths or profiles.

    Args:
        device: Device name, profile path, generated-phone name (:mod:`metadvfs.tasks.generator`) or profile.
        app: App name, app-profile path, generated-app name or profile (optional when ``trace`` is given).
        trace: Path of a trace file (CSV or Parquet) replacing the generated demand.
        tick_s: Simulator tick, s (the trace is resampled to it).
        ambient_c: Ambient temperature override, degC, in :data:`AMBIENT_RANGE_C` (``None``: the profile's).

    Returns:
        The task.
    """
    from metadvfs.catalog.devices import load_device
    from metadvfs.tasks.generator import resolve_generated_app, resolve_generated_device
    from metadvfs.workload.apps import list_apps, load_app

    gen_dev = None if isinstance(device, DeviceProfile) else resolve_generated_device(str(device))
    dev = device if isinstance(device, DeviceProfile) else (gen_dev or load_device(device))
    if ambient_c is not None:
        ambient_c = check_ambient(ambient_c, f"device {dev.name}")
        dev = with_ambient(dev, ambient_c)
    if trace is None:
        if app is None:
            raise MetaDVFSError("give an app (--app) or a trace file (--trace)")
        prof = app if isinstance(app, AppProfile) else (resolve_generated_app(str(app)) or load_app(app))
        return Task(dev, prof, ambient_c=ambient_c)
    from metadvfs.workload.trace import read_trace, resample_arrays, trace_to_arrays

    df, meta = read_trace(trace)
    arrays = trace_to_arrays(df)
    if abs(meta.tick_s - tick_s) > 1e-12:
        arrays = resample_arrays(arrays, meta.tick_s, tick_s)
    raw = {k: np.ascontiguousarray(arrays[k], dtype=np.float32) for k in RAW_KEYS}
    from metadvfs.workload.input_events import input_flags, track_from_json

    raw["input"] = input_flags(*track_from_json(meta.input, str(trace)), len(raw["frames"]), tick_s).astype(np.float32)
    if app is not None:
        prof = app if isinstance(app, AppProfile) else load_app(app)
    elif meta.app in list_apps():
        prof = load_app(meta.app)
    else:
        prof = stand_in_app(meta.app, meta.target_fps)
    return Task(dev, prof, trace=raw, trace_name=str(Path(trace)), ambient_c=ambient_c)
