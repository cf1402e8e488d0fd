"""Reports of ``experiments/adaptation.py``: aggregates, the quality-vs-phone-minutes figure, ``results.md`` /
``results.json``, and pooling stored per-fold results (``--pool``).

Split from the script so the orchestration (fold plans, Ray units) and the reporting read apart; the script
re-exports the public names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as C
import _report_src as R
import _targets as T
import numpy as np

from metadvfs.meta.adapt import METHODS_ALL
from metadvfs.meta.measure import QOE_TOLERANCE, QUALITY_FRACTION, meets

METHODS = ("context", "finetune", "meta", "joint", "incremental", "scratch")
"""The adaptation methods an experiment runs unless ``--methods`` says otherwise."""
REPORT_METHODS = METHODS_ALL
"""Every adaptation method, in report order (:data:`metadvfs.meta.adapt.METHODS_ALL`); a report shows those its
runs have."""
TARGET_MINUTES = T.ADAPT_MINUTES
"""Issue 10's adaptation target, phone-minutes."""

SEED_SPREAD_KEYS = ("zero_shot_ppr_norm", "zero_shot_qoe", "vs_reference_minutes", "vs_oracle_minutes")
"""Per-method quantities whose spread over training seeds :func:`aggregate` reports."""


def met_then_lost(run: dict[str, Any], method: str) -> bool | None:
    """Whether a method's run met both clauses of 95 % of the reference at a point at or before
    :data:`TARGET_MINUTES` but did not stay there from any such point (its minutes to 95 % are later, or never).

    These are the runs an adaptation that never let quality fall below what it had reached would have within
    the target; the rest of the misses never met the reference by then. None without a curve or a reference.
    """
    e = run["methods"][method]
    if not run.get("reference") or "curve" not in e:
        return None
    t95 = e["vs_reference"]["minutes_to_95"]
    if t95 is not None and t95 <= TARGET_MINUTES:
        return False
    first = first_met(run, method)  # curve points are in time order
    return first is not None and first <= TARGET_MINUTES


def first_met(run: dict[str, Any], method: str) -> float | None:
    """Phone-minute of the first curve point of a method's run that meets both clauses of 95 % of the reference
    (None if no point does, or without a curve or a reference).

    A run that deployed that policy and kept it would have these minutes to 95 %: the ceiling of any rule that
    keeps a policy once it is good enough, which a phone cannot apply as such (it needs the reference's quality on
    held-out episodes).
    """
    e = run["methods"][method]
    ref = run.get("reference")
    if not ref or "curve" not in e:
        return None
    ppr, qoe = QUALITY_FRACTION * ref["ppr_norm"], ref["qoe"] - QOE_TOLERANCE
    return next((float(p[0]) for p in e["curve"] if meets(p, ppr, qoe)), None)


def _censored(raw: list[float | None], budget: float) -> np.ndarray:
    """Minutes per run, a run that never got there (None) counted at ``budget``."""
    return np.array([budget if x is None else x for x in raw], dtype=float)


def _within_target(raw: list[float | None]) -> int:
    """Runs that got there within :data:`TARGET_MINUTES` (None: never)."""
    return int(sum(x is not None and x <= TARGET_MINUTES for x in raw))


def _first_met_stats(runs: list[dict[str, Any]], methods: list[str], budget: float) -> dict[str, dict[str, Any]]:
    """Per method, :func:`first_met` over the runs (censored at ``budget``) and its reduction against scratch's
    first-met minutes and against scratch's minutes to 95 %; empty when a run has no curve or no reference."""
    if not all(r.get("reference") and "curve" in r["methods"][m] for r in runs for m in methods):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        raw = [first_met(r, m) for r in runs]
        arr = _censored(raw, budget)
        out[m] = {"minutes_mean": float(arr.mean()), "within_target": _within_target(raw)}
    if "scratch" in out:
        sc_first = out["scratch"]["minutes_mean"]
        sc_stay = float(_censored([r["methods"]["scratch"]["minutes_to_95"] for r in runs], budget).mean())
        for e in out.values():
            e["reduction_pct_vs_scratch_first_met"] = (
                float(100 * (1 - e["minutes_mean"] / sc_first)) if sc_first else None
            )
            e["reduction_pct_vs_scratch_minutes_to_95"] = (
                float(100 * (1 - e["minutes_mean"] / sc_stay)) if sc_stay else None
            )
    return out


STEP_METHODS = ("finetune", "finetune-slow")
"""The full and the small fine-tuning step (:data:`metadvfs.meta.adapt.SLOW_LR_SCALE`), which
:func:`step_choice` picks between per run."""


def _at_stock(run: dict[str, Any]) -> bool:
    """Whether a run's zero-shot quality already meets the stock governor's (PPR at least stock's, QoE at least
    stock's − the tolerance): what a phone can measure before adapting (``metadvfs adapt --stock-seconds``)."""
    z, st = run["methods"]["finetune"]["zero_shot"], run["stock"]
    return bool(z["ppr_norm"] >= st["ppr_norm"] and z["qoe"] >= st["qoe"] - QOE_TOLERANCE)


STEP_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "small step inside the training range (no metadata field outside)": lambda r: not r.get("extrapolated"),
    "small step where zero-shot already meets stock": _at_stock,
}
"""Rules that pick the small step for a run from what is known before adapting (True: small step)."""


def step_choice(runs: list[dict[str, Any]], budget: float) -> dict[str, dict[str, Any]]:
    """Minutes to 95 % of the reference when each run takes one of the two fine-tuning steps (:data:`STEP_METHODS`).

    ``best of the two per run`` takes the faster of the two measured runs: a bound no rule that picks a step per
    task or per run can beat on these runs. Each of :data:`STEP_RULES` picks from what is known before adapting.
    Empty unless every run has both steps and scratch.

    Args:
        runs: ``metadvfs adapt`` reports.
        budget: Budget in phone-minutes (the value a run that never reached 95 % counts as).

    Returns:
        ``{selector: {"small_step_runs", "minutes_mean", "within_target", "reduction_pct_vs_scratch"}}``.
    """
    if not runs or not all(m in r["methods"] for r in runs for m in (*STEP_METHODS, "scratch")):
        return {}

    def minutes(r: dict[str, Any], m: str) -> float | None:
        v: float | None = r["methods"][m]["vs_reference"]["minutes_to_95"]
        return v

    sc = float(_censored([minutes(r, "scratch") for r in runs], budget).mean())
    full, small = (_censored([minutes(r, m) for r in runs], budget) for m in STEP_METHODS)
    picks = {"best of the two per run": small < full}
    picks.update({name: np.array([rule(r) for r in runs]) for name, rule in STEP_RULES.items()})
    out: dict[str, dict[str, Any]] = {}
    for name, pick in picks.items():
        arr = np.where(pick, small, full)
        raw = [minutes(r, STEP_METHODS[int(p)]) for r, p in zip(runs, pick, strict=True)]
        out[name] = {
            "small_step_runs": int(pick.sum()),
            "minutes_mean": float(arr.mean()),
            "within_target": _within_target(raw),
            "reduction_pct_vs_scratch": float(100 * (1 - arr.mean() / sc)) if sc > 0 else None,
        }
    return out


def aggregate(runs: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    """Per method: zero-shot and final quality, minutes to 95 % (censored at the budget), reduction vs scratch.

    Means and stds are over all runs (training seed x adaptation seed x held-out task). The spread over training
    seeds: per training seed the mean over its runs of each of :data:`SEED_SPREAD_KEYS` (``per_train_seed``),
    and the population std of those means (``<key>_train_seed_std``, None with one training seed). A run without
    ``train_seed`` (written before training seeds existed) counts as the base seed.

    Args:
        runs: ``metadvfs adapt`` reports.
        budget: Budget in phone-minutes (the value a run that never reached 95 % counts as).

    Returns:
        ``{method: {...}}`` plus ``n_runs`` and ``train_seeds``.
    """
    tseed = [int(r.get("train_seed", C.BASE_SEED)) for r in runs]
    tseeds = sorted(set(tseed))
    out: dict[str, Any] = {"n_runs": len(runs), "train_seeds": tseeds}
    methods = present_methods(runs)
    mins: dict[str, dict[str, np.ndarray]] = {}
    for m in methods:
        e: dict[str, Any] = {}
        for key in ("zero_shot", "final", "best"):
            for q in ("ppr_norm", "qoe"):
                v = [r["methods"][m][key][q] for r in runs]
                e[f"{key}_{q}_mean"], e[f"{key}_{q}_std"] = float(np.mean(v)), float(np.std(v))
        ratio_or = [r["methods"][m]["zero_shot"]["ppr_norm"] / r["oracle"]["ppr_norm"] for r in runs]
        e["zero_shot_ratio_to_oracle_mean"] = float(np.mean(ratio_or))
        e["zero_shot_qoe_ok"] = int(sum(r["methods"][m]["zero_shot"]["qoe"] >= r["stock"]["qoe"] - 0.01 for r in runs))
        mins[m] = {}
        for vs in ("vs_reference", "vs_oracle"):
            raw = [r["methods"][m][vs]["minutes_to_95"] for r in runs]
            arr = _censored(raw, budget)
            mins[m][vs] = arr
            e[f"{vs}_minutes_mean"], e[f"{vs}_minutes_std"] = float(arr.mean()), float(arr.std())
            e[f"{vs}_reached"] = int(sum(x is not None for x in raw))
            e[f"{vs}_within_target"] = _within_target(raw)
        lost = [met_then_lost(r, m) for r in runs]
        e["vs_reference_met_then_lost"] = None if None in lost else int(sum(map(bool, lost)))
        e["fallback_share_mean"] = float(np.mean([r["methods"][m]["fallback_share"] for r in runs]))
        per_run = {
            "zero_shot_ppr_norm": np.array([r["methods"][m]["zero_shot"]["ppr_norm"] for r in runs], dtype=float),
            "zero_shot_qoe": np.array([r["methods"][m]["zero_shot"]["qoe"] for r in runs], dtype=float),
            "vs_reference_minutes": mins[m]["vs_reference"],
            "vs_oracle_minutes": mins[m]["vs_oracle"],
        }
        sel = {sd: np.array([t == sd for t in tseed]) for sd in tseeds}
        e["per_train_seed"] = [
            {"seed": sd, **{k: float(per_run[k][sel[sd]].mean()) for k in SEED_SPREAD_KEYS}} for sd in tseeds
        ]
        for k in SEED_SPREAD_KEYS:
            spread = C.seed_spread([p[k] for p in e["per_train_seed"]])[1]
            e[f"{k}_train_seed_std"] = spread if len(tseeds) > 1 else None
        out[m] = e
    if "scratch" in mins:
        for m in methods:
            for vs in ("vs_reference", "vs_oracle"):
                sc = mins["scratch"][vs].mean()
                out[m][f"{vs}_reduction_pct"] = float(100 * (1 - mins[m][vs].mean() / sc)) if sc > 0 else None
    first = _first_met_stats(runs, methods, budget)
    if first:
        out["first_met"] = first
    steps = step_choice(runs, budget)
    if steps:
        out["step_choice"] = steps
    out["reference_ppr_mean"] = float(np.mean([r["reference"]["ppr_norm"] for r in runs if r["reference"]]))
    out["oracle_ppr_mean"] = float(np.mean([r["oracle"]["ppr_norm"] for r in runs]))
    out["stock_qoe_mean"] = float(np.mean([r["stock"]["qoe"] for r in runs]))
    return out


def _curve_column(runs: list[dict[str, Any]], method: str, col: int) -> tuple[np.ndarray, np.ndarray]:
    """Phone-minutes and one curve column (1: ``ppr_norm``, 2: ``qoe``) of a method, one row per run, cut to the
    shortest run's points."""
    cs = [np.asarray(r["methods"][method]["curve"], dtype=float) for r in runs]
    n = min(len(c) for c in cs)
    return cs[0][:n, 0], np.stack([c[:n, col] for c in cs])


def mean_curve(runs: list[dict[str, Any]], method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over runs of a method's ``ppr_norm / reference ppr_norm`` against phone-minutes."""
    x, ppr = _curve_column(runs, method, 1)
    ref = np.array([r["reference"]["ppr_norm"] if r["reference"] else 1.0 for r in runs])
    rel = ppr / ref[:, None]
    return x, rel.mean(axis=0), rel.std(axis=0)


def mean_qoe_gap(runs: list[dict[str, Any]], method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over runs of a method's QoE minus the task-specific reference's, against phone-minutes."""
    x, qoe = _curve_column(runs, method, 2)
    gap = qoe - np.array([r["reference"]["qoe"] if r["reference"] else 0.0 for r in runs])[:, None]
    return x, gap.mean(axis=0), gap.std(axis=0)


def share_reached(runs: list[dict[str, Any]], method: str, minutes: np.ndarray) -> np.ndarray:
    """Share of runs whose ``minutes_to_95`` (against the reference) is at most each of ``minutes``.

    The empirical distribution of the measure itself: a run counts from the point after which its PPR stays >= 95 %
    of the reference's and its QoE >= the reference's - 0.01.
    """
    got = np.array([np.inf if r["methods"][method]["minutes_to_95"] is None else r["methods"][method]["minutes_to_95"]
                    for r in runs], dtype=float)  # fmt: skip
    return (got[None, :] <= minutes[:, None] + 1e-9).mean(axis=1)


def plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    """Per fold kind, against phone-minutes: held-out PPR relative to the task-specific reference, QoE minus the
    reference's, and the share of runs at 95 % of the reference (both clauses of ``minutes_to_95``)."""
    plt = C.matplotlib_agg()
    kinds = [k for k in ("device", "app") if any(r["kind"] == k for r in runs)]
    fig, axes = plt.subplots(3, len(kinds), figsize=(5.4 * len(kinds), 9.6), squeeze=False, sharex=True)
    for col, kind in enumerate(kinds):
        rr = [r for r in runs if r["kind"] == kind]
        ax_p, ax_q, ax_s = (axes[row][col] for row in range(3))
        for m in present_methods(rr):
            x, y, sd = mean_curve(rr, m)
            (line,) = ax_p.plot(x, y, marker=".", ms=3, label=m)
            ax_p.fill_between(x, y - sd, y + sd, alpha=0.08, color=line.get_color())
            xq, gq, _ = mean_qoe_gap(rr, m)
            ax_q.plot(xq, gq, marker=".", ms=3, color=line.get_color(), label=m)
            ax_s.step(x, share_reached(rr, m, x), where="post", color=line.get_color(), label=m)
        ax_p.axhline(QUALITY_FRACTION, color="k", ls="--", lw=1, label="95 % of reference")
        ax_q.axhline(-QOE_TOLERANCE, color="k", ls="--", lw=1, label="reference - 0.01")
        for ax in (ax_p, ax_q, ax_s):
            ax.axvline(TARGET_MINUTES, color="grey", ls=":", lw=1)
            ax.tick_params(labelsize=7)
        ax_p.set_title(f"leave-one-{kind}-out ({len(rr)} runs)", fontsize=9)
        ax_p.set_ylabel("held-out PPR / reference PPR\n(mean ± std over runs)", fontsize=8)
        ax_q.set_ylabel("held-out QoE - reference QoE\n(mean over runs)", fontsize=8)
        ax_s.set_ylabel("share of runs at 95 % of the\nreference (PPR and QoE clause)", fontsize=8)
        ax_s.set_ylim(-0.02, 1.02)
        ax_s.set_xlabel(f"adaptation cost (phone-minutes; dotted: the {TARGET_MINUTES:g}-minute target)", fontsize=8)
        ax_p.legend(fontsize=7)
    fig.tight_layout()
    C.savefig(fig, path)


def present_methods(runs: list[dict[str, Any]]) -> list[str]:
    """The methods every run has, in :data:`REPORT_METHODS` order."""
    return [m for m in REPORT_METHODS if all(m in r["methods"] for r in runs)]


def _timing_cell(f: dict[str, Any], key: str, s: dict[str, Any]) -> str:
    """A Source models cell: training seconds, ``reused`` (trained by an earlier run) or ``-`` (no chosen method
    needs that model)."""
    needs = {"joint_train_s": "joint", "meta_train_s": "meta"}.get(key)
    if needs is not None and needs not in s.get("methods", METHODS):
        return "-"
    return "reused" if f["timing"].get(key) is None else f"{f['timing'][key]:.0f}"


def _seed_spread_cell(e: dict[str, Any]) -> str:
    """``± zero-shot PPR / ± zero-shot QoE / ± minutes to 95 %`` over training seeds (``-`` with one seed)."""
    if e.get("zero_shot_ppr_norm_train_seed_std") is None:
        return "-"
    return (f"± {e['zero_shot_ppr_norm_train_seed_std']:.3f} / ± {e['zero_shot_qoe_train_seed_std']:.3f} / "
            f"± {e['vs_reference_minutes_train_seed_std']:.2f}")  # fmt: skip


def _method_rows(a: dict[str, Any]) -> list[list[str]]:
    """One results.md row per method of an :func:`aggregate` scope."""
    rows = []
    for m in REPORT_METHODS:
        if m not in a:
            continue
        e = a[m]
        red = e.get("vs_reference_reduction_pct")
        rows.append([
            m,
            f"{e['zero_shot_ppr_norm_mean']:.3f} ± {e['zero_shot_ppr_norm_std']:.3f} / {e['zero_shot_qoe_mean']:.3f}",
            f"{e['zero_shot_ratio_to_oracle_mean']:.3f}",
            f"{e['final_ppr_norm_mean']:.3f} ± {e['final_ppr_norm_std']:.3f} / {e['final_qoe_mean']:.3f}",
            f"{e['vs_reference_minutes_mean']:.2f} ± {e['vs_reference_minutes_std']:.2f}",
            f"{e['vs_reference_reached']}/{a['n_runs']} ({e['vs_reference_within_target']} ≤ {TARGET_MINUTES})",
            "-" if e.get("vs_reference_met_then_lost") is None else str(e["vs_reference_met_then_lost"]),
            "-" if red is None else f"{red:+.0f} %",
            f"{e['vs_oracle_minutes_mean']:.2f} ({e['vs_oracle_reached']}/{a['n_runs']})",
            f"{e['fallback_share_mean']:.1%}",
            *([_seed_spread_cell(e)] if len(a["train_seeds"]) > 1 else []),
        ])  # fmt: skip
    return rows


def under_floor(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per method, the runs whose zero-shot QoE is under the adaptation's QoE floor, and what became of them.

    Returns:
        ``{method: {"runs", "qoe_gain" (final - zero-shot QoE, mean), "fallback_share" (mean share of decisions the
        stock rule took), "under_at_end" (runs whose final QoE is still under the floor)}}`` for the methods with
        such runs; runs without a floor (``qoe_floor`` None) are left out.
    """
    out: dict[str, dict[str, float]] = {}
    for m in REPORT_METHODS:
        rr = [(r["methods"][m], r["qoe_floor"]) for r in runs if m in r["methods"] and r.get("qoe_floor") is not None]
        low = [(e, f) for e, f in rr if e["zero_shot"]["qoe"] < f]
        if low:
            out[m] = {
                "runs": len(low),
                "qoe_gain": float(np.mean([e["final"]["qoe"] - e["zero_shot"]["qoe"] for e, _ in low])),
                "fallback_share": float(np.mean([e["fallback_share"] for e, _ in low])),
                "under_at_end": sum(e["final"]["qoe"] < f for e, f in low),
            }
    return out


def first_met_section(a: dict[str, Any]) -> list[str]:
    """results.md lines: the ceiling of keeping the first policy that met the reference (:func:`first_met`)."""
    fm = a.get("first_met")
    if not fm or "scratch" not in fm:
        return []

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:+.0f} %"

    rows = [[m, f"{e['minutes_mean']:.2f}", f"{e['within_target']}/{a['n_runs']}",
             pct(e["reduction_pct_vs_scratch_first_met"]), pct(e["reduction_pct_vs_scratch_minutes_to_95"])]
            for m, e in fm.items()]  # fmt: skip
    return [
        "## Ceiling of keeping the first policy that met the reference (all runs)",
        "",
        "If each run had deployed the first policy that met both clauses and kept it, its minutes to 95 % would "
        "be that point's (*first met*, censored at the budget). No rule on a phone does better: it would need the "
        "reference's quality on held-out episodes to know the point. The last two columns compare with scratch "
        "under the same rule and with scratch as measured (the rule given to one method only).",
        "",
        *C.md_table(
            [
                "method",
                "first met (mean min)",
                f"first met ≤ {TARGET_MINUTES:g} min",
                "vs scratch, same rule",
                "vs scratch as measured",
            ],
            rows,
        ),
        "",
    ]


def step_choice_section(agg: dict[str, dict[str, Any]]) -> list[str]:
    """results.md lines: choosing the fine-tuning step per run (:func:`step_choice`), per scope."""
    rows = [
        [scope, name, f"{e['small_step_runs']}/{a['n_runs']}", f"{e['minutes_mean']:.2f}",
         f"{e['within_target']}/{a['n_runs']}", "-" if e["reduction_pct_vs_scratch"] is None
         else f"{e['reduction_pct_vs_scratch']:.0f} %"]
        for scope, a in agg.items() for name, e in a.get("step_choice", {}).items()
    ]  # fmt: skip
    if not rows:
        return []
    header = ["scope", "selector", "small-step runs", "min to 95 % ref (mean)", f"within {TARGET_MINUTES:g} min",
              "vs scratch"]  # fmt: skip
    return [
        "## Choosing the fine-tuning step per run",
        "",
        f"Each run takes the full step (`{STEP_METHODS[0]}`) or the small one (`{STEP_METHODS[1]}`), its measured "
        "minutes to 95 % of the reference. *Best of the two per run* knows which was faster: no rule that picks a "
        "step per task or run does better on these runs. The other selectors use what is known before adapting: "
        "the task's metadata fields against the model's training range (the run's `extrapolated`), or whether "
        "the zero-shot policy already meets the stock governor's PPR and QoE on the held-out episodes.",
        "",
        *C.md_table(header, rows),
        "",
    ]


def floor_section(runs: list[dict[str, Any]]) -> list[str]:
    """results.md lines: the runs that start under the QoE floor, per method (:func:`under_floor`)."""
    u = under_floor(runs)
    if not u:
        return []
    rows = [[m, f"{e['runs']:.0f}", f"{e['qoe_gain']:+.3f}", f"{e['fallback_share']:.0%}", f"{e['under_at_end']:.0f}"]
            for m, e in u.items()]  # fmt: skip
    return [
        "## Runs that start under the QoE floor",
        "",
        "A run's QoE floor is stock's QoE on the task minus the margin; under it, the stock rule takes the next "
        "interval. Per method, the runs whose zero-shot QoE is under the floor: their QoE gain over the budget, "
        "the share of decisions the stock rule took, and how many are still under the floor at the end.",
        "",
        *C.md_table(["method", "runs", "QoE gain", "stock-rule share", "still under at the end"], rows),
        "",
    ]


def runs_cost_sentence(
    runs: list[dict[str, Any]],
    wall: float,
    folds: list[dict[str, Any]] | None = None,
    pooled: bool = False,
    methods: list[str] | None = None,
) -> str:
    """What the adaptation runs cost, from each run's own ``wall_s``, next to this invocation's wall time.

    Run reports (and models) made by an earlier invocation are reused from the work directory, and a pool
    (``pooled``) only reads stored results, so this invocation's wall time alone can understate the cost; the
    sum of the runs' own wall times says what they cost, and :func:`_report_src.invocation_scope` (the wording
    REPORT uses too) says what the wall time covers.

    Args:
        runs: Run reports (``wall_s``, s, where recorded).
        wall: This invocation's wall time, s.
        folds: The fold plans, each with its ``timing`` (training times, s; ``None`` for a reused model).
        pooled: This invocation pooled stored results.
        methods: The adaptation methods run (None: all; see :func:`_report_src.invocation_scope`).
    """
    own = [float(r["wall_s"]) for r in runs if isinstance(r.get("wall_s"), int | float)]
    took = f"{wall:.1f} s" if pooled else f"{wall / 60:.1f} min wall"
    this = f"this invocation took {took} and {R.invocation_scope(pooled, folds or [], methods)}"
    if not own:
        return this[0].upper() + this[1:] + "."
    return (
        f"Adaptation runs: {len(own)} of {len(runs)} record their own wall time, {sum(own) / 3600:.1f} h in all "
        f"(median {float(np.median(own)):.0f} s per run, all methods); {this}."
    )


def report(
    folds: list[dict[str, Any]],
    s: dict[str, Any],
    seeds: list[int],
    train_seeds: list[int],
    wall: float,
    out: Path,
    sources: list[str] | None = None,
) -> None:
    """Markdown tables + JSON + figure.

    Args:
        folds: One :func:`fold_plan` per (fold, training seed), with its ``runs`` and ``timing``.
        s: Settings.
        seeds: Adaptation seeds.
        train_seeds: Training seeds of the fold models.
        wall: Wall time of the run, s.
        out: Report directory.
        sources: For a pool of stored results (:func:`pool_results`), their directories: the JSON then names
            them (``sources``) and keeps each run without its curves (the figure is drawn from them here; the
            sources keep them), so a pool does not repeat megabytes of curve points.
    """
    runs = [r for f in folds for r in f["runs"]]
    scopes = {"all": runs}
    for kind in ("device", "app"):
        rr = [r for r in runs if r["kind"] == kind]
        if rr:
            scopes[f"leave-one-{kind}-out"] = rr
    budget = float(runs[0]["methods"]["scratch"]["curve"][-1][0]) if runs else s["budget_minutes"]
    agg = {k: aggregate(v, budget) for k, v in scopes.items()}
    n_ts = len(train_seeds)
    names = list(dict.fromkeys(f["fold"] for f in folds))
    held = list(dict.fromkeys(t for f in folds for t in f["heldout"]))
    ts_txt = (
        f"training seed {train_seeds[0]} for the fold models"
        if n_ts == 1
        else f"{n_ts} training seeds ({', '.join(map(str, train_seeds))}) for the fold models, every held-out task "
        "adapted from each training seed's models with every adaptation seed: means and ± are over all (training "
        "seed × adaptation seed × task) runs, and the last column is the spread over training seeds (std of the "
        "per-training-seed means) of zero-shot PPR, zero-shot QoE and minutes to 95 % of the reference"
    )
    md = [
        "# Zero-shot quality and adaptation on held-out phones and apps",
        "",
        f"Folds: {', '.join(names)}; held-out tasks: {', '.join(held)}; adaptation seeds {seeds}; {ts_txt}. "
        f"Budget per method and run "
        f"{budget:.2f} phone-minutes ({s['phones']} simulated phones x {s['rollout']} decisions per update; "
        f"phone-minutes = decisions x 0.1 s / 60). Quality = mean PPR normalised to the evaluation code's stock "
        f"reference and QoE on {s['eval_seeds']} held-out episodes of {s['eval_seconds']:g} s (seeds 10000+i, "
        f"deterministic actions). QoE floor: stock QoE - {s['qoe_margin']}. Source models: "
        f"{s['per_task_steps']:,} steps per training task, `{s['base']['env']['action_mode']}` actions; generated "
        f"tasks: {s['generated']}; FOMAML {s['meta']}.",
        "",
        "minutes to 95 %: first curve point from which every later point has PPR >= 95 % of the task-specific "
        "reference's (a standalone model trained on the held-out task with the per-task budget) and QoE >= "
        "reference - 0.01 (*vs oracle*: 95 % of the oracle's PPR, QoE >= stock - 0.01). Runs that never get there "
        "count at the budget (*reached* says how many did). *Met by "
        f"{TARGET_MINUTES:g} min, then lost*: runs that met both clauses at a point within the "
        f"{TARGET_MINUTES:g}-minute target but fell below them later (the other misses had not met them by then).",
        "",
        runs_cost_sentence(runs, wall, folds, pooled=bool(sources), methods=s.get("methods")),
        "",
        *(
            [
                f"Pooled from the stored results of {len(sources)} runs of this script (no model needed): "
                + ", ".join(f"`{d}`" for d in sources)
                + "; their per-run curves are there.",
                "",
            ]
            if sources
            else []
        ),
    ]
    spread = f"spread over {n_ts} training seeds (zero-shot PPR / QoE / min to 95 % ref)"
    header = ["method", "zero-shot PPR / QoE", "zero-shot / oracle", "final PPR / QoE", "min to 95 % ref (mean ± std)",
              "reached", f"met by {TARGET_MINUTES:g} min, then lost", "vs scratch", "min to 95 % oracle",
              "QoE-floor share"]  # fmt: skip
    header += [spread] if n_ts > 1 else []
    for scope, a in agg.items():
        md += [
            f"## {scope} ({a['n_runs']} runs)",
            "",
            f"Reference PPR (mean) {a['reference_ppr_mean']:.3f}, oracle {a['oracle_ppr_mean']:.3f}, stock QoE "
            f"{a['stock_qoe_mean']:.3f}.",
            "",
            *C.md_table(header, _method_rows(a)),
            "",
        ]
    md += first_met_section(agg["all"])
    md += step_choice_section(agg)
    md += floor_section(runs)
    md += ["## Per run (minutes to 95 % of the reference; '-' = not reached)", ""]
    rows = []
    shown = present_methods(runs)
    for r in runs:
        cells = [
            ("-" if r["methods"][m]["minutes_to_95"] is None else f"{r['methods'][m]['minutes_to_95']:.2f}")
            + f" ({r['methods'][m]['zero_shot']['ppr_norm']:.3f}→{r['methods'][m]['final']['ppr_norm']:.3f})"
            for m in shown
        ]
        ref = r["reference"]
        rows.append([r["fold"], r["task"], r["train_seed"], r["seed"], r["routed_model"], r["nearest_task"],
                     f"{ref['ppr_norm']:.3f}/{ref['qoe']:.3f}" if ref else "-", *cells])  # fmt: skip
    md += C.md_table(
        ["fold", "task", "training seed", "adaptation seed", "routed", "nearest", "reference PPR/QoE",
         *(f"{m} (zero-shot→final PPR)" for m in shown)],
        rows,
    )  # fmt: skip
    md += ["", "## Source models", ""]
    md += C.md_table(
        ["fold", "training seed", "training tasks", "shared train s", "joint train s", "FOMAML s"],
        [
            [f["fold"], f["train_seed"], len(f["train_tasks"]),
             *(_timing_cell(f, k, s) for k in ("shared_train_s", "joint_train_s", "meta_train_s"))]
            for f in folds
        ],
    )  # fmt: skip
    md += ["", "![quality vs phone-minutes](adaptation_curves.png)"]
    plot_curves(runs, out / "adaptation_curves.png")
    keep = ("fold", "train_seed", "train_tasks", "heldout", "shared", "meta", "timing", "generated")
    C.write_report(
        out,
        md,
        {
            "settings": s,
            "seeds": seeds,
            "train_seeds": train_seeds,
            "budget_minutes": budget,
            "aggregate": agg,
            "runs": runs if not sources else [_without_curves(r) for r in runs],
            "folds": [{k: str(f[k]) if isinstance(f[k], Path) else f[k] for k in keep} for f in folds],
            **({"sources": sources} if sources else {}),
        },
        wall,
    )


def _without_curves(run: dict[str, Any]) -> dict[str, Any]:
    """A run report without its methods' ``curve`` points (every summary of them stays)."""
    methods = {m: {k: v for k, v in e.items() if k != "curve"} for m, e in run["methods"].items()}
    return {**run, "methods": methods}


POOL_FIXED = ("settings", "seeds", "train_seeds", "budget_minutes")
"""What every pooled results file must share (the settings apart from the folds)."""


def pool_results(dirs: list[Path]) -> tuple[list[dict[str, Any]], dict[str, Any], list[int], list[int]]:
    """The folds, settings and seeds of several stored results of this script, for :func:`report`.

    Every file must come from the same settings (apart from ``folds``), seeds and training seeds, hold runs with
    their curves (a per-fold result, not a pool), and no fold may appear twice; otherwise exit 2 naming the file
    and what differs.

    Args:
        dirs: Results directories (each with ``results.json``).

    Returns:
        ``(folds, settings, seeds, train_seeds)``: each fold entry as stored, with its ``runs``.
    """
    if len(dirs) < 2:
        C.fail("--pool: give at least two results directories, comma-separated")
    docs: list[tuple[Path, dict[str, Any]]] = []
    for d in dirs:
        f = d / "results.json"
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            C.fail(f"--pool: {f}: cannot read it ({e.__class__.__name__})")
        missing = [k for k in (*POOL_FIXED, "runs", "folds") if k not in doc]
        if missing:
            C.fail(f"--pool: {f}: no field {missing[0]!r} (not a results file of experiments/adaptation.py)")
        if "sources" in doc or any("curve" not in e for r in doc["runs"] for e in r["methods"].values()):
            C.fail(f"--pool: {f}: a pooled result without curves; pool the per-fold results it names (sources)")
        docs.append((d, doc))

    def fixed(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: ({**doc[k], "folds": None} if k == "settings" else doc[k]) for k in POOL_FIXED}

    first = fixed(docs[0][1])
    for d, doc in docs[1:]:
        if fixed(doc) != first:
            C.fail(f"--pool: {d}: other settings than {docs[0][0]} ({C.spec_difference(first, fixed(doc))})")
    folds: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for d, doc in docs:
        for name in dict.fromkeys(f["fold"] for f in doc["folds"]):
            if name in seen:
                C.fail(f"--pool: fold {name} is in both {seen[name]} and {d}")
            seen[name] = d
        for f in doc["folds"]:
            runs = [r for r in doc["runs"] if r["fold"] == f["fold"] and r["train_seed"] == f["train_seed"]]
            folds.append({**f, "runs": runs})
    s = {**docs[0][1]["settings"], "folds": [f.split(":", 1) for f in seen]}
    return folds, s, list(docs[0][1]["seeds"]), list(docs[0][1]["train_seeds"])
