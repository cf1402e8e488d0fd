"""Gymnasium environments; importing this module registers ``metadvfs/DVFS-v0``."""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "metadvfs/DVFS-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="metadvfs.environment.dvfs_env:DVFSEnv", nondeterministic=False)
if "metadvfs/LiveDVFS-v0" not in gym.registry:
    gym.register("metadvfs/LiveDVFS-v0", entry_point="metadvfs.environment.live_env:LiveDVFSEnv", nondeterministic=True)


def __getattr__(name: str) -> object:
    if name == "DVFSEnv":
        from metadvfs.environment.dvfs_env import DVFSEnv

        return DVFSEnv
    if name == "BatchedDVFSVecEnv":
        from metadvfs.environment.vec_env import BatchedDVFSVecEnv

        return BatchedDVFSVecEnv
    raise AttributeError(name)
