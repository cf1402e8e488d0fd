"""The demand pool pickles only the rows in use, and a restored pool keeps growing."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np

from metadvfs.environment.vec_env import BatchedDVFSVecEnv
from metadvfs.sim.demand import DemandPool


def _fake_demand(length: int, seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    cols = {name: rng.random((1, length, 4) if name in ("other", "other_share") else (1, length))
            for name in DemandPool.COLUMNS}  # fmt: skip
    return SimpleNamespace(**cols)


def test_pickle_keeps_rows_in_use_and_restored_pool_grows() -> None:
    env = BatchedDVFSVecEnv([("pixel6", "tiktok"), ("pixel3", "3dmark")], episode_seconds=5)
    env.seed(0)
    env.reset()
    pool = env.batch.tb.core.pool
    pool.add("extra", _fake_demand(7, 0))  # force spare capacity
    if pool.data.shape[0] == pool.size:
        pool.add("extra2", _fake_demand(pool.size, 1))
    assert pool.data.shape[0] > pool.size
    back = pickle.loads(pickle.dumps(pool))
    assert back.data.shape[0] == pool.size
    assert np.array_equal(back.data, pool.data[: pool.size])
    assert back.find("extra") == pool.find("extra")
    more = _fake_demand(pool.data.shape[0], 2)  # larger than either pool's free rows
    assert back.add("more", more) == pool.add("more", more)
    assert np.array_equal(back.data[: back.size], pool.data[: pool.size])


def test_restored_env_steps_like_the_original() -> None:
    env = BatchedDVFSVecEnv([("pixel6", "tiktok"), ("pixel5", "weibo")], episode_seconds=5)
    env.seed(3)
    env.reset()
    acts = np.ones((2, 4), dtype=np.int64)
    for _ in range(5):
        env.step(acts)
    twin = BatchedDVFSVecEnv([("pixel6", "tiktok"), ("pixel5", "weibo")], episode_seconds=5)
    twin.batch = pickle.loads(pickle.dumps(env.batch))
    for _ in range(60):  # past an episode end (5 s at 100 ms), so the next episode starts from the pool
        o1, r1, d1, _ = env.step(acts)
        o2, r2, d2, _ = twin.step(acts)
        assert np.array_equal(o1["obs"], o2["obs"]) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
