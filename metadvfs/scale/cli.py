"""What the ``--ray`` / ``--storage`` options of ``train``, ``evaluate`` and ``guard`` do (thin CLI hooks)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress(key: str, done: int, total: int) -> None:
    _say(f"[{done}/{total}] {key} done")


def precheck_ray(ray: str | None) -> None:
    """Fail fast, before anything is written: a malformed ``--ray``, Ray missing, an unreachable address."""
    from metadvfs.scale.backend import parse_ray, probe, require_ray

    if ray is not None:
        spec = parse_ray(ray)
        require_ray()
        if spec.address is not None:
            probe(spec.address)


def precheck(ray: str | None, storage: str | None) -> None:
    """:func:`precheck_ray`, then the storage root (:func:`metadvfs.scale.storage.check_storage`)."""
    from metadvfs.scale.storage import check_storage

    precheck_ray(ray)
    check_storage(storage)


def parse_seeds(value: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` or ``--seeds 0-4`` (inclusive) -> a list; None when not given."""
    if value is None:
        return None
    out: list[int] = []
    try:
        for part in (p.strip() for p in value.split(",") if p.strip()):
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise MetaDVFSError(f"--seeds: expected a comma list of integers or ranges like 0-4, got {value!r}") from None
    if not out or any(not 0 <= s < 2**31 for s in out) or len(set(out)) != len(out):
        raise MetaDVFSError(f"--seeds: need distinct seeds in [0, 2^31 - 1], got {value!r}")
    return out


def train_scaled(
    configs: Sequence[str], seeds: list[int] | None, out: Path | None, storage: str | None, ray: str | None
) -> list[dict[str, Any]]:
    """Train several configs and/or seeds as units; each run in ``<root>/<name>[-seed<k>]``.

    ``root`` is ``--out`` if given, else ``<storage>/train``. Finished runs are reused and interrupted ones
    resumed from their last checkpoint, so rerunning the same command continues a killed sweep of runs.
    """
    from metadvfs.learn.config import load_config
    from metadvfs.scale.jobs import seed_variants, train_many
    from metadvfs.scale.runner import make_runner
    from metadvfs.scale.storage import check_storage

    cfgs = seed_variants([load_config(c) for c in configs], seeds)
    names = [c.name for c in cfgs]
    if len(set(names)) != len(names):
        raise MetaDVFSError(f"--config: two runs share the name {next(n for n in names if names.count(n) > 1)!r}")
    precheck_ray(ray)
    root = check_storage(out) if out is not None else check_storage(storage) / "train"
    runner = make_runner(ray)
    _say(f"{len(cfgs)} training run(s) on the {runner.name} runner -> {root}/")
    return train_many(runner, cfgs, [root / n for n in names], _progress)


def evaluate_scaled(
    model: Any,
    learned: list[str],
    stock: list[str],
    names: list[str],
    seeds: int,
    seconds: float,
    dest: Path | None,
    storage: str | None,
    ray: str | None,
    reference: str | None = None,
) -> tuple[Any, Path]:
    """Evaluate in (method, task) shards; shards are stored and reused. Returns the result and report dir."""
    from metadvfs.scale.jobs import evaluate_sharded, shard_plan
    from metadvfs.scale.runner import make_runner
    from metadvfs.scale.storage import check_storage

    root = check_storage(storage)
    if dest is None:
        dest = root / "evaluate" / Path(model.path).name
    runner = make_runner(ray)
    if learned:
        from metadvfs.learn.baseline_models import resolve_learned_baselines
        from metadvfs.scale.jobs import baseline_units

        todo = baseline_units(model, learned, names)
        if todo:
            _say(f"{len(todo)} learned-baseline training(s) on the {runner.name} runner")
            runner.run(todo, _progress)
        resolve_learned_baselines(model, learned, names, [t for t in names for _ in range(seeds)])  # checks them
    plan = shard_plan(model, learned, [reference, *stock] if reference else stock)
    _say(f"{len(plan) * len(names)} evaluation shard(s) on the {runner.name} runner -> {dest}/shards/")
    res = evaluate_sharded(runner, plan, names, seeds, seconds, Path(dest) / "shards", _progress, reference)
    return res, Path(dest)


def guard_scaled(
    src: Path,
    dest: Path | None,
    names: list[str] | None,
    seeds: int,
    seconds: float,
    seed: int,
    storage: str | None,
    ray: str | None,
    against: str = "standalone",
    steps: int | None = None,
) -> dict[str, Any]:
    """Run the guard as one unit (retried and resumed on a killed worker); output in the storage root."""
    from metadvfs.scale.runner import Unit, make_runner
    from metadvfs.scale.storage import check_storage

    precheck_ray(ray)
    root = check_storage(storage)
    d = dest.absolute() if dest is not None else root / "guard" / f"{src.name}-guarded"
    runner = make_runner(ray)
    unit = Unit(
        f"guard {src.name}",
        "metadvfs.scale.units:guard_unit",
        {
            "model": str(src.absolute()),
            "dest": str(d),
            "tasks": names,
            "seeds": seeds,
            "seconds": seconds,
            "seed": seed,
            "against": against,
            "finetune_steps": steps,
        },
    )
    (rep,) = runner.run([unit], _progress)
    _say(f"guarded checkpoint and report: {d}/")
    return rep  # type: ignore[no-any-return]
