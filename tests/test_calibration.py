"""``metadvfs calibrate``: the published-measurements file, the comparison rules, bad input and the docs tables."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from metadvfs.calibration import (
    DOCS_BEGIN,
    DOCS_END,
    QUANTITIES,
    compare,
    default_data_path,
    gpu_order_matches,
    load_calibration,
    peak_cpu_rate,
    render_markdown,
    simulate,
    update_docs,
)
from metadvfs.catalog.devices import list_devices, load_device
from metadvfs.cli import app
from metadvfs.errors import MetaDVFSError

runner = CliRunner()
GPU_ORDER = ["pixel5", "pixel3", "pixel4", "pixel6", "pixel8"]  # published: Wild Life, WL Extreme, GFXBench ES3.1


def _doc() -> dict:
    return yaml.safe_load(default_data_path().read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "cal.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def test_shipped_file_is_valid_and_sourced() -> None:
    cal = load_calibration()
    catalog = set(list_devices())
    assert {f.device for f in cal.figures} <= catalog
    for f in cal.figures:
        assert f.source.startswith("https://"), f.id
        assert len(f.what) > 20, f.id  # says what exactly was measured
    covered = {(f.device, f.quantity) for f in cal.figures}
    listed_missing = {(m["device"], m["quantity"]) for m in cal.missing}
    for d in catalog:  # every (phone, quantity) is either a figure or listed as missing
        for q in QUANTITIES:
            assert (d, q) in covered or (d, q) in listed_missing or ("all", q) in listed_missing, (d, q)


def _fake_sim() -> dict[str, dict[str, float]]:
    base = {"gpu_fps_work": 10.0, "gpu_peak": 100.0, "cpu_peak": 1000.0, "power_game_w": 5.0,
            "power_game_soc_w": 4.0, "power_video_w": 1.0, "power_video_soc_w": 0.3,
            "video_streaming_power_w": 1.1, "video_streaming_power_soc_w": 0.3}  # fmt: skip
    sim = {d: {**base, "gpu_fps": 10.0} for d in list_devices()}
    sim["pixel6"].update(gpu_fps=20.0, gpu_fps_work=20.0, gpu_peak=200.0, cpu_peak=1377.5)
    sim["pixel8"].update(power_game_w=6.9)
    return sim


def test_compare_pairs_figures_with_the_first_listed_figure_of_the_benchmark() -> None:
    cal = load_calibration()
    rows = {r["id"]: r for r in compare(cal, _fake_sim())}
    wl5 = rows["pixel5-wildlife"]
    assert wl5["reference"] == "pixel6-wildlife" and wl5["reference_device"] == "pixel6"
    assert wl5["published"] == pytest.approx(1015 / 6666)
    assert wl5["simulated"] == pytest.approx(0.5) and wl5["model"] == pytest.approx(0.5)
    assert wl5["within"] is False  # 0.5 against 0.152
    assert rows["pixel6-wildlife"]["role"] == "reference" and rows["pixel6-wildlife"]["within"] is None
    assert rows["pixel8pro-gb6-single"]["role"] == "no partner"
    gb6 = rows["pixel6-gb5-single"]  # 1377.5 / 1000 against 1029 / 747
    assert gb6["sim_over_published"] == pytest.approx(1.3775 / (1029 / 747), rel=1e-4) and gb6["within"] is True
    man = rows["pixel8pro-manhattan-power"]
    assert man["published"] == 6.9 and man["simulated"] == 6.9 and man["within"] is True
    assert man["simulated_soc_w"] == 4.0
    assert rows["pixel8pro-aztec-power"]["within"] is False  # 6.9 W against 4.7 W is outside +-30 %


def test_compare_only_uses_simulated_devices() -> None:
    cal = load_calibration()
    sim = {k: v for k, v in _fake_sim().items() if k in ("pixel3", "pixel4")}
    rows = compare(cal, sim)
    assert {r["device"] for r in rows} == {"pixel3", "pixel4"}
    wl = [r for r in rows if r["benchmark"] == "3DMark Wild Life"]
    assert len(wl) == 1 and wl[0]["role"] == "no partner"  # its pixel6 reference was not simulated


def test_gpu_order() -> None:
    cal = load_calibration()
    sim = _fake_sim()
    assert gpu_order_matches(compare(cal, sim)) is False  # pixel4/pixel3 ratio 1 is neither above nor below
    for d, fps in (("pixel3", 8.0), ("pixel4", 9.0), ("pixel5", 3.0), ("pixel8", 25.0)):
        sim[d]["gpu_fps"] = fps
    assert gpu_order_matches(compare(cal, sim)) is True


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("figures", 0, "quantity"), "fps", "figures[0].quantity': must be one of"),
        (("figures", 0, "value"), -3, "figures[0].value': must be a number > 0"),
        (("figures", 1, "source"), "my memory", "figures[1].source': must be a URL"),
        (("figures", 1, "id"), "pixel6-wildlife", "figures[1].id': duplicate id"),
        (("tolerance", "gpu"), 2.0, "tolerance.gpu': must be a number in (0, 1]"),
        (("workloads", "gpu", "seconds"), 0, "workloads.gpu.seconds': must be a number of seconds"),
        (("schema",), "metadvfs.calibration/9", "field 'schema'"),
        (("figures", 0, "workload"), "video_power", "figures[0].workload': only power figures name a workload"),
        (("figures", 13, "workload"), "gpu", "figures[13].workload': must be one of"),
        (("figures", 13, "workload"), "nope", "figures[13].workload': must be one of"),
        (("workloads", "Bad-Key"), {"app": "x", "governor": "g", "seconds": 3, "seed": 0}, "must be a lowercase"),
    ],
)
def test_bad_data_is_a_one_line_error(tmp_path: Path, path: tuple, value: object, needle: str) -> None:
    doc = _doc()
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    p = _write(tmp_path, doc)
    with pytest.raises(MetaDVFSError) as exc:
        load_calibration(p)
    assert needle in str(exc.value) and str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_streaming_figure_uses_the_streaming_workload() -> None:
    """phoneArena's streaming figure is compared with the streaming workload, Engadget's local one with playback."""
    cal = load_calibration()
    by_id = {f.id: f for f in cal.figures}
    assert by_id["pixel6-youtube-power"].workload == "video_streaming_power"
    assert by_id["pixel6-video-rundown-power"].workload == "video_power"  # the quantity's default
    assert by_id["pixel8pro-manhattan-power"].workload == "game_power"
    sim = _fake_sim()
    sim["pixel6"].update(video_streaming_power_w=1.5, video_streaming_power_soc_w=0.3, video_streaming_power_net_w=0.2)
    rows = {r["id"]: r for r in compare(cal, sim)}
    assert rows["pixel6-youtube-power"]["simulated"] == 1.5 and rows["pixel6-youtube-power"]["simulated_net_w"] == 0.2
    assert rows["pixel6-video-rundown-power"]["simulated"] == 1.0


def test_missing_required_key_and_unknown_key(tmp_path: Path) -> None:
    doc = _doc()
    del doc["figures"][2]["what"]
    with pytest.raises(MetaDVFSError, match=r"figures\[2\]\.what': is required"):
        load_calibration(_write(tmp_path, doc))
    doc = _doc()
    doc["figures"][0]["recalled"] = True
    with pytest.raises(MetaDVFSError, match="unknown key"):
        load_calibration(_write(tmp_path, doc))


def test_simulate_produces_every_quantity(tmp_path: Path) -> None:
    doc = _doc()
    for w in doc["workloads"].values():
        w["seconds"] = 3
    cal = load_calibration(_write(tmp_path, doc))
    sim = simulate(["pixel5", "pixel8"], cal)
    for d in ("pixel5", "pixel8"):
        s = sim[d]
        assert s["cpu_peak"] == pytest.approx(peak_cpu_rate(load_device(d)))
        assert s["gpu_fps_work"] > 0 and s["gpu_fps"] >= 0
        assert 0 < s["power_game_soc_w"] < s["power_game_w"]
        assert 0 < s["power_video_soc_w"] < s["power_video_w"] < s["power_game_w"]
        assert s["power_video_net_w"] == 0.0 and s["power_game_net_w"] == 0.0  # local playback, offscreen 3D
        # streaming = playback plus the Wi-Fi radio: the power outside the SoC rails is higher by exactly the radio
        rest_streaming = s["video_streaming_power_w"] - s["video_streaming_power_soc_w"]
        rest_local = s["power_video_w"] - s["power_video_soc_w"]
        assert rest_streaming - rest_local == pytest.approx(s["video_streaming_power_net_w"], rel=1e-6)
    assert sim["pixel8"]["gpu_fps_work"] > sim["pixel5"]["gpu_fps_work"]


def test_shipped_calibration_cpu_within_tolerance_and_gpu_order() -> None:
    """The real check: per-core rates agree with Geekbench ratios, the GPU order with the published benchmarks."""
    cal = load_calibration()
    sim = simulate(list_devices(), cal)
    rows = compare(cal, sim)
    cpu = [r for r in rows if r["quantity"] == "cpu" and r["role"] == "compared"]
    assert len(cpu) >= 3 and all(r["within"] for r in cpu), [(r["id"], r["sim_over_published"]) for r in cpu]
    assert gpu_order_matches(rows, "simulated_work") is True
    assert gpu_order_matches(rows, "model") is True
    assert gpu_order_matches(rows) is True
    gpu = [r for r in rows if r["quantity"] == "gpu" and r["role"] == "compared"]
    assert len(gpu) >= 4 and all(r["within"] for r in gpu), [(r["id"], r["sim_over_published"]) for r in gpu]
    for r in gpu:  # the GPU-bound frame rate follows the delivered work rate (the model ratio) within 5 %
        assert r["simulated_work"] == pytest.approx(r["model"], rel=0.05), r["id"]
    fps = [sim[d]["gpu_fps"] for d in GPU_ORDER]  # the GPU-bound benchmark at `performance`: >= 5 fps, strict order
    assert min(fps) >= 5.0 and fps == sorted(fps) and len(set(fps)) == len(fps), dict(zip(GPU_ORDER, fps, strict=True))
    game = [r for r in rows if r["id"] == "pixel8pro-manhattan-power"]
    assert len(game) == 1 and game[0]["within"] is True  # whole-phone 3D power, the one figure within tolerance today


def test_3dmark_at_performance_renders_at_least_5_fps_in_benchmark_order() -> None:
    """Issue 9: 3dmark at ``performance`` renders >= 5 fps on every phone, never faster on a weaker GPU.

    The order is by delivered GPU work rate (busy x clock x throughput) and by presented frame rate with ties
    allowed: the phones whose GPU holds the 60 fps target tie there (the GPU-bound offscreen workload checks
    the strict order, test above).
    """
    from metadvfs.governors.registry import make_governor
    from metadvfs.sim.replay import replay
    from metadvfs.tasks.task import make_task

    tasks = [make_task(d, "3dmark") for d in GPU_ORDER]
    tl = replay(tasks, make_governor("performance"), 20.0, 0)
    fps = [tl.metrics(i)["fps_mean"] for i in range(len(tasks))]
    assert min(fps) >= 5.0, dict(zip(GPU_ORDER, fps, strict=True))
    assert all(a <= b + 0.5 for a, b in itertools.pairwise(fps)), dict(zip(GPU_ORDER, fps, strict=True))
    cap = [t.device.gpu.throughput * t.device.gpu.fmax_khz / 1000.0 for t in tasks]
    assert cap == sorted(cap)


def test_update_docs_rewrites_only_the_block(tmp_path: Path) -> None:
    p = tmp_path / "d.md"
    p.write_text(f"# t\nbefore\n{DOCS_BEGIN}\nold\n{DOCS_END}\nafter\n", encoding="utf-8")
    update_docs(p, "new table\n")
    assert p.read_text(encoding="utf-8") == f"# t\nbefore\n{DOCS_BEGIN}\nnew table\n{DOCS_END}\nafter\n"
    q = tmp_path / "none.md"
    q.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(MetaDVFSError, match="missing the calibration markers"):
        update_docs(q, "x")


def test_render_markdown_has_one_table_per_device() -> None:
    cal = load_calibration()
    sim = _fake_sim()
    md = render_markdown(cal, compare(cal, sim), sim, "metadvfs calibrate")
    for d in list_devices():
        assert f"#### {d}" in md
    assert "[link](https://www.tomsguide.com/news/google-pixel-6-benchmarks)" in md
    assert "Missing (searched, not found)" in md


def test_cli_calibrate_json_and_docs(tmp_path: Path) -> None:
    docs = tmp_path / "devices.md"
    docs.write_text(f"x\n{DOCS_BEGIN}\n{DOCS_END}\n", encoding="utf-8")
    res = runner.invoke(app, ["calibrate", "--docs", str(docs), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["docs_written"] == str(docs)
    assert doc["summary"]["compared"] >= 8
    assert "#### pixel6" in docs.read_text(encoding="utf-8")
    res = runner.invoke(app, ["calibrate", "--device", "pixel6", "--json"])
    assert res.exit_code == 0
    assert {r["device"] for r in json.loads(res.stdout)["rows"]} == {"pixel6"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["calibrate", "--device", "nokia3310"], "--device: unknown device"),
        (["calibrate", "--data", "/nonexistent/cal.yaml"], "cannot read calibration file"),
    ],
)
def test_cli_calibrate_bad_input_exits_2(args: list[str], needle: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_cli_calibrate_docs_without_markers_exits_2(tmp_path: Path) -> None:
    docs = tmp_path / "devices.md"
    docs.write_text("no markers\n", encoding="utf-8")
    res = runner.invoke(app, ["calibrate", "--docs", str(docs)])
    assert res.exit_code == 2 and "missing the calibration markers" in res.stderr
    assert docs.read_text(encoding="utf-8") == "no markers\n"
