"""The storage root of a scaled-out run: a directory every worker can reach.

On one machine this is any local directory; on a cluster it must be a shared file system mounted at the same
path on every node (NFS, a cloud file share). Object-store URIs (``s3://``, ``gs://``) are rejected with a
one-line error: training checkpoints are directories written in place by the trainer, so they need a file
system. Everything a unit writes goes through :func:`metadvfs.io.atomic_path` (temp file + rename), and a
training directory only counts as finished once its ``model.json`` exists (it is written last).

Layout under the root::

    train/<run>-seed<k>/        a training checkpoint (train_state/ while running, kept for resume)
    evaluate/<name>/shards/     one JSON per (method, task) shard; reused when a rerun finds it
    evaluate/<name>/            results.csv, results.md, summary.json, plots
    guard/<model>-guarded/      the guarded checkpoint and its report
    sweep/<name>/               Ray Tune's trial directories, sweep.json, best.yaml
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError

DEFAULT_ROOT = Path("runs") / "scale"


def check_storage(path: str | os.PathLike[str] | None) -> Path:
    """Validate a storage root and return it as an absolute path (workers may run in other directories).

    Creates the directory if needed and proves it writable with a probe file that is removed again. When
    the check fails, nothing is left behind (a directory created by the check is removed).

    Args:
        path: The ``--storage`` value (None = ``runs/scale``).

    Raises:
        MetaDVFSError: A URI scheme, a file in the way, or a directory that cannot be created or written.
    """
    raw = str(path) if path is not None else str(DEFAULT_ROOT)
    if "://" in raw and not raw.startswith("file://"):
        raise MetaDVFSError(
            f"--storage {raw}: object-store URIs are not supported; use a directory on a file system shared by "
            "every node (e.g. an NFS mount)"
        )
    p = Path(raw.removeprefix("file://")).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise MetaDVFSError(f"--storage {raw}: exists and is not a directory")
    created: list[Path] = []
    probe_parent = p
    while not probe_parent.exists():
        created.append(probe_parent)
        probe_parent = probe_parent.parent
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-probe.", dir=p)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        for d in created:
            try:
                d.rmdir()
            except OSError:
                break
        raise MetaDVFSError(f"--storage {raw}: not writable ({exc.strerror or exc.__class__.__name__})") from None
    return p


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically."""
    from metadvfs.io import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1))


def read_json(path: Path) -> Any | None:
    """Read a JSON file written by :func:`write_json`; None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
