"""Where the data directories (``devices/``, ``envs/``, ``configs/``) live.

In a source checkout (or an editable install) they sit next to the package at the repository root. A built
wheel carries copies under ``metadvfs/_data/``. :func:`data_dir` prefers the packaged copy and falls back to
the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_DATA_KINDS = ("devices", "envs", "configs")


def data_dir(kind: str) -> Path:
    """Return the directory holding one kind of shipped data.

    Args:
        kind: One of ``"devices"``, ``"envs"``, ``"configs"``.

    Returns:
        The directory path (it exists).

    Raises:
        FileNotFoundError: If neither the packaged nor the checkout copy exists.
    """
    if kind not in _DATA_KINDS:
        raise ValueError(f"kind must be one of {_DATA_KINDS}, got {kind!r}")
    for candidate in (PACKAGE_DIR / "_data" / kind, PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data directory {kind!r} not found next to {PACKAGE_DIR}")


def is_shipped_model(path: Path) -> bool:
    """Whether a checkpoint directory is one of the models shipped inside the package (``metadvfs/models/<name>``).

    Commands never write their reports into a shipped model's directory: in an installed package it is
    site-packages, and in a checkout it is tracked source.
    """
    return Path(path).resolve().parent == (PACKAGE_DIR / "models").resolve()


def source_name(path: Path) -> str:
    """How a report names a model: a shipped model by its name, any other by its directory.

    The package's path differs on every machine, so a shipped model (``default``) is recorded by name, and a
    directory under the working directory relative to it (``runs/x``, not ``/home/me/proj/runs/x``). ``guard``,
    ``adapt`` and online ``adapt --serial`` name their source model this way.
    """
    p = Path(path).resolve()
    if is_shipped_model(p):
        return p.name
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def derived_dir(model_dir: Path, default: Path, fallback: Path, reuse_existing: bool = False) -> Path:
    """Where a command writes what it derives from a model (reports, baselines, a guarded copy).

    ``default`` (next to or inside the model) unless the model is shipped inside the package or ``default`` cannot
    be written; then ``fallback`` (under ``runs/`` in the working directory). One rule for ``evaluate``'s reports,
    ``guard``'s checkpoint and the trained baselines, so a read-only model directory (a shared lab copy, an
    installed package) is read, never written.

    Args:
        model_dir: The model's checkpoint directory.
        default: The usual place.
        fallback: The place for shipped or read-only models.
        reuse_existing: An existing ``default`` is used even when read-only (its contents are only read, e.g.
            baselines trained earlier).
    """
    if is_shipped_model(model_dir):
        return fallback
    if reuse_existing and default.is_dir():
        return default
    probe = default if default.exists() else default.parent
    return default if os.access(probe, os.W_OK) else fallback
