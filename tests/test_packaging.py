"""Packaging metadata: the Gymnasium entry point, py.typed, and the type check CI runs."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_gymnasium_entry_point_registers_the_envs() -> None:
    import gymnasium as gym

    eps = _pyproject()["project"]["entry-points"]["gymnasium.envs"]
    assert set(eps) == {"__root__"}
    module, _, attr = eps["__root__"].partition(":")
    register = getattr(importlib.import_module(module), attr)
    for env_id in ("metadvfs/DVFS-v0", "metadvfs/LiveDVFS-v0"):
        gym.registry.pop(env_id, None)
    register()
    assert {"metadvfs/DVFS-v0", "metadvfs/LiveDVFS-v0"} <= set(gym.registry)
    register()  # idempotent


def test_package_is_marked_typed_and_ci_type_checks() -> None:
    assert (ROOT / "metadvfs" / "py.typed").is_file()
    assert _pyproject()["tool"]["mypy"]["files"] == ["metadvfs"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    lint = ci.index(".venv/bin/ruff check .")
    assert ci[lint + 1] == ".venv/bin/ruff format --check ."  # the tree stays formatted
    assert ci.index(".venv/bin/mypy") == lint + 2


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (pip install -e .[dev])")
    r = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
