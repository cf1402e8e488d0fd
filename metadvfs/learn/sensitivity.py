"""How much a trained policy's decisions depend on its metadata, and whether it decides in closed loop at all.

A metadata-conditioned policy should decide differently on a different phone or app; a governor should decide
differently as the load changes. Both are measured on the model's own closed-loop rollouts: each task runs
``seconds`` of simulated time with its own metadata and the observations are recorded; then the same observations
are decided again with another task's metadata:

- ``other phone``: the metadata of the same app on each other phone of the task list;
- ``other app``: the metadata of each other app on the same phone;
- ``zeros``: an all-zero metadata vector.

Reported per domain (little, mid, big, GPU): the share of decisions whose action changes, and the normalised
entropy of the action distribution over the rollouts (0: the same action at every decision, a fixed setting that
ignores the load; 1: every action equally often). A domain a phone lacks is left out of its counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metadvfs.catalog.types import DOMAINS
from metadvfs.errors import MetaDVFSError

FIXED_ENTROPY = 0.1
"""Action entropy below which a domain is reported as kept at nearly one setting (a convention)."""
VARIANTS = ("other phone", "other app", "zeros")
"""The metadata replacements, in :attr:`Sensitivity.changed` order."""


@dataclass(frozen=True)
class Sensitivity:
    """Result of :func:`metadata_sensitivity`.

    Attributes:
        tasks: The tasks rolled out.
        decisions: Decisions recorded per task.
        changed: ``{variant: per-domain share of decisions whose action changes}`` (NaN: no such variant, e.g. one
            phone only).
        entropy: Per domain, normalised entropy of the action distribution (0..1).
        distribution: Per domain, ``{action: share of decisions}``.
    """

    tasks: list[str]
    decisions: int
    changed: dict[str, list[float]]
    entropy: list[float]
    distribution: list[dict[int, float]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN as ``None``)."""

        def clean(v: list[float]) -> list[float | None]:
            return [None if not np.isfinite(x) else float(x) for x in v]

        return {
            "tasks": self.tasks,
            "decisions": self.decisions,
            "domains": list(DOMAINS),
            "changed": {k: clean(v) for k, v in self.changed.items()},
            "entropy": clean(self.entropy),
            "distribution": [{str(a): s for a, s in d.items()} for d in self.distribution],
        }


def metadata_sensitivity(model: Any, task_names: Sequence[str], seconds: float = 15.0, seed: int = 7) -> Sensitivity:
    """Measure a checkpoint's metadata sensitivity and action diversity (see the module docstring).

    Args:
        model: A :class:`~metadvfs.learn.checkpoint.LoadedModel` trained with PPO.
        task_names: Tasks (``device:app``) to roll out; the ``other phone`` / ``other app`` metadata come from the
            same list (at least two phones / apps for those variants).
        seconds: Simulated time per task, s.
        seed: Environment seed (environment ``i`` uses ``seed + i``).

    Returns:
        The :class:`Sensitivity`.

    Raises:
        MetaDVFSError: Not a PPO checkpoint, no tasks, or ``seconds`` too short for one decision.
    """
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.evaluate import ModelDriver
    from metadvfs.learn.tasks import task_map

    if model.doc["algo"] != "ppo":
        raise MetaDVFSError(f"{model.path}: sensitivity needs a PPO checkpoint (this one is {model.doc['algo']})")
    names = list(dict.fromkeys(task_names))
    if not names:
        raise MetaDVFSError("sensitivity: no tasks")
    dt = float(model.cfg.env.decision_interval_s)
    steps = int(seconds / dt)
    if steps < 1:
        raise MetaDVFSError(f"sensitivity: {seconds:g} s is shorter than one decision ({dt:g} s)")
    drv = ModelDriver(model, names)
    venv = BatchedDVFSVecEnv(
        [(n.split(":", 1)[0], n.split(":", 1)[1]) for n in names],
        episode_seconds=max(seconds, dt) + dt,
        **drv.env_kwargs,
    )
    venv.seed(seed)
    obs = venv.reset()
    recorded = []
    for _ in range(steps):
        recorded.append(obs["obs"].copy())
        obs = venv.step(drv.act(venv, obs))[0]  # type: ignore[assignment]
    tasks = task_map(names)
    enc = {n: model.encode(tasks[n]) for n in names}
    present = np.array([[tasks[n].device.cluster(d) is not None if d != "gpu" else True for d in DOMAINS]
                        for n in names])  # fmt: skip

    def decide(meta: np.ndarray) -> np.ndarray:
        out = np.empty((steps, len(names), 4), dtype=np.int64)
        for t, o in enumerate(recorded):
            for mid, rows in drv.rows.items():
                a = model.act(mid, {"obs": o[rows], "meta": meta[rows].astype(np.float32)})
                out[t, rows] = np.asarray(a).reshape(len(rows), -1)
        return out

    own = decide(np.stack([enc[n] for n in names]))
    zeros = [(np.zeros((len(names), model.encoder.dim)), np.ones(len(names), dtype=bool))]
    metas = (_alternatives(names, enc, 0), _alternatives(names, enc, 1), zeros)
    changed = {v: _changed(own, present, decide, mm) for v, mm in zip(VARIANTS, metas, strict=True)}
    nvec = np.asarray(model.doc["action"]["n"])
    entropy: list[float] = []
    dist: list[dict[int, float]] = []
    for d in range(4):
        a = own[:, present[:, d], d].ravel()
        if a.size == 0:
            entropy.append(float("nan"))
            dist.append({})
            continue
        vals, cnt = np.unique(a, return_counts=True)
        p = cnt / cnt.sum()
        h = float((p * -np.log(p)).sum())  # >= 0 (0 for a single action, never -0.0)
        entropy.append(h / float(np.log(nvec[d])) + 0.0 if nvec[d] > 1 else 0.0)
        dist.append({int(v): round(float(s), 4) for v, s in zip(vals, p, strict=True)})
    return Sensitivity(names, steps, changed, entropy, dist)


def _alternatives(names: list[str], enc: dict[str, np.ndarray], part: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(metadata matrix, counted rows)`` pairs where each task takes another task's vector differing in ``part``.

    ``part`` is 0 (another phone, same app) or 1 (another app, same phone). The k-th matrix gives every task its
    k-th alternative (cycling when a task has fewer); a task without any keeps its own vector and is not counted.
    """
    split = [n.split(":", 1) for n in names]
    alts = [[names[j] for j, o in enumerate(split) if o[part] != s[part] and o[1 - part] == s[1 - part]] for s in split]
    counted = np.array([bool(a) for a in alts])
    k = max((len(a) for a in alts), default=0)
    return [
        (np.stack([enc[a[j % len(a)]] if a else enc[n] for n, a in zip(names, alts, strict=True)]), counted)
        for j in range(k)
    ]


def _changed(
    own: np.ndarray,
    present: np.ndarray,
    decide: Callable[[np.ndarray], np.ndarray],
    metas: list[tuple[np.ndarray, np.ndarray]],
) -> list[float]:
    """Per domain: share of counted (decision, task) pairs whose action differs under each alternative metadata."""
    if not metas:
        return [float("nan")] * 4
    hits = np.zeros(4)
    total = np.zeros(4)
    for meta, counted in metas:
        diff = decide(meta) != own
        for d in range(4):
            rows = counted & present[:, d]
            hits[d] += diff[:, rows, d].sum()
            total[d] += diff[:, rows, d].size
    return [float(h / t) if t else float("nan") for h, t in zip(hits, total, strict=True)]
