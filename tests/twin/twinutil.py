"""Helpers for the twin tests (unmodified adb-shell client, key generation, polling)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from waiting import wait_until

from metadvfs.twin import TwinServer


def make_signer(directory: Path) -> PythonRSASigner:
    """A fresh adb key pair in ``directory`` (adb_shell.auth.keygen) and its signer."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "adbkey"
    keygen(str(path))
    return PythonRSASigner.FromRSAKeyPath(str(path))


def connect(twin: TwinServer, signer: PythonRSASigner, auth_timeout_s: float = 3.0) -> AdbDeviceTcp:
    """An unmodified adb-shell client connected to ``twin`` (timeouts so a bug fails fast)."""
    dev = AdbDeviceTcp("127.0.0.1", twin.port, default_transport_timeout_s=5.0)
    assert dev.connect(rsa_keys=[signer], auth_timeout_s=auth_timeout_s, read_timeout_s=5.0)
    return dev


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` s pass (:func:`waiting.wait_until` with a 5 s default)."""
    return wait_until(cond, timeout, step)
