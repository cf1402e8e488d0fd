"""Fast adaptation to a new (device, app), measured in phone-minutes on held-out episodes.

Methods (:func:`adapt`; same phone-minute budget, same seeds, same environments, same QoE floor):

- ``context``: CAVIA-style context adaptation of the metadata-routed model: only the context (the first
  metadata layer's bias and the action-logit bias) is fitted, by the policy loss; the rest of the network is
  frozen (:mod:`metadvfs.meta.fast`);
- ``finetune``: full PPO fine-tuning of the metadata-routed model;
- ``finetune-slow``: the same at :data:`SLOW_LR_SCALE` times the learning rate (a test of whether the
  fine-tuned policy's drift away from a start already at the reference is the PPO step's noise);
- ``meta``: from a meta-initialisation (``--meta-model``), routed by metadata: full fine-tuning for FOMAML/Reptile,
  context-only adaptation for a CAVIA checkpoint;
- ``joint``: full fine-tuning from the model's unconditioned joint baseline (joint-init);
- ``incremental``: full fine-tuning from the standalone model of the nearest trained task by metadata
  (trained once with the model's per-task budget and cached under the model's ``baselines/``);
- ``scratch``: a freshly initialised network.

Quality, cost and ``minutes_to_95`` are defined in :mod:`metadvfs.meta.measure`. The reference is a
task-specific standalone model trained with the model's per-task budget (:func:`reference_model`, cached).

:func:`_finetune`, :func:`moving_average` and :func:`steps_to_threshold` remain for the negative-transfer
guard (fine-tuning flagged tasks) and older experiment records.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from metadvfs.learn.config import GeneratedConfig
from metadvfs.learn.metadata import Grouping, cosine_distances
from metadvfs.learn.tasks import ModelPlan, build_tasks, encode_tasks
from metadvfs.learn.trainer import _spaces, make_algo, make_train_env, torch_threads
from metadvfs.meta.fast import CONTEXT_LR
from metadvfs.paths import source_name
from metadvfs.tasks.task import Task, make_task


class _Curve(BaseCallback):
    """Mean step reward of every rollout, with the env-step count."""

    def __init__(self, report: Callable[[int], None] | None = None):
        super().__init__()
        self.points: list[tuple[int, float]] = []
        self.report = report

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer  # type: ignore[attr-defined]
        self.points.append((int(self.model.num_timesteps), float(np.mean(buf.rewards))))

    def _on_step(self) -> bool:
        if self.report and self.n_calls % 8 == 0:
            self.report(int(self.model.num_timesteps))
        return True


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - width)
    return (c[idx] - c[lo]) / (idx - lo)


def steps_to_threshold(steps: np.ndarray, ma: np.ndarray, threshold: float) -> int | None:
    """First step after which ``ma`` stays >= ``threshold`` until the end (None if it never does)."""
    below = np.flatnonzero(ma < threshold)
    if len(below) == 0:
        return int(steps[0])
    if below[-1] == len(ma) - 1:
        return None
    return int(steps[below[-1] + 1])


def _finetune(
    cfg: Any,
    task: Task,
    meta_row: np.ndarray,
    init: dict[str, th.Tensor] | None,
    use_meta: bool,
    steps: int,
    seed: int,
    n_envs: int,
    report: Callable[[int], None] | None,
) -> tuple[dict[str, th.Tensor], list[tuple[int, float]]]:
    venv = make_train_env((task,), cfg, meta_row[None], seed, n_per_task=n_envs)  # type: ignore[arg-type]
    algo = make_algo(cfg, venv, use_meta, seed, None)
    if init is not None:
        algo.policy.load_state_dict(init)
    cb = _Curve(report)
    algo.learn(steps, callback=cb, progress_bar=False)
    sd = {k: v.detach().clone() for k, v in algo.policy.state_dict().items()}
    venv.close()
    return sd, cb.points


def nearest_task(model: LoadedModel, task: Task) -> str:
    """The model's training task closest to ``task`` by metadata (weighted cosine distance)."""
    names = list(model.doc["tasks"])
    vec = encode_tasks(build_tasks(names), model.encoder)
    d = cosine_distances(np.vstack([model.encode(task)[None], vec]), model.encoder.block_weights())[0, 1:]
    return names[int(np.argmin(d))]


def incremental_job(model: LoadedModel, near: str) -> tuple[Any, Path]:
    """Config and directory of the incremental method's start.

    That is a standalone model of the trained task ``near`` with the model's per-task budget and seed, cached
    under the model's ``baselines/``.
    """
    from metadvfs.learn.baseline_models import baseline_root, per_task_budget

    d = baseline_root(model) / f"standalone-{near.replace(':', '-')}"
    c = dataclasses.replace(
        model.cfg, mode="standalone", tasks=(near,), total_steps=per_task_budget(model), name=f"standalone-{near}",
        generated=GeneratedConfig(),
    )  # fmt: skip
    return c, d


def train_once(cfg: Any, dest: Path) -> Path:
    """Train ``cfg`` into ``dest`` unless it is finished there.

    Trained as one training unit of the scale-out (:func:`metadvfs.scale.units.train_into`: resumed after an
    interruption), so a model trained ahead as a unit (``experiments/adaptation.py --ray``) is the one used here.
    """
    from metadvfs.scale.units import train_into

    train_into(cfg, dest)
    return dest


def _incremental_init(model: LoadedModel, near: str) -> tuple[dict[str, th.Tensor], bool]:
    base = load_checkpoint(train_once(*incremental_job(model, near)))
    mid = base.doc["models"][0]["id"]
    return {k: v.detach().clone() for k, v in base.policies[mid].state_dict().items()}, False


METHODS_ALL = ("context", "finetune", "finetune-slow", "meta", "joint", "incremental", "scratch")
"""Adaptation methods of :func:`adapt` (see the module docstring)."""
SLOW_LR_SCALE = 0.2
"""Learning-rate factor of method ``finetune-slow`` (one fifth of the model's PPO step)."""
DEFAULT_METHOD = "finetune"
"""The method ``metadvfs adapt`` uses unless told otherwise, in simulation and on a phone: the fastest to 95 % of
the reference over the 11 held-out folds (2.97 phone-minutes on the mean against context's 5.83; README,
*Adaptation, shipped recipe, all 11 folds pooled*)."""


def _task_spec(device: str, app: str) -> str:
    return f"{device}:{app}"


def reference_job(model: LoadedModel, task: Task, spec: str) -> tuple[Any, Path]:
    """Config and directory of the task-specific reference of ``task`` (see :func:`reference_model`)."""
    import hashlib

    from metadvfs.catalog.devices import profile_hash
    from metadvfs.learn.baseline_models import baseline_root, per_task_budget
    from metadvfs.workload.apps import app_to_dict

    budget = per_task_budget(model)
    key = json.dumps([profile_hash(task.device), app_to_dict(task.app), budget], sort_keys=True, default=str)
    h = hashlib.sha256(key.encode()).hexdigest()[:12]
    d = baseline_root(model) / f"reference-{task.device.name}-{task.app.name}-{h}"
    c = dataclasses.replace(
        model.cfg, mode="standalone", tasks=(spec,), total_steps=budget, name=f"reference-{h}",
        generated=GeneratedConfig(),
    )  # fmt: skip
    return c, d


def reference_model(model: LoadedModel, task: Task, spec: str) -> Path:
    """Task-specific reference: a standalone model trained on the new task with the model's per-task budget.

    Trained once and cached under the model's baselines directory, keyed by the task's profiles and the budget.
    """
    return train_once(*reference_job(model, task, spec))


def _joint_init(model: LoadedModel) -> tuple[dict[str, th.Tensor], bool]:
    from metadvfs.learn.baseline_models import baseline_root

    d = baseline_root(model) / "joint"
    if not (d / "model.json").is_file():
        raise MetaDVFSError(
            f"joint-init: no joint model at {d} (train it with: metadvfs evaluate --model {model.path} "
            "--baselines joint)"
        )
    j = load_checkpoint(d)
    mid = j.doc["models"][0]["id"]
    return {k: v.detach().clone() for k, v in j.policies[mid].state_dict().items()}, False


def _meta_init(meta_model: str | Path | None, task: Task) -> tuple[dict[str, th.Tensor], bool, np.ndarray, bool]:
    """Routed group weights of a meta checkpoint and how to adapt them.

    Returns:
        ``(weights, conditioned, metadata row, context_only)``; ``context_only`` for a CAVIA checkpoint.
    """
    if meta_model is None:
        raise MetaDVFSError("method 'meta': give --meta-model DIR (a metadvfs meta-train checkpoint)")
    mm = load_checkpoint(meta_model)
    gid = mm.model_for(task)
    um = bool(next(m for m in mm.doc["models"] if m["id"] == gid)["use_meta"])
    cavia = mm.doc.get("train", {}).get("meta", {}).get("algo") == "cavia"
    return {k: v.detach().clone() for k, v in mm.policies[gid].state_dict().items()}, um, mm.encode(task), cavia


def adapt(
    model_ref: str | Path,
    device: str,
    app: str,
    budget_minutes: float = 10.0,
    out: str | Path | None = None,
    methods: Sequence[str] = (DEFAULT_METHOD,),
    seed: int = 0,
    n_envs: int = 8,
    rollout: int = 32,
    eval_every: int = 1,
    eval_seeds: int = 4,
    eval_seconds: float = 20.0,
    qoe_margin: float | None = 0.05,
    context_lr: float = CONTEXT_LR,
    meta_model: str | Path | None = None,
    reference: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Adapt a model to a new (device, app) with each method on the same budget and seeds; measure it.

    Args:
        model_ref: Checkpoint directory or shipped model name.
        device: Device name or profile file.
        app: App name or app-profile file.
        budget_minutes: Adaptation budget in phone-minutes (> 0; decisions x decision interval, summed over
            the simulated phones).
        out: Directory for the adapted model (first method), ``adaptation.json`` and the plot.
        methods: Among :data:`METHODS_ALL`; the first one's weights are saved.
        seed: Seed of every method's environments and PPO (must leave the evaluation seeds untouched).
        n_envs: Simulated phones.
        rollout: Decisions per phone per PPO update.
        eval_every: PPO updates between curve points.
        eval_seeds: Held-out evaluation episodes.
        eval_seconds: Length of an evaluation episode, s.
        qoe_margin: QoE floor margin below the stock governor (``None``: no floor).
        context_lr: Adam step size of context adaptation (:data:`metadvfs.meta.fast.CONTEXT_LR`).
        meta_model: Meta-initialisation checkpoint for method ``meta``.
        reference: Train (or reuse) the task-specific reference and report minutes to 95 % of it.
        progress: ``(method, decisions_done, decisions)`` callback.

    Returns:
        JSON-able report (see :mod:`metadvfs.meta.measure`).
    """
    from metadvfs.learn.evaluate import SEED_BASE
    from metadvfs.meta import fast
    from metadvfs.meta.measure import HeldOut, PolicyDriver, env_kwargs, summarize_curve

    if not budget_minutes > 0:
        raise MetaDVFSError(f"--budget-minutes: must be > 0, got {budget_minutes}")
    if not methods:
        raise MetaDVFSError("--compare: no method given")
    bad = [c for c in methods if c not in METHODS_ALL]
    if bad:
        raise MetaDVFSError(f"--compare: unknown method {bad[0]!r}; choose from {', '.join(METHODS_ALL)}")
    if n_envs < 1 or rollout < 8:
        raise MetaDVFSError(f"--phones must be >= 1 and --rollout >= 8, got {n_envs}, {rollout}")
    if not 0 <= seed <= SEED_BASE - n_envs - 1:
        raise MetaDVFSError(f"--seed: must be in [0, {SEED_BASE - n_envs - 1}] (evaluation uses {SEED_BASE}+)")
    if qoe_margin is not None and not 0 <= qoe_margin <= 1:
        raise MetaDVFSError(f"--qoe-margin: must be in [0, 1], got {qoe_margin}")
    th.set_num_threads(torch_threads())
    model = load_checkpoint(model_ref)
    if model.doc["algo"] != "ppo":
        raise MetaDVFSError(f"{model.path}: adaptation supports PPO checkpoints (this one is {model.doc['algo']})")
    task = make_task(device, app)
    spec = _task_spec(device, app)
    meta_row = model.encode(task)
    cfg = model.cfg
    dt = float(cfg.env.decision_interval_s)
    unit = n_envs * rollout
    decisions = max(unit, int(np.ceil(budget_minutes * 60.0 / dt / unit)) * unit)
    held = HeldOut(spec, eval_seeds, eval_seconds)
    stock_name = held.reference_governor
    stock = held.governor(stock_name)
    oracle = held.governor("oracle")
    floor = None if qoe_margin is None else stock["qoe"] - qoe_margin
    kw = env_kwargs(cfg)

    def quality(policy: Any, row: np.ndarray = meta_row) -> dict[str, float]:
        return held.quality(PolicyDriver("adapting", policy, row, kw))

    ref_q: dict[str, float] | None = None
    ref_path = None
    if reference:
        ref_path = reference_model(model, task, spec)
        rm = load_checkpoint(ref_path)
        ref_q = quality(rm.policies[rm.doc["models"][0]["id"]])
    gid = model.model_for(task)
    routed_meta = bool(next(m for m in model.doc["models"] if m["id"] == gid)["use_meta"])
    routed = {k: v.detach().clone() for k, v in model.policies[gid].state_dict().items()}
    near = nearest_task(model, task)
    runs: dict[str, fast.RunResult] = {}
    info: dict[str, dict[str, Any]] = {}
    for name in methods:
        row = meta_row
        ctx_only = name == "context"
        if name in ("context", "finetune", "finetune-slow"):
            init, um = routed, routed_meta
        elif name == "meta":
            init, um, row, ctx_only = _meta_init(meta_model, task)
        elif name == "joint":
            init, um = _joint_init(model)
        elif name == "incremental":
            init, um = _incremental_init(model, near)
        else:
            init, um = None, routed_meta

        def rep(s: int, n: str = name) -> None:
            if progress:
                progress(n, s, decisions)

        def q_of(pol: Any, r: np.ndarray = row) -> dict[str, float]:
            return quality(pol, r)

        lr_scale = SLOW_LR_SCALE if name == "finetune-slow" else 1.0
        runs[name] = fast.run(
            cfg, task, row, init, um, decisions, seed, n_envs, rollout, q_of, eval_every,
            context_only=ctx_only, context_lr=context_lr, floor=floor, report=rep, lr_scale=lr_scale,
        )  # fmt: skip
        info[name] = {"init_uses_metadata": um, "context_only": ctx_only,
                      **({"lr_scale": lr_scale} if lr_scale != 1.0 else {})}  # fmt: skip
    ref_for = ref_q if ref_q is not None else oracle
    report: dict[str, Any] = {
        "task": task.name,
        "model": source_name(model.path),
        "routed_model": gid,
        "nearest_task": near,
        "extrapolated": [f.to_dict() for f in model.out_of_range(task)],
        "budget_phone_minutes": budget_minutes,
        "decision_interval_s": dt,
        "phones": n_envs,
        "rollout": rollout,
        "seed": seed,
        "eval": {"seeds": list(held.base.seeds), "seconds": eval_seconds, "normalised_to": stock_name},
        "stock": stock,
        "oracle": oracle,
        "reference": None if ref_q is None else {**ref_q, "path": str(ref_path)},
        "qoe_floor": floor,
        "methods": {},
    }
    for name, r in runs.items():
        s = summarize_curve(r.curve, ref_for, oracle, stock)
        if ref_q is None:
            s["vs_reference"] = {"minutes_to_95": None, "reached": False, "note": "no reference (--no-reference)"}
            s["minutes_to_95"] = None
        s["fallback_share"] = r.fallback_share
        s["decisions"] = r.decisions
        report["methods"][name] = {**info[name], **s}
    report["minutes_to_95"] = {k: v["minutes_to_95"] for k, v in report["methods"].items()}
    if out is not None:
        first = methods[0]
        um0 = info[first]["init_uses_metadata"]
        _save(Path(out), model, task, spec, runs[first].state_dict, um0, report)
    return report


def save_adapted(
    out: Path, model: LoadedModel, spec: str, sd: dict[str, th.Tensor], use_meta: bool, train_info: dict[str, Any]
) -> None:
    """Write an adapted model as a one-model checkpoint (``metadvfs export``/``evaluate`` load it).

    Args:
        out: Checkpoint directory.
        model: The model adaptation started from (config and metadata encoder are kept).
        spec: The task as ``DEVICE:APP`` with names or profile paths (so the checkpoint stays loadable).
        sd: Adapted policy weights.
        use_meta: Whether the network is metadata-conditioned.
        train_info: Facts about the adaptation stored in ``model.json``.
    """
    cfg = dataclasses.replace(
        model.cfg, tasks=(spec,), mode="conditioned" if use_meta else "standalone", generated=GeneratedConfig()
    )
    obs_space, act_space = _spaces(cfg, model.encoder.dim)
    save_checkpoint(
        out, cfg=cfg, encoder=model.encoder, plans=[ModelPlan("adapted", (spec,), use_meta)],
        grouping=Grouping((0,), 1, {}, "adapted"), task_names=[spec], state_dicts={"adapted": sd},
        obs_space=obs_space, action_space=act_space, train_info={"adapted_from": source_name(model.path), **train_info},
    )  # fmt: skip


def _save(
    out: Path,
    model: LoadedModel,
    task: Task,
    spec: str,
    sd: dict[str, th.Tensor],
    use_meta: bool,
    report: dict[str, Any],
) -> None:
    """Write the adapted model; its task is ``spec`` as given (profile paths stay loadable), not ``task.name``."""
    from metadvfs.io import write_text_atomic, write_with

    save_adapted(out, model, spec, sd, use_meta, {"budget_phone_minutes": report["budget_phone_minutes"]})
    write_text_atomic(out / "adaptation.json", json.dumps(report, indent=1))
    from metadvfs.viz.adaptation import plot_adaptation

    write_with(out / "adaptation.png", lambda p: plot_adaptation(report, p, title=f"adaptation to {task.name}"))
