"""Metadata coverage of the held-out tasks of every adaptation fold: where a fold's model has to extrapolate.

For each leave-one-device-out and leave-one-app-out fold of ``adaptation.py`` (full setting: 5 phones x 6 apps),
the metadata encoder is fitted on the fold's training tasks, once on the real ones alone and once with the
fold's generated phones and apps (the ``generated:`` section ``adaptation.py`` trains with, built around the
fold's own phones and apps). For every held-out task it lists the fields outside that range
(:meth:`metadvfs.learn.metadata.MetadataEncoder.out_of_range`: more than 10 % of the training span beyond it, or
any other value of a field that was constant in training). Nothing is trained. Where a stored zero-shot result
exists for a held-out task (``action_modes.py``: the Pixel 8 fold, real training tasks only), it is shown next
to it.

Run from the repository root::

    python experiments/metadata_coverage.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import adaptation as A

WIDER_MARGINS = (0.5, 1.0)
"""Generator margins tried besides adaptation.py's (what widening the sampled ranges would cover)."""


def fold_coverage(kind: str, value: str, margin: float | None = None, structure: bool = False) -> dict[str, Any]:
    """Fields outside the fold's training range for each held-out task, without and with generated tasks.

    Args:
        kind: ``device`` or ``app``.
        value: The held-out phone or app.
        margin: Generator margin (default: adaptation.py's).
        structure: Generated phones also sample their core and OPP counts (``generated.structure``).
    """
    from metadvfs.learn.metadata import task_metadata
    from metadvfs.learn.tasks import build_tasks, fit_encoder
    from metadvfs.tasks.generator import generated_task_names

    s = A.SETTINGS["full"]
    train, held = A.fold_tasks(s, kind, value)
    g = s["generated"]
    devs = sorted({t.split(":")[0] for t in train})
    apps = sorted({t.split(":")[1] for t in train})
    m = g["margin"] if margin is None else margin
    gen = generated_task_names(g["devices"], g["apps"], g["tasks"], g["seed"], devs, apps, g["pool"], m, structure)
    real_t, gen_t, held_t = build_tasks(train), build_tasks(gen), build_tasks(held)
    held_raw = {t.name: task_metadata(t) for t in held_t}
    out: dict[str, Any] = {"train": train, "generated": len(gen), "heldout": {}}
    encs = {"real": fit_encoder(real_t), "real+generated": fit_encoder(real_t + gen_t)}
    for name, raw in held_raw.items():
        out["heldout"][name] = {k: [f.to_dict() for f in e.out_of_range(raw, name)] for k, e in encs.items()}
    return out


def zero_shot_results() -> dict[str, dict[str, float]]:
    """``{task: {mode: PPR vs stock}}`` of the stored held-out tasks of ``action_modes.py`` (full run)."""
    p = C.RESULTS / "action_modes" / "full" / "results.json"
    if not p.is_file():
        return {}
    doc = json.loads(p.read_text(encoding="utf-8"))
    out: dict[str, dict[str, float]] = {}
    for key, cell in doc["cells"].items():
        task, mode = key.split("|")
        if task in doc["heldout"] and mode in doc["settings"]["modes"]:
            out.setdefault(task, {})[mode] = float(cell["ppr"])
    return out


def _fields(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{f['field']} {f['value']:.3g} ({f['lo']:.3g}..{f['hi']:.3g})" for f in items) or "inside"


def main() -> None:
    """Write experiments/results/metadata_coverage/results.md and results.json."""
    t0 = time.perf_counter()
    C.limit_threads()
    s = A.SETTINGS["full"]
    zs = zero_shot_results()
    data: dict[str, Any] = {"settings": {"generated": s["generated"], "tolerance": None}, "folds": {}}
    from metadvfs.learn.metadata import RANGE_TOLERANCE

    data["settings"]["tolerance"] = RANGE_TOLERANCE
    summary: list[list[Any]] = []
    detail: list[list[str]] = []
    for kind, value in s["folds"]:
        C.log(f"fold {kind}:{value}")
        cov = fold_coverage(kind, value)
        data["folds"][f"{kind}:{value}"] = cov
        held = cov["heldout"]
        n_out = {k: sum(1 for h in held.values() if h[k]) for k in ("real", "real+generated")}
        summary.append([f"{kind}:{value}", len(held), n_out["real"], n_out["real+generated"]])
        groups: dict[tuple[str, str], list[str]] = {}  # held-out tasks with the same fields outside share a row
        for task, h in held.items():
            groups.setdefault((_fields(h["real"]), _fields(h["real+generated"])), []).append(task)
        for (real, both), tasks in groups.items():
            detail.append([f"{kind}:{value}", ", ".join(tasks), real, both])
    zrows = [[t, *(f"{z.get(m, float('nan')):.3f}" for m in ("absolute", "margin"))] for t, z in sorted(zs.items())]
    wide: list[list[Any]] = []
    data["wider_margins"] = {}
    for margin, structure in [(m, False) for m in WIDER_MARGINS] + [(s["generated"]["margin"], True)]:
        C.log(f"generator margin {margin:g}" + (", core and OPP counts sampled" if structure else ""))
        n_wide, fields = 0, set()
        per_fold: dict[str, dict[str, Any]] = {}
        for kind, value in s["folds"]:
            held = fold_coverage(kind, value, margin, structure)["heldout"]
            per_fold[f"{kind}:{value}"] = {t: h["real+generated"] for t, h in held.items()}
            n_wide += sum(1 for h in held.values() if h["real+generated"])
            fields |= {f["field"] for h in held.values() for f in h["real+generated"]}
        data["wider_margins"][f"{margin:g}" + ("+structure" if structure else "")] = per_fold
        wide.append(
            [
                f"{margin:g}" + (", core and OPP counts sampled (`structure: true`)" if structure else ""),
                f"{n_wide}/{sum(r[1] for r in summary)}",
                ", ".join(sorted(fields)) or "-",
            ]
        )
    tot = sum(r[1] for r in summary)
    md = [
        "# Metadata coverage of the held-out tasks",
        "",
        f"Folds of `adaptation.py` (full setting). For each fold the metadata encoder is fitted on its training "
        f"tasks: the real ones, and the real ones plus the {s['generated']['tasks']} generated tasks adaptation.py "
        f"trains with (`generated: {s['generated']}` around the fold's own phones and apps). A held-out task's "
        f"field is *outside* when it lies more than {RANGE_TOLERANCE:.0%} of the training span beyond it (or "
        "differs from a field that was constant in training); there the model extrapolates. Fields are the "
        "metadata schema's (docs/learner.md *Metadata*; units in the names).",
        "",
        f"Held-out tasks with a field outside: {sum(r[2] for r in summary)}/{tot} against the real training tasks, "
        f"{sum(r[3] for r in summary)}/{tot} with the generated ones.",
        "",
    ]
    md += C.md_table(["fold", "held-out tasks", "with a field outside (real)", "(real + generated)"], summary)
    md += ["", "Fields outside per fold (value, training range); held-out tasks with the same fields share a row.", ""]
    md += C.md_table(["fold", "held-out tasks", "outside (real)", "outside (real + generated)"], detail)
    md += [
        "",
        f"Wider generator margins (the sampled ranges widened by that share of the pool's span on each side; "
        f"adaptation.py uses {s['generated']['margin']:g}), and generated phones that also sample their CPU core "
        "and OPP counts: held-out tasks still outside with the generated tasks, and the fields left outside "
        "(without `structure` the cluster layout, core and OPP counts and display refresh are copied from a base "
        "phone, so no margin reaches them; generated apps do not depend on the margin). Nothing was trained with "
        "these settings.",
        "",
    ]
    md += C.md_table(["generator margin", "held-out tasks outside", "fields outside"], wide)
    if zrows:
        md += [
            "",
            "Zero-shot PPR / stock of the stored `action_modes.py` full run (Pixel 8 held out, trained on the 24 "
            "real tasks only, mean over training seeds), per action mode:",
            "",
        ]
        md += C.md_table(["held-out task", "absolute", "margin"], zrows)
    C.write_report(C.RESULTS / "metadata_coverage", md, data, time.perf_counter() - t0)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
