"""Seeded demand generator: turns an :class:`~metadvfs.workload.types.AppProfile` into per-tick demand.

The model (see ``docs/workloads.md``):

* **Phases** switch by a semi-Markov process. The first phase is drawn by weight; each phase lasts
  ``uniform(duration_s)`` seconds (rounded to whole ticks); the next phase is drawn by weight among the
  *other* phases. (Drawing i.i.d. phases by weight and merging consecutive repeats gives exactly this chain,
  which is how it is vectorized.)
* **Frames** are requested at the vsync instants ``k / fps`` of the current phase's ``fps``; a frame lands in
  the tick containing its instant, so at 10 ms ticks a 60 fps phase gives 0, 1 or occasionally 2 frames per
  tick.
* **Per-frame work** (``ui_mc``, ``gpu_mc``) is lognormal with the phase's mean and cv. Its log-noise is a
  unit-variance AR(1) process over consecutive frames (:data:`FRAME_AR1`, scenes persist), ui and GPU noise
  correlated per frame (:data:`UI_GPU_CORR`), times a slow "scene complexity" modulation shared by ui and
  GPU.
* **Worker and background work** per tick is ``rate * tick_s`` times lognormal noise with the phase's cv
  (per tick), times its own slow modulation.
* **Slow modulation** is ``exp(s * x - s**2 / 2)`` with ``x`` a unit-variance AR(1) process of time constant
  :data:`MOD_TAU_S` and ``s = ``:data:`MOD_SIGMA`; it has mean 1, so phase means are preserved, and it makes
  consecutive frames correlated.

Everything is drawn from one ``np.random.default_rng(seed)``; no global RNG is touched.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from metadvfs.errors import MetaDVFSError
from metadvfs.workload.apps import load_app
from metadvfs.workload.input_events import generate_events, input_flags, track_to_json
from metadvfs.workload.trace import TICK_S_MAX, TICK_S_MIN, arrays_to_frame, phases_extra
from metadvfs.workload.types import TRACE_SCHEMA, AppProfile, PhaseSpec, TraceMeta

MOD_SIGMA = 0.2
"""Log-space standard deviation of the slow modulation (about ±20 % swings)."""

MOD_TAU_S = 3.0
"""Time constant of the slow AR(1) modulation, s."""

FRAME_AR1 = 0.9
"""Lag-1 correlation of the per-frame log-noise of consecutive frames (scenes persist: a heavy frame is followed by
heavy frames); an app profile's optional ``frame_ar1`` (e.g. fitted from a recorded trace) replaces it.
*Estimated*: frame-level DVFS work (e.g. Dietrich & Chakraborty's game frame-workload predictors, Gong et al.'s
per-frame GPU-time prediction) relies on consecutive frame workloads being strongly correlated; 0.9
per frame gives a correlation time of about 10 frames (~0.17 s at 60 fps). See docs/workloads.md."""

UI_GPU_CORR = 0.6
"""Correlation of the per-frame log-noise of ui and GPU work (a heavy frame is heavy on both)."""

GENERATOR_ID = "metadvfs.workload.generator/2"
"""Written into ``TraceMeta.extra["generator"]``; bump when the model changes the output for a seed."""

MAX_TICKS = 50_000_000
"""Largest trace :func:`generate_arrays` will build (about 5.8 days at 10 ms)."""

_FRAME_EPS = 1e-6  # vsync instants exactly on a tick boundary belong to the later tick


def generate_arrays(app: AppProfile | str, n_ticks: int, seed: int, tick_s: float = 0.01) -> dict[str, np.ndarray]:
    """Generate ``n_ticks`` ticks of demand for ``app``.

    Args:
        app: Profile or catalog name / file path (see :func:`~metadvfs.workload.apps.load_app`).
        n_ticks: Number of rows (>= 1).
        seed: Non-negative integer seed; the same seed gives identical arrays.
        tick_s: Row spacing, s (0.001 .. 1.0).

    Returns:
        ``t_s`` (float64, s), ``frames`` (int64, frames requested in the tick), ``ui_mc`` (float64, reference
        Mc), ``gpu_mc`` (float64, reference GPU Mc), ``worker_mc`` and ``bg_mc`` (float64, reference Mc),
        ``frame_fps`` (float64, the phase's frame rate, frames/s), ``phase_id`` (int64 index into
        ``phase_names``), ``phase_names`` (str array, the app's phase names in file order) and ``input`` (int64
        per-tick input flags, see :func:`metadvfs.workload.input_events.input_flags`).

    Raises:
        MetaDVFSError: Bad ``n_ticks``, ``seed`` or ``tick_s``.
    """
    profile = load_app(app) if isinstance(app, str) else app
    n = _check_ticks(n_ticks)
    tick = _check_tick_s(tick_s)
    rng = np.random.default_rng(_check_seed(seed))
    phases = profile.phases

    phase_id = _phase_sequence(rng, phases, n, tick)

    fps = np.array([p.fps for p in phases])
    a = fps[phase_id] * tick  # vsync periods per tick
    idx = np.arange(n, dtype=np.float64)
    frames = (np.ceil((idx + 1.0) * a - _FRAME_EPS) - np.ceil(idx * a - _FRAME_EPS)).astype(np.int64)

    # per-frame work
    n_frames = int(frames.sum())
    frame_tick = np.repeat(np.arange(n), frames)
    frame_phase = phase_id[frame_tick]
    rho = FRAME_AR1 if profile.frame_ar1 is None else profile.frame_ar1
    z_ui = _ar1(rng, n_frames, rho) if n_frames else np.zeros(0)
    z_own = _ar1(rng, n_frames, rho) if n_frames else np.zeros(0)
    z_gpu = UI_GPU_CORR * z_ui + math.sqrt(1.0 - UI_GPU_CORR**2) * z_own
    scene = _modulation(rng, n, tick)
    ui_f = _lognormal(z_ui, phases, "ui_mc", frame_phase) * scene[frame_tick]
    gpu_f = _lognormal(z_gpu, phases, "gpu_mc", frame_phase) * scene[frame_tick]
    ui = np.bincount(frame_tick, weights=ui_f, minlength=n).astype(np.float64)
    gpu = np.bincount(frame_tick, weights=gpu_f, minlength=n).astype(np.float64)

    # per-tick worker / background work
    worker = _lognormal(rng.standard_normal(n), phases, "worker_mc_per_s", phase_id) * tick * _modulation(rng, n, tick)
    bg = _lognormal(rng.standard_normal(n), phases, "bg_mc_per_s", phase_id) * tick * _modulation(rng, n, tick)

    ev_t, ev_k = generate_events(profile.input, phase_id, [p.name for p in phases], seed, tick)
    return {
        "t_s": np.arange(n, dtype=np.float64) * tick,
        "frames": frames,
        "ui_mc": ui,
        "gpu_mc": gpu,
        "worker_mc": worker,
        "bg_mc": bg,
        "frame_fps": fps[phase_id].astype(np.float64),
        "phase_id": phase_id.astype(np.int64),
        "phase_names": np.array([p.name for p in phases], dtype=str),
        "input": input_flags(ev_t, ev_k, n, tick),
    }


def generate_trace(
    app: AppProfile | str, seconds: float, seed: int, tick_s: float = 0.01
) -> tuple[pd.DataFrame, TraceMeta]:
    """Generate a trace table and its metadata.

    Args:
        app: Profile or catalog name / file path.
        seconds: Trace length, s (> 0); rounded to a whole number of ticks (at least one).
        seed: Non-negative integer seed.
        tick_s: Row spacing, s (0.001 .. 1.0).

    Returns:
        ``(df, meta)``: ``df`` has :data:`~metadvfs.workload.types.TRACE_COLUMNS` (``phase`` categorical over
        the app's phase names); ``meta.source == "generated"``.

    Raises:
        MetaDVFSError: Bad ``seconds``, ``seed`` or ``tick_s``.
    """
    profile = load_app(app) if isinstance(app, str) else app
    tick = _check_tick_s(tick_s)
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds):
        raise MetaDVFSError(f"seconds: {seconds!r} is not a finite number")
    if seconds <= 0:
        raise MetaDVFSError(f"seconds: {seconds:g} must be > 0")
    n = max(1, round(float(seconds) / tick))
    arrays = generate_arrays(profile, n, seed, tick)
    events = generate_events(profile.input, arrays["phase_id"], [p.name for p in profile.phases], seed, tick)
    meta = TraceMeta(
        schema=TRACE_SCHEMA,
        app=profile.name,
        tick_s=tick,
        target_fps=profile.metadata.target_fps,
        source="generated",
        seed=int(seed),
        device=None,
        extra={"phases": phases_extra([str(x) for x in arrays["phase_names"]]), "generator": GENERATOR_ID},
        input=track_to_json(*events),
    )
    return arrays_to_frame(arrays), meta


# --------------------------------------------------------------------------------------------- internals


def _check_ticks(n_ticks: int) -> int:
    if isinstance(n_ticks, bool) or not isinstance(n_ticks, numbers.Integral):
        raise MetaDVFSError(f"n_ticks: {n_ticks!r} is not an integer")
    if not 1 <= n_ticks <= MAX_TICKS:
        raise MetaDVFSError(f"n_ticks: {n_ticks} is out of range; allowed [1, {MAX_TICKS}]")
    return int(n_ticks)


def _check_tick_s(tick_s: float) -> float:
    if isinstance(tick_s, bool) or not isinstance(tick_s, numbers.Real) or not math.isfinite(tick_s):
        raise MetaDVFSError(f"tick_s: {tick_s!r} is not a finite number")
    if not TICK_S_MIN <= tick_s <= TICK_S_MAX:
        raise MetaDVFSError(f"tick_s: {tick_s:g} s is out of range; allowed [{TICK_S_MIN:g}, {TICK_S_MAX:g}] s")
    return float(tick_s)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise MetaDVFSError(f"seed: {seed!r} must be a non-negative integer")
    return int(seed)


def _phase_sequence(rng: np.random.Generator, phases: tuple[PhaseSpec, ...], n: int, tick: float) -> np.ndarray:
    """Per-tick phase index of a semi-Markov phase process covering ``n`` ticks."""
    k = len(phases)
    w = np.array([p.weight for p in phases], dtype=np.float64)
    w /= w.sum()
    lo = np.array([p.duration_s[0] for p in phases])
    span = np.array([p.duration_s[1] - p.duration_s[0] for p in phases])
    total = n * tick
    mean_dur = float(np.dot(w, lo + span / 2.0))
    keep_frac = max(1.0 - float(np.dot(w, w)), 0.05) if k > 1 else 1.0

    seqs: list[np.ndarray] = []
    durs: list[np.ndarray] = []
    covered = 0.0
    last = -1
    while covered < total:
        chunk = int((total - covered) / mean_dur / keep_frac * 1.2) + 16
        draws = rng.choice(k, size=chunk, p=w) if k > 1 else np.zeros(chunk, dtype=np.int64)
        u = rng.random(chunk)
        if k > 1:
            keep = np.empty(chunk, dtype=bool)
            keep[0] = draws[0] != last
            keep[1:] = draws[1:] != draws[:-1]
            last = int(draws[-1])
            draws, u = draws[keep], u[keep]
        d = lo[draws] + u * span[draws]
        seqs.append(draws)
        durs.append(d)
        covered += float(d.sum())

    seq = np.concatenate(seqs)
    ends = np.rint(np.cumsum(np.concatenate(durs)) / tick).astype(np.int64)
    ends = np.minimum(ends, n)
    ends[-1] = n
    lengths = np.diff(ends, prepend=0)
    return np.repeat(seq.astype(np.int64), np.maximum(lengths, 0))


def _lognormal(z: np.ndarray, phases: tuple[PhaseSpec, ...], field: str, phase_idx: np.ndarray) -> np.ndarray:
    """Lognormal values with per-phase ``(mean, cv)`` from standard normals ``z``."""
    means = np.array([getattr(p, field)[0] for p in phases], dtype=np.float64)
    cvs = np.array([getattr(p, field)[1] for p in phases], dtype=np.float64)
    sig = np.sqrt(np.log1p(cvs**2))
    s = sig[phase_idx]
    return means[phase_idx] * np.exp(s * z - 0.5 * s * s)


def _modulation(rng: np.random.Generator, n: int, tick: float) -> np.ndarray:
    """Slow mean-1 multiplicative modulation ``exp(s*x - s^2/2)``, ``x`` a unit AR(1) at tick resolution."""
    x = _ar1(rng, n, math.exp(-tick / MOD_TAU_S))
    return np.exp(MOD_SIGMA * x - 0.5 * MOD_SIGMA**2)


def _ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """Stationary unit-variance AR(1) ``x[k] = rho*x[k-1] + sqrt(1-rho^2)*e[k]``, vectorized in blocks."""
    x0 = float(rng.standard_normal())
    e = rng.standard_normal(n) * math.sqrt(max(1.0 - rho * rho, 0.0))
    if rho <= 0.0:
        return e
    # Within a block, x[j] = rho^(j+1) * (x_prev + cumsum(e[i] / rho^(i+1))); keep rho^-L <= 1e6.
    block = int(min(n, max(1, math.floor(math.log(1e6) / -math.log(rho))))) if rho < 1.0 else n
    pw = rho ** np.arange(1, block + 1, dtype=np.float64)
    out = np.empty(n, dtype=np.float64)
    prev = x0
    for start in range(0, n, block):
        seg = e[start : start + block]
        m = seg.shape[0]
        p = pw[:m]
        out[start : start + m] = p * (prev + np.cumsum(seg / p))
        prev = float(out[start + m - 1])
    return out
