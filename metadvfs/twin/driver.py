"""The twin's simulator driver: one simulated phone stepped tick by tick, mirrored into node files.

Every 10 ms tick the driver

1. picks up writes to control nodes (``scaling_max_freq``, GPU limits, ...) and applies them with kernel
   semantics (:mod:`metadvfs.twin.controls`); rejected writes are put back;
2. runs the phone's own governors the way the kernel would: schedutil per CPU policy (or the policy's
   ``scaling_governor``: performance, powersave, userspace + ``scaling_setspeed``, ondemand, conservative), the
   stock GPU governor (Mali quickstep, or simple_ondemand standing in for msm-adreno-tz), each clamped into the
   user's ``[min, max]``; the simulator's thermal caps apply on top (``SimCore.clamp``);
3. steps :class:`~metadvfs.sim.core.SimCore` one tick and keeps the statistics the kernel keeps
   (``time_in_state`` in 10 ms units, ``/proc/stat`` jiffies, ODPM energy, presented frames);
4. rewrites the node files whose content changed (frequencies every tick, temperatures every 100 ms, energy
   and utilisation every 50 ms).

The node tree (building, reading control writes, rendering) is :class:`metadvfs.twin.nodes.NodeTree`; when ticks
happen is decided by a clock (:mod:`metadvfs.twin.clock`): real time scaled by ``realtime`` by default, or a
:class:`~metadvfs.twin.clock.ManualClock` that tests advance exactly.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time

import numpy as np

from metadvfs.catalog.types import DOMAINS, DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.base import Governor
from metadvfs.governors.stock import Conservative, MaliQuickstep, Ondemand, Schedutil, SimpleOndemand
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import StepOut
from metadvfs.sim.replay import governor_context
from metadvfs.tasks.task import make_task
from metadvfs.twin.clock import MAX_CATCHUP_TICKS, TICK_S, Clock, ManualClock, RealTimeClock
from metadvfs.twin.controls import CpuPolicy, KgslGpu, MaliGpu
from metadvfs.twin.family import Facts, app_package, package_app
from metadvfs.twin.nodes import (
    BATTERY_START_PCT,
    CPU_DOMS,
    GARBAGE,
    GPU,
    NUM_FRAME_RECORDS,
    Frame,
    NodeTree,
    _cpus,
)
from metadvfs.twin.phone import Phone

__all__ = [
    "BATTERY_START_PCT",
    "CPU_DOMS",
    "EPISODE_S",
    "GARBAGE",
    "GPU",
    "MAX_CATCHUP_TICKS",
    "NUM_FRAME_RECORDS",
    "TICK_S",
    "Clock",
    "Driver",
    "Frame",
    "ManualClock",
    "RealTimeClock",
]

EPISODE_S = 300.0
"""Length of one demand window, s; the driver loads the next window (keeping the phone's state) at its end."""


class Driver(NodeTree):
    """Simulated phone + node files of one twin.

    Args:
        phone: The phone's directories and processes.
        profile: Device profile.
        app: Catalog app (name or profile path) the phone runs.
        seed: Seed of the demand windows.
        facts: Per-device facts (:mod:`metadvfs.twin.family`).
        faults: Active faults.
        realtime: Simulated seconds per wall-clock second (> 0); used when ``clock`` is not given.
        clock: What drives simulated time (default: :class:`~metadvfs.twin.clock.RealTimeClock` at ``realtime``).
    """

    def __init__(
        self,
        phone: Phone,
        profile: DeviceProfile,
        app: str,
        seed: int,
        facts: Facts,
        faults: frozenset[str],
        realtime: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if not realtime > 0:
            raise MetaDVFSError(f"realtime: must be > 0, got {realtime}")
        self.phone = phone
        self.profile = profile
        self.facts = facts
        self.faults = faults
        self.realtime = float(realtime)
        self.clock: Clock = clock if clock is not None else RealTimeClock(self.realtime)
        self.lock = threading.RLock()
        self.rng = np.random.default_rng(seed)
        self.task = make_task(profile, app)
        self.batch = TaskBatch([self.task], EPISODE_S, TICK_S)
        self.batch.seed([seed])
        self.batch.reset_rows(np.arange(1))
        self.core = self.batch.core
        self.ctx = governor_context(self.batch)
        self.sched = Schedutil()
        self.sched.reset(self.ctx)
        self.rate_limit_us = np.full(4, 10_000.0)  # per-policy schedutil/rate_limit_us
        self.sched.rate_limit_us = self.rate_limit_us
        self.gpu_stock: Governor = MaliQuickstep() if facts.family == "mali" else SimpleOndemand()
        self.gpu_stock.reset(self.ctx)
        self.extra: dict[str, Governor] = {}
        self.last: StepOut | None = None
        self.ticks = 0
        self.errors: list[str] = []
        self.no_write = "permission_denied" in faults
        govs = tuple(g for g in facts.cpu_governors if not ("no_userspace" in faults and g == "userspace"))
        self.policies = [
            CpuPolicy(DOMAINS.index(c.domain), c.first_cpu, _cpus(c.cpus), list(c.freqs_khz), govs)
            for c in profile.clusters
        ]
        gfreqs = list(profile.gpu.freqs_khz)
        self.gpu: MaliGpu | KgslGpu = (
            MaliGpu(facts.gpu_dir, gfreqs, facts.gpu_governors)
            if facts.family == "mali"
            else KgslGpu(facts.gpu_dir, gfreqs, facts.gpu_governors)
        )
        self.n_cpus = max(max(p.cpus) for p in self.policies) + 1
        self.busy_j = np.zeros(self.n_cpus)
        self.energy_mj = np.zeros(4)
        self.base_mj = 0.0
        self.total_mj = 0.0
        self._win_mj = 0.0
        self._win_s = 0.0
        self.avg_power_w = 0.0
        self._gpu_busy = 0.0
        self._gpu_win = 0.0
        self._gpu_util_acc = 0.0
        self._gpu_util_n = 0
        self.gpu_util_pct = 0
        self.frames = collections.deque(maxlen=NUM_FRAME_RECORDS)
        self._acc_frames = 0.0
        self._acc_janky = 0.0
        self._last_present = 0
        self.period_ns = round(1e9 / profile.metadata.display_refresh_hz)
        self.boot_wall = time.time()
        self.battery_unplugged = False
        self.skin_rules = self.core.dev.rule_sensor[0] == 1
        self._trip = self.core.dev.rule_trip.copy()
        self.skin_enabled = True
        self._init_nodes()
        self.app_name = self.task.app.name
        self.fg = app_package(self.app_name)
        for p in self.policies:
            p.cur = int(self.core.idx[0, p.dom])
        self.gpu.cur = int(self.core.idx[0, GPU])

    def build(self) -> None:
        """Create every node of the phone, then step one tick (called once, before the clock starts).

        The first tick loads the simulator's compiled kernel before any host connects.
        """
        self.build_tree()
        self.step(1)

    # ================================================================== control writes
    def sync(self) -> None:
        """Apply pending writes to control nodes, property changes and tool requests (thread-safe)."""
        with self.lock:
            self._sync_controls()
            self._sync_props()
            self._sync_requests()

    def _sync_controls(self) -> None:
        if self._read_controls():
            self._limits_changed()
        self._render_controls()

    def _limits_changed(self) -> None:
        """Re-apply the limits at once, as ``cpufreq_set_policy`` / devfreq do on a limit write."""
        idx = self.core.idx
        for p in self.policies:
            lo, hi = p.bounds()
            self.rate_limit_us[p.dom] = p.rate_limit_us
            want = p.userspace_idx() if p.governor == "userspace" else int(idx[0, p.dom])
            idx[0, p.dom] = min(max(want, lo), hi)
        lo, hi = self.gpu.bounds()
        if isinstance(self.gpu, KgslGpu) and self.gpu.jump_to is not None:
            idx[0, GPU] = self.gpu.jump_to
            self.gpu.jump_to = None
        idx[0, GPU] = min(max(int(idx[0, GPU]), lo), hi)
        if isinstance(self.gpu, MaliGpu) and isinstance(self.gpu_stock, MaliQuickstep):
            self.gpu_stock.period_s = self.gpu.dvfs_period_ms / 1000.0
            self.gpu_stock.every = max(1, round(self.gpu_stock.period_s / TICK_S))
        wanted = {p.governor for p in self.policies} & {"ondemand", "conservative"}
        for name in list(self.extra):
            if name not in wanted:
                del self.extra[name]  # governor exit: a later selection starts fresh
        for name in wanted - set(self.extra):
            g: Governor = Ondemand() if name == "ondemand" else Conservative()
            g.reset(self.ctx)
            self.extra[name] = g
        self.core.idx = np.minimum(idx, self.core.cap)
        self._sync_cur()
        self._write_freqs()

    def _sync_props(self) -> None:
        f = self.facts
        running = self.phone.get_prop(f"init.svc.{f.skin_service}") != "stopped"
        disabled = self.phone.get_prop("persist.vendor.disable.thermal.control") == "1"
        enabled = running and not disabled
        if enabled == self.skin_enabled:
            return
        self.skin_enabled = enabled
        dev = self.core.dev
        off = self.skin_rules if not enabled else np.zeros_like(self.skin_rules)
        dev.rule_trip[0] = np.where(off, np.inf, self._trip[0])
        if not enabled:
            self.core.active[0, self.skin_rules] = False
        self.core.cap = _caps(self.core)

    def _sync_requests(self) -> None:
        req = self.phone.requests
        try:
            names = os.listdir(req)
        except OSError:
            return
        for name in names:
            if name.startswith("."):
                continue
            path = req / name
            try:
                body = path.read_text(encoding="utf-8").strip()
                path.unlink()
            except OSError:
                continue
            if name == "sf-clear":
                self.frames.clear()
                self._write_sf()
            elif name in ("battery-unplug", "battery-reset"):
                self.battery_unplugged = name == "battery-unplug"
                self._write_battery()
            elif name == "foreground":
                with contextlib.suppress(MetaDVFSError):
                    self.set_foreground(body)

    def set_foreground(self, package_or_app: str) -> None:
        """Bring an app to the foreground by catalog app name or package.

        A catalog app also becomes the simulated workload; another installed package (``com.android.settings``)
        only changes what the phone reports as the foreground app (the workload stays).

        Raises:
            MetaDVFSError: Unknown app or package.
        """
        from metadvfs.workload.apps import list_apps

        app = package_app(package_or_app) or (package_or_app if package_or_app in list_apps() else None)
        with self.lock:
            if app is None:
                installed = (self.phone.state / "packages").read_text().split()
                if package_or_app not in installed:
                    raise MetaDVFSError(
                        f"unknown app {package_or_app!r}; choose an app ({', '.join(list_apps())}) "
                        "or an installed package"
                    )
                self.fg = (package_or_app, f"{package_or_app}.MainActivity")
                self._write_app_state()
                return
            self.fg = app_package(app)
            if app != self.app_name:
                task = make_task(self.profile, app)
                self.batch.set_task(0, task)
                self.task = task
                self.app_name = app
                self._reload_window()
            self.frames.clear()
            self._write_app_state()

    def reboot(self) -> None:
        """Restore boot-time settings (``persist.*`` properties survive, as on a phone)."""
        with self.lock:
            for p in self.policies:
                p.governor = "schedutil"
                p.min_req, p.max_req = p.freqs[0], p.freqs[-1]
                p.rate_limit_us = 10_000
            g = self.gpu
            fresh = type(g)(g.dir, g.freqs, g.governors)
            for k, v in vars(fresh).items():
                if k not in ("cur", "tis_ms", "busy_pct", "busy_us", "total_us"):
                    setattr(g, k, v)
            self.votes = dict.fromkeys(self.votes, 0)
            keep = {f: self.phone.get_prop(f) for f in os.listdir(self.phone.props) if f.startswith("persist.")}
            self._set_props()
            for k, v in keep.items():
                self.phone.set_prop(k, v)
            self.battery_unplugged = False
            self._limits_changed()
            self._sync_props()

    def _reload_window(self) -> None:
        """Load the next demand window while keeping the phone's state (OPPs, backlog, util, temperature)."""
        c = self.core
        saved = (c.idx.copy(), c.q.copy(), c.util.copy(), c.temp.copy(), c.active.copy())
        self.batch.reset_rows(np.arange(1))
        c.idx, c.q, c.util, c.temp, c.active = saved
        c.cap = _caps(c)

    # ================================================================== simulation

    def step(self, n: int = 1) -> None:
        """Advance the phone by ``n`` ticks (thread-safe; also used by tests to run without the thread)."""
        for _ in range(n):
            with self.lock:  # released between ticks so shell commands can sync without waiting for a burst
                self._sync_controls()
                self._tick()
                self.refresh()

    def _tick(self) -> None:
        core = self.core
        if int(core.pos[0]) >= self.batch.episode_ticks:
            self._reload_window()
        last = self.last
        cur = core.idx
        sched = self.sched.decide(last, cur)
        extra = {k: g.decide(last, cur) for k, g in self.extra.items()}
        gpu_stock = self.gpu_stock.decide(last, cur)
        want = cur.copy()
        for p in self.policies:
            lo, hi = p.bounds()
            g = p.governor
            if g == "performance":
                w = hi
            elif g == "powersave":
                w = lo
            elif g == "userspace":
                w = p.userspace_idx()
            elif g in extra:
                w = int(extra[g][0, p.dom])
            else:
                w = int(sched[0, p.dom])
            want[0, p.dom] = min(max(w, lo), hi)
        lo, hi = self.gpu.bounds()
        g = self.gpu.governor
        w = hi if g == "performance" else lo if g == "powersave" else int(gpu_stock[0, GPU])
        want[0, GPU] = min(max(w, lo), hi)
        out = core.step(want, 1)
        self.last = out
        self._account(out)

    def _account(self, out: StepOut) -> None:
        self.ticks += 1
        idx = out.idx[0]
        for p in self.policies:
            i = int(idx[p.dom])
            p.tis[i] += 1.0  # 10 ms units
            if i != p.cur:
                p.trans += 1
                p.cur = i
        gi = int(idx[GPU])
        if isinstance(self.gpu, MaliGpu):
            self.gpu.tis_ms[gi] += TICK_S * 1000.0
        self.gpu.cur = gi
        for p in self.policies:
            k = len(p.cpus)
            b_dom = float(out.busy[0, p.dom])
            b_max = float(out.busy_cpu[0, p.dom])
            others = 0.0 if k == 1 else min(1.0, max(0.0, (b_dom * k - b_max) / (k - 1)))
            self.busy_j[p.cpus[0]] += b_max
            for c in p.cpus[1:]:
                self.busy_j[c] += others
        dt = TICK_S
        self.energy_mj += out.power_mw[0] * dt
        base = float(self.core.dev.base_mw[0]) * dt
        self.base_mj += base
        e = float(out.power_total_mw[0]) * dt
        self.total_mj += e
        self._win_mj += e
        self._win_s += dt
        gb = float(out.busy[0, GPU])
        self._gpu_busy += gb * dt
        self._gpu_win += dt
        self._gpu_util_acc += gb
        self._gpu_util_n += 1
        if self._gpu_win >= 1.0 - 1e-9 and isinstance(self.gpu, KgslGpu):  # KGSL refreshes about every 1 s
            self.gpu.busy_pct = round(100.0 * self._gpu_busy / self._gpu_win)
            self.gpu.busy_us = round(self._gpu_busy * 1e6)
            self.gpu.total_us = round(self._gpu_win * 1e6)
            self._gpu_busy = self._gpu_win = 0.0
        self._frames(out)

    def _frames(self, out: StepOut) -> None:
        self._acc_frames += float(out.frames_presented[0])
        self._acc_janky += float(out.frames_janky[0])
        t_end = self.ticks * TICK_S * 1e9
        while self._acc_frames >= 1.0 - 1e-9:
            self._acc_frames -= 1.0
            vsync = int(-(-t_end // self.period_ns) * self.period_ns)
            actual = max(vsync, self._last_present + self.period_ns)
            janky = self._acc_janky >= 1.0 - 1e-9
            if janky:
                self._acc_janky -= 1.0
            desired = actual - self.period_ns if janky else actual
            self.frames.append(Frame(desired, actual, actual - self.period_ns // 2))
            self._last_present = actual

    def _sync_cur(self) -> None:
        idx = self.core.idx[0]
        for p in self.policies:
            p.cur = int(idx[p.dom])
        self.gpu.cur = int(idx[GPU])

    # ================================================================== clock
    def start(self) -> None:
        """Start the clock (a real-time thread, or attach a manual clock)."""
        self.clock.start(self.step, self._survive)

    def stop(self) -> None:
        """Stop the clock."""
        self.clock.stop()

    @property
    def lag_s(self) -> float:
        """Wall time the clock dropped because the host could not keep up, s."""
        return self.clock.lag_s

    def _survive(self, exc: Exception) -> None:
        """Keep an error the real-time clock survived (reported by ``TwinServer.errors``; last 20 kept)."""
        self.errors.append(f"{type(exc).__name__}: {exc}")
        del self.errors[:-20]

    # ================================================================== snapshot
    def settings(self) -> dict[str, str]:
        """Writable control nodes and properties (service states, thermal/power switches)."""
        with self.lock:
            self._sync_controls()
            out = {c.path: self.phone.read(c.path) for c in self.controls if c.snapshot}
        for f in sorted(os.listdir(self.phone.props)):
            if f.startswith(".") or f.startswith("ro."):
                continue
            out[f"prop:{f}"] = self.phone.get_prop(f)
        return out


def _caps(core: object) -> np.ndarray:
    """(N, 4) highest allowed OPP index per domain under the active throttle rules (lowest cap wins)."""
    dev = core.dev  # type: ignore[attr-defined]
    top = dev.n_opp - 1
    return np.where(core.active[:, :, None], dev.rule_cap, top[:, None, :]).min(axis=1)  # type: ignore[attr-defined]
