"""Stored results for ``experiments/report.py``: finding, reading and checking them; provenance lines.

Nothing here trains or simulates: every value comes from a results file, read with :func:`load_json` and
checked field by field (:func:`num`, :func:`obj`, ...). A missing or malformed field raises
:class:`~metadvfs.errors.MetaDVFSError` naming the file and the field (the report's one-line error, exit 2).

Naming conventions the report reads (paths relative to the repository root):

- ``metadvfs evaluate`` runs in ``docs/results/``: a directory ``<name>/`` holding ``summary.json`` (and
  ``results.csv``, ``results.md``), as ``metadvfs evaluate --out docs/results/<name>`` writes it, or the flat
  form ``<name>-summary.json`` with ``<name>-results.csv`` and ``<name>.md`` next to it. A name starting with
  ``peers`` is a peers comparison (zTT, GearDVFS); every other name is a main evaluation (T1, T2).
- ``experiments/peers.py`` (the peers on all tasks): the harness report it writes to
  ``experiments/results/peers/{full,quick}/eval/`` is a peers comparison too, with the ``results.json`` next to
  ``eval/`` as its run record (command, wall time).
- experiment scripts: ``experiments/results/<experiment>/{full,quick}/results.json`` (``generator_ranges`` has
  no quick/full variant: ``experiments/results/generator_ranges/results.json``).
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError
from metadvfs.io import parse_document

EVAL_DIR = "docs/results"
RESULTS_DIR = "experiments/results"

PAPER_SOURCE = "docs/method.md §7.5"
"""Where the paper's headline figures are quoted (the abstract, and the survey for the adaptation times)."""
PAPER_PPR_PCT = 17.0
PAPER_QOE_PCT = 26.0
PAPER_FASTER_PCT = 70.8
PAPER_META_MIN = (3.5, 1.1)
PAPER_INCR_MIN = (11.8, 5.2)
PAPER_STANDALONE_PCT = (5.8, 27.6)
PAPER = {
    "ppr": f"+{PAPER_PPR_PCT:g} %",
    "qoe": f"+{PAPER_QOE_PCT:g} %",
    "faster": f"{PAPER_FASTER_PCT:g} %",
    "meta_min": f"{PAPER_META_MIN[0]:g} ± {PAPER_META_MIN[1]:g} min",
    "incr_min": f"{PAPER_INCR_MIN[0]:g} ± {PAPER_INCR_MIN[1]:g} min",
    "standalone": f"+{PAPER_STANDALONE_PCT[0]:g}–{PAPER_STANDALONE_PCT[1]:g} %",
}
"""The paper's figures as the report prints them (tests check each against docs/method.md)."""


@dataclass
class Source:
    """One results file.

    Attributes:
        rel: Path relative to the repository root (as printed in the report).
        doc: Parsed content (JSON document, CSV rows or Markdown text).
        digest: First 12 hex digits of the file's SHA-256.
    """

    rel: str
    doc: Any
    digest: str

    def cite(self) -> str:
        """``path`` (sha256 ``digest``) for the report."""
        return f"`{self.rel}` (sha256 `{self.digest}`)"


def _read(root: Path, rel: str) -> tuple[str, str]:
    """(text, digest) of ``root/rel``; one-line error when unreadable."""
    try:
        data = (root / rel).read_bytes()
        return data.decode("utf-8"), hashlib.sha256(data).hexdigest()[:12]
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaDVFSError(f"{rel}: cannot read file: {exc}") from None


def load_json(root: Path, rel: str) -> Source:
    """Read a JSON results file that must be an object (``{...}``)."""
    text, digest = _read(root, rel)
    doc = parse_document(text, rel, "json")
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{rel}: expected a JSON object, got {type(doc).__name__}")
    return Source(rel, doc, digest)


def load_csv(root: Path, rel: str) -> Source:
    """Read a CSV results file (``metadvfs evaluate``'s ``results.csv``) as a list of row dicts."""
    text, digest = _read(root, rel)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise MetaDVFSError(f"{rel}: no rows")
    return Source(rel, rows, digest)


def load_text(root: Path, rel: str) -> Source:
    """Read a Markdown results file."""
    text, digest = _read(root, rel)
    return Source(rel, text, digest)


def _where(src: Source, path: tuple[str | int, ...]) -> str:
    return f"{src.rel}: field '{'.'.join(str(p) for p in path)}'"


def get(src: Source, *path: str | int, doc: Any = None) -> Any:
    """The value at ``path`` in ``doc`` (default ``src.doc``); one-line error naming the field when absent."""
    cur = src.doc if doc is None else doc
    for i, key in enumerate(path):
        ok = (isinstance(cur, dict) and key in cur) or (
            isinstance(cur, list) and isinstance(key, int) and -len(cur) <= key < len(cur)
        )
        if not ok:
            raise MetaDVFSError(f"{_where(src, path[: i + 1])} missing")
        cur = cur[key]
    return cur


def num(src: Source, *path: str | int, doc: Any = None, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A number at ``path`` within ``[lo, hi]`` (NaN is allowed: the evaluation writes it for absent metrics)."""
    v = get(src, *path, doc=doc)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetaDVFSError(f"{_where(src, path)} must be a number, got {v!r}")
    if not math.isnan(v) and not lo <= v <= hi:
        raise MetaDVFSError(f"{_where(src, path)} must be in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def opt_num(src: Source, *path: str | int, doc: Any = None) -> float | None:
    """Like :func:`num`, but ``None`` when the last key is absent (an optional field; null counts as absent)."""
    parent = get(src, *path[:-1], doc=doc) if len(path) > 1 else (src.doc if doc is None else doc)
    if not isinstance(parent, dict) or parent.get(path[-1]) is None:
        return None
    return num(src, *path, doc=doc)


def obj(src: Source, *path: str | int, doc: Any = None) -> dict[str, Any]:
    """A JSON object at ``path``."""
    v = get(src, *path, doc=doc)
    if not isinstance(v, dict):
        raise MetaDVFSError(f"{_where(src, path)} must be an object, got {type(v).__name__}")
    return v


def lst(src: Source, *path: str | int, doc: Any = None) -> list[Any]:
    """A JSON list at ``path``."""
    v = get(src, *path, doc=doc)
    if not isinstance(v, list):
        raise MetaDVFSError(f"{_where(src, path)} must be a list, got {type(v).__name__}")
    return v


def text(src: Source, *path: str | int, doc: Any = None) -> str:
    """A string at ``path``."""
    v = get(src, *path, doc=doc)
    if not isinstance(v, str):
        raise MetaDVFSError(f"{_where(src, path)} must be a string, got {v!r}")
    return v


def provenance(src: Source, run: str, fallback_command: str | None = None, record: Source | None = None) -> str:
    """The line under a table: source file, run kind, command, wall time, start and commit (what the file has).

    Args:
        src: The results file.
        run: ``quick``, ``full`` or another label of the run's size.
        fallback_command: Where the file has no ``command``: the command another file records for it.
        record: Another file that records the command, wall time, start and commit of the run (cited too).
    """
    meta = record if record is not None else src
    doc = meta.doc if isinstance(meta.doc, dict) else {}
    cmd = doc.get("command") if isinstance(doc.get("command"), str) else fallback_command
    parts = [f"Source: {src.cite()}, {run} run", f"produced by `{cmd}`" if cmd else "command not recorded"]
    if record is not None:
        parts[0] += f" (run record: {record.cite()})"
    wall = opt_num(meta, "wall_s") if isinstance(meta.doc, dict) else None
    parts.append(f"wall time {fmt_duration(wall)}" if wall is not None else "wall time not recorded in the file")
    for key, label in (("started_utc", "started"), ("git_commit", "commit")):
        if isinstance(doc.get(key), str):
            parts.append(f"{label} {doc[key]}")
    return "; ".join(parts) + "."


def invocation_scope(pooled: bool, folds: Any, methods: Any = None) -> str:
    """What an adaptation invocation's wall time covers, as a clause after "which".

    Args:
        pooled: The invocation pooled stored results (``adaptation.py --pool``): it trained and adapted nothing.
        folds: Its fold plans (``results.json``'s ``folds``), each with a ``timing`` of training times (s; ``None``
            where the model was reused from an earlier invocation); anything else counts as no timing. Every
            training time present: the invocation trained its fold models itself.
        methods: The adaptation methods run (``settings.methods``; None: all). The joint model's and the FOMAML
            initialisations' timings do not count when ``joint`` / ``meta`` was not run (no such model was needed).

    Returns:
        ``pooled the stored results it names and trained or adapted nothing``, ``trained its fold models
        itself`` or ``reused models or runs already made (see the fold models' training times)``.
    """
    if pooled:
        return "pooled the stored results it names and trained or adapted nothing"
    timings = [f.get("timing") for f in folds if isinstance(f, dict)] if isinstance(folds, list) else []
    unneeded = set() if not isinstance(methods, list) else {
        k for k, m in (("joint_train_s", "joint"), ("meta_train_s", "meta")) if m not in methods}  # fmt: skip
    reused = not timings or any(
        not isinstance(t, dict) or any(v is None for k, v in t.items() if k not in unneeded) for t in timings
    )
    return "reused models or runs already made (see the fold models' training times)" if reused else (
        "trained its fold models itself")  # fmt: skip


def fmt_duration(s: float) -> str:
    """``42 s``, ``16.3 min`` or ``2.10 h``."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def fmt(x: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``-`` for None or NaN."""
    return "-" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def fmt_pm(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``mean ± std`` (or the mean alone without a std)."""
    if std is None or mean is None or math.isnan(std):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def pct(ratio: float) -> str:
    """A ratio as a signed percentage change: 1.053 -> ``+5.3 %``."""
    return f"{(ratio - 1) * 100:+.1f} %"


def share(x: float) -> str:
    """A fraction as a percentage: 0.201 -> ``20.1 %``."""
    return f"{x * 100:.1f} %"


SAME_RATIO = 0.0005
"""Ratios within this of 1 print as 0.0 %: the sentences call them equal."""


def rel(ratio: float, other: str) -> str:
    """A ratio as words: 0.975, "stock's" -> ``2.5 % lower than stock's``; within :data:`SAME_RATIO` of 1
    ``equal to stock's``."""
    d = (ratio - 1) * 100
    return f"{abs(d):.1f} % {direction(d, 0)} than {other}" if abs(d) >= SAME_RATIO * 100 else f"equal to {other}"


def direction(x: float, ref: float, higher: str = "higher", lower: str = "lower", same: str = "equal") -> str:
    """``higher``/``lower``/``equal``: how ``x`` compares with ``ref`` (the sentence templates' words)."""
    return higher if x > ref else lower if x < ref else same


def md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Markdown table lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


@dataclass
class EvalRun:
    """One stored ``metadvfs evaluate`` run.

    Attributes:
        name: Its name (``peers...`` for a peers comparison).
        summary: ``summary.json``.
        per_task: ``results.csv``, else ``results.md`` (parsed per-task table), else ``None``.
        markdown: ``results.md`` when present (its ``Produced by`` line stands in for an unrecorded command).
        record: The file that records the producing command and wall time when ``summary.json`` does not (an
            experiment script's ``results.json`` around the evaluation), else ``None``.
    """

    name: str
    summary: Source
    per_task: Source | None
    markdown: Source | None
    record: Source | None = None

    def provenance(self, run: str) -> str:
        """The line under the run's table (:func:`provenance`)."""
        return provenance(self.summary, run, produced_by(self.markdown), self.record)


def _eval_locations(root: Path) -> dict[str, tuple[str, str, str, str | None]]:
    """``{name: (summary, csv, md, record or None)}`` of every stored evaluation (relative paths)."""
    found: dict[str, tuple[str, str, str, str | None]] = {}

    def add(n: str, loc: tuple[str, str, str, str | None]) -> None:
        if n in found:
            raise MetaDVFSError(f"{loc[0]}: evaluation {n!r} is stored twice (also {found[n][0]})")
        found[n] = loc

    base = root / EVAL_DIR
    for p in sorted(base.glob("*-summary.json")):
        n = p.name[: -len("-summary.json")]
        add(n, (f"{EVAL_DIR}/{p.name}", f"{EVAL_DIR}/{n}-results.csv", f"{EVAL_DIR}/{n}.md", None))
    for p in sorted(base.glob("*/summary.json")):
        d = f"{EVAL_DIR}/{p.parent.name}"
        add(p.parent.name, (f"{d}/summary.json", f"{d}/results.csv", f"{d}/results.md", None))
    for run in ("full", "quick"):  # experiments/peers.py keeps the harness's report in <run>/eval/
        d = f"{RESULTS_DIR}/peers/{run}"
        if (root / d / "eval" / "summary.json").is_file():
            rec = f"{d}/results.json" if (root / d / "results.json").is_file() else None
            add(f"peers-{run}", (f"{d}/eval/summary.json", f"{d}/eval/results.csv", f"{d}/eval/results.md", rec))
    return found


def find_eval_runs(root: Path) -> list[EvalRun]:
    """Every stored ``metadvfs evaluate`` run, sorted by name.

    ``docs/results/<name>/`` and ``docs/results/<name>-summary.json`` (see the module docstring), and the
    harness report of ``experiments/peers.py`` (``experiments/results/peers/{full,quick}/eval/``, named
    ``peers-full`` / ``peers-quick``, its command and wall time taken from the ``results.json`` next to it).
    """
    runs = []
    for n, (js, cs, ms, rec) in sorted(_eval_locations(root).items()):
        md = load_text(root, ms) if (root / ms).is_file() else None
        per_task: Source | None = None
        if (root / cs).is_file():
            per_task = load_csv(root, cs)
        elif md is not None and PER_TASK_HEADER.search(md.doc):
            per_task = md
        runs.append(EvalRun(n, load_json(root, js), per_task, md, load_json(root, rec) if rec else None))
    return runs


PER_TASK_HEADER = re.compile(r"^\| task \|(.+)\|\s*$", re.MULTILINE)
_CELL = re.compile(r"^\s*(-?[\d.]+|nan)±(-?[\d.]+|nan) / (-?[\d.]+|nan)\s*$")


def per_task_rows(src: Source) -> list[dict[str, Any]]:
    """Per (task, method) rows ``{task, method, ppr_norm, ppr_norm_std, qoe, ...}`` of an evaluation.

    From ``results.csv`` every column is kept (as floats); from ``results.md`` (the per-task table ``metadvfs
    evaluate`` prints: ``PPR±std / QoE`` per cell, 3 decimals) only PPR, its std and QoE.
    """
    if isinstance(src.doc, list):
        out = []
        for i, r in enumerate(src.doc, start=2):
            row: dict[str, Any] = {}
            for k in ("device", "app", "method"):
                if not r.get(k):
                    raise MetaDVFSError(f"{src.rel}: line {i}: column '{k}' empty or missing")
                row[k] = r[k]
            for k, v in r.items():
                if k in ("device", "app", "method") or k is None:
                    continue
                try:
                    row[k] = float(v) if v not in ("", None) else math.nan
                except ValueError:
                    raise MetaDVFSError(f"{src.rel}: line {i}: column '{k}' must be a number, got {v!r}") from None
            for k in ("ppr_norm", "qoe"):
                if k not in row:
                    raise MetaDVFSError(f"{src.rel}: column '{k}' missing")
            row["task"] = f"{row['device']}:{row['app']}"
            out.append(row)
        return out
    lines = src.doc.splitlines()
    m = PER_TASK_HEADER.search(src.doc)
    assert m is not None  # find_eval_runs only passes a Markdown file with the table
    start = src.doc[: m.start()].count("\n")
    methods = [c.strip() for c in m.group(1).split("|")]
    out = []
    for ln in range(start + 2, len(lines)):
        cells = lines[ln].strip()
        if not cells.startswith("|"):
            break
        parts = [c.strip() for c in cells.strip("|").split("|")]
        if len(parts) != len(methods) + 1 or ":" not in parts[0]:
            raise MetaDVFSError(f"{src.rel}: line {ln + 1}: expected 'task | {len(methods)} cells', got {cells!r}")
        dev, app = parts[0].split(":", 1)
        for meth, cell in zip(methods, parts[1:], strict=True):
            c = _CELL.match(cell)
            if not c:
                raise MetaDVFSError(f"{src.rel}: line {ln + 1}: cell {cell!r} is not 'PPR±std / QoE'")
            out.append({"task": parts[0], "device": dev, "app": app, "method": meth, "ppr_norm": float(c.group(1)),
                        "ppr_norm_std": float(c.group(2)), "qoe": float(c.group(3))})  # fmt: skip
    if not out:
        raise MetaDVFSError(f"{src.rel}: the per-task table has no rows")
    return out


def produced_by(md: Source | None) -> str | None:
    """The command in a Markdown report's ``Produced by `...``` line (older files record it only there)."""
    if md is None:
        return None
    m = re.search(r"Produced by `([^`]+)`", md.doc)
    return m.group(1) if m else None


def experiment_variants(root: Path, name: str) -> dict[str, Source]:
    """``{run: results.json}`` of an experiment: ``full`` and ``quick`` when stored, or ``single``."""
    out: dict[str, Source] = {}
    for run in ("full", "quick"):
        rel = f"{RESULTS_DIR}/{name}/{run}/results.json"
        if (root / rel).is_file():
            out[run] = load_json(root, rel)
    rel = f"{RESULTS_DIR}/{name}/results.json"
    if (root / rel).is_file():
        out["single"] = load_json(root, rel)
    return out
