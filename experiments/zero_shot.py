"""Zero-shot quality on held-out phones and apps over all LODO/LOAO folds, mean ± std over training seeds.

The cheap half of ``adaptation.py``: for every fold (leave-one-device-out over the phones, leave-one-app-out over
the apps) and training seed it trains only the fold's metadata-conditioned model (same settings, variants, plans
and work directories as ``adaptation.py``, so the models are shared both ways) and evaluates the models of all
training seeds on the held-out tasks, as ``metadvfs evaluate --model A,B,C --baselines stock,schedutil,oracle``
does (3 evaluation seeds x 60 s, deterministic actions, seeds disjoint from training). It reports per fold the
PPR against the stock governor (mean ± std over training seeds), the ratio to the oracle, QoE against stock's and
the held-out tasks at the QoE floor (QoE >= stock's - 0.01): the zero-shot targets of issue 10.

Run from the repository root::

    python experiments/zero_shot.py --gpu-bound 0.25 --train-seeds 3 --ray local:2   # every fold (long)
    python experiments/zero_shot.py --folds device:pixel3,app:tiktok --train-seeds 1  # a subset, one seed
    python experiments/zero_shot.py --real-only --folds device:pixel8                # the real-tasks-only ablation

A subset of folds writes ``experiments/results/zero_shot/<variant>-<folds>/``; every fold writes
``<variant>/``. The per-fold evaluation reports (tables, CSV, plots) are in its ``folds/`` directory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _targets as T
import adaptation as A
import numpy as np

GOVERNORS = ("stock", "schedutil", "oracle")
HEADER = ("fold", "held-out tasks", "PPR / stock", "of the oracle", "QoE (stock)", "at the QoE floor",
          "worst task (PPR / stock)", "per training seed: PPR (at the floor)")  # fmt: skip
QOE_FLOOR = T.QOE_FLOOR


def train_shared(plans: list[dict[str, Any]], ray: str | None) -> None:
    """Train (or reuse) the conditioned model of every (fold, training seed) plan; one unit each."""
    for f, r in zip(plans, C.run_units([A.shared_unit(f) for f in plans], ray), strict=True):
        f["shared_train_s"] = C.unit_wall(r)
        f["model_train_s"] = C.model_train_wall(f["shared"])


def evaluate_fold(plans: list[dict[str, Any]], eval_seeds: int, seconds: float, dest: Path) -> dict[str, Any]:
    """Evaluate one fold's models (one per training seed) on its held-out tasks; write the evaluation reports
    into ``dest`` and return the fold's summary (per task and over the held-out tasks)."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import write_reports

    held = plans[0]["heldout"]
    seeds = [f["train_seed"] for f in plans]
    models = {("metadvfs", f["train_seed"]): load_checkpoint(f["shared"]) for f in plans}
    res = C.evaluate_seed_models(models, ["metadvfs"], seeds, held, GOVERNORS, eval_seeds, seconds)
    write_reports(res, dest)
    cells = C.seed_cells(res, held, ["metadvfs"], seeds, others=GOVERNORS)
    per_seed = C.seed_summary(res, ["metadvfs"], seeds)["metadvfs"]
    tasks = []
    for t in held:
        m, st, orc = cells[(t, "metadvfs")], cells[(t, "stock")], cells[(t, "oracle")]
        tasks.append(
            {
                "task": t,
                "ppr": m["ppr"],
                "ppr_std": m["ppr_std"],
                "of_oracle": m["ppr"] / orc["ppr"],
                "qoe": m["qoe"],
                "stock_qoe": st["qoe"],
                "schedutil_ppr": cells[(t, "schedutil")]["ppr"],
                "qoe_ok": T.at_floor(m["qoe"], st["qoe"]),
                "per_seed": m["per_seed"],
            }
        )
    return {
        "fold": plans[0]["fold"],
        "heldout": held,
        "train_seeds": seeds,
        "ppr": float(np.mean([t["ppr"] for t in tasks])),
        "ppr_std": per_seed["ppr_std"] if len(seeds) > 1 else None,  # no spread over one training seed
        "per_seed": per_seed["per_seed"],
        "of_oracle": float(np.mean([t["of_oracle"] for t in tasks])),
        "qoe": float(np.mean([t["qoe"] for t in tasks])),
        "stock_qoe": float(np.mean([t["stock_qoe"] for t in tasks])),
        "qoe_ok": sum(t["qoe_ok"] for t in tasks),
        "qoe_ok_per_seed": T.floor_per_seed(
            [[next(p["qoe"] for p in t["per_seed"] if p["seed"] == sd) for sd in seeds] for t in tasks],
            [t["stock_qoe"] for t in tasks],
        ),
        "worst": min(tasks, key=lambda t: t["ppr"])["task"],
        "tasks": tasks,
        "shared_train_s": [f.get("shared_train_s") for f in plans],
        "model_train_s": [f.get("model_train_s") for f in plans],
    }


def report(folds: list[dict[str, Any]], run: str, s: dict[str, Any], eval_seeds: int, seconds: float,
           wall: float, out: Path) -> None:  # fmt: skip
    """``results.md``, ``results.json`` and ``zero_shot_per_fold.png`` over the folds."""
    pm = "±"
    n_seeds = len(folds[0]["train_seeds"])
    rows = []
    for f in folds:
        w = next(t for t in f["tasks"] if t["task"] == f["worst"])
        rows.append([
            f["fold"], len(f["heldout"]),
            f"{f['ppr']:.3f}" + ("" if f["ppr_std"] is None else f" {pm} {f['ppr_std']:.3f}"), f"{f['of_oracle']:.3f}",
            f"{f['qoe']:.3f} ({f['stock_qoe']:.3f})", f"{f['qoe_ok']}/{len(f['heldout'])}",
            f"{w['task']} {w['ppr']:.3f}",
            " / ".join(f"{p['ppr']:.3f} ({k}/{len(f['heldout'])})" for p, k in zip(f["per_seed"], f["qoe_ok_per_seed"],
                                                                               strict=True)),
        ])  # fmt: skip
    all_tasks = [t for f in folds for t in f["tasks"]]
    n_ok = sum(t["qoe_ok"] for t in all_tasks)
    ge_stock = sum(T.ge_stock(f["ppr"]) for f in folds)
    ge_oracle = sum(T.ge_oracle(f["of_oracle"]) for f in folds)
    met = [f["fold"] for f in folds if T.fold_met(f["ppr"], f["of_oracle"], f["qoe_ok"], len(f["heldout"]))]
    md = [
        f"# Zero-shot on held-out phones and apps: {run} fold models, {n_seeds} training seed(s)",
        "",
        f"Each fold's metadata-conditioned model (`adaptation.py` settings `{run}`: the fold's real training tasks"
        + ("" if s.get("real_only") else f" plus generated tasks {s['generated']}")
        + f", {s['per_task_steps']:,} steps per task) evaluated on the fold's held-out tasks, {eval_seeds} evaluation "
        f"seeds x {seconds:g} s, deterministic actions, PPR against the stock governor. PPR: mean over the held-out "
        "tasks, ± std over training seeds; QoE floor: QoE >= stock's - 0.01. Target (issue 10): PPR >= 1.0x stock, "
        ">= 0.95 of the oracle, every held-out task at the QoE floor.",
        "",
        *C.md_table(HEADER, rows),
        "",
        f"Over the {len(folds)} fold{'s' if len(folds) > 1 else ''}: PPR >= stock in {ge_stock}, >= 0.95 of the "
        f"oracle in {ge_oracle}; "
        f"{n_ok}/{len(all_tasks)} held-out tasks at the QoE floor; the whole target in {len(met)}"
        + (f" ({', '.join(met)})" if met else "")
        + "; mean PPR / stock "
        f"{np.mean([f['ppr'] for f in folds]):.3f}, of the oracle {np.mean([f['of_oracle'] for f in folds]):.3f}.",
        "",
        *seeds_line(folds),
        *training_line(folds),
        "Per-fold evaluation reports (per task, with stock, schedutil and the oracle): `folds/<kind>-<value>/`.",
        "",
        "![zero-shot per fold](zero_shot_per_fold.png)",
    ]
    plot(folds, out / "zero_shot_per_fold.png", run)
    C.write_report(
        out, md, {"variant": run, "settings": s, "eval_seeds": eval_seeds, "seconds": seconds, "folds": folds}, wall
    )


def seeds_line(folds: list[dict[str, Any]]) -> list[str]:
    """With several training seeds: how many held-out tasks every seed's model alone keeps at the QoE floor (the
    table's floor column judges the mean QoE over seeds); empty for one seed."""
    if len(folds[0]["train_seeds"]) < 2:
        return []
    n = sum(len(f["heldout"]) for f in folds)
    per = [sum(f["qoe_ok_per_seed"][k] for f in folds) for k in range(len(folds[0]["train_seeds"]))]
    return [f"Held-out tasks at the QoE floor with each training seed's model alone: {' / '.join(map(str, per))} "
            f"of {n}.", ""]  # fmt: skip


def training_line(folds: list[dict[str, Any]]) -> list[str]:
    """One paragraph on the fold models' training time, from each model's own record (also when this run reused
    models an earlier run trained); empty when no model has one."""
    walls = [w for f in folds for w in f.get("model_train_s") or [] if w is not None]
    if not walls:
        return []
    n = sum(len(f["train_seeds"]) for f in folds)
    return [
        f"Training: {n} fold models, {sum(walls) / 3600:.1f} h of training wall time in all (median "
        f"{np.median(walls) / 60:.1f} min per model; each model's `model.json`, over the {len(walls)} that record it; "
        "models train in parallel, so this is not the run's wall time).",
        "",
    ]


def plot(folds: list[dict[str, Any]], path: Path, run: str) -> None:
    """Per fold: PPR / stock with the spread over training seeds (left), QoE minus stock's (right)."""
    plt = C.matplotlib_agg()
    names = [f["fold"] for f in folds]
    y = np.arange(len(folds))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 0.45 * len(folds) + 1.4), sharey=True)
    err = [f["ppr_std"] or 0.0 for f in folds]
    a.barh(y, [f["ppr"] for f in folds], xerr=err, color="tab:blue", alpha=0.8)
    a.scatter([f["ppr"] / f["of_oracle"] for f in folds], y, marker="|", s=200, color="k", label="oracle")
    a.axvline(1.0, color="tab:red", lw=1, label="stock")
    lo = min(min(f["ppr"] - e for f, e in zip(folds, err, strict=True)), 0.8)
    a.set_xlim(lo - 0.02, max(1.05, max(f["ppr"] / f["of_oracle"] for f in folds) + 0.02))
    a.set_yticks(y, names)
    a.invert_yaxis()
    a.set_xlabel("zero-shot PPR / stock (± std over training seeds)")
    a.legend(loc="lower right", fontsize=8)
    d = [f["qoe"] - f["stock_qoe"] for f in folds]
    b.barh(y, d, color=["tab:green" if f["qoe_ok"] == len(f["heldout"]) else "tab:orange" for f in folds])
    b.axvline(-QOE_FLOOR, color="tab:red", lw=1, ls="--", label="QoE floor")
    b.set_xlabel("QoE - stock's QoE (orange: a task below the floor)")
    b.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Zero-shot on held-out folds ({run})")
    fig.tight_layout()
    C.savefig(fig, path)


def main() -> None:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", default=None, help="subset of folds, e.g. device:pixel8,app:weibo (default all)")
    ap.add_argument("--eval-seeds", type=int, default=3, help="evaluation episodes per task (default 3)")
    ap.add_argument("--seconds", type=float, default=60.0, help="evaluation episode length, s (default 60)")
    ap.add_argument("--out", type=Path, default=None, help="report (default experiments/results/zero_shot/RUN)")
    ap.add_argument("--work", type=Path, default=None, help="models (default: adaptation.py's work directory)")
    A.add_variant_args(ap)
    C.add_seed_args(ap, default=3)
    C.add_scale_args(ap)
    C.add_fresh_arg(ap)
    a = ap.parse_args()
    train_seeds = C.training_seeds(a.train_seeds)
    if a.eval_seeds < 1:
        C.fail(f"--eval-seeds: must be >= 1, got {a.eval_seeds}")
    if a.seconds <= 0:
        C.fail(f"--seconds: must be > 0, got {a.seconds}")
    from metadvfs.errors import MetaDVFSError

    C.limit_threads()
    run, s = A.variant_settings(a, "full")
    subset = A.select_folds(s, a.folds)
    out = a.out or C.RESULTS / "zero_shot" / (run + subset)
    work = a.work or A.work_dir(run)
    C.prepare_work(work, A.work_spec(s), fresh=a.fresh)
    t0 = time.perf_counter()
    plans = [A.fold_plan(s, kind, value, work, sd) for kind, value in s["folds"] for sd in train_seeds]
    train_shared(plans, a.ray)
    folds = []
    for kind, value in s["folds"]:
        fp = [f for f in plans if f["fold"] == f"{kind}:{value}"]
        C.log(f"evaluating {kind}:{value} on {', '.join(fp[0]['heldout'])}")
        try:
            folds.append(evaluate_fold(fp, a.eval_seeds, a.seconds, out / "folds" / f"{kind}-{value}"))
        except MetaDVFSError as exc:
            C.fail(str(exc))
    report(folds, run, s, a.eval_seeds, a.seconds, time.perf_counter() - t0, out)
    C.log(f"report: {out / 'results.md'}")


if __name__ == "__main__":
    main()
