"""experiments/zero_shot.py (tiny budgets) and the fold-model variants it shares with experiments/adaptation.py."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import adaptation as A
import zero_shot as Z

ROOT = Path(__file__).resolve().parents[2]
TINY_FULL = {
    **A.SETTINGS["full"],
    "devices": ["pixel3", "pixel6"],
    "apps": ["tiktok", "3dmark"],
    "folds": [["device", "pixel6"], ["app", "3dmark"]],
    "per_task_steps": 128,
    "envs_per_task": 2,
    "generated": {"devices": 1, "apps": 1, "tasks": 1, "seed": 0, "pool": "all", "margin": 0.25},
}
"""Two folds over 2 phones x 2 apps, 128 steps per training task, one generated task."""


def _variant(*args: str, mode: str = "full") -> tuple[str, dict[str, Any]]:
    ap = argparse.ArgumentParser()
    A.add_variant_args(ap)
    return A.variant_settings(ap.parse_args(list(args)), mode)


def test_variant_names_and_real_only_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each variant has its own run name; --real-only trains no generated task with the same total steps."""
    monkeypatch.setitem(A.SETTINGS, "full", dict(TINY_FULL))
    assert _variant()[0] == "full" and _variant("--gpu-bound", "0.25")[0] == "full-gpubound25"
    assert _variant("--action-mode", "margin", "--structure")[0] == "full-margin-structure"
    run, s = _variant("--real-only")
    assert run == "full-realonly" and A.work_spec(s)["real_only"] is True
    assert "real_only" not in A.work_spec(_variant()[1])  # earlier work directories keep their spec.json
    f = A.fold_plan(s, "device", "pixel6", Path("w"), 0)
    g = A.fold_plan(_variant()[1], "device", "pixel6", Path("w"), 0)
    assert f["generated"] is None and f["cfg"].generated.tasks == 0 and g["cfg"].generated.tasks == 1
    assert f["cfg"].total_steps == g["cfg"].total_steps == 128 * (2 + 1)
    assert f["joint_cfg"] == g["joint_cfg"] and f["meta_cfg"] == g["meta_cfg"]


def test_qoe_floor_variant_changes_only_the_reward(monkeypatch: pytest.MonkeyPatch) -> None:
    """--qoe-floor W adds reward_weights.qoe_floor to the base env (kept weights), its own run and work spec."""
    monkeypatch.setitem(A.SETTINGS, "full", dict(TINY_FULL))
    base_run, base = _variant("--action-mode", "margin", "--gpu-bound", "0.25")
    run, s = _variant("--action-mode", "margin", "--gpu-bound", "0.25", "--qoe-floor", "2")
    assert run == "full-margin-gpubound25-qoefloor2" and base_run == "full-margin-gpubound25"
    want = {**base["base"]["env"]["reward_weights"], "qoe_floor": 2.0}
    assert s["base"]["env"]["reward_weights"] == want and "qoe_floor" not in base["base"]["env"]["reward_weights"]
    assert A.work_spec(s) != A.work_spec(base)  # a floor model never reuses a model trained without it
    cfg = A.fold_plan(s, "device", "pixel6", Path("w"), 0)["cfg"]
    assert cfg.env.reward_weights.qoe_floor == 2.0 and cfg.env.reward_weights.qoe == 0.5


@pytest.mark.parametrize(
    ("script", "args", "msg"),
    [
        ("adaptation.py", ["--quick", "--real-only", "--gpu-bound", "0.25"],
         "error: --real-only: trains no generated tasks, so --structure and --gpu-bound do not apply"),
        ("zero_shot.py", ["--folds", "app:nope"], "error: --folds: unknown fold 'app:nope'; choose from "
         "device:pixel3, device:pixel4, device:pixel5, device:pixel6, device:pixel8, app:3dmark, app:bilibili, "
         "app:kwai, app:taobao, app:tiktok, app:weibo"),
        ("zero_shot.py", ["--train-seeds", "0"], "error: --train-seeds: must be >= 1, got 0"),
        ("zero_shot.py", ["--seconds", "0"], "error: --seconds: must be > 0, got 0.0"),
        ("zero_shot.py", ["--qoe-floor", "-1"], "error: --qoe-floor: must be in [0, 100] with at most one decimal, "
         "got -1.0"),
        ("zero_shot.py", ["--real-only", "--structure"],
         "error: --real-only: trains no generated tasks, so --structure and --gpu-bound do not apply"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_errors(script: str, args: list[str], msg: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args, "--work", str(tmp_path / "w"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip() == msg
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()


def _run(monkeypatch: pytest.MonkeyPatch, work: Path, out: Path, *args: str) -> dict[str, Any]:
    monkeypatch.setitem(A.SETTINGS, "full", dict(TINY_FULL))
    argv = ["zero_shot.py", "--work", str(work), "--out", str(out), "--eval-seeds", "1", "--seconds", "20", *args]
    monkeypatch.setattr(sys, "argv", argv)
    Z.main()
    return json.loads((out / "results.json").read_text())


def test_zero_shot_two_folds_two_training_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every fold model is trained once per training seed in adaptation.py's layout, evaluated on the fold's
    held-out tasks; a rerun reuses the models and measures the same numbers."""
    work = tmp_path / "w"
    doc = _run(monkeypatch, work, tmp_path / "o", "--train-seeds", "2")
    assert [f["fold"] for f in doc["folds"]] == ["device:pixel6", "app:3dmark"]
    dev, app = doc["folds"]
    assert dev["heldout"] == ["pixel6:tiktok", "pixel6:3dmark"] and app["heldout"] == ["pixel3:3dmark",
                                                                                         "pixel6:3dmark"]  # fmt: skip
    for f in doc["folds"]:
        assert f["train_seeds"] == [0, 1] and len(f["tasks"]) == len(f["heldout"])
        per = [p["ppr"] for p in f["per_seed"]]
        assert f["ppr"] == pytest.approx(np.mean(per)) and f["ppr_std"] == pytest.approx(np.std(per))
        assert f["qoe_ok"] == sum(t["qoe"] >= t["stock_qoe"] - Z.QOE_FLOOR for t in f["tasks"])
        for t in f["tasks"]:
            assert t["ppr"] == pytest.approx(np.mean([p["ppr"] for p in t["per_seed"]]))
        # each training seed's model alone, judged against the same stock QoE
        assert f["qoe_ok_per_seed"] == [
            sum(next(p["qoe"] for p in t["per_seed"] if p["seed"] == sd) >= t["stock_qoe"] - Z.QOE_FLOOR
                for t in f["tasks"]) for sd in (0, 1)]  # fmt: skip
        kind, value = f["fold"].split(":")
        assert (tmp_path / "o" / "folds" / f"{kind}-{value}" / "summary.json").is_file()
        for sd, d in ((0, work / f"{kind}-{value}"), (1, work / f"{kind}-{value}@seed1")):
            assert f"seed: {sd}" in (d / "shared" / "config.yaml").read_text().splitlines()
    assert all(t is not None for f in doc["folds"] for t in f["shared_train_s"])
    md = (tmp_path / "o" / "results.md").read_text()
    assert "| device:pixel6 | 2 |" in md and (tmp_path / "o" / "zero_shot_per_fold.png").is_file()
    cell = " / ".join(f"{p['ppr']:.3f} ({k}/2)" for p, k in zip(dev["per_seed"], dev["qoe_ok_per_seed"], strict=True))
    assert f"| {cell} |" in md
    per = [dev["qoe_ok_per_seed"][k] + app["qoe_ok_per_seed"][k] for k in (0, 1)]
    assert f"training seed's model alone: {per[0]} / {per[1]} of 4." in md

    stamp = (work / "device-pixel6" / "shared" / "model.json").stat().st_mtime_ns
    again = _run(monkeypatch, work, tmp_path / "o2", "--train-seeds", "2", "--folds", "device:pixel6")
    assert (work / "device-pixel6" / "shared" / "model.json").stat().st_mtime_ns == stamp
    assert again["folds"][0]["shared_train_s"] == [None, None]
    # the reused models still report the training time they took, from their own model.json
    assert again["folds"][0]["model_train_s"] == dev["model_train_s"]
    assert all(w is not None and w > 0 for w in dev["model_train_s"])
    assert "Training: 2 fold models," in (tmp_path / "o2" / "results.md").read_text()
    keys = ("ppr", "ppr_std", "qoe", "stock_qoe", "of_oracle", "tasks")
    assert {k: again["folds"][0][k] for k in keys} == {k: dev[k] for k in keys}
