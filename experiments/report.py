"""Assemble the reproduction report (experiments/REPORT.md) from stored results only, next to the paper's figures.

No training and no simulation: the report reads ``metadvfs evaluate`` runs in ``docs/results/`` (T1, T2, peers)
and the experiment scripts' ``experiments/results/<name>/{full,quick}/results.json`` (T3 adaptation, T4 negative
transfer, T5/T6 backbones, and the supporting generalization results); the naming conventions are in
``_report_src``. Every number printed comes from the results file cited under its table; a table whose results
are not stored says which command produces them.

Run from the repository root::

    python experiments/report.py            # write experiments/REPORT.md
    python experiments/report.py --check    # exit 1 when experiments/REPORT.md differs from the stored results

A missing or malformed results file is a one-line error naming the file and field (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report_eval as E
import _report_exp as X
import _report_src as R

from metadvfs.errors import MetaDVFSError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = "experiments/REPORT.md"

INTRO = [
    "# Reproduction report: this project's numbers next to the paper's",
    "",
    "Assembled by `python experiments/report.py` from stored results only (no training, no simulation). Every "
    "number in a table or a **Here** sentence comes from the results file named in the *Source* line under it "
    "(path and the first 12 hex digits of its SHA-256), with the producing command and its wall time as the file "
    f"records them; the **Paper** figures are quoted from {R.PAPER_SOURCE}. Each table says whether it comes from "
    "a quick run (small budgets, few tasks), a full run or a partial evaluation; a missing table names the command "
    "that produces it. `python experiments/report.py --check` exits 1 when this file no longer matches the stored "
    "results. The sentences are templates filled from the numbers: they say where the project lands, not why a "
    "mechanism behaves as it does (for that, see the discussion in experiments/README.md and docs/learner.md).",
    "",
]


def build(root: Path) -> str:
    """The report's Markdown text from the results stored under ``root``."""
    runs = R.find_eval_runs(root)
    lines = [*INTRO, *E.main_sections(runs), *E.peers_sections(runs), *X.experiment_sections(root)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry; returns the exit status (0 ok, 1 stale with ``--check``, 2 bad input)."""
    from metadvfs.io import write_text_atomic

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help=f"report file (default {DEFAULT_OUT})")
    ap.add_argument("--check", action="store_true", help="exit 1 if the report differs from the stored results")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root holding the results (default: this one)")
    a = ap.parse_args(argv)
    out = a.out if a.out is not None else a.root / DEFAULT_OUT
    try:
        if not a.root.is_dir():
            raise MetaDVFSError(f"--root: {a.root} is not a directory")
        text = build(a.root)
        if a.check:
            old = out.read_text(encoding="utf-8") if out.is_file() else None
            if old != text:
                why = "does not exist" if old is None else "differs from the stored results"
                print(f"{out} is stale: it {why}; regenerate it with python experiments/report.py", file=sys.stderr)
                return 1
            print(f"{out} is up to date")
            return 0
        write_text_atomic(out, text)
    except MetaDVFSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: --out: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
