from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch as th

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.config import MetaConfig, config_from_dict
from metadvfs.meta.adapt import adapt, moving_average, steps_to_threshold
from metadvfs.meta.fast import is_context
from metadvfs.meta.train import meta_train

TINY = {
    "tasks": ["pixel3:tiktok", "pixel3:kwai", "pixel6:3dmark"],
    "groups": 2,
    "network": {"backbone": "gru", "units": 8, "out_dim": 4, "meta_dim": 4, "head": [8]},
    "env": {"episode_seconds": 5, "window": 4, "action_mode": "absolute", "levels": 4},
    "ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 1},
    "envs_per_task": 2,
    "total_steps": 256,
}


def test_moving_average_and_threshold() -> None:
    assert np.allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    steps = np.array([10, 20, 30, 40, 50])
    assert steps_to_threshold(steps, np.array([0.0, 1.0, 0.5, 1.0, 1.0]), 0.9) == 40  # must stay above
    assert steps_to_threshold(steps, np.array([1.0, 1.0, 1.0, 1.0, 1.0]), 0.9) == 10
    assert steps_to_threshold(steps, np.array([1.0, 1.0, 1.0, 1.0, 0.0]), 0.9) is None


@pytest.mark.parametrize("algo", ["fomaml", "reptile", "cavia"])
def test_meta_train_moves_each_group_init(tmp_path: Path, algo: str) -> None:
    cfg = config_from_dict(TINY)
    mc = MetaConfig(
        algo=algo, iterations=2, meta_batch=2, inner_steps=1, envs_per_task=2, n_steps=16, inner_lr=0.05, outer_lr=0.01
    )
    out = meta_train(cfg, mc, tmp_path / algo)
    m = load_checkpoint(out)
    assert [x["id"] for x in m.doc["models"]] == ["g0", "g1"]
    assert m.doc["train"]["meta"]["algo"] == algo
    assert all(len(c) == 2 for c in m.doc["train"]["meta_curves"].values())
    # the meta step changed the weights relative to the seeded random init
    from metadvfs.meta.train import fresh_policy_state

    init = fresh_policy_state(cfg, "pixel3:tiktok", th.zeros(m.doc["meta_dim"]), cfg.seed)
    got = m.policies["g0"].state_dict()
    assert any(not th.equal(init[k], got[k]) for k in init if init[k].is_floating_point())
    if algo == "cavia":  # the outer step leaves the context (adapted per task in the inner loop) alone
        ctx = [k for k in init if is_context(k)]
        assert ctx and all(th.equal(init[k], got[k]) for k in ctx)


def test_adapt_from_meta_init(tmp_path: Path) -> None:
    cfg = config_from_dict(TINY)
    base = meta_train(cfg, MetaConfig(iterations=1, meta_batch=1, envs_per_task=2, n_steps=16), tmp_path / "m")
    r = adapt(
        base,
        "pixel5",
        "tiktok",
        budget_minutes=0.1,
        out=tmp_path / "a",
        methods=["meta", "scratch"],
        n_envs=2,
        rollout=16,
        eval_seeds=1,
        eval_seconds=5.0,
        meta_model=base,
        reference=False,
    )
    assert set(r["methods"]) == {"meta", "scratch"}
    assert r["task"] == "pixel5:tiktok" and r["reference"] is None
    assert r["nearest_task"] in TINY["tasks"]
    assert r["methods"]["meta"]["init_uses_metadata"]
    assert len(r["methods"]["meta"]["curve"]) == len(r["methods"]["scratch"]["curve"]) >= 2
    assert load_checkpoint(tmp_path / "a").doc["models"][0]["id"] == "adapted"


@pytest.mark.parametrize("algo", ["fomaml", "cavia"])
def test_inner_steps_never_leak_into_theta(algo: str) -> None:
    """One outer Adam step moves every parameter by at most outer_lr; the inner (fast) weights must not leak."""
    from metadvfs.learn.tasks import build_tasks, encode_tasks, fit_encoder
    from metadvfs.meta.maml import meta_train_group
    from metadvfs.meta.train import fresh_policy_state

    cfg = config_from_dict(TINY)
    tasks = build_tasks(TINY["tasks"])
    vec = encode_tasks(tasks, fit_encoder(tasks))
    init = fresh_policy_state(cfg, TINY["tasks"][0], vec[0], 0)
    mc = MetaConfig(
        algo=algo, iterations=1, meta_batch=1, inner_steps=2, envs_per_task=2, n_steps=16, inner_lr=0.5, outer_lr=0.01
    )
    out, _ = meta_train_group(cfg, mc, (TINY["tasks"][0],), vec[:1], init, 5)
    moved = max(float((out[k] - init[k]).abs().max()) for k in init if init[k].is_floating_point())
    assert 0 < moved <= 0.01 + 1e-6
