"""Quoting and validation of everything that reaches a device shell.

Nothing user-supplied or read from the phone is pasted into a command unchecked: paths must be absolute,
free of ``..`` and shell metacharacters, and under an allowed root; values written to sysfs must be integers
from a discovered table or names matching a strict pattern; everything is then ``shlex.quote``-d.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from metadvfs.errors import MetaDVFSError

ALLOWED_ROOTS: tuple[str, ...] = (
    "/sys/",
    "/proc/",
    "/data/local/tmp/",
    "/dev/thermal/",
    "/data/local/metadvfs/",
    "/data/local/metadvfs-ack/",
    "/data/adb/service.d/",
)
"""Path prefixes the tool reads or writes on the phone."""

_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9_.,:@+=-]+/)*[A-Za-z0-9_.,:@+=-]+/?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$")
_PROP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,255}$")
_PKG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
_PROP_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:@/+,=-]{0,91}$")


def q(text: str) -> str:
    """Shell-quote one word (``shlex.quote``)."""
    return shlex.quote(text)


def check_path(path: str, roots: Iterable[str] = ALLOWED_ROOTS) -> str:
    """Validate an on-phone path.

    Args:
        path: Absolute path.
        roots: Allowed prefixes.

    Returns:
        ``path`` unchanged.

    Raises:
        MetaDVFSError: Relative, contains ``..``, whitespace or shell metacharacters, or outside ``roots``.
    """
    if not isinstance(path, str) or not _PATH_RE.match(path) or "/../" in path + "/" or "/./" in path + "/":
        raise MetaDVFSError(f"unsafe device path {path!r}: only absolute paths of [A-Za-z0-9_.,:@+=-] are allowed")
    if not any(path.startswith(r) for r in roots):
        raise MetaDVFSError(f"device path {path!r} is outside the allowed roots ({', '.join(roots)})")
    return path


def check_name(name: str, what: str) -> str:
    """Validate a governor, service or rail name (letters, digits, ``_.:@-``)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MetaDVFSError(f"{what}: unsafe name {name!r}; allowed characters: letters, digits, _ . : @ -")
    return name


def check_prop(name: str) -> str:
    """Validate an Android system property name."""
    if not isinstance(name, str) or not _PROP_RE.match(name):
        raise MetaDVFSError(f"unsafe property name {name!r}")
    return name


def check_prop_value(value: str, prop: str) -> str:
    """Validate a property value the tool writes back (restores), e.g. ``0``, ``1`` or an empty string."""
    if not isinstance(value, str) or not _PROP_VALUE_RE.match(value):
        raise MetaDVFSError(f"property {prop}: unsafe value {value!r}")
    return value


def check_package(name: str) -> str:
    """Validate an Android package name (``com.example.app``)."""
    if not isinstance(name, str) or not _PKG_RE.match(name) or len(name) > 255:
        raise MetaDVFSError(f"unsafe package name {name!r}")
    return name


def check_value(value: int, allowed: Iterable[int], what: str) -> int:
    """Validate an integer to write against a discovered table.

    Args:
        value: The value.
        allowed: Valid values (e.g. a policy's frequency table, kHz).
        what: Node name for the message.

    Returns:
        ``int(value)``.

    Raises:
        MetaDVFSError: Not an integer or not in ``allowed``.
    """
    allowed = list(allowed)
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError):
            raise MetaDVFSError(f"{what}: value {value!r} is not an integer") from None
        if as_int != value:
            raise MetaDVFSError(f"{what}: value {value!r} is not an integer")
        value = as_int
    if value not in allowed:
        raise MetaDVFSError(f"{what}: value {value} is not in the discovered table {allowed}")
    return int(value)


def check_layer(name: str, known: Iterable[str]) -> str:
    """Validate a SurfaceFlinger layer name: one of the names the phone listed, printable, one line."""
    if not isinstance(name, str) or not name or len(name) > 512 or any(c in name for c in "\n\r\0\\"):
        raise MetaDVFSError(f"unsafe SurfaceFlinger layer name {name!r}")
    if name not in set(known):
        raise MetaDVFSError(f"SurfaceFlinger layer {name!r} is not in `dumpsys SurfaceFlinger --list`")
    return name


def write_cmd(path: str, value: int | str) -> str:
    """``echo <value> > <path>`` with both parts validated and quoted."""
    check_path(path)
    text = str(value)
    if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", text):
        raise MetaDVFSError(f"unsafe value {text!r} for {path}")
    return f"echo {q(text)} > {q(path)}"
