"""Per-step metrics computed inside the numba decision kernel equal their numpy definitions bit for bit."""

from __future__ import annotations

import numpy as np

from metadvfs.bench import catalog_pairs
from metadvfs.environment.env_batch import EnvBatch
from metadvfs.tasks.task import make_task


def test_power_soc_equals_numpy_row_sum() -> None:
    batch = EnvBatch([make_task(d, a) for d, a in catalog_pairs()], episode_seconds=2.0, ppr_ref=1.0)
    batch.seed(list(range(batch.n)))
    batch.reset_rows(np.arange(batch.n))
    rng = np.random.default_rng(0)
    for _ in range(15):
        _, _, metrics = batch.step(rng.integers(0, 3, size=(batch.n, 4)))
        assert batch.last is not None
        want = batch.last.power_mw.sum(axis=1) / 1000.0
        np.testing.assert_array_equal(metrics["power_soc_w"], want)
        assert metrics["power_soc_w"].tobytes() == want.tobytes()
