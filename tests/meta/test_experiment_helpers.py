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


def _run(meta: int | None, scratch: int | None, common: int | None = None) -> dict:
    def m(v: int | None, c: int | None = None) -> dict:
        return {
            "steps_to_95": v,
            "steps_to_95_common": c if c is not None else v,
            "start_reward": 1.0,
            "converged_reward": 2.0,
            "final_reward": 2.0,
        }

    methods = {"meta": m(meta, common), "joint": m(scratch), "incremental": m(scratch), "scratch": m(scratch)}
    return {"methods": methods, "eval_methods": methods}


def test_aggregate_censors_and_gives_both_ratios() -> None:
    runs = [_run(1000, 4000), _run(None, 2000)]
    a = adaptation.aggregate(runs, budget=5000, dt=0.1)
    e = a["train_own"]["meta"]
    assert e["reached"] == 1 and e["steps_mean"] == pytest.approx(3000.0)
    assert e["ratio_of_means"] == pytest.approx(1.0)  # 3000 / 3000
    assert e["mean_of_ratios"] == pytest.approx((0.25 + 2.5) / 2)
    assert e["reduction_ratio_of_means_pct"] == pytest.approx(0.0)
    assert e["minutes_mean"] == pytest.approx(3000 * 0.1 / 60)
    assert a["train_own"]["scratch"]["reduction_mean_of_ratios_pct"] == pytest.approx(0.0)


def test_aggregate_common_variant_and_zero_scratch() -> None:
    runs = [_run(500, 0, common=2500), _run(500, 1000, common=1000)]
    a = adaptation.aggregate(runs, budget=4000, dt=0.1)
    own = a["train_own"]["meta"]
    assert own["mean_of_ratios_runs"] == 1 and own["mean_of_ratios"] == pytest.approx(0.5)  # scratch 0 skipped
    assert a["eval_common"]["meta"]["steps_mean"] == pytest.approx(1750.0)


def test_eval_summary_uses_scratch_start_and_stays_rule() -> None:
    curves = {
        "meta": [(0, 1.9), (100, 2.0), (200, 2.0), (300, 2.0), (400, 2.0)],
        "joint": [(0, 1.0), (100, 1.5), (200, 2.0), (300, 1.0), (400, 2.0)],
        "incremental": [(0, 1.0)] * 5,
        "scratch": [(0, 1.0), (100, 1.2), (200, 1.6), (300, 1.9), (400, 2.0)],
    }
    r = adaptation.eval_summary(curves, dt=0.1)
    # threshold 1 + 0.95 * (2.0 - 1.0) = 1.95 (scratch starts at 1.0, converged = last 20 % = 2.0)
    assert r["meta"]["steps_to_95"] == 100
    assert r["joint"]["steps_to_95"] == 400  # dips back below at 300
    assert r["scratch"]["steps_to_95"] == 400
    assert r["incremental"]["steps_to_95"] == 0  # own plateau 1.0 = start: trivially "reached"...
    assert r["incremental"]["steps_to_95_common"] is None  # ...but never near the best plateau
    assert r["meta"]["start_reward"] == pytest.approx(1.9)
