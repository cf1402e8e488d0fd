"""MetaDVFS: learned CPU/GPU frequency governors for phones (simulator, governors, learners, deployment)."""

from __future__ import annotations

__version__ = "0.1.0"

from metadvfs import environment as _environment  # noqa: F401  (registers metadvfs/DVFS-v0)
