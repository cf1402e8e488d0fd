"""``--train-seeds N`` and ``--ray`` of experiments/adaptation.py (tiny budgets) and its training-seed spread."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import adaptation as A

ROOT = Path(__file__).resolve().parents[2]
SINGLE_SEED_COMMIT = "bb84fb9"
"""The last commit whose adaptation.py trained its fold models with one seed, serially."""

TINY = {
    "devices": ["pixel3", "pixel6"],
    "apps": ["tiktok", "3dmark"],
    "folds": [["device", "pixel6"]],
    "heldout": {"pixel6": ["pixel6:3dmark"]},
    "per_task_steps": 128,
    "envs_per_task": 2,
    "generated": {"devices": 1, "apps": 1, "tasks": 0, "seed": 0, "pool": "all", "margin": 0.25},
    "meta": {"algo": "fomaml", "iterations": 1, "meta_batch": 1, "inner_steps": 1, "inner_lr": 0.001,
             "outer_lr": 0.001, "envs_per_task": 1, "n_steps": 16},
    "budget_minutes": 0.05,
    "phones": 2,
    "rollout": 8,
    "eval_seeds": 1,
    "eval_seconds": 2.0,
    "qoe_margin": 0.05,
    "seeds": 1,
}  # fmt: skip
"""One fold, one held-out task, 128 steps per training task, 3 PPO updates of adaptation per method."""


def _run(main: Any, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch, work: Path, out: Path,
         *args: str) -> dict[str, Any]:  # fmt: skip
    monkeypatch.setitem(settings, "quick", dict(TINY))
    monkeypatch.setattr(sys, "argv", ["adaptation.py", "--quick", "--work", str(work), "--out", str(out), *args])
    main()
    return json.loads((out / "results.json").read_text())


def _numbers(run: dict[str, Any]) -> dict[str, Any]:
    """What an adaptation run measured (not where its models lie or how long it took)."""
    ref = run["reference"] and {k: v for k, v in run["reference"].items() if k != "path"}
    return {"task": run["task"], "seed": run["seed"], "methods": run["methods"], "reference": ref,
            "oracle": run["oracle"], "stock": run["stock"], "routed": run["routed_model"]}  # fmt: skip


def _report(train_seed: int | None, zero: float, qoe: float, minutes: float | None) -> dict[str, Any]:
    q = {"ppr_norm": zero, "qoe": qoe}
    m = {"zero_shot": q, "final": q, "best": q, "fallback_share": 0.0, "vs_reference": {"minutes_to_95": minutes},
         "vs_oracle": {"minutes_to_95": None}, "minutes_to_95": minutes}  # fmt: skip
    r = {"kind": "device", "methods": {"meta": m, "scratch": m}, "oracle": {"ppr_norm": 1.2, "qoe": 1.0},
         "stock": {"ppr_norm": 1.0, "qoe": 0.9}, "reference": {"ppr_norm": 1.1, "qoe": 1.0}}  # fmt: skip
    return r if train_seed is None else {**r, "train_seed": train_seed}


def test_aggregate_spread_over_training_seeds() -> None:
    """Means over every run; per training seed the mean of its runs; the spread is the std of those means."""
    runs = [_report(0, 1.0, 0.9, 1.0), _report(0, 0.8, 0.7, None), _report(1, 1.1, 0.8, 2.0), _report(1, 1.3, 1.0, 2.0)]
    a = A.aggregate(runs, budget=6.0)
    e = a["meta"]
    assert a["train_seeds"] == [0, 1] and a["n_runs"] == 4
    assert e["zero_shot_ppr_norm_mean"] == pytest.approx(1.05) and e["zero_shot_ppr_norm_std"] == pytest.approx(
        np.std([1.0, 0.8, 1.1, 1.3]))  # fmt: skip
    per = {p["seed"]: p for p in e["per_train_seed"]}
    assert per[0]["zero_shot_ppr_norm"] == pytest.approx(0.9) and per[1]["zero_shot_ppr_norm"] == pytest.approx(1.2)
    assert per[0]["vs_reference_minutes"] == pytest.approx((1.0 + 6.0) / 2)  # censored at the budget
    assert e["zero_shot_ppr_norm_train_seed_std"] == pytest.approx(0.15)
    assert e["zero_shot_qoe_train_seed_std"] == pytest.approx(0.05)
    assert e["vs_reference_minutes_train_seed_std"] == pytest.approx(abs(3.5 - 2.0) / 2)
    assert e["vs_oracle_minutes_train_seed_std"] == pytest.approx(0.0)
    # runs written before training seeds: the base seed, and no spread over training seeds
    old = A.aggregate([_report(None, 1.0, 0.9, 1.0), _report(None, 0.8, 0.7, 3.0)], budget=6.0)
    assert old["train_seeds"] == [0] and old["meta"]["zero_shot_ppr_norm_train_seed_std"] is None
    assert old["meta"]["per_train_seed"][0]["zero_shot_ppr_norm"] == pytest.approx(0.9)


def _shared_weights(d: Path) -> list[th.Tensor]:
    return [t for f in sorted((d / "shared" / "models").glob("*.pt")) for t in th.load(f, weights_only=True).values()]


@pytest.mark.slow
def test_adaptation_two_training_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    work = tmp_path / "work"
    two = _run(A.main, A.SETTINGS, monkeypatch, work, tmp_path / "two", "--train-seeds", "2")
    assert two["train_seeds"] == [0, 1] and [r["train_seed"] for r in two["runs"]] == [0, 1]
    f0, f1 = work / "device-pixel6", work / "device-pixel6@seed1"
    for f, sd in ((f0, 0), (f1, 1)):
        for sub in ("shared", "meta", "shared/baselines/joint"):
            assert f"seed: {sd}" in (f / sub / "config.yaml").read_text().splitlines(), sub
        assert (f / "runs" / "pixel6-3dmark-s100.json").is_file()
    a, b = _shared_weights(f0), _shared_weights(f1)
    assert len(a) == len(b) and any(not th.equal(x, y) for x, y in zip(a, b, strict=True))
    agg = two["aggregate"]["all"]
    for m in A.METHODS:
        zs = [r["methods"][m]["zero_shot"]["ppr_norm"] for r in two["runs"]]  # one run per training seed here
        assert agg[m]["zero_shot_ppr_norm_mean"] == pytest.approx(np.mean(zs))
        assert agg[m]["zero_shot_ppr_norm_train_seed_std"] == pytest.approx(np.std(zs))
        assert [p["zero_shot_ppr_norm"] for p in agg[m]["per_train_seed"]] == pytest.approx(zs)
    md = (tmp_path / "two" / "results.md").read_text()
    assert "2 training seeds (0, 1)" in md and "spread over 2 training seeds" in md

    # one training seed on the same work directory: seed 0's models and runs are reused, its numbers are seed 0's
    stamp = (f0 / "shared" / "model.json").stat().st_mtime_ns
    one = _run(A.main, A.SETTINGS, monkeypatch, work, tmp_path / "one")
    assert (f0 / "shared" / "model.json").stat().st_mtime_ns == stamp
    assert [_numbers(r) for r in one["runs"]] == [_numbers(two["runs"][0])]
    assert one["aggregate"]["all"]["meta"]["zero_shot_ppr_norm_train_seed_std"] is None
    own = two["runs"][0]["wall_s"]  # the reused run's own cost is reported, not this invocation's seconds
    assert (
        f"Adaptation runs: 1 of 1 record their own wall time, {own / 3600:.1f} h"
        in (tmp_path / "one" / "results.md").read_text()
    )

    # the script before --train-seeds, on a fresh work directory: the same models and numbers as --train-seeds 1
    src = subprocess.run(["git", "show", f"{SINGLE_SEED_COMMIT}:experiments/adaptation.py"], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    if src.returncode != 0:  # the commit is not in this clone's history
        return
    old_py = tmp_path / "old_adaptation.py"
    old_py.write_text(src.stdout)
    spec = importlib.util.spec_from_file_location("old_adaptation", old_py)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    old = _run(mod.main, mod.SETTINGS, monkeypatch, tmp_path / "old-work", tmp_path / "old")
    assert [_numbers(r) for r in old["runs"]] == [_numbers(r) for r in one["runs"]]
    w = _shared_weights(tmp_path / "old-work" / "device-pixel6")
    assert len(w) == len(a) and all(th.equal(x, y) for x, y in zip(w, a, strict=True))


def test_runs_cost_sentence_sums_the_runs_own_wall_times() -> None:
    runs = [{"wall_s": 100.0}, {"wall_s": 3500.0}, {}]
    msg = A.runs_cost_sentence(runs, 1.2)
    assert msg.startswith("Adaptation runs: 2 of 3 record their own wall time, 1.0 h in all (median 1800 s")
    assert msg.endswith("this invocation took 0.0 min wall and reused models or runs already made (see the fold "
                        "models' training times).")  # fmt: skip
    assert A.runs_cost_sentence([{}], 90.0).startswith("This invocation took 1.5 min wall and reused ")
    trained = [{"timing": {"shared_train_s": 900.0, "meta_train_s": 700.0}}]
    msg = A.runs_cost_sentence(runs, 6000.0, trained)
    assert msg.endswith("took 100.0 min wall and trained its fold models itself.")
    reused = [*trained, {"timing": {"shared_train_s": None, "meta_train_s": 700.0}}]
    assert "and reused models or runs" in A.runs_cost_sentence(runs, 6000.0, reused)
    pooled = A.runs_cost_sentence(runs, 1.6, trained, pooled=True)
    assert pooled.endswith("this invocation took 1.6 s and pooled the stored results it names and trained or adapted "
                           "nothing.")  # fmt: skip


@pytest.mark.ray
def test_adaptation_same_numbers_serial_and_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    try:
        ser = _run(A.main, A.SETTINGS, monkeypatch, tmp_path / "ws", tmp_path / "s", "--train-seeds", "2")
        par = _run(A.main, A.SETTINGS, monkeypatch, tmp_path / "wr", tmp_path / "r", "--train-seeds", "2",
                   "--ray", "local:2")  # fmt: skip
    finally:
        ray.shutdown()
    assert [_numbers(r) for r in par["runs"]] == [_numbers(r) for r in ser["runs"]]
    assert par["aggregate"] == ser["aggregate"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--seeds", "0"], "error: --seeds: must be >= 1, got 0"),
        (["--folds", "app:nope"], "error: --folds: unknown fold 'app:nope'; choose from device:pixel8, app:weibo"),
        (["--gpu-bound", "1.5"], "error: --gpu-bound: must be in [0, 1], got 1.5"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], msg: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "adaptation.py"), "--quick", *args, "--work",
                        str(tmp_path / "w"), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip() == msg
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_adaptation_action_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--action-mode margin: every fold model (shared, joint, FOMAML init) and the report use margin actions."""
    doc = _run(A.main, A.SETTINGS, monkeypatch, tmp_path / "w", tmp_path / "o", "--action-mode", "margin")
    fold = tmp_path / "w" / "device-pixel6"
    for d in (fold / "shared", fold / "shared" / "baselines" / "joint", fold / "meta"):
        assert json.loads((d / "model.json").read_text())["action"]["mode"] == "margin", d
    assert doc["runs"] and "`margin` actions" in (tmp_path / "o" / "results.md").read_text()


@pytest.mark.slow
def test_baselines_of_a_finished_fold_model_train_with_stage_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    first = _run(A.main, A.SETTINGS, monkeypatch, work, tmp_path / "a")
    fold = work / "device-pixel6"
    shutil.rmtree(fold / "shared" / "baselines")
    shutil.rmtree(fold / "runs")
    capsys.readouterr()
    again = _run(A.main, A.SETTINGS, monkeypatch, work, tmp_path / "b")
    log = capsys.readouterr()
    text = log.out + log.err
    assert "running 5 unit(s)" in text  # shared + meta (reused) with joint, reference and incremental start
    assert "training " not in text.split("running 5 unit(s)")[1].split("adapt ")[0]  # no second training batch
    assert (fold / "shared" / "baselines" / "joint" / "model.json").is_file()
    assert [_numbers(r) for r in again["runs"]] == [_numbers(r) for r in first["runs"]]
