from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch as th

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.config import load_config
from metadvfs.learn.evaluate import ModelDriver, run_driver
from metadvfs.learn.trainer import train


def _obs(model, n: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "obs": rng.uniform(0, 1, (n, model.window, 26)).astype(np.float32),
        "meta": rng.uniform(0, 1, (n, model.doc["meta_dim"])).astype(np.float32),
    }


def test_checkpoint_is_plain_data_and_reload_gives_identical_actions(tiny_model: Path, tmp_path: Path) -> None:
    doc = json.loads((tiny_model / "model.json").read_text())
    assert doc["schema"] == "metadvfs.model/1" and doc["package_version"]
    assert (tiny_model / "encoder.json").is_file() and (tiny_model / "config.yaml").is_file()
    assert not (tiny_model / "train_state").exists()
    sd = th.load(tiny_model / "models" / "all.pt", weights_only=True)
    assert all(isinstance(v, th.Tensor) for v in sd.values())
    a = load_checkpoint(tiny_model)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    b = load_checkpoint(copy)
    o = _obs(a)
    assert np.array_equal(a.act("all", o), b.act("all", o))
    # the driver runs a whole evaluation episode through the environment
    res = run_driver(ModelDriver(a, ["pixel3:tiktok"]), ["pixel3:tiktok"], [1], 2.0)
    assert res[0]["duration_s"] == pytest.approx(2.0) and res[0]["energy_j"] > 0


def test_unsupported_or_damaged_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(tiny_model, d)
    doc = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(json.dumps({**doc, "schema": "metadvfs.model/99"}))
    with pytest.raises(MetaDVFSError, match="not supported"):
        load_checkpoint(d)
    (d / "model.json").write_text(json.dumps(doc))
    (d / "models" / "all.pt").write_bytes(b"garbage")
    with pytest.raises(MetaDVFSError, match="corrupt"):
        load_checkpoint(d)
    (d / "models" / "all.pt").unlink()
    with pytest.raises(MetaDVFSError, match="missing"):
        load_checkpoint(d)
    (d / "model.json").write_text("{not json")
    with pytest.raises(MetaDVFSError, match="corrupt"):
        load_checkpoint(d)
    with pytest.raises(MetaDVFSError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent")


def test_interrupted_run_resumes_exactly(tmp_path: Path, tiny_model: Path, write_cfg) -> None:
    cfg = load_config(write_cfg(tmp_path / "c.yaml"))

    def boom(model_id: str, done: int, total: int, reward: float) -> None:
        if done > 1200:  # inside the second chunk; the state of the first chunk is on disk
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, progress=boom, tensorboard=False)
    assert (run / "train_state" / "algo.zip").is_file()
    assert not (run / "model.json").exists()
    with pytest.raises(MetaDVFSError, match="not empty"):
        train(cfg, run, tensorboard=False)
    train(cfg, run, resume=True, tensorboard=False)
    a = th.load(tiny_model / "models" / "all.pt", weights_only=True)
    b = th.load(run / "models" / "all.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(th.equal(a[k], b[k]) for k in a)
    with pytest.raises(MetaDVFSError, match="already finished"):
        train(cfg, run, resume=True, tensorboard=False)


def test_grouped_and_standalone_plans(tmp_path: Path, write_cfg) -> None:
    cfg = load_config(write_cfg(tmp_path / "c.yaml", mode="standalone", total_steps=256, checkpoint_every_steps=0))
    out = train(cfg, tmp_path / "s", tensorboard=False)
    doc = json.loads((out / "model.json").read_text())
    assert [m["id"] for m in doc["models"]] == ["pixel3-tiktok", "pixel6-3dmark"]
    assert not any(m["use_meta"] for m in doc["models"])
    m = load_checkpoint(out)
    from metadvfs.learn.tasks import build_tasks

    assert m.model_for(build_tasks(["pixel6:3dmark"])[0]) == "pixel6-3dmark"
