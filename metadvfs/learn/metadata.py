"""Task metadata: schema, a fitted encoder, task similarity and metadata grouping.

Schema (:data:`CATEGORICAL` and :data:`NUMERIC`): device fields come from the device profile, app fields from
the app profile. Categorical fields are one-hot over the schema's vocabulary (a value outside it cannot be
encoded and is an error); numeric fields are min-max scaled with the minimum and maximum seen over the
training tasks (the fitted state is saved with every model, so a new phone is encoded on the training scale
and may fall outside ``[0, 1]``). Device and app blocks get equal total weight in distances
(``docs/method.md`` §4).

Grouping: average-linkage agglomerative clustering of the encoded task vectors under cosine distance; the
number of groups is the ``k`` in ``k_range`` with the highest silhouette score (ties: fewer groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metadvfs.catalog.types import CPU_DOMAINS, DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.types import CATEGORIES, INTERACTIONS, AppProfile

SCHEMA_VERSION = "metadvfs.metadata/1"

CATEGORICAL: dict[str, tuple[str, ...]] = {
    "soc_family": ("snapdragon", "tensor"),
    "gpu_family": ("adreno", "mali"),
    "app_category": CATEGORIES,
    "interaction": INTERACTIONS,
}
"""Categorical fields and their vocabularies."""

DEVICE_NUMERIC: tuple[str, ...] = (
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
APP_NUMERIC: tuple[str, ...] = ("target_fps", "cpu_intensity", "gpu_intensity")
NUMERIC: tuple[str, ...] = DEVICE_NUMERIC + APP_NUMERIC
DEVICE_FIELDS = frozenset({"soc_family", "gpu_family", *DEVICE_NUMERIC})


def raw_metadata(device: DeviceProfile, app: AppProfile) -> dict[str, Any]:
    """Unencoded metadata of a (device, app) task.

    Args:
        device: Device profile.
        app: App profile.

    Returns:
        ``{field: value}`` with strings for categorical and floats (units in the names) for numeric fields.
    """
    md = device.metadata
    r: dict[str, Any] = {
        "soc_family": md.soc_family,
        "gpu_family": md.gpu_family,
        "app_category": app.metadata.category,
        "interaction": app.metadata.interaction,
        "n_clusters": float(len(device.clusters)),
    }
    for dom in CPU_DOMAINS:
        c = device.cluster(dom)
        r[f"{dom}_cores"] = float(c.cores) if c else 0.0
        r[f"{dom}_fmax_ghz"] = c.fmax_khz / 1e6 if c else 0.0
        r[f"{dom}_n_opp"] = float(len(c.freqs_khz)) if c else 0.0
        r[f"{dom}_capacity"] = float(c.capacity) if c else 0.0
        r[f"{dom}_ipc"] = float(c.ipc) if c else 0.0
    r["gpu_fmax_ghz"] = device.gpu.fmax_khz / 1e6
    r["gpu_n_opp"] = float(len(device.gpu.freqs_khz))
    r["gpu_throughput"] = float(device.gpu.throughput)
    r["gpu_pmax_w"] = float(max(device.gpu.power_mw)) / 1000.0
    r["year"] = float(md.year)
    r["display_refresh_hz"] = float(md.display_refresh_hz)
    r["base_power_w"] = device.base_power_mw / 1000.0
    r["target_fps"] = float(app.metadata.target_fps)
    r["cpu_intensity"] = float(app.metadata.cpu_intensity)
    r["gpu_intensity"] = float(app.metadata.gpu_intensity)
    return r


@dataclass
class MetadataEncoder:
    """One-hot + min-max encoder of task metadata, fitted on the training tasks.

    Attributes:
        lo: Per numeric field, the minimum over the fitted tasks.
        hi: Per numeric field, the maximum over the fitted tasks.
    """

    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded features, in vector order."""
        names = [f"{k}={v}" for k, vocab in CATEGORICAL.items() for v in vocab]
        return names + list(NUMERIC)

    @property
    def dim(self) -> int:
        """Length of an encoded vector."""
        return len(self.feature_names)

    def fit(self, raws: Sequence[dict[str, Any]]) -> MetadataEncoder:
        """Learn the numeric ranges from raw metadata of the training tasks."""
        if not raws:
            raise MetaDVFSError("metadata encoder: no tasks to fit")
        for k in NUMERIC:
            vals = [float(r[k]) for r in raws]
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
            MetaDVFSError: A field is missing or a category is outside the schema's vocabulary.
        """
        if not self.lo:
            raise MetaDVFSError("metadata encoder: not fitted")
        out: list[float] = []
        for k, vocab in CATEGORICAL.items():
            if k not in raw:
                raise MetaDVFSError(f"{where}: metadata field {k!r} missing")
            if raw[k] not in vocab:
                raise MetaDVFSError(f"{where}: {k} {raw[k]!r} cannot be encoded; known: {', '.join(vocab)}")
            out.extend(float(raw[k] == v) for v in vocab)
        for k in NUMERIC:
            if k not in raw:
                raise MetaDVFSError(f"{where}: metadata field {k!r} missing")
            v = float(raw[k])
            if not np.isfinite(v):
                raise MetaDVFSError(f"{where}: metadata field {k!r} is not finite")
            span = self.hi[k] - self.lo[k]
            out.append((v - self.lo[k]) / span if span > 0 else 0.0)
        return np.asarray(out, dtype=np.float32)

    def block_weights(self) -> np.ndarray:
        """Per-feature weights giving the device and the app block equal total weight."""
        names = self.feature_names
        is_dev = np.array([n.split("=")[0] in DEVICE_FIELDS for n in names])
        w = np.where(is_dev, 1.0 / is_dev.sum(), 1.0 / (~is_dev).sum())
        return w / w.max()

    def state_dict(self) -> dict[str, Any]:
        """Plain-data fitted state (JSON-serialisable)."""
        return {
            "schema": SCHEMA_VERSION,
            "categorical": {k: list(v) for k, v in CATEGORICAL.items()},
            "numeric": list(NUMERIC),
            "lo": self.lo,
            "hi": self.hi,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MetadataEncoder:
        """Rebuild an encoder saved with :meth:`state_dict`."""
        if state.get("schema") != SCHEMA_VERSION:
            raise MetaDVFSError(
                f"metadata encoder schema {state.get('schema')!r} is not supported (expected {SCHEMA_VERSION})"
            )
        if state.get("numeric") != list(NUMERIC) or state.get("categorical") != {
            k: list(v) for k, v in CATEGORICAL.items()
        }:
            raise MetaDVFSError("metadata encoder: saved fields differ from this version's schema")
        return cls(lo=dict(state["lo"]), hi=dict(state["hi"]))


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
