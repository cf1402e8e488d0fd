"""Does a trained policy reach the stock governor's score on its own training reward?

A learned governor that loses to the phone's stock governor on a task can lose for two reasons: its training reward
prefers what it does (the objective is not the evaluation's), or the reward prefers the stock governor's choices
and training did not find them (the policy is short of its own objective). The audit tells them apart: the policy
and the stock governor play the same episodes (same seeds, same demand windows), and both are scored with the
policy's training reward (:func:`~metadvfs.core.reward.compute_reward` with the checkpoint's
``env.reward_weights``, or other weights), split into its parts:

- ``qoe``: ``w_qoe x`` mean per-step QoE;
- ``ppr``: ``w_ppr x`` mean per-step PPR normalised to the training reference (schedutil, clipped as in training);
- ``floor``: ``-w_floor x`` mean per-step shortfall under the stock governors' mean QoE minus the margin (0 when
  the reward has no floor term; the shortfall itself is reported either way);
- ``thermal``: ``-w_thermal x`` mean skin-temperature penalty.

A task where the stock governor earns more of the policy's own reward is a task where the reward already prefers
the stock governor's choices and the policy has not found them: more training steps per task, or a per-task
fine-tune (``metadvfs guard --against stock``), is the first thing to try there, not another reward. (On the shipped
default the fine-tune fixed 2 of the 12 tasks the guard flagged: training longer is no guarantee.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from metadvfs.catalog.types import DOMAINS
from metadvfs.errors import MetaDVFSError

TOLERANCE = 1e-4
"""Reward difference (per step) below which the stock governor does not count as earning more."""


@dataclass(frozen=True)
class RewardParts:
    """One governor's mean per-step training reward on one task, and its parts.

    Attributes:
        reward: Mean per-step reward, as the environment (or the reward function, for the stock governor's replay)
            returned it; the four parts add up to it.
        qoe: QoE part.
        ppr: PPR part.
        floor: QoE-floor part (<= 0).
        thermal: Thermal part (<= 0).
        shortfall: Mean per-step QoE shortfall under the floor (QoE units, >= 0).
        under_floor: Share of steps under the floor (0..1).
        freq_mhz: Mean frequency per domain (little, mid, big, GPU), MHz; 0 for a domain the phone lacks.
    """

    reward: float
    qoe: float
    ppr: float
    floor: float
    thermal: float
    shortfall: float
    under_floor: float
    freq_mhz: list[float]


@dataclass(frozen=True)
class RewardAudit:
    """Result of :func:`reward_audit`.

    Attributes:
        tasks: The tasks.
        seeds: Episode seeds.
        seconds: Episode length, s.
        weights: The reward weights used (``RewardWeights`` fields).
        policy: The policy's parts per task.
        stock: The stock governor's parts per task.
    """

    tasks: list[str]
    seeds: list[int]
    seconds: float
    weights: dict[str, float]
    policy: list[RewardParts]
    stock: list[RewardParts]

    def stock_earns_more(self) -> list[str]:
        """Tasks where the stock governor's mean reward exceeds the policy's by more than :data:`TOLERANCE`."""
        return [
            t for t, p, s in zip(self.tasks, self.policy, self.stock, strict=True) if s.reward > p.reward + TOLERANCE
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "tasks": self.tasks,
            "seeds": self.seeds,
            "seconds": self.seconds,
            "weights": self.weights,
            "domains": list(DOMAINS),
            "policy": [asdict(p) for p in self.policy],
            "stock": [asdict(s) for s in self.stock],
            "stock_earns_more": self.stock_earns_more(),
        }


def _parts(
    w: Any,
    reward: np.ndarray,
    qoe: np.ndarray,
    ppr_norm: np.ndarray,
    heat: np.ndarray,
    qoe_ref: np.ndarray,
    freq: np.ndarray,
    mask: np.ndarray,
    k: int,
) -> list[RewardParts]:
    """Per-task means of (steps, tasks x k) per-step arrays; ``freq`` is (steps, tasks x k, 4), ``mask`` (tasks, 4).

    ``reward`` is the reward the environment (or :func:`~metadvfs.core.reward.compute_reward`) returned, not the sum
    of the parts recomputed here, so a test can check that the parts add up to it.
    """
    short = np.maximum(qoe_ref[None, :] - w.qoe_floor_margin - qoe, 0.0)
    out = []
    for i in range(qoe.shape[1] // k):
        s = slice(i * k, (i + 1) * k)
        q, p, f, h = (float(w.qoe * qoe[:, s].mean()), float(w.ppr * ppr_norm[:, s].mean()),
                      float(-w.qoe_floor * short[:, s].mean()), float(-w.thermal * heat[:, s].mean()))  # fmt: skip
        out.append(RewardParts(
            reward=float(reward[:, s].mean()), qoe=q, ppr=p, floor=f, thermal=h, shortfall=float(short[:, s].mean()),
            under_floor=float((short[:, s] > 1e-9).mean()),
            freq_mhz=[float(x) for x in freq[:, s].mean(axis=(0, 1)) * mask[i]],
        ))  # fmt: skip
    return out


def reward_audit(
    model: Any,
    task_names: Sequence[str],
    seeds: Sequence[int] = (10_000, 10_001, 10_002),
    seconds: float = 60.0,
    weights: Any = None,
) -> RewardAudit:
    """Score a policy and the stock governor with a training reward on the same episodes.

    Args:
        model: A :class:`~metadvfs.learn.checkpoint.LoadedModel` (tasks are routed as ``evaluate`` routes them).
        task_names: Tasks (``device:app``).
        seeds: Episode seeds (default: the evaluation's first three).
        seconds: Episode length, s.
        weights: :class:`~metadvfs.core.reward.RewardWeights` to score with (default: the checkpoint's
            ``env.reward_weights``).

    Returns:
        The :class:`RewardAudit`.

    Raises:
        MetaDVFSError: No tasks or seeds, or ``seconds`` shorter than one decision.
    """
    from metadvfs.core.reward import compute_reward
    from metadvfs.environment.reference import per_decision, reference_ppr, reference_qoe, sum_per_decision
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.governors.registry import make_governor
    from metadvfs.learn.evaluate import ModelDriver
    from metadvfs.learn.tasks import task_map
    from metadvfs.sim.replay import replay

    names = list(dict.fromkeys(task_names))
    if not names or not seeds:
        raise MetaDVFSError("reward audit: no tasks or no seeds")
    w = model.cfg.env.reward_weights if weights is None else weights
    dt = float(model.cfg.env.decision_interval_s)
    steps = int(round(seconds / dt, 9))
    if steps < 1:
        raise MetaDVFSError(f"reward audit: {seconds:g} s is shorter than one decision ({dt:g} s)")
    tm = task_map(names)
    k = len(seeds)
    rows = [tm[n] for n in names for _ in seeds]
    row_seeds = [int(s) for _ in names for s in seeds]
    tick_s = 0.01
    ticks = round(dt / tick_s)
    qoe_ref = reference_qoe(rows, ticks, tick_s)

    drv = ModelDriver(model, [n for n in names for _ in seeds])
    venv = BatchedDVFSVecEnv(rows, episode_seconds=steps * dt, reward_weights=w, **drv.env_kwargs)
    venv.batch.seed(row_seeds)
    obs = venv.reset()
    drv.reset(venv.num_envs)
    rec: dict[str, list[np.ndarray]] = {"qoe": [], "ppr_norm": [], "thermal_penalty": [], "freq_mhz": []}
    rewards = []
    for _ in range(steps):
        step_obs, r, _, _ = venv.step(drv.act(venv, obs))
        assert isinstance(step_obs, dict), "BatchedDVFSVecEnv observations are Dict arrays"
        obs = step_obs
        rewards.append(np.asarray(r, dtype=float).copy())
        for key in rec:
            rec[key].append(np.asarray(venv.last_metrics[key], dtype=float).copy())
    pol = {key: np.stack(v) for key, v in rec.items()}

    tl = replay(rows, make_governor("stock"), steps * dt, row_seeds, tick_s)
    cut = steps * ticks
    d = per_decision(tl, ticks, np.array([t.target_fps for t in rows]))
    qoe, ppr = d["qoe"], d["ppr"]
    ppr_ref = reference_ppr(rows, ticks, tick_s)
    skin = np.array([t.device.thermal.skin_throttle_c for t in rows])
    temp = np.asarray(tl.temp_c)[ticks - 1 : cut : ticks, :, 1]  # at the end of each step, as the environment
    scored = [compute_reward(qoe[j], ppr[j], ppr_ref, temp[j], skin, w, qoe_ref) for j in range(steps)]
    stock_reward = np.stack([r for r, _ in scored])
    heat = np.stack([parts["thermal"] for _, parts in scored])
    stock_freq = sum_per_decision(tl.freq_mhz, ticks, steps) / ticks
    mask = np.array([tm[n].device.domain_mask for n in names], dtype=float)
    return RewardAudit(
        tasks=names,
        seeds=[int(s) for s in seeds],
        seconds=steps * dt,
        weights={key: float(v) for key, v in asdict(w).items()},
        policy=_parts(
            w, np.stack(rewards), pol["qoe"], pol["ppr_norm"], pol["thermal_penalty"], qoe_ref, pol["freq_mhz"], mask, k
        ),
        stock=_parts(
            w, stock_reward, qoe, np.minimum(ppr / ppr_ref[None, :], w.ppr_clip), heat, qoe_ref, stock_freq, mask, k
        ),
    )
