"""Training in rungs for a sweep: every model of a run advances one rung, then the run is evaluated.

ASHA compares trials at the same budget, so a trial must be scored part-way. :func:`train_in_rungs` builds
the run's models exactly as :func:`metadvfs.learn.trainer.train` does (same plan, environments, algorithms and
seeds, from the trainer's own functions) and advances all of them to ``r / rungs`` of their budget before
writing a normal checkpoint for rung ``r`` and calling back. The final rung reaches the full budget, but
the models' updates are interleaved, so its weights are not bit-identical to a ``metadvfs train`` run of the
same config: retrain the best config with ``metadvfs train`` for the reported model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch as th

from metadvfs.learn.config import TrainConfig


def train_in_rungs(cfg: TrainConfig, out: Path, rungs: int, on_rung: Callable[[int, Path, int], bool]) -> None:
    """Train ``cfg`` in ``rungs`` stages, writing ``out/rung<r>/`` (a checkpoint) after each.

    Args:
        cfg: The config.
        out: Directory for the rung checkpoints.
        rungs: Number of stages (>= 1).
        on_rung: ``(rung, checkpoint dir, env steps so far) -> continue?``.
    """
    from metadvfs.learn.checkpoint import save_checkpoint
    from metadvfs.learn.tasks import build_tasks, encode_tasks, fit_encoder, parse_task_names, plan_models
    from metadvfs.learn.trainer import _spaces, make_algo, make_train_env, model_budget, torch_threads

    th.set_num_threads(torch_threads())
    names = parse_task_names(list(cfg.tasks))
    tasks = build_tasks(names)
    encoder = fit_encoder(tasks)
    vectors = encode_tasks(tasks, encoder)
    plans, grouping = plan_models(cfg.mode, names, vectors, encoder.block_weights(), cfg.groups)
    row = {n: i for i, n in enumerate(names)}
    models: list[tuple[Any, Any, int, int]] = []
    for mi, plan in enumerate(plans):
        seed = cfg.seed + 1000 * mi
        venv = make_train_env(plan.tasks, cfg, vectors[[row[n] for n in plan.tasks]], seed)
        algo = make_algo(cfg, venv, plan.use_meta, seed, None)
        unit = cfg.ppo.n_steps * venv.num_envs if cfg.algo == "ppo" else venv.num_envs
        models.append((algo, venv, model_budget(cfg, plan, len(names), venv.num_envs), unit))
    obs_space, act_space = _spaces(cfg, encoder.dim)
    try:
        for r in range(1, rungs + 1):
            for algo, _, budget, unit in models:
                target = budget if r == rungs else max(unit, math.ceil(budget * r / rungs / unit) * unit)
                if target > algo.num_timesteps:
                    algo.learn(target - algo.num_timesteps, reset_num_timesteps=False, progress_bar=False)
            steps = sum(int(a.num_timesteps) for a, _, _, _ in models)
            d = out / f"rung{r}"
            save_checkpoint(
                d,
                cfg=cfg,
                encoder=encoder,
                plans=plans,
                grouping=grouping,
                task_names=names,
                state_dicts={
                    p.id: {k: v.detach().clone() for k, v in a.policy.state_dict().items()}
                    for p, (a, _, _, _) in zip(plans, models, strict=True)
                },
                obs_space=obs_space,
                action_space=act_space,
                train_info={"rung": r, "rungs": rungs, "total_steps": steps},
            )
            if not on_rung(r, d, steps):
                break
    finally:
        for _, venv, _, _ in models:
            venv.close()
