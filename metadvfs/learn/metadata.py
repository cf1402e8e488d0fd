"""Task metadata: versioned schemas, a fitted encoder, task similarity and metadata grouping.

Two schemas exist; every model stores the one it was trained with in ``encoder.json`` and keeps it:

- ``metadvfs.metadata/1`` (models trained before device/app measurement existed; the shipped ``default``
  uses schema 2): categorical SoC/GPU family and app category/interaction, per-cluster cores, fmax, OPP count,
  capacity, IPC, GPU fmax/OPPs/throughput/max power, release year, refresh rate, base power, and the app
  profile's hand-set target FPS and CPU/GPU intensity.
- ``metadvfs.metadata/2`` (the default for new models): numbers read from the device profile (per-domain
  compute capacity and fmax, OPP count, power at fmax, energy-per-cycle slope, GPU throughput, thermal limits)
  and app features *measured* from a short run of the app's demand (:func:`app_features`: frame-rate demand,
  CPU/GPU work per frame, background work, burstiness), so a new phone or app gets a meaningful vector
  without a hand label. Categorical fields keep an explicit ``unknown`` code.

Categorical fields are one-hot over the schema's vocabulary; a value outside it (a phone with an ``exynos``
SoC) is not an error: schema 2 sets the ``unknown`` slot, schema 1 (no such slot) leaves the block at zero,
and the numeric features carry the task. Numeric fields are min-max scaled with the minimum and maximum
seen over the training tasks (saved with every model, so a new phone is encoded on the training scale and
may fall outside ``[0, 1]``). A missing or non-finite numeric field is a one-line error. Device and app
blocks get equal total weight in distances (``docs/method.md`` §4).

Grouping: average-linkage agglomerative clustering of the encoded task vectors under cosine distance; the
number of groups is the ``k`` in ``k_range`` with the highest silhouette score (ties: fewer groups).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metadvfs.catalog.types import CPU_DOMAINS, DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.types import CATEGORIES, INTERACTIONS, AppProfile

SCHEMA_V1 = "metadvfs.metadata/1"
SCHEMA_V2 = "metadvfs.metadata/2"
SCHEMA_VERSION = SCHEMA_V2
"""Schema of newly fitted encoders."""
UNKNOWN = "unknown"
"""Categorical code of a value outside the schema's vocabulary (schema 2)."""

OBSERVE_SECONDS = 60.0
"""Length of the app observation the app features are measured on, s (generated demand, seed :data:`OBSERVE_SEED`)."""
OBSERVE_SEED = 7_777
OBSERVE_WINDOW_S = 0.1
"""Window for burstiness and idle fraction, s (one decision interval)."""


@dataclass(frozen=True)
class Schema:
    """Fields of one metadata schema version.

    Attributes:
        version: Schema id stored in ``encoder.json``.
        categorical: Categorical fields and their vocabularies (schema 2 ends each with ``unknown``).
        numeric: Numeric fields, in vector order.
        device_fields: Fields that describe the device (the rest describe the app).
    """

    version: str
    categorical: dict[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    device_fields: frozenset[str]


_V1_DEVICE_NUMERIC: tuple[str, ...] = (
    "n_clusters",
    *(f"{d}_{f}" for d in CPU_DOMAINS for f in ("cores", "fmax_ghz", "n_opp", "capacity", "ipc")),
    "gpu_fmax_ghz",
    "gpu_n_opp",
    "gpu_throughput",
    "gpu_pmax_w",
    "year",
    "display_refresh_hz",
    "base_power_w",
)
_V1_APP_NUMERIC: tuple[str, ...] = ("target_fps", "cpu_intensity", "gpu_intensity")
_V1_CATEGORICAL: dict[str, tuple[str, ...]] = {
    "soc_family": ("snapdragon", "tensor"),
    "gpu_family": ("adreno", "mali"),
    "app_category": CATEGORIES,
    "interaction": INTERACTIONS,
}

_V2_DEVICE_NUMERIC: tuple[str, ...] = (
    "n_clusters",
    *(f"{d}_{f}" for d in CPU_DOMAINS for f in ("cores", "fmax_ghz", "n_opp", "capacity_gcps", "pmax_w", "epc_slope")),
    "gpu_fmax_ghz",
    "gpu_n_opp",
    "gpu_capacity_gcps",
    "gpu_pmax_w",
    "gpu_epc_slope",
    "skin_throttle_c",
    "die_throttle_c",
    "sustained_power_w",
    "display_refresh_hz",
    "base_power_w",
)
_V2_APP_NUMERIC: tuple[str, ...] = (
    "target_fps",
    "fps_demand",
    "ui_mc_per_frame",
    "gpu_mc_per_frame",
    "worker_mc_per_s",
    "bg_mc_per_s",
    "burstiness",
    "idle_fraction",
)
_V2_CATEGORICAL: dict[str, tuple[str, ...]] = {k: (*v, UNKNOWN) for k, v in _V1_CATEGORICAL.items()}

SCHEMAS: dict[str, Schema] = {
    SCHEMA_V1: Schema(
        SCHEMA_V1,
        _V1_CATEGORICAL,
        _V1_DEVICE_NUMERIC + _V1_APP_NUMERIC,
        frozenset({"soc_family", "gpu_family", *_V1_DEVICE_NUMERIC}),
    ),
    SCHEMA_V2: Schema(
        SCHEMA_V2,
        _V2_CATEGORICAL,
        _V2_DEVICE_NUMERIC + _V2_APP_NUMERIC,
        frozenset({"soc_family", "gpu_family", *_V2_DEVICE_NUMERIC}),
    ),
}

# Back-compatible names (schema of newly fitted encoders).
CATEGORICAL = SCHEMAS[SCHEMA_VERSION].categorical
NUMERIC = SCHEMAS[SCHEMA_VERSION].numeric
DEVICE_FIELDS = SCHEMAS[SCHEMA_VERSION].device_fields


def epc_slope(freqs_khz: Sequence[int], power_mw: Sequence[float]) -> float:
    """Slope of energy per cycle against frequency over an OPP table.

    Energy per cycle at an OPP is ``power / frequency`` (mW / MHz = nJ per cycle); its least-squares slope
    against frequency (GHz) says how much dearer a cycle gets per GHz of clock (the voltage cost).

    Args:
        freqs_khz: OPP frequencies, kHz.
        power_mw: Busy power at each OPP, mW.

    Returns:
        nJ per cycle per GHz (0 for a single OPP).
    """
    f = np.asarray(freqs_khz, dtype=float) / 1e6
    if len(f) < 2:
        return 0.0
    e = np.asarray(power_mw, dtype=float) / (f * 1e3)
    return float(np.polyfit(f, e, 1)[0])


def device_features(device: DeviceProfile) -> dict[str, Any]:
    """Raw device metadata of both schemas (categorical strings, numbers with units in the names).

    ``capacity_gcps`` is cores x fmax x IPC (reference Gcycles/s the cluster retires at fmax; for the GPU fmax x
    throughput); ``pmax_w`` is one busy core's power at fmax (W; the whole GPU's for ``gpu_pmax_w``);
    ``epc_slope`` is :func:`epc_slope`; ``sustained_power_w`` is the steady power that holds the skin at its first
    throttle point, ``(skin_throttle_c - ambient_c) / r_skin_amb_c_per_w``.
    """
    md = device.metadata
    r: dict[str, Any] = {
        "soc_family": md.soc_family,
        "gpu_family": md.gpu_family,
        "n_clusters": float(len(device.clusters)),
    }
    for dom in CPU_DOMAINS:
        c = device.cluster(dom)
        r[f"{dom}_cores"] = float(c.cores) if c else 0.0
        r[f"{dom}_fmax_ghz"] = c.fmax_khz / 1e6 if c else 0.0
        r[f"{dom}_n_opp"] = float(len(c.freqs_khz)) if c else 0.0
        r[f"{dom}_capacity"] = float(c.capacity) if c else 0.0
        r[f"{dom}_ipc"] = float(c.ipc) if c else 0.0
        r[f"{dom}_capacity_gcps"] = c.cores * c.fmax_khz / 1e6 * c.ipc if c else 0.0
        r[f"{dom}_pmax_w"] = float(c.power_mw[-1]) / 1000.0 if c else 0.0
        r[f"{dom}_epc_slope"] = epc_slope(c.freqs_khz, c.power_mw) if c else 0.0
    g = device.gpu
    r["gpu_fmax_ghz"] = g.fmax_khz / 1e6
    r["gpu_n_opp"] = float(len(g.freqs_khz))
    r["gpu_throughput"] = float(g.throughput)
    r["gpu_capacity_gcps"] = g.fmax_khz / 1e6 * g.throughput
    r["gpu_pmax_w"] = float(max(g.power_mw)) / 1000.0
    r["gpu_epc_slope"] = epc_slope(g.freqs_khz, g.power_mw)
    th_ = device.thermal
    r["skin_throttle_c"] = float(th_.skin_throttle_c)
    r["die_throttle_c"] = float(th_.die_throttle_c)
    r["sustained_power_w"] = (th_.skin_throttle_c - th_.ambient_c) / th_.r_skin_amb_c_per_w
    r["year"] = float(md.year)
    r["display_refresh_hz"] = float(md.display_refresh_hz)
    r["base_power_w"] = device.base_power_mw / 1000.0
    return r


def demand_features(arrays: dict[str, np.ndarray], tick_s: float) -> dict[str, float]:
    """App features measured from a demand trace (generated or recorded; device-independent units).

    Args:
        arrays: ``frames``, ``ui_mc``, ``gpu_mc``, ``worker_mc``, ``bg_mc`` per tick.
        tick_s: Tick length, s.

    Returns:
        ``fps_demand`` (frames requested per s), ``ui_mc_per_frame`` / ``gpu_mc_per_frame`` (reference Mc per
        requested frame), ``worker_mc_per_s`` / ``bg_mc_per_s`` (reference Mc per s), ``burstiness`` (coefficient
        of variation of the CPU work per :data:`OBSERVE_WINDOW_S` window) and ``idle_fraction`` (share of
        windows without a requested frame).
    """
    frames = np.asarray(arrays["frames"], dtype=float)
    n = len(frames)
    if n == 0:
        raise MetaDVFSError("app observation: empty demand trace")
    secs = n * tick_s
    nf = frames.sum()
    ui = np.asarray(arrays["ui_mc"], dtype=float)
    gpu = np.asarray(arrays["gpu_mc"], dtype=float)
    wk = np.asarray(arrays["worker_mc"], dtype=float)
    bg = np.asarray(arrays["bg_mc"], dtype=float)
    w = max(1, round(OBSERVE_WINDOW_S / tick_s))
    m = (n // w) * w or n
    cpu_w = (ui + wk + bg)[:m].reshape(-1, min(w, m)).sum(axis=1)
    fr_w = frames[:m].reshape(-1, min(w, m)).sum(axis=1)
    mean = float(cpu_w.mean())
    return {
        "fps_demand": float(nf / secs),
        "ui_mc_per_frame": float(ui.sum() / nf) if nf > 0 else 0.0,
        "gpu_mc_per_frame": float(gpu.sum() / nf) if nf > 0 else 0.0,
        "worker_mc_per_s": float(wk.sum() / secs),
        "bg_mc_per_s": float(bg.sum() / secs),
        "burstiness": float(cpu_w.std() / mean) if mean > 0 else 0.0,
        "idle_fraction": float(np.mean(fr_w == 0)),
    }


_OBSERVED: dict[str, tuple[tuple[str, float], ...]] = {}
"""Measured app features keyed by the profile's full ``repr`` (an AppProfile holds dicts, so it is not hashable)."""


def _observed(app: AppProfile) -> tuple[tuple[str, float], ...]:
    from metadvfs.workload.generator import generate_arrays

    key = repr(app)
    hit = _OBSERVED.get(key)
    if hit is None:
        tick = 0.01
        arrays = generate_arrays(app, round(OBSERVE_SECONDS / tick), OBSERVE_SEED, tick_s=tick)
        hit = tuple(demand_features(arrays, tick).items())
        if len(_OBSERVED) >= 512:
            _OBSERVED.pop(next(iter(_OBSERVED)))
        _OBSERVED[key] = hit
    return hit


def app_features(app: AppProfile, trace: dict[str, np.ndarray] | None = None, tick_s: float = 0.01) -> dict[str, Any]:
    """Raw app metadata of both schemas.

    The measured part comes from ``trace`` when the task replays a recorded trace, else from a
    :data:`OBSERVE_SECONDS` run of the app's demand generator with seed :data:`OBSERVE_SEED` (cached).

    Args:
        app: App profile.
        trace: Raw per-tick demand arrays of the task, if it replays a file.
        tick_s: Tick of ``trace``, s.

    Returns:
        Categorical ``app_category``/``interaction``, profile ``target_fps``/``cpu_intensity``/``gpu_intensity``
        and the :func:`demand_features`.
    """
    am = app.metadata
    r: dict[str, Any] = {
        "app_category": am.category,
        "interaction": am.interaction,
        "target_fps": float(am.target_fps),
        "cpu_intensity": float(am.cpu_intensity),
        "gpu_intensity": float(am.gpu_intensity),
    }
    if trace is not None:
        r.update(demand_features(trace, tick_s))
    elif app.phases:
        r.update(dict(_observed(app)))
    return r


def same_metadata(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two raw metadata dicts (:func:`task_metadata`) describe the same task.

    The same fields, equal categorical values and numbers equal to float precision: every field, including the
    ones a model's encoder maps to a constant.
    """
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def raw_metadata(
    device: DeviceProfile, app: AppProfile, trace: dict[str, np.ndarray] | None = None, tick_s: float = 0.01
) -> dict[str, Any]:
    """Unencoded metadata of a (device, app) task, with the fields of every schema.

    Args:
        device: Device profile.
        app: App profile.
        trace: Raw demand arrays when the task replays a trace (its app features are measured on it).
        tick_s: Tick of ``trace``, s.

    Returns:
        ``{field: value}`` with strings for categorical and floats (units in the names) for numeric fields.
    """
    return {**device_features(device), **app_features(app, trace, tick_s)}


def task_metadata(task: Any) -> dict[str, Any]:
    """:func:`raw_metadata` of a :class:`~metadvfs.tasks.task.Task` (using its trace when it has one)."""
    return raw_metadata(task.device, task.app, task.trace)


RANGE_TOLERANCE = 0.1
"""Share of a numeric field's training span a value may lie beyond it before :meth:`MetadataEncoder.out_of_range`
reports it (a convention, not a measured threshold: the encoded value is then below -0.1 or above 1.1)."""


@dataclass(frozen=True)
class OutOfRange:
    """A metadata field of a task outside what a model was trained on (its quality there is extrapolated).

    Attributes:
        field: Metadata field (units in the name, e.g. ``gpu_capacity_gcps``).
        value: The task's value (a string for a categorical field outside the vocabulary).
        lo: Minimum over the training tasks (``None`` for a categorical field).
        hi: Maximum over the training tasks (``None`` for a categorical field).
    """

    field: str
    value: float | str
    lo: float | None = None
    hi: float | None = None

    def describe(self) -> str:
        """One phrase, e.g. ``gpu_capacity_gcps 1.56 (trained on 0.53..1.2)``."""
        if self.lo is None or self.hi is None or isinstance(self.value, str):
            return f"{self.field} {self.value!r} (not a known category)"
        return f"{self.field} {self.value:.4g} (trained on {self.lo:.4g}..{self.hi:.4g})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"field": self.field, "value": self.value, "lo": self.lo, "hi": self.hi}


@dataclass
class MetadataEncoder:
    """One-hot + min-max encoder of task metadata, fitted on the training tasks.

    Attributes:
        lo: Per numeric field, the minimum over the fitted tasks.
        hi: Per numeric field, the maximum over the fitted tasks.
        schema: Schema version (:data:`SCHEMAS`); old checkpoints keep theirs.
    """

    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)
    schema: str = SCHEMA_VERSION

    @property
    def spec(self) -> Schema:
        """The :class:`Schema` of this encoder."""
        return SCHEMAS[self.schema]

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded features, in vector order."""
        names = [f"{k}={v}" for k, vocab in self.spec.categorical.items() for v in vocab]
        return names + list(self.spec.numeric)

    @property
    def dim(self) -> int:
        """Length of an encoded vector."""
        return len(self.feature_names)

    def fit(self, raws: Sequence[dict[str, Any]]) -> MetadataEncoder:
        """Learn the numeric ranges from raw metadata of the training tasks."""
        if not raws:
            raise MetaDVFSError("metadata encoder: no tasks to fit")
        for k in self.spec.numeric:
            vals = [_number(r, k, "training task") for r in raws]
            self.lo[k], self.hi[k] = min(vals), max(vals)
        return self

    def transform(self, raw: dict[str, Any], where: str = "task") -> np.ndarray:
        """Encode one task's raw metadata.

        Args:
            raw: Output of :func:`raw_metadata` (or a dict with the same fields).
            where: Name used in error messages (e.g. the profile file).

        Returns:
            float32 vector of length :attr:`dim`.

        Raises:
            MetaDVFSError: A field is missing or a numeric value is not finite (categorical values outside the
                vocabulary are encoded as unknown, not an error).
        """
        if not self.lo:
            raise MetaDVFSError("metadata encoder: not fitted")
        out: list[float] = []
        for k, vocab in self.spec.categorical.items():
            if k not in raw:
                raise MetaDVFSError(f"{where}: metadata field {k!r} missing")
            v = raw[k] if raw[k] in vocab else UNKNOWN
            out.extend(float(v == c) for c in vocab)
        for k in self.spec.numeric:
            v = _number(raw, k, where)
            span = self.hi[k] - self.lo[k]
            out.append((v - self.lo[k]) / span if span > 0 else 0.0)
        return np.asarray(out, dtype=np.float32)

    def out_of_range(
        self,
        raw: dict[str, Any],
        where: str = "task",
        tol: float = RANGE_TOLERANCE,
        only: Collection[str] | None = None,
    ) -> list[OutOfRange]:
        """Fields of one task that lie outside the training tasks' metadata.

        A numeric field is outside when it is more than ``tol`` times the training span below the minimum or above
        the maximum (a field that was constant in training: any other value); a categorical field when its value is
        not in the schema's vocabulary (it is encoded as unknown).

        Args:
            raw: Output of :func:`raw_metadata` (with ``only``: at least those fields).
            where: Name used in error messages.
            tol: Allowed overshoot as a share of the training span (>= 0).
            only: Check only these fields (e.g. :attr:`Schema.device_fields` for a phone without an app).

        Returns:
            The fields outside, in vector order (empty: the task is inside the training range).

        Raises:
            MetaDVFSError: Not fitted, or a checked field is missing or not a finite number.
        """
        if not self.lo:
            raise MetaDVFSError("metadata encoder: not fitted")
        out: list[OutOfRange] = []
        for k, vocab in self.spec.categorical.items():
            if only is not None and k not in only:
                continue
            if k not in raw:
                raise MetaDVFSError(f"{where}: metadata field {k!r} missing")
            if raw[k] not in vocab or raw[k] == UNKNOWN:
                out.append(OutOfRange(k, str(raw[k])))
        for k in self.spec.numeric:
            if only is not None and k not in only:
                continue
            v, lo, hi = _number(raw, k, where), self.lo[k], self.hi[k]
            slack = tol * (hi - lo) if hi > lo else 1e-9 * max(1.0, abs(lo))
            if v < lo - slack or v > hi + slack:
                out.append(OutOfRange(k, v, lo, hi))
        return out

    def block_weights(self) -> np.ndarray:
        """Per-feature weights giving the device and the app block equal total weight."""
        names = self.feature_names
        is_dev = np.array([n.split("=")[0] in self.spec.device_fields for n in names])
        w = np.where(is_dev, 1.0 / is_dev.sum(), 1.0 / (~is_dev).sum())
        return w / w.max()

    def state_dict(self) -> dict[str, Any]:
        """Plain-data fitted state (JSON-serialisable)."""
        return {
            "schema": self.schema,
            "categorical": {k: list(v) for k, v in self.spec.categorical.items()},
            "numeric": list(self.spec.numeric),
            "lo": self.lo,
            "hi": self.hi,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MetadataEncoder:
        """Rebuild an encoder saved with :meth:`state_dict` (any supported schema version)."""
        ver = state.get("schema")
        if ver not in SCHEMAS:
            raise MetaDVFSError(f"metadata encoder schema {ver!r} is not supported (supported: {', '.join(SCHEMAS)})")
        spec = SCHEMAS[ver]
        if state.get("numeric") != list(spec.numeric) or state.get("categorical") != {
            k: list(v) for k, v in spec.categorical.items()
        }:
            raise MetaDVFSError(f"metadata encoder: saved fields differ from schema {ver}")
        return cls(lo=dict(state["lo"]), hi=dict(state["hi"]), schema=ver)


def _number(raw: dict[str, Any], k: str, where: str) -> float:
    if k not in raw:
        raise MetaDVFSError(f"{where}: metadata field {k!r} missing")
    try:
        v = float(raw[k])
    except (TypeError, ValueError):
        raise MetaDVFSError(f"{where}: metadata field {k!r} is not a number: {raw[k]!r}") from None
    if not np.isfinite(v):
        raise MetaDVFSError(f"{where}: metadata field {k!r} is not finite")
    return v


def cosine_distances(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Pairwise cosine distances of the rows of ``x`` (optionally feature-weighted)."""
    z = x * np.sqrt(weights) if weights is not None else x
    n = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.maximum(n, 1e-12)
    d = 1.0 - z @ z.T
    np.fill_diagonal(d, 0.0)
    return np.clip(d, 0.0, 2.0)


@dataclass(frozen=True)
class Grouping:
    """Result of metadata grouping.

    Attributes:
        labels: Group index per task (0..k-1, numbered by first appearance).
        k: Number of groups.
        silhouette: Silhouette score per candidate k.
        criterion: How k was chosen.
    """

    labels: tuple[int, ...]
    k: int
    silhouette: dict[int, float]
    criterion: str


def silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of a clustering under a precomputed distance matrix."""
    n = len(labels)
    s = np.zeros(n)
    for i in range(n):
        same = labels == labels[i]
        if same.sum() <= 1:
            continue  # singleton: silhouette 0 by convention
        a = dist[i, same & (np.arange(n) != i)].mean()
        b = min(dist[i, labels == c].mean() for c in set(labels.tolist()) if c != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())


def group_tasks(
    vectors: np.ndarray,
    weights: np.ndarray | None = None,
    k_range: Sequence[int] = (2, 3, 4, 5, 6),
    k: int | None = None,
) -> Grouping:
    """Group tasks by metadata (average-linkage agglomerative clustering, cosine distance).

    Args:
        vectors: (T, D) encoded task vectors.
        weights: Optional (D,) feature weights (see :meth:`MetadataEncoder.block_weights`).
        k_range: Candidate group counts when ``k`` is not given; the best silhouette wins.
        k: Fixed number of groups (1 = everything in one group).

    Returns:
        The grouping.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    t = len(vectors)
    if k is not None and not 1 <= k <= t:
        raise MetaDVFSError(f"groups: must be in [1, {t}] for {t} tasks, got {k}")
    dist = cosine_distances(vectors, weights)
    if t == 1 or k == 1:
        return Grouping((0,) * t, 1, {}, "fixed k=1")
    tree = linkage(squareform(dist, checks=False), method="average")
    cands = [k] if k is not None else [c for c in k_range if 2 <= c < t] or [min(2, t)]
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for c in cands:
        lab = fcluster(tree, t=c, criterion="maxclust") - 1
        sc = silhouette(dist, lab)
        scores[c] = round(sc, 4)
        if best is None or sc > best[0] + 1e-9:
            best = (sc, c, lab)
    assert best is not None
    lab = best[2]
    remap: dict[int, int] = {}
    labels = tuple(remap.setdefault(int(v), len(remap)) for v in lab)
    crit = f"fixed k={k}" if k is not None else f"max silhouette over k in {list(cands)}"
    return Grouping(labels, len(remap), scores, crit)
