"""The twin's simulator driver: one simulated phone advanced in (scaled) real time, mirrored into node files.

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

Simulated time runs at ``realtime`` x wall-clock time; when the host cannot keep up the driver drops wall time
rather than stepping in bursts (``lag_s`` counts what was dropped).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metadvfs.catalog.types import DOMAINS, DeviceProfile
from metadvfs.core.domains import CPU_DOMAINS, GPU_INDEX
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.base import Governor
from metadvfs.governors.stock import Conservative, MaliQuickstep, Ondemand, Schedutil, SimpleOndemand
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import StepOut
from metadvfs.sim.replay import governor_context
from metadvfs.tasks.task import make_task
from metadvfs.twin.controls import Control, CpuPolicy, KgslGpu, MaliGpu, fmt_list
from metadvfs.twin.family import SURFACEVIEW_CATEGORIES, Facts, app_package, package_app
from metadvfs.twin.phone import Phone

TICK_S = 0.01
"""Simulator tick, s (USER_HZ = 100, so one tick is one jiffy)."""
EPISODE_S = 300.0
"""Length of one demand window, s; the driver loads the next window (keeping the phone's state) at its end."""
MAX_CATCHUP_TICKS = 50
"""Most ticks stepped in one burst; beyond that, wall time is dropped."""
NUM_FRAME_RECORDS = 128
"""SurfaceFlinger FrameTracker ring size (§8); ``--latency`` prints the last 127."""
GARBAGE = ("", "???\n", "1a2b\n", "\x00\x00\x00\n", "-ENODATA\n", "4294967295garbage\n")
"""Contents a garbled node may show (``garbled_sysfs`` fault)."""
BATTERY_START_PCT = 80.0
"""Battery level when the twin starts, % (twin choice)."""

CPU_DOMS = tuple(range(len(CPU_DOMAINS)))
GPU = GPU_INDEX


@dataclass
class Frame:
    """One SurfaceFlinger frame record, ns on the phone's monotonic clock."""

    desired: int
    actual: int
    ready: int


class Driver:
    """Simulated phone + node files of one twin.

    Args:
        phone: The phone's directories and processes.
        profile: Device profile.
        app: Catalog app (name or profile path) the phone runs.
        seed: Seed of the demand windows.
        facts: Per-device facts (:mod:`metadvfs.twin.family`).
        faults: Active faults.
        realtime: Simulated seconds per wall-clock second (> 0).
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
    ) -> None:
        if not realtime > 0:
            raise MetaDVFSError(f"realtime: must be > 0, got {realtime}")
        self.phone = phone
        self.profile = profile
        self.facts = facts
        self.faults = faults
        self.realtime = float(realtime)
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
        self.lag_s = 0.0
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
        self.frames: collections.deque[Frame] = collections.deque(maxlen=NUM_FRAME_RECORDS)
        self._acc_frames = 0.0
        self._acc_janky = 0.0
        self._last_present = 0
        self.period_ns = round(1e9 / profile.metadata.display_refresh_hz)
        self.boot_wall = time.time()
        self.battery_unplugged = False
        self.skin_rules = self.core.dev.rule_sensor[0] == 1
        self._trip = self.core.dev.rule_trip.copy()
        self.skin_enabled = True
        self.controls: list[Control] = []
        self.shown: dict[str, str] = {}
        self._empty: set[str] = set()
        self.garbled: set[str] = set()
        self.missing: tuple[str, ...] = ()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.app_name = self.task.app.name
        self.fg = app_package(self.app_name)
        for p in self.policies:
            p.cur = int(self.core.idx[0, p.dom])
        self.gpu.cur = int(self.core.idx[0, GPU])

    # ================================================================== layout
    def build(self) -> None:
        """Create every node of the phone (called once, before the driver thread starts)."""
        ph = self.phone
        big = self.policies[-1]
        if "missing_nodes" in self.faults:
            gpu_missing = self.gpu.dir if self.facts.family == "mali" else f"{self.gpu.dir}/devfreq"
            self.missing = (f"{big.path}/scaling_max_freq", gpu_missing, "/sys/class/misc/mali0")
            ph.missing = self.missing
        if "garbled_sysfs" in self.faults:
            self.garbled = {
                f"{big.path}/scaling_cur_freq",
                f"{self.policies[0].path}/stats/time_in_state",
                "/sys/devices/virtual/thermal/thermal_zone0/temp",
            }
        self._build_cpu()
        self._build_gpu()
        self._build_thermal()
        self._build_power()
        self._build_misc()
        self.controls = [c for p in self.policies for c in p.controls(self.facts.schedutil_rate_limit)]
        self.controls += self.gpu.controls()
        if self.facts.cdev_by_name:
            self.controls += [
                Control(f"{d}/user_vote", self._vote_setter(d), self._vote_getter(d)) for d in self.cdev_dirs
            ]
        self.controls = [c for c in self.controls if not ph.is_missing(c.path)]
        mode = 0o444 if self.no_write else None
        for c in self.controls:
            text = c.show()
            ph.put(c.path, text, mode if mode is not None else c.mode)
            self.shown[c.path] = text
            c.sig = _sig(ph.host_str(c.path))
        self._set_props()
        self.refresh(full=True)
        self.step(1)  # first tick loads the simulator's compiled kernel before any host connects

    def _build_cpu(self) -> None:
        ph = self.phone
        cpu = "/sys/devices/system/cpu"
        rng = f"0-{self.n_cpus - 1}\n"
        for name in ("online", "possible", "present"):
            ph.put(f"{cpu}/{name}", rng)
        ph.put(f"{cpu}/kernel_max", f"{self.n_cpus - 1}\n")
        for p in self.policies:
            cpus = "".join(f"{c} " for c in p.cpus).strip() + "\n"
            static = {
                "affected_cpus": cpus,
                "related_cpus": cpus,
                "cpuinfo_min_freq": f"{p.freqs[0]}\n",
                "cpuinfo_max_freq": f"{p.freqs[-1]}\n",
                "cpuinfo_transition_latency": "0\n",
                "scaling_available_frequencies": fmt_list(p.freqs),
                "scaling_available_governors": fmt_list(p.governors),
                "scaling_driver": f"{self.facts.scaling_driver}\n",
            }
            for k, v in static.items():
                ph.put(f"{p.path}/{k}", v)
            for c in p.cpus:
                ph.put(f"{cpu}/cpu{c}/online", "1\n", 0o644)
                ph.symlink(f"{cpu}/cpu{c}/cpufreq", f"../cpufreq/policy{p.num}")

    def _build_gpu(self) -> None:
        ph = self.phone
        for k, v in self.gpu.static_nodes().items():
            ph.put(k, v)
        if self.facts.family == "mali":
            # §4: /sys/class/misc/mali0/device links to the Mali device directory.
            ph.symlink("/sys/class/misc/mali0/device", "../../../devices/platform/" + self.gpu.dir.rsplit("/", 1)[1])

    def _build_thermal(self) -> None:
        ph = self.phone
        self.zone_paths: list[tuple[str, str]] = []
        for i, z in enumerate(self.facts.zones):
            d = f"/sys/devices/virtual/thermal/thermal_zone{i}"
            ph.put(f"{d}/type", f"{z.type}\n")
            ph.put(f"{d}/mode", "enabled\n")
            ph.symlink(f"/sys/class/thermal/thermal_zone{i}", f"../../devices/virtual/thermal/thermal_zone{i}")
            self.zone_paths.append((f"{d}/temp", z.source))
        self.cdevs: list[tuple[str, int]] = []
        k = 0
        for dom in (*CPU_DOMS, GPU):
            if not self.core.dev.mask[0, dom]:
                continue
            name = "thermal-gpufreq-0" if dom == GPU else f"thermal-cpufreq-{k}"
            k += dom != GPU
            j = len(self.cdevs)
            path = f"/sys/devices/virtual/thermal/cooling_device{j}"
            ph.put(f"{path}/type", f"{name}\n")
            ph.put(f"{path}/max_state", f"{int(self.core.dev.n_opp[0, dom]) - 1}\n")
            ph.symlink(f"/sys/class/thermal/cooling_device{j}", f"../../devices/virtual/thermal/cooling_device{j}")
            if self.facts.cdev_by_name:  # §5: /dev/thermal/cdev-by-name/<type>
                target = f"../../../sys/devices/virtual/thermal/cooling_device{j}"
                ph.symlink(f"/dev/thermal/cdev-by-name/{name}", target)
            self.cdevs.append((path, dom))
        self.cdev_dirs = [p for p, _ in self.cdevs]
        self.votes = {p: 0 for p in self.cdev_dirs}

    def _vote_getter(self, d: str) -> Callable[[], str]:
        return lambda: f"{self.votes[d]}\n"

    def _vote_setter(self, d: str):  # type: ignore[no-untyped-def]
        def apply(text: str) -> bool:
            from metadvfs.twin.controls import parse_uint

            v = parse_uint(text)
            if v is None:
                return False
            self.votes[d] = v
            return True

        return apply

    def _build_power(self) -> None:
        ph = self.phone
        bat = "/sys/class/power_supply/battery"
        for k, v in {"type": "Battery", "present": "1", "technology": "Li-ion", "health": "Good"}.items():
            ph.put(f"{bat}/{k}", f"{v}\n")
        for i, (name, rails) in enumerate(self.facts.odpm):
            d = f"/sys/bus/iio/devices/iio:device{i}"
            ph.put(f"{d}/name", f"{name}\n")
            ph.put(f"{d}/sampling_rate", "1000\n")  # twin placeholder (Hz)
            ph.put(f"{d}/enabled_rails", "".join(f"CH{j}[{r.name}]:{r.subsys}\n" for j, r in enumerate(rails)))
            ph.put(f"{d}/available_rails", "".join(f"{r.name}:{r.subsys}\n" for r in rails))
        self.n_base_rails = sum(1 for _, rails in self.facts.odpm for r in rails if r.domain is None)

    def _build_misc(self) -> None:
        ph = self.phone
        cpuinfo = "".join(f"processor\t: {c}\nBogoMIPS\t: 49.15\n\n" for c in range(self.n_cpus))
        ph.put("/proc/cpuinfo", cpuinfo + f"Hardware\t: {self.facts.platform}\n")
        ph.put("/proc/version", f"Linux version 5.10.0-metadvfs-twin ({self.facts.platform}) #1 SMP PREEMPT\n")
        pkgs = ["android", "com.android.settings", "com.android.systemui"]
        from metadvfs.workload.apps import list_apps

        pkgs += [app_package(a)[0] for a in list_apps()]
        pkg, _ = self.fg
        if pkg not in pkgs:
            pkgs.append(pkg)
        ph.put_host(ph.state / "packages", "".join(f"{p}\n" for p in sorted(pkgs)), 0o444)

    def _set_props(self) -> None:
        ph = self.phone
        prof = self.profile
        release, sdk = self.facts.android
        props = {
            "ro.product.device": prof.codenames[0],
            "ro.product.name": prof.codenames[0],
            "ro.product.model": prof.display_name,
            "ro.product.brand": "google",
            "ro.product.manufacturer": "Google",
            "ro.hardware": prof.codenames[0],
            "ro.board.platform": self.facts.platform,
            "ro.build.version.release": release,
            "ro.build.version.sdk": str(sdk),
            "ro.build.type": "user",
            "ro.debuggable": "0",
            "ro.secure": "1",
            "ro.adb.secure": "1",
            "ro.serialno": "METADVFSTWIN",
            "sys.boot_completed": "1",
            "ro.metadvfs.twin": "1",
            **self.facts.props,
        }
        for name, state in self.facts.services.items():
            props[f"init.svc.{name}"] = state
        for k, v in props.items():
            ph.set_prop(k, v)

    # ================================================================== control writes
    def sync(self) -> None:
        """Apply pending writes to control nodes, property changes and tool requests (thread-safe)."""
        with self.lock:
            self._sync_controls()
            self._sync_props()
            self._sync_requests()

    def _sync_controls(self) -> None:
        ph = self.phone
        changed = False
        for c in self.controls:
            host = ph.host_str(c.path)
            sig = _sig(host)
            if sig == c.sig:
                continue
            try:
                with open(host, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except PermissionError:
                text = ""  # a write-only node (stats/reset) the twin's user may not read back: content is moot
            except OSError:
                text = None
            if text == "" and c.mode & 0o444 and c.path not in self._empty:
                self._empty.add(c.path)  # maybe a write caught between its truncate and its data: look again
                continue
            self._empty.discard(c.path)
            ok = text is not None and not self.no_write and c.apply(text)
            changed = changed or ok
            self.shown.pop(c.path, None)  # force a rewrite: accepted values are normalised, rejected restored
        if changed:
            self._limits_changed()
        self._render_controls()

    def _render_controls(self) -> None:
        ph = self.phone
        for c in self.controls:
            text = c.show()
            if self.shown.get(c.path) == text:
                continue
            st = ph.put_inplace(c.path, text)
            if st is None:  # deleted by the user: recreate
                ph.put(c.path, text, 0o444 if self.no_write else c.mode)
                st = os.stat(ph.host_str(c.path))
            self.shown[c.path] = text
            c.sig = (st.st_ino, st.st_mtime_ns, st.st_size)

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
                self.batch.tasks[0] = task
                self.batch.target_fps[0] = task.target_fps
                self.core.target_fps[0] = task.target_fps
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

    # ================================================================== node files
    def _put(self, path: str, text: str, mode: int = 0o444) -> None:
        if path in self.garbled and self.rng.random() < 0.5:
            text = GARBAGE[int(self.rng.integers(len(GARBAGE)))]
        if self.shown.get(path) == text:
            return
        self.phone.put(path, text, mode)
        self.shown[path] = text

    def _write_freqs(self) -> None:
        for p in self.policies:
            f = f"{p.freqs[p.cur]}\n"
            self._put(f"{p.path}/scaling_cur_freq", f)
            self._put(f"{p.path}/cpuinfo_cur_freq", f)
        if isinstance(self.gpu, MaliGpu):
            self._put(f"{self.gpu.dir}/cur_freq", f"{self.gpu.freqs[self.gpu.cur]}\n")
        else:
            for k, v in self.gpu.dynamic_nodes().items():
                self._put(k, v)

    def refresh(self, full: bool = False) -> None:
        """Rewrite the node files that are due (all of them with ``full``)."""
        k = self.ticks
        self._write_freqs()
        self._write_proc_stat()
        if full or k % 5 == 0:
            self._write_power()
            self._write_stats()
            self._write_sf()
        if full or k % 10 == 0:
            self._write_thermal()
            self._write_battery()
        if full:
            self._write_app_state()

    def _write_stats(self) -> None:
        for p in self.policies:
            self._put(f"{p.path}/stats/time_in_state", p.time_in_state())
            self._put(f"{p.path}/stats/total_trans", f"{p.trans}\n")
        if self._gpu_util_n:
            self.gpu_util_pct = round(100.0 * self._gpu_util_acc / self._gpu_util_n)
            self._gpu_util_acc, self._gpu_util_n = 0.0, 0
        if isinstance(self.gpu, MaliGpu):
            for k, v in self.gpu.dynamic_nodes(self.gpu_util_pct).items():
                self._put(k, v)

    def _write_proc_stat(self) -> None:
        total = int(self.ticks * TICK_S * 100.0)  # jiffies since boot
        lines = []
        agg = [0, 0, 0]
        for c, b in enumerate(self.busy_j.tolist()):
            busy = int(b)
            user = busy * 3 // 4
            idle = max(0, total - busy)
            agg[0] += user
            agg[1] += busy - user
            agg[2] += idle
            lines.append(f"cpu{c} {user} 0 {busy - user} {idle} 0 0 0 0 0 0")
        text = (
            f"cpu  {agg[0]} 0 {agg[1]} {agg[2]} 0 0 0 0 0 0\n"
            + "\n".join(lines)
            + f"\nintr {total * 20}\nctxt {total * 50}\nbtime {int(self.boot_wall)}\n"
            + f"processes {1000 + total // 10}\nprocs_running 1\nprocs_blocked 0\n"
            + f"softirq {total * 5} 0 0 0 0 0 0 0 0 0 0\n"
        )
        self._put("/proc/stat", text)
        if self.ticks % 10 == 0:
            up = self.ticks * TICK_S
            idle_s = agg[2] / 100.0
            self._put("/proc/uptime", f"{up:.2f} {idle_s:.2f}\n")

    def _write_thermal(self) -> None:
        temp = self.core.temp[0]
        for path, source in self.zone_paths:
            c = temp[0] if source == "die" else temp[1]
            self._put(path, f"{round(c * 1000)}\n")
        cap = self.core.cap[0]
        for path, d in self.cdevs:
            top = int(self.core.dev.n_opp[0, d]) - 1
            self._put(f"{path}/cur_state", f"{top - min(int(cap[d]), top)}\n", 0o644)
        lines = [
            "IsStatusOverride: false",
            "ThermalEventListeners:",
            "Current temperatures from HAL:",
        ]
        throttled = bool(self.core.active[0].any())
        for ztype, (_, source) in zip((z.type for z in self.facts.zones), self.zone_paths, strict=True):
            c = temp[0] if source == "die" else temp[1]
            kind = 3 if source == "skin" else 1 if ("gpu" in ztype.lower() or ztype == "G3D") else 0
            if ztype == "battery":
                kind = 2
            status = 3 if throttled and source == "skin" else 0
            lines.append(f"\tTemperature{{mValue={c:.1f}, mType={kind}, mName={ztype}, mStatus={status}}}")
        self.phone.put_host(self.phone.state / "thermalservice", "\n".join(lines) + "\n")

    def _write_power(self) -> None:
        if self._win_s > 0:
            self.avg_power_w = self._win_mj / self._win_s / 1000.0
            self._win_mj = self._win_s = 0.0
        v = self.profile.nominal_voltage_v
        self._put("/sys/class/power_supply/battery/current_now", f"{-round(self.avg_power_w / v * 1e6)}\n")
        t_ms = round(self.ticks * TICK_S * 1000)
        base_share = self.base_mj / max(1, self.n_base_rails)
        for i, (_, rails) in enumerate(self.facts.odpm):
            lines = [f"t={t_ms}"]
            for j, r in enumerate(rails):
                mj = base_share if r.domain is None else float(self.energy_mj[DOMAINS.index(r.domain)])
                lines.append(f"CH{j}(T={t_ms})[{r.name}], {round(mj * 1000)}")  # mJ -> uWs
            self._put(f"/sys/bus/iio/devices/iio:device{i}/energy_value", "\n".join(lines) + "\n")

    def _battery_pct(self) -> float:
        mah = self.profile.metadata.battery_mah
        if not mah:
            return BATTERY_START_PCT
        cap_j = mah * 3.6 * self.profile.nominal_voltage_v
        return max(0.0, BATTERY_START_PCT - 100.0 * self.total_mj / 1000.0 / cap_j)

    def _write_battery(self) -> None:
        bat = "/sys/class/power_supply/battery"
        v = self.profile.nominal_voltage_v
        skin = float(self.core.temp[0, 1])
        pct = self._battery_pct()
        self._put(f"{bat}/voltage_now", f"{round(v * 1e6)}\n")
        self._put(f"{bat}/capacity", f"{int(pct)}\n")
        self._put(f"{bat}/temp", f"{round(skin * 10)}\n")
        self._put(f"{bat}/status", "Discharging\n")
        usb = "false" if self.battery_unplugged else "true"
        text = (
            "Current Battery Service state:\n"
            + ("  (UPDATES STOPPED -- use 'reset' to restart)\n" if self.battery_unplugged else "")
            + f"  AC powered: false\n  USB powered: {usb}\n  Wireless powered: false\n"
            + f"  status: 3\n  health: 2\n  present: true\n  level: {int(pct)}\n  scale: 100\n"
            + f"  voltage: {round(v * 1000)}\n  temperature: {round(skin * 10)}\n  technology: Li-ion\n"
        )
        self.phone.put_host(self.phone.state / "battery", text)

    def _layers(self) -> tuple[str, str, list[str]]:
        pkg, act = self.fg
        activity_layer = f"{pkg}/{act}#0"
        sv = f"SurfaceView[{pkg}/{act}](BLAST)#0"
        surface = self.task.app.metadata.category in SURFACEVIEW_CATEGORIES
        layers = ["com.android.systemui.ImageWallpaper#0", activity_layer]
        if surface:
            layers.append(sv)
        layers += ["StatusBar#0", "NavigationBar0#0"]
        return (sv if surface else activity_layer), activity_layer, layers

    def _write_sf(self) -> None:
        sf = self.phone.state / "sf"
        period = f"{self.period_ns}\n"
        recs = list(self.frames)[-(NUM_FRAME_RECORDS - 1) :]
        pad = ["0\t0\t0\n"] * (NUM_FRAME_RECORDS - 1 - len(recs))
        body = "".join(pad) + "".join(f"{f.desired}\t{f.actual}\t{f.ready}\n" for f in recs)
        self.phone.put_host(sf / "latency", period + body)

    def _write_app_state(self) -> None:
        ph = self.phone
        sf = ph.state / "sf"
        pkg, act = self.fg
        frame_layer, _, layers = self._layers()
        ph.put_host(sf / "period", f"{self.period_ns}\n")
        ph.put_host(sf / "frame_layer", frame_layer)
        ph.put_host(sf / "layers", "".join(f"{x}\n" for x in layers))
        hz = self.profile.metadata.display_refresh_hz
        ph.put_host(
            sf / "summary",
            f"Display 0 (HWC display 0): port=0 pnpId=GGL\n  refresh-rate              : {hz:.6f} fps\n"
            f"Visible layers (count = {len(layers)})\n",
        )
        short = act[len(pkg) :] if act.startswith(pkg + ".") else act
        rec = f"ActivityRecord{{8f3e2d1 u0 {pkg}/{short} t1234}}"
        ph.put_host(
            ph.state / "activity",
            "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)\n"
            "Display #0 (activities from top to bottom):\n"
            f"  * Task{{5a1b2c3 #1234 type=standard A=10234:{pkg} U=0 visible=true mode=fullscreen}}\n"
            f"    mResumedActivity: {rec}\n"
            f"  topResumedActivity={rec}\n"
            f"  ResumedActivity: {rec}\n",
        )
        ph.put_host(
            ph.state / "window",
            "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
            f"  mCurrentFocus=Window{{4f5e6d7 u0 {pkg}/{act}}}\n"
            f"  mFocusedApp={rec}\n",
        )
        self._write_sf()

    # ================================================================== thread
    def start(self) -> None:
        """Start the real-time driver thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metadvfs-twin-driver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the driver thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        t0 = time.monotonic()
        done = 0
        dropped = 0
        while not self._stop.is_set():
            target = int((time.monotonic() - t0) * self.realtime / TICK_S) - dropped
            n = target - done
            if n <= 0:
                wait = (done + dropped + 1) * TICK_S / self.realtime - (time.monotonic() - t0)
                self._stop.wait(max(0.0005, min(wait, 0.05)))
                continue
            if n > MAX_CATCHUP_TICKS:
                dropped += n - MAX_CATCHUP_TICKS
                self.lag_s = dropped * TICK_S
                n = MAX_CATCHUP_TICKS
            try:
                self.step(n)
            except FileNotFoundError:  # the phone's directory is being removed (stop)
                pass
            except Exception as exc:  # keep the phone alive; the error is reported by TwinServer.errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
                del self.errors[:-20]
            done += n

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


def _cpus(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def _sig(path: os.PathLike[str] | str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
