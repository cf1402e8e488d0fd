"""Per-device facts the twin needs that device profiles (``devices/*.yaml``) do not hold.

Sources: docs/android-interfaces.md (cited by section below) and the device-data JSON files of
/work/shared/device-data (``thermal.hal_thermal_info_config.<codename>``). Anything not found there is a twin
choice and says so. A user profile (a YAML path) gets the facts of its GPU family (``adreno`` -> Pixel 5 style,
``mali`` -> Pixel 6 style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metadvfs.catalog.types import DeviceProfile


@dataclass(frozen=True)
class Zone:
    """One thermal zone: its ``type`` string and which simulator temperature it reports.

    Attributes:
        type: Zone type as in ``/sys/class/thermal/thermal_zoneN/type``.
        source: ``die`` (SoC junction node of the simulator) or ``skin`` (skin node).
    """

    type: str
    source: Literal["die", "skin"]


@dataclass(frozen=True)
class Rail:
    """One ODPM channel.

    Attributes:
        name: Schematic rail name, e.g. ``S4M_VDD_CPUCL0``.
        subsys: Subsystem label of ``enabled_rails``, e.g. ``CPU(LITTLE)``.
        domain: Simulator domain whose power the rail carries (``little``/``mid``/``big``/``gpu``), or ``None``
            for a rail that carries an equal share of the simulator's rest-of-phone base power.
    """

    name: str
    subsys: str
    domain: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the twin emulates for one phone beyond its device profile.

    Attributes:
        family: ``adreno`` (Qualcomm, Pixel 3/4/5) or ``mali`` (Tensor, Pixel 6/8).
        platform: ``ro.board.platform``.
        android: ``(ro.build.version.release, ro.build.version.sdk)`` (twin choice: the last major release).
        scaling_driver: cpufreq ``scaling_driver``.
        cpu_governors: ``scaling_available_governors`` (the ``no_userspace`` fault removes ``userspace``).
        gpu_dir: On-phone GPU sysfs directory (§3 KGSL, §4 Mali).
        gpu_governors: GPU governors offered; the first is the default.
        zones: Thermal zones in ``thermal_zoneN`` order (§5; types from device-data).
        odpm: ``(iio device name, 8 rails)`` per IIO device (§6.1), empty on phones without ODPM.
        services: init services and their default state (``init.svc.<name>``), §9.
        skin_service: Service whose stop disables the simulated skin throttle rules (the userspace thermal
            daemon: thermal-engine on Qualcomm, the thermal HAL on Tensor).
        props: Extra default properties (§9).
        schedutil_rate_limit: Whether ``policyN/schedutil/rate_limit_us`` exists (§1, Pixel 6).
        cdev_by_name: Whether ``/dev/thermal/cdev-by-name/`` exists (§5, Pixel 6 RL script).
    """

    family: Literal["adreno", "mali"]
    platform: str
    android: tuple[str, int]
    scaling_driver: str
    cpu_governors: tuple[str, ...]
    gpu_dir: str
    gpu_governors: tuple[str, ...]
    zones: tuple[Zone, ...]
    odpm: tuple[tuple[str, tuple[Rail, ...]], ...] = ()
    services: dict[str, str] = field(default_factory=dict)
    skin_service: str = ""
    props: dict[str, str] = field(default_factory=dict)
    schedutil_rate_limit: bool = False
    cdev_by_name: bool = False


QC_GOVERNORS = ("conservative", "ondemand", "userspace", "powersave", "performance", "schedutil")
# GKI android13-5.15 builds conservative/powersave/performance/schedutil in; userspace may be absent (§1 GKI caveat).
# The twin offers it by default and removes it with the no_userspace fault.
GKI_GOVERNORS = ("conservative", "powersave", "performance", "schedutil", "userspace")
KGSL_DIR = "/sys/class/kgsl/kgsl-3d0"  # §3
KGSL_GOVERNORS = ("msm-adreno-tz", "performance", "powersave", "simple_ondemand")  # §3: default msm-adreno-tz

_QC_SERVICES = {"vendor.thermal-engine": "running", "vendor.perfd": "running"}  # §9 (Qualcomm-era names)
_QC_PROPS = {"vendor.powerhal.init": "1"}  # §9
_TENSOR_PROPS = {  # §9 (AOSP 2022/2023 perf-setup)
    "persist.vendor.disable.thermal.control": "0",
    "persist.vendor.disable.thermal.tj.control": "0",
    "vendor.powerhal.init": "1",
}


def _zones(die: list[str], skin: list[str]) -> tuple[Zone, ...]:
    return tuple(Zone(t, "die") for t in die) + tuple(Zone(t, "skin") for t in skin)


# Thermal zone types: device-data thermal.hal_thermal_info_config.<codename>.soc_sensors (die) and
# skin_and_virtual_sensors (skin); "battery" is the fuel-gauge zone every Android phone has (twin choice: it
# reports the skin temperature). Pixel 3's thermal-engine reads "fps-therm-adc" (device-data README §4).
_P3_ZONES = _zones(
    [f"cpu{i}-silver-usr" for i in range(4)] + [f"cpu{i}-gold-usr" for i in range(4)] + ["gpu0-usr", "gpu1-usr"],
    ["fps-therm-adc", "fps-therm-monitor", "battery"],
)
_P4_ZONES = _zones(
    [f"cpu-0-{i}-usr" for i in range(4)] + [f"cpu-1-{i}-usr" for i in range(4)] + ["gpuss-0-usr", "gpuss-1-usr"],
    ["sdm-therm-monitor", "quiet-therm", "battery"],
)
_P5_ZONES = _zones(
    [f"cpu-0-{i}-usr" for i in range(6)] + [f"cpu-1-{i}-usr" for i in range(4)] + ["gpuss-0-usr", "gpuss-1-usr"],
    ["skin-therm-monitor", "battery"],
)
# Tensor: kernel TMU zones BIG/MID/LITTLE/G3D/TPU (device-data kernel_soc_thermal_zones_and_pi_controllers,
# soc_sensors). VIRTUAL-SKIN is a thermal-HAL virtual sensor on the real phone; the twin exposes it as a zone.
_TENSOR_ZONES = _zones(["BIG", "MID", "LITTLE", "G3D", "TPU"], ["VIRTUAL-SKIN", "battery"])

# ODPM rails, Pixel 6 (gs101, S2MPG10 main = iio:device0, S2MPG11 sub = iio:device1): channel order as printed
# by energy_value on a Pixel 6 (sample in ANGLE's restricted_trace_perf.py); the CPU rails on iio:device0
# CH3..CH5 match the Pixel 6 RL script (§6.1); subsystem labels from the gs101 rails table.
_P6_ODPM = (
    (
        "s2mpg10-odpm",
        (
            Rail("PPVAR_VSYS_PWR_DISP", "Display"),
            Rail("VSYS_PWR_MODEM", "Modem"),
            Rail("VSYS_PWR_RFFE", "Cellular"),
            Rail("S2M_VDD_CPUCL2", "CPU(BIG)", "big"),
            Rail("S3M_VDD_CPUCL1", "CPU(MID)", "mid"),
            Rail("S4M_VDD_CPUCL0", "CPU(LITTLE)", "little"),
            Rail("S5M_VDD_INT", "INT"),
            Rail("S1M_VDD_MIF", "MIF"),
        ),
    ),
    (
        "s2mpg11-odpm",
        (
            Rail("VSYS_PWR_WLAN_BT", "WLAN-BT"),
            Rail("L2S_VDD_AOC_RET", "AOC"),
            Rail("S9S_VDD_AOC", "AOC"),
            Rail("S5S_VDDQ_MEM", "DDR"),
            Rail("S10S_VDD2L", "DDR"),
            Rail("S4S_VDD2H_MEM", "DDR"),
            Rail("S2S_VDD_G3D", "GPU", "gpu"),
            Rail("L9S_GNSS_CORE", "GPS"),
        ),
    ),
)
# Pixel 8 (zuma, S2MPG14 main / S2MPG15 sub): CPU rail names from a zuma PMIC device-tree overlay
# (schematic-name S2M_VDD_CPUCL1 = MID, S3M_VDD_CPUCL2 = BIG); LITTLE and G3D as on gs101. Channel order is a
# twin choice (not verified on a phone): match rails by name (§6.1).
_P8_ODPM = (
    (
        "s2mpg14-odpm",
        (
            Rail("VSYS_PWR_MODEM", "Modem"),
            Rail("VSYS_PWR_RFFE", "Cellular"),
            Rail("S3M_VDD_CPUCL2", "CPU(BIG)", "big"),
            Rail("S2M_VDD_CPUCL1", "CPU(MID)", "mid"),
            Rail("S4M_VDD_CPUCL0", "CPU(LITTLE)", "little"),
            Rail("S5M_VDD_INT", "INT"),
            Rail("S1M_VDD_MIF", "MIF"),
            Rail("L15M_VDD_SLC_M", "SLC"),
        ),
    ),
    (
        "s2mpg15-odpm",
        (
            Rail("VSYS_PWR_DISPLAY", "Display"),
            Rail("S1S_VDD_CAM", "Multimedia"),
            Rail("S2S_VDD_G3D", "GPU", "gpu"),
            Rail("S4S_VDD2H_MEM", "DDR"),
            Rail("S5S_VDDQ_MEM", "DDR"),
            Rail("S10S_VDD2L", "DDR"),
            Rail("S9S_VDD_AOC", "AOC"),
            Rail("L2S_VDD_AOC_RET", "AOC"),
        ),
    ),
)

_TENSOR_SERVICES = {"vendor.thermal-hal-2-0": "running", "vendor.power-hal-aidl": "running"}  # §9

FACTS: dict[str, Facts] = {
    "pixel3": Facts(
        "adreno", "sdm845", ("12", 31), "qcom-cpufreq-hw", QC_GOVERNORS, KGSL_DIR, KGSL_GOVERNORS, _P3_ZONES,
        services=dict(_QC_SERVICES), skin_service="vendor.thermal-engine", props=dict(_QC_PROPS),
    ),
    "pixel4": Facts(
        "adreno", "msmnile", ("13", 33), "qcom-cpufreq-hw", QC_GOVERNORS, KGSL_DIR, KGSL_GOVERNORS, _P4_ZONES,
        services=dict(_QC_SERVICES), skin_service="vendor.thermal-engine", props=dict(_QC_PROPS),
    ),
    "pixel5": Facts(
        "adreno", "lito", ("14", 34), "qcom-cpufreq-hw", QC_GOVERNORS, KGSL_DIR, KGSL_GOVERNORS, _P5_ZONES,
        services=dict(_QC_SERVICES), skin_service="vendor.thermal-engine", props=dict(_QC_PROPS),
    ),
    # §4: gs101 Mali at /sys/devices/platform/1c500000.mali; device-data gpu.governor "quickstep"
    "pixel6": Facts(
        "mali", "gs101", ("15", 35), "exynos_acme", GKI_GOVERNORS, "/sys/devices/platform/1c500000.mali",
        ("quickstep",), _TENSOR_ZONES, _P6_ODPM, dict(_TENSOR_SERVICES), "vendor.thermal-hal-2-0",
        dict(_TENSOR_PROPS), schedutil_rate_limit=True, cdev_by_name=True,
    ),
    # §4: zuma Mali at /sys/devices/platform/1f000000.mali; device-data gpu.governor "quickstep_use_mcu"
    "pixel8": Facts(
        "mali", "zuma", ("15", 35), "exynos_acme", GKI_GOVERNORS, "/sys/devices/platform/1f000000.mali",
        ("quickstep_use_mcu",), _TENSOR_ZONES, _P8_ODPM, dict(_TENSOR_SERVICES), "vendor.thermal-hal-2-0",
        dict(_TENSOR_PROPS), schedutil_rate_limit=True, cdev_by_name=True,
    ),
}  # fmt: skip


def facts_for(profile: DeviceProfile) -> Facts:
    """Facts of a catalog phone, or of its GPU family's reference phone for a user profile."""
    if profile.name in FACTS:
        return FACTS[profile.name]
    return FACTS["pixel6" if profile.gpu.family == "mali" else "pixel5"]


SURFACEVIEW_CATEGORIES = ("short_video", "long_video", "gpu_benchmark")
"""App categories whose frames are presented through a SurfaceView layer (video players, GL games)."""


def app_package(name: str) -> tuple[str, str]:
    """``(package, activity class)`` of an app: its file's ``android`` block, else ``com.metadvfs.<name>``.

    Activity class names in the catalog are the best-known launcher activities (unverified): parsers key on the
    package.
    """
    from metadvfs.workload.apps import list_apps, load_app

    if name in list_apps():
        prof = load_app(name)
        if prof.packages:
            return prof.packages[0], prof.activity or f"{prof.packages[0]}.MainActivity"
    safe = "".join(c if c.isalnum() else "_" for c in name.lower()) or "app"
    return f"com.metadvfs.{safe}", f"com.metadvfs.{safe}.MainActivity"


def package_app(package: str) -> str | None:
    """Catalog app name of a package (from the app files' ``android.packages``), or ``None``."""
    from metadvfs.workload.apps import package_index

    return package_index().get(package)
