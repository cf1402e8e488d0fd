"""One ADB connection to a phone (adb-shell 0.4.4), with timeouts on every call and root detection.

``--serial HOST:PORT`` connects over TCP (Wi-Fi adb, or the loopback twin); any other serial is a USB
device serial and needs the optional ``adb-shell[usb]`` extra (libusb1), imported only then. Every call passes
explicit transport/read/total timeouts (adb-shell blocks forever without them). Every failure of the
transport becomes :class:`AdbLinkError`, a one-line :class:`~metadvfs.errors.MetaDVFSError`.

Root: the link runs ``id -u`` to see whether adbd itself is root (``adb root`` on userdebug builds); otherwise
it tries ``su -c`` (Magisk) and ``su 0 sh -c`` (AOSP su) and remembers which works. :meth:`AdbLink.root_shell`
wraps a command accordingly, quoting it as one word.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from metadvfs.adb.keys import default_key_path, load_signer
from metadvfs.adb.shellsafe import check_path, q
from metadvfs.errors import MetaDVFSError

DEFAULT_TIMEOUT_S = 5.0
"""Per-packet transport and read timeout, s."""

ROOT_MODES = ("adbd", "su", "su0")


class AdbLinkError(MetaDVFSError):
    """The ADB transport failed (refused, timed out, connection lost)."""


@dataclass(frozen=True)
class Target:
    """Where to connect.

    Attributes:
        kind: ``tcp`` or ``usb``.
        host: TCP host (``tcp`` only).
        port: TCP port (``tcp`` only).
        serial: The serial as given.
    """

    kind: str
    host: str
    port: int
    serial: str


def parse_serial(serial: str) -> Target:
    """Classify ``--serial``: ``HOST:PORT`` (TCP) or a USB serial.

    Raises:
        MetaDVFSError: Empty, malformed, or a port outside 1..65535.
    """
    s = (serial or "").strip()
    m = re.match(r"^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d+)$", s)
    if m:
        port = int(m.group(3))
        if not 1 <= port <= 65535:
            raise MetaDVFSError(f"--serial {serial!r}: port must be in 1..65535")
        return Target("tcp", m.group(1) or m.group(2), port, s)
    if re.match(r"^[A-Za-z0-9._-]{1,64}$", s):
        return Target("usb", "", 0, s)
    raise MetaDVFSError(f"--serial {serial!r}: expected HOST:PORT (TCP, e.g. 192.168.1.20:5555) or a USB serial")


def _adb_errors() -> tuple[type[BaseException], ...]:
    from adb_shell import exceptions as ex

    return (
        OSError,
        socket.timeout,
        EOFError,
        ex.AdbCommandFailureException,
        ex.AdbConnectionError,
        ex.AdbTimeoutError,
        ex.DeviceAuthError,
        ex.InvalidChecksumError,
        ex.InvalidCommandError,
        ex.InvalidResponseError,
        ex.PushFailedError,
        ex.TcpTimeoutException,
        ex.UsbReadFailedError,
        ex.UsbWriteFailedError,
        ex.DevicePathInvalidError,
        ValueError,
        struct_error(),
    )


def struct_error() -> type[BaseException]:
    """``struct.error`` (raised by adb-shell on a truncated packet header)."""
    import struct

    return struct.error


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


class AdbLink:
    """A connection to one phone.

    Args:
        serial: ``HOST:PORT`` or a USB serial.
        timeout_s: Transport and per-packet read timeout of every call, s.
        auth_timeout_s: How long to wait for the user to accept the key on the phone, s.
        key_path: Private key (default :func:`~metadvfs.adb.keys.default_key_path`).
    """

    def __init__(
        self,
        serial: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        auth_timeout_s: float = 30.0,
        key_path: str | Path | None = None,
    ) -> None:
        self.target = parse_serial(serial)
        self.serial = self.target.serial
        if not 0.1 <= timeout_s <= 120:
            raise MetaDVFSError(f"timeout_s: must be in [0.1, 120] s, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.auth_timeout_s = float(auth_timeout_s)
        self.key_path = key_path
        self._dev: object | None = None
        self._lock = threading.Lock()
        self.root_mode: str | None = None
        self.root_error: str = ""

    # ------------------------------------------------------------------ connection
    def connect(self) -> AdbLink:
        """Open the connection (idempotent).

        Raises:
            AdbLinkError: Refused, timed out, or not authorised.
            MetaDVFSError: USB requested but ``adb-shell[usb]`` / libusb is missing.
        """
        if self._dev is not None:
            return self
        signer = load_signer(self.key_path)
        dev = self._make_device()
        try:
            ok = dev.connect(  # type: ignore[attr-defined]
                rsa_keys=[signer],
                transport_timeout_s=self.timeout_s,
                auth_timeout_s=self.auth_timeout_s,
                read_timeout_s=self.timeout_s,
            )
        except _adb_errors() as exc:
            self._close_quiet(dev)
            hint = ""
            if type(exc).__name__ in ("DeviceAuthError", "InvalidResponseError", "AdbTimeoutError"):
                key = self.key_path or default_key_path()
                hint = f"; accept the phone's debugging prompt for this computer's key ({key})"
            raise AdbLinkError(f"cannot connect to {self.serial}: {_describe(exc)}{hint}") from None
        if not ok:
            self._close_quiet(dev)
            raise AdbLinkError(f"cannot connect to {self.serial}: the device did not accept the connection")
        self._dev = dev
        return self

    def _make_device(self) -> object:
        t = self.target
        if t.kind == "tcp":
            from adb_shell.adb_device import AdbDeviceTcp

            return AdbDeviceTcp(t.host, t.port, default_transport_timeout_s=self.timeout_s)
        try:
            from adb_shell.adb_device import AdbDeviceUsb
            from adb_shell.exceptions import InvalidTransportError, UsbDeviceNotFoundError
        except ImportError as exc:  # pragma: no cover - adb-shell is a dependency
            raise MetaDVFSError(f"adb-shell is not importable: {exc}") from None
        try:
            return AdbDeviceUsb(serial=t.serial, default_transport_timeout_s=self.timeout_s)
        except InvalidTransportError:
            raise MetaDVFSError(
                f"--serial {t.serial}: USB needs the usb extra (pip install 'adb-shell[usb]' and libusb-1.0), "
                "or use Wi-Fi adb with --serial HOST:PORT"
            ) from None
        except UsbDeviceNotFoundError:
            raise AdbLinkError(f"--serial {t.serial}: no USB ADB device with this serial") from None
        except OSError as exc:
            raise MetaDVFSError(f"--serial {t.serial}: cannot open USB ({_describe(exc)})") from None

    @staticmethod
    def _close_quiet(dev: object) -> None:
        with contextlib.suppress(Exception):  # best effort on a broken transport
            dev.close()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        dev, self._dev = self._dev, None
        if dev is not None:
            self._close_quiet(dev)

    @property
    def connected(self) -> bool:
        """The connection is open (it may still fail on the next call)."""
        return self._dev is not None

    def __enter__(self) -> AdbLink:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ commands
    def shell(self, command: str, timeout_s: float | None = None) -> str:
        """Run a command as the adb shell user (v1 ``shell:`` service: stdout and stderr merged).

        Args:
            command: The command line (built from validated, quoted parts).
            timeout_s: Total time allowed for the command, s (default ``3 * timeout_s``).

        Returns:
            The output text.

        Raises:
            AdbLinkError: The transport failed; the link is closed.
        """
        if self._dev is None:
            raise AdbLinkError(f"ADB link to {self.serial} is not connected")
        total = timeout_s if timeout_s is not None else 3 * self.timeout_s
        with self._lock:
            try:
                out = self._dev.shell(  # type: ignore[attr-defined]
                    command,
                    transport_timeout_s=self.timeout_s,
                    read_timeout_s=self.timeout_s,
                    timeout_s=total,
                    decode=True,
                )
            except _adb_errors() as exc:
                self.close()
                raise AdbLinkError(f"ADB link to {self.serial} lost: {_describe(exc)}") from None
        return out if isinstance(out, str) else str(out)

    def detect_root(self) -> str | None:
        """Find how to run commands as root.

        Returns:
            ``adbd`` (adbd runs as root), ``su`` (``su -c``), ``su0`` (``su 0 sh -c``), or ``None`` (the reason
            is in :attr:`root_error`).
        """
        if self.shell("id -u").strip() == "0":
            self.root_mode = "adbd"
            return self.root_mode
        errors = []
        for mode in ("su", "su0"):
            out = self.shell(self.wrap_root("id -u", mode))
            if out.strip().splitlines()[-1:] == ["0"]:
                self.root_mode = mode
                return mode
            errors.append(out.strip().splitlines()[0][:100] if out.strip() else "no output")
        self.root_mode = None
        self.root_error = "; ".join(dict.fromkeys(errors))
        return None

    def require_root(self) -> str:
        """Like :meth:`detect_root`, but raise when there is no root."""
        mode = self.root_mode or self.detect_root()
        if mode is None:
            raise MetaDVFSError(
                f"{self.serial}: no root (su: {self.root_error or 'not available'}); deploying needs a rooted "
                "phone (Magisk su) or adbd running as root (adb root on userdebug builds)"
            )
        return mode

    @staticmethod
    def wrap_root(command: str, mode: str | None) -> str:
        """Wrap ``command`` to run as root in ``mode`` (quoted as one word for ``su``)."""
        if mode == "adbd" or mode is None:
            return command
        if mode == "su":
            return f"su -c {q(command)}"
        if mode == "su0":
            return f"su 0 sh -c {q(command)}"
        raise MetaDVFSError(f"unknown root mode {mode!r}; one of {ROOT_MODES}")

    def root_shell(self, command: str, timeout_s: float | None = None) -> str:
        """Run ``command`` as root (requires :meth:`require_root` to have succeeded)."""
        if self.root_mode is None:
            self.require_root()
        return self.shell(self.wrap_root(command, self.root_mode), timeout_s)

    def read_shell(self, command: str, timeout_s: float | None = None) -> str:
        """Run a read-only command as root when root is available, else as the shell user."""
        return self.shell(self.wrap_root(command, self.root_mode), timeout_s)

    def push_text(self, text: str, device_path: str, mode: int = 0o755) -> None:
        """Write a text file on the phone with the ADB sync service (``adb push``).

        Raises:
            AdbLinkError: The transfer failed.
        """
        self.push_bytes(text.encode("utf-8"), device_path, mode)

    def push_bytes(self, data: bytes, device_path: str, mode: int = 0o755) -> None:
        """Write a file (any bytes, e.g. the runner binary) under ``/data/local/tmp/`` with ``adb push``.

        Raises:
            AdbLinkError: The transfer failed.
        """
        check_path(device_path, ("/data/local/tmp/",))
        if self._dev is None:
            raise AdbLinkError(f"ADB link to {self.serial} is not connected")
        with self._lock:
            try:
                self._dev.push(  # type: ignore[attr-defined]
                    io.BytesIO(data),
                    device_path,
                    st_mode=0o100000 | mode,
                    mtime=int(time.time()),
                    transport_timeout_s=self.timeout_s,
                    read_timeout_s=self.timeout_s,
                )
            except _adb_errors() as exc:
                self.close()
                raise AdbLinkError(f"push to {self.serial}:{device_path} failed: {_describe(exc)}") from None

    def reconnect(self, attempts: int = 3, delay_s: float = 0.3) -> bool:
        """Try to re-open a lost connection; keeps the detected root mode.

        Returns:
            Whether a connection is open afterwards.
        """
        self.close()
        for _ in range(max(1, attempts)):
            try:
                self.connect()
                return True
            except MetaDVFSError:
                time.sleep(delay_s)
        return False
