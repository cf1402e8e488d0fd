"""Where the data directories (``devices/``, ``envs/``, ``configs/``) live.

In a source checkout (or an editable install) they sit next to the package at the repository root. A built
wheel carries copies under ``metadvfs/_data/``. :func:`data_dir` prefers the packaged copy and falls back to
the checkout.
"""

from __future__ import annotations

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
