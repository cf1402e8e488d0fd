"""``experiments/adaptation.py --pool``: pooled tables from stored per-fold results, no model needed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import adaptation as A
from _adaptation_report import _first_met_stats, first_met, met_then_lost, step_choice

from metadvfs.meta.measure import minutes_to

ROOT = Path(__file__).resolve().parents[2]
STORED = ROOT / "experiments" / "results" / "adaptation"
PHONE = STORED / "full-margin-gpubound25-qoefloor2-device-pixel6"
APP = STORED / "full-margin-gpubound25-qoefloor2-app-taobao"


def _need_stored() -> None:
    if not ((PHONE / "results.json").is_file() and (APP / "results.json").is_file()):
        pytest.skip("the stored adaptation results are absent")


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["adaptation.py", *args])
    A.main()


def _error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        _main(monkeypatch, *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: --pool")
    return err


def _load(d: Path) -> dict[str, Any]:
    return json.loads((d / "results.json").read_text())


def test_a_pool_reproduces_each_folds_own_aggregate(tmp_path: Path, monkeypatch, capsys) -> None:
    _need_stored()
    out = tmp_path / "pool"
    _main(monkeypatch, "--pool", f"{PHONE},{APP}", "--out", str(out))
    pool, phone, app = _load(out), _load(PHONE), _load(APP)
    # the per-fold files' aggregates were computed by the runs that adapted them (before the met-then-lost count)
    for scope, fold in (("leave-one-device-out", phone), ("leave-one-app-out", app)):
        got = pool["aggregate"][scope]
        for m in A.METHODS:
            lost = [met_then_lost(r, m) for r in fold["runs"]]
            assert got[m].pop("vs_reference_met_then_lost") == sum(map(bool, lost)) and None not in lost
        # the first-met ceiling (added after those files) is computed from the fold's own curves
        assert got.pop("first_met") == _first_met_stats(fold["runs"], list(A.METHODS), pool["budget_minutes"])
        assert got == {k: {kk: vv for kk, vv in v.items() if kk != "vs_reference_met_then_lost"}
                       if isinstance(v, dict) else v for k, v in fold["aggregate"]["all"].items()}  # fmt: skip
    assert pool["aggregate"]["all"]["n_runs"] == len(phone["runs"]) + len(app["runs"])
    assert pool["settings"]["folds"] == [["device", "pixel6"], ["app", "taobao"]]
    assert len(pool["sources"]) == 2 and not Path(pool["sources"][0]).is_absolute()
    # runs keep every summary but not the curve points (the sources keep those)
    r = pool["runs"][0]["methods"]["finetune"]
    assert "curve" not in r and r["minutes_to_95"] == phone["runs"][0]["methods"]["finetune"]["minutes_to_95"]
    assert (out / "adaptation_curves.png").stat().st_size > 0
    assert "Pooled from the stored results of 2 runs" in (out / "results.md").read_text()
    # a pool is not a source: its curves are gone
    capsys.readouterr()
    err = _error(monkeypatch, capsys, "--pool", f"{out},{PHONE}", "--out", str(tmp_path / "x"))
    assert "a pooled result without curves" in err and not (tmp_path / "x").exists()


def test_other_settings_or_a_fold_twice_are_one_line_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    _need_stored()
    other = tmp_path / "other"
    other.mkdir()
    doc = _load(APP)
    doc["settings"]["budget_minutes"] = 10.0
    (other / "results.json").write_text(json.dumps(doc))
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{other}", "--out", str(tmp_path / "x"))
    assert "other settings" in err and "settings.budget_minutes: 20.0 -> 10.0" in err
    twice = tmp_path / "twice"
    shutil.copytree(PHONE, twice)
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{twice}", "--out", str(tmp_path / "x"))
    assert "fold device:pixel6 is in both" in err
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{tmp_path / 'none'}", "--out", str(tmp_path / "x"))
    assert "cannot read" in err
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{APP}", "--out", str(tmp_path / "x"), "--ray", "local:2")
    assert "drop --ray" in err
    # the seeds come from the files: even the default count is refused when given
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{APP}", "--out", str(tmp_path / "x"), "--train-seeds", "1")
    assert "drop --train-seeds" in err
    assert not (tmp_path / "x").exists()


def test_met_then_lost_counts_runs_that_met_the_reference_by_the_target_and_fell_back() -> None:
    ref = {"ppr_norm": 1.0, "qoe": 0.9}

    def run(curve: list[list[float]], t95: float | None) -> dict[str, Any]:
        return {"reference": ref, "methods": {"m": {"curve": curve, "vs_reference": {"minutes_to_95": t95}}}}

    # met at minute 1 (0.95 and 0.89 are both on the line), lost at 2, back for good at 5: lost
    assert met_then_lost(run([[0, 0.9, 0.9], [1, 0.95, 0.89], [2, 0.9, 0.9], [5, 1.0, 0.9]], 5.0), "m") is True
    # met for good within the target: not lost; never met by 3.5: not lost either
    assert met_then_lost(run([[0, 0.9, 0.9], [1, 0.96, 0.9], [5, 1.0, 0.9]], 1.0), "m") is False
    assert met_then_lost(run([[0, 0.9, 0.9], [3, 0.99, 0.87], [4, 1.0, 0.9]], 4.0), "m") is False
    # met once at minute 1 and never again (no minutes to 95 %): lost
    assert met_then_lost(run([[0, 0.9, 0.9], [1, 0.99, 0.9], [5, 0.9, 0.9]], None), "m") is True
    # a pooled run without its curve, or a run without a reference: unknown
    assert met_then_lost({"reference": ref, "methods": {"m": {"vs_reference": {"minutes_to_95": None}}}}, "m") is None
    assert met_then_lost({"reference": None, "methods": {"m": {"curve": [], "vs_reference": {}}}}, "m") is None


def test_first_met_is_the_first_point_at_the_reference_and_its_ceiling_compares_like_with_like() -> None:
    ref = {"ppr_norm": 1.0, "qoe": 0.9}

    def run(curves: dict[str, list[list[float]]]) -> dict[str, Any]:
        ms = {m: {"curve": c, "minutes_to_95": minutes_to(c, 0.95, 0.89)} for m, c in curves.items()}
        return {"reference": ref, "methods": ms}

    a = run({"m": [[0, 0.9, 0.9], [1, 0.95, 0.89], [2, 0.9, 0.9], [5, 1.0, 0.9]],
             "scratch": [[0, 0.5, 0.5], [2, 0.96, 0.9], [3, 0.9, 0.9], [4, 0.97, 0.95]]})  # fmt: skip
    b = run({"m": [[0, 0.9, 0.9], [5, 0.9, 0.9]], "scratch": [[0, 0.5, 0.5], [5, 0.9, 0.9]]})
    assert first_met(a, "m") == 1.0 and first_met(a, "scratch") == 2.0 and first_met(b, "m") is None
    st = _first_met_stats([a, b], ["m", "scratch"], budget=6.0)
    assert st["m"]["minutes_mean"] == pytest.approx((1 + 6) / 2) and st["m"]["within_target"] == 1
    assert st["scratch"]["minutes_mean"] == pytest.approx((2 + 6) / 2)
    assert st["m"]["reduction_pct_vs_scratch_first_met"] == pytest.approx(100 * (1 - 3.5 / 4.0))
    assert st["m"]["reduction_pct_vs_scratch_minutes_to_95"] == pytest.approx(100 * (1 - 3.5 / 5.0))  # (4 + 6) / 2
    # a pooled run without curves: nothing to say
    del b["methods"]["m"]["curve"]
    assert first_met(b, "m") is None and _first_met_stats([a, b], ["m", "scratch"], 6.0) == {}


def test_step_choice_bounds_any_per_run_pick_and_applies_the_rules_before_adapting() -> None:
    def run(full: float | None, slow: float | None, zero: tuple[float, float], outside: bool) -> dict[str, Any]:
        def m(v: float | None) -> dict[str, Any]:
            return {"vs_reference": {"minutes_to_95": v}, "zero_shot": {"ppr_norm": zero[0], "qoe": zero[1]}}

        out = [{"field": "x"}] if outside else []
        return {"methods": {"finetune": m(full), "finetune-slow": m(slow), "scratch": m(10.0)},
                "stock": {"ppr_norm": 1.0, "qoe": 0.9}, "extrapolated": out}  # fmt: skip

    runs = [run(4.0, 0.0, (1.01, 0.9), True), run(1.0, None, (0.97, 0.95), False), run(2.0, 2.0, (1.0, 0.895), True)]
    sc = step_choice(runs, budget=20.0)
    best = sc["best of the two per run"]
    assert best["small_step_runs"] == 1 and best["minutes_mean"] == pytest.approx((0 + 1 + 2) / 3)
    assert best["within_target"] == 3 and best["reduction_pct_vs_scratch"] == pytest.approx(90.0)
    inside = sc["small step inside the training range (no metadata field outside)"]
    assert inside["small_step_runs"] == 1 and inside["minutes_mean"] == pytest.approx((4 + 20 + 2) / 3)
    assert inside["within_target"] == 1  # the run that never got there counts at the budget and not within 3.5
    at_stock = sc["small step where zero-shot already meets stock"]  # PPR >= stock's, QoE >= stock's - 0.01
    assert at_stock["small_step_runs"] == 2 and at_stock["minutes_mean"] == pytest.approx((0 + 1 + 2) / 3)
    runs[2]["methods"]["finetune"]["zero_shot"]["qoe"] = 0.889  # under stock's QoE - 0.01: the full step
    assert step_choice(runs, 20.0)["small step where zero-shot already meets stock"]["small_step_runs"] == 1
    del runs[0]["methods"]["finetune-slow"]
    assert step_choice(runs, 20.0) == {} and step_choice(runs[::-1], 20.0) == {}  # whichever run lacks it
