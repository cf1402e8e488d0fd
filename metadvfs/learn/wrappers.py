"""VecEnv wrappers used by the learners: fitted metadata vectors and flattened actions for DQN."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

META_LOW, META_HIGH = -5.0, 5.0


def _replace_meta(obs: dict[str, np.ndarray], meta: np.ndarray) -> dict[str, np.ndarray]:
    obs = dict(obs)
    obs["meta"] = meta.copy()
    return obs


class MetaVecEnv(VecEnvWrapper):
    """Replace the ``meta`` observation with vectors from a fitted metadata encoder (one row per env).

    Args:
        venv: A VecEnv with Dict observations ``obs``/``meta``.
        meta: (N, M) encoded metadata per environment (constant over time).
    """

    def __init__(self, venv: VecEnv, meta: np.ndarray) -> None:
        meta = np.asarray(meta, dtype=np.float32)
        if meta.shape[0] != venv.num_envs:
            raise ValueError(f"meta rows {meta.shape[0]} != num_envs {venv.num_envs}")
        self.meta = np.clip(meta, META_LOW, META_HIGH)
        space = venv.observation_space
        assert isinstance(space, spaces.Dict)
        obs_space = spaces.Dict(
            {"obs": space["obs"], "meta": spaces.Box(META_LOW, META_HIGH, (meta.shape[1],), np.float32)}
        )
        super().__init__(venv, observation_space=obs_space)

    def reset(self) -> VecEnvObs:
        """Reset and substitute the metadata."""
        return _replace_meta(self.venv.reset(), self.meta)  # type: ignore[arg-type]

    def step_wait(self) -> VecEnvStepReturn:
        """Step and substitute the metadata (also in terminal observations)."""
        obs, rew, done, infos = self.venv.step_wait()
        for i in np.flatnonzero(done):
            term = infos[i].get("terminal_observation")
            if term is not None:
                term["meta"] = self.meta[i].copy()
        return _replace_meta(obs, self.meta), rew, done, infos  # type: ignore[arg-type]


def flat_to_multi(a: np.ndarray, nvec: np.ndarray) -> np.ndarray:
    """Decode flat joint action indices (mixed radix, first domain most significant) into per-domain choices."""
    a = np.asarray(a, dtype=np.int64).reshape(-1)
    out = np.zeros((a.size, len(nvec)), dtype=np.int64)
    for d in range(len(nvec) - 1, -1, -1):
        out[:, d] = a % nvec[d]
        a = a // nvec[d]
    return out


class FlatActionVecEnv(VecEnvWrapper):
    """Expose a ``MultiDiscrete`` action space as one ``Discrete`` joint space (3^4 = 81 for relative moves).

    This is the flattened encoding of ``docs/method.md`` §2.3 that lets SB3's DQN drive every device.
    """

    def __init__(self, venv: VecEnv) -> None:
        space = venv.action_space
        assert isinstance(space, spaces.MultiDiscrete)
        self.nvec = np.asarray(space.nvec, dtype=np.int64)
        super().__init__(venv, action_space=spaces.Discrete(int(np.prod(self.nvec))))

    def reset(self) -> VecEnvObs:
        """Reset the wrapped env."""
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        """Translate joint indices into per-domain choices."""
        self.venv.step_async(flat_to_multi(actions, self.nvec))

    def step_wait(self) -> VecEnvStepReturn:
        """Step the wrapped env."""
        return self.venv.step_wait()
