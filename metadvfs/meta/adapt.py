"""Fast adaptation to a new (device, app): fine-tune from the metadata-routed initialization.

Methods (same step budget, same seeds, same environments):

- ``meta``: start from the model the metadata routes the new task to (its group's meta-initialization for a
  meta checkpoint, the conditioned policy for a conditioned one);
- ``scratch``: a freshly initialised network;
- ``incremental``: start from the standalone model of the nearest trained task by metadata (trained once with
  the model's per-task budget and cached under the model's ``baselines/``).

**Convergence measure.** Rewards are recorded after every PPO rollout. The moving average spans 60 s of
simulated time per phone. The *converged* reward of a method is the mean of its last 20 % of moving-average
points. Because a random policy already earns most of the reward scale (QoE ≈ 1 under any reasonable clock),
"95 % of converged reward" is measured on the improvement: the threshold is
``r_start + 0.95 · (r_conv − r_start)``, with ``r_start`` the first moving-average point of the ``scratch``
run when it is compared (one common reference for all methods), else of the method itself.
``steps_to_95`` is the first environment step after which the moving average stays at or above the threshold
to the end; the threshold is lowered to ``r_conv − 2·sd`` when that is lower (``sd``: spread of the
moving average over the converged tail), so a curve that starts within noise of its plateau counts as
converged instead of "never reached"; ``steps_to_95_common`` uses the best converged reward among the
compared methods instead of the method's own. Simulated minutes = steps × decision interval / 60 (the time
one phone would need to make that many decisions).
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
from metadvfs.learn.metadata import Grouping, cosine_distances
from metadvfs.learn.tasks import ModelPlan, build_tasks, encode_tasks
from metadvfs.learn.trainer import _spaces, make_algo, make_train_env, torch_threads
from metadvfs.tasks.task import Task, make_task

METHODS = ("meta", "scratch", "incremental")
MA_SECONDS = 60.0


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
    cfg: Any, task: Task, meta_row: np.ndarray, init: dict[str, th.Tensor] | None, use_meta: bool, steps: int,
    seed: int, n_envs: int, report: Callable[[int], None] | None,
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


def _incremental_init(model: LoadedModel, near: str, cfg: Any, report: Any) -> tuple[dict[str, th.Tensor], bool]:
    from metadvfs.learn.baseline_models import baseline_root, per_task_budget
    from metadvfs.learn.trainer import train

    d = baseline_root(model) / f"standalone-{near.replace(':', '-')}"
    if not (d / "model.json").is_file():
        c = dataclasses.replace(
            cfg, mode="standalone", tasks=(near,), total_steps=per_task_budget(model), name=f"standalone-{near}"
        )
        tmp = d.with_name(d.name + ".partial")
        train(c, tmp, resume=(tmp / "train_state").is_dir(), tensorboard=False)
        tmp.rename(d)
    base = load_checkpoint(d)
    mid = base.doc["models"][0]["id"]
    return {k: v.detach().clone() for k, v in base.policies[mid].state_dict().items()}, False


def adapt(
    model_ref: str | Path,
    device: str,
    app: str,
    steps: int = 100_000,
    out: str | Path | None = None,
    compare: Sequence[str] = (),
    seed: int = 0,
    n_envs: int = 16,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune a model on a new task; optionally compare with scratch / incremental on the same budget.

    Args:
        model_ref: Checkpoint directory or shipped model name.
        device: Device name or profile file.
        app: App name or app-profile file.
        steps: Environment steps of fine-tuning per method (> 0).
        out: Directory for the adapted model, curves (JSON) and plot.
        compare: Extra methods among ``scratch``, ``incremental``.
        seed: Seed (same for every method).
        n_envs: Simulated phones stepped together.
        progress: ``(method, steps_done, steps)`` callback.

    Returns:
        JSON-able report: per method ``steps_to_95``, simulated minutes, converged and final reward.
    """
    if steps <= 0:
        raise MetaDVFSError(f"--steps: must be > 0, got {steps}")
    bad = [c for c in compare if c not in METHODS[1:]]
    if bad:
        raise MetaDVFSError(f"--compare: unknown method {bad[0]!r}; choose from scratch, incremental")
    th.set_num_threads(torch_threads())
    model = load_checkpoint(model_ref)
    if model.doc["algo"] != "ppo":
        raise MetaDVFSError(f"{model.path}: adaptation supports PPO checkpoints (this one is {model.doc['algo']})")
    task = make_task(device, app)
    meta_row = model.encode(task)
    cfg = model.cfg
    n_per = max(1, int(n_envs))
    unit = cfg.ppo.n_steps * n_per
    steps = int(np.ceil(steps / unit) * unit)
    gid = model.model_for(task)
    gm = next(m for m in model.doc["models"] if m["id"] == gid)
    use_meta = bool(gm["use_meta"])
    init = {k: v.detach().clone() for k, v in model.policies[gid].state_dict().items()}
    methods: list[tuple[str, dict[str, th.Tensor] | None, bool]] = [("meta", init, use_meta)]
    near = nearest_task(model, task)
    for c in compare:
        if c == "scratch":
            methods.append(("scratch", None, use_meta))
        else:
            inc, inc_meta = _incremental_init(model, near, cfg, progress)
            methods.append(("incremental", inc, inc_meta))
    curves: dict[str, list[tuple[int, float]]] = {}
    weights: dict[str, dict[str, th.Tensor]] = {}
    for name, start, um in methods:
        def rep(s: int, n: str = name) -> None:
            if progress:
                progress(n, s, steps)

        weights[name], curves[name] = _finetune(cfg, task, meta_row, start, um, steps, seed, n_per, rep)
    report = _summarize(curves, cfg.env.decision_interval_s, cfg.ppo.n_steps)
    report.update({"task": task.name, "model": str(model.path), "routed_model": gid, "nearest_task": near,
                   "steps": steps, "n_envs": n_per, "seed": seed})
    if out is not None:
        _save(Path(out), model, task, meta_row, weights["meta"], use_meta, curves, report)
    return report


def _summarize(curves: dict[str, list[tuple[int, float]]], dt: float, n_steps: int) -> dict[str, Any]:
    width = max(1, round(MA_SECONDS / (n_steps * dt)))
    ma = {k: moving_average(np.array([r for _, r in v]), width) for k, v in curves.items()}
    st = {k: np.array([s for s, _ in v]) for k, v in curves.items()}
    conv = {k: float(np.mean(v[int(len(v) * 0.8):])) for k, v in ma.items()}
    start_ref = float(ma["scratch"][0]) if "scratch" in ma else None
    best = max(conv.values())
    out: dict[str, Any] = {"methods": {}}
    for k in curves:
        r0 = start_ref if start_ref is not None else float(ma[k][0])
        tail = ma[k][int(len(ma[k]) * 0.8):]
        noise = 2.0 * float(np.std(tail)) if len(tail) > 1 else 0.0  # within noise of converged counts as there
        s95 = steps_to_threshold(st[k], ma[k], min(r0 + 0.95 * (conv[k] - r0), conv[k] - noise))
        s95c = steps_to_threshold(st[k], ma[k], min(r0 + 0.95 * (best - r0), best - noise))
        out["methods"][k] = {
            "steps_to_95": s95,
            "minutes_to_95": None if s95 is None else round(s95 * dt / 60.0, 3),
            "steps_to_95_common": s95c,
            "minutes_to_95_common": None if s95c is None else round(s95c * dt / 60.0, 3),
            "converged_reward": round(conv[k], 5),
            "start_reward": round(float(ma[k][0]), 5),
            "final_reward": round(float(ma[k][-1]), 5),
        }
    out["steps_to_95"] = {k: v["steps_to_95"] for k, v in out["methods"].items()}
    out["curves"] = {k: [[int(s), round(r, 5)] for s, r in v] for k, v in curves.items()}
    out["ma_width_rollouts"] = width
    return out


def _save(
    out: Path, model: LoadedModel, task: Task, meta_row: np.ndarray, sd: dict[str, th.Tensor], use_meta: bool,
    curves: dict[str, list[tuple[int, float]]], report: dict[str, Any],
) -> None:
    from metadvfs.io import write_text_atomic, write_with

    cfg = dataclasses.replace(model.cfg, tasks=(task.name,), mode="conditioned" if use_meta else "standalone")
    obs_space, act_space = _spaces(cfg, model.encoder.dim)
    save_checkpoint(
        out, cfg=cfg, encoder=model.encoder, plans=[ModelPlan("adapted", (task.name,), use_meta)],
        grouping=Grouping((0,), 1, {}, "adapted"), task_names=[task.name], state_dicts={"adapted": sd},
        obs_space=obs_space, action_space=act_space,
        train_info={"adapted_from": str(model.path), "steps": report["steps"]},
    )
    write_text_atomic(out / "adaptation.json", json.dumps(report, indent=1))
    from metadvfs.viz.adaptation import plot_adaptation

    write_with(out / "adaptation.png", lambda p: plot_adaptation(report, p, title=f"adaptation to {task.name}"))
