"""The experiment scripts' scale-out hook (``experiments/_common.py``: ``--ray`` and ``train_all``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import _common as C


def test_train_all_serial_trains_then_reuses(tmp_path: Path, write_cfg) -> None:
    from metadvfs.learn.config import load_config

    cfgs = [
        load_config(write_cfg(tmp_path / f"{n}.yaml", name=n, total_steps=256, checkpoint_every_steps=0))
        for n in ("a", "b")
    ]
    jobs = [(c, tmp_path / "work" / c.name) for c in cfgs]
    first = C.train_all(jobs)
    assert [d for d, _ in first] == [d for _, d in jobs] and all(w is not None and w > 0 for _, w in first)
    assert all((d / "model.json").is_file() for d, _ in first)
    assert [w for _, w in C.train_all(jobs)] == [None, None]


def test_scale_args_and_missing_ray(tmp_path: Path, write_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    ap = argparse.ArgumentParser()
    C.add_scale_args(ap)
    assert ap.parse_args([]).ray is None and ap.parse_args(["--ray", "local:2"]).ray == "local:2"
    monkeypatch.setitem(sys.modules, "ray", None)
    from metadvfs.learn.config import load_config

    cfg = load_config(write_cfg(tmp_path / "a.yaml"))
    with pytest.raises(SystemExit, match=r"install metadvfs\[ray\]"):
        C.train_all([(cfg, tmp_path / "a")], "auto")
    assert not (tmp_path / "a").exists()
