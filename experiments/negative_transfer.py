"""Negative-transfer ablation: standalone / joint / random grouping / metadata grouping / conditioning, per task.

Every method trains the same network (CfC, PPO; network, environment and PPO settings of
``configs/quickstart.yaml``) with the same environment steps per task (``total_steps = per-task budget ×
tasks``, split over a method's models by task count):

- ``standalone``: one unconditioned model per task (``mode: standalone``);
- ``joint``: one unconditioned model over all tasks (``mode: joint``);
- ``random_groups``: the tasks split at random into groups of the same sizes as the metadata groups, one
  metadata-conditioned model per random group (``mode: conditioned`` on each group's tasks);
- ``metadata_groups``: one conditioned model per metadata group (``mode: grouped``);
- ``conditioned``: one conditioned model over all tasks, no grouping (``mode: conditioned``);
- ``metadata_groups+guard``: the metadata-grouped model after the negative-transfer guard
  (:mod:`metadvfs.meta.guard`: validation seeds 20000+i, task-specific fine-tuning of flagged tasks with the
  per-task budget, so flagged tasks get extra steps).

All are evaluated on the same episodes (evaluation seeds 10000+i, ``stock`` on the same seeds as the PPR
reference; ``schedutil`` is reported next to it). A task shows **negative transfer** for a shared method when the
guard's criterion fires against standalone on the evaluation seeds: mean paired ``ppr_norm`` difference
< −max(0.005, 2·stderr) or mean QoE lower by more than 0.01.

Every method is trained with ``--train-seeds N`` training seeds (0..N-1, default 3; the seed-0 models keep the
single-seed directories, seed ``s`` lives in ``<method>@seed<s>``): cells and summaries are the mean ± std over
the training seeds of each seed's mean over the evaluation seeds, the negative-transfer check pairs every (training
seed, evaluation seed) episode with the standalone model of the same training seed, and ``results.json`` keeps the
per-seed values. ``--train-seeds 1`` reproduces the single-seed results.

Run from the repository root::

    python experiments/negative_transfer.py --quick   # 6 tasks, 40k steps per task
    python experiments/negative_transfer.py           # 30 tasks, metadvfs.yaml budget per task (long)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import numpy as np

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "tasks": ["pixel3:tiktok", "pixel3:3dmark", "pixel6:tiktok", "pixel6:3dmark", "pixel8:tiktok", "pixel8:3dmark"],
        "per_task_steps": 40_000,
        "envs_per_task": 8,
        "eval_seeds": 3,
        "eval_seconds": 30.0,
        "guard_seeds": 4,
        "guard_seconds": 30.0,
    },
    "full": {
        "tasks": ["all"],
        "per_task_steps": None,
        "envs_per_task": 16,
        "eval_seeds": 3,
        "eval_seconds": 60.0,
        "guard_seeds": 5,
        "guard_seconds": 60.0,
    },
}
SHARED = ("joint", "random_groups", "metadata_groups", "conditioned", "metadata_groups+guard")
BASELINES = ("stock", "schedutil", "oracle")
"""Governor rows next to the learned methods (``stock`` is the PPR reference, :data:`_common.REFERENCE`)."""
RANDOM_SEED = 12345


def random_partition(names: list[str], labels: tuple[int, ...], seed: int) -> list[list[str]]:
    """Random groups with the sizes of the metadata groups (a different partition when one exists)."""
    sizes = sorted((labels.count(g) for g in set(labels)), reverse=True)
    meta = {frozenset(n for n, lab in zip(names, labels, strict=True) if lab == g) for g in set(labels)}
    rng = np.random.default_rng(seed)
    for _ in range(200):
        perm = [str(x) for x in rng.permutation(names)]
        groups, i = [], 0
        for s in sizes:
            groups.append(sorted(perm[i : i + s]))
            i += s
        if {frozenset(g) for g in groups} != meta:
            return groups
    return groups


def train_models(s: dict[str, Any], names: list[str], work: Path, seeds: list[int], ray: str | None) -> dict[str, Any]:
    """Train (or reuse) every method's models for every training seed; the independent units are (method, seed).

    Returns:
        ``dirs[(method, seed)]``, ``rdirs[seed]`` (random-group models), ``rgroups[seed]``, ``walls[(method,
        seed)]`` (s, None when reused) and ``grouped[seed]`` (the loaded metadata-grouped model).
    """
    from metadvfs.learn.checkpoint import load_checkpoint

    pt, ept = s["per_task_steps"], s["envs_per_task"]

    def job(name: str, mode_: str, tasks: list[str], dest: Path, seed: int) -> tuple[Any, Path]:
        tag = "" if seed == C.BASE_SEED else f"-seed{seed}"
        C.drop_other_seed(dest, seed)
        return C.make_config(s["base"], name + tag, tasks, mode_, pt, ept, seed=seed), dest

    runs = (
        ("standalone", "standalone"),
        ("joint", "joint"),
        ("metadata_groups", "grouped"),
        ("conditioned", "conditioned"),
    )
    keys = [(m, sd) for m, _ in runs for sd in seeds]
    mode_of = dict(runs)
    jobs = [job(f"nt-{m}", mode_of[m], names, C.seed_dir(work / m, sd), sd) for m, sd in keys]
    dirs: dict[tuple[str, int], Path] = {}
    walls: dict[tuple[str, int], float | None] = {}
    for k, (d, w) in zip(keys, C.train_all(jobs, ray), strict=True):
        dirs[k], walls[k] = d, w
    grouped = {sd: load_checkpoint(dirs[("metadata_groups", sd)]) for sd in seeds}
    rgroups = {sd: random_partition(names, tuple(grouped[sd].doc["grouping"]["labels"]), RANDOM_SEED) for sd in seeds}
    rkeys = [(sd, i) for sd in seeds for i in range(len(rgroups[sd]))]
    rjobs = [
        job(f"nt-random-g{i}", "conditioned", rgroups[sd][i], C.seed_dir(work / "random_groups", sd) / f"r{i}", sd)
        for sd, i in rkeys
    ]
    rdirs: dict[int, list[Path]] = {sd: [] for sd in seeds}
    rwall: dict[int, float | None] = dict.fromkeys(seeds, 0.0)
    for (sd, _), (d, w) in zip(rkeys, C.train_all(rjobs, ray), strict=True):
        rdirs[sd].append(d)
        prev = rwall[sd]
        rwall[sd] = prev + w if (w is not None and prev is not None) else None
    for sd in seeds:
        walls[("random_groups", sd)] = rwall[sd]
    return {"dirs": dirs, "rdirs": rdirs, "rgroups": rgroups, "walls": walls, "grouped": grouped}


def run_guard(
    s: dict[str, Any],
    dirs: dict[tuple[str, int], Path],
    work: Path,
    seed: int,
    walls: dict[tuple[str, int], float | None],
) -> tuple[Path, dict[str, Any]]:
    """The negative-transfer guard on one training seed's metadata-grouped model (its standalone baseline = the
    standalone run of the same seed; fine-tuning seed = the training seed); reused when finished with the
    guard's current PPR reference (a guard run before it normalised to ``stock`` is run again)."""
    import json

    from metadvfs.learn.evaluate import REFERENCE
    from metadvfs.meta.guard import guard

    gdir = C.seed_dir(work / "metadata_groups+guard", seed)
    done = gdir / "guard.json"
    old_ref = json.loads(done.read_text()).get("reference", "schedutil") if done.is_file() else None
    if old_ref not in (None, REFERENCE):
        C.log(f"{gdir}: the guard normalised PPR to {old_ref}, not {REFERENCE}; running it again")
    if old_ref != REFERENCE:
        shutil.rmtree(gdir, ignore_errors=True)
        sa = dirs[("metadata_groups", seed)] / "baselines" / "standalone"
        if not (sa / "model.json").is_file():
            shutil.rmtree(sa, ignore_errors=True)
            shutil.copytree(dirs[("standalone", seed)], sa)
        C.log(f"negative-transfer guard on the metadata-grouped model (training seed {seed})")
        _, walls[("metadata_groups+guard", seed)] = C.timed(
            lambda: guard(
                dirs[("metadata_groups", seed)],
                gdir,
                n_seeds=s["guard_seeds"],
                seconds=s["guard_seconds"],
                seed=seed,
                progress=C.log,
            )
        )
    return gdir, json.loads((gdir / "guard.json").read_text())


def main() -> None:
    """Command line entry."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import ModelDriver, evaluate
    from metadvfs.learn.tasks import parse_task_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 tasks, small budgets")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/NAME/quick|full)")
    ap.add_argument("--work", type=Path, default=None, help="models (default runs/experiments/...)")
    C.add_seed_args(ap)
    C.add_scale_args(ap)
    C.add_fresh_arg(ap)
    a = ap.parse_args()
    seeds = C.training_seeds(a.train_seeds)
    C.limit_threads()
    mode = "quick" if a.quick else "full"
    a.out = a.out or C.RESULTS / "negative_transfer" / mode
    s = dict(SETTINGS[mode])
    s["base"] = C.base_sections(mode)
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    work = a.work or C.ROOT / "runs" / "experiments" / f"negative_transfer-{mode}"
    # the training seed is in each model's directory name and config, not in the spec
    C.prepare_work(work, s, fresh=a.fresh)
    names = parse_task_names(s["tasks"])
    t0 = time.perf_counter()
    tr = train_models(s, names, work, seeds, a.ray)
    dirs, walls = tr["dirs"], tr["walls"]
    gdirs, greps = {}, {}
    for sd in seeds:
        gdirs[sd], greps[sd] = run_guard(s, dirs, work, sd, walls)

    rows = [t for t in names for _ in range(s["eval_seeds"])]
    drivers: list[Any] = []
    for m in ("standalone", *SHARED):
        for sd in seeds:
            lab = C.seed_label(m, sd, len(seeds))
            if m == "random_groups":
                drivers.append(C.GroupsDriver([load_checkpoint(d) for d in tr["rdirs"][sd]], rows, lab))
            elif m == "metadata_groups":
                drivers.append(ModelDriver(tr["grouped"][sd], rows, lab))
            else:
                ref = gdirs[sd] if m == "metadata_groups+guard" else dirs[(m, sd)]
                drivers.append(ModelDriver(load_checkpoint(ref), rows, lab))
    methods = ["standalone", *SHARED]
    C.log("evaluating")
    res = evaluate(
        drivers,
        ["oracle"],
        names,
        s["eval_seeds"],
        s["eval_seconds"],
        progress=lambda n: C.log(f"  {n}"),
        groups=C.seed_groups(methods, seeds),
        reference=C.REFERENCE,
    )
    cells, nt, nt_seed = tabulate(res, names, methods, seeds)
    wall = time.perf_counter() - t0
    write(a.out, s, names, methods, cells, nt, nt_seed, tr, greps, seeds, res, wall)
    C.log(f"report: {a.out / 'results.md'}")


def tabulate(res: Any, names: list[str], methods: list[str], seeds: list[int]) -> tuple[Any, Any, Any]:
    """Per-task cells, tasks with negative transfer (pooled and per training seed).

    A cell's ``ppr`` (vs :data:`_common.REFERENCE`) and ``qoe`` are the mean over training seeds of each seed's mean
    over the evaluation seeds, ``ppr_std`` the std over training seeds (over evaluation seeds with one training seed),
    as :class:`~metadvfs.learn.evaluate.EvalResult` aggregates them; ``per_seed`` keeps each seed's values. The
    negative-transfer check pairs each (training seed, evaluation seed) episode of a shared method with the
    standalone model of the same training seed on the same episode (with one training seed: the guard's check on
    the evaluation seeds); ``nt_seed`` repeats it per training seed.

    Returns:
        ``(cells[(task, method)], nt[method] = {ppr, qoe}, nt_seed[method] = [{seed, ppr, qoe}])``.
    """
    from metadvfs.meta.guard import detect

    n = len(seeds)
    nt: dict[str, dict[str, Any]] = {m: {"ppr": [], "qoe": []} for m in SHARED}
    nt_seed: dict[str, list[dict[str, Any]]] = {m: [{"seed": sd, "ppr": [], "qoe": []} for sd in seeds] for m in SHARED}
    cells = C.seed_cells(res, names, methods, seeds, BASELINES)
    for ti, t in enumerate(names):
        base = [C.per_seed(res, C.seed_label("standalone", sd, n), ti) for sd in seeds]
        for m in methods:
            c = cells[(t, m)]
            if m in SHARED:
                own = [C.per_seed(res, C.seed_label(m, sd, n), ti) for sd in seeds]
                pool = [[v for x in xs for v in x[i]] for xs, i in ((own, 0), (base, 0), (own, 1), (base, 1))]
                chk = detect(pool[0], pool[1], pool[2], pool[3])
                c["check"] = {
                    "ppr_diff": chk.ppr_diff,
                    "ppr_tol": chk.ppr_tol,
                    "qoe_diff": chk.qoe_diff,
                    "ppr_flag": chk.ppr_flag,
                    "qoe_flag": chk.qoe_flag,
                }
                for key, flag in (("ppr", chk.ppr_flag), ("qoe", chk.qoe_flag)):
                    if flag:
                        nt[m][key].append(t)
                for k, (o, b) in enumerate(zip(own, base, strict=True)):
                    one_chk = detect(o[0], b[0], o[1], b[1])
                    for key, flag in (("ppr", one_chk.ppr_flag), ("qoe", one_chk.qoe_flag)):
                        if flag:
                            nt_seed[m][k][key].append(t)
    return cells, nt, nt_seed


def _nt_count(entry: dict[str, Any]) -> int:
    return len(set(entry["ppr"]) | set(entry["qoe"]))


def write(
    out: Path,
    s: dict[str, Any],
    names: list[str],
    methods: list[str],
    cells: dict[tuple[str, str], Any],
    nt: dict[str, Any],
    nt_seed: dict[str, Any],
    tr: dict[str, Any],
    greps: dict[int, dict[str, Any]],
    seeds: list[int],
    res: Any,
    wall: float,
) -> None:
    """Markdown, JSON and the per-task figure."""
    n = len(seeds)
    cols = [*methods, "schedutil", "oracle"]
    base = seeds[0]
    mgroups = {sd: [m["tasks"] for m in tr["grouped"][sd].doc["models"]] for sd in seeds}
    grouped = tr["grouped"][base]
    same = all(mgroups[sd] == mgroups[base] and tr["rgroups"][sd] == tr["rgroups"][base] for sd in seeds)
    seeds_txt = (
        f"one training seed ({base})"
        if n == 1
        else f"{n} training seeds ({', '.join(map(str, seeds))}; each seed's value is its mean over the "
        "evaluation seeds)"
    )
    spread = "std over seeds" if n == 1 else "std over training seeds"
    md = [
        "# Negative-transfer ablation",
        "",
        f"{len(names)} tasks, {s['per_task_steps']:,} environment steps per task for every method "
        f"({s['envs_per_task']} simulated phones per task), {seeds_txt}. Evaluation seeds {res.seeds}, "
        f"{res.seconds:g} s episodes. Cells: PPR normalised to {C.REFERENCE} (mean ± {spread}) / QoE; "
        "**NT** marks negative transfer against standalone (guard criterion on the evaluation seeds: mean paired "
        "ppr_norm difference < −max(0.005, 2·stderr), or QoE lower by > 0.01"
        + (
            ")."
            if n == 1
            else "; pairs: every (training seed, evaluation seed) episode against the standalone "
            "model of the same training seed)."
        ),
        "",
        f"Metadata groups ({grouped.doc['grouping']['criterion']}"
        + ("" if n == 1 else f", training seed {base}")
        + "): "
        + "; ".join("{" + ", ".join(g) + "}" for g in mgroups[base]),
        "",
        "Random groups (same sizes): " + "; ".join("{" + ", ".join(g) + "}" for g in tr["rgroups"][base]),
        "",
    ]
    if n > 1:
        md += [
            "The other training seeds have the "
            + (
                "same groups."
                if same
                else "groups listed in results.json (`metadata_groups_per_seed`, `random_groups_per_seed`)."
            ),
            "",
        ]
    rows = []
    for t in names:
        r = [t]
        for m in cols:
            c = cells[(t, m)]
            flag = ""
            if "check" in c and (c["check"]["ppr_flag"] or c["check"]["qoe_flag"]):
                flag = " **NT**"
            r.append(f"{c['ppr']:.3f}±{c['ppr_std']:.3f} / {c['qoe']:.3f}{flag}")
        rows.append(r)
    md += C.md_table(["task", *cols], rows)
    md += ["", "## Summary", ""]
    walls = tr["walls"]
    per_seed_sum = C.seed_summary(res, methods, seeds)
    summary: dict[str, Any] = {}
    srows = []
    for m in [*methods, *BASELINES]:
        ppr = np.mean([cells[(t, m)]["ppr"] for t in names])
        qoe = np.mean([cells[(t, m)]["qoe"] for t in names])
        e: dict[str, Any] = {"ppr": float(ppr), "qoe": float(qoe)}
        if m in methods:
            e.update(per_seed_sum[m])
            ws = [walls.get((m, sd)) for sd in seeds]
            e["train_wall_s_per_seed"] = ws
            done = [w for w in ws if w is not None]
            e["train_wall_s"] = float(np.mean(done)) if done else None
        if m in nt:
            ntc = f"{_nt_count(nt[m])} of {len(names)} (PPR {len(nt[m]['ppr'])}, QoE {len(nt[m]['qoe'])})"
            if n > 1:
                ntc += " (per seed " + ", ".join(str(_nt_count(x)) for x in nt_seed[m]) + ")"
        else:
            ntc = "-"
        pm = lambda v, sd: f"{v:.3f}" if n == 1 or sd is None else f"{v:.3f} ± {sd:.3f}"  # noqa: E731
        w = e.get("train_wall_s")
        srows.append([m, pm(ppr, e.get("ppr_std")), pm(qoe, e.get("qoe_std")), ntc, "-" if w is None else f"{w:.0f}"])
        summary[m] = e
    wall_head = "train wall s" if n == 1 else "train wall s (mean per seed)"
    spread_head = "" if n == 1 else f" (± std over {n} training seeds)"
    md += C.md_table(
        ["method", f"mean PPR norm{spread_head}", f"mean QoE{spread_head}", "tasks with negative transfer", wall_head],
        srows,
    )
    for sd in seeds:
        md += guard_section(greps[sd], sd if n > 1 else None)
    target = sorted(set(nt["metadata_groups+guard"]["ppr"]) | set(nt["metadata_groups+guard"]["qoe"]))
    raw = sorted(set(nt["metadata_groups"]["ppr"]) | set(nt["metadata_groups"]["qoe"]))
    md += [
        "",
        "## Target",
        "",
        f"Target: 0 of {len(names)} tasks with negative transfer. Measured on the evaluation seeds: metadata "
        f"grouping {len(raw)} of {len(names)}, after the guard {len(target)} of {len(names)}"
        + (f" ({', '.join(target)})" if target else "")
        + ".",
        "",
        "![per-task PPR](ppr_per_task.png)",
    ]
    plot(out / "ppr_per_task.png", names, methods, cells)
    gsum = [greps[sd]["summary"] for sd in seeds]
    C.write_report(
        out,
        md,
        {
            "settings": s,
            "tasks": names,
            "eval_seeds": res.seeds,
            "train_seeds": seeds,
            "cells": {f"{t}|{m}": c for (t, m), c in cells.items()},
            "summary": summary,
            "negative_transfer": nt,
            "negative_transfer_per_seed": nt_seed,
            "metadata_groups": mgroups[base],
            "random_groups": tr["rgroups"][base],
            "metadata_groups_per_seed": [mgroups[sd] for sd in seeds],
            "random_groups_per_seed": [tr["rgroups"][sd] for sd in seeds],
            "train_wall_s": {m: summary[m]["train_wall_s"] for m in methods},
            "guard_summary": gsum[0] if n == 1 else _sum_guard(gsum),
            "guard_summary_per_seed": gsum,
        },
        wall,
    )


def _sum_guard(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Guard counts summed over training seeds (``training_seeds`` says how many)."""
    keys = ("flagged", "fixed", "unresolved", "task_models_added")
    return {"training_seeds": len(summaries), **{k: sum(int(g.get(k, 0)) for g in summaries) for k in keys}}


def guard_section(grep: dict[str, Any], seed: int | None) -> list[str]:
    """The guard's flagged tasks and fine-tunes on one training seed's metadata-grouped model."""
    gs = grep["summary"]
    md = [
        "",
        "## Guard on the metadata-grouped model" + ("" if seed is None else f" (training seed {seed})"),
        "",
        f"Validation seeds {grep['seeds']} ({grep['seconds']:g} s): {gs['flagged']} of {gs['tasks']} tasks flagged "
        f"({', '.join(gs['flagged_tasks']) or 'none'}); {gs['fixed']} fixed, {gs['unresolved']} unresolved; "
        f"{gs['task_models_added']} task-specific models added ({grep['finetune_steps']:,} fine-tuning steps each).",
        "",
    ]
    grows = []
    for r in grep["tasks"]:
        c = r["check"]
        ft = r["finetuned"]
        grows.append(
            [
                r["task"],
                f"{c['ppr_diff']:+.4f} (tol {c['ppr_tol']:.4f})",
                f"{c['qoe_diff']:+.4f}",
                "yes" if c["flagged"] else "no",
                r["action"],
                f"{ft['ppr_norm']:.3f} / {ft['qoe']:.3f}" if ft else "-",
                r["new_model"],
            ]
        )
    return md + C.md_table(
        [
            "task",
            "Δppr vs standalone (validation)",
            "ΔQoE",
            "flagged",
            "action",
            "fine-tuned PPR/QoE",
            "drives the task",
        ],
        grows,
    )


def plot(path: Path, names: list[str], methods: list[str], cells: dict[tuple[str, str], Any]) -> None:
    """Grouped bars: ppr_norm per task and method."""
    plt = C.matplotlib_agg()
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.9 * len(names) + 2)), 3.6 if len(names) <= 8 else 4.6))
    w = 0.8 / len(methods)
    x = np.arange(len(names))
    for i, m in enumerate(methods):
        ax.bar(
            x + i * w - 0.4 + w / 2,
            [cells[(t, m)]["ppr"] for t in names],
            w,
            yerr=[cells[(t, m)]["ppr_std"] for t in names],
            label=m,
            capsize=1.5,
        )
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    lo = min(cells[(t, m)]["ppr"] - cells[(t, m)]["ppr_std"] for t in names for m in methods)
    ax.set_ylim(bottom=max(0.0, np.floor(lo * 10) / 10 - 0.1))
    ax.set_xticks(x, names, rotation=45 if len(names) > 8 else 15, ha="right", fontsize=7)
    ax.set_ylabel(f"PPR / {C.REFERENCE} PPR")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    C.savefig(fig, path)


if __name__ == "__main__":
    main()
