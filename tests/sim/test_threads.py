"""The simulator kernel split over threads computes exactly what one thread computes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_kernel_regression import EXPECTED, governor_run, random_run

from metadvfs.errors import MetaDVFSError
from metadvfs.sim import threads


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split every kernel call, however small (the 30-task batches of the regression cases)."""
    monkeypatch.setattr(threads, "MIN_TICKS_PER_THREAD", 1)
    monkeypatch.setenv(threads.SIM_THREADS_ENV, "4")


@pytest.mark.usefixtures("small_blocks")
def test_threaded_kernel_matches_pinned_digests() -> None:
    """10-tick steps with evaluate/rollout probes, and one-tick governor steps, on 4 threads: the pinned digests."""
    assert len(threads.blocks(30, 1, 4)) == 4  # the 30-task batch is really split, even one tick at a time
    got = random_run(0)
    assert got == EXPECTED["random10-seed0"]
    assert governor_run("stock", 1) == EXPECTED["stock-seed1"]


def test_blocks_cover_rows_in_order() -> None:
    assert threads.blocks(1024, 10, 2) == [(0, 512), (512, 1024)]
    assert threads.blocks(1, 10, 8) == [(0, 1)]  # one environment never splits
    assert threads.blocks(100, 1, 8) == [(0, 100)]  # too little work per thread
    parts = threads.blocks(1000, 10, 3)
    assert parts[0][0] == 0 and parts[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))


def test_vec_env_same_trajectory_for_any_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv

    monkeypatch.setattr(threads, "MIN_TICKS_PER_THREAD", 64)
    pairs = [("pixel6", "tiktok"), ("pixel3", "3dmark"), ("pixel8", "weibo")] * 100
    assert len(threads.blocks(len(pairs), 10, 2)) == 2  # the 2-thread env really splits its steps
    outs = []
    for n_threads in (1, 2):
        vec = BatchedDVFSVecEnv(pairs, episode_seconds=2.0, ppr_ref=1.0, sim_threads=n_threads)
        assert vec.batch.tb.core.threads == n_threads
        vec.seed(0)
        vec.reset()
        rng = np.random.default_rng(0)
        rows = []
        for _ in range(25):  # 20 steps per episode: crosses an auto-reset
            obs, rew, done, _ = vec.step(rng.integers(0, 3, size=(len(pairs), 4)))
            rows.append((obs["obs"].copy(), rew.copy(), done.copy()))
        outs.append(rows)
    for a, b in zip(*outs, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "257", ""])
def test_bad_thread_count_is_one_line_error(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if bad == "":
        monkeypatch.setenv(threads.SIM_THREADS_ENV, "")
        assert threads.default_threads() == 1  # empty = unset
        return
    monkeypatch.setenv(threads.SIM_THREADS_ENV, bad)
    with pytest.raises(MetaDVFSError, match=r"METADVFS_SIM_THREADS: must be an integer in \[1, 256\]"):
        threads.default_threads()
    with pytest.raises(MetaDVFSError, match="sim_threads"):
        threads.check_threads(bad, "sim_threads")


def test_cli_bench_rejects_bad_threads() -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app

    res = CliRunner().invoke(app, ["bench", "--threads", "0"])
    assert res.exit_code == 2
    assert "--threads: must be an integer in [1, 256]" in res.output


def test_pool_recreated_after_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool inherited through fork has no threads in the child: a fresh one is made (else the step would hang)."""
    first = threads._pool(1)
    monkeypatch.setattr(threads.os, "getpid", lambda: -1)
    second = threads._pool(1)
    assert second is not first
    assert second.submit(lambda: 7).result(timeout=10) == 7
