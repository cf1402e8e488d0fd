"""Kernel semantics of the writable DVFS nodes: cpufreq policies (§1), Mali devfreq (§4), Adreno KGSL (§3).

Each state object parses writes the way the kernel's ``store`` functions do (``True`` = accepted, ``False`` =
``-EINVAL``: the twin puts the previous value back), renders every node the way the ``show`` functions do, and
turns the limits into a ``[lo, hi]`` range of simulator OPP indices (ascending frequency). Section numbers refer
to docs/android-interfaces.md.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def parse_uint(text: str) -> int | None:
    """``sscanf("%u")``-style parse of a sysfs write; ``None`` when it is not a non-negative integer."""
    t = text.strip()
    if not t or not t.isdigit():
        return None
    return int(t)


def idx_floor(freqs: list[int], f: int) -> int:
    """Highest OPP index with frequency <= ``f`` (``CPUFREQ_RELATION_H``), at least 0."""
    return max(0, bisect.bisect_right(freqs, f) - 1)


def idx_ceil(freqs: list[int], f: int) -> int:
    """Lowest OPP index with frequency >= ``f`` (``CPUFREQ_RELATION_L``), at most the top."""
    return min(len(freqs) - 1, bisect.bisect_left(freqs, f))


def fmt_list(values: list[int] | tuple[str, ...]) -> str:
    r"""Kernel list format: ``"a b c \n"`` (each item followed by a space)."""
    return "".join(f"{v} " for v in values) + "\n"


@dataclass
class Control:
    """One writable node.

    Attributes:
        path: On-phone path.
        apply: Parse and apply a written text; ``False`` rejects it (the twin restores the shown value).
        show: Current content.
        sig: ``(inode, mtime_ns, size)`` of the file when the twin last wrote it.
        snapshot: Include in :meth:`TwinServer.settings_snapshot` (write-only nodes are not).
        mode: File mode.
    """

    path: str
    apply: Callable[[str], bool]
    show: Callable[[], str]
    sig: tuple[int, int, int] | None = None
    snapshot: bool = True
    mode: int = 0o644


@dataclass
class CpuPolicy:
    """One cpufreq policy (§1) with its QoS requests and statistics.

    Attributes:
        dom: Simulator domain (0 little, 1 mid, 2 big).
        num: Policy number (first CPU of the cluster).
        cpus: CPUs of the policy.
        freqs: OPP table, kHz ascending.
        governors: ``scaling_available_governors``.
        governor: Current governor.
        min_req: ``scaling_min_freq`` request, kHz.
        max_req: ``scaling_max_freq`` request, kHz.
        setspeed: Target of the userspace governor, kHz.
        rate_limit_us: schedutil ``rate_limit_us``.
        cur: Index of the current OPP.
        tis: Time in state per OPP, 10 ms units.
        trans: Number of frequency transitions.
    """

    dom: int
    num: int
    cpus: list[int]
    freqs: list[int]
    governors: tuple[str, ...]
    governor: str = "schedutil"
    min_req: int = 0
    max_req: int = 0
    setspeed: int = 0
    rate_limit_us: int = 10_000
    cur: int = 0
    tis: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trans: int = 0

    def __post_init__(self) -> None:
        self.min_req = self.freqs[0]
        self.max_req = self.freqs[-1]
        self.tis = np.zeros(len(self.freqs))

    @property
    def path(self) -> str:
        """Policy directory."""
        return f"/sys/devices/system/cpu/cpufreq/policy{self.num}"

    @property
    def max_eff(self) -> int:
        """Effective ``policy->max``, kHz (request clamped to the hardware range)."""
        return min(max(self.max_req, self.freqs[0]), self.freqs[-1])

    @property
    def min_eff(self) -> int:
        """Effective ``policy->min``, kHz (clamped to the hardware range and to ``policy->max``)."""
        return min(min(max(self.min_req, self.freqs[0]), self.freqs[-1]), self.max_eff)

    def bounds(self) -> tuple[int, int]:
        """Allowed OPP index range ``(lo, hi)``: lowest OPP >= min, highest OPP <= max."""
        hi = idx_floor(self.freqs, self.max_eff)
        lo = min(idx_ceil(self.freqs, self.min_eff), hi)
        return lo, hi

    def userspace_idx(self) -> int:
        """OPP the userspace governor asks for (``RELATION_L`` of ``setspeed``)."""
        return idx_ceil(self.freqs, self.setspeed)

    # ---- writes (store_*)
    def _w_max(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.max_req = v
        return True

    def _w_min(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.min_req = v
        return True

    def _w_governor(self, text: str) -> bool:
        g = text.strip()
        if g not in self.governors:
            return False
        if g == "userspace" and self.governor != "userspace":
            self.setspeed = self.freqs[self.cur]  # the userspace governor starts at policy->cur
        self.governor = g
        return True

    def _w_setspeed(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None or self.governor != "userspace":
            return False
        self.setspeed = v
        return True

    def _w_rate_limit(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.rate_limit_us = v
        return True

    def _w_reset(self, text: str) -> bool:
        self.tis[:] = 0.0
        self.trans = 0
        return True

    # ---- reads (show_*)
    def _s_setspeed(self) -> str:
        return f"{self.freqs[self.cur]}\n" if self.governor == "userspace" else "<unsupported>\n"

    def time_in_state(self) -> str:
        """``stats/time_in_state``: ``<kHz> <10 ms units>`` per OPP."""
        return "".join(f"{f} {int(t)}\n" for f, t in zip(self.freqs, self.tis, strict=True))

    def controls(self, rate_limit: bool) -> list[Control]:
        """The policy's writable nodes."""
        p = self.path
        out = [
            Control(f"{p}/scaling_max_freq", self._w_max, lambda: f"{self.max_eff}\n"),
            Control(f"{p}/scaling_min_freq", self._w_min, lambda: f"{self.min_eff}\n"),
            Control(f"{p}/scaling_governor", self._w_governor, lambda: f"{self.governor}\n"),
            Control(f"{p}/scaling_setspeed", self._w_setspeed, self._s_setspeed),
            Control(f"{p}/stats/reset", self._w_reset, lambda: "", snapshot=False, mode=0o200),
        ]
        if rate_limit:
            out.append(Control(f"{p}/schedutil/rate_limit_us", self._w_rate_limit, lambda: f"{self.rate_limit_us}\n"))
        return out


@dataclass
class MaliGpu:
    """Pixel Mali GPU nodes (§4). Frequencies in kHz; writes to ``scaling_*``/``hint_*`` must equal a table entry.

    Attributes:
        dir: Device directory.
        freqs: OPP table, kHz ascending.
        governors: Available governors (the first is the stock one).
    """

    dir: str
    freqs: list[int]
    governors: tuple[str, ...]
    governor: str = ""
    scaling_min: int = 0
    scaling_max: int = 0
    hint_min: int = 0
    hint_max: int = 0
    power_policy: str = "coarse_demand"
    dvfs_period_ms: int = 20
    cur: int = 0
    tis_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    family: str = "mali"

    def __post_init__(self) -> None:
        self.governor = self.governors[0]
        self.scaling_min = self.hint_min = self.freqs[0]
        self.scaling_max = self.hint_max = self.freqs[-1]
        self.tis_ms = np.zeros(len(self.freqs))

    def bounds(self) -> tuple[int, int]:
        """Allowed OPP index range from the sysfs and hint locks (max wins on conflict)."""
        hi = min(self.freqs.index(self.scaling_max), self.freqs.index(self.hint_max))
        lo = min(max(self.freqs.index(self.scaling_min), self.freqs.index(self.hint_min)), hi)
        return lo, hi

    def _table(self, text: str) -> int | None:
        v = parse_uint(text)
        return v if v is not None and v in self.freqs else None  # get_level_from_clock tests ==

    def _getter(self, attr: str) -> Callable[[], str]:
        return lambda: f"{getattr(self, attr)}\n"

    def _setter(self, attr: str) -> Callable[[str], bool]:
        def apply(text: str) -> bool:
            v = self._table(text)
            if v is None:
                return False
            setattr(self, attr, v)
            return True

        return apply

    def _w_governor(self, text: str) -> bool:
        g = text.strip()
        if g not in self.governors:
            return False
        self.governor = g
        return True

    def _w_power_policy(self, text: str) -> bool:
        v = text.strip()
        if v not in ("coarse_demand", "always_on"):
            return False
        self.power_policy = v
        return True

    def _w_period(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None or not 1 <= v <= 1000:
            return False
        self.dvfs_period_ms = v
        return True

    def controls(self) -> list[Control]:
        """The GPU's writable nodes."""
        d = self.dir
        out = [
            Control(f"{d}/{a}", self._setter(attr), self._getter(attr))
            for a, attr in (
                ("scaling_max_freq", "scaling_max"),
                ("scaling_min_freq", "scaling_min"),
                ("hint_max_freq", "hint_max"),
                ("hint_min_freq", "hint_min"),
            )
        ]
        out += [
            Control(f"{d}/governor", self._w_governor, lambda: f"{self.governor}\n"),
            Control(
                f"{d}/power_policy",
                self._w_power_policy,
                lambda: (
                    " ".join(f"[{p}]" if p == self.power_policy else p for p in ("coarse_demand", "always_on")) + "\n"
                ),
            ),
            Control(f"{d}/dvfs_period", self._w_period, lambda: f"{self.dvfs_period_ms}\n"),
        ]
        return out

    def static_nodes(self) -> dict[str, str]:
        """Read-only nodes that never change."""
        d = self.dir
        return {
            f"{d}/available_frequencies": fmt_list(sorted(self.freqs, reverse=True)),
            f"{d}/available_governors": fmt_list(self.governors),
            f"{d}/min_freq": f"{self.freqs[0]}\n",
            f"{d}/max_freq": f"{self.freqs[-1]}\n",
        }

    def dynamic_nodes(self, util_pct: int) -> dict[str, str]:
        """Read-only nodes that follow the simulation."""
        d = self.dir
        tis = "".join(f"{f} {int(t)}\n" for f, t in zip(self.freqs, self.tis_ms, strict=True))
        return {
            f"{d}/cur_freq": f"{self.freqs[self.cur]}\n",
            f"{d}/utilization": f"{util_pct}\n",
            f"{d}/time_in_state": tis,
        }


@dataclass
class KgslGpu:
    """Adreno KGSL nodes (§3): power levels (0 = fastest), ``gpuclk`` in Hz, ``devfreq/`` in Hz.

    Attributes:
        dir: ``/sys/class/kgsl/kgsl-3d0``.
        freqs: OPP table, kHz ascending (simulator order; level = n - 1 - index).
        governors: devfreq governors (the first is the stock one).
    """

    dir: str
    freqs: list[int]
    governors: tuple[str, ...]
    governor: str = ""
    max_pwrlevel: int = 0
    min_pwrlevel: int = 0
    thermal_pwrlevel: int = 0
    df_min_hz: int = 0
    df_max_hz: int = 0
    force_clk_on: int = 0
    idle_timer: int = 80
    cur: int = 0
    jump_to: int | None = None
    busy_pct: int = 0
    busy_us: int = 0
    total_us: int = 0
    family: str = "adreno"

    def __post_init__(self) -> None:
        self.governor = self.governors[0]
        self.min_pwrlevel = len(self.freqs) - 1
        self.df_min_hz = self.freqs[0] * 1000
        self.df_max_hz = self.freqs[-1] * 1000

    @property
    def n(self) -> int:
        """Number of power levels."""
        return len(self.freqs)

    def level_hz(self, level: int) -> int:
        """Frequency of a power level, Hz."""
        return self.freqs[self.n - 1 - level] * 1000

    def bounds(self) -> tuple[int, int]:
        """Allowed OPP index range: power-level window intersected with the devfreq min/max."""
        top_level = max(self.max_pwrlevel, self.thermal_pwrlevel)
        lo = self.n - 1 - self.min_pwrlevel
        hi = self.n - 1 - top_level
        hi = min(hi, idx_floor(self.freqs, self.df_max_hz // 1000))
        lo = max(lo, idx_ceil(self.freqs, self.df_min_hz // 1000))
        return min(lo, hi), hi

    def _nearest_level(self, hz: int, tol_hz: int | None) -> int | None:
        dist = [abs(self.level_hz(k) - hz) for k in range(self.n)]
        k = int(np.argmin(dist))
        if tol_hz is not None and dist[k] > tol_hz:
            return None
        return k

    def _w_gpuclk(self, text: str) -> bool:
        v = parse_uint(text)
        k = None if v is None else self._nearest_level(v, 5_000_000)  # "nearest level within 5 MHz"
        if k is None:
            return False
        self.jump_to = self.n - 1 - k  # changes the active level once
        return True

    def _w_max_gpuclk(self, text: str, scale: int = 1) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.thermal_pwrlevel = self._nearest_level(v * scale, None) or 0  # legacy: sets thermal_pwrlevel
        return True

    def _w_min_clock_mhz(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        k = self._nearest_level(v * 1_000_000, None)
        self.min_pwrlevel = max(k if k is not None else self.n - 1, self.max_pwrlevel)
        return True

    def _w_max_pwrlevel(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.max_pwrlevel = min(min(v, self.n - 1), self.min_pwrlevel)  # crossing the other limit is clamped
        return True

    def _w_min_pwrlevel(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None:
            return False
        self.min_pwrlevel = max(min(v, self.n - 1), self.max_pwrlevel)
        return True

    def _w_df_min(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None or v > self.df_max_hz:
            return False
        self.df_min_hz = v
        return True

    def _w_df_max(self, text: str) -> bool:
        v = parse_uint(text)
        if v is None or v < self.df_min_hz:
            return False
        self.df_max_hz = v
        return True

    def _w_governor(self, text: str) -> bool:
        g = text.strip()
        if g not in self.governors:
            return False
        self.governor = g
        return True

    def _int_setter(self, attr: str) -> Callable[[str], bool]:
        def apply(text: str) -> bool:
            v = parse_uint(text)
            if v is None:
                return False
            setattr(self, attr, v)
            return True

        return apply

    def controls(self) -> list[Control]:
        """The GPU's writable nodes."""
        d = self.dir
        return [
            Control(f"{d}/gpuclk", self._w_gpuclk, lambda: f"{self.freqs[self.cur] * 1000}\n", snapshot=False),
            Control(f"{d}/max_gpuclk", self._w_max_gpuclk, lambda: f"{self.level_hz(self.thermal_pwrlevel)}\n"),
            Control(
                f"{d}/max_clock_mhz",
                lambda t: self._w_max_gpuclk(t, 1_000_000),
                lambda: f"{self.level_hz(self.thermal_pwrlevel) // 1_000_000}\n",
            ),
            Control(
                f"{d}/min_clock_mhz",
                self._w_min_clock_mhz,
                lambda: f"{self.level_hz(self.min_pwrlevel) // 1_000_000}\n",
            ),
            Control(f"{d}/max_pwrlevel", self._w_max_pwrlevel, lambda: f"{self.max_pwrlevel}\n"),
            Control(f"{d}/min_pwrlevel", self._w_min_pwrlevel, lambda: f"{self.min_pwrlevel}\n"),
            Control(f"{d}/force_clk_on", self._int_setter("force_clk_on"), lambda: f"{self.force_clk_on}\n"),
            Control(f"{d}/idle_timer", self._int_setter("idle_timer"), lambda: f"{self.idle_timer}\n"),
            Control(f"{d}/devfreq/governor", self._w_governor, lambda: f"{self.governor}\n"),
            Control(f"{d}/devfreq/min_freq", self._w_df_min, lambda: f"{self.df_min_hz}\n"),
            Control(f"{d}/devfreq/max_freq", self._w_df_max, lambda: f"{self.df_max_hz}\n"),
        ]

    def static_nodes(self) -> dict[str, str]:
        """Read-only nodes that never change."""
        d = self.dir
        hz_desc = [f * 1000 for f in sorted(self.freqs, reverse=True)]
        return {
            f"{d}/gpu_available_frequencies": fmt_list(hz_desc),
            f"{d}/freq_table_mhz": fmt_list([h // 1_000_000 for h in hz_desc]),
            f"{d}/num_pwrlevels": f"{self.n}\n",
            f"{d}/devfreq/available_frequencies": fmt_list(hz_desc),
            f"{d}/devfreq/available_governors": fmt_list(self.governors),
        }

    def dynamic_nodes(self) -> dict[str, str]:
        """Read-only nodes that follow the simulation."""
        d = self.dir
        hz = self.freqs[self.cur] * 1000
        return {
            f"{d}/clock_mhz": f"{hz // 1_000_000}\n",
            f"{d}/devfreq/cur_freq": f"{hz}\n",
            f"{d}/thermal_pwrlevel": f"{self.thermal_pwrlevel}\n",
            f"{d}/gpu_busy_percentage": f"{self.busy_pct} %\n",
            f"{d}/gpubusy": f"{self.busy_us:7d} {self.total_us:7d}\n",
        }
