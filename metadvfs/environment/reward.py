"""Compatibility path: the reward lives in :mod:`metadvfs.core.reward` (gym-free)."""

from metadvfs.core.reward import *  # noqa: F403
from metadvfs.core.reward import __all__  # noqa: F401
