"""``metadvfs sweep``: hyper-parameter search with Ray Tune and ASHA early stopping.

Each trial trains the base config with one sample of the space in rungs (:mod:`metadvfs.scale.staged`) and
after every rung scores the model on validation episodes: the trained model and the evaluation's reference
stock governor play the same (task, seed) episodes (seeds ``SWEEP_SEED_BASE + i``, not the evaluation's
10000+i, so the sweep does not select on the test episodes), and :class:`metadvfs.learn.evaluate.EvalResult`
computes ``ppr_norm`` and the QoE floor exactly as ``metadvfs evaluate`` does. The score is the mean over
tasks of ``ppr_norm`` on the tasks where the QoE floor holds and 0 where it does not, so a trial cannot buy
PPR with QoE. ASHA (``max_t`` = rungs, grace period 1 rung, reduction factor 2) stops the weaker half of
the trials at every rung. Trials whose worker dies are restarted from scratch (up to 2 times).

Output: ``best.yaml`` (a normal config file: the base config with the best sample, name ``<base>-best``),
``sweep.json`` (every trial: sample, rungs reached, scores), and Tune's trial directories under the storage
root.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError

SWEEP_SEED_BASE = 20_000
"""Validation seeds ``20000 + i`` (the guard's validation episodes; evaluation uses 10000+i)."""
MAX_FAILURES = 2


def score_result(res: Any, method: str) -> dict[str, float]:
    """Score one method of an :class:`~metadvfs.learn.evaluate.EvalResult` (see the module docstring).

    Uses the result's own summary per task (``mean_ppr_norm`` and ``tasks_qoe_ok``), so the normalisation and
    the QoE floor are the evaluation's.
    """
    from metadvfs.learn.evaluate import EvalResult

    ns = len(res.seeds)
    per_task, ok = [], []
    for ti, t in enumerate(res.tasks):
        raw = {m: v[ti * ns : (ti + 1) * ns] for m, v in res.raw.items()}
        s = EvalResult([t], res.seeds, res.seconds, raw).summary()["methods"][method]
        per_task.append(float(s["mean_ppr_norm"]))
        ok.append(bool(s["tasks_qoe_ok"]))
    n = len(per_task)
    return {
        "score": sum(p for p, o in zip(per_task, ok, strict=True) if o) / n,
        "ppr_norm": sum(per_task) / n,
        "qoe_ok_frac": sum(ok) / n,
    }


def validate_model(path: Path, n_seeds: int, seconds: float) -> dict[str, float]:
    """Score a checkpoint on its tasks (validation seeds, the evaluation's reference governor)."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import EvalResult, ModelDriver, run_driver, run_stock
    from metadvfs.scale.jobs import reference_method

    m = load_checkpoint(path)
    names = list(m.doc["tasks"])
    seeds = [SWEEP_SEED_BASE + i for i in range(n_seeds)]
    rows = [t for t in names for _ in seeds]
    ref = reference_method()
    raw = {
        "metadvfs": run_driver(ModelDriver(m, rows), names, seeds, seconds),
        **{g: run_stock(g, names, seeds, seconds) for g in dict.fromkeys([ref, "schedutil"])},
    }
    return score_result(EvalResult(names, seeds, seconds, raw), "metadvfs")


def trial(params: dict[str, Any], base: dict[str, Any], rungs: int, n_seeds: int, seconds: float, work: str) -> None:
    """One Tune trial (function API): train in rungs, report the score after each rung."""
    from ray import tune

    from metadvfs.learn.config import config_from_dict
    from metadvfs.scale.space import apply
    from metadvfs.scale.staged import train_in_rungs

    cfg = config_from_dict(apply(base, params), "sweep")
    out = Path(work) / tune.get_context().get_trial_id()

    def on_rung(r: int, ckpt: Path, steps: int) -> bool:
        tune.report({**validate_model(ckpt, n_seeds, seconds), "rung": r, "env_steps": steps})
        return True

    train_in_rungs(cfg, out, rungs, on_rung)


def run_sweep(
    config: str,
    space: str,
    samples: int,
    rungs: int,
    ray: str | None,
    storage: str | None,
    out: Path | None,
    seed: int,
    n_seeds: int,
    seconds: float,
    concurrent: int | None = None,
) -> dict[str, Any]:
    """Validate everything, run the sweep, write ``best.yaml`` and ``sweep.json``.

    Raises:
        MetaDVFSError: Bad config, space, options or storage (before anything is written), Ray missing or
            unreachable, or every trial failed.
    """
    import dataclasses

    from metadvfs.learn.config import config_from_dict, config_to_dict, load_config
    from metadvfs.scale.space import apply, load_space
    from metadvfs.scale.storage import check_storage

    if not 1 <= samples <= 10_000:
        raise MetaDVFSError(f"--samples: must be in [1, 10000], got {samples}")
    if not 1 <= rungs <= 100:
        raise MetaDVFSError(f"--rungs: must be in [1, 100], got {rungs}")
    if not 1 <= n_seeds <= 100:
        raise MetaDVFSError(f"--eval-seeds: must be in [1, 100], got {n_seeds}")
    if not 1.0 <= seconds <= 3600.0:
        raise MetaDVFSError(f"--eval-seconds: must be in [1, 3600], got {seconds}")
    cfg = load_config(config)
    base = config_to_dict(cfg)
    dims = load_space(space, base)
    from metadvfs.scale.backend import connect, parse_ray, require_ray

    parse_ray(ray or "local")
    require_ray()
    root = check_storage(storage) / "sweep"
    best_path = out or root / f"{cfg.name}-best.yaml"
    if best_path.exists() and best_path.is_dir():
        raise MetaDVFSError(f"--out {best_path}: is a directory")
    try:
        check_storage(best_path.parent)
    except MetaDVFSError:
        raise MetaDVFSError(f"--out {best_path}: its directory is not writable") from None
    connect(ray or "local")

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    exp = f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    work = root / exp / "checkpoints"
    trainable = tune.with_resources(
        tune.with_parameters(trial, base=base, rungs=rungs, n_seeds=n_seeds, seconds=seconds, work=str(work)),
        {"cpu": 1},
    )
    tuner = tune.Tuner(
        trainable,
        param_space={d.key: d.tune_domain() for d in dims},
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            num_samples=samples,
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=rungs, grace_period=1, reduction_factor=2),
            search_alg=BasicVariantGenerator(random_state=seed),
            max_concurrent_trials=concurrent,
        ),
        run_config=tune.RunConfig(
            name=exp, storage_path=str(root), verbose=0, failure_config=tune.FailureConfig(max_failures=MAX_FAILURES)
        ),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    trials: list[dict[str, Any]] = []
    for i in range(len(grid)):
        r = grid[i]
        hist = r.metrics_dataframe
        scores = [] if hist is None or "score" not in hist else [float(x) for x in hist["score"]]
        trials.append(
            {
                "params": {k: (r.config or {})[k] for k in (d.key for d in dims)},
                "rungs": len(scores),
                "scores": scores,
                "error": None if r.error is None else str(r.error).splitlines()[0],
            }
        )
    done = [t for t in trials if t["scores"]]
    if not done:
        raise MetaDVFSError(f"sweep {exp}: every trial failed (first: {trials[0]['error'] if trials else '-'})")
    top = max(t["rungs"] for t in done)
    best = max((t for t in done if t["rungs"] == top), key=lambda t: t["scores"][-1])
    best_cfg = config_from_dict(apply(base, best["params"]), str(space))
    best_cfg = dataclasses.replace(best_cfg, name=f"{cfg.name}-best")
    _write_outputs(
        best_path,
        root / exp / "sweep.json",
        best_cfg,
        best,
        trials,
        dims,
        exp,
        wall,
        {
            "config": str(config),
            "space": str(space),
            "samples": samples,
            "rungs": rungs,
            "seed": seed,
            "eval_seeds": [SWEEP_SEED_BASE + i for i in range(n_seeds)],
            "eval_seconds": seconds,
        },
    )
    return {
        "best": best,
        "best_config": str(best_path),
        "sweep_json": str(root / exp / "sweep.json"),
        "trials": len(trials),
        "wall_s": wall,
    }


def _write_outputs(
    best_path: Path,
    json_path: Path,
    best_cfg: Any,
    best: dict[str, Any],
    trials: Sequence[dict[str, Any]],
    dims: Sequence[Any],
    exp: str,
    wall: float,
    settings: dict[str, Any],
) -> None:
    import yaml

    from metadvfs.io import write_text_atomic
    from metadvfs.learn.config import config_to_dict

    head = (
        f"# Best of sweep {exp}: score {best['scores'][-1]:.4f} (mean PPR vs reference where the QoE floor "
        f"holds)\n# sample: {json.dumps(best['params'])}\n"
    )
    write_text_atomic(best_path, head + yaml.safe_dump(config_to_dict(best_cfg), sort_keys=False))
    doc = {
        "experiment": exp,
        **settings,
        "space": [{"key": d.key, "dist": d.dist, "args": list(d.args)} for d in dims],
        "wall_s": round(wall, 1),
        "best": best,
        "best_config": str(best_path),
        "trials": list(trials),
    }
    write_text_atomic(json_path, json.dumps(doc, indent=1))
