"""T1 (the main table), T2 (breakdowns and losses) and the peers table from stored ``metadvfs evaluate`` runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import _report_src as R

from metadvfs.core.domains import DOMAINS
from metadvfs.errors import MetaDVFSError

FOCUS = "metadvfs"
"""The learned method the tables are about (``metadvfs evaluate``'s row for ``--model``)."""
QOE_MARGIN = 0.01
"""A task is lost on QoE when MetaDVFS's QoE is below stock's minus this (the evaluation's QoE check)."""
EVAL_COMMAND = (
    "metadvfs evaluate --model default --tasks all --baselines stock,schedutil,oracle,standalone,joint "
    "--seeds 3 --seconds 60 --out docs/results/<name>"
)
PEERS_COMMAND = (
    "metadvfs evaluate --model default --tasks all --baselines stock,schedutil,oracle,ztt,gear --seeds 3 "
    "--seconds 60 --out docs/results/peers-<name>"
)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("ppr_norm", "PPR / {ref}", 3),
    ("ppr_norm_schedutil", "PPR / schedutil", 3),
    ("qoe", "QoE", 3),
    ("jank_pct", "jank %", 2),
    ("energy_j", "energy J", 1),
    ("max_temp_c", "max temp °C", 1),
)
"""(summary key without ``mean_``, header, decimals) of the T1 columns."""


def full_task_count() -> int:
    """Number of tasks in the catalog (an evaluation over all of them is a ``full`` run)."""
    from metadvfs.learn.tasks import all_task_names

    return len(all_task_names())


def _methods(run: R.EvalRun) -> dict[str, dict[str, Any]]:
    ms = R.obj(run.summary, "methods")
    if not ms:
        raise MetaDVFSError(f"{run.summary.rel}: field 'methods' is empty")
    for m in ms:
        for key in ("mean_ppr_norm", "mean_qoe"):
            R.num(run.summary, "methods", m, key)
    return ms


def _base(run: R.EvalRun, methods: dict[str, Any]) -> str:
    """The governor MetaDVFS is compared with: ``stock`` when evaluated, else the run's PPR reference."""
    return "stock" if "stock" in methods else R.text(run.summary, "reference")


def summary_table(run: R.EvalRun) -> list[str]:
    """T1-style table: per method mean over tasks (± std between runs when the summary has it)."""
    s = run.summary
    methods = _methods(run)
    ref = R.text(s, "reference")
    rows = []
    for m in methods:
        cells: list[Any] = [m, R.fmt(R.opt_num(s, "methods", m, "training_seeds"), 0)]
        for key, _, digits in COLUMNS:
            cells.append(R.fmt_pm(R.opt_num(s, "methods", m, f"mean_{key}"), R.opt_num(s, "methods", m, f"std_{key}"),
                                  digits))  # fmt: skip
        n = R.num(s, "n_tasks", lo=1)
        ok = R.opt_num(s, "methods", m, "tasks_qoe_ok")
        won = R.opt_num(s, "methods", m, "tasks_won")
        cells += [f"{ok:.0f}/{n:.0f}" if ok is not None else "-", R.fmt(won, 0)]
        rows.append(cells)
    header = ["method", "training seeds", *(h.format(ref=ref) for _, h, _ in COLUMNS), "QoE ok", "tasks won"]
    has_std = any(isinstance(v, dict) and "std_ppr_norm" in v for v in methods.values())
    note = ("Mean over tasks ± its standard deviation between runs: over training seeds for a row with `training "
            "seeds` (the mean over models trained with different seeds), else over evaluation seeds." if has_std else
            "Mean over tasks; this summary has no spread between runs (written before `metadvfs evaluate` recorded "
            "`std_*`), so the cells carry no ± std.")  # fmt: skip
    if any(r[1] != "-" for r in rows):
        note += " `training seeds` `-`: one trained model, or a governor."
    return [*R.md_table(header, rows), "", note]


def _by_task(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["task"], r["method"]): r for r in rows}


def _tasks(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["task"] for r in rows))


def _ratios(
    by: dict[tuple[str, str], dict[str, Any]], tasks: list[str], a: str, b: str, key: str
) -> list[tuple[float, str]]:
    """``(a / b, task)`` of ``key`` per task where both are finite and ``b`` is positive."""
    out = []
    for t in tasks:
        x, y = by.get((t, a), {}).get(key), by.get((t, b), {}).get(key)
        if x is not None and y is not None and not (math.isnan(x) or math.isnan(y)) and y > 0:
            out.append((x / y, t))
    return out


def _trade(e: float, q: float) -> str:
    """How energy and QoE move together against the compared governor (from the signs of the changes; an energy
    ratio within :data:`R.SAME_RATIO` of 1 counts as the same energy)."""
    if abs(e - 1) < R.SAME_RATIO:
        return "it gains QoE at the same energy" if q > 1 else "it does not gain QoE at the same energy"
    if e > 1 and q > 1:
        return "it buys QoE with energy"
    if e < 1 and q < 1:
        return "it saves energy at the cost of QoE"
    if e >= 1 and q <= 1:
        return "it spends at least as much energy without a QoE gain"
    return "it uses less energy for at least the same QoE"


def headline(run: R.EvalRun) -> list[str]:
    """The paper's T1 figures and the sentence computed from this run's numbers."""
    s = run.summary
    methods = _methods(run)
    out = [f"**Paper** ({R.PAPER_SOURCE}): up to {R.PAPER['ppr']} PPR and up to {R.PAPER['qoe']} QoE (against "
           "the best of schedutil, zTT, GearDVFS and Orthrus according to the survey)."]  # fmt: skip
    if FOCUS not in methods:
        return [*out, "", f"**Here:** no `{FOCUS}` row in {run.summary.cite()}."]
    base = _base(run, methods)
    ppr = R.num(s, "methods", FOCUS, "mean_ppr_norm") / R.num(s, "methods", base, "mean_ppr_norm", lo=1e-12)
    qoe = R.num(s, "methods", FOCUS, "mean_qoe") / R.num(s, "methods", base, "mean_qoe", lo=1e-12)
    n = R.num(s, "n_tasks", lo=1)
    theirs = f"{base}'s"
    here = (f"**Here:** over {n:.0f} tasks MetaDVFS's mean PPR is {R.rel(ppr, theirs)} and its mean "
            f"QoE {R.rel(qoe, theirs)}")  # fmt: skip
    e_m, e_b = R.opt_num(s, "methods", FOCUS, "mean_energy_j"), R.opt_num(s, "methods", base, "mean_energy_j")
    if e_m is not None and e_b:
        here += f"; its mean energy is {R.rel(e_m / e_b, theirs)}: {_trade(e_m / e_b, qoe)}"
    here += "."
    if run.per_task is not None:
        rows = R.per_task_rows(run.per_task)
        by, tasks = _by_task(rows), _tasks(rows)
        pr, qr = _ratios(by, tasks, FOCUS, base, "ppr_norm"), _ratios(by, tasks, FOCUS, base, "qoe")
        if pr and qr:
            lo, hi, qhi = min(pr), max(pr), max(qr)
            here += (f" Per task its PPR against {base} ranges from {R.pct(lo[0])} ({lo[1]}) to {R.pct(hi[0])} "
                     f"({hi[1]}) and its QoE reaches {R.pct(qhi[0])} ({qhi[1]}): the best task's PPR is "
                     f"{R.direction(hi[0] - 1, R.PAPER_PPR_PCT / 100, 'above', 'below')} the paper's {R.PAPER['ppr']} "
                     f"and the best task's QoE {R.direction(qhi[0] - 1, R.PAPER_QOE_PCT / 100, 'above', 'below')} "
                     f"its {R.PAPER['qoe']}.")  # fmt: skip
        sa = _ratios(by, tasks, FOCUS, "standalone", "ppr_norm")
        if sa:
            ge = sum(r >= 1 for r, _ in sa)
            mean = sum(r for r, _ in sa) / len(sa)
            here += (f" Against standalone per-task training (paper: {R.PAPER['standalone']} better): per task "
                     f"{R.pct(min(sa)[0])} to {R.pct(max(sa)[0])} in PPR, mean {R.pct(mean)}; MetaDVFS is at "
                     f"least as good on {ge}/{len(sa)} tasks.")  # fmt: skip
    return [*out, "", here]


def _group_means(
    rows: list[dict[str, Any]], key_of: Callable[[dict[str, Any]], str]
) -> tuple[list[str], list[str], dict[tuple[str, str], tuple[float, float]]]:
    groups = list(dict.fromkeys(key_of(r) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    means = {}
    for g in groups:
        for m in methods:
            rr = [r for r in rows if key_of(r) == g and r["method"] == m]
            if rr:
                means[(g, m)] = (sum(r["ppr_norm"] for r in rr) / len(rr), sum(r["qoe"] for r in rr) / len(rr))
    return groups, methods, means


def breakdown(rows: list[dict[str, Any]], by: str) -> list[str]:
    """Mean PPR / QoE per device (``by="device"``) or per app, every method."""
    groups, methods, means = _group_means(rows, lambda r: r[by])
    table = [[g, *(f"{means[(g, m)][0]:.3f} / {means[(g, m)][1]:.3f}" if (g, m) in means else "-" for m in methods)]
             for g in groups]  # fmt: skip
    return R.md_table([by, *methods], table)


def losses(run: R.EvalRun, rows: list[dict[str, Any]]) -> list[str]:
    """The tasks where MetaDVFS loses to stock: PPR below it, or QoE below its QoE - 0.01 (per-task numbers)."""
    methods = _methods(run)
    base = _base(run, methods)
    by, tasks = _by_task(rows), _tasks(rows)
    if not all((t, FOCUS) in by and (t, base) in by for t in tasks):
        return [f"No per-task `{FOCUS}` and `{base}` rows in {run.per_task.cite() if run.per_task else '-'}."]
    extra = [k for k in ("energy_j", "jank_pct") if all(k in by[(t, FOCUS)] for t in tasks)]
    doms = [d for d in DOMAINS if all(f"power_{d}_mw" in by[(t, m)] for t in tasks for m in (FOCUS, base))]
    table, n_ppr, n_qoe = [], 0, 0
    for t in tasks:
        a, b = by[(t, FOCUS)], by[(t, base)]
        low_ppr, low_qoe = a["ppr_norm"] < b["ppr_norm"], a["qoe"] < b["qoe"] - QOE_MARGIN
        if not (low_ppr or low_qoe):
            continue
        n_ppr, n_qoe = n_ppr + low_ppr, n_qoe + low_qoe
        cells = [t, f"{a['ppr_norm']:.3f} / {a['qoe']:.3f}", f"{b['ppr_norm']:.3f} / {b['qoe']:.3f}",
                 R.pct(a["ppr_norm"] / b["ppr_norm"]) if b["ppr_norm"] > 0 else "-", f"{a['qoe'] - b['qoe']:+.3f}",
                 " and ".join(w for w, f in (("PPR", low_ppr), ("QoE", low_qoe)) if f)]  # fmt: skip
        if "energy_j" in extra:
            cells.append(R.pct(a["energy_j"] / b["energy_j"]) if b["energy_j"] > 0 else "-")
        if "jank_pct" in extra:
            cells.append(f"{a['jank_pct']:.2f} vs {b['jank_pct']:.2f}")
        if doms:
            cells.append(_domain_shift(a, b, doms))
        table.append(cells)
    head = (f"MetaDVFS loses to {base} on {len(table)}/{len(tasks)} tasks: PPR below {base}'s on {n_ppr}, QoE below "
            f"{base}'s − {QOE_MARGIN} on {n_qoe}.")  # fmt: skip
    if not table:
        return [head]
    lost = {c[0] for c in table}
    for i, kind in enumerate(("device", "app")):
        part = {t: t.split(":", 1)[i] for t in tasks}
        groups = list(dict.fromkeys(part.values()))
        counts = ", ".join(f"{g} {sum(part[t] == g for t in lost)}/{sum(part[t] == g for t in tasks)}" for g in groups)
        head += f" Per {kind}: {counts}."
    header = ["task", f"{FOCUS} PPR / QoE", f"{base} PPR / QoE", "PPR change", "QoE difference", "loses on"]
    header += [{"energy_j": f"energy vs {base}", "jank_pct": f"jank % ({FOCUS} vs {base})"}[k] for k in extra]
    if doms:
        header.append(f"largest power change by domain (frequency, MHz: {FOCUS} vs {base})")
    return [head, "", *R.md_table(header, table)]


def _domain_shift(a: dict[str, Any], b: dict[str, Any], doms: list[str]) -> str:
    """The domain whose mean power differs most between two methods' rows, signed, with both mean frequencies.

    Args:
        a: The method's per-task row (``power_<domain>_mw``, ``freq_<domain>_mhz``; NaN: the phone lacks it).
        b: The reference's row on the same task.
        doms: Domains whose columns the run stored.

    Returns:
        e.g. ``"gpu +182 mW (536 vs 389 MHz)"``, or ``"-"`` when no domain has finite values.
    """
    best: tuple[str, float] | None = None
    for d in doms:
        dp = a[f"power_{d}_mw"] - b[f"power_{d}_mw"]
        if not math.isnan(dp) and (best is None or abs(dp) > abs(best[1])):
            best = (d, dp)
    if best is None:
        return "-"
    d, dp = best
    fa, fb = a.get(f"freq_{d}_mhz", math.nan), b.get(f"freq_{d}_mhz", math.nan)
    return f"{d} {dp:+.0f} mW ({fa:.0f} vs {fb:.0f} MHz)"


def _run_label(run: R.EvalRun) -> str:
    n = R.num(run.summary, "n_tasks", lo=1)
    seeds = R.lst(run.summary, "seeds")
    sec = R.num(run.summary, "seconds", lo=0)
    kind = "full" if n >= full_task_count() else "partial"
    return f"{kind} ({n:.0f} tasks × {len(seeds)} evaluation seeds × {sec:g} s episodes)"


def _per_task_note(run: R.EvalRun) -> str:
    assert run.per_task is not None
    if isinstance(run.per_task.doc, list):
        return f"Per-task values from {run.per_task.cite()}."
    return (f"Per-task values as printed in {run.per_task.cite()} (3 decimals; no `results.csv` stored next to "
            "the summary, so PPR and QoE only).")  # fmt: skip


def main_sections(runs: list[R.EvalRun]) -> list[str]:
    """T1 and T2 for every main (non-peers) evaluation, or what is missing and which command produces it."""
    main = [r for r in runs if not r.name.startswith("peers")]
    if not main:
        return ["## T1: main table", "",
                f"**Missing.** No `metadvfs evaluate` run in `{R.EVAL_DIR}/` (`<name>/summary.json` or "
                f"`<name>-summary.json`). Produce it with `{EVAL_COMMAND}`.", "",
                "## T2: per-device and per-app breakdowns, and the tasks MetaDVFS loses", "",
                "**Missing** (needs the T1 run's per-task results).", ""]  # fmt: skip
    out: list[str] = []
    for run in main:
        prov = run.provenance(_run_label(run))
        out += [f"## T1: main table ({run.name})", "", *headline(run), "", *summary_table(run), "", prov, ""]
        out += [f"## T2: per-device and per-app breakdowns, and the tasks MetaDVFS loses ({run.name})", ""]
        if run.per_task is None:
            out += [f"**Missing.** No per-task results next to {run.summary.cite()}: store `metadvfs evaluate`'s "
                    f"`results.csv` as `{R.EVAL_DIR}/{run.name}-results.csv` (or the whole `--out` directory as "
                    f"`{R.EVAL_DIR}/{run.name}/`).", ""]  # fmt: skip
            continue
        rows = R.per_task_rows(run.per_task)
        out += [_per_task_note(run), "", "Mean PPR / QoE per device:", "", *breakdown(rows, "device"), "",
                "Mean PPR / QoE per app:", "", *breakdown(rows, "app"), "", *losses(run, rows), ""]  # fmt: skip
    return out


def peers_sections(runs: list[R.EvalRun]) -> list[str]:
    """The peers comparison (zTT, GearDVFS) for every ``peers*`` evaluation, or the command that produces it."""
    peers = [r for r in runs if r.name.startswith("peers")]
    out = ["## Peers: zTT and GearDVFS", ""]
    if not peers:
        return [*out, f"**Missing.** No `{R.EVAL_DIR}/peers*` evaluation (`peers-<name>/summary.json` or "
                f"`peers-<name>-summary.json`) and no `{R.RESULTS_DIR}/peers/{{full,quick}}/eval/summary.json`. "
                f"Produce it with `{PEERS_COMMAND}`.", ""]  # fmt: skip
    for run in peers:
        prov = run.provenance(_run_label(run))
        out += [f"### {run.name}", "", *headline(run), "", *summary_table(run), ""]
        if run.per_task is not None:
            rows = R.per_task_rows(run.per_task)
            out += [_per_task_note(run), "", "Mean PPR / QoE per app:", "", *breakdown(rows, "app"), ""]
        out += [prov, ""]
    return out
