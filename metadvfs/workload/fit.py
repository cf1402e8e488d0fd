"""Fit an app profile (``metadvfs.app/1``) to a workload trace: ``metadvfs trace fit``.

The inverse of :mod:`metadvfs.workload.generator`. Given per-tick demand (a ``metadvfs.trace/1|2`` file written by
``metadvfs record`` or the generator, or Perfetto frame data converted by :mod:`metadvfs.workload.perfetto`), it
estimates every parameter of the generator's model so that a trace generated from the fitted profile has the same
frame-rate demand, per-frame work distribution and burstiness (docs/workloads.md, "Fitting a profile from a trace"):

* **Phases.** The trace's phase labels when they are informative (a generated trace, or a recording someone
  labelled); otherwise (``metadvfs record`` labels only ``frames`` / ``idle``) phases are found by k-means over
  windows of :data:`WINDOW_S` described by frame rate, per-frame ui and GPU work and worker / background rates
  (``log1p``, standardised), with the number of phases the smallest that leaves less than :data:`KMEANS_GAIN` of
  the within-cluster scatter to gain, and a 3-window majority filter against single-window flicker.
* **Per phase**: ``fps`` = frames / phase time; per-frame ``ui_mc`` / ``gpu_mc`` mean = work / frames; worker and
  background means = work / phase time; each ``cv`` from the variance of the log values with the generator's slow
  modulation (log-variance ``MOD_SIGMA**2``) removed, since the generator multiplies it back in; the per-tick worker
  and background ``cv`` of a trace coarser than the simulator's 10 ms tick (``metadvfs record`` writes 100 ms rows)
  scaled by ``sqrt(tick_s / 0.01)``, since a row sums that many independent 10 ms draws.
* **Phase process**: visit durations (the first and last, truncated visits left out when there are others) give a
  uniform ``duration_s`` by moments (``mean -+ sqrt(3) sd``, within the observed range); visit counts give the
  weights by inverting the embedded chain (a phase is followed by another drawn by weight: visit shares are
  proportional to ``w (1 - w)``).
* **Autocorrelation** ``frame_ar1``: the lag-1 correlation of consecutive frames' log ui work within a visit, with
  the modulation's share removed.
* **Input** (schema ``/2`` traces with an event track): per phase, whether a gesture opens each visit, the rate of
  further gestures, contact times, ``touch_move`` rate and the launch duration.
* **Metadata**: ``target_fps`` from the trace; intensities by the catalog rule (mean CPU Mc/s / 2253, GPU-Mc/s /
  710, rounded to 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from metadvfs.errors import MetaDVFSError
from metadvfs.io import write_text_atomic
from metadvfs.workload.apps import APP_SCHEMA, APP_SUFFIXES, FRAME_AR1_MAX, MAX_FPS, parse_app
from metadvfs.workload.generator import MOD_SIGMA
from metadvfs.workload.input_events import INPUT_EVENTS

WINDOW_S = 0.25
"""Window of the automatic phase segmentation, s."""

MAX_PHASES = 6
"""Most phases the automatic segmentation finds."""

KMEANS_GAIN = 0.2
"""Segmentation stops adding phases when one more would remove less than this share of the remaining scatter."""

MIN_SECONDS = 2.0
"""Shortest trace that can be fitted, s."""

RECORDED_LABELS = frozenset({"frames", "idle", "recorded"})
"""Phase labels that carry no phase information (``metadvfs record`` writes ``frames`` / ``idle``)."""

CPU_REF_MC_PER_S = 2253.0
"""Intensity reference: one Pixel 6 A76 core at its top clock, Mc/s (envs/README.md, "Intensities")."""

GPU_REF_MC_PER_S = 710.0
"""Intensity reference: an Adreno 630 at its top clock, GPU-Mc/s."""

GEN_TICK_S = 0.01
"""Tick the fitted profile's per-tick worker / background ``cv`` refers to (the simulator's tick), s."""

_ENTRY_S = 0.05  # a touch_down within this of a visit's start opens the visit
_STATIC_FPS = 0.5  # a phase requesting fewer frames per second is static (fps 0)


@dataclass(frozen=True)
class FitOptions:
    """Choices of :func:`fit_profile`.

    Attributes:
        name: The profile's name (``[A-Za-z0-9_.-]``).
        category: ``metadata.category`` (a lowercase identifier).
        interaction: ``metadata.interaction`` (a lowercase identifier).
        phases: ``labels`` (use the trace's labels), ``auto`` (segment) or ``default`` (labels if informative).
        max_phases: Most phases ``auto`` may find, 1 .. 12.
        window_s: Window of ``auto``, s.
        source: Where the trace came from, for the profile's notes.
    """

    name: str
    category: str = "recorded"
    interaction: str = "recorded"
    phases: str = "default"
    max_phases: int = MAX_PHASES
    window_s: float = WINDOW_S
    source: str = "a trace"


def fit_profile(
    arrays: dict[str, np.ndarray],
    tick_s: float,
    target_fps: float,
    events: tuple[np.ndarray, np.ndarray] | None,
    options: FitOptions,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit an app profile to per-tick demand.

    Args:
        arrays: Array dict (:func:`metadvfs.workload.trace.trace_to_arrays`): ``frames``, ``ui_mc``, ``gpu_mc``,
            ``worker_mc``, ``bg_mc`` (reference Mc / GPU-Mc per tick), ``phase_id``, ``phase_names``.
        tick_s: Tick, s.
        target_fps: The app's frame-rate target, frames/s.
        events: The input-event track ``(t_s, event index)`` or ``None``.
        options: See :class:`FitOptions`.

    Returns:
        ``(document, report)``: the profile as a mapping (schema ``metadvfs.app/1``, validated) and a summary of
        what was measured (per-phase shares and visits, the observed frame autocorrelation).

    Raises:
        MetaDVFSError: Too short a trace, no frames, or a bad option.
    """
    n = int(arrays["frames"].shape[0])
    if n * tick_s < MIN_SECONDS:
        raise MetaDVFSError(f"trace: {n * tick_s:g} s is too short to fit; need at least {MIN_SECONDS:g} s")
    frames = np.asarray(arrays["frames"], dtype=np.int64)
    if int(frames.sum()) == 0:
        raise MetaDVFSError("trace: column 'frames': no frame in the whole trace; nothing to fit a frame demand to")
    labels, names, mode = _phase_labels(arrays, tick_s, options)
    runs = _runs(labels)
    phases = [_fit_phase(arrays, labels, runs, k, names[k], tick_s) for k in range(len(names))]
    keep = [i for i, p in enumerate(phases) if p is not None]
    visits = np.array([sum(1 for r in runs if r[0] == k) for k in keep], dtype=np.float64)
    weights = _chain_weights(visits / visits.sum())
    docs = []
    for w, k in zip(weights, keep, strict=True):
        doc = phases[k]
        assert doc is not None
        doc["weight"] = _sig(w * 10.0, 3)
        docs.append(doc)
    rho, rho_obs = _frame_ar1(arrays, runs)
    totals = {c: float(np.sum(arrays[c])) / (n * tick_s) for c in ("ui_mc", "gpu_mc", "worker_mc", "bg_mc")}
    cpu = totals["ui_mc"] + totals["worker_mc"] + totals["bg_mc"]
    doc_out: dict[str, Any] = {
        "schema": APP_SCHEMA,
        "name": options.name,
        "display_name": options.name,
        "metadata": {
            "category": options.category,
            "interaction": options.interaction,
            "target_fps": float(target_fps),
            "cpu_intensity": _intensity(cpu / CPU_REF_MC_PER_S),
            "gpu_intensity": _intensity(totals["gpu_mc"] / GPU_REF_MC_PER_S),
        },
        "notes": (
            f"Fitted by `metadvfs trace fit` from {options.source} ({n * tick_s:g} s at {tick_s * 1000:g} ms; "
            f"phases from {mode}). Every number is measured from that trace (docs/workloads.md, 'Fitting a "
            "profile from a trace')."
        ),
        "frame_ar1": rho,
        "phases": [{k: d[k] for k in _PHASE_ORDER} for d in docs],
    }
    fitted_input = _fit_input(events, labels, runs, [names[k] for k in keep], names, tick_s, n, options.source)
    if fitted_input is not None:
        doc_out["input"] = fitted_input
    parse_app(doc_out, f"fitted profile {options.name}")  # the output must load
    report = {
        "mode": mode,
        "seconds": n * tick_s,
        "phases": {
            names[k]: {"share": float(np.mean(labels == k)), "visits": int(v)}
            for k, v in zip(keep, visits, strict=True)
        },
        "frame_ar1_observed": rho_obs,
        "frame_ar1": rho,
        "mean_fps": float(frames.sum()) / (n * tick_s),
        "cpu_mc_per_s": cpu,
        "gpu_mc_per_s": totals["gpu_mc"],
        "input_events": 0 if events is None else len(events[0]),
    }
    return doc_out, report


def profile_yaml(doc: dict[str, Any]) -> str:
    """The profile as YAML text (keys in schema order, one header comment)."""
    head = (
        "# Fitted app profile (schema metadvfs.app/1), written by `metadvfs trace fit`.\n"
        "# Units: ui_mc / gpu_mc per frame (reference Mc / GPU-Mc); *_per_s in reference Mc per second; "
        "duration_s in s; fps in frames/s.\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def check_out_path(out: str | Path) -> Path:
    """Validate the output path of a fitted profile (suffix, not a directory) before any work.

    Raises:
        MetaDVFSError: A suffix other than ``.yaml`` / ``.yml``, or a directory.
    """
    path = Path(out)
    if path.suffix.lower() not in APP_SUFFIXES[:2]:
        raise MetaDVFSError(f"--out {path}: an app profile must end in .yaml or .yml")
    if path.is_dir():
        raise MetaDVFSError(f"--out {path}: is a directory; give a file path ending in .yaml")
    return path


def write_profile(doc: dict[str, Any], out: str | Path) -> None:
    """Validate and write a profile atomically (nothing is written on error)."""
    path = check_out_path(out)
    parse_app(doc, str(path))
    try:
        write_text_atomic(path, profile_yaml(doc))
    except OSError as exc:
        raise MetaDVFSError(f"--out {path}: cannot write: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------- internals

_PHASE_ORDER = ("name", "weight", "duration_s", "fps", "ui_mc", "gpu_mc", "worker_mc_per_s", "bg_mc_per_s")


def _sig(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` significant digits (0 stays 0)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(round(x, digits - 1 - math.floor(math.log10(abs(x)))))


def _intensity(x: float) -> float:
    return float(min(1.0, max(0.0, round(x * 20.0) / 20.0)))


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Visits as ``(phase, start tick, stop tick)``."""
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [labels.shape[0]]])
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _phase_labels(
    arrays: dict[str, np.ndarray], tick_s: float, options: FitOptions
) -> tuple[np.ndarray, list[str], str]:
    """Per-tick phase index, phase names and how they were found."""
    if options.phases not in ("default", "labels", "auto"):
        raise MetaDVFSError(f"--phases: {options.phases!r}; choose one of: default, labels, auto")
    pid = np.asarray(arrays["phase_id"], dtype=np.int64)
    names = [str(x) for x in arrays["phase_names"]]
    used = sorted(set(pid.tolist()))
    informative = not {names[k] for k in used} <= RECORDED_LABELS
    if options.phases == "labels" or (options.phases == "default" and informative):
        remap = {k: i for i, k in enumerate(used)}
        return np.array([remap[k] for k in pid.tolist()], dtype=np.int64), [names[k] for k in used], "labels"
    return (*_segment(arrays, tick_s, options), "automatic segmentation")


def _segment(arrays: dict[str, np.ndarray], tick_s: float, options: FitOptions) -> tuple[np.ndarray, list[str]]:
    """Automatic phases: k-means over windows (module docstring)."""
    if not 1 <= options.max_phases <= 12:
        raise MetaDVFSError(f"--max-phases: {options.max_phases} is out of range; allowed [1, 12]")
    if not tick_s <= options.window_s <= 10.0:
        raise MetaDVFSError(f"--window: {options.window_s:g} s is out of range; allowed [{tick_s:g}, 10] s")
    n = arrays["frames"].shape[0]
    w = max(1, round(options.window_s / tick_s))
    m = -(-n // w)
    pad = m * w - n

    def wsum(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(x, dtype=np.float64), np.zeros(pad)]).reshape(m, w).sum(axis=1)

    span = np.full(m, w * tick_s)
    span[-1] = (w - pad) * tick_s
    fr = wsum(arrays["frames"])
    safe = np.maximum(fr, 1.0)
    feats = np.stack(
        [
            fr / span,
            wsum(arrays["ui_mc"]) / safe,
            wsum(arrays["gpu_mc"]) / safe,
            wsum(arrays["worker_mc"]) / span,
            wsum(arrays["bg_mc"]) / span,
        ],
        axis=1,
    )
    x = np.log1p(feats)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    lab, _ = _kmeans(x, 1)
    ss_prev = _scatter(x, lab)
    for k in range(2, min(options.max_phases, m) + 1):
        cand, _ = _kmeans(x, k)
        ss = _scatter(x, cand)
        if ss_prev <= 0 or (ss_prev - ss) / ss_prev < KMEANS_GAIN:
            break
        lab, ss_prev = cand, ss
    lab = _majority3(lab)
    # order phases by frame rate, then name them by it
    used = sorted(set(lab.tolist()), key=lambda c: (float(np.mean(feats[lab == c, 0])), c))
    remap = {c: i for i, c in enumerate(used)}
    lab = np.array([remap[c] for c in lab.tolist()], dtype=np.int64)
    names = []
    for i in range(len(used)):
        fps = float(fr[lab == i].sum() / span[lab == i].sum())
        names.append(f"p{i}_{round(fps)}fps" if fps >= _STATIC_FPS else f"p{i}_static")
    return np.repeat(lab, w)[:n], names


def _kmeans(x: np.ndarray, k: int, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (k-means++ seeding from a fixed seed)."""
    rng = np.random.default_rng(0)
    centers = [x[int(rng.integers(x.shape[0]))]]
    for _ in range(1, k):
        d = np.min(((x[:, None, :] - np.array(centers)[None]) ** 2).sum(axis=2), axis=1)
        total = d.sum()
        idx = int(rng.choice(x.shape[0], p=d / total)) if total > 0 else int(rng.integers(x.shape[0]))
        centers.append(x[idx])
    c = np.array(centers)
    lab = np.zeros(x.shape[0], dtype=np.int64)
    for _ in range(iters):
        lab_new = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(axis=2), axis=1)
        for j in range(k):
            if np.any(lab_new == j):
                c[j] = x[lab_new == j].mean(axis=0)
        if np.array_equal(lab_new, lab):
            break
        lab = lab_new
    return lab, c


def _scatter(x: np.ndarray, lab: np.ndarray) -> float:
    return float(sum(((x[lab == j] - x[lab == j].mean(axis=0)) ** 2).sum() for j in set(lab.tolist())))


def _majority3(lab: np.ndarray) -> np.ndarray:
    """A window whose two neighbours agree with each other (and not with it) takes their label."""
    out = lab.copy()
    if lab.shape[0] >= 3:
        flip = (lab[:-2] == lab[2:]) & (lab[1:-1] != lab[:-2])
        out[1:-1][flip] = lab[:-2][flip]
    return out


def _log_cv(x: np.ndarray) -> float:
    """The cv of a lognormal whose log-variance is that of ``x`` (> 0 values) less the generator's modulation."""
    x = x[x > 0]
    if x.shape[0] < 3:
        return 0.0
    s2 = float(np.var(np.log(x))) - MOD_SIGMA**2
    return _sig(math.sqrt(math.expm1(s2)), 2) if s2 > 0 else 0.0


def _uniform_range(d: np.ndarray, tick_s: float) -> list[float]:
    """``[min, max]`` of a uniform with the sample's mean and sd, kept within the observed range."""
    m, s = float(d.mean()), float(d.std())
    lo = max(float(d.min()), m - math.sqrt(3.0) * s, tick_s)
    hi = min(float(d.max()), m + math.sqrt(3.0) * s)
    hi = max(hi, lo)
    return [_sig(lo, 3), _sig(hi, 3)]


def _fit_phase(
    arrays: dict[str, np.ndarray],
    labels: np.ndarray,
    runs: list[tuple[int, int, int]],
    k: int,
    name: str,
    tick_s: float,
) -> dict[str, Any] | None:
    """One phase's parameters, or ``None`` when the phase never occurs."""
    sel = labels == k
    ticks = int(sel.sum())
    if ticks == 0:
        return None
    mine = [r for r in runs if r[0] == k]
    inner = [r for r in mine if r[1] > 0 and r[2] < labels.shape[0]] or mine
    dur = np.array([(b - a) * tick_s for _, a, b in inner])
    frames = np.asarray(arrays["frames"])[sel]
    n_frames = int(frames.sum())
    fps = n_frames / (ticks * tick_s)
    doc: dict[str, Any] = {"name": name, "duration_s": _uniform_range(dur, tick_s)}
    if fps < _STATIC_FPS:
        doc["fps"] = 0.0
        doc["ui_mc"] = {"mean": 0.0, "cv": 0.0}
        doc["gpu_mc"] = {"mean": 0.0, "cv": 0.0}
    else:
        doc["fps"] = min(_sig(fps, 3), MAX_FPS)
        has = frames > 0
        for col in ("ui_mc", "gpu_mc"):
            work = np.asarray(arrays[col])[sel]
            mean = float(work.sum()) / n_frames
            per = work[has] / frames[has]
            doc[col] = {"mean": _sig(mean, 3), "cv": _log_cv(per)}
    # the generator draws worker / background noise per GEN_TICK_S tick, independently; a row of a coarser trace sums
    # tick_s / GEN_TICK_S of them, which divides their cv by the square root of that
    fine = math.sqrt(tick_s / GEN_TICK_S) if tick_s > GEN_TICK_S else 1.0
    for col, key in (("worker_mc", "worker_mc_per_s"), ("bg_mc", "bg_mc_per_s")):
        rate = np.asarray(arrays[col])[sel] / tick_s
        doc[key] = {"mean": _sig(float(rate.mean()), 3), "cv": _sig(_log_cv(rate) * fine, 2)}
    return doc


def _chain_weights(share: np.ndarray) -> np.ndarray:
    """Phase weights whose embedded chain (next phase by weight among the others) has these visit shares.

    The chain's stationary visit share of phase ``i`` is proportional to ``w_i (1 - w_i)``; fixed-point iteration
    ``w <- share / (1 - w)`` (normalised) solves for ``w``.
    """
    if share.shape[0] == 1:
        return np.ones(1)
    w = share.copy()
    for _ in range(200):
        nxt = share / np.maximum(1.0 - w, 1e-6)
        nxt /= nxt.sum()
        if np.max(np.abs(nxt - w)) < 1e-10:
            w = nxt
            break
        w = nxt
    return w


def _frame_ar1(arrays: dict[str, np.ndarray], runs: list[tuple[int, int, int]]) -> tuple[float, float]:
    """``(fitted frame_ar1, observed lag-1 correlation)`` of consecutive frames' log ui work within visits.

    Log work is centred on its phase's mean (not the visit's: the slow modulation outlives short visits, and
    centring per visit would remove part of it). Pairs are consecutive single-frame ticks with no frame between.
    """
    frames = np.asarray(arrays["frames"])
    ui = np.asarray(arrays["ui_mc"])
    by_phase: dict[int, list[np.ndarray]] = {}
    pairs: list[tuple[int, np.ndarray, np.ndarray]] = []
    for k, a, b in runs:
        f = frames[a:b]
        idx = np.flatnonzero((f == 1) & (ui[a:b] > 0))
        if idx.shape[0] < 2:
            continue
        z = np.log(ui[a:b][idx])
        by_phase.setdefault(k, []).append(z)
        between = np.diff(np.cumsum(f)[idx]) == 1
        pairs.append((k, z[:-1][between], z[1:][between]))
    centre = {k: float(np.mean(np.concatenate(v))) for k, v in by_phase.items()}
    za = np.concatenate([p[1] - centre[p[0]] for p in pairs]) if pairs else np.zeros(0)
    zb = np.concatenate([p[2] - centre[p[0]] for p in pairs]) if pairs else np.zeros(0)
    if za.shape[0] < 10:
        return 0.9, float("nan")
    var = float(np.mean(np.concatenate([np.concatenate(v) - centre[k] for k, v in by_phase.items()]) ** 2))
    if var <= 0:
        return 0.0, float("nan")
    obs = float(np.mean(za * zb) / var)
    var_p = var - MOD_SIGMA**2
    if var_p <= 1e-6:
        return 0.0, obs
    rho = (obs * var - MOD_SIGMA**2) / var_p
    return _sig(min(max(rho, 0.0), FRAME_AR1_MAX), 2), obs


def _fit_input(
    events: tuple[np.ndarray, np.ndarray] | None,
    labels: np.ndarray,
    runs: list[tuple[int, int, int]],
    kept: list[str],
    names: list[str],
    tick_s: float,
    n: int,
    source: str,
) -> dict[str, Any] | None:
    """The ``input:`` section from an event track, or ``None`` without events."""
    if events is None or len(events[0]) == 0:
        return None
    t, ev = events
    kind = [INPUT_EVENTS[int(e)] for e in ev]
    downs = [float(x) for x, k in zip(t, kind, strict=True) if k == "touch_down"]
    ups = [float(x) for x, k in zip(t, kind, strict=True) if k == "touch_up"]
    moves = np.array([float(x) for x, k in zip(t, kind, strict=True) if k == "touch_move"])
    gestures: list[tuple[float, float]] = []
    for d in downs:
        later = [u for u in ups if u >= d]
        if later:
            gestures.append((d, later[0]))
    out: dict[str, Any] = {
        "source": f"fitted from {source} by metadvfs trace fit ({len(gestures)} gestures)",
        "move_hz": 60.0,
        "launch_s": 0.0,
        "phases": {},
    }
    steps = np.diff(moves)
    steps = steps[(steps > 0) & (steps < 0.5)]
    if steps.shape[0]:
        out["move_hz"] = float(min(1000.0, max(1.0, round(1.0 / float(np.median(steps)), 1))))
    begin = [float(x) for x, k in zip(t, kind, strict=True) if k == "launch_begin"]
    end = [float(x) for x, k in zip(t, kind, strict=True) if k == "launch_end"]
    if begin and end and end[0] >= begin[0]:
        out["launch_s"] = _sig(min(60.0, end[0] - begin[0]), 3)
    tick_of = np.minimum((np.array([g[0] for g in gestures]) / tick_s + 1e-9).astype(np.int64), n - 1)
    for k, name in enumerate(names):
        if name not in kept:
            continue
        mine = [r for r in runs if r[0] == k]
        in_phase = [i for i, tk in enumerate(tick_of) if labels[tk] == k]
        if not in_phase:
            continue
        entry = {i for i in in_phase if any(abs(gestures[i][0] - a * tick_s) <= _ENTRY_S for _, a, _ in mine)}
        opened = sum(1 for _, a, _ in mine if any(abs(gestures[i][0] - a * tick_s) <= _ENTRY_S for i in entry))
        at_entry = opened >= 0.5 * len(mine)
        rest = len(in_phase) - (len(entry) if at_entry else 0)
        phase_s = float(np.sum(labels == k)) * tick_s
        contact = np.array([gestures[i][1] - gestures[i][0] for i in in_phase])
        lo, hi = _uniform_range(np.clip(contact, 0.005, 10.0), 0.005)
        spec: dict[str, Any] = {
            "gestures_per_s": _sig(min(20.0, rest / phase_s), 2),
            "contact_s": [lo, max(lo, hi)],
        }
        if at_entry:
            spec["at_entry"] = True
        out["phases"][name] = spec
    return out
