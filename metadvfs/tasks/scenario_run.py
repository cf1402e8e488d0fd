"""Run a scenario's tasks under governors and report which thermal throttle rules engaged, and when.

The simulator records per tick whether *any* throttle rule was active; which rules were active is
reconstructed here from the recorded die and skin temperatures with the simulator's own hysteresis rule (a rule
switches on when its sensor reaches ``trip_c`` and stays on while the sensor is above ``clear_c``, evaluated
at the end of every tick; see :func:`metadvfs.sim.kernel.fused_step`). Replays step one tick at a time, so the
reconstruction is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metadvfs.tasks.scenario import Scenario
from metadvfs.tasks.task import Task


def rule_activity(task: Task, temp_c: np.ndarray) -> np.ndarray:
    """Which throttle rules of the task's device were active after each tick.

    Args:
        task: The task (its device's thermal rules are used).
        temp_c: (S, 2) die and skin temperature at the end of each tick, degC.

    Returns:
        (S, R) bool, rule ``r`` active after tick ``s`` (it caps the OPPs of tick ``s + 1``).
    """
    rules = task.device.thermal.rules
    out = np.zeros((temp_c.shape[0], len(rules)), dtype=bool)
    for r, rule in enumerate(rules):
        sensor = temp_c[:, 0 if rule.sensor == "die" else 1]
        on = False
        for k, t in enumerate(sensor):
            on = bool(t >= rule.trip_c or (on and t > rule.clear_c))
            out[k, r] = on
    return out


def engaged_rules(task: Task, temp_c: np.ndarray, step_s: float) -> list[dict[str, Any]]:
    """Summary of every throttle rule that engaged during a run.

    Args:
        task: The task.
        temp_c: (S, 2) die and skin temperatures per tick, degC.
        step_s: Tick length, s.

    Returns:
        One dict per engaged rule: ``rule`` (index in the profile), ``sensor``, ``trip_c``, ``caps_khz``,
        ``source``, ``first_s`` (first time it was on, s), ``active_pct`` (share of the run, %).
    """
    act = rule_activity(task, temp_c)
    out = []
    for r, rule in enumerate(task.device.thermal.rules):
        col = act[:, r]
        if not col.any():
            continue
        out.append(
            {
                "rule": r,
                "sensor": rule.sensor,
                "trip_c": float(rule.trip_c),
                "caps_khz": dict(rule.caps_khz),
                "source": rule.source,
                "first_s": float((int(np.argmax(col)) + 1) * step_s),
                "active_pct": 100.0 * float(col.mean()),
            }
        )
    return out


def run_scenario(
    scenario: Scenario,
    governors: Sequence[str],
    seed: int = 0,
    seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Task], dict[str, Any]]:
    """Replay every task of a scenario under each governor (one batched replay per governor).

    Args:
        scenario: The scenario.
        governors: Governor names (see :mod:`metadvfs.governors.registry`).
        seed: Demand-window seed (the same for every task, as in ``metadvfs replay``).
        seconds: Session length, s (default: the scenario's ``duration_s``).
        progress: Called with the governor name before it runs.

    Returns:
        The tasks, and ``{governor: Timeline}``.
    """
    from metadvfs.governors.registry import make_governor
    from metadvfs.learn.tasks import build_tasks
    from metadvfs.sim.replay import replay

    tasks = build_tasks(scenario.task_names())
    dur = float(seconds if seconds is not None else scenario.duration_s)
    govs = {g: make_governor(g) for g in governors}  # validate every name before running
    timelines: dict[str, Any] = {}
    for g, gov in govs.items():
        if progress is not None:
            progress(g)
        timelines[g] = replay(tasks, gov, dur, seed)
    return tasks, timelines


def scenario_rows(tasks: Sequence[Task], timelines: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (task, governor): standard metrics plus the engaged throttle rules and the mean skin temperature.

    Args:
        tasks: The scenario's tasks, in timeline order.
        timelines: ``{governor: Timeline}`` from :func:`run_scenario`.

    Returns:
        One row per task and governor (task-major), JSON-able.
    """
    rows = []
    for i, task in enumerate(tasks):
        for g, tl in timelines.items():
            m = tl.metrics(i)
            rules = engaged_rules(task, tl.temp_c[:, i, :], tl.step_s)
            rows.append(
                {
                    "task": task.name,
                    "device": task.device.name,
                    "app": task.app.name,
                    "ambient_c": float(task.device.thermal.ambient_c),
                    "governor": g,
                    **m,
                    "mean_skin_c": float(np.mean(tl.temp_c[:, i, 1])),
                    "rules_engaged": rules,
                }
            )
    return rows
