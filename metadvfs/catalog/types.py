"""Typed records for device profiles (the contents of ``devices/*.yaml``).

Units are in the field names: ``_khz`` kHz, ``_mw`` milliwatts, ``_c`` degrees Celsius, ``_s`` seconds.
Domains are canonical and device-agnostic: ``little``, ``mid``, ``big`` (CPU clusters) and ``gpu``. A
two-cluster phone (Pixel 3) has no ``mid`` domain; its mask is 0 everywhere in the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from metadvfs.catalog.vendor import VendorSpec

from metadvfs.core.domains import CPU_DOMAINS, DOMAINS, Domain  # noqa: F401  (defined there, re-exported here)


@dataclass(frozen=True)
class IdleStates:
    """Deep idle states of a CPU cluster (device-profile key ``clusters[].idle_states``; docs/simulator.md 6.1).

    Attributes:
        core_off_entry_us: Entry latency of the core power-down state (DT ``entry-latency-us``), us.
        core_off_exit_us: Exit latency of that state (DT ``exit-latency-us``), us.
        core_off_min_residency_us: An idle interval at least this long puts a core into the state (DT
            ``min-residency-us``), us.
        core_off_mw: Power of one core in the state, mW (it replaces ``idle_mw`` there).
        exit_active_us: Time charged at active power after each wake-up from the state, us.
        cluster_off_min_residency_us: Every core idle at least this long powers the cluster down; ``static_mw`` is not
            drawn then (DT cluster power-down ``target-residency``), us.
    """

    core_off_entry_us: float
    core_off_exit_us: float
    core_off_min_residency_us: float
    core_off_mw: float
    exit_active_us: float
    cluster_off_min_residency_us: float


@dataclass(frozen=True)
class ClusterSpec:
    """One CPU cluster (one cpufreq policy).

    Attributes:
        name: Cluster label from the source (e.g. ``"gold (big)"``).
        domain: Canonical domain, ``little`` | ``mid`` | ``big``.
        cpus: CPU range as in sysfs, e.g. ``"4-7"``; the cpufreq policy is ``policy<first cpu>``.
        cores: Number of cores.
        core_type: Micro-architecture, e.g. ``"Cortex-A55"``.
        capacity: Kernel ``capacity-dmips-mhz`` (or legacy EAS ``efficiency``), relative within the SoC.
        ipc: Reference work per cycle, relative to a Cortex-A76 core (= 1.0). Cross-device scale; estimated.
        freqs_khz: OPP frequencies in kHz, strictly increasing.
        power_mw: Active power of ONE busy core at each OPP, mW (aligned with ``freqs_khz``).
        idle_mw: Power of one idle (WFI / shallow idle) core at each OPP, mW (aligned with ``freqs_khz``;
            idle power depends on the OPP's voltage). A profile may give one number for every OPP.
        static_mw: Cluster-level power while the cluster is awake (shared L2/uncore) at each OPP, mW
            (aligned with ``freqs_khz``; one number in the profile means the same at every OPP).
        idle_states: Deep idle states (core and cluster power-down), or ``None`` where the device data has none
            (then idle cores draw ``idle_mw`` and ``static_mw`` is drawn all the time).
    """

    name: str
    domain: Domain
    cpus: str
    cores: int
    core_type: str
    capacity: int
    ipc: float
    freqs_khz: tuple[int, ...]
    power_mw: tuple[float, ...]
    idle_mw: tuple[float, ...]
    static_mw: tuple[float, ...]
    idle_states: IdleStates | None = None

    @property
    def fmax_khz(self) -> int:
        """Highest OPP in kHz."""
        return self.freqs_khz[-1]

    @property
    def first_cpu(self) -> int:
        """Index of the first CPU of the cluster (cpufreq policy number)."""
        return int(self.cpus.split("-")[0].split(",")[0])


@dataclass(frozen=True)
class MaliLevel:
    """One row of a Mali DVFS table (Tensor GPUs); thresholds in percent utilisation."""

    freq_khz: int
    down_util: int
    up_util: int
    hys_ticks: int


@dataclass(frozen=True)
class GpuSpec:
    """The GPU power domain.

    Attributes:
        name: Marketing/driver name, e.g. ``"Adreno 630"``.
        family: ``adreno`` | ``mali``.
        freqs_khz: OPP frequencies in kHz, strictly increasing.
        power_mw: Active GPU power at 100 % busy at each OPP, mW.
        idle_mw: GPU power while idle but clocked at each OPP, mW (aligned with ``freqs_khz``; one number in
            the profile means the same at every OPP).
        throughput: Reference GPU work per cycle relative to an Adreno 630 (= 1.0); estimated.
        governor: Stock devfreq governor: ``msm-adreno-tz`` (Adreno) or ``mali-quickstep`` (Tensor).
        mali_dvfs: Mali DVFS table rows, ascending frequency, or empty for Adreno.
    """

    name: str
    family: Literal["adreno", "mali"]
    freqs_khz: tuple[int, ...]
    power_mw: tuple[float, ...]
    idle_mw: tuple[float, ...]
    throughput: float
    governor: str
    mali_dvfs: tuple[MaliLevel, ...] = ()

    @property
    def fmax_khz(self) -> int:
        """Highest OPP in kHz."""
        return self.freqs_khz[-1]


@dataclass(frozen=True)
class ThrottleRule:
    """A thermal mitigation step: when ``sensor`` reaches ``trip_c`` cap the listed domains.

    The cap is released when the sensor falls to ``clear_c`` or below (hysteresis).

    Attributes:
        sensor: ``skin`` (virtual skin / board thermistor) or ``die`` (SoC junction).
        trip_c: Temperature that activates the rule, degC.
        clear_c: Temperature that releases it, degC (``clear_c < trip_c``).
        caps_khz: Maximum frequency per domain while active, kHz (need not be an OPP; the simulator
            rounds down to the highest OPP at or below it).
        source: Where the rule comes from (config file and rule name).
    """

    sensor: Literal["skin", "die"]
    trip_c: float
    clear_c: float
    caps_khz: dict[str, int]
    source: str


@dataclass(frozen=True)
class ThermalSpec:
    """Lumped two-node (die + skin) thermal model and the device's throttle rules.

    Attributes:
        ambient_c: Ambient temperature, degC.
        c_die_j_per_c: Heat capacity of the die node, J/degC.
        c_skin_j_per_c: Heat capacity of the skin/chassis node, J/degC.
        r_die_skin_c_per_w: Thermal resistance die -> skin, degC/W.
        r_skin_amb_c_per_w: Thermal resistance skin -> ambient, degC/W.
        skin_throttle_c: First skin throttle point (lowest ``skin`` rule trip), degC.
        die_throttle_c: SoC (junction) throttle point, degC.
        shutdown_c: Skin shutdown temperature, degC.
        rules: Throttle rules, any order.
    """

    ambient_c: float
    c_die_j_per_c: float
    c_skin_j_per_c: float
    r_die_skin_c_per_w: float
    r_skin_amb_c_per_w: float
    skin_throttle_c: float
    die_throttle_c: float
    shutdown_c: float
    rules: tuple[ThrottleRule, ...]


@dataclass(frozen=True)
class WifiSpec:
    """The Wi-Fi controller's currents (``wifi:`` section; AOSP ``power_profile.xml`` ``wifi.controller.*``).

    Android's BatteryStats charges the Wi-Fi controller ``idle_ma`` while it is awake but neither receiving nor
    transmitting, ``rx_ma`` / ``tx_ma`` while it receives / transmits, and nothing while it dozes in power save.
    :func:`metadvfs.sim.network.network_power_mw` turns these into the radio's power for an app's traffic.

    Attributes:
        idle_ma: Current while awake and idle (listening), mA (``wifi.controller.idle``).
        rx_ma: Current while receiving, mA (``wifi.controller.rx``).
        tx_ma: Current while transmitting, mA (``wifi.controller.tx``).
        voltage_v: Operating voltage, V (``wifi.controller.voltage`` / 1000).
        link_mbps: Goodput of the link while the radio receives or transmits, Mbit/s (turns an app's bitrate
            into the share of time spent receiving or transmitting); estimated.
    """

    idle_ma: float
    rx_ma: float
    tx_ma: float
    voltage_v: float
    link_mbps: float


@dataclass(frozen=True)
class DeviceMetadata:
    """Device metadata used for task similarity (issue: metadata encoder).

    Attributes:
        soc: SoC name, e.g. ``"Google Tensor (gs101)"``.
        soc_family: ``snapdragon`` | ``tensor`` (free text allowed for user profiles).
        vendor: SoC vendor, e.g. ``qualcomm`` | ``google``.
        year: Release year of the phone.
        gpu_family: ``adreno`` | ``mali``.
        display_refresh_hz: Maximum display refresh rate, Hz.
        battery_mah: Battery capacity, mAh (``None`` when unknown).
    """

    soc: str
    soc_family: str
    vendor: str
    year: int
    gpu_family: str
    display_refresh_hz: int
    battery_mah: float | None


@dataclass(frozen=True)
class DeviceProfile:
    """A phone: metadata, CPU clusters (ordered little -> big), GPU, thermal model, base power.

    Attributes:
        name: Catalog name, e.g. ``"pixel6"``.
        display_name: Human name, e.g. ``"Pixel 6"``.
        codenames: Android codenames, e.g. ``("oriole", "raven")``.
        metadata: See :class:`DeviceMetadata`.
        clusters: CPU clusters ordered by domain little -> mid -> big (2 or 3 of them).
        gpu: The GPU domain.
        thermal: Thermal model and throttle rules.
        base_power_mw: Power of everything else (display, DRAM, radios idle), mW; estimated.
        nominal_voltage_v: Battery nominal voltage used to turn power_profile mA into mW, V.
        sources: Upstream sources as ``repository@commit:path`` strings.
        estimated: ``{field path: method}`` for every value that is not read from a source.
        path: File the profile was loaded from (``None`` for in-memory profiles).
        vendor: The phone's own governor settings (``vendor:`` section), or ``None``; see
            :mod:`metadvfs.catalog.vendor`.
        wifi: The Wi-Fi controller's currents (``wifi:`` section), or ``None``: then an app's network traffic
            draws no power on this phone (docs/devices.md).
    """

    name: str
    display_name: str
    codenames: tuple[str, ...]
    metadata: DeviceMetadata
    clusters: tuple[ClusterSpec, ...]
    gpu: GpuSpec
    thermal: ThermalSpec
    base_power_mw: float
    nominal_voltage_v: float
    sources: tuple[str, ...] = ()
    estimated: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    vendor: VendorSpec | None = None
    wifi: WifiSpec | None = None

    def cluster(self, domain: str) -> ClusterSpec | None:
        """Return the cluster serving ``domain`` (``little``/``mid``/``big``), or ``None`` if absent."""
        for c in self.clusters:
            if c.domain == domain:
                return c
        return None

    @property
    def domain_mask(self) -> tuple[bool, bool, bool, bool]:
        """Presence of (little, mid, big, gpu)."""
        present = {c.domain for c in self.clusters}
        return ("little" in present, "mid" in present, "big" in present, True)
