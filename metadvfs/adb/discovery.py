"""Discover a phone's DVFS interfaces: cpufreq policies, GPU, thermal zones, power meters.

Nothing is hard-coded per phone: policies come from ``/sys/devices/system/cpu/cpufreq``, the GPU is found
as Qualcomm KGSL (``/sys/class/kgsl/kgsl-3d0``) or a Mali device (``/sys/devices/platform/*.mali`` or
``/sys/class/misc/mali0/device``), thermal zones are mapped by their ``type``, power comes from ODPM rails
(``/sys/bus/iio/devices/iio:device*/energy_value``, Pixel 6+) or the battery fuel gauge. Discovery takes two
shell round trips (list directories, then read every candidate file) and validates what it reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from metadvfs.adb.link import AdbLink
from metadvfs.adb.parsers import (
    parse_cpu_list,
    parse_freq_khz,
    parse_freq_list,
    parse_getprop,
    parse_int,
    parse_odpm,
    parse_temp_c,
    parse_time_in_state,
    parse_word,
    parse_words,
)
from metadvfs.adb.sections import Script, Section, parse_sections
from metadvfs.adb.shellsafe import check_name, check_path
from metadvfs.errors import MetaDVFSError

CPUFREQ_DIR = "/sys/devices/system/cpu/cpufreq"
THERMAL_DIR = "/sys/class/thermal"
IIO_DIR = "/sys/bus/iio/devices"
KGSL_DIR = "/sys/class/kgsl/kgsl-3d0"
MALI_MISC_DIR = "/sys/class/misc/mali0/device"
PLATFORM_DIR = "/sys/devices/platform"
BATTERY_DIR = "/sys/class/power_supply/battery"

DIE_ZONE_RE = re.compile(r"(?i)(cpu|gpu|big|mid|little|g3d|soc|tsens)")
"""Thermal-zone types that measure the SoC die (max over them is the die temperature)."""
SKIN_ZONE_RES: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)skin"),
    re.compile(r"(?i)(quiet|fps|sdm|xo|usb|disp)[-_]?therm"),
)
"""Thermal-zone types for the skin temperature, in order of preference."""
COOLING_RE = re.compile(r"^thermal-(cpufreq|gpufreq|devfreq)-\d+$")
"""Cooling devices whose non-zero ``cur_state`` means the platform caps CPU/GPU clocks."""


@dataclass(frozen=True)
class PolicyInfo:
    """One cpufreq policy.

    Attributes:
        name: ``policyN`` (N = first CPU).
        path: Its sysfs directory.
        cpus: ``related_cpus``.
        freqs_khz: Frequency table, kHz ascending (``scaling_available_frequencies`` or ``stats/time_in_state``).
        governors: ``scaling_available_governors``.
        governor: ``scaling_governor`` at discovery.
        min_khz: ``scaling_min_freq`` at discovery, kHz.
        max_khz: ``scaling_max_freq`` at discovery, kHz.
        has_setspeed: ``scaling_setspeed`` exists.
    """

    name: str
    path: str
    cpus: tuple[int, ...]
    freqs_khz: tuple[int, ...]
    governors: tuple[str, ...]
    governor: str
    min_khz: int
    max_khz: int
    has_setspeed: bool

    def node(self, leaf: str) -> str:
        """Full path of a file of this policy."""
        return f"{self.path}/{leaf}"

    @property
    def userspace(self) -> bool:
        """The ``userspace`` governor and ``scaling_setspeed`` are available."""
        return "userspace" in self.governors and self.has_setspeed


@dataclass(frozen=True)
class GpuInfo:
    """The GPU's devfreq-like interface.

    Attributes:
        family: ``adreno`` (KGSL) or ``mali``.
        path: Device directory.
        freqs_khz: Frequency table, kHz ascending.
        cur_node: Current frequency file.
        util_node: Utilisation file (percent).
        min_node: Lower limit file.
        max_node: Upper limit file.
        scale: Multiply a node value by this to get kHz (``1e-3`` for Hz nodes, 1 for kHz).
        min_value: Lower limit at discovery, in node units.
        max_value: Upper limit at discovery, in node units.
    """

    family: str
    path: str
    freqs_khz: tuple[int, ...]
    cur_node: str
    util_node: str
    min_node: str
    max_node: str
    scale: float
    min_value: int
    max_value: int

    def to_node(self, khz: int) -> int:
        """Convert kHz to node units."""
        return round(khz / self.scale)

    @property
    def node_table(self) -> tuple[int, ...]:
        """The table in node units (the only values written)."""
        return tuple(self.to_node(f) for f in self.freqs_khz)


@dataclass(frozen=True)
class ThermalInfo:
    """Thermal zones used.

    Attributes:
        types: ``{zone dir: type}`` of every zone.
        die_zones: ``temp`` files whose maximum is the die temperature.
        skin_zone: ``temp`` file of the skin sensor (``None`` if no zone matched).
        cooling: ``cur_state`` files of CPU/GPU frequency cooling devices.
    """

    types: dict[str, str]
    die_zones: tuple[str, ...]
    skin_zone: str | None
    cooling: tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerInfo:
    """Power meters.

    Attributes:
        kind: ``odpm``, ``battery`` or ``none``.
        odpm_nodes: ``energy_value`` files.
        rails: Rail schematic names seen, in order.
        battery_current: ``current_now`` (uA) file or ``None``.
        battery_voltage: ``voltage_now`` (uV) file or ``None``.
    """

    kind: str
    odpm_nodes: tuple[str, ...] = ()
    rails: tuple[str, ...] = ()
    battery_current: str | None = None
    battery_voltage: str | None = None


@dataclass(frozen=True)
class Layout:
    """Everything discovered about a phone.

    Attributes:
        codename: ``ro.product.device``.
        model: ``ro.product.model``.
        sdk: ``ro.build.version.sdk``.
        policies: cpufreq policies ordered by first CPU.
        gpu: The GPU.
        thermal: Thermal zones.
        power: Power meters.
        notes: Things a user may want to know (skipped zones, fallbacks).
    """

    codename: str
    model: str
    sdk: str
    policies: tuple[PolicyInfo, ...]
    gpu: GpuInfo
    thermal: ThermalInfo
    power: PowerInfo
    notes: tuple[str, ...] = field(default_factory=tuple)

    def policy(self, name: str) -> PolicyInfo | None:
        """The policy called ``name`` (``policyN``) or ``None``."""
        for p in self.policies:
            if p.name == name:
                return p
        return None


def _ls(sec: Section, where: str) -> list[str]:
    if sec.failed:
        return []
    names = sec.text.split()
    for n in names:
        if not re.match(r"^[A-Za-z0-9_.,:@+=-]+$", n):
            raise MetaDVFSError(f"{where}: unexpected directory entry {n[:60]!r}")
    return names


def _need(sec: Section, node: str) -> str:
    if sec.failed:
        if sec.missing:
            raise MetaDVFSError(f"{node}: missing on the phone")
        if sec.denied:
            raise MetaDVFSError(f"{node}: permission denied (is the phone rooted?)")
        raise MetaDVFSError(f"{node}: cannot read: {sec.text.strip()[:100]!r}")
    return sec.text


def discover(link: AdbLink) -> Layout:
    """Discover the phone's DVFS interfaces (two shell round trips).

    Args:
        link: A connected link (root is used for reading when available).

    Returns:
        The layout.

    Raises:
        MetaDVFSError: Missing cpufreq or GPU interfaces, garbage in a node (the message names it).
    """
    s1 = Script()
    s1.run("codename", "getprop ro.product.device")
    s1.run("model", "getprop ro.product.model")
    s1.run("sdk", "getprop ro.build.version.sdk")
    s1.run("cpufreq", f"ls {CPUFREQ_DIR}")
    s1.run("thermal", f"ls {THERMAL_DIR}")
    s1.run("iio", f"ls {IIO_DIR}")
    s1.run("kgsl", f"ls {KGSL_DIR}")
    s1.run("kgsl_devfreq", f"ls {KGSL_DIR}/devfreq")
    s1.run("platform", f"ls {PLATFORM_DIR}")
    s1.run("mali_misc", f"ls {MALI_MISC_DIR}/")
    s1.run("battery", f"ls {BATTERY_DIR}/")
    r1 = parse_sections(link.read_shell(s1.text()), s1)
    codename = parse_getprop(r1["codename"].text, "getprop ro.product.device")
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", codename):
        raise MetaDVFSError(f"getprop ro.product.device: unexpected codename {codename[:60]!r}")
    model = parse_getprop(r1["model"].text, "getprop ro.product.model")
    sdk = parse_getprop(r1["sdk"].text, "getprop ro.build.version.sdk")
    policies = sorted(
        (n for n in _ls(r1["cpufreq"], CPUFREQ_DIR) if re.match(r"^policy\d+$", n)), key=lambda n: int(n[6:])
    )
    if not policies:
        raise MetaDVFSError(f"{CPUFREQ_DIR}: no cpufreq policies (policyN) on the phone")
    zones = sorted(
        (n for n in _ls(r1["thermal"], THERMAL_DIR) if re.match(r"^thermal_zone\d+$", n)), key=lambda n: int(n[12:])
    )
    cdevs = [n for n in _ls(r1["thermal"], THERMAL_DIR) if re.match(r"^cooling_device\d+$", n)]
    iio = [n for n in _ls(r1["iio"], IIO_DIR) if re.match(r"^iio:device\d+$", n)]
    kgsl = _ls(r1["kgsl"], KGSL_DIR)
    kgsl_devfreq = _ls(r1["kgsl_devfreq"], f"{KGSL_DIR}/devfreq")
    mali_dirs = [f"{PLATFORM_DIR}/{n}" for n in _ls(r1["platform"], PLATFORM_DIR) if re.match(r"^[0-9a-f]+\.mali$", n)]
    mali_misc = _ls(r1["mali_misc"], MALI_MISC_DIR)
    battery = _ls(r1["battery"], BATTERY_DIR)

    # second round trip: every candidate file
    s2 = Script()
    pol_leaves = (
        "related_cpus",
        "scaling_available_frequencies",
        "scaling_available_governors",
        "scaling_governor",
        "scaling_min_freq",
        "scaling_max_freq",
        "scaling_setspeed",
        "stats/time_in_state",
    )
    for p in policies:
        for leaf in pol_leaves:
            s2.cat(f"{p}.{leaf.replace('/', '.')}", f"{CPUFREQ_DIR}/{p}/{leaf}")
    for z in zones:
        s2.cat(f"{z}.type", f"{THERMAL_DIR}/{z}/type")
    for c in cdevs:
        s2.cat(f"{c}.type", f"{THERMAL_DIR}/{c}/type")
    for d in iio:
        key = d.replace(":", "_")
        s2.cat(f"{key}.name", f"{IIO_DIR}/{d}/name")
        s2.cat(f"{key}.energy", f"{IIO_DIR}/{d}/energy_value")
    gpu_dir, gpu_family = _gpu_dir(kgsl, kgsl_devfreq, mali_dirs, mali_misc)
    gpu_files = _gpu_files(gpu_family, gpu_dir)
    for key, path in gpu_files.items():
        s2.cat(f"gpu.{key}", path)
    r2 = parse_sections(link.read_shell(s2.text()), s2)

    notes: list[str] = []
    pinfos = [_policy(r2, p) for p in policies]
    gpu = _gpu(r2, gpu_family, gpu_dir, gpu_files)
    thermal = _thermal(r2, zones, cdevs, notes)
    power = _power(r2, iio, battery, notes)
    thermal = _check_temps(link, thermal, notes)
    return Layout(
        codename=codename,
        model=model,
        sdk=sdk,
        policies=tuple(pinfos),
        gpu=gpu,
        thermal=thermal,
        power=power,
        notes=tuple(notes),
    )


def _check_temps(link: AdbLink, thermal: ThermalInfo, notes: list[str]) -> ThermalInfo:
    """Read every selected zone once: unreadable zones are dropped (noted), garbage is an error."""
    paths = [*thermal.die_zones, *([thermal.skin_zone] if thermal.skin_zone else [])]
    if not paths:
        return thermal
    s = Script()
    for i, path in enumerate(paths):
        s.cat(f"t{i}", path)
    r = parse_sections(link.read_shell(s.text()), s)
    ok: set[str] = set()
    for i, path in enumerate(paths):
        sec = r[f"t{i}"]
        if sec.failed:
            notes.append(f"{path} unreadable ({sec.text.strip()[:60]}); zone skipped")
            continue
        parse_temp_c(sec.text, path)
        ok.add(path)
    return ThermalInfo(
        types=thermal.types,
        die_zones=tuple(p for p in thermal.die_zones if p in ok),
        skin_zone=thermal.skin_zone if thermal.skin_zone in ok else None,
        cooling=thermal.cooling,
    )


def _policy(r: dict[str, Section], p: str) -> PolicyInfo:
    base = f"{CPUFREQ_DIR}/{p}"

    def sec(leaf: str) -> Section:
        return r[f"{p}.{leaf.replace('/', '.')}"]

    cpus = parse_cpu_list(_need(sec("related_cpus"), f"{base}/related_cpus"), f"{base}/related_cpus")
    avail = sec("scaling_available_frequencies")
    if not avail.failed and avail.text.strip():
        freqs = parse_freq_list(avail.text, f"{base}/scaling_available_frequencies")
    else:
        tis = sec("stats/time_in_state")
        if tis.failed:
            raise MetaDVFSError(
                f"{base}: no frequency table (neither scaling_available_frequencies nor stats/time_in_state)"
            )
        freqs = sorted(parse_time_in_state(tis.text, f"{base}/stats/time_in_state"))
    govs = parse_words(
        _need(sec("scaling_available_governors"), f"{base}/scaling_available_governors"),
        f"{base}/scaling_available_governors",
    )
    gov = parse_word(_need(sec("scaling_governor"), f"{base}/scaling_governor"), f"{base}/scaling_governor")
    for g in [*govs, gov]:
        check_name(g, f"{base}/scaling_governor")
    mn = parse_freq_khz(_need(sec("scaling_min_freq"), f"{base}/scaling_min_freq"), f"{base}/scaling_min_freq")
    mx = parse_freq_khz(_need(sec("scaling_max_freq"), f"{base}/scaling_max_freq"), f"{base}/scaling_max_freq")
    setspeed = sec("scaling_setspeed")
    return PolicyInfo(
        name=p,
        path=base,
        cpus=tuple(cpus),
        freqs_khz=tuple(freqs),
        governors=tuple(govs),
        governor=gov,
        min_khz=mn,
        max_khz=mx,
        has_setspeed=not setspeed.missing,
    )


def _gpu_dir(kgsl: list[str], kgsl_devfreq: list[str], mali_dirs: list[str], mali_misc: list[str]) -> tuple[str, str]:
    if kgsl and kgsl_devfreq:
        return KGSL_DIR, "adreno"
    for d in mali_dirs:
        return check_path(d), "mali"
    if mali_misc:
        return MALI_MISC_DIR, "mali"
    if kgsl:
        return KGSL_DIR, "adreno"
    raise MetaDVFSError(
        f"no GPU frequency interface found: neither {KGSL_DIR}/devfreq (Adreno) nor a Mali device "
        f"({PLATFORM_DIR}/*.mali, {MALI_MISC_DIR})"
    )


def _gpu_files(family: str, d: str) -> dict[str, str]:
    if family == "mali":
        return {
            "table": f"{d}/available_frequencies",
            "cur": f"{d}/cur_freq",
            "util": f"{d}/utilization",
            "min": f"{d}/scaling_min_freq",
            "max": f"{d}/scaling_max_freq",
        }
    return {
        "table": f"{d}/devfreq/available_frequencies",
        "table_alt": f"{d}/gpu_available_frequencies",
        "cur": f"{d}/devfreq/cur_freq",
        "cur_alt": f"{d}/gpuclk",
        "util": f"{d}/gpu_busy_percentage",
        "min": f"{d}/devfreq/min_freq",
        "max": f"{d}/devfreq/max_freq",
    }


def _gpu(r: dict[str, Section], family: str, d: str, files: dict[str, str]) -> GpuInfo:
    def pick(*keys: str) -> tuple[str, Section]:
        for k in keys:
            if k in files and not r[f"gpu.{k}"].failed:
                return files[k], r[f"gpu.{k}"]
        k = keys[0]
        return files[k], r[f"gpu.{k}"]

    scale = 1.0 if family == "mali" else 1e-3  # Mali nodes are kHz, KGSL devfreq nodes Hz
    tpath, tsec = pick("table", "table_alt")
    freqs = parse_freq_list(_need(tsec, tpath), tpath, scale)
    cpath, csec = pick("cur", "cur_alt")
    cur = round(parse_int(_need(csec, cpath), cpath, 1) * scale)
    if not freqs[0] // 2 <= cur <= freqs[-1] * 2:
        raise MetaDVFSError(f"{cpath}: current frequency {cur} kHz far outside the table {freqs[0]}..{freqs[-1]}")
    upath, usec = pick("util")
    _need(usec, upath)
    mn = parse_int(_need(r["gpu.min"], files["min"]), files["min"], 1)
    mx = parse_int(_need(r["gpu.max"], files["max"]), files["max"], 1)
    return GpuInfo(
        family=family,
        path=d,
        freqs_khz=tuple(freqs),
        cur_node=cpath,
        util_node=upath,
        min_node=files["min"],
        max_node=files["max"],
        scale=scale,
        min_value=mn,
        max_value=mx,
    )


def _thermal(r: dict[str, Section], zones: list[str], cdevs: list[str], notes: list[str]) -> ThermalInfo:
    types: dict[str, str] = {}
    for z in zones:
        sec = r[f"{z}.type"]
        if sec.failed:
            notes.append(f"{THERMAL_DIR}/{z}/type unreadable; zone skipped")
            continue
        t = sec.text.strip()
        if not re.match(r"^[A-Za-z0-9_.@+-]{1,64}$", t):
            raise MetaDVFSError(f"{THERMAL_DIR}/{z}/type: unexpected zone type {t[:60]!r}")
        types[z] = t
    die = tuple(
        f"{THERMAL_DIR}/{z}/temp" for z, t in types.items() if DIE_ZONE_RE.search(t) and "skin" not in t.lower()
    )
    skin = None
    for pat in SKIN_ZONE_RES:
        hits = [z for z, t in types.items() if pat.search(t)]
        if hits:
            skin = f"{THERMAL_DIR}/{hits[0]}/temp"
            break
    cooling = []
    for c in cdevs:
        sec = r[f"{c}.type"]
        if not sec.failed and COOLING_RE.match(sec.text.strip()):
            cooling.append(f"{THERMAL_DIR}/{c}/cur_state")
    return ThermalInfo(
        types={f"{THERMAL_DIR}/{z}": t for z, t in types.items()},
        die_zones=die,
        skin_zone=skin,
        cooling=tuple(cooling),
    )


def _power(r: dict[str, Section], iio: list[str], battery: list[str], notes: list[str]) -> PowerInfo:
    nodes: list[str] = []
    rails: list[str] = []
    for d in iio:
        key = d.replace(":", "_")
        sec = r[f"{key}.energy"]
        if sec.failed:
            continue
        path = f"{IIO_DIR}/{d}/energy_value"
        reading = parse_odpm(sec.text, path)
        nodes.append(path)
        rails.extend(reading.rails)
    if nodes:
        return PowerInfo(kind="odpm", odpm_nodes=tuple(nodes), rails=tuple(rails))
    if "current_now" in battery and "voltage_now" in battery:
        return PowerInfo(
            kind="battery",
            battery_current=f"{BATTERY_DIR}/current_now",
            battery_voltage=f"{BATTERY_DIR}/voltage_now",
        )
    notes.append("no power meter (ODPM or battery current_now/voltage_now); power is estimated from the profile")
    return PowerInfo(kind="none")
