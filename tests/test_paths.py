"""Where commands write what they derive from a model: never into a shipped or read-only model directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metadvfs import paths
from metadvfs.paths import PACKAGE_DIR, derived_dir


def _read_only(monkeypatch: pytest.MonkeyPatch, ro: Path) -> None:
    """Make ``ro`` and everything under it read-only for :func:`derived_dir` (tests run as root, where chmod
    does not stop writes)."""
    real = os.access

    def access(p: object, mode: int) -> bool:
        q = Path(str(p)).resolve()
        if mode & os.W_OK and (q == ro or ro in q.parents):
            return False
        return real(p, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(paths.os, "access", access)


def test_a_writable_model_keeps_its_outputs_next_to_it(tmp_path: Path) -> None:
    m = tmp_path / "m"
    m.mkdir()
    assert derived_dir(m, m / "eval", Path("runs") / "m-eval") == m / "eval"
    assert derived_dir(m, tmp_path / "m-guarded", Path("runs") / "m-guarded") == tmp_path / "m-guarded"


def test_a_shipped_model_writes_under_runs() -> None:
    shipped = PACKAGE_DIR / "models" / "default"
    assert derived_dir(shipped, shipped / "eval", Path("runs") / "default-eval") == Path("runs") / "default-eval"
    fb = Path("runs") / "baselines" / "x"
    assert derived_dir(shipped, shipped / "baselines", fb, reuse_existing=True) == fb


def test_a_read_only_model_writes_under_runs_and_reuses_what_it_has(tmp_path: Path, monkeypatch) -> None:
    m = tmp_path / "lab" / "m"
    (m / "baselines").mkdir(parents=True)
    _read_only(monkeypatch, tmp_path / "lab")
    assert derived_dir(m, m / "eval", Path("runs") / "m-eval") == Path("runs") / "m-eval"
    sib = derived_dir(m, m.parent / "m-guarded", Path("runs") / "m-guarded")
    assert sib == Path("runs") / "m-guarded"
    # baselines trained earlier are read in place; a model without them trains new ones under runs/
    assert derived_dir(m, m / "baselines", Path("runs") / "b", reuse_existing=True) == m / "baselines"
    (m / "baselines").rmdir()
    assert derived_dir(m, m / "baselines", Path("runs") / "b", reuse_existing=True) == Path("runs") / "b"
    # an existing but read-only eval directory is not written into either
    (m / "eval").mkdir()
    assert derived_dir(m, m / "eval", Path("runs") / "m-eval") == Path("runs") / "m-eval"
