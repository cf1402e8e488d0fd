"""Experiment scripts without options: ``--help`` explains and exits without running; a stray argument is a usage
error (exit 2), not a full run that overwrites stored results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = (
    "cavia_quick",
    "context_diagnostic",
    "generated_zero_shot",
    "generator_ranges",
    "metadata_coverage",
    "metadata_sensitivity",
    "qoe_floor_term",
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_exits_before_running(name: str) -> None:
    script = ROOT / "experiments" / f"{name}.py"
    ok = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and f"usage: {name}.py" in ok.stdout and "It takes no options." in ok.stdout
    bad = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "unrecognized arguments: --quick" in bad.stderr
