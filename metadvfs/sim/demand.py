"""Turn device-independent workload traces into per-device, per-domain demand.

A trace row (one simulator tick) holds the work of four thread roles (see
:mod:`metadvfs.workload.types`). This module places the threads on the device's clusters once, before
simulation, the way the Android scheduler (EAS) would at a coarse level (``docs/simulator.md`` section 4):

- **UI thread and RenderThread** (the ``ui`` role, split by :data:`RT_SHARE`; both in the top-app group): each on
  the smallest of the ``mid``/``big`` domains whose top OPP finishes its per-frame work within 80 % of the frame
  period (the EAS ``fits_capacity`` margin), otherwise on ``big``. Pixel kernels keep top-app UI/render threads
  off the little cores (top-app uclamp / prefer-high-capacity placement). The two threads run on different
  cores; when their domain has a single core the RenderThread goes to the other of ``mid``/``big``.
- **Worker threads** (``worker`` role, :data:`WORKER_THREADS` equal threads): each on a core of the smallest
  cluster whose top OPP fits one thread (little first), one thread per core, spilling to the next larger cluster
  when the fitting clusters have fewer cores than threads (EAS spreads runnable tasks over idle fitting CPUs).
- ``bg``: on ``little``, spread over its cores.
- ``gpu``: on the GPU.

The result (:class:`CompiledDemand`) holds per tick: the non-frame ("other") work per domain, the share of it on
the domain's busiest core, frames requested, per-frame UI, RenderThread and GPU work, the two threads' domains
and the frame rate the frames are requested at.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from metadvfs.sim.device_arrays import DeviceArrays

if TYPE_CHECKING:
    from metadvfs.workload.types import AppProfile

FIT_MARGIN = 0.8
"""EAS ``fits_capacity`` margin: a task fits a CPU when it needs at most 80 % of its capacity."""

RT_SHARE = 0.4
"""Share of a frame's ``ui`` work done by the RenderThread (sync, command issue, swap); the rest is the UI thread's
input, animation, measure/layout and record. *Estimated* from the stage split ``dumpsys gfxinfo`` profile bars show
for list scrolling (docs/simulator.md section 4)."""

WORKER_THREADS = 4
"""Concurrently runnable worker threads the ``worker`` role is split into (*estimated*: player, loader/network,
decoder feed and a thread-pool task; docs/simulator.md section 4)."""


@dataclass
class CompiledDemand:
    """Per-device demand for a batch of windows (float32 arrays, leading axes (B, L)).

    Attributes:
        other: (B, L, 4) non-frame (worker + background) work per domain and tick, reference Mc (GPU: 0).
        other_share: (B, L, 4) share of the domain's other work on its busiest core (0 where there is none).
        frames: (B, L) frames requested.
        ui_pf: (B, L) UI-thread work per frame, Mc; a tick without a request holds the latest requested frame's
            (a frame that starts late there costs what it was requested with).
        gpu_pf: (B, L) GPU work per frame, GPU Mc (carried into ticks without a request like ``ui_pf``).
        ui_dom: (B, L) domain index (1 mid, 2 big) of the UI thread per tick.
        rt_pf: (B, L) RenderThread work per frame, Mc.
        rt_dom: (B, L) domain index of the RenderThread per tick.
        frame_fps: (B, L) frame rate the frames of the tick are requested at, frames/s (0 = the app's target).
        input: (B, L) input flags per tick (:mod:`metadvfs.workload.input_events`: 1 touch event, 2 launch);
            ``None`` means no input events.
    """

    other: np.ndarray
    other_share: np.ndarray
    frames: np.ndarray
    ui_pf: np.ndarray
    gpu_pf: np.ndarray
    ui_dom: np.ndarray
    rt_pf: np.ndarray
    rt_dom: np.ndarray
    frame_fps: np.ndarray
    input: np.ndarray | None = None

    FIELDS = (
        "other", "other_share", "frames", "ui_pf", "gpu_pf", "ui_dom", "rt_pf", "rt_dom", "frame_fps", "input",
    )  # fmt: skip


def _fit_domain(need: np.ndarray, speed_max: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Domain (1 mid / 2 big) of a top-app thread needing ``need`` Mc/s: mid if present and it fits, else big."""
    fits = mask[:, 1:2] & (need <= speed_max[:, 1:2])
    return np.where(fits, np.int8(1), np.int8(2)).astype(np.int8)


def worker_layout(cores: np.ndarray, mask: np.ndarray, smallest: int, n_threads: int = WORKER_THREADS):
    """Threads per domain and on the busiest core of each domain when workers start at cluster ``smallest``.

    Args:
        cores: (3,) cores per CPU domain.
        mask: (3,) True where the domain exists.
        smallest: Smallest cluster the threads fit on (0 little, 1 mid, 2 big).
        n_threads: Worker threads.

    Returns:
        ``(n_d, m_d)``: (3,) threads per domain and (3,) threads on the domain's busiest core.
    """
    slots = [d for d in range(smallest, 3) if mask[d] for _ in range(int(cores[d]))]
    if not slots:
        slots = [2]
    n_d = np.zeros(3)
    for j in range(n_threads):
        n_d[slots[j % len(slots)]] += 1
    m_d = np.array([np.ceil(n_d[d] / cores[d]) if n_d[d] > 0 else 0.0 for d in range(3)])
    return n_d, m_d


def _fill_from_frames(values: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Each tick's value from the nearest earlier tick where ``has`` holds (the first such tick for leading ones)."""
    length = values.shape[1]
    idx = np.where(has, np.arange(length)[None, :], -1)
    idx = np.maximum.accumulate(idx, axis=1)
    first = np.where(has.any(axis=1), has.argmax(axis=1), 0)
    idx = np.where(idx < 0, first[:, None], idx)
    return np.take_along_axis(values, idx, axis=1)


def display_rate_frames(
    frames: np.ndarray,
    per_frame: tuple[np.ndarray, ...],
    frame_fps: np.ndarray,
    target_fps: np.ndarray,
    refresh_hz: np.ndarray,
    display_rate: np.ndarray,
    tick_s: float,
) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
    """Re-grid the UI phases of display-rate apps at the display's refresh rate.

    A generated tick whose phase requests the app's ``target_fps`` (UI animation) requests instead the frames of a
    ``refresh_hz`` grid anchored at the window start, each with the same work as the phase's frames at that point
    (the per-frame work of the nearest earlier tick that had a frame). Other ticks, apps without ``display_rate``
    and panels at or below ``target_fps`` are unchanged.

    Args:
        frames: (B, L) frames requested per tick.
        per_frame: (B, L) arrays of work per frame (0 where the tick has no frame).
        frame_fps: (B, L) phase frame rate per tick, frames/s (0 = unknown, e.g. trace files).
        target_fps: (B,) app frame-rate target, frames/s.
        refresh_hz: (B,) display refresh rate, Hz.
        display_rate: (B,) the app's UI phases render at the display rate.
        tick_s: Tick length, s.

    Returns:
        ``(frames, per_frame, frame_fps)`` re-gridded.
    """
    rate = np.asarray(refresh_hz, dtype=np.float64)[:, None]
    on = (np.asarray(display_rate, dtype=bool) & (rate[:, 0] > np.asarray(target_fps) + 1e-6))[:, None]
    sel = on & (np.abs(frame_fps - np.asarray(target_fps, dtype=np.float64)[:, None]) < 1e-6) & (frame_fps > 0)
    if not sel.any():
        return frames, per_frame, frame_fps
    edges = np.arange(frames.shape[1] + 1)[None, :] * tick_s * rate  # vsync instants k / refresh in each tick
    grid = np.diff(np.ceil(edges - 1e-6), axis=1)
    has = sel & (frames > 0)
    filled = tuple(np.where(sel, _fill_from_frames(v, has), v) for v in per_frame)
    return np.where(sel, grid, frames), filled, np.where(sel, rate, frame_fps)


def compile_demand(
    raw: dict[str, np.ndarray],
    dev: DeviceArrays,
    rows: np.ndarray,
    target_fps: np.ndarray,
    tick_s: float = 0.01,
    display_rate: np.ndarray | None = None,
) -> CompiledDemand:
    """Place the thread roles of ``B`` trace windows on the devices of batch rows ``rows``.

    Args:
        raw: Trace arrays, each (B, L): ``frames``, ``ui_mc``, ``gpu_mc``, ``worker_mc``, ``bg_mc``, and optionally
            ``frame_fps`` (the phase's frame rate, frames/s; generated traces carry it).
        dev: Device arrays of the whole batch.
        rows: (B,) which environment (row of ``dev``) each window belongs to.
        target_fps: (B,) app frame-rate target, frames/s (sets the frame period for placement).
        tick_s: Tick length of the rows, s (turns worker work per tick into a rate for placement).
        display_rate: (B,) the app's UI phases render at the display's refresh rate (:func:`display_rate_frames`;
            default: none does).

    Returns:
        The compiled demand.
    """
    frames = raw["frames"].astype(np.float64)
    ui = raw["ui_mc"].astype(np.float64)
    gpu = raw["gpu_mc"].astype(np.float64)
    worker = raw["worker_mc"].astype(np.float64)
    bg = raw["bg_mc"].astype(np.float64)
    b, length = frames.shape
    safe_frames = np.maximum(frames, 1.0)
    ui_all = np.where(frames > 0, ui / safe_frames, 0.0)
    gpu_pf = np.where(frames > 0, gpu / safe_frames, 0.0)
    frame_fps = raw["frame_fps"].astype(np.float64) if "frame_fps" in raw else np.zeros((b, length))
    ui_rate = np.asarray(target_fps, dtype=np.float64)
    if display_rate is not None:
        refresh = dev.refresh_hz[rows]
        frames, (ui_all, gpu_pf), frame_fps = display_rate_frames(
            frames, (ui_all, gpu_pf), frame_fps, target_fps, refresh, display_rate, tick_s
        )
        ui_rate = np.where(np.asarray(display_rate, dtype=bool), np.maximum(ui_rate, refresh), ui_rate)
    # a frame requested in one tick may start in a later one (the UI thread or a buffer was busy): every tick
    # carries the per-frame work of the latest requested frame, so a late frame costs what it was requested with
    has_frame = frames > 0
    ui_all = _fill_from_frames(ui_all, has_frame)
    gpu_pf = _fill_from_frames(gpu_pf, has_frame)
    ui_pf = ui_all * (1.0 - RT_SHARE)
    rt_pf = ui_all * RT_SHARE

    speed_max = dev.fmax_mhz[rows, :3] * dev.ipc[rows, :3]  # (B, 3) Mc/s of one core at the top OPP
    mask = dev.mask[rows, :3] > 0
    cores = dev.cores[rows, :3]
    period = 1.0 / ui_rate[:, None]  # (B, 1) s: the UI thread's frame period
    ui_dom = _fit_domain(ui_pf / (FIT_MARGIN * period), speed_max, mask)
    rt_dom = _fit_domain(rt_pf / (FIT_MARGIN * period), speed_max, mask)
    # two threads on one single-core domain: the RenderThread moves to the other of mid/big when it exists
    single = np.take_along_axis(cores, rt_dom.astype(np.int64), axis=1) < 1.5
    other_dom = np.where(rt_dom == 1, np.int8(2), np.int8(1))
    other_ok = np.take_along_axis(mask, other_dom.astype(np.int64), axis=1)
    rt_dom = np.where((rt_dom == ui_dom) & single & other_ok, other_dom, rt_dom).astype(np.int8)

    # worker threads: smallest cluster whose top OPP fits one thread, one thread per core from there up
    need_w = worker / WORKER_THREADS / tick_s / FIT_MARGIN  # (B, L) Mc/s of one worker thread, with the margin
    smallest = np.full((b, length), 2, dtype=np.int64)
    for d in (1, 0):
        smallest = np.where(mask[:, d : d + 1] & (need_w <= speed_max[:, d : d + 1]), d, smallest)
    share_w = np.zeros((b, length, 3))  # share of the worker work per domain
    busiest_w = np.zeros((b, length, 3))  # share of the worker work on the domain's busiest core
    for j in range(b):
        layouts = [worker_layout(cores[j], mask[j], s) for s in range(3)]
        n_tab = np.stack([lay[0] for lay in layouts]) / WORKER_THREADS  # (3 smallest, 3 domains)
        m_tab = np.stack([lay[1] for lay in layouts]) / WORKER_THREADS
        share_w[j] = n_tab[smallest[j]]
        busiest_w[j] = m_tab[smallest[j]]

    other = np.zeros((b, length, 4))
    busiest = np.zeros((b, length, 4))
    for d in range(3):
        bg_d = bg if d == 0 else 0.0
        other[:, :, d] = worker * share_w[:, :, d] + bg_d
        busiest[:, :, d] = worker * busiest_w[:, :, d] + bg_d / cores[:, d : d + 1]
    share = np.divide(busiest, other, out=np.zeros_like(other), where=other > 0)

    return CompiledDemand(
        other=other.astype(np.float32),
        other_share=share.astype(np.float32),
        frames=frames.astype(np.float32),
        ui_pf=ui_pf.astype(np.float32),
        gpu_pf=gpu_pf.astype(np.float32),
        ui_dom=ui_dom,
        rt_pf=rt_pf.astype(np.float32),
        rt_dom=rt_dom,
        frame_fps=frame_fps.astype(np.float32),
        input=np.asarray(raw["input"], dtype=np.float32) if "input" in raw else np.zeros((b, length), np.float32),
    )


class DemandPool:
    """Compiled demand of many sources (trace banks, trace files) in one flat array shared by a batch.

    Each source is stored once as a block of consecutive ticks; an environment's episode is a window of a block,
    addressed by the absolute tick of its first row (``SimCore.base``), so starting an episode copies nothing. The
    fields of one tick are packed in one float32 row (:data:`COLUMNS`), so a step of one environment reads one
    contiguous run of memory.

    Attributes:
        data: (T, WIDTH) float32 packed rows, columns :data:`COLUMNS`: other (non-frame) work (4 domains,
            reference Mc), share of it on the busiest core (4), frames requested, UI-thread work per frame (Mc),
            GPU work per frame (GPU Mc), the UI thread's domain (exact in float32), RenderThread work per frame
            (Mc), the RenderThread's domain, the requested frame rate (frames/s, 0 = the app's target), and the
            input flags (exact in float32; read by the ``stock`` governor, not by the kernel).
        size: Ticks in use (``T`` is the capacity).
    """

    COLUMNS: ClassVar[dict[str, slice | int]] = {
        "other": slice(0, 4),
        "other_share": slice(4, 8),
        "frames": 8,
        "ui_pf": 9,
        "gpu_pf": 10,
        "ui_dom": 11,
        "rt_pf": 12,
        "rt_dom": 13,
        "frame_fps": 14,
        "input": 15,
    }
    """Column of each field in a row. New fields are appended (the kernel reads columns by these indices)."""
    WIDTH = 16

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.data = np.zeros((max(1, capacity), self.WIDTH), dtype=np.float32)
        self._index: dict[object, tuple[int, int, object]] = {}

    def column(self, name: str) -> np.ndarray:
        """View of one :class:`CompiledDemand` field over the whole pool ((T, 4) or (T,); ``ui_dom`` as float32)."""
        return self.data[:, self.COLUMNS[name]]

    other = property(lambda self: self.column("other"))
    other_share = property(lambda self: self.column("other_share"))
    frames = property(lambda self: self.column("frames"))
    ui_pf = property(lambda self: self.column("ui_pf"))
    gpu_pf = property(lambda self: self.column("gpu_pf"))
    ui_dom = property(lambda self: self.column("ui_dom"))
    rt_pf = property(lambda self: self.column("rt_pf"))
    rt_dom = property(lambda self: self.column("rt_dom"))
    frame_fps = property(lambda self: self.column("frame_fps"))

    @property
    def nbytes(self) -> int:
        """Bytes held by the pool."""
        return int(self.data.nbytes)

    def __getstate__(self) -> dict[str, object]:
        """Pickle the rows in use only.

        The spare capacity (up to half the array after a doubling) is zeros, and a training checkpoint pickles this
        pool in every ``extra.pkl`` (about 1 GB for the full config's 480 phones before this).
        """
        state = dict(self.__dict__)
        state["data"] = self.data[: max(1, self.size)].copy()
        return state

    def find(self, key: object) -> tuple[int, int] | None:
        """``(first tick, length)`` of the block stored under ``key``, or ``None``."""
        hit = self._index.get(key)
        return None if hit is None else (hit[0], hit[1])

    def add(self, key: object, demand: CompiledDemand, keep: object = None) -> tuple[int, int]:
        """Store row 0 of ``demand`` under ``key`` (once) and return ``(first tick, length)``.

        Args:
            key: Hashable identity of the source.
            demand: Compiled demand (only its first row is stored).
            keep: Object kept alive with the block (so an ``id()`` in ``key`` cannot be reused).
        """
        hit = self.find(key)
        if hit is not None:
            return hit
        length = int(demand.frames.shape[1])
        need = self.size + length
        cap = self.data.shape[0]
        if need > cap:
            grown = np.zeros((max(need, 2 * cap), self.WIDTH), dtype=np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        start = self.size
        for name, col in self.COLUMNS.items():
            value = getattr(demand, name)
            self.data[start:need, col] = 0.0 if value is None else value[0]
        self.size = need
        self._index[key] = (start, length, keep)
        return start, length


RAW_KEYS = ("frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc")
"""Trace arrays every demand source has (a trace file gives exactly these)."""
BANK_KEYS = (*RAW_KEYS, "frame_fps", "input")
"""Arrays a generated trace bank keeps: also the phase's frame rate per tick (the frames' vsync deadline)."""


class TraceBank:
    """Seeded, cached long traces per app; episodes are windows into them.

    Each app has ``n_banks`` traces of ``bank_seconds``; bank ``k`` of app ``a`` is generated with the seed
    ``crc32("a:k")`` so every process (and every worker) sees the same traces. An episode draws a bank and
    an offset from the environment's RNG.
    """

    def __init__(self, n_banks: int = 4, bank_seconds: float = 600.0, max_entries: int = 64) -> None:
        """Create an empty bank.

        Args:
            n_banks: Traces per app.
            bank_seconds: Length of each trace, s.
            max_entries: LRU capacity (app x bank entries kept in memory).
        """
        self.n_banks = n_banks
        self.bank_seconds = bank_seconds
        self._cache: OrderedDict[tuple[str, int, float, float], dict[str, np.ndarray]] = OrderedDict()
        self._max = max_entries

    @staticmethod
    def bank_seed(app_name: str, k: int) -> int:
        """Deterministic generator seed of bank ``k`` of ``app_name``."""
        return zlib.crc32(f"{app_name}:{k}".encode())

    def get(self, app: AppProfile, k: int, tick_s: float, min_seconds: float) -> dict[str, np.ndarray]:
        """Return bank ``k`` of ``app`` (generated on first use) as raw arrays at ``tick_s``."""
        from metadvfs.workload.generator import generate_arrays

        seconds = max(self.bank_seconds, min_seconds)
        name = app.name
        key = (name, k, tick_s, seconds)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        n_ticks = round(seconds / tick_s)
        arrays = generate_arrays(app, n_ticks, self.bank_seed(name, k), tick_s=tick_s)
        packed = {key_: np.ascontiguousarray(arrays[key_], dtype=np.float32) for key_ in BANK_KEYS}
        self._cache[key] = packed
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return packed


DEFAULT_BANK = TraceBank()
