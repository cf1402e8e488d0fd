"""The ``vendor:`` section of a device profile: the governor settings the phone's own configuration sets.

It holds what the ``stock`` governor (:mod:`metadvfs.governors.vendor_stack`) needs and nothing it does not use:
per-cluster cpufreq rate limits from the init scripts, the schedutil util margin, the top-app boost, the PowerHAL
hints of ``powerhint.json`` that fire during the apps (``INTERACTION``, ``LAUNCH``, ``REFRESH``), the PowerHAL
interaction handler's timing, ADPF render-thread uclamp (Tensor G3) and the GPU governor's call interval. Every
block names its ``source`` as ``repository@commit:path``. The section is optional; see ``devices/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from metadvfs.catalog.types import CPU_DOMAINS

HINT_NAMES: tuple[str, ...] = ("INTERACTION", "LAUNCH", "REFRESH")
"""PowerHAL hints the simulator models (the ones that fire during the catalog apps). ``REFRESH`` is the
``REFRESH_<rate>FPS`` mode of the display's refresh rate, on while the display is active."""

SOURCE_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}:\S.*$")
"""``repository@commit:path`` with a full 40-hex commit."""

CPUFREQ_GOVERNORS = ("schedutil", "sched_pixel")
UCLAMP_MAX = 1024

_VENDOR_KEYS = ("cpufreq", "util_margin", "top_app", "interaction_handler", "hints", "adpf", "gpu_governor", "notes")
_RATE_KEYS = ("up_rate_limit_us", "down_rate_limit_us")
_HINT_KEYS = ("source", "min_freq_khz", "schedtune_boost_pct", "uclamp_min", "duration_ms")


@dataclass(frozen=True)
class RateLimits:
    """cpufreq governor rate limits of one cluster (``policyN/<governor>/{up,down}_rate_limit_us``), us."""

    up_us: float
    down_us: float


@dataclass(frozen=True)
class BoostSpec:
    """What a boost does while it is active.

    Attributes:
        min_freq_khz: ``scaling_min_freq`` per CPU domain, kHz (values above the top OPP mean the top OPP).
        schedtune_boost_pct: schedtune boost of the top-app group, % (0 = none).
        uclamp_min: uclamp.min of the top-app group, 0..1024 (0 = none).
        duration_ms: Duration written in powerhint.json, ms (0 = the caller's duration).
        source: ``repository@commit:path``.
    """

    min_freq_khz: dict[str, int] = field(default_factory=dict)
    schedtune_boost_pct: float = 0.0
    uclamp_min: int = 0
    duration_ms: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class InteractionHandlerSpec:
    """Pixel PowerHAL ``InteractionHandler`` timing (``vendor.powerhal.interaction.*`` defaults), ms.

    A touch's boost lasts ``clamp(duration + offset, min, max)``; after ``idle_wait`` the handler releases it
    as soon as the display is idle.
    """

    min_ms: float
    max_ms: float
    offset_ms: float
    idle_wait_ms: float
    source: str


@dataclass(frozen=True)
class AdpfPid:
    """The ADPF session's PID on the work-duration error (``AdpfConfig`` ``PID_*``, error in 100 us units).

    Attributes:
        p_over: ``PID_Po``, gain when the frame ran over its target.
        p_under: ``PID_Pu``, gain when it was under.
        i: ``PID_I``, integral gain; must be 0 (the integral term and its clamps are not modelled).
        d_over: ``PID_Do``, derivative gain for a rising error.
        d_under: ``PID_Du``, derivative gain for a falling error.
        target_time_factor: ``TargetTimeFactor`` (target = frame period times it).
        stale_time_factor: ``StaleTimeFactor`` (the uclamp vote lasts this many targets after a report).
        reporting_rate_limit_ms: ``ReportingRateLimitNs`` / 1e6, the preferred report rate, ms.
    """

    p_over: float
    p_under: float
    i: float
    d_over: float
    d_under: float
    target_time_factor: float
    stale_time_factor: float
    reporting_rate_limit_ms: float


@dataclass(frozen=True)
class AdpfSpec:
    """ADPF hint-session uclamp of the UI/RenderThread (``AdpfConfig`` of powerhint.json), 0..1024.

    Without ``pid`` the initial uclamp is held while the app renders.
    """

    uclamp_min_init: int
    uclamp_min_low: int
    uclamp_min_high: int
    source: str
    pid: AdpfPid | None = None


@dataclass(frozen=True)
class GpuGovernorSpec:
    """The stock GPU governor: ``name`` and its call interval, ms (``None``: the simulator's default)."""

    name: str
    call_interval_ms: float | None
    source: str


@dataclass(frozen=True)
class VendorSpec:
    """The ``vendor:`` section.

    Attributes:
        cpufreq_governor: ``schedutil`` or ``sched_pixel`` (Pixel's schedutil variant, same rule).
        rate_limits: Per CPU domain present.
        cpufreq_source: Where the governor and its rate limits are set.
        util_margin: schedutil headroom factor (``None``: the kernel's 1.25).
        util_margin_source: Its source.
        top_app: Steady top-app boost (schedtune or uclamp), or ``None``.
        interaction_handler: PowerHAL interaction timing, or ``None``.
        hints: Modelled PowerHAL hints by name (:data:`HINT_NAMES`).
        adpf: ADPF uclamp of the UI threads, or ``None``.
        gpu_governor: The GPU governor, or ``None``.
    """

    cpufreq_governor: str
    rate_limits: dict[str, RateLimits]
    cpufreq_source: str
    util_margin: float | None = None
    util_margin_source: str = ""
    top_app: BoostSpec | None = None
    interaction_handler: InteractionHandlerSpec | None = None
    hints: dict[str, BoostSpec] = field(default_factory=dict)
    adpf: AdpfSpec | None = None
    gpu_governor: GpuGovernorSpec | None = None


def parse_vendor(ck: Any, obj: Any, present: set[str]) -> VendorSpec:
    """Validate the ``vendor:`` section.

    Args:
        ck: The profile's field checker (``metadvfs.catalog.devices._Checker``): its errors are one line naming
            the file and the field path.
        obj: The parsed section.
        present: CPU domains the profile has.

    Returns:
        The spec.
    """
    ck.mapping(obj, "vendor", ("cpufreq",), tuple(k for k in _VENDOR_KEYS if k != "cpufreq"))
    cf = ck.mapping(obj["cpufreq"], "vendor.cpufreq", ("governor", "source"), CPU_DOMAINS)
    gov = ck.string(cf["governor"], "vendor.cpufreq.governor")
    if gov not in CPUFREQ_GOVERNORS:
        raise ck.fail("vendor.cpufreq.governor", f"must be one of {', '.join(CPUFREQ_GOVERNORS)}, got {gov!r}")
    rates: dict[str, RateLimits] = {}
    for dom in CPU_DOMAINS:
        if dom not in cf:
            continue
        f = f"vendor.cpufreq.{dom}"
        if dom not in present:
            raise ck.fail(f, f"the profile has no {dom!r} cluster (clusters: {', '.join(sorted(present))})")
        r = ck.mapping(cf[dom], f, _RATE_KEYS)
        rates[dom] = RateLimits(
            up_us=ck.number(r["up_rate_limit_us"], f"{f}.up_rate_limit_us", 0.0, 1e6),
            down_us=ck.number(r["down_rate_limit_us"], f"{f}.down_rate_limit_us", 0.0, 1e6),
        )
    spec: dict[str, Any] = {
        "cpufreq_governor": gov,
        "rate_limits": rates,
        "cpufreq_source": _source(ck, cf["source"], "vendor.cpufreq.source"),
    }
    if "util_margin" in obj:
        m = ck.mapping(obj["util_margin"], "vendor.util_margin", ("value", "source"))
        spec["util_margin"] = ck.number(m["value"], "vendor.util_margin.value", 1.0, 2.0)
        spec["util_margin_source"] = _source(ck, m["source"], "vendor.util_margin.source")
    if "top_app" in obj:
        spec["top_app"] = _boost(ck, obj["top_app"], "vendor.top_app", present)
    if "interaction_handler" in obj:
        f = "vendor.interaction_handler"
        h = ck.mapping(obj[f.split(".")[1]], f, ("min_ms", "max_ms", "offset_ms", "idle_wait_ms", "source"))
        lo = ck.number(h["min_ms"], f"{f}.min_ms", 0.0, 60_000.0)
        spec["interaction_handler"] = InteractionHandlerSpec(
            min_ms=lo,
            max_ms=ck.number(h["max_ms"], f"{f}.max_ms", lo, 60_000.0),
            offset_ms=ck.number(h["offset_ms"], f"{f}.offset_ms", 0.0, 60_000.0),
            idle_wait_ms=ck.number(h["idle_wait_ms"], f"{f}.idle_wait_ms", 0.0, 60_000.0),
            source=_source(ck, h["source"], f"{f}.source"),
        )
    hints: dict[str, BoostSpec] = {}
    if "hints" in obj:
        raw = obj["hints"]
        if not isinstance(raw, dict):
            raise ck.fail("vendor.hints", f"must be a mapping of hint name -> boost, got {type(raw).__name__}")
        for name, h in raw.items():
            if name not in HINT_NAMES:
                raise ck.fail(f"vendor.hints.{name}", f"unknown hint name; allowed: {', '.join(HINT_NAMES)}")
            hints[name] = _boost(ck, h, f"vendor.hints.{name}", present)
    spec["hints"] = hints
    inter = hints.get("INTERACTION")
    if inter is not None and inter.duration_ms == 0 and "interaction_handler" not in spec:
        raise ck.fail(
            "vendor.hints.INTERACTION.duration_ms",
            "0 (the caller's duration) needs a vendor.interaction_handler section, or give a duration > 0 ms",
        )
    if "adpf" in obj:
        f = "vendor.adpf"
        a = ck.mapping(obj["adpf"], f, ("uclamp_min_init", "uclamp_min_low", "uclamp_min_high", "source"), ("pid",))
        low = ck.integer(a["uclamp_min_low"], f"{f}.uclamp_min_low", 0, UCLAMP_MAX)
        high = ck.integer(a["uclamp_min_high"], f"{f}.uclamp_min_high", low, UCLAMP_MAX)
        spec["adpf"] = AdpfSpec(
            uclamp_min_init=ck.integer(a["uclamp_min_init"], f"{f}.uclamp_min_init", 0, UCLAMP_MAX),
            uclamp_min_low=low,
            uclamp_min_high=high,
            source=_source(ck, a["source"], f"{f}.source"),
            pid=None if a.get("pid") is None else _pid(ck, a["pid"], f"{f}.pid"),
        )
    if "gpu_governor" in obj:
        f = "vendor.gpu_governor"
        g = ck.mapping(obj["gpu_governor"], f, ("name", "source"), ("call_interval_ms",))
        ci = g.get("call_interval_ms")
        spec["gpu_governor"] = GpuGovernorSpec(
            name=ck.string(g["name"], f"{f}.name"),
            call_interval_ms=None if ci is None else ck.number(ci, f"{f}.call_interval_ms", 1.0, 1000.0),
            source=_source(ck, g["source"], f"{f}.source"),
        )
    return VendorSpec(**spec)


_PID_KEYS = (
    "p_over",
    "p_under",
    "i",
    "d_over",
    "d_under",
    "target_time_factor",
    "stale_time_factor",
    "reporting_rate_limit_ms",
)


def _pid(ck: Any, obj: Any, f: str) -> AdpfPid:
    p = ck.mapping(obj, f, _PID_KEYS)
    gains = {k: ck.number(p[k], f"{f}.{k}", 0.0, 1e6) for k in ("p_over", "p_under", "d_over", "d_under")}
    gains["i"] = ck.number(p["i"], f"{f}.i", 0.0, 0.0)  # the integral term (PID_I_High/Low clamps) is not modelled
    return AdpfPid(
        **gains,
        target_time_factor=ck.number(p["target_time_factor"], f"{f}.target_time_factor", 0.0, 10.0, strict_lo=True),
        stale_time_factor=ck.number(p["stale_time_factor"], f"{f}.stale_time_factor", 0.0, 1000.0, strict_lo=True),
        reporting_rate_limit_ms=ck.number(
            p["reporting_rate_limit_ms"], f"{f}.reporting_rate_limit_ms", 0.0, 10_000.0, strict_lo=True
        ),
    )


def _source(ck: Any, value: Any, field_path: str) -> str:
    s = ck.string(value, field_path)
    if not SOURCE_RE.match(s):
        raise ck.fail(field_path, f"must be 'repository@<40-hex commit>:path', got {s!r}")
    return s


def _boost(ck: Any, obj: Any, f: str, present: set[str]) -> BoostSpec:
    b = ck.mapping(obj, f, ("source",), tuple(k for k in _HINT_KEYS if k != "source"))
    mins: dict[str, int] = {}
    raw = b.get("min_freq_khz") or {}
    if not isinstance(raw, dict):
        raise ck.fail(f"{f}.min_freq_khz", f"must be a mapping of CPU domain -> kHz, got {type(raw).__name__}")
    for dom, v in raw.items():
        if dom not in CPU_DOMAINS:
            raise ck.fail(f"{f}.min_freq_khz.{dom}", f"unknown CPU domain; allowed: {', '.join(CPU_DOMAINS)}")
        if dom not in present:
            raise ck.fail(f"{f}.min_freq_khz.{dom}", f"the profile has no {dom!r} cluster")
        mins[dom] = ck.integer(v, f"{f}.min_freq_khz.{dom}", 0, 100_000_000)
    return BoostSpec(
        min_freq_khz=mins,
        schedtune_boost_pct=ck.number(b.get("schedtune_boost_pct", 0), f"{f}.schedtune_boost_pct", 0.0, 100.0),
        uclamp_min=ck.integer(b.get("uclamp_min", 0), f"{f}.uclamp_min", 0, UCLAMP_MAX),
        duration_ms=ck.number(b.get("duration_ms", 0), f"{f}.duration_ms", 0.0, 3_600_000.0),
        source=_source(ck, b["source"], f"{f}.source"),
    )
