"""Does a smaller context step stop context adaptation drifting on a task with nothing to gain? (diagnostic)

On the Kwai fold (``adaptation.py --folds app:kwai`` with the shipped recipe), 12 of the 45 context-adaptation
runs ended more than 0.01 of PPR under where they started (18 of 45 on the Weibo fold). This re-runs the context
method alone on a fold's stored runs (same fold models, tasks, seeds, budget, evaluation and QoE floor as the
stored runs; only ``context_lr`` changes) and compares minutes to 95 % of the reference, drift and final PPR with
the stored runs (step 0.2) and with fine-tuning on the same runs.

Prints only (nothing is written). Needs the fold's stored results and its work directory (run the fold first),
from the repository root::

    python experiments/context_step.py 0.05                  # every run of the Kwai fold at step 0.05
    python experiments/context_step.py 0.02 --fold app:weibo  # another fold of the shipped recipe
    python experiments/context_step.py 0.05,0.02 --first 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import adaptation as A
from _adaptation_report import TARGET_MINUTES

RUN = "full-margin-gpubound25-qoefloor2"


def results_path(fold: str) -> Path:
    """The stored results of a fold of the shipped recipe (``app:kwai``, ``device:pixel6``)."""
    kind, _, name = fold.partition(":")
    if kind not in ("app", "device") or not name or "/" in name:
        C.fail(f"--fold: expected app:NAME or device:NAME, got {fold!r}")
    return A.results_dir(RUN, A.fold_suffix([[kind, name]])) / "results.json"


Key = tuple[str, int, int]
"""A stored run: (task, training seed, adaptation seed)."""


def load_fold(fold: str) -> tuple[dict[str, Any], float, dict[Key, dict[str, Any]], dict[Key, Path]]:
    """A fold's stored settings, budget (phone-minutes), per-run method entries and per-run fold model.

    Each stored run names its fold model (the training seed's shared model, relative to the repository root), so
    the work directory's layout is read from the results, not rebuilt here.
    """
    results = results_path(fold)
    try:
        doc = json.loads(results.read_text(encoding="utf-8"))
        s, budget = doc["settings"], float(doc["budget_minutes"])
        keys = [(r["task"], int(r["train_seed"]), int(r["seed"])) for r in doc["runs"]]
        stored = {k: r["methods"] for k, r in zip(keys, doc["runs"], strict=True)}
        models = {k: C.ROOT / str(r["model"]) for k, r in zip(keys, doc["runs"], strict=True)}
    except (OSError, ValueError, KeyError, TypeError) as e:
        C.fail(f"{results}: cannot read the {fold} fold's stored results ({e.__class__.__name__})")
    return s, budget, stored, models


def context_run(model: Path, task: str, seed: int, lr: float, s: dict[str, Any]) -> dict[str, Any]:
    """One context-only adaptation run of the stored fold's settings at step ``lr``, from the run's fold model."""
    from metadvfs.meta.adapt import adapt

    if not model.is_dir():
        C.fail(f"{model}: no fold model; run experiments/adaptation.py --folds ... with the shipped recipe first")
    dev, app = task.split(":")
    rep = adapt(str(model), dev, app, budget_minutes=s["budget_minutes"], methods=["context"], seed=seed,
                n_envs=s["phones"], rollout=s["rollout"], eval_every=1, eval_seeds=s["eval_seeds"],
                eval_seconds=s["eval_seconds"], qoe_margin=s["qoe_margin"], context_lr=lr)  # fmt: skip
    return _row(rep["methods"]["context"])


def _row(e: dict[str, Any]) -> dict[str, Any]:
    """What :func:`summary` reads of one method's entry in an adaptation report (a new run or a stored one)."""
    return {"min95": e["minutes_to_95"], "zs": e["zero_shot"], "final": e["final"]}


def summary(name: str, rows: list[dict[str, Any]], budget: float) -> str:
    """Mean ± std minutes to 95 % (never reached = the budget), runs never/within 3.5 min, drifted, final PPR."""
    mins = [budget if e["min95"] is None else e["min95"] for e in rows]
    drift = sum(e["final"]["ppr_norm"] < e["zs"]["ppr_norm"] - 0.01 for e in rows)
    never = sum(e["min95"] is None for e in rows)
    within = sum(e["min95"] is not None and e["min95"] <= TARGET_MINUTES for e in rows)
    final = statistics.mean(e["final"]["ppr_norm"] for e in rows)
    std = statistics.stdev(mins) if len(mins) > 1 else 0.0
    return (f"{name}: {len(rows)} runs, min to 95 % {statistics.mean(mins):.2f} ± {std:.2f}, never {never}, "
            f"within 3.5 min {within}, drifted (final < start - 0.01) {drift}, final PPR {final:.3f}")  # fmt: skip


def main() -> None:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lrs", help="comma-separated context step sizes (Adam), e.g. 0.05,0.02")
    ap.add_argument("--first", type=int, default=None, help="only the first N runs (default all the fold's runs)")
    ap.add_argument("--fold", default="app:kwai", help="fold of the shipped recipe, e.g. app:weibo (default app:kwai)")
    a = ap.parse_args()
    try:
        lrs = [float(x) for x in a.lrs.split(",") if x.strip()]
    except ValueError:
        C.fail(f"lrs: not a comma-separated list of numbers: {a.lrs!r}")
    if not lrs or any(not x > 0 for x in lrs):
        C.fail(f"lrs: give step sizes > 0, got {a.lrs!r}")
    s, budget, stored, models = load_fold(a.fold)
    runs = list(stored)  # the stored order: training seed, task, adaptation seed
    if a.first is not None and not 1 <= a.first <= len(runs):
        C.fail(f"--first: must be in [1, {len(runs)}], got {a.first}")
    which = runs[: a.first] if a.first else runs
    for lr in lrs:
        rows = []
        for key in which:
            task, ts, seed = key
            t0 = time.perf_counter()
            rows.append(context_run(models[key], task, seed, lr, s))
            print(json.dumps({"lr": lr, "task": task, "ts": ts, "seed": seed, **rows[-1],
                              "wall": round(time.perf_counter() - t0)}), flush=True)  # fmt: skip
        for name, method in (("context, step 0.2 (stored)", "context"), ("fine-tune (stored)", "finetune")):
            print(summary(name, [_row(stored[k][method]) for k in which], budget))
        print(summary(f"context, step {lr}", rows, budget))


if __name__ == "__main__":
    main()
