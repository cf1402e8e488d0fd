"""Multi-task training: one batched VecEnv mixing tasks, SB3 PPO/DQN, atomic checkpoints, exact resume.

A run trains the models of its plan (:func:`metadvfs.learn.tasks.plan_models`) one after the other. Each
model learns in chunks of ``checkpoint_every_steps`` (rounded to whole PPO rollouts); after every chunk the
complete training state is written atomically to ``OUT/train_state/`` (SB3 model with optimizer, replay
buffer for DQN, the pickled simulator batch, the last observation, torch and numpy RNG states), so
``--resume`` continues exactly where the run stopped: an interrupted and resumed run ends with the same
weights as an uninterrupted one. The final model is a plain-data checkpoint (:mod:`metadvfs.learn.checkpoint`).
"""

from __future__ import annotations

import functools
import json
import pickle
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv

from metadvfs.errors import MetaDVFSError
from metadvfs.io import atomic_path, write_text_atomic
from metadvfs.learn.checkpoint import save_checkpoint
from metadvfs.learn.config import TrainConfig, config_to_dict
from metadvfs.learn.policy import policy_kwargs
from metadvfs.learn.tasks import ModelPlan, build_tasks, encode_tasks, fit_encoder, plan_models, training_task_names
from metadvfs.learn.wrappers import FlatActionVecEnv, MetaVecEnv

STATE_DIR = "train_state"


def torch_threads() -> int:
    """Intra-op threads for training: ``METADVFS_TORCH_THREADS`` or 1.

    The networks are small (~12k parameters); on a 2-core machine a second OpenMP thread mostly spins while
    the simulator runs, and under load it slows training several-fold.
    """
    import os

    try:
        return max(1, int(os.environ.get("METADVFS_TORCH_THREADS", "1")))
    except ValueError:
        raise MetaDVFSError("METADVFS_TORCH_THREADS: must be a positive integer") from None


def make_train_env(
    task_names: tuple[str, ...], cfg: TrainConfig, meta_rows: np.ndarray, seed: int, n_per_task: int | None = None
) -> VecEnv:
    """Build the batched, metadata-substituted training VecEnv for some tasks.

    Args:
        task_names: Tasks of one model.
        cfg: Run config (env options, envs per task, algo).
        meta_rows: (T, M) encoded metadata of ``task_names``.
        seed: Seed for the envs (env ``i`` gets ``seed + i``).
        n_per_task: Environments per task (default ``cfg.envs_per_task``).

    Returns:
        The VecEnv (Dict obs, MultiDiscrete or flattened Discrete actions).
    """
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv

    k = n_per_task or cfg.envs_per_task
    tasks = build_tasks(task_names)
    envs = [t for t in tasks for _ in range(k)]
    meta = np.repeat(meta_rows, k, axis=0)
    venv: VecEnv = BatchedDVFSVecEnv(envs, options=cfg.env)
    venv = MetaVecEnv(venv, meta)
    if cfg.algo == "dqn":
        venv = FlatActionVecEnv(venv)
    venv.seed(seed)
    return venv


def make_algo(cfg: TrainConfig, venv: VecEnv, use_meta: bool, seed: int, tb_dir: Path | None) -> BaseAlgorithm:
    """Create the SB3 algorithm with the MetaDVFS network."""
    n = cfg.network
    pk = policy_kwargs(n.backbone, n.units, n.out_dim, n.meta_dim, use_meta, n.head, cfg.algo, n.wiring)
    tb = str(tb_dir) if tb_dir is not None else None
    algo: BaseAlgorithm
    if cfg.algo == "ppo":
        p = cfg.ppo
        algo = PPO(
            "MultiInputPolicy",
            venv,
            learning_rate=p.learning_rate,
            n_steps=p.n_steps,
            batch_size=min(p.batch_size, p.n_steps * venv.num_envs),
            n_epochs=p.n_epochs,
            gamma=p.gamma,
            gae_lambda=p.gae_lambda,
            ent_coef=p.ent_coef,
            clip_range=p.clip_range,
            vf_coef=p.vf_coef,
            max_grad_norm=p.max_grad_norm,
            policy_kwargs=pk,
            seed=seed,
            device="cpu",
            tensorboard_log=tb,
            verbose=0,
        )
        return with_run_logger(algo, tb_dir)
    d = cfg.dqn
    algo = DQN(
        "MultiInputPolicy",
        venv,
        learning_rate=d.learning_rate,
        buffer_size=d.buffer_size,
        learning_starts=d.learning_starts,
        batch_size=d.batch_size,
        gamma=d.gamma,
        train_freq=d.train_freq,
        gradient_steps=d.gradient_steps,
        tau=d.tau,
        target_update_interval=d.target_update_interval,
        exploration_fraction=d.exploration_fraction,
        exploration_initial_eps=d.exploration_initial_eps,
        exploration_final_eps=d.exploration_final_eps,
        policy_kwargs=pk,
        seed=seed,
        device="cpu",
        tensorboard_log=tb,
        verbose=0,
    )
    return with_run_logger(algo, tb_dir)


def with_run_logger(algo: BaseAlgorithm, tb_dir: Path | None) -> BaseAlgorithm:
    """Give an SB3 algorithm an explicit logger so a run writes nothing outside its output directory.

    Without TensorBoard, SB3's ``learn()`` would configure a default logger in a new ``SB3-<timestamp>``
    folder of the system temp directory; this sets a logger with no folder and no outputs instead. With
    TensorBoard (``tb_dir`` inside the run's output directory) SB3 keeps its own per-run logger there.

    Args:
        algo: A freshly created or loaded algorithm.
        tb_dir: TensorBoard directory, or ``None``.

    Returns:
        ``algo``.
    """
    if tb_dir is None:
        algo.set_logger(Logger(folder=None, output_formats=[]))
    return algo


def chunk_size(cfg: TrainConfig, n_envs: int) -> int:
    """Environment steps per learn() chunk: whole rollouts (PPO) and at least one vector step."""
    unit = cfg.ppo.n_steps * n_envs if cfg.algo == "ppo" else n_envs
    every = cfg.checkpoint_every_steps or cfg.total_steps
    return max(unit, (every // unit) * unit)


def model_budget(cfg: TrainConfig, plan: ModelPlan, n_tasks: int, n_envs: int) -> int:
    """Steps for one model: its share of ``total_steps`` by task count, rounded up to whole vector steps."""
    unit = cfg.ppo.n_steps * n_envs if cfg.algo == "ppo" else n_envs
    share = cfg.total_steps * len(plan.tasks) / n_tasks
    return max(unit, int(np.ceil(share / unit)) * unit)


def _report(
    progress: Callable[[str, int, int, float], None] | None,
    model_id: str,
    base: int,
    total: int,
    steps: int,
    reward: float,
) -> None:
    """Forward one model's progress (steps since its start) as whole-run progress."""
    if progress:
        progress(model_id, base + steps, total, reward)


class _Progress(BaseCallback):
    """Feeds env steps and the mean reward into a progress callback."""

    def __init__(self, report: Callable[[int, float], None]):
        super().__init__()
        self.report = report
        self._rew: list[float] = []

    def _on_step(self) -> bool:
        r = self.locals.get("rewards")
        if r is not None:
            self._rew.append(float(np.mean(r)))
        if self.n_calls % 8 == 0:
            self.report(self.model.num_timesteps, float(np.mean(self._rew[-64:])) if self._rew else float("nan"))
        return True


@dataclass
class _RunState:
    done_models: list[str]
    current: str | None
    steps_done: int


def _rng_state() -> dict[str, Any]:
    return {"torch": th.get_rng_state(), "numpy": np.random.get_state()}


def _set_rng_state(s: dict[str, Any]) -> None:
    th.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])


def _inner_batch(venv: VecEnv) -> Any:
    v: Any = venv
    while hasattr(v, "venv"):
        v = v.venv
    return v


def _save_state(sd: Path, plan: ModelPlan, algo: BaseAlgorithm, venv: VecEnv, run: _RunState) -> None:
    tmp = sd.with_name(sd.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    algo.save(tmp / "algo.zip")
    if isinstance(algo, DQN):
        algo.save_replay_buffer(tmp / "replay.pkl")
    inner = _inner_batch(venv)
    extra = {
        "batch": inner.batch,
        "last_obs": algo._last_obs,
        "last_episode_starts": algo._last_episode_starts,
        "last_original_obs": getattr(algo, "_last_original_obs", None),
        "rng": _rng_state(),
        "episode_info_buffer": list(algo.ep_info_buffer or []),
        "action_space_rng": algo.action_space.np_random.bit_generator.state,
    }
    with open(tmp / "extra.pkl", "wb") as f:
        pickle.dump(extra, f, protocol=pickle.HIGHEST_PROTOCOL)
    (tmp / "run.json").write_text(
        json.dumps({"done_models": run.done_models, "current": plan.id, "steps_done": run.steps_done}),
        encoding="utf-8",
    )
    old = sd.with_name(sd.name + ".old")
    if sd.exists():
        sd.rename(old)
    tmp.rename(sd)
    if old.exists():
        shutil.rmtree(old)


def _load_run(sd: Path) -> _RunState:
    try:
        r = json.loads((sd / "run.json").read_text(encoding="utf-8"))
        return _RunState(list(r["done_models"]), r.get("current"), int(r["steps_done"]))
    except (OSError, ValueError, KeyError) as exc:
        raise MetaDVFSError(f"{sd}: training state is missing or corrupt ({exc.__class__.__name__})") from None


def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: Callable[[str, int, int, float], None] | None = None,
    tensorboard: bool = True,
) -> Path:
    """Train every model of the run and write the final checkpoint to ``out``.

    Args:
        cfg: The validated config.
        out: Output directory (checkpoint, ``tb/`` TensorBoard logs, ``train_state/`` while running).
        resume: Continue from ``out/train_state`` exactly; without it an existing checkpoint is an error.
        progress: Callback ``(model_id, steps_done_total, steps_total, mean_reward)``.
        tensorboard: Write TensorBoard logs under ``out/tb``.

    Returns:
        The checkpoint directory.
    """
    out = Path(out)
    sd = out / STATE_DIR
    if out.exists() and any(out.iterdir()) and not resume:
        raise MetaDVFSError(f"{out}: output directory is not empty; use --resume to continue, --force to replace it")
    if resume and not sd.exists():
        if (out / "model.json").exists():
            raise MetaDVFSError(f"{out}: training already finished (model.json present); nothing to resume")
        raise MetaDVFSError(f"{out}: no training state to resume ({STATE_DIR}/ missing)")
    out.mkdir(parents=True, exist_ok=True)
    th.set_num_threads(torch_threads())

    names = training_task_names(cfg)
    tasks = build_tasks(names)
    encoder = fit_encoder(tasks)
    vectors = encode_tasks(tasks, encoder)
    plans, grouping = plan_models(cfg.mode, names, vectors, encoder.block_weights(), cfg.groups)
    row = {n: i for i, n in enumerate(names)}
    budgets = {p.id: model_budget(cfg, p, len(names), len(p.tasks) * cfg.envs_per_task) for p in plans}
    total = sum(budgets.values())
    run = _load_run(sd) if resume else _RunState([], None, 0)
    write_text_atomic(out / "config.resolved.json", json.dumps(config_to_dict(cfg), indent=1))

    state_dicts: dict[str, dict[str, th.Tensor]] = {}
    models_dir = out / "models"
    t0 = time.perf_counter()
    for mi, plan in enumerate(plans):
        if plan.id in run.done_models:
            state_dicts[plan.id] = th.load(models_dir / f"{plan.id}.pt", weights_only=True)
            continue
        seed = cfg.seed + 1000 * mi
        meta_rows = vectors[[row[n] for n in plan.tasks]]
        venv = make_train_env(plan.tasks, cfg, meta_rows, seed)
        tb = out / "tb" if tensorboard else None
        algo = make_algo(cfg, venv, plan.use_meta, seed, tb)
        base = sum(budgets[p.id] for p in plans if p.id in run.done_models)
        done = 0
        if resume and run.current == plan.id:
            algo, done = _restore(sd, cfg, venv, tb)
        step = chunk_size(cfg, venv.num_envs)
        cb = _Progress(functools.partial(_report, progress, plan.id, base, total))
        while done < budgets[plan.id]:
            n = min(step, budgets[plan.id] - done)
            algo.learn(n, callback=cb, reset_num_timesteps=False, tb_log_name=plan.id, progress_bar=False)
            done = int(algo.num_timesteps)
            if cfg.checkpoint_every_steps and done < budgets[plan.id]:
                _save_state(sd, plan, algo, venv, _RunState(run.done_models, plan.id, done))
        sdict = {k: v.detach().clone() for k, v in algo.policy.state_dict().items()}
        state_dicts[plan.id] = sdict
        models_dir.mkdir(exist_ok=True)
        with atomic_path(models_dir / f"{plan.id}.pt") as tmp:
            th.save(sdict, tmp)
        run.done_models.append(plan.id)
        run.current = None
        if progress:
            progress(plan.id, base + budgets[plan.id], total, float("nan"))
        if cfg.checkpoint_every_steps:
            sd.mkdir(parents=True, exist_ok=True)
            write_text_atomic(
                sd / "run.json",
                json.dumps({"done_models": run.done_models, "current": None, "steps_done": 0}),
            )
        venv.close()
    wall = time.perf_counter() - t0
    obs_space, act_space = _spaces(cfg, encoder.dim)
    save_checkpoint(
        out,
        cfg=cfg,
        encoder=encoder,
        plans=plans,
        grouping=grouping,
        task_names=names,
        state_dicts=state_dicts,
        obs_space=obs_space,
        action_space=act_space,
        train_info={"wall_s": round(wall, 1), "total_steps": total, "resumed": resume},
    )
    if sd.exists():
        shutil.rmtree(sd)
    return out


def _restore(sd: Path, cfg: TrainConfig, venv: VecEnv, tb: Path | None) -> tuple[BaseAlgorithm, int]:
    cls = PPO if cfg.algo == "ppo" else DQN
    try:
        algo = with_run_logger(
            cls.load(sd / "algo.zip", env=venv, device="cpu", tensorboard_log=str(tb) if tb else None), tb
        )
        with open(sd / "extra.pkl", "rb") as f:
            extra = pickle.load(f)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
        raise MetaDVFSError(f"{sd}: training state is corrupt ({exc.__class__.__name__})") from None
    if isinstance(algo, DQN):
        algo.load_replay_buffer(sd / "replay.pkl")
    inner = _inner_batch(venv)
    inner.batch = extra["batch"]
    algo._last_obs = extra["last_obs"]
    algo._last_episode_starts = extra["last_episode_starts"]
    if extra.get("last_original_obs") is not None:
        algo._last_original_obs = extra["last_original_obs"]
    if algo.ep_info_buffer is not None:
        algo.ep_info_buffer.extend(extra.get("episode_info_buffer", []))
    _set_rng_state(extra["rng"])
    algo.action_space.np_random.bit_generator.state = extra["action_space_rng"]
    return algo, int(algo.num_timesteps)


def _spaces(cfg: TrainConfig, meta_dim: int) -> tuple[Any, Any]:
    from gymnasium import spaces

    from metadvfs.environment import codec
    from metadvfs.learn.wrappers import META_HIGH, META_LOW

    obs = spaces.Dict(
        {
            "obs": spaces.Box(codec.OBS_LOW, codec.OBS_HIGH, (cfg.env.window, codec.OBS_DIM), np.float32),
            "meta": spaces.Box(META_LOW, META_HIGH, (meta_dim,), np.float32),
        }
    )
    nvec = codec.action_nvec(cfg.env.action_mode, cfg.env.levels)
    act = spaces.Discrete(int(np.prod(nvec))) if cfg.algo == "dqn" else spaces.MultiDiscrete(nvec)
    return obs, act
