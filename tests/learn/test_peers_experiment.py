"""Helpers of experiments/peers.py: the search grid, the staleness check of cached peers, task subsets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import peers

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.evaluate import EvalResult


def test_grid_points_cartesian_with_paired_keys() -> None:
    grid = {"gamma": [1.0, 0.9], "frame_weight+power_weight": [[0.0, 0.0], [1.0, 0.2]]}
    pts = peers.grid_points("gear", grid, Path("g.yaml"))
    assert [p["name"] for p in pts] == ["gear-g00", "gear-g01", "gear-g02", "gear-g03"]
    assert pts[0]["hyperparameters"] == {"gamma": 1.0, "frame_weight": 0.0, "power_weight": 0.0}  # published first
    assert pts[3]["hyperparameters"] == {"gamma": 0.9, "frame_weight": 1.0, "power_weight": 0.2}
    z = peers.grid_points("ztt", {"decision_interval_s": [0.1, 1], "state_norm": [True]}, Path("g.yaml"))
    assert [p["decision_interval_s"] for p in z] == [0.1, 1.0]
    assert all("decision_interval_s" not in p["hyperparameters"] for p in z)


@pytest.mark.parametrize(
    ("grid", "match"),
    [({}, "non-empty"), ({"gamma": []}, "non-empty"), ({"a+b": [[1.0]]}, "list of 2")],
)
def test_grid_points_reject_bad_grids(grid: dict, match: str) -> None:
    with pytest.raises(MetaDVFSError, match=match):
        peers.grid_points("gear", grid, Path("g.yaml"))


def test_stale_compares_budget_seed_interval_and_filled_hyperparameters(tmp_path: Path) -> None:
    budget = {"steps": 1000, "seed": 0, "n_envs": 16, "decision_interval_s": 0.1, "episode_seconds": 20.0}
    hyper, dt = peers.expected_hyper("ztt", None)
    d = tmp_path / "ck"
    assert not peers.stale("ztt", d, budget, hyper, dt)  # nothing cached: nothing stale
    d.mkdir()
    doc = {
        "hyperparameters": {"learning_rate": 0.05},  # an older checkpoint: missing keys are the published defaults
        "env": {"decision_interval_s": 0.1},
        "train": {"total_steps": 1000, "seed": 0, "n_envs": 16, "episode_seconds": 20.0},
    }
    (d / "baseline.json").write_text(json.dumps(doc))
    assert not peers.stale("ztt", d, budget, hyper, dt)
    assert peers.stale("ztt", d, {**budget, "steps": 2000}, hyper, dt)
    assert peers.stale("ztt", d, {**budget, "seed": 1}, hyper, dt)
    assert peers.stale("ztt", d, budget, {**hyper, "state_norm": True}, dt)
    # a variant at 1 s gets the same phone-time: 100 decisions
    doc["env"] = {"decision_interval_s": 1.0}
    doc["train"]["total_steps"] = 100
    (d / "baseline.json").write_text(json.dumps(doc))
    assert not peers.stale("ztt", d, budget, hyper, 1.0)
    assert peers.stale("ztt", d, budget, hyper, None)


def test_subset_keeps_the_rows_of_the_tasks() -> None:
    raw = {m: [{"ppr": float(10 * i + s + (m == "x")), "qoe": 1.0} for i in range(3) for s in range(2)]
           for m in ("x", "stock", "schedutil")}  # fmt: skip
    res = EvalResult(["a:1", "b:2", "c:3"], [0, 1], 5.0, raw)
    sub = peers.subset(res, ["c:3", "a:1"])
    assert sub.tasks == ["c:3", "a:1"]
    assert [r["ppr"] for r in sub.raw["stock"]] == [20.0, 21.0, 0.0, 1.0]
    assert [r["ppr"] for r in sub.raw["x"]] == [21.0, 22.0, 1.0, 2.0]
