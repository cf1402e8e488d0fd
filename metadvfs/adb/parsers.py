"""Parsers of the phone's sysfs, procfs and ``dumpsys`` text, with validation.

Every parser takes the text and the node (path or command) it came from, and raises a one-line
:class:`~metadvfs.errors.MetaDVFSError` naming the node when the text is not what the kernel or the framework
prints (garbage, truncated output, out-of-range values). Formats and their sources are in
``docs/deploy.md`` ("Interfaces").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from metadvfs.errors import MetaDVFSError

INT64_MAX = 2**63 - 1
FREQ_KHZ_RANGE = (1_000, 10_000_000)
"""Plausible CPU/GPU frequencies, kHz (1 MHz .. 10 GHz)."""
TEMP_C_RANGE = (-40.0, 200.0)
"""Plausible thermal-zone temperatures, degC."""

_INT_RE = re.compile(r"^[+-]?\d+$")


def _snip(text: str) -> str:
    t = text.strip()
    return repr(t[:60] + ("..." if len(t) > 60 else ""))


def parse_int(text: str, node: str, lo: int | None = None, hi: int | None = None) -> int:
    """One integer (surrounding whitespace allowed).

    Args:
        text: File content.
        node: Where it came from (for the message).
        lo: Smallest allowed value.
        hi: Largest allowed value.

    Returns:
        The integer.
    """
    t = text.strip()
    if not _INT_RE.match(t):
        raise MetaDVFSError(f"{node}: expected an integer, got {_snip(text)}")
    v = int(t)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise MetaDVFSError(f"{node}: value {v} out of the plausible range [{lo}, {hi}]")
    return v


def parse_freq_khz(text: str, node: str) -> int:
    """A frequency in kHz."""
    return parse_int(text, node, *FREQ_KHZ_RANGE)


def parse_freq_list(text: str, node: str, scale: float = 1.0) -> list[int]:
    """A whitespace-separated frequency table (``scaling_available_frequencies``), sorted ascending.

    Args:
        text: File content.
        node: Where it came from.
        scale: Multiply each value by this to get kHz (``1e-3`` for a table in Hz).

    Returns:
        Distinct frequencies in kHz, ascending.
    """
    words = text.split()
    if not words:
        raise MetaDVFSError(f"{node}: empty frequency table")
    out = []
    for w in words:
        if not _INT_RE.match(w):
            raise MetaDVFSError(f"{node}: expected integers, got {_snip(w)}")
        v = round(int(w) * scale)
        if not FREQ_KHZ_RANGE[0] <= v <= FREQ_KHZ_RANGE[1]:
            raise MetaDVFSError(f"{node}: frequency {w} out of the plausible range")
        out.append(v)
    return sorted(set(out))


def parse_words(text: str, node: str) -> list[str]:
    """Whitespace-separated names (``scaling_available_governors``), each validated."""
    words = text.split()
    if not words:
        raise MetaDVFSError(f"{node}: empty list")
    for w in words:
        if not re.match(r"^[A-Za-z0-9_.-]+$", w):
            raise MetaDVFSError(f"{node}: unexpected name {_snip(w)}")
    return words


def parse_word(text: str, node: str) -> str:
    """A single name (``scaling_governor``)."""
    words = parse_words(text, node)
    if len(words) != 1:
        raise MetaDVFSError(f"{node}: expected one name, got {_snip(text)}")
    return words[0]


def parse_cpu_list(text: str, node: str) -> list[int]:
    """A CPU list: ``related_cpus`` (``"0 1 2 3"``) or a range list (``"0-3,6"``)."""
    t = text.strip()
    if re.match(r"^\d+(\s+\d+)*$", t):
        return sorted({int(x) for x in t.split()})
    if re.match(r"^\d+(-\d+)?(,\d+(-\d+)?)*$", t):
        out: set[int] = set()
        for part in t.split(","):
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
        return sorted(out)
    raise MetaDVFSError(f"{node}: expected a CPU list, got {_snip(text)}")


def parse_proc_stat(text: str, node: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """Per-CPU cumulative busy and total time from ``/proc/stat``.

    Lines ``cpuN user nice system idle iowait irq softirq steal guest guest_nice`` in USER_HZ; total is
    user..steal (guest time is already in user), idle is idle + iowait. Offline CPUs have no line.

    Returns:
        ``{cpu: (busy, total)}`` in USER_HZ ticks.
    """
    out: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        parts = line.split()
        m = re.match(r"^cpu(\d+)$", parts[0])
        if not m:
            raise MetaDVFSError(f"{node}: unexpected line {_snip(line)}")
        fields = parts[1:9]
        if len(fields) < 4 or not all(_INT_RE.match(f) for f in fields):
            raise MetaDVFSError(f"{node}: bad counters on line {_snip(line)}")
        vals = [int(f) for f in fields]
        total = sum(vals)
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        out[int(m.group(1))] = (total - idle, total)
    if not out:
        raise MetaDVFSError(f"{node}: no per-CPU lines (cpuN ...)")
    return out


def parse_time_in_state(text: str, node: str) -> dict[int, int]:
    """``cpufreq/stats/time_in_state``: ``{freq_kHz: time in 10 ms units}``."""
    out: dict[int, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not all(_INT_RE.match(p) for p in parts):
            raise MetaDVFSError(f"{node}: expected '<freq_kHz> <time>' lines, got {_snip(line)}")
        f, t = int(parts[0]), int(parts[1])
        if not FREQ_KHZ_RANGE[0] <= f <= FREQ_KHZ_RANGE[1] or t < 0:
            raise MetaDVFSError(f"{node}: implausible line {_snip(line)}")
        out[f] = t
    if not out:
        raise MetaDVFSError(f"{node}: empty time_in_state")
    return out


def parse_temp_c(text: str, node: str) -> float:
    """A thermal-zone ``temp`` (millidegrees C) in degC."""
    v = parse_int(text, node) / 1000.0
    if not TEMP_C_RANGE[0] <= v <= TEMP_C_RANGE[1]:
        raise MetaDVFSError(f"{node}: temperature {v:g} degC out of the plausible range {TEMP_C_RANGE}")
    return v


def parse_percent(text: str, node: str) -> float:
    """A utilisation percentage (Mali ``utilization`` ``"37"``, KGSL ``gpu_busy_percentage`` ``"37 %"``) as 0..1."""
    t = text.strip()
    m = re.match(r"^(\d+(?:\.\d+)?)\s*%?$", t)
    if not m:
        raise MetaDVFSError(f"{node}: expected a percentage, got {_snip(text)}")
    v = float(m.group(1))
    if v > 100.0:
        raise MetaDVFSError(f"{node}: percentage {v:g} > 100")
    return v / 100.0


@dataclass(frozen=True)
class OdpmReading:
    """One ``energy_value`` snapshot of an ODPM (on-device power monitor) IIO device.

    Attributes:
        t_ms: Global timestamp, ms.
        rails: ``{rail schematic name: (channel duration T, ms, accumulated energy, uWs)}``.
    """

    t_ms: int
    rails: dict[str, tuple[int, int]]


_ODPM_LINE = re.compile(r"^CH(\d+)\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)$")


def parse_odpm(text: str, node: str) -> OdpmReading:
    """``/sys/bus/iio/devices/iio:deviceN/energy_value`` (Pixel 6+ ODPM).

    Format (``drivers/iio/power/odpm.c``)::

        t=<timestamp ms>
        CH<n>(T=<duration ms>)[<schematic rail name>], <accumulated energy uWs>
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not re.match(r"^t=\d+$", lines[0]):
        raise MetaDVFSError(f"{node}: expected 't=<ms>' on the first line, got {_snip(text)}")
    t_ms = int(lines[0][2:])
    rails: dict[str, tuple[int, int]] = {}
    for ln in lines[1:]:
        m = _ODPM_LINE.match(ln)
        if not m:
            raise MetaDVFSError(f"{node}: expected 'CH<n>(T=<ms>)[<rail>], <uWs>', got {_snip(ln)}")
        rails[m.group(3)] = (int(m.group(2)), int(m.group(4)))
    if not rails:
        raise MetaDVFSError(f"{node}: no rail lines")
    return OdpmReading(t_ms=t_ms, rails=rails)


@dataclass(frozen=True)
class SfLatency:
    """``dumpsys SurfaceFlinger --latency <layer>``.

    Attributes:
        refresh_ns: Display refresh period, ns.
        frames: ``(desired_present, actual_present, frame_ready)`` ns per frame, oldest first; empty slots
            (zeros) and pending fences (INT64_MAX) removed.
    """

    refresh_ns: int
    frames: list[tuple[int, int, int]]


def parse_sf_latency(text: str, node: str = "dumpsys SurfaceFlinger --latency") -> SfLatency:
    """Parse the frame-timing dump (``FrameTracker::dumpStats``: refresh period, then 3 columns per frame)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not _INT_RE.match(lines[0]):
        raise MetaDVFSError(f"{node}: expected the refresh period (ns) on the first line, got {_snip(text)}")
    refresh = int(lines[0])
    if not 1_000_000 <= refresh <= 100_000_000:
        raise MetaDVFSError(f"{node}: refresh period {refresh} ns implausible (1..100 ms)")
    frames = []
    for ln in lines[1:]:
        parts = ln.split()
        if len(parts) != 3 or not all(_INT_RE.match(p) for p in parts):
            raise MetaDVFSError(f"{node}: expected 3 integer columns, got {_snip(ln)}")
        d, a, r = (int(p) for p in parts)
        if a == 0 or d == 0 or a >= INT64_MAX or d >= INT64_MAX:
            continue
        frames.append((d, a, r))
    frames.sort(key=lambda x: x[1])
    return SfLatency(refresh_ns=refresh, frames=frames)


def parse_sf_list(text: str) -> list[str]:
    """``dumpsys SurfaceFlinger --list``: one layer name per line (header lines such as ``Display ...`` kept)."""
    return [ln.rstrip("\r") for ln in text.splitlines() if ln.strip()]


_FG_PATTERNS = (
    re.compile(
        r"(?:topResumedActivity|mResumedActivity|ResumedActivity)[:=]\s*ActivityRecord\{[^}]*?\s([A-Za-z][\w.]*)/"
    ),
    re.compile(r"mCurrentFocus=Window\{[^}]*?\s([A-Za-z][\w.]*)/"),
    re.compile(r"mFocusedApp=.*?\s([A-Za-z][\w.]*)/"),
)


def parse_foreground(text: str) -> str | None:
    """Foreground package, or ``None`` when no app is resumed (e.g. the lock screen).

    Reads ``dumpsys activity activities`` (``mResumedActivity`` / ``topResumedActivity``) or ``dumpsys window``
    (``mCurrentFocus``); the field names change between Android releases, so all are tried.
    """
    for pat in _FG_PATTERNS:
        m = pat.search(text)
        if m and "." in m.group(1):
            return m.group(1)
    return None


def parse_getprop(text: str, node: str) -> str:
    """A ``getprop`` value (one line; empty when unset)."""
    lines = text.splitlines()
    if len(lines) > 1:
        raise MetaDVFSError(f"{node}: expected one line, got {_snip(text)}")
    return lines[0].strip() if lines else ""
