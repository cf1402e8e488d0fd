"""The oracle governor: clairvoyant, lowest-energy OPPs that meet every frame deadline.

It knows the future demand and bounds the PPR any governor can reach at full QoE on the same trace and seed.
"""

from __future__ import annotations

import numpy as np

from metadvfs.governors.base import Governor
from metadvfs.sim.core import StepOut

BACKLOG_TOL_MC = 1e-6


class Oracle(Governor):
    """Clairvoyant per-interval energy minimiser.

    Every ``period`` the oracle simulates the coming interval once per candidate OPP level (the simulator's
    :meth:`~metadvfs.sim.core.SimCore.evaluate`, on the true future demand, including thermal caps). The
    domains' energies, frame deadlines and backlogs are separable, so per domain it keeps the candidates
    under which no frame is late because of that domain and no work is left queued, and takes the one with
    the least energy. Where no candidate is feasible it takes the highest allowed OPP.

    Args:
        period_ms: Decision period, ms (default: every 10 ms tick).
    """

    name = "oracle"

    def __init__(self, period_ms: float = 10.0) -> None:
        self.period_ms = period_ms

    def reset(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().reset(ctx)
        self.every = max(1, round(self.period_ms / 1000.0 / ctx.tick_s))
        self.tick = 0
        self.held: np.ndarray | None = None

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        if last is not None:
            self.tick += 1
        if self.held is not None and self.tick % self.every != 0:
            return self.held
        core = self.ctx.core
        n = core.n
        k_max = int(core.dev.n_opp.max())
        best = np.zeros((n, 4), dtype=np.int64)
        best_e = np.full((n, 4), np.inf)
        fallback = core.clamp(core.dev.n_opp - 1)
        remaining = core.buffer_ticks - int(core.pos.max())
        ticks = max(1, min(self.every, remaining))
        for k in range(k_max):
            cand = core.clamp(np.full((n, 4), k, dtype=np.int64))
            out, _ = core.evaluate(cand, ticks, detail=True)
            assert out.late_dom is not None
            ok = (out.late_dom == 0) & (out.backlog_mc <= BACKLOG_TOL_MC)
            better = ok & (out.power_mw < best_e - 1e-12)
            best = np.where(better, cand, best)
            best_e = np.where(better, out.power_mw, best_e)
        self.held = np.where(np.isfinite(best_e), best, fallback)
        return self.held
