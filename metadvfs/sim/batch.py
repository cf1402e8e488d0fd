"""Episodes over a batch of tasks: demand windows, seeding and resets around one :class:`SimCore`.

Shared by the Gymnasium environment (a batch of one), the batched SB3 VecEnv and the governor replays, so
all three produce identical trajectories for identical seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metadvfs.errors import MetaDVFSError
from metadvfs.sim.core import SimCore
from metadvfs.sim.demand import DEFAULT_BANK, DemandPool, TraceBank, compile_demand
from metadvfs.sim.device_arrays import DeviceArrays, compile_devices, with_network
from metadvfs.sim.network import network_power_mw
from metadvfs.tasks.task import Task

POOL_BYTES = 2 << 30
"""Budget of the shared demand pool; when it is full, batches created afterwards start a new pool."""
_POOL: list[DemandPool] = [DemandPool()]


def shared_pool() -> DemandPool:
    """The process-wide demand pool new batches use (a fresh one once the current one exceeds ``POOL_BYTES``)."""
    if _POOL[0].nbytes > POOL_BYTES:
        _POOL[0] = DemandPool()
    return _POOL[0]


def _bank_block(
    pool: DemandPool, task: Task, k: int, tick_s: float, min_ticks: int, bank: TraceBank
) -> tuple[int, int]:
    """Bank ``k`` of the task's app compiled for the task's device, stored once in ``pool``: (first tick, length)."""
    key = ("bank", id(task.device), task.app.name, k, tick_s, min_ticks, id(bank))
    hit = pool.find(key)
    if hit is not None:
        return hit
    raw = bank.get(task.app, k, tick_s, min_ticks * tick_s)
    dev = compile_devices([task.device])
    comp = compile_demand(
        {n: a[None, :] for n, a in raw.items()},
        dev,
        np.zeros(1, dtype=np.int64),
        np.array([task.target_fps]),
        tick_s,
        display_rate=np.array([task.display_rate]),
    )
    return pool.add(key, comp, keep=(task.device, bank))


def _trace_block(pool: DemandPool, task: Task, dev: DeviceArrays, row: int, tick_s: float) -> tuple[int, int]:
    """The task's whole trace file compiled for its device, stored once in ``pool``: (first tick, length)."""
    assert task.trace is not None
    key = ("trace", id(task.trace), id(task.device), float(task.target_fps))
    hit = pool.find(key)
    if hit is not None:
        return hit
    raw = {k: v[None, :] for k, v in task.trace.items()}
    comp = compile_demand(raw, dev, np.array([row]), np.array([task.target_fps]), tick_s)
    return pool.add(key, comp, keep=(task.trace, task.device))


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
        net = np.array([network_power_mw(t.device, t.app) for t in self.tasks])
        self.dev = with_network(compile_devices([t.device for t in self.tasks]), net)
        self.target_fps = np.array([t.target_fps for t in self.tasks])
        self.core = SimCore(self.dev, self.target_fps, ticks, tick_s)
        self.core.pool = shared_pool()
        self.rngs = [np.random.default_rng() for _ in self.tasks]

    @property
    def n(self) -> int:
        """Number of environments."""
        return len(self.tasks)

    def set_task(self, i: int, task: Task) -> None:
        """Run ``task`` (same phone, another app) in environment ``i`` from its next episode on.

        Updates the frame-rate target and the app's network power (part of ``base_mw``) in place.

        Args:
            i: Environment index.
            task: The new task; its device must be the environment's phone.
        """
        self.tasks[i] = task
        self.target_fps[i] = task.target_fps
        self.core.target_fps[i] = task.target_fps
        assert self.dev.net_mw is not None  # set by the constructor
        net = network_power_mw(task.device, task.app)
        self.dev.base_mw[i] += net - self.dev.net_mw[i]
        self.dev.net_mw[i] = net

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
        pool = self.core.pool
        for j, i in enumerate(rows):
            task = self.tasks[i]
            rng = self.rngs[i]
            if task.trace is not None:
                total = len(task.trace["frames"])
                off = int(rng.integers(0, total - length + 1))
                start, _ = _trace_block(pool, task, self.dev, int(i), self.tick_s)
            else:
                k = int(rng.integers(self.bank.n_banks))
                start, block_len = _bank_block(pool, task, k, self.tick_s, length, self.bank)
                off = int(rng.integers(0, block_len - length + 1))
            self.core.start_row(int(i), start + off, init[j])
        self.core.finish_loading(rows)
