"""Pure helpers of the experiment scripts: random grouping, adaptation statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import adaptation
import negative_transfer


def test_random_partition_keeps_sizes_and_differs() -> None:
    names = [f"d{i}:a" for i in range(7)]
    labels = (0, 0, 0, 1, 1, 2, 2)
    groups = negative_transfer.random_partition(names, labels, seed=3)
    assert sorted(len(g) for g in groups) == [2, 2, 3]
    assert sorted(t for g in groups for t in g) == sorted(names)
    meta = {frozenset(names[:3]), frozenset(names[3:5]), frozenset(names[5:])}
    assert {frozenset(g) for g in groups} != meta
    assert groups == negative_transfer.random_partition(names, labels, seed=3)  # seeded


def _report(kind: str, zero: float, mins: dict[str, float | None]) -> dict:
    def m(v: float | None) -> dict:
        q = {"ppr_norm": zero, "qoe": 1.0}
        return {
            "zero_shot": q,
            "final": q,
            "best": q,
            "fallback_share": 0.0,
            "vs_reference": {"minutes_to_95": v},
            "vs_oracle": {"minutes_to_95": None},
            "minutes_to_95": v,
        }

    return {
        "kind": kind,
        "methods": {k: m(v) for k, v in mins.items()},
        "oracle": {"ppr_norm": 1.1, "qoe": 1.0},
        "stock": {"ppr_norm": 1.0, "qoe": 0.995},
        "reference": {"ppr_norm": 1.05, "qoe": 1.0},
    }


def test_aggregate_censors_at_budget_and_compares_with_scratch() -> None:
    runs = [
        _report("device", 1.0, {"context": 1.0, "scratch": None}),
        _report("app", 0.9, {"context": None, "scratch": 4.0}),
    ]
    a = adaptation.aggregate(runs, budget=6.0)
    c, sc = a["context"], a["scratch"]
    assert c["vs_reference_minutes_mean"] == pytest.approx((1.0 + 6.0) / 2)  # never reached -> the budget
    assert c["vs_reference_reached"] == 1 and c["vs_reference_within_target"] == 1
    assert sc["vs_reference_minutes_mean"] == pytest.approx(5.0)
    assert c["vs_reference_reduction_pct"] == pytest.approx(100 * (1 - 3.5 / 5.0))
    assert c["vs_oracle_reached"] == 0 and c["vs_oracle_minutes_mean"] == pytest.approx(6.0)
    assert c["zero_shot_ppr_norm_mean"] == pytest.approx(0.95)
    assert c["zero_shot_ratio_to_oracle_mean"] == pytest.approx(0.95 / 1.1)
    assert c["zero_shot_qoe_ok"] == 2


def test_mean_curve_relative_to_reference() -> None:
    r = _report("device", 1.0, {"context": 1.0})
    r["methods"]["context"]["curve"] = [[0.0, 1.05, 1.0], [0.5, 0.84, 1.0]]
    x, y, sd = adaptation.mean_curve([r], "context")
    assert x.tolist() == [0.0, 0.5] and y == pytest.approx([1.0, 0.8]) and sd.tolist() == [0.0, 0.0]


def test_qoe_gap_and_share_reached_read_the_measure() -> None:
    import numpy as np

    a = _report("device", 1.0, {"context": 1.0})
    b = _report("device", 1.0, {"context": None})
    a["reference"]["qoe"], b["reference"]["qoe"] = 0.9, 0.8
    a["methods"]["context"]["curve"] = [[0.0, 1.0, 0.85], [0.5, 1.0, 0.9]]
    b["methods"]["context"]["curve"] = [[0.0, 1.0, 0.70], [0.5, 1.0, 0.7], [1.0, 1.0, 0.7]]
    x, gap, sd = adaptation.mean_qoe_gap([a, b], "context")
    assert x.tolist() == [0.0, 0.5] and gap == pytest.approx([-0.075, -0.05]) and sd == pytest.approx([0.025, 0.05])
    # a run counts from its minutes_to_95 on; one that never reached it never counts
    share = adaptation.share_reached([a, b], "context", np.array([0.0, 0.99, 1.0, 20.0]))
    assert share.tolist() == [0.0, 0.0, 0.5, 0.5]


def test_the_curves_figure_is_written(tmp_path: Path) -> None:
    runs = []
    for kind, v in (("device", 1.0), ("app", None)):
        r = _report(kind, 1.0, {m: v for m in adaptation.METHODS})
        for m in adaptation.METHODS:
            r["methods"][m]["curve"] = [[0.0, 0.9, 0.8], [0.5, 1.0, 0.9], [1.0, 1.0, 0.95]]
        runs.append(r)
    adaptation.plot_curves(runs, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_under_floor_counts_runs_that_start_under_the_qoe_floor() -> None:
    a = _report("device", 1.0, {"meta": None, "finetune": 1.0})
    b = _report("device", 1.0, {"meta": None, "finetune": 1.0})
    for r, q0, q1 in ((a, 0.6, 0.65), (b, 0.7, 0.95)):
        r["qoe_floor"] = 0.75
        r["methods"]["meta"]["zero_shot"] = {"ppr_norm": 1.0, "qoe": q0}
        r["methods"]["meta"]["final"] = {"ppr_norm": 1.0, "qoe": q1}
        r["methods"]["meta"]["fallback_share"] = 0.5
    u = adaptation.under_floor([a, b])
    assert set(u) == {"meta"}  # finetune starts at QoE 1.0, over the floor
    assert u["meta"]["runs"] == 2 and u["meta"]["under_at_end"] == 1
    assert u["meta"]["qoe_gain"] == pytest.approx((0.05 + 0.25) / 2) and u["meta"]["fallback_share"] == 0.5
    assert "| meta | 2 | +0.150 | 50% | 1 |" in "\n".join(adaptation.floor_section([a, b]))
    a["qoe_floor"] = b["qoe_floor"] = None  # no floor: nothing to count
    assert adaptation.under_floor([a, b]) == {} and adaptation.floor_section([a, b]) == []


def test_methods_subset_and_reports_of_a_subset() -> None:
    assert adaptation.select_methods(None) == list(adaptation.METHODS)
    assert adaptation.select_methods("scratch,finetune-slow,finetune") == ["finetune", "finetune-slow", "scratch"]
    for bad in ("finetune", "x,scratch", "scratch,scratch"):
        with pytest.raises(SystemExit) as exc:
            adaptation.select_methods(bad)
        assert exc.value.code == 2
    runs = [_report("device", 1.0, {"finetune": 1.0, "finetune-slow": 0.5, "scratch": 4.0})]
    assert adaptation.present_methods(runs) == ["finetune", "finetune-slow", "scratch"]
    a = adaptation.aggregate(runs, budget=6.0)
    assert a["finetune-slow"]["vs_reference_reduction_pct"] == pytest.approx(100 * (1 - 0.5 / 4.0))
    assert "meta" not in a and "joint" not in a


def test_invocation_scope_tells_trained_from_reused_models() -> None:
    import _report_src as R

    trained = [{"timing": {"shared_train_s": 1061.0}}]  # a --methods subset: no joint or FOMAML timing at all
    assert R.invocation_scope(False, trained) == "trained its fold models itself"
    reused = [{"timing": {"shared_train_s": None, "meta_train_s": 600.0}}]
    assert R.invocation_scope(False, reused).startswith("reused models")
    assert R.invocation_scope(True, trained).startswith("pooled")
    # stored before the timing fix: None for models no chosen method needed
    old = [{"timing": {"shared_train_s": 1061.0, "meta_train_s": None, "joint_train_s": None}}]
    assert R.invocation_scope(False, old, ["finetune", "scratch"]) == "trained its fold models itself"
    assert R.invocation_scope(False, old).startswith("reused models")
