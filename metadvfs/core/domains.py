"""The canonical power domains: the single list every module iterates over.

A phone's CPU clusters map onto ``little``, ``mid`` and ``big`` and its GPU onto ``gpu``; a domain the phone
does not have (Pixel 3's ``mid``) keeps its slot with a zero mask, so every vector has one entry per domain in
this order.
"""

from __future__ import annotations

from typing import Literal

DOMAINS: tuple[str, ...] = ("little", "mid", "big", "gpu")
"""Canonical domains, in vector order."""
CPU_DOMAINS: tuple[str, ...] = DOMAINS[:3]
"""The CPU-cluster domains (every domain but the GPU)."""
GPU_INDEX: int = DOMAINS.index("gpu")
"""Position of the GPU in :data:`DOMAINS`."""
N_DOMAINS: int = len(DOMAINS)
"""Number of canonical domains (the width of every per-domain array)."""
Domain = Literal["little", "mid", "big", "gpu"]
"""Static type of a domain name (kept equal to :data:`DOMAINS` by a test)."""
