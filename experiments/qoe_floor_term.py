"""What does the QoE-floor reward term ask of a policy, task by task, and does the shipped model give it?

The shipped default trains with ``env.reward_weights.qoe_floor: 2``: every 100 ms decision step whose QoE is under
the stock governor's mean QoE on its task minus 0.01 costs 2 per unit of shortfall. The floor of the *evaluation*
is on the episode's mean QoE; the term charges each step. This script measures, on the evaluation's episodes
(seeds 10000-10002, 60 s, deterministic actions), per task:

- the per-step shortfall under the floor (mean over steps; the term costs ``qoe_floor`` times it) and the share of
  steps under the floor, for the stock governor itself and for each model on disk;
- each policy's mean per-step training reward under the *shipped default's* reward weights (the objective it was
  trained for), split into its QoE, PPR (normalised to schedutil, as in training) and floor parts;
- mean GPU and big-cluster frequency.

A task on which another policy earns a higher reward than the default under the default's own weights is a task the
default does not solve for its own objective (a shared policy trades tasks against each other), not a task where
the term demands the choice it made. The measurement is :func:`metadvfs.learn.reward_audit.reward_audit` (what
``metadvfs inspect`` prints), with the default's weights for every model. Nothing is trained. A model that is not on
disk keeps the rows this script measured for it before (same tasks, seeds and seconds; marked in the report), so a
fresh clone, which has the shipped default only, re-measures that and keeps the rest; a model with no stored rows
is listed as not measured.

Run from the repository root::

    python experiments/qoe_floor_term.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SEEDS = (10_000, 10_001, 10_002)
SECONDS = 60.0
MODELS = (
    ("default", "default"),
    ("default, training seed 1", "runs/default-s1-guard-stock"),
    ("default, training seed 2", "runs/default-s2-guard-stock"),
    ("default before the guard against stock", "runs/metadvfs-generated-margin-qoefloor"),
    ("previous default (absolute actions, no floor term)", "runs/metadvfs-generated"),
)
"""(label, model): the shipped default (guarded against the stock governor), its other training seeds guarded the
same way, the same seed-0 model before the guard, and the model shipped before that recipe."""


def _rows(audit: Any, which: str) -> list[dict[str, float]]:
    """Per-task rows of one side of a :class:`~metadvfs.learn.reward_audit.RewardAudit` (``policy`` or ``stock``)."""
    from metadvfs.catalog.types import DOMAINS

    gpu, big = DOMAINS.index("gpu"), DOMAINS.index("big")
    return [
        {"reward": p.reward, "qoe_part": p.qoe, "ppr_part": p.ppr, "floor_part": p.floor, "thermal_part": p.thermal,
         "shortfall": p.shortfall, "under_floor": p.under_floor, "gpu_mhz": p.freq_mhz[gpu], "big_mhz": p.freq_mhz[big]}
        for p in getattr(audit, which)
    ]  # fmt: skip


def stored_rows(names: list[str], weights: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    """``{label: per-task rows}`` of the stored results.json when it measured the same tasks, seeds and seconds
    under the same reward weights (``weights``: the shipped default's, as written to results.json)."""
    p = C.RESULTS / "qoe_floor_term" / "results.json"
    if not p.is_file():
        return {}
    doc = json.loads(p.read_text(encoding="utf-8"))
    same = (doc.get("tasks") == names and doc.get("seeds") == list(SEEDS) and doc.get("seconds") == SECONDS
            and doc.get("weights") == weights)  # fmt: skip
    return dict(doc.get("methods", {})) if same else {}


def main() -> None:
    """Write experiments/results/qoe_floor_term/results.md and results.json."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.reward_audit import TOLERANCE, reward_audit
    from metadvfs.learn.tasks import all_task_names

    t0 = time.perf_counter()
    C.limit_threads()
    names = all_task_names()
    weights = load_checkpoint("default").cfg.env.reward_weights
    res: dict[str, list[dict[str, float]]] = {}
    stock_more: dict[str, list[str]] = {}
    missing: list[str] = []
    reused: list[str] = []
    wdict = {"qoe": weights.qoe, "ppr": weights.ppr, "qoe_floor": weights.qoe_floor,
             "qoe_floor_margin": weights.qoe_floor_margin}  # fmt: skip
    stored = stored_rows(names, wdict)
    for label, path in MODELS:
        full = path if path == "default" else str(C.ROOT / path)
        if path != "default" and not (Path(full) / "model.json").is_file():
            if label not in stored:
                missing.append(f"{label}: `{path}` not on this disk")
                continue
            reused.append(f"{label}: `{path}` not on this disk; its rows as measured by an earlier run of this script")
            res[label] = stored[label]  # the stock rows are re-measured first (the default is always on disk)
            stock_more[label] = [n for n, p, s in zip(names, res[label], res["stock"], strict=True)
                                 if s["reward"] > p["reward"] + TOLERANCE]  # fmt: skip
            continue
        C.log(label)
        audit = reward_audit(load_checkpoint(full), names, SEEDS, SECONDS, weights)
        if "stock" not in res:
            res["stock"] = _rows(audit, "stock")  # the same episodes and weights for every model
        res[label] = _rows(audit, "policy")
        stock_more[label] = audit.stock_earns_more()
    data: dict[str, Any] = {
        "seeds": list(SEEDS), "seconds": SECONDS, "tasks": names, "weights": wdict, "methods": res,
        "missing": missing, "reused": reused,
    }  # fmt: skip
    C.write_report(C.RESULTS / "qoe_floor_term", _markdown(names, res, stock_more, weights, missing, reused), data,
                   time.perf_counter() - t0)  # fmt: skip


def _markdown(
    names: list[str],
    res: dict[str, list[dict[str, float]]],
    stock_more: dict[str, list[str]],
    w: Any,
    missing: list[str],
    reused: list[str],
) -> list[str]:
    """The report (``stock_more``: each policy's :meth:`~metadvfs.learn.reward_audit.RewardAudit.stock_earns_more`)."""
    from metadvfs.learn.reward_audit import TOLERANCE

    methods = list(res)
    md = [
        "# The QoE-floor reward term, task by task",
        "",
        f"Episodes: the evaluation's (seeds {SEEDS[0]}-{SEEDS[-1]}, {SECONDS:g} s, deterministic actions). Reward: "
        f"the shipped default's training reward, {w.qoe:g} x QoE + {w.ppr:g} x PPR/PPR(schedutil) - "
        f"{w.qoe_floor:g} x per-step shortfall under (stock's mean QoE on the task - {w.qoe_floor_margin:g}), "
        "mean per 100 ms step (thermal part omitted from the split; it is in the total). *Shortfall*: mean per-step "
        "shortfall under that floor; *under*: share of steps under it. The stock governor's own steps fall under "
        "the floor wherever its QoE varies from step to step: the term charges variance, the evaluation's floor "
        "only the episode's mean.",
        "",
        "## Mean over the 30 tasks",
        "",
    ]
    rows = []
    for m in methods:
        r = res[m]
        rows.append([m, *(f"{np.mean([x[k] for x in r]):.4f}" for k in ("reward", "qoe_part", "ppr_part",
                                                                         "floor_part", "shortfall")),
                     f"{100 * np.mean([x['under_floor'] for x in r]):.1f} %"])  # fmt: skip
    md += C.md_table(["policy", "reward", "QoE part", "PPR part", "floor part", "shortfall", "under"], rows)
    if "default" in res:
        others = [m for m in methods if m not in ("default", "stock") and not m.startswith("default,")]
        for o in others:
            better = [i for i in range(len(names)) if res[o][i]["reward"] > res["default"][i]["reward"] + TOLERANCE]
            md += [
                "",
                f"Tasks where *{o}* earns more of the default's own reward than the default: "
                f"{len(better)}/{len(names)}" + (": " + ", ".join(names[i] for i in better) if better else "") + ".",
            ]
        for m, below in stock_more.items():
            md += [
                "",
                f"Tasks where the stock governor earns more of this reward than *{m}*: {len(below)}/{len(names)}"
                + (": " + ", ".join(below) if below else "")
                + ".",
            ]
        md += ["", "## Per task", ""]
        hdr = ["task", *(f"{m}: reward / shortfall / under / GPU, big MHz" for m in methods)]
        trows = []
        for i, n in enumerate(names):
            cells = []
            for m in methods:
                x = res[m][i]
                cells.append(f"{x['reward']:.3f} / {x['shortfall']:.4f} / {100 * x['under_floor']:.0f} % / "
                             f"{x['gpu_mhz']:.0f}, {x['big_mhz']:.0f}")  # fmt: skip
            trows.append([n, *cells])
        md += C.md_table(hdr, trows)
    if reused:
        md += ["", "Not re-measured in this run:", "", *[f"- {x}" for x in reused]]
    if missing:
        md += ["", "Not measured:", "", *[f"- {x}" for x in missing]]
    return md


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
