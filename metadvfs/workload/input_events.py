"""Input events of app workloads: touch gestures and app launches, and the per-tick flags the governor sees.

An app profile may carry an ``input:`` section (see ``envs/README.md``) that says, per phase, how often the
user touches the screen and for how long. The generator turns it into an **event track**: a time-sorted list of
``(t_s, event)`` with ``event`` one of :data:`INPUT_EVENTS`. Each event maps to the Android PowerHAL hint it
triggers (:data:`HINT_OF`): every touch event reaches ``PowerManagerService.userActivity`` and from there the
PowerHAL ``INTERACTION`` boost; ``launch_begin`` / ``launch_end`` bracket the ``LAUNCH`` mode.

The simulator does not replay individual events; per tick it needs only :func:`input_flags`: bit
:data:`FLAG_TOUCH` when any touch event fell into the tick, bit :data:`FLAG_LAUNCH` while a launch is under way.

Gestures are drawn from their own random stream (seeded from the trace seed), so adding or changing an
``input:`` section never changes a trace's frames or work for the same seed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from metadvfs.errors import MetaDVFSError

INPUT_EVENTS: tuple[str, ...] = ("touch_down", "touch_move", "touch_up", "launch_begin", "launch_end")
"""Event names of an input track."""

HINT_OF: dict[str, str] = {
    "touch_down": "INTERACTION",
    "touch_move": "INTERACTION",
    "touch_up": "INTERACTION",
    "launch_begin": "LAUNCH",
    "launch_end": "LAUNCH",
}
"""PowerHAL hint each input event triggers."""

FLAG_TOUCH = 1
"""Per-tick flag: at least one touch event (down, move or up) in the tick."""
FLAG_LAUNCH = 2
"""Per-tick flag: an app launch is under way during the tick."""

INPUT_SEED_SALT = 0x1A7E
"""Mixed into the trace seed for the gesture stream (independent of the work stream)."""

_SPEC_KEYS = ("source", "move_hz", "launch_s", "phases")
_PHASE_KEYS = ("gestures_per_s", "contact_s", "at_entry")


@dataclass(frozen=True)
class GestureSpec:
    """Touch gestures during one phase.

    Attributes:
        gestures_per_s: Mean rate of gestures while the phase lasts, 1/s (Poisson); 0 for none besides entry.
        contact_s: ``(min, max)`` finger contact time of one gesture (down -> up), s (uniform).
        at_entry: A gesture starts the phase (e.g. the swipe that brings the next video).
    """

    gestures_per_s: float
    contact_s: tuple[float, float]
    at_entry: bool


@dataclass(frozen=True)
class InputSpec:
    """The ``input:`` section of an app profile.

    Attributes:
        source: Where the timing comes from (a citation, or ``estimated: <method>``).
        move_hz: ``touch_move`` events per second while a finger is down, 1/s.
        launch_s: Duration of the app launch at the start of a generated trace, s (0 = no launch).
        phases: Gestures per phase name (phases not listed have no touches).
    """

    source: str
    move_hz: float
    launch_s: float
    phases: dict[str, GestureSpec]


def parse_input_spec(data: Any, where: str, phase_names: list[str]) -> InputSpec:
    """Validate an app profile's ``input:`` section.

    Args:
        data: The parsed mapping.
        where: File name for error messages.
        phase_names: The app's phase names (every key of ``phases`` must be one of them).

    Returns:
        The spec.

    Raises:
        MetaDVFSError: One line naming the file and the ``input.*`` field.
    """
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{where}: field 'input': must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in _SPEC_KEYS:
            raise MetaDVFSError(f"{where}: field 'input.{key}': unknown field; allowed: {', '.join(_SPEC_KEYS)}")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise MetaDVFSError(f"{where}: field 'input.source': required text (citation or 'estimated: <method>')")
    move_hz = _number(data.get("move_hz", 60.0), f"{where}: field 'input.move_hz'", 1.0, 1000.0)
    launch_s = _number(data.get("launch_s", 0.0), f"{where}: field 'input.launch_s'", 0.0, 60.0)
    raw_phases = data.get("phases", {})
    if not isinstance(raw_phases, dict):
        raise MetaDVFSError(f"{where}: field 'input.phases': must be a mapping of phase name -> gestures")
    phases: dict[str, GestureSpec] = {}
    for name, spec in raw_phases.items():
        field = f"{where}: field 'input.phases.{name}'"
        if name not in phase_names:
            raise MetaDVFSError(f"{field}: unknown phase; the app's phases are {', '.join(phase_names)}")
        if not isinstance(spec, dict):
            raise MetaDVFSError(f"{field}: must be a mapping with {', '.join(_PHASE_KEYS)}")
        for key in spec:
            if key not in _PHASE_KEYS:
                raise MetaDVFSError(f"{field}.{key}: unknown field; allowed: {', '.join(_PHASE_KEYS)}")
        rate = _number(spec.get("gestures_per_s", 0.0), f"{field}.gestures_per_s", 0.0, 20.0)
        contact = spec.get("contact_s")
        if (
            not isinstance(contact, list)
            or len(contact) != 2
            or not all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in contact)
        ):
            raise MetaDVFSError(f"{field}.contact_s: must be [min, max] seconds")
        lo = _number(contact[0], f"{field}.contact_s[0]", 0.005, 10.0)
        hi = _number(contact[1], f"{field}.contact_s[1]", lo, 10.0)
        at_entry = spec.get("at_entry", False)
        if not isinstance(at_entry, bool):
            raise MetaDVFSError(f"{field}.at_entry: must be true or false, got {at_entry!r}")
        phases[str(name)] = GestureSpec(rate, (lo, hi), at_entry)
    return InputSpec(source=source, move_hz=move_hz, launch_s=launch_s, phases=phases)


def _number(value: Any, field: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise MetaDVFSError(f"{field}: must be a finite number, got {value!r}")
    x = float(value)
    if not lo <= x <= hi:
        raise MetaDVFSError(f"{field}: {x:g} is out of range; allowed [{lo:g}, {hi:g}]")
    return x


def generate_events(
    spec: InputSpec | None, phase_id: np.ndarray, phase_names: list[str], seed: int, tick_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the input events of a generated trace.

    Args:
        spec: The app's input spec (``None``: no events).
        phase_id: (n,) phase index per tick.
        phase_names: Phase names indexed by ``phase_id``.
        seed: Trace seed (the gesture stream uses ``[seed, INPUT_SEED_SALT]``).
        tick_s: Tick, s.

    Returns:
        ``(t_s, event)``: float64 times (s, sorted, within ``[0, n * tick_s)``) and int64 indices into
        :data:`INPUT_EVENTS`.
    """
    n = len(phase_id)
    end_s = n * tick_s
    times: list[float] = []
    kinds: list[int] = []
    if spec is None or n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([int(seed), INPUT_SEED_SALT])
    if spec.launch_s > 0:
        times += [0.0, min(spec.launch_s, end_s - 1e-9)]
        kinds += [INPUT_EVENTS.index("launch_begin"), INPUT_EVENTS.index("launch_end")]
    # phase visits: runs of equal phase_id
    change = np.flatnonzero(np.diff(phase_id)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [n]])
    free_at = 0.0  # one finger: a gesture starts after the previous one lifted
    move_dt = 1.0 / spec.move_hz
    down, move, up = (INPUT_EVENTS.index(k) for k in ("touch_down", "touch_move", "touch_up"))
    for a, b in zip(starts, stops, strict=True):
        g = spec.phases.get(phase_names[int(phase_id[a])])
        if g is None:
            continue
        t0, t1 = a * tick_s, b * tick_s
        starts_s: list[float] = [t0] if g.at_entry else []
        if g.gestures_per_s > 0:
            k = int(rng.poisson(g.gestures_per_s * (t1 - t0)))
            starts_s += sorted(float(x) for x in rng.uniform(t0, t1, size=k))
        for s in starts_s:
            contact = float(rng.uniform(*g.contact_s))
            if s < free_at or s >= end_s:
                continue
            lift = min(s + contact, end_s - 1e-9)
            times.append(s)
            kinds.append(down)
            m = s + move_dt
            while m < lift:
                times.append(m)
                kinds.append(move)
                m += move_dt
            times.append(lift)
            kinds.append(up)
            free_at = lift
    t = np.asarray(times, dtype=np.float64)
    e = np.asarray(kinds, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    return t[order], e[order]


def input_flags(t_s: np.ndarray, event: np.ndarray, n_ticks: int, tick_s: float) -> np.ndarray:
    """Per-tick flags (:data:`FLAG_TOUCH`, :data:`FLAG_LAUNCH`) of an event track.

    Args:
        t_s: (E,) sorted event times, s.
        event: (E,) indices into :data:`INPUT_EVENTS`.
        n_ticks: Ticks of the trace.
        tick_s: Tick, s.

    Returns:
        (n_ticks,) int64 flags. A launch without ``launch_end`` lasts to the end of the trace.
    """
    flags = np.zeros(n_ticks, dtype=np.int64)
    if len(t_s) == 0 or n_ticks == 0:
        return flags
    tick = np.minimum((np.asarray(t_s) / tick_s + 1e-9).astype(np.int64), n_ticks - 1)
    ev = np.asarray(event)
    touch = ev <= INPUT_EVENTS.index("touch_up")
    flags[np.unique(tick[touch])] |= FLAG_TOUCH
    begin = INPUT_EVENTS.index("launch_begin")
    open_at: int | None = None
    for k, e in zip(tick[~touch], ev[~touch], strict=True):
        if e == begin:
            open_at = int(k) if open_at is None else open_at
        elif open_at is not None:
            flags[open_at : int(k) + 1] |= FLAG_LAUNCH
            open_at = None
    if open_at is not None:
        flags[open_at:] |= FLAG_LAUNCH
    return flags


def track_to_json(t_s: np.ndarray, event: np.ndarray) -> dict[str, list]:
    """The event track as stored in trace metadata: ``{"t_s": [...], "event": [names]}``."""
    return {"t_s": [float(x) for x in t_s], "event": [INPUT_EVENTS[int(k)] for k in event]}


def track_from_json(data: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a stored event track.

    Args:
        data: ``{"t_s": [...], "event": [...]}`` (or ``None`` for no events).
        where: Prefix for error messages (file name).

    Returns:
        ``(t_s, event)`` as in :func:`generate_events`.

    Raises:
        MetaDVFSError: One line naming the file and the ``input`` field: not a mapping, lengths differ, a time
            negative, not finite or out of order, or an unknown event (hint) name.
    """
    if data is None:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    field = f"{where}: trace metadata field 'input'"
    if not isinstance(data, dict) or set(data) != {"t_s", "event"}:
        raise MetaDVFSError(f"{field}: must be an object with exactly the lists 't_s' and 'event'")
    ts, ev = data["t_s"], data["event"]
    if not isinstance(ts, list) or not isinstance(ev, list) or len(ts) != len(ev):
        raise MetaDVFSError(f"{field}: 't_s' and 'event' must be lists of equal length")
    out_t = np.empty(len(ts))
    out_e = np.empty(len(ev), dtype=np.int64)
    prev = 0.0
    for i, (t, e) in enumerate(zip(ts, ev, strict=True)):
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
            raise MetaDVFSError(f"{field}.t_s[{i}]: {t!r} is not a finite number")
        if t < 0:
            raise MetaDVFSError(f"{field}.t_s[{i}]: {t:g} s is negative; times must be >= 0")
        if t < prev:
            raise MetaDVFSError(f"{field}.t_s[{i}]: {t:g} s < t_s[{i - 1}] = {prev:g} s; times must be sorted")
        if e not in HINT_OF:
            raise MetaDVFSError(
                f"{field}.event[{i}]: unknown input event / hint name {e!r}; allowed: {', '.join(INPUT_EVENTS)}"
            )
        out_t[i] = t
        out_e[i] = INPUT_EVENTS.index(e)
        prev = float(t)
    return out_t, out_e
