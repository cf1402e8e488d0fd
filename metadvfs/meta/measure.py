"""The adaptation measure: governor quality on held-out episodes, cost in phone-minutes, minutes to 95 %.

**Quality** of a policy on a task is its mean PPR normalised to the stock reference governor and its mean QoE
over a fixed set of evaluation episodes (:func:`metadvfs.learn.evaluate.evaluate`'s seeds ``SEED_BASE + i``,
deterministic actions). The normalisation is the evaluation code's own (:meth:`EvalResult.summary`), so a
change of reference governor there flows through here. Adaptation seeds must stay below ``SEED_BASE``
(checked), so evaluation episodes are never trained on.

**Cost** is counted in phone-minutes: every decision taken on one phone costs one decision interval, so
``phone_minutes = decisions * decision_interval_s / 60`` whatever the number of phones simulated in parallel
(16 simulated phones for one minute = 16 phone-minutes).

**minutes_to_95**: the first curve point from which, at every later point, ``ppr_norm >= 0.95 *`` the
reference's and ``qoe >= `` the reference's ``- 0.01``; the reference is a task-specific model trained with
the full per-task budget (``vs_reference``) or the oracle (``vs_oracle``, its PPR, and the stock governor's
QoE - 0.01). A method that never gets there is reported with ``reached: false`` and its best point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metadvfs.errors import MetaDVFSError

QUALITY_FRACTION = 0.95
QOE_TOLERANCE = 0.01


def phone_minutes(decisions: int, decision_interval_s: float) -> float:
    """Phone time that ``decisions`` decisions take, minutes (parallel phones add up)."""
    return decisions * decision_interval_s / 60.0


class PolicyDriver:
    """An SB3 policy with a fixed metadata row, as a :class:`metadvfs.learn.evaluate.Driver`.

    Args:
        name: Method name in the evaluation result.
        policy: SB3 policy.
        meta_row: Encoded metadata of the task (M,).
        env_kwargs: Environment options (decision interval, window, action mode, levels).
    """

    def __init__(self, name: str, policy: Any, meta_row: np.ndarray, env_kwargs: dict[str, Any]):
        self.name = name
        self.policy = policy
        self.meta_row = np.asarray(meta_row, dtype=np.float32)
        self.env_kwargs = env_kwargs

    def reset(self, n_envs: int) -> None:
        """Nothing to reset (the observation window carries the history)."""

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 4) deterministic actions."""
        from metadvfs.learn.checkpoint import policy_actions

        n = obs["obs"].shape[0]
        o = {"obs": obs["obs"], "meta": np.repeat(self.meta_row[None], n, axis=0)}
        return policy_actions(self.policy, o).reshape(n, -1)


def env_kwargs(cfg: Any) -> dict[str, Any]:
    """Evaluation environment options of a training config."""
    e = cfg.env
    return {
        "decision_interval_s": e.decision_interval_s,
        "window": e.window,
        "action_mode": e.action_mode,
        "levels": e.levels,
    }


@dataclass
class HeldOut:
    """Fixed evaluation episodes of one task, with the stock part computed once.

    Attributes:
        task: Task spec as ``evaluate`` takes it (``DEVICE:APP``; names or profile paths).
        n_seeds: Episodes (seeds ``SEED_BASE + i``).
        seconds: Episode length, s.
        base: The evaluation result of the reference (and any extra stock) governors on these episodes.
    """

    task: str
    n_seeds: int
    seconds: float
    base: Any = None

    def __post_init__(self) -> None:
        from metadvfs.learn.evaluate import evaluate

        if self.n_seeds < 1:
            raise MetaDVFSError(f"--eval-seeds: must be >= 1, got {self.n_seeds}")
        if self.seconds <= 0:
            raise MetaDVFSError(f"--eval-seconds: must be > 0, got {self.seconds}")
        self.base = evaluate([], ["oracle"], [self.task], self.n_seeds, self.seconds)

    @property
    def reference_governor(self) -> str:
        """Name of the stock governor PPR is normalised to (the first governor ``evaluate`` ran)."""
        return next(iter(self.base.raw))

    def quality(self, driver: Any) -> dict[str, float]:
        """``ppr_norm`` and ``qoe`` of a driver on the held-out episodes (means over seeds)."""
        from metadvfs.learn.evaluate import EvalResult, run_driver

        raw = {driver.name: run_driver(driver, [self.task], self.base.seeds, self.seconds), **self.base.raw}
        res = EvalResult(list(self.base.tasks), list(self.base.seeds), self.seconds, raw)
        e = res.summary()["methods"][driver.name]
        return {"ppr_norm": round(float(e["mean_ppr_norm"]), 5), "qoe": round(float(e["mean_qoe"]), 5)}

    def governor(self, name: str) -> dict[str, float]:
        """``ppr_norm`` and ``qoe`` of a stock governor or the oracle on the held-out episodes."""
        e = self.base.summary()["methods"][name]
        return {"ppr_norm": round(float(e["mean_ppr_norm"]), 5), "qoe": round(float(e["mean_qoe"]), 5)}


def meets(point: Sequence[float], ppr_target: float, qoe_floor: float) -> bool:
    """Whether one ``(phone_minutes, ppr_norm, qoe)`` curve point meets both targets (1e-12 tolerance)."""
    return point[1] >= ppr_target - 1e-12 and point[2] >= qoe_floor - 1e-12


def minutes_to(curve: Sequence[Sequence[float]], ppr_target: float, qoe_floor: float) -> float | None:
    """First phone-minute from which every later point meets both targets (None if it never does).

    Args:
        curve: ``(phone_minutes, ppr_norm, qoe)`` points in time order.
        ppr_target: Required ``ppr_norm``.
        qoe_floor: Required ``qoe``.
    """
    ok = [meets(p, ppr_target, qoe_floor) for p in curve]
    if not ok or not ok[-1]:
        return None
    i = len(ok)
    while i > 0 and ok[i - 1]:
        i -= 1
    return float(curve[i][0])


def summarize_curve(
    curve: Sequence[Sequence[float]], reference: dict[str, float], oracle: dict[str, float], stock: dict[str, float]
) -> dict[str, Any]:
    """Zero-shot quality, minutes to 95 % of the reference and of the oracle, and the best point of a curve.

    The best point is the highest ``ppr_norm`` among points with QoE >= stock - 0.01 (else the highest overall).

    Args:
        curve: ``(phone_minutes, ppr_norm, qoe)`` points, the first at minute 0.
        reference: Quality of the task-specific reference model.
        oracle: Quality of the oracle.
        stock: Quality of the stock reference governor.
    """
    if not curve:
        raise MetaDVFSError("adaptation curve: no points")
    curve = [[round(float(m), 4), float(p), float(q)] for m, p, q in curve]
    best = max(curve, key=lambda p: (p[2] >= stock["qoe"] - QOE_TOLERANCE, p[1]))
    out: dict[str, Any] = {
        "zero_shot": {"ppr_norm": curve[0][1], "qoe": curve[0][2]},
        "final": {"ppr_norm": curve[-1][1], "qoe": curve[-1][2]},
        "curve": curve,
        "best": {"phone_minutes": best[0], "ppr_norm": best[1], "qoe": best[2]},
    }
    for key, ref, qfloor in (
        ("vs_reference", reference, reference["qoe"] - QOE_TOLERANCE),
        ("vs_oracle", oracle, stock["qoe"] - QOE_TOLERANCE),
    ):
        m = minutes_to(curve, QUALITY_FRACTION * ref["ppr_norm"], qfloor)
        out[key] = {"minutes_to_95": m, "reached": m is not None}
    out["minutes_to_95"] = out["vs_reference"]["minutes_to_95"]
    return out
