"""App catalog and demand generator."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from metadvfs.errors import MetaDVFSError
from metadvfs.workload.apps import APP_SCHEMA, app_to_dict, apps_dir, list_apps, load_app
from metadvfs.workload.generator import generate_arrays, generate_trace
from metadvfs.workload.trace import trace_summary, trace_to_arrays
from metadvfs.workload.types import CATEGORIES, INTERACTIONS, TRACE_COLUMNS, TRACE_SCHEMA

PAPER_APPS = ["3dmark", "bilibili", "kwai", "taobao", "tiktok", "weibo"]  # the paper's six (docs/method.md §7.2)
CATALOG = list_apps()  # every app file gets the per-app checks
KEYS = {"t_s", "frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc", "frame_fps", "phase_id", "phase_names", "input"}


def test_catalog_lists_the_six_apps() -> None:
    assert set(PAPER_APPS) <= set(CATALOG) and sorted(CATALOG) == CATALOG


@pytest.mark.parametrize("name", CATALOG)
def test_catalog_app_loads_with_sane_metadata(name: str) -> None:
    app = load_app(name)
    assert app.name == name
    m = app.metadata
    assert m.category in CATEGORIES
    assert m.interaction in INTERACTIONS
    assert m.target_fps == 60
    assert 0 <= m.cpu_intensity <= 1 and 0 <= m.gpu_intensity <= 1
    assert len(app.phases) >= 3
    assert max(p.fps for p in app.phases) <= m.target_fps
    d = app_to_dict(app)
    assert next(iter(d)) == "name"
    assert d["phases"] == [p.name for p in app.phases]
    json.dumps(d)
    assert load_app(name) is app  # cached


def test_categories_match_the_paper_grouping() -> None:
    cats = {n: load_app(n).metadata.category for n in PAPER_APPS}
    assert cats == {
        "tiktok": "short_video",
        "kwai": "short_video",
        "bilibili": "long_video",
        "weibo": "social_feed",
        "taobao": "e_commerce",
        "3dmark": "gpu_benchmark",
    }


def test_load_by_path_and_json(tmp_path: Path) -> None:
    src = apps_dir() / "weibo.yaml"
    assert load_app(str(src)).name == "weibo"
    doc = yaml.safe_load(src.read_text())
    doc["name"] = "weibo_copy"
    p = tmp_path / "copy.json"
    p.write_text(json.dumps(doc))
    assert load_app(p).name == "weibo_copy"


def test_unknown_app_lists_known() -> None:
    with pytest.raises(MetaDVFSError, match=r"unknown app 'nope'; choose one of: 3dmark, bilibili") as info:
        load_app("nope")
    assert str(info.value).endswith("or an app profile file (mygame.yaml; format in envs/README.md)")


def _write_app(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load((apps_dir() / "tiktok.yaml").read_text())
    mutate(doc)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _set(path: list, value):
    def mutate(doc):
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return mutate


def _delete(path: list):
    def mutate(doc):
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (_set(["schema"], "metadvfs.app/0"), r"'schema': found 'metadvfs.app/0', expected 'metadvfs.app/1'"),
        (_delete(["schema"]), r"'schema': found none"),
        (_delete(["phases"]), r"missing required field 'phases'"),
        (_set(["phases"], []), r"'phases' must be a non-empty list"),
        (_set(["metadata", "category"], "Game!"), r"metadata.category.*lowercase identifier.*short_video"),
        (_set(["metadata", "interaction"], 3), r"metadata.interaction.*lowercase identifier.*scroll_video"),
        (_set(["metadata", "target_fps"], 0), r"metadata.target_fps.*allowed \(0, 240\]"),
        (_set(["metadata", "target_fps"], 300), r"metadata.target_fps.*allowed \(0, 240\]"),
        (_set(["metadata", "gpu_intensity"], 1.5), r"metadata.gpu_intensity.*allowed \[0, 1\]"),
        (_delete(["metadata", "cpu_intensity"]), r"missing required field 'metadata.cpu_intensity'"),
        (_set(["phases", 0, "weight"], 0), r"phases\[0\]\(video\).weight.*must be > 0"),
        (_set(["phases", 0, "duration_s"], [5, 2]), r"duration_s.*0 < min <= max"),
        (_set(["phases", 0, "duration_s"], [0, 2]), r"duration_s.*0 < min <= max"),
        (_set(["phases", 0, "ui_mc"], {"mean": 2.0, "cv": -0.1}), r"ui_mc.cv.*allowed \[0, inf\]"),
        (_set(["phases", 0, "gpu_mc"], {"mean": -1.0, "cv": 0.1}), r"gpu_mc.mean.*allowed \[0, inf\]"),
        (_set(["phases", 0, "fps"], 250), r"fps.*allowed \[0, 240\]"),
        (_set(["phases", 1, "name"], "video"), r"duplicate phase name 'video'"),
        (_set(["phases", 0, "colour"], "red"), r"unknown field phases\[0\].'colour'"),
        (_set(["metadata", "target_fps"], "fast"), r"metadata.target_fps.*not a number"),
        (_set(["metadata", "display_rate"], "yes"), r"metadata.display_rate.*not true or false"),
    ],
)
def test_malformed_app_profiles(tmp_path: Path, mutate, pattern: str) -> None:
    p = _write_app(tmp_path, mutate)
    with pytest.raises(MetaDVFSError, match=pattern) as info:
        load_app(p)
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "empty app file"),
        ("   \n", "empty app file"),
        ("a: [1, 2\n", "invalid YAML at line"),
        ("- 1\n- 2\n", "mapping"),
    ],
)
def test_garbage_app_files(tmp_path: Path, text: str, pattern: str) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(text)
    with pytest.raises(MetaDVFSError, match=pattern):
        load_app(p)


def test_binary_app_file(tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(MetaDVFSError, match="not a text file"):
        load_app(p)


def test_app_path_errors(tmp_path: Path) -> None:
    with pytest.raises(MetaDVFSError, match="app file not found"):
        load_app(tmp_path / "missing.yaml")
    with pytest.raises(MetaDVFSError, match="unknown app file suffix"):
        load_app(tmp_path / "x.toml")


# ------------------------------------------------------------------------------------------- generator


@pytest.mark.parametrize("name", CATALOG)
def test_generate_arrays_shapes_and_determinism(name: str) -> None:
    a = generate_arrays(name, 6000, seed=7)
    b = generate_arrays(name, 6000, seed=7)
    c = generate_arrays(name, 6000, seed=8)
    assert set(a) == KEYS
    for k in KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in ("ui_mc", "worker_mc", "bg_mc"))
    for k in ("t_s", "ui_mc", "gpu_mc", "worker_mc", "bg_mc"):
        assert a[k].shape == (6000,) and a[k].dtype == np.float64
        assert np.all(np.isfinite(a[k])) and np.all(a[k] >= 0)
    assert a["frames"].dtype == np.int64 and a["phase_id"].dtype == np.int64
    assert np.all(a["frames"] >= 0)
    assert list(a["phase_names"]) == [p.name for p in load_app(name).phases]
    np.testing.assert_allclose(np.diff(a["t_s"]), 0.01)
    assert a["t_s"][0] == 0.0
    # no ui/gpu work without frames
    assert np.all(a["ui_mc"][a["frames"] == 0] == 0)


def test_generator_ignores_global_rng() -> None:
    np.random.seed(1)
    a = generate_arrays("kwai", 2000, seed=3)
    np.random.seed(2)
    b = generate_arrays("kwai", 2000, seed=3)
    np.testing.assert_array_equal(a["ui_mc"], b["ui_mc"])


def test_sixty_fps_phase_requests_sixty_fps() -> None:
    a = generate_arrays("weibo", 60_000, seed=1)
    names = list(a["phase_names"])
    in_scroll = a["phase_id"] == names.index("scroll")
    assert in_scroll.sum() > 1000
    fps = a["frames"][in_scroll].sum() / (in_scroll.sum() * 0.01)
    assert fps == pytest.approx(60, abs=1.0)
    assert set(np.unique(a["frames"][in_scroll])) <= {0, 1, 2}
    idle = a["phase_id"] == names.index("read")
    assert a["frames"][idle].sum() == 0


def test_phase_means_match_profile() -> None:
    app = load_app("taobao")
    a = generate_arrays(app, 200_000, seed=2)
    names = list(a["phase_names"])
    scroll = a["phase_id"] == names.index("scroll")
    per_frame = a["ui_mc"][scroll].sum() / a["frames"][scroll].sum()
    assert per_frame == pytest.approx(app.phases[0].ui_mc[0], rel=0.1)
    rate = a["worker_mc"][scroll].sum() / (scroll.sum() * 0.01)
    assert rate == pytest.approx(app.phases[0].worker_mc_per_s[0], rel=0.1)


def test_phases_switch_and_work_is_autocorrelated() -> None:
    a = generate_arrays("tiktok", 60_000, seed=4)
    switches = np.flatnonzero(np.diff(a["phase_id"]) != 0)
    assert len(switches) > 10
    assert len(np.unique(a["phase_id"])) >= 4
    # slow modulation: bg work in consecutive 1-s windows is correlated
    w = a["bg_mc"].reshape(-1, 100).sum(axis=1)
    r = np.corrcoef(w[:-1], w[1:])[0, 1]
    assert r > 0.3


def test_3dmark_gpu_far_above_tiktok() -> None:
    g3 = trace_summary(generate_arrays("3dmark", 60_000, seed=0), 0.01)["gpu_mc_per_s"]
    gt = trace_summary(generate_arrays("tiktok", 60_000, seed=0), 0.01)["gpu_mc_per_s"]
    assert g3 > 4 * gt
    assert 450 < g3 < 800  # ~8-14 GPU-Mc per frame at ~60 fps


@pytest.mark.parametrize("name", CATALOG)
def test_intensity_metadata_consistent_with_phases(name: str) -> None:
    app = load_app(name)
    # documented in docs/workloads.md: intensity = mean demand / (one Pixel 6 A76 core at 2253 MHz) for CPU,
    # mean GPU demand / (an Adreno 630 at 710 MHz) for GPU
    s = trace_summary(generate_arrays(app, 120_000, seed=11), 0.01)
    assert s["cpu_mc_per_s"] / 2253 == pytest.approx(app.metadata.cpu_intensity, abs=0.08)
    assert s["gpu_mc_per_s"] / 710 == pytest.approx(app.metadata.gpu_intensity, abs=0.08)


def test_other_tick_sizes() -> None:
    a = generate_arrays("3dmark", 600, seed=0, tick_s=0.1)
    assert a["frames"].max() >= 6  # several frames per 100 ms tick
    b = generate_arrays("3dmark", 60_000, seed=0, tick_s=0.001)
    assert b["frames"].max() == 1


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_ticks": 0}, "n_ticks"),
        ({"n_ticks": 1.5}, "n_ticks"),
        ({"seed": -1}, "seed"),
        ({"tick_s": 0.0001}, r"tick_s.*allowed \[0.001, 1\]"),
        ({"tick_s": 2.0}, "tick_s"),
    ],
)
def test_generate_arrays_bad_arguments(kwargs: dict, pattern: str) -> None:
    args = {"app": "tiktok", "n_ticks": 100, "seed": 0, "tick_s": 0.01, **kwargs}
    with pytest.raises(MetaDVFSError, match=pattern):
        generate_arrays(**args)


def test_generate_trace_frame_and_meta() -> None:
    df, meta = generate_trace("bilibili", 12.345, seed=5)
    assert list(df.columns) == list(TRACE_COLUMNS)
    assert len(df) == 1234 or len(df) == 1235
    assert meta.schema == TRACE_SCHEMA and meta.app == "bilibili" and meta.seed == 5
    assert meta.source == "generated" and meta.tick_s == 0.01 and meta.target_fps == 60
    arrays = trace_to_arrays(df)
    direct = generate_arrays("bilibili", len(df), seed=5)
    for k in KEYS - {"input", "frame_fps"}:  # the trace file format does not store the phase frame rate
        np.testing.assert_array_equal(arrays[k], direct[k])
    from metadvfs.workload.input_events import input_flags, track_from_json

    # the input track in the metadata gives the same per-tick flags as the arrays
    flags = input_flags(*track_from_json(meta.input, "gen"), len(df), meta.tick_s)
    np.testing.assert_array_equal(flags, direct["input"])
    assert (direct["input"] & 1).any()
    with pytest.raises(MetaDVFSError, match="seconds"):
        generate_trace("bilibili", 0, seed=1)
    with pytest.raises(MetaDVFSError, match="seconds"):
        generate_trace("bilibili", math.nan, seed=1)


def test_generate_arrays_is_fast() -> None:
    generate_arrays("tiktok", 1000, seed=0)
    t0 = time.perf_counter()
    generate_arrays("tiktok", 360_000, seed=0)
    assert time.perf_counter() - t0 < 1.0


def test_schema_constant() -> None:
    assert APP_SCHEMA == "metadvfs.app/1"


def test_android_packages_come_from_the_app_files(tmp_path: Path) -> None:
    from metadvfs.adb.apps import catalog_app
    from metadvfs.twin.family import app_package, package_app
    from metadvfs.workload.apps import list_apps, package_index

    index = package_index()
    for name in list_apps():
        prof = load_app(name)
        assert prof.packages, f"{name}: no android.packages"
        assert app_package(name)[0] == prof.packages[0]
        for pkg in prof.packages:
            assert index[pkg] == name and catalog_app(pkg) == name and package_app(pkg) == name
    assert app_package("not-in-catalog")[0] == "com.metadvfs.not_in_catalog"
    bad = yaml.safe_load((apps_dir() / "tiktok.yaml").read_text())
    for android, field in [
        ({"packages": []}, "android.packages"),
        ({"packages": ["nodots"]}, "android.packages"),
        ({"packages": ["a.b"], "activity": "x y"}, "android.activity"),
        ({"packages": ["a.b"], "extra": 1}, "extra"),
    ]:
        p = tmp_path / "a.yaml"
        p.write_text(yaml.safe_dump({**bad, "android": android}))
        with pytest.raises(MetaDVFSError, match=field):
            load_app(p)


@pytest.mark.parametrize("name", CATALOG)
def test_ui_frames_fit_the_weakest_catalog_gpu(name: str) -> None:
    """GPU sizing rule (docs/workloads.md): a display-rate app's mean GPU work per UI frame, at the top OPP of the
    catalog GPU with the least work per vsync of its own panel, takes at most FIT_MARGIN of the vsync period."""
    from metadvfs.catalog.devices import list_devices, load_device
    from metadvfs.sim.demand import FIT_MARGIN

    app = load_app(name)
    if not app.metadata.display_rate:
        pytest.skip("not a display-rate app (3DMark is GPU-bound by design)")
    devices = [load_device(d) for d in list_devices()]
    per_vsync = min(d.gpu.throughput * max(d.gpu.freqs_khz) / 1e3 / d.metadata.display_refresh_hz for d in devices)
    ui_frames = [p.gpu_mc[0] for p in app.phases if p.fps == app.metadata.target_fps]
    assert ui_frames and max(ui_frames) <= FIT_MARGIN * per_vsync + 1e-9
