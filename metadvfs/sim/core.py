"""The batched simulator core: N phones advanced together (state, and the calls into the numba kernel).

One call of :meth:`SimCore.step` advances every environment by ``n_ticks`` internal ticks (default tick
10 ms) at fixed OPPs, through :func:`metadvfs.sim.kernel.fused_step` (docs/simulator.md sections 5-7):

1. **Frame pipeline.** Per app a BufferQueue of :data:`BUFFER_DEPTH` buffers; UI thread, RenderThread and GPU as
   pipelined stages whose work progresses tick by tick at the OPP in effect; frames start on app vsyncs
   (Choreographer coalesces requests while the UI thread is busy), are presented on the display's latch grid
   and are janky when presented after their expected present vsync (:data:`APP_DURATION_S` after the start).
2. **Other work.** Worker and background work queue per domain behind the frame work (Lindley recursion),
   bounded by ``kernel.OTHER_BACKLOG_S``.
3. **Utilisation as the kernel sees it.** Busy fraction of the busiest CPU, made frequency-invariant
   (``busy * f / fmax``) and averaged by a PELT-like EWMA with a 32 ms half-life. GPU utilisation is the busy
   fraction (devfreq ``busy_time / total_time``).
4. **Power.** Per domain ``cores * (P_active(f) * busy + P_idle(f) * (1 - busy)) + P_static(f)``, every term
   taken at the applied OPP; plus the rest-of-phone base power.
5. **Temperature.** Two-node RC model (die, skin), exact zero-order-hold discretisation.
6. **Throttling.** The device's throttle rules (skin or die trip/clear with hysteresis) cap OPP indices from
   the next step on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metadvfs.sim.demand import CompiledDemand, DemandPool
from metadvfs.sim.device_arrays import DeviceArrays, thermal_step_matrices
from metadvfs.sim.kernel import (
    F_DUE,
    F_GPU,
    F_V,
    MAX_FRAMES,
    P_GPU_REM,
    P_HEAD,
    P_LAST_VS,
    P_N,
    P_N0,
    P_N1,
    P_N2,
    P_N3,
    P_N4,
    P_RING,
    P_RT_REM,
    P_UI_REM,
    P_UNSTUFFED,
    RF,
    app_phase,
    init_pipe,
    opp_tables,
)
from metadvfs.sim.threads import default_threads, run_kernel

PELT_HALF_LIFE_S = 0.032
"""PELT utilisation half-life, s (Linux ``LOAD_AVG_PERIOD`` = 32 ms)."""

APP_DURATION_S = 0.0166
"""Time SurfaceFlinger gives an app from its vsync to the latch that presents its frame, s: Pixel
``debug.sf.late.app.duration=16600000`` with ``debug.sf.use_phase_offsets_as_durations=1``
(LineageOS/android_device_google_gs101@001cf7c36e5d63a2d395ee58e8092501ca31ce5f:device.mk). A frame (UI thread,
RenderThread and GPU) done later than this misses its expected present vsync."""

BUFFER_DEPTH = 3
"""Buffers per app BufferQueue: triple buffering, the platform default since Android 4.1 (AOSP
``frameworks/native`` BufferQueue; HWUI renders into a 3-buffer swap chain). One buffer is on screen, so at most two
frames are in the RenderThread, on the GPU or queued."""


@dataclass
class StepOut:
    """What one step produced, per environment (leading axis N).

    Attributes:
        idx: (N, 4) OPP indices actually applied (after thermal caps).
        freq_mhz: (N, 4) applied frequencies, MHz.
        util: (N, 4) kernel utilisation at the end of the step: PELT (frequency-invariant, 0..1) for CPU
            domains, busy fraction for the GPU.
        busy: (N, 4) mean busy fraction of the whole domain over the step (all cores).
        busy_cpu: (N, 4) mean busy fraction of the busiest CPU of each domain (non-invariant; the "load"
            of ondemand/conservative); the GPU column equals ``busy``.
        power_mw: (N, 4) mean power per domain, mW.
        power_total_mw: (N,) mean total power including base power, mW.
        energy_mj: (N,) energy over the step, mJ.
        frames_req: (N,) frames requested.
        frames_presented: (N,) presented frames (a frame needing ``s`` periods counts ``1/s``).
        frames_janky: (N,) frames that missed their deadline.
        temp_c: (N, 2) (die, skin) temperature at the end of the step, degC.
        throttled: (N,) True where a throttle rule was active during the step.
        backlog_mc: (N, 4) unfinished other (non-frame) work at the end of the step, reference Mc.
        late_dom: (N, 4) janky frames attributed to their slower part: the UI thread's domain for the CPU part,
            the GPU for the GPU part (only with ``detail=True``).
        frames_dropped: (N,) requests coalesced by Choreographer while the UI thread was busy (never rendered).
        frames_in_flight: (N,) frames in the pipeline at the end of the step (UI thread to BufferQueue; at most
            the buffer depth).
        work_shed_mc: (N,) other work shed at the backlog bound (reference Mc; see ``kernel.OTHER_BACKLOG_S``).
    """

    idx: np.ndarray
    freq_mhz: np.ndarray
    util: np.ndarray
    busy: np.ndarray
    busy_cpu: np.ndarray
    power_mw: np.ndarray
    power_total_mw: np.ndarray
    energy_mj: np.ndarray
    frames_req: np.ndarray
    frames_presented: np.ndarray
    frames_janky: np.ndarray
    temp_c: np.ndarray
    throttled: np.ndarray
    backlog_mc: np.ndarray
    late_dom: np.ndarray | None = None
    frames_dropped: np.ndarray | None = None
    frames_in_flight: np.ndarray | None = None
    work_shed_mc: np.ndarray | None = None


class SimCore:
    """State and physics of N simulated phones.

    Args:
        dev: Compiled device arrays (one row per environment).
        target_fps: (N,) frame-rate target of each environment's app, frames/s.
        buffer_ticks: Length of each environment's demand buffer (ticks of one episode).
        tick_s: Internal tick, s (<= 0.01 by default).
    """

    def __init__(self, dev: DeviceArrays, target_fps: np.ndarray, buffer_ticks: int, tick_s: float = 0.01):
        self.dev = dev
        self.n = dev.n
        self.tick_s = float(tick_s)
        self.target_fps = np.asarray(target_fps, dtype=float).reshape(self.n)
        self.buffer_ticks = int(buffer_ticks)
        self.pool = DemandPool()
        self.base = np.zeros(self.n, dtype=np.int64)
        self.pos = np.zeros(self.n, dtype=np.int64)
        self.idx = np.zeros((self.n, 4), dtype=np.int64)
        self.q = np.zeros((self.n, 4))
        self.util = np.zeros((self.n, 4))
        self.temp = np.zeros((self.n, 2))
        self.active = np.zeros(dev.rule_trip.shape, dtype=bool)
        self.app_duration_s = np.full(self.n, APP_DURATION_S)
        self._phase, self._due_c = app_phase(dev.refresh_hz, self.app_duration_s)
        self.pipe = init_pipe(self.n, self._phase)
        self.depth = np.full(self.n, BUFFER_DEPTH, dtype=np.int64)
        self.cap = dev.n_opp - 1
        self._alpha = 0.5 ** (self.tick_s / PELT_HALF_LIFE_S)
        self._mats: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._top = dev.n_opp - 1
        self._ss: np.ndarray | None = None
        # OPP tables shared by the environments of the same phone (read here once: the tables are not mutated)
        self._opp_row, self._opp = opp_tables(dev.freq_mhz, dev.p_active_mw, dev.idle_mw, dev.static_mw, dev.idle_par)
        self.threads = default_threads()
        """Kernel threads of :meth:`step`, :meth:`evaluate` and :meth:`rollout` (:mod:`metadvfs.sim.threads`;
        bit-identical results for every count)."""

    # ------------------------------------------------------------------ demand
    def window(self, name: str) -> np.ndarray:
        """Each environment's episode demand ``name`` (a :class:`CompiledDemand` field) as an (N, L, ...) copy."""
        ticks = self.base[:, None] + np.arange(self.buffer_ticks)[None, :]
        out = self.pool.column(name)[ticks]
        return out.astype(np.int8) if name in ("ui_dom", "rt_dom") else out

    # (N, L, ...) copies of the episode demand, for inspection; the simulator reads the shared pool directly
    other = property(lambda self: self.window("other"))
    other_share = property(lambda self: self.window("other_share"))
    frames = property(lambda self: self.window("frames"))
    ui_pf = property(lambda self: self.window("ui_pf"))
    gpu_pf = property(lambda self: self.window("gpu_pf"))
    ui_dom = property(lambda self: self.window("ui_dom"))
    rt_pf = property(lambda self: self.window("rt_pf"))
    rt_dom = property(lambda self: self.window("rt_dom"))

    # ------------------------------------------------------------------ state
    def idle_temperature(self, rows: np.ndarray) -> np.ndarray:
        """Steady-state (die, skin) temperature with only the base power on, degC, for ``rows``."""
        if self._ss is None:
            _, _, self._ss = thermal_step_matrices(self.dev.thermal, 1.0)
        u = np.stack([np.zeros(len(rows)), self.dev.base_mw[rows] / 1000.0, self.dev.ambient_c[rows]], 1)
        return np.einsum("nij,nj->ni", self._ss[rows], u)

    def load_row(self, i: int, demand: CompiledDemand, offset: int, init_idx: np.ndarray) -> None:
        """Start a new episode in environment ``i`` from ``demand[0, offset:offset + buffer_ticks]``.

        Args:
            i: Environment index.
            demand: Compiled demand (first batch row is used) at least ``offset + buffer_ticks`` long.
            offset: First tick of the window.
            init_idx: (4,) initial OPP indices.
        """
        if demand.frames.shape[1] < offset + self.buffer_ticks:
            raise ValueError("demand window shorter than the episode buffer")
        start, _ = self.pool.add(("demand", id(demand)), demand, keep=demand)
        self.start_row(i, start + offset, init_idx)

    def start_row(self, i: int, first_tick: int, init_idx: np.ndarray) -> None:
        """Start a new episode in environment ``i`` at absolute tick ``first_tick`` of :attr:`pool`.

        Args:
            i: Environment index.
            first_tick: First pool tick of the episode (the window must lie inside one pool block).
            init_idx: (4,) initial OPP indices.
        """
        self.base[i] = first_tick
        self.pos[i] = 0
        self.idx[i] = np.minimum(init_idx, self._top[i])
        self.q[i] = 0.0
        self.util[i] = 0.0
        self.active[i] = False
        self.pipe[i] = init_pipe(1, self._phase[i])[0]

    def finish_loading(self, rows: np.ndarray) -> None:
        """Set idle temperatures of freshly loaded ``rows`` and refresh the thermal caps."""
        self.temp[rows] = self.idle_temperature(rows)
        self.cap = self._caps()

    def _caps(self) -> np.ndarray:
        big = self._top[:, None, :]
        return np.where(self.active[:, :, None], self.dev.rule_cap, big).min(axis=1)

    def _matrices(self, n_ticks: int) -> tuple[np.ndarray, np.ndarray]:
        m = self._mats.get(n_ticks)
        if m is None:
            phi, gam, _ = thermal_step_matrices(self.dev.thermal, n_ticks * self.tick_s)
            m = (phi, gam)
            self._mats[n_ticks] = m
        return m

    # ------------------------------------------------------------------ physics
    def clamp(self, req_idx: np.ndarray) -> np.ndarray:
        """Clip requested OPP indices to the tables and the active thermal caps."""
        return np.maximum(np.minimum(req_idx, self.cap), 0)

    def step(self, req_idx: np.ndarray, n_ticks: int, detail: bool = False) -> StepOut:
        """Advance every environment ``n_ticks`` ticks at the requested OPPs and commit the new state.

        Args:
            req_idx: (N, 4) requested OPP index per domain (clipped to the table and thermal caps).
            n_ticks: Ticks to advance (>= 1).
            detail: Also return per-domain late-frame counts.

        Returns:
            The step's outputs (fresh arrays; the simulator's state arrays are updated in place).
        """
        out = self._run(
            req_idx, n_ticks, detail, self.q, self.util, self.temp, self.active, commit=True, pipe=self.pipe
        )
        self.pos += n_ticks
        return out

    def evaluate(
        self, req_idx: np.ndarray, n_ticks: int, detail: bool = False
    ) -> tuple[StepOut, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Compute a step without committing it (to try candidate OPPs).

        Args:
            req_idx: (N, 4) requested OPP indices.
            n_ticks: Ticks to advance.
            detail: Also return per-domain late-frame counts.

        Returns:
            The outputs and the would-be state ``(backlog, util, temperature, active rules, pipeline)``.
        """
        q, util, temp, active = self.q.copy(), self.util.copy(), self.temp.copy(), self.active.copy()
        pipe = self.pipe.copy()
        out = self._run(req_idx, n_ticks, detail, q, util, temp, active, commit=False, pipe=pipe)
        return out, (q, util, temp, active, pipe)

    def _run(
        self,
        req_idx: np.ndarray,
        n_ticks: int,
        detail: bool,
        q: np.ndarray,
        util: np.ndarray,
        temp: np.ndarray,
        active: np.ndarray,
        commit: bool,
        pipe: np.ndarray,
    ) -> StepOut:
        d = self.dev
        n = self.n
        if int(self.pos.max()) + n_ticks > self.buffer_ticks:
            raise RuntimeError("simulator stepped past the end of its episode buffer")
        phi, gam = self._matrices(n_ticks)
        pool = self.pool
        req = np.asarray(req_idx)
        if req.dtype != np.int64 or req.shape != (n, 4):
            req = np.broadcast_to(req, (n, 4)).astype(np.int64)
        idx = np.empty((n, 4), dtype=np.int64)
        f = np.empty((n, 4))
        busy = np.empty((n, 4))
        crit = np.empty((n, 4))
        p_dom = np.empty((n, 4))
        p_total = np.empty(n)
        counts = np.empty((n, 3))
        extra = np.empty((n, 3))
        late = np.empty((n, 4))
        throttled = np.empty(n, dtype=np.bool_)
        cap_next = np.empty((n, 4), dtype=np.int64)
        run_kernel((
            req, self.cap, *self._opp, self._opp_row, d.ipc, d.cores, d.mask, d.fmax_mhz,
            d.n_opp, d.base_mw, d.ambient_c, pool.data, self.base + self.pos, n_ticks, self.tick_s, self._alpha,
            self.target_fps, d.refresh_hz, self._due_c, self.depth, phi, gam, d.rule_sensor, d.rule_trip, d.rule_clear,
            d.rule_cap, q, util, temp, active, pipe, idx, f, busy, crit, p_dom, p_total, counts, extra, late,
            throttled, cap_next,
        ), self.threads)  # fmt: skip
        if commit:
            self.cap = cap_next
            self.idx = idx
        return StepOut(
            idx=idx,
            freq_mhz=f,
            util=util.copy(),
            busy=busy,
            busy_cpu=crit,
            power_mw=p_dom,
            power_total_mw=p_total,
            energy_mj=p_total * (n_ticks * self.tick_s),
            frames_req=counts[:, 0],
            frames_presented=counts[:, 1],
            frames_janky=counts[:, 2],
            temp_c=temp.copy(),
            throttled=throttled,
            backlog_mc=q.copy(),
            late_dom=late if detail else None,
            frames_dropped=extra[:, 0],
            frames_in_flight=extra[:, 1],
            work_shed_mc=extra[:, 2],
        )

    def rollout(
        self, rows: np.ndarray, req_block: np.ndarray, n_block: int, n_look: int, work_left: bool = False
    ) -> tuple[np.ndarray, ...]:
        """Try OPP choices from the current state without committing anything (for clairvoyant planning).

        Each candidate ``j`` copies the state of environment ``rows[j]``, runs ``n_block`` ticks at ``req_block[j]``
        and then ``n_look`` ticks at the top allowed OPPs, through the same kernel as :meth:`step`.

        Args:
            rows: (M,) environment of each candidate.
            req_block: (M, 4) requested OPP indices during the block.
            n_block: Ticks of the block (>= 1).
            n_look: Ticks of the look-ahead at the top OPPs (>= 0).
            work_left: Also return the frame work still to do at the end (see Returns).

        Returns:
            ``(energy_mj, presented, janky, dropped)``, each (M,), summed over block and look-ahead; ``janky`` also
            counts the frames still in flight at the end that are already past their jank deadline. Then the energy
            of the block alone (M,), mJ, the other-work backlog at the end of the block (M, 4), Mc, and the frames
            in flight at the end (M,). With ``work_left``, an eighth array (M, 2): the RenderThread work (Mc) and
            the GPU work (GPU-Mc) of the frames in flight at the end that is not done yet (UI + RenderThread stages;
            the GPU's running frame and its queue).
        """
        d = self.dev
        rows = np.asarray(rows, dtype=np.int64)
        m = len(rows)
        q, util, temp = self.q[rows].copy(), self.util[rows].copy(), self.temp[rows].copy()
        active, pipe = self.active[rows].copy(), self.pipe[rows].copy()
        cap = self.cap[rows].copy()
        pos = self.base[rows] + self.pos[rows]
        energy = np.zeros(m)
        counts_sum = np.zeros((m, 4))
        dev_args = (
            *self._opp, self._opp_row[rows], d.ipc[rows], d.cores[rows],
            d.mask[rows], d.fmax_mhz[rows], d.n_opp[rows], d.base_mw[rows], d.ambient_c[rows],
        )  # fmt: skip
        e_block = np.zeros(m)
        q_block = q.copy()
        in_flight = pipe[:, P_N].copy()
        for phase, (req, n_t) in enumerate(
            ((np.asarray(req_block, dtype=np.int64), n_block), (self._top[rows], n_look))
        ):
            if n_t <= 0:
                continue
            phi, gam = self._matrices(n_t)
            out = [np.empty((m, 4), dtype=np.int64), np.empty((m, 4)), np.empty((m, 4)), np.empty((m, 4))]
            p_dom, p_total, counts, extra = np.empty((m, 4)), np.empty(m), np.empty((m, 3)), np.empty((m, 3))
            late, throttled, cap_next = np.empty((m, 4)), np.empty(m, dtype=np.bool_), np.empty((m, 4), np.int64)
            run_kernel((
                np.ascontiguousarray(req), cap, *dev_args, self.pool.data, pos, n_t, self.tick_s, self._alpha,
                self.target_fps[rows], d.refresh_hz[rows], self._due_c[rows], self.depth[rows], phi[rows], gam[rows],
                d.rule_sensor[rows], d.rule_trip[rows], d.rule_clear[rows], d.rule_cap[rows], q, util, temp, active,
                pipe, *out, p_dom, p_total, counts, extra, late, throttled, cap_next,
            ), self.threads)  # fmt: skip
            energy += p_total * (n_t * self.tick_s)
            if phase == 0:
                e_block = p_total * (n_t * self.tick_s)
                q_block = q.copy()
            counts_sum[:, :3] += counts
            counts_sum[:, 3] += extra[:, 0]
            in_flight = extra[:, 1].copy()
            cap = cap_next
            pos = pos + n_t
        # frames whose GPU work has not completed (behind the queued ones) and whose deadline latch has passed;
        # the deadline is the kernel's (HWUI JankTracker) with the current stuffed-pipeline state
        overdue = np.zeros(m)
        nxt = pipe[:, P_LAST_VS] + 1.0
        rows_m = np.arange(m)
        for slot in range(MAX_FRAMES):
            ring = (pipe[:, P_HEAD].astype(np.int64) + slot) % MAX_FRAMES
            base = P_RING + ring * RF
            live = (slot >= pipe[:, P_N4]) & (slot < pipe[:, P_N])
            due, v0 = pipe[rows_m, base + F_DUE], pipe[rows_m, base + F_V]
            unstuffed = pipe[:, P_UNSTUFFED]
            dl = np.where(unstuffed > v0 + 0.5, unstuffed + due - v0, due)
            overdue += live & (dl + 0.5 < nxt)
        res = (energy, counts_sum[:, 1], counts_sum[:, 2] + overdue, counts_sum[:, 3], e_block, q_block, in_flight)
        if not work_left:
            return res
        # UI + RenderThread work left in their stages; GPU work left of the running frame and of the frames queued
        # behind it (the GPU queue is the n3 ring entries after the n4 presented-queue ones)
        left = np.zeros((m, 2))
        left[:, 0] = pipe[:, P_UI_REM] + pipe[:, P_RT_REM]
        n3, n4 = pipe[:, P_N3], pipe[:, P_N4]
        left[:, 1] = np.where(n3 > 0, pipe[:, P_GPU_REM], 0.0)
        for s_ in range(1, MAX_FRAMES):
            ring = (pipe[:, P_HEAD].astype(np.int64) + n4.astype(np.int64) + s_) % MAX_FRAMES
            left[:, 1] += np.where(s_ < n3, pipe[rows_m, P_RING + ring * RF + F_GPU], 0.0)
        return (*res, left)

    def pipeline_counts(self) -> np.ndarray:
        """(N, 5) frames per pipeline stage now.

        Columns: UI thread running, UI done waiting for the RenderThread, RenderThread, GPU (queued or running),
        queued in the BufferQueue for presentation.
        """
        return self.pipe[:, [P_N0, P_N1, P_N2, P_N3, P_N4]].copy()

    def frames_in_flight(self) -> np.ndarray:
        """(N,) frames in the pipeline now."""
        return self.pipe[:, P_N].copy()
