"""A batched SB3 ``VecEnv``: N simulated phones (mixed devices and apps) stepped in one numpy call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from metadvfs.environment.env_batch import EnvBatch
from metadvfs.sim.threads import check_threads
from metadvfs.tasks.task import Task, make_task

_NO_INFO: dict[str, Any] = {}
"""Never mutated: each step's info dicts are fresh copies of it (``dict.copy`` in C is faster than ``{}`` in a loop)."""


class BatchedDVFSVecEnv(VecEnv):
    """SB3 VecEnv over an :class:`EnvBatch`; trajectories equal N single ``DVFSEnv`` for the same seeds.

    ``seed(s)`` seeds environment ``i`` with ``s + i`` (as SB3's ``DummyVecEnv`` does). Finished episodes
    reset in the same step; the final observation is in ``infos[i]["terminal_observation"]`` and
    ``infos[i]["TimeLimit.truncated"]`` is True. Per-step metrics are kept as arrays in
    :attr:`last_metrics` (building N info dicts per step would dominate the cost); pass
    ``info_metrics=True`` to also copy them into the info dicts.

    Args:
        tasks: ``Task`` objects or ``(device, app)`` name pairs, one per environment.
        info_metrics: Copy per-step metrics into the info dicts.
        sim_threads: Threads of the simulator kernel (``None``: ``METADVFS_SIM_THREADS`` or 1; the trajectories
            are the same for every count, :mod:`metadvfs.sim.threads`).
        **kwargs: :class:`EnvBatch` options (decision_interval_s, episode_seconds, reward_weights, ...).
    """

    def __init__(
        self,
        tasks: Sequence[Task | tuple[str, str]],
        info_metrics: bool = False,
        sim_threads: int | None = None,
        **kwargs: Any,
    ):
        tick_s = kwargs.get("tick_s", 0.01)
        built = [t if isinstance(t, Task) else make_task(t[0], t[1], tick_s=tick_s) for t in tasks]
        self.batch = EnvBatch(built, **kwargs)
        if sim_threads is not None:
            self.batch.tb.core.threads = check_threads(sim_threads, "sim_threads")
        super().__init__(len(built), self.batch.observation_space(), self.batch.action_space())
        self.info_metrics = info_metrics
        self.last_metrics: dict[str, np.ndarray] = {}
        self._actions: np.ndarray | None = None
        self._seeds: list[int | None] = [None] * self.num_envs
        self._all = np.arange(self.num_envs)

    # -- VecEnv API --------------------------------------------------------
    def reset(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """Reset every environment (using seeds set by :meth:`seed`, once)."""
        if any(s is not None for s in self._seeds):
            self.batch.seed(self._seeds)
            self._seeds = [None] * self.num_envs
        self.batch.reset_rows(self._all)
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self.batch.observation()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for :meth:`step_wait`."""
        self._actions = np.asarray(actions).reshape(self.num_envs, 4)

    def step_wait(self) -> VecEnvStepReturn:
        """Advance all environments one decision interval; auto-reset finished ones."""
        assert self._actions is not None
        reward, done, metrics = self.batch.step(self._actions)
        self.last_metrics = metrics
        obs = self.batch.observation()
        infos: list[dict[str, Any]] = list(map(dict.copy, repeat(_NO_INFO, self.num_envs)))  # fresh dicts
        if self.info_metrics:
            for k, v in metrics.items():
                for i in range(self.num_envs):
                    infos[i][k] = v[i]
        if done.any():
            rows = np.flatnonzero(done)
            for r in rows.tolist():
                infos[r]["terminal_observation"] = {k: v[r].copy() for k, v in obs.items()}
                infos[r]["TimeLimit.truncated"] = True
            self.batch.reset_rows(rows)
            fresh = self.batch.observation()
            for k in obs:
                obs[k][rows] = fresh[k][rows]
        return obs, reward.astype(np.float32), done.copy(), infos

    def seed(self, seed: int | None = None) -> Sequence[int | None]:  # type: ignore[override]
        """Seed environment ``i`` with ``seed + i`` at the next :meth:`reset`."""
        self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self._seeds

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attributes of the shared batch (same value for every index)."""
        return [getattr(self.batch, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared batch."""
        setattr(self.batch, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list[Any]:
        """Call a method of the shared batch once per index."""
        return [getattr(self.batch, method_name)(*args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """No sub-environment is wrapped."""
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)
