"""Unit functions: each runs the same in this process or in a Ray worker and resumes after a kill.

Arguments are plain data so a unit can be shipped to any node; paths are absolute paths in the storage root.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metadvfs.scale.storage import read_json, write_json


def train_unit(config: dict[str, Any], dest: str) -> dict[str, Any]:
    """Train one config into ``dest``; reuse a finished run, resume an interrupted one.

    ``dest/model.json`` (written last) marks a finished run; ``dest/train_state/`` holds the last
    checkpoint of an interrupted one (every ``checkpoint_every_steps``), from which training continues
    exactly (same final weights as an uninterrupted run). A partial directory without a checkpoint starts
    afresh. While it trains, ``<dest parent>/.<name>.worker.json`` names the worker's host and pid.

    Args:
        config: The config as plain data (:func:`metadvfs.learn.config.config_to_dict`).
        dest: Checkpoint directory (absolute).

    Returns:
        ``{"path", "status": trained|resumed|reused, "wall_s", "pid"}``.
    """
    from metadvfs.learn.config import config_from_dict

    return train_into(config_from_dict(config, str(config.get("name", "config"))), Path(dest))


def train_into(cfg: Any, d: Path) -> dict[str, Any]:
    """:func:`train_unit` on a :class:`~metadvfs.learn.config.TrainConfig` (in this process)."""
    from metadvfs.learn.trainer import STATE_DIR, train

    if (d / "model.json").is_file():
        return {"path": str(d), "status": "reused", "wall_s": 0.0, "pid": os.getpid()}
    resume = (d / STATE_DIR / "run.json").is_file()
    if d.exists() and not resume:
        shutil.rmtree(d)
    t = time.perf_counter()
    worker = d.parent / f".{d.name}.worker.json"
    write_json(worker, {"pid": os.getpid(), "host": socket.gethostname(), "resume": resume, "started": time.time()})
    train(cfg, d, resume=resume, tensorboard=False)
    worker.unlink(missing_ok=True)
    return {
        "path": str(d),
        "status": "resumed" if resume else "trained",
        "wall_s": time.perf_counter() - t,
        "pid": os.getpid(),
    }


WEIGHT_FILES = (".json", ".yaml", ".pt")
"""Suffixes of the files that define a trained model (checkpoint or learned baseline directory)."""
NOT_WEIGHTS = ("tb", "train_state", "baselines")
"""Subdirectories of a checkpoint that do not change what it computes (logs, resume state, its baselines)."""


def weights_digest(root: Path) -> str:
    """SHA-256 (16 hex digits) over the names and bytes of the files that define the model in ``root``.

    Every ``*.json``, ``*.yaml`` and ``*.pt`` below ``root`` except in :data:`NOT_WEIGHTS`; a missing directory
    digests to that of an empty one (loading it then fails with its own error).
    """
    import hashlib

    files: list[Path] = []
    for d, dirs, names in os.walk(root):  # nothing when root is missing
        if Path(d) == root:
            dirs[:] = [n for n in dirs if n not in NOT_WEIGHTS]  # not walked at all
        files += [Path(d) / n for n in names if Path(n).suffix in WEIGHT_FILES]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def eval_shard(
    kind: str, ref: str, method: str, task: str, seeds: list[int], seconds: float, dest: str, digest: str | None = None
) -> list[dict[str, float]]:
    """Evaluate one method on one task for the given seeds; the result is stored in ``dest`` and reused.

    Args:
        kind: ``model`` (a checkpoint directory), ``peer`` (a single-task learned baseline directory) or
            ``stock`` (a governor name, or ``oracle``).
        ref: Checkpoint directory, baseline directory or governor name.
        method: Method name in the reports.
        task: ``device:app``.
        seeds: Evaluation seeds.
        seconds: Episode length, s.
        dest: Shard JSON file (absolute).
        digest: :func:`weights_digest` of ``ref`` for a model or peer (computed here when not given).

    Returns:
        Per-seed metrics (the order of ``seeds``), as :func:`metadvfs.learn.evaluate.run_driver` returns them.

    A stored shard is reused only when it was made with the same arguments and, for a model or peer, the same
    weights (:func:`weights_digest`): re-training or replacing a model in place re-evaluates it.
    """
    from metadvfs.learn.evaluate import ModelDriver, run_driver, run_stock

    spec: dict[str, Any] = {"kind": kind, "ref": ref, "method": method, "task": task, "seeds": list(seeds),
                            "seconds": seconds}  # fmt: skip
    if kind in ("model", "peer"):  # a model re-trained or replaced in the same directory makes the shard stale
        spec["digest"] = digest or weights_digest(Path(ref))
    out = Path(dest)
    old = read_json(out)
    if isinstance(old, dict) and old.get("spec") == spec:
        return list(old["metrics"])
    if kind == "stock":
        metrics = run_stock(ref, [task], seeds, seconds)
    elif kind == "model":
        from metadvfs.learn.checkpoint import load_checkpoint

        m = load_checkpoint(ref)
        metrics = run_driver(ModelDriver(m, [task] * len(seeds), method), [task], seeds, seconds)
    elif kind == "peer":
        from metadvfs.learn.baselines import load_baseline

        metrics = run_driver(load_baseline(Path(ref)), [task], seeds, seconds)
    else:
        raise ValueError(f"unknown shard kind {kind!r}")
    metrics = [{k: float(v) for k, v in r.items()} for r in metrics]
    write_json(out, {"spec": spec, "metrics": metrics})
    return metrics


def guard_unit(
    model: str,
    dest: str,
    tasks: list[str] | None,
    seeds: int,
    seconds: float,
    seed: int,
    against: str = "standalone",
    finetune_steps: int | None = None,
) -> dict[str, Any]:
    """Run the guard (:func:`metadvfs.meta.guard.guard`, against standalone or stock) as one unit.

    A finished guard (``dest/guard.json``) against the same baseline (and fine-tuning budget, when given) is
    reused. The standalone baseline it trains resumes from its ``.partial/train_state`` checkpoint after a kill; a
    guarded checkpoint left half-written is removed.
    """
    from metadvfs.meta.guard import guard

    d = Path(dest)
    done = read_json(d / "guard.json")
    if (
        done is not None
        and (d / "model.json").is_file()
        and done.get("against", "standalone") == against
        and finetune_steps in (None, done.get("finetune_steps"))
    ):
        return dict(done)
    if d.exists():
        shutil.rmtree(d)
    return guard(model, d, tasks, seeds, seconds, seed, finetune_steps=finetune_steps, against=against)


def baseline_unit(model: str, name: str, task: str | None, dest: str) -> dict[str, Any]:
    """Train one learned baseline of a model, exactly as ``metadvfs evaluate`` would train it.

    ``standalone`` / ``joint`` (``task`` None): the model's config with only ``mode`` and ``name`` changed
    (:func:`metadvfs.learn.baseline_models._train_mode`), trained by :func:`train_unit` (so it resumes). A peer
    (``ztt``, ``gear``, a variant) for one ``task``: :func:`peer_unit` with the model's per-task budget, seed and
    environment options.

    Returns:
        ``{"path", "status": trained|resumed|reused, ...}``.
    """
    import dataclasses

    from metadvfs.learn.baseline_models import per_task_budget
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.config import config_to_dict

    m = load_checkpoint(model)
    if task is None:
        cfg = dataclasses.replace(m.cfg, mode=name, name=f"{m.cfg.name}-{name}")
        return train_unit(config_to_dict(cfg), dest)
    e = m.cfg.env
    return peer_unit(name, task, dest, per_task_budget(m), m.cfg.seed, e.decision_interval_s, e.episode_seconds,
                     m.cfg.envs_per_task)  # fmt: skip


def peer_unit(
    name: str,
    task: str,
    dest: str,
    steps: int,
    seed: int,
    decision_interval_s: float,
    episode_seconds: float,
    n_envs: int,
    variant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one single-task peer (:func:`metadvfs.learn.baselines.train_baseline`) into ``dest``.

    Trained into ``dest.partial`` and renamed to ``dest`` when complete; a finished ``dest`` is reused.
    ``variant`` (the fields of :class:`metadvfs.learn.baselines.Variant`, ``path`` as a string) trains a grid
    point of a search instead of ``name``'s own hyper-parameters.

    Returns:
        ``{"path", "status": trained|reused, "wall_s", "pid"}``.
    """
    from metadvfs.learn.baselines import Variant, train_baseline

    v = None if variant is None else Variant(**{**variant, "path": Path(variant["path"])})
    return _build_in_partial(
        Path(dest),
        "baseline.json",
        lambda tmp: train_baseline(
            name,
            task,
            steps,
            tmp,
            seed=seed,
            decision_interval_s=decision_interval_s,
            episode_seconds=episode_seconds,
            n_envs=n_envs,
            variant=v,
        ),
    )


def _build_in_partial(d: Path, done: str, build: Callable[[Path], Any]) -> dict[str, Any]:
    """Reuse ``d`` when ``d/done`` exists; else ``build`` into a fresh ``d.partial`` and rename it to ``d``.

    Returns:
        ``{"path", "status": trained|reused, "wall_s", "pid"}``.
    """
    if (d / done).is_file():
        return {"path": str(d), "status": "reused", "wall_s": 0.0, "pid": os.getpid()}
    tmp = d.with_name(d.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    t = time.perf_counter()
    build(tmp)
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    return {"path": str(d), "status": "trained", "wall_s": time.perf_counter() - t, "pid": os.getpid()}


def meta_unit(config: dict[str, Any], meta: dict[str, Any], dest: str) -> dict[str, Any]:
    """Meta-train one initialisation per metadata group (:func:`metadvfs.meta.train.meta_train`) into ``dest``.

    Trained into ``dest.partial`` and renamed to ``dest`` when complete (meta-training keeps no intermediate
    checkpoint, so an interrupted run starts afresh); a finished ``dest`` (``model.json``) is reused.

    Args:
        config: The training config as plain data (:func:`metadvfs.learn.config.config_to_dict`).
        meta: The fields of :class:`metadvfs.meta.maml.MetaConfig`.
        dest: Checkpoint directory (absolute).

    Returns:
        ``{"path", "status": trained|reused, "wall_s", "pid"}``.
    """
    from metadvfs.learn.config import MetaConfig, config_from_dict
    from metadvfs.meta.train import meta_train

    name = str(config.get("name", "config"))
    return _build_in_partial(
        Path(dest), "model.json", lambda tmp: meta_train(config_from_dict(config, name), MetaConfig(**meta), tmp)
    )


def adapt_unit(model: str, device: str, app: str, options: dict[str, Any], extra: dict[str, Any], dest: str) -> Any:
    """One :func:`metadvfs.meta.adapt.adapt` run, its report stored in ``dest`` (JSON) and reused.

    A stored report is reused when it has the methods asked for, in that order (else the run is made again).

    The models it starts from (and its task-specific reference) should exist already: :func:`adapt` trains
    a missing one in the model's ``baselines/``, which two concurrent units must not do for the same model.

    Args:
        model: Checkpoint directory of the model to adapt (absolute).
        device: Device name or profile file.
        app: App name or app-profile file.
        options: Further keyword arguments of :func:`adapt` (budget, methods, seed, phones, ...).
        extra: Fields added to the report (e.g. the experiment's fold), next to ``wall_s`` (s).
        dest: Report file (absolute).

    Returns:
        The report.
    """
    from metadvfs.meta.adapt import adapt

    out = Path(dest)
    old = read_json(out)
    want = options.get("methods")
    if isinstance(old, dict) and (want is None or list(old.get("methods", {})) == list(want)):
        return old  # a report of other methods (another --methods) is run again
    t = time.perf_counter()
    rep = adapt(model, device, app, **options)
    rep.update({**extra, "wall_s": round(time.perf_counter() - t, 1)})
    write_json(out, rep)
    return rep
