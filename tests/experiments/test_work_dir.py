"""The experiments' work directory: reused with the same settings, never wiped silently with other ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import _common as C

ROOT = Path(__file__).resolve().parents[2]


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    C.prepare_work(work, {"budget_minutes": 20.0, "meta": {"iterations": 150}})
    (work / "model.json").write_text("{}")  # stands for hours of trained models
    return work


def test_same_settings_reuse_the_work_directory(tmp_path: Path) -> None:
    work = _work(tmp_path)
    C.prepare_work(work, {"budget_minutes": 20.0, "meta": {"iterations": 150}})
    assert (work / "model.json").is_file()


def test_other_settings_are_a_one_line_error_naming_them_and_keep_the_models(tmp_path: Path, capsys) -> None:
    work = _work(tmp_path)
    with pytest.raises(SystemExit) as exc:
        C.prepare_work(work, {"budget_minutes": 10.0, "meta": {"iterations": 150}})
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "budget_minutes: 20.0 -> 10.0" in err and "--fresh" in err
    assert (work / "model.json").is_file()
    assert json.loads((work / "spec.json").read_text())["budget_minutes"] == 20.0


def test_fresh_starts_afresh(tmp_path: Path) -> None:
    work = _work(tmp_path)
    C.prepare_work(work, {"budget_minutes": 10.0, "meta": {"iterations": 150}}, fresh=True)
    assert not (work / "model.json").exists()
    assert json.loads((work / "spec.json").read_text())["budget_minutes"] == 10.0


def test_spec_difference_names_nested_and_missing_keys_and_counts_the_rest() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": 5, "f": 6}
    new = {"a": 1, "b": {"c": 4, "d": 3}, "e": 7, "g": 8}
    text = C.spec_difference(old, new)
    assert text == "b.c: 2 -> 4; e: 5 -> 7; f: 6 -> (unset), and 1 more"


def test_every_experiment_script_offers_fresh() -> None:
    for script in ("adaptation", "zero_shot", "backbone", "negative_transfer", "action_modes"):
        r = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), "--help"],
                           capture_output=True, text=True, check=True)  # fmt: skip
        assert "--fresh" in r.stdout, script


def test_results_name_paths_under_the_repository_relative_to_it(tmp_path: Path) -> None:
    inside = str(C.ROOT / "runs" / "experiments" / "x" / "shared")
    C.write_report(tmp_path, ["# t"], {"runs": [{"model": inside, "other": "/elsewhere/m", "n": 3}]}, 1.0)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["runs"] == [{"model": "runs/experiments/x/shared", "other": "/elsewhere/m", "n": 3}]


def test_the_adaptation_and_zero_shot_experiments_name_their_directories_in_one_place() -> None:
    import adaptation as A

    s = {"folds": [["device", "pixel3"], ["app", "weibo"], ["app", "kwai"]]}
    suffix = A.select_folds(s, "app:weibo,device:pixel3")
    assert suffix == A.fold_suffix([["app", "weibo"], ["device", "pixel3"]]) == "-app-weibo+device-pixel3"
    assert A.fold_suffix(None) == A.fold_suffix([]) == ""
    run = "full-margin-gpubound25-qoefloor2"
    assert A.results_dir(run, A.fold_suffix([["app", "weibo"]])) == (
        ROOT / "experiments" / "results" / "adaptation" / f"{run}-app-weibo"
    )
    assert A.results_dir(run) == ROOT / "experiments" / "results" / "adaptation" / run
    assert A.work_dir(run) == ROOT / "runs" / "experiments" / f"adaptation2-{run}"
