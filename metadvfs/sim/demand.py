"""Turn device-independent workload traces into per-device, per-domain demand.

A trace row (one simulator tick) holds the work of four thread roles (see
:mod:`metadvfs.workload.types`). This module places the roles on the device's clusters, the way the
Android scheduler would at a coarse level:

- ``ui`` (one frame-critical thread, in the top-app group): on the smallest of the ``mid``/``big`` domains
  whose top OPP finishes one frame's ui work within 80 % of the frame period (the EAS ``fits_capacity``
  margin), otherwise on ``big``. Pixel kernels keep top-app UI/render threads off the little cores
  (top-app uclamp / prefer-high-capacity placement); a phone without a mid cluster runs them on ``big``.
- ``worker``: on ``mid`` (``big`` when the phone has no mid cluster), spread over its cores.
- ``bg``: on ``little``, spread over its cores.
- ``gpu``: on the GPU.

The result (:class:`CompiledDemand`) holds per tick: total work per domain, the share of that work on the
busiest CPU of the domain (times its core count), frames, per-frame ui and GPU work, and the ui domain.
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


@dataclass
class CompiledDemand:
    """Per-device demand for a batch of windows (float32 arrays, leading axes (B, L)).

    Attributes:
        work: (B, L, 4) work per domain and tick, reference Mc (GPU: reference GPU Mc).
        share_c: (B, L, 4) share of the domain's work on its busiest CPU times the domain's core count.
        frames: (B, L) frames requested.
        ui_pf: (B, L) ui work per frame, Mc.
        gpu_pf: (B, L) GPU work per frame, GPU Mc.
        ui_dom: (B, L) int8 domain index (1 mid, 2 big) of the ui thread per tick.
        input: (B, L) input flags per tick (:mod:`metadvfs.workload.input_events`: 1 touch event, 2 launch);
            ``None`` means no input events.
    """

    work: np.ndarray
    share_c: np.ndarray
    frames: np.ndarray
    ui_pf: np.ndarray
    gpu_pf: np.ndarray
    ui_dom: np.ndarray
    input: np.ndarray | None = None

    FIELDS = ("work", "share_c", "frames", "ui_pf", "gpu_pf", "ui_dom", "input")


def compile_demand(
    raw: dict[str, np.ndarray], dev: DeviceArrays, rows: np.ndarray, target_fps: np.ndarray
) -> CompiledDemand:
    """Place the thread roles of ``B`` trace windows on the devices of batch rows ``rows``.

    Args:
        raw: Trace arrays, each (B, L): ``frames``, ``ui_mc``, ``gpu_mc``, ``worker_mc``, ``bg_mc``; optional
            ``input`` (input flags; zeros when absent).
        dev: Device arrays of the whole batch.
        rows: (B,) which environment (row of ``dev``) each window belongs to.
        target_fps: (B,) app frame-rate target, frames/s (sets the frame period for placement).

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
    ui_pf = np.where(frames > 0, ui / safe_frames, 0.0)
    gpu_pf = np.where(frames > 0, gpu / safe_frames, 0.0)

    speed_max = dev.fmax_mhz[rows, :3] * dev.ipc[rows, :3]  # (B, 3) Mc/s of one core at the top OPP
    mask = dev.mask[rows, :3] > 0
    period = 1.0 / target_fps[:, None]  # (B, 1) s
    need = ui_pf / (FIT_MARGIN * period)  # (B, L) Mc/s the ui thread needs
    ui_dom = np.full((b, length), 2, dtype=np.int8)
    for d in (1,):  # top-app: mid if it fits, else big
        fits = mask[:, d : d + 1] & (need <= speed_max[:, d : d + 1])
        ui_dom = np.where(fits, np.int8(d), ui_dom)

    cores = dev.cores[rows, :3]
    wdom = dev.worker_dom[rows][:, None]
    work = np.zeros((b, length, 4))
    crit = np.zeros((b, length, 4))
    for d in range(3):
        ui_d = np.where(ui_dom == d, ui, 0.0)
        other = (bg if d == 0 else 0.0) + np.where(wdom == d, worker, 0.0)
        work[:, :, d] = ui_d + other
        crit[:, :, d] = ui_d + other / cores[:, d : d + 1]
    work[:, :, 3] = gpu
    crit[:, :, 3] = gpu
    share = np.divide(crit, work, out=np.zeros_like(work), where=work > 0)

    all_cores = dev.cores[rows][:, None, :]
    return CompiledDemand(
        work=work.astype(np.float32),
        share_c=(share * all_cores).astype(np.float32),
        frames=frames.astype(np.float32),
        ui_pf=ui_pf.astype(np.float32),
        gpu_pf=gpu_pf.astype(np.float32),
        ui_dom=ui_dom,
        input=np.asarray(raw["input"], dtype=np.float32) if "input" in raw else np.zeros((b, length), np.float32),
    )


class DemandPool:
    """Compiled demand of many sources (trace banks, trace files) in one flat array shared by a batch.

    Each source is stored once as a block of consecutive ticks; an environment's episode is a window of a block,
    addressed by the absolute tick of its first row (``SimCore.base``), so starting an episode copies nothing. The
    fields of one tick are packed in one float32 row (:data:`COLUMNS`), so a step of one environment reads one
    contiguous run of memory.

    Attributes:
        data: (T, 13) float32 packed rows: work (4 domains, reference Mc), share of the work on the busiest CPU
            times the core count (4), frames requested, ui work per frame (Mc), GPU work per frame (GPU Mc), and
            the ui thread's domain (0..3, exact in float32), input flags (exact in float32; read by the ``stock``
            governor, not by the kernel).
        size: Ticks in use (``T`` is the capacity).
    """

    COLUMNS: ClassVar[dict[str, slice | int]] = {
        "work": slice(0, 4),
        "share_c": slice(4, 8),
        "frames": 8,
        "ui_pf": 9,
        "gpu_pf": 10,
        "ui_dom": 11,
        "input": 12,
    }
    WIDTH = 13

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.data = np.zeros((max(1, capacity), self.WIDTH), dtype=np.float32)
        self._index: dict[object, tuple[int, int, object]] = {}

    def column(self, name: str) -> np.ndarray:
        """View of one :class:`CompiledDemand` field over the whole pool ((T, 4) or (T,); ``ui_dom`` as float32)."""
        return self.data[:, self.COLUMNS[name]]

    work = property(lambda self: self.column("work"))
    share_c = property(lambda self: self.column("share_c"))
    frames = property(lambda self: self.column("frames"))
    ui_pf = property(lambda self: self.column("ui_pf"))
    gpu_pf = property(lambda self: self.column("gpu_pf"))
    ui_dom = property(lambda self: self.column("ui_dom"))

    @property
    def nbytes(self) -> int:
        """Bytes held by the pool."""
        return int(self.data.nbytes)

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
        packed = {key_: np.ascontiguousarray(arrays[key_], dtype=np.float32) for key_ in (*RAW_KEYS, "input")}
        self._cache[key] = packed
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return packed


DEFAULT_BANK = TraceBank()
