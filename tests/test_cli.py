"""The ``metadvfs`` command line, driven in-process through Typer's CliRunner.

Covers the listing commands, ``replay`` (outputs, determinism, ``--governor all``, ``--trace``), the
one-line error contract for bad input (exit 2, one ``error:`` line on stderr, no traceback, nothing written)
and a smoke run of ``bench``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from metadvfs.catalog.devices import list_devices
from metadvfs.cli import app, demo_governors
from metadvfs.paths import data_dir
from metadvfs.workload.apps import list_apps

DEVICES = set(list_devices())
APPS = set(list_apps())
METRIC_KEYS = ("energy_j", "avg_power_w", "fps_mean", "qoe", "jank_pct", "ppr", "max_temp_c", "throttled_pct")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TICK_S = 0.01
BASE = ["replay", "--device", "pixel3", "--app", "weibo", "--governor", "schedutil", "--seconds", "3", "--seed", "1"]

runner = CliRunner()


def run(args: list[str]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok(args: list[str]) -> Result:
    res = run(args)
    assert res.exit_code == 0, f"exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}\n{res.exception!r}"
    return res


def one_json(res: Result) -> dict:
    """stdout must hold exactly one JSON document (one object)."""
    obj = json.loads(res.stdout)  # raises on anything but a single document
    assert isinstance(obj, dict)
    return obj


def expect_error(args: list[str], out: Path | None, *fragments: str) -> str:
    """Exit 2, exactly one ``error:`` line on stderr naming the problem, no traceback, nothing written."""
    res = run(args)
    assert res.exit_code == 2, f"exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    assert isinstance(res.exception, SystemExit), repr(res.exception)  # no exception escaped the CLI
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:"), lines[0]
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert "Traceback" not in res.stdout + res.stderr
    assert res.stdout == ""
    if out is not None:
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    return lines[0]


# ---------------------------------------------------------------------------------------------- listings
@pytest.mark.parametrize(("command", "names"), [("devices", DEVICES), ("apps", APPS)])
def test_list_json(command: str, names: set[str]) -> None:
    rows = json.loads(ok([command, "--json"]).stdout)
    assert isinstance(rows, list)
    assert all(isinstance(r, dict) and "name" in r for r in rows)
    assert {r["name"] for r in rows} == names
    assert len(rows) == len(names)


# ---------------------------------------------------------------------------------------------- replay
@pytest.fixture(scope="module")
def replay_parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("replay") / "run"
    res = ok([*BASE, "--out", out, "--json"])
    assert "Traceback" not in res.stderr
    return out, one_json(res)


@pytest.fixture(scope="module")
def trace_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "tiktok.csv"
    res = ok(["trace", "generate", "--app", "tiktok", "--seconds", "5", "--seed", "3", "--out", path])
    assert path.is_file()
    assert "wrote" in res.stdout
    return path


def check_outputs(out: Path, fmt: str, governor: str, seconds: float) -> pd.DataFrame:
    table = out / f"timeline_{governor}.{fmt}"
    png = out / f"timeline_{governor}.png"
    assert table.is_file() and png.is_file() and (out / "metrics.json").is_file()
    df = pd.read_parquet(table) if fmt == "parquet" else pd.read_csv(table)
    assert len(df) == round(seconds / TICK_S)
    assert {"t_s", "freq_big_mhz", "power_total_mw", "temp_die_c"} <= set(df.columns)
    assert df["t_s"].iloc[0] == 0.0
    assert df["t_s"].diff().iloc[1:].round(9).eq(TICK_S).all()
    data = png.read_bytes()
    assert len(data) > len(PNG_MAGIC) and data.startswith(PNG_MAGIC)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind
    return df


def test_replay_json_and_files(replay_parquet: tuple[Path, dict]) -> None:
    out, obj = replay_parquet
    for k in METRIC_KEYS:
        assert k in obj, k
        assert isinstance(obj[k], float | int), (k, obj[k])
    assert obj["device"] == "pixel3" and obj["app"] == "weibo" and obj["governor"] == "schedutil"
    assert obj["energy_j"] > 0 and obj["avg_power_w"] > 0
    assert 0.0 <= obj["qoe"] <= 1.0
    df = check_outputs(out, "parquet", "schedutil", 3.0)
    assert df["power_total_mw"].gt(0).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == "pixel3" and metrics["seed"] == 1
    assert [r["governor"] for r in metrics["runs"]] == ["schedutil"]
    assert metrics["runs"][0]["energy_j"] == pytest.approx(obj["energy_j"])
    # the energy in the JSON is the integral of the timeline's power
    assert df["power_total_mw"].sum() * TICK_S / 1000.0 == pytest.approx(obj["energy_j"], rel=1e-9)


def test_replay_csv(tmp_path: Path, replay_parquet: tuple[Path, dict]) -> None:
    out = tmp_path / "csv"
    obj = one_json(ok([*BASE, "--out", out, "--json", "--format", "csv"]))
    assert obj == replay_parquet[1]
    check_outputs(out, "csv", "schedutil", 3.0)
    assert not (out / "timeline_schedutil.parquet").exists()


def test_replay_deterministic(tmp_path: Path, replay_parquet: tuple[Path, dict]) -> None:
    first_out, first = replay_parquet
    again = ok([*BASE, "--out", tmp_path / "again", "--json"])
    assert json.loads(again.stdout) == first
    pd.testing.assert_frame_equal(
        pd.read_parquet(first_out / "timeline_schedutil.parquet"),
        pd.read_parquet(tmp_path / "again" / "timeline_schedutil.parquet"),
    )
    other = [*BASE[:-1], "2"]  # --seed 2
    assert other[-2] == "--seed"
    obj2 = one_json(ok([*other, "--out", tmp_path / "seed2", "--json"]))
    assert obj2["energy_j"] != first["energy_j"]


def test_replay_all_governors(tmp_path: Path) -> None:
    out = tmp_path / "all"
    res = ok(["replay", "--device", "pixel6", "--app", "tiktok", "--governor", "all", "--seconds", "2", "--out", out])
    names = demo_governors()
    assert len(names) >= 6
    for g in names:
        assert re.search(rf"\b{re.escape(g)}\b", res.stdout), g
        check_outputs(out, "parquet", g, 2.0)
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert [r["governor"] for r in runs] == names
    sched = next(r for r in runs if r["governor"] == "schedutil")
    stock = next(r for r in runs if r["governor"] == "stock")
    if sched["ppr"] > 0:
        assert sched["ppr_norm_schedutil"] == pytest.approx(1.0)
        assert stock["ppr_norm"] == pytest.approx(1.0)
    assert "Traceback" not in res.stdout + res.stderr


def test_replay_all_governors_json(tmp_path: Path) -> None:
    # several governors with --json: still one JSON document, with one entry per governor
    obj = one_json(ok([*BASE[:5], "--governor", "schedutil,powersave", "--seconds", "2", "--out", tmp_path, "--json"]))
    assert [r["governor"] for r in obj["runs"]] == ["schedutil", "powersave"]


def test_replay_trace(tmp_path: Path, trace_csv: Path) -> None:
    out = tmp_path / "tr"
    res = ok(["replay", "--device", "pixel6", "--trace", trace_csv, "--seconds", "5", "--out", out, "--json"])
    obj = one_json(res)
    assert obj["app"] == "tiktok"  # from the trace's metadata
    for k in METRIC_KEYS:
        assert k in obj
    assert obj["frames_req"] > 0
    check_outputs(out, "parquet", "schedutil", 5.0)


def test_replay_default_app_is_tiktok(tmp_path: Path) -> None:
    # --help documents "default tiktok" for --app
    obj = one_json(ok(["replay", "--device", "pixel3", "--seconds", "2", "--out", tmp_path / "d", "--json"]))
    assert obj["app"] == "tiktok"


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        (["--device", "pixel99"], ["device", "pixel99", *sorted(DEVICES)]),
        (["--app", "notanapp"], ["app", "notanapp", "tiktok"]),
        (["--governor", "turbo"], ["governor", "turbo", "schedutil"]),
        (["--governor", "schedutil,turbo"], ["governor", "turbo"]),
        (["--seconds", "0"], ["--seconds"]),
        (["--seconds", "99999"], ["--seconds"]),
        (["--seconds", "-3"], ["--seconds"]),
        (["--seed", "-1"], ["--seed"]),
        (["--format", "xml"], ["--format", "xml"]),
    ],
    ids=["device", "app", "governor", "gov-in-list", "seconds-0", "seconds-99999", "seconds-neg", "seed", "format"],
)
def test_replay_bad_option(tmp_path: Path, override: list[str], fragments: list[str]) -> None:
    args = [*BASE, "--seconds", "2"]  # later options win
    out = tmp_path / "out"
    expect_error([*args, *override, "--out", out, "--json"], out, *fragments)


def test_replay_bad_device_profile(tmp_path: Path) -> None:
    text = (data_dir("devices") / "pixel6.yaml").read_text()
    m = re.search(r"freqs_khz: \[(\d+), (\d+), (\d+)", text)
    assert m is not None
    broken = text[: m.start()] + f"freqs_khz: [{m[1]}, {m[3]}, {m[2]}" + text[m.end() :]
    prof = tmp_path / "pixel6_broken.yaml"
    prof.write_text(broken)
    out = tmp_path / "out"
    expect_error(["replay", "--device", prof, "--app", "weibo", "--seconds", "2", "--out", out], out, "freqs_khz")


def test_replay_nan_trace(tmp_path: Path, trace_csv: Path) -> None:
    lines = trace_csv.read_text().splitlines()
    header = lines[1].split(",")
    col = header.index("ui_mc")
    row = lines[5].split(",")
    row[col] = "nan"
    lines[5] = ",".join(row)
    bad = tmp_path / "nan.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    expect_error(["replay", "--trace", bad, "--seconds", "2", "--out", out], out, "ui_mc", "nan.csv")


def test_replay_missing_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "does_not_exist.csv"
    expect_error(["replay", "--trace", missing, "--seconds", "2", "--out", out], out, "does_not_exist.csv")


def test_replay_out_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("keep me")
    expect_error([*BASE, "--out", out], None, "--out")
    assert out.read_text() == "keep me"


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--config", "quickstart"],
        ["meta-train", "--config", "quickstart"],
        ["evaluate", "--model", "default", "--tasks", "pixel6:tiktok"],
        ["adapt", "--device", "pixel6", "--app", "tiktok", "--budget-minutes", "0.1"],
        ["guard", "--model", "default"],
        ["export", "--model", "default", "--device", "pixel6"],
        ["deploy", "--governor", "gov", "--serial", "127.0.0.1:1"],
        ["build-runner"],
    ],
    ids=lambda a: a[0],
)
@pytest.mark.parametrize("under", [False, True], ids=["file", "under-a-file"])
def test_out_dir_that_is_a_file_is_refused_before_any_work(tmp_path: Path, args: list[str], under: bool) -> None:
    """Old code: export, evaluate, adapt, train and meta-train ended in a FileExistsError/NotADirectoryError
    traceback (evaluate and adapt after their work)."""
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    out = blocker / "sub" if under else blocker
    line = expect_error([*args, "--out", out], None, "--out", str(out))
    assert ("lies under" in line) == under
    assert blocker.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("value", ["0", "70000"])
def test_bench_bad_envs(value: str) -> None:
    expect_error(["bench", "--envs", value, "--steps", "1", "--repeats", "1", "--json"], None, "--envs")


def test_bench_bad_steps() -> None:
    expect_error(["bench", "--envs", "4", "--steps", "0", "--repeats", "1"], None, "--steps")


# ---------------------------------------------------------------------------------------------- bench
@pytest.mark.filterwarnings("ignore:The `render_mode` attribute is not defined")
def test_bench_smoke() -> None:
    from metadvfs import bench
    from metadvfs.environment.reference import reference_ppr
    from metadvfs.tasks.task import make_task

    # Warm the schedutil reference-PPR cache for all 30 catalog tasks in one batched replay; otherwise the
    # DummyVecEnv construction computes them one task at a time. The benchmark itself runs unchanged.
    reference_ppr([make_task(d, a) for d, a in bench.catalog_pairs()], decision_ticks=10)
    res = ok(["bench", "--envs", "8", "--steps", "3", "--repeats", "1", "--json"])
    obj = one_json(res)
    rates = {k: v for k, v in obj.items() if "steps_per_s" in k}
    assert len(rates) >= 3, obj
    assert all(isinstance(v, float | int) and v > 0 for v in rates.values()), rates
    assert obj["n_envs"] == 8


def test_bench_policy_latency() -> None:
    obj = one_json(ok(["bench", "--policy", "default", "--repeats", "1", "--json"]))
    assert obj["predict_ms"] > 0 and obj["policy_actions_ms"] > 0 and obj["batch"] == 4
    assert obj["policy_actions_vs_predict"] == pytest.approx(obj["policy_actions_ms"] / obj["predict_ms"])


def test_bench_policy_unknown_model() -> None:
    expect_error(["bench", "--policy", "no_such_model", "--repeats", "1"], None, "no_such_model")


def test_bench_ltc_solvers() -> None:
    obj = one_json(ok(["bench", "--ltc", "64", "--repeats", "1", "--json"]))
    assert obj["batch"] == 64 and obj["window"] == 8
    assert len(obj["raw"]["dense"]) == len(obj["raw"]["sparse"]) == 1
    assert obj["speedup"] == pytest.approx(obj["dense_ms"] / obj["sparse_ms"])


@pytest.mark.parametrize("value", ["0", "70000"])
def test_bench_ltc_bad_batch(value: str) -> None:
    expect_error(["bench", "--ltc", value, "--repeats", "1"], None, "--ltc")


def test_out_dir_that_is_a_dangling_symlink_is_refused_before_any_work(tmp_path: Path) -> None:
    """Old code: evaluate ran the whole evaluation, then failed with 'File exists'."""
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    line = expect_error(["evaluate", "--model", "default", "--tasks", "pixel6:tiktok", "--out", link], None, "--out")
    assert "symbolic link to nothing" in line and not (tmp_path / "nowhere").exists()
