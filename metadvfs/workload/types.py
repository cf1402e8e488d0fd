"""Typed records for app profiles (``envs/apps/*.yaml``) and workload traces.

Work is device-independent. CPU work is in **reference megacycles** (Mc): the cycles a reference core
(Cortex-A76 class, ``ipc = 1.0``) needs; a cluster with ``ipc`` at ``f`` MHz retires ``f * ipc`` Mc per second per
core. GPU work is in **reference GPU megacycles**: a GPU with ``throughput`` at ``f`` MHz retires
``f * throughput`` per second.

Thread roles:
    ``ui``: the frame-critical main thread + RenderThread work of the frames requested in a tick (one thread
        at a time; the scheduler places it on the smallest cluster that fits it).
    ``worker``: worker threads (decoder, network, layout helpers); run on the ``mid`` cluster (``big`` on
        phones without ``mid``), spread over its cores.
    ``bg``: background/system work; runs on the ``little`` cluster, spread over its cores.
    ``gpu``: GPU work of the frames requested in a tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metadvfs.workload.input_events import InputSpec

TRACE_SCHEMA = "metadvfs.trace/2"
"""Schema id written into every trace file (version 2 adds the input-event track ``TraceMeta.input``)."""

TRACE_SCHEMAS: tuple[str, ...] = ("metadvfs.trace/1", TRACE_SCHEMA)
"""Schema ids readers accept; a version-1 trace has no input track. Readers reject other ids."""

TRACE_COLUMNS: tuple[str, ...] = ("t_s", "frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc", "phase")
"""Required trace columns, in order.

- ``t_s`` (float, s): start time of the row; starts at 0, strictly increasing, uniform step ``tick_s``.
- ``frames`` (int >= 0): frames the app requests in this row.
- ``ui_mc`` (float >= 0, reference Mc): CPU work of those frames on the ui thread (total over the frames).
- ``gpu_mc`` (float >= 0, reference GPU Mc): GPU work of those frames (total over the frames).
- ``worker_mc`` (float >= 0, reference Mc): worker-thread CPU work in the row.
- ``bg_mc`` (float >= 0, reference Mc): background CPU work in the row.
- ``phase`` (str): phase label (e.g. ``scroll``, ``video``, ``idle``, ``loading``, ``3d``).
"""

CATEGORIES: tuple[str, ...] = ("short_video", "long_video", "social_feed", "e_commerce", "gpu_benchmark")
INTERACTIONS: tuple[str, ...] = ("scroll_video", "video", "scroll", "browse", "3d")


@dataclass(frozen=True)
class AppMetadata:
    """App metadata used for task similarity.

    Attributes:
        category: One of :data:`CATEGORIES`.
        target_fps: Frame rate the app aims for, frames/s.
        cpu_intensity: Relative CPU demand in [0, 1].
        gpu_intensity: Relative GPU demand in [0, 1].
        interaction: One of :data:`INTERACTIONS`.
        display_rate: The phases requesting ``target_fps`` are UI animation (scrolls, swipes, overlays), which
            Android draws at the display's refresh rate (Choreographer runs once per vsync): on a 90 or 120 Hz
            panel they request 90 or 120 frames/s with the same work per frame (docs/workloads.md). ``False``
            keeps ``target_fps`` on every panel (a game or benchmark capped at its own rate).
    """

    category: str
    target_fps: float
    cpu_intensity: float
    gpu_intensity: float
    interaction: str
    display_rate: bool = False


@dataclass(frozen=True)
class PhaseSpec:
    """One workload phase of an app's demand generator.

    Attributes:
        name: Phase label written into traces.
        weight: Relative probability of entering this phase.
        duration_s: ``(min, max)`` phase duration, s (uniform).
        fps: Frames requested per second during the phase (0 for no frames).
        ui_mc: ``(mean, cv)`` per-frame ui-thread work, reference Mc (lognormal).
        gpu_mc: ``(mean, cv)`` per-frame GPU work, reference GPU Mc (lognormal).
        worker_mc_per_s: ``(mean, cv)`` worker work rate, reference Mc per second.
        bg_mc_per_s: ``(mean, cv)`` background work rate, reference Mc per second.
    """

    name: str
    weight: float
    duration_s: tuple[float, float]
    fps: float
    ui_mc: tuple[float, float]
    gpu_mc: tuple[float, float]
    worker_mc_per_s: tuple[float, float]
    bg_mc_per_s: tuple[float, float]


@dataclass(frozen=True)
class NetworkSpec:
    """An app's network traffic while it runs (file section ``network:``), time-averaged over the session.

    Attributes:
        rx_mbps: Mean downlink bitrate, Mbit/s (e.g. the video stream's bitrate).
        tx_mbps: Mean uplink bitrate, Mbit/s (requests, TCP acknowledgements).
        awake_fraction: Share of the time the Wi-Fi controller is awake (receiving, transmitting or listening)
            rather than dozing in power save, in [0, 1].
        source: Where the numbers come from: a URL, or ``estimated: <method>``.
    """

    rx_mbps: float
    tx_mbps: float
    awake_fraction: float
    source: str


@dataclass(frozen=True)
class AppProfile:
    """An app: metadata and a seeded demand generator made of phases.

    Attributes:
        name: Catalog name, e.g. ``"tiktok"``.
        display_name: Human name.
        metadata: See :class:`AppMetadata`.
        phases: The phases the generator switches between.
        notes: Free text (where the demand numbers come from).
        path: File the profile was loaded from.
        input: Touch gestures and launches (the ``input:`` section), or ``None`` for no input events.
        packages: Android package names of the app (file field ``android.packages``); the first is the main one.
        activity: Launcher activity of the main package (``android.activity``), if known.
        frame_ar1: Lag-1 correlation of consecutive frames' work noise (file field ``frame_ar1``), or ``None`` for
            the generator's default (:data:`metadvfs.workload.generator.FRAME_AR1`).
        network: The app's network traffic (``network:`` section), or ``None``: the app draws no network power
            (docs/workloads.md).
    """

    name: str
    display_name: str
    metadata: AppMetadata
    phases: tuple[PhaseSpec, ...]
    notes: str = ""
    path: str | None = None
    input: InputSpec | None = None
    packages: tuple[str, ...] = ()
    activity: str | None = None
    frame_ar1: float | None = None
    network: NetworkSpec | None = None

    def heaviest_target_gpu_mc(self) -> float:
        """Mean GPU work per frame of the heaviest phase that runs at the app's frame target, GPU-Mc.

        Times ``metadata.target_fps`` it is the GPU demand the app puts on a phone, GPU-Mc/s. 0 when no phase
        runs at the frame target.
        """
        t = self.metadata.target_fps
        return max((ph.gpu_mc[0] for ph in self.phases if abs(ph.fps - t) < 1e-9), default=0.0)


@dataclass(frozen=True)
class TraceMeta:
    """Metadata stored with a trace (Parquet key-value metadata, or the CSV header comment).

    Attributes:
        schema: Must equal :data:`TRACE_SCHEMA`.
        app: App name (catalog name or free text for recorded traces).
        tick_s: Row spacing, s (0.001 .. 1.0).
        target_fps: App frame-rate target, frames/s.
        source: ``generated`` or ``recorded``.
        seed: Generator seed (``None`` for recorded traces).
        device: Device the trace was recorded on (``None`` for generated traces).
        extra: Anything else (string values).
        input: Input-event track (schema version 2 only): ``{"t_s": [s, ...], "event": [name, ...]}`` sorted
            by time, names from :data:`metadvfs.workload.input_events.INPUT_EVENTS`; ``None`` for no events.
    """

    schema: str
    app: str
    tick_s: float
    target_fps: float
    source: str
    seed: int | None = None
    device: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    input: dict[str, Any] | None = None
