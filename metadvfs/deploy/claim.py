"""Exclusive ownership of a phone: an atomic on-phone claim, and what to do when someone else holds it.

:func:`acquire` runs ``mkdir /data/local/metadvfs/claim`` as root: the kernel lets exactly one deploy create it,
so two deploys started together cannot both run (a check followed by a separate claim could not guarantee
that). When the claim is held:

- the holder's heartbeat advances while we watch: another deploy is running, :class:`PhoneBusy` (exit 3);
- its watchdog is alive and the heartbeat is silent (the holder was killed): wait, the watchdog restores the
  phone within its timeout and removes the claim;
- no watchdog and a heartbeat silent for the holder's timeout + :data:`STALE_MARGIN_S` (the holder died before
  its watchdog started, the phone rebooted, or the watchdog itself was killed): the claim is stale and is taken
  over with an atomic ``mv`` (only one of several waiting deploys wins); the caller then finishes the earlier
  run's restore from the persistent stock snapshot (:mod:`metadvfs.deploy.stock`).

Time is read through ``clock``/``sleep`` arguments so tests can drive the waits with a manual clock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from metadvfs.adb.link import AdbLink
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import ondevice as od
from metadvfs.errors import MetaDVFSError

STALE_MARGIN_S = 2.0
"""Heartbeat silence beyond the holder's watchdog timeout after which a claim without a watchdog is stale, s."""
WATCHDOG_GRACE_S = 5.0 + 2 * od.STOP_WAIT_S
"""How much longer than its timeout a live watchdog may take to restore before it is presumed stuck, s: one
check (1 s), stopping the applier and the runner (up to :data:`~metadvfs.deploy.ondevice.STOP_WAIT_S` after
SIGTERM and again after SIGKILL), the restore, and a margin."""
POLL_S = 0.25
"""Pause between two looks at a held claim, s."""
WATCHDOG_PID, WATCHDOG_SCRIPT = od.WATCHDOG


class PhoneBusy(MetaDVFSError):
    """Another deploy owns the phone (exit status 3)."""

    exit_code = 3


@dataclass
class ClaimState:
    """What a look at the phone's claim found.

    Attributes:
        held: The claim directory exists.
        owner: The holder's token ("" if unreadable).
        timeout_s: The holder's watchdog timeout, s.
        heartbeat: The heartbeat file's content ("" if absent).
        watchdog_pid: The holder's live watchdog pid (checked in /proc), "" if none.
        stock: Text of the persistent stock snapshot ("" if absent).
        status: Last watchdog status (``restored``, ``restored-at-boot``) or "".
    """

    held: bool
    owner: str
    timeout_s: float
    heartbeat: str
    watchdog_pid: str
    stock: str
    status: str


def new_token() -> str:
    """A fresh random owner token."""
    return secrets.token_hex(16)


def read_state(link: AdbLink) -> ClaimState:
    """Look at the claim, the heartbeat, the watchdog and the snapshot (one root round trip)."""
    s = Script()
    s.run("held", f"[ -d {q(od.CLAIM_DIR)} ] && echo yes || echo no")
    s.cat("owner", od.OWNER_PATH)
    s.cat("timeout", od.TIMEOUT_PATH)
    s.cat("hb", od.HEARTBEAT_PATH)
    s.run("wd", f'{od.pid_check(WATCHDOG_PID, WATCHDOG_SCRIPT)}; echo "$p"')
    s.cat("stock", od.STOCK_PATH)
    s.cat("status", f"{od.ROOT_DIR}/watchdog.status")
    r = parse_sections(link.root_shell(s.text()), s)

    def text(k: str) -> str:
        return "" if r[k].failed else r[k].text.strip()

    try:
        timeout = float(text("timeout") or "3")
    except ValueError:
        timeout = 3.0
    return ClaimState(
        held=text("held") == "yes",
        owner=text("owner"),
        timeout_s=min(max(timeout, 1.0), 60.0),
        heartbeat=text("hb"),
        watchdog_pid=text("wd") if text("wd").isdigit() else "",
        stock="" if r["stock"].failed else r["stock"].text,
        status=text("status"),
    )


def _try_claim(link: AdbLink, token: str, timeout_s: float) -> bool:
    od.check_token(token)
    c = q(od.CLAIM_DIR)
    cmd = (
        f"{od.prepare_command()} || {{ echo @@noroot; exit 0; }}; "
        f"if mkdir {c} 2>/dev/null; then echo {token} > {q(od.OWNER_PATH)}; echo {timeout_s:g} > {q(od.TIMEOUT_PATH)}; "
        f"echo claim-{token} > {q(od.HEARTBEAT_PATH)}; echo @@claimed; else echo @@held; fi"
    )
    out = link.root_shell(cmd)
    if "@@noroot" in out:
        raise MetaDVFSError(f"{link.serial}: cannot create the root-owned {od.ROOT_DIR} ({out.strip()[:80]!r})")
    if "@@claimed" in out:
        return True
    if "@@held" in out:
        return False
    raise MetaDVFSError(f"{link.serial}: claiming the phone failed: {out.strip()[:100]!r}")


def _take_stale(link: AdbLink, token: str, old_owner: str, timeout_s: float) -> bool:
    """Atomically move a stale claim aside (only one taker wins), stop its run's helpers, and claim the phone.

    The stale run's watchdog (stuck), applier and runner are stopped and waited for
    (:func:`~metadvfs.deploy.ondevice.stop_command`) before the claim is taken, so none of them can write after
    this run restores the earlier snapshot.
    """
    stale = f"{od.ROOT_DIR}/stale-{token}"
    owner_ok = f'[ "$(cat {q(od.OWNER_PATH)} 2>/dev/null)" = {q(old_owner)} ]'
    cmd = (
        f"if {owner_ok} && mv {q(od.CLAIM_DIR)} {q(stale)} 2>/dev/null; then rm -rf {q(stale)}; "
        f"{od.stop_command([od.WATCHDOG, od.APPLIER, od.RUNNER], progress=True)}; echo @@moved; fi"
    )
    out = link.root_shell(cmd, timeout_s=link.timeout_s + od.stop_seconds())
    if "@@moved" not in out:
        return False
    return _try_claim(link, token, timeout_s)


def acquire(
    link: AdbLink,
    token: str,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float | None = None,
) -> list[str]:
    """Claim the phone, waiting for an earlier run's watchdog and taking over a stale claim.

    Args:
        link: Link with root.
        token: Our owner token (:func:`new_token`).
        timeout_s: Our watchdog's heartbeat timeout, s (stored in the claim for later deploys).
        clock: Monotonic clock, s.
        sleep: Sleep function, s.
        max_wait_s: Give up after this long (default: enough for any holder's watchdog to restore).

    Returns:
        Notes on what was found (an earlier run restored by its watchdog, a stale claim taken over).

    Raises:
        PhoneBusy: Another deploy is running (its heartbeat advances), or the claim stayed held.
    """
    notes: list[str] = []
    start = clock()
    last_hb: str | None = None
    hb_since = start
    first: ClaimState | None = None
    while True:
        if _try_claim(link, token, timeout_s):
            if first is not None:
                notes.append(
                    f"waited {clock() - start:.1f} s for an earlier run's watchdog to restore the phone and release it"
                )
            return notes
        st = read_state(link)
        if not st.held:
            continue
        now = clock()
        if first is None:
            first = st
        if last_hb is None:
            last_hb, hb_since = st.heartbeat, now
        elif st.heartbeat != last_hb:
            raise PhoneBusy(
                f"another metadvfs deploy is controlling {link.serial} (its heartbeat {od.HEARTBEAT_PATH} is "
                "advancing); stop it first, or wait for it to end"
            )
        silent = now - hb_since
        limit = max_wait_s if max_wait_s is not None else 3 * st.timeout_s + WATCHDOG_GRACE_S + 10.0
        stale = (not st.watchdog_pid and silent >= st.timeout_s + STALE_MARGIN_S) or (
            st.watchdog_pid and silent >= st.timeout_s + WATCHDOG_GRACE_S
        )
        if stale and _take_stale(link, token, st.owner, timeout_s):
            notes.append(
                f"took over a stale claim of {link.serial} (owner {st.owner[:8] or '?'}, no heartbeat for "
                f"{silent:.1f} s{', its watchdog was stuck' if st.watchdog_pid else ', no watchdog'})"
            )
            return notes
        if now - start >= limit:
            raise PhoneBusy(
                f"{link.serial} is claimed by another deploy ({od.CLAIM_DIR}, owner {st.owner[:8] or '?'}) and it did "
                f"not become free within {limit:.0f} s; if no deploy is running, run metadvfs deploy --restore"
            )
        sleep(POLL_S)


def release(link: AdbLink, token: str) -> None:
    """Remove the claim if we still own it (best effort)."""
    od.check_token(token)
    link.root_shell(
        f'[ "$(cat {q(od.OWNER_PATH)} 2>/dev/null)" = {token} ] && '
        f"{{ rm -rf {q(od.CLAIM_DIR)}; rm -f {q(od.HEARTBEAT_PATH)}; }}; true"
    )


def beat_command(value: str) -> str:
    """Shell that writes the root heartbeat (``value``: a short token of letters, digits and ``-``)."""
    return f"echo {q(value)} > {q(od.HEARTBEAT_PATH)}"
