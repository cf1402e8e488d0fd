"""Stock Linux/Android governors, reproduced from the kernel rules (batched over environments).

CPU (cpufreq, one policy per cluster): ``performance``, ``powersave``, ``schedutil``, ``ondemand``,
``conservative``. GPU (devfreq): ``simple_ondemand`` (stand-in for Qualcomm's closed ``msm-adreno-tz``) and
the Pixel Mali ``quickstep`` DVFS driven by the device's own up/down utilisation table. Plus ``fixed``.
Defaults are the kernel defaults; each class docstring cites the rule it reproduces.
"""

from __future__ import annotations

import numpy as np

from metadvfs.governors.base import (
    Governor,
    GovernorContext,
    resolve_ceil,
    resolve_closest,
    resolve_floor,
)
from metadvfs.sim.core import StepOut

CPU = (0, 1, 2)
GPU_DOM = (3,)


class _Periodic(Governor):
    """Helper: decide every ``period_s`` (rounded to ticks) and hold the choice in between."""

    period_s: float = 0.01

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        self.every = max(1, round(self.period_s / ctx.tick_s))
        self.tick = 0
        self.acc = np.zeros((ctx.dev.n, 4))
        self.held: np.ndarray | None = None

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        if last is not None:
            self.acc += self._signal(last)
            self.tick += 1
        if self.held is None or (last is not None and self.tick % self.every == 0):
            load = self.acc / max(1, min(self.tick, self.every)) if last is not None else None
            self.held = self._choose(load, cur_idx)
            self.acc[:] = 0.0
        return self.held

    def _signal(self, last: StepOut) -> np.ndarray:
        return last.busy_cpu

    def _choose(self, load: np.ndarray | None, cur_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Performance(Governor):
    """``performance``: always the highest OPP."""

    name = "performance"

    def __init__(self, domains: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        self.domains = domains

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        return self.ctx.dev.n_opp - 1


class Powersave(Governor):
    """``powersave``: always the lowest OPP."""

    name = "powersave"

    def __init__(self, domains: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        self.domains = domains

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        return np.zeros_like(self.ctx.dev.n_opp)


class Fixed(Governor):
    """``fixed``: a fixed fraction of each OPP table (0 = lowest OPP, 1 = highest).

    Args:
        fraction: Position in the table, 0..1; the index is ``round(fraction * (n_opp - 1))``.
    """

    name = "fixed"

    def __init__(self, fraction: float = 0.5, domains: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        if not 0.0 <= fraction <= 1.0:
            from metadvfs.errors import MetaDVFSError

            raise MetaDVFSError(f"fixed governor: fraction must be in [0, 1], got {fraction}")
        self.fraction = fraction
        self.domains = domains

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        return np.rint(self.fraction * (self.ctx.dev.n_opp - 1)).astype(np.int64)


class Schedutil(Governor):
    """``schedutil`` (kernel/sched/cpufreq_schedutil.c) with Android's util_est.

    ``next_freq = 1.25 * fmax * util / max_capacity`` with frequency-invariant utilisation of the busiest CPU
    of the policy, resolved to the lowest OPP at or above it (``CPUFREQ_RELATION_L``); changes are spaced by
    at least ``rate_limit_us``. ``util = max(util_avg, util_est)`` where util_est follows the PELT signal up
    at once and decays with weight 1/4 (``UTIL_EST_WEIGHT_SHIFT = 2``, fast-up).

    Args:
        rate_limit_us: Minimum time between frequency changes, us, one value or one per domain (Pixel kernels expose
            ``schedutil/rate_limit_us``; the default here re-evaluates every 10 ms tick).
        margin: The 1.25 headroom factor (tipping point at 80 % utilisation).
        util_est: Use util_est as Android kernels do.
    """

    name = "schedutil"
    domains = CPU

    def __init__(
        self, rate_limit_us: float | np.ndarray = 10_000.0, margin: float = 1.25, util_est: bool = True
    ) -> None:
        self.rate_limit_us = rate_limit_us
        self.margin = margin
        self.use_util_est = util_est

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        self.est = np.zeros((ctx.dev.n, 4))
        self.since_change_s = np.full((ctx.dev.n, 4), np.inf)

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        dev = self.ctx.dev
        if last is None:
            return cur_idx
        self.since_change_s += self.ctx.tick_s
        util = last.util
        if self.use_util_est:
            self.est = np.where(util > self.est, util, self.est + (util - self.est) * 0.25)
            util = np.maximum(util, self.est)
        target = self.margin * dev.fmax_mhz * util
        want = resolve_ceil(dev.freq_mhz, dev.n_opp, target)
        allowed = self.since_change_s * 1e6 >= self.rate_limit_us - 1e-6
        new = np.where(allowed, want, cur_idx)
        self.since_change_s = np.where(new != cur_idx, 0.0, self.since_change_s)
        return new


class Ondemand(_Periodic):
    """``ondemand`` (drivers/cpufreq/cpufreq_ondemand.c, ``od_update``).

    Every ``sampling_rate``: load = busy % of the busiest CPU; above ``up_threshold`` jump to fmax, else
    ``f = fmin + load * (fmax - fmin) / 100`` resolved to the closest OPP (``CPUFREQ_RELATION_C``).

    Args:
        sampling_rate_ms: Sampling period, ms.
        up_threshold: Load (%) above which the policy goes to fmax (kernel default 80).
    """

    name = "ondemand"
    domains = CPU

    def __init__(self, sampling_rate_ms: float = 20.0, up_threshold: float = 80.0) -> None:
        self.period_s = sampling_rate_ms / 1000.0
        self.up = up_threshold

    def _choose(self, load: np.ndarray | None, cur_idx: np.ndarray) -> np.ndarray:
        dev = self.ctx.dev
        if load is None:
            return cur_idx
        pct = 100.0 * load
        fmin = dev.freq_mhz[:, :, 0]
        target = fmin + pct * (dev.fmax_mhz - fmin) / 100.0
        idx = resolve_closest(dev.freq_mhz, dev.n_opp, target)
        return np.where(pct > self.up, dev.n_opp - 1, idx)


class Conservative(_Periodic):
    """``conservative`` (drivers/cpufreq/cpufreq_conservative.c, ``cs_dbs_update``).

    Every ``sampling_rate``: above ``up_threshold`` the requested frequency rises by ``freq_step`` % of fmax
    (``CPUFREQ_RELATION_H``), below ``down_threshold`` it falls by the same step (``CPUFREQ_RELATION_L``).

    Args:
        sampling_rate_ms: Sampling period, ms.
        up_threshold: Load (%) that triggers a step up (default 80).
        down_threshold: Load (%) that triggers a step down (default 20).
        freq_step: Step, % of fmax (default 5).
    """

    name = "conservative"
    domains = CPU

    def __init__(
        self,
        sampling_rate_ms: float = 20.0,
        up_threshold: float = 80.0,
        down_threshold: float = 20.0,
        freq_step: float = 5.0,
    ) -> None:
        self.period_s = sampling_rate_ms / 1000.0
        self.up = up_threshold
        self.down = down_threshold
        self.step_pct = freq_step

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        self.requested: np.ndarray | None = None

    def _choose(self, load: np.ndarray | None, cur_idx: np.ndarray) -> np.ndarray:
        dev = self.ctx.dev
        cur_f = np.take_along_axis(dev.freq_mhz, cur_idx[:, :, None], 2)[:, :, 0]
        if self.requested is None:
            self.requested = cur_f.copy()
        if load is None:
            return cur_idx
        pct = 100.0 * load
        step = self.step_pct / 100.0 * dev.fmax_mhz
        fmin = dev.freq_mhz[:, :, 0]
        up = pct > self.up
        down = (pct < self.down) & ~up
        self.requested = np.where(up, np.minimum(self.requested + step, dev.fmax_mhz), self.requested)
        self.requested = np.where(down, np.maximum(self.requested - step, fmin), self.requested)
        idx_up = resolve_floor(dev.freq_mhz, dev.n_opp, self.requested)
        idx_down = resolve_ceil(dev.freq_mhz, dev.n_opp, self.requested)
        return np.where(up, idx_up, np.where(down, idx_down, cur_idx))


class SimpleOndemand(_Periodic):
    """devfreq ``simple_ondemand`` (drivers/devfreq/governor_simpleondemand.c).

    Every ``polling_ms``: busy above ``upthreshold`` % -> fmax; above ``upthreshold - downdifferential`` ->
    keep; else ``f = cur * busy% / (upthreshold - downdifferential / 2)``, lowest OPP at or above it.
    Adreno phones run Qualcomm's ``msm-adreno-tz`` (closed TrustZone algorithm); simple_ondemand with the
    kernel defaults stands in for it.

    Args:
        polling_ms: Polling period, ms.
        upthreshold: Busy % that sends the GPU to fmax (kernel default 90).
        downdifferential: Hysteresis band, % (kernel default 5).
    """

    name = "simple_ondemand"
    domains = GPU_DOM

    def __init__(self, polling_ms: float = 50.0, upthreshold: float = 90.0, downdifferential: float = 5.0):
        self.period_s = polling_ms / 1000.0
        self.up = upthreshold
        self.dd = downdifferential

    def _signal(self, last: StepOut) -> np.ndarray:
        return last.busy

    def _choose(self, load: np.ndarray | None, cur_idx: np.ndarray) -> np.ndarray:
        dev = self.ctx.dev
        if load is None:
            return cur_idx
        pct = 100.0 * load
        cur_f = np.take_along_axis(dev.freq_mhz, cur_idx[:, :, None], 2)[:, :, 0]
        target = cur_f * pct / (self.up - self.dd / 2.0)
        idx = resolve_ceil(dev.freq_mhz, dev.n_opp, target)
        idx = np.where(pct > self.up - self.dd, cur_idx, idx)
        return np.where(pct > self.up, dev.n_opp - 1, idx)


class MaliQuickstep(_Periodic):
    """Pixel Mali ``quickstep`` DVFS governor driven by the device's DVFS table.

    Every ``dvfs_period``: utilisation above the current level's ``up_util`` steps one level up (two when it
    also exceeds the next level's ``up_util``: the "quick step"); below ``down_util`` for ``hys_ticks``
    consecutive periods steps one level down. Thresholds come from the device profile (``gpu.mali_dvfs``).
    Rows without a Mali table (Adreno phones) fall back to :class:`SimpleOndemand`.

    Args:
        period_ms: DVFS period, ms (``dvfs_period`` sysfs node; its default is not in the device data).
    """

    name = "mali"
    domains = GPU_DOM

    def __init__(self, period_ms: float = 20.0) -> None:
        self.period_s = period_ms / 1000.0
        self.fallback = SimpleOndemand()

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        self.fallback.reset(ctx)
        n = ctx.dev.n
        k = ctx.dev.max_opp
        self.up_tab = np.full((n, k), 100.0)
        self.down_tab = np.zeros((n, k))
        self.hys_tab = np.ones((n, k), dtype=np.int64)
        self.has = np.zeros(n, dtype=bool)
        for i, tab in enumerate(ctx.mali):
            if tab is None:
                continue
            self.has[i] = True
            freqs = ctx.dev.freq_mhz[i, 3] * 1000.0
            for f_khz, down, up, hys in tab:
                j = int(np.argmin(np.abs(freqs - f_khz)))
                self.up_tab[i, j], self.down_tab[i, j], self.hys_tab[i, j] = up, down, hys
        self.counter = self.hys_tab[:, 0].copy()

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        mine = super().decide(last, cur_idx)
        other = self.fallback.decide(last, cur_idx)
        return np.where(self.has[:, None], mine, other)

    def _signal(self, last: StepOut) -> np.ndarray:
        return last.busy

    def _choose(self, load: np.ndarray | None, cur_idx: np.ndarray) -> np.ndarray:
        out = cur_idx.copy()
        if load is None:
            return out
        rows = np.arange(cur_idx.shape[0])
        top = self.ctx.dev.n_opp[:, 3] - 1
        lvl = cur_idx[:, 3]
        util = 100.0 * load[:, 3]
        up1 = np.minimum(lvl + 1, top)
        go_up = util > self.up_tab[rows, lvl]
        quick = go_up & (util > self.up_tab[rows, up1])
        below = util < self.down_tab[rows, lvl]
        self.counter = np.where(below, self.counter - 1, self.hys_tab[rows, lvl])
        go_down = below & (self.counter <= 0) & ~go_up
        new = np.where(go_up, np.where(quick, np.minimum(lvl + 2, top), up1), lvl)
        new = np.where(go_down, np.maximum(lvl - 1, 0), new)
        self.counter = np.where(new != lvl, self.hys_tab[rows, new], self.counter)
        out[:, 3] = new
        return out


class Composite(Governor):
    """A CPU governor for the clusters plus a GPU governor, as on a phone.

    Args:
        cpu: Governor for domains 0..2.
        gpu: Governor for domain 3.
    """

    def __init__(self, cpu: Governor, gpu: Governor) -> None:
        self.cpu = cpu
        self.gpu = gpu
        self.name = f"{cpu.name}/{gpu.name}"

    def reset(self, ctx: GovernorContext) -> None:
        super().reset(ctx)
        self.cpu.reset(ctx)
        self.gpu.reset(ctx)

    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        a = self.cpu.decide(last, cur_idx)
        b = self.gpu.decide(last, cur_idx)
        out = np.array(a, copy=True)
        out[:, 3] = b[:, 3]
        return out
