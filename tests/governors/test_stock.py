"""The ``stock`` governor stack: vendor settings parsing, input events, behaviour against schedutil, trace v1/v2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from metadvfs.catalog.devices import load_device, profile_from_dict
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.registry import make_governor
from metadvfs.paths import data_dir
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.replay import replay
from metadvfs.tasks.task import Task, make_task
from metadvfs.workload.input_events import FLAG_TOUCH

DEVICES = ("pixel3", "pixel4", "pixel5", "pixel6", "pixel8")
APPS = ("tiktok", "kwai", "bilibili", "weibo", "taobao", "3dmark")
SECONDS = 30.0
SEED = 11


def _doc(device: str) -> dict:
    return yaml.safe_load((data_dir("devices") / f"{device}.yaml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------- parsing


def test_every_profile_has_a_sourced_vendor_section() -> None:
    for d in DEVICES:
        v = load_device(d).vendor
        assert v is not None, d
        assert set(v.rate_limits) == {c.domain for c in load_device(d).clusters}
        assert all(r.up_us == 500 for r in v.rate_limits.values()), d
        assert "@" in v.cpufreq_source and "LAUNCH" in v.hints
        assert v.gpu_governor is not None
    # Snapdragon phones boost touches with CPU min frequencies; Pixel 8 has no INTERACTION hint (ADPF instead)
    assert load_device("pixel5").vendor.hints["INTERACTION"].min_freq_khz == {"little": 1363200, "big": 1401600}
    assert "INTERACTION" not in load_device("pixel8").vendor.hints and load_device("pixel8").vendor.adpf


def test_profile_without_vendor_section_loads_and_stock_falls_back_to_schedutil() -> None:
    doc = _doc("pixel5")
    doc.pop("vendor")
    prof = profile_from_dict(doc, "novendor.yaml")
    assert prof.vendor is None
    task = Task(prof, make_task("pixel5", "weibo").app)
    gov = make_governor("stock")
    a = replay([task], gov, 10.0, 3)
    assert gov.notes and "kernel defaults" in gov.notes[0]
    b = replay([task], make_governor("schedutil"), 10.0, 3)
    # without vendor data, stock is the kernel rule with the default GPU governors: identical to schedutil
    np.testing.assert_array_equal(a.freq_mhz, b.freq_mhz)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda v: v["cpufreq"]["big"].update(up_rate_limit_us="fast"), "vendor.cpufreq.big.up_rate_limit_us"),
        (lambda v: v["cpufreq"]["little"].pop("down_rate_limit_us"), "vendor.cpufreq.little.down_rate_limit_us"),
        (lambda v: v["hints"].update(SUSTAINED=v["hints"]["LAUNCH"]), "vendor.hints.SUSTAINED"),
        (lambda v: v["hints"]["INTERACTION"]["min_freq_khz"].update(gpu=1), "vendor.hints.INTERACTION.min_freq_khz"),
        (lambda v: v["hints"]["INTERACTION"].update(uclamp_min=2000), "vendor.hints.INTERACTION.uclamp_min"),
        (lambda v: v["top_app"].update(source="redbull init.rc"), "vendor.top_app.source"),
        (lambda v: v["cpufreq"].update(governor="interactive"), "vendor.cpufreq.governor"),
        (lambda v: v.update(hints=[1, 2]), "vendor.hints"),
        (lambda v: v.pop("interaction_handler"), "vendor.hints.INTERACTION.duration_ms"),
    ],
)
def test_malformed_vendor_data_is_a_one_line_error(tmp_path: Path, edit, field: str) -> None:
    _expect_vendor_error(tmp_path, "pixel5", edit, field)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda v: v["adpf"]["pid"].update(i=0.5), "vendor.adpf.pid.i"),
        (lambda v: v["adpf"]["pid"].pop("p_over"), "vendor.adpf.pid.p_over"),
        (lambda v: v["adpf"]["pid"].update(reporting_rate_limit_ms=0), "vendor.adpf.pid.reporting_rate_limit_ms"),
        (lambda v: v["adpf"].update(uclamp_min_high=1), "vendor.adpf.uclamp_min_high"),
    ],
)
def test_malformed_adpf_data_is_a_one_line_error(tmp_path: Path, edit, field: str) -> None:
    _expect_vendor_error(tmp_path, "pixel8", edit, field)


def _expect_vendor_error(tmp_path: Path, device: str, edit, field: str) -> None:
    doc = _doc(device)
    edit(doc["vendor"])
    path = tmp_path / "bad_vendor.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MetaDVFSError) as exc:
        load_device(str(path))
    msg = str(exc.value)
    assert "\n" not in msg and "bad_vendor.yaml" in msg and field in msg


def test_cli_replay_with_bad_vendor_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app

    doc = _doc("pixel5")
    doc["vendor"]["hints"]["TOUCH_BOOST"] = doc["vendor"]["hints"]["INTERACTION"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    res = CliRunner().invoke(app, ["replay", "--device", str(path), "--governor", "stock", "--seconds", "1"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "vendor.hints.TOUCH_BOOST" in res.stderr


# ------------------------------------------------------------------------------------------ behaviour


@pytest.fixture(scope="module")
def runs() -> dict:
    tasks = [make_task(d, a) for d in DEVICES for a in APPS]
    out = {g: replay(tasks, make_governor(g), SECONDS, SEED) for g in ("stock", "schedutil", "performance")}
    batch = TaskBatch(tasks, SECONDS)
    batch.seed([SEED] * len(tasks))
    batch.reset_rows(np.arange(len(tasks)))
    out["_flags"] = batch.core.window("input").astype(np.int64)
    out["_names"] = [t.name for t in tasks]
    return out


def _touch_phase(flags: np.ndarray, hold_ticks: int = 150) -> np.ndarray:
    """Ticks with a touch event and the 1.5 s after it (the PowerHAL interaction window)."""
    touch = ((flags & FLAG_TOUCH) > 0).astype(float)
    return np.convolve(touch, np.ones(hold_ticks))[: len(touch)] > 0


TOUCH_POWER_EXCEPTIONS = {
    # The Pixel 4 power_profile curves have a large frequency-independent part, so a cluster's energy per cycle
    # falls above fmin (docs/simulator.md section 6, "Race to idle"): the touch boost's higher floor finishes the
    # light video UI work sooner and the cluster idles longer. Measured after the frame pipeline landed: stock's
    # CPU power 184 mW vs schedutil's 200 mW, whole phone 0.5 % lower. Bounded at 1 %.
    "pixel4:bilibili": 0.01,
    # Same on the silver (little) cluster: stock 139 mW vs schedutil 158 mW in the touch phases (seed 11). Before the
    # GPU calibration stock's busier GPU outweighed it by 0.6 mW (1200.4 vs 1199.8 mW); with the fitted (lower)
    # Pixel 4 GPU power curve the GPU gap is 5 mW and the whole phone is 0.46 % lower. Bounded at 1 %.
    "pixel4:kwai": 0.01,
}


def test_stock_draws_at_least_schedutil_power_during_touch_phases(runs) -> None:
    checked = 0
    for i, name in enumerate(runs["_names"]):
        mask = _touch_phase(runs["_flags"][i])
        if name.endswith(":3dmark"):
            assert not mask.any(), f"{name}: the benchmark runs without touches"
            continue
        assert mask.sum() > 100, f"{name}: too few touch-driven ticks in {SECONDS:g} s"
        st = runs["stock"].power_total_mw[mask, i].mean()
        su = runs["schedutil"].power_total_mw[mask, i].mean()
        slack = TOUCH_POWER_EXCEPTIONS.get(name, 0.0)
        assert st >= su * (1.0 - slack), f"{name}: stock {st:.1f} mW < schedutil {su:.1f} mW during touch phases"
        checked += 1
    assert checked == 25


def test_performance_draws_more_than_stock(runs) -> None:
    for i, name in enumerate(runs["_names"]):
        perf = runs["performance"].power_total_mw[:, i].mean()
        st = runs["stock"].power_total_mw[:, i].mean()
        assert perf > st, f"{name}: performance {perf:.1f} mW <= stock {st:.1f} mW"


def test_stock_is_deterministic() -> None:
    tasks = [make_task("pixel8", "tiktok"), make_task("pixel4", "taobao")]
    a = replay(tasks, make_governor("stock"), 10.0, 5)
    b = replay(tasks, make_governor("stock"), 10.0, 5)
    np.testing.assert_array_equal(a.freq_mhz, b.freq_mhz)
    np.testing.assert_array_equal(a.energy_mj, b.energy_mj)


def test_interaction_hint_floors_the_clusters_on_a_touch() -> None:
    """Pixel 5: while the INTERACTION hint is on, little and big run at least at the powerhint.json minimums."""
    task = make_task("pixel5", "weibo")
    gov = make_governor("stock")
    batch = TaskBatch([task], 20.0)
    batch.seed([2])
    batch.reset_rows(np.arange(1))
    from metadvfs.sim.replay import governor_context

    gov.reset(governor_context(batch))
    core = batch.core
    seen = 0
    last = None
    for _ in range(batch.episode_ticks):
        want = gov.decide(last, core.idx)
        last = core.step(want, 1)
        if gov.hint_active[0, 0]:
            seen += 1
            assert last.freq_mhz[0, 0] >= 1363.2 - 1e-6 or core.cap[0, 0] < core.dev.n_opp[0, 0] - 1
            assert last.freq_mhz[0, 2] >= 1401.6 - 1e-6 or core.cap[0, 2] < core.dev.n_opp[0, 2] - 1
    assert seen > 0


# ----------------------------------------------------------------------------------------- replay/evaluate


def test_cli_replay_stock_reports_ppr_against_stock_and_schedutil(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app

    out = tmp_path / "r"
    args = ["replay", "-d", "pixel6", "-a", "weibo", "-g", "stock,schedutil", "-s", "5", "--out", str(out), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    runs = {r["governor"]: r for r in json.loads(res.stdout)["runs"]}
    assert runs["stock"]["ppr_norm"] == pytest.approx(1.0)
    assert runs["schedutil"]["ppr_norm_schedutil"] == pytest.approx(1.0)


def test_evaluate_normalises_to_stock_and_keeps_schedutil_figures() -> None:
    from metadvfs.learn.evaluate import evaluate

    names = ["pixel5:tiktok", "pixel8:weibo"]
    res = evaluate([], ["performance"], names, n_seeds=1, seconds=20.0)
    rows = {(r["device"] + ":" + r["app"], r["method"]): r for r in res.rows()}
    for t in names:
        assert rows[(t, "stock")]["ppr_norm"] == pytest.approx(1.0)
        assert rows[(t, "schedutil")]["ppr_norm_schedutil"] == pytest.approx(1.0)
        su = rows[(t, "schedutil")]
        assert su["ppr_norm"] == pytest.approx(1.0 / rows[(t, "stock")]["ppr_norm_schedutil"])
    old = evaluate([], [], names, n_seeds=1, seconds=20.0, reference="schedutil")
    assert old.summary()["reference"] == "schedutil"
    assert all(r["ppr_norm"] == pytest.approx(1.0) for r in old.rows() if r["method"] == "schedutil")
    with pytest.raises(MetaDVFSError, match="--reference"):
        evaluate([], [], names, n_seeds=1, seconds=20.0, reference="ondemand")


# ------------------------------------------------------------------------------------------- traces v1/v2


def test_trace_v2_round_trip_keeps_the_input_track(tmp_path: Path) -> None:
    from metadvfs.workload.generator import generate_trace
    from metadvfs.workload.trace import read_trace, write_trace

    df, meta = generate_trace("tiktok", 20.0, seed=4)
    assert meta.schema == "metadvfs.trace/2" and meta.input["event"][0] == "launch_begin"
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"t{suffix}"
        write_trace(df, meta, path)
        _, back = read_trace(path)
        assert back.input == meta.input
    # a replay of the file sees the same touches as the generated demand
    task = make_task("pixel6", trace=str(tmp_path / "t.csv"))
    assert (task.trace["input"].astype(int) & FLAG_TOUCH).any()


def test_trace_v1_still_loads_without_input(tmp_path: Path) -> None:
    from dataclasses import replace

    from metadvfs.workload.generator import generate_trace
    from metadvfs.workload.trace import read_trace, write_trace

    df, meta = generate_trace("weibo", 5.0, seed=1)
    v1 = replace(meta, schema="metadvfs.trace/1", input=None)
    path = tmp_path / "v1.csv"
    write_trace(df, v1, path)
    _, back = read_trace(path)
    assert back.schema == "metadvfs.trace/1" and back.input is None
    task = make_task("pixel5", trace=str(path))
    assert not task.trace["input"].any()
    tl = replay([task], make_governor("stock"), 4.0, 0)
    assert np.isfinite(tl.power_total_mw).all()
    with pytest.raises(MetaDVFSError, match=r"needs schema 'metadvfs\.trace/2'"):
        write_trace(df, replace(meta, schema="metadvfs.trace/1"), tmp_path / "bad.csv")


@pytest.mark.parametrize(
    ("track", "pattern"),
    [
        ({"t_s": [0.0, 0.5, 0.2], "event": ["touch_down", "touch_move", "touch_up"]}, r"t_s\[2\].*must be sorted"),
        ({"t_s": [-0.1], "event": ["touch_down"]}, r"t_s\[0\].*negative"),
        ({"t_s": [0.1], "event": ["pinch"]}, r"event\[0\]: unknown input event / hint name 'pinch'"),
        ({"t_s": [0.1, 0.2], "event": ["touch_down"]}, "equal length"),
        ({"times": []}, "exactly the lists"),
    ],
)
def test_bad_input_track_is_a_one_line_error_and_exit_2(tmp_path: Path, track: dict, pattern: str) -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app
    from metadvfs.workload.generator import generate_trace
    from metadvfs.workload.trace import CSV_MAGIC, read_trace, write_trace

    df, meta = generate_trace("weibo", 2.0, seed=1)
    path = tmp_path / "ok.csv"
    write_trace(df, meta, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0][len(CSV_MAGIC) :])
    head["input"] = track
    bad = tmp_path / "bad_input.csv"
    bad.write_text("\n".join([CSV_MAGIC + json.dumps(head), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(MetaDVFSError, match=pattern) as exc:
        read_trace(bad)
    assert "\n" not in str(exc.value) and "bad_input.csv" in str(exc.value) and "'input'" in str(exc.value)
    res = CliRunner().invoke(app, ["trace", "validate", str(bad)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_reference_ppr_of_stock_is_cached_apart_from_schedutil() -> None:
    from metadvfs.environment.reference import reference_ppr

    tasks = [make_task("pixel4", "taobao"), make_task("pixel8", "kwai")]
    su = reference_ppr(tasks, 10)
    st = reference_ppr(tasks, 10, governor="stock")
    assert np.all(su > 0) and np.all(st > 0)
    assert not np.array_equal(su, st)
    np.testing.assert_array_equal(reference_ppr(tasks, 10), su)


def test_reference_qoe_is_the_mean_step_qoe_of_the_stock_replay() -> None:
    from metadvfs.core.reward import step_qoe
    from metadvfs.environment.reference import REFERENCE_SECONDS, REFERENCE_SEED, reference_qoe
    from metadvfs.governors.registry import make_governor
    from metadvfs.sim.replay import replay

    tasks = [make_task("pixel5", "3dmark"), make_task("pixel8", "kwai")]
    got = reference_qoe(tasks, 10)
    tl = replay(tasks, make_governor("stock"), REFERENCE_SECONDS, REFERENCE_SEED, 0.01)
    n = tl.frames_req.shape[0] // 10

    def agg(a: np.ndarray) -> np.ndarray:
        return a[: n * 10].reshape(n, 10, -1).sum(axis=1)

    want = step_qoe(agg(tl.frames_req), agg(tl.frames_presented), agg(tl.frames_janky)).mean(axis=0)
    np.testing.assert_allclose(got, want)
    assert np.all((got > 0) & (got <= 1)) and got[0] < got[1]  # the GPU-bound benchmark on the weak GPU janks more


def test_refresh_mode_keeps_the_top_app_uclamp_while_the_display_is_active() -> None:
    """Pixel 6: REFRESH_90FPS holds ta_uclamp_min 205 while frames flow, so the worker (mid) cluster never
    drops below the OPP that 1.25 * 205/1024 * fmax needs; the boost ends when the display goes idle."""
    from metadvfs.governors.base import resolve_ceil
    from metadvfs.sim.replay import governor_context

    task = make_task("pixel6", "bilibili")
    batch = TaskBatch([task], 20.0)
    batch.seed([4])
    batch.reset_rows(np.arange(1))
    gov = make_governor("stock")
    gov.reset(governor_context(batch))
    core, dev = batch.core, batch.dev
    target = np.zeros((1, 4))
    target[0, 1] = 1.25 * dev.fmax_mhz[0, 1] * 205 / 1024
    floor = resolve_ceil(dev.freq_mhz, dev.n_opp, target)[0, 1]
    assert floor > 0
    active = 0
    last = None
    for _ in range(batch.episode_ticks):
        want = gov.decide(last, core.idx)
        on = bool(gov.hint_active[0, 2])
        if on and last is not None:
            active += 1
            assert want[0, 1] >= floor
        last = core.step(want, 1)
    assert active > 0.5 * batch.episode_ticks


def _adpf_trace(task: Task, seconds: float = 20.0, seed: int = 3) -> np.ndarray:
    from metadvfs.sim.replay import governor_context

    batch = TaskBatch([task], seconds)
    batch.seed([seed])
    batch.reset_rows(np.arange(1))
    gov = make_governor("stock")
    gov.reset(governor_context(batch))
    out, last = [], None
    for _ in range(batch.episode_ticks):
        want = gov.decide(last, batch.core.idx)
        last = batch.core.step(want, 1)
        out.append(gov.adpf_uclamp[0])
    return np.array(out)


def test_adpf_pid_raises_uclamp_for_heavy_ui_frames_and_keeps_its_bounds() -> None:
    """Pixel 8: the ADPF PID drives the UI threads' uclamp.min within [UclampMin_Low, UclampMin_High]; UI-heavy
    Weibo frames (over their target) hold it far higher than the GPU-bound benchmark's light UI frames."""
    weibo = _adpf_trace(make_task("pixel8", "weibo"))
    bench = _adpf_trace(make_task("pixel8", "3dmark"))
    for u in (weibo, bench):
        assert u.min() >= 2 and u.max() <= 480
    assert len(np.unique(weibo)) > 5  # a controller, not a constant
    assert weibo.mean() > bench.mean() + 100


def test_adpf_without_pid_holds_the_initial_uclamp() -> None:
    doc = _doc("pixel8")
    doc["vendor"]["adpf"].pop("pid")
    prof = profile_from_dict(doc, "nopid.yaml")
    u = _adpf_trace(Task(prof, make_task("pixel8", "weibo").app), seconds=5.0)
    assert np.all(u == 231)
