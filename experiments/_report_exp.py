"""T3 (adaptation), T4 (negative transfer), T5/T6 (backbones) and the supporting generalization results.

Each section reads ``experiments/results/<experiment>/{full,quick}/results.json`` (the full run when stored,
else the quick one, and says so) and, when no run is stored, names the command that produces it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _report_src as R
import _targets as T

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.reward_audit import TOLERANCE  # when the stock governor "earns more" of a policy's reward
from metadvfs.learn.sensitivity import FIXED_ENTROPY  # the convention `metadvfs inspect` notes per domain

ADAPT_METHODS = ("context", "finetune", "finetune-slow", "meta", "joint", "incremental", "scratch")
"""``experiments/adaptation.py``'s methods in its order; ``meta`` (meta-learned init) is MetaDVFS's."""
SCRIPTS = {
    "adaptation": "experiments/adaptation.py",
    "negative_transfer": "experiments/negative_transfer.py",
    "backbone": "experiments/backbone.py",
    "cavia": "experiments/cavia_quick.py",
    "generated_zero_shot": "experiments/generated_zero_shot.py",
    "generator_ranges": "experiments/generator_ranges.py",
    "action_modes": "experiments/action_modes.py",
    "metadata_coverage": "experiments/metadata_coverage.py",
    "metadata_sensitivity": "experiments/metadata_sensitivity.py",
    "qoe_floor_term": "experiments/qoe_floor_term.py",
}
SINGLE = ("generator_ranges", "metadata_coverage", "metadata_sensitivity", "qoe_floor_term")
"""Experiments with one ``results.json`` (no quick/full variants)."""
ONLY_QUICK = ("cavia", "generated_zero_shot")
"""Experiments that exist only as a quick follow-up of ``adaptation.py --quick``."""


def pick(root: Path, name: str) -> tuple[str, R.Source | None, list[str]]:
    """(run label, results of the run the table shows, notes on the other variant or the missing run)."""
    v = R.experiment_variants(root, name)
    cmd = f"python {SCRIPTS[name]}"
    if "full" in v:
        notes = []
        if "quick" in v:
            notes.append(f"The quick run (`{v['quick'].rel}`) is superseded by the full run and not shown.")
        return "full", v["full"], notes
    if "quick" in v:
        note = (
            []
            if name in ONLY_QUICK
            else [f"The full run is missing (no `{R.RESULTS_DIR}/{name}/full/results.json`); produce it with `{cmd}`."]
        )
        return "quick", v["quick"], note
    if "single" in v:
        return "complete", v["single"], []
    where = (
        f"`{R.RESULTS_DIR}/{name}/results.json`"
        if name in SINGLE
        else (f"`{R.RESULTS_DIR}/{name}/{{full,quick}}/results.json`")
    )
    single = name in ONLY_QUICK or name in SINGLE
    flag = "" if single else " (or `--quick` for the small version)"
    return "missing", None, [f"**Missing.** No {where}; produce it with `{cmd}`{flag}."]


def section(root: Path, title: str, name: str, body: Callable[[R.Source], list[str]], level: int = 2) -> list[str]:
    """A table section: heading, body from the chosen run, provenance line, notes on missing runs."""
    run, src, notes = pick(root, name)
    out = ["#" * level + f" {title}" + ("" if src is None else f" ({run})"), ""]
    if src is not None:
        out += [*body(src), "", R.provenance(src, run), ""]
    return out + [n for note in notes for n in (note, "")]


def _minutes(src: R.Source, e: dict[str, Any], where: tuple[str, ...], n: float) -> str:
    m = R.num(src, *where, "vs_reference_minutes_mean", doc=e, lo=0)
    sd = R.num(src, *where, "vs_reference_minutes_std", doc=e, lo=0)
    reached = R.num(src, *where, "vs_reference_reached", doc=e, lo=0)
    return f"{m:.2f} ± {sd:.2f} ({reached:.0f}/{n:.0f} reached)"


def _adapt_seed_spread(src: R.Source, m: str) -> str:
    """``± zero-shot PPR / ± zero-shot QoE / ± minutes to 95 %``: std of the per-training-seed means of method
    ``m`` (all runs), ``-`` when the file has no spread for it."""
    p = ("aggregate", "all", m)
    v = [R.opt_num(src, *p, f"{k}_train_seed_std") for k in ("zero_shot_ppr_norm", "zero_shot_qoe")]
    mins = R.opt_num(src, *p, "vs_reference_minutes_train_seed_std")
    if None in v or mins is None:
        return "-"
    return f"± {R.fmt(v[0])} / ± {R.fmt(v[1])} / ± {mins:.2f}"


def adaptation(src: R.Source) -> list[str]:
    """T3: zero-shot quality and phone-minutes to 95 % of the task-specific reference, per method.

    With several training seeds (``train_seeds`` in the file) the means and ± are over all (training seed x
    adaptation seed x task) runs and a column gives the spread over training seeds; an older file (one training
    seed, no ``train_seeds``) renders without that column.
    """
    agg = R.obj(src, "aggregate")
    budget = R.num(src, "budget_minutes", lo=0)
    a = R.obj(src, "aggregate", "all")
    n = R.num(src, "aggregate", "all", "n_runs", lo=1)
    methods = [m for m in ADAPT_METHODS if m in a]
    if not methods:
        raise MetaDVFSError(f"{src.rel}: field 'aggregate.all' has none of the methods {', '.join(ADAPT_METHODS)}")
    scopes = [k for k in agg if k != "all"]
    seeds = _train_seeds(src)
    several = len(seeds) > 1
    rows = []
    for m in methods:
        p = ("aggregate", "all", m)
        red = R.opt_num(src, *p, "vs_reference_reduction_pct")
        rows.append([
            m,
            f"{R.fmt_pm(R.num(src, *p, 'zero_shot_ppr_norm_mean'), R.num(src, *p, 'zero_shot_ppr_norm_std'))} / "
            f"{R.fmt(R.num(src, *p, 'zero_shot_qoe_mean'))}",
            R.fmt(R.num(src, *p, "zero_shot_ratio_to_oracle_mean")),
            f"{R.fmt(R.num(src, *p, 'final_ppr_norm_mean'))} / {R.fmt(R.num(src, *p, 'final_qoe_mean'))}",
            *(_minutes(src, agg, (k, m), R.num(src, "aggregate", k, "n_runs", lo=1)) for k in ["all", *scopes]),
            "-" if red is None else f"{red:+.0f} %",
            R.share(R.num(src, *p, "fallback_share_mean", lo=0, hi=1)),
            *([_adapt_seed_spread(src, m)] if several else []),
        ])  # fmt: skip
    header = ["method", "zero-shot PPR / QoE", "zero-shot / oracle", "final PPR / QoE",
              "phone-min to 95 % (all runs)", *(f"phone-min to 95 % ({k})" for k in scopes),
              "time saved vs scratch", "QoE-floor share"]  # fmt: skip
    spread = ""
    if several:
        header.append(f"spread over {len(seeds)} training seeds (zero-shot PPR / QoE / min to 95 %)")
        spread = (f"fold models trained with {len(seeds)} training seeds ({', '.join(f'{x:.0f}' for x in seeds)}), "
                  "each held-out task adapted from every training seed's models: means and ± over all (training "
                  "seed × adaptation seed × task) runs, the last column is the std of the per-training-seed "
                  "means; ")  # fmt: skip
    elif seeds:
        spread = "one training seed for the fold models (± over adaptation seeds and tasks); "
    head = [_adapt_headline(src, a, n, budget), "",
            f"{n:.0f} adaptation runs; {spread}budget {budget:.3g} phone-minutes per method and run; a run that "
            "never reaches 95 % of the task-specific reference's PPR counts at the budget (*reached* says how many "
            "did). PPR normalised as in the experiment's results.md.", ""]  # fmt: skip
    return [*head, *R.md_table(header, rows), *_met_then_lost(src, methods), *_runs_cost(src)]


def _met_then_lost(src: R.Source, methods: list[str]) -> list[str]:
    """The runs per method that met 95 % of the reference within the target but fell back under it (nothing for
    files written before ``vs_reference_met_then_lost`` existed)."""
    lost = {m: R.opt_num(src, "aggregate", "all", m, "vs_reference_met_then_lost") for m in methods}
    if any(v is None for v in lost.values()):
        return []
    n = R.num(src, "aggregate", "all", "n_runs", lo=1)
    cells = ", ".join(f"`{m}` {v:.0f}" for m, v in lost.items())
    return ["", f"Met 95 % of the reference (both clauses) within {T.ADAPT_MINUTES:g} phone-minutes, then fell back "
                f"under it, of {n:.0f} runs: {cells}. A method that kept the best policy it had reached would have "
                "these runs within the target too; the other misses had not met the reference by then."]  # fmt: skip


def _runs_cost(src: R.Source) -> list[str]:
    """What the adaptation runs cost, from each run's own ``wall_s`` (nothing for files whose runs lack it).

    The provenance line's wall time is the producing invocation's: a pool (``sources``) only read stored results,
    and an invocation may reuse models and runs an earlier one made (a fold whose ``timing`` has no training time).
    """
    runs = src.doc.get("runs") if isinstance(src.doc, dict) else None
    if not isinstance(runs, list):
        return []
    own = [w for i in range(len(runs)) if (w := R.opt_num(src, "runs", i, "wall_s")) is not None]
    if not own:
        return []
    what = R.invocation_scope(
        "sources" in src.doc, src.doc.get("folds"), (src.doc.get("settings") or {}).get("methods")
    )
    return ["", f"Cost: the {len(own)} adaptation runs' own wall times (each run's `wall_s`, all methods) sum to "
                f"{sum(own) / 3600:.1f} h (median {statistics.median(own):.0f} s per run); the wall time on the "
                f"source line below is the producing invocation's, which {what}."]  # fmt: skip


def _fold_set(src: R.Source) -> set[tuple[str, str]]:
    """The ``(kind, value)`` folds a results file covers (``settings.folds``)."""
    return {(str(f[0]), str(f[1])) for f in R.lst(src, "settings", "folds") if isinstance(f, list) and len(f) == 2}


def covers_every_fold(src: R.Source) -> bool:
    """Whether a fold-subset results file holds every fold of its universe: one per phone (``settings.devices``)
    and one per app (``settings.apps``), as the pool of all per-fold runs does."""
    s = src.doc.get("settings") if isinstance(src.doc, dict) else None
    if not isinstance(s, dict) or not isinstance(s.get("devices"), list) or not isinstance(s.get("apps"), list):
        return False
    want = {("device", str(d)) for d in s["devices"]} | {("app", str(a)) for a in s["apps"]}
    return bool(want) and _fold_set(src) == want


def _fold_names(src: R.Source) -> str:
    return ", ".join(":".join(map(str, f)) for f in R.lst(src, "settings", "folds"))


def adaptation_sections(root: Path) -> list[str]:
    """T3: the full run; else every pool that covers every fold (``adaptation.py --pool``), then the fold subsets.

    A complete full run (``adaptation/full/``) supersedes everything else. Without it, a ``full-<name>`` results
    file whose folds are every phone and every app of its universe is the complete leave-one-out evaluation, run
    fold by fold and pooled: it is T3's table and the quick run is not shown. Each other ``full-<name>`` file is a fold
    subset (``adaptation.py --folds ...``) and renders as the full table would, under a heading naming its folds,
    widest first (a pool of several folds before the single folds it pools), then by name.
    """
    base = root / R.RESULTS_DIR / "adaptation"
    title = "T3: adaptation to held-out phones and apps"
    if (base / "full" / "results.json").is_file():
        return section(root, title, "adaptation", adaptation)
    srcs = [R.load_json(root, d.relative_to(root).as_posix()) for d in sorted(base.glob("full-*/results.json"))]
    complete: list[R.Source] = []
    subsets: list[R.Source] = []
    for src in srcs:
        (complete if covers_every_fold(src) else subsets).append(src)
    subsets.sort(key=lambda s: (-len(R.lst(s, "settings", "folds")), s.rel))
    out: list[str] = []
    if complete:
        out += [f"## {title} (full, every fold pooled)", ""]
        for src in complete:
            d = root / src.rel
            n = len(_fold_set(src))
            out += [f"### Every fold: {n} folds ({d.parent.name})", "",
                    f"Every fold of the full setting ({_fold_names(src)}), each run on its own "
                    "(`adaptation.py --folds FOLD`) and pooled (`adaptation.py --pool`): the complete "
                    "leave-one-device-out and leave-one-app-out evaluation (the paper does not publish its "
                    f"protocol; {R.PAPER_SOURCE}).", "",
                    *adaptation(src), "", R.provenance(src, "full (every fold, pooled)"), ""]  # fmt: skip
        quick = R.experiment_variants(root, "adaptation").get("quick")
        if quick is not None:
            out += [f"The quick run (`{quick.rel}`) is superseded by the pooled full run and not shown.", ""]
    else:
        out += section(root, title, "adaptation", adaptation)
    for src in subsets:
        d = root / src.rel
        out += [f"### Full setting, fold subset: {_fold_names(src)} ({d.parent.name})", "",
                "The full-setting budgets on only these folds: not the complete leave-one-out evaluation, which needs "
                "every fold.", "",
                *adaptation(src), "", R.provenance(src, "full (fold subset)"), ""]  # fmt: skip
    return out


def _fold_qoe_cells(src: R.Source, i: int) -> tuple[str, str]:
    """Fold ``i``'s QoE cell (``QoE (stock's)``) and floor cell (``held-out tasks at the floor / held-out tasks``)."""
    qoe = f"{R.fmt(R.num(src, 'folds', i, 'qoe'))} ({R.fmt(R.num(src, 'folds', i, 'stock_qoe'))})"
    return qoe, f"{R.num(src, 'folds', i, 'qoe_ok', lo=0):.0f}/{len(R.lst(src, 'folds', i, 'tasks'))}"


def zero_shot(src: R.Source) -> list[str]:
    """Zero-shot quality of every fold's conditioned model on its held-out tasks (``experiments/zero_shot.py``)."""
    folds = R.lst(src, "folds")
    if not folds:
        raise MetaDVFSError(f"{src.rel}: field 'folds' is empty")
    rows, ge_stock, ge_oracle, ok, n_tasks, met = [], 0, 0, 0, 0, []
    for i in range(len(folds)):
        tasks = R.lst(src, "folds", i, "tasks")
        ppr = R.num(src, "folds", i, "ppr", lo=0)
        orc = R.num(src, "folds", i, "of_oracle", lo=0)
        good = R.num(src, "folds", i, "qoe_ok", lo=0)
        worst = min(range(len(tasks)), key=lambda j: R.num(src, "folds", i, "tasks", j, "ppr"))
        seeds = R.lst(src, "folds", i, "per_seed")
        rows.append([
            R.text(src, "folds", i, "fold"), len(tasks),
            R.fmt_pm(ppr, R.opt_num(src, "folds", i, "ppr_std") if len(seeds) > 1 else None),
            R.fmt(orc), *_fold_qoe_cells(src, i),
            f"{R.text(src, 'folds', i, 'tasks', worst, 'task')} {R.fmt(R.num(src, 'folds', i, 'tasks', worst, 'ppr'))}",
            _per_seed_cell(src, i, len(seeds)),
        ])  # fmt: skip
        ge_stock += T.ge_stock(ppr)
        ge_oracle += T.ge_oracle(orc)
        ok += int(good)
        n_tasks += len(tasks)
        if T.fold_met(ppr, orc, int(good), len(tasks)):
            met.append(R.text(src, "folds", i, "fold"))
    n = len(folds)
    head = (f"**Target** (issue 10): zero-shot on a held-out phone or app, PPR >= stock's, >= 0.95 of the oracle's, "
            f"QoE >= stock's - 0.01 on every held-out task; the paper gives no zero-shot figure. **Here** "
            f"(`{R.text(src, 'variant')}` fold models): PPR >= stock on {ge_stock}/{n} folds, >= 0.95 of the oracle "
            f"on {ge_oracle}/{n}; {ok}/{n_tasks} held-out tasks at the QoE floor; the whole target on {len(met)}/{n} "
            f"folds{' (' + ', '.join(met) + ')' if met else ''}.")  # fmt: skip
    header = ["fold", "held-out tasks", "PPR / stock (± over training seeds)", "of the oracle", "QoE (stock)",
              "at the QoE floor", "worst task (PPR / stock)", "per training seed: PPR (at the floor)"]  # fmt: skip
    return [head, "", *R.md_table(header, rows), *_zero_shot_training(src)]


def _per_seed_cell(src: R.Source, i: int, n_seeds: int) -> str:
    """Fold ``i``'s PPR per training seed and, where the tasks carry their per-seed QoE, how many held-out tasks
    that seed's model alone keeps at the QoE floor (the mean over seeds can hide one seed's miss)."""
    pprs = [R.fmt(R.num(src, "folds", i, "per_seed", k, "ppr")) for k in range(n_seeds)]
    tasks = R.lst(src, "folds", i, "tasks")
    if not all(isinstance(t, dict) and "per_seed" in t for t in tasks):
        return " / ".join(pprs)  # results written before the tasks kept their per-seed QoE
    seeds = [int(R.num(src, "folds", i, "per_seed", k, "seed")) for k in range(n_seeds)]
    qoe = []
    for j in range(len(tasks)):
        at = ("folds", i, "tasks", j, "per_seed")
        by_seed = {int(R.num(src, *at, k, "seed")): R.num(src, *at, k, "qoe") for k in range(len(R.lst(src, *at)))}
        if set(by_seed) != set(seeds):
            raise MetaDVFSError(f"{src.rel}: folds[{i}].tasks[{j}].per_seed: training seeds {sorted(by_seed)}, "
                                f"the fold's are {sorted(seeds)}")  # fmt: skip
        qoe.append([by_seed[sd] for sd in seeds])
    ok = T.floor_per_seed(qoe, [R.num(src, "folds", i, "tasks", j, "stock_qoe") for j in range(len(tasks))])
    return " / ".join(f"{p} ({k}/{len(tasks)})" for p, k in zip(pprs, ok, strict=True))


def _zero_shot_training(src: R.Source) -> list[str]:
    """The fold models' summed training wall time (each model's own record, also when the evaluating run reused
    them); nothing for results that predate the field."""
    walls = []
    for i in range(len(R.lst(src, "folds"))):
        fold = R.get(src, "folds", i)
        if not isinstance(fold, dict) or fold.get("model_train_s") is None:
            continue
        walls += [R.num(src, "folds", i, "model_train_s", k, lo=0)
                  for k, w in enumerate(R.lst(src, "folds", i, "model_train_s")) if w is not None]  # fmt: skip
    if not walls:
        return []
    return ["", f"Fold models' training: {R.fmt_duration(sum(walls))} of training wall time over {len(walls)} "
                "models (each model's own record; models train in parallel, so not the run's wall time)."]  # fmt: skip


def zero_shot_sections(root: Path) -> list[str]:
    """Every stored ``zero_shot/<variant>/results.json``, one table each; a note naming the command when none is."""
    base = root / R.RESULTS_DIR / "zero_shot"
    files = sorted(base.glob("*/results.json"))
    if not files:
        return ["### Zero-shot on every held-out fold", "",
                "**Missing.** No `experiments/results/zero_shot/<variant>/results.json`; produce it with "
                "`python experiments/zero_shot.py --gpu-bound 0.25 --train-seeds 3`.", ""]  # fmt: skip
    out, srcs = [], {}
    for d in files:
        src = srcs[d.parent.name] = R.load_json(root, d.relative_to(root).as_posix())
        out += [f"### Zero-shot on held-out folds ({d.parent.name})", "", *zero_shot(src), "",
                R.provenance(src, "full"), ""]  # fmt: skip
    if len(srcs) > 1:
        out += ["### Zero-shot variants side by side", "", *zero_shot_compare(srcs), ""]
    return out


def zero_shot_compare(srcs: dict[str, R.Source]) -> list[str]:
    """One row per fold, one column per zero-shot variant: PPR / stock, QoE (stock's) and the tasks at the floor."""
    cells: dict[str, dict[str, str]] = {}
    for name, src in srcs.items():
        for i in range(len(R.lst(src, "folds"))):
            cells.setdefault(R.text(src, "folds", i, "fold"), {})[name] = " · ".join(
                [R.fmt(R.num(src, "folds", i, "ppr", lo=0)), *_fold_qoe_cells(src, i)]
            )
    rows = [[fold, *(c.get(v, "-") for v in srcs)] for fold, c in cells.items()]
    note = (
        "Each cell: PPR / stock · QoE (stock's) · held-out tasks at the QoE floor, from the sections above "
        "(their training seeds and commands); `-`: the variant was not run on that fold."
    )
    return [note, "", *R.md_table(["fold", *(f"`{v}`" for v in srcs)], rows)]


def _adapt_headline(src: R.Source, a: dict[str, Any], n: float, budget: float) -> str:
    out = (f"**Paper** ({R.PAPER_SOURCE}): adaptation {R.PAPER['faster']} faster than the state of the art; "
           f"{R.PAPER['meta_min']} for MetaDVFS on a new pair vs {R.PAPER['incr_min']} for incremental training "
           "(times from the survey).")  # fmt: skip
    if "meta" not in a or "incremental" not in a:
        return out + " **Here:** no `meta` and `incremental` rows to compare."
    minutes = {m: R.num(src, "aggregate", "all", m, "vs_reference_minutes_mean", lo=0) for m in ADAPT_METHODS if m in a}
    mm, im = minutes["meta"], minutes["incremental"]
    ms = R.num(src, "aggregate", "all", "meta", "vs_reference_minutes_std", lo=0)
    mr = R.num(src, "aggregate", "all", "meta", "vs_reference_reached", lo=0)
    ist = R.num(src, "aggregate", "all", "incremental", "vs_reference_minutes_std", lo=0)
    ir = R.num(src, "aggregate", "all", "incremental", "vs_reference_reached", lo=0)
    if im > 0 and mm != im:
        faster = (1 - mm / im) * 100
        cmp = f"meta-init is {abs(faster):.1f} % {'faster' if faster > 0 else 'slower'} than incremental"
    elif im > 0:
        cmp = "meta-init is as fast as incremental"
    elif mm > 0:
        cmp = "incremental is at 95 % of the reference from minute 0, meta-init is not"
    else:
        cmp = "both are at 95 % of the reference from minute 0"
    bm = min(minutes.values())
    best = [m for m, v in minutes.items() if v == bm]  # every method at the minimum (ties name them all)
    who = (f"the fastest method is `{best[0]}`" if len(best) == 1
           else "the fastest methods are " + ", ".join(f"`{m}`" for m in best))  # fmt: skip
    out += (f" **Here:** the meta-learned init needs {mm:.2f} ± {ms:.2f} phone-minutes ({mr:.0f}/{n:.0f} runs "
            f"reached 95 % of the reference) and incremental training {im:.2f} ± {ist:.2f} ({ir:.0f}/{n:.0f}): "
            f"{cmp} (paper {R.PAPER['faster']} faster), and {who} ({bm:.2f} phone-minutes")  # fmt: skip
    if "scratch" not in best and "scratch" in a:  # then scratch's minutes exceed the minimum, so they are > 0
        sm = minutes["scratch"]
        out += f", {(1 - bm / sm) * 100:.0f} % less than scratch's {sm:.2f})."
    else:
        out += ")."
    if mr < n or ir < n:
        out += (
            f" Censoring: {n - mr:.0f} meta-init and {n - ir:.0f} incremental runs never reached 95 % and count "
            f"at the {budget:.3g}-phone-minute budget, so these means are lower bounds of the true times."
        )
    return out


def _nt_reference(src: R.Source, cells: dict[str, Any], tasks: list[str]) -> str:
    """The method every cell of which has PPR exactly 1 (the PPR reference of the experiment), if any."""
    methods = {k.split("|", 1)[1] for k in cells}
    for m in sorted(methods):
        if all(cells.get(f"{t}|{m}", {}).get("ppr") == 1.0 for t in tasks):
            return m
    return "the experiment's reference"


def negative_transfer(src: R.Source) -> list[str]:
    """T4: tasks with negative transfer against standalone, mean quality, and the guard."""
    tasks = [str(t) for t in R.lst(src, "tasks")]
    cells = R.obj(src, "cells")
    nt = R.obj(src, "negative_transfer")
    if not tasks:
        raise MetaDVFSError(f"{src.rel}: field 'tasks' is empty")
    methods = ["standalone", *nt]
    for t in tasks:
        for m in methods:
            R.num(src, "cells", f"{t}|{m}", "ppr")
            R.num(src, "cells", f"{t}|{m}", "qoe")
    ref = _nt_reference(src, cells, tasks)
    walls = src.doc.get("train_wall_s") if isinstance(src.doc.get("train_wall_s"), dict) else {}
    n = len(tasks)
    seeds = _train_seeds(src)
    rows, ratios = [], {}
    for m in methods:
        ppr = sum(R.num(src, "cells", f"{t}|{m}", "ppr") for t in tasks) / n
        qoe = sum(R.num(src, "cells", f"{t}|{m}", "qoe") for t in tasks) / n
        ppr_sd = R.num(src, "summary", m, "ppr_std", lo=0) if len(seeds) > 1 else None
        qoe_sd = R.num(src, "summary", m, "qoe_std", lo=0) if len(seeds) > 1 else None
        rs = [R.num(src, "cells", f"{t}|{m}", "ppr") / R.num(src, "cells", f"{t}|standalone", "ppr", lo=1e-12)
              for t in tasks]  # fmt: skip
        ratios[m] = rs
        if m == "standalone":
            flagged = "-"
        else:
            p, q = set(R.lst(src, "negative_transfer", m, "ppr")), set(R.lst(src, "negative_transfer", m, "qoe"))
            flagged = f"{len(p | q)}/{n} ({len(p)} PPR, {len(q)} QoE)" + _nt_per_seed(src, m, seeds)
        wall = walls.get(m) if isinstance(walls.get(m), (int, float)) else None
        rows.append([m, flagged, R.fmt_pm(ppr, ppr_sd), R.fmt_pm(qoe, qoe_sd),
                     "-" if m == "standalone" else f"{R.pct(sum(rs) / n)} ({R.pct(min(rs))} .. {R.pct(max(rs))})",
                     "-" if wall is None else R.fmt_duration(wall)])  # fmt: skip
    header = ["method", "tasks with negative transfer", f"mean PPR / {ref}", "mean QoE",
              "PPR vs standalone: mean (min .. max over tasks)",
              "training wall time" + (" (mean per seed)" if len(seeds) > 1 else "")]  # fmt: skip
    if len(seeds) > 1:
        seeds_txt = (f"{len(seeds)} training seeds ({', '.join(f'{x:.0f}' for x in seeds)}): mean ± std over the "
                     "training seeds (each seed's value is its mean over the evaluation seeds); negative transfer "
                     "pairs every (training seed, evaluation seed) episode with the standalone model of the same "
                     "training seed, and the per-seed counts follow in brackets.")  # fmt: skip
    elif seeds:
        seeds_txt = f"One training seed ({seeds[0]:.0f}); the spread between training runs is not measured."
    else:
        seeds_txt = (
            "One training seed (the file predates `train_seeds`); the spread between training runs is not measured."
        )
    out = [_nt_headline(src, ratios, n), "", f"{n} tasks. Negative transfer on a task: the guard's criterion "
           "against standalone on the evaluation seeds (the experiment's definition, see its results.md). "
           + seeds_txt, "", *R.md_table(header, rows)]  # fmt: skip
    g = src.doc.get("guard_summary")
    per = src.doc.get("guard_summary_per_seed")
    if isinstance(per, list) and len(per) > 1:
        cnt = {k: ", ".join(f"{R.num(src, 'guard_summary_per_seed', i, k, lo=0):.0f}" for i in range(len(per)))
                for k in ("flagged", "fixed", "unresolved")}  # fmt: skip
        out += ["", f"Guard, per training seed: flagged {cnt['flagged']} of {n} tasks on its validation seeds, "
                f"fixed {cnt['fixed']} by task-specific fine-tuning, {cnt['unresolved']} unresolved."]  # fmt: skip
    elif isinstance(g, dict):
        vals = [R.num(src, "guard_summary", k, lo=0) for k in ("flagged", "fixed", "unresolved")]
        out += ["", f"Guard: flagged {vals[0]:.0f} of {n} tasks on its validation seeds, fixed {vals[1]:.0f} by "
                f"task-specific fine-tuning, {vals[2]:.0f} unresolved."]  # fmt: skip
    return out


def _train_seeds(src: R.Source) -> list[float]:
    """The training seeds of an experiment's run (empty for a file written before ``train_seeds``)."""
    if "train_seeds" not in src.doc:
        return []
    seeds = [R.num(src, "train_seeds", i) for i in range(len(R.lst(src, "train_seeds")))]
    if not seeds:
        raise MetaDVFSError(f"{src.rel}: field 'train_seeds' is empty")
    return seeds


def _nt_per_seed(src: R.Source, m: str, seeds: list[float]) -> str:
    """`` (per seed a, b, c)``: tasks with negative transfer on each training seed alone (several seeds only)."""
    if len(seeds) < 2:
        return ""
    counts = []
    for i in range(len(seeds)):
        p = set(R.lst(src, "negative_transfer_per_seed", m, i, "ppr"))
        counts.append(str(len(p | set(R.lst(src, "negative_transfer_per_seed", m, i, "qoe")))))
    return f" (per seed {', '.join(counts)})"


def _nt_headline(src: R.Source, ratios: dict[str, list[float]], n: int) -> str:
    out = (
        f"**Paper** ({R.PAPER_SOURCE}): {R.PAPER['standalone']} better than standalone per-task training "
        "while avoiding negative transfer."
    )
    m = next((x for x in ("metadata_groups+guard", "metadata_groups") if x in ratios), None)
    if m is None:
        return out + " **Here:** no metadata-grouped method in the file."
    rs = ratios[m]
    k = len(set(R.lst(src, "negative_transfer", m, "ppr")) | set(R.lst(src, "negative_transfer", m, "qoe")))
    return out + (f" **Here:** `{m}` ranges from {R.pct(min(rs))} to {R.pct(max(rs))} in PPR against standalone "
                  f"(mean {R.pct(sum(rs) / n)}) and shows negative transfer on {k}/{n} tasks: negative transfer is "
                  f"{'avoided' if k == 0 else 'not avoided'}.")  # fmt: skip


def backbone(src: R.Source) -> list[str]:
    """T5 (quality) and T6 (parameters, latency) per backbone."""
    s = R.obj(src, "summary")
    if not s:
        raise MetaDVFSError(f"{src.rel}: field 'summary' is empty")
    q = {b: R.num(src, "summary", b, "mean_ppr_norm") for b in s}
    lat = {b: R.num(src, "summary", b, "net_median_us", lo=0) for b in s}
    t5 = [[b, R.fmt_pm(q[b], R.opt_num(src, "summary", b, "std_ppr_norm")),
           R.fmt_pm(R.num(src, "summary", b, "mean_qoe"), R.opt_num(src, "summary", b, "std_qoe")),
           R.fmt_duration(R.num(src, "summary", b, "train_wall_s", lo=0))] for b in s]  # fmt: skip
    seeds = _train_seeds(src)
    t6 = [[b, f"{R.num(src, 'summary', b, 'parameters', lo=0):,.0f}",
           f"{R.num(src, 'summary', b, 'acting_parameters', lo=0):,.0f}",
           _us(src, b, "net"), _us(src, b, "sb3")] for b in s]  # fmt: skip
    tasks = R.lst(src, "tasks")
    best, worst = max(q, key=q.__getitem__), min(q, key=q.__getitem__)
    fast, slow = min(lat, key=lat.__getitem__), max(lat, key=lat.__getitem__)
    head = (f"**Paper** ({R.PAPER_SOURCE}): no backbone or overhead figure is available. **Here** ({len(tasks)} "
            f"tasks): `{best}` has the highest mean PPR ({q[best]:.3f}) and `{worst}` the lowest ({q[worst]:.3f}); "
            f"the fastest network at batch 1 is `{fast}` ({lat[fast]:.0f} µs median), "
            f"{lat[slow] / lat[fast]:.1f}× faster than `{slow}`.")  # fmt: skip
    head += _backbone_spread(src, q, best)
    spread = (
        f"{len(seeds)} training seeds: mean ± std over the training seeds, training wall time per seed"
        if len(seeds) > 1
        else "one training seed"
    )
    return [head, "", f"T5, quality (PPR normalised as in the experiment's results.md; {spread}):", "",
            *R.md_table(["backbone", "mean PPR", "mean QoE", "training wall time"], t5), "",
            "T6, overhead (one thread, batch 1; µs median / p90):", "",
            *R.md_table(["backbone", "parameters", "acting parameters", "network µs", "SB3 predict µs"], t6),
            ]  # fmt: skip


def _backbone_spread(src: R.Source, q: dict[str, float], best: str) -> str:
    """Which backbones' mean PPR is within the training-seed spread of the best one's (a gap no larger than the
    larger of the two standard deviations) and which is further below; empty for a single-seed run (or a file
    without ``train_seeds`` and standard deviations)."""
    std = {b: R.opt_num(src, "summary", b, "std_ppr_norm") for b in q}
    if len(q) < 2 or len(_train_seeds(src)) < 2 or any(v is None for v in std.values()):
        return ""
    near = [b for b in q if b != best and q[best] - q[b] <= max(std[best] or 0.0, std[b] or 0.0)]
    far = [b for b in q if b != best and b not in near]
    parts = []
    if near:
        parts.append(", ".join(f"`{b}`" for b in near) + " within the training-seed spread (a gap no larger than "
                     "the larger std), so not ranked")  # fmt: skip
    if far:
        parts.append(", ".join(f"`{b}` {q[best] - q[b]:.3f} below" for b in far) + " (more than the seed spread)")
    return f" Against `{best}`: " + "; ".join(parts) + "."


def backbone_subsets(root: Path) -> list[str]:
    """T5/T6 in the full setting on a subset of the backbones (``backbone.py --backbones ...``), while the full run
    of every backbone is missing: each ``backbone/full-<b1>+<b2>.../results.json`` under a heading naming them."""
    base = root / R.RESULTS_DIR / "backbone"
    if (base / "full" / "results.json").is_file():
        return []
    out = []
    for d in sorted(base.glob("full-*/results.json")):
        src = R.load_json(root, d.relative_to(root).as_posix())
        names = ", ".join(map(str, R.lst(src, "backbones")))
        out += [f"### Full setting, backbone subset: {names} ({d.parent.name})", "",
                "The full-setting budget and tasks for only these backbones (`backbone.py --backbones ...`): not "
                "the whole ablation, which needs every backbone.", "",
                *backbone(src), *_backbone_reuse(src), "", R.provenance(src, "full (backbone subset)"), ""]  # fmt: skip
    return out


def _backbone_reuse(src: R.Source) -> list[str]:
    """A note when the producing invocation took less wall time than any model's training: it reused models an
    earlier invocation trained in the same work directory (T5's training times are theirs)."""
    wall = R.opt_num(src, "wall_s")
    trains = [R.opt_num(src, "summary", b, "train_wall_s") for b in R.obj(src, "summary")]
    known = [t for t in trains if t is not None]
    if wall is None or not known or wall >= min(known):
        return []
    return ["", f"The producing invocation took {R.fmt_duration(wall)}: it reused models trained earlier in the same "
                "work directory, whose training wall times per seed are T5's."]  # fmt: skip


SHIPPED_CONFIG = "metadvfs/models/default/config.yaml"
"""The shipped default's training config (its ``network`` section is what T6's rows are compared with)."""


def backbone_vs_shipped(root: Path) -> list[str]:
    """Whether T6's rows measure the shipped architecture: the backbone run's network settings (backbone aside)
    against the shipped default's ``network`` section; nothing when either is not stored."""
    import yaml

    run, src, _ = pick(root, "backbone")
    net = ((src.doc.get("settings") or {}).get("base") or {}).get("network") if src is not None else None
    if not isinstance(net, dict) or not (root / SHIPPED_CONFIG).is_file():
        return []  # no run, a file without its network settings, or no shipped model to compare with
    ours = {k: v for k, v in net.items() if k != "backbone"}
    try:
        shipped = (yaml.safe_load((root / SHIPPED_CONFIG).read_text()) or {}).get("network") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MetaDVFSError(f"{SHIPPED_CONFIG}: cannot read the shipped network settings: {exc}") from None
    same = ours == {k: v for k, v in shipped.items() if k != "backbone"}
    verdict = (
        f"the same network settings as the shipped default (`{SHIPPED_CONFIG}`, backbone `{shipped.get('backbone')}`), "
        f"so its `{shipped.get('backbone')}` row measures the shipped network's size and latency (at the same "
        "observation and metadata widths); T5's quality is this run's budget's."
        if same
        else f"other network settings than the shipped default (`{SHIPPED_CONFIG}`: {shipped}), so T6 is not the "
        "shipped architecture's overhead."
    )
    return [f"The {run} backbone run uses {ours | {'backbone': '…'}}: {verdict}", ""]


def _ppr_qoe(src: R.Source, *path: str | int) -> str:
    """``PPR / QoE`` of the ``{ppr_norm, qoe}`` object at ``path``."""
    return f"{R.fmt(R.num(src, *path, 'ppr_norm'))} / {R.fmt(R.num(src, *path, 'qoe'))}"


def _us(src: R.Source, b: str, key: str) -> str:
    """``median / p90`` latency of backbone ``b`` (``key``: ``net`` or ``sb3``), µs."""
    med, p90 = (R.num(src, "summary", b, f"{key}_{q}_us", lo=0) for q in ("median", "p90"))
    return f"{med:.0f} / {p90:.0f}"


def cavia(src: R.Source) -> list[str]:
    """CAVIA init adapted by its context only: per run, zero-shot and final quality and minutes to 95 %."""
    rows = []
    for i in range(len(R.lst(src, "runs"))):
        for m in R.obj(src, "runs", i, "methods"):
            p = ("runs", i, "methods", m)
            mins = R.get(src, *p, "minutes_to_95")
            rows.append([R.text(src, "runs", i, "task"), f"{R.num(src, 'runs', i, 'seed'):.0f}", m,
                         _ppr_qoe(src, *p, "zero_shot"), _ppr_qoe(src, *p, "final"),
                         "not reached" if mins is None else f"{R.num(src, *p, 'minutes_to_95', lo=0):.2f}",
                         R.share(R.num(src, *p, "fallback_share", lo=0, hi=1))])  # fmt: skip
    return R.md_table(["task", "seed", "method", "zero-shot PPR / QoE", "final PPR / QoE",
                       "phone-min to 95 % of reference", "QoE-floor share"], rows)  # fmt: skip


def generated_zero_shot(src: R.Source) -> list[str]:
    """Zero-shot on the held-out phone: trained with generated tasks vs on the real tasks only."""
    rows = []
    for variant in (k for k in src.doc if isinstance(src.doc[k], dict) and "summary" in src.doc[k]):
        for m in R.obj(src, variant, "summary"):
            p = (variant, "summary", m)
            rto = R.opt_num(src, *p, "ratio_to_oracle")
            rows.append([variant, m, R.fmt(R.num(src, *p, "mean_ppr_norm")), R.fmt(R.num(src, *p, "mean_qoe")),
                         R.fmt(R.opt_num(src, *p, "mean_jank_pct"), 2), R.fmt(rto)])  # fmt: skip
    if not rows:
        raise MetaDVFSError(f"{src.rel}: no '<variant>.summary' object")
    return R.md_table(["model", "method", "mean PPR", "mean QoE", "mean jank %", "ratio to oracle"], rows)


def action_modes(src: R.Source) -> list[str]:
    """Zero-shot on the held-out phone vs the training tasks, per action encoding (± std over training seeds)."""
    held = R.text(src, "settings", "held")
    n = len(R.lst(src, "train_seeds"))

    def pm(*p: str) -> str:
        v = R.fmt(R.num(src, *p))
        return v if n == 1 else f"{v} ± {R.fmt(R.num(src, *p[:-1], p[-1] + '_std', lo=0))}"

    rows = []
    for m in R.obj(src, "summary"):
        for g, label in (("heldout", f"held-out {held} (zero-shot)"), ("train", "training tasks")):
            p = ("summary", m, g)
            rows.append([m, label, pm(*p, "ppr"), pm(*p, "qoe"), R.fmt(R.num(src, *p, "ppr_over_oracle")),
                         f"{R.num(src, *p, 'qoe_floor', lo=0):.0f}/{R.num(src, *p, 'n_tasks', lo=1):.0f}"])  # fmt: skip
    spread = "" if n == 1 else f" (± std over {n} training seeds)"
    return R.md_table(["action mode", "tasks", f"mean PPR / stock{spread}", f"mean QoE{spread}", "PPR / oracle",
                       "QoE within 0.01 of stock"], rows)  # fmt: skip


def generator_ranges(src: R.Source) -> list[str]:
    """Leave one phone out: parameters of the held-out phone outside the generator's ranges."""
    rows = []
    for key in R.obj(src, "loo"):
        outside = [str(x) for x in R.lst(src, "loo", key, "outside")]
        pool, _, phone = key.partition("-")
        rows.append([phone, pool, len(outside), len(R.lst(src, "loo", key, "no_range")), "; ".join(outside) or "-"])
    return R.md_table(["held-out phone", "pool", "parameters outside", "without a range", "outside (value (range))"],
                      rows)  # fmt: skip


def coverage(src: R.Source) -> list[str]:
    """Per adaptation fold: held-out tasks whose metadata lies outside the fold's training tasks."""
    rows, tot, n_real, n_gen, phones = [], 0, 0, 0, []
    for fold in R.obj(src, "folds"):
        held = R.obj(src, "folds", fold, "heldout")
        real = sum(1 for t in held if R.lst(src, "folds", fold, "heldout", t, "real"))
        gen = sum(1 for t in held if R.lst(src, "folds", fold, "heldout", t, "real+generated"))
        outside = [f for t in held for f in R.lst(src, "folds", fold, "heldout", t, "real+generated")]
        fields = sorted({str(f["field"]) for f in outside})
        rows.append([fold, len(held), real, gen, ", ".join(fields) or "-"])
        tot, n_real, n_gen = tot + len(held), n_real + real, n_gen + gen
        if fold.startswith("device:"):
            phones.append(gen == len(held))
    tol = R.num(src, "settings", "tolerance", lo=0)
    head = (
        f"Held-out tasks with a metadata field more than {tol:.0%} of the training span outside the fold's training "
        f"tasks (the model extrapolates there): {n_real}/{tot} against the real training tasks, {n_gen}/{tot} with "
        "the generated ones."
    )
    if phones and all(phones):
        head += (
            " Every held-out phone is outside in some field, also with the generated phones: leaving one phone out "
            "is extrapolation here, not interpolation."
        )
    return [head, "", *R.md_table(["fold", "held-out tasks", "outside (real)", "outside (real + generated)",
                                   "fields outside (real + generated)"], rows)]  # fmt: skip


def sensitivity(src: R.Source) -> list[str]:
    """Per trained model: action entropy and the share of decisions that change with another task's metadata."""

    def per_domain(*path: str) -> str:
        return "/".join("-" if v is None else f"{R.num(src, *path, i, lo=0, hi=1):.2f}" for i, v in
                        enumerate(R.lst(src, *path)))  # fmt: skip

    rows, quick = [], []
    for label in R.obj(src, "models"):
        p = ("models", label)
        rows.append([label, per_domain(*p, "entropy"), per_domain(*p, "changed", "other phone"),
                     per_domain(*p, "changed", "other app"), per_domain(*p, "changed", "zeros")])  # fmt: skip
        if "quick" in label:
            quick += [float(v) for v in R.lst(src, *p, "entropy") if v is not None]
    head = [
        "Per domain little/mid/big/GPU. *Entropy*: normalised entropy of the actions over closed-loop rollouts "
        "(0: one fixed setting). *Changed*: share of decisions that change with the metadata of the same app on "
        "another phone, another app on the same phone, or zeros.",
        "",
    ]
    if quick and sum(quick) / len(quick) < FIXED_ENTROPY:
        head += [
            f"The quick experiments' models have mean action entropy {sum(quick) / len(quick):.2f}: they are close "
            "to fixed settings that react little to load or metadata, so the quick T3, T4 and T5/T6 tables compare "
            "such policies; the shipped model's row shows what a full budget learns.",
            "",
        ]
    return head + R.md_table(["model", "entropy", "changed: other phone", "changed: other app", "changed: zeros"],
                             rows)  # fmt: skip


def floor_term(src: R.Source) -> list[str]:
    """Per policy: the shipped default's training reward and its parts on the 30 tasks, and the tasks where the
    stock governor earns more of it."""
    tasks = [str(t) for t in R.lst(src, "tasks")]
    methods = list(R.obj(src, "methods"))
    if "stock" not in methods:
        raise MetaDVFSError(f"{src.rel}: methods: the stock governor's row is missing")

    def cell(m: str, i: int, key: str) -> float:
        return R.num(src, "methods", m, i, key)

    keys = ("reward", "qoe_part", "ppr_part", "floor_part", "shortfall")
    rows, below = [], {}
    for m in methods:
        means = [sum(cell(m, i, k) for i in range(len(tasks))) / len(tasks) for k in keys]
        under = sum(cell(m, i, "under_floor") for i in range(len(tasks))) / len(tasks)
        if m != "stock":
            below[m] = [t for i, t in enumerate(tasks) if cell("stock", i, "reward") > cell(m, i, "reward") + TOLERANCE]
        rows.append([m, *(f"{v:.4f}" for v in means), f"{100 * under:.1f} %",
                     "-" if m == "stock" else f"{len(below[m])}/{len(tasks)}"])  # fmt: skip
    w = R.obj(src, "weights")
    head = [
        f"Every policy scored with the shipped default's training reward ({R.num(src, 'weights', 'qoe'):g} x QoE + "
        f"{R.num(src, 'weights', 'ppr'):g} x PPR/PPR(schedutil) - {R.num(src, 'weights', 'qoe_floor'):g} x the "
        f"step's QoE shortfall under stock's mean QoE - {w.get('qoe_floor_margin', 0.01):g}), mean per 100 ms step "
        "over the evaluation's episodes. *Under*: share of steps under the floor. *Stock earns more*: tasks where "
        "the stock governor's choices score higher on this reward than the policy's.",
        "",
    ]
    out = head + R.md_table(["policy", "reward", "QoE part", "PPR part", "floor part", "shortfall", "under",
                             "stock earns more"], rows)  # fmt: skip
    if "default" in below:
        lost = below["default"]
        out += ["", f"**Here:** the stock governor earns more of the default's own training reward than the default "
                f"on {len(lost)}/{len(tasks)} tasks" + (f" ({', '.join(lost)})" if lost else "") + "; the stock "
                f"governor's own steps fall under the per-step floor on "
                f"{100 * sum(cell('stock', i, 'under_floor') for i in range(len(tasks))) / len(tasks):.1f} % of "
                "steps. Where a policy loses to stock on its own reward, the objective is not what asks for the loss: "
                "the shared policy does not reach the stock governor's choices there."]  # fmt: skip
    return out


def experiment_sections(root: Path) -> list[str]:
    """T3 to T6 and the supporting results, in report order."""
    out = adaptation_sections(root)
    out += zero_shot_sections(root)
    out += section(root, "T4: negative transfer", "negative_transfer", negative_transfer)
    out += section(root, "T5/T6: backbones (quality, parameters, latency)", "backbone", backbone)
    out += backbone_vs_shipped(root)
    out += backbone_subsets(root)
    out += ["## Supporting results (generalization)", ""]
    out += section(root, "CAVIA initialisation adapted by its context", "cavia", cavia, 3)
    out += section(root, "Generated training tasks, zero-shot on a held-out phone", "generated_zero_shot",
                   generated_zero_shot, 3)  # fmt: skip
    out += section(root, "Device generator ranges vs the real phones", "generator_ranges", generator_ranges, 3)
    out += section(root, "Action encoding, zero-shot on a held-out phone", "action_modes", action_modes, 3)
    out += section(root, "Metadata coverage of the held-out tasks", "metadata_coverage", coverage, 3)
    out += section(root, "Metadata sensitivity of the trained policies", "metadata_sensitivity", sensitivity, 3)
    out += section(root, "The default's training reward per task, and the QoE-floor term", "qoe_floor_term",
                   floor_term, 3)  # fmt: skip
    return out
