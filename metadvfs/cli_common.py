"""Helpers shared by the CLI commands: one-line errors with exit code 2, JSON printing."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from metadvfs.errors import MetaDVFSError
from metadvfs.io import first_existing_ancestor

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn :class:`MetaDVFSError` (and file errors) into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MetaDVFSError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            raise fail(f"{exc.filename}: {exc.strerror}") from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def check_out_dir(out: Path | None, flag: str = "--out") -> None:
    """Refuse, before any work, an output directory that cannot be one: an existing file, or a path under a file.

    Raises:
        MetaDVFSError: Naming ``flag`` and the file in the way.
    """
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise MetaDVFSError(f"{flag}: {out} exists and is not a directory")
    if out.is_symlink() and not out.exists():
        raise MetaDVFSError(f"{flag}: {out} is a symbolic link to nothing ({out.readlink()})")
    parent = first_existing_ancestor(out)
    if parent is not None and not parent.is_dir():
        raise MetaDVFSError(f"{flag}: {out} lies under {parent}, which is a file, not a directory")


def print_json(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    print(json.dumps(obj, indent=None, sort_keys=False, default=_json_default))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def note_extrapolation(model: Any, tasks: Any) -> dict[str, list[dict[str, Any]]]:
    """Print a note on stderr for the tasks whose metadata lies outside the model's training tasks.

    Tasks outside in the same fields by the same values (the apps of one new phone) share one note.

    Args:
        model: A :class:`~metadvfs.learn.checkpoint.LoadedModel`.
        tasks: :class:`~metadvfs.tasks.task.Task` objects (or names) to check.

    Returns:
        ``{task name: [OutOfRange.to_dict(), ...]}`` for the JSON outputs (empty: every task is inside).
    """
    from metadvfs.learn.tasks import build_tasks

    out: dict[str, list[dict[str, Any]]] = {}
    groups: dict[str, tuple[list[str], Any]] = {}
    todo = [t for t in tasks if not isinstance(t, str) or t not in model.doc["tasks"]]  # training tasks are inside
    for name, fields in model.extrapolated(build_tasks(todo)).items():
        groups.setdefault(_describe(fields), ([], fields))[0].append(name)
        out[name] = [f.to_dict() for f in fields]
    for names, fields in groups.values():
        its = "Their" if len(names) > 1 else "Its"
        hint = f"{its} zero-shot quality is extrapolated (metadvfs adapt fits the model to a task)."
        print(extrapolation_note(names, f"tasks {model.path.name}", fields, hint), file=sys.stderr)
    return out


def _describe(fields: Any) -> str:
    from metadvfs.learn.metadata import OutOfRange

    return "; ".join((f if isinstance(f, OutOfRange) else OutOfRange(**f)).describe() for f in fields)


def extrapolation_note(subject: str | list[str], trained_on: str, fields: Any, hint: str = "") -> str:
    """``note: SUBJECT lies outside the TRAINED_ON was trained on: field value (trained on lo..hi); ...[. HINT]``.

    Args:
        subject: The task or phone, or several that are outside alike (``a, b lie outside ...``).
        trained_on: What was trained on it, e.g. ``tasks the model`` or ``phones the model``.
        fields: :class:`~metadvfs.learn.metadata.OutOfRange` objects or their ``to_dict()`` forms.
        hint: A sentence to append.
    """
    many = not isinstance(subject, str) and len(subject) > 1
    subject = subject if isinstance(subject, str) else ", ".join(subject)
    parts = _describe(fields)
    verb = "lie" if many else "lies"
    return f"note: {subject} {verb} outside the {trained_on} was trained on: {parts}" + (f". {hint}" if hint else "")
