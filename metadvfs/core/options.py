"""Environment options: one validated type for the simulated, batched and live environments and the training config.

The options every DVFS environment shares (decision interval, episode length, observation window, action
encoding, reward weights) are checked here, once, with one-line :class:`~metadvfs.errors.MetaDVFSError`
messages naming the field and its allowed range. The simulator tick and the reference PPR are not options of
this type: the tick belongs to the simulator, the reference to one environment instance.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from metadvfs.core.codec import ACTION_MODES
from metadvfs.core.reward import RewardWeights
from metadvfs.errors import MetaDVFSError

DECISION_INTERVAL_RANGE_S = (0.01, 10.0)
"""Allowed decision interval, s."""
WINDOW_RANGE = (1, 64)
"""Allowed observation history length, rows."""
LEVELS_RANGE = (2, 32)
"""Allowed choices per domain in ``absolute`` action mode."""


@dataclass(frozen=True)
class EnvOptions:
    """Options shared by ``metadvfs/DVFS-v0``, the batched VecEnv, ``metadvfs/LiveDVFS-v0`` and training configs.

    Attributes:
        decision_interval_s: Governor decision interval, s (0.01..10).
        episode_seconds: Episode length, s (at least one decision interval).
        window: Observation history length K, rows (1..64).
        action_mode: ``relative``, ``absolute`` or ``margin`` (see :mod:`metadvfs.core.codec`).
        levels: Choices per domain in ``absolute`` mode (2..32).
        reward_weights: Reward weights (a mapping of :class:`RewardWeights` fields is accepted and converted).
    """

    decision_interval_s: float = 0.1
    episode_seconds: float = 60.0
    window: int = 1
    action_mode: str = "relative"
    levels: int = 8
    reward_weights: RewardWeights = field(default_factory=RewardWeights)

    def __post_init__(self) -> None:
        if not isinstance(self.reward_weights, RewardWeights):
            object.__setattr__(self, "reward_weights", RewardWeights.from_any(self.reward_weights))
        if self.action_mode not in ACTION_MODES:
            raise MetaDVFSError(f"action_mode: must be one of {ACTION_MODES}, got {self.action_mode!r}")
        _check_int("levels", self.levels, LEVELS_RANGE)
        _check_int("window", self.window, WINDOW_RANGE)
        lo, hi = DECISION_INTERVAL_RANGE_S
        dt = self.decision_interval_s
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not lo <= dt <= hi:
            raise MetaDVFSError(f"decision_interval_s: must be in [{lo:g}, {hi:g}] s, got {dt}")
        ep = self.episode_seconds
        if isinstance(ep, bool) or not isinstance(ep, numbers.Real) or not math.isfinite(ep):
            raise MetaDVFSError(f"episode_seconds: must be a finite number of seconds, got {ep!r}")
        if ep < dt:
            raise MetaDVFSError("episode_seconds: shorter than one decision interval")

    @classmethod
    def build(cls, options: EnvOptions | None = None, **overrides: Any) -> EnvOptions:
        """Options from an instance (or the defaults) with keyword overrides; unknown keywords are rejected.

        Args:
            options: Base options (``None``: this class's defaults).
            **overrides: Field values replacing the base ones (``reward_weights`` may be a mapping).

        Returns:
            The validated options.

        Raises:
            MetaDVFSError: An unknown option or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise MetaDVFSError(f"unknown environment option {bad[0]!r}; allowed: {', '.join(sorted(known))}")
        base = options if options is not None else cls()
        return dataclasses.replace(base, **overrides) if overrides else base

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of the environments (``reward_weights`` as a plain mapping)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["reward_weights"] = dataclasses.asdict(self.reward_weights)
        return out


def _check_int(name: str, value: Any, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= int(value) <= hi:
        raise MetaDVFSError(f"{name}: must be in [{lo}, {hi}], got {value}")
