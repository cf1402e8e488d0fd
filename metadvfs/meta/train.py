"""Meta-train one initialization per metadata group and save them as a checkpoint."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch as th

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import save_checkpoint
from metadvfs.learn.config import TrainConfig
from metadvfs.learn.tasks import build_tasks, encode_tasks, fit_encoder, plan_models, training_task_names
from metadvfs.learn.trainer import _spaces, make_algo, make_train_env, torch_threads
from metadvfs.meta.maml import MetaConfig, meta_train_group


def fresh_policy_state(cfg: TrainConfig, task: str, meta_row: th.Tensor | None, seed: int) -> dict[str, th.Tensor]:
    """A randomly initialised policy state_dict with the config's network (seeded)."""
    import numpy as np

    rows = np.zeros((1, len(meta_row))) if meta_row is not None else np.zeros((1, 1))
    venv = make_train_env((task,), cfg, rows, seed, n_per_task=1)
    algo = make_algo(cfg, venv, True, seed, None)
    sd = {k: v.detach().clone() for k, v in algo.policy.state_dict().items()}
    venv.close()
    return sd


def meta_train(
    cfg: TrainConfig,
    mcfg: MetaConfig,
    out: str | Path,
    progress: Callable[[str, int, int, float], None] | None = None,
) -> Path:
    """Meta-train every metadata group of ``cfg.tasks`` and write a checkpoint to ``out``.

    Args:
        cfg: Training config (tasks, grouping, network, env, PPO coefficients); ``mode`` is set to grouped.
        mcfg: Meta hyper-parameters.
        out: Output checkpoint directory (must not exist or be empty).
        progress: ``(group id, iteration, iterations, reward)`` callback.

    Returns:
        The checkpoint directory.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise MetaDVFSError(f"{out}: output directory is not empty")
    th.set_num_threads(torch_threads())
    if cfg.algo != "ppo":
        raise MetaDVFSError("meta-training works on the PPO loss; set algo: ppo")
    names = training_task_names(cfg)
    tasks = build_tasks(names)
    enc = fit_encoder(tasks)
    vec = encode_tasks(tasks, enc)
    plans, grouping = plan_models("grouped", names, vec, enc.block_weights(), cfg.groups)
    row = {n: i for i, n in enumerate(names)}
    t0 = time.perf_counter()
    states: dict[str, dict[str, th.Tensor]] = {}
    curves: dict[str, list[float]] = {}
    for gi, plan in enumerate(plans):
        rows = vec[[row[n] for n in plan.tasks]]
        init = fresh_policy_state(cfg, plan.tasks[0], rows[0], cfg.seed + gi)

        def rep(i: int, n: int, r: float, pid: str = plan.id) -> None:
            if progress:
                progress(pid, i, n, r)

        states[plan.id], curves[plan.id] = meta_train_group(
            cfg, mcfg, plan.tasks, rows, init, cfg.seed + 101 * (gi + 1), rep
        )
    mcfg_d = dataclasses.asdict(mcfg)
    obs_space, act_space = _spaces(cfg, enc.dim)
    save_checkpoint(
        out,
        cfg=dataclasses.replace(cfg, mode="grouped"),
        encoder=enc,
        plans=plans,
        grouping=grouping,
        task_names=names,
        state_dicts=states,
        obs_space=obs_space,
        action_space=act_space,
        train_info={"wall_s": round(time.perf_counter() - t0, 1), "meta": mcfg_d, "meta_curves": curves},
    )
    return out
