"""Compatibility path: the codec lives in :mod:`metadvfs.core.codec` (gym-free)."""

from metadvfs.core.codec import *  # noqa: F403
from metadvfs.core.codec import __all__  # noqa: F401
