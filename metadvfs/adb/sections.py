"""Compound shell commands with sectioned output: many reads (and writes) in one ADB round trip.

A :class:`Script` collects commands, each under a key (files are read with shell builtins).
:meth:`Script.text` joins them into one shell command that prints a marker ``@@<nonce>:<key>`` before each
command's output and ``@@<nonce>!<key>`` when the command fails; :func:`parse_sections` splits the output
back. The nonce is random per script, so file contents cannot forge markers. Markers are found anywhere in a
line, so files without a trailing newline are handled.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from metadvfs.adb.shellsafe import check_path, q
from metadvfs.errors import MetaDVFSError

_KEY_RE = re.compile(r"^[A-Za-z0-9_.]{1,80}$")
READ_FN = "_mdr"
READ_FN_DEF = f'{READ_FN}() {{ while IFS= read -r l || [ -n "$l" ]; do echo "$l"; done < "$1"; }}'
"""A ``cat`` made of shell builtins (``read``, ``echo``): reading ~40 sysfs files per control step costs no
process creation (a ``cat`` per file would fork 40 times on the phone)."""


@dataclass(frozen=True)
class Section:
    """Output of one command of a script.

    Attributes:
        key: The command's key.
        text: Its output (stdout and stderr merged), trailing newlines removed.
        failed: The command exited non-zero.
    """

    key: str
    text: str
    failed: bool

    @property
    def missing(self) -> bool:
        """The command failed because the file does not exist."""
        return self.failed and "No such file" in self.text

    @property
    def denied(self) -> bool:
        """The command failed with a permission error."""
        return self.failed and ("Permission denied" in self.text or "Operation not permitted" in self.text)


class Script:
    """Builder of one compound command with sectioned output."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(4)
        self._parts: list[str] = []
        self._keys: list[str] = []
        self._uses_cat = False

    def _mark(self, key: str) -> str:
        if not _KEY_RE.match(key):
            raise MetaDVFSError(f"internal: bad section key {key!r}")
        if key in self._keys:
            raise MetaDVFSError(f"internal: duplicate section key {key!r}")
        self._keys.append(key)
        return f"@@{self.nonce}:{key}"

    def cat(self, key: str, path: str) -> Script:
        """Read a file (validated path) with shell builtins only (no process per file)."""
        m = self._mark(key)
        self._uses_cat = True
        self._parts.append(f"echo {m}; {READ_FN} {q(check_path(path))} 2>&1 || echo @@{self.nonce}!{key}")
        return self

    def run(self, key: str, command: str) -> Script:
        """Run a command built by the caller from validated, quoted parts."""
        m = self._mark(key)
        self._parts.append(f"echo {m}; {{ {command} ; }} 2>&1 || echo @@{self.nonce}!{key}")
        return self

    @property
    def keys(self) -> list[str]:
        """Keys in order."""
        return list(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def text(self) -> str:
        """The compound command (ends with an end marker so truncated output is detected)."""
        head = [READ_FN_DEF] if self._uses_cat else []
        return "; ".join([*head, *self._parts, f"echo @@{self.nonce}:END"])


def parse_sections(output: str, script: Script) -> dict[str, Section]:
    """Split the output of :meth:`Script.text`.

    Args:
        output: Everything the shell printed.
        script: The script that produced it.

    Returns:
        ``{key: Section}`` for every key of the script.

    Raises:
        MetaDVFSError: Output truncated (no end marker) or a section missing.
    """
    pat = re.compile(r"@@" + script.nonce + r"([:!])([A-Za-z0-9_.]+)\r?\n?")
    texts: dict[str, list[str]] = {}
    failed: set[str] = set()
    cur: str | None = None
    pos = 0
    ended = False
    for m in pat.finditer(output):
        if cur is not None:
            texts[cur].append(output[pos : m.start()])
        kind, key = m.group(1), m.group(2)
        pos = m.end()
        if kind == "!":
            failed.add(key)
            continue
        if key == "END":
            ended = True
            cur = None
            break
        cur = key
        texts[cur] = []
    if not ended:
        tail = output.strip().splitlines()[-1:] if output.strip() else ["<empty>"]
        raise MetaDVFSError(f"incomplete output from the device shell (last line: {tail[0][:120]!r})")
    out: dict[str, Section] = {}
    for key in script.keys:
        if key not in texts:
            raise MetaDVFSError(f"device shell output lacks section {key!r}")
        text = "".join(texts[key]).replace("\r\n", "\n").rstrip("\n")
        out[key] = Section(key=key, text=text, failed=key in failed)
    return out
