"""``stock``: the governor stack a Pixel actually runs, built from the device profile's ``vendor:`` section.

Per tick (the simulator's 10 ms) and CPU cluster:

1. **schedutil / sched_pixel** with Android's util_est (the rule of :class:`~metadvfs.governors.stock.Schedutil`),
   the device's util margin and its **split rate limits**: a raise is allowed when at least ``up_rate_limit_us``
   passed since the last change, a cut when ``down_rate_limit_us`` passed. The governor runs once per tick, so a
   limit below one tick (the 500 us up limit of every Pixel) lets it change at every tick and a 20 ms down limit
   holds a frequency for two ticks; it cannot react within a tick.
2. **Top-app boost** on the clusters that ran top-app threads (the ui thread's cluster when it rendered a frame,
   and the worker cluster): schedtune ``boost`` adds ``boost% * (1 - util)`` (SchedTune's margin on the spare
   capacity, Android 4.x kernels ``kernel/sched/tune.c``); uclamp lifts util to ``uclamp_min / 1024``.
3. **PowerHAL hints** while active: ``INTERACTION`` (touch events of the workload; the Pixel PowerHAL
   InteractionHandler keeps it for ``clamp(offset, min, max)`` after the last touch and drops it once the
   display is idle after ``idle_wait``; the display counts as idle when the app requested no frame for
   :data:`DISPLAY_IDLE_S`), ``LAUNCH`` (while the workload launches the app, at most ``duration_ms``) and
   ``REFRESH`` (Pixel 6: the refresh-rate mode's top-app uclamp, held while the display is active). A hint
   raises the top-app boost to its own schedtune/uclamp values and puts ``scaling_min_freq`` floors under the
   clusters it names (floors bypass the rate limit, as a policy-limit change does in the kernel).
4. **ADPF** (Tensor G3): the UI/RenderThread hint session's uclamp.min on the ui thread's cluster. Every rendered
   tick is a work-duration sample (the frame's ui work at the tick's clock against the frame period times
   ``TargetTimeFactor``); the framework batches samples (``performance_hint.cpp``: an overrun is reported at
   once, samples on target at most once per ``ReportingRateLimitNs`` after the first ``ReportingRateLimitNs``)
   and each report runs the PowerHAL PID (``PowerHintSession.cpp``: P on the last error with the over/under gain,
   D on its change over the target, both in 100 us units) on the session's uclamp, clamped to
   ``[UclampMin_Low, UclampMin_High]``; the vote lasts ``max(StaleTimeFactor * target, 2 * rate)`` after a
   report. Without ``pid`` the initial ``UclampMin_Init`` is held while the app renders.
5. **GPU**: ``msm-adreno-tz`` (closed; :class:`~metadvfs.governors.stock.SimpleOndemand` stands in for its rule)
   at the device's call interval (KGSL: 10 ms), or the Pixel Mali quickstep table governor.

A device without a ``vendor:`` section runs the kernel defaults: one 10 ms rate limit both ways, margin 1.25, no
boosts, the GPU governors at their defaults (``notes`` says which devices fell back).
"""

from __future__ import annotations

import numpy as np

from metadvfs.governors.base import Governor, GovernorContext, resolve_ceil
from metadvfs.governors.stock import MaliQuickstep, SimpleOndemand
from metadvfs.sim.core import StepOut
from metadvfs.workload.input_events import FLAG_LAUNCH, FLAG_TOUCH

DEFAULT_RATE_LIMIT_US = 10_000.0
"""Fallback rate limit both ways, us (the simulator tick; what ``schedutil`` uses)."""
DEFAULT_MARGIN = 1.25
"""Kernel schedutil headroom (``map_util_freq``: ``1.25 * fmax * util``)."""
UCLAMP_SCALE = 1024.0
HINTS = ("INTERACTION", "LAUNCH", "REFRESH")
DISPLAY_IDLE_S = 0.1
"""The display counts as idle once the app requested no frame for this long, s (an assumption: the panel
driver's idle timer, which raises the PowerHAL ``DISPLAY_IDLE`` mode, is not in the public configuration)."""


class VendorStock(Governor):
    """The stock Android governor stack of each environment's device (see the module docstring)."""

    name = "stock"
    domains = (0, 1, 2, 3)

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        dev = ctx.dev
        n = dev.n
        vend = list(ctx.vendor) if ctx.vendor else [None] * n
        self.notes: list[str] = []
        self.up_s = np.full((n, 3), DEFAULT_RATE_LIMIT_US * 1e-6)
        self.down_s = np.full((n, 3), DEFAULT_RATE_LIMIT_US * 1e-6)
        self.margin = np.full(n, DEFAULT_MARGIN)
        self.ta_stune = np.zeros(n)
        self.ta_ucl = np.zeros(n)
        k = len(HINTS)
        self.h_stune = np.zeros((n, k))
        self.h_ucl = np.zeros((n, k))
        self.h_floor = np.full((n, k, 3), -1, dtype=np.int64)
        self.h_dur_s = np.full((n, k), np.inf)
        self.h_has = np.zeros((n, k), dtype=bool)
        self.ih = np.zeros((n, 4))  # min, max, offset, idle_wait (s)
        self.has_ih = np.zeros(n, dtype=bool)
        self.adpf = np.zeros(n)
        self.has_pid = np.zeros(n, dtype=bool)
        self.pid = np.zeros((n, 7))  # p_over, p_under, d_over, d_under, target factor, stale factor, report rate (s)
        self.pid_clip = np.zeros((n, 2))
        gpu_ms = np.full(n, np.nan)
        fallback = []
        for i, v in enumerate(vend):
            if v is None:
                fallback.append(i)
                continue
            for d, dom in enumerate(("little", "mid", "big")):
                r = v.rate_limits.get(dom)
                if r is not None:
                    self.up_s[i, d], self.down_s[i, d] = r.up_us * 1e-6, r.down_us * 1e-6
            if v.util_margin is not None:
                self.margin[i] = v.util_margin
            if v.top_app is not None:
                self.ta_stune[i], self.ta_ucl[i] = v.top_app.schedtune_boost_pct, v.top_app.uclamp_min
            for h, name in enumerate(HINTS):
                b = v.hints.get(name)
                if b is None:
                    continue
                self.h_has[i, h] = True
                self.h_stune[i, h], self.h_ucl[i, h] = b.schedtune_boost_pct, b.uclamp_min
                if b.duration_ms > 0:
                    self.h_dur_s[i, h] = b.duration_ms / 1000.0
                for d, dom in enumerate(("little", "mid", "big")):
                    if dom in b.min_freq_khz:
                        target = np.array([[b.min_freq_khz[dom] / 1000.0] * 4])
                        self.h_floor[i, h, d] = resolve_ceil(dev.freq_mhz[i : i + 1], dev.n_opp[i : i + 1], target)[
                            0, d
                        ]
            if v.interaction_handler is not None:
                ih = v.interaction_handler
                self.ih[i] = (ih.min_ms / 1e3, ih.max_ms / 1e3, ih.offset_ms / 1e3, ih.idle_wait_ms / 1e3)
                self.has_ih[i] = True
            if v.adpf is not None:
                self.adpf[i] = v.adpf.uclamp_min_init
                pid = v.adpf.pid
                if pid is not None:
                    self.has_pid[i] = True
                    self.pid[i] = (
                        pid.p_over,
                        pid.p_under,
                        pid.d_over,
                        pid.d_under,
                        pid.target_time_factor,
                        pid.stale_time_factor,
                        pid.reporting_rate_limit_ms / 1e3,
                    )
                    self.pid_clip[i] = (v.adpf.uclamp_min_low, v.adpf.uclamp_min_high)
            if v.gpu_governor is not None and v.gpu_governor.call_interval_ms is not None:
                gpu_ms[i] = v.gpu_governor.call_interval_ms
        if fallback:
            self.notes.append(
                f"stock: {len(fallback)} of {n} environment(s) have no vendor section in their device profile; "
                "they run the kernel defaults (10 ms rate limit both ways, margin 1.25, no PowerHAL boosts)"
            )
        # the interaction boost lasts clamp(0 + offset, min, max) after a touch (the framework passes duration 0)
        self.ih_final_s = np.clip(self.ih[:, 2], self.ih[:, 0], self.ih[:, 1])
        self.est = np.zeros((n, 3))
        self.since_s = np.full((n, 3), np.inf)
        self.now_s = 0.0
        self.t_touch = np.full(n, -np.inf)
        self.t_frame = np.full(n, -np.inf)
        self.inter_on = np.zeros(n, dtype=bool)
        self.t_launch = np.full(n, -np.inf)
        self.launch_prev = np.zeros(n, dtype=bool)
        self.active = np.zeros((n, k), dtype=bool)
        # ADPF session state: uclamp (pidControlVariable), vote expiry, last sample error, report timestamps
        target0 = self.pid[:, 4] / ctx.core.target_fps
        self.adpf_ucl = self.adpf.copy()
        self.adpf_until = np.where(self.has_pid, self.pid[:, 5] * target0, np.inf)
        self.adpf_prev_err = np.zeros(n)
        self.first_met = np.full(n, np.nan)
        self.last_met = np.full(n, np.nan)
        # GPU: Mali table governor where the device has one, else the Adreno stand-in at its call interval
        self.mali = MaliQuickstep()
        self.mali.reset(ctx)
        self.gpu_rows: list[tuple[SimpleOndemand, np.ndarray]] = []
        for ms in sorted(set(np.where(np.isnan(gpu_ms), 50.0, gpu_ms).tolist())):
            g = SimpleOndemand(polling_ms=ms)
            g.reset(ctx)
            self.gpu_rows.append((g, np.where(np.isnan(gpu_ms), 50.0, gpu_ms) == ms))

    # ------------------------------------------------------------------ hints
    def _update_hints(self, last: StepOut) -> None:
        core = self.ctx.core
        row = core.base + core.pos - 1
        flags = core.pool.column("input")[row].astype(np.int64)
        now = self.now_s
        touch = (flags & FLAG_TOUCH) > 0
        self.t_touch = np.where(touch, now, self.t_touch)
        self.inter_on |= touch
        since = now - self.t_touch
        self.t_frame = np.where(last.frames_req > 0, now, self.t_frame)
        idle = now - self.t_frame >= DISPLAY_IDLE_S - 1e-9
        wait, final = self.ih[:, 3], self.ih_final_s
        # PowerHAL handler: released once the display is idle after idle_wait, or after idle_wait + duration
        release = (since >= wait) & (idle | (since >= wait + final))
        no_handler_end = since >= self.h_dur_s[:, 0]
        self.inter_on &= np.where(self.has_ih, ~release, ~no_handler_end)
        inter = self.inter_on & (since < self.h_dur_s[:, 0]) & self.h_has[:, 0]
        launch = (flags & FLAG_LAUNCH) > 0
        self.t_launch = np.where(launch & ~self.launch_prev, now, self.t_launch)
        self.launch_prev = launch
        launch_on = launch & (now - self.t_launch < self.h_dur_s[:, 1]) & self.h_has[:, 1]
        # the refresh-rate mode's boost holds while the display is active (DISPLAY_IDLE disables the TA boost)
        refresh_on = ~idle & self.h_has[:, 2]
        self.active = np.stack([inter, launch_on, refresh_on], axis=1)

    def _adpf(self, last: StepOut, ui_dom: np.ndarray, rendered: np.ndarray) -> np.ndarray:
        """Update the ADPF sessions with the tick just run; return (N,) the uclamp.min in force (0..1024)."""
        dev = self.ctx.dev
        core = self.ctx.core
        now = self.now_s
        rows = np.arange(dev.n)
        row = core.base + core.pos - 1
        ui_pf = core.pool.column("ui_pf")[row].astype(np.float64)
        rt_pf = core.pool.column("rt_pf")[row].astype(np.float64)
        rt_dom = core.pool.column("rt_dom")[row].astype(np.int64)
        speed = last.freq_mhz[rows, ui_dom] * dev.ipc[rows, ui_dom]  # Mc/s of the UI thread's core
        speed_rt = last.freq_mhz[rows, rt_dom] * dev.ipc[rows, rt_dom]  # Mc/s of the RenderThread's core
        # the session holds the UI thread and the RenderThread; the frame's CPU work runs through both in turn
        actual = ui_pf / np.maximum(speed, 1e-9) + rt_pf / np.maximum(speed_rt, 1e-9)  # s
        # HWUI reports against the frame interval it draws at (the panel's vsync period for display-rate UI)
        fps = core.pool.column("frame_fps")[row].astype(np.float64)
        target = self.pid[:, 4] / np.where(fps > 0, fps, core.target_fps)  # s
        rate = self.pid[:, 6]
        sample = rendered & self.has_pid & (ui_pf > 0)
        over = actual >= target
        # framework batching (APerformanceHintSession::reportActualWorkDuration)
        meet = sample & ~over
        restart = meet & (np.isnan(self.first_met) | np.isnan(self.last_met) | (now - self.last_met > 2 * rate))
        self.first_met = np.where(restart, now, self.first_met)
        self.first_met = np.where(sample & over, np.nan, self.first_met)
        cached = meet & (now - self.first_met > rate) & (now - self.last_met <= rate)
        report = sample & ~cached
        self.last_met = np.where(report & meet, now, self.last_met)
        # PowerHAL PID (PowerHintSession::convertWorkDurationToBoostByPid), errors in 100 us units
        err = np.trunc((actual - target) / 1e-4)
        dt = np.maximum(np.trunc(target / 1e-4), 1.0)
        d = err - self.adpf_prev_err
        p_out = np.trunc(np.where(err > 0, self.pid[:, 0], self.pid[:, 1]) * err)
        d_out = np.trunc(np.where(d > 0, self.pid[:, 2], self.pid[:, 3]) * d / dt)
        nxt = np.clip(self.adpf_ucl + p_out + d_out, self.pid_clip[:, 0], self.pid_clip[:, 1])
        self.adpf_ucl = np.where(report, nxt, self.adpf_ucl)
        vote = np.maximum(self.pid[:, 5] * target, 2 * rate)
        self.adpf_until = np.where(report, now + vote, self.adpf_until)
        self.adpf_prev_err = np.where(sample, err, self.adpf_prev_err)
        return np.where(self.has_pid, np.where(now < self.adpf_until, self.adpf_ucl, 0.0), self.adpf)

    # ------------------------------------------------------------------ decide
    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        dev = self.ctx.dev
        if last is None:
            # the periodic GPU governors start their sampling window now, as they do in a Composite
            self.mali.decide(last, cur_idx)
            for g, _rows in self.gpu_rows:
                g.decide(last, cur_idx)
            return cur_idx
        self.now_s += self.ctx.tick_s
        self.since_s += self.ctx.tick_s
        self._update_hints(last)
        act = self.active
        core = self.ctx.core
        row = core.base + core.pos - 1
        ui_dom = core.pool.column("ui_dom")[row].astype(np.int64)
        rendered = last.frames_req > 0
        n = dev.n
        doms = np.arange(3)[None, :]
        rt_dom = core.pool.column("rt_dom")[row].astype(np.int64)
        frame_dom = ((doms == ui_dom[:, None]) | (doms == rt_dom[:, None])) & rendered[:, None]
        top_app = frame_dom | (doms == dev.worker_dom[:, None])
        stune = np.maximum(self.ta_stune, np.where(act, self.h_stune, 0.0).max(axis=1))
        ucl = np.maximum(self.ta_ucl, np.where(act, self.h_ucl, 0.0).max(axis=1))

        util = last.util[:, :3]
        self.est = np.where(util > self.est, util, self.est + (util - self.est) * 0.25)
        u = np.maximum(util, self.est)
        boosted = u + stune[:, None] / 100.0 * (1.0 - u)
        boosted = np.maximum(boosted, ucl[:, None] / UCLAMP_SCALE)
        u = np.where(top_app, boosted, u)
        adpf_ucl = self._adpf(last, ui_dom, rendered)
        adpf = frame_dom
        u = np.where(adpf, np.maximum(u, adpf_ucl[:, None] / UCLAMP_SCALE), u)

        target = np.zeros((n, 4))
        target[:, :3] = self.margin[:, None] * dev.fmax_mhz[:, :3] * u
        want = resolve_ceil(dev.freq_mhz, dev.n_opp, target)[:, :3]
        cur = cur_idx[:, :3]
        up_ok = self.since_s >= self.up_s - 1e-9
        down_ok = self.since_s >= self.down_s - 1e-9
        new = np.where(want > cur, np.where(up_ok, want, cur), np.where(want < cur, np.where(down_ok, want, cur), cur))
        floor = np.where(act[:, :, None], self.h_floor, -1).max(axis=1)
        new = np.maximum(new, np.minimum(floor, dev.n_opp[:, :3] - 1))
        self.since_s = np.where(new != cur, 0.0, self.since_s)

        out = np.array(cur_idx, copy=True)
        out[:, :3] = new
        mali = self.mali.decide(last, cur_idx)
        gpu = cur_idx[:, 3].copy()
        for g, rows in self.gpu_rows:
            gpu = np.where(rows, g.decide(last, cur_idx)[:, 3], gpu)
        out[:, 3] = np.where(self.mali.has, mali[:, 3], gpu)
        return out

    @property
    def adpf_uclamp(self) -> np.ndarray:
        """(N,) the ADPF sessions' current uclamp.min (pidControlVariable), 0..1024."""
        return self.adpf_ucl.copy()

    @property
    def hint_active(self) -> np.ndarray:
        """(N, 3) which of ``INTERACTION``, ``LAUNCH``, ``REFRESH`` is active for the next tick."""
        return self.active.copy()
