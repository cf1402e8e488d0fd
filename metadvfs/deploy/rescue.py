"""``metadvfs deploy --restore``: put a phone back to its saved stock settings without running a governor.

Claims the phone like a deploy (waiting for a live watchdog, taking over a stale claim), stops any helper of an
earlier run (applier, runner, watchdog; checked pids only) and waits until each is gone, restores from the
persistent snapshot on the phone, or, when the phone has none, from the host copy (only if the phone's codename
matches), reads everything back, and removes the snapshot only when every setting matched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from metadvfs.adb import agents
from metadvfs.adb.link import AdbLink
from metadvfs.adb.parsers import parse_getprop
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import claim
from metadvfs.deploy import ondevice as od
from metadvfs.deploy import stock as stk
from metadvfs.deploy import watchdog as wd
from metadvfs.deploy.session import NotRestored
from metadvfs.errors import MetaDVFSError


def restore_phone(
    serial: str,
    timeout_s: float = 5.0,
    link: AdbLink | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Restore a phone from its saved stock snapshot.

    Args:
        serial: ``HOST:PORT`` or USB serial.
        timeout_s: ADB timeout of every call, s.
        link: An already connected link (tests).
        clock: Monotonic clock for the claim waits, s.
        sleep: Sleep function for the claim waits, s.

    Returns:
        ``{"restored": bool, "verified": bool, "source": str, "snapshot": str, "notes": [str]}``.

    Raises:
        PhoneBusy: A deploy is running on the phone.
        NotRestored: Some setting still differs after the restore (the snapshot is kept).
        MetaDVFSError: No root, or the saved snapshot is invalid or belongs to another phone.
    """
    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    try:
        link.require_root()
        token = claim.new_token()
        notes = claim.acquire(link, token, wd.DEFAULT_TIMEOUT_S, clock=clock, sleep=sleep)
        try:
            return _restore(link, notes)
        finally:
            claim.release(link, token)
    finally:
        if own:
            link.close()


def _restore(link: AdbLink, notes: list[str]) -> dict[str, Any]:
    st = claim.read_state(link)
    saved: stk.StockState | None
    if st.stock:
        source = f"{link.serial}:{od.STOCK_PATH}"
        saved = stk.parse(st.stock, source)
    else:
        saved = stk.load_host_copy(link.serial)
        source = str(stk.host_copy_path(link.serial))
    if saved is None:
        notes.append("nothing to restore: no saved stock snapshot on the phone or on this host")
        return {"restored": False, "verified": True, "source": "", "snapshot": "", "notes": notes}
    code = parse_getprop(link.shell("getprop ro.product.device"), "getprop ro.product.device")
    if code != saved.codename:
        raise MetaDVFSError(f"{source} is a snapshot of a {saved.codename!r}, but {link.serial} is a {code!r}")
    left = od.stop_helpers(link, [od.APPLIER, od.RUNNER, od.WATCHDOG])
    if left:
        notes.append(f"{', '.join(left)} still ran after SIGKILL (blocked in the kernel); restoring anyway")
    link.root_shell(f"rm -f {q(agents.FIFO_PATH)}")
    s = Script()
    cmds = stk.restore_commands(saved)
    for i, (_label, cmd, _opt) in enumerate(cmds):
        s.run(f"c{i}", cmd)
    parse_sections(link.root_shell(s.text()), s)
    mism = stk.verify(link, saved)
    agents.stop_poller(link)
    if mism:
        raise NotRestored(
            f"{link.serial}: after restoring from {source} these still differ: {'; '.join(mism[:4])}"
            f"{' ...' if len(mism) > 4 else ''} (the snapshot is kept; check the phone, then run --restore again)"
        )
    link.root_shell(
        f"rm -f {q(od.STOCK_PATH)} {q(od.RESTORE_PATH)} {q(od.BOOT_SCRIPT)} {q(wd.SCRIPT_PATH)} "
        f"{q(agents.APPLIER_SCRIPT)} {q(agents.ACK_PATH)}"
    )
    stk.drop_host_copy(link.serial)
    return {"restored": True, "verified": True, "source": source, "snapshot": saved.describe(), "notes": notes}
