"""Shared parts of the learned single-task baselines (zTT, GearDVFS).

- the :class:`BaselineDriver` protocol the evaluation harness calls;
- task parsing, the batched training VecEnv and its unwrapping;
- the OPP -> absolute-action-choice inversion (both peers pick exact OPPs through ``action_mode="absolute"``
  with :data:`LEVELS` choices per domain; with at most 32 OPPs per table every OPP is reachable);
- the step-budget bookkeeping (the last vector step only counts the transitions still in the budget);
- the plain-data checkpoint directory (schema :data:`SCHEMA`);
- :func:`run_episodes`, which drives a baseline over evaluation episodes and summarises them with
  :mod:`metadvfs.metrics`.

Checkpoint layout (``weights.pt`` is written first, ``baseline.json`` last; both atomically)::

    baseline.json   schema, name, task, env options, hyper-parameters, port mapping, training info,
                    package version, weights file + SHA-256
    weights.pt      torch state_dict(s) (tensors only; loaded with ``weights_only=True``)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch as th

import metadvfs
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.io import atomic_path, parse_document, write_text_atomic

if TYPE_CHECKING:
    from metadvfs.environment.env_batch import EnvBatch
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv

SCHEMA = "metadvfs.baseline/1"
SUPPORTED_SCHEMAS = (SCHEMA,)
META_FILE = "baseline.json"
WEIGHTS_FILE = "weights.pt"
T = TypeVar("T")
LEVELS = 32
"""Absolute-mode choices per domain: the most the env allows, so every OPP of every profile is reachable."""


@runtime_checkable
class BaselineDriver(Protocol):
    """A trained single-task baseline acting on a :class:`BatchedDVFSVecEnv` built with :attr:`env_kwargs`."""

    name: str
    task: str
    env_kwargs: dict[str, Any]

    def reset(self, n_envs: int) -> None:
        """Start of an evaluation episode batch of ``n_envs`` environments."""

    def act(self, venv: BatchedDVFSVecEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 4) ``MultiDiscrete`` choices for the current step."""


@runtime_checkable
class TrainedBaseline(BaselineDriver, Protocol):
    """A freshly trained baseline driver: what :func:`~metadvfs.learn.baselines.train_baseline` saves."""

    device: dict[str, Any]
    port: dict[str, Any]

    @property
    def cfg(self) -> Any:
        """The baseline's hyper-parameters (an object with ``to_dict()``)."""

    def state_dicts(self) -> dict[str, dict[str, th.Tensor]]:
        """Network weights to save, by network name."""


class LearnedBaseline(Protocol):
    """A learned single-task peer method.

    A module under :mod:`metadvfs.learn.baselines` registered in :data:`~metadvfs.learn.baselines.BASELINE_MODULES`
    provides these three functions (mypy checks every registered module against this protocol).
    """

    def train(
        self,
        task: str,
        total_steps: int,
        seed: int = ...,
        decision_interval_s: float = ...,
        episode_seconds: float = ...,
        n_envs: int = ...,
        progress: Callable[[int, int], None] | None = ...,
        cfg: Any = ...,
    ) -> tuple[TrainedBaseline, dict[str, Any]]:
        """Train on one ``device:app`` task for ``total_steps`` decisions; returns the driver and training info.

        ``cfg`` is the module's hyper-parameter dataclass (None: the published values).
        """

    def config_from(self, d: dict[str, Any], where: str) -> Any:
        """The hyper-parameter dataclass from plain data (unknown keys and wrong types: a one-line error)."""

    def driver_from_checkpoint(self, doc: dict[str, Any], sds: dict[str, Any], path: Path) -> BaselineDriver:
        """Rebuild the driver from a checkpoint's description ``doc`` and weights ``sds`` (read from ``path``)."""


def config_from_dict(cls: type[T], d: Any, where: str, label: str) -> T:
    """Build a frozen hyper-parameter dataclass from plain data, checking keys and types.

    Every field's type follows its default: ``bool`` takes only booleans, ``int`` integers, ``float`` numbers,
    a ``tuple`` default a list of values of its items' type.

    Args:
        cls: The dataclass (every field has a default).
        d: Mapping of field name -> value (missing fields keep their defaults).
        where: Where the mapping comes from (the error prefix, e.g. a file and section).
        label: Name of the method in messages (``zTT``, ``GearDVFS``).

    Raises:
        MetaDVFSError: Not a mapping, an unknown key or a value of the wrong type (one line).
    """
    if not isinstance(d, dict):
        raise MetaDVFSError(f"{where}: must be a mapping of {label} hyper-parameters")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    bad = sorted(set(d) - set(defaults))
    if bad:
        raise MetaDVFSError(f"{where}: unknown {label} key(s) {bad}; allowed: {sorted(defaults)}")
    kw: dict[str, Any] = {}
    for k, v in d.items():
        kw[k] = _typed(v, defaults[k], f"{where}.{k}")
    return cls(**kw)


def _typed(v: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(v, bool):
            raise MetaDVFSError(f"{where}: must be true or false, got {v!r}")
        return v
    if isinstance(default, int):
        if isinstance(v, bool) or not isinstance(v, int):
            raise MetaDVFSError(f"{where}: must be an integer, got {v!r}")
        return v
    if isinstance(default, float):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MetaDVFSError(f"{where}: must be a number, got {v!r}")
        return float(v)
    if isinstance(default, tuple):
        if not isinstance(v, (list, tuple)) or len(v) != len(default):
            raise MetaDVFSError(f"{where}: must be a list of {len(default)} values, got {v!r}")
        return tuple(_typed(x, dx, where) for x, dx in zip(v, default, strict=True))
    return v


def parse_task(task: str) -> tuple[str, str]:
    """Split and validate ``device:app``.

    Raises:
        MetaDVFSError: Malformed name, unknown device or app.
    """
    from metadvfs.tasks.task import make_task

    parts = str(task).split(":")
    if len(parts) != 2 or not all(parts):
        raise MetaDVFSError(f"task: expected DEVICE:APP (e.g. pixel6:tiktok), got {task!r}")
    make_task(parts[0], parts[1])
    return parts[0], parts[1]


def env_options(decision_interval_s: float, window: int) -> dict[str, Any]:
    """``BatchedDVFSVecEnv`` keyword arguments a baseline acts in (absolute OPP choices)."""
    return {
        "decision_interval_s": float(decision_interval_s),
        "window": int(window),
        "action_mode": "absolute",
        "levels": LEVELS,
    }


def make_venv(task: str, n_envs: int, episode_seconds: float, env_kwargs: dict[str, Any], seed: int) -> Any:
    """A seeded batched VecEnv with ``n_envs`` copies of one task (env ``i`` gets seed ``seed + i``)."""
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv

    if n_envs < 1:
        raise MetaDVFSError(f"n_envs: must be >= 1, got {n_envs}")
    dev, app = parse_task(task)
    # ppr_ref=1: the baselines compute their own rewards, so skip the env's schedutil reference run
    venv = BatchedDVFSVecEnv([(dev, app)] * n_envs, episode_seconds=episode_seconds, ppr_ref=1.0, **env_kwargs)
    venv.seed(seed)
    return venv


def inner_batch(venv: Any) -> EnvBatch:
    """The :class:`EnvBatch` under a (possibly wrapped) :class:`BatchedDVFSVecEnv`."""
    v = venv
    while not hasattr(v, "batch") and hasattr(v, "venv"):
        v = v.venv
    if not hasattr(v, "batch"):
        raise MetaDVFSError("baseline drivers need a metadvfs BatchedDVFSVecEnv (no .batch attribute found)")
    return v.batch


def opp_to_choice(n_opp: int, levels: int = LEVELS) -> np.ndarray:
    """Absolute-mode choice selecting each OPP of an ``n_opp`` table (inverse of :func:`codec.decode`).

    Returns:
        (n_opp,) int64; entry ``k`` is the smallest choice that decodes to OPP ``k``.

    Raises:
        MetaDVFSError: Some OPP is unreachable (``n_opp > levels``).
    """
    a = np.arange(levels)[:, None]
    one = np.ones((1, 1))
    spec = codec.CodecSpec(one, one, np.array([[n_opp]]), one, one[0], one[0], one[0])
    opp = np.array(
        [codec.decode(a[i : i + 1], np.zeros((1, 1), np.int64), spec, "absolute", levels)[0, 0] for i in range(levels)]
    )
    out = np.full(n_opp, -1, dtype=np.int64)
    for choice in range(levels - 1, -1, -1):
        out[opp[choice]] = choice
    if np.any(out < 0):
        raise MetaDVFSError(f"device table with {n_opp} OPPs: more than the {levels} absolute levels of the env")
    return out


def device_signature(batch: EnvBatch, row: int = 0) -> dict[str, Any]:
    """Name, domain mask and OPP counts of one environment's device."""
    d = batch.tb.dev
    return {
        "device": d.names[row],
        "mask": [int(x) for x in d.mask[row]],
        "n_opp": [int(x) for x in d.n_opp[row]],
    }


def check_device(batch: EnvBatch, expect: dict[str, Any], name: str) -> None:
    """Raise unless every environment of ``batch`` runs the device the baseline was trained on."""
    d = batch.tb.dev
    ok = all(d.names[i] == expect["device"] for i in range(batch.n))
    ok = ok and np.array_equal(d.n_opp, np.broadcast_to(np.asarray(expect["n_opp"]), d.n_opp.shape))
    if not ok:
        got = sorted(set(d.names))
        raise MetaDVFSError(
            f"{name}: single-task model trained on {expect['device']} (OPP counts {expect['n_opp']}) "
            f"cannot drive {', '.join(got)}"
        )


def budget_take(done: int, total: int, n_envs: int) -> int:
    """Transitions of the next vector step that still fit in the step budget (0..n_envs)."""
    return max(0, min(n_envs, total - done))


class Progress:
    """Throttled ``progress(done, total)`` calls (about 200 per run, always the last one)."""

    def __init__(self, cb: Callable[[int, int], None] | None, total: int) -> None:
        self.cb = cb
        self.total = total
        self.every = max(1, total // 200)
        self.next = 0

    def __call__(self, done: int) -> None:
        """Report ``done`` steps if due (or finished)."""
        if self.cb is not None and (done >= self.next or done >= self.total):
            self.cb(int(done), int(self.total))
            self.next = done + self.every


def seeded_init(seed: int, build: Callable[[], T]) -> T:
    """Call ``build()`` (network construction) with torch's RNG seeded, leaving the global RNG state as it was."""
    with th.random.fork_rng(devices=[]):
        th.manual_seed(seed)
        return build()


# -- checkpoint -------------------------------------------------------------
def save_checkpoint(
    out_dir: Path,
    *,
    name: str,
    task: str,
    env_kwargs: dict[str, Any],
    hyper: dict[str, Any],
    device: dict[str, Any],
    port: dict[str, Any],
    train: dict[str, Any],
    state_dicts: dict[str, dict[str, th.Tensor]],
) -> Path:
    """Write a baseline checkpoint directory (weights first, then the JSON description)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wpath = out_dir / WEIGHTS_FILE
    with atomic_path(wpath) as tmp:
        th.save({k: {p: t.detach().cpu().clone() for p, t in sd.items()} for k, sd in state_dicts.items()}, tmp)
    n_params = int(sum(t.numel() for sd in state_dicts.values() for t in sd.values()))
    doc = {
        "schema": SCHEMA,
        "name": name,
        "task": task,
        "package_version": metadvfs.__version__,
        "env": env_kwargs,
        "hyperparameters": hyper,
        "device": device,
        "port": port,
        "train": train,
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(wpath), "parameters": n_params},
    }
    write_text_atomic(out_dir / META_FILE, json.dumps(doc, indent=1))
    return out_dir


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_checkpoint(path: Path, known: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, dict[str, th.Tensor]]]:
    """Read and verify a checkpoint directory.

    Args:
        path: The directory.
        known: Baseline names this package can load (None: the caller checks the name).

    Returns:
        ``(description, state_dicts)``.

    Raises:
        MetaDVFSError: Missing/corrupt files, checksum mismatch, unknown name or unsupported schema.
    """
    path = Path(path)
    meta = path / META_FILE
    if not path.is_dir():
        raise MetaDVFSError(f"{path}: no such baseline checkpoint directory")
    try:
        doc = parse_document(meta.read_text(encoding="utf-8"), f"{meta}: corrupt", "json")
    except MetaDVFSError:
        raise
    except FileNotFoundError:
        raise MetaDVFSError(f"{meta}: missing (not a baseline checkpoint?)") from None
    except (OSError, ValueError) as exc:
        raise MetaDVFSError(f"{meta}: corrupt ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{meta}: corrupt (not a JSON object)")
    schema = doc.get("schema")
    if schema not in SUPPORTED_SCHEMAS:
        raise MetaDVFSError(
            f"{meta}: schema {schema!r} is not supported by metadvfs {metadvfs.__version__} "
            f"(supported: {', '.join(SUPPORTED_SCHEMAS)})"
        )
    for key in ("name", "task", "env", "hyperparameters", "device", "port", "weights"):
        if key not in doc:
            raise MetaDVFSError(f"{meta}: field {key!r} missing")
    if known is not None and doc["name"] not in known:
        raise MetaDVFSError(f"{meta}: name {doc['name']!r} is not a learned baseline (known: {', '.join(known)})")
    w = doc["weights"]
    try:
        wpath = path / str(w["file"])
        sha = str(w["sha256"])
    except (KeyError, TypeError):
        raise MetaDVFSError(f"{meta}: field 'weights' must hold 'file' and 'sha256'") from None
    if not wpath.is_file():
        raise MetaDVFSError(f"{wpath}: missing")
    if _sha256(wpath) != sha:
        raise MetaDVFSError(f"{wpath}: corrupt (SHA-256 does not match {META_FILE})")
    try:
        sds = th.load(wpath, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for a damaged file
        raise MetaDVFSError(f"{wpath}: corrupt ({exc.__class__.__name__})") from None
    if not isinstance(sds, dict):
        raise MetaDVFSError(f"{wpath}: corrupt (not a dict of state_dicts)")
    return doc, sds


def load_state(module: th.nn.Module, sds: dict[str, Any], key: str, where: Path) -> None:
    """``module.load_state_dict(sds[key])`` with one-line errors."""
    if key not in sds:
        raise MetaDVFSError(f"{where}: state_dict {key!r} missing")
    try:
        module.load_state_dict(sds[key])
    except (RuntimeError, TypeError, AttributeError):
        raise MetaDVFSError(f"{where}: weights {key!r} do not match the network in {META_FILE}") from None


# -- evaluation helper ------------------------------------------------------
def run_episodes(
    driver: BaselineDriver,
    task: str,
    seconds: float,
    seeds: Sequence[int],
    ppr_ref: Sequence[float] | None = None,
) -> list[dict[str, float]]:
    """Drive one episode per seed (batched) with a baseline and summarise each with :mod:`metadvfs.metrics`.

    Environment ``i`` is seeded with ``seeds[i]``, so it sees the same demand window as
    ``metadvfs.sim.replay.replay(..., seed=seeds[i])`` (see that function).

    Args:
        driver: A loaded or freshly trained baseline.
        task: ``device:app``.
        seconds: Episode length, s.
        seeds: One seed per episode.
        ppr_ref: Optional schedutil PPR per seed (frames/J) for ``ppr_norm``.

    Returns:
        One metrics dict per seed (:func:`metadvfs.metrics.summarize`).
    """
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.metrics import Series, summarize

    dev, app = parse_task(task)
    venv = BatchedDVFSVecEnv([(dev, app)] * len(seeds), episode_seconds=seconds, **driver.env_kwargs)
    batch = venv.batch
    batch.seed(list(seeds))
    driver.reset(len(seeds))
    obs = venv.reset()  # no seeds pending in the VecEnv: the per-episode seeds set above are used
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("e", "req", "pres", "jank", "die", "skin", "thr")}
    for _ in range(batch.n_steps):
        a = np.asarray(driver.act(venv, obs)).reshape(batch.n, 4)
        _, _, venv.last_metrics = batch.step(a)  # stepped directly: no auto-reset after the last step
        obs = batch.observation()
        out = batch.last
        assert out is not None
        rec["e"].append(out.energy_mj)
        rec["req"].append(out.frames_req)
        rec["pres"].append(out.frames_presented)
        rec["jank"].append(out.frames_janky)
        rec["die"].append(out.temp_c[:, 0])
        rec["skin"].append(out.temp_c[:, 1])
        rec["thr"].append(out.throttled)
    arr = {k: np.stack(v) for k, v in rec.items()}
    res = []
    for i in range(len(seeds)):
        s = Series(
            step_s=batch.step_s,
            energy_mj=arr["e"][:, i],
            frames_req=arr["req"][:, i],
            frames_presented=arr["pres"][:, i],
            frames_janky=arr["jank"][:, i],
            temp_die_c=arr["die"][:, i],
            temp_skin_c=arr["skin"][:, i],
            throttled=arr["thr"][:, i],
        )
        res.append(summarize(s, None if ppr_ref is None else float(ppr_ref[i])))
    return res
