r"""ADB wire protocol: packet framing and RSA authentication (device side).

Sources: AOSP ``adb/protocol.txt`` and adb-shell 0.4.4 (``adb_message.py``, ``constants.py``,
``auth/keygen.py``, ``auth/sign_pythonrsa.py``); summarised in docs/android-interfaces.md §12.

A packet is a 24-byte header ``struct '<6I'`` = ``command, arg0, arg1, data_length, data_checksum, magic``
followed by ``data_length`` bytes of payload. ``command`` is four ASCII letters read as a little-endian u32,
``magic = command ^ 0xFFFFFFFF`` and ``checksum = sum(payload) & 0xFFFFFFFF`` (adb-shell checks it on every
packet it receives).

Authentication: the device sends ``AUTH(TOKEN, 0, <20 random bytes>)``; the host answers
``AUTH(SIGNATURE, 0, sig)`` where ``sig`` is an RSA PKCS#1 v1.5 signature of the token used as a
pre-hashed SHA-1 digest (adb-shell signs with ``'SHA-1-PREHASHED'``), or ``AUTH(RSAPUBLICKEY, 0,
b64(pubkey) + b' user@host\\0')`` where ``pubkey`` is Android's ``RSAPublicKey`` struct.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import socket
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils


def _wire(cmd: bytes) -> int:
    return int.from_bytes(cmd, "little")


CNXN = _wire(b"CNXN")
AUTH = _wire(b"AUTH")
OPEN = _wire(b"OPEN")
OKAY = _wire(b"OKAY")
WRTE = _wire(b"WRTE")
CLSE = _wire(b"CLSE")
SYNC = _wire(b"SYNC")
STLS = _wire(b"STLS")
NAMES = {CNXN: "CNXN", AUTH: "AUTH", OPEN: "OPEN", OKAY: "OKAY", WRTE: "WRTE", CLSE: "CLSE", SYNC: "SYNC"}

A_VERSION = 0x01000000
"""Protocol version the twin announces (checksummed payloads, no delayed ack)."""
MAX_PAYLOAD = 256 * 1024
"""Largest payload the twin accepts in one packet, bytes (announced as ``arg1`` of its CNXN)."""
MAX_CLIENT_PAYLOAD = 1024 * 1024
"""Upper bound on what the twin sends in one packet even if the host announces more, bytes."""

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
TOKEN_SIZE = 20

HEADER = struct.Struct("<6I")
ANDROID_PUBKEY_MODULUS_SIZE = 2048 // 8
_PUBKEY_STRUCT = struct.Struct(f"<LL{ANDROID_PUBKEY_MODULUS_SIZE}s{ANDROID_PUBKEY_MODULUS_SIZE}sL")


class ProtocolError(Exception):
    """The peer sent something that is not an ADB packet (or closed the connection)."""


@dataclass(frozen=True)
class Packet:
    """One ADB packet.

    Attributes:
        cmd: Command as a little-endian u32 (e.g. :data:`OPEN`).
        arg0: First argument.
        arg1: Second argument.
        data: Payload.
    """

    cmd: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        """Four-letter command name (``"????"`` for unknown commands)."""
        return NAMES.get(self.cmd, "????")


def checksum(data: bytes) -> int:
    """ADB payload checksum: byte sum modulo 2**32."""
    return sum(data) & 0xFFFFFFFF


def pack(cmd: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    """Serialise one packet (header + payload)."""
    return HEADER.pack(cmd, arg0 & 0xFFFFFFFF, arg1 & 0xFFFFFFFF, len(data), checksum(data), cmd ^ 0xFFFFFFFF) + data


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if _QUICKACK is not None:
            # adb-shell writes a packet's header and payload in two send() calls without TCP_NODELAY; acking at
            # once keeps Nagle on the host from holding the payload back for a delayed-ACK period (~40 ms).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtocolError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def read_packet(sock: socket.socket, max_payload: int = MAX_PAYLOAD * 4) -> Packet:
    """Read one packet from a blocking socket.

    Args:
        sock: Connected socket.
        max_payload: Largest payload accepted, bytes.

    Returns:
        The packet.

    Raises:
        ProtocolError: Connection closed, bad magic, oversized payload or checksum mismatch.
        OSError: Socket errors (reset, shut down).
    """
    cmd, arg0, arg1, length, csum, magic = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if magic != cmd ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic for command 0x{cmd:08x}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds {max_payload}")
    data = _recv_exact(sock, length) if length else b""
    if csum and checksum(data) != csum:  # protocol >= 0x01000001 hosts may send 0 (no checksum)
        raise ProtocolError("payload checksum mismatch")
    return Packet(cmd, arg0, arg1, data)


def decode_public_key(blob: bytes) -> rsa.RSAPublicKey:
    """Decode the payload of an ``AUTH(RSAPUBLICKEY)`` packet (or one line of an ``adb_keys`` file).

    Args:
        blob: ``base64(RSAPublicKey struct)`` optionally followed by ``" user@host"`` and NUL bytes.

    Returns:
        The RSA public key.

    Raises:
        ValueError: Not an Android RSA public key.
    """
    text = blob.split(b"\0", 1)[0].strip()
    b64 = text.split(b" ", 1)[0]
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"public key is not base64: {exc}") from None
    if len(raw) != _PUBKEY_STRUCT.size:
        raise ValueError(f"public key struct has {len(raw)} bytes, expected {_PUBKEY_STRUCT.size}")
    words, _n0inv, modulus, _rr, exponent = _PUBKEY_STRUCT.unpack(raw)
    if words != ANDROID_PUBKEY_MODULUS_SIZE // 4:
        raise ValueError(f"public key modulus has {words} words, expected {ANDROID_PUBKEY_MODULUS_SIZE // 4}")
    n = int.from_bytes(modulus, "little")
    return rsa.RSAPublicNumbers(exponent, n).public_key()


def verify_signature(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """Check an ``AUTH(SIGNATURE)`` payload against a token (PKCS#1 v1.5, token as a SHA-1 digest)."""
    try:
        key.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------------------------- file sync
SYNC_HDR = struct.Struct("<4sI")
"""Sync request/response header: 4-letter id and a length (or mode/mtime for some ids)."""
SYNC_STAT = struct.Struct("<4sIII")
"""``STAT`` reply: id, mode, size, mtime (s)."""
SYNC_DENT = struct.Struct("<4sIIII")
"""``DENT`` entry of a ``LIST`` reply: id, mode, size, mtime, name length."""
SYNC_DATA_MAX = 64 * 1024
"""Largest ``DATA`` chunk in a sync reply, bytes (adbd's ``SYNC_DATA_MAX``)."""
