"""Fixed-layout device + app metadata vector (the ``meta`` part of the observation).

Categorical fields are one-hot over known vocabularies (unknown values give all zeros); numeric fields are
divided by fixed, documented scales so vectors are comparable across runs without fitting. (A fitted
encoder for task grouping builds on :func:`metadata_fields`.)
"""

from __future__ import annotations

import numpy as np

from metadvfs.catalog.types import CPU_DOMAINS, DeviceProfile
from metadvfs.workload.types import CATEGORIES, INTERACTIONS, AppProfile

SOC_FAMILIES = ("snapdragon", "tensor")
GPU_FAMILIES = ("adreno", "mali")


def metadata_fields(device: DeviceProfile, app: AppProfile) -> dict[str, float]:
    """Named metadata features of a (device, app) pair, already scaled to about [0, 1].

    Args:
        device: The device profile.
        app: The app profile.

    Returns:
        Ordered ``{feature name: value}``.
    """
    f: dict[str, float] = {}
    md = device.metadata
    for fam in SOC_FAMILIES:
        f[f"soc_{fam}"] = float(md.soc_family == fam)
    f["n_clusters"] = len(device.clusters) / 3.0
    for dom in CPU_DOMAINS:
        c = device.cluster(dom)
        f[f"{dom}_present"] = float(c is not None)
        f[f"{dom}_cores"] = (c.cores if c else 0) / 8.0
        f[f"{dom}_fmax_ghz"] = (c.fmax_khz / 1e6 if c else 0.0) / 3.5
        f[f"{dom}_n_opp"] = (len(c.freqs_khz) if c else 0) / 25.0
        f[f"{dom}_ipc"] = (c.ipc if c else 0.0) / 2.0
    for fam in GPU_FAMILIES:
        f[f"gpu_{fam}"] = float(md.gpu_family == fam)
    f["gpu_fmax_ghz"] = device.gpu.fmax_khz / 1e6
    f["gpu_n_opp"] = len(device.gpu.freqs_khz) / 25.0
    f["gpu_throughput"] = device.gpu.throughput / 2.0
    f["year"] = (md.year - 2016) / 10.0
    f["refresh_hz"] = md.display_refresh_hz / 120.0
    f["base_power_w"] = device.base_power_mw / 2000.0
    am = app.metadata
    for cat in CATEGORIES:
        f[f"app_{cat}"] = float(am.category == cat)
    for it in INTERACTIONS:
        f[f"interaction_{it}"] = float(am.interaction == it)
    f["target_fps"] = am.target_fps / 120.0
    f["cpu_intensity"] = am.cpu_intensity
    f["gpu_intensity"] = am.gpu_intensity
    return f


def metadata_vector(device: DeviceProfile, app: AppProfile) -> np.ndarray:
    """:func:`metadata_fields` as a float32 vector."""
    return np.array(list(metadata_fields(device, app).values()), dtype=np.float32)


META_DIM = 2 + 1 + 5 * 3 + 2 + 3 + 3 + len(CATEGORIES) + len(INTERACTIONS) + 3
