from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metadvfs.cli import app
from metadvfs.learn.tasks import all_task_names

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_tasks_json() -> None:
    r = _run("tasks", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert len(doc["tasks"]) == len(all_task_names())
    assert {"name", "device", "app", "group", "metadata"} <= set(doc["tasks"][0])
    assert len(doc["tasks"][0]["metadata"]) == len(doc["features"])


def test_evaluate_json_and_reports(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "ev"
    r = _run(
        "evaluate",
        "--model",
        str(tiny_model),
        "--tasks",
        "pixel3:tiktok",
        "--seeds",
        "2",
        "--seconds",
        "3",
        "--baselines",
        "schedutil,oracle",
        "--out",
        str(out),
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    methods = {row["method"] for row in doc["tasks"]}
    assert methods == {"metadvfs", "stock", "schedutil", "oracle"}  # PPR is normalised to stock
    assert next(x for x in doc["tasks"] if x["method"] == "stock")["ppr_norm"] == pytest.approx(1.0)
    row = next(x for x in doc["tasks"] if x["method"] == "schedutil")
    assert row["ppr_norm_schedutil"] == pytest.approx(1.0) and row["device"] == "pixel3" and row["app"] == "tiktok"
    assert {"qoe", "jank_pct", "energy_j", "max_temp_c", "ppr_norm_std"} <= set(row)
    for x in doc["tasks"]:  # where the power goes; Pixel 3 has no mid cluster, so no mid keys (JSON has no NaN)
        assert x["freq_little_mhz"] >= 300 and x["power_gpu_mw"] > 0 and "freq_mid_mhz" not in x
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "Where the power goes" in md and "| pixel3:tiktok | oracle | " in md and " | - | " in md
    assert doc["summary"]["methods"]["oracle"]["ratio_to_oracle"] == pytest.approx(1.0)
    for f in (
        "results.csv",
        "results.md",
        "summary.json",
        "ppr_norm_per_task.png",
        "power_vs_qoe.png",
        "power_by_domain.png",
    ):
        assert (out / f).is_file()
    stored = json.loads((out / "summary.json").read_text())  # provenance for experiments/report.py
    assert stored["command"].startswith("metadvfs evaluate --model=") and "--seeds=2 --seconds=3" in stored["command"]
    assert stored["wall_s"] > 0 and stored["started_utc"].endswith("Z") and "git_commit" in stored
    assert stored["methods"] == doc["summary"]["methods"]


def test_evaluate_reference_schedutil_gives_the_older_figures(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "ev_su"
    r = _run(
        "evaluate",
        "--model",
        str(tiny_model),
        "--tasks",
        "pixel5:bilibili",
        "--seeds",
        "1",
        "--seconds",
        "5",
        "--baselines",
        "stock",
        "--reference",
        "schedutil",
        "--out",
        str(out),
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = {row["method"]: row for row in doc["tasks"]}
    assert set(rows) == {"metadvfs", "stock", "schedutil"}
    assert rows["schedutil"]["ppr_norm"] == pytest.approx(1.0) and doc["summary"]["reference"] == "schedutil"
    assert "PPR normalised to schedutil" in (out / "results.md").read_text(encoding="utf-8")
    bad = _run("evaluate", "--model", str(tiny_model), "--reference", "ondemand")
    assert bad.exit_code == 2 and "--reference" in bad.stderr


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["train", "--config", "nope.yaml"], "config file not found"),
        (["evaluate", "--model", "/nonexistent/model"], "no such checkpoint"),
        (["evaluate", "--baselines", "magic"], ""),  # model 'default' may be absent; either error is one line
        (["tasks", "--tasks", "pixel6"], "DEVICE:APP"),
        (["tasks", "--groups", "0"], "--groups"),
    ],
)
def test_bad_input_is_one_line(args: list[str], msg: str) -> None:
    r = _run(*args)
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in r.output
    assert msg in err


def test_evaluate_unknown_baseline_and_bad_seeds(tiny_model: Path) -> None:
    r = _run("evaluate", "--model", str(tiny_model), "--baselines", "magic")
    assert r.exit_code == 2 and "unknown 'magic'" in r.stderr
    r = _run("evaluate", "--model", str(tiny_model), "--seeds", "0")
    assert r.exit_code == 2 and "--seeds" in r.stderr


def test_evaluate_refuses_episodes_without_a_requested_frame(tiny_model: Path, tmp_path: Path) -> None:
    """weibo's trace opens idle: 5 s request no frame, so PPR (frames per joule) is undefined, not nan."""
    out = tmp_path / "ev"
    r = _run("evaluate", "--model", str(tiny_model), "--tasks", "pixel6:weibo", "--seeds", "1", "--seconds", "5",
             "--out", str(out))  # fmt: skip
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()[-1]  # after the tiny model's extrapolation note
    assert err.startswith("error: --seconds 5: pixel6:weibo (seed ") and "requests no frame" in err
    assert "Traceback" not in r.output and not out.exists()


def test_frames_check_names_the_first_idle_episode_and_counts_the_rest() -> None:
    from metadvfs.errors import MetaDVFSError
    from metadvfs.learn.evaluate import check_frames_requested

    ok = {"frames_req": 3.0}
    check_frames_requested([ok, ok], ["a:x"], [1, 2], 10.0)
    with pytest.raises(MetaDVFSError, match=r"b:y \(seed 2\) and 1 more episode\(s\) requests no frame in 4 s"):
        check_frames_requested(
            [ok, ok, ok, {"frames_req": 0.0}, {"frames_req": 0.0}, ok], ["a:x", "b:y", "c:z"], [1, 2], 4.0
        )


def test_evaluate_on_device_with_unknown_soc_family(tiny_model: Path, tmp_path: Path) -> None:
    import yaml

    from metadvfs.paths import data_dir

    prof = yaml.safe_load((data_dir("devices") / "pixel6.yaml").read_text())
    prof["metadata"]["soc_family"] = "exynos"
    p = tmp_path / "phone.yaml"
    p.write_text(yaml.safe_dump(prof))
    r = _run("evaluate", "--model", str(tiny_model), "--tasks", f"{p}:tiktok", "--seconds", "2", "--seeds", "1")
    assert r.exit_code == 0, r.stderr  # an unknown family is encoded as "unknown"; the numbers carry the task
    del prof["thermal"]["skin_throttle_c"]
    p.write_text(yaml.safe_dump(prof))
    r = _run("evaluate", "--model", str(tiny_model), "--tasks", f"{p}:tiktok", "--seconds", "2", "--seeds", "1")
    assert r.exit_code == 2 and "skin_throttle_c" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_train_cli_writes_checkpoint(tmp_path: Path, write_cfg) -> None:
    cfg = write_cfg(tmp_path / "c.yaml", total_steps=256, checkpoint_every_steps=0)
    r = _run("train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--seed", "3")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "model.json").is_file()
    r = _run("train", "--config", str(cfg), "--out", str(tmp_path / "run"))
    assert r.exit_code == 2 and "not empty" in r.stderr
    shutil.rmtree(tmp_path / "run")


def _reseeded(src: Path, dest: Path, seed: int, **extra: object) -> Path:
    """A copy of a checkpoint whose config says it was trained with ``seed`` (plus other config changes)."""
    import yaml

    shutil.copytree(src, dest)
    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    cfg.update(seed=seed, **extra)
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg))
    return dest


def test_evaluate_several_training_seeds_reports_mean_and_std_over_them(tiny_model: Path, tmp_path: Path) -> None:
    b = _reseeded(tiny_model, tmp_path / "s7", 7)
    r = _run("evaluate", "--model", f"{tiny_model},{b}", "--tasks", "pixel3:tiktok", "--seeds", "1", "--seconds", "3",
             "--baselines", "schedutil", "--out", str(tmp_path / "ev"), "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {row["method"] for row in doc["tasks"]} == {"metadvfs", "stock", "schedutil"}
    row = next(x for x in doc["tasks"] if x["method"] == "metadvfs")
    assert row["training_seeds"] == 2
    assert doc["summary"]["methods"]["metadvfs"]["training_seeds"] == 2
    assert "over 2 training seeds" in (tmp_path / "ev" / "results.md").read_text()


def test_evaluate_several_models_must_be_one_config_with_distinct_seeds(tiny_model: Path, tmp_path: Path) -> None:
    import yaml

    seed = yaml.safe_load((tiny_model / "config.yaml").read_text())["seed"]
    same = _reseeded(tiny_model, tmp_path / "same", seed)
    r = _run("evaluate", "--model", f"{tiny_model},{same}", "--tasks", "pixel3:tiktok", "--seconds", "2")
    assert r.exit_code == 2 and "same seed" in r.output and "Traceback" not in r.output
    other = _reseeded(tiny_model, tmp_path / "other", seed + 1, total_steps=12345)
    r = _run("evaluate", "--model", f"{tiny_model},{other}", "--tasks", "pixel3:tiktok", "--seconds", "2")
    assert r.exit_code == 2 and "different config" in r.output


def test_eval_result_groups_aggregate_over_training_seeds() -> None:
    from metadvfs.learn.evaluate import EvalResult

    def ep(ppr: float, qoe: float) -> dict[str, float]:
        return {"ppr": ppr, "qoe": qoe}

    raw = {
        "m@seed0": [ep(2.0, 0.9), ep(4.0, 0.7)],  # mean over eval seeds: ppr 3.0, qoe 0.8
        "m@seed1": [ep(5.0, 1.0), ep(5.0, 1.0)],  # 5.0, 1.0
        "stock": [ep(1.0, 0.5), ep(1.0, 0.5)],
        "schedutil": [ep(1.0, 0.5), ep(1.0, 0.5)],
    }
    res = EvalResult(["d:a"], [1, 2], 5.0, raw, groups={"m": ["m@seed0", "m@seed1"]})
    assert res.methods == ["m", "stock", "schedutil"]
    row = next(r for r in res.rows() if r["method"] == "m")
    assert row["ppr_norm"] == pytest.approx(4.0) and row["ppr_norm_std"] == pytest.approx(1.0)
    assert row["qoe"] == pytest.approx(0.9) and row["qoe_std"] == pytest.approx(0.1)
    assert res.summary()["methods"]["m"]["training_seeds"] == 2
    s = res.summary()["methods"]
    assert s["m"]["std_ppr_norm"] == pytest.approx(1.0)  # over the two training seeds' means 3.0 and 5.0
    assert s["stock"]["std_qoe"] == pytest.approx(0.0) and "training_seeds" not in s["stock"]


def test_domain_means_average_the_training_seeds_and_skip_absent_domains() -> None:
    from metadvfs.learn.evaluate import EvalResult, to_markdown

    def ep(ppr: float, f_gpu: float) -> dict[str, float]:
        return {"ppr": ppr, "qoe": 1.0, "freq_gpu_mhz": f_gpu, "power_gpu_mw": f_gpu / 2}

    raw = {
        "m@seed0": [ep(1.0, 100.0), ep(1.0, 300.0)],  # mean over evaluation seeds 200 MHz
        "m@seed1": [ep(1.0, 400.0), ep(1.0, 400.0)],  # 400 MHz
        "stock": [{"ppr": 1.0, "qoe": 1.0}] * 2,  # recorded without per-domain means
        "schedutil": [{"ppr": 1.0, "qoe": 1.0}] * 2,
    }
    res = EvalResult(["d:a"], [1, 2], 5.0, raw, groups={"m": ["m@seed0", "m@seed1"]})
    by = {r["method"]: r for r in res.rows()}
    assert by["m"]["freq_gpu_mhz"] == pytest.approx(300.0) and by["m"]["power_gpu_mw"] == pytest.approx(150.0)
    assert "freq_little_mhz" not in by["m"] and "freq_gpu_mhz" not in by["stock"]
    md = to_markdown(res)
    assert "| d:a | m | - | - | - | 300 · 150 |" in md and "| d:a | stock | - | - | - | - |" in md
    del raw["m@seed0"], raw["m@seed1"]
    assert "Where the power goes" not in to_markdown(EvalResult(["d:a"], [1, 2], 5.0, raw))


def test_summary_std_is_over_evaluation_seeds_of_the_task_mean() -> None:
    from metadvfs.learn.evaluate import EvalResult

    def ep(ppr: float, qoe: float) -> dict[str, float]:
        return {"ppr": ppr, "qoe": qoe}

    # two tasks x two seeds (task-major); per seed the mean over tasks of m's QoE is 0.6 and 0.8
    raw = {
        "m": [ep(1.0, 0.4), ep(1.0, 0.6), ep(1.0, 0.8), ep(1.0, 1.0)],
        "stock": [ep(1.0, 0.5)] * 4,
        "schedutil": [ep(1.0, 0.5)] * 4,
    }
    s = EvalResult(["d:a", "d:b"], [1, 2], 5.0, raw).summary()["methods"]["m"]
    assert s["mean_qoe"] == pytest.approx(0.7) and s["std_qoe"] == pytest.approx(0.1)


def test_evaluate_of_a_shipped_model_writes_under_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from metadvfs.paths import PACKAGE_DIR, is_shipped_model

    shipped = PACKAGE_DIR / "models" / "default"
    if not (shipped / "model.json").is_file():
        pytest.skip("the shipped default model is absent")
    assert is_shipped_model(shipped) and not is_shipped_model(tmp_path)
    before = sorted(p.name for p in shipped.iterdir())
    monkeypatch.chdir(tmp_path)
    r = _run("evaluate", "--model", "default", "--tasks", "pixel3:tiktok", "--baselines", "stock", "--seeds", "1",
             "--seconds", "2")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "default-eval" / "summary.json").is_file()
    assert sorted(p.name for p in shipped.iterdir()) == before


def test_baselines_of_a_shipped_model_live_under_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from metadvfs.learn.baseline_models import baseline_root
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.paths import PACKAGE_DIR

    if not (PACKAGE_DIR / "models" / "default" / "model.json").is_file():
        pytest.skip("the shipped default model is absent")
    monkeypatch.chdir(tmp_path)
    m = load_checkpoint("default")
    assert baseline_root(m) == Path("runs") / "baselines" / str(m.doc["name"])
