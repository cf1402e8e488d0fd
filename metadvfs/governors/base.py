"""The governor interface shared by stock, oracle and learned governors.

A governor is called once per simulator tick with what the kernel would see at that moment and returns the
OPP index it wants per domain. It owns its own sampling period (schedutil reacts every tick, devfreq polls
every 50 ms, ...): between its own decisions it returns its previous choice. Everything is batched over N
environments (leading axis), so one governor object drives a whole batch of phones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from metadvfs.sim.core import SimCore, StepOut
from metadvfs.sim.device_arrays import DeviceArrays

if TYPE_CHECKING:
    from metadvfs.catalog.vendor import VendorSpec


@dataclass
class GovernorContext:
    """What a governor may know about the batch it drives.

    Attributes:
        dev: Device arrays (OPP tables, masks, ...).
        tick_s: Simulator tick, s.
        core: The simulator (only the oracle looks into it, to read future demand).
        mali: Per environment, ``None`` or a Mali DVFS table (rows of freq_khz, down, up, hys_ticks).
        vendor: Per environment, the device profile's ``vendor:`` section
            (:class:`~metadvfs.catalog.vendor.VendorSpec`) or ``None``; empty when the caller does not know it.
    """

    dev: DeviceArrays
    tick_s: float
    core: SimCore
    mali: list[np.ndarray | None]
    vendor: list[VendorSpec | None] = field(default_factory=list)


class Governor(ABC):
    """Base class: decides OPP indices for some domains of every environment."""

    name: str = "governor"
    domains: tuple[int, ...] = (0, 1, 2, 3)

    def reset(self, ctx: GovernorContext) -> None:
        """Prepare for a new run over the batch described by ``ctx``."""
        self.ctx = ctx

    @abstractmethod
    def decide(self, last: StepOut | None, cur_idx: np.ndarray) -> np.ndarray:
        """Return (N, 4) wanted OPP indices for the next tick.

        Args:
            last: Outputs of the previous tick (``None`` before the first tick).
            cur_idx: (N, 4) OPP indices currently applied.

        Returns:
            (N, 4) int OPP indices; only the governor's ``domains`` columns are used.
        """


def resolve_ceil(freq_mhz: np.ndarray, n_opp: np.ndarray, target_mhz: np.ndarray) -> np.ndarray:
    """Lowest OPP index whose frequency is >= the target (``CPUFREQ_RELATION_L``), per (env, domain).

    Args:
        freq_mhz: (N, D, K) padded OPP tables, MHz.
        n_opp: (N, D) real table lengths.
        target_mhz: (N, D) target frequencies, MHz.

    Returns:
        (N, D) OPP indices, at most ``n_opp - 1``.
    """
    below = (freq_mhz < target_mhz[:, :, None] - 1e-9).sum(axis=2)
    return np.minimum(below, n_opp - 1)


def resolve_floor(freq_mhz: np.ndarray, n_opp: np.ndarray, target_mhz: np.ndarray) -> np.ndarray:
    """Highest OPP index whose frequency is <= the target (``CPUFREQ_RELATION_H``), at least 0."""
    k = np.arange(freq_mhz.shape[2])[None, None, :]
    ok = (freq_mhz <= target_mhz[:, :, None] + 1e-9) & (k < n_opp[:, :, None])
    return np.maximum(ok.sum(axis=2) - 1, 0)


def resolve_closest(freq_mhz: np.ndarray, n_opp: np.ndarray, target_mhz: np.ndarray) -> np.ndarray:
    """OPP index closest to the target (``CPUFREQ_RELATION_C``)."""
    k = np.arange(freq_mhz.shape[2])[None, None, :]
    dist = np.abs(freq_mhz - target_mhz[:, :, None])
    dist = np.where(k < n_opp[:, :, None], dist, np.inf)
    return dist.argmin(axis=2)
