"""Confinement of the twin's phone processes with Linux Landlock (kernel >= 5.13, unprivileged).

The twin's spawner process (:mod:`metadvfs.twin.spawner`) enters one Landlock domain at start; every phone shell
it forks, and all their children, stay in it:

- read/write/create/remove only inside the phone tree and the twin's writable state directories
  (``props``, ``state``, ``requests``, ``exec``);
- read and execute the twin's tool directories and the host's system directories (``/usr``, ``/bin``, ``/lib*``,
  ``/sbin``) so ``sh``, ``sed`` and the other tools run; read a few files in ``/etc`` the C library needs;
- read ``/proc`` (the phone's processes are host processes; a helper checks its own pid there) and read/write
  ``/dev/null``, ``/dev/zero``, ``/dev/random``, ``/dev/urandom``;
- nothing else: ``..`` or a symlink out of the tree, the host's home directories, its adb keys, ``/tmp``: denied
  (EACCES), whatever the process's uid;
- where the kernel supports it (Landlock ABI >= 4/6): no TCP bind/connect, no abstract unix sockets outside the
  domain. Signals are not scoped (each phone shell is its own Landlock domain and phone processes must signal
  each other), so a phone process can signal host processes of the same uid: run the twin as an ordinary user.

When the twin runs as root, phone processes additionally lose every capability (``SECBIT_NOROOT`` locked, empty
bounding set), so uid 0 on the phone is not root on the host. Where Landlock is missing, the twin still runs;
:func:`describe` says so and ``metadvfs twin`` prints it (then only key authentication protects the host).

Source: Linux ``Documentation/userspace-api/landlock.rst`` and ``include/uapi/linux/landlock.h`` (syscalls 444-446,
access-right bits, ``landlock_ruleset_attr`` / ``landlock_path_beneath_attr`` layouts).
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable

_SYS_CREATE, _SYS_ADD, _SYS_RESTRICT = 444, 445, 446
_CREATE_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_SECURE_NOROOT_ALL = 0x2F  # NOROOT, NO_SETUID_FIXUP and KEEP_CAPS, each locked
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_V1_ALL = (1 << 13) - 1
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX = 1 << 0
READ_EXEC = EXECUTE | READ_FILE | READ_DIR
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/localtime")
DEV_FILES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def apply_cap_drop() -> None:
    """In a child of a root twin, before ``exec``: uid 0 keeps no capability, now or after ``exec``."""
    _libc.prctl(_PR_SET_SECUREBITS, _SECURE_NOROOT_ALL, 0, 0, 0)  # exec no longer grants root caps
    for cap in range(64):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # and no file capability can bring one back
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def restrict_self(ruleset_fd: int) -> None:
    """Put the calling process (and its future children) into the ruleset's Landlock domain.

    Raises:
        OSError: The kernel refused (the caller must then not run phone commands).
    """
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if _libc.syscall(_SYS_RESTRICT, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")


def abi_version() -> int:
    """Landlock ABI version of the running kernel (0: unavailable)."""
    r = _libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_VERSION))
    return int(r) if r > 0 else 0


def _fs_all(abi: int) -> int:
    rights = _V1_ALL
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class Sandbox:
    """A prepared Landlock ruleset; :meth:`preexec` applies it in a child before ``exec``.

    Args:
        writable: Directories the phone may read and write (recursively).
        readable: Directories and files the phone may read and execute.
    """

    def __init__(self, writable: Iterable[str], readable: Iterable[str]) -> None:
        self.abi = abi_version()
        self.fd = -1
        self.drop_caps = os.geteuid() == 0
        if self.abi <= 0:
            return
        fs_all = _fs_all(self.abi)
        attr = struct.pack("<Q", fs_all)
        if self.abi >= 4:
            attr += struct.pack("<Q", _NET_BIND_TCP | _NET_CONNECT_TCP)
        if self.abi >= 6:
            # abstract unix sockets only: signal scoping would also isolate sibling phone shells (each restrict_self
            # makes a new domain), so the watchdog could no longer stop the applier
            attr += struct.pack("<Q", _SCOPE_ABSTRACT_UNIX)
        buf = ctypes.create_string_buffer(attr, len(attr))
        fd = _libc.syscall(_SYS_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
        if fd < 0:
            self.abi = 0
            return
        self.fd = int(fd)
        for path in writable:
            self._add(path, fs_all)
        for path in readable:
            self._add(path, READ_EXEC)
        for path in DEV_FILES:
            self._add(path, READ_FILE | WRITE_FILE | (TRUNCATE if self.abi >= 3 else 0))
        for path in ETC_FILES:
            self._add(path, READ_FILE)
        self._add("/proc", READ_FILE | READ_DIR)
        os.set_inheritable(self.fd, False)

    def _add(self, path: str, rights: int) -> None:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                rights &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # file-level rights only
            attr = ctypes.create_string_buffer(struct.pack("<Qi", rights, pfd), 12)
            _libc.syscall(_SYS_ADD, ctypes.c_int(self.fd), ctypes.c_int(_RULE_PATH_BENEATH), attr, ctypes.c_uint32(0))
        finally:
            os.close(pfd)

    @property
    def active(self) -> bool:
        """Landlock is available and the ruleset is ready."""
        return self.fd >= 0

    def describe(self) -> str:
        """One line for the user."""
        if self.active:
            caps = "; uid 0 without capabilities" if self.drop_caps else ""
            return f"phone commands confined to the twin's tree (Landlock ABI {self.abi}{caps})"
        return "WARNING: Landlock unavailable: phone commands are NOT confined to the twin's tree"

    def close(self) -> None:
        """Release the ruleset."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
