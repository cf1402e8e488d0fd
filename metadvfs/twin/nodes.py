"""The twin's node tree: building the phone's sysfs/procfs/state files and keeping them in step with the simulator.

:class:`NodeTree` holds what concerns files: it creates every node once (:meth:`NodeTree.build_tree`), reads
writes to control nodes back (:meth:`NodeTree._read_controls`, kernel semantics in :mod:`metadvfs.twin.controls`),
re-renders them (normalised values, rejected writes put back) and rewrites the read-only nodes whose content
changed (:meth:`NodeTree.refresh`: frequencies and ``/proc/stat`` every tick, energy, utilisation and frames every
50 ms, temperatures and battery every 100 ms). The simulation itself (governors, :class:`~metadvfs.sim.core.SimCore`
stepping, statistics) is in :mod:`metadvfs.twin.driver`, the passing of time in :mod:`metadvfs.twin.clock`.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metadvfs.catalog.types import DOMAINS, DeviceProfile
from metadvfs.core.domains import CPU_DOMAINS, GPU_INDEX
from metadvfs.sim.core import SimCore
from metadvfs.tasks.task import Task
from metadvfs.twin.clock import TICK_S
from metadvfs.twin.controls import Control, CpuPolicy, KgslGpu, MaliGpu, fmt_list
from metadvfs.twin.family import SURFACEVIEW_CATEGORIES, Facts, app_package
from metadvfs.twin.phone import Phone

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


class NodeTree:
    """Node files of one twin, rendered from the simulated phone's state.

    The simulator (:class:`metadvfs.twin.driver.Driver`) subclasses it and sets the state read here in its
    ``__init__``; the annotations below list that state.
    """

    # --- set by the simulator (Driver.__init__)
    phone: Phone
    profile: DeviceProfile
    facts: Facts
    faults: frozenset[str]
    rng: np.random.Generator
    core: SimCore
    task: Task
    policies: list[CpuPolicy]
    gpu: MaliGpu | KgslGpu
    n_cpus: int
    ticks: int
    no_write: bool
    busy_j: np.ndarray
    energy_mj: np.ndarray
    base_mj: float
    total_mj: float
    _win_mj: float
    _win_s: float
    avg_power_w: float
    _gpu_util_acc: float
    _gpu_util_n: int
    gpu_util_pct: int
    frames: collections.deque[Frame]
    period_ns: int
    boot_wall: float
    battery_unplugged: bool
    fg: tuple[str, str]
    # --- node state (set here)
    controls: list[Control]
    shown: dict[str, str]
    _empty: set[str]
    garbled: set[str]
    missing: tuple[str, ...]
    zone_paths: list[tuple[str, str]]
    cdevs: list[tuple[str, int]]
    cdev_dirs: list[str]
    votes: dict[str, int]
    n_base_rails: int

    def _init_nodes(self) -> None:
        """Empty node state (before :meth:`build_tree`)."""
        self.controls = []
        self.shown = {}
        self._empty = set()
        self.garbled = set()
        self.missing = ()

    # ================================================================== layout
    def build_tree(self) -> None:
        """Create every node of the phone and its control nodes (called once, before the clock starts)."""
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

    # ================================================================== control nodes
    def _read_controls(self) -> bool:
        """Read control nodes whose file changed and apply them (kernel semantics); True when a limit changed."""
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
        return changed

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
