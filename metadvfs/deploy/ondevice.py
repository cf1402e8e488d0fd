"""The root-owned on-phone state of ``metadvfs deploy``: paths, atomic root writes, pid checks.

Everything the root helpers (watchdog, applier) trust lives in :data:`ROOT_DIR` = ``/data/local/metadvfs``,
created by root with mode 0700 (``/data/local`` itself is ``root:root 0751`` on Android, so the ``shell`` user
can neither read, rename nor replace it). The applier's acknowledgement, which the unprivileged control-step read
picks up, is the only file outside it: ``/data/local/metadvfs-ack/ack`` (0644 in a root-owned 0711 directory).
Files are written by root with ``umask 077`` (mode 0600), to a temporary name and then renamed, so a reader never
sees half a file:

- ``claim/`` the phone's ownership lock: created with ``mkdir`` (atomic: exactly one deploy succeeds),
  ``claim/owner`` holds the owner's random token; released by the owner or by its watchdog;
- ``stock.json`` / ``restore.sh`` the true stock settings and the commands that restore them (written before
  the first change, removed only after a host verified a restore);
- ``heartbeat`` written by the host in every read; ``watchdog.sh``/``watchdog.pid``/``watchdog.status``;
  ``applier.sh``/``applier.pid``/``cmd.fifo`` (a root-only FIFO)/``ack``.

A pid read from a pid file is used only if it is all digits and ``/proc/<pid>/cmdline`` names the helper's own
script (so a stale pid reused by another process is never signalled).
"""

from __future__ import annotations

import re

from metadvfs.adb.agents import ACK_DIR, ROOT_AGENT_DIR
from metadvfs.adb.link import AdbLink
from metadvfs.adb.shellsafe import check_path, q
from metadvfs.errors import MetaDVFSError

ROOT_DIR = ROOT_AGENT_DIR
CLAIM_DIR = f"{ROOT_DIR}/claim"
OWNER_PATH = f"{CLAIM_DIR}/owner"
TIMEOUT_PATH = f"{CLAIM_DIR}/timeout"
STOCK_PATH = f"{ROOT_DIR}/stock.json"
RESTORE_PATH = f"{ROOT_DIR}/restore.sh"
HEARTBEAT_PATH = f"{ROOT_DIR}/heartbeat"
BOOT_DIR = "/data/adb/service.d"
"""Magisk runs every executable script in this directory as root once per boot (after ``post-fs-data``)."""
BOOT_SCRIPT = f"{BOOT_DIR}/metadvfs-restore.sh"
ROOT_PATHS = (f"{ROOT_DIR}/", f"{BOOT_DIR}/")
_TOKEN_RE = re.compile(r"^[0-9a-f]{16,64}$")


def check_root_path(path: str) -> str:
    """Validate a path inside the root-owned directories."""
    return check_path(path, ROOT_PATHS)


def check_token(token: str) -> str:
    """Validate an owner token (lower-case hex)."""
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise MetaDVFSError(f"internal: bad owner token {token!r}")
    return token


def prepare_command() -> str:
    """Shell (as root) that creates :data:`ROOT_DIR` (0700) and the ack directory (0711), root-owned.

    A symlink in their place is removed first.
    """
    parts = []
    for path, mode in ((ROOT_DIR, "700"), (ACK_DIR, "711")):
        d = q(path)
        parts.append(f"[ -L {d} ] && rm -f {d}; mkdir -p {d} && chown 0:0 {d} 2>/dev/null; chmod {mode} {d}")
    checks = " && ".join(f"[ -d {q(p)} ] && [ ! -L {q(p)} ]" for p in (ROOT_DIR, ACK_DIR))
    return "umask 077; " + "; ".join(parts) + "; " + checks


def write_command(path: str, text: str, mode: int = 0o600) -> str:
    """Shell (as root) that writes ``text`` to ``path`` atomically with ``mode`` (temporary file + rename).

    Args:
        path: Destination under :data:`ROOT_PATHS`.
        text: Content (any text; it is passed as one quoted word).
        mode: File mode (0600 for data, 0700 for scripts).
    """
    check_root_path(path)
    if mode & 0o077:
        raise MetaDVFSError(f"internal: {path} must not be readable by others (mode {mode:o})")
    tmp = q(path + ".tmp")
    return f"umask 077; rm -f {tmp}; printf '%s' {q(text)} > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {q(path)}"


def root_write(link: AdbLink, path: str, text: str, mode: int = 0o600) -> None:
    """Write a root-owned file atomically (one ``su`` round trip).

    Raises:
        MetaDVFSError: The write failed (the message quotes the shell).
    """
    out = link.root_shell(f"{{ {write_command(path, text, mode)} ; }} 2>&1 && echo @@ok")
    if "@@ok" not in out:
        raise MetaDVFSError(f"writing {path} as root failed: {out.strip()[:100]!r}")


def pid_check(pid_file: str, script_name: str, var: str = "p") -> str:
    """Shell that sets ``$var`` to the pid in ``pid_file`` only when it is the helper's own, else to empty.

    The pid must be all digits and ``/proc/<pid>/cmdline`` must contain ``metadvfs/<script_name>``
    (``<name>.sh`` for the shell helpers, ``runner/metadvfs-runner`` for the on-phone runner).
    """
    check_path(pid_file, ROOT_PATHS)
    if not re.fullmatch(r"[a-z]+\.sh|runner/metadvfs-runner", script_name) or not re.fullmatch(r"[a-z]+", var):
        raise MetaDVFSError(f"internal: bad helper name {script_name!r}")
    return (
        f"{var}=; [ -f {q(pid_file)} ] && IFS= read -r {var} < {q(pid_file)}; "
        f'case "${var}" in ""|*[!0-9]*) {var}= ;; esac; '
        f'if [ -n "${var}" ]; then case "$(tr "\\000" " " < /proc/"${var}"/cmdline 2>/dev/null)" in '
        f"*metadvfs/{script_name}*) ;; *) {var}= ;; esac; fi"
    )


def kill_command(pid_file: str, script_name: str) -> str:
    """Shell that terminates the helper named in ``pid_file`` (checked with :func:`pid_check`) and removes it."""
    return f'{pid_check(pid_file, script_name, "k")}; [ -n "$k" ] && kill "$k" 2>/dev/null; rm -f {q(pid_file)}'
