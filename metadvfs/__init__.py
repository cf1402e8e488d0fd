"""MetaDVFS: learned CPU/GPU frequency governors for phones (simulator, governors, learners, deployment).

Importing the package loads neither gymnasium nor torch; ``import metadvfs.environment`` registers the
Gymnasium environments ``metadvfs/DVFS-v0`` and ``metadvfs/LiveDVFS-v0``.
"""

from __future__ import annotations

__version__ = "0.1.0"
