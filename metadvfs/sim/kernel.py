"""The per-step physics of the simulator, compiled with numba.

One call advances N environments by T ticks at fixed OPPs (see :mod:`metadvfs.sim.core` for the model): OPP
clamping, the per-tick queues, utilisation and frames, then power, the two-node thermal update and the throttle
rules. It is the only implementation of the physics; the single env, the batched VecEnv, replays and the twin all
step through it, so they agree bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

PREFETCH_AHEAD = 8
"""Environments ahead whose demand rows ``fused_step`` prefetches (the step is bound by memory latency: every
environment reads a different place of the demand pool)."""


@intrinsic
def _prefetch_row(typingctx, arr, row):  # type: ignore[no-untyped-def]
    """Hint the CPU to fetch row ``row`` of the 2-D array ``arr`` into cache (``llvm.prefetch``; no effect)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        r = context.cast(builder, args[1], rowty, types.intp)
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=[r, context.get_constant(types.intp, 0)],
            wraparound=False,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        # the intrinsic is mangled by the pointer type: "ptr" (opaque pointers) or "i8*" (older llvmlite)
        name = "llvm.prefetch.p0" if str(i8p) == "ptr" else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _queue_tick(
    qp: float, w: float, cap: float, inv_cap: float, share: float, util: float, alpha: float, f_ratio: float
) -> tuple[float, float, float, float]:
    """One domain, one tick: new backlog, busy fraction, busiest-CPU busy fraction (capped at 1), new PELT util."""
    qn = qp + w - cap
    if qn < 0.0:
        qn = 0.0
    busy = (qp + w - qn) * inv_cap
    cr = busy * share
    if cr > 1.0:
        cr = 1.0
    return qn, busy, cr, alpha * util + (1.0 - alpha) * cr * f_ratio


@numba.njit(cache=True, nogil=True)
def fused_step(
    req_idx: np.ndarray,
    cap_idx: np.ndarray,
    freq: np.ndarray,
    p_active: np.ndarray,
    p_idle: np.ndarray,
    p_static: np.ndarray,
    ipc: np.ndarray,
    cores: np.ndarray,
    mask: np.ndarray,
    fmax: np.ndarray,
    n_opp: np.ndarray,
    base_mw: np.ndarray,
    ambient_c: np.ndarray,
    demand: np.ndarray,
    pos: np.ndarray,
    n_ticks: int,
    tick_s: float,
    alpha: float,
    fps: np.ndarray,
    phi: np.ndarray,
    gam: np.ndarray,
    rule_sensor: np.ndarray,
    rule_trip: np.ndarray,
    rule_clear: np.ndarray,
    rule_cap: np.ndarray,
    q: np.ndarray,
    util: np.ndarray,
    temp: np.ndarray,
    active: np.ndarray,
    idx_out: np.ndarray,
    f_out: np.ndarray,
    busy_out: np.ndarray,
    crit_out: np.ndarray,
    p_dom_out: np.ndarray,
    p_total_out: np.ndarray,
    counts_out: np.ndarray,
    late_out: np.ndarray,
    throttled_out: np.ndarray,
    cap_out: np.ndarray,
) -> None:
    """Advance every environment ``n_ticks`` ticks; updates the state arrays in place and fills the outputs.

    Args:
        req_idx: (N, 4) requested OPP indices (clamped here to ``[0, cap_idx]``).
        cap_idx: (N, 4) highest allowed OPP index (tables and active thermal caps).
        freq: (N, 4, K) OPP frequencies, MHz.
        p_active: (N, 4, K) power of one busy core (the busy GPU) per OPP, mW.
        p_idle: (N, 4, K) power of one idle core (the idle GPU) per OPP, mW.
        p_static: (N, 4, K) cluster power while awake per OPP, mW.
        ipc: (N, 4) reference work per cycle.
        cores: (N, 4) cores per domain.
        mask: (N, 4) 1 where the domain exists.
        fmax: (N, 4) top OPP, MHz.
        n_opp: (N, 4) real OPP count (the top OPP is ``n_opp - 1``).
        base_mw: (N,) rest-of-phone power, mW.
        ambient_c: (N,) ambient temperature, degC.
        demand: (T, 12) packed demand rows of the batch's pool (:class:`~metadvfs.sim.demand.DemandPool`):
            work per domain (Mc), busiest-CPU share times core count per domain, frames requested, ui work per
            frame (Mc), GPU work per frame (GPU Mc), ui domain.
        pos: (N,) first pool tick to simulate per environment.
        n_ticks: Ticks to advance.
        tick_s: Tick length, s.
        alpha: PELT decay per tick.
        fps: (N,) frame-rate target (deadline = 1 / fps).
        phi: (N, 2, 2) thermal state transition over the step.
        gam: (N, 2, 3) thermal input matrix over the step (inputs P_soc W, P_base W, T_amb degC).
        rule_sensor: (N, R) 0 = die, 1 = skin.
        rule_trip: (N, R) trip temperature, degC (inf for padding).
        rule_clear: (N, R) clear temperature, degC.
        rule_cap: (N, R, 4) OPP cap while the rule is active.
        q: (N, 4) backlog, Mc (updated).
        util: (N, 4) utilisation: PELT for CPUs, busy fraction for the GPU (updated).
        temp: (N, 2) die and skin temperature, degC (updated).
        active: (N, R) throttle rule state (updated).
        idx_out: (N, 4) out: applied OPP indices.
        f_out: (N, 4) out: applied frequencies, MHz.
        busy_out: (N, 4) out: mean domain busy fraction.
        crit_out: (N, 4) out: mean busiest-CPU busy fraction.
        p_dom_out: (N, 4) out: mean power per domain, mW.
        p_total_out: (N,) out: mean total power, mW.
        counts_out: (N, 3) out: frames requested, presented (1/slots each), janky.
        late_out: (N, 4) out: frames late because of each domain.
        throttled_out: (N,) out: a rule was active during the step.
        cap_out: (N, 4) out: OPP caps for the next step.
    """
    n = req_idx.shape[0]
    n_rules = rule_trip.shape[1]
    speed = np.empty(4)
    rate = np.empty(4)
    cap = np.empty(4)
    inv_cap = np.empty(4)
    f_ratio = np.empty(4)
    busy_sum = np.empty(4)
    crit_sum = np.empty(4)
    for i in range(n):
        ahead = i + PREFETCH_AHEAD
        if ahead < n:
            for kt in range(n_ticks):
                _prefetch_row(demand, pos[ahead] + kt)  # type: ignore[call-arg]  # numba passes typingctx
        # OPPs
        for dd in range(4):
            k = req_idx[i, dd]
            if k > cap_idx[i, dd]:
                k = cap_idx[i, dd]
            if k < 0:
                k = 0
            idx_out[i, dd] = k
            f = freq[i, dd, k]
            f_out[i, dd] = f
            speed[dd] = f * ipc[i, dd]
            rate[dd] = speed[dd] * cores[i, dd]
            cap[dd] = rate[dd] * tick_s
            inv_cap[dd] = 1.0 / cap[dd]
            f_ratio[dd] = f / fmax[i, dd]
            busy_sum[dd] = 0.0
            crit_sum[dd] = 0.0
            late_out[i, dd] = 0.0
        # ticks: the per-environment state lives in scalars (no aliasing with the input arrays)
        p0 = pos[i]
        req = 0.0
        pres = 0.0
        jank = 0.0
        fps_i = fps[i]
        q0, q1, q2, q3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
        u0, u1, u2, u3 = util[i, 0], util[i, 1], util[i, 2], util[i, 3]
        b0 = b1 = b2 = b3 = 0.0
        c0 = c1 = c2 = c3 = 0.0
        l1 = l2 = l3 = 0.0
        cap0, cap1, cap2, cap3 = cap[0], cap[1], cap[2], cap[3]
        ic0, ic1, ic2, ic3 = inv_cap[0], inv_cap[1], inv_cap[2], inv_cap[3]
        fr0, fr1, fr2, fr3 = f_ratio[0], f_ratio[1], f_ratio[2], f_ratio[3]
        for kt in range(n_ticks):
            t = p0 + kt
            dom = int(demand[t, 11])
            qp_ui = q1 if dom == 1 else (q2 if dom == 2 else (q0 if dom == 0 else q3))
            qp_gpu = q3
            q0, bb, cc, u0 = _queue_tick(q0, demand[t, 0], cap0, ic0, demand[t, 4], u0, alpha, fr0)
            b0 += bb
            c0 += cc
            q1, bb, cc, u1 = _queue_tick(q1, demand[t, 1], cap1, ic1, demand[t, 5], u1, alpha, fr1)
            b1 += bb
            c1 += cc
            q2, bb, cc, u2 = _queue_tick(q2, demand[t, 2], cap2, ic2, demand[t, 6], u2, alpha, fr2)
            b2 += bb
            c2 += cc
            q3, bb, cc, u3 = _queue_tick(q3, demand[t, 3], cap3, ic3, demand[t, 7], u3, alpha, fr3)
            b3 += bb
            c3 += cc
            nf = demand[t, 8]
            if nf > 0.0:
                t_cpu = demand[t, 9] / speed[dom] + qp_ui / rate[dom]
                t_gpu = (demand[t, 10] + qp_gpu) / speed[3]
                stage = t_cpu if t_cpu > t_gpu else t_gpu
                slots = np.ceil(stage * fps_i - 1e-9)
                if slots < 1.0:
                    slots = 1.0
                req += nf
                pres += nf / slots
                if slots > 1.0:
                    jank += nf
                if t_cpu * fps_i > 1.0 + 1e-9:
                    if dom == 1:
                        l1 += nf
                    elif dom == 2:
                        l2 += nf
                    else:
                        late_out[i, dom] += nf
                if t_gpu * fps_i > 1.0 + 1e-9:
                    l3 += nf
        q[i, 0], q[i, 1], q[i, 2], q[i, 3] = q0, q1, q2, q3
        util[i, 0], util[i, 1], util[i, 2], util[i, 3] = u0, u1, u2, u3
        busy_sum[0], busy_sum[1], busy_sum[2], busy_sum[3] = b0, b1, b2, b3
        crit_sum[0], crit_sum[1], crit_sum[2], crit_sum[3] = c0, c1, c2, c3
        late_out[i, 1] += l1
        late_out[i, 2] += l2
        late_out[i, 3] += l3
        counts_out[i, 0] = req
        counts_out[i, 1] = pres
        counts_out[i, 2] = jank
        # power
        p_soc = 0.0
        for dd in range(4):
            b = busy_sum[dd] / n_ticks
            busy_out[i, dd] = b
            crit_out[i, dd] = crit_sum[dd] / n_ticks
            k = idx_out[i, dd]
            p = (cores[i, dd] * (p_active[i, dd, k] * b + p_idle[i, dd, k] * (1.0 - b)) + p_static[i, dd, k]) * mask[
                i, dd
            ]
            p_dom_out[i, dd] = p
            p_soc += p
        util[i, 3] = busy_out[i, 3]
        p_total_out[i] = p_soc + base_mw[i]
        # thermal (exact zero-order hold over the step)
        u0 = p_soc / 1000.0
        u1 = base_mw[i] / 1000.0
        u2 = ambient_c[i]
        t_die = temp[i, 0]
        t_skin = temp[i, 1]
        temp[i, 0] = (phi[i, 0, 0] * t_die + phi[i, 0, 1] * t_skin) + (
            gam[i, 0, 0] * u0 + gam[i, 0, 1] * u1 + gam[i, 0, 2] * u2
        )
        temp[i, 1] = (phi[i, 1, 0] * t_die + phi[i, 1, 1] * t_skin) + (
            gam[i, 1, 0] * u0 + gam[i, 1, 1] * u1 + gam[i, 1, 2] * u2
        )
        # throttle rules (state at the start of the step is what "throttled" reports), caps for the next step
        thr = False
        for dd in range(4):
            cap_out[i, dd] = n_opp[i, dd] - 1
        for r in range(n_rules):
            if active[i, r]:
                thr = True
            st = temp[i, rule_sensor[i, r]]
            on = st >= rule_trip[i, r] or (active[i, r] and st > rule_clear[i, r])
            active[i, r] = on
            if on:
                for dd in range(4):
                    if rule_cap[i, r, dd] < cap_out[i, dd]:
                        cap_out[i, dd] = rule_cap[i, r, dd]
        throttled_out[i] = thr
