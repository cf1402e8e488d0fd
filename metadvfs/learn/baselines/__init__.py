"""Learned single-task baselines in MetaDVFS's evaluation harness: zTT and GearDVFS.

Both peers are single-task governors (one model per device x app, retrained per task), so each is trained
per task with a given step budget on the batched simulator and saved as a plain-data checkpoint directory
(:mod:`metadvfs.learn.baselines.common`). Porting decisions are documented in
:mod:`metadvfs.learn.baselines.ztt` and :mod:`metadvfs.learn.baselines.gear`.

Tuned variants are data, not code: ``configs/peers/<name>.yaml`` registers a learned baseline ``<name>`` that
trains the module of its ``base`` (``ztt`` or ``gear``) with the file's ``hyperparameters`` (the rest keep the
published defaults) and, optionally, its own ``env.decision_interval_s``; the step budget is then converted so
the variant gets the same phone-time as the published one. ``provenance`` (free-form) records how the values
were found. See docs/results/peers-30-tasks.md and ``experiments/peers.py --tune``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.learn.baselines.common import (
    META_FILE,
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
VARIANT_DIR = "peers"
"""Sub-directory of the shipped ``configs/`` holding the variant files (``<name>.yaml``)."""
VARIANT_KEYS = ("base", "hyperparameters", "env", "provenance")
DECISION_INTERVAL_RANGE = (0.01, 10.0)
"""Allowed ``env.decision_interval_s`` of a variant, s (the environment's range)."""


def variant_dir() -> Path | None:
    """``configs/peers/`` of the shipped data (None when absent)."""
    from metadvfs.paths import data_dir

    try:
        d = data_dir("configs") / VARIANT_DIR
    except FileNotFoundError:
        return None
    return d if d.is_dir() else None


def _variant_names() -> tuple[str, ...]:
    d = variant_dir()
    if d is None:
        return ()
    return tuple(sorted(p.stem for p in d.glob("*.yaml") if p.stem not in BASELINE_MODULES))


LEARNED_BASELINES: tuple[str, ...] = (*BASELINE_MODULES, *_variant_names())
"""Every learned single-task baseline: the published peers, then the variants of ``configs/peers/``."""


@dataclass(frozen=True)
class Variant:
    """A tuned variant of a published peer (one ``configs/peers/<name>.yaml``).

    Attributes:
        name: Baseline name (the file's stem).
        base: The published peer it varies (a key of :data:`BASELINE_MODULES`).
        hyperparameters: Overrides of the base's hyper-parameters.
        decision_interval_s: Its own decision interval, s (None: the harness's).
        path: The file.
    """

    name: str
    base: str
    hyperparameters: dict[str, Any]
    decision_interval_s: float | None
    path: Path


def read_variant(name: str) -> Variant | None:
    """The variant ``name`` (None for a published peer).

    Raises:
        MetaDVFSError: Unknown name, or a malformed file (one line naming the file and field).
    """
    if name in BASELINE_MODULES:
        return None
    d = variant_dir()
    path = d / f"{name}.yaml" if d is not None else None
    if path is None or not path.is_file():
        raise unknown_name("learned baseline", name, LEARNED_BASELINES)
    from metadvfs.io import read_document

    doc = read_document(path)
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{path}: must be a mapping with keys {', '.join(VARIANT_KEYS)}")
    bad = sorted(set(doc) - set(VARIANT_KEYS))
    if bad:
        raise MetaDVFSError(f"{path}: unknown key(s) {bad}; allowed: {', '.join(VARIANT_KEYS)}")
    base = doc.get("base")
    if base not in BASELINE_MODULES:
        raise MetaDVFSError(f"{path}: base: must be one of {', '.join(BASELINE_MODULES)}, got {base!r}")
    hyper = doc.get("hyperparameters") or {}
    if not isinstance(hyper, dict):
        raise MetaDVFSError(f"{path}: hyperparameters: must be a mapping")
    baseline_impl(base).config_from(hyper, f"{path}: hyperparameters")  # validates keys and types now
    env = doc.get("env") or {}
    if not isinstance(env, dict) or set(env) - {"decision_interval_s"}:
        raise MetaDVFSError(f"{path}: env: only decision_interval_s may be set, got {env!r}")
    dt = env.get("decision_interval_s")
    lo, hi = DECISION_INTERVAL_RANGE
    if dt is not None and (isinstance(dt, bool) or not isinstance(dt, (int, float)) or not lo <= dt <= hi):
        raise MetaDVFSError(f"{path}: env.decision_interval_s: must be a number in [{lo}, {hi}] s, got {dt!r}")
    return Variant(name, str(base), dict(hyper), None if dt is None else float(dt), path)


__all__ = [
    "BASELINE_MODULES",
    "LEARNED_BASELINES",
    "BaselineDriver",
    "LearnedBaseline",
    "Variant",
    "baseline_impl",
    "load_baseline",
    "read_variant",
    "run_episodes",
    "train_baseline",
]

if TYPE_CHECKING:  # mypy checks that every registered module satisfies the protocol
    from metadvfs.learn.baselines import gear as _gear
    from metadvfs.learn.baselines import ztt as _ztt

    _IMPLEMENTATIONS: tuple[LearnedBaseline, ...] = (_ztt, _gear)


def baseline_impl(name: str) -> LearnedBaseline:
    """The module implementing learned baseline ``name`` (a variant's: its base's).

    Raises:
        MetaDVFSError: Unknown name (the message lists :data:`LEARNED_BASELINES`), or a malformed variant file.
    """
    if name not in BASELINE_MODULES:
        v = read_variant(name)
        assert v is not None
        name = v.base
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
    variant: Variant | None = None,
) -> Path:
    """Train one baseline model for one task and write its checkpoint directory.

    A variant with its own decision interval trains for ``round(total_steps * decision_interval_s / its
    interval)`` decisions, the same phone-time; the training info records ``phone_seconds`` either way.

    Args:
        name: ``ztt``, ``gear`` or a variant (:data:`LEARNED_BASELINES`).
        task: ``device:app``.
        total_steps: Environment steps (decisions at ``decision_interval_s``) of training, counted exactly.
        out_dir: Checkpoint directory (created; its checkpoint files are replaced atomically).
        seed: Seed of the environments, network initialisation and exploration.
        decision_interval_s: Decision interval, s.
        episode_seconds: Training episode length, s.
        n_envs: Simulated phones stepped together.
        progress: Optional ``(steps_done, total_steps)`` callback.
        variant: Hyper-parameters and decision interval to train with instead of ``name``'s (a grid point of a
            search; the checkpoint is saved as ``name`` with these hyper-parameters).

    Returns:
        ``out_dir``.

    Raises:
        MetaDVFSError: Unknown baseline or task, or an invalid option.
    """
    mod = baseline_impl(name)
    if int(total_steps) < 1:
        raise MetaDVFSError(f"total_steps: must be >= 1, got {total_steps}")
    v = variant if variant is not None else read_variant(name)
    cfg, steps, dt = None, int(total_steps), float(decision_interval_s)
    if v is not None:
        cfg = mod.config_from(v.hyperparameters, f"{v.path}: hyperparameters")
        if v.decision_interval_s is not None:
            steps = max(1, round(steps * dt / v.decision_interval_s))
            dt = v.decision_interval_s
    driver, info = mod.train(
        task,
        steps,
        seed=int(seed),
        decision_interval_s=dt,
        episode_seconds=episode_seconds,
        n_envs=int(n_envs),
        progress=progress,
        cfg=cfg,
    )
    base = name if v is None else v.base
    info = {**info, "phone_seconds": round(steps * dt, 3), "base": base, "variant": None if v is None else v.name}
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

    A variant's checkpoint names itself and its base peer in its training info (``variant``, ``base``), so it
    loads without the variant file.

    Raises:
        MetaDVFSError: Missing or corrupt files, an unknown name or an unsupported schema (one line).
    """
    p = Path(path)
    doc, sds = read_checkpoint(p, None)
    name = str(doc["name"])
    train = doc.get("train")
    base = name if name in BASELINE_MODULES else None
    if base is None and isinstance(train, dict) and train.get("variant") == name:
        base = train.get("base")
    if base not in BASELINE_MODULES:
        raise MetaDVFSError(
            f"{p / META_FILE}: name {name!r} is not a learned baseline (known: {', '.join(LEARNED_BASELINES)})"
        )
    drv = baseline_impl(str(base)).driver_from_checkpoint(doc, sds, p)
    drv.name = name
    return drv
