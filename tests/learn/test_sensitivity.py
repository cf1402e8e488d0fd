"""metadata_sensitivity: action changes under swapped metadata, and the action distribution's entropy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.sensitivity import metadata_sensitivity

TASKS = ["pixel3:tiktok", "pixel6:tiktok", "pixel3:3dmark", "pixel6:3dmark"]


def test_a_policy_that_ignores_everything_scores_zero(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = load_checkpoint(tiny_model)
    monkeypatch.setattr(m, "act", lambda mid, o, deterministic=True: np.full((len(o["obs"]), 4), 2))
    s = metadata_sensitivity(m, TASKS, seconds=1.0)
    assert s.decisions == 10 and s.tasks == TASKS
    assert s.entropy == [0.0, 0.0, 0.0, 0.0] and all(d == {2: 1.0} for d in s.distribution)
    assert all(v == [0.0] * 4 for v in s.changed.values())


def test_a_policy_of_the_metadata_alone_changes_with_it(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = load_checkpoint(tiny_model)
    names = m.encoder.feature_names
    gpu = names.index("gpu_capacity_gcps")  # differs between the phones, not between the apps
    fps = names.index("gpu_mc_per_frame")  # differs between the apps, not between the phones

    def act(mid: str, o: dict, deterministic: bool = True) -> np.ndarray:
        meta = o["meta"]
        return np.stack([(meta[:, gpu] > 0.5), (meta[:, fps] > 0.5), np.zeros(len(meta)), np.zeros(len(meta))], 1)

    monkeypatch.setattr(m, "act", act)
    s = metadata_sensitivity(m, TASKS, seconds=0.5)
    assert s.changed["other phone"][0] == 1.0 and s.changed["other phone"][1] == 0.0  # pixel3 has no mid: pixel6 only
    assert s.changed["other app"][0] == 0.0 and s.changed["other app"][1] == 1.0
    assert s.changed["zeros"][2:] == [0.0, 0.0]
    n = int(m.doc["action"]["n"][0])
    assert s.entropy[0] == pytest.approx(np.log(2) / np.log(n))  # two actions, half each (both phones run)


def test_real_model_is_deterministic_and_bad_input_is_one_line(tiny_model: Path) -> None:
    m = load_checkpoint(tiny_model)
    a = metadata_sensitivity(m, TASKS[:2], seconds=0.5).to_dict()
    assert a == metadata_sensitivity(m, TASKS[:2], seconds=0.5).to_dict()
    assert a["changed"]["other app"] == [None] * 4  # one app: no such variant
    with pytest.raises(MetaDVFSError, match="shorter than one decision"):
        metadata_sensitivity(m, TASKS, seconds=0.01)
    with pytest.raises(MetaDVFSError, match="no tasks"):
        metadata_sensitivity(m, [])


def test_inspect_cli(tiny_model: Path) -> None:
    import json

    from typer.testing import CliRunner

    from metadvfs.cli import app

    r = CliRunner().invoke(app, ["inspect", "--model", str(tiny_model), "--seconds", "0.5", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["tasks"] == ["pixel3:tiktok", "pixel6:3dmark"] and doc["decisions"] == 5
    assert set(doc["changed"]) == {"other phone", "other app", "zeros"} and doc["extrapolated"] == {}
    audit = doc["reward_audit"]
    assert audit["tasks"] == doc["tasks"] and audit["seeds"] == [10_000, 10_001, 10_002]
    assert len(audit["policy"]) == len(audit["stock"]) == 2 and isinstance(audit["stock_earns_more"], list)
    r = CliRunner().invoke(app, ["inspect", "--model", str(tiny_model), "--seconds", "0.5", "--tasks", "pixel8:tiktok"])
    assert r.exit_code == 0, r.output
    assert "action entropy" in r.stdout and "note: pixel8:tiktok lies outside" in r.stderr
    assert "training reward per 100 ms step, 3 episode(s) of 0.5 s per task" in r.stdout
    assert "pixel8:tiktok" in r.stdout.split("training reward")[1]
    r = CliRunner().invoke(app, ["inspect", "--model", str(tiny_model), "--seconds", "0.5", "--seeds", "0"])
    assert r.exit_code == 2 and "--seeds: must be in [1, 100], got 0" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["inspect", "--model", str(tiny_model), "--seconds", "0"])
    assert r.exit_code == 2 and "--seconds: must be in [0.5, 600], got 0" in r.output and "Traceback" not in r.output
