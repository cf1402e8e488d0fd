"""Ambient overrides, scenario files and thermal stress sessions.

Covers the ``DEVICE:APP@<degC>C`` task syntax, scenario parsing (shipped files, patterns, bad input with one-line
errors), the effect of the ambient temperature on the simulated phone, the reconstruction of which throttle rule
was active, and the 10-minute 35 degC 3DMark session on the Tensor phones where the thermal HAL's skin
controllers must engage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metadvfs.cli import app
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.registry import make_governor
from metadvfs.learn.tasks import build_tasks, parse_task_names, scenario_seconds
from metadvfs.sim.replay import replay
from metadvfs.tasks.scenario import list_scenarios, load_scenario
from metadvfs.tasks.scenario_run import engaged_rules, rule_activity
from metadvfs.tasks.task import make_task

runner = CliRunner()

GOOD = """schema: metadvfs.scenario/1
name: t
devices: [pixel6, "pixel[38]"]
apps: [3dmark]
duration_s: 30
ambient_c: [25, 35]
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_ambient_suffix_builds_a_task_with_that_ambient() -> None:
    (t,) = build_tasks(["pixel6:3dmark@35C"])
    assert t.ambient_c == 35.0
    assert t.device.thermal.ambient_c == 35.0
    assert t.name == "pixel6:3dmark@35C"
    (plain,) = build_tasks(["pixel6:3dmark"])
    assert plain.ambient_c is None and plain.name == "pixel6:3dmark"
    assert plain.device.thermal.ambient_c == 25.0  # the profile's value is untouched
    assert t.device.thermal.rules == plain.device.thermal.rules


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("pixel6:3dmark@99C", "ambient must be in [0, 50] degC"),
        ("pixel6:3dmark@-5C", "ambient must be in [0, 50] degC"),
        ("pixel6:3dmark@hotC", "ambient suffix must be @<degC>C"),
        ("pixel6:3dmark@abc", "got @abc"),  # old code: "ambient must be a number ..., got 'ab'"
        ("pixel6:3dmark@35", "ambient suffix must be @<degC>C"),
        ("pixel6:3dmark@", "ambient suffix must be @<degC>C"),
    ],
)
def test_bad_ambient_suffix_is_a_one_line_error(spec: str, needle: str) -> None:
    with pytest.raises(MetaDVFSError) as exc:
        parse_task_names(spec)
    msg = str(exc.value)
    assert needle in msg and spec in msg and "\n" not in msg


def test_make_task_rejects_out_of_range_ambient() -> None:
    with pytest.raises(MetaDVFSError, match=r"\[0, 50\]"):
        make_task("pixel6", "3dmark", ambient_c=80.0)


def test_shipped_thermal_scenarios_parse() -> None:
    assert {"thermal-25c", "thermal-35c"} <= set(list_scenarios())
    for name, amb in (("thermal-25c", 25.0), ("thermal-35c", 35.0)):
        s = load_scenario(name)
        assert s.duration_s >= 600.0
        assert s.ambient_c == (amb,)
        assert set(s.devices) == {"pixel3", "pixel4", "pixel5", "pixel6", "pixel8"}
        assert "3dmark" in s.apps
        assert all(n.endswith(f"@{amb:g}C") for n in s.task_names())
    names = parse_task_names("scenario:thermal-35c,pixel3:tiktok")
    assert names[-1] == "pixel3:tiktok" and "pixel6:3dmark@35C" in names
    assert scenario_seconds("scenario:thermal-35c,pixel3:tiktok") == 600.0
    assert scenario_seconds("pixel3:tiktok") is None


def test_scenario_file_with_patterns_and_ambient_list(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, GOOD))
    assert s.devices == ("pixel6", "pixel3", "pixel8")
    assert s.task_names() == [
        "pixel6:3dmark@25C", "pixel3:3dmark@25C", "pixel8:3dmark@25C",
        "pixel6:3dmark@35C", "pixel3:3dmark@35C", "pixel8:3dmark@35C",
    ]  # fmt: skip
    assert parse_task_names(f"scenario:{tmp_path / 's.yaml'}") == s.task_names()


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("ambient_c: [25, 35]", "ambient_c: 70", "field 'ambient_c': ambient must be in [0, 50] degC"),
        ("ambient_c: [25, 35]", "ambient_c: warm", "field 'ambient_c': must be a number"),
        ("ambient_c: [25, 35]", "ambient_c: []", "field 'ambient_c'"),
        ("duration_s: 30", "duration_s: 0", "field 'duration_s': must be a number of seconds in [1, 3600]"),
        ("duration_s: 30", "duration_s: 4000", "field 'duration_s'"),
        ("apps: [3dmark]", "apps: [nosuchapp]", "field 'apps'"),
        ("apps: [3dmark]", "apps: []", "field 'apps'"),
        ('devices: [pixel6, "pixel[38]"]', 'devices: ["nokia*"]', "field 'devices': pattern 'nokia*' matches no"),
        ('devices: [pixel6, "pixel[38]"]', "devices: [pixel99]", "field 'devices'"),
        ("schema: metadvfs.scenario/1", "schema: metadvfs.scenario/2", "field 'schema'"),
        ("name: t", "name: t\nambient: 3", "unknown field(s) ['ambient']"),
    ],
)
def test_bad_scenario_fields_are_one_line_errors(tmp_path: Path, old: str, new: str, needle: str) -> None:
    p = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(MetaDVFSError) as exc:
        load_scenario(p)
    msg = str(exc.value)
    assert needle in msg, msg
    assert str(p) in msg and "\n" not in msg


def test_unknown_scenario_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(MetaDVFSError, match="thermal-35c"):
        load_scenario("no-such-scenario")  # the error lists the known names
    with pytest.raises(MetaDVFSError, match="invalid YAML"):
        load_scenario(_write(tmp_path, "schema: [unclosed\n"))
    with pytest.raises(MetaDVFSError, match="duplicate key 'schema' at line 2"):
        load_scenario(_write(tmp_path, "schema: a\nschema: b\n"))


def test_ambient_raises_temperatures_and_throttles_earlier() -> None:
    tasks = build_tasks(["pixel6:3dmark@25C", "pixel6:3dmark@35C"])
    tl = replay(tasks, make_governor("performance"), 120.0, 0)
    skin = tl.temp_c[:, :, 1]
    assert not tl.throttled[:, 0].any()
    assert tl.throttled[:, 1].any()  # at 35 degC the skin reaches the 41 degC controller within 2 min
    first = int(np.argmax(tl.throttled[:, 1]))
    assert first > 0
    # until then both see the same power, and the linear RC model shifts the whole trajectory by the ambient delta
    np.testing.assert_allclose(skin[:first, 1] - skin[:first, 0], 10.0, atol=1e-6)
    np.testing.assert_array_equal(tl.power_total_mw[:first, 0], tl.power_total_mw[:first, 1])
    assert tl.power_total_mw[first:, 1].mean() < tl.power_total_mw[first:, 0].mean()  # the caps cut power


def test_reconstructed_rule_activity_matches_the_simulator() -> None:
    tasks = build_tasks(["pixel6:3dmark@35C", "pixel8:3dmark@35C", "pixel5:tiktok@35C"])
    tl = replay(tasks, make_governor("schedutil"), 200.0, 3)
    for i, t in enumerate(tasks):
        act = rule_activity(t, tl.temp_c[:, i, :])
        # the simulator reports a rule as throttling a tick when it was active at the end of the previous tick
        np.testing.assert_array_equal(act[:-1].any(axis=1), tl.throttled[1:, i])


def test_35c_ten_minutes_3dmark_engages_the_skin_controllers_on_tensor_phones() -> None:
    scn = load_scenario("thermal-35c")
    tensor = [d for d in scn.devices if d in ("pixel6", "pixel8")]
    tasks = build_tasks([f"{d}:3dmark@35C" for d in tensor] + [f"{d}:3dmark@25C" for d in tensor])
    tl = replay(tasks, make_governor("schedutil"), scn.duration_s, 0)
    gpu_capped, costs_frames = [], []
    for i, t in enumerate(tasks[: len(tensor)]):
        rules = engaged_rules(t, tl.temp_c[:, i, :], tl.step_s)
        skin = [r for r in rules if r["sensor"] == "skin"]
        assert skin, f"{t.name}: no skin controller engaged"
        gpu_capped.append(any("gpu" in r["caps_khz"] for r in skin))
        assert tl.metrics(i)["throttled_pct"] > 50.0
        cool = tl.metrics(i + len(tensor))
        assert tl.metrics(i)["throttled_pct"] > cool["throttled_pct"]
        assert tl.metrics(i)["fps_mean"] <= cool["fps_mean"]  # throttling never gains frames
        costs_frames.append(tl.metrics(i)["fps_mean"] < cool["fps_mean"])
    # The skin controllers engage and throttle for most of the session on both Tensor phones (asserted above).
    # Which skin rule engages depends on the GPU power: with the fitted GPU throughputs (docs/devices.md) and the CPU
    # idle states of the Pixels 6 and 8 (docs/simulator.md 6.1) neither phone's skin reaches the 45 degC CPU+GPU trip
    # in these 10 minutes, so only the CPU caps engage; reported, not asserted
    print("GPU capped on:", [t.name for t, c in zip(tasks, gpu_capped, strict=False) if c])
    # GPU-bound 3DMark under CPU-only caps keeps its frame rate (fps never rises, asserted above); reported
    print("throttling cost frames on:", [t.name for t, c in zip(tasks, costs_frames, strict=False) if c])


def test_cli_replay_scenario_json_and_outputs(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace('[pixel6, "pixel[38]"]', "[pixel6]").replace("[25, 35]", "35"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["replay", "--scenario", str(p), "-g", "schedutil", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["seconds"] == 30.0 and doc["scenario"] == "t"
    (row,) = doc["runs"]
    assert row["task"] == "pixel6:3dmark@35C" and row["ambient_c"] == 35.0
    assert {"ppr", "ppr_soc", "avg_soc_power_w", "rules_engaged"} <= set(row)
    assert row["avg_soc_power_w"] < row["avg_power_w"]
    assert (out / "metrics.json").is_file()
    assert len(list(out.glob("timeline_*.parquet"))) == 1


def test_cli_replay_scenario_bad_input_exits_2(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("ambient_c: [25, 35]", "ambient_c: 99"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["replay", "--scenario", str(p), "--out", str(out)])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "ambient_c" in lines[0]
    assert not out.exists()


def test_ppr_soc_is_reported_next_to_ppr_without_changing_it() -> None:
    from metadvfs.metrics import summarize

    tasks = build_tasks(["pixel4:weibo"])
    tl = replay(tasks, make_governor("schedutil"), 20.0, 2)
    m = tl.metrics(0)
    soc_w = float(tl.power_mw[:, 0].sum(axis=1).mean()) / 1000.0
    assert m["avg_soc_power_w"] == pytest.approx(soc_w, rel=1e-9)
    assert m["avg_soc_power_w"] < m["avg_power_w"]
    assert m["ppr_soc"] == pytest.approx(m["fps_mean"] / soc_w, rel=1e-9)
    s = tl.series(0)
    legacy = summarize(type(s)(**{**s.__dict__, "energy_soc_mj": None}))  # a series without SoC energy
    assert "ppr_soc" not in legacy
    assert legacy["ppr"] == m["ppr"] and legacy["avg_power_w"] == m["avg_power_w"]


def test_evaluate_reports_soc_ppr_and_accepts_ambient_tasks(tiny_model: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["evaluate", "--model", str(tiny_model), "--tasks", "pixel3:tiktok@35C", "--seeds", "1", "--seconds", "3",
         "--baselines", "schedutil", "--out", str(tmp_path / "ev"), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    rows = {r["method"]: r for r in doc["tasks"]}
    assert rows["schedutil"]["app"] == "tiktok@35C"
    assert rows["stock"]["ppr_soc_norm"] == pytest.approx(1.0)  # stock is the default reference
    assert rows["stock"]["ppr_norm"] == pytest.approx(1.0)
    assert rows["schedutil"]["ppr_norm_schedutil"] == pytest.approx(1.0)
    assert np.isfinite(rows["metadvfs"]["ppr_soc_norm"]) and rows["metadvfs"]["avg_soc_power_w"] > 0
    assert "mean PPR / stock (SoC power)" in (tmp_path / "ev" / "results.md").read_text(encoding="utf-8")


def test_cli_replay_app_with_ambient_suffix(tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = ["replay", "-d", "pixel6", "-a", "3dmark@35C", "-s", "60", "-g", "performance", "--out", str(out), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    hot = json.loads(res.stdout)
    assert hot["ambient_c"] == 35.0 and hot["app"] == "3dmark"
    res = runner.invoke(app, [*args[:4], "3dmark", *args[5:-3], "--out", str(tmp_path / "c"), "--json"])
    cool = json.loads(res.stdout)
    assert cool["ambient_c"] == 25.0
    assert hot["max_skin_c"] > cool["max_skin_c"] + 5.0
    bad = runner.invoke(app, ["replay", "-d", "pixel6", "-a", "3dmark@99C", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and bad.stderr.strip().startswith("error: --app: ambient must be in [0, 50]")
    assert not (tmp_path / "b").exists()


def test_evaluate_scenario_uses_its_duration(tiny_model: Path, tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace('[pixel6, "pixel[38]"]', "[pixel3]").replace("duration_s: 30", "duration_s: 4")
               .replace("[25, 35]", "35"))  # fmt: skip
    res = runner.invoke(
        app,
        ["evaluate", "--model", str(tiny_model), "--tasks", f"scenario:{p}", "--seeds", "1", "--baselines",
         "schedutil", "--out", str(tmp_path / "ev"), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["seconds"] == 4.0
    assert {f"{r['device']}:{r['app']}" for r in doc["tasks"]} == {"pixel3:3dmark@35C"}
    bad = runner.invoke(app, ["evaluate", "--model", str(tiny_model), "--tasks", "scenario:nope"])
    assert bad.exit_code == 2 and "scenario" in bad.stderr and "Traceback" not in bad.stderr
