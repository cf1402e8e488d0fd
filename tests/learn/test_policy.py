from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN, PPO

from metadvfs.environment.vec_env import BatchedDVFSVecEnv
from metadvfs.errors import MetaDVFSError
from metadvfs.learn.policy import BACKBONES, MetaTemporalExtractor, TemporalEncoder, policy_kwargs
from metadvfs.learn.wrappers import FlatActionVecEnv, MetaVecEnv, flat_to_multi

SPACE = spaces.Dict({"obs": spaces.Box(0, 2, (4, 26), np.float32), "meta": spaces.Box(-5, 5, (7,), np.float32)})


@pytest.mark.parametrize("backbone", BACKBONES)
def test_backbones_shapes_and_gradients(backbone: str) -> None:
    ext = MetaTemporalExtractor(SPACE, backbone=backbone, units=16, out_dim=8, meta_dim=4)
    obs = {"obs": th.rand(5, 4, 26), "meta": th.rand(5, 7)}
    f = ext(obs)
    assert f.shape == (5, ext.features_dim) == (5, 12)
    f.sum().backward()
    assert all(p.grad is not None for p in ext.temporal.parameters() if p.requires_grad)


def test_metadata_changes_features_only_when_conditioned() -> None:
    th.manual_seed(0)
    ext = MetaTemporalExtractor(SPACE, backbone="gru", units=16, out_dim=8, meta_dim=4)
    with th.no_grad():
        ext.film.weight.normal_()
    x = th.rand(2, 4, 26)
    a = ext({"obs": x, "meta": th.zeros(2, 7)})
    b = ext({"obs": x, "meta": th.ones(2, 7)})
    assert not th.allclose(a[:, :8], b[:, :8])
    plain = MetaTemporalExtractor(SPACE, backbone="gru", units=16, out_dim=8, use_meta=False)
    assert th.equal(plain({"obs": x, "meta": th.zeros(2, 7)}), plain({"obs": x, "meta": th.ones(2, 7)}))


def test_bad_backbone() -> None:
    with pytest.raises(MetaDVFSError, match="backbone"):
        TemporalEncoder(26, 4, "lstm")
    with pytest.raises(MetaDVFSError, match="out_dim"):
        TemporalEncoder(26, 4, "cfc", units=8, out_dim=6, wiring="ncp")
    with pytest.raises(MetaDVFSError, match="wiring"):
        TemporalEncoder(26, 4, "cfc", wiring="sparse")


def test_both_cfc_wirings_run() -> None:
    for wiring in ("full", "ncp"):
        enc = TemporalEncoder(26, 4, "cfc", units=16, out_dim=8, wiring=wiring)
        assert enc(th.rand(3, 4, 26)).shape == (3, 8)


def _venv(n: int = 2) -> MetaVecEnv:
    v = BatchedDVFSVecEnv([("pixel3", "tiktok"), ("pixel6", "3dmark")][:n], window=4, episode_seconds=2)
    return MetaVecEnv(v, np.arange(n * 7, dtype=np.float32).reshape(n, 7) / 10)


def test_meta_wrapper_substitutes_vectors() -> None:
    v = _venv()
    obs = v.reset()
    assert obs["meta"].shape == (2, 7) and obs["meta"][1, 0] == pytest.approx(0.7)
    for _ in range(20):  # 2 s episode, 0.1 s steps
        obs, _, done, infos = v.step(np.ones((2, 4), dtype=np.int64))
    assert done.all()
    assert infos[0]["terminal_observation"]["meta"][3] == pytest.approx(0.3)


def test_flat_actions_cover_all_joint_moves() -> None:
    nvec = np.array([3, 3, 3, 3])
    m = flat_to_multi(np.arange(81), nvec)
    assert len({tuple(r) for r in m}) == 81
    assert m[0].tolist() == [0, 0, 0, 0] and m[80].tolist() == [2, 2, 2, 2] and m[1].tolist() == [0, 0, 0, 1]


def test_ppo_and_dqn_learn_with_the_extractor() -> None:
    th.set_num_threads(1)
    ppo = PPO(
        "MultiInputPolicy",
        _venv(),
        n_steps=16,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs=policy_kwargs("cfc", 16, 8, 4, True, (16,), "ppo"),
    )
    ppo.learn(64)
    assert ppo.action_space.shape == (4,)
    dqn = DQN(
        "MultiInputPolicy",
        FlatActionVecEnv(_venv()),
        learning_starts=8,
        batch_size=8,
        buffer_size=500,
        seed=0,
        policy_kwargs=policy_kwargs("gru", 16, 8, 4, True, (16,), "dqn"),
    )
    dqn.learn(64)
    assert dqn.action_space.n == 81


def test_policy_actions_match_sb3_predict() -> None:
    """The evaluation path returns exactly SB3's predict actions, deterministic and sampled, PPO and DQN."""
    from metadvfs.learn.checkpoint import policy_actions

    th.set_num_threads(1)
    ppo = PPO("MultiInputPolicy", _venv(), n_steps=16, batch_size=32, seed=0,
              policy_kwargs=policy_kwargs("cfc", 16, 8, 4, True, (16,), "ppo"))  # fmt: skip
    dqn = DQN("MultiInputPolicy", FlatActionVecEnv(_venv()), learning_starts=8, buffer_size=100, seed=0,
              policy_kwargs=policy_kwargs("gru", 16, 8, 4, True, (16,), "dqn"))  # fmt: skip
    rng = np.random.default_rng(1)
    for pol in (ppo.policy, dqn.policy):
        obs = {
            k: rng.uniform(0, 1, size=(5, *s.shape)).astype(np.float32) for k, s in pol.observation_space.spaces.items()
        }
        pol.set_training_mode(True)
        a, _ = pol.predict(obs, deterministic=True)
        b = policy_actions(pol, obs)
        assert b.shape == a.shape and np.array_equal(a, b)
        assert not pol.training
        th.manual_seed(7)
        a, _ = pol.predict(obs, deterministic=False)
        th.manual_seed(7)
        assert np.array_equal(a, policy_actions(pol, obs, deterministic=False))
    # deterministic PPO actions differ across observations, so equality above is not trivially all-ones
    many = {
        k: rng.uniform(0, 1, size=(64, *s.shape)).astype(np.float32)
        for k, s in ppo.policy.observation_space.spaces.items()
    }
    assert len({tuple(r) for r in policy_actions(ppo.policy, many)}) > 1
