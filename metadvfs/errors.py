"""User-facing error type.

Every problem caused by user input (a bad file, an unknown name, an out-of-range option) is raised as
:class:`MetaDVFSError` with a one-line message that names the file or field and the allowed values. The CLI
prints the message and exits with status 2; library users can catch it.
"""

from __future__ import annotations


class MetaDVFSError(ValueError):
    """A one-line, user-facing error (bad input, unknown name, out-of-range value)."""

    exit_code: int = 2


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...], alternative: str = "") -> MetaDVFSError:
    """Build the standard "unknown X" error.

    Args:
        kind: What was looked up, e.g. ``"device"``.
        name: The name the user gave.
        known: The valid names.
        alternative: What else is accepted besides the names (e.g. ``"a profile file (myphone.yaml)"``).

    Returns:
        An error whose message lists the valid names (and the alternative).
    """
    tail = f", or {alternative}" if alternative else ""
    return MetaDVFSError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}{tail}")
