"""``experiments/adaptation.py --pool``: pooled tables from stored per-fold results, no model needed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import adaptation as A

ROOT = Path(__file__).resolve().parents[2]
STORED = ROOT / "experiments" / "results" / "adaptation"
PHONE = STORED / "full-margin-gpubound25-qoefloor2-device-pixel6"
APP = STORED / "full-margin-gpubound25-qoefloor2-app-taobao"


def _need_stored() -> None:
    if not ((PHONE / "results.json").is_file() and (APP / "results.json").is_file()):
        pytest.skip("the stored adaptation results are absent")


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["adaptation.py", *args])
    A.main()


def _error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        _main(monkeypatch, *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: --pool")
    return err


def _load(d: Path) -> dict[str, Any]:
    return json.loads((d / "results.json").read_text())


def test_a_pool_reproduces_each_folds_own_aggregate(tmp_path: Path, monkeypatch, capsys) -> None:
    _need_stored()
    out = tmp_path / "pool"
    _main(monkeypatch, "--pool", f"{PHONE},{APP}", "--out", str(out))
    pool, phone, app = _load(out), _load(PHONE), _load(APP)
    # the per-fold files' aggregates were computed by the runs that adapted them
    assert pool["aggregate"]["leave-one-device-out"] == phone["aggregate"]["all"]
    assert pool["aggregate"]["leave-one-app-out"] == app["aggregate"]["all"]
    assert pool["aggregate"]["all"]["n_runs"] == len(phone["runs"]) + len(app["runs"])
    assert pool["settings"]["folds"] == [["device", "pixel6"], ["app", "taobao"]]
    assert len(pool["sources"]) == 2 and not Path(pool["sources"][0]).is_absolute()
    # runs keep every summary but not the curve points (the sources keep those)
    r = pool["runs"][0]["methods"]["finetune"]
    assert "curve" not in r and r["minutes_to_95"] == phone["runs"][0]["methods"]["finetune"]["minutes_to_95"]
    assert (out / "adaptation_curves.png").stat().st_size > 0
    assert "Pooled from the stored results of 2 runs" in (out / "results.md").read_text()
    # a pool is not a source: its curves are gone
    capsys.readouterr()
    err = _error(monkeypatch, capsys, "--pool", f"{out},{PHONE}", "--out", str(tmp_path / "x"))
    assert "a pooled result without curves" in err and not (tmp_path / "x").exists()


def test_other_settings_or_a_fold_twice_are_one_line_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    _need_stored()
    other = tmp_path / "other"
    other.mkdir()
    doc = _load(APP)
    doc["settings"]["budget_minutes"] = 10.0
    (other / "results.json").write_text(json.dumps(doc))
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{other}", "--out", str(tmp_path / "x"))
    assert "other settings" in err and "settings.budget_minutes: 20.0 -> 10.0" in err
    twice = tmp_path / "twice"
    shutil.copytree(PHONE, twice)
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{twice}", "--out", str(tmp_path / "x"))
    assert "fold device:pixel6 is in both" in err
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{tmp_path / 'none'}", "--out", str(tmp_path / "x"))
    assert "cannot read" in err
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{APP}", "--out", str(tmp_path / "x"), "--ray", "local:2")
    assert "drop --ray" in err
    # the seeds come from the files: even the default count is refused when given
    err = _error(monkeypatch, capsys, "--pool", f"{PHONE},{APP}", "--out", str(tmp_path / "x"), "--train-seeds", "1")
    assert "drop --train-seeds" in err
    assert not (tmp_path / "x").exists()
