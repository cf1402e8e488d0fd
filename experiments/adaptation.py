"""Zero-shot quality and fast adaptation on held-out phones and apps, in phone-minutes (``metadvfs adapt``).

Leave-one-device-out (LODO, over the 5 phones) and leave-one-app-out (LOAO, over the 6 apps) folds. For
each fold:

1. the remaining tasks (plus, with ``generated``, generated phones and apps built around the fold's
   *training* phones and apps only, so the held-out phone's numbers stay unseen) train one
   metadata-conditioned model (schema-2 metadata); the same real tasks train an unconditioned ``joint`` model
   (joint-init) and a FOMAML meta-initialisation per metadata group;
2. every held-out task is adapted with :func:`metadvfs.meta.adapt.adapt` for every method (``context``,
   ``finetune``, ``meta``, ``joint``, ``incremental``, ``scratch``) on the same phone-minute budget and seeds,
   with the QoE floor on; quality is measured on held-out evaluation episodes (seeds 10000+i, deterministic
   actions) and normalised by the evaluation code's stock reference;
3. ``minutes_to_95`` is taken against a task-specific reference (standalone model trained on the held-out
   task with the fold's per-task budget, cached) and against the oracle; runs that never get there are
   censored at the budget and counted.

With ``--train-seeds N`` (default 1) every fold's models are trained with training seeds 0..N-1 (seed 0 in
the fold directory ``<work>/<kind>-<value>``, the single-seed layout, so earlier work directories are reused;
seed ``s`` in ``<kind>-<value>@seed<s>``) and every held-out task is adapted from each seed's models with every
adaptation seed; the report gives mean ± std over all (training seed x adaptation seed) runs and the spread over
training seeds (std of the per-training-seed means) of zero-shot quality and minutes to 95 %. ``--ray`` runs the
trainings and the adaptation runs as Ray units (same numbers as serial; docs/scale-out.md).

Run from the repository root::

    python experiments/adaptation.py --quick      # 2 folds, 1 held-out task each, 3 seeds, small budgets
    python experiments/adaptation.py              # 11 folds over 30 tasks, 3 seeds (long)
    python experiments/adaptation.py --train-seeds 3 --ray local:2   # the same for 3 training seeds, 2 workers
    python experiments/adaptation.py --folds app:kwai --train-seeds 3 --ray local:2   # one fold at a time ...
    python experiments/adaptation.py --pool DIR1,DIR2 --out DIR   # ... pooled from the stored results alone
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
from _adaptation_report import (  # noqa: F401  (re-exported: tests and the other scripts use them as adaptation.*)
    METHODS,
    SEED_SPREAD_KEYS,
    TARGET_MINUTES,
    aggregate,
    floor_section,
    mean_curve,
    mean_qoe_gap,
    plot_curves,
    pool_results,
    present_methods,
    report,
    runs_cost_sentence,
    share_reached,
    under_floor,
)

from metadvfs.catalog.devices import list_devices
from metadvfs.core.codec import ACTION_MODES
from metadvfs.workload.apps import list_apps

ALL_DEVICES = tuple(list_devices())  # the catalogs: a new device or app file joins the full setting
ALL_APPS = tuple(list_apps())

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "devices": ["pixel3", "pixel6", "pixel8"],
        "apps": ["tiktok", "weibo", "3dmark"],
        "folds": [["device", "pixel8"], ["app", "weibo"]],
        "heldout": {"pixel8": ["pixel8:3dmark"], "weibo": ["pixel3:weibo"]},
        "per_task_steps": 30_000,
        "envs_per_task": 8,
        "generated": {"devices": 3, "apps": 2, "tasks": 6, "seed": 0, "pool": "all", "margin": 0.25},
        "meta": {
            "algo": "fomaml",
            "iterations": 20,
            "meta_batch": 3,
            "inner_steps": 2,
            "inner_lr": 0.001,
            "outer_lr": 0.001,
            "envs_per_task": 8,
            "n_steps": 64,
        },
        "budget_minutes": 6.0,
        "phones": 8,
        "rollout": 32,
        "eval_seeds": 3,
        "eval_seconds": 20.0,
        "qoe_margin": 0.05,
        "seeds": 3,
    },
    "full": {
        "devices": list(ALL_DEVICES),
        "apps": list(ALL_APPS),
        "folds": [["device", d] for d in ALL_DEVICES] + [["app", a] for a in ALL_APPS],
        "heldout": None,
        "per_task_steps": None,
        "envs_per_task": 16,
        "generated": {"devices": 16, "apps": 12, "tasks": 60, "seed": 0, "pool": "all", "margin": 0.25},
        "meta": {
            "algo": "fomaml",
            "iterations": 150,
            "meta_batch": 4,
            "inner_steps": 2,
            "inner_lr": 0.001,
            "outer_lr": 0.001,
            "envs_per_task": 8,
            "n_steps": 64,
        },
        "budget_minutes": 20.0,
        "phones": 8,
        "rollout": 32,
        "eval_seeds": 4,
        "eval_seconds": 20.0,
        "qoe_margin": 0.05,
        "seeds": 3,
    },
}
SEED_BASE = 100
"""Adaptation seeds are 100+i (environments and PPO); every method of a run uses the same seed."""
SPEC_KEYS = ("devices", "apps", "per_task_steps", "envs_per_task", "meta", "base", "generated", "budget_minutes",
             "phones", "rollout", "eval_seeds", "eval_seconds", "qoe_margin", "real_only")  # fmt: skip
"""Settings a work directory is made with (``spec.json``; other values start it afresh; ``real_only`` only in
the ``--real-only`` variant, so the other variants' work directories keep their spec)."""


def work_spec(s: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SPEC_KEYS` of settings ``s`` that it has (``spec.json`` of its work directory)."""
    return {k: s[k] for k in SPEC_KEYS if k in s}


def quick_pixel8_fold(per_task_steps: int = 30_000) -> tuple[dict[str, Any], list[str], Path]:
    """The ``--quick`` setting, the training tasks and the run directory of its held-out Pixel 8 fold.

    The follow-up quick experiments (``cavia_quick.py``, ``generated_zero_shot.py``) reuse that fold's shared
    model, so ``python experiments/adaptation.py --quick`` must have run first.
    """
    s = dict(SETTINGS["quick"])
    s["base"] = C.base_sections("quick")
    s["per_task_steps"] = per_task_steps
    train_tasks, _ = fold_tasks(s, "device", "pixel8")
    fold = work_dir("quick") / "device-pixel8"
    if not (fold / "shared" / "model.json").is_file():
        raise SystemExit("error: run python experiments/adaptation.py --quick first (its pixel8 fold model)")
    return s, train_tasks, fold


def fold_tasks(s: dict[str, Any], kind: str, value: str) -> tuple[list[str], list[str]]:
    """(training tasks, held-out tasks) of a fold."""
    universe = [f"{d}:{a}" for d in s["devices"] for a in s["apps"]]
    idx = 0 if kind == "device" else 1
    held = [t for t in universe if t.split(":")[idx] == value]
    train = [t for t in universe if t not in held]
    if s["heldout"] is not None:
        held = list(s["heldout"][value])
    return train, held


def _config(
    s: dict[str, Any],
    name: str,
    tasks: list[str],
    mode: str,
    generated: dict[str, Any] | None,
    seed: int = C.BASE_SEED,
    extra_tasks: int = 0,
) -> Any:
    """The config of one fold model (name ``<name>-seed<seed>`` for seeds other than the base seed).

    ``extra_tasks`` (without ``generated``) adds that many tasks' budget to the real tasks' steps: the real-only
    ablation trains with the same total steps as the model with generated tasks.
    """
    from metadvfs.learn.config import config_from_dict, config_to_dict

    tag = "" if seed == C.BASE_SEED else f"-seed{seed}"
    c = C.make_config(
        s["base"], name + tag, tasks, mode, s["per_task_steps"], s["envs_per_task"], seed=seed, meta=s["meta"]
    )
    if not generated and not extra_tasks:
        return c
    d = config_to_dict(c)
    if generated:
        d["generated"] = generated
    n_gen = generated["tasks"] if generated else extra_tasks
    d["total_steps"] = int(s["per_task_steps"] * (len(tasks) + n_gen))
    return config_from_dict(d, name + tag)


def fold_plan(s: dict[str, Any], kind: str, value: str, work: Path, seed: int) -> dict[str, Any]:
    """Tasks, directories and configs of one fold and training seed (nothing is trained).

    Training seed ``seed``'s models live in ``<work>/<kind>-<value>`` for the base seed (the single-seed layout,
    so earlier work directories are reused) and in ``<work>/<kind>-<value>@seed<seed>`` otherwise: ``shared/``
    (the conditioned model; its ``baselines/`` hold the joint model, the references and the incremental starts),
    ``meta/`` (FOMAML) and ``runs/`` (the adaptation reports).
    """
    train_tasks, held = fold_tasks(s, kind, value)
    fw = C.seed_dir(work / f"{kind}-{value}", seed).absolute()
    devs = sorted({t.split(":")[0] for t in train_tasks})
    apps = sorted({t.split(":")[1] for t in train_tasks})
    real_only = bool(s.get("real_only"))
    gen = {**s["generated"], "base_devices": devs, "base_apps": apps}
    gen = gen if s["generated"]["tasks"] and not real_only else None
    extra = s["generated"]["tasks"] if real_only else 0
    name = f"lo{kind[0]}o-{value}"
    return {
        "fold": f"{kind}:{value}",
        "kind": kind,
        "train_seed": seed,
        "train_tasks": train_tasks,
        "heldout": held,
        "dir": fw,
        "shared": fw / "shared",
        "meta": fw / "meta",
        "generated": gen,
        "cfg": _config(s, name, train_tasks, "conditioned", gen, seed, extra),
        "joint_cfg": _config(s, f"{name}-joint", train_tasks, "joint", None, seed),
        "meta_cfg": _config(s, f"{name}-meta", train_tasks, "conditioned", None, seed),
    }


def run_path(plan: dict[str, Any], task: str, seed: int) -> Path:
    """Where the report of adapting ``task`` with adaptation seed ``seed`` from a plan's models is cached."""
    dev, app = task.split(":", 1)
    return Path(plan["dir"]) / "runs" / f"{dev}-{app}-s{seed}.json"


def shared_unit(f: dict[str, Any]) -> Any:
    """The training unit of a plan's conditioned fold model (a checkpoint of another training seed there is
    dropped first)."""
    import dataclasses

    from metadvfs.scale.jobs import train_units

    C.drop_other_seed(f["shared"], f["train_seed"])
    (u,) = train_units([f["cfg"]], [f["shared"]])
    return dataclasses.replace(u, key=f"train {f['dir'].name}/shared")


def train_folds(s: dict[str, Any], plans: list[dict[str, Any]], seeds: list[int], ray: str | None) -> None:
    """Train (or reuse) every fold's models, for every training seed, as independent units (serial or Ray).

    Stage 1: per (fold, training seed) the conditioned model and the FOMAML initialisations. Stage 2 (they live
    in the conditioned model's ``baselines/``): the joint model, the task-specific reference of every held-out
    task whose adaptation runs (``seeds``) are not all cached and the incremental method's start (the
    standalone model of its nearest training task), so the adaptation runs only read models. Stage 2 needs the
    finished conditioned model; where that is already there (trained by an earlier run), its stage-2 units join
    stage 1's batch, so no worker idles while the slowest meta-initialisation finishes. Fills ``timing`` of
    each plan (s; None when reused).
    """
    from metadvfs.learn.config import config_to_dict
    from metadvfs.scale.jobs import train_units
    from metadvfs.scale.runner import Unit

    methods = s["methods"]
    units, shared_at, meta_at = [], [], []
    for f in plans:
        for d in (f["meta"], f["shared"] / "baselines" / "joint"):
            C.drop_other_seed(d, f["train_seed"])
        shared_at.append(len(units))
        units.append(shared_unit(f))
        meta_at.append(None)
        if "meta" in methods:  # the FOMAML initialisations only for the method that starts from them
            meta = {"config": config_to_dict(f["meta_cfg"]), "meta": dict(s["meta"]), "dest": str(f["meta"])}
            meta_at[-1] = len(units)
            units.append(Unit(f"meta {f['dir'].name}", "metadvfs.scale.units:meta_unit", meta))
    ready = [(f["shared"] / "model.json").is_file() for f in plans]
    early: dict[Path, Any] = {}
    for f in (f for f, ok in zip(plans, ready, strict=True) if ok):
        early.update(_baseline_jobs(f, seeds, methods))
    dests = list(early)
    res = C.run_units([*units, *train_units([early[d] for d in dests], dests)], ray)
    walls = {d: C.unit_wall(r) for d, r in zip(dests, res[len(units) :], strict=True)}
    for f, i, m in zip(plans, shared_at, meta_at, strict=True):
        # a model no chosen method needs has no timing entry (None would read as reused from an earlier run)
        f["timing"] = {
            "shared_train_s": C.unit_wall(res[i]),
            **({} if m is None else {"meta_train_s": C.unit_wall(res[m])}),
        }
    late: dict[Path, Any] = {}
    for f in (f for f, ok in zip(plans, ready, strict=True) if not ok):  # their conditioned model is trained now
        late.update({d: c for d, c in _baseline_jobs(f, seeds, methods).items() if d not in walls})
    if late:
        dests = list(late)
        walls.update({d: w for d, (_, w) in zip(dests, C.train_all([(late[d], d) for d in dests], ray), strict=True)})
    if "joint" in methods:
        for f in plans:
            f["timing"]["joint_train_s"] = walls[f["shared"] / "baselines" / "joint"]


def _baseline_jobs(f: dict[str, Any], seeds: list[int], methods: list[str]) -> dict[Path, Any]:
    """A plan's stage-2 trainings (destination -> config): its joint model (for method ``joint``) and, for every
    held-out task whose adaptation runs are not all cached, the task-specific reference and (for method
    ``incremental``) the incremental method's start."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.meta.adapt import incremental_job, nearest_task, reference_job
    from metadvfs.tasks.task import make_task

    jobs: dict[Path, Any] = {f["shared"] / "baselines" / "joint": f["joint_cfg"]} if "joint" in methods else {}
    missing = [t for t in f["heldout"] if not all(run_path(f, t, sd).is_file() for sd in seeds)]
    if missing:
        model = load_checkpoint(f["shared"])
        for t in missing:
            task = make_task(*t.split(":", 1))
            todo = [reference_job(model, task, t)]
            if "incremental" in methods:
                todo.append(incremental_job(model, nearest_task(model, task)))
            for cfg, dest in todo:
                jobs[dest.absolute()] = cfg
    return jobs


def adapt_runs(s: dict[str, Any], plans: list[dict[str, Any]], seeds: list[int], ray: str | None) -> None:
    """Adapt every held-out task of every plan with every method and adaptation seed (one unit per run; the
    reports are cached in ``runs/``). Sets ``runs`` of each plan (each report with its ``train_seed``)."""
    from metadvfs.scale.runner import Unit

    options = {"budget_minutes": s["budget_minutes"], "methods": list(s["methods"]), "n_envs": s["phones"],
               "rollout": s["rollout"], "eval_every": 1, "eval_seeds": s["eval_seeds"],
               "eval_seconds": s["eval_seconds"], "qoe_margin": s["qoe_margin"]}  # fmt: skip
    units, owner = [], []
    for f in plans:
        f["runs"] = []
        for t in f["heldout"]:
            dev, app = t.split(":", 1)
            for seed in seeds:
                units.append(Unit(
                    f"adapt {f['dir'].name} {t} seed {seed}", "metadvfs.scale.units:adapt_unit",
                    {"model": str(f["shared"]), "device": dev, "app": app,
                     "options": {**options, "seed": seed, "meta_model": str(f["meta"])},
                     "extra": {"fold": f["fold"], "kind": f["kind"]},
                     "dest": str(run_path(f, t, seed))},
                ))  # fmt: skip
                owner.append(f)
    for f, rep in zip(owner, C.run_units(units, ray), strict=True):
        f["runs"].append({**rep, "train_seed": f["train_seed"]})


def add_variant_args(ap: Any) -> None:
    """The fold models' variant options (``--action-mode``, ``--structure``, ``--gpu-bound``, ``--real-only``,
    ``--qoe-floor``)."""
    ap.add_argument(
        "--action-mode",
        choices=ACTION_MODES,
        default=None,
        help="the fold models' env.action_mode (default: the base config's); results and work in <mode>-<action mode>",
    )
    ap.add_argument(
        "--structure",
        action="store_true",
        help="generated phones also sample core and OPP counts (generated.structure); results and work in "
        "<mode>[-<action mode>]-structure",
    )
    ap.add_argument(
        "--gpu-bound",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of generated apps that are GPU-bound games (generated.gpu_bound, 0..1, whole percents); results "
        "and work in <mode>[-<action mode>][-structure]-gpubound<percent>",
    )
    ap.add_argument(
        "--real-only",
        action="store_true",
        help="the fold models train on the fold's real tasks only, no generated tasks (an ablation); results and "
        "work in <mode>[-<action mode>]-realonly",
    )
    ap.add_argument(
        "--qoe-floor",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="reward weight of a step's QoE shortfall under the stock governors' QoE - 0.01 "
        "(env.reward_weights.qoe_floor, 0..100, at most one decimal; default 0: the base config's reward); results and "
        "work in <mode>[-<action mode>][-structure]-gpubound<percent>-qoefloor<weight>",
    )


def variant_settings(a: Any, mode: str) -> tuple[str, dict[str, Any]]:
    """The run name (``<mode>[-<action mode>][-structure][-gpubound<pct>|-realonly][-qoefloor<w>]``) and the
    settings of a variant given by :func:`add_variant_args`' options; contradicting or out-of-range options exit 2."""
    run = mode if a.action_mode is None else f"{mode}-{a.action_mode}"
    if a.real_only and (a.structure or a.gpu_bound):
        C.fail("--real-only: trains no generated tasks, so --structure and --gpu-bound do not apply")
    run += "-structure" if a.structure else ""
    if not 0.0 <= a.gpu_bound <= 1.0:
        C.fail(f"--gpu-bound: must be in [0, 1], got {a.gpu_bound}")
    gpu_pct = round(100 * a.gpu_bound)  # whole percents, as the generated names keep them
    run += f"-gpubound{gpu_pct}" if gpu_pct else ""
    run += "-realonly" if a.real_only else ""
    floor = a.qoe_floor
    if not (0.0 <= floor <= 100.0 and round(floor, 1) == floor):
        C.fail(f"--qoe-floor: must be in [0, 100] with at most one decimal, got {floor}")
    run += f"-qoefloor{floor:g}" if floor else ""
    s = dict(SETTINGS[mode])
    s["base"] = C.base_sections(mode)
    if a.action_mode is not None:
        s["base"]["env"] = {**s["base"]["env"], "action_mode": a.action_mode}
    if floor:
        env = s["base"]["env"]
        s["base"]["env"] = {**env, "reward_weights": {**env.get("reward_weights", {}), "qoe_floor": floor}}
    if a.structure:
        s["generated"] = {**s["generated"], "structure": True}
    if gpu_pct:
        s["generated"] = {**s["generated"], "gpu_bound": gpu_pct / 100.0}
    if a.real_only:  # same total steps as with the generated tasks (fold_plan)
        s["real_only"] = True
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    return run, s


def work_dir(run: str) -> Path:
    """Where a variant's fold models and adaptation runs live: ``runs/experiments/adaptation2-<run>`` (the zero-shot
    experiment trains and reads the same fold models there)."""
    return C.ROOT / "runs" / "experiments" / f"adaptation2-{run}"


def results_dir(run: str, subset: str = "") -> Path:
    """A variant's adaptation results: ``experiments/results/adaptation/<run><subset>``, where ``subset`` is the
    :func:`fold_suffix` of a subset of folds (empty for every fold)."""
    return C.RESULTS / "adaptation" / (run + subset)


def select_methods(methods: str | None) -> list[str]:
    """The ``--methods`` list (None: :data:`METHODS`); an unknown method, a repeat or no ``scratch`` exits 2."""
    from metadvfs.meta.adapt import METHODS_ALL

    if methods is None:
        return list(METHODS)
    want = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in want if m not in METHODS_ALL]
    if bad:
        C.fail(f"--methods: unknown method {bad[0]!r}; choose from {', '.join(METHODS_ALL)}")
    if len(set(want)) != len(want):
        C.fail("--methods: a method is named twice")
    if "scratch" not in want:
        C.fail("--methods: scratch is required (every method is compared with it)")
    return [m for m in METHODS_ALL if m in want]  # report order


def fold_suffix(folds: list[list[str]] | None) -> str:
    """The results-directory suffix of a subset of folds (``-app-weibo``, ``-device-pixel3+app-kwai``); none for
    every fold."""
    return "-" + "+".join(f"{k}-{v}" for k, v in folds) if folds else ""


def select_folds(s: dict[str, Any], folds: str | None) -> str:
    """Keep the ``--folds`` subset (``kind:value,...``; None: every fold) in ``s["folds"]``; an unknown fold
    exits 2. Returns the results-directory suffix: a subset reports apart (the full table needs every fold),
    while the models are shared with full runs."""
    if not folds:
        return ""
    want = [f.strip().split(":", 1) for f in folds.split(",") if f.strip()]
    bad = [":".join(f) for f in want if f not in s["folds"]]
    if bad:
        C.fail(f"--folds: unknown fold {bad[0]!r}; choose from " + ", ".join(":".join(f) for f in s["folds"]))
    s["folds"] = want
    return fold_suffix(want)


def main() -> None:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 folds on a 9-task universe, small budgets")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/NAME/quick|full)")
    ap.add_argument("--work", type=Path, default=None, help="models and runs (default runs/experiments/...)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per held-out task (default 3)")
    ap.add_argument("--folds", default=None, help="subset of folds, e.g. device:pixel8,app:weibo (default all)")
    ap.add_argument(
        "--methods",
        default=None,
        help=f"adaptation methods, comma list (default {','.join(METHODS)}; also finetune-slow); scratch is "
        "required (the comparison), and models only the chosen methods need are trained",
    )
    add_variant_args(ap)
    C.add_seed_args(ap, default=1)
    ap.set_defaults(train_seeds=None)  # None = not given (--pool refuses it); resolved to 1 below
    C.add_scale_args(ap)
    C.add_fresh_arg(ap)
    ap.add_argument(
        "--pool",
        default=None,
        metavar="DIR,DIR,...",
        help="pool stored results of earlier runs (per-fold results directories) into --out: no model or work "
        "directory needed; the settings come from the files",
    )
    a = ap.parse_args()
    if a.pool is not None:
        given = [o for o, v in (("--quick", a.quick), ("--folds", a.folds), ("--seeds", a.seeds),
                                ("--work", a.work), ("--ray", a.ray), ("--fresh", a.fresh),
                                ("--train-seeds", a.train_seeds is not None),
                                ("--action-mode", a.action_mode), ("--structure", a.structure),
                                ("--gpu-bound", a.gpu_bound), ("--real-only", a.real_only),
                                ("--qoe-floor", a.qoe_floor), ("--methods", a.methods)) if v]  # fmt: skip
        if given or a.out is None:
            C.fail(f"--pool: takes only --out DIR (required){'; drop ' + given[0] if given else ''}")
        t0 = time.perf_counter()
        dirs = [Path(x.strip()) for x in a.pool.split(",") if x.strip()]
        folds, s, seeds, train_seeds = pool_results(dirs)
        report(folds, s, seeds, train_seeds, time.perf_counter() - t0, a.out, [C.repo_relative(str(d)) for d in dirs])
        C.log(f"report: {a.out / 'results.md'}")
        return
    train_seeds = C.training_seeds(1 if a.train_seeds is None else a.train_seeds)
    C.limit_threads()
    run, s = variant_settings(a, "quick" if a.quick else "full")
    if a.seeds is not None:
        if a.seeds < 1:
            C.fail(f"--seeds: must be >= 1, got {a.seeds}")
        s["seeds"] = a.seeds
    s["methods"] = select_methods(a.methods)
    subset = select_folds(s, a.folds)
    if s["methods"] != list(METHODS):  # a subset of methods reports apart too (the T3 table needs the six)
        subset += "-" + "+".join(s["methods"])
    a.out = a.out or results_dir(run, subset)
    work = a.work or work_dir(run)
    C.prepare_work(work, work_spec(s), fresh=a.fresh)  # the training seed is in the fold directories' names
    seeds = [SEED_BASE + i for i in range(s["seeds"])]
    t0 = time.perf_counter()
    plans = [fold_plan(s, kind, value, work, sd) for kind, value in s["folds"] for sd in train_seeds]
    train_folds(s, plans, seeds, a.ray)
    adapt_runs(s, plans, seeds, a.ray)
    report(plans, s, seeds, train_seeds, time.perf_counter() - t0, a.out)
    C.log(f"report: {a.out / 'results.md'}")


if __name__ == "__main__":
    main()
