"""Typed, validated training configuration (``configs/*.yaml``).

Every section is a frozen dataclass; :func:`load_config` rejects unknown keys, wrong types and out-of-range
values with a one-line :class:`~metadvfs.errors.MetaDVFSError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metadvfs.core.options import EnvOptions
from metadvfs.errors import MetaDVFSError
from metadvfs.io import read_document
from metadvfs.learn.backbones import BACKBONES, WIRINGS, shape_problem

MODES = ("conditioned", "grouped", "standalone", "joint")
ALGOS = ("ppo", "dqn")
META_ALGOS = ("fomaml", "reptile", "cavia")


def _rng(lo: float | None = None, hi: float | None = None, choices: tuple[Any, ...] | None = None) -> dict[str, Any]:
    return {"lo": lo, "hi": hi, "choices": choices}


@dataclass(frozen=True)
class NetworkConfig:
    """Network shape (see :mod:`metadvfs.learn.policy`)."""

    backbone: str = field(default="cfc", metadata=_rng(choices=tuple(BACKBONES)))
    units: int = field(default=32, metadata=_rng(4, 512))
    out_dim: int = field(default=16, metadata=_rng(1, 256))
    meta_dim: int = field(default=16, metadata=_rng(1, 256))
    head: tuple[int, ...] = (64,)
    wiring: str = field(default="full", metadata=_rng(choices=WIRINGS))


@dataclass(frozen=True)
class EnvConfig(EnvOptions):
    """Environment options of a training run: :class:`~metadvfs.core.options.EnvOptions` with training defaults.

    Validated by ``EnvOptions`` itself; defaults are 20 s episodes and an 8-row window, and a run also keeps
    episodes within :data:`TRAIN_EPISODE_SECONDS`.
    """

    episode_seconds: float = 20.0
    window: int = 8


TRAIN_EPISODE_SECONDS = (1.0, 3600.0)
"""Episode length a training run accepts, s."""


@dataclass(frozen=True)
class PPOConfig:
    """SB3 PPO hyper-parameters."""

    n_steps: int = field(default=64, metadata=_rng(8, 100_000))
    batch_size: int = field(default=2048, metadata=_rng(16, 1_000_000))
    n_epochs: int = field(default=4, metadata=_rng(1, 100))
    learning_rate: float = field(default=5e-4, metadata=_rng(1e-7, 1.0))
    gamma: float = field(default=0.9, metadata=_rng(0.0, 1.0))
    gae_lambda: float = field(default=0.9, metadata=_rng(0.0, 1.0))
    ent_coef: float = field(default=0.003, metadata=_rng(0.0, 1.0))
    clip_range: float = field(default=0.2, metadata=_rng(0.01, 1.0))
    vf_coef: float = field(default=0.5, metadata=_rng(0.0, 10.0))
    max_grad_norm: float = field(default=0.5, metadata=_rng(0.01, 100.0))


@dataclass(frozen=True)
class DQNConfig:
    """SB3 DQN hyper-parameters (``docs/method.md`` §5.2 defaults)."""

    learning_rate: float = field(default=3e-4, metadata=_rng(1e-7, 1.0))
    buffer_size: int = field(default=100_000, metadata=_rng(100, 10_000_000))
    learning_starts: int = field(default=2_000, metadata=_rng(0, 10_000_000))
    batch_size: int = field(default=256, metadata=_rng(8, 100_000))
    gamma: float = field(default=0.95, metadata=_rng(0.0, 1.0))
    train_freq: int = field(default=1, metadata=_rng(1, 10_000))
    gradient_steps: int = field(default=1, metadata=_rng(1, 1_000))
    tau: float = field(default=0.005, metadata=_rng(0.0, 1.0))
    target_update_interval: int = field(default=1, metadata=_rng(1, 1_000_000))
    exploration_fraction: float = field(default=0.3, metadata=_rng(0.0, 1.0))
    exploration_initial_eps: float = field(default=1.0, metadata=_rng(0.0, 1.0))
    exploration_final_eps: float = field(default=0.05, metadata=_rng(0.0, 1.0))


@dataclass(frozen=True)
class MetaConfig:
    """Meta-training hyper-parameters (``metadvfs meta-train``); defaults from ``docs/method.md`` §5.2.

    Attributes:
        algo: ``fomaml``, ``reptile`` or ``cavia`` (inner steps fit only the context parameters).
        iterations: Meta-iterations per group.
        meta_batch: Tasks sampled per iteration (at most the group size).
        inner_steps: Inner adaptation steps per task (SGD steps for FOMAML, PPO updates for Reptile).
        inner_lr: Inner SGD step size α (FOMAML).
        outer_lr: Adam step size β (FOMAML).
        reptile_step: Reptile step size ε (fraction of the way to the adapted weights).
        envs_per_task: Simulated phones per task during meta-training.
        n_steps: Rollout length per environment for one support/query batch.
    """

    algo: str = field(default="fomaml", metadata=_rng(choices=META_ALGOS))
    iterations: int = field(default=40, metadata=_rng(1, 100_000))
    meta_batch: int = field(default=4, metadata=_rng(1, 64))
    inner_steps: int = field(default=2, metadata=_rng(1, 50))
    inner_lr: float = field(default=1e-3, metadata=_rng(1e-7, 1.0))
    outer_lr: float = field(default=3e-4, metadata=_rng(1e-7, 1.0))
    reptile_step: float = field(default=0.5, metadata=_rng(1e-4, 1.0))
    envs_per_task: int = field(default=8, metadata=_rng(1, 1024))
    n_steps: int = field(default=64, metadata=_rng(8, 10_000))


@dataclass(frozen=True)
class GeneratedConfig:
    """Procedurally generated training tasks mixed with ``tasks`` (:mod:`metadvfs.tasks.generator`).

    Attributes:
        devices: Generated phones around the real SoC families of ``base_devices``.
        apps: Generated apps around ``base_apps``.
        tasks: Generated (device, app) pairs added to the training tasks (0 = none).
        seed: Generator seed.
        base_devices: Real phones to generate around (empty: every catalog phone).
        base_apps: Real apps to generate around (empty: every catalog app).
        pool: Device parameter ranges from the base phone's SoC ``family`` or from ``all`` base phones.
        margin: Relative widening of the device parameter ranges.
        structure: Generated phones also sample each CPU cluster's core count and OPP count within the pool's
            ranges (widened by ``margin``) instead of copying the base phone's.
        gpu_bound: Share of the generated apps that are GPU-bound games, whose GPU demand is drawn from
            :data:`metadvfs.tasks.generator.GPU_DEMAND_RANGE` instead of scaled around the base app (whole percents).
    """

    devices: int = field(default=0, metadata=_rng(0, 10_000))
    apps: int = field(default=0, metadata=_rng(0, 10_000))
    tasks: int = field(default=0, metadata=_rng(0, 100_000))
    seed: int = field(default=0, metadata=_rng(0, 2**31 - 1))
    base_devices: tuple[str, ...] = ()
    base_apps: tuple[str, ...] = ()
    pool: str = field(default="all", metadata=_rng(choices=("family", "all")))
    margin: float = field(default=0.25, metadata=_rng(0.0, 1.0))
    structure: bool = False
    gpu_bound: float = field(default=0.0, metadata=_rng(0.0, 1.0))


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run.

    Attributes:
        name: Run name.
        tasks: ``device:app`` list, or ``["all"]`` for every catalog device x app.
        mode: ``conditioned`` (one FiLM-conditioned model over all tasks), ``grouped`` (one conditioned model
            per metadata group), ``standalone`` (one unconditioned model per task), ``joint`` (one
            unconditioned model over all tasks).
        groups: ``"auto"`` (silhouette) or a fixed number of groups (grouped mode).
        algo: ``ppo`` or ``dqn``.
        total_steps: Environment steps for the whole run (split over models in proportion to their tasks).
        envs_per_task: Parallel simulated phones per task.
        seed: Base seed.
        checkpoint_every_steps: Environment steps between resumable checkpoints (0 = only at the end).
        generated: Generated training tasks added to ``tasks`` (see :class:`GeneratedConfig`).
    """

    name: str = "run"
    tasks: tuple[str, ...] = ("all",)
    mode: str = field(default="conditioned", metadata=_rng(choices=MODES))
    groups: str | int = "auto"
    algo: str = field(default="ppo", metadata=_rng(choices=ALGOS))
    total_steps: int = field(default=1_000_000, metadata=_rng(1, 10**10))
    envs_per_task: int = field(default=32, metadata=_rng(1, 4096))
    seed: int = field(default=0, metadata=_rng(0, 2**31 - 1))
    checkpoint_every_steps: int = field(default=200_000, metadata=_rng(0, 10**10))
    network: NetworkConfig = NetworkConfig()
    env: EnvConfig = EnvConfig()
    ppo: PPOConfig = PPOConfig()
    dqn: DQNConfig = DQNConfig()
    meta: MetaConfig = MetaConfig()
    generated: GeneratedConfig = GeneratedConfig()


def _check_type(where: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise MetaDVFSError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MetaDVFSError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MetaDVFSError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise MetaDVFSError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise MetaDVFSError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_check_type(f"{where}[{i}]", v, inner) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise MetaDVFSError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _check_type(f"{where}.{k}", v, float) for k, v in value.items()}
    if origin in (types.UnionType, typing.Union):
        for alt in typing.get_args(tp):
            try:
                return _check_type(where, value, alt)
            except MetaDVFSError:
                continue
        raise MetaDVFSError(f"{where}: unexpected value {value!r}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    raise MetaDVFSError(f"{where}: unsupported field type")  # pragma: no cover


def _build(cls: Any, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    at = f"{where}: " if where else ""  # the top level has no field path
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{at}expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MetaDVFSError(f"{at}unknown key {unknown[0]!r} (allowed: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        w = f"{where}.{name}" if where else name
        v = _check_type(w, value, hints[name])
        meta = f.metadata
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise MetaDVFSError(f"{w}: must be one of {', '.join(map(str, meta['choices']))}, got {v!r}")
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and (v < lo or v > hi):
            raise MetaDVFSError(f"{w}: must be in [{lo}, {hi}], got {v}")
        kwargs[name] = v
    try:
        return cls(**kwargs)
    except MetaDVFSError as exc:  # types that validate themselves (EnvOptions, RewardWeights) name the field
        raise MetaDVFSError(_prefixed(where, str(exc))) from None


def _prefixed(where: str, msg: str) -> str:
    """Qualify a field error raised by a nested type with its path in the config (``env.window: ...``)."""
    parent, _, last = where.rpartition(".")
    if last and (msg.startswith(f"{last}.") or msg.startswith(f"{last}:")):
        return f"{parent}.{msg}" if parent else msg
    return f"{where}.{msg}" if where else msg


def config_from_dict(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate a config mapping.

    Args:
        data: Parsed YAML.
        source: File name for error messages.

    Returns:
        The typed config.
    """
    cfg: TrainConfig = _build(TrainConfig, data, "")
    cfg = _check_semantics(cfg, source)
    return cfg


def _check_semantics(cfg: TrainConfig, source: str) -> TrainConfig:
    if isinstance(cfg.groups, str) and cfg.groups != "auto":
        raise MetaDVFSError(f"{source}: groups: must be 'auto' or a positive integer, got {cfg.groups!r}")
    if isinstance(cfg.groups, int) and cfg.groups < 1:
        raise MetaDVFSError(f"{source}: groups: must be >= 1, got {cfg.groups}")
    if not cfg.tasks:
        raise MetaDVFSError(f"{source}: tasks: empty")
    n = cfg.network
    problem = shape_problem(n.backbone, n.wiring, n.units, n.out_dim)
    if problem:
        raise MetaDVFSError(f"{source}: network.{problem}")
    lo, hi = TRAIN_EPISODE_SECONDS
    if not lo <= cfg.env.episode_seconds <= hi:
        raise MetaDVFSError(f"{source}: env.episode_seconds: must be in [{lo}, {hi}], got {cfg.env.episode_seconds}")
    if cfg.algo == "dqn" and cfg.env.action_mode != "relative":
        raise MetaDVFSError(f"{source}: env.action_mode: dqn needs 'relative' (81 joint actions)")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML config file.

    Raises:
        MetaDVFSError: Missing file, YAML syntax error, unknown key, wrong type or out-of-range value.
    """
    p = Path(path)
    if not p.is_file():
        from metadvfs.paths import data_dir

        alt = data_dir("configs") / f"{p.name if p.suffix else p.name + '.yaml'}"
        if alt.is_file():
            p = alt
        else:
            raise MetaDVFSError(f"{path}: config file not found")
    data = read_document(p, fmt="yaml")
    try:
        return config_from_dict(data if data is not None else {}, str(p))
    except MetaDVFSError as exc:
        msg = str(exc)
        raise MetaDVFSError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain-data form of a config (for saving the resolved config)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)
