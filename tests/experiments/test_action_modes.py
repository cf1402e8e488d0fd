"""experiments/action_modes.py: one model per action mode and training seed, zero-shot vs in-distribution (tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import action_modes as AM

ROOT = Path(__file__).resolve().parents[2]


def test_action_modes_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tiny = {"devices": ["pixel3", "pixel6"], "apps": ["tiktok"], "held": "pixel6", "modes": ["absolute", "margin"],
            "per_task_steps": 128, "envs_per_task": 2, "eval_seeds": 2, "eval_seconds": 3.0}  # fmt: skip
    monkeypatch.setitem(AM.SETTINGS, "quick", tiny)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["action_modes.py", "--quick", "--work", str(tmp_path / "w"), "--out", str(out),
                                      "--train-seeds", "2"])  # fmt: skip
    AM.main()
    doc = json.loads((out / "results.json").read_text())
    assert doc["heldout"] == ["pixel6:tiktok"] and doc["train_tasks"] == ["pixel3:tiktok"]
    for m in ("absolute", "margin"):
        cfg = json.loads((tmp_path / "w" / f"{m}@seed1" / "config.resolved.json").read_text())
        assert cfg["env"]["action_mode"] == m and cfg["seed"] == 1 and cfg["tasks"] == ["pixel3:tiktok"]
        for g in ("heldout", "train"):
            e = doc["summary"][m][g]
            assert e["ppr"] == pytest.approx(np.mean([p["ppr"] for p in e["per_seed"]]))
            assert e["ppr_std"] == pytest.approx(np.std([p["ppr"] for p in e["per_seed"]]))
            assert 0 <= e["qoe_floor"] <= e["n_tasks"] == 1
    md = (out / "results.md").read_text()
    assert "zero-shot" in md and "± std over 2 training seeds" in md and (out / "action_modes.png").is_file()
    import _report_exp as X

    root = tmp_path / "root"
    dest = root / "experiments" / "results" / "action_modes" / "quick"
    dest.mkdir(parents=True)
    (dest / "results.json").write_text((out / "results.json").read_text())
    sec = "\n".join(X.section(root, "Action encoding", "action_modes", X.action_modes, 3))
    e = doc["summary"]["margin"]["heldout"]
    assert f"| margin | held-out pixel6 (zero-shot) | {e['ppr']:.3f} ± {e['ppr_std']:.3f} |" in sec


def test_unknown_mode_is_a_one_line_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "action_modes.py"), "--quick", "--modes", "bogus",
                        "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (
        r.returncode == 2
        and r.stderr.startswith("error: --modes: unknown mode 'bogus'")
        and "Traceback" not in r.stderr
    )
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()
