"""Fixtures for the twin tests: an RSA key made with adb-shell's keygen, a shared Pixel 6 twin, a client.

The shared twin runs on a :class:`~metadvfs.twin.ManualClock`: its simulated time moves only when a test calls
``clock6.advance(seconds)``, so time-dependent checks step the phone exactly instead of sleeping on the wall clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from twinutil import connect, make_signer

from metadvfs.twin import ManualClock, TwinServer


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PythonRSASigner]:
    """The test user's adb key: a twin trusts it by default (it is the user's own key, $METADVFS_ADB_KEY)."""
    d = tmp_path_factory.mktemp("adbkey")
    s = make_signer(d)
    old = os.environ.get("METADVFS_ADB_KEY")
    os.environ["METADVFS_ADB_KEY"] = str(d / "adbkey")
    yield s
    if old is None:
        os.environ.pop("METADVFS_ADB_KEY", None)
    else:
        os.environ["METADVFS_ADB_KEY"] = old


@pytest.fixture(scope="module")
def clock6() -> ManualClock:
    """The manual clock of :func:`twin6`."""
    return ManualClock()


@pytest.fixture(scope="module")
def twin6(signer: PythonRSASigner, clock6: ManualClock) -> Iterator[TwinServer]:
    with TwinServer(device="pixel6", app="tiktok", seed=0, clock=clock6) as tw:
        clock6.advance(1.0)  # the phone has been up 1 s: statistics and frames exist before the first test
        yield tw
        assert not tw.errors, tw.errors  # the simulator driver never failed while the module ran


@pytest.fixture()
def dev6(twin6: TwinServer, signer: PythonRSASigner) -> Iterator[AdbDeviceTcp]:
    dev = connect(twin6, signer)
    yield dev
    dev.close()
