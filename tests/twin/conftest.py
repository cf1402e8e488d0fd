"""Fixtures for the twin tests: an RSA key made with adb-shell's keygen, a shared Pixel 6 twin, a client."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from twinutil import connect, make_signer

from metadvfs.twin import TwinServer


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
def twin6(signer: PythonRSASigner) -> Iterator[TwinServer]:
    with TwinServer(device="pixel6", app="tiktok", seed=0) as tw:
        yield tw
        assert not tw.errors, tw.errors  # the simulator driver never failed while the module ran


@pytest.fixture()
def dev6(twin6: TwinServer, signer: PythonRSASigner) -> Iterator[AdbDeviceTcp]:
    dev = connect(twin6, signer)
    yield dev
    dev.close()
