"""The oracle governor: clairvoyant, least-energy OPPs that present every frame the top OPPs would.

It knows the future demand and, block by block, tries OPPs in the simulator itself (the same kernel, from the
same state) and keeps the least-energy choice with no more dropped and no more janky frames than running every
domain at its top allowed OPP would have over the block and a look-ahead (frames still in flight at the end count as
janky when they are already past their deadline). Every frame that is not dropped is presented, so its QoE matches
``performance``'s and its PPR bounds that of governors at the same QoE (within this model; see
``docs/simulator.md`` section 9).
"""

from __future__ import annotations

import numpy as np

from metadvfs.governors.base import Governor
from metadvfs.sim.core import StepOut

LOOKAHEAD_MS = 200.0
"""Look-ahead after each block, run at the top OPPs, over which frames must not be lost: longer than a frame's
trip through the pipeline (at most the buffer depth plus the app deadline in vsyncs)."""
DOMAIN_ORDER = (3, 2, 1, 0)
"""Order of the coordinate search over domains (GPU, big, mid, little)."""
TOL = 1e-9
WORK_RTOL = 1e-6
"""Relative tolerance on the frame work left in the pipeline at the end of a candidate's rollout."""


class Oracle(Governor):
    """Clairvoyant least-energy governor (a greedy search over OPPs through the simulator itself).

    Every ``period_ms`` it chooses, domain after domain (:data:`DOMAIN_ORDER`), the OPP of least energy over the
    block plus a :data:`LOOKAHEAD_MS` look-ahead at the top OPPs, among the OPPs that have no more dropped and no
    more janky frames than the reference (all domains at their top allowed OPP from
    the same state). The domains already chosen keep their choice while the next is searched, and the top OPP of a
    domain is always admissible (it reproduces the previous domain's accepted combination), so a choice always
    exists. Candidates are run through :meth:`~metadvfs.sim.core.SimCore.rollout`, the same kernel as the
    simulation, so the plan reproduces exactly; thermal caps in force are respected.

    Args:
        period_ms: Decision period, ms (the OPPs are constant within a block).
        lookahead_ms: Look-ahead at the top OPPs after each block, ms.
    """

    name = "oracle"

    def __init__(self, period_ms: float = 20.0, lookahead_ms: float = LOOKAHEAD_MS) -> None:
        self.period_ms = period_ms
        self.lookahead_ms = lookahead_ms

    def reset(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().reset(ctx)
        self.every = max(1, round(self.period_ms / 1000.0 / ctx.tick_s))
        self.look = max(0, round(self.lookahead_ms / 1000.0 / ctx.tick_s))
        self.choice: np.ndarray | None = None
        self.next_pos = np.zeros(ctx.dev.n, dtype=np.int64)
        self.n_plans = 0

    def _plan(self) -> np.ndarray:
        core = self.ctx.core
        dev = core.dev
        n = core.n
        remaining = int(core.buffer_ticks - core.pos.max())
        block = max(1, min(self.every, remaining))
        look = max(0, min(self.look, remaining - block))
        top = core.cap.copy()
        rows_all = np.arange(n)
        _, _, ref_j, ref_d, _, _, ref_f, ref_w = core.rollout(rows_all, top, block, look, work_left=True)
        # backlog left after the block is charged at the cheapest marginal energy of its domain (it must be done
        # some time), so the look-ahead at the top OPPs does not bias the energy towards clearing it at once
        marg = (
            dev.cores[:, :, None]
            * (dev.p_active_mw - dev.idle_mw)
            / (dev.freq_mhz * dev.ipc[:, :, None] * dev.cores[:, :, None])
        )
        k_idx = np.arange(dev.max_opp)[None, None, :]
        marg = np.where(k_idx <= top[:, :, None], marg, np.inf).min(axis=2) * dev.mask  # (N, 4) mJ per Mc
        chosen = top.copy()
        for d in DOMAIN_ORDER:
            k_top = top[:, d]
            live = dev.mask[:, d] > 0
            counts = np.where(live, k_top + 1, 0)
            if counts.sum() == 0:
                continue
            rows = np.repeat(rows_all, counts)
            ks = np.concatenate([np.arange(c) for c in counts])
            req = chosen[rows].copy()
            req[:, d] = ks
            _, _, j, dr, e_blk, q_blk, fl, w = core.rollout(rows, req, block, look, work_left=True)
            # no more dropped or janky frames, and neither more frames nor more RenderThread/GPU work left in the
            # pipeline (a saturated pipeline that falls behind carries its lateness past the look-ahead; with a
            # saturated GPU the same number of frames can be left with more of their work undone)
            ok = (
                (j <= ref_j[rows] + TOL)
                & (dr <= ref_d[rows] + TOL)
                & (fl <= ref_f[rows] + TOL)
                & (w <= ref_w[rows] * (1.0 + WORK_RTOL) + TOL).all(axis=1)
            )
            score = np.where(ok, e_blk + (q_blk * marg[rows]).sum(axis=1), np.inf)
            start = 0
            for i in range(n):
                c = int(counts[i])
                if c == 0:
                    continue
                seg = score[start : start + c]
                best = int(np.argmin(seg))
                if np.isfinite(seg[best]):
                    chosen[i, d] = ks[start + best]
                start += c
        self.n_plans += 1
        self.next_pos = core.pos + block
        return chosen

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        core = self.ctx.core
        due = core.pos >= self.next_pos
        restarted = core.pos < self.next_pos - self.every
        if self.choice is None or bool(due.any()) or bool(restarted.any()):
            self.choice = self._plan()
        return self.choice
