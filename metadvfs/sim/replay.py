"""Run governors over tasks on the batched simulator and record per-tick timelines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from metadvfs.core.domains import DOMAINS
from metadvfs.governors.base import Governor, GovernorContext
from metadvfs.metrics import Series, summarize
from metadvfs.sim.batch import TaskBatch
from metadvfs.tasks.task import Task

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Timeline:
    """Per-step records of a batch run; arrays have shape (S, N, ...).

    Attributes:
        step_s: Step length, s.
        task_names: ``device:app`` per environment.
        freq_mhz: (S, N, 4) applied frequencies, MHz.
        util: (S, N, 4) kernel utilisation (PELT for CPUs, busy for the GPU), 0..1.
        power_mw: (S, N, 4) power per domain, mW.
        power_total_mw: (S, N) total power, mW.
        energy_mj: (S, N) energy per step, mJ.
        frames_req, frames_presented, frames_janky: (S, N) frame counts.
        temp_c: (S, N, 2) die and skin temperature, degC.
        throttled: (S, N) throttle rule active.
        frames_dropped: (S, N) requests coalesced by Choreographer while the UI thread was busy.
        frames_in_flight: (S, N) frames in the pipeline at the end of each step.
        backlog_mc: (S, N, 4) other (non-frame) work queued at the end of each step, reference Mc.
        work_shed_mc: (S, N) other work shed at the backlog bound per step, reference Mc.
    """

    step_s: float
    task_names: list[str]
    freq_mhz: np.ndarray
    util: np.ndarray
    power_mw: np.ndarray
    power_total_mw: np.ndarray
    energy_mj: np.ndarray
    frames_req: np.ndarray
    frames_presented: np.ndarray
    frames_janky: np.ndarray
    temp_c: np.ndarray
    throttled: np.ndarray
    frames_dropped: np.ndarray | None = None
    frames_in_flight: np.ndarray | None = None
    backlog_mc: np.ndarray | None = None
    work_shed_mc: np.ndarray | None = None

    def series(self, i: int) -> Series:
        """Metric series of environment ``i``."""
        return Series(
            step_s=self.step_s,
            energy_mj=self.energy_mj[:, i],
            frames_req=self.frames_req[:, i],
            frames_presented=self.frames_presented[:, i],
            frames_janky=self.frames_janky[:, i],
            temp_die_c=self.temp_c[:, i, 0],
            temp_skin_c=self.temp_c[:, i, 1],
            throttled=self.throttled[:, i],
            energy_soc_mj=self.power_mw[:, i].sum(axis=1) * self.step_s,
        )

    def metrics(self, i: int, ppr_ref: float | None = None) -> dict[str, float]:
        """Standard metrics of environment ``i`` (see :mod:`metadvfs.metrics`)."""
        return summarize(self.series(i), ppr_ref)

    def frame(self, i: int) -> pd.DataFrame:
        """Per-step table of environment ``i`` (columns with units in their names)."""
        import pandas as pd

        doms = DOMAINS
        cols: dict[str, np.ndarray] = {"t_s": np.arange(self.energy_mj.shape[0]) * self.step_s}
        for d, name in enumerate(doms):
            cols[f"freq_{name}_mhz"] = self.freq_mhz[:, i, d]
            cols[f"util_{name}"] = self.util[:, i, d]
            cols[f"power_{name}_mw"] = self.power_mw[:, i, d]
        cols["power_total_mw"] = self.power_total_mw[:, i]
        cols["frames_req"] = self.frames_req[:, i]
        cols["frames_presented"] = self.frames_presented[:, i]
        cols["frames_janky"] = self.frames_janky[:, i]
        cols["temp_die_c"] = self.temp_c[:, i, 0]
        cols["temp_skin_c"] = self.temp_c[:, i, 1]
        cols["throttled"] = self.throttled[:, i]
        return pd.DataFrame(cols)


def governor_context(batch: TaskBatch) -> GovernorContext:
    """The :class:`GovernorContext` of a batch (Mali tables and vendor settings from the device profiles)."""
    mali = []
    for t in batch.tasks:
        rows = t.device.gpu.mali_dvfs
        mali.append(np.array([(r.freq_khz, r.down_util, r.up_util, r.hys_ticks) for r in rows]) if rows else None)
    vendor = [t.device.vendor for t in batch.tasks]
    return GovernorContext(dev=batch.dev, tick_s=batch.tick_s, core=batch.core, mali=mali, vendor=vendor)


def replay(
    tasks: Sequence[Task],
    governor: Governor,
    seconds: float,
    seed: int | Sequence[int] = 0,
    tick_s: float = 0.01,
    progress: Callable[[int, int], None] | None = None,
) -> Timeline:
    """Run one governor over a batch of tasks for ``seconds`` of simulated time.

    Each environment's episode window is drawn exactly as :class:`~metadvfs.environment.DVFSEnv` draws it
    for ``reset(seed=seed)``, so a replay and an environment episode with the same seed see the same demand.

    Args:
        tasks: The tasks (one environment each).
        governor: The governor (reset here).
        seconds: Simulated duration, s.
        seed: One seed for every environment, or one per environment.
        tick_s: Simulator tick, s.
        progress: Optional callback ``(done_ticks, total_ticks)``.

    Returns:
        The per-tick timeline.
    """
    batch = TaskBatch(tasks, seconds, tick_s)
    seeds = [seed] * batch.n if isinstance(seed, int) else list(seed)
    batch.seed(seeds)
    batch.reset_rows(np.arange(batch.n))
    governor.reset(governor_context(batch))
    return run_ticks(batch, governor, batch.episode_ticks, progress)


def run_ticks(
    batch: TaskBatch, governor: Governor, n_ticks: int, progress: Callable[[int, int], None] | None = None
) -> Timeline:
    """Step ``batch`` tick by tick under ``governor`` (already reset) and record the timeline."""
    core = batch.core
    n = batch.n
    s = n_ticks
    tl = Timeline(
        step_s=batch.tick_s,
        task_names=[t.name for t in batch.tasks],
        freq_mhz=np.zeros((s, n, 4)),
        util=np.zeros((s, n, 4)),
        power_mw=np.zeros((s, n, 4)),
        power_total_mw=np.zeros((s, n)),
        energy_mj=np.zeros((s, n)),
        frames_req=np.zeros((s, n)),
        frames_presented=np.zeros((s, n)),
        frames_janky=np.zeros((s, n)),
        temp_c=np.zeros((s, n, 2)),
        throttled=np.zeros((s, n), dtype=bool),
        frames_dropped=np.zeros((s, n)),
        frames_in_flight=np.zeros((s, n)),
        backlog_mc=np.zeros((s, n, 4)),
        work_shed_mc=np.zeros((s, n)),
    )
    last = None
    for k in range(s):
        want = governor.decide(last, core.idx)
        merged = core.idx.copy()
        for d in governor.domains:
            merged[:, d] = want[:, d]
        last = core.step(merged, 1)
        tl.freq_mhz[k] = last.freq_mhz
        tl.util[k] = last.util
        tl.power_mw[k] = last.power_mw
        tl.power_total_mw[k] = last.power_total_mw
        tl.energy_mj[k] = last.energy_mj
        tl.frames_req[k] = last.frames_req
        tl.frames_presented[k] = last.frames_presented
        tl.frames_janky[k] = last.frames_janky
        tl.temp_c[k] = last.temp_c
        tl.throttled[k] = last.throttled
        tl.frames_dropped[k] = last.frames_dropped  # type: ignore[index]
        tl.frames_in_flight[k] = last.frames_in_flight  # type: ignore[index]
        tl.backlog_mc[k] = last.backlog_mc  # type: ignore[index]
        tl.work_shed_mc[k] = last.work_shed_mc  # type: ignore[index]
        if progress is not None and (k % 100 == 0 or k == s - 1):
            progress(k + 1, s)
    return tl
