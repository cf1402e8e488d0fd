"""Action encoding vs generalization: zero-shot quality on a held-out phone per ``env.action_mode``.

A leave-one-device-out fold (the held-out phone's tasks never trained) with one metadata-conditioned model per
action mode (``absolute``: one of L evenly spaced OPP indices; ``relative``: one OPP down/stay/up; ``margin``: a
headroom factor over the measured demand, :mod:`metadvfs.core.codec`) and training seed, the same real tasks,
steps, network and PPO settings otherwise. Every model is evaluated with deterministic actions on held-out
evaluation episodes (seeds 10000+i) of the held-out phone's tasks (zero-shot) and of its training tasks
(in-distribution), against ``stock`` (PPR reference) and the oracle.

Run from the repository root::

    python experiments/action_modes.py --quick   # Pixel 3, 6 train / Pixel 8 held out, 3 apps, 200k steps per task
    python experiments/action_modes.py           # 4 phones train / Pixel 8 held out, 6 apps, metadvfs.yaml budget
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import numpy as np

from metadvfs.catalog.devices import list_devices
from metadvfs.core.codec import ACTION_MODES
from metadvfs.workload.apps import list_apps

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "devices": ["pixel3", "pixel6", "pixel8"],
        "apps": ["tiktok", "weibo", "3dmark"],
        "held": "pixel8",
        "modes": list(ACTION_MODES),
        "per_task_steps": 200_000,
        "envs_per_task": 8,
        "eval_seeds": 3,
        "eval_seconds": 20.0,
    },
    "full": {
        "devices": list(list_devices()),
        "apps": list(list_apps()),
        "held": "pixel8",
        "modes": ["absolute", "margin"],
        "per_task_steps": None,
        "envs_per_task": 16,
        "eval_seeds": 3,
        "eval_seconds": 20.0,
    },
}


def fold(s: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(training tasks, held-out tasks) of the fold."""
    tasks = [f"{d}:{a}" for d in s["devices"] for a in s["apps"]]
    held = [t for t in tasks if t.split(":")[0] == s["held"]]
    return [t for t in tasks if t not in held], held


def group_summary(cells: dict[tuple[str, str], dict[str, Any]], tasks: list[str], mode: str, seeds: list[int]) -> dict:
    """Mean over ``tasks`` of one mode: PPR / stock and QoE (± std over training seeds), PPR / oracle, tasks
    whose QoE is within 0.01 of stock's."""
    per_seed = [
        (
            float(np.mean([next(p["ppr"] for p in cells[(t, mode)]["per_seed"] if p["seed"] == sd) for t in tasks])),
            float(np.mean([next(p["qoe"] for p in cells[(t, mode)]["per_seed"] if p["seed"] == sd) for t in tasks])),
        )
        for sd in seeds
    ]
    ppr = [p for p, _ in per_seed]
    qoe = [q for _, q in per_seed]
    return {
        "ppr": float(np.mean(ppr)),
        "ppr_std": float(np.std(ppr)),
        "qoe": float(np.mean(qoe)),
        "qoe_std": float(np.std(qoe)),
        "ppr_over_oracle": float(np.mean([cells[(t, mode)]["ppr"] / cells[(t, "oracle")]["ppr"] for t in tasks])),
        "qoe_floor": int(sum(cells[(t, mode)]["qoe"] >= cells[(t, C.REFERENCE)]["qoe"] - 0.01 for t in tasks)),
        "n_tasks": len(tasks),
        "per_seed": [{"seed": sd, "ppr": p, "qoe": q} for sd, (p, q) in zip(seeds, per_seed, strict=True)],
    }


def main() -> None:
    """Command line entry."""
    from metadvfs.learn.checkpoint import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 training phones x 3 apps, 200k steps per task")
    ap.add_argument("--modes", default=None, help=f"comma-separated subset of {', '.join(ACTION_MODES)}")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/action_modes/MODE)")
    ap.add_argument("--work", type=Path, default=None, help="models (default runs/experiments/action_modes-MODE)")
    C.add_seed_args(ap)
    C.add_scale_args(ap)
    C.add_fresh_arg(ap)
    a = ap.parse_args()
    seeds = C.training_seeds(a.train_seeds)
    n = len(seeds)
    C.limit_threads()
    setting = "quick" if a.quick else "full"
    s = dict(SETTINGS[setting])
    if a.modes:
        want = [m.strip() for m in a.modes.split(",") if m.strip()]
        bad = [m for m in want if m not in ACTION_MODES]
        if bad or not want:
            C.fail(f"--modes: unknown mode {bad[0] if bad else ''!r}; choose from {ACTION_MODES}")
        s["modes"] = want
    s["base"] = C.base_sections(setting)
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    a.out = a.out or C.RESULTS / "action_modes" / setting
    work = a.work or C.ROOT / "runs" / "experiments" / f"action_modes-{setting}"
    C.prepare_work(work, {k: v for k, v in s.items() if k != "modes"}, fresh=a.fresh)
    train_tasks, held = fold(s)
    modes = s["modes"]
    t0 = time.perf_counter()
    units, jobs = C.seed_jobs(
        work,
        "am",
        modes,
        seeds,
        lambda m, name, sd: C.make_config(
            {**s["base"], "env": {**s["base"]["env"], "action_mode": m}}, name, train_tasks, "conditioned",
            s["per_task_steps"], s["envs_per_task"], seed=sd,
        ),
    )  # fmt: skip
    trained = C.train_all(jobs, a.ray)
    t_train = time.perf_counter() - t0
    models = {u: load_checkpoint(d) for u, (d, _) in zip(units, trained, strict=True)}
    tasks = held + train_tasks
    C.log(f"evaluating {len(units)} model(s) on {len(tasks)} tasks")
    res = C.evaluate_seed_models(models, modes, seeds, tasks, ["oracle"], s["eval_seeds"], s["eval_seconds"])
    cells = C.seed_cells(res, tasks, modes, seeds, ("oracle", C.REFERENCE, "schedutil"))
    summary = {
        m: {"heldout": group_summary(cells, held, m, seeds), "train": group_summary(cells, train_tasks, m, seeds)}
        for m in modes
    }
    wall = time.perf_counter() - t0
    spread = "" if n == 1 else f" ± std over {n} training seeds"
    md = [
        f"# Action encoding vs generalization: zero-shot on held-out {s['held']}",
        "",
        f"Training: {len(train_tasks)} real tasks ({', '.join(sorted({t.split(':')[0] for t in train_tasks}))} x "
        f"{', '.join(s['apps'])}), {s['per_task_steps']:,} environment steps per task, {s['envs_per_task']} simulated "
        f"phones per task, network/env/PPO of configs/{C.BASE_CONFIG[setting]}.yaml except `env.action_mode`; "
        + (f"training seed {seeds[0]}" if n == 1 else f"training seeds {', '.join(map(str, seeds))}")
        + f". Evaluation: deterministic actions, seeds {res.seeds}, {res.seconds:g} s episodes; PPR normalised to "
        f"`{C.REFERENCE}`; *QoE floor* counts tasks with QoE >= {C.REFERENCE}'s - 0.01. Training wall time "
        f"{t_train / 60:.1f} min ({'serial' if a.ray is None else 'ray ' + a.ray}).",
        "",
    ]
    rows_md = []
    for m in modes:
        for g, label in (("heldout", f"held-out {s['held']} (zero-shot)"), ("train", "training tasks")):
            e = summary[m][g]
            rows_md.append(
                [
                    m,
                    label,
                    f"{e['ppr']:.3f}" + ("" if n == 1 else f" ± {e['ppr_std']:.3f}"),
                    f"{e['qoe']:.3f}" + ("" if n == 1 else f" ± {e['qoe_std']:.3f}"),
                    f"{e['ppr_over_oracle']:.3f}",
                    f"{e['qoe_floor']}/{e['n_tasks']}",
                ]
            )
    md += C.md_table(
        ["action mode", "tasks", f"mean PPR / {C.REFERENCE}{spread}", f"mean QoE{spread}", "PPR / oracle", "QoE floor"],
        rows_md,
    )
    md += [
        "",
        f"Per task: PPR / {C.REFERENCE} (mean over training seeds) / QoE; {C.REFERENCE}'s and the oracle's QoE.",
        "",
    ]
    md += C.md_table(
        ["task", *modes, f"{C.REFERENCE} QoE", "oracle PPR / QoE"],
        [
            [
                t + (" (held out)" if t in held else ""),
                *(f"{cells[(t, m)]['ppr']:.3f} / {cells[(t, m)]['qoe']:.3f}" for m in modes),
                f"{cells[(t, C.REFERENCE)]['qoe']:.3f}",
                f"{cells[(t, 'oracle')]['ppr']:.3f} / {cells[(t, 'oracle')]['qoe']:.3f}",
            ]
            for t in tasks
        ],
    )
    md += ["", "![action modes](action_modes.png)"]
    plot(a.out / "action_modes.png", summary, s["held"])
    C.write_report(
        a.out,
        md,
        {
            "settings": s,
            "train_seeds": seeds,
            "train_tasks": train_tasks,
            "heldout": held,
            "eval_seeds": res.seeds,
            "summary": summary,
            "cells": {f"{t}|{m}": c for (t, m), c in cells.items()},
            "train_wall_s": t_train,
        },
        wall,
    )
    C.log(f"report: {a.out / 'results.md'}")


def plot(path: Path, summary: dict[str, Any], held: str) -> None:
    """Mean PPR / stock (± std over training seeds) per mode, held-out phone vs training tasks."""
    plt = C.matplotlib_agg()
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    modes = list(summary)
    x = np.arange(len(modes))
    for k, (g, label, color) in enumerate(
        (("heldout", f"held-out {held} (zero-shot)", "tab:red"), ("train", "training tasks", "tab:blue"))
    ):
        ax.bar(
            x + (k - 0.5) * 0.38,
            [summary[m][g]["ppr"] for m in modes],
            0.38,
            yerr=[summary[m][g]["ppr_std"] for m in modes],
            label=label,
            color=color,
        )
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xticks(x, modes)
    ax.set_ylabel(f"mean PPR / {C.REFERENCE}")
    lo = min(min(summary[m][g]["ppr"] for m in modes) for g in ("heldout", "train"))
    ax.set_ylim(max(0.0, lo - 0.1), None)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    C.savefig(fig, path)


if __name__ == "__main__":
    main()
