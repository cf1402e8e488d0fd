"""MetaDVFS: learned CPU/GPU frequency governors for phones (simulator, governors, learners, deployment).

Importing the package loads neither gymnasium nor torch. ``import metadvfs.environment`` registers the Gymnasium
environments ``metadvfs/DVFS-v0`` and ``metadvfs/LiveDVFS-v0``; so does ``import metadvfs`` when gymnasium is
already imported (the pattern ``import gymnasium as gym; import metadvfs; gym.make(...)``).
"""

from __future__ import annotations

import sys as _sys

__version__ = "0.1.0"

if "gymnasium" in _sys.modules:  # gymnasium is loaded already: registering costs nothing more
    from metadvfs.environment import register_envs as _register_envs

    _register_envs()
