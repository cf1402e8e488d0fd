"""Learned baselines for a model's evaluation: found next to the model, or trained on the same budget.

``standalone`` (the model's network, no metadata, one model per task) and ``joint`` (one network over all
tasks, no metadata) are trained by :func:`metadvfs.learn.trainer.train` with the model's own config and
only the ``mode`` changed; ``ztt`` and ``gear`` (single-task peers, :mod:`metadvfs.learn.baselines`) are
trained per task. Every baseline gets the same environment steps per task as the model spent on that task
(``total_steps / number of training tasks``). Trained baselines are stored in ``<model>/baselines/<name>/``
(or ``runs/baselines/<model name>/<name>/`` when the model directory is read-only) and reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import LoadedModel, load_checkpoint


def baseline_root(model: LoadedModel) -> Path:
    """Directory holding a model's trained baselines.

    ``<model>/baselines``, or ``runs/baselines/<name>`` under the working directory for a shipped model (never the
    package's own files) or a read-only model directory.
    """
    from metadvfs.paths import derived_dir

    fallback = Path("runs") / "baselines" / str(model.doc.get("name", model.path.name))
    return derived_dir(model.path, model.path / "baselines", fallback, reuse_existing=True)


class PerTaskDrivers:
    """A learned single-task method: one driver per task (evaluated task by task)."""

    def __init__(self, name: str, drivers: dict[str, Any]):
        self.name = name
        self.drivers = drivers


def per_task_budget(model: LoadedModel) -> int:
    """Environment steps per task that the model used."""
    return max(1, int(model.cfg.total_steps // max(1, len(model.doc["tasks"]))))


def resolve_learned_baselines(
    model: LoadedModel, names: Sequence[str], tasks: Sequence[str], rows: Sequence[str], prog: Any = None
) -> list[Any]:
    """Load (or train, then load) learned baselines for the evaluation tasks.

    Args:
        model: The evaluated model (its config fixes budgets and environment options).
        names: Baselines among ``standalone``, ``joint``, ``ztt``, ``gear``.
        tasks: Evaluation task names.
        rows: Task name per evaluation environment row (for routing in multi-task drivers).
        prog: Optional rich Progress for training bars.

    Returns:
        Drivers (:class:`~metadvfs.learn.evaluate.ModelDriver` or :class:`PerTaskDrivers`).
    """
    from metadvfs.learn.evaluate import MODE_BASELINES, ModelDriver

    root = baseline_root(model)
    out: list[Any] = []
    for name in names:
        if name in MODE_BASELINES:
            d = root / name
            if not (d / "model.json").is_file():
                _train_mode(model, name, d, prog)
            base = load_checkpoint(d)
            covered = {t for m in base.doc["models"] for t in m["tasks"]}
            missing = [t for t in tasks if name == "standalone" and t not in covered]
            if missing:
                raise MetaDVFSError(f"{d}: standalone baseline has no model for {missing[0]} (delete it to retrain)")
            out.append(ModelDriver(base, rows, name))
        else:
            out.append(_peer(model, name, root, tasks, prog))
    return out


def _train_mode(model: LoadedModel, mode: str, dest: Path, prog: Any) -> None:
    from metadvfs.learn.trainer import train

    cfg = dataclasses.replace(model.cfg, mode=mode, name=f"{model.cfg.name}-{mode}")
    bar = prog.add_task(f"train {mode}", total=1, info="") if prog else None

    def report(mid: str, done: int, total: int, reward: float) -> None:
        if prog is not None:
            prog.update(bar, completed=done, total=total, info=f"model {mid}")

    tmp = dest.with_name(dest.name + ".partial")
    train(cfg, tmp, resume=(tmp / "train_state").is_dir(), progress=report, tensorboard=False)
    tmp.rename(dest)


def _peer(model: LoadedModel, name: str, root: Path, tasks: Sequence[str], prog: Any) -> PerTaskDrivers:
    from metadvfs.learn.baselines import load_baseline, train_baseline

    e = model.cfg.env
    steps = per_task_budget(model)
    drivers = {}
    for t in tasks:
        d = root / name / t.replace(":", "-")
        if not (d / "baseline.json").is_file() and not any(d.glob("*.json")):
            bar = prog.add_task(f"train {name} {t}", total=steps, info="") if prog else None

            def report(done: int, total: int, bar: Any = bar) -> None:
                if prog is not None:
                    prog.update(bar, completed=done, total=total)

            train_baseline(
                name,
                t,
                steps,
                d,
                seed=model.cfg.seed,
                decision_interval_s=e.decision_interval_s,
                episode_seconds=e.episode_seconds,
                n_envs=model.cfg.envs_per_task,
                progress=report,
            )
        drivers[t] = load_baseline(d)
    return PerTaskDrivers(name, drivers)


def stack_results(per_task: dict[str, list[dict[str, float]]], tasks: Sequence[str]) -> list[dict[str, float]]:
    """Concatenate per-task result lists in task order."""
    return [r for t in tasks for r in per_task[t]]
