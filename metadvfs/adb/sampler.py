"""One read of the phone per control step, and its conversion to a codec :class:`~metadvfs.environment.codec.Reading`.

:class:`Sampler` builds one compound shell command (cached) that reads ``/proc/stat``, every policy's
``scaling_cur_freq``, the GPU frequency and utilisation, the selected thermal zones, the power meters, the
cooling-device states and the SurfaceFlinger frame timing of the foreground layer, and runs it in **one** ADB
round trip, with shell builtins only (no process per file). Reads run as the shell user when that user can
read every node (checked on the first read), otherwise as root.

Frame timing and the foreground app come from ``dumpsys``, which costs a process and tens of ms per call on a
phone. In ``agent`` mode (used by ``record``, ``deploy`` and LiveDVFS-v0) an on-phone poller
(:mod:`metadvfs.adb.agents`) keeps ``dumpsys SurfaceFlinger --latency <layer>`` and the foreground app in
files that the read picks up; in ``inline`` mode the read runs ``dumpsys`` itself (every ``fg_period_s`` for
the foreground app). After a change of app the read probes the candidate layers once and keeps the one with
the most recent frames.

:func:`step_reading` turns two consecutive samples into the quantities of the simulator's observation:

- ``util`` per CPU domain: the busiest CPU's busy fraction (``1 - d(idle+iowait)/d(total)`` from
  ``/proc/stat``) times ``f / fmax`` (frequency-invariant, like the simulator's PELT signal); GPU: the
  driver's utilisation (0..1).
- ``power_mw`` per domain: ODPM rail energy difference / time where a rail maps to the domain, otherwise the
  profile's power model at the measured frequency and busy fraction (as the simulator computes it);
  ``power_total_mw``: the sum of all ODPM rails, or battery ``|I| * |V|`` on phones without ODPM.
- frames: frames presented on the layer since the previous frame dump; a frame presented ``k`` refresh
  periods after its desired time counts as ``1 / (k + 1)`` presented (the simulator's jank accounting);
  ``qoe`` is the presented share, ``fps_target`` the frame rate (the app's target when no frame came). These
  are computed when a new dump arrives and held until the next one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from metadvfs.adb import agents
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
from metadvfs.adb.shellsafe import check_layer, check_package, q, write_cmd
from metadvfs.core.domains import CPU_DOMAINS
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError

MAX_PROBE_LAYERS = 6
DEFAULT_TARGET_FPS = 60.0
MODES = ("inline", "agent")


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
        layer: Layer whose frame timing is counted.
        frames: Frames newly presented since the previous dump (0 when no new dump arrived).
        presented: Those frames, each counted ``1 / slots``.
        fps: Presented frame rate over the last dump interval (held between dumps), frames/s.
        fps_target: Frame rate over the last dump interval (the app's target without frames), frames/s.
        qoe: Presented share of the frames of the last dump interval (1 without frames).
        fresh: A new frame dump arrived with this read.
        foreground: Foreground package (last known).
        app: Its catalog app (last known).
        extra: Sections requested by the caller (``extra_cats``), raw.
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
    frames: int = 0
    presented: float = 0.0
    fps: float = 0.0
    fps_target: float = DEFAULT_TARGET_FPS
    qoe: float = 1.0
    fresh: bool = False
    foreground: str | None = None
    app: str | None = None
    extra: dict[str, Section] = field(default_factory=dict)


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
        frames: Frames newly presented (counted in this interval).
        presented: Those frames, each counted ``1 / slots``.
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

    @property
    def fps(self) -> float:
        """Presented frame rate (as in the observation), frames/s."""
        return float(self.reading.fps[0])


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
        link: Connected link.
        binding: Phone bound to its profile.
        fg_period_s: How often to re-check the foreground app and layers, s.
        target_fps: Frame-rate target used when the foreground app is not in the catalog.
        mode: ``inline`` (the read runs ``dumpsys``) or ``agent`` (an on-phone poller does; call
            :meth:`start` and :meth:`stop`).
        heartbeat: Write a step counter to the heartbeat file in every read (always on in ``agent`` mode).
        extra_cats: ``{key: path}`` of further files to read in every round trip (returned raw in
            ``RawSample.extra``).
    """

    def __init__(
        self,
        link: AdbLink,
        binding: Binding,
        fg_period_s: float = 1.0,
        target_fps: float = DEFAULT_TARGET_FPS,
        mode: str = "inline",
        heartbeat: bool = False,
        extra_cats: dict[str, str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise MetaDVFSError(f"sampler mode: must be one of {MODES}, got {mode!r}")
        self.link = link
        self.b = binding
        self.fg_period_s = fg_period_s
        self.default_target_fps = target_fps
        self.mode = mode
        self.heartbeat = heartbeat or mode == "agent"
        self.extra_cats = dict(extra_cats or {})
        self.heartbeat_paths: tuple[str, ...] = (agents.HEARTBEAT_PATH,)
        self.root_reads: bool | None = None
        self.layer: str | None = None
        self.foreground: str | None = None
        self.app: str | None = None
        self.hb = 0
        self._probe: list[str] = []
        self._last_fg = -math.inf
        self._scripts: dict[tuple[object, ...], Script] = {}
        self._layer_write: str | None = None
        self._last_dump: SfLatency | None = None
        self._last_dump_layer: str | None = None
        self._last_dump_t: float | None = None
        self._last_seq: int | None = None
        self._fps = (0.0, target_fps, 1.0)  # fps, fps_target, qoe held between dumps
        self._fg_pending = False
        self.started = False

    # ---------------------------------------------------------------- agent
    def start(self, period_s: float = 0.1) -> None:
        """Start the on-phone frame poller (``agent`` mode)."""
        if self.mode == "agent" and not self.started:
            agents.start_poller(self.link, period_s)
            self.started = True

    def stop(self) -> None:
        """Stop the frame poller (best effort, idempotent)."""
        if self.started:
            self.started = False
            agents.stop_poller(self.link)

    # ---------------------------------------------------------------- script
    def _script(self, with_fg: bool, probe: tuple[str, ...]) -> Script:
        key = (with_fg, self.layer, probe, self._layer_write is not None)
        s = self._scripts.get(key)
        if s is not None:
            return s
        lay = self.b.layout
        s = Script()
        if self.heartbeat:
            s.run("hb", "__HEARTBEAT__")
        if self._layer_write is not None:
            s.run("ly", "__LAYER__")
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
        for k, path in self.extra_cats.items():
            s.cat(f"x_{k}", path)
        if self.mode == "agent":
            s.cat("sf", agents.SF_PATH)
            if with_fg:
                s.cat("fgf", agents.FG_PATH)
        else:
            if self.layer is not None:
                s.run("sf", f"dumpsys SurfaceFlinger --latency {q(self.layer)}")
            if with_fg:
                s.run("fg", agents.FG_COMMAND)
                s.run("fgw", agents.FG_WINDOW_COMMAND)
                s.run("sfl", "dumpsys SurfaceFlinger --list")
        for i, layer in enumerate(probe):
            s.run(f"sp{i}", f"dumpsys SurfaceFlinger --latency {q(layer)}")
        if len(self._scripts) > 32:
            self._scripts.clear()
        self._scripts[key] = s
        return s

    def beat(self) -> None:
        """A heartbeat on its own round trip (while waiting more than a second between reads)."""
        if self.heartbeat:
            self.hb += 1
            cmd = self._beat_cmd()
            self.link.read_shell(cmd) if self.root_reads else self.link.shell(cmd)

    def _beat_cmd(self) -> str:
        return "; ".join(write_cmd(p, self.hb) for p in self.heartbeat_paths)

    # ---------------------------------------------------------------- read
    def sample(self) -> RawSample:
        """Read everything once (one round trip; the first call may add one to pick shell or root reads).

        Returns:
            The raw sample.

        Raises:
            MetaDVFSError: A node is missing, unreadable or holds garbage (the message names it).
            AdbLinkError: The link failed.
        """
        now = time.monotonic()
        with_fg = now - self._last_fg >= self.fg_period_s
        probe = tuple(self._probe)
        s = self._script(with_fg, probe)
        text = s.text()
        if self.heartbeat:
            self.hb += 1
            text = text.replace("{ __HEARTBEAT__ ; }", "{ " + self._beat_cmd() + " ; }", 1)
        if self._layer_write is not None:
            text = text.replace(
                "{ __LAYER__ ; }", "{ echo " + q(self._layer_write) + " > " + q(agents.LAYER_PATH) + " ; }", 1
            )
        if self.root_reads is None:
            r, t0, t1 = self._choose_reader(text, s)
        else:
            t0 = time.monotonic()
            out = self.link.read_shell(text) if self.root_reads else self.link.shell(text)
            t1 = time.monotonic()
            r = parse_sections(out, s)
        self._layer_write = None
        self._fg_pending = False
        raw = self._parse(r, (t0 + t1) / 2, t1 - t0, with_fg)
        if with_fg and not self._fg_pending:
            self._last_fg = now
        if probe:
            self._choose_layer(r, probe)
        raw.layer, raw.foreground, raw.app = self.layer, self.foreground, self.app
        return raw

    def _choose_reader(self, text: str, s: Script) -> tuple[dict[str, Section], float, float]:
        """First read: as the shell user; fall back to root when a node is denied to it."""
        t0 = time.monotonic()
        r = parse_sections(self.link.shell(text), s)
        t1 = time.monotonic()
        denied = [k for k, sec in r.items() if sec.denied and k not in ("fg", "fgw", "sfl")]
        if denied and self.link.root_mode is not None:
            self.root_reads = True
            t0 = time.monotonic()
            r = parse_sections(self.link.read_shell(text), s)
            t1 = time.monotonic()
        else:
            self.root_reads = False
        return r, t0, t1

    def _parse(self, r: dict[str, Section], t: float, rtt: float, with_fg: bool) -> RawSample:
        lay = self.b.layout
        if "hb" in r and r["hb"].failed:
            raise MetaDVFSError(f"heartbeat write to {agents.HEARTBEAT_PATH} failed: {r['hb'].text.strip()[:100]!r}")
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
            extra={k[2:]: v for k, v in r.items() if k.startswith("x_")},
        )
        if with_fg and not self._parse_foreground(r):
            self._fg_pending = True
        self._parse_frames(r, raw)
        return raw

    # ---------------------------------------------------------------- frames and foreground
    def _parse_frames(self, r: dict[str, Section], raw: RawSample) -> None:
        dump: SfLatency | None = None
        sec = r.get("sf")
        if sec is not None and not sec.failed and sec.text.strip() and self.layer is not None:
            if self.mode == "agent":
                parsed = agents.parse_sf_file(sec.text)
                if parsed is not None and parsed[1] == self.layer and parsed[0] != self._last_seq:
                    self._last_seq = parsed[0]
                    dump = parse_sf_latency(parsed[2], f"{agents.SF_PATH} (dumpsys SurfaceFlinger --latency)")
            else:
                dump = parse_sf_latency(sec.text, f"dumpsys SurfaceFlinger --latency {self.layer}")
        elif sec is not None and self.mode == "inline" and self.layer is not None:
            self.layer = None  # the layer went away; re-detect at the next foreground check
            self._last_fg = -math.inf
        if dump is None:
            raw.fps, raw.fps_target, raw.qoe = self._fps
            return
        same = self._last_dump is not None and self._last_dump_layer == self.layer
        n, presented = count_frames(self._last_dump, dump, same)
        if same and self._last_dump_t is not None:
            dt = max(raw.t - self._last_dump_t, 1e-3)
            fps_target = n / dt if n > 0 else self.target_fps
            self._fps = (presented / dt, fps_target, presented / n if n > 0 else 1.0)
        self._last_dump, self._last_dump_layer, self._last_dump_t = dump, self.layer, raw.t
        raw.frames, raw.presented, raw.fresh = n, presented, True
        raw.fps, raw.fps_target, raw.qoe = self._fps

    def _parse_foreground(self, r: dict[str, Section]) -> bool:
        """Update foreground app and layer; ``False`` when the poller has not written ``fg.txt`` yet."""
        if self.mode == "agent":
            sec = r.get("fgf")
            if sec is None or sec.failed:
                return False
            act, win, lst = agents.parse_fg_file(sec.text)
        else:
            act = r["fg"].text if not r["fg"].failed else ""
            win = r["fgw"].text if not r["fgw"].failed else ""
            lst = r["sfl"].text if not r["sfl"].failed else ""
        fg = parse_foreground(act) or parse_foreground(win)
        if fg is not None:
            try:
                check_package(fg)
            except MetaDVFSError:
                fg = None
        layers = parse_sf_list(lst)
        changed = fg != self.foreground
        self.foreground = fg
        self.app = catalog_app(fg)
        if not changed and self.layer is not None and self.layer in layers:
            return True
        cands: list[str] = []
        for name in layers:
            if fg and fg in name:
                try:
                    cands.append(check_layer(name, layers))
                except MetaDVFSError:
                    continue
        if self.layer not in cands:
            self._set_layer(None)
        if len(cands) == 1:
            self._set_layer(cands[0])
            self._probe = []
        elif cands and self.layer is None:
            self._probe = cands[:MAX_PROBE_LAYERS]
        return True

    def _set_layer(self, layer: str | None) -> None:
        if layer == self.layer:
            return
        self.layer = layer
        self._last_dump = None
        self._last_seq = None
        if self.mode == "agent":
            self._layer_write = layer or ""

    def _choose_layer(self, r: dict[str, Section], probe: tuple[str, ...]) -> None:
        self._probe = []
        dumps: dict[str, SfLatency] = {}
        for i, layer in enumerate(probe):
            sec = r[f"sp{i}"]
            if not sec.failed and sec.text.strip():
                dumps[layer] = parse_sf_latency(sec.text, f"dumpsys SurfaceFlinger --latency {layer}")
        newest = max((f.frames[-1][1] for f in dumps.values() if f.frames), default=None)
        best, best_n = None, -1
        for layer, lat in dumps.items():
            n = sum(1 for fr in lat.frames if newest is not None and fr[1] >= newest - 1_000_000_000)
            if n > best_n:
                best, best_n = layer, n
        if best is not None:
            self._set_layer(best)

    @property
    def target_fps(self) -> float:
        """Frame-rate target of the foreground app (catalog target, else the default)."""
        if self.app is not None:
            from metadvfs.workload.apps import load_app

            return float(load_app(self.app).metadata.target_fps)
        return self.default_target_fps

    def reading(self, prev: RawSample, cur: RawSample) -> StepReading:
        """Quantities over the interval between two samples (see :func:`step_reading`)."""
        return step_reading(self.b, prev, cur)


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
    c = prof.cluster(CPU_DOMAINS[d])
    if c is None:
        return 0.0
    k = nearest_level(c.freqs_khz, khz)
    return c.cores * (c.power_mw[k] * busy + _at(c.idle_mw, k) * (1.0 - busy)) + _at(c.static_mw, k)


def step_reading(binding: Binding, prev: RawSample, cur: RawSample) -> StepReading:
    """Turn two consecutive samples into one interval's quantities and a codec reading.

    Args:
        binding: The bound phone.
        prev: Earlier sample.
        cur: Later sample (its frame quantities were computed by the sampler).

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
                rail_dom = binding.rail_domain.get(rail)
                if rail_dom is not None:
                    measured[rail_dom] += mw
                    seen[rail_dom] = True
            power = np.where(seen, measured, power)
            total = float(sum(rail_mw.values()))
    elif cur.battery_mw is not None:
        total = float(cur.battery_mw)
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
        fps=np.array([cur.fps]),
        fps_target=np.array([cur.fps_target]),
        qoe=np.array([cur.qoe]),
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
        frames=cur.frames,
        presented=cur.presented,
        power_mw=power,
        power_total_mw=total,
        temp_die_c=die,
        temp_skin_c=skin,
        throttled=throttled,
        foreground=cur.foreground,
        app=cur.app,
    )
