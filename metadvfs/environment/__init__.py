"""Gymnasium environments; importing this module registers ``metadvfs/DVFS-v0`` and ``metadvfs/LiveDVFS-v0``.

The codec, reward and options the environments use live in the gym-free :mod:`metadvfs.core`. The package also
declares :func:`register_envs` under the ``gymnasium.envs`` entry-point group (pyproject.toml).
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "metadvfs/DVFS-v0"
LIVE_ENV_ID = "metadvfs/LiveDVFS-v0"


def register_envs() -> None:
    """Register the simulated and the live environment with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="metadvfs.environment.dvfs_env:DVFSEnv", nondeterministic=False)
    if LIVE_ENV_ID not in gym.registry:
        gym.register(id=LIVE_ENV_ID, entry_point="metadvfs.environment.live_env:LiveDVFSEnv", nondeterministic=True)


register_envs()


def __getattr__(name: str) -> object:
    if name == "DVFSEnv":
        from metadvfs.environment.dvfs_env import DVFSEnv

        return DVFSEnv
    if name == "BatchedDVFSVecEnv":
        from metadvfs.environment.vec_env import BatchedDVFSVecEnv

        return BatchedDVFSVecEnv
    raise AttributeError(name)
