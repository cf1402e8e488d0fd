"""Observations the model itself visits on the simulated phone (parity tests of the exported governor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metadvfs.environment.vec_env import BatchedDVFSVecEnv
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver

APPS = ("tiktok", "3dmark", "weibo", "bilibili")


def sim_observations(
    model_dir: str | Path, device: str, n_min: int, apps: tuple[str, ...] = APPS, per_app: int = 5
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """``(obs (N, K, 26), meta (N, M), app of each row, env index of each row)``, N >= n_min.

    Rows come step by step (all envs of a step, then the next step), so the windows of one env slide by one row
    from a step to the next (except across an episode reset).
    """
    m = load_checkpoint(model_dir)
    names = [f"{device}:{a}" for a in apps for _ in range(per_app)]
    drv = ModelDriver(m, names)
    venv = BatchedDVFSVecEnv(
        [tuple(n.split(":")) for n in names],
        window=m.window,
        episode_seconds=60,
        **{k: v for k, v in drv.env_kwargs.items() if k != "window"},
    )
    venv.seed(7)
    obs = venv.reset()
    xs, ms = [], []
    while sum(len(x) for x in xs) < n_min:
        xs.append(obs["obs"].copy())
        ms.append(drv.meta.copy())
        obs, _, _, _ = venv.step(drv.act(venv, obs))
    steps = len(xs)
    app_rows = [n.split(":")[1] for n in names] * steps
    env_rows = np.tile(np.arange(len(names)), steps)
    return np.concatenate(xs), np.concatenate(ms), app_rows, env_rows
