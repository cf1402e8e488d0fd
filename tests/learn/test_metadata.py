from __future__ import annotations

import numpy as np
import pytest

from metadvfs.catalog.devices import list_devices
from metadvfs.errors import MetaDVFSError
from metadvfs.learn.metadata import MetadataEncoder, group_tasks, raw_metadata, silhouette
from metadvfs.learn.tasks import all_task_names, build_tasks, encode_tasks, fit_encoder, parse_task_names
from metadvfs.workload.apps import list_apps


def test_encoder_roundtrip_and_ranges() -> None:
    tasks = build_tasks(all_task_names())
    enc = fit_encoder(tasks)
    x = encode_tasks(tasks, enc)
    assert x.shape == (len(tasks), enc.dim)
    assert x.min() >= 0.0 and x.max() <= 1.0  # min-max over the fitted tasks
    enc2 = MetadataEncoder.from_state(enc.state_dict())
    assert np.array_equal(encode_tasks(tasks, enc2), x)


def test_unknown_category_and_missing_field() -> None:
    t = build_tasks(["pixel6:tiktok"])[0]
    enc = fit_encoder([t])
    raw = raw_metadata(t.device, t.app)
    x = enc.transform({**raw, "soc_family": "exynos"}, "x.yaml")  # unknown family: the "unknown" code
    assert x[enc.feature_names.index("soc_family=unknown")] == 1.0
    raw.pop("target_fps")
    with pytest.raises(MetaDVFSError, match="'target_fps' missing"):
        enc.transform(raw, "x.yaml")
    with pytest.raises(MetaDVFSError, match="schema"):
        MetadataEncoder.from_state({"schema": "metadvfs.metadata/0"})


def test_grouping_separates_obvious_clusters_and_is_deterministic() -> None:
    x = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.95, 0.05], [0, 0, 1], [0.05, 0, 1]], dtype=float)
    g = group_tasks(x, k_range=(2, 3, 4))
    assert g.k == 3
    assert g.labels == (0, 0, 1, 1, 2, 2)
    assert group_tasks(x, k_range=(2, 3, 4)) == g
    assert group_tasks(x, k=1).labels == (0,) * 6


def test_silhouette_matches_hand_computation() -> None:
    d = np.array([[0, 1, 4], [1, 0, 4], [4, 4, 0]], dtype=float)
    # points 0,1 together: a=1, b=4 -> 0.75 each; point 2 singleton -> 0
    assert silhouette(d, np.array([0, 0, 1])) == pytest.approx((0.75 + 0.75 + 0) / 3)


def test_all_30_tasks_grouped() -> None:
    names = parse_task_names("all")
    tasks = build_tasks(names)
    enc = fit_encoder(tasks)
    g = group_tasks(encode_tasks(tasks, enc), enc.block_weights())
    assert 2 <= g.k <= 6 and len(g.labels) == len(names) == len(list_devices()) * len(list_apps())
    with pytest.raises(MetaDVFSError):
        parse_task_names("pixel6")
