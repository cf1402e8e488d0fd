"""``TwinServer``: a rooted Pixel of a device profile behind a real ADB endpoint on 127.0.0.1.

Contract (shared with the ADB client and deploy code): ``TwinServer(device, app, port, seed, faults, realtime)``,
``start``/``stop`` (also a context manager), ``port``, ``serial``, ``root``, ``read_node``,
``settings_snapshot``, ``cut_connections``, ``running_processes``. Extensions (keyword-only, defaults keep the
contract's behaviour): ``auth``, ``auto_accept``, ``keep_files``, ``clock``; methods ``set_foreground``, ``step``,
``sync``; attributes ``auth_log``, ``sim_time_s``, ``lag_s``.

See docs/twin.md for the emulated phone, the path mapping and the faults.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from metadvfs.errors import MetaDVFSError

if TYPE_CHECKING:
    from metadvfs.twin.adbd import AdbServer
    from metadvfs.twin.clock import Clock
    from metadvfs.twin.driver import Driver
    from metadvfs.twin.phone import Phone

FAULTS: frozenset[str] = frozenset({"garbled_sysfs", "missing_nodes", "permission_denied", "no_userspace"})
"""Fault names accepted in ``faults``."""

_RUNNING: weakref.WeakSet[TwinServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Stop twins still running when the interpreter exits (kills their phone processes, removes their files)."""
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop()


def public_key_file(path: str | Path) -> Path:
    """The public-key file of ``--key PATH`` (``PATH`` itself if it holds a public key, else ``PATH.pub``).

    Raises:
        MetaDVFSError: Neither holds an Android RSA public key.
    """
    from metadvfs.twin.protocol import decode_public_key

    p = Path(path).expanduser()
    for cand in (p, p.with_name(p.name + ".pub")):
        try:
            decode_public_key(cand.read_bytes().splitlines()[0])
            return cand
        except (OSError, ValueError, IndexError):
            continue
    raise MetaDVFSError(f"--key {path}: no adb public key there (expected an adbkey.pub line, or a key with a .pub)")


def default_trusted_keys() -> list[Path]:
    """The user's own adb public keys.

    metadvfs's (``$METADVFS_ADB_KEY`` or its config dir) and the adb client's (``$ANDROID_USER_HOME/adbkey.pub`` or
    ``~/.android/adbkey.pub``); files that do not exist yet are still listed (read at every authentication).
    """
    from metadvfs.adb.keys import default_key_path

    mine = default_key_path()
    android = Path(os.environ.get("ANDROID_USER_HOME") or Path.home() / ".android")
    return [mine.with_name(mine.name + ".pub"), android / "adbkey.pub"]


class TwinServer:
    """Serve the real ADB protocol on 127.0.0.1 for a simulated, rooted phone.

    Args:
        device: Device name (``pixel3`` ... ``pixel8``) or profile path.
        app: App the phone runs (catalog name or app-profile path); its package is in the foreground.
        port: TCP port; 0 picks a free one.
        seed: Seed of the simulated demand (>= 0).
        faults: Subset of :data:`FAULTS`.
        realtime: Simulated seconds per wall-clock second (> 0).
        auth: Require RSA authentication (as a retail phone does).
        auto_accept: Trust any host key (the user taps "allow" for everyone; ``--insecure``); when off (default)
            only known keys connect: ``keys`` and the user's own adb keys (:func:`default_trusted_keys`).
        keys: Public-key files to trust (``adbkey.pub``; a private key path means its ``.pub`` next to it).
        keep_files: Keep the phone's directory after :meth:`stop` (for debugging).
        clock: What drives simulated time: default a :class:`~metadvfs.twin.clock.RealTimeClock` at ``realtime``
            (users, ``metadvfs twin``); a :class:`~metadvfs.twin.clock.ManualClock` for tests that step the phone
            exactly (``clock.advance(seconds)``; ``realtime`` is then unused).

    Raises:
        MetaDVFSError: Unknown device, app or fault; bad port, seed or realtime.
    """

    def __init__(
        self,
        device: str = "pixel6",
        app: str = "tiktok",
        port: int = 0,
        seed: int = 0,
        faults: frozenset[str] = frozenset(),
        realtime: float = 1.0,
        *,
        auth: bool = True,
        auto_accept: bool = False,
        keep_files: bool = False,
        keys: tuple[str | Path, ...] | list[str | Path] = (),
        clock: Clock | None = None,
    ) -> None:
        from metadvfs.catalog.devices import load_device
        from metadvfs.workload.apps import load_app

        faults = frozenset(faults)
        unknown = sorted(faults - FAULTS)
        if unknown:
            raise MetaDVFSError(f"unknown fault {unknown[0]!r}; choose from: {', '.join(sorted(FAULTS))}")
        if not 0 <= int(port) <= 65535:
            raise MetaDVFSError(f"port: must be in 0..65535, got {port}")
        if int(seed) < 0:
            raise MetaDVFSError(f"seed: must be >= 0, got {seed}")
        if not float(realtime) > 0:
            raise MetaDVFSError(f"realtime: must be > 0, got {realtime}")
        self.profile = load_device(device)
        load_app(app)  # validate early: one-line error for an unknown app
        self.app = str(app)
        self.faults = faults
        self.seed = int(seed)
        self.realtime = float(realtime)
        self.auth = auth
        self.auto_accept = auto_accept
        self.trusted = tuple(dict.fromkeys([*(public_key_file(k) for k in keys), *default_trusted_keys()]))
        self.keep_files = keep_files
        self.clock = clock
        self.port: int = int(port)
        self.serial: str = f"127.0.0.1:{self.port}"
        self.root: Path = Path()
        self._phone: Phone | None = None
        self._driver: Driver | None = None
        self._adbd: AdbServer | None = None
        self._lock = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> TwinServer:
        """Build the phone, start the simulator driver and the ADB listener.

        Returns:
            ``self``.

        Raises:
            MetaDVFSError: The port is taken, or the host lacks something the twin needs.
        """
        from metadvfs.twin.adbd import AdbServer
        from metadvfs.twin.driver import Driver
        from metadvfs.twin.family import facts_for
        from metadvfs.twin.phone import Phone

        with self._lock:
            if self._started:
                return self
            phone = Phone(uuid.uuid4().hex, unprivileged="permission_denied" in self.faults)
            self._phone = phone
            try:
                phone.install_tools(no_root="permission_denied" in self.faults)
                facts = facts_for(self.profile)
                driver = Driver(phone, self.profile, self.app, self.seed, facts, self.faults, self.realtime, self.clock)
                driver.build()
                self._driver = driver
                code = self.profile.codenames[0]
                banner = (
                    f"device::ro.product.name={code};ro.product.model={self.profile.display_name};"
                    f"ro.product.device={code};features=shell_v2,cmd"
                ).encode()
                try:
                    adbd = AdbServer(
                        phone,
                        driver.sync,
                        banner,
                        self.port,
                        self.auth,
                        self.auto_accept,
                        on_reboot=self._reboot,
                        trusted=self.trusted,
                    )
                except OSError as exc:
                    raise MetaDVFSError(f"port {self.port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
                self._adbd = adbd
                self.port = adbd.port
                self.serial = f"127.0.0.1:{self.port}"
                self.root = phone.root
                driver.start()
                adbd.start()
            except BaseException:
                self._teardown()
                raise
            self._started = True
            _RUNNING.add(self)
        return self

    def stop(self) -> None:
        """Stop serving, stop the simulator, kill the phone's processes, remove its files (idempotent)."""
        with self._lock:
            self._teardown()
            self._started = False
            _RUNNING.discard(self)

    def _teardown(self) -> None:
        from metadvfs.twin.phone import remove_tree

        if self._adbd is not None:
            self._adbd.stop()
            self._adbd = None
        if self._driver is not None:
            self._driver.stop()
        if self._phone is not None:
            self._phone.kill_all()
            self._phone.spawner.close()
            self._phone.sandbox.close()
            if not self.keep_files:
                with contextlib.suppress(OSError):
                    remove_tree(self._phone.base)
            self._phone = None
        self._driver = None

    def __enter__(self) -> TwinServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ contract
    def read_node(self, path: str) -> str:
        """Content of an emulated file by its on-phone path (e.g. ``/sys/.../policy0/scaling_max_freq``).

        Raises:
            FileNotFoundError: No such node on the phone.
        """
        phone = self._require()._phone
        assert phone is not None
        try:
            return phone.read(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such node on the twin") from None

    def settings_snapshot(self) -> dict[str, str]:
        """Every writable control node (by on-phone path) and every non-``ro.`` property (``prop:<name>``)."""
        driver = self._require()._driver
        assert driver is not None
        return driver.settings()

    def cut_connections(self) -> None:
        """Reset every open ADB connection (as when the cable is pulled); keep serving new ones."""
        adbd = self._require()._adbd
        assert adbd is not None
        adbd.cut_connections()

    def running_processes(self) -> list[str]:
        """Command lines of the processes started on the phone that are still running (phone paths)."""
        phone = self._require()._phone
        assert phone is not None
        return phone.command_lines()

    # ------------------------------------------------------------------ extensions
    @property
    def confinement(self) -> str:
        """How the phone's processes are confined (one line)."""
        phone = self._phone
        return phone.sandbox.describe() if phone is not None else "not running"

    @property
    def auth_log(self) -> list[str]:
        """Authentication events so far (``publickey-accepted``, ``signature-accepted``, ...)."""
        return list(self._adbd.auth_log) if self._adbd is not None else []

    @property
    def sim_time_s(self) -> float:
        """Simulated time since the twin started, s."""
        return self._driver.ticks * 0.01 if self._driver is not None else 0.0

    @property
    def lag_s(self) -> float:
        """Wall time the clock dropped because the host could not keep up, s (always 0 with a manual clock)."""
        return self._driver.lag_s if self._driver is not None else 0.0

    @property
    def errors(self) -> list[str]:
        """Errors the simulator driver hit and survived (empty when all is well)."""
        return list(self._driver.errors) if self._driver is not None else []

    @property
    def connections(self) -> int:
        """Number of open ADB connections."""
        return self._adbd.connections if self._adbd is not None else 0

    def set_foreground(self, app_or_package: str) -> None:
        """Bring a catalog app to the foreground (by app name or package); the simulated workload follows."""
        driver = self._require()._driver
        assert driver is not None
        driver.set_foreground(app_or_package)

    def sync(self) -> None:
        """Apply pending writes to control nodes now (the driver also does this every tick)."""
        driver = self._require()._driver
        assert driver is not None
        driver.sync()

    def _require(self) -> TwinServer:
        if not self._started:
            raise MetaDVFSError("twin is not running: call start() (or use it as a context manager)")
        return self

    def reboot(self) -> None:
        """Reboot the phone now (as ``adb reboot`` does; returns when the boot scripts have run)."""
        self._require()._reboot()

    def _reboot(self) -> None:
        """``adb reboot``: drop connections, kill processes, restore boot-time settings, run boot scripts.

        Boot scripts: Magisk's ``/data/adb/service.d/*.sh``, run as root.
        """
        if self._adbd is not None:
            self._adbd.cut_connections()
        if self._phone is not None:
            self._phone.kill_all()
        if self._driver is not None:
            self._driver.reboot()
        if self._phone is not None:
            self._phone.run_boot_scripts()
