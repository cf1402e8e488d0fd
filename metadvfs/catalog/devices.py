"""Device profiles: load, validate and summarise ``devices/*.yaml`` (schema ``metadvfs.device/1``).

A profile is a YAML (or JSON) file with the OPP tables, power model, thermal model and throttle rules of one
phone. The shipped profiles live in ``data_dir("devices")``; a user adds a phone by writing a new file and
passing its path (see ``devices/README.md`` for the format). Every problem in a file is reported as a
one-line :class:`~metadvfs.errors.MetaDVFSError` naming the file, the field path and the allowed range.

Units follow the field names: ``_khz`` kHz, ``_mw`` milliwatts, ``_c`` degrees Celsius, ``_v`` volts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from metadvfs.catalog.types import (
    CPU_DOMAINS,
    DOMAINS,
    ClusterSpec,
    DeviceMetadata,
    DeviceProfile,
    GpuSpec,
    IdleStates,
    MaliLevel,
    ThermalSpec,
    ThrottleRule,
    WifiSpec,
)
from metadvfs.catalog.vendor import parse_vendor
from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.io import document_format, parse_document
from metadvfs.paths import data_dir

SCHEMA_ID = "metadvfs.device/1"
PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
TEMP_RANGE_C = (0.0, 150.0)

_TOP_REQUIRED = (
    "schema",
    "name",
    "display_name",
    "codenames",
    "metadata",
    "clusters",
    "gpu",
    "thermal",
    "base_power_mw",
    "nominal_voltage_v",
)
_TOP_OPTIONAL = ("sources", "estimated", "notes", "vendor", "wifi")
_WIFI_KEYS = ("idle_ma", "rx_ma", "tx_ma", "voltage_v", "link_mbps")
_MAX_WIFI_MA = 5000.0  # far above any radio current in a power_profile.xml (hundreds of mA)
_MAX_LINK_MBPS = 50_000.0  # above any 802.11 PHY rate (Wi-Fi 7: 46 Gbit/s)
_META_REQUIRED = ("soc", "soc_family", "vendor", "year", "gpu_family", "display_refresh_hz", "battery_mah")
_CLUSTER_REQUIRED = (
    "name",
    "domain",
    "cpus",
    "cores",
    "core_type",
    "capacity",
    "ipc",
    "freqs_khz",
    "power_mw",
    "idle_mw",
    "static_mw",
)
_CLUSTER_OPTIONAL = ("idle_states",)
_IDLE_KEYS = ("core_off", "cluster_off")
_CORE_OFF_KEYS = ("entry_us", "exit_us", "min_residency_us", "power_mw", "exit_active_us")
_MAX_RESIDENCY_US = 1_000_000.0  # 1 s: far above any cpuidle target residency
_GPU_REQUIRED = ("name", "family", "freqs_khz", "power_mw", "idle_mw", "throughput", "governor")
_GPU_OPTIONAL = ("mali_dvfs",)
_MALI_REQUIRED = ("freq_khz", "down_util", "up_util", "hys_ticks")
_THERMAL_REQUIRED = (
    "ambient_c",
    "c_die_j_per_c",
    "c_skin_j_per_c",
    "r_die_skin_c_per_w",
    "r_skin_amb_c_per_w",
    "skin_throttle_c",
    "die_throttle_c",
    "shutdown_c",
    "rules",
)
_RULE_REQUIRED = ("sensor", "trip_c", "clear_c", "caps_khz", "source")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CPUS_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


# --------------------------------------------------------------------------------------------------- parsing
def _display(path: Path) -> str:
    """Short name of a profile file for messages: ``devices/x.yaml`` for shipped ones, else the path."""
    try:
        root = data_dir("devices")
        return f"devices/{path.relative_to(root)}"
    except (ValueError, FileNotFoundError):
        return str(path)


def _parse(path: Path, where: str) -> dict[str, Any]:
    """Read and parse one profile file into a mapping (one-line errors, no tracebacks)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetaDVFSError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaDVFSError(f"{where}: cannot read file: {exc}") from None
    if not text.strip():
        raise MetaDVFSError(f"{where}: empty file; expected a device profile (schema {SCHEMA_ID})")
    doc = parse_document(text, where, document_format(path))
    if doc is None:
        raise MetaDVFSError(f"{where}: empty file; expected a device profile (schema {SCHEMA_ID})")
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{where}: top level must be a mapping, got {type(doc).__name__}")
    return doc


# ------------------------------------------------------------------------------------------------ validation
class _Checker:
    """Field validators that raise one-line errors of the form ``<file>: <field path>: <problem>``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, msg: str) -> MetaDVFSError:
        return MetaDVFSError(f"{self.where}: {field}: {msg}")

    def mapping(self, obj: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(obj, dict):
            raise self.fail(field, f"must be a mapping, got {type(obj).__name__}")
        for key in required:
            if key not in obj:
                raise self.fail(_join(field, key), "required key is missing")
        allowed = set(required) | set(optional)
        for key in obj:
            if key not in allowed:
                raise self.fail(
                    _join(field, str(key)),
                    f"unknown key; allowed: {', '.join(sorted(allowed))} (put free-form data under 'notes')",
                )
        return obj

    def string(self, obj: Any, field: str) -> str:
        if not isinstance(obj, str) or not obj.strip():
            raise self.fail(field, f"must be a non-empty string, got {obj!r}")
        return obj

    def integer(self, obj: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(obj, bool) or not isinstance(obj, int):
            raise self.fail(field, f"must be an integer, got {obj!r}")
        self._range(obj, field, lo, hi)
        return obj

    def number(
        self, obj: Any, field: str, lo: float | None = None, hi: float | None = None, strict_lo: bool = False
    ) -> float:
        if isinstance(obj, bool) or not isinstance(obj, (int, float)) or not math.isfinite(obj):
            raise self.fail(field, f"must be a finite number, got {obj!r}")
        if strict_lo and lo is not None and not obj > lo:
            raise self.fail(field, f"must be > {lo:g}, got {obj:g}")
        self._range(obj, field, None if strict_lo else lo, hi)
        return float(obj)

    def _range(self, value: float, field: str, lo: float | None, hi: float | None) -> None:
        if lo is not None and hi is not None and not lo <= value <= hi:
            raise self.fail(field, f"must be in [{lo:g}, {hi:g}], got {value:g}")
        if lo is not None and value < lo:
            raise self.fail(field, f"must be >= {lo:g}, got {value:g}")
        if hi is not None and value > hi:
            raise self.fail(field, f"must be <= {hi:g}, got {value:g}")

    def temperature(self, obj: Any, field: str) -> float:
        return self.number(obj, field, *TEMP_RANGE_C)

    def seq(self, obj: Any, field: str, min_len: int = 1) -> list:
        if not isinstance(obj, list):
            raise self.fail(field, f"must be a list, got {type(obj).__name__}")
        if len(obj) < min_len:
            raise self.fail(field, f"must have at least {min_len} entries, got {len(obj)}")
        return obj

    def freqs(self, obj: Any, field: str) -> tuple[int, ...]:
        values = self.seq(obj, field)
        out = tuple(self.integer(v, f"{field}[{i}]", lo=1) for i, v in enumerate(values))
        for i in range(1, len(out)):
            if out[i] <= out[i - 1]:
                raise self.fail(
                    field,
                    f"must be strictly increasing (kHz), but [{i}] = {out[i]} <= [{i - 1}] = {out[i - 1]}",
                )
        return out

    def powers(self, obj: Any, field: str, n: int) -> tuple[float, ...]:
        values = self.seq(obj, field)
        if len(values) != n:
            raise self.fail(field, f"length {len(values)} does not match freqs_khz ({n})")
        return tuple(self.number(v, f"{field}[{i}]", lo=0.0, strict_lo=True) for i, v in enumerate(values))

    def per_opp(self, obj: Any, field: str, n: int) -> tuple[float, ...]:
        """A power >= 0 (mW) given once for every OPP or as a list aligned with ``freqs_khz``."""
        if isinstance(obj, list):
            if len(obj) != n:
                raise self.fail(field, f"length {len(obj)} does not match freqs_khz ({n}); or give one number")
            return tuple(self.number(v, f"{field}[{i}]", lo=0.0) for i, v in enumerate(obj))
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            raise self.fail(field, f"must be a number >= 0 (mW) or a list of {n} numbers, got {obj!r}")
        return (self.number(obj, field, lo=0.0),) * n


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _count_cpus(cpus: str) -> int:
    n = 0
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        n += (int(hi) - int(lo) + 1) if hi else 1
    return n


def _build_cluster(ck: _Checker, obj: Any, field: str) -> ClusterSpec:
    c = ck.mapping(obj, field, _CLUSTER_REQUIRED, _CLUSTER_OPTIONAL)
    domain = ck.string(c["domain"], f"{field}.domain")
    if domain not in CPU_DOMAINS:
        raise ck.fail(f"{field}.domain", f"must be one of {', '.join(CPU_DOMAINS)}, got {domain!r}")
    cpus = c["cpus"]
    if isinstance(cpus, int) and not isinstance(cpus, bool):
        cpus = str(cpus)
    cpus = ck.string(cpus, f"{field}.cpus")
    if not _CPUS_RE.match(cpus):
        raise ck.fail(f"{field}.cpus", f"must be a CPU list such as '0-3' or '7', got {cpus!r}")
    cores = ck.integer(c["cores"], f"{field}.cores", lo=1)
    if _count_cpus(cpus) != cores:
        raise ck.fail(f"{field}.cores", f"must equal the number of CPUs in cpus {cpus!r} ({_count_cpus(cpus)})")
    freqs = ck.freqs(c["freqs_khz"], f"{field}.freqs_khz")
    return ClusterSpec(
        name=ck.string(c["name"], f"{field}.name"),
        domain=domain,  # type: ignore[arg-type]
        cpus=cpus,
        cores=cores,
        core_type=ck.string(c["core_type"], f"{field}.core_type"),
        capacity=ck.integer(c["capacity"], f"{field}.capacity", lo=1),
        ipc=ck.number(c["ipc"], f"{field}.ipc", lo=0.0, strict_lo=True),
        freqs_khz=freqs,
        power_mw=ck.powers(c["power_mw"], f"{field}.power_mw", len(freqs)),
        idle_mw=ck.per_opp(c["idle_mw"], f"{field}.idle_mw", len(freqs)),
        static_mw=ck.per_opp(c["static_mw"], f"{field}.static_mw", len(freqs)),
        idle_states=_build_idle_states(ck, c["idle_states"], f"{field}.idle_states") if "idle_states" in c else None,
    )


def _build_idle_states(ck: _Checker, obj: Any, field: str) -> IdleStates:
    """``clusters[].idle_states``: ``core_off`` (DT idle state + its power) and ``cluster_off`` (min residency)."""
    m = ck.mapping(obj, field, _IDLE_KEYS)
    core = ck.mapping(m["core_off"], f"{field}.core_off", _CORE_OFF_KEYS)
    cl = ck.mapping(m["cluster_off"], f"{field}.cluster_off", ("min_residency_us",))

    def us(v: Any, f: str) -> float:
        return ck.number(v, f, lo=0.0, hi=_MAX_RESIDENCY_US)

    core_res = us(core["min_residency_us"], f"{field}.core_off.min_residency_us")
    cl_res = us(cl["min_residency_us"], f"{field}.cluster_off.min_residency_us")
    if cl_res < core_res:
        raise ck.fail(
            f"{field}.cluster_off.min_residency_us",
            f"must be >= core_off.min_residency_us ({core_res:g} us; the cluster powers down only with every core "
            f"in core_off), got {cl_res:g}",
        )
    return IdleStates(
        core_off_entry_us=us(core["entry_us"], f"{field}.core_off.entry_us"),
        core_off_exit_us=us(core["exit_us"], f"{field}.core_off.exit_us"),
        core_off_min_residency_us=core_res,
        core_off_mw=ck.number(core["power_mw"], f"{field}.core_off.power_mw", lo=0.0, hi=10_000.0),
        exit_active_us=us(core["exit_active_us"], f"{field}.core_off.exit_active_us"),
        cluster_off_min_residency_us=cl_res,
    )


def _build_gpu(ck: _Checker, obj: Any) -> GpuSpec:
    g = ck.mapping(obj, "gpu", _GPU_REQUIRED, _GPU_OPTIONAL)
    family = ck.string(g["family"], "gpu.family")
    if family not in ("adreno", "mali"):
        raise ck.fail("gpu.family", f"must be one of adreno, mali, got {family!r}")
    freqs = ck.freqs(g["freqs_khz"], "gpu.freqs_khz")
    levels: list[MaliLevel] = []
    rows = g.get("mali_dvfs") or []
    for i, row in enumerate(ck.seq(rows, "gpu.mali_dvfs", min_len=0)):
        f = f"gpu.mali_dvfs[{i}]"
        r = ck.mapping(row, f, _MALI_REQUIRED)
        freq = ck.integer(r["freq_khz"], f"{f}.freq_khz", lo=1)
        if freq not in freqs:
            raise ck.fail(f"{f}.freq_khz", f"must be one of gpu.freqs_khz, got {freq}")
        if levels and freq <= levels[-1].freq_khz:
            raise ck.fail(f"{f}.freq_khz", "rows must be in strictly increasing frequency order")
        down = ck.integer(r["down_util"], f"{f}.down_util", 0, 100)
        up = ck.integer(r["up_util"], f"{f}.up_util", 0, 100)
        if down > up:
            raise ck.fail(f, f"down_util ({down}) must be <= up_util ({up})")
        hys = ck.integer(r["hys_ticks"], f"{f}.hys_ticks", lo=0)
        levels.append(MaliLevel(freq_khz=freq, down_util=down, up_util=up, hys_ticks=hys))
    return GpuSpec(
        name=ck.string(g["name"], "gpu.name"),
        family=family,  # type: ignore[arg-type]
        freqs_khz=freqs,
        power_mw=ck.powers(g["power_mw"], "gpu.power_mw", len(freqs)),
        idle_mw=ck.per_opp(g["idle_mw"], "gpu.idle_mw", len(freqs)),
        throughput=ck.number(g["throughput"], "gpu.throughput", lo=0.0, strict_lo=True),
        governor=ck.string(g["governor"], "gpu.governor"),
        mali_dvfs=tuple(levels),
    )


def _build_thermal(ck: _Checker, obj: Any, present: set[str]) -> ThermalSpec:
    t = ck.mapping(obj, "thermal", _THERMAL_REQUIRED)
    positive = {
        k: ck.number(t[k], f"thermal.{k}", lo=0.0, strict_lo=True)
        for k in ("c_die_j_per_c", "c_skin_j_per_c", "r_die_skin_c_per_w", "r_skin_amb_c_per_w")
    }
    temps = {
        k: ck.temperature(t[k], f"thermal.{k}")
        for k in ("ambient_c", "skin_throttle_c", "die_throttle_c", "shutdown_c")
    }
    if temps["shutdown_c"] <= temps["skin_throttle_c"]:
        raise ck.fail(
            "thermal.shutdown_c",
            f"must be > skin_throttle_c ({temps['skin_throttle_c']:g}), got {temps['shutdown_c']:g}",
        )
    rules: list[ThrottleRule] = []
    for i, rule in enumerate(ck.seq(t["rules"], "thermal.rules", min_len=0)):
        f = f"thermal.rules[{i}]"
        r = ck.mapping(rule, f, _RULE_REQUIRED)
        sensor = ck.string(r["sensor"], f"{f}.sensor")
        if sensor not in ("skin", "die"):
            raise ck.fail(f"{f}.sensor", f"must be one of skin, die, got {sensor!r}")
        trip = ck.temperature(r["trip_c"], f"{f}.trip_c")
        clear = ck.temperature(r["clear_c"], f"{f}.clear_c")
        if not clear < trip:
            raise ck.fail(f"{f}.clear_c", f"must be < trip_c ({trip:g}), got {clear:g}")
        caps_obj = r["caps_khz"]
        if not isinstance(caps_obj, dict) or not caps_obj:
            raise ck.fail(f"{f}.caps_khz", "must be a non-empty mapping {domain: kHz}")
        caps: dict[str, int] = {}
        for dom, cap in caps_obj.items():
            if dom not in DOMAINS:
                raise ck.fail(f"{f}.caps_khz.{dom}", f"unknown domain; must be one of {', '.join(DOMAINS)}")
            if dom not in present:
                raise ck.fail(
                    f"{f}.caps_khz.{dom}", f"domain not present on this device ({', '.join(sorted(present))})"
                )
            caps[dom] = ck.integer(cap, f"{f}.caps_khz.{dom}", lo=1)
        rules.append(
            ThrottleRule(
                sensor=sensor,  # type: ignore[arg-type]
                trip_c=trip,
                clear_c=clear,
                caps_khz=caps,
                source=ck.string(r["source"], f"{f}.source"),
            )
        )
    return ThermalSpec(
        ambient_c=temps["ambient_c"],
        c_die_j_per_c=positive["c_die_j_per_c"],
        c_skin_j_per_c=positive["c_skin_j_per_c"],
        r_die_skin_c_per_w=positive["r_die_skin_c_per_w"],
        r_skin_amb_c_per_w=positive["r_skin_amb_c_per_w"],
        skin_throttle_c=temps["skin_throttle_c"],
        die_throttle_c=temps["die_throttle_c"],
        shutdown_c=temps["shutdown_c"],
        rules=tuple(rules),
    )


def _build_metadata(ck: _Checker, obj: Any) -> DeviceMetadata:
    m = ck.mapping(obj, "metadata", _META_REQUIRED)
    battery = m["battery_mah"]
    return DeviceMetadata(
        soc=ck.string(m["soc"], "metadata.soc"),
        soc_family=ck.string(m["soc_family"], "metadata.soc_family"),
        vendor=ck.string(m["vendor"], "metadata.vendor"),
        year=ck.integer(m["year"], "metadata.year", 1990, 2100),
        gpu_family=ck.string(m["gpu_family"], "metadata.gpu_family"),
        display_refresh_hz=ck.integer(m["display_refresh_hz"], "metadata.display_refresh_hz", 1, 1000),
        battery_mah=None if battery is None else ck.number(battery, "metadata.battery_mah", lo=0.0, strict_lo=True),
    )


def _build_profile(doc: dict[str, Any], where: str, path: Path | None) -> DeviceProfile:
    """Validate a parsed document and build the typed profile."""
    ck = _Checker(where)
    schema = doc.get("schema")
    if schema is None:
        raise ck.fail("schema", f"required key is missing; expected {SCHEMA_ID!r}")
    if schema != SCHEMA_ID:
        raise ck.fail("schema", f"must be {SCHEMA_ID!r}, got {schema!r}")
    ck.mapping(doc, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    name = ck.string(doc["name"], "name")
    if not _NAME_RE.match(name):
        raise ck.fail("name", f"must match {_NAME_RE.pattern} (letters, digits, '_', '-', '.'), got {name!r}")
    codenames = tuple(ck.string(c, f"codenames[{i}]") for i, c in enumerate(ck.seq(doc["codenames"], "codenames")))
    sources = tuple(ck.string(s, f"sources[{i}]") for i, s in enumerate(ck.seq(doc.get("sources") or [], "sources", 0)))
    est_obj = doc.get("estimated") or {}
    if not isinstance(est_obj, dict):
        raise ck.fail("estimated", f"must be a mapping {{field path: method}}, got {type(est_obj).__name__}")
    estimated = {str(k): ck.string(v, f"estimated.{k}") for k, v in est_obj.items()}

    raw_clusters = ck.seq(doc["clusters"], "clusters")
    if not 2 <= len(raw_clusters) <= 3:
        raise ck.fail("clusters", f"must have 2 or 3 clusters (little, [mid,] big), got {len(raw_clusters)}")
    clusters = [_build_cluster(ck, c, f"clusters[{i}]") for i, c in enumerate(raw_clusters)]
    seen: dict[str, int] = {}
    for i, c in enumerate(clusters):
        if c.domain in seen:
            raise ck.fail(f"clusters[{i}].domain", f"domain {c.domain!r} already used by clusters[{seen[c.domain]}]")
        seen[c.domain] = i
    for dom in ("little", "big"):
        if dom not in seen:
            raise ck.fail("clusters", f"a {dom!r} cluster is required (domains present: {', '.join(seen)})")
    order = [CPU_DOMAINS.index(c.domain) for c in clusters]
    if order != sorted(order):
        raise ck.fail(
            "clusters", f"must be ordered little -> mid -> big, got {' -> '.join(c.domain for c in clusters)}"
        )
    present = {c.domain for c in clusters} | {"gpu"}
    return DeviceProfile(
        name=name,
        display_name=ck.string(doc["display_name"], "display_name"),
        codenames=codenames,
        metadata=_build_metadata(ck, doc["metadata"]),
        clusters=tuple(clusters),
        gpu=_build_gpu(ck, doc["gpu"]),
        thermal=_build_thermal(ck, doc["thermal"], present),
        base_power_mw=ck.number(doc["base_power_mw"], "base_power_mw", lo=0.0),
        nominal_voltage_v=ck.number(doc["nominal_voltage_v"], "nominal_voltage_v", lo=0.0, strict_lo=True),
        sources=sources,
        estimated=estimated,
        path=str(path) if path is not None else None,
        vendor=None if doc.get("vendor") is None else parse_vendor(ck, doc["vendor"], present - {"gpu"}),
        wifi=None if doc.get("wifi") is None else _build_wifi(ck, doc["wifi"]),
    )


def _build_wifi(ck: _Checker, obj: Any) -> WifiSpec:
    """``wifi``: the Wi-Fi controller's currents (mA), its voltage (V) and the link goodput (Mbit/s)."""
    w = ck.mapping(obj, "wifi", _WIFI_KEYS)
    ma = {k: ck.number(w[k], f"wifi.{k}", 0.0, _MAX_WIFI_MA) for k in ("idle_ma", "rx_ma", "tx_ma")}
    return WifiSpec(
        **ma,
        voltage_v=ck.number(w["voltage_v"], "wifi.voltage_v", 0.5, 10.0),
        link_mbps=ck.number(w["link_mbps"], "wifi.link_mbps", 0.0, _MAX_LINK_MBPS, strict_lo=True),
    )


# ---------------------------------------------------------------------------------------------- public API
def list_devices() -> list[str]:
    """Names of the shipped device profiles.

    Returns:
        Sorted file stems of the ``*.yaml`` / ``*.yml`` files in ``data_dir("devices")``, e.g.
        ``["pixel3", "pixel4", ...]``.
    """
    root = data_dir("devices")
    return sorted(p.stem for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))


def _is_path_like(arg: str) -> bool:
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in arg for s in seps) or arg.lower().endswith(PROFILE_SUFFIXES)


def _resolve(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path) or _is_path_like(str(name_or_path)):
        path = Path(name_or_path).expanduser()
        if not path.is_file() and path.name == str(name_or_path):
            shipped = data_dir("devices") / path.name  # bare file name: also try the catalog directory
            if shipped.is_file():
                return shipped.resolve()
        if not path.is_file():
            raise MetaDVFSError(f"{path}: device profile file not found")
        return path.resolve()
    name = str(name_or_path).strip()
    known = list_devices()
    root = data_dir("devices")
    for candidate in (name, name.lower()):
        for suffix in (".yaml", ".yml"):
            path = root / f"{candidate}{suffix}"
            if path.is_file():
                return path.resolve()
    raise unknown_name("device", name, known, "a device profile file (myphone.yaml; format in devices/README.md)")


@functools.lru_cache(maxsize=64)
def _load_cached(resolved: str, mtime_ns: int, size: int) -> DeviceProfile:
    path = Path(resolved)
    where = _display(path)
    return _build_profile(_parse(path, where), where, path)


def load_device(name_or_path: str | Path) -> DeviceProfile:
    """Load and validate a device profile.

    Args:
        name_or_path: A catalog name (``"pixel6"``, looked up in ``data_dir("devices")``) or a path to a
            ``.yaml``/``.yml``/``.json`` profile. Any argument containing a path separator or ending in one of
            those suffixes is treated as a path, so users can add phones without code.

    Returns:
        The immutable profile (cached by resolved path and modification time; do not mutate its dicts).

    Raises:
        MetaDVFSError: Unknown device name (the message lists the known ones), missing file, parse error or
            any invalid field; the one-line message names the file, the field path and the allowed range.
    """
    path = _resolve(name_or_path)
    st = path.stat()
    return _load_cached(str(path), st.st_mtime_ns, st.st_size)


def profile_from_dict(doc: dict[str, Any], where: str = "<dict>") -> DeviceProfile:
    """Validate an in-memory profile document (same structure as a file) and build the profile.

    Args:
        doc: Parsed profile mapping.
        where: Label used in error messages instead of a file name.

    Returns:
        The profile, with ``path=None``.

    Raises:
        MetaDVFSError: Any invalid field (one-line message).
    """
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{where}: top level must be a mapping, got {type(doc).__name__}")
    return _build_profile(doc, where, None)


def _mhz(khz: int) -> float:
    return round(khz / 1000.0, 1)


def device_to_dict(profile: DeviceProfile) -> dict[str, Any]:
    """JSON-able summary of a profile (used by ``metadvfs devices --json``).

    Args:
        profile: A loaded profile.

    Returns:
        A dict with ``name``, ``display_name``, ``codenames``, metadata fields, ``domain_mask``
        (little, mid, big, gpu), ``clusters`` (domain, cores, core type, fmin/fmax in MHz, number of OPPs,
        peak per-core power in mW, ipc), ``gpu`` (name, fmin/fmax MHz, n OPPs, peak power mW, governor),
        thermal trip points in degC, ``base_power_mw``, ``wifi`` (the ``wifi:`` currents in mA, voltage in V
        and link in Mbit/s, or ``None``), ``n_estimated``, ``vendor_governors`` (summary of the ``vendor:``
        section or ``None``), ``path`` and ``hash``.
    """
    m = profile.metadata
    g = profile.gpu
    t = profile.thermal
    return {
        "name": profile.name,
        "display_name": profile.display_name,
        "codenames": list(profile.codenames),
        "soc": m.soc,
        "soc_family": m.soc_family,
        "vendor": m.vendor,
        "year": m.year,
        "gpu_family": m.gpu_family,
        "display_refresh_hz": m.display_refresh_hz,
        "battery_mah": m.battery_mah,
        "domain_mask": list(profile.domain_mask),
        "n_cores": sum(c.cores for c in profile.clusters),
        "clusters": [
            {
                "name": c.name,
                "domain": c.domain,
                "cpus": c.cpus,
                "cores": c.cores,
                "core_type": c.core_type,
                "capacity": c.capacity,
                "ipc": c.ipc,
                "n_opps": len(c.freqs_khz),
                "fmin_mhz": _mhz(c.freqs_khz[0]),
                "fmax_mhz": _mhz(c.freqs_khz[-1]),
                "power_max_mw": round(c.power_mw[-1], 2),
            }
            for c in profile.clusters
        ],
        "gpu": {
            "name": g.name,
            "family": g.family,
            "n_opps": len(g.freqs_khz),
            "fmin_mhz": _mhz(g.freqs_khz[0]),
            "fmax_mhz": _mhz(g.freqs_khz[-1]),
            "power_max_mw": round(g.power_mw[-1], 2),
            "throughput": g.throughput,
            "governor": g.governor,
        },
        "n_opps": {c.domain: len(c.freqs_khz) for c in profile.clusters} | {"gpu": len(g.freqs_khz)},
        "skin_throttle_c": t.skin_throttle_c,
        "die_throttle_c": t.die_throttle_c,
        "shutdown_c": t.shutdown_c,
        "n_rules": len(t.rules),
        "base_power_mw": profile.base_power_mw,
        "wifi": None if profile.wifi is None else dataclasses.asdict(profile.wifi),
        "n_sources": len(profile.sources),
        "n_estimated": len(profile.estimated),
        "vendor_governors": None
        if profile.vendor is None
        else {
            "cpufreq_governor": profile.vendor.cpufreq_governor,
            "hints": sorted(profile.vendor.hints),
            "adpf": profile.vendor.adpf is not None,
            "gpu_governor": None if profile.vendor.gpu_governor is None else profile.vendor.gpu_governor.name,
        },
        "path": profile.path,
        "hash": profile_hash(profile),
    }


def profile_hash(profile: DeviceProfile) -> str:
    """Content hash of a profile, independent of file formatting, comments and location.

    The hash is the SHA-256 of the canonical JSON (sorted keys, no whitespace) of every profile field except
    ``path`` and ``vendor`` (the stock governor's settings, which change no physics), so a YAML profile and its
    JSON copy hash equal, and any change of a number changes the hash.

    Args:
        profile: A loaded profile.

    Returns:
        The first 16 hex characters of the SHA-256 digest.
    """
    data = dataclasses.asdict(profile)
    data.pop("path", None)
    data.pop("vendor", None)  # the stock governor's settings: they change no simulated physics
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
