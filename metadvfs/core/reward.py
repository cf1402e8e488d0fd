"""The MetaDVFS reward (docs/method.md §2.5 option A).

Per decision step::

    r = w_qoe * QoE_t + w_ppr * min(PPR_t / PPR_ref, ppr_clip) - w_thermal * H_t
        - w_floor * max(0, QoE_ref - floor_margin - QoE_t)

- ``QoE_t = min(1, on-time / requested frames)`` in the step, on-time = presented - janky (1 when no frame was
  requested).
- ``PPR_t = QoE_t * target_fps / P_t`` with ``P_t`` the mean total power in W: delivered frame rate per
  watt. Using ``QoE_t * target`` rather than the raw FPS keeps the efficiency term meaningful in steps with
  no frames (idle, reading): there it rewards low power.
- ``PPR_ref``: the mean ``PPR_t`` of schedutil (with the stock GPU governor) on the same task, so the term
  is about 1 at parity with the kernel.
- ``H_t = clip((T_skin - (T_throttle - margin)) / margin, 0, 1)``: a thermal penalty that ramps over the
  last ``margin`` degC below the device's first skin throttle point (zTT penalises crossing the limit by 2).
- ``QoE_ref``: the mean ``QoE_t`` of the phone's stock governors on the task (the evaluation's QoE floor is
  ``QoE_ref - 0.01``). The floor term is off by default (``w_floor = 0``); with it, a step whose QoE is under the
  floor costs ``w_floor`` per unit of shortfall on top of ``w_qoe``, so the policy is paid to stay at stock's QoE
  rather than to trade QoE for PPR at a fixed rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from metadvfs.errors import MetaDVFSError

__all__ = ["RewardWeights", "compute_reward", "step_ppr", "step_qoe"]


@dataclass(frozen=True)
class RewardWeights:
    """Reward weights and shape parameters.

    Attributes:
        qoe: Weight of the QoE term (>= 0).
        ppr: Weight of the normalised-PPR term (>= 0).
        thermal: Weight of the thermal penalty (>= 0).
        thermal_margin_c: Width of the thermal ramp below the skin throttle point, degC (> 0).
        ppr_clip: Upper clip of ``PPR_t / PPR_ref`` (> 0).
        qoe_floor: Weight of a step's QoE shortfall under ``QoE_ref - qoe_floor_margin`` (>= 0; 0: no floor term).
        qoe_floor_margin: How far under the stock governors' mean QoE the floor lies, QoE units (>= 0).
    """

    qoe: float = 1.0
    ppr: float = 1.0
    thermal: float = 2.0
    thermal_margin_c: float = 2.0
    ppr_clip: float = 3.0
    qoe_floor: float = 0.0
    qoe_floor_margin: float = 0.01

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if not np.isfinite(v) or v < 0:
                raise MetaDVFSError(f"reward_weights.{k}: must be a finite number >= 0, got {v}")
        if self.thermal_margin_c <= 0 or self.ppr_clip <= 0:
            raise MetaDVFSError("reward_weights: thermal_margin_c and ppr_clip must be > 0")

    @classmethod
    def from_any(cls, value: RewardWeights | Mapping[str, float] | None) -> RewardWeights:
        """Build from ``None`` (defaults), a dict (unknown keys rejected) or an instance."""
        if value is None:
            return cls()
        if isinstance(value, RewardWeights):
            return value
        known = set(cls.__dataclass_fields__)
        bad = set(value) - known
        if bad:
            raise MetaDVFSError(f"reward_weights: unknown key(s) {sorted(bad)}; allowed: {sorted(known)}")
        return cls(**{k: float(v) for k, v in value.items()})


def step_qoe(
    frames_req: np.ndarray, frames_presented: np.ndarray, frames_janky: np.ndarray | float = 0.0
) -> np.ndarray:
    """``min(1, on-time / requested)`` per environment (1 where nothing was requested).

    On-time frames are the presented frames minus the janky ones (presented after their expected vsync), so jank
    lowers QoE as it lowers what a user sees (docs/simulator.md section 11).
    """
    on_time = frames_presented - frames_janky
    return np.where(frames_req > 0, np.minimum(1.0, on_time / np.maximum(frames_req, 1e-12)), 1.0)


def step_ppr(qoe: np.ndarray, target_fps: np.ndarray, power_total_mw: np.ndarray) -> np.ndarray:
    """Delivered frame rate per watt of a step, frames/J."""
    return qoe * target_fps / (power_total_mw / 1000.0)


def compute_reward(
    qoe: np.ndarray,
    ppr: np.ndarray,
    ppr_ref: np.ndarray,
    temp_skin_c: np.ndarray,
    skin_throttle_c: np.ndarray,
    w: RewardWeights,
    qoe_ref: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Combine the terms; returns the reward and its parts (``qoe``, ``ppr_norm``, ``thermal``).

    ``qoe_ref`` (the stock governors' mean QoE per environment) is needed when ``w.qoe_floor > 0``.
    """
    ppr_norm = np.minimum(ppr / ppr_ref, w.ppr_clip)
    heat = np.clip((temp_skin_c - (skin_throttle_c - w.thermal_margin_c)) / w.thermal_margin_c, 0.0, 1.0)
    r = w.qoe * qoe + w.ppr * ppr_norm - w.thermal * heat
    if w.qoe_floor > 0:
        if qoe_ref is None:
            raise MetaDVFSError("reward_weights.qoe_floor > 0 needs the stock governors' QoE on the task (qoe_ref)")
        r = r - w.qoe_floor * np.maximum(qoe_ref - w.qoe_floor_margin - qoe, 0.0)
    return r, {"qoe": qoe, "ppr_norm": ppr_norm, "thermal": heat}
