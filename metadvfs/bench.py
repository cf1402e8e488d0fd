"""Simulator throughput benchmark (``metadvfs bench``): single env, DummyVecEnv, batched VecEnv."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np


def catalog_pairs() -> list[tuple[str, str]]:
    """Every catalog (device, app) pair, devices x apps in catalog order."""
    from metadvfs.learn.tasks import all_task_names

    return [(t.split(":", 1)[0], t.split(":", 1)[1]) for t in all_task_names()]


def _task_pairs(n: int) -> list[tuple[str, str]]:
    pairs = catalog_pairs()
    return [pairs[i % len(pairs)] for i in range(n)]


def _median_rate(fn: Callable[[], int], repeats: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        steps = fn()
        rates.append(steps / (time.perf_counter() - t0))
    return float(np.median(rates)), rates


def _interleaved_ms(paths: dict[str, Callable[[], object]], repeats: int, calls: int = 1) -> dict[str, list[float]]:
    """Milliseconds per call of each path, ``repeats`` times.

    The paths alternate within each repetition, so machine load hits them alike.
    """
    raw: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            raw[name].append((time.perf_counter() - t0) / calls * 1e3)
    return raw


def run_bench(
    n_envs: int = 1024,
    steps: int = 200,
    dummy_envs: int = 64,
    repeats: int = 5,
    episode_seconds: float = 60.0,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure env-steps per second of the three simulator paths.

    Every run uses a mix of the 30 catalog tasks, random actions and the default 100 ms decision interval;
    episodes end and auto-reset inside the timed loops, so reset cost is included. Each path gets one untimed
    warm-up run before its timed repetitions. The schedutil reference PPR
    of the reward is computed once for all 30 tasks in one batched replay before any environment is built
    (otherwise each single environment would run its own reference replay); it is not timed.

    Args:
        n_envs: Environments in the batched VecEnv.
        steps: Vector steps per timed batched run.
        dummy_envs: Environments in the DummyVecEnv (its rate per env-step does not depend on the count).
        repeats: Timed repetitions; medians are reported.
        episode_seconds: Episode length, s.
        progress: Optional callback receiving a status line.
        threads: Kernel threads of the second, multi-threaded batched measurement (:mod:`metadvfs.sim.threads`;
            ``None``: ``os.cpu_count()``; 1: no second measurement). The first batched measurement always runs the
            kernel on one thread; the single env and the DummyVecEnv's environments (one row per kernel call)
            always run on one thread.

    Returns:
        JSON-able results with ``*_steps_per_s`` medians, the speed-up ratios and the raw repetitions;
        ``batched_*`` is one kernel thread, ``batched_threaded_*`` (when measured) ``sim_threads`` threads.
    """
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    from metadvfs.environment import ENV_ID
    from metadvfs.environment.reference import reference_ppr
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.sim.threads import THREADS_RANGE
    from metadvfs.tasks.task import make_task

    say = progress or (lambda s: None)
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    say("schedutil reference PPR of the 30 tasks (one batched replay)")
    t0 = time.perf_counter()
    reference_ppr([make_task(d, a) for d, a in catalog_pairs()], decision_ticks=10)
    warmup_s = time.perf_counter() - t0
    say("single env")
    env = gym.make(ENV_ID, device="pixel6", app="tiktok", episode_seconds=episode_seconds)
    env.reset(seed=0)
    acts = rng.integers(0, 3, size=(2000, 4))

    def single() -> int:
        for a in acts:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return len(acts)

    single()  # warm-up (numba dispatch, first episodes), as for the batched path
    single_rate, single_all = _median_rate(single, repeats)

    say(f"DummyVecEnv x{dummy_envs}")
    pairs = _task_pairs(dummy_envs)
    dummy = DummyVecEnv(
        [functools.partial(gym.make, ENV_ID, device=d, app=a, episode_seconds=episode_seconds) for d, a in pairs]
    )
    dummy.seed(0)
    dummy.reset()
    dsteps = 40

    def dummy_run() -> int:
        for _ in range(dsteps):
            dummy.step(rng.integers(0, 3, size=(dummy_envs, 4)))
        return dsteps * dummy_envs

    dummy_run()  # warm-up
    dummy_rate, dummy_all = _median_rate(dummy_run, repeats)

    n_threads = min(os.cpu_count() or 1, THREADS_RANGE[1]) if threads is None else threads
    say(f"batched VecEnv x{n_envs}, one kernel thread")
    vec = BatchedDVFSVecEnv(_task_pairs(n_envs), episode_seconds=episode_seconds, sim_threads=1)
    vec.seed(0)
    vec.reset()
    batch_acts = rng.integers(0, 3, size=(steps, n_envs, 4))

    def batched() -> int:
        for a in batch_acts:
            vec.step(a)
        return steps * n_envs

    batched()  # warm-up: compiles the demand banks of all tasks
    batched_rate, batched_all = _median_rate(batched, repeats)
    threaded: dict[str, Any] = {}
    if n_threads > 1:
        say(f"batched VecEnv x{n_envs}, {n_threads} kernel threads")
        vec.batch.tb.core.threads = n_threads  # same environments and workload, episodes continue
        batched()  # warm-up (thread pool)
        rate, threaded_all = _median_rate(batched, repeats)
        threaded = {"batched_threaded_steps_per_s": rate, "batched_threaded_vs_dummy": rate / dummy_rate}
    return {
        "single_env_steps_per_s": single_rate,
        "dummy_vec_env_steps_per_s": dummy_rate,
        "batched_steps_per_s": batched_rate,
        "batched_vs_dummy": batched_rate / dummy_rate,
        **threaded,
        "n_envs": n_envs,
        "sim_threads": n_threads,
        "dummy_envs": dummy_envs,
        "decision_interval_s": 0.1,
        "repeats": repeats,
        "reference_warmup_s": warmup_s,
        "cpu_count": os.cpu_count(),
        "loadavg_1m_before": load_before,
        "loadavg_1m_after": os.getloadavg()[0],
        "raw": {"single": single_all, "dummy": dummy_all, "batched": batched_all}
        | ({"batched_threaded": threaded_all} if threaded else {}),
    }


def run_policy_bench(
    model: str = "default", batch: int = 4, calls: int = 300, repeats: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Decision latency of a checkpoint's policy: SB3's ``predict`` against :func:`policy_actions`.

    Both paths get the same random observations (a batch of ``batch`` phones, as the held-out evaluation of an
    adaptation curve point steps 4 phones) and must return the same actions (checked); the two are timed in
    alternating repetitions so machine load hits both alike.

    Args:
        model: Checkpoint directory or shipped model name (its first model is timed).
        batch: Observations per call.
        calls: Calls per timed repetition.
        repeats: Timed repetitions per path; medians are reported.
        seed: Seed of the random observations.

    Returns:
        JSON-able ``predict_ms`` / ``policy_actions_ms`` medians per call, their ratio and the raw repetitions.
    """
    import torch as th

    from metadvfs.learn.checkpoint import load_checkpoint, policy_actions

    lm = load_checkpoint(model)
    pol = next(iter(lm.policies.values()))
    rng = np.random.default_rng(seed)
    obs = {
        k: rng.uniform(s.low, s.high, size=(batch, *s.shape)).astype(s.dtype)
        for k, s in pol.observation_space.spaces.items()
    }

    def predict() -> np.ndarray:
        with th.no_grad():
            a, _ = pol.predict(obs, deterministic=True)
        return np.asarray(a)

    def direct() -> np.ndarray:
        return policy_actions(pol, obs)

    if not np.array_equal(predict(), direct()):
        raise AssertionError("policy_actions and SB3 predict disagree")
    raw = _interleaved_ms({"predict": predict, "policy_actions": direct}, repeats, calls)
    p, d = float(np.median(raw["predict"])), float(np.median(raw["policy_actions"]))
    return {
        "model": str(lm.path),
        "batch": batch,
        "calls": calls,
        "repeats": repeats,
        "predict_ms": p,
        "policy_actions_ms": d,
        "policy_actions_vs_predict": d / p,
        "torch_threads": th.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "raw": raw,
    }


def run_ltc_bench(batch: int = 4096, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """One PPO minibatch through the LTC backbone: ncps's dense ODE solver against the sparse one.

    Both run the encoder the ``ltc`` backbone builds (``metadvfs.learn.policy.TemporalEncoder`` with the units,
    outputs and window of ``configs/metadvfs.yaml`` and the observation channels of ``pixel6:tiktok``) with the same
    weights, on the same random windows, forward and backward (the training step's network cost), single-threaded as
    a Ray worker runs; the two are timed in alternating repetitions so machine load hits both alike. Outputs are
    checked to agree.

    Args:
        batch: Windows per minibatch (``configs/metadvfs.yaml``'s ``ppo.batch_size`` is 4096).
        repeats: Timed repetitions per solver; medians are reported.
        seed: Seed of the weights and the window.

    Returns:
        JSON-able ``dense_ms`` / ``sparse_ms`` medians per minibatch, their ratio ``speedup`` and the raw
        repetitions.
    """
    import copy

    import gymnasium as gym
    import torch as th

    from metadvfs.environment import ENV_ID
    from metadvfs.learn.config import load_config
    from metadvfs.learn.ltc import SparseLTCCell
    from metadvfs.learn.policy import TemporalEncoder

    cfg = load_config("metadvfs")
    env = gym.make(ENV_ID, device="pixel6", app="tiktok", window=cfg.env.window)
    window, channels = env.observation_space["obs"].shape  # type: ignore[index]
    env.close()
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        th.manual_seed(seed)
        net = cfg.network
        sparse = TemporalEncoder(channels, window, backbone="ltc", units=net.units, out_dim=net.out_dim)
        dense = copy.deepcopy(sparse)
        SparseLTCCell.release(cast(SparseLTCCell, dense.net.rnn_cell))
        x = th.randn(batch, window, channels, generator=th.Generator().manual_seed(seed))
        with th.no_grad():
            if not th.allclose(dense(x), sparse(x), atol=1e-5):
                raise AssertionError("sparse and dense LTC solvers disagree")

        def step(enc: Any) -> None:
            enc.zero_grad()
            enc(x).square().mean().backward()

        for enc in (dense, sparse):
            step(enc)  # warm-up (allocator)
        raw = _interleaved_ms({"dense": lambda: step(dense), "sparse": lambda: step(sparse)}, repeats)
    finally:
        th.set_num_threads(threads)
    d, s = float(np.median(raw["dense"])), float(np.median(raw["sparse"]))
    return {
        "batch": batch,
        "window": int(window),
        "channels": int(channels),
        "repeats": repeats,
        "dense_ms": d,
        "sparse_ms": s,
        "speedup": d / s,
        "cpu_count": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "raw": raw,
    }
