"""Where a stored result came from: the producing command, its start time, wall time and the code's commit.

``metadvfs evaluate`` (its ``summary.json``) and the experiment scripts (their ``results.json``) record these
fields so that ``experiments/report.py`` can print, next to every table, the command that produced it and how
long it took, and tell which version of the code it describes.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The directory that holds the ``metadvfs`` package (a git checkout in development installs)."""


def git_commit(root: Path = SOURCE_ROOT) -> str | None:
    """The checked-out commit of ``root``, with ``-dirty`` when tracked files differ from it.

    Args:
        root: A directory inside a git work tree.

    Returns:
        The 40-hex commit (plus ``-dirty``), or ``None`` outside a git work tree or without ``git``.
    """
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True,
            timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def utc_stamp(t: float | None = None) -> str:
    """ISO-8601 UTC time to the second (``2026-12-04T16:14:13Z``) of epoch seconds ``t`` (default now)."""
    dt = datetime.now(timezone.utc) if t is None else datetime.fromtimestamp(t, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunRecord:
    """A run being timed: call :meth:`fields` when its results are written.

    Attributes:
        command: The producing command as a user would type it from the repository root.
        started_utc: Start time (:func:`utc_stamp`).
        t0: ``time.perf_counter()`` at the start, s.
        commit: :func:`git_commit` at the start (the code that ran, not the tree when the results are written).
    """

    command: str
    started_utc: str = field(default_factory=utc_stamp)
    t0: float = field(default_factory=time.perf_counter)
    commit: str | None = field(default_factory=lambda: git_commit())

    def fields(self, wall_s: float | None = None) -> dict[str, Any]:
        """``command``, ``started_utc``, ``wall_s`` (s, default: since the start) and ``git_commit``."""
        wall = time.perf_counter() - self.t0 if wall_s is None else wall_s
        return {
            "command": self.command,
            "started_utc": self.started_utc,
            "wall_s": round(wall, 1),
            "git_commit": self.commit,
        }
