"""Task lists, metadata tables and the model plan (which model learns which tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.metadata import SCHEMA_VERSION, Grouping, MetadataEncoder, group_tasks, task_metadata
from metadvfs.tasks.task import Task, make_task


def all_task_names() -> list[str]:
    """Every catalog ``device:app`` pair (devices x apps, sorted)."""
    from metadvfs.catalog.devices import list_devices
    from metadvfs.workload.apps import list_apps

    return [f"{d}:{a}" for d in list_devices() for a in list_apps()]


SCENARIO_PREFIX = "scenario:"
"""Task-list item naming a scenario (``scenario:thermal-35c`` or ``scenario:path/to/file.yaml``)."""


def _task_items(spec: Sequence[str] | str) -> list[str]:
    return [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]


def parse_task_names(spec: Sequence[str] | str) -> list[str]:
    """Expand ``all`` / scenarios / comma lists into ``device:app`` names (validated against the catalogs).

    Args:
        spec: ``"all"``, ``"pixel6:tiktok,pixel3:3dmark@35C"`` (``@<degC>C`` overrides the ambient temperature),
            ``"scenario:thermal-35c"`` (the scenario's tasks, see :mod:`metadvfs.tasks.scenario`) or a list of such
            items.

    Returns:
        Task names without duplicates, in the given order.
    """
    from metadvfs.tasks.scenario import load_scenario
    from metadvfs.tasks.task import split_ambient

    out: list[str] = []
    for it in _task_items(spec):
        if it == "all":
            out.extend(all_task_names())
            continue
        if it.startswith(SCENARIO_PREFIX):
            out.extend(load_scenario(it[len(SCENARIO_PREFIX) :]).task_names())
            continue
        if it.count(":") != 1:
            raise MetaDVFSError(
                f"task {it!r}: expected DEVICE:APP[@<degC>C] (e.g. pixel6:tiktok or pixel6:3dmark@35C), "
                "scenario:NAME or 'all'"
            )
        split_ambient(it.split(":", 1)[1], f"task {it!r}")
        out.append(it)
    uniq = list(dict.fromkeys(out))
    if not uniq:
        raise MetaDVFSError("tasks: empty task list")
    return uniq


def scenario_seconds(spec: Sequence[str] | str) -> float | None:
    """Longest ``duration_s`` of the scenarios named in a task spec, s (``None`` if it names none)."""
    from metadvfs.tasks.scenario import load_scenario

    durs = [load_scenario(it[len(SCENARIO_PREFIX) :]).duration_s for it in _task_items(spec)
            if it.startswith(SCENARIO_PREFIX)]  # fmt: skip
    return max(durs) if durs else None


def training_task_names(cfg: Any) -> list[str]:
    """The run's tasks: ``cfg.tasks`` expanded, then the ``generated:`` section's tasks (if any).

    Args:
        cfg: A :class:`~metadvfs.learn.config.TrainConfig`.

    Returns:
        Task names, real ones first.
    """
    from metadvfs.tasks.generator import generated_task_names

    names = parse_task_names(list(cfg.tasks))
    g = cfg.generated
    if g.tasks <= 0:
        return names
    from metadvfs.catalog.devices import list_devices
    from metadvfs.workload.apps import list_apps

    try:
        gen = generated_task_names(
            g.devices, g.apps, g.tasks, g.seed, list(g.base_devices) or list_devices(),
            list(g.base_apps) or list_apps(), g.pool, g.margin, g.structure, g.gpu_bound,
        )  # fmt: skip
    except MetaDVFSError as exc:
        raise MetaDVFSError(f"generated: {exc}") from None
    return names + [n for n in gen if n not in names]


def build_tasks(names: Sequence[str | Task], tick_s: float = 0.01) -> list[Task]:
    """Load the tasks (``device:app[@<degC>C]`` with names or profile paths; Task objects pass through)."""
    from metadvfs.tasks.task import split_ambient

    out = []
    for n in names:
        if isinstance(n, Task):
            out.append(n)
            continue
        dev, app = n.split(":", 1) if ":" in n else (n, "")
        app, amb = split_ambient(app, f"task {n!r}")
        out.append(make_task(dev, app, tick_s=tick_s, ambient_c=amb))
    return out


def task_map(names: Sequence[str], tick_s: float = 0.01) -> dict[str, Task]:
    """``{given name: task}`` for unique names (a name may be a ``profile.yaml:app`` path pair)."""
    uniq = list(dict.fromkeys(names))
    return dict(zip(uniq, build_tasks(uniq, tick_s), strict=True))


def encode_tasks(tasks: Sequence[Task], encoder: MetadataEncoder) -> np.ndarray:
    """(T, M) encoded metadata of the tasks."""
    return np.stack([encoder.transform(task_metadata(t), t.name) for t in tasks])


def fit_encoder(tasks: Sequence[Task], schema: str = SCHEMA_VERSION) -> MetadataEncoder:
    """Fit the metadata encoder (of metadata schema ``schema``) on the training tasks."""
    return MetadataEncoder(schema=schema).fit([task_metadata(t) for t in tasks])


@dataclass(frozen=True)
class ModelPlan:
    """One model of a run.

    Attributes:
        id: File-safe identifier (``all``, ``g0``, ``pixel6-tiktok``...).
        tasks: Task names it trains on.
        use_meta: Whether the network is conditioned on metadata.
    """

    id: str
    tasks: tuple[str, ...]
    use_meta: bool


def plan_models(
    mode: str, names: Sequence[str], vectors: np.ndarray, weights: np.ndarray, groups: str | int
) -> tuple[list[ModelPlan], Grouping]:
    """Decide which models a run trains.

    Args:
        mode: ``conditioned`` | ``grouped`` | ``standalone`` | ``joint``.
        names: Task names.
        vectors: (T, M) encoded metadata.
        weights: Feature weights for the grouping distance.
        groups: ``"auto"`` or a number of groups.

    Returns:
        The models and the metadata grouping of the tasks (computed in every mode, for reporting).
    """
    k = None if groups == "auto" else int(groups)
    if k is not None and k > len(names):
        raise MetaDVFSError(f"groups: {k} groups for only {len(names)} tasks")
    grouping = group_tasks(vectors, weights, k=k)
    if mode == "conditioned":
        return [ModelPlan("all", tuple(names), True)], grouping
    if mode == "joint":
        return [ModelPlan("all", tuple(names), False)], grouping
    if mode == "standalone":
        return [ModelPlan(n.replace(":", "-"), (n,), False) for n in names], grouping
    plans = []
    for g in range(grouping.k):
        members = tuple(n for n, lab in zip(names, grouping.labels, strict=True) if lab == g)
        plans.append(ModelPlan(f"g{g}", members, True))
    return plans, grouping
