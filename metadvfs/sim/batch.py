"""Episodes over a batch of tasks: demand windows, seeding and resets around one :class:`SimCore`.

Shared by the Gymnasium environment (a batch of one), the batched SB3 VecEnv and the governor replays, so
all three produce identical trajectories for identical seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metadvfs.errors import MetaDVFSError
from metadvfs.sim.core import SimCore
from metadvfs.sim.demand import DEFAULT_BANK, CompiledDemand, TraceBank, compile_demand
from metadvfs.sim.device_arrays import compile_devices
from metadvfs.tasks.task import Task

_COMPILED: dict[tuple[int, str, int, float, int], tuple[Task, CompiledDemand]] = {}


def _compiled_bank(task: Task, k: int, tick_s: float, min_ticks: int, bank: TraceBank) -> CompiledDemand:
    """Bank ``k`` of the task's app compiled for the task's device (cached)."""
    key = (id(task.device), task.app.name, k, tick_s, min_ticks)
    hit = _COMPILED.get(key)
    if hit is not None:
        return hit[1]
    raw = bank.get(task.app, k, tick_s, min_ticks * tick_s)
    dev = compile_devices([task.device])
    comp = compile_demand(
        {n: a[None, :] for n, a in raw.items()}, dev, np.zeros(1, dtype=np.int64), np.array([task.target_fps])
    )
    if len(_COMPILED) > 256:
        _COMPILED.clear()
    _COMPILED[key] = (task, comp)
    return comp


class TaskBatch:
    """N tasks simulated together, with per-environment RNGs and episode windows.

    Args:
        tasks: One task per environment.
        episode_seconds: Episode length, s (capped at the shortest file trace of the batch).
        tick_s: Simulator tick, s.
        bank: Trace bank for generated demand.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        episode_seconds: float,
        tick_s: float = 0.01,
        bank: TraceBank = DEFAULT_BANK,
    ) -> None:
        if not tasks:
            raise MetaDVFSError("need at least one task")
        if not 0.001 <= tick_s <= 0.01:
            raise MetaDVFSError(f"tick_s: must be in [0.001, 0.01] s, got {tick_s}")
        if episode_seconds <= 0:
            raise MetaDVFSError(f"episode_seconds: must be > 0, got {episode_seconds}")
        self.tasks = list(tasks)
        self.tick_s = tick_s
        self.bank = bank
        ticks = round(episode_seconds / tick_s)
        for t in self.tasks:
            sec = t.trace_seconds(tick_s)
            if sec is not None:
                ticks = min(ticks, len(t.trace["frames"]))  # type: ignore[index]
        if ticks < 1:
            raise MetaDVFSError("episode shorter than one tick")
        self.episode_ticks = ticks
        self.dev = compile_devices([t.device for t in self.tasks])
        self.target_fps = np.array([t.target_fps for t in self.tasks])
        self.core = SimCore(self.dev, self.target_fps, ticks, tick_s)
        self.rngs = [np.random.default_rng() for _ in self.tasks]

    @property
    def n(self) -> int:
        """Number of environments."""
        return len(self.tasks)

    def seed(self, seeds: Sequence[int | None]) -> None:
        """Re-seed each environment's RNG (``None`` keeps fresh OS entropy)."""
        self.rngs = [np.random.default_rng(s) for s in seeds]

    def init_idx(self, rows: np.ndarray) -> np.ndarray:
        """Initial OPP per domain at episode start: the middle of each table."""
        return (self.dev.n_opp[rows] - 1) // 2

    def reset_rows(self, rows: Sequence[int] | np.ndarray) -> None:
        """Start new episodes in ``rows``, drawing each window from that environment's RNG."""
        rows = np.asarray(rows, dtype=np.int64)
        length = self.episode_ticks
        init = self.init_idx(rows)
        for j, i in enumerate(rows):
            task = self.tasks[i]
            rng = self.rngs[i]
            if task.trace is not None:
                total = len(task.trace["frames"])
                off = int(rng.integers(0, total - length + 1))
                raw = {k: v[None, off : off + length] for k, v in task.trace.items()}
                comp = compile_demand(raw, self.dev, np.array([i]), self.target_fps[[i]])
                self.core.load_row(int(i), comp, 0, init[j])
            else:
                k = int(rng.integers(self.bank.n_banks))
                comp = _compiled_bank(task, k, self.tick_s, length, self.bank)
                off = int(rng.integers(0, comp.frames.shape[1] - length + 1))
                self.core.load_row(int(i), comp, off, init[j])
        self.core.finish_loading(rows)
