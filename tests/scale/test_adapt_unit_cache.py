"""The adaptation unit reuses a stored report only when it has the methods asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from metadvfs.scale.units import adapt_unit


def test_a_stored_report_of_other_methods_is_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import metadvfs.meta.adapt as A

    calls: list[list[str]] = []

    def fake(model: str, device: str, app: str, **options: Any) -> dict[str, Any]:
        calls.append(list(options["methods"]))
        return {"methods": {m: {} for m in options["methods"]}}

    monkeypatch.setattr(A, "adapt", fake)
    dest = tmp_path / "r.json"
    dest.write_text(json.dumps({"methods": {"finetune": {}, "scratch": {}}}))
    same = adapt_unit("m", "pixel6", "tiktok", {"methods": ["finetune", "scratch"]}, {}, str(dest))
    assert calls == [] and list(same["methods"]) == ["finetune", "scratch"]
    other = adapt_unit("m", "pixel6", "tiktok", {"methods": ["finetune", "finetune-slow", "scratch"]}, {"k": 1},
                       str(dest))  # fmt: skip
    assert calls == [["finetune", "finetune-slow", "scratch"]] and other["k"] == 1
    assert list(json.loads(dest.read_text())["methods"]) == ["finetune", "finetune-slow", "scratch"]
