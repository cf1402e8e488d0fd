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

All are evaluated on the same episodes (evaluation seeds 10000+i, schedutil on the same seeds as the PPR
reference). A task shows **negative transfer** for a shared method when the guard's criterion fires against
standalone on the evaluation seeds: mean paired ``ppr_norm`` difference < −max(0.005, 2·stderr) or mean QoE
lower by more than 0.01.

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
            groups.append(sorted(perm[i:i + s]))
            i += s
        if {frozenset(g) for g in groups} != meta:
            return groups
    return groups


def main() -> None:
    """Command line entry."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import ModelDriver, evaluate
    from metadvfs.learn.tasks import parse_task_names
    from metadvfs.meta.guard import detect, guard

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 tasks, small budgets")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/NAME/quick|full)")
    ap.add_argument("--work", type=Path, default=None, help="models (default runs/experiments/...)")
    C.add_scale_args(ap)
    a = ap.parse_args()
    C.limit_threads()
    mode = "quick" if a.quick else "full"
    a.out = a.out or C.RESULTS / "negative_transfer" / mode
    s = dict(SETTINGS[mode])
    s["base"] = C.base_sections(mode)
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    work = a.work or C.ROOT / "runs" / "experiments" / f"negative_transfer-{mode}"
    C.prepare_work(work, s)
    names = parse_task_names(s["tasks"])
    pt, ept = s["per_task_steps"], s["envs_per_task"]
    t0 = time.perf_counter()
    walls: dict[str, float | None] = {}

    def cfg(name: str, mode_: str, tasks: list[str]) -> Any:
        return C.make_config(s["base"], name, tasks, mode_, pt, ept)

    dirs: dict[str, Path] = {}
    runs = (("standalone", "standalone"), ("joint", "joint"), ("metadata_groups", "grouped"),
            ("conditioned", "conditioned"))
    trained = C.train_all([(cfg(f"nt-{m}", md, names), work / m) for m, md in runs], a.ray)
    for (m, _), (d, w) in zip(runs, trained, strict=True):
        dirs[m], walls[m] = d, w
    grouped = load_checkpoint(dirs["metadata_groups"])
    labels = tuple(grouped.doc["grouping"]["labels"])
    rgroups = random_partition(names, labels, RANDOM_SEED)
    rdirs, rwall = [], 0.0
    rjobs = [(cfg(f"nt-random-g{i}", "conditioned", g), work / "random_groups" / f"r{i}")
             for i, g in enumerate(rgroups)]
    for d, w in C.train_all(rjobs, a.ray):
        rdirs.append(d)
        rwall = rwall + w if (w is not None and rwall is not None) else None
    walls["random_groups"] = rwall

    # negative-transfer guard on the metadata-grouped model (its standalone baseline = the standalone run)
    gdir = work / "metadata_groups+guard"
    if not (gdir / "guard.json").is_file():
        shutil.rmtree(gdir, ignore_errors=True)
        sa = dirs["metadata_groups"] / "baselines" / "standalone"
        if not (sa / "model.json").is_file():
            shutil.rmtree(sa, ignore_errors=True)
            shutil.copytree(dirs["standalone"], sa)
        C.log("negative-transfer guard on the metadata-grouped model")
        grep, walls["metadata_groups+guard"] = C.timed(
            lambda: guard(dirs["metadata_groups"], gdir, n_seeds=s["guard_seeds"], seconds=s["guard_seconds"],
                          progress=C.log)
        )
    import json

    grep = json.loads((gdir / "guard.json").read_text())

    rows = [t for t in names for _ in range(s["eval_seeds"])]
    drivers = [ModelDriver(load_checkpoint(dirs["standalone"]), rows, "standalone"),
               ModelDriver(load_checkpoint(dirs["joint"]), rows, "joint"),
               C.GroupsDriver([load_checkpoint(d) for d in rdirs], rows, "random_groups"),
               ModelDriver(grouped, rows, "metadata_groups"),
               ModelDriver(load_checkpoint(dirs["conditioned"]), rows, "conditioned"),
               ModelDriver(load_checkpoint(gdir), rows, "metadata_groups+guard")]
    C.log("evaluating")
    res = evaluate(drivers, ["oracle"], names, s["eval_seeds"], s["eval_seconds"], progress=lambda n: C.log(f"  {n}"))
    methods = ["standalone", *SHARED]
    nt: dict[str, dict[str, Any]] = {m: {"ppr": [], "qoe": []} for m in SHARED}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for ti, t in enumerate(names):
        bp, bq = C.per_seed(res, "standalone", ti)
        for m in [*methods, "schedutil", "oracle"]:
            p, q = C.per_seed(res, m, ti)
            c = {"ppr": float(np.mean(p)), "ppr_std": float(np.std(p)), "qoe": float(np.mean(q))}
            if m in SHARED:
                chk = detect(p, bp, q, bq)
                c["check"] = {"ppr_diff": chk.ppr_diff, "ppr_tol": chk.ppr_tol, "qoe_diff": chk.qoe_diff,
                              "ppr_flag": chk.ppr_flag, "qoe_flag": chk.qoe_flag}
                if chk.ppr_flag:
                    nt[m]["ppr"].append(t)
                if chk.qoe_flag:
                    nt[m]["qoe"].append(t)
            cells[(t, m)] = c
    wall = time.perf_counter() - t0
    write(a.out, s, names, methods, cells, nt, grouped, rgroups, walls, grep, res, wall)
    C.log(f"report: {a.out / 'results.md'}")


def write(out: Path, s: dict[str, Any], names: list[str], methods: list[str], cells: dict[tuple[str, str], Any],
          nt: dict[str, Any], grouped: Any, rgroups: list[list[str]], walls: dict[str, Any], grep: dict[str, Any],
          res: Any, wall: float) -> None:
    """Markdown, JSON and the per-task figure."""
    cols = [*methods, "oracle"]
    mgroups = [m["tasks"] for m in grouped.doc["models"]]
    md = [
        "# Negative-transfer ablation",
        "",
        f"{len(names)} tasks, {s['per_task_steps']:,} environment steps per task for every method "
        f"({s['envs_per_task']} simulated phones per task), one training seed (0). Evaluation seeds {res.seeds}, "
        f"{res.seconds:g} s episodes. Cells: PPR normalised to schedutil (mean ± std over seeds) / QoE; "
        "**NT** marks negative transfer against standalone (guard criterion on the evaluation seeds: mean paired "
        "ppr_norm difference < −max(0.005, 2·stderr), or QoE lower by > 0.01).",
        "",
        f"Metadata groups ({grouped.doc['grouping']['criterion']}): "
        + "; ".join("{" + ", ".join(g) + "}" for g in mgroups),
        "",
        "Random groups (same sizes): " + "; ".join("{" + ", ".join(g) + "}" for g in rgroups),
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
    srows = []
    for m in [*methods, "schedutil", "oracle"]:
        ppr = np.mean([cells[(t, m)]["ppr"] for t in names])
        qoe = np.mean([cells[(t, m)]["qoe"] for t in names])
        if m in nt:
            both = sorted(set(nt[m]["ppr"]) | set(nt[m]["qoe"]))
            ntc = f"{len(both)} of {len(names)} (PPR {len(nt[m]['ppr'])}, QoE {len(nt[m]['qoe'])})"
        else:
            ntc = "-"
        w = walls.get(m)
        srows.append([m, f"{ppr:.3f}", f"{qoe:.3f}", ntc, "-" if w is None else f"{w:.0f}"])
    md += C.md_table(["method", "mean PPR norm", "mean QoE", "tasks with negative transfer", "train wall s"], srows)
    gs = grep["summary"]
    md += [
        "",
        "## Guard on the metadata-grouped model",
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
        grows.append([r["task"], f"{c['ppr_diff']:+.4f} (tol {c['ppr_tol']:.4f})", f"{c['qoe_diff']:+.4f}",
                      "yes" if c["flagged"] else "no", r["action"],
                      f"{ft['ppr_norm']:.3f} / {ft['qoe']:.3f}" if ft else "-", r["new_model"]])
    md += C.md_table(["task", "Δppr vs standalone (validation)", "ΔQoE", "flagged", "action", "fine-tuned PPR/QoE",
                      "drives the task"], grows)
    target = sorted(set(nt["metadata_groups+guard"]["ppr"]) | set(nt["metadata_groups+guard"]["qoe"]))
    raw = sorted(set(nt["metadata_groups"]["ppr"]) | set(nt["metadata_groups"]["qoe"]))
    md += ["", "## Target", "",
           f"Target: 0 of {len(names)} tasks with negative transfer. Measured on the evaluation seeds: metadata "
           f"grouping {len(raw)} of {len(names)}, after the guard {len(target)} of {len(names)}"
           + (f" ({', '.join(target)})" if target else "") + ".",
           "", "![per-task PPR](ppr_per_task.png)"]
    plot(out / "ppr_per_task.png", names, methods, cells)
    C.write_report(out, md, {
        "settings": s, "tasks": names, "eval_seeds": res.seeds,
        "cells": {f"{t}|{m}": c for (t, m), c in cells.items()},
        "negative_transfer": nt, "metadata_groups": mgroups, "random_groups": rgroups, "train_wall_s": walls,
        "guard_summary": gs,
    }, wall)


def plot(path: Path, names: list[str], methods: list[str], cells: dict[tuple[str, str], Any]) -> None:
    """Grouped bars: ppr_norm per task and method."""
    plt = C.matplotlib_agg()
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.9 * len(names) + 2)), 3.6 if len(names) <= 8 else 4.6))
    w = 0.8 / len(methods)
    x = np.arange(len(names))
    for i, m in enumerate(methods):
        ax.bar(x + i * w - 0.4 + w / 2, [cells[(t, m)]["ppr"] for t in names], w,
               yerr=[cells[(t, m)]["ppr_std"] for t in names], label=m, capsize=1.5)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    lo = min(cells[(t, m)]["ppr"] - cells[(t, m)]["ppr_std"] for t in names for m in methods)
    ax.set_ylim(bottom=max(0.0, np.floor(lo * 10) / 10 - 0.1))
    ax.set_xticks(x, names, rotation=45 if len(names) > 8 else 15, ha="right", fontsize=7)
    ax.set_ylabel("PPR / schedutil PPR")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    C.savefig(fig, path)


if __name__ == "__main__":
    main()
