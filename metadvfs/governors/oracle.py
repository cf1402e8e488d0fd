"""The oracle governor: clairvoyant, minimum-energy OPP schedule that presents every frame it can.

It knows the future demand and plans, per domain, the OPP sequence of least energy among those that lose no more
frames than running at the top OPP would, so its PPR bounds that of any governor at full QoE on the same trace
and seed (within this model; see ``docs/simulator.md`` section 9).
"""

from __future__ import annotations

import numba
import numpy as np

from metadvfs.governors.base import Governor
from metadvfs.sim.core import StepOut

BUCKETS = 128
"""Backlog buckets of the dynamic programme (states kept per planning step and domain)."""
BACKLOG_SPAN_TICKS = 8.0
"""Range of backlog above the all-top path's backlog resolved by the buckets, in ticks of work at the top allowed OPP;
larger excesses share the last bucket."""
HORIZON_TICKS = 3000
"""Ticks planned at once; the plan is recomputed when it runs out or when a thermal cap changes."""


@numba.njit(cache=True, nogil=True)
def _bucket(q: float, q_span: float, n_b: int) -> int:
    if q <= 0.0:
        return 0
    b = 1 + int(q / q_span * (n_b - 2))
    return b if b < n_b - 1 else n_b - 1


@numba.njit(cache=True, nogil=True)
def _lost(
    dom: int,
    t: int,
    q: float,
    k: int,
    frames: np.ndarray,
    ui_pf: np.ndarray,
    gpu_pf: np.ndarray,
    ui_dom: np.ndarray,
    speed: np.ndarray,
    rate: np.ndarray,
    fps: float,
) -> float:
    """Frames lost by this domain's stage in tick ``t`` at OPP ``k`` with backlog ``q`` (Mc).

    A frame needing ``s`` periods loses ``1 - 1/s``; the frame-time formulas of
    :func:`metadvfs.sim.kernel.step_kernel`.
    """
    nf = frames[t]
    if nf <= 0.0:
        return 0.0
    if dom == 3:
        stage = (gpu_pf[t] + q) / speed[k]
    elif ui_dom[t] == dom:
        stage = ui_pf[t] / speed[k] + q / rate[k]
    else:
        return 0.0
    slots = np.ceil(stage * fps - 1e-9)
    if slots <= 1.0:
        return 0.0
    return nf * (1.0 - 1.0 / slots)


@numba.njit(cache=True, nogil=True)
def plan_domain(
    work: np.ndarray,
    frames: np.ndarray,
    ui_pf: np.ndarray,
    gpu_pf: np.ndarray,
    ui_dom: np.ndarray,
    dom: int,
    p0: int,
    n_blocks: int,
    every: int,
    fps: float,
    speed: np.ndarray,
    rate: np.ndarray,
    cap: np.ndarray,
    e_fixed: np.ndarray,
    e_marg: np.ndarray,
    k_top: int,
    q0: float,
    n_b: int,
    out: np.ndarray,
) -> None:
    """Minimum-energy OPP schedule of one domain that loses no frame the top OPP would present (writes ``out``).

    A dynamic programme over blocks of ``every`` ticks whose state is the domain's backlog. Every kept path is
    simulated exactly (the queue recursion and frame-time formulas of :func:`metadvfs.sim.kernel.step_kernel`);
    a path is admissible only while, in every tick, this domain's stage loses no more frames than on the path that
    always runs the top allowed OPP (which has the shortest queue and the fastest clock at every tick, hence the
    fewest losses possible). Paths are pruned to the least-energy one per backlog bucket; the all-top path is
    always kept, so an admissible plan exists. Backlog left at the end is charged at the cheapest marginal energy
    per Mc of any allowed OPP (it has to be retired some time).

    Args:
        work: (T,) work of this domain per tick, Mc (a column of the simulator's demand pool).
        frames: (T,) frames requested per tick.
        ui_pf: (T,) ui work per frame, Mc.
        gpu_pf: (T,) GPU work per frame, GPU Mc.
        ui_dom: (T,) domain of the ui thread per tick.
        dom: Domain index (3 = GPU).
        p0: First pool tick to plan.
        n_blocks: Number of decision blocks.
        every: Ticks per block (the OPP is constant within a block).
        fps: Frame-rate target (deadline = 1 / fps), frames/s.
        speed: (K,) Mc/s of one core (GPU: of the GPU) per OPP.
        rate: (K,) Mc/s of the whole domain per OPP.
        cap: (K,) Mc the domain retires per tick per OPP.
        e_fixed: (K,) energy per tick when idle (idle + static), mJ.
        e_marg: (K,) extra energy per Mc of work retired, mJ/Mc.
        k_top: Highest allowed OPP index.
        q0: Backlog at the start, Mc.
        n_b: Number of backlog buckets (the all-top path uses one more slot).
        out: (n_blocks,) chosen OPP index per block (output).
    """
    inf = np.inf
    q_span = BACKLOG_SPAN_TICKS * cap[k_top]
    if q_span <= 0.0:
        q_span = 1.0
    top = n_b  # slot of the all-top path
    cur_q = np.zeros(n_b + 1)
    cur_e = np.full(n_b + 1, inf)
    nxt_q = np.zeros(n_b + 1)
    nxt_e = np.full(n_b + 1, inf)
    parent = np.full((n_blocks, n_b + 1), -1, dtype=np.int32)
    choice = np.zeros((n_blocks, n_b + 1), dtype=np.int16)
    allowed = np.zeros(every)
    cur_q[top] = q0
    cur_e[top] = 0.0
    for blk in range(n_blocks):
        t0 = p0 + blk * every
        # the all-top path: fewest losses possible per tick, and the next state of the top slot
        q = cur_q[top]
        e = cur_e[top]
        c = cap[k_top]
        for j in range(every):
            t = t0 + j
            w = work[t]
            qn = q + w - c
            if qn < 0.0:
                qn = 0.0
            allowed[j] = _lost(dom, t, q, k_top, frames, ui_pf, gpu_pf, ui_dom, speed, rate, fps) + 1e-9
            e += e_fixed[k_top] + e_marg[k_top] * (q + w - qn)
            q = qn
        for b in range(n_b):
            nxt_e[b] = inf
        q_top = q
        nxt_q[top] = q
        nxt_e[top] = e
        parent[blk, top] = top
        choice[blk, top] = k_top
        for b in range(n_b + 1):
            if cur_e[b] == inf:
                continue
            for k in range(k_top + 1):
                q = cur_q[b]
                e = cur_e[b]
                c = cap[k]
                ok = True
                for j in range(every):
                    t = t0 + j
                    if _lost(dom, t, q, k, frames, ui_pf, gpu_pf, ui_dom, speed, rate, fps) > allowed[j]:
                        ok = False
                        break
                    w = work[t]
                    qn = q + w - c
                    if qn < 0.0:
                        qn = 0.0
                    e += e_fixed[k] + e_marg[k] * (q + w - qn)
                    q = qn
                if not ok:
                    continue
                nb = _bucket(q - q_top, q_span, n_b)
                if e < nxt_e[nb] or (e == nxt_e[nb] and q < nxt_q[nb]):
                    nxt_e[nb] = e
                    nxt_q[nb] = q
                    parent[blk, nb] = b
                    choice[blk, nb] = k
        for b in range(n_b + 1):
            cur_e[b] = nxt_e[b]
            cur_q[b] = nxt_q[b]
    marg = inf
    for k in range(k_top + 1):
        if e_marg[k] < marg:
            marg = e_marg[k]
    best = top
    for b in range(n_b):
        if cur_e[b] != inf and cur_e[b] + marg * cur_q[b] < cur_e[best] + marg * cur_q[best]:
            best = b
    b = best
    for blk in range(n_blocks - 1, -1, -1):
        out[blk] = choice[blk, b]
        b = parent[blk, b]


class Oracle(Governor):
    """Clairvoyant minimum-energy governor (a per-domain dynamic programme over the true future demand).

    For each domain it plans, over the coming ``HORIZON_TICKS`` ticks, the OPP sequence that first loses the
    fewest frames (the same as the top OPP would) and then uses the least energy, simulating the domain's queue
    exactly along each path. Work may stay queued across ticks whenever that delays no frame, so the oracle can
    run at the efficient OPPs on average rather than clearing every tick (the earlier zero-backlog rule made it
    pay for bursts that a slower steady clock absorbs). Domains are separable in the model (each domain's queue,
    energy and frame stage depend only on its own OPP), so per-domain plans are jointly optimal up to the backlog
    bucketing. The plan respects the thermal caps in force when it is made and is recomputed when they change;
    it does not trade temperature now against throttling later.

    Args:
        period_ms: Decision period, ms: the OPP may change every ``period_ms`` (default every 10 ms tick).
        buckets: Backlog buckets per planning step (accuracy vs. planning time).
    """

    name = "oracle"

    def __init__(self, period_ms: float = 10.0, buckets: int = BUCKETS) -> None:
        self.period_ms = period_ms
        self.buckets = int(buckets)

    def reset(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().reset(ctx)
        self.every = max(1, round(self.period_ms / 1000.0 / ctx.tick_s))
        self.plan: np.ndarray | None = None
        self.plan_pos = np.zeros(ctx.dev.n, dtype=np.int64)
        self.plan_cap: np.ndarray | None = None
        self.n_plans = 0

    def _make_plan(self) -> None:
        core = self.ctx.core
        dev = core.dev
        n = core.n
        remaining = int(core.buffer_ticks - core.pos.max())
        every = max(1, min(self.every, remaining))
        n_blocks = max(1, min(HORIZON_TICKS, remaining) // every)
        tick = core.tick_s
        # the same expressions as SimCore.evaluate, so plans reproduce the simulator bit for bit
        f = dev.freq_mhz
        speed = f * dev.ipc[:, :, None]
        rate = speed * dev.cores[:, :, None]
        cap = rate * tick
        m = dev.mask[:, :, None]
        e_fixed = (dev.cores[:, :, None] * dev.idle_mw + dev.static_mw) * m * tick
        e_marg = dev.cores[:, :, None] * (dev.p_active_mw - dev.idle_mw) * m * tick / cap
        k_top = core.cap
        pool = core.pool
        first = core.base + core.pos
        plan = np.zeros((n, 4, n_blocks * every), dtype=np.int64)
        out = np.zeros(n_blocks, dtype=np.int64)
        for i in range(n):
            for d in range(4):
                if dev.mask[i, d] == 0.0:
                    continue
                plan_domain(
                    pool.work[:, d], pool.frames, pool.ui_pf, pool.gpu_pf, pool.ui_dom, d, int(first[i]), n_blocks,
                    every, float(core.target_fps[i]), speed[i, d], rate[i, d], cap[i, d], e_fixed[i, d],
                    e_marg[i, d], int(k_top[i, d]), float(core.q[i, d]), self.buckets, out,
                )  # fmt: skip
                plan[i, d] = np.repeat(out, every)
        self.plan = plan
        self.n_plans += 1
        self.plan_pos = core.pos.copy()
        self.plan_cap = core.cap.copy()

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        core = self.ctx.core
        step = core.pos - self.plan_pos
        stale = (
            self.plan is None
            or int(step.max()) >= self.plan.shape[2]
            or self.plan_cap is None
            or not np.array_equal(core.cap, self.plan_cap)
            or bool((step < 0).any())
        )
        if stale:
            self._make_plan()
            step = core.pos - self.plan_pos
        assert self.plan is not None
        return self.plan[np.arange(core.n), :, step]
