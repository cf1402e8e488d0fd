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
script (so a stale pid reused by another process is never signalled). Whoever restores the stock settings first
stops the helpers that write them with :func:`stop_command` (SIGTERM, SIGKILL) and waits until they are gone, so
no request still queued in the applier can land after the restore.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from metadvfs.adb.agents import ACK_DIR, APPLIER_PID, ROOT_AGENT_DIR
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


def _own_check(var: str, script_name: str) -> str:
    """Shell that empties ``$var`` unless ``/proc/$var/cmdline`` contains ``metadvfs/<script_name>``.

    A process that has exited (also a zombie: its cmdline is empty) or a pid reused by another program fails it.
    ``2>/dev/null`` comes first: a redirection is applied left to right, so the failed ``<`` of an exited pid
    reports nothing.
    """
    return (
        f'if [ -n "${var}" ]; then case "$(tr "\\000" " " 2>/dev/null < /proc/"${var}"/cmdline)" in '
        f"*metadvfs/{script_name}*) ;; *) {var}= ;; esac; fi"
    )


def _check_helper(pid_file: str, script_name: str, var: str) -> None:
    check_path(pid_file, ROOT_PATHS)
    if not re.fullmatch(r"[a-z]+\.sh|runner/metadvfs-runner", script_name) or not re.fullmatch(r"[a-z]+", var):
        raise MetaDVFSError(f"internal: bad helper name {script_name!r}")


def pid_check(pid_file: str, script_name: str, var: str = "p") -> str:
    """Shell that sets ``$var`` to the pid in ``pid_file`` only when it is the helper's own, else to empty.

    The pid must be all digits and ``/proc/<pid>/cmdline`` must contain ``metadvfs/<script_name>``
    (``<name>.sh`` for the shell helpers, ``runner/metadvfs-runner`` for the on-phone runner).
    """
    _check_helper(pid_file, script_name, var)
    return (
        f"{var}=; [ -f {q(pid_file)} ] && IFS= read -r {var} < {q(pid_file)}; "
        f'case "${var}" in ""|*[!0-9]*) {var}= ;; esac; {_own_check(var, script_name)}'
    )


APPLIER = (APPLIER_PID, "applier.sh")
"""The root applier's pid file and script name (:mod:`metadvfs.deploy.applier`)."""
RUNNER_PID = f"{ROOT_DIR}/runner/pid"
RUNNER = (RUNNER_PID, "runner/metadvfs-runner")
"""The on-phone runner's pid file and program name (:mod:`metadvfs.runner.plan`)."""
WATCHDOG_PID = f"{ROOT_DIR}/watchdog.pid"
WATCHDOG = (WATCHDOG_PID, "watchdog.sh")
"""The watchdog's pid file and script name (:mod:`metadvfs.deploy.watchdog`)."""
STOP_WAIT_S = 2.0
"""Longest wait for the helpers to exit after SIGTERM, and again after SIGKILL, s."""
STOP_POLL_S = 0.1
"""Interval of the exit checks while stopping helpers, s."""
_STOP_VARS = ("mdka", "mdkb", "mdkc")


def _stop_vars(helpers: Sequence[tuple[str, str]]) -> list[str]:
    if not 1 <= len(helpers) <= len(_STOP_VARS):
        raise MetaDVFSError(f"internal: stop 1 to {len(_STOP_VARS)} helpers at once, got {len(helpers)}")
    return list(_STOP_VARS[: len(helpers)])


def wait_gone_command(
    helpers: Sequence[tuple[str, str]], wait_s: float, poll_s: float = STOP_POLL_S, progress: bool = False
) -> str:
    """Shell that polls until every helper :func:`stop_command` left running has exited, or ``wait_s`` passed.

    Only valid after :func:`stop_command` with the same ``helpers`` in the same shell (it uses its variables).
    Afterwards :func:`left_test` holds if one still runs.

    Args:
        helpers: ``(pid_file, script_name)`` pairs, as given to :func:`stop_command`.
        wait_s: Longest wait, s (counted as ``wait_s / poll_s`` polls, so a little longer on a busy phone).
        poll_s: Interval of the checks, s (toybox ``sleep`` takes a decimal fraction).
        progress: Print a ``.`` per poll (a host round trip must not stay silent longer than the link timeout).
    """
    if not (0 < poll_s <= wait_s <= 600):
        raise MetaDVFSError(f"internal: bad stop wait {wait_s:g} s / poll {poll_s:g} s")
    vs = _stop_vars(helpers)
    checks = "; ".join(_own_check(v, name) for v, (_pf, name) in zip(vs, helpers, strict=True))
    live = "".join(f"${v}" for v in vs)
    return (
        f'mdi=0; while [ -n "{live}" ] && [ $mdi -lt {max(1, round(wait_s / poll_s))} ]; do '
        f"sleep {poll_s:g}; {'printf .; ' if progress else ''}mdi=$((mdi+1)); {checks}; done"
    )


def stop_seconds(wait_s: float = STOP_WAIT_S) -> float:
    """Upper bound of a :func:`stop_command` round trip on a busy phone, s (for the host's total timeout)."""
    return 2 * wait_s * 1.5 + 1.0


def left_test(helpers: Sequence[tuple[str, str]]) -> str:
    """Shell test that holds when a helper stopped by :func:`stop_command` (same shell) still runs."""
    return '[ -n "' + "".join(f"${v}" for v in _stop_vars(helpers)) + '" ]'


def stop_command(helpers: Sequence[tuple[str, str]], wait_s: float = STOP_WAIT_S, progress: bool = False) -> str:
    """Shell that stops root helpers and returns only once they are gone (or after about ``2 * wait_s``).

    Each helper's pid is used only if :func:`pid_check` accepts it, and checked again before every signal, so a
    pid reused by another program is never signalled. All helpers get SIGTERM, then the shell polls (``kill -0``
    is not enough: a zombie or a reused pid passes it, so it re-reads ``/proc/<pid>/cmdline`` every
    :data:`STOP_POLL_S`) for up to ``wait_s``; whoever is left gets SIGKILL (which also ends a stopped process)
    and is waited for again. Toybox/mksh ``wait`` cannot wait for a process that is not the shell's child, hence
    the polling. A helper is gone when its pid no longer names it; its pid file is then removed. One that is
    still there after SIGKILL (stuck in an uninterruptible write) keeps its pid file; :func:`left_test` tells,
    and :func:`wait_gone_command` waits longer.

    Args:
        helpers: ``(pid_file, script_name)`` pairs, e.g. :data:`APPLIER`, :data:`RUNNER`, :data:`WATCHDOG`.
        wait_s: Longest wait after each signal, s.
        progress: Print a ``.`` per poll (host round trips: see :func:`wait_gone_command`).

    Returns:
        One line of POSIX sh; it uses the variables ``mdka``..``mdkc``, ``mdsig`` and ``mdi``.
    """
    vs = _stop_vars(helpers)
    reads = "; ".join(pid_check(pf, name, v) for v, (pf, name) in zip(vs, helpers, strict=True))
    signals = "; ".join(
        f'{_own_check(v, name)}; [ -n "${v}" ] && kill -s $mdsig "${v}" 2>/dev/null'
        for v, (_pf, name) in zip(vs, helpers, strict=True)
    )
    return (
        f"{reads}; for mdsig in TERM KILL; do {left_test(helpers)} || break; {signals}; "
        f"{wait_gone_command(helpers, wait_s, progress=progress)}; done; {forget_gone_command(helpers)}"
    )


def forget_gone_command(helpers: Sequence[tuple[str, str]]) -> str:
    """Shell that removes the pid file of each helper :func:`stop_command` (same shell) saw exit; status 0."""
    vs = _stop_vars(helpers)
    gone = "; ".join(f'[ -z "${v}" ] && rm -f {q(pf)}' for v, (pf, _name) in zip(vs, helpers, strict=True))
    return f"{gone}; true"


def stop_helpers(link: AdbLink, helpers: Sequence[tuple[str, str]], wait_s: float = STOP_WAIT_S) -> list[str]:
    """Stop root helpers from the host (:func:`stop_command`, one ``su`` round trip) and wait until they are gone.

    Args:
        link: Link with root.
        helpers: ``(pid_file, script_name)`` pairs, e.g. :data:`APPLIER`, :data:`RUNNER`, :data:`WATCHDOG`.
        wait_s: Longest wait after SIGTERM and again after SIGKILL, s.

    Returns:
        The script names of the helpers still running after SIGKILL (blocked in the kernel), usually none.
    """
    vs = _stop_vars(helpers)
    marks = "; ".join(f'[ -n "${v}" ] && echo "@@left {name}"' for v, (_pf, name) in zip(vs, helpers, strict=True))
    out = link.root_shell(
        f"{stop_command(helpers, wait_s, progress=True)}; {marks}; true",
        timeout_s=link.timeout_s + stop_seconds(wait_s),
    )
    return [name for _pf, name in helpers if f"@@left {name}" in out]
