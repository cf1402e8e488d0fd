"""Run independent units serially or as Ray tasks, with the same results either way.

A :class:`Unit` names a module-level function by ``"module:function"`` and its keyword arguments (plain data:
numbers, strings, lists, dicts), so the function runs the same in this process or in a Ray worker, and its
result only depends on those arguments (every unit carries its seeds). The units write their files into
the storage root themselves; results come back in the order of the units.

A Ray unit asks for ``num_cpus`` CPUs; when its worker dies (killed, out of memory, node lost) Ray reruns it
up to ``max_retries`` times, and the unit functions resume from their last checkpoint in the storage root
(:mod:`metadvfs.scale.units`). An exception raised by the unit itself is not retried: it is reported.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from metadvfs.errors import MetaDVFSError

DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class Unit:
    """One independent piece of work.

    Attributes:
        key: Unique, human-readable name (progress lines, error messages).
        fn: ``"package.module:function"``.
        kwargs: Keyword arguments (plain data).
        num_cpus: CPUs the unit asks Ray for.
    """

    key: str
    fn: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    num_cpus: float = 1.0


def resolve(fn: str) -> Callable[..., Any]:
    """Import ``"module:function"``."""
    mod, _, name = fn.partition(":")
    return getattr(importlib.import_module(mod), name)  # type: ignore[no-any-return]


def call_unit(fn: str, kwargs: dict[str, Any]) -> Any:
    """Run one unit in this process (what a Ray worker executes)."""
    return resolve(fn)(**kwargs)


Progress = Callable[[str, int, int], None]
"""``(unit key, units finished, units total)``."""


class SerialRunner:
    """Run units one after the other in this process."""

    name = "serial"

    def run(self, units: Sequence[Unit], progress: Progress | None = None) -> list[Any]:
        """Run every unit; results in unit order."""
        out = []
        for i, u in enumerate(units):
            out.append(call_unit(u.fn, u.kwargs))
            if progress:
                progress(u.key, i + 1, len(units))
        return out


class RayRunner:
    """Run units as Ray tasks on a cluster (see :mod:`metadvfs.scale.backend` for the ``--ray`` values).

    Args:
        ray_value: The ``--ray`` value.
        max_retries: Reruns of a unit whose worker died.
    """

    name = "ray"

    def __init__(self, ray_value: str, max_retries: int = DEFAULT_RETRIES):
        from metadvfs.scale.backend import connect

        self.ray = connect(ray_value)
        self.max_retries = max_retries
        self._remote = self.ray.remote(call_unit)

    def run(self, units: Sequence[Unit], progress: Progress | None = None) -> list[Any]:
        """Submit every unit, wait for all; results in unit order.

        Raises:
            MetaDVFSError: A unit failed (its own error, or its worker died more than ``max_retries`` times).
        """
        ray = self.ray
        refs = [
            self._remote.options(
                num_cpus=u.num_cpus, max_retries=self.max_retries, retry_exceptions=False, name=u.key
            ).remote(u.fn, u.kwargs)
            for u in units
        ]
        index = {r: i for i, r in enumerate(refs)}
        results: list[Any] = [None] * len(units)
        pending = list(refs)
        done = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                i = index[r]
                try:
                    results[i] = ray.get(r)
                except Exception as exc:
                    for p in pending:
                        ray.cancel(p, force=True)
                    cause = getattr(exc, "cause", None) or exc
                    if isinstance(cause, MetaDVFSError):
                        raise MetaDVFSError(f"unit {units[i].key}: {cause}") from None
                    msg = str(cause).strip().splitlines()
                    raise MetaDVFSError(
                        f"unit {units[i].key} failed on Ray ({cause.__class__.__name__}: {msg[-1] if msg else ''})"
                    ) from None
                done += 1
                if progress:
                    progress(units[i].key, done, len(units))
        return results


def make_runner(ray_value: str | None, max_retries: int = DEFAULT_RETRIES) -> SerialRunner | RayRunner:
    """The serial runner, or a Ray runner when ``--ray`` was given."""
    if ray_value is None:
        return SerialRunner()
    return RayRunner(ray_value, max_retries)


def timed_run(
    runner: SerialRunner | RayRunner, units: Sequence[Unit], progress: Progress | None = None
) -> tuple[list[Any], float]:
    """Run units; return the results and the wall time, s."""
    t = time.perf_counter()
    res = runner.run(units, progress)
    return res, time.perf_counter() - t
