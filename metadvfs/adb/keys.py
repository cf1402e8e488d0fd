"""The host's ADB RSA key pair: created once in the user's config directory with 0600 permissions.

Location: ``$METADVFS_ADB_KEY`` if set (a file path, used by tests), else ``$XDG_CONFIG_HOME/metadvfs/adbkey``,
else ``~/.config/metadvfs/adbkey``. The public key is next to it as ``adbkey.pub``. A phone asks once to
authorise this key (the "Allow USB debugging?" dialog); later connections are silent.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from metadvfs.errors import MetaDVFSError

KEY_ENV = "METADVFS_ADB_KEY"
"""Environment variable overriding the private key path."""

KEY_NAME = "adbkey"


def default_key_path() -> Path:
    """Path of the private key (not created).

    Returns:
        ``$METADVFS_ADB_KEY``, or ``<config dir>/metadvfs/adbkey`` where the config dir is
        ``$XDG_CONFIG_HOME`` or ``~/.config``.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "metadvfs" / KEY_NAME


def ensure_key(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the private key path, generating a 2048-bit RSA key pair there on first use.

    The key files are created with mode 0600 (the directory, when created, with 0700). An existing key that
    is readable by group or others is tightened to 0600.

    Args:
        path: Private key path (default :func:`default_key_path`).

    Returns:
        The private key path (the public key is ``<path>.pub``).

    Raises:
        MetaDVFSError: The key cannot be created or read.
    """
    key = Path(path) if path is not None else default_key_path()
    pub = key.with_name(key.name + ".pub")
    if key.exists():
        if not key.is_file():
            raise MetaDVFSError(f"{key}: ADB key path exists and is not a file")
        _tighten(key)
        if not pub.exists():
            _write_pub(key, pub)
        return key
    try:
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        from adb_shell.auth.keygen import keygen

        tmp = key.with_name(f".{key.name}.{os.getpid()}.tmp")
        old = os.umask(0o077)
        try:
            keygen(str(tmp))
        finally:
            os.umask(old)
        tmp_pub = tmp.with_name(tmp.name + ".pub")
        os.chmod(tmp, 0o600)
        os.chmod(tmp_pub, 0o600)
        os.replace(tmp_pub, pub)
        os.replace(tmp, key)
    except OSError as exc:
        raise MetaDVFSError(f"{key}: cannot create the ADB key: {exc.strerror or exc}") from None
    return key


def _tighten(key: Path) -> None:
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        try:
            os.chmod(key, 0o600)
        except OSError as exc:
            raise MetaDVFSError(f"{key}: ADB key is readable by others and cannot be chmod 0600: {exc}") from None


def _write_pub(key: Path, pub: Path) -> None:
    from adb_shell.auth.keygen import write_public_keyfile

    old = os.umask(0o077)
    try:
        write_public_keyfile(str(key), str(pub))
    finally:
        os.umask(old)


def load_signer(path: str | os.PathLike[str] | None = None) -> object:
    """Load (creating if needed) the key as an adb-shell signer.

    Args:
        path: Private key path (default :func:`default_key_path`).

    Returns:
        A ``PythonRSASigner`` for ``AdbDevice.connect(rsa_keys=[...])``.
    """
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    key = ensure_key(path)
    try:
        return PythonRSASigner.FromRSAKeyPath(str(key))
    except (OSError, ValueError) as exc:
        raise MetaDVFSError(f"{key}: cannot read the ADB key ({exc}); delete it to generate a new one") from None
