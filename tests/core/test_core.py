"""The gym-free core: import isolation, one EnvOptions type, the old import paths."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from metadvfs.core import codec, domains, reward
from metadvfs.core.options import EnvOptions
from metadvfs.errors import MetaDVFSError

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(stmt: str) -> set[str]:
    code = (
        f"import sys\n{stmt}\n"
        "print(','.join(m for m in ('gymnasium', 'torch', 'stable_baselines3', 'numba') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return set(filter(None, r.stdout.strip().split(",")))


@pytest.mark.parametrize("stmt", ["import metadvfs.export.runtime", "import metadvfs.core.options", "import metadvfs"])
def test_runtime_and_core_load_neither_gymnasium_nor_torch(stmt: str) -> None:
    loaded = _loaded_after(stmt)
    assert "gymnasium" not in loaded and "torch" not in loaded, loaded


def test_environment_import_still_registers_envs() -> None:
    assert "gymnasium" in _loaded_after(
        "import metadvfs.environment, gymnasium as gym; assert 'metadvfs/DVFS-v0' in gym.registry"
    )


def test_old_import_paths_are_the_core_objects() -> None:
    from metadvfs.environment import codec as old_codec
    from metadvfs.environment import reward as old_reward

    for name in codec.__all__:
        assert getattr(old_codec, name) is getattr(codec, name)
    for name in reward.__all__:
        assert getattr(old_reward, name) is getattr(reward, name)


def test_domain_registry_is_consistent() -> None:
    assert typing.get_args(domains.Domain) == domains.DOMAINS
    assert codec.DOMAIN_NAMES == domains.DOMAINS
    assert domains.DOMAINS[domains.GPU_INDEX] == "gpu"
    assert len(domains.DOMAINS) * len(codec.DOMAIN_FEATURES) + len(codec.GLOBAL_FEATURES) == codec.OBS_DIM


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"decision_interval_s": 0}, "decision_interval_s"),
        ({"decision_interval_s": 11.0}, "decision_interval_s"),
        ({"episode_seconds": 0.05}, "episode_seconds"),
        ({"episode_seconds": float("nan")}, "episode_seconds"),
        ({"window": 0}, "window"),
        ({"window": 65}, "window"),
        ({"window": 2.5}, "window"),
        ({"levels": 1}, "levels"),
        ({"action_mode": "bogus"}, "action_mode"),
        ({"reward_weights": {"qoe": -1}}, "reward_weights.qoe"),
        ({"reward_weights": {"typo": 1}}, "reward_weights"),
        ({"typo": 1}, "typo"),
    ],
)
def test_env_options_reject_bad_values_once_for_every_user(kwargs: dict, field: str) -> None:
    from metadvfs.learn.config import config_from_dict

    with pytest.raises(MetaDVFSError, match=field):
        EnvOptions.build(**kwargs)
    want = "env: unknown key 'typo'" if field == "typo" else rf"env\.{field}:"
    with pytest.raises(MetaDVFSError, match=want):
        config_from_dict({"env": kwargs}, "cfg.yaml")


def test_env_options_shared_by_envs_and_config() -> None:
    from metadvfs.environment.dvfs_env import DVFSEnv
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.config import EnvConfig, config_from_dict

    cfg = config_from_dict({"env": {"window": 3, "reward_weights": {"thermal": 1}}})
    assert isinstance(cfg.env, EnvOptions) and isinstance(cfg.env, EnvConfig)
    assert cfg.env.episode_seconds == 20.0 and cfg.env.reward_weights.thermal == 1.0
    env = DVFSEnv("pixel3", "tiktok", options=cfg.env, ppr_ref=1.0)
    assert env.options == cfg.env and env.observation_space["obs"].shape == (3, codec.OBS_DIM)
    vec = BatchedDVFSVecEnv([("pixel3", "tiktok")], options=cfg.env, ppr_ref=1.0, window=2)
    assert vec.batch.options.window == 2 and vec.batch.options.episode_seconds == 20.0
    assert EnvOptions.build(**EnvOptions(window=5).as_kwargs()) == EnvOptions(window=5)


def test_training_keeps_its_episode_bound() -> None:
    from metadvfs.learn.config import config_from_dict

    with pytest.raises(MetaDVFSError, match=r"env.episode_seconds: must be in \[1.0, 3600.0\]"):
        config_from_dict({"env": {"episode_seconds": 0.5, "decision_interval_s": 0.1}})
    assert EnvOptions(episode_seconds=0.5).episode_seconds == 0.5


def test_import_metadvfs_after_gymnasium_registers_the_envs() -> None:
    loaded = _loaded_after("import gymnasium as gym, metadvfs; assert 'metadvfs/DVFS-v0' in gym.registry")
    assert "torch" not in loaded


def test_reward_qoe_floor_charges_only_the_shortfall_under_stock() -> None:
    import numpy as np

    qoe = np.array([1.0, 0.95, 0.80, 0.0])
    ppr = np.ones(4)
    ref = np.ones(4)
    cool = np.zeros(4)
    throttle = np.full(4, 45.0)
    base, _ = reward.compute_reward(qoe, ppr, ref, cool, throttle, reward.RewardWeights())
    stock_qoe = np.full(4, 0.91)
    w = reward.RewardWeights(qoe_floor=2.0, qoe_floor_margin=0.01)
    r, _ = reward.compute_reward(qoe, ppr, ref, cool, throttle, w, qoe_ref=stock_qoe)
    # floor 0.90: the first two steps are above it, the others pay 2 per unit under it
    np.testing.assert_allclose(r - base, [0.0, 0.0, -2.0 * 0.10, -2.0 * 0.90])
    # the term is off by default, and a weight without the stock QoE is an error, not a silent no-op
    off, _ = reward.compute_reward(qoe, ppr, ref, cool, throttle, reward.RewardWeights(), qoe_ref=stock_qoe)
    np.testing.assert_array_equal(off, base)
    with pytest.raises(MetaDVFSError, match="qoe_ref"):
        reward.compute_reward(qoe, ppr, ref, cool, throttle, w)
    with pytest.raises(MetaDVFSError, match="qoe_floor"):
        reward.RewardWeights(qoe_floor=-1.0)
