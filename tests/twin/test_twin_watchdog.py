"""The watchdog never restores while the root applier can still write (a frozen applier with a queued request).

The twin keeps its real-time clock here on purpose: the watchdog and the applier are on-phone shell scripts that
pace themselves on the wall clock (``sleep``), so the simulated phone must move with it as a real phone does.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from twinutil import wait_for

from metadvfs.adb import agents
from metadvfs.adb.binding import bind, profile_for_codename
from metadvfs.adb.discovery import discover
from metadvfs.adb.link import AdbLink
from metadvfs.deploy import watchdog as wd
from metadvfs.deploy.session import ControlSession
from metadvfs.twin import TwinServer


@pytest.fixture()
def twin(signer: PythonRSASigner) -> Iterator[TwinServer]:
    """A Pixel 6 twin on the wall clock (the ``signer`` fixture makes the test user's key the trusted one)."""
    with TwinServer(device="pixel6", app="tiktok") as tw:
        yield tw


def _is_applier(pid: int) -> bool:
    """Whether ``pid`` is still the applier script (a zombie's cmdline is empty: it can no longer write)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"metadvfs/applier.sh" in f.read()
    except OSError:
        return False


def _pin_then_freeze(twin: TwinServer, link: AdbLink) -> tuple[ControlSession, int]:
    """Start a session that pins every domain through the applier (clamp: min = max), freeze the applier
    (SIGSTOP) and queue a request for other frequencies behind it; returns the session and the applier's pid."""
    link.require_root()
    binding = bind(discover(link), profile_for_codename("oriole"))
    session = ControlSession(link, binding, method="clamp")
    session.prepare()
    session.start()
    session.apply(np.array([max(len(t) - 1, 0) for t in binding.tables_khz]))
    session.controller.drain()  # the pin has been written
    pid = int(twin.read_node(agents.APPLIER_PID).split()[0])
    assert _is_applier(pid)
    os.kill(pid, signal.SIGSTOP)
    assert session.apply(np.zeros(4, dtype=int)) > 0  # queued in the FIFO behind the frozen applier
    return session, pid


def test_watchdog_kills_a_frozen_applier_before_it_restores(twin: TwinServer) -> None:
    """The applier is frozen with a request queued and the host falls silent. The watchdog must restore only
    once the applier is dead: after ``restored`` the nodes are at stock, the applier's pid is gone, and they
    stay at stock after the moment the frozen applier would have resumed."""
    before = twin.settings_snapshot()
    link = AdbLink(twin.serial).connect()
    session: ControlSession | None = None
    pid = 0
    try:
        session, pid = _pin_then_freeze(twin, link)
        assert twin.settings_snapshot() != before
        t0 = time.monotonic()
        # from here on the host is silent: nothing beats the heartbeat any more
        status = twin.root / wd.STATUS_PATH.lstrip("/")
        assert wait_for(lambda: status.exists() and status.read_text().strip() == "restored", 20.0), (
            "the watchdog did not restore within 20 s of the host falling silent"
        )
        took = time.monotonic() - t0
        assert not _is_applier(pid), "the watchdog reported 'restored' while the frozen applier was still alive"
        assert twin.settings_snapshot() == before
        time.sleep(1.0)  # when the frozen applier would have resumed and written its queued request
        assert twin.settings_snapshot() == before
        assert took <= 3.0 + 1.0 + 4.5 + 2.0  # heartbeat timeout + one check + TERM/KILL waits + a loaded machine
    finally:
        if pid and _is_applier(pid):
            os.kill(pid, signal.SIGCONT)
        if session is not None:
            session.restore()
        link.close()
    assert session.report is not None and session.report.verified
    assert twin.settings_snapshot() == before


def test_host_restore_kills_a_frozen_applier_before_it_restores(twin: TwinServer) -> None:
    """The host's own restore (end of a run): the frozen applier cannot obey ``quit``, so it is stopped and
    waited for before the stock settings are written and verified."""
    before = twin.settings_snapshot()
    link = AdbLink(twin.serial).connect()
    pid = 0
    try:
        session, pid = _pin_then_freeze(twin, link)
        report = session.restore()
        assert not _is_applier(pid), "the host restored while the frozen applier was still alive"
        assert report.verified and twin.settings_snapshot() == before
        time.sleep(1.0)  # when the frozen applier would have resumed and written its queued request
        assert twin.settings_snapshot() == before
    finally:
        if pid and _is_applier(pid):
            os.kill(pid, signal.SIGCONT)
        link.close()
