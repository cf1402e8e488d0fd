"""Mapping between on-phone absolute paths and the twin's host directory.

The emulated phone's filesystem lives in a host directory ``root``. Everything that crosses the ADB boundary
is translated:

- **inbound** (host -> phone): every on-phone absolute path in a shell command string is rewritten to
  ``root + path`` (:meth:`PathMapper.rewrite`); sync paths are resolved with :meth:`PathMapper.host_path`.
  Inside the phone, the twin's ``sh`` wrapper applies the same rewrite (as a ``sed`` expression from
  :meth:`PathMapper.sed_expression`) to ``sh -c`` strings and to script files it is asked to run, so scripts
  pushed to ``/data/local/tmp`` and background loops started with ``nohup`` see the emulated files too.
- **outbound** (phone -> host): shell output and pulled files have ``root`` (and the twin's private tool
  directories) mapped back to phone paths (:class:`ReverseMapper`), so ``ls``, ``find``, globs and error
  messages show ``/sys/...``, not host paths.

A path is rewritten when it starts with one of :data:`PHONE_DIRS` and stands at the start of a shell word
(start of string, after whitespace, a quote, ``= : ; | & < > ( , [ { !`` or a backtick). The rewrite is
idempotent: occurrences of ``root`` itself are protected (replaced by a placeholder during the rewrite), so
a second pass leaves rewritten paths alone even when ``root`` starts with a phone directory (``/dev/shm/...``).
Paths built at run time from pieces (``d=/sy; cat ${d}s/...``) are not seen; see docs/twin.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from metadvfs.errors import MetaDVFSError

PHONE_DIRS: tuple[str, ...] = (
    "sys",
    "proc",
    "data",
    "dev",
    "vendor",
    "system",
    "system_ext",
    "product",
    "odm",
    "apex",
    "sdcard",
    "storage",
    "mnt",
    "cache",
    "config",
    "acct",
    "metadata",
    "linkerconfig",
    "sbin",
    "bin",
    "etc",
)
"""Top-level directories of an Android root filesystem that are mapped into the twin root.

``/bin`` and ``/etc`` are symlinks to ``/system/bin`` and ``/system/etc`` on Android 10+; the twin maps them
too so ``#!/bin/sh``-style paths cannot reach the host's ``/bin``. ``/tmp`` and ``/usr`` do not exist on a
phone and are not mapped.
"""

_BEFORE = "\\s'\"`=:;|&<>(,\\[{!"
"""Characters after which a ``/`` starts a new path word (besides start of string)."""
_DIRS_ALT = "|".join(sorted(PHONE_DIRS, key=len, reverse=True))
_PY_PATTERN = re.compile(rf"(?:^|(?<=[{_BEFORE}]))/(?:{_DIRS_ALT})(?=/|$|[^\w.\-])", re.MULTILINE)
_CD_ROOT = re.compile(rf"(?:^|(?<=[{_BEFORE}]))(cd[ \t]+)/(?=$|[\s;&|)])", re.MULTILINE)
"""``cd /``: the phone's root directory (a bare ``/`` elsewhere may be arithmetic and is left alone)."""
_LIVE_PROC = re.compile(r"/(?:[0-9$\"']|self/)")
"""After ``/proc``: a process entry (``/proc/123``, ``/proc/$pid``, ``/proc/"$p"``, ``/proc/self/``). The phone's
processes are host processes, so these stay on the host's procfs (a helper checks its pid there)."""
PLACEHOLDER = "@@METADVFS_TWIN_ROOT@@"
"""Stands for ``root`` while a text is rewritten (``@`` is not a path-word start, so it is never rewritten)."""


def _check_root(root: str) -> None:
    if not root.startswith("/") or root.endswith("/"):
        raise MetaDVFSError(f"twin root must be an absolute path without a trailing slash, got {root!r}")
    if not re.fullmatch(r"[A-Za-z0-9_./\-]+", root) or not root[-1].isalnum():
        raise MetaDVFSError(f"twin root {root!r}: use only letters, digits, '_', '-', '.', '/' and end with a letter")


class PathMapper:
    """Translate on-phone paths to host paths under ``root`` (and back).

    Args:
        root: Host directory of the phone's filesystem (absolute, no trailing slash, ends with a letter or digit).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = str(root)
        _check_root(self.root)

    def rewrite(self, text: str) -> str:
        """Rewrite every phone-absolute path in ``text`` (a command line or script) to its host path."""
        protected = text.replace(self.root, PLACEHOLDER)

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "/proc" and _LIVE_PROC.match(m.string, m.end()):
                return m.group(0)
            return PLACEHOLDER + m.group(0)

        out = _PY_PATTERN.sub(sub, protected)
        out = _CD_ROOT.sub(lambda m: m.group(1) + PLACEHOLDER, out)
        return out.replace(PLACEHOLDER, self.root)

    def host_path(self, phone_path: str) -> Path:
        """Host path of an absolute on-phone path (lexically normalised; cannot leave ``root``).

        Args:
            phone_path: Absolute path as the phone sees it, e.g. ``/data/local/tmp/x.sh``.

        Returns:
            ``root / phone_path`` with ``.`` and ``..`` resolved lexically.

        Raises:
            MetaDVFSError: ``phone_path`` is not absolute.
        """
        if not phone_path.startswith("/"):
            raise MetaDVFSError(f"phone path must be absolute, got {phone_path!r}")
        parts: list[str] = []
        for part in PurePosixPath(phone_path).parts[1:]:
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in (".", ""):
                parts.append(part)
        return Path(self.root, *parts)

    def inside(self, host: str | os.PathLike[str]) -> bool:
        """True when ``host`` (after resolving symlinks) lies inside ``root``."""
        real = os.path.realpath(host)
        root = os.path.realpath(self.root)
        return real == root or real.startswith(root + os.sep)

    def phone_path(self, host: str | os.PathLike[str]) -> str:
        """Inverse of :meth:`host_path` for a path under ``root``."""
        rel = os.path.relpath(str(host), self.root)
        if rel == ".":
            return "/"
        if rel.startswith(".."):
            raise MetaDVFSError(f"{host} is not inside the twin root")
        return "/" + rel

    def sed_expressions(self) -> list[str]:
        """``sed -E`` expressions equivalent to :meth:`rewrite`, to apply in order (``sed -E -e E1 -e E2 ...``).

        They protect ``root``, rewrite twice (POSIX ERE has no look-behind, so one substitution consumes the
        character before and after a path, and two paths separated by one character need a second pass), and
        restore ``root``.
        """
        before = "[[:space:]'\"`=:;|&<>(,[{!]"
        dirs = "|".join(sorted(PHONE_DIRS, key=len, reverse=True))
        root_re = re.sub(r"([.\[\]\\*^$+?(){}|])", r"\\\1", self.root)
        sub = f"s#(^|{before})/({dirs})(/|$|[^[:alnum:]_.-])#\\1{PLACEHOLDER}/\\2\\3#g"
        cd = f"s#(^|{before})(cd[[:space:]]+)/($|[[:space:];&|)])#\\1\\2{PLACEHOLDER}\\3#g"
        live = f"s#{PLACEHOLDER}/proc/([0-9$\"']|self/)#/proc/\\1#g"
        return [f"s#{root_re}#{PLACEHOLDER}#g", sub, sub, live, cd, f"s#{PLACEHOLDER}#{self.root}#g"]

    def grep_pattern(self) -> str:
        """``grep -E`` pattern that matches a line :meth:`sed_expression` would change."""
        before = "[[:space:]'\"`=:;|&<>(,[{!]"
        dirs = "|".join(sorted(PHONE_DIRS, key=len, reverse=True))
        return f"(^|{before})/({dirs})(/|$|[^[:alnum:]_.-])"


class ReverseMapper:
    """Streaming replacement of host prefixes by phone paths in output bytes.

    Chunks may split a prefix; the mapper holds back the last ``len(longest prefix) - 1`` bytes until the next
    chunk (or :meth:`flush`).

    Args:
        pairs: ``(host prefix, phone replacement)`` pairs; longer prefixes are applied first.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = sorted(((h.encode(), p.encode()) for h, p in pairs), key=lambda t: len(t[0]), reverse=True)
        self.keep = max((len(h) for h, _ in self.pairs), default=1) - 1
        self.buf = b""

    def map_all(self, data: bytes) -> bytes:
        """Map a complete byte string (no streaming state)."""
        for h, p in self.pairs:
            data = data.replace(h, p)
        return data

    def feed(self, chunk: bytes) -> bytes:
        """Add a chunk; return the mapped bytes that are safe to emit now.

        The last ``keep`` bytes are held back (they may start a prefix the next chunk completes), and so is any
        prefix occurrence that straddles that cut, so a prefix is always mapped with its full context (``root``
        followed by ``/`` maps differently from ``root`` alone).
        """
        data = self.buf + chunk
        cut = max(0, len(data) - self.keep)
        moved = True
        while moved:
            moved = False
            for h, _ in self.pairs:
                i = data.find(h, max(0, cut - len(h) + 1))
                while i != -1 and i < cut:
                    if i + len(h) > cut:
                        cut, moved = i, True
                        break
                    i = data.find(h, i + 1)
        head, self.buf = data[:cut], data[cut:]
        return self.map_all(head)

    def flush(self) -> bytes:
        """Return the held-back tail (mapped)."""
        data, self.buf = self.buf, b""
        return self.map_all(data)


def phone_reverse_pairs(root: str, twin_dir: str) -> list[tuple[str, str]]:
    """The host-prefix -> phone-path pairs for a twin with phone ``root`` and private ``twin_dir``."""
    return [
        (f"{twin_dir}/bin", "/system/bin"),
        (f"{twin_dir}/hostbin", "/system/bin"),
        (f"{twin_dir}/exec/", "/"),
        (f"{root}/", "/"),
        (root, "/"),
    ]
