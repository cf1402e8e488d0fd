"""Fair peers: zTT and GearDVFS (published and tuned) on all 30 tasks, and the search behind the tuned variants.

Evaluation (default)::

    python experiments/peers.py [--ray local:2]

trains every peer of ``--methods`` (default ``ztt,ztt-tuned,gear,gear-tuned``) on every task exactly as
``metadvfs evaluate --baselines`` trains them for the shipped model: the per-task budget of
``configs/metadvfs.yaml`` (``total_steps / 30`` decisions at its 0.1 s interval; a variant with its own interval
gets the same phone-time), its training seed and phones per task. It then evaluates them with ``stock``,
``schedutil``, the oracle and (``--model default``) the shipped model on the evaluation episodes (seeds 10000+i, 60 s)
and writes, next to the harness's standard report (``eval/``), ``results.md`` / ``results.json`` with the 30
tasks, the UI apps and 3DMark separately, the training cost, and per peer the tasks where it misses the QoE
floor or loses PPR. Trained peers are cached in the work directory (each checkpoint is checked against the
requested budget, seed and hyper-parameters and retrained when they differ). ``--train-seeds N`` (default 3)
trains every peer with the training seeds ``seed + k``, ``k < N`` (the base seed in ``<peer>/``, the others in
``<peer>@seed<s>/``) and reports each peer as the mean ± std over its training seeds (as ``metadvfs evaluate
--model A,B,C`` does); ``--train-seeds 1`` reproduces the single-seed report.

Search (``--tune ztt|gear``)::

    python experiments/peers.py --tune ztt

trains every point of the grid in ``configs/peer-tuning.yaml`` on its tuning tasks (training seeds), scores it
on validation episodes (seeds 20000+i) as ``metadvfs sweep`` does, writes the table to
``experiments/results/peers/tune-<peer>/`` and the best point as ``configs/peers/<peer>-tuned.yaml`` (a variant
file, :mod:`metadvfs.learn.baselines`).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import numpy as np

DEFAULT_METHODS = ("ztt", "ztt-tuned", "gear", "gear-tuned")
STOCK = ("stock", "schedutil", "oracle")
BENCHMARK_APPS = ("3dmark",)
"""Apps reported apart from the UI apps (GPU-bound benchmark)."""
TUNING_FILE = C.ROOT / "configs" / "peer-tuning.yaml"
VARIANTS = C.ROOT / "configs" / "peers"
ENV_KEYS = ("decision_interval_s",)
"""Grid keys that set the variant's environment instead of a hyper-parameter."""


# -- training ----------------------------------------------------------------------------------------------
def harness_budget(n_tasks: int) -> dict[str, Any]:
    """Budget, seed and environment options ``metadvfs evaluate`` gives a peer of the shipped model."""
    from metadvfs.io import read_document

    d = read_document(C.ROOT / "configs" / "metadvfs.yaml")
    return {
        "steps": max(1, int(d["total_steps"]) // max(1, n_tasks)),
        "seed": int(d["seed"]),
        "n_envs": int(d["envs_per_task"]),
        "decision_interval_s": float(d["env"]["decision_interval_s"]),
        "episode_seconds": float(d["env"]["episode_seconds"]),
    }


def expected_hyper(name: str, variant: dict[str, Any] | None) -> tuple[dict[str, Any], float | None]:
    """Hyper-parameters (as a checkpoint stores them) and own decision interval of a peer or grid point."""
    from metadvfs.learn.baselines import baseline_impl, read_variant

    if variant is None:
        v = read_variant(name)
        hyper, dt = ({}, None) if v is None else (v.hyperparameters, v.decision_interval_s)
    else:
        hyper, dt = variant["hyperparameters"], variant["decision_interval_s"]
    cfg = baseline_impl(name).config_from(hyper, name)
    return json.loads(json.dumps(cfg.to_dict())), dt


def stale(name: str, dest: Path, budget: dict[str, Any], hyper: dict[str, Any], dt: float | None) -> bool:
    """True when the checkpoint in ``dest`` was trained with another budget, seed, setup or hyper-parameters."""
    from metadvfs.learn.baselines import baseline_impl

    f = dest / "baseline.json"
    if not f.is_file():
        return False
    doc = json.loads(f.read_text())
    tr = doc.get("train", {})
    stored = baseline_impl(name).config_from(doc.get("hyperparameters", {}), str(f)).to_dict()
    own_dt = dt if dt is not None else budget["decision_interval_s"]
    steps = max(1, round(budget["steps"] * budget["decision_interval_s"] / own_dt))
    return bool(
        json.loads(json.dumps(stored)) != hyper
        or tr.get("total_steps") != steps
        or tr.get("seed") != budget["seed"]
        or tr.get("n_envs") != budget["n_envs"]
        or tr.get("episode_seconds") != budget["episode_seconds"]
        or abs(float(doc.get("env", {}).get("decision_interval_s", -1)) - own_dt) > 1e-9
    )


def train_peers(
    jobs: Sequence[tuple[str, str, Path, dict[str, Any] | None]],
    budget: dict[str, Any],
    ray: str | None,
    seeds: Sequence[int] | None = None,
) -> tuple[float, list[Path]]:
    """Train the missing ``(name, task, dest, grid variant or None)`` checkpoints.

    Args:
        jobs: The checkpoints.
        budget: :func:`harness_budget` (``seed``: the training seed of every job without ``seeds``).
        ray: ``--ray`` (None: serially in this process).
        seeds: Training seed per job (default ``budget["seed"]`` for all); a checkpoint trained with another
            seed is stale and retrained.

    Returns:
        ``(wall time s, [dest trained now]``).
    """
    import shutil

    from metadvfs.errors import MetaDVFSError
    from metadvfs.scale.runner import Unit, make_runner

    units, trained = [], []
    for k, (name, task, dest, variant) in enumerate(jobs):
        b = budget if seeds is None else {**budget, "seed": seeds[k]}
        hyper, dt = expected_hyper(name, variant)
        if stale(name, dest, b, hyper, dt):
            C.log(f"{dest}: trained with other settings, retraining")
            shutil.rmtree(dest)
        if (dest / "baseline.json").is_file():
            continue
        kw = {
            "name": name,
            "task": task,
            "dest": str(dest.absolute()),
            "steps": budget["steps"],
            "seed": b["seed"],
            "decision_interval_s": budget["decision_interval_s"],
            "episode_seconds": budget["episode_seconds"],
            "n_envs": budget["n_envs"],
            "variant": variant,
        }
        label = f"{variant['name'] if variant else name} {task}" + ("" if seeds is None else f" seed {b['seed']}")
        units.append(Unit(label, "metadvfs.scale.units:peer_unit", kw))
        trained.append(dest)
    if not units:
        return 0.0, trained
    try:
        runner = make_runner(ray)
    except MetaDVFSError as exc:
        raise SystemExit(f"error: {exc}") from None
    C.log(f"training {len(units)} peer model(s) on the {runner.name} runner")
    t = time.perf_counter()
    runner.run(units, lambda k, i, n: C.log(f"  [{i}/{n}] {k}"))
    return time.perf_counter() - t, trained


def load_drivers(name: str, tasks: list[str], root: Path) -> Any:
    """The per-task drivers of one trained peer as one evaluated method."""
    from metadvfs.learn.baseline_models import PerTaskDrivers
    from metadvfs.learn.baselines import load_baseline

    return PerTaskDrivers(name, {t: load_baseline(root / t.replace(":", "-")) for t in tasks})


def train_cost(name: str, tasks: list[str], root: Path | list[Path]) -> dict[str, float]:
    """Mean training wall time per task, s, and decisions / phone-seconds per task, from the checkpoints
    (over every training seed's root when several are given)."""
    roots = root if isinstance(root, list) else [root]
    tr = [json.loads((r / t.replace(":", "-") / "baseline.json").read_text())["train"] for r in roots for t in tasks]
    return {
        "wall_s_per_task": float(np.mean([x["wall_s"] for x in tr])),
        "decisions_per_task": float(np.mean([x["total_steps"] for x in tr])),
        "phone_s_per_task": float(np.mean([x.get("phone_seconds", float("nan")) for x in tr])),
    }


def evaluate_plan(
    plan: list[tuple[str, str, str]], tasks: list[str], n_seeds: int, seconds: float, shard_dir: Path, ray: str | None
) -> Any:
    """Evaluate ``(method, kind, ref)`` in (method, task) shards (stored in ``shard_dir`` and reused), as
    ``metadvfs evaluate --ray`` does; serially or on Ray."""
    from metadvfs.scale.jobs import evaluate_sharded
    from metadvfs.scale.runner import make_runner

    return evaluate_sharded(
        make_runner(ray), plan, tasks, n_seeds, seconds, shard_dir, lambda k, i, n: C.log(f"  [{i}/{n}] {k}"), "stock"
    )


# -- reports ------------------------------------------------------------------------------------------------
def subset(res: Any, tasks: list[str]) -> Any:
    """The :class:`~metadvfs.learn.evaluate.EvalResult` restricted to ``tasks``."""
    from metadvfs.learn.evaluate import EvalResult

    ns = len(res.seeds)
    idx = [res.tasks.index(t) for t in tasks]
    raw = {m: [v[i * ns + s] for i in idx for s in range(ns)] for m, v in res.raw.items()}
    return EvalResult(tasks, res.seeds, res.seconds, raw, res.reference, res.groups)


def summary_table(res: Any) -> list[str]:
    """Per method: mean PPR vs stock and schedutil, QoE, jank, QoE floor met, tasks won, ratio to the oracle.

    A method trained with several training seeds shows ``mean ± std`` over them (the std of each seed's mean).
    """
    s = res.summary()["methods"]
    n = len(res.tasks)
    rows = []
    for m, e in s.items():
        rto = f"{e['ratio_to_oracle']:.3f}" if "ratio_to_oracle" in e else "-"

        def cell(key: str, digits: int, e: dict[str, Any] = e) -> str:
            v = f"{e[f'mean_{key}']:.{digits}f}"
            return v + (f" ± {e[f'std_{key}']:.{digits}f}" if "training_seeds" in e else "")

        rows.append(
            [
                m,
                str(e.get("training_seeds", "-")),
                cell("ppr_norm", 3),
                cell("ppr_norm_schedutil", 3),
                cell("ppr_soc_norm", 3),
                cell("qoe", 3),
                cell("jank_pct", 2),
                cell("avg_power_w", 2),
                cell("max_temp_c", 1),
                rto,
                f"{e['tasks_qoe_ok']}/{n}",
                e["tasks_won"],
            ]
        )
    return C.md_table(
        [
            "method",
            "training seeds",
            "PPR/stock",
            "PPR/schedutil",
            "PPR/stock (SoC)",
            "QoE",
            "jank %",
            "power W",
            "max temp C",
            "ratio to oracle",
            "QoE floor met",
            "tasks won",
        ],
        rows,
    )


def losses(res: Any, method: str) -> dict[str, Any]:
    """Where a peer loses against stock: tasks under the QoE floor, tasks with PPR below stock, and the worst."""
    by = {(r["device"] + ":" + r["app"], r["method"]): r for r in res.rows()}
    ref = res.reference
    under = [t for t in res.tasks if by[(t, method)]["qoe"] < by[(t, ref)]["qoe"] - 0.01]
    below = [t for t in res.tasks if by[(t, method)]["ppr_norm"] < 1.0]
    worst = sorted(res.tasks, key=lambda t: by[(t, method)]["ppr_norm"])[:3]
    return {
        "qoe_under_floor": under,
        "ppr_below_stock": below,
        "worst_ppr": [(t, round(by[(t, method)]["ppr_norm"], 3), round(by[(t, method)]["qoe"], 3)) for t in worst],
        "mean_qoe_gap": float(np.mean([by[(t, method)]["qoe"] - by[(t, ref)]["qoe"] for t in res.tasks])),
        "mean_power_ratio": float(
            np.mean([by[(t, method)]["avg_power_w"] / by[(t, ref)]["avg_power_w"] for t in res.tasks])
        ),
    }


def run_eval(args: argparse.Namespace) -> None:
    from metadvfs.learn.evaluate import to_markdown, write_reports
    from metadvfs.learn.tasks import parse_task_names

    t0 = time.perf_counter()
    tasks = parse_task_names(args.tasks)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    budget = harness_budget(30)
    if args.steps is not None:
        budget["steps"] = int(args.steps)
    seeds = C.training_seeds(args.train_seeds, budget["seed"])
    work = Path(args.work)
    ns = len(seeds)
    units = [(m, sd, t) for m in methods for sd in seeds for t in tasks]  # (method, seed, task): one training each
    roots = {(m, sd): C.seed_dir(work / m, sd, seeds[0]) for m in methods for sd in seeds}
    jobs = [(m, t, roots[(m, sd)] / t.replace(":", "-"), None) for m, sd, t in units]
    train_wall, trained = train_peers(jobs, budget, args.ray, [sd for _, sd, _ in units])
    shard_dir = work / "shards"
    retrained = set(trained)
    for (m, sd, t), (_, _, dest, _) in zip(units, jobs, strict=True):  # a retrained peer's evaluation is stale
        if dest in retrained:  # under both names its seed is evaluated as (alone, or as one of several seeds)
            for label in {C.seed_label(m, sd, 2), *([m] if sd == seeds[0] else [])}:
                (shard_dir / f"{label}__{t.replace(':', '-')}.json").unlink(missing_ok=True)
    plan = [(C.seed_label(m, sd, ns), "peer", str(roots[(m, sd)].absolute())) for m in methods for sd in seeds]
    if args.model != "none":
        from metadvfs.learn.checkpoint import load_checkpoint

        plan.insert(0, ("metadvfs", "model", str(Path(load_checkpoint(args.model).path).absolute())))
    plan += [(s, "stock", s) for s in STOCK]
    C.log(f"evaluating {', '.join(m for m, _, _ in plan)} on {len(tasks)} tasks (shards in {shard_dir})")
    res, eval_wall = C.timed(lambda: evaluate_plan(plan, tasks, args.seeds, args.seconds, shard_dir, args.ray))
    res = dataclasses.replace(res, groups=C.seed_groups(methods, seeds))
    out = Path(args.out)
    write_reports(res, out / "eval")
    ui = [t for t in tasks if t.split(":", 1)[1] not in BENCHMARK_APPS]
    bench = [t for t in tasks if t.split(":", 1)[1] in BENCHMARK_APPS]
    cost = {m: train_cost(m, tasks, [roots[(m, sd)] for sd in seeds]) for m in methods}
    lost = {m: losses(res, m) for m in methods}
    md = [
        f"Peers trained with {budget['steps']:,} decisions per task at {budget['decision_interval_s']} s "
        f"(variants with their own interval: the same phone-time), {_seeds_text(seeds)}, {budget['n_envs']} "
        f"phones per task; evaluated on seeds {res.seeds}, {res.seconds:g} s episodes. PPR is normalised to "
        f"`stock`; the QoE floor is stock's QoE - 0.01. Training wall time this run {train_wall / 60:.1f} min "
        f"(0 = reused), evaluation {eval_wall / 60:.1f} min."
        + (
            ""
            if ns == 1
            else f" Learned peers: mean ± std over the {ns} training seeds (each seed's value its mean over the "
            "evaluation seeds); the losses below are those of the mean over training seeds."
        ),
        "",
    ]
    for title, sub in (
        (f"All {len(tasks)} tasks", tasks),
        (f"UI apps ({len(ui)} tasks)", ui),
        (f"3DMark ({len(bench)} tasks)", bench),
    ):
        if sub:
            md += [f"## {title}", "", *summary_table(subset(res, sub)), ""]
    md += ["## Training cost per task", ""]
    md += C.md_table(
        ["method", "decisions", "phone-s", "wall s (mean)"],
        [
            [m, f"{c['decisions_per_task']:,.0f}", f"{c['phone_s_per_task']:,.0f}", f"{c['wall_s_per_task']:.1f}"]
            for m, c in cost.items()
        ],
    )
    md += ["", "## Where each peer loses against stock", ""]
    md += C.md_table(
        [
            "method",
            "QoE under the floor",
            "PPR below stock",
            "mean QoE - stock's",
            "mean power / stock's",
            "worst PPR (task, PPR, QoE)",
        ],
        [
            [
                m,
                f"{len(x['qoe_under_floor'])}/{len(tasks)}",
                f"{len(x['ppr_below_stock'])}/{len(tasks)}",
                f"{x['mean_qoe_gap']:+.3f}",
                f"{x['mean_power_ratio']:.3f}",
                "; ".join(f"{t} {p:.3f}/{q:.3f}" for t, p, q in x["worst_ppr"]),
            ]
            for m, x in lost.items()
        ],
    )
    md += ["", "## Per task", "", to_markdown(res)]
    per_seed = dataclasses.replace(res, groups={}).summary()["methods"]
    data = {
        "budget": budget,
        "train_seeds": seeds,
        "methods": methods,
        "tasks": tasks,
        "ui_tasks": ui,
        "benchmark_tasks": bench,
        "summary": res.summary(),
        "summary_ui": subset(res, ui).summary() if ui else None,
        "summary_3dmark": subset(res, bench).summary() if bench else None,
        "training_cost": cost,
        "losses": lost,
        "train_wall_s": round(train_wall, 1),
        "eval_wall_s": round(eval_wall, 1),
        "rows": res.rows(),
        "per_seed": {m: [{"seed": sd, **per_seed[C.seed_label(m, sd, ns)]} for sd in seeds] for m in methods},
        "rows_per_seed": dataclasses.replace(res, groups={}).rows() if ns > 1 else None,
    }
    C.write_report(out, md, data, time.perf_counter() - t0)
    C.log(f"report: {out}/results.md")


def _seeds_text(seeds: list[int]) -> str:
    """``seed 0`` or ``3 training seeds (0, 1, 2)``."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} training seeds ({', '.join(map(str, seeds))})"


# -- search ---------------------------------------------------------------------------------------------------
def grid_points(peer: str, grid: dict[str, list[Any]], source: Path) -> list[dict[str, Any]]:
    """Every point of a grid as a variant description (``name``, ``base``, ``hyperparameters``, interval).

    A key ``a+b`` varies two hyper-parameters together: its values are ``[a, b]`` pairs.
    """
    from metadvfs.errors import MetaDVFSError

    if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
        raise MetaDVFSError(f"{source}: grids.{peer}: every key needs a non-empty list of values")
    keys = list(grid)
    out = []
    for k, values in enumerate(itertools.product(*(grid[key] for key in keys))):
        point: dict[str, Any] = {}
        for key, val in zip(keys, values, strict=True):
            names = key.split("+")
            if len(names) == 1:
                point[key] = val
            elif isinstance(val, list) and len(val) == len(names):
                point.update(zip(names, val, strict=True))
            else:
                raise MetaDVFSError(f"{source}: grids.{peer}.{key}: every value must be a list of {len(names)}")
        dt = point.pop("decision_interval_s", None)
        out.append(
            {
                "name": f"{peer}-g{k:02d}",
                "base": peer,
                "hyperparameters": point,
                "decision_interval_s": None if dt is None else float(dt),
                "path": str(source),
            }
        )
    return out


def run_tune(args: argparse.Namespace) -> None:
    from metadvfs.errors import MetaDVFSError
    from metadvfs.io import read_document, write_text_atomic
    from metadvfs.learn.baselines import BASELINE_MODULES
    from metadvfs.learn.evaluate import evaluate
    from metadvfs.learn.tasks import parse_task_names
    from metadvfs.scale.sweep import SWEEP_SEED_BASE, score_result

    t0 = time.perf_counter()
    peer = args.tune
    if peer not in BASELINE_MODULES:
        raise SystemExit(f"error: --tune: must be one of {', '.join(BASELINE_MODULES)}, got {peer!r}")
    source = Path(args.tuning)
    spec = read_document(source)
    try:
        points = grid_points(peer, spec["grids"][peer], source)
        tasks = parse_task_names(",".join(spec["tasks"]))
        budget = {
            "steps": int(spec["per_task_steps"]),
            "seed": int(spec["seed"]),
            "n_envs": int(spec["envs_per_task"]),
            "decision_interval_s": harness_budget(30)["decision_interval_s"],
            "episode_seconds": float(spec["episode_seconds"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"error: {source}: malformed ({exc.__class__.__name__}: {exc})") from None
    except MetaDVFSError as exc:
        raise SystemExit(f"error: {exc}") from None
    work = Path(args.work) / f"tune-{peer}"
    jobs = [(peer, t, work / p["name"] / t.replace(":", "-"), p) for p in points for t in tasks]
    train_wall, _ = train_peers(jobs, budget, args.ray)
    n_val, val_s = int(spec["val_seeds"]), float(spec["val_seconds"])
    drivers = [load_drivers(p["name"], tasks, work / p["name"]) for p in points]
    res = evaluate(
        drivers, [], tasks, n_val, val_s, progress=lambda n: C.log(f"  validating {n}"), seed_base=SWEEP_SEED_BASE
    )
    scores = {p["name"]: score_result(res, p["name"]) for p in points}
    unit_wall = sum(train_cost(p["name"], tasks, work / p["name"])["wall_s_per_task"] * len(tasks) for p in points)
    best = max(
        points,
        key=lambda p: (scores[p["name"]]["score"], scores[p["name"]]["qoe_ok_frac"], scores[p["name"]]["ppr_norm"]),
    )
    keys = list(spec["grids"][peer])
    rows = []
    for p in points:
        vals = {**p["hyperparameters"], "decision_interval_s": p["decision_interval_s"]}
        s = scores[p["name"]]
        rows.append(
            [
                p["name"] + (" **best**" if p is best else ""),
                *["/".join(str(vals.get(n)) for n in k.split("+")) for k in keys],
                f"{s['score']:.4f}",
                f"{s['ppr_norm']:.4f}",
                f"{s['qoe_ok_frac']:.2f}",
            ]
        )
    md = [
        f"Grid search for `{peer}-tuned` ({len(points)} points; `{_rel(source)}`): "
        f"{len(tasks)} tasks ({', '.join(tasks)}), {budget['steps']:,} decisions per task at "
        f"{budget['decision_interval_s']} s (the same phone-time at other intervals), training seed "
        f"{budget['seed']}; validation seeds {res.seeds}, {val_s:g} s. Score: mean PPR/stock over the tasks, 0 "
        f"where QoE < stock's - 0.01. Training: {unit_wall / 60:.1f} min summed over the {len(jobs)} trainings "
        f"(each checkpoint's own wall time), {train_wall / 60:.1f} min in this run (0: trained before).",
        "",
        *C.md_table(["point", *keys, "score", "PPR/stock", "QoE floor met"], rows),
    ]
    data = {
        "peer": peer,
        "tasks": tasks,
        "budget": budget,
        "val_seeds": res.seeds,
        "val_seconds": val_s,
        "points": points,
        "scores": scores,
        "best": best["name"],
        "summary": res.summary(),
        "train_wall_s_units": round(unit_wall, 1),
    }
    out = Path(args.out)
    C.write_report(out, md, data, time.perf_counter() - t0)
    vdir = Path(args.variants)
    vdir.mkdir(parents=True, exist_ok=True)
    s = scores[best["name"]]
    doc = {
        "base": peer,
        "hyperparameters": best["hyperparameters"],
        **({"env": {"decision_interval_s": best["decision_interval_s"]}} if best["decision_interval_s"] else {}),
        "provenance": {
            "command": C.command_line(),
            "date": time.strftime("%Y-%m-%d"),
            "grid": spec["grids"][peer],
            "point": best["name"],
            "tasks": tasks,
            "per_task_steps": budget["steps"],
            "seed": budget["seed"],
            "val_seeds": res.seeds,
            "val_seconds": val_s,
            "score": round(s["score"], 4),
            "ppr_norm": round(s["ppr_norm"], 4),
            "qoe_ok_frac": round(s["qoe_ok_frac"], 3),
            "results": _rel(out / "results.md"),
        },
    }
    import yaml

    head = (
        f"# {peer}-tuned: best point of the grid in {_rel(source)} (written by "
        f"experiments/peers.py --tune {peer}; see provenance). Other hyper-parameters: published.\n"
    )
    write_text_atomic(vdir / f"{peer}-tuned.yaml", head + yaml.safe_dump(doc, sort_keys=False))
    C.log(f"best {best['name']} (score {s['score']:.4f}) -> {vdir / f'{peer}-tuned.yaml'}")


def run_probe(args: argparse.Namespace) -> None:
    """Print, per ``METHOD:DEVICE:APP``, how many distinct clock choices a stored peer makes on the evaluation
    episodes (seeds 10000+i, ``--seconds``) and the share of the most frequent one."""
    from collections import Counter

    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.baselines import load_baseline
    from metadvfs.learn.baselines.common import parse_task
    from metadvfs.learn.evaluate import SEED_BASE

    for item in args.probe.split(","):
        method, task = item.split(":", 1)
        drv = load_baseline(Path(args.work) / method / task.replace(":", "-"))
        venv = BatchedDVFSVecEnv([parse_task(task)] * args.seeds, episode_seconds=args.seconds, **drv.env_kwargs)
        venv.batch.seed([SEED_BASE + i for i in range(args.seeds)])
        drv.reset(args.seeds)
        obs = venv.reset()
        count: Counter[tuple[int, ...]] = Counter()
        for _ in range(venv.batch.n_steps):
            a = drv.act(venv, obs)
            count.update(tuple(r) for r in a.tolist())
            obs = venv.step(a)[0]
        top, n = count.most_common(1)[0], sum(count.values())
        print(
            f"{method} {task}: {len(count)} distinct choices (little, mid, big, gpu); most frequent {top[0]} "
            f"in {top[1] / n:.0%} of {n} decisions"
        )


def _rel(p: Path) -> str:
    """``p`` relative to the repository root when inside it."""
    a = Path(p).absolute()
    return str(a.relative_to(C.ROOT)) if a.is_relative_to(C.ROOT) else str(a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tune", default=None, metavar="ztt|gear", help="run the grid search of one peer instead")
    ap.add_argument(
        "--probe",
        default=None,
        metavar="METHOD:DEVICE:APP,...",
        help="print the distinct clock choices of stored peers on the evaluation episodes, then exit",
    )
    ap.add_argument("--tuning", default=str(TUNING_FILE), help="search space and budget of --tune")
    ap.add_argument("--variants", default=str(VARIANTS), help="where --tune writes <peer>-tuned.yaml")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="peers to evaluate (comma list)")
    ap.add_argument("--tasks", default="all", help="all | DEVICE:APP,...")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="decisions per task (default: configs/metadvfs.yaml total_steps / 30, the harness's)",
    )
    ap.add_argument("--model", default="none", help="MetaDVFS checkpoint evaluated next to the peers (e.g. default)")
    ap.add_argument("--seeds", type=int, default=3, help="evaluation seeds per task (10000+i)")
    ap.add_argument("--seconds", type=float, default=60.0, help="evaluation episode length, s")
    ap.add_argument("--work", default=str(C.ROOT / "runs" / "experiments" / "peers"), help="trained peers")
    ap.add_argument("--out", default=None, help="report directory (default experiments/results/peers/...)")
    C.add_seed_args(ap)
    C.add_scale_args(ap)
    args = ap.parse_args()
    C.training_seeds(args.train_seeds)  # a bad --train-seeds fails before anything runs
    C.limit_threads()
    if args.out is None:
        args.out = str(C.RESULTS / "peers" / (f"tune-{args.tune}" if args.tune else "full"))
    if args.steps is not None and args.steps < 1:
        raise SystemExit(f"error: --steps: must be >= 1, got {args.steps}")
    if args.probe:
        run_probe(args)
    elif args.tune:
        run_tune(args)
    else:
        run_eval(args)


if __name__ == "__main__":
    main()
