"""One read of the phone per control step, and its conversion to a codec :class:`~metadvfs.environment.codec.Reading`.

:class:`Sampler` builds one compound shell command (cached) that reads ``/proc/stat``, every policy's
``scaling_cur_freq``, the GPU frequency and utilisation, the selected thermal zones, the power meters, the
cooling-device states and the SurfaceFlinger frame timing of the foreground layer, and runs it in **one** ADB
round trip. About once a second the same command also asks for the foreground app and the layer list
(``dumpsys activity activities``, ``dumpsys SurfaceFlinger --list``); after a change of app it probes the
candidate layers once and keeps the one with the most recent frames.

:func:`step_reading` turns two consecutive samples into the quantities of the simulator's observation:

- ``util`` per CPU domain: the busiest CPU's busy fraction (``1 - d(idle+iowait)/d(total)`` from
  ``/proc/stat``) times ``f / fmax`` (frequency-invariant, like the simulator's PELT signal); GPU: the
  driver's utilisation (0..1).
- ``power_mw`` per domain: ODPM rail energy difference / time where a rail maps to the domain, otherwise the
  profile's power model at the measured frequency and busy fraction (as the simulator computes it);
  ``power_total_mw``: the sum of all ODPM rails, or battery ``|I| * |V|`` on phones without ODPM.
- frames: frames presented on the layer since the previous sample; a frame presented ``k`` refresh periods
  after its desired time counts as ``1 / (k + 1)`` presented (the simulator's jank accounting), ``qoe`` is the
  presented share of frames, ``fps_target`` the frame rate over the interval (the app's target without frames).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from metadvfs.adb.apps import catalog_app
from metadvfs.adb.binding import Binding
from metadvfs.adb.link import AdbLink
from metadvfs.adb.parsers import (
    OdpmReading,
    SfLatency,
    parse_foreground,
    parse_freq_khz,
    parse_int,
    parse_odpm,
    parse_percent,
    parse_proc_stat,
    parse_sf_latency,
    parse_sf_list,
    parse_temp_c,
)
from metadvfs.adb.sections import Script, Section, parse_sections
from metadvfs.adb.shellsafe import check_layer, check_package, q
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError

FG_COMMAND = "dumpsys activity activities | grep -E 'mResumedActivity|topResumedActivity'"
FG_WINDOW_COMMAND = "dumpsys window | grep mCurrentFocus"
MAX_PROBE_LAYERS = 6
DEFAULT_TARGET_FPS = 60.0


@dataclass
class RawSample:
    """What one read returned (absolute counters; differences are taken by :func:`step_reading`).

    Attributes:
        t: Host monotonic time at the middle of the round trip, s.
        rtt_s: Round-trip time of the read, s.
        cpu: ``{cpu: (busy, total)}`` cumulative ``/proc/stat`` ticks.
        freq_khz: (4,) current frequency per domain, kHz (0 where absent).
        gpu_util: GPU utilisation, 0..1.
        temp_die_c: Hottest die zone, degC (NaN without die zones).
        temp_skin_c: Skin zone, degC (NaN without a skin zone).
        odpm: ODPM snapshots (one per IIO device).
        battery_mw: Battery ``|I| * |V|``, mW (``None`` without a battery meter).
        cooling: Cooling-device states.
        layer: Layer whose frame timing is in ``sf``.
        sf: Frame timing (``None`` when no layer is known).
        probes: Frame timing of candidate layers (probe steps only).
        foreground: Foreground package, when asked in this read.
        layers: Layer list, when asked in this read.
        fg_checked: The read asked for the foreground app.
    """

    t: float
    rtt_s: float
    cpu: dict[int, tuple[int, int]]
    freq_khz: np.ndarray
    gpu_util: float
    temp_die_c: float
    temp_skin_c: float
    odpm: list[OdpmReading]
    battery_mw: float | None
    cooling: list[int]
    layer: str | None = None
    sf: SfLatency | None = None
    probes: dict[str, SfLatency] = field(default_factory=dict)
    foreground: str | None = None
    layers: list[str] | None = None
    fg_checked: bool = False


@dataclass(frozen=True)
class StepReading:
    """Physical quantities over one interval between two samples.

    Attributes:
        reading: The codec reading (arrays with a leading axis of 1).
        dt_s: Interval length, s.
        busy: (4,) mean busy fraction of each domain's CPUs (GPU: utilisation), not frequency-invariant.
        busy_max: (4,) busiest CPU's busy fraction per CPU domain (GPU: utilisation).
        freq_khz: (4,) frequency at the end of the interval, kHz.
        level: (4,) OPP index in the phone's table.
        frames: Frames presented in the interval.
        presented: Frames presented, each counted ``1 / slots``.
        power_mw: (4,) per-domain power, mW.
        power_total_mw: Total measured power, mW.
        temp_die_c: Die temperature, degC.
        temp_skin_c: Skin temperature, degC.
        throttled: A CPU/GPU cooling device is active.
        foreground: Foreground package (last known).
        app: Its catalog app name, if any.
    """

    reading: codec.Reading
    dt_s: float
    busy: np.ndarray
    busy_max: np.ndarray
    freq_khz: np.ndarray
    level: np.ndarray
    frames: int
    presented: float
    power_mw: np.ndarray
    power_total_mw: float
    temp_die_c: float
    temp_skin_c: float
    throttled: bool
    foreground: str | None
    app: str | None


def _need(sec: Section, node: str) -> str:
    if sec.failed:
        if sec.missing:
            raise MetaDVFSError(f"{node}: missing on the phone")
        if sec.denied:
            raise MetaDVFSError(f"{node}: permission denied")
        raise MetaDVFSError(f"{node}: read failed: {sec.text.strip()[:100]!r}")
    return sec.text


class Sampler:
    """Reads a bound phone once per call (one ADB round trip).

    Args:
        link: Connected link (reads run as root when root was detected).
        binding: Phone bound to its profile.
        fg_period_s: How often to re-check the foreground app and layers, s.
        target_fps: Frame-rate target used when the foreground app is not in the catalog.
    """

    def __init__(
        self, link: AdbLink, binding: Binding, fg_period_s: float = 1.0, target_fps: float = DEFAULT_TARGET_FPS
    ) -> None:
        self.link = link
        self.b = binding
        self.fg_period_s = fg_period_s
        self.default_target_fps = target_fps
        self.layer: str | None = None
        self.foreground: str | None = None
        self.app: str | None = None
        self._probe: list[str] = []
        self._last_fg = -math.inf
        self._scripts: dict[tuple[object, ...], Script] = {}

    # ---------------------------------------------------------------- script
    def _script(self, with_fg: bool, probe: tuple[str, ...], heartbeat: str | None) -> Script:
        key = (with_fg, self.layer, probe, heartbeat is not None)
        s = self._scripts.get(key)
        if s is not None:
            return s
        lay = self.b.layout
        s = Script()
        if heartbeat is not None:
            s.run("hb", "HB_PLACEHOLDER")
        s.cat("stat", "/proc/stat")
        for d, p in enumerate(self.b.policies):
            if p is not None:
                s.cat(f"f{d}", p.node("scaling_cur_freq"))
        s.cat("gf", lay.gpu.cur_node)
        s.cat("gu", lay.gpu.util_node)
        for i, path in enumerate(lay.thermal.die_zones):
            s.cat(f"td{i}", path)
        if lay.thermal.skin_zone:
            s.cat("ts", lay.thermal.skin_zone)
        for i, path in enumerate(lay.power.odpm_nodes):
            s.cat(f"e{i}", path)
        if lay.power.kind == "battery":
            s.cat("bi", lay.power.battery_current or "")
            s.cat("bv", lay.power.battery_voltage or "")
        for i, path in enumerate(lay.thermal.cooling):
            s.cat(f"c{i}", path)
        if self.layer is not None:
            s.run("sf", f"dumpsys SurfaceFlinger --latency {q(self.layer)}")
        for i, layer in enumerate(probe):
            s.run(f"sp{i}", f"dumpsys SurfaceFlinger --latency {q(layer)}")
        if with_fg:
            s.run("fg", FG_COMMAND)
            s.run("fgw", FG_WINDOW_COMMAND)
            s.run("sfl", "dumpsys SurfaceFlinger --list")
        if len(self._scripts) > 32:
            self._scripts.clear()
        self._scripts[key] = s
        return s

    # ---------------------------------------------------------------- read
    def sample(self, heartbeat: str | None = None) -> RawSample:
        """Read everything once.

        Args:
            heartbeat: A validated command to run first in the same round trip (the deploy heartbeat).

        Returns:
            The raw sample.

        Raises:
            MetaDVFSError: A node is missing, unreadable or holds garbage (the message names it).
            AdbLinkError: The link failed.
        """
        now = time.monotonic()
        with_fg = now - self._last_fg >= self.fg_period_s
        probe = tuple(self._probe)
        s = self._script(with_fg, probe, heartbeat)
        text = s.text()
        if heartbeat is not None:
            text = text.replace("{ HB_PLACEHOLDER ; }", "{ " + heartbeat + " ; }", 1)
        t0 = time.monotonic()
        out = self.link.read_shell(text)
        t1 = time.monotonic()
        r = parse_sections(out, s)
        raw = self._parse(r, (t0 + t1) / 2, t1 - t0, with_fg, probe)
        if with_fg:
            self._last_fg = now
            self._update_foreground(raw)
        if probe:
            self._choose_layer(raw)
        return raw

    def _parse(self, r: dict[str, Section], t: float, rtt: float, with_fg: bool, probe: tuple[str, ...]) -> RawSample:
        lay = self.b.layout
        if "hb" in r and r["hb"].failed:
            raise MetaDVFSError(f"heartbeat write failed: {r['hb'].text.strip()[:100]!r}")
        cpu = parse_proc_stat(_need(r["stat"], "/proc/stat"))
        freq = np.zeros(4)
        for d, p in enumerate(self.b.policies):
            if p is not None:
                node = p.node("scaling_cur_freq")
                freq[d] = parse_freq_khz(_need(r[f"f{d}"], node), node)
        g = lay.gpu
        freq[3] = parse_int(_need(r["gf"], g.cur_node), g.cur_node, 1) * g.scale
        if not g.freqs_khz[0] / 2 <= freq[3] <= g.freqs_khz[-1] * 2:
            raise MetaDVFSError(f"{g.cur_node}: frequency {freq[3]:g} kHz is far outside the GPU table")
        gpu_util = parse_percent(_need(r["gu"], g.util_node), g.util_node)
        dies = [parse_temp_c(_need(r[f"td{i}"], p), p) for i, p in enumerate(lay.thermal.die_zones)]
        skin = (
            parse_temp_c(_need(r["ts"], lay.thermal.skin_zone), lay.thermal.skin_zone)
            if lay.thermal.skin_zone
            else math.nan
        )
        odpm = [parse_odpm(_need(r[f"e{i}"], p), p) for i, p in enumerate(lay.power.odpm_nodes)]
        battery = None
        if lay.power.kind == "battery":
            ci, cv = lay.power.battery_current or "", lay.power.battery_voltage or ""
            i_ua = parse_int(_need(r["bi"], ci), ci, -20_000_000, 20_000_000)
            v_uv = parse_int(_need(r["bv"], cv), cv, 0, 20_000_000)
            battery = abs(i_ua) * abs(v_uv) / 1e9
        cooling = [parse_int(_need(r[f"c{i}"], p), p, 0) for i, p in enumerate(lay.thermal.cooling)]
        raw = RawSample(
            t=t,
            rtt_s=rtt,
            cpu=cpu,
            freq_khz=freq,
            gpu_util=gpu_util,
            temp_die_c=max(dies) if dies else math.nan,
            temp_skin_c=skin,
            odpm=odpm,
            battery_mw=battery,
            cooling=cooling,
            fg_checked=with_fg,
        )
        if self.layer is not None and "sf" in r:
            sec = r["sf"]
            if sec.failed or not sec.text.strip():
                self.layer = None  # the layer went away; re-detect at the next foreground check
                self._last_fg = -math.inf
            else:
                raw.layer = self.layer
                raw.sf = parse_sf_latency(sec.text, f"dumpsys SurfaceFlinger --latency {self.layer}")
        for i, layer in enumerate(probe):
            sec = r[f"sp{i}"]
            if not sec.failed and sec.text.strip():
                raw.probes[layer] = parse_sf_latency(sec.text, f"dumpsys SurfaceFlinger --latency {layer}")
        if with_fg:
            fg = parse_foreground(r["fg"].text) if not r["fg"].failed else None
            if fg is None and not r["fgw"].failed:
                fg = parse_foreground(r["fgw"].text)
            raw.foreground = fg
            raw.layers = parse_sf_list(r["sfl"].text) if not r["sfl"].failed else []
        return raw

    def _update_foreground(self, raw: RawSample) -> None:
        fg = raw.foreground
        if fg is not None:
            try:
                check_package(fg)
            except MetaDVFSError:
                fg = None
        layers = raw.layers or []
        changed = fg != self.foreground
        self.foreground = fg
        self.app = catalog_app(fg)
        if not changed and self.layer is not None and self.layer in layers:
            return
        cands: list[str] = []
        for name in layers:
            if fg and fg in name:
                try:
                    cands.append(check_layer(name, layers))
                except MetaDVFSError:
                    continue
        if self.layer not in cands:
            self.layer = None
        if len(cands) == 1:
            self.layer = cands[0]
            self._probe = []
        elif cands and self.layer is None:
            self._probe = cands[:MAX_PROBE_LAYERS]

    def _choose_layer(self, raw: RawSample) -> None:
        self._probe = []
        best, best_n = None, -1
        newest = max((f.frames[-1][1] for f in raw.probes.values() if f.frames), default=None)
        for layer, lat in raw.probes.items():
            n = sum(1 for fr in lat.frames if newest is not None and fr[1] >= newest - 1_000_000_000)
            if n > best_n:
                best, best_n = layer, n
        if best is not None:
            self.layer = best
            raw.layer = best
            raw.sf = raw.probes[best]

    @property
    def target_fps(self) -> float:
        """Frame-rate target of the foreground app (catalog target, else the default)."""
        if self.app is not None:
            from metadvfs.workload.apps import load_app

            return float(load_app(self.app).metadata.target_fps)
        return self.default_target_fps

    def reading(self, prev: RawSample, cur: RawSample) -> StepReading:
        """Quantities over the interval between two samples (see :func:`step_reading`)."""
        return step_reading(self.b, prev, cur, self.target_fps, self.foreground, self.app)


def nearest_level(table: tuple[int, ...], khz: float) -> int:
    """Index of the table entry nearest ``khz``."""
    if not table:
        return 0
    arr = np.asarray(table, dtype=float)
    return int(np.argmin(np.abs(arr - khz)))


def count_frames(prev: SfLatency | None, cur: SfLatency | None, same_layer: bool) -> tuple[int, float]:
    """Frames presented since the previous read.

    Args:
        prev: Previous frame timing of the layer.
        cur: Current frame timing.
        same_layer: Both come from the same layer.

    Returns:
        ``(frames, presented)``: the count, and the sum of ``1 / slots`` where a frame presented ``k`` refresh
        periods late takes ``k + 1`` slots.
    """
    if cur is None or prev is None or not same_layer or not cur.frames:
        return 0, 0.0
    last = prev.frames[-1][1] if prev.frames else -1
    n = 0
    presented = 0.0
    for desired, actual, _ready in cur.frames:
        if actual <= last:
            continue
        late = max(0.0, (actual - desired) / cur.refresh_ns)
        slots = 1 + math.floor(late + 0.5)
        n += 1
        presented += 1.0 / slots
    return n, presented


def _at(value: float | tuple[float, ...], k: int) -> float:
    """A per-OPP value at index ``k`` (profiles give either one number or one per OPP)."""
    if isinstance(value, (tuple, list)):
        return float(value[min(k, len(value) - 1)])
    return float(value)


def _model_power(binding: Binding, d: int, khz: float, busy: float) -> float:
    """Domain power from the profile's power model (the simulator's formula), mW."""
    prof = binding.profile
    if d == 3:
        g = prof.gpu
        k = nearest_level(g.freqs_khz, khz)
        return g.power_mw[k] * busy + _at(g.idle_mw, k) * (1.0 - busy)
    c = prof.cluster(("little", "mid", "big")[d])
    if c is None:
        return 0.0
    k = nearest_level(c.freqs_khz, khz)
    return c.cores * (c.power_mw[k] * busy + _at(c.idle_mw, k) * (1.0 - busy)) + _at(c.static_mw, k)


def step_reading(
    binding: Binding,
    prev: RawSample,
    cur: RawSample,
    target_fps: float,
    foreground: str | None = None,
    app: str | None = None,
) -> StepReading:
    """Turn two consecutive samples into one interval's quantities and a codec reading.

    Args:
        binding: The bound phone.
        prev: Earlier sample.
        cur: Later sample.
        target_fps: Frame-rate target for intervals without frames, frames/s.
        foreground: Foreground package.
        app: Its catalog app.

    Returns:
        The interval's reading.
    """
    dt = max(cur.t - prev.t, 1e-6)
    busy = np.zeros(4)
    busy_max = np.zeros(4)
    for d in range(3):
        cpus = binding.domain_cpus(d)
        vals = []
        for c in cpus:
            if c in cur.cpu and c in prev.cpu:
                db = cur.cpu[c][0] - prev.cpu[c][0]
                dtot = cur.cpu[c][1] - prev.cpu[c][1]
                vals.append(min(1.0, max(0.0, db / dtot)) if dtot > 0 else 0.0)
            else:
                vals.append(0.0)  # offline CPU
        if vals:
            busy[d] = float(np.mean(vals))
            busy_max[d] = float(np.max(vals))
    busy[3] = busy_max[3] = cur.gpu_util
    tables = binding.tables_khz
    level = np.array([nearest_level(tables[d], cur.freq_khz[d]) for d in range(4)], dtype=np.int64)
    fmax = np.array([tables[d][-1] if tables[d] else 1 for d in range(4)], dtype=float)
    util = np.where(binding.mask > 0, busy_max * np.minimum(1.0, cur.freq_khz / fmax), 0.0)
    util[3] = cur.gpu_util
    # power
    power = np.array([_model_power(binding, d, cur.freq_khz[d], busy[d]) if binding.mask[d] else 0.0 for d in range(4)])
    total = float(power.sum() + binding.profile.base_power_mw)
    if cur.odpm and prev.odpm and len(cur.odpm) == len(prev.odpm):
        rail_mw: dict[str, float] = {}
        for a, b in zip(prev.odpm, cur.odpm, strict=True):
            for rail, (t1, e1) in b.rails.items():
                if rail in a.rails:
                    t0, e0 = a.rails[rail]
                    dt_ms = t1 - t0 if t1 != t0 else b.t_ms - a.t_ms
                    if dt_ms > 0 and e1 >= e0:
                        rail_mw[rail] = (e1 - e0) / dt_ms  # uWs / ms = mW
        if rail_mw:
            measured = np.zeros(4)
            seen = np.zeros(4, dtype=bool)
            for rail, mw in rail_mw.items():
                d = binding.rail_domain.get(rail)
                if d is not None:
                    measured[d] += mw
                    seen[d] = True
            power = np.where(seen, measured, power)
            total = float(sum(rail_mw.values()))
    elif cur.battery_mw is not None:
        total = float(cur.battery_mw)
    # frames
    n, presented = count_frames(prev.sf, cur.sf, prev.layer is not None and prev.layer == cur.layer)
    fps = presented / dt
    fps_target = n / dt if n > 0 else target_fps
    qoe = presented / n if n > 0 else 1.0
    throttled = any(s > 0 for s in cur.cooling)
    spec = binding.spec
    die = cur.temp_die_c if math.isfinite(cur.temp_die_c) else float(spec.ambient_c[0])
    skin = cur.temp_skin_c if math.isfinite(cur.temp_skin_c) else float(spec.ambient_c[0])
    r = codec.Reading(
        util=util[None, :],
        freq_mhz=(cur.freq_khz / 1000.0)[None, :],
        level=level[None, :],
        power_mw=power[None, :],
        power_total_mw=np.array([total]),
        fps=np.array([fps]),
        fps_target=np.array([fps_target]),
        qoe=np.array([qoe]),
        temp_die_c=np.array([die]),
        temp_skin_c=np.array([skin]),
        throttled=np.array([1.0 if throttled else 0.0]),
    )
    return StepReading(
        reading=r,
        dt_s=dt,
        busy=busy,
        busy_max=busy_max,
        freq_khz=cur.freq_khz.copy(),
        level=level,
        frames=n,
        presented=presented,
        power_mw=power,
        power_total_mw=total,
        temp_die_c=die,
        temp_skin_c=skin,
        throttled=throttled,
        foreground=foreground,
        app=app,
    )
