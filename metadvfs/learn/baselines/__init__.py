"""Learned single-task baselines in MetaDVFS's evaluation harness: zTT and GearDVFS.

Both peers are single-task governors (one model per device x app, retrained per task), so each is trained
per task with a given step budget on the batched simulator and saved as a plain-data checkpoint directory
(:mod:`metadvfs.learn.baselines.common`). Porting decisions are documented in
:mod:`metadvfs.learn.baselines.ztt` and :mod:`metadvfs.learn.baselines.gear`.

Usage::

    from metadvfs.learn.baselines import train_baseline, load_baseline
    path = train_baseline("gear", "pixel6:tiktok", 100_000, Path("runs/gear-pixel6-tiktok"))
    drv = load_baseline(path)
    venv = BatchedDVFSVecEnv([("pixel6", "tiktok")] * 4, episode_seconds=20, **drv.env_kwargs)
    drv.reset(4); obs = venv.reset()
    obs, *_ = venv.step(drv.act(venv, obs))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.learn.baselines.common import (
    BaselineDriver,
    LearnedBaseline,
    read_checkpoint,
    run_episodes,
    save_checkpoint,
)

BASELINE_MODULES: dict[str, str] = {
    "ztt": "metadvfs.learn.baselines.ztt",
    "gear": "metadvfs.learn.baselines.gear",
}
"""Learned single-task baselines: name -> module implementing :class:`~.common.LearnedBaseline`."""
LEARNED_BASELINES: tuple[str, ...] = tuple(BASELINE_MODULES)

__all__ = [
    "BASELINE_MODULES",
    "LEARNED_BASELINES",
    "BaselineDriver",
    "LearnedBaseline",
    "baseline_impl",
    "load_baseline",
    "run_episodes",
    "train_baseline",
]

if TYPE_CHECKING:  # mypy checks that every registered module satisfies the protocol
    from metadvfs.learn.baselines import gear as _gear
    from metadvfs.learn.baselines import ztt as _ztt

    _IMPLEMENTATIONS: tuple[LearnedBaseline, ...] = (_ztt, _gear)


def baseline_impl(name: str) -> LearnedBaseline:
    """The module implementing learned baseline ``name``.

    Raises:
        MetaDVFSError: Unknown name (the message lists :data:`LEARNED_BASELINES`).
    """
    if name not in BASELINE_MODULES:
        raise unknown_name("learned baseline", name, LEARNED_BASELINES)
    impl: LearnedBaseline = importlib.import_module(BASELINE_MODULES[name])
    return impl


def train_baseline(
    name: str,
    task: str,
    total_steps: int,
    out_dir: Path,
    seed: int = 0,
    decision_interval_s: float = 0.1,
    episode_seconds: float = 20.0,
    n_envs: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Train one baseline model for one task and write its checkpoint directory.

    Args:
        name: ``ztt`` or ``gear``.
        task: ``device:app``.
        total_steps: Environment steps (decisions) of training, counted exactly.
        out_dir: Checkpoint directory (created; its checkpoint files are replaced atomically).
        seed: Seed of the environments, network initialisation and exploration.
        decision_interval_s: Decision interval, s.
        episode_seconds: Training episode length, s.
        n_envs: Simulated phones stepped together.
        progress: Optional ``(steps_done, total_steps)`` callback.

    Returns:
        ``out_dir``.

    Raises:
        MetaDVFSError: Unknown baseline or task, or an invalid option.
    """
    mod = baseline_impl(name)
    if int(total_steps) < 1:
        raise MetaDVFSError(f"total_steps: must be >= 1, got {total_steps}")
    driver, info = mod.train(
        task,
        int(total_steps),
        seed=int(seed),
        decision_interval_s=decision_interval_s,
        episode_seconds=episode_seconds,
        n_envs=int(n_envs),
        progress=progress,
    )
    return save_checkpoint(
        Path(out_dir),
        name=name,
        task=task,
        env_kwargs=driver.env_kwargs,
        hyper=driver.cfg.to_dict(),
        device=driver.device,
        port=driver.port,
        train=info,
        state_dicts=driver.state_dicts(),
    )


def load_baseline(path: Path) -> BaselineDriver:
    """Load a baseline checkpoint directory written by :func:`train_baseline`.

    Raises:
        MetaDVFSError: Missing or corrupt files, or an unsupported schema (one line).
    """
    p = Path(path)
    doc, sds = read_checkpoint(p, LEARNED_BASELINES)
    return baseline_impl(doc["name"]).driver_from_checkpoint(doc, sds, p)
