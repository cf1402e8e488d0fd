"""Shared fixtures: a tiny trained MetaDVFS checkpoint (trained once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TINY = {
    "name": "tiny",
    "tasks": ["pixel3:tiktok", "pixel6:3dmark"],
    "mode": "conditioned",
    "total_steps": 2048,
    "envs_per_task": 4,
    "checkpoint_every_steps": 1024,
    "network": {"backbone": "cfc", "units": 16, "out_dim": 8, "meta_dim": 8, "head": [16]},
    "env": {"decision_interval_s": 0.1, "episode_seconds": 5, "window": 4},
    "ppo": {"n_steps": 32, "batch_size": 128, "n_epochs": 1},
}


def write_cfg(path: Path, **over: object) -> Path:
    cfg = {**TINY, **over}
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(name="write_cfg")
def write_cfg_fixture():
    return write_cfg


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from metadvfs.learn.config import load_config
    from metadvfs.learn.trainer import train

    d = tmp_path_factory.mktemp("tiny")
    cfg = load_config(write_cfg(d / "tiny.yaml"))
    return train(cfg, d / "run", tensorboard=False)


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep deploy's host-side state (stock snapshot copies) out of the user's directory, in every test."""
    d = tmp_path_factory.mktemp("deploy-state")
    monkeypatch.setenv("METADVFS_STATE_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def key_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An adb key made for this test session (``METADVFS_ADB_KEY``), for tests that talk to a twin as a user."""
    from metadvfs.adb.keys import ensure_key

    key = tmp_path_factory.mktemp("adbkey") / "adbkey"
    ensure_key(key)
    return {"METADVFS_ADB_KEY": str(key)}


@pytest.fixture(scope="session")
def runner_bin() -> Path:
    """The x86_64 on-phone runner, built once per source version (cached); skipped where it cannot be built."""
    from metadvfs.runner.build import host_target, runner_binary, zig_version

    if host_target() != "x86_64":
        pytest.skip("the twin runs the x86_64 runner; this machine is not x86_64")
    if zig_version() is None:
        pytest.skip("Zig's C compiler is not installed (pip install ziglang; it is in the dev extra)")
    return runner_binary("x86_64")


@pytest.fixture
def adb_key(key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``METADVFS_ADB_KEY`` at the session key for one test (use it from an autouse fixture of a module)."""
    for k, v in key_env.items():
        monkeypatch.setenv(k, v)
