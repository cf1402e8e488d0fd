"""Several trainings, or one evaluation split into shards, through a runner (serial or Ray).

The serial and the Ray runner execute exactly the same units with the same arguments, so they give the same
numbers; only the wall time differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metadvfs.scale.runner import Progress, RayRunner, SerialRunner, Unit


def reference_method() -> str:
    """The stock governor the evaluation normalises PPR to (read from :mod:`metadvfs.learn.evaluate`)."""
    from metadvfs.learn.evaluate import REFERENCE

    return REFERENCE


def train_units(cfgs: Sequence[Any], dests: Sequence[Path]) -> list[Unit]:
    """One :func:`~metadvfs.scale.units.train_unit` per (config, destination)."""
    from metadvfs.learn.config import config_to_dict

    return [
        Unit(
            f"train {Path(d).name}",
            "metadvfs.scale.units:train_unit",
            {"config": config_to_dict(c), "dest": str(Path(d).absolute())},
        )
        for c, d in zip(cfgs, dests, strict=True)
    ]


def seed_variants(cfgs: Sequence[Any], seeds: Sequence[int] | None) -> list[Any]:
    """Every config once per seed (``name`` gets ``-seed<k>``); the configs unchanged without seeds."""
    if not seeds:
        return list(cfgs)
    return [dataclasses.replace(c, seed=s, name=f"{c.name}-seed{s}") for c in cfgs for s in seeds]


def train_many(
    runner: SerialRunner | RayRunner, cfgs: Sequence[Any], dests: Sequence[Path], progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Train several configs (one unit each); finished ones are reused, interrupted ones resumed."""
    return runner.run(train_units(cfgs, dests), progress)  # type: ignore[no-any-return]


def baseline_units(model: Any, learned: Sequence[str], tasks: Sequence[str]) -> list[Unit]:
    """Units training the learned baselines of ``model`` that are missing (none if all exist).

    ``standalone`` and ``joint`` are one unit each (one training run over the model's tasks, as
    :func:`metadvfs.learn.baseline_models.resolve_learned_baselines` trains them); ``ztt`` and ``gear`` are one
    unit per task. They land where ``resolve_learned_baselines`` looks (``baseline_root(model)/<name>``).
    """
    from metadvfs.learn.baseline_models import baseline_root

    root = baseline_root(model).absolute()
    mpath = str(Path(model.path).absolute())
    units = []
    for b in learned:
        if b in ("standalone", "joint"):
            if not (root / b / "model.json").is_file():
                units.append(
                    Unit(
                        f"baseline {b}",
                        "metadvfs.scale.units:baseline_unit",
                        {"model": mpath, "name": b, "task": None, "dest": str(root / b)},
                    )
                )
            continue
        for t in tasks:
            d = root / b / t.replace(":", "-")
            if not (d / "baseline.json").is_file():
                units.append(
                    Unit(
                        f"baseline {b} {t}",
                        "metadvfs.scale.units:baseline_unit",
                        {"model": mpath, "name": b, "task": t, "dest": str(d)},
                    )
                )
    return units


def shard_plan(model: Any, learned: Sequence[str], stock: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(method, kind, ref)`` for the model, its learned baselines and the stock governors (report order).

    The learned baselines must already exist (:func:`metadvfs.learn.baseline_models.resolve_learned_baselines`
    trains missing ones); ``ref`` of a ``peer`` baseline is its per-task directory root.
    """
    from metadvfs.learn.baseline_models import baseline_root

    plan = [("metadvfs", "model", str(Path(model.path).absolute()))]
    root = baseline_root(model).absolute()
    for b in learned:
        plan.append((b, "model" if b in ("standalone", "joint") else "peer", str(root / b)))
    for s in dict.fromkeys([reference_method(), "schedutil", *stock]):  # EvalResult needs schedutil next to it
        plan.append((s, "stock", s))
    return plan


def eval_units(
    plan: Sequence[tuple[str, str, str]], tasks: Sequence[str], seeds: Sequence[int], seconds: float, shard_dir: Path
) -> list[Unit]:
    """One :func:`~metadvfs.scale.units.eval_shard` per (method, task); a model's weights are digested once."""
    from metadvfs.scale.units import weights_digest

    units = []
    for method, kind, ref in plan:
        model_digest = weights_digest(Path(ref)) if kind == "model" else None
        for t in tasks:
            r = str(Path(ref) / t.replace(":", "-")) if kind == "peer" else ref
            digest = weights_digest(Path(r)) if kind == "peer" else model_digest
            units.append(
                Unit(
                    f"eval {method} {t}",
                    "metadvfs.scale.units:eval_shard",
                    {
                        "kind": kind,
                        "ref": r,
                        "method": method,
                        "task": t,
                        "seeds": list(seeds),
                        "seconds": seconds,
                        "dest": str((shard_dir / f"{method}__{t.replace(':', '-')}.json").absolute()),
                        "digest": digest,
                    },
                )
            )
    return units


def evaluate_sharded(
    runner: SerialRunner | RayRunner,
    plan: Sequence[tuple[str, str, str]],
    tasks: Sequence[str],
    n_seeds: int,
    seconds: float,
    shard_dir: Path,
    progress: Progress | None = None,
    reference: str | None = None,
) -> Any:
    """Run the (method, task) shards and assemble a :class:`metadvfs.learn.evaluate.EvalResult`.

    ``reference`` is the governor PPR is normalised to (default :func:`reference_method`); it must be in ``plan``.

    Seeds are the evaluation's (``SEED_BASE + i``); the result has the same layout as
    :func:`metadvfs.learn.evaluate.evaluate` returns, so its tables and normalisation are reused unchanged.
    """
    from metadvfs.learn.evaluate import SEED_BASE, EvalResult

    seeds = [SEED_BASE + i for i in range(n_seeds)]
    units = eval_units(plan, tasks, seeds, seconds, shard_dir)
    res = runner.run(units, progress)
    raw: dict[str, list[dict[str, float]]] = {}
    i = 0
    for method, _, _ in plan:
        raw[method] = []
        for _ in tasks:
            raw[method].extend(res[i])
            i += 1
    return EvalResult(list(tasks), seeds, seconds, raw, reference=reference or reference_method())
