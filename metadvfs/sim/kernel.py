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


# ---------------------------------------------------------------- frame pipeline state (one float64 row per env)
P_NEXT_VS = 0  # time from the current tick's start to the next SurfaceFlinger latch (display vsync grid), s
P_NEXT_IDX = 1  # index of the next latch (latch 0 is at the episode start)
P_PEND = 2  # requests armed by an app vsync, waiting for the UI thread (Choreographer coalesces them into one frame)
P_UNARMED = 3  # requests not yet armed (each app vsync arms one)
P_UI_REM = 4  # UI-thread work left of the frame in the UI stage, Mc
P_RT_REM = 5  # RenderThread work left of the frame in the RT stage, Mc
P_GPU_REM = 6  # GPU work left of the frame at the head of the GPU queue, GPU Mc
P_HEAD = 7  # ring index of the oldest frame in flight
P_N = 8  # frames in flight (ring entries)
P_N4 = 9  # frames queued in the BufferQueue (GPU done, waiting for their present vsync)
P_N3 = 10  # frames submitted to the GPU (the first one is running)
P_N2 = 11  # frame in the RenderThread stage (0/1)
P_N1 = 12  # frame done on the UI thread, blocked until the RenderThread syncs it (0/1)
P_N0 = 13  # frame running on the UI thread (0/1)
P_CLK = 14  # time of the current tick's start since the episode start, s
P_LAST_VS = 15  # index of the last latch that has passed (-1 before the first)
P_NEXT_APP = 16  # time from the current tick's start to the next app vsync (Choreographer wake-up), s
P_APP_IDX = 17  # index of the last app vsync that has passed (-1 before the first)
P_UNSTUFFED = 18  # app vsync index at which the next frame would start if the pipeline were not stuffed (HWUI)
P_IDLE_RUN = 19  # 3 columns: per CPU domain, the mean core's current idle interval so far, s (docs/simulator.md 6.1)
P_CL_RUN = 22  # 3 columns: per CPU domain, the cluster's (busiest core's) current idle interval so far, s
P_RING = 25  # first ring column
MAX_FRAMES = 8  # ring capacity: frames in flight (buffer depth <= MAX_FRAMES - 1); a power of two
RING_MASK = MAX_FRAMES - 1  # ring index modulo MAX_FRAMES of a non-negative int
# F_DUE: latch the frame is due at (its expected present); F_V: app vsync index of the frame (HWUI IntendedVsync)
F_RT, F_GPU, F_DUE, F_V, F_T_START, F_T_CPU, F_DOM = 0, 1, 2, 3, 4, 5, 6
RF = 7  # fields per ring entry
PIPE_WIDTH = P_RING + MAX_FRAMES * RF
"""Columns of the per-environment frame pipeline state (``SimCore.pipe``)."""

# demand row columns (metadvfs.sim.demand.DemandPool.COLUMNS)
C_OTHER, C_SHARE, C_FRAMES, C_UI_PF, C_GPU_PF, C_UI_DOM, C_RT_PF, C_RT_DOM, C_FPS = 0, 4, 8, 9, 10, 11, 12, 13, 14

# rows of the per-domain scratch of fused_step: speed (Mc/s), capacity per tick (Mc), f/fmax, busy and
# busiest-CPU sums, frame work executed this tick (Mc), largest frame thread (Mc), backlog bound (Mc),
# 1/capacity, cores/capacity, backlog (Mc)
S_SPEED = 0
S_CAP = 1
S_F_RATIO = 2
S_BUSY_SUM = 3
S_CRIT_SUM = 4
S_FEXEC = 5
S_FMAX_THR = 6
S_QMAX = 7
S_INV_CAP = 8
S_INV_CCAP = 9
S_QQ = 10
S_BEFF_SUM = 11  # busy fraction including the active time after wake-ups from core power-down
S_DEEP_SUM = 12  # fraction of core time in core power-down
S_ON_SUM = 13  # fraction of time the cluster is powered (static power drawn)
S_RUN = 14  # the mean core's current idle interval so far, s
S_CL_RUN = 15  # the busiest core's (the cluster's) current idle interval so far, s
S_RES = 16  # core power-down min residency, s (inf: the domain has no deep idle states)
S_XF = 17  # active time per wake-up from core power-down, as a fraction of the tick
S_CL_RES = 18  # cluster power-down min residency, s
S_ZERO_OK = 19  # 1 where a tick without work or backlog may take the short path (capacity and ratios finite, > 0)
N_SCRATCH = 20

OTHER_BACKLOG_S = 2.0
"""Most non-frame (worker, background) work a domain holds queued, in seconds of the domain's top-OPP throughput;
work beyond it is shed (``extra_out[:, 2]``). *Model choice*: an app's worker work is produced in a closed loop
(decoders fill bounded buffers, loaders and prefetchers block or are cancelled), so a saturated cluster slows its
producers instead of queueing without bound."""

SHARED_CORE_SHARE = 0.5
"""Share of a core a frame thread gets while other runnable threads of the same weight share it (CFS gives equal
weights equal time; top-app UI/render threads and the app's workers are in the same cgroup)."""


MAX_UNARMED = 2.0
"""Requests waiting for an app vsync beyond which further requests are coalesced (requests faster than the
display refresh cannot all get a vsync of their own)."""


def app_phase(refresh_hz: np.ndarray, app_duration_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """App vsync offset and deadline in latches, from the refresh rate and SurfaceFlinger's app duration.

    SurfaceFlinger wakes the app ``app_duration`` before the latch that should take its frame
    (``debug.sf.use_phase_offsets_as_durations``), so app vsyncs sit at ``m / refresh + phase`` with
    ``phase = (-app_duration) mod period``, and a frame started at app vsync ``m`` is due at latch
    ``m + c`` with ``c = round((phase + app_duration) / period)``.

    Args:
        refresh_hz: (N,) display refresh rate, Hz.
        app_duration_s: (N,) app duration, s.

    Returns:
        ``(phase_s, c)``: (N,) offset of the app vsync grid after the latch grid, s; (N,) latches from an app
        vsync to the frame's due latch.
    """
    per = 1.0 / np.asarray(refresh_hz, dtype=float)
    dur = np.asarray(app_duration_s, dtype=float)
    phase = np.mod(-dur, per)
    phase = np.where(phase >= per - 1e-12, 0.0, phase)
    return phase, np.rint((phase + dur) / per)


def init_pipe(n: int, app_phase_s: np.ndarray | float = 0.0) -> np.ndarray:
    """A fresh pipeline state for ``n`` environments.

    The queues are empty; latch 0 is at the episode start and the first app vsync ``app_phase_s`` later.
    """
    p = np.zeros((n, PIPE_WIDTH))
    p[:, P_LAST_VS] = -1.0
    p[:, P_APP_IDX] = -1.0
    p[:, P_NEXT_APP] = app_phase_s
    p[:, P_UNSTUFFED] = -1.0
    return p


def opp_tables(
    freq: np.ndarray, p_active: np.ndarray, p_idle: np.ndarray, p_static: np.ndarray, idle_par: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The distinct per-environment OPP tables, for :func:`fused_step`'s ``opp_row`` argument.

    A batch holds few phones but many environments; reading every environment's own copy of the tables misses the
    cache at every step, so environments with identical tables share one row.

    Args:
        freq: (N, 4, K) OPP frequencies, MHz.
        p_active: (N, 4, K) busy power per core, mW.
        p_idle: (N, 4, K) idle power per core, mW.
        p_static: (N, 4, K) cluster power while awake, mW.
        idle_par: (N, 4, IDLE_PAR) deep idle states (:attr:`~metadvfs.sim.device_arrays.DeviceArrays.idle_par`).

    Returns:
        ``(opp_row, (freq, p_active, p_idle, p_static, idle_par))``: (N,) row of each environment in the (D, 4, ...)
        tables.
    """
    tables = (freq, p_active, p_idle, p_static, idle_par)
    n = freq.shape[0]
    rows = np.empty(n, dtype=np.int64)
    first: list[int] = []
    seen: dict[bytes, int] = {}
    for i in range(n):
        key = b"".join(np.ascontiguousarray(a[i]).tobytes() for a in tables)
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        rows[i] = j
    sel = np.asarray(first, dtype=np.int64)
    t = tuple(np.ascontiguousarray(a[sel]) for a in tables)
    return rows, (t[0], t[1], t[2], t[3], t[4])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fused_step(
    req_idx: np.ndarray,
    cap_idx: np.ndarray,
    freq: np.ndarray,
    p_active: np.ndarray,
    p_idle: np.ndarray,
    p_static: np.ndarray,
    idle_par: np.ndarray,
    opp_row: np.ndarray,
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
    refresh: np.ndarray,
    due_c: np.ndarray,
    depth: np.ndarray,
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
    pipe: np.ndarray,
    idx_out: np.ndarray,
    f_out: np.ndarray,
    busy_out: np.ndarray,
    crit_out: np.ndarray,
    p_dom_out: np.ndarray,
    p_total_out: np.ndarray,
    counts_out: np.ndarray,
    extra_out: np.ndarray,
    late_out: np.ndarray,
    throttled_out: np.ndarray,
    cap_out: np.ndarray,
) -> None:
    """Advance every environment ``n_ticks`` ticks; updates the state arrays in place and fills the outputs.

    Args:
        req_idx: (N, 4) requested OPP indices (clamped here to ``[0, cap_idx]``).
        cap_idx: (N, 4) highest allowed OPP index (tables and active thermal caps).
        freq: (D, 4, K) OPP frequencies, MHz.
        p_active: (D, 4, K) power of one busy core (the busy GPU) per OPP, mW.
        p_idle: (D, 4, K) power of one idle core (the idle GPU) per OPP, mW.
        p_static: (D, 4, K) cluster power while awake per OPP, mW.
        idle_par: (D, 4, IDLE_PAR) deep idle states per domain (columns ``I_*`` of
            :mod:`metadvfs.sim.device_arrays`): core power-down min residency s, active time per wake-up s, cluster
            power-down min residency s, core power-down power mW.
        opp_row: (N,) row of ``freq``, ``p_active``, ``p_idle``, ``p_static`` and ``idle_par`` holding each
            environment's tables (environments of the same phone share one row, so the tables stay in cache:
            :func:`opp_tables`).
        ipc: (N, 4) reference work per cycle.
        cores: (N, 4) cores per domain.
        mask: (N, 4) 1 where the domain exists.
        fmax: (N, 4) top OPP, MHz.
        n_opp: (N, 4) real OPP count (the top OPP is ``n_opp - 1``).
        base_mw: (N,) rest-of-phone power, mW.
        ambient_c: (N,) ambient temperature, degC.
        demand: (T, W) packed demand rows of the batch's pool (:class:`~metadvfs.sim.demand.DemandPool`).
        pos: (N,) first pool tick to simulate per environment.
        n_ticks: Ticks to advance.
        tick_s: Tick length, s.
        alpha: PELT decay per tick.
        fps: (N,) app frame-rate target, frames/s (used where a tick carries no requested frame rate).
        refresh: (N,) display refresh rate, Hz (vsync period ``1 / refresh``).
        due_c: (N,) latches from an app vsync to the due latch of a frame started there (:func:`app_phase`).
        depth: (N,) BufferQueue buffers per app (one is on screen; at most ``depth - 1`` in RT, GPU or queued).
        phi: (N, 2, 2) thermal state transition over the step.
        gam: (N, 2, 3) thermal input matrix over the step (inputs P_soc W, P_base W, T_amb degC).
        rule_sensor: (N, R) 0 = die, 1 = skin.
        rule_trip: (N, R) trip temperature, degC (inf for padding).
        rule_clear: (N, R) clear temperature, degC.
        rule_cap: (N, R, 4) OPP cap while the rule is active.
        q: (N, 4) backlog of other (non-frame) work, Mc (updated).
        util: (N, 4) utilisation: PELT for CPUs, busy fraction for the GPU (updated).
        temp: (N, 2) die and skin temperature, degC (updated).
        active: (N, R) throttle rule state (updated).
        pipe: (N, PIPE_WIDTH) frame pipeline state (updated; columns ``P_*``).
        idx_out: (N, 4) out: applied OPP indices.
        f_out: (N, 4) out: applied frequencies, MHz.
        busy_out: (N, 4) out: mean domain busy fraction.
        crit_out: (N, 4) out: mean busiest-CPU busy fraction.
        p_dom_out: (N, 4) out: mean power per domain, mW.
        p_total_out: (N,) out: mean total power, mW.
        counts_out: (N, 3) out: frames requested, presented, janky (presented after their expected vsync).
        extra_out: (N, 3) out: requests dropped (coalesced by Choreographer while the UI thread was busy), frames
            in flight at the end of the step, other work shed at the backlog bound (Mc, :data:`OTHER_BACKLOG_S`).
        late_out: (N, 4) out: janky frames attributed to their slower part (CPU: the UI thread's domain; GPU).
        throttled_out: (N,) out: a rule was active during the step.
        cap_out: (N, 4) out: OPP caps for the next step.
    """
    n = req_idx.shape[0]
    n_rules = rule_trip.shape[1]
    # per-domain scratch of the current environment, reused (indexed in place: views would cost NRT refcounting)
    sc = np.empty((N_SCRATCH, 4))
    inv_tick = 1.0 / tick_s
    inf = np.inf
    for i in range(n):
        ahead = i + PREFETCH_AHEAD
        if ahead < n:
            for kt in range(n_ticks):
                _prefetch_row(demand, pos[ahead] + kt)  # type: ignore[call-arg]  # numba passes typingctx
        tr = opp_row[i]
        # OPPs
        for dd in range(4):
            k = req_idx[i, dd]
            if k > cap_idx[i, dd]:
                k = cap_idx[i, dd]
            if k < 0:
                k = 0
            idx_out[i, dd] = k
            f = freq[tr, dd, k]
            f_out[i, dd] = f
            sc[S_SPEED, dd] = f * ipc[i, dd]
            sc[S_CAP, dd] = sc[S_SPEED, dd] * cores[i, dd] * tick_s
            sc[S_F_RATIO, dd] = f / fmax[i, dd]
            sc[S_QMAX, dd] = OTHER_BACKLOG_S * fmax[i, dd] * ipc[i, dd] * cores[i, dd]
            sc[S_INV_CAP, dd] = 1.0 / sc[S_CAP, dd]
            sc[S_INV_CCAP, dd] = cores[i, dd] / sc[S_CAP, dd]
            sc[S_QQ, dd] = q[i, dd]
            sc[S_BUSY_SUM, dd] = 0.0
            sc[S_CRIT_SUM, dd] = 0.0
            sc[S_BEFF_SUM, dd] = 0.0
            sc[S_DEEP_SUM, dd] = 0.0
            sc[S_ON_SUM, dd] = 0.0
            sc[S_RES, dd] = idle_par[tr, dd, 0]
            if sc[S_RES, dd] < inf:  # only CPU domains have deep idle states
                sc[S_RUN, dd] = pipe[i, P_IDLE_RUN + dd]
                sc[S_CL_RUN, dd] = pipe[i, P_CL_RUN + dd]
            sc[S_XF, dd] = idle_par[tr, dd, 1] * inv_tick
            sc[S_CL_RES, dd] = idle_par[tr, dd, 2]
            ok = sc[S_CAP, dd] > 0.0 and sc[S_INV_CAP, dd] < inf and sc[S_INV_CCAP, dd] < inf
            sc[S_ZERO_OK, dd] = 1.0 if ok and sc[S_F_RATIO, dd] < inf and sc[S_QMAX, dd] >= 0.0 else 0.0
            late_out[i, dd] = 0.0
        p0 = pos[i]
        req = 0.0
        pres = 0.0
        jank = 0.0
        dropped = 0.0
        shed = 0.0
        fps_i = fps[i]
        refresh_i = refresh[i]
        per = 1.0 / refresh_i
        g_sp = sc[S_SPEED, 3]  # the GPU runs frames only: its speed is fixed over the step
        inv_g = 1.0 / g_sp
        max_buf = depth[i] - 1
        # pipeline scalars
        next_vs = pipe[i, P_NEXT_VS]
        next_idx = pipe[i, P_NEXT_IDX]
        pend = pipe[i, P_PEND]
        unarmed = pipe[i, P_UNARMED]
        ui_rem = pipe[i, P_UI_REM]
        rt_rem = pipe[i, P_RT_REM]
        g_rem = pipe[i, P_GPU_REM]
        head = int(pipe[i, P_HEAD])
        nfl = int(pipe[i, P_N])
        n4 = int(pipe[i, P_N4])
        n3 = int(pipe[i, P_N3])
        n2 = int(pipe[i, P_N2])
        n1 = int(pipe[i, P_N1])
        n0 = int(pipe[i, P_N0])
        clk = pipe[i, P_CLK]
        last_vs = pipe[i, P_LAST_VS]
        next_app = pipe[i, P_NEXT_APP]
        app_idx = pipe[i, P_APP_IDX]
        unstuffed = pipe[i, P_UNSTUFFED]
        c_i = due_c[i]
        for kt in range(n_ticks):
            t = p0 + kt
            ud = int(demand[t, C_UI_DOM])
            rd = int(demand[t, C_RT_DOM])
            ui_ex = 0.0
            rt_ex = 0.0
            g_ex = 0.0
            nf = demand[t, C_FRAMES]
            if nf > 0.0:
                req += nf
                unarmed += nf
                if unarmed > MAX_UNARMED:
                    dropped += unarmed - MAX_UNARMED
                    unarmed = MAX_UNARMED
            idle = nfl == 0 and pend == 0.0 and unarmed == 0.0
            if idle:  # nothing to start, run or present: only the vsync clocks advance
                while next_vs <= tick_s:
                    last_vs = next_idx
                    next_idx += 1.0
                    next_vs += per
                while next_app <= tick_s:
                    app_idx += 1.0
                    next_app += per
            ui_sp = rt_sp = inv_ui = inv_rt = 1.0
            if not idle:
                # frame threads share their core with other runnable threads (mean load per core incl. backlog)
                rho_u = (sc[S_QQ, ud] + demand[t, C_OTHER + ud]) * sc[S_INV_CAP, ud]
                rho_r = (sc[S_QQ, rd] + demand[t, C_OTHER + rd]) * sc[S_INV_CAP, rd]
                ui_sp = sc[S_SPEED, ud] * (1.0 - SHARED_CORE_SHARE * (rho_u if rho_u < 1.0 else 1.0))
                rt_sp = sc[S_SPEED, rd] * (1.0 - SHARED_CORE_SHARE * (rho_r if rho_r < 1.0 else 1.0))
                inv_ui = 1.0 / ui_sp
                inv_rt = 1.0 / rt_sp
            now = tick_s if idle else 0.0
            for _it in range(0 if idle else 64):
                t_ui = now + ui_rem * inv_ui if n0 > 0 else inf
                t_rt = now + rt_rem * inv_rt if n2 > 0 else inf
                t_g = now + g_rem * inv_g if n3 > 0 else inf
                # Events are only the instants something observes; the others are applied when the time comes.
                # The UI thread's completion is observed when the RenderThread could take the frame at once (else
                # by the RenderThread's completion or the latch that frees a buffer); the GPU's completion when
                # another frame waits for the GPU (else by the next latch); a latch only with a buffer queued or on
                # the GPU; an app vsync only with a request waiting. Latches and app vsyncs before the next event
                # that have nothing to do just advance the clocks.
                # the earliest of the observed completions and the tick end, as a tree of exact minima (shorter
                # dependency chain than a chain of compares)
                c_ui = t_ui if n2 == 0 and n4 + n3 < max_buf else inf
                c_g = t_g if n3 > 1 else inf
                m1 = c_ui if c_ui < tick_s else tick_s
                m2 = c_g if c_g < t_rt else t_rt
                nxt = m2 if m2 < m1 else m1
                if n4 == 0:
                    lim = t_g if t_g < nxt else nxt
                    while next_vs < lim:
                        last_vs = next_idx
                        next_idx += 1.0
                        next_vs += per
                if n4 + n3 > 0 and next_vs < nxt:
                    nxt = next_vs
                if unarmed > 0.0 and next_app < nxt:
                    nxt = next_app
                if unarmed == 0.0:
                    while next_app < nxt:
                        app_idx += 1.0
                        next_app += per
                span = nxt - now
                if n0 > 0:
                    w = span * ui_sp
                    if t_ui <= nxt:
                        w = ui_rem
                    ui_rem -= w
                    ui_ex += w
                if n2 > 0:
                    w = span * rt_sp
                    if t_rt <= nxt:
                        w = rt_rem
                    rt_rem -= w
                    rt_ex += w
                if n3 > 0:
                    w = span * g_sp
                    if t_g <= nxt:
                        w = g_rem
                    g_rem -= w
                    g_ex += w
                now = nxt
                if n0 > 0 and t_ui <= nxt:  # UI thread done: blocks until the RenderThread syncs the frame
                    ui_rem = 0.0
                    n0 = 0
                    n1 = 1
                if n2 > 0 and t_rt <= nxt:  # RenderThread done: the frame is submitted to the GPU
                    rt_rem = 0.0
                    n2 = 0
                    slot = P_RING + ((head + n4 + n3) & RING_MASK) * RF
                    pipe[i, slot + F_T_CPU] = clk + now
                    if n3 == 0:
                        g_rem = pipe[i, slot + F_GPU]
                    n3 += 1
                if n3 > 0 and t_g <= nxt:  # GPU done: the buffer is queued for presentation
                    g_rem = 0.0
                    # HWUI JankTracker::finishFrame: a frame that starts before the vsync it would start at in an
                    # unstuffed pipeline is triple-buffered; its deadline moves to that vsync plus its own deadline
                    # duration (a queued buffer covers one late frame), and the stuffed state carries over to the
                    # next frame while frames keep their deadlines. A frame whose GPU work completes after its
                    # deadline (here: after its due latch has passed) is janky; the next unstuffed start is then the
                    # first app vsync after its completion. HWUI advances the stuffed start by its frame interval; a
                    # frame paced at k vsyncs (30 fps on 90 Hz, k = due - start - c + 1) advances it by k.
                    slot = P_RING + ((head + n4) & RING_MASK) * RF
                    v0 = pipe[i, slot + F_V]
                    dl = pipe[i, slot + F_DUE]
                    stuffed = unstuffed > v0 + 0.5
                    if stuffed:
                        unstuffed_due = unstuffed + dl - v0
                        k_pace = dl - v0 - c_i + 1.0
                        dl = unstuffed_due
                    if last_vs < dl - 0.5:
                        if stuffed:
                            unstuffed += k_pace
                    else:
                        jank += 1.0
                        unstuffed = app_idx + 1.0
                        t_cpu = pipe[i, slot + F_T_CPU] - pipe[i, slot + F_T_START]
                        t_gpu = clk + now - pipe[i, slot + F_T_CPU]
                        late_out[i, 3 if t_gpu > t_cpu else int(pipe[i, slot + F_DOM])] += 1.0
                    n3 -= 1
                    n4 += 1
                    if n3 > 0:
                        g_rem = pipe[i, P_RING + ((head + n4) & RING_MASK) * RF + F_GPU]
                if next_vs <= nxt:  # SurfaceFlinger latch: present the oldest queued buffer once it is due
                    last_vs = next_idx
                    next_idx += 1.0
                    next_vs += per
                    if n4 > 0:
                        slot = P_RING + head * RF
                        due = pipe[i, slot + F_DUE]
                        if last_vs >= due - 0.5:
                            pres += 1.0
                            head = (head + 1) & RING_MASK
                            n4 -= 1
                            nfl -= 1
                if next_app <= nxt:  # app vsync: arms one waiting request
                    app_idx += 1.0
                    next_app += per
                    if unarmed >= 1.0:
                        pend += 1.0
                        unarmed -= 1.0
                # RenderThread takes the UI thread's frame when a buffer can be dequeued (this frees the UI thread)
                if n2 == 0 and n1 > 0 and n4 + n3 < max_buf:
                    n1 = 0
                    n2 = 1
                    rt_rem = pipe[i, P_RING + ((head + n4 + n3) & RING_MASK) * RF + F_RT]
                # Choreographer: a free UI thread starts one frame for all armed requests
                if n0 == 0 and n1 == 0 and pend > 0.0 and nfl < MAX_FRAMES:
                    dropped += pend - 1.0
                    pend = 0.0
                    ff = demand[t, C_FPS]
                    if ff <= 0.0:
                        ff = fps_i
                    kk = np.floor(refresh_i / ff + 1e-6)
                    if kk < 1.0:
                        kk = 1.0
                    slot = P_RING + ((head + nfl) & RING_MASK) * RF
                    pipe[i, slot + F_RT] = demand[t, C_RT_PF]
                    pipe[i, slot + F_GPU] = demand[t, C_GPU_PF]
                    pipe[i, slot + F_DUE] = app_idx + c_i + kk - 1.0
                    pipe[i, slot + F_V] = app_idx
                    pipe[i, slot + F_T_START] = clk + now
                    pipe[i, slot + F_DOM] = ud
                    ui_rem = demand[t, C_UI_PF]
                    n0 = 1
                    nfl += 1
                    continue
                if now >= tick_s:
                    break
            next_vs -= tick_s
            next_app -= tick_s
            clk += tick_s
            # domains: frame work first, other work queues behind it (Lindley recursion on the remaining capacity)
            for dd in range(4):
                sc[S_FEXEC, dd] = 0.0
                sc[S_FMAX_THR, dd] = 0.0
            sc[S_FEXEC, ud] += ui_ex
            sc[S_FEXEC, rd] += rt_ex
            sc[S_FEXEC, 3] += g_ex
            sc[S_FMAX_THR, ud] = ui_ex
            if rt_ex > sc[S_FMAX_THR, rd]:
                sc[S_FMAX_THR, rd] = rt_ex
            sc[S_FMAX_THR, 3] = g_ex
            for dd in range(4):
                qp = sc[S_QQ, dd]
                w = demand[t, C_OTHER + dd]
                if sc[S_FEXEC, dd] == 0.0 and w == 0.0 and qp == 0.0 and sc[S_ZERO_OK, dd] > 0.0:
                    # no work and no backlog (about 40 % of domain-ticks): exactly what the general path below
                    # computes for zero work (busy = 0: the sums gain +0, the idle intervals grow by one tick)
                    sc[S_QQ, dd] = 0.0
                    if sc[S_RES, dd] < inf:
                        run = sc[S_RUN, dd] + tick_s
                        cl_run = sc[S_CL_RUN, dd] + tick_s
                        sc[S_RUN, dd] = run
                        sc[S_CL_RUN, dd] = cl_run
                        deep = 1.0 if run >= sc[S_RES, dd] else 0.0
                        sc[S_DEEP_SUM, dd] += deep
                        sc[S_ON_SUM, dd] += 1.0 - (deep if cl_run >= sc[S_CL_RES, dd] else 0.0)
                    util[i, dd] = alpha * util[i, dd]
                    continue
                c = sc[S_CAP, dd]
                rest = c - sc[S_FEXEC, dd]
                if rest < 0.0:
                    rest = 0.0
                qn = qp + w - rest
                if qn < 0.0:
                    qn = 0.0
                oex = qp + w - qn
                if qn > sc[S_QMAX, dd]:
                    shed += qn - sc[S_QMAX, dd]
                    qn = sc[S_QMAX, dd]
                sc[S_QQ, dd] = qn
                bb = (sc[S_FEXEC, dd] + oex) * sc[S_INV_CAP, dd]
                if bb > 1.0:
                    bb = 1.0
                cr = (sc[S_FMAX_THR, dd] + oex * demand[t, C_SHARE + dd]) * sc[S_INV_CCAP, dd]
                if cr > 1.0:
                    cr = 1.0
                if dd == 3:
                    cr = bb
                sc[S_BUSY_SUM, dd] += bb
                sc[S_CRIT_SUM, dd] += cr
                # idle states (docs/simulator.md 6.1): busy time runs as one burst per tick, so an idle interval
                # is the tail after the burst, extended by every idle tick that follows it (branch-free selects)
                if sc[S_RES, dd] < inf:
                    run = sc[S_RUN, dd] * (bb <= 0.0) + (1.0 - bb) * tick_s
                    cl_run = sc[S_CL_RUN, dd] * (cr <= 0.0) + (1.0 - cr) * tick_s
                    sc[S_RUN, dd] = run
                    sc[S_CL_RUN, dd] = cl_run
                    deep = 1.0 if run >= sc[S_RES, dd] else 0.0  # long enough for core power-down
                    be = min(bb + deep * (bb > 0.0) * sc[S_XF, dd], 1.0)
                    sc[S_BEFF_SUM, dd] += be
                    sc[S_DEEP_SUM, dd] += deep * (1.0 - be)
                    # every core down long enough (cl_run <= run, and the cluster residency >= the core's): cluster down
                    off = deep if cl_run >= sc[S_CL_RES, dd] else 0.0
                    sc[S_ON_SUM, dd] += 1.0 - off * (1.0 - min(cr + (cr > 0.0) * sc[S_XF, dd], 1.0))
                util[i, dd] = alpha * util[i, dd] + (1.0 - alpha) * cr * sc[S_F_RATIO, dd]
        for dd in range(4):
            q[i, dd] = sc[S_QQ, dd]
            if sc[S_RES, dd] < inf:
                pipe[i, P_IDLE_RUN + dd] = sc[S_RUN, dd]
                pipe[i, P_CL_RUN + dd] = sc[S_CL_RUN, dd]
        pipe[i, P_NEXT_VS] = next_vs
        pipe[i, P_NEXT_IDX] = next_idx
        pipe[i, P_PEND] = pend
        pipe[i, P_UNARMED] = unarmed
        pipe[i, P_UI_REM] = ui_rem
        pipe[i, P_RT_REM] = rt_rem
        pipe[i, P_GPU_REM] = g_rem
        pipe[i, P_HEAD] = head
        pipe[i, P_N] = nfl
        pipe[i, P_N4] = n4
        pipe[i, P_N3] = n3
        pipe[i, P_N2] = n2
        pipe[i, P_N1] = n1
        pipe[i, P_N0] = n0
        pipe[i, P_CLK] = clk
        pipe[i, P_LAST_VS] = last_vs
        pipe[i, P_NEXT_APP] = next_app
        pipe[i, P_APP_IDX] = app_idx
        pipe[i, P_UNSTUFFED] = unstuffed
        counts_out[i, 0] = req
        counts_out[i, 1] = pres
        counts_out[i, 2] = jank
        extra_out[i, 0] = dropped
        extra_out[i, 1] = nfl
        extra_out[i, 2] = shed
        # power
        p_soc = 0.0
        for dd in range(4):
            busy_out[i, dd] = sc[S_BUSY_SUM, dd] / n_ticks
            crit_out[i, dd] = sc[S_CRIT_SUM, dd] / n_ticks
            if sc[S_RES, dd] < inf:
                b = sc[S_BEFF_SUM, dd] / n_ticks
                de = sc[S_DEEP_SUM, dd] / n_ticks
                on = sc[S_ON_SUM, dd] / n_ticks
            else:
                b = busy_out[i, dd]
                de = 0.0
                on = 1.0
            k = idx_out[i, dd]
            p = (
                cores[i, dd] * (p_active[tr, dd, k] * b + p_idle[tr, dd, k] * (1.0 - b - de) + idle_par[tr, dd, 3] * de)
                + p_static[tr, dd, k] * on
            ) * mask[i, dd]
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
