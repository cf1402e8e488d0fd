"""schedutil reference PPR per task (the ``PPR_ref`` of the reward), computed once and cached."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metadvfs.environment.reward import step_ppr, step_qoe
from metadvfs.tasks.task import Task

REFERENCE_SECONDS = 30.0
REFERENCE_SEED = 0
_CACHE: dict[tuple[int, str, str | None, int, float], float] = {}


def _key(t: Task, decision_ticks: int, tick_s: float) -> tuple[int, str, str | None, int, float]:
    return (id(t.device), t.app.name, t.trace_name, decision_ticks, tick_s)


def reference_ppr(tasks: Sequence[Task], decision_ticks: int, tick_s: float = 0.01) -> np.ndarray:
    """Mean per-step delivered-FPS-per-watt of schedutil + stock GPU governor on each task.

    Runs ``REFERENCE_SECONDS`` of schedutil on the task's window for seed ``REFERENCE_SEED`` and averages
    :func:`~metadvfs.environment.reward.step_ppr` over decision steps. All tasks not cached yet are replayed
    together in ONE batched replay (duplicates once), so calling this once with many tasks before building many
    single environments (as ``metadvfs bench`` does for its DummyVecEnv) replaces one replay per environment.

    Args:
        tasks: The tasks.
        decision_ticks: Ticks per decision step.
        tick_s: Simulator tick, s.

    Returns:
        (N,) reference PPR, frames/J.
    """
    from metadvfs.governors.registry import make_governor
    from metadvfs.sim.replay import replay

    pending: dict[tuple[int, str, str | None, int, float], Task] = {}
    for t in tasks:
        k = _key(t, decision_ticks, tick_s)
        if k not in _CACHE and k not in pending:
            pending[k] = t
    todo = list(pending.values())
    if todo:
        secs = REFERENCE_SECONDS
        for t in todo:
            ts = t.trace_seconds(tick_s)
            if ts is not None:
                secs = min(secs, ts)
        tl = replay(todo, make_governor("schedutil"), secs, REFERENCE_SEED, tick_s)
        steps = tl.energy_mj.shape[0] // decision_ticks
        cut = steps * decision_ticks

        def agg(a: np.ndarray) -> np.ndarray:
            return a[:cut].reshape(steps, decision_ticks, -1).sum(axis=1)

        req, pres, jank = agg(tl.frames_req), agg(tl.frames_presented), agg(tl.frames_janky)
        power = agg(tl.power_total_mw) / decision_ticks
        qoe = step_qoe(req, pres, jank)
        fps_t = np.array([t.target_fps for t in todo])[None, :]
        ppr = step_ppr(qoe, fps_t, power).mean(axis=0)
        for t, v in zip(todo, ppr, strict=True):
            _CACHE[_key(t, decision_ticks, tick_s)] = float(v)
    return np.array([_CACHE[_key(t, decision_ticks, tick_s)] for t in tasks])
