"""Reference PPR and QoE per task (the reward's ``PPR_ref``: schedutil), computed once per governor and cached.

The reward keeps the pure kernel ``schedutil`` as its PPR reference; ``governor="stock"`` gives the PPR and QoE
of the phone's own Android stack on the same windows (evaluation normalises to it, :mod:`metadvfs.learn.evaluate`,
and the reward's optional QoE floor compares against its QoE, :class:`~metadvfs.core.reward.RewardWeights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metadvfs.core.reward import step_ppr, step_qoe
from metadvfs.tasks.task import Task

REFERENCE_SECONDS = 30.0
REFERENCE_SEED = 0
REFERENCE_GOVERNOR = "schedutil"
"""Governor of the reward's ``PPR_ref``."""
_CACHE: dict[tuple[int, str, str | None, int, float, str], tuple[float, float]] = {}
"""(PPR frames/J, mean QoE) per (device, app, trace, decision ticks, tick, governor)."""


def sum_per_decision(a: np.ndarray, decision_ticks: int, steps: int) -> np.ndarray:
    """Sum a replay's per-tick array (ticks, N, ...) over each decision step of ``decision_ticks`` ticks.

    Returns:
        (steps, N, ...); ticks after the last whole step are dropped.
    """
    a = np.asarray(a, dtype=float)
    return a[: steps * decision_ticks].reshape(steps, decision_ticks, *a.shape[1:]).sum(axis=1)


def per_decision(tl: Any, decision_ticks: int, target_fps: np.ndarray) -> dict[str, np.ndarray]:
    """A replay's per-decision-step QoE and PPR, as the environment computes them for its reward.

    Args:
        tl: A :class:`~metadvfs.sim.replay.Timeline`.
        decision_ticks: Ticks per decision step.
        target_fps: (N,) target frame rate per environment.

    Returns:
        ``qoe``, ``ppr`` (frames/J), ``frames_req`` and ``power_total_mw`` (the step's mean), each (steps, N).
    """
    steps = tl.energy_mj.shape[0] // decision_ticks
    req = sum_per_decision(tl.frames_req, decision_ticks, steps)
    pres = sum_per_decision(tl.frames_presented, decision_ticks, steps)
    jank = sum_per_decision(tl.frames_janky, decision_ticks, steps)
    power = sum_per_decision(tl.power_total_mw, decision_ticks, steps) / decision_ticks
    qoe = step_qoe(req, pres, jank)
    return {"qoe": qoe, "ppr": step_ppr(qoe, np.asarray(target_fps)[None, :], power), "frames_req": req,
            "power_total_mw": power}  # fmt: skip


def _key(t: Task, decision_ticks: int, tick_s: float, governor: str) -> tuple[int, str, str | None, int, float, str]:
    return (id(t.device), t.app.name, t.trace_name, decision_ticks, tick_s, governor)


def reference_qoe(
    tasks: Sequence[Task], decision_ticks: int, tick_s: float = 0.01, governor: str = "stock"
) -> np.ndarray:
    """Mean per-step QoE of a reference governor (default the phone's stock stack) on each task.

    The same cached replay as :func:`reference_ppr` (one run gives both).

    Args:
        tasks: The tasks.
        decision_ticks: Ticks per decision step.
        tick_s: Simulator tick, s.
        governor: Reference governor name (``stock``, the evaluation's QoE floor; or ``schedutil``).

    Returns:
        (N,) mean QoE in [0, 1].
    """
    _fill(tasks, decision_ticks, tick_s, governor)
    return np.array([_CACHE[_key(t, decision_ticks, tick_s, governor)][1] for t in tasks])


def reference_ppr(
    tasks: Sequence[Task], decision_ticks: int, tick_s: float = 0.01, governor: str = REFERENCE_GOVERNOR
) -> np.ndarray:
    """Mean per-step delivered-FPS-per-watt of a reference governor (default schedutil) on each task.

    Runs ``REFERENCE_SECONDS`` of ``governor`` on the task's window for seed ``REFERENCE_SEED`` and averages
    :func:`~metadvfs.core.reward.step_ppr` over decision steps. All tasks not cached yet are replayed
    together in ONE batched replay (duplicates once), so calling this once with many tasks before building many
    single environments (as ``metadvfs bench`` does for its DummyVecEnv) replaces one replay per environment.

    Args:
        tasks: The tasks.
        decision_ticks: Ticks per decision step.
        tick_s: Simulator tick, s.
        governor: Reference governor name (``schedutil``, the reward's; or ``stock``).

    Returns:
        (N,) reference PPR, frames/J.
    """
    _fill(tasks, decision_ticks, tick_s, governor)
    return np.array([_CACHE[_key(t, decision_ticks, tick_s, governor)][0] for t in tasks])


def _fill(tasks: Sequence[Task], decision_ticks: int, tick_s: float, governor: str) -> None:
    """Replay ``governor`` on the tasks not cached yet (one batched replay) and cache their (PPR, QoE)."""
    from metadvfs.governors.registry import make_governor
    from metadvfs.sim.replay import replay

    pending: dict[tuple[int, str, str | None, int, float, str], Task] = {}
    for t in tasks:
        k = _key(t, decision_ticks, tick_s, governor)
        if k not in _CACHE and k not in pending:
            pending[k] = t
    todo = list(pending.values())
    if todo:
        secs = REFERENCE_SECONDS
        for t in todo:
            ts = t.trace_seconds(tick_s)
            if ts is not None:
                secs = min(secs, ts)
        tl = replay(todo, make_governor(governor), secs, REFERENCE_SEED, tick_s)
        fps = np.array([t.target_fps for t in todo])
        d = per_decision(tl, decision_ticks, fps)
        qoe, req, power = d["qoe"], d["frames_req"], d["power_total_mw"]
        ppr = d["ppr"].mean(axis=0)
        # a reference that presents no frame on time (a GPU too slow for the app's target: every frame late) would
        # make PPR / PPR_ref undefined; floor it at the resolution of the measurement, the PPR of one on-time frame
        # among all the frames the reference run requested
        one_frame = step_ppr(1.0 / np.maximum(req.sum(axis=0), 1.0), fps, power.mean(axis=0))
        ppr = np.maximum(ppr, one_frame)
        for t, v, q in zip(todo, ppr, qoe.mean(axis=0), strict=True):
            _CACHE[_key(t, decision_ticks, tick_s, governor)] = (float(v), float(q))
