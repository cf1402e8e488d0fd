"""Sweep search spaces: a YAML file mapping config fields to distributions, validated before anything runs.

Format (dotted keys name fields of the training config, see ``configs/README.md``)::

    ppo.learning_rate: {loguniform: [1.0e-4, 3.0e-3]}   # lo > 0, lo < hi
    ppo.gamma: {uniform: [0.85, 0.99]}                  # lo < hi
    network.units: {randint: [16, 64]}                  # integers, both ends included, lo < hi
    ppo.n_epochs: {choice: [2, 4, 8]}                   # a non-empty list

Every key must be a field of the config; both ends of a range (and every choice) must pass the config's own
validation (types and allowed ranges), so a trial can never fail on a bad value. A violation is a one-line
:class:`~metadvfs.errors.MetaDVFSError` naming the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError
from metadvfs.io import read_document

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
FIXED = ("name", "tasks", "mode", "groups")
"""Fields a sweep may not vary (they define the run, not its hyper-parameters)."""


@dataclass(frozen=True)
class Dim:
    """One searched field.

    Attributes:
        key: Dotted config field, e.g. ``ppo.learning_rate``.
        dist: One of :data:`DISTRIBUTIONS`.
        args: ``[lo, hi]`` for ranges, the values for ``choice``.
    """

    key: str
    dist: str
    args: tuple[Any, ...]

    def tune_domain(self) -> Any:
        """The Ray Tune sampling domain."""
        from ray import tune

        if self.dist == "uniform":
            return tune.uniform(*self.args)
        if self.dist == "loguniform":
            return tune.loguniform(*self.args)
        if self.dist == "randint":
            return tune.randint(self.args[0], self.args[1] + 1)
        return tune.choice(list(self.args))


def set_key(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of a config mapping with the dotted ``key`` set to ``value``."""
    out = copy.deepcopy(data)
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def apply(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A config mapping with every sampled ``params`` value set."""
    for k, v in params.items():
        data = set_key(data, k, v)
    return data


def _field_keys() -> dict[str, Any]:
    from metadvfs.learn.config import TrainConfig

    keys: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            for g in dataclasses.fields(default):
                keys[f"{f.name}.{g.name}"] = g
        else:
            keys[f.name] = f
    return keys


def _flatten(data: dict[str, Any], fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys; a nested mapping is a config section unless its key is already a field."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if key not in fields and isinstance(v, dict) and v and not set(v) & set(DISTRIBUTIONS):
            out.update(_flatten(v, fields, key + "."))
        else:
            out[key] = v
    return out


def load_space(path: str | Path, base: dict[str, Any]) -> list[Dim]:
    """Read and validate a space file against a base config mapping.

    Args:
        path: Space YAML file.
        base: The base config as plain data (:func:`metadvfs.learn.config.config_to_dict`).

    Returns:
        The dimensions, in file order.

    Raises:
        MetaDVFSError: Missing file, bad YAML, unknown or fixed key, unknown distribution, empty range or a
            value the config rejects.
    """
    from metadvfs.learn.config import config_from_dict

    p = Path(path)
    if not p.is_file():
        raise MetaDVFSError(f"{p}: space file not found")
    raw = read_document(p, fmt="yaml")  # the project's one reader: duplicate keys rejected, line named
    if not isinstance(raw, dict) or not raw:
        raise MetaDVFSError(f"{p}: expected a non-empty mapping of config keys to distributions")
    fields = _field_keys()
    dims: list[Dim] = []
    for key, spec in _flatten(raw, fields).items():
        if key not in fields:
            raise MetaDVFSError(f"{p}: unknown key {key!r} (a config field such as ppo.learning_rate, network.units)")
        if key in FIXED or key.startswith("meta.") or key == "seed":
            raise MetaDVFSError(
                f"{p}: {key}: cannot be searched (allowed: hyper-parameters, not {', '.join(FIXED)}, seed or meta.*)"
            )
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise MetaDVFSError(f"{p}: {key}: expected one of {{{', '.join(d + ': ...' for d in DISTRIBUTIONS)}}}")
        dist, args = next(iter(spec.items()))
        if not isinstance(args, list) or not args:
            raise MetaDVFSError(f"{p}: {key}: {dist}: empty (expected {'[lo, hi]' if dist != 'choice' else 'a list'})")
        if dist != "choice":
            if len(args) != 2 or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
                raise MetaDVFSError(f"{p}: {key}: {dist}: expected [lo, hi] numbers, got {args!r}")
            lo, hi = args
            if dist == "randint" and not all(isinstance(a, int) for a in args):
                raise MetaDVFSError(f"{p}: {key}: randint: expected integers, got {args!r}")
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                raise MetaDVFSError(f"{p}: {key}: {dist}: empty range [{lo}, {hi}] (need lo < hi)")
            if dist == "loguniform" and lo <= 0:
                raise MetaDVFSError(f"{p}: {key}: loguniform: lo must be > 0, got {lo}")
        probe = [*args, (float(args[0]) + float(args[1])) / 2.0] if dist in ("uniform", "loguniform") else args
        for v in probe:
            try:
                config_from_dict(set_key(base, key, v), str(p))
            except MetaDVFSError as exc:
                msg = str(exc).removeprefix(f"{p}: ")
                raise MetaDVFSError(f"{p}: {key}: value {v!r} rejected by the config ({msg})") from None
        dims.append(Dim(key, dist, tuple(args)))
    return dims
