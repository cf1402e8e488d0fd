"""Keep deploy's host-side state (stock snapshot copies) of these tests out of the user's directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path_factory.mktemp("deploy-state")
    monkeypatch.setenv("METADVFS_STATE_DIR", str(d))
    return d
