"""Do the trained policies use their metadata, and do they decide in closed loop?

:func:`metadvfs.learn.sensitivity.metadata_sensitivity` on the shipped model and on the fold models of the quick
adaptation experiments (and the negative-transfer experiment's full conditioned models when they are on disk):
per domain, the normalised entropy of the actions over 15 s closed-loop rollouts of every task (0: one fixed
setting whatever the load) and the share of decisions that change when the task's metadata is replaced by another
phone's (same app), another app's (same phone) or zeros. Nothing is trained; a model that is not on disk (the
experiment work directories are git-ignored) keeps the row an earlier run stored in results.json, with the day it was
measured, or, never measured, is listed with the command that trains it.

Run from the repository root::

    python experiments/metadata_sensitivity.py
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

QUICK = [f"{d}:{a}" for d in ("pixel3", "pixel6", "pixel8") for a in ("tiktok", "weibo", "3dmark")]
"""The quick adaptation experiment's task universe (its Pixel 8 fold trains on the Pixel 3 and 6 tasks)."""
SEEDS = (0, 1, 2)


def candidates() -> list[tuple[str, str, list[str], str]]:
    """``(label, model directory or shipped name, tasks, producing command)`` of every model measured."""
    from metadvfs.learn.tasks import all_task_names

    runs = C.ROOT / "runs" / "experiments"
    out: list[tuple[str, str, list[str], str]] = [
        ("shipped default (30 tasks + generated)", "default", all_task_names(), "shipped"),
        ("shipped default before the guard against stock (shared model only)",
         str(C.ROOT / "runs" / "metadvfs-generated-margin-qoefloor"), all_task_names(),
         "metadvfs train --config configs/metadvfs-generated-margin-qoefloor.yaml "
         "--out runs/metadvfs-generated-margin-qoefloor"),
        ("previous default (absolute actions, shipped until 2026-12-06)", str(C.ROOT / "runs" / "metadvfs-generated"),
         all_task_names(), "metadvfs train --config configs/metadvfs-generated.yaml --out runs/metadvfs-generated"),
    ]  # fmt: skip
    for wd, mode, cmd in (
        ("adaptation2-quick", "absolute", "python experiments/adaptation.py --quick --train-seeds 3"),
        ("adaptation2-quick-margin", "margin",
         "python experiments/adaptation.py --quick --action-mode margin --train-seeds 3"),
    ):  # fmt: skip
        for sd in SEEDS:
            d = C.seed_dir(runs / wd / "device-pixel8", sd) / "shared"
            out.append((f"quick Pixel 8 fold, {mode}, training seed {sd}", str(d), QUICK, cmd))
    nt_quick = ["pixel3:tiktok", "pixel3:3dmark", "pixel6:tiktok", "pixel6:3dmark", "pixel8:tiktok", "pixel8:3dmark"]
    for sd in SEEDS:
        d = C.seed_dir(runs / "negative_transfer-quick" / "conditioned", sd)
        out.append((f"negative-transfer quick, conditioned, training seed {sd}", str(d), nt_quick,
                    "python experiments/negative_transfer.py --quick --train-seeds 3"))  # fmt: skip
    bb_quick = ["pixel3:tiktok", "pixel3:3dmark", "pixel6:tiktok", "pixel6:3dmark"]
    for sd in SEEDS:
        d = C.seed_dir(runs / "backbone-quick" / "cfc", sd)
        out.append((f"backbone quick, CfC, training seed {sd}", str(d), bb_quick,
                    "python experiments/backbone.py --quick --train-seeds 3"))  # fmt: skip
    for sd in SEEDS:
        d = C.seed_dir(runs / "negative_transfer-full" / "conditioned", sd)
        out.append((f"negative-transfer full, conditioned, training seed {sd}", str(d), all_task_names(),
                    "python experiments/negative_transfer.py --train-seeds 3"))  # fmt: skip
    return out


def _stored(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The models of the stored results.json measured on the same episodes (``seconds``, ``seed``), each with the
    day it was measured (``measured``; older files carry only the run's ``started_utc``); empty without a file."""
    path = C.RESULTS / "metadata_sensitivity" / "results.json"
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    if (old.get("seconds"), old.get("seed")) != (data["seconds"], data["seed"]):
        return {}
    day = str(old.get("started_utc", ""))[:10]
    return {k: {"measured": day, **v} for k, v in old.get("models", {}).items()}


def _triple(v: list[float | None]) -> str:
    return "/".join("-" if x is None else f"{x:.2f}" for x in v)


def main() -> None:
    """Write experiments/results/metadata_sensitivity/results.md and results.json."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.sensitivity import metadata_sensitivity

    t0 = time.perf_counter()
    C.limit_threads()
    rows: list[list[Any]] = []
    missing: list[str] = []
    data: dict[str, Any] = {"seconds": 15.0, "seed": 7, "models": {}}
    stored = _stored(data)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    for label, ref, tasks, cmd in candidates():
        if ref != "default" and not (Path(ref) / "model.json").is_file():
            if label not in stored:
                missing.append(f"{label}: not on disk (`{cmd}`)")
                continue
            s = stored[label]  # measured earlier by this script; the model is not on this disk now
        else:
            C.log(label)
            m = load_checkpoint(ref)
            s = metadata_sensitivity(m, tasks, seconds=data["seconds"], seed=data["seed"]).to_dict()
            s["model"] = str(Path(ref).relative_to(C.ROOT)) if ref != "default" else "default"
            s["action_mode"] = m.cfg.env.action_mode
            s["measured"] = now
        data["models"][label] = s
        ch = s["changed"]
        rows.append([label, s["action_mode"], len(tasks), s["measured"], _triple(s["entropy"]),
                     _triple(ch["other phone"]), _triple(ch["other app"]), _triple(ch["zeros"])])  # fmt: skip
    md = [
        "# Metadata sensitivity and closed-loop behaviour of the trained policies",
        "",
        f"Each task runs {data['seconds']:g} s of simulated time in closed loop with its own metadata (environment "
        f"seed {data['seed']}); the recorded observations are then decided again with another task's metadata. "
        "Values per domain little/mid/big/GPU (`-`: no such domain or variant). *Entropy*: normalised entropy of "
        "the actions (0: the same action at every decision, a fixed setting). *Changed*: share of decisions whose "
        "action changes with the metadata of the same app on another phone of the task list, of another app on "
        "the same phone, or with zeros. *Measured*: the day of the measurement; a model that is no longer on this "
        "disk keeps the row an earlier run of this script stored in results.json (same episodes).",
        "",
    ]
    md += C.md_table(["model", "actions", "tasks", "measured", "entropy", "changed: other phone", "changed: other app",
                      "changed: zeros"], rows)  # fmt: skip
    if missing:
        md += ["", "Not measured (the models are not on this disk):", "", *[f"- {x}" for x in missing]]
    C.write_report(C.RESULTS / "metadata_sensitivity", md, data, time.perf_counter() - t0)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
