"""Evaluation metrics, one implementation used everywhere (replay, env info, evaluation tables).

Given per-step series of one run (any step length):

- ``energy_j``: total energy, J.
- ``avg_power_w``: energy / duration, W.
- ``fps_mean``: presented frames / duration, frames/s.
- ``qoe``: mean over 1-s windows of ``min(1, on-time frames / requested frames)``: frames presented at their
  expected vsync over the frames the app requested in that window (so a 30-fps video or an idle screen is not
  counted as a QoE loss, and a janky or dropped frame is); windows without requested frames count as 1.
- ``jank_pct``: janky frames / presented frames, % (a frame is janky when its GPU work completes after its
  deadline, the latch it is due at, moved by one vsync per frame while the pipeline is buffer-stuffed: HWUI
  JankTracker's rule, so the figure compares with ``dumpsys gfxinfo``'s "Janky frames"; docs/simulator.md 5.1).
- ``ppr``: ``fps_mean / avg_power_w`` (frames per joule, whole-phone power).
- ``ppr_norm``: ``ppr`` / schedutil's ``ppr`` on the same trace and seed (when a reference is given).
- ``avg_soc_power_w`` and ``ppr_soc``: the same against SoC power only (CPU clusters + GPU rails, without the
  rest-of-phone base power), when the series carries SoC energy. Published DVFS gains are often measured on
  rails, so both are reported side by side; ``ppr`` is unchanged by this.
- ``max_temp_c``: highest die temperature, degC; ``max_skin_c`` likewise for the skin.
- ``throttled_pct``: share of time with a thermal throttle rule active, %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRIC_KEYS: tuple[str, ...] = (
    "energy_j",
    "avg_power_w",
    "fps_mean",
    "qoe",
    "jank_pct",
    "ppr",
    "max_temp_c",
    "throttled_pct",
)


@dataclass(frozen=True)
class Series:
    """Per-step series of one run (length S).

    Attributes:
        step_s: Step length, s.
        energy_mj: Energy per step, mJ.
        frames_req: Requested frames per step.
        frames_presented: Presented frames per step.
        frames_janky: Janky frames per step.
        temp_die_c: Die temperature at the end of each step, degC.
        temp_skin_c: Skin temperature at the end of each step, degC.
        throttled: Throttle rule active during the step (bool).
        energy_soc_mj: SoC energy per step (CPU clusters + GPU), mJ, or ``None`` when unknown.
    """

    step_s: float
    energy_mj: np.ndarray
    frames_req: np.ndarray
    frames_presented: np.ndarray
    frames_janky: np.ndarray
    temp_die_c: np.ndarray
    temp_skin_c: np.ndarray
    throttled: np.ndarray
    energy_soc_mj: np.ndarray | None = None


def window_qoe(
    frames_req: np.ndarray, frames_presented: np.ndarray, step_s: float, window_s: float = 1.0
) -> np.ndarray:
    """Per-window QoE ``min(1, presented / requested)`` over consecutive windows of ``window_s``.

    Args:
        frames_req: Requested frames per step.
        frames_presented: Presented frames per step.
        step_s: Step length, s.
        window_s: Window length, s (a trailing partial window is kept).

    Returns:
        One QoE value per window (1.0 where nothing was requested).
    """
    per = max(1, round(window_s / step_s))
    n = len(frames_req)
    n_w = -(-n // per)
    pad = n_w * per - n
    req = np.pad(np.asarray(frames_req, dtype=float), (0, pad)).reshape(n_w, per).sum(1)
    pres = np.pad(np.asarray(frames_presented, dtype=float), (0, pad)).reshape(n_w, per).sum(1)
    return np.where(req > 0, np.minimum(1.0, pres / np.maximum(req, 1e-12)), 1.0)


def summarize(s: Series, ppr_ref: float | None = None) -> dict[str, float]:
    """Compute the standard metrics of one run.

    Args:
        s: The run's series.
        ppr_ref: schedutil's PPR on the same trace and seed, for ``ppr_norm``.

    Returns:
        ``{metric: value}`` with the keys of :data:`METRIC_KEYS` plus ``max_skin_c``, ``duration_s``,
        ``frames_req``, (with SoC energy) ``avg_soc_power_w`` and ``ppr_soc``, and (with a reference)
        ``ppr_norm``.
    """
    dur = len(s.energy_mj) * s.step_s
    energy = float(np.sum(s.energy_mj)) / 1000.0
    power = energy / dur if dur > 0 else 0.0
    fps = float(np.sum(s.frames_presented)) / dur if dur > 0 else 0.0
    req = float(np.sum(s.frames_req))
    pres = float(np.sum(s.frames_presented))
    out = {
        "energy_j": energy,
        "avg_power_w": power,
        "fps_mean": fps,
        "qoe": float(window_qoe(s.frames_req, np.asarray(s.frames_presented) - s.frames_janky, s.step_s).mean()),
        "jank_pct": 100.0 * float(np.sum(s.frames_janky)) / pres if pres > 0 else 0.0,
        "ppr": fps / power if power > 0 else 0.0,
        "max_temp_c": float(np.max(s.temp_die_c)),
        "throttled_pct": 100.0 * float(np.mean(s.throttled)),
        "max_skin_c": float(np.max(s.temp_skin_c)),
        "duration_s": dur,
        "frames_req": req,
    }
    if s.energy_soc_mj is not None:
        soc = float(np.sum(s.energy_soc_mj)) / 1000.0 / dur if dur > 0 else 0.0
        out["avg_soc_power_w"] = soc
        out["ppr_soc"] = fps / soc if soc > 0 else 0.0
    if ppr_ref is not None:
        out["ppr_norm"] = out["ppr"] / ppr_ref if ppr_ref > 0 else float("nan")
    return out
