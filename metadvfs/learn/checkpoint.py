"""Model checkpoints as a directory of plain data, and the learned governor that loads them.

Layout of a checkpoint directory::

    model.json        schema + package version, mode, algo, spaces, network, tasks, groups, model files
    config.yaml       the resolved training config
    encoder.json      fitted metadata-encoder state
    models/<id>.pt    torch state_dict of each model's SB3 policy (tensors only; loaded with weights_only)

Loading checks the schema version; a missing or corrupt file is a one-line :class:`MetaDVFSError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml

import metadvfs
from metadvfs.errors import MetaDVFSError
from metadvfs.io import atomic_path, parse_document, write_text_atomic
from metadvfs.learn.config import TrainConfig, config_from_dict, config_to_dict
from metadvfs.learn.metadata import (
    Grouping,
    MetadataEncoder,
    OutOfRange,
    cosine_distances,
    same_metadata,
    task_metadata,
)
from metadvfs.learn.policy import policy_kwargs
from metadvfs.learn.tasks import ModelPlan
from metadvfs.tasks.task import Task

MODEL_SCHEMA = "metadvfs.model/1"
SUPPORTED_SCHEMAS = (MODEL_SCHEMA,)
ROUTE_CLOSE = 0.5
"""A new task is routed to a single-task fine-tune only within this fraction of the median nearest-neighbour
metadata distance among the model's training tasks (see :meth:`LoadedModel.model_for`)."""


def save_checkpoint(
    out: Path,
    *,
    cfg: TrainConfig,
    encoder: MetadataEncoder,
    plans: Sequence[ModelPlan],
    grouping: Grouping,
    task_names: Sequence[str],
    state_dicts: dict[str, dict[str, th.Tensor]],
    obs_space: Any,
    action_space: Any,
    train_info: dict[str, Any],
) -> None:
    """Write a checkpoint directory (every file atomically; ``model.json`` last)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    for pid, sd in state_dicts.items():
        with atomic_path(out / "models" / f"{pid}.pt") as tmp:
            th.save(sd, tmp)
    write_text_atomic(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    write_text_atomic(out / "encoder.json", json.dumps(encoder.state_dict(), indent=1))
    n_params = {pid: int(sum(t.numel() for t in sd.values())) for pid, sd in state_dicts.items()}
    doc = {
        "schema": MODEL_SCHEMA,
        "package_version": metadvfs.__version__,
        "name": cfg.name,
        "mode": cfg.mode,
        "algo": cfg.algo,
        "obs": {"window": int(obs_space["obs"].shape[0]), "obs_dim": int(obs_space["obs"].shape[1])},
        "meta_dim": int(obs_space["meta"].shape[0]),
        "action": {"mode": cfg.env.action_mode, "levels": cfg.env.levels, "n": _action_n(action_space)},
        "tasks": list(task_names),
        "grouping": {"labels": list(grouping.labels), "k": grouping.k, "criterion": grouping.criterion},
        "models": [
            {
                "id": p.id,
                "tasks": list(p.tasks),
                "use_meta": p.use_meta,
                "file": f"models/{p.id}.pt",
                "parameters": n_params.get(p.id, 0),
            }
            for p in plans
        ],
        "train": train_info,
    }
    write_text_atomic(out / "model.json", json.dumps(doc, indent=1))


def _action_n(space: Any) -> list[int]:
    return [int(space.n)] if hasattr(space, "n") else [int(x) for x in space.nvec]


def resolve_model_dir(model: str | Path) -> Path:
    """A checkpoint directory from a path or a shipped model name (``default``)."""
    p = Path(model)
    if p.is_dir():
        return p
    shipped = Path(__file__).resolve().parent.parent / "models" / str(model)
    if shipped.is_dir():
        return shipped
    if str(model) == "default" or not p.exists():
        from metadvfs.paths import PACKAGE_DIR

        avail = (
            sorted(d.name for d in (PACKAGE_DIR / "models").glob("*") if d.is_dir())
            if (PACKAGE_DIR / "models").is_dir()
            else []
        )
        raise MetaDVFSError(
            f"model {str(model)!r}: no such checkpoint directory or shipped model"
            + (f" (shipped: {', '.join(avail)})" if avail else "")
        )
    raise MetaDVFSError(f"{p}: not a checkpoint directory")


@dataclass
class LoadedModel:
    """A loaded checkpoint: its description, config, encoder and one SB3 policy per model id."""

    path: Path
    doc: dict[str, Any]
    cfg: TrainConfig
    encoder: MetadataEncoder
    policies: dict[str, Any]
    _train_cache: tuple[list[str], np.ndarray, float] | None = field(default=None, repr=False, compare=False)
    _learned_metadata: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def window(self) -> int:
        """Observation window length K."""
        return int(self.doc["obs"]["window"])

    def model_for(self, task: Task) -> str:
        """Id of the model that drives ``task``.

        A training task goes to the model that learned it. A new task goes to a shared (multi-task) model: the
        one holding the training task nearest to it by metadata (weighted cosine distance), unless its nearest
        training task has its own single-task fine-tune and the new task is *close* to it (distance at most
        :data:`ROUTE_CLOSE` times the median nearest-neighbour distance among the training tasks); then that
        fine-tune drives it. (Routing by the mean distance to a model's tasks sent new tasks to single-task
        fine-tunes, whose one task is always nearer on average than a whole group.) A profile file that takes a
        training task's name with other metadata is a new task (:meth:`is_training_task`).
        """
        if len(self.doc["models"]) == 1:
            return str(self.doc["models"][0]["id"])
        if self.is_training_task(task):
            return next(str(m["id"]) for m in self.doc["models"] if task.name in m["tasks"])
        owners, vecs, close = self._training_vectors()
        w = self.encoder.block_weights()
        d = cosine_distances(np.vstack([self.encode(task)[None], vecs]), w)[0, 1:]
        shared = {str(m["id"]) for m in self.doc["models"] if len(m["tasks"]) > 1}
        i = int(np.argmin(d))
        if not shared or owners[i] in shared or d[i] <= close:
            return owners[i]
        rows = [j for j, o in enumerate(owners) if o in shared]
        return owners[rows[int(np.argmin(d[rows]))]]

    def is_training_task(self, task: Task) -> bool:
        """Whether ``task`` is one the model learned: a training task's name *and* that task's metadata.

        A task is named by its phone and app (``pixel6:tiktok``); a profile file may reuse a catalog name with
        other contents (an edited copy of ``envs/apps/tiktok.yaml``), and the model has not learned that task.
        """
        if task.name not in self._training_names():
            return False
        if task.name not in self._learned_metadata:
            from metadvfs.learn.tasks import build_tasks

            try:
                self._learned_metadata[task.name] = task_metadata(build_tasks([task.name])[0])
            except MetaDVFSError:  # a training task that cannot be rebuilt here (a profile file gone): its name
                self._learned_metadata[task.name] = None
        mine = self._learned_metadata[task.name]
        return mine is None or same_metadata(task_metadata(task), mine)

    def _training_names(self) -> list[str]:
        """The training tasks in the order of :meth:`_training_vectors` (model by model)."""
        return [str(t) for m in self.doc["models"] for t in m["tasks"]]

    def _training_vectors(self) -> tuple[list[str], np.ndarray, float]:
        """Owner model of every training task, their encoded metadata and the 'close' distance (cached)."""
        if self._train_cache is None:
            from metadvfs.learn.tasks import build_tasks, encode_tasks

            owners = [str(m["id"]) for m in self.doc["models"] for _ in m["tasks"]]
            names = self._training_names()
            vecs = encode_tasks(build_tasks(names), self.encoder)
            dd = cosine_distances(vecs, self.encoder.block_weights())
            np.fill_diagonal(dd, np.inf)
            nn = dd.min(axis=1) if len(names) > 1 else np.zeros(1)
            self._train_cache = (owners, vecs, ROUTE_CLOSE * float(np.median(nn)))
        return self._train_cache

    def out_of_range(self, task: Task) -> list[OutOfRange]:
        """Metadata fields of ``task`` outside the model's training tasks (empty for a training task).

        Where a field is outside, the task's quality is extrapolated: the policy never saw such a phone or app
        (``metadvfs adapt`` fits it on the task). See :meth:`MetadataEncoder.out_of_range`.
        """
        if self.is_training_task(task):
            return []
        return self.encoder.out_of_range(task_metadata(task), task.name)

    def extrapolated(self, tasks: Sequence[Task]) -> dict[str, list[OutOfRange]]:
        """``{task name: fields outside}`` for the tasks of ``tasks`` outside the training range."""
        out: dict[str, list[OutOfRange]] = {}
        for t in tasks:
            if t.name not in out and (oor := self.out_of_range(t)):
                out[t.name] = oor
        return out

    def encode(self, task: Task) -> np.ndarray:
        """Encoded metadata of a task (errors if the profile cannot be encoded)."""
        return self.encoder.transform(task_metadata(task), task.name)

    def act(self, model_id: str, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """Actions of one model for a batch of observations (Dict of (B, ...) arrays)."""
        return policy_actions(self.policies[model_id], obs, deterministic)


def policy_actions(policy: Any, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
    """Actions of an SB3 policy for a batch of Dict observations, as SB3's ``predict`` computes them.

    The same tensors and the same action computation as ``policy.predict`` (``_predict`` on the observations as
    tensors, reshaped to the action space), without its per-call overhead (eval-mode switch of every module,
    observation copying and checks): 0.83x ``predict``'s time per decision of the shipped model on a 4-phone batch
    (``metadvfs bench --policy default``, README *Benchmarks*), which is most of the held-out evaluation an
    adaptation curve point runs. The policy is put in eval mode
    once (its networks have no dropout or batch norm, so the mode changes nothing but is kept as SB3 keeps it).

    Args:
        policy: SB3 policy (actor-critic or DQN) with a Dict observation space.
        obs: Observations, each (B, ...).
        deterministic: Most likely action instead of a sample.

    Returns:
        (B, *action shape) actions.
    """
    if policy.training:
        policy.set_training_mode(False)
    with th.inference_mode():
        t = {k: th.as_tensor(v, device=policy.device) for k, v in obs.items()}
        a = policy._predict(t, deterministic=deterministic)
    return a.cpu().numpy().reshape((-1, *policy.action_space.shape))


def _read_json(p: Path) -> dict[str, Any]:
    try:
        return parse_document(p.read_text(encoding="utf-8"), f"{p}: corrupt", "json")
    except MetaDVFSError:
        raise
    except FileNotFoundError:
        raise MetaDVFSError(f"{p}: missing (not a MetaDVFS checkpoint?)") from None
    except (OSError, ValueError) as exc:
        raise MetaDVFSError(f"{p}: corrupt ({exc.__class__.__name__})") from None


def build_policy(doc: dict[str, Any], cfg: TrainConfig, use_meta: bool) -> Any:
    """Create an (untrained) SB3 policy with the checkpoint's spaces and network."""
    from gymnasium import spaces
    from stable_baselines3.common.policies import MultiInputActorCriticPolicy
    from stable_baselines3.dqn.policies import MultiInputPolicy as DQNMultiInputPolicy

    from metadvfs.environment import codec
    from metadvfs.learn.wrappers import META_HIGH, META_LOW

    obs = spaces.Dict(
        {
            "obs": spaces.Box(codec.OBS_LOW, codec.OBS_HIGH, (doc["obs"]["window"], doc["obs"]["obs_dim"]), np.float32),
            "meta": spaces.Box(META_LOW, META_HIGH, (doc["meta_dim"],), np.float32),
        }
    )
    n = doc["action"]["n"]
    net = cfg.network
    pk = policy_kwargs(net.backbone, net.units, net.out_dim, net.meta_dim, use_meta, net.head, doc["algo"], net.wiring)
    pol: DQNMultiInputPolicy | MultiInputActorCriticPolicy = (
        DQNMultiInputPolicy(obs, spaces.Discrete(n[0]), lambda _: 0.0, **pk)
        if doc["algo"] == "dqn"
        else MultiInputActorCriticPolicy(obs, spaces.MultiDiscrete(n), lambda _: 0.0, **pk)
    )
    pol.set_training_mode(False)
    return pol


def load_checkpoint(model: str | Path) -> LoadedModel:
    """Load a checkpoint directory or shipped model name.

    Raises:
        MetaDVFSError: Missing/corrupt files or an unsupported schema version.
    """
    from metadvfs.learn.trainer import torch_threads

    th.set_num_threads(torch_threads())  # small nets: one thread (a second one spins on 2 shared cores)
    d = resolve_model_dir(model)
    doc = _read_json(d / "model.json")
    schema = doc.get("schema")
    if schema not in SUPPORTED_SCHEMAS:
        raise MetaDVFSError(
            f"{d / 'model.json'}: checkpoint schema {schema!r} is not supported by metadvfs "
            f"{metadvfs.__version__} (supported: {', '.join(SUPPORTED_SCHEMAS)})"
        )
    try:
        cfg_data = parse_document((d / "config.yaml").read_text(encoding="utf-8"), f"{d / 'config.yaml'}: corrupt")
    except FileNotFoundError:
        raise MetaDVFSError(f"{d / 'config.yaml'}: missing") from None
    except (OSError, yaml.YAMLError):
        raise MetaDVFSError(f"{d / 'config.yaml'}: corrupt") from None
    cfg = config_from_dict(cfg_data, str(d / "config.yaml"))
    encoder = MetadataEncoder.from_state(_read_json(d / "encoder.json"))
    policies: dict[str, Any] = {}
    try:
        for m in doc["models"]:
            pol = build_policy(doc, cfg, bool(m["use_meta"]))
            f = d / m["file"]
            try:
                sd = th.load(f, weights_only=True, map_location="cpu")
            except FileNotFoundError:
                raise MetaDVFSError(f"{f}: missing") from None
            except Exception as exc:  # torch raises many types for a damaged file
                raise MetaDVFSError(f"{f}: corrupt ({exc.__class__.__name__})") from None
            try:
                pol.load_state_dict(sd)
            except RuntimeError:
                raise MetaDVFSError(f"{f}: weights do not match the network in model.json") from None
            policies[str(m["id"])] = pol
    except KeyError as exc:
        raise MetaDVFSError(f"{d / 'model.json'}: field {exc.args[0]!r} missing") from None
    return LoadedModel(d, doc, cfg, encoder, policies)
