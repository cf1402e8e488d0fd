"""Runs write nothing outside their output directory (no SB3-<timestamp> folders in the temp dir)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO

from metadvfs.learn.config import load_config
from metadvfs.learn.trainer import make_algo, make_train_env, train


@pytest.fixture(name="temp_dir")
def temp_dir_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "systemp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    return d


def test_short_train_and_adapt_leave_no_sb3_dir(tmp_path: Path, temp_dir: Path, write_cfg) -> None:
    cfg = load_config(
        write_cfg(
            tmp_path / "c.yaml",
            total_steps=256,
            envs_per_task=2,
            checkpoint_every_steps=0,
            ppo={"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        )
    )
    meta = np.zeros((1, 4), dtype=np.float32)
    venv = make_train_env(cfg.tasks[:1], cfg, meta, seed=0)
    # control: SB3's own default logger creates the folder this test looks for
    PPO("MultiInputPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, device="cpu").learn(16)
    assert list(temp_dir.glob("SB3-*")), "SB3 no longer creates a default log folder; the test needs updating"
    for d in temp_dir.glob("SB3-*"):
        d.rmdir()
    make_algo(cfg, venv, True, 0, None).learn(64)  # the adapt / meta-train path
    train(cfg, tmp_path / "out", tensorboard=False)  # trainer (also used by guard and the standalone baseline)
    assert not list(temp_dir.glob("SB3-*"))
    assert (tmp_path / "out" / "model.json").is_file()
