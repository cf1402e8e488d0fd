"""The adaptation measure (phone-minutes, held-out quality, minutes to 95 %), context adaptation, QoE floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch as th

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.config import config_from_dict
from metadvfs.meta import fast
from metadvfs.meta.measure import HeldOut, PolicyDriver, env_kwargs, minutes_to, phone_minutes, summarize_curve
from metadvfs.tasks.task import make_task

TINY = {
    "tasks": ["pixel3:tiktok", "pixel3:kwai", "pixel6:3dmark"],
    "mode": "conditioned",
    "network": {"backbone": "gru", "units": 8, "out_dim": 4, "meta_dim": 4, "head": [8]},
    "env": {"episode_seconds": 5, "window": 4, "action_mode": "absolute", "levels": 4},
    "ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 1},
    "envs_per_task": 2,
    "total_steps": 384,
    "checkpoint_every_steps": 0,
}


def test_phone_minutes_counts_parallel_phones() -> None:
    assert phone_minutes(16 * 600, 0.1) == pytest.approx(16.0)  # 16 phones for one minute
    assert phone_minutes(2100, 0.1) == pytest.approx(3.5)


def test_minutes_to_requires_staying_above() -> None:
    c = [[0, 0.8, 1.0], [1, 0.96, 1.0], [2, 0.9, 1.0], [3, 0.97, 1.0], [4, 0.99, 0.99]]
    assert minutes_to(c, 0.95, 0.98) == 3
    assert minutes_to(c, 0.95, 0.995) is None  # last point's QoE too low
    assert minutes_to([[0, 1.0, 1.0]], 0.95, 0.9) == 0
    s = summarize_curve(c, {"ppr_norm": 1.0, "qoe": 1.0}, {"ppr_norm": 1.1, "qoe": 1.0}, {"ppr_norm": 1.0, "qoe": 0.99})
    assert s["zero_shot"] == {"ppr_norm": 0.8, "qoe": 1.0}
    assert s["minutes_to_95"] == 3 and s["vs_reference"]["reached"]
    assert s["vs_oracle"] == {"minutes_to_95": None, "reached": False}  # 0.95 * 1.1 = 1.045 never reached
    assert s["best"]["ppr_norm"] == 0.99


def test_heldout_quality_uses_the_evaluation_normaliser() -> None:
    h = HeldOut("pixel3:tiktok", 1, 5.0)
    assert h.base.seeds == [10_000]  # evaluation seeds, disjoint from adaptation seeds
    q = h.governor(h.reference_governor)
    assert q["ppr_norm"] == pytest.approx(1.0)  # the reference governor normalised to itself

    class Max:
        name = "max"

        def __init__(self) -> None:
            self.env_kwargs = {"decision_interval_s": 0.1, "window": 1, "action_mode": "absolute", "levels": 4}

        def reset(self, n: int) -> None:
            pass

        def act(self, venv: object, obs: dict) -> np.ndarray:
            return np.full((obs["obs"].shape[0], 4), 3)

    q = h.quality(Max())
    assert q["qoe"] >= h.governor(h.reference_governor)["qoe"] - 1e-9  # top clocks never lose frames
    assert q["ppr_norm"] < 1.0  # and waste energy


def test_stock_rule_actions_follow_utilisation() -> None:
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv

    v = BatchedDVFSVecEnv([make_task("pixel6", "tiktok")] * 2, window=1, action_mode="absolute", levels=8)
    obs = v.reset()["obs"][:, -1, :].copy()
    dev = v.batch.tb.dev
    obs[0, [1, 6, 11, 16]] = 0.0  # idle: lowest level
    obs[1, [1, 6, 11, 16]] = 0.9  # busy CPU (1.25 * 0.9 > 1): top level
    obs[1, 17] = 1.0  # GPU at fmax and 90 % busy: top level
    a = fast.stock_rule_actions(obs, dev, 8, "absolute")
    assert a[0].tolist() == [0, 0, 0, 0]
    assert a[1].tolist() == [7, 7, 7, 7]


def test_stock_rule_in_margin_mode_is_the_smallest_headroom_at_least_schedutils() -> None:
    from metadvfs.core.codec import margins

    a = fast.stock_rule_actions(np.zeros((3, 26), np.float32), None, 8, "margin")
    m = margins(8)
    k = int(a[0, 0])
    assert (a == k).all() and m[k] >= fast.SCHEDUTIL_MARGIN and m[k - 1] < fast.SCHEDUTIL_MARGIN


def _tiny_model(tmp: Path) -> Path:
    from metadvfs.learn.trainer import train

    return train(config_from_dict(TINY), tmp / "m", tensorboard=False)


def test_context_adaptation_changes_only_the_context(tmp_path: Path) -> None:
    m = load_checkpoint(_tiny_model(tmp_path))
    t = make_task("pixel5", "tiktok")
    init = {k: v.clone() for k, v in m.policies["all"].state_dict().items()}
    seen: list[int] = []

    def q(pol: object) -> dict[str, float]:
        seen.append(1)
        return {"ppr_norm": 1.0, "qoe": 1.0}

    r = fast.run(m.cfg, t, m.encode(t), init, True, 64, 3, 2, 16, q, context_only=True, context_lr=0.05)
    changed = {k for k in init if not th.equal(init[k], r.state_dict[k])}
    assert changed and all(fast.is_context(k) for k in changed)
    assert [p[0] for p in r.curve] == pytest.approx([0.0, 32 * 0.1 / 60, 64 * 0.1 / 60])
    r2 = fast.run(m.cfg, t, m.encode(t), init, True, 64, 3, 2, 16, q, context_only=True, context_lr=0.05)
    assert all(th.equal(r.state_dict[k], r2.state_dict[k]) for k in init)  # same seed, same result
    with pytest.raises(MetaDVFSError, match="conditioned"):
        fast.run(m.cfg, t, m.encode(t), None, False, 64, 3, 2, 16, q, context_only=True)


def test_finetune_slow_takes_a_fifth_of_the_step(tmp_path: Path) -> None:
    """Method finetune-slow is full fine-tuning at SLOW_LR_SCALE times the model's learning rate: same start,
    same seed, every weight trainable, and the weights move less than under plain fine-tuning."""
    from metadvfs.meta.adapt import SLOW_LR_SCALE

    m = load_checkpoint(_tiny_model(tmp_path))
    t = make_task("pixel5", "tiktok")
    init = {k: v.clone() for k, v in m.policies["all"].state_dict().items()}
    lr = m.cfg.ppo.learning_rate
    assert fast.adapter_config(m.cfg, 16, 2, False, fast.CONTEXT_LR, SLOW_LR_SCALE).ppo.learning_rate == pytest.approx(
        SLOW_LR_SCALE * lr
    )
    assert fast.adapter_config(m.cfg, 16, 2, True, 0.3, SLOW_LR_SCALE).ppo.learning_rate == 0.3  # context: its own
    with pytest.raises(MetaDVFSError, match="learning-rate scale"):
        fast.adapter_config(m.cfg, 16, 2, False, fast.CONTEXT_LR, 0.0)

    def q(pol: object) -> dict[str, float]:
        return {"ppr_norm": 1.0, "qoe": 1.0}

    def moved(scale: float) -> float:
        r = fast.run(m.cfg, t, m.encode(t), init, True, 64, 3, 2, 16, q, lr_scale=scale)
        return float(
            sum(((r.state_dict[k].float() - init[k].float()) ** 2).sum() for k in init if init[k].is_floating_point())
        )

    full, slow = moved(1.0), moved(SLOW_LR_SCALE)
    assert 0 < slow < 0.25 * full, (slow, full)  # Adam: the step is about lr per coordinate


def _observations(cfg: object, task_name: str, steps: int) -> dict[str, np.ndarray]:
    """Observation windows of a few simulated phones under random frequency choices (fixed seeds)."""
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.tasks import task_map

    venv = BatchedDVFSVecEnv([task_map([task_name])[task_name]] * 4, episode_seconds=5.0, **env_kwargs(cfg))
    venv.batch.seed([0, 1, 2, 3])
    obs = venv.reset()
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(steps):
        obs = venv.step(rng.integers(0, cfg.env.levels, size=(4, 4)))[0]  # type: ignore[attr-defined]
        seen.append(obs["obs"].copy())
    return {"obs": np.concatenate(seen)}


def test_context_adaptation_moves_the_evaluated_policy(tmp_path: Path) -> None:
    """A few context updates change the deterministic actions that the held-out evaluation sees.

    Regression: the context used to be the metadata layer's bias alone, fitted mostly by the value loss with an
    Adam step of 0.01; the deterministic actions never changed (held-out PPR identical at every curve point).
    """
    m = load_checkpoint(_tiny_model(tmp_path))
    t = make_task("pixel6", "3dmark")
    row = m.encode(t)
    fixed = _observations(m.cfg, "pixel6:3dmark", 12)
    fixed["meta"] = np.repeat(row[None].astype(np.float32), len(fixed["obs"]), axis=0)
    init = {k: v.clone() for k, v in m.policies["all"].state_dict().items()}
    evaluated: list[np.ndarray] = []

    def q(pol: object) -> dict[str, float]:
        with th.no_grad():
            evaluated.append(pol.predict(fixed, deterministic=True)[0])  # type: ignore[attr-defined]
        return {"ppr_norm": 1.0, "qoe": 1.0}

    r = fast.run(m.cfg, t, row, init, True, 4 * 64, 3, 4, 16, q, context_only=True)
    ctx = [k for k in init if fast.is_context(k)]
    assert {k.rsplit(".", 2)[-2] for k in ctx} == {"0", "action_net"}
    assert all(not th.equal(init[k], r.state_dict[k]) for k in ctx)
    assert len(evaluated) == 5  # minute 0, then after each of the 4 PPO updates
    changed = float(np.mean(evaluated[-1] != evaluated[0]))
    assert changed >= 0.2, f"context adaptation changed only {changed:.0%} of the deterministic actions"
    # the evaluated policy is the adapted one: its final weights reproduce the last evaluation's actions
    pol = m.policies["all"]
    pol.load_state_dict(r.state_dict)
    with th.no_grad():
        np.testing.assert_array_equal(pol.predict(fixed, deterministic=True)[0], evaluated[-1])
    # the value loss no longer reaches the context (no critic weight is trainable in a context-only run)
    assert fast.adapter_config(m.cfg, 16, 4, True, fast.CONTEXT_LR).ppo.vf_coef == 0.0


def test_qoe_floor_hands_control_to_the_stock_rule(tmp_path: Path) -> None:
    m = load_checkpoint(_tiny_model(tmp_path))
    t = make_task("pixel6", "3dmark")
    cfg = m.cfg

    def q(pol: object) -> dict[str, float]:
        return {"ppr_norm": 1.0, "qoe": 1.0}

    # a floor above any reachable QoE: after the first interval every phone is under the fallback half the time
    r = fast.run(cfg, t, m.encode(t), None, True, 320, 0, 2, 16, q, floor=1.01, floor_interval_s=0.5)
    assert 0.3 < r.fallback_share <= 0.5
    off = fast.run(cfg, t, m.encode(t), None, True, 320, 0, 2, 16, q, floor=None)
    assert off.fallback_share == 0.0


def test_adapt_reports_curves_reference_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metadvfs.meta.adapt import adapt

    base = _tiny_model(tmp_path)
    monkeypatch.chdir(tmp_path)  # the report names the model relative to the working directory, not by absolute path
    r = adapt(
        base,
        "pixel5",
        "tiktok",
        budget_minutes=0.2,
        out=tmp_path / "a",
        methods=["context", "scratch"],
        n_envs=2,
        rollout=16,
        eval_seeds=1,
        eval_seconds=5.0,
    )
    assert set(r["methods"]) == {"context", "scratch"} and r["task"] == "pixel5:tiktok"
    assert r["reference"] is not None and Path(r["reference"]["path"]).is_dir()
    for m in r["methods"].values():
        assert m["curve"][0][0] == 0.0 and m["curve"][-1][0] == pytest.approx(128 * 0.1 / 60, abs=1e-3)
        assert m["zero_shot"]["ppr_norm"] == m["curve"][0][1]
        assert m["minutes_to_95"] is None or 0 <= m["minutes_to_95"] <= m["curve"][-1][0]
    doc = json.loads((tmp_path / "a" / "adaptation.json").read_text())
    assert doc["minutes_to_95"] == r["minutes_to_95"]
    assert (tmp_path / "a" / "adaptation.png").is_file()
    assert load_checkpoint(tmp_path / "a").doc["models"][0]["id"] == "adapted"
    assert r["model"] == doc["model"] == load_checkpoint(tmp_path / "a").doc["train"]["adapted_from"] == base.name
    # the reference is cached: a second run does not retrain it
    mtime = (Path(r["reference"]["path"]) / "model.json").stat().st_mtime_ns
    adapt(base, "pixel5", "tiktok", 0.05, None, ["scratch"], n_envs=2, rollout=16, eval_seeds=1, eval_seconds=5.0)
    assert (Path(r["reference"]["path"]) / "model.json").stat().st_mtime_ns == mtime
    for kw, msg in (
        ({"budget_minutes": 0}, "--budget-minutes"),
        ({"methods": ["magic"]}, "--compare"),
        ({"seed": 9_999}, "--seed"),
    ):
        with pytest.raises(MetaDVFSError, match=msg):
            adapt(base, "pixel5", "tiktok", **kw)  # type: ignore[arg-type]
    with pytest.raises(MetaDVFSError, match="--meta-model"):
        adapt(base, "pixel5", "tiktok", 0.05, None, ["meta"], n_envs=2, rollout=16, eval_seeds=1, eval_seconds=5.0)


def test_cli_adapt_fine_tunes_by_default(tmp_path: Path) -> None:
    """Without --compare, `metadvfs adapt` runs the measured-fastest method, full fine-tuning."""
    from typer.testing import CliRunner

    from metadvfs.cli import app

    base = _tiny_model(tmp_path)
    args = ["adapt", "--model", str(base), "--device", "pixel5", "--app", "tiktok", "--budget-minutes", "0.05",
            "--phones", "2", "--rollout", "16", "--eval-seeds", "1", "--eval-seconds", "2", "--no-reference",
            "--json"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert list(rep["methods"]) == ["finetune"] and rep["methods"]["finetune"]["context_only"] is False


def test_policy_driver_is_deterministic() -> None:
    m = load_checkpoint("default")
    t = make_task("pixel6", "tiktok")
    d = PolicyDriver("x", m.policies[m.model_for(t)], m.encode(t), env_kwargs(m.cfg))
    obs = {"obs": np.random.default_rng(0).random((3, m.window, 26)).astype(np.float32)}
    assert np.array_equal(d.act(None, obs), d.act(None, obs))
