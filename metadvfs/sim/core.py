"""The batched simulator core: N phones advanced together with numpy.

One call of :meth:`SimCore.step` advances every environment by ``n_ticks`` internal ticks (default tick
10 ms) at fixed OPPs. Per tick and domain it computes, vectorised over environments, ticks and domains:

1. **Busy time.** Work (reference Mc) queues per domain; capacity per tick is
   ``f [MHz] * ipc * cores * tick [s]``. The backlog follows the Lindley recursion
   ``q_k = max(0, q_{k-1} + W_k - C)``, solved in closed form with a cumulative sum and a running minimum,
   so overloaded intervals carry work forward instead of dropping it.
2. **Utilisation as the kernel sees it.** Busy fraction of the busiest CPU (the one running the ui thread),
   made frequency-invariant (``busy * f / fmax``) and averaged by a PELT-like EWMA with a 32 ms half-life.
   GPU utilisation is the busy fraction (devfreq ``busy_time / total_time``).
3. **Frames.** A frame requested in a tick needs ``ui_pf / (f * ipc)`` on its CPU plus the wait for the
   domain's backlog, and ``gpu_pf / (f_gpu * throughput)`` plus the GPU backlog on the GPU. CPU and GPU
   stages are pipelined, so the frame is on time when the longer stage fits one frame period
   ``1 / target_fps``; a frame that needs ``s`` periods is janky and counts as ``1/s`` of a presented frame.
4. **Power.** Per domain ``cores * (P_active(f) * busy + P_idle * (1 - busy)) + P_static``; plus the
   rest-of-phone base power.
5. **Temperature.** Two-node RC model (die, skin), exact zero-order-hold discretisation.
6. **Throttling.** The device's throttle rules (skin or die trip/clear with hysteresis) cap OPP indices from
   the next step on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metadvfs.sim.demand import CH_FRAMES, CH_GPU_PF, CH_SHARE, CH_UI_PF, CH_WORK, N_CH, CompiledDemand
from metadvfs.sim.device_arrays import DeviceArrays, thermal_step_matrices

PELT_HALF_LIFE_S = 0.032
"""PELT utilisation half-life, s (Linux ``LOAD_AVG_PERIOD`` = 32 ms)."""


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
        backlog_mc: (N, 4) unfinished work at the end of the step, reference Mc.
        late_dom: (N, 4) frames late because of that domain (only with ``detail=True``).
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
        self.buf = np.zeros((self.n, self.buffer_ticks, N_CH), dtype=np.float32)
        self.ui_dom = np.zeros((self.n, self.buffer_ticks), dtype=np.int64)
        self.pos = np.zeros(self.n, dtype=np.int64)
        self.idx = np.zeros((self.n, 4), dtype=np.int64)
        self.q = np.zeros((self.n, 4))
        self.util = np.zeros((self.n, 4))
        self.temp = np.zeros((self.n, 2))
        self.active = np.zeros(dev.rule_trip.shape, dtype=bool)
        self.cap = dev.n_opp - 1
        self._aligned = True
        self._alpha = 0.5 ** (self.tick_s / PELT_HALF_LIFE_S)
        self._mats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._rows = np.arange(self.n)
        self._top = dev.n_opp - 1

    # ------------------------------------------------------------------ state
    def idle_temperature(self, rows: np.ndarray) -> np.ndarray:
        """Steady-state (die, skin) temperature with only the base power on, degC, for ``rows``."""
        _, _, ss = thermal_step_matrices(self.dev.thermal[rows], 1.0)
        u = np.stack([np.zeros(len(rows)), self.dev.base_mw[rows] / 1000.0, self.dev.ambient_c[rows]], 1)
        return np.einsum("nij,nj->ni", ss, u)

    def load(self, rows: np.ndarray, demand: CompiledDemand, init_idx: np.ndarray) -> None:
        """Start new episodes in ``rows``: load their demand windows and reset their state.

        Args:
            rows: Environment indices to reset.
            demand: Compiled demand with one window per row (length <= buffer_ticks).
            init_idx: (len(rows), 4) initial OPP indices.
        """
        rows = np.asarray(rows, dtype=np.int64)
        length = demand.ch.shape[1]
        if length > self.buffer_ticks:
            raise ValueError(f"demand window {length} ticks exceeds buffer {self.buffer_ticks}")
        self.buf[rows, :length] = demand.ch
        self.buf[rows, length:] = 0.0
        self.ui_dom[rows, :length] = demand.ui_dom
        self.ui_dom[rows, length:] = 2
        self.pos[rows] = 0
        self.idx[rows] = np.minimum(init_idx, self._top[rows])
        self.q[rows] = 0.0
        self.util[rows] = 0.0
        self.temp[rows] = self.idle_temperature(rows)
        self.active[rows] = False
        self.cap = self._caps()
        self._aligned = bool(np.all(self.pos == self.pos[0]))

    def _caps(self) -> np.ndarray:
        big = self._top[:, None, :]
        return np.where(self.active[:, :, None], self.dev.rule_cap, big).min(axis=1)

    def _matrices(self, n_ticks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        m = self._mats.get(n_ticks)
        if m is None:
            phi, gam, _ = thermal_step_matrices(self.dev.thermal, n_ticks * self.tick_s)
            k = np.arange(n_ticks)
            w = (1.0 - self._alpha) * self._alpha ** (n_ticks - 1 - k)
            m = (phi, gam, w[None, :, None], np.array(self._alpha**n_ticks))
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
            detail: Also compute per-domain late-frame counts (used by the oracle).

        Returns:
            The step's outputs.
        """
        out, state = self.evaluate(req_idx, n_ticks, detail)
        self.q, self.util, self.temp, self.active = state
        self.cap = self._caps()
        self.pos += n_ticks
        self.idx = out.idx
        return out

    def window(self, n_ticks: int) -> tuple[np.ndarray, np.ndarray]:
        """Demand channels (N, T, 11) and ui domains (N, T) of the next ``n_ticks`` ticks."""
        if self._aligned:
            p = int(self.pos[0])
            if p + n_ticks > self.buffer_ticks:
                raise RuntimeError("simulator stepped past the end of its episode buffer")
            return self.buf[:, p : p + n_ticks], self.ui_dom[:, p : p + n_ticks]
        t = self.pos[:, None] + np.arange(n_ticks)[None, :]
        if int(t.max()) >= self.buffer_ticks:
            raise RuntimeError("simulator stepped past the end of its episode buffer")
        return self.buf[self._rows[:, None], t], self.ui_dom[self._rows[:, None], t]

    def evaluate(
        self, req_idx: np.ndarray, n_ticks: int, detail: bool = False
    ) -> tuple[StepOut, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Compute a step without committing it (the oracle uses this to try candidate OPPs).

        Args:
            req_idx: (N, 4) requested OPP indices.
            n_ticks: Ticks to advance.
            detail: Also compute per-domain late-frame counts.

        Returns:
            The outputs and the would-be state ``(backlog, util, temperature, active rules)``.
        """
        d = self.dev
        tick = self.tick_s
        phi, gam, w, a_t = self._matrices(n_ticks)
        idx = self.clamp(req_idx)
        f = np.take_along_axis(d.freq_mhz, idx[:, :, None], 2)[:, :, 0]
        pa = np.take_along_axis(d.p_active_mw, idx[:, :, None], 2)[:, :, 0]
        speed = f * d.ipc  # Mc/s of one core
        rate = speed * d.cores  # Mc/s of the domain
        cap = rate * tick  # Mc per tick
        win, ui_dom = self.window(n_ticks)
        work = win[:, :, CH_WORK]
        q0 = self.q
        # Lindley recursion in closed form: q_k = S_k - min(-q0, min_{j<=k} S_j)
        s = np.cumsum(work - cap[:, None, :], axis=1)
        m = np.minimum.accumulate(s, axis=1)
        np.minimum(m, -q0[:, None, :], out=m)
        q = s - m
        q_prev = np.concatenate([q0[:, None, :], q[:, :-1]], axis=1)
        busy = (q_prev + work - q) / cap[:, None, :]
        busy_sum = busy.sum(axis=1)
        crit = np.minimum(busy * (win[:, :, CH_SHARE] * d.cores[:, None, :]), 1.0)
        inv = crit * (f / d.fmax_mhz)[:, None, :]
        util = a_t * self.util + (inv * w).sum(axis=1)
        busy_mean = busy_sum / n_ticks
        util[:, 3] = busy_mean[:, 3]
        busy_cpu = crit.sum(axis=1) / n_ticks

        frames = win[:, :, CH_FRAMES]
        ui_speed = np.take_along_axis(speed, ui_dom, axis=1)
        ui_wait = np.take_along_axis(q_prev, ui_dom[:, :, None], axis=2)[:, :, 0] / np.take_along_axis(
            rate, ui_dom, axis=1
        )
        t_cpu = win[:, :, CH_UI_PF] / ui_speed + ui_wait
        t_gpu = (win[:, :, CH_GPU_PF] + q_prev[:, :, 3]) / speed[:, 3:4]
        fps = self.target_fps[:, None]
        slots = np.maximum(np.ceil(np.maximum(t_cpu, t_gpu) * fps - 1e-9), 1.0)
        late = slots > 1.0
        frames_req = frames.sum(axis=1)
        presented = (frames / slots).sum(axis=1)
        janky = (frames * late).sum(axis=1)
        late_dom = None
        if detail:
            late_dom = np.zeros((self.n, 4))
            has = frames > 0
            cpu_late = has & (t_cpu * fps > 1.0 + 1e-9)
            for k in range(3):
                late_dom[:, k] = (cpu_late & (ui_dom == k)).sum(axis=1)
            late_dom[:, 3] = (has & (t_gpu * fps > 1.0 + 1e-9)).sum(axis=1)

        dur = n_ticks * tick
        p_dom = (d.cores * (pa * busy_mean + d.idle_mw * (1.0 - busy_mean)) + d.static_mw) * d.mask
        p_soc = p_dom.sum(axis=1)
        p_total = p_soc + d.base_mw
        u = np.stack([p_soc / 1000.0, d.base_mw / 1000.0, d.ambient_c], axis=1)
        temp = np.einsum("nij,nj->ni", phi, self.temp) + np.einsum("nij,nj->ni", gam, u)
        sensor_t = np.take_along_axis(temp, d.rule_sensor, axis=1)
        active = (sensor_t >= d.rule_trip) | (self.active & (sensor_t > d.rule_clear))
        out = StepOut(
            idx=idx,
            freq_mhz=f,
            util=util,
            busy=busy_mean,
            busy_cpu=busy_cpu,
            power_mw=p_dom,
            power_total_mw=p_total,
            energy_mj=p_total * dur,
            frames_req=frames_req,
            frames_presented=presented,
            frames_janky=janky,
            temp_c=temp,
            throttled=self.active.any(axis=1),
            backlog_mc=q[:, -1],
            late_dom=late_dom,
        )
        return out, (q[:, -1].copy(), util, temp, active)
