"""A device-side ADB daemon on 127.0.0.1 for the twin (docs/android-interfaces.md §12).

Protocol coverage:

- ``CNXN`` handshake (version 0x01000000, max payload 256 KiB, never exceeded by what the twin sends) and RSA
  ``AUTH``: token, signature check against the known keys (the phone's ``/data/misc/adb/adb_keys`` plus the
  trusted public-key files: by default the user's own adb keys), ``RSAPUBLICKEY`` of an unknown key ignored
  (the host times out, as when nobody taps "allow"), or, only with ``auto_accept`` (``--insecure``), accepted
  and remembered in ``adb_keys``.
- Streams: ``OPEN``/``OKAY``/``WRTE``/``CLSE`` with one outstanding ``WRTE`` per stream (the twin waits for
  the host's ``OKAY`` before sending more); several streams and several connections at once (one reader thread
  per connection, one worker thread per stream).
- Services: ``shell:<cmd>`` / ``exec:<cmd>`` (v1 raw stream: stdout and stderr merged, no exit code; the stream
  closes when every holder of the output pipe has exited, as modern adbd does), ``shell:`` without a command
  (commands on stdin), ``sync:`` (``STAT``, ``LIST``, ``SEND``, ``RECV``, ``DATA``, ``DONE``, ``OKAY``,
  ``FAIL``, ``QUIT``), ``reboot:`` (kills the phone's processes and drops every connection), ``root:``
  (refused, as on a retail build). Anything else is refused with ``CLSE``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import socket
import stat
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from metadvfs.twin import protocol as P
from metadvfs.twin.phone import Phone

ACK_TIMEOUT_S = 30.0
"""How long a stream waits for the host's OKAY after a WRTE before giving up, s."""


class AdbServer:
    """Accepts ADB connections for one phone.

    Args:
        phone: The emulated phone.
        on_command_done: Called after every shell command finished (the twin applies control-node writes).
        banner: The ``device::...`` identity string sent in ``CNXN``.
        port: TCP port (0 picks a free one).
        auth: Require RSA authentication.
        auto_accept: Accept unknown public keys (a user tapping "allow"; ``metadvfs twin --insecure``).
        on_reboot: Called for the ``reboot:`` service.
        trusted: Public-key files (``adbkey.pub`` format) whose keys are accepted; read at every authentication.
    """

    def __init__(
        self,
        phone: Phone,
        on_command_done: Callable[[], None],
        banner: bytes,
        port: int = 0,
        auth: bool = True,
        auto_accept: bool = False,
        on_reboot: Callable[[], None] | None = None,
        trusted: tuple[Path, ...] = (),
    ) -> None:
        self.phone = phone
        self.on_command_done = on_command_done
        self.on_reboot = on_reboot
        self.banner = banner
        self.auth = auth
        self.auto_accept = auto_accept
        self.keys_file = phone.host("/data/misc/adb/adb_keys")
        self.trusted = tuple(trusted)
        self.auth_log: list[str] = []
        self._lock = threading.Lock()
        self._conns: set[_Connection] = set()
        self._stopping = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind(("127.0.0.1", port))
        except OSError:
            self._sock.close()
            raise
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start accepting connections."""
        self._thread = threading.Thread(target=self._accept_loop, name=f"twin-adbd-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, drop every connection."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.cut_connections()

    def cut_connections(self) -> None:
        """Reset every open connection (RST, as when the cable is pulled); keep listening."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.abort()
        for c in conns:
            c.join(timeout=5.0)

    @property
    def connections(self) -> int:
        """Number of open connections."""
        with self._lock:
            return len(self._conns)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except OSError:
                break
            if self._stopping.is_set():
                sock.close()
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock)
            with self._lock:
                self._conns.add(conn)
            conn.start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    # ------------------------------------------------------------------ keys
    def known_keys(self) -> list[bytes]:
        """Public keys (``adb_keys`` lines) the phone trusts: its ``adb_keys`` and the trusted key files."""
        out: list[bytes] = []
        for f in (self.keys_file, *self.trusted):
            try:
                out += [ln for ln in Path(f).read_bytes().splitlines() if ln.strip()]
            except OSError:
                continue
        return out

    def remember_key(self, blob: bytes) -> None:
        """Trust a public key from now on."""
        line = blob.split(b"\0", 1)[0].strip()
        with self._lock:
            keys = self.known_keys()
            if line not in keys:
                self.keys_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.keys_file, "ab") as f:
                    f.write(line + b"\n")

    def log(self, event: str) -> None:
        """Record an authentication event."""
        with self._lock:
            self.auth_log.append(event)


class _Connection(threading.Thread):
    """One ADB transport (TCP connection): handshake, packet dispatch, streams."""

    def __init__(self, server: AdbServer, sock: socket.socket) -> None:
        super().__init__(name="twin-adb-conn", daemon=True)
        self.server = server
        self.sock = sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_send = P.MAX_PAYLOAD
        self.dead = threading.Event()
        self.aborted = False

    # ---- I/O
    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        """Send one packet (raises ``OSError`` when the connection is gone)."""
        pkt = P.pack(cmd, arg0, arg1, data)
        with self.send_lock:
            if self.dead.is_set():
                raise OSError("connection closed")
            self.sock.sendall(pkt)

    def abort(self) -> None:
        """Drop the connection with a TCP reset."""
        self.aborted = True
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)  # wakes the reader thread; the close below sends RST

    # ---- main loop
    def run(self) -> None:
        try:
            if self._handshake():
                while True:
                    self._dispatch(P.read_packet(self.sock))
        except (OSError, P.ProtocolError):
            pass
        finally:
            self.dead.set()
            for s in list(self.streams.values()):
                s.on_peer_close()
            with contextlib.suppress(OSError):
                if self.aborted:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.close()
            self.server._forget(self)

    def _handshake(self) -> bool:
        srv = self.server
        while True:
            pkt = P.read_packet(self.sock)
            if pkt.cmd == P.CNXN:
                break
        # both sides use the smaller of the two announced maxima (adb's update_version): never send more than the
        # MAX_PAYLOAD the twin announces, even to a host that announced 1 MiB (the adb client rejects it)
        self.max_send = max(256, min(pkt.arg1 or P.MAX_PAYLOAD, P.MAX_PAYLOAD))
        if not srv.auth:
            self._accept()
            return True
        token = os.urandom(P.TOKEN_SIZE)
        self.send(P.AUTH, P.AUTH_TOKEN, 0, token)
        while True:
            pkt = P.read_packet(self.sock)
            if pkt.cmd == P.CNXN:  # the host restarted the handshake
                token = os.urandom(P.TOKEN_SIZE)
                self.send(P.AUTH, P.AUTH_TOKEN, 0, token)
                continue
            if pkt.cmd != P.AUTH:
                continue
            if pkt.arg0 == P.AUTH_SIGNATURE:
                if self._signed_by_known_key(token, pkt.data):
                    srv.log("signature-accepted")
                    self._accept()
                    return True
                srv.log("signature-rejected")
                token = os.urandom(P.TOKEN_SIZE)
                self.send(P.AUTH, P.AUTH_TOKEN, 0, token)
            elif pkt.arg0 == P.AUTH_RSAPUBLICKEY:
                try:
                    P.decode_public_key(pkt.data)
                except ValueError:
                    srv.log("publickey-invalid")
                    continue
                if not srv.auto_accept:
                    srv.log("publickey-ignored")
                    continue  # the user did not tap "allow": stay silent, the host times out
                srv.remember_key(pkt.data)
                srv.log("publickey-accepted")
                self._accept()
                return True

    def _signed_by_known_key(self, token: bytes, sig: bytes) -> bool:
        for line in self.server.known_keys():
            try:
                key = P.decode_public_key(line)
            except ValueError:
                continue
            if P.verify_signature(key, token, sig):
                return True
        return False

    def _accept(self) -> None:
        self.send(P.CNXN, P.A_VERSION, P.MAX_PAYLOAD, self.server.banner)

    def _dispatch(self, pkt: P.Packet) -> None:
        if pkt.cmd == P.OPEN:
            self._open(pkt.arg0, pkt.data.split(b"\0", 1)[0].decode("utf-8", errors="replace"))
            return
        stream = self.streams.get(pkt.arg1)
        if stream is None:
            if pkt.cmd == P.WRTE:  # for a stream that is gone: tell the host
                with contextlib.suppress(OSError):
                    self.send(P.CLSE, 0, pkt.arg0)
            return
        if pkt.cmd == P.OKAY:
            stream.acked.set()
        elif pkt.cmd == P.WRTE:
            stream.inbox.put(pkt.data)
            self.send(P.OKAY, stream.our_id, stream.peer_id)
        elif pkt.cmd == P.CLSE:
            stream.on_peer_close()

    def _open(self, peer_id: int, service: str) -> None:
        handler = _service_handler(service)
        if handler is None:
            self.send(P.CLSE, 0, peer_id)
            return
        our_id = self.next_id
        self.next_id += 1
        stream = _Stream(self, our_id, peer_id)
        self.streams[our_id] = stream
        self.send(P.OKAY, our_id, peer_id)
        name = f"twin-adb-{service[:20]}"
        threading.Thread(target=stream.run, args=(handler, service), name=name, daemon=True).start()


class _Stream:
    """One ADB stream: ordered writes with OKAY flow control, an inbox of the host's WRTE payloads."""

    def __init__(self, conn: _Connection, our_id: int, peer_id: int) -> None:
        self.conn = conn
        self.our_id = our_id
        self.peer_id = peer_id
        self.acked = threading.Event()
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.peer_closed = threading.Event()
        self._closed = False
        self._buf = bytearray()

    @property
    def phone(self) -> Phone:
        return self.conn.server.phone

    def run(self, handler: Callable[[_Stream, str], None], service: str) -> None:
        try:
            handler(self, service)
        except (OSError, _StreamClosed):
            pass
        finally:
            self.close()

    def write(self, data: bytes) -> None:
        """Send ``data`` in WRTE packets, waiting for the host's OKAY after each."""
        view = memoryview(data)
        step = self.conn.max_send
        for i in range(0, len(view), step):
            if self.peer_closed.is_set() or self.conn.dead.is_set():
                raise _StreamClosed
            self.acked.clear()
            self.conn.send(P.WRTE, self.our_id, self.peer_id, bytes(view[i : i + step]))
            waited = 0.0
            while not self.acked.wait(0.1):
                waited += 0.1
                if self.peer_closed.is_set() or self.conn.dead.is_set() or waited > ACK_TIMEOUT_S:
                    raise _StreamClosed

    def close(self) -> None:
        """Close the stream from the device side (once)."""
        if self._closed:
            return
        self._closed = True
        self.conn.streams.pop(self.our_id, None)
        if not self.conn.dead.is_set():
            with contextlib.suppress(OSError):
                self.conn.send(P.CLSE, self.our_id, self.peer_id)

    def on_peer_close(self) -> None:
        self.peer_closed.set()
        self.inbox.put(None)

    def read_exact(self, n: int) -> bytes:
        """Read ``n`` bytes of the host's stream data (sync protocol)."""
        while len(self._buf) < n:
            chunk = self.inbox.get()
            if chunk is None:
                raise _StreamClosed
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class _StreamClosed(Exception):
    pass


def _service_handler(service: str) -> Callable[[_Stream, str], None] | None:
    if service.startswith("shell,") and ":" in service and "v2" in service.split(":", 1)[0].split(","):
        return _shell_v2_service
    if service.startswith(("shell:", "exec:")) or service == "shell":
        return _shell_service
    if service == "sync:":
        return _sync_service
    if service.startswith("reboot:") or service == "reboot":
        return _reboot_service
    if service == "root:":
        return _root_service
    return None


# ============================================================================ shell
def _shell_service(stream: _Stream, service: str) -> None:
    cmd = service.split(":", 1)[1] if ":" in service else ""
    phone = stream.phone
    proc = phone.spawn_shell(cmd)
    assert proc.stdout is not None and proc.stdin is not None
    stdin = proc.stdin

    def feed() -> None:  # the host's WRTE payloads are the command's stdin (``echo x | adb shell cat``)
        while True:
            data = stream.inbox.get()
            if data is None:
                break
            try:
                stdin.write(data)
                stdin.flush()
            except OSError:
                break
        with contextlib.suppress(OSError):
            stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    rev = phone.reverse_mapper()
    fd = proc.stdout.fileno()
    try:
        while True:
            if stream.peer_closed.is_set() or stream.conn.dead.is_set():
                phone.hangup(proc)  # the host closed the stream: SIGHUP the command (nohup'd children survive)
                break
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out = rev.feed(chunk)
            if out:
                stream.write(out)
        tail = rev.flush()
        if tail and not stream.peer_closed.is_set():
            stream.write(tail)
    except _StreamClosed:
        phone.hangup(proc)
    finally:
        with contextlib.suppress(OSError):
            proc.stdout.close()
        stream.inbox.put(None)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10.0)
        stream.conn.server.on_command_done()


# ============================================================================ shell v2
V2_STDIN, V2_STDOUT, V2_STDERR, V2_EXIT, V2_CLOSE_STDIN = 0, 1, 2, 3, 4
_V2_HDR = struct.Struct("<BI")


def _shell_v2_service(stream: _Stream, service: str) -> None:
    """``shell,v2,<args>:<cmd>`` (AOSP ``shell_protocol.h``): packets ``<u8 id><u32 length><data>``.

    stdout (1) and stderr (2) apart, the exit status (3) before the stream closes, stdin (0) and close-stdin (4)
    from the host; a window-size change (5) is ignored (no pty).
    """
    cmd = service.split(":", 1)[1]
    phone = stream.phone
    proc = phone.spawn_shell(cmd, separate_stderr=True)
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    stdin = proc.stdin

    def feed() -> None:
        buf = b""
        open_ = True
        while True:
            data = stream.inbox.get()
            if data is None:
                break
            buf += data
            while len(buf) >= _V2_HDR.size:
                kind, n = _V2_HDR.unpack_from(buf)
                if len(buf) < _V2_HDR.size + n:
                    break
                payload, buf = buf[_V2_HDR.size : _V2_HDR.size + n], buf[_V2_HDR.size + n :]
                try:
                    if kind == V2_STDIN and open_:
                        stdin.write(payload)
                        stdin.flush()
                    elif kind == V2_CLOSE_STDIN and open_:
                        open_ = False
                        stdin.close()
                except OSError:
                    open_ = False
        with contextlib.suppress(OSError):
            stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    fds = {
        proc.stdout.fileno(): (V2_STDOUT, phone.reverse_mapper()),
        proc.stderr.fileno(): (V2_STDERR, phone.reverse_mapper()),
    }
    try:
        while fds:
            if stream.peer_closed.is_set() or stream.conn.dead.is_set():
                phone.hangup(proc)
                return
            ready, _, _ = select.select(list(fds), [], [], 0.1)
            for fd in ready:
                kind, rev = fds[fd]
                chunk = os.read(fd, 65536)
                out = rev.feed(chunk) if chunk else rev.flush()
                if out:
                    stream.write(_V2_HDR.pack(kind, len(out)) + out)
                if not chunk:
                    del fds[fd]
        try:
            code = proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            code = 255
        code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal number, as adbd reports
        stream.write(_V2_HDR.pack(V2_EXIT, 1) + bytes([code & 0xFF]))
    except _StreamClosed:
        phone.hangup(proc)
    finally:
        for f in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                f.close()
        stream.inbox.put(None)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10.0)
        stream.conn.server.on_command_done()


# ============================================================================ sync
def _sync_service(stream: _Stream, service: str) -> None:
    phone = stream.phone
    while True:
        try:
            hdr = stream.read_exact(P.SYNC_HDR.size)
        except _StreamClosed:
            return
        sid, length = P.SYNC_HDR.unpack(hdr)
        if sid == b"QUIT":
            return
        if sid in (b"STAT", b"LIST", b"RECV", b"SEND"):
            if length > 1024:
                _sync_fail(stream, "path too long")
                return
            arg = stream.read_exact(length).decode("utf-8", errors="replace")
        else:
            _sync_fail(stream, f"unknown sync command {sid!r}")
            return
        if sid == b"STAT":
            _sync_stat(stream, phone, arg)
        elif sid == b"LIST":
            _sync_list(stream, phone, arg)
        elif sid == b"RECV":
            _sync_recv(stream, phone, arg)
        else:
            _sync_send(stream, phone, arg)


def _sync_fail(stream: _Stream, msg: str) -> None:
    data = msg.encode()
    stream.write(P.SYNC_HDR.pack(b"FAIL", len(data)) + data)


def _host(phone: Phone, path: str) -> Path | None:
    """Host path of a sync path, ``None`` unless it resolves (symlinks and ``..`` followed) inside the phone."""
    try:
        host = phone.host(path)
    except Exception:
        return None
    return host if phone.mapper.inside(host) else None


def _sync_stat(stream: _Stream, phone: Phone, path: str) -> None:
    host = _host(phone, path)
    try:
        st = os.stat(host) if host is not None else None
    except OSError:
        st = None
    if st is None:
        stream.write(P.SYNC_STAT.pack(b"STAT", 0, 0, 0))
    else:
        stream.write(P.SYNC_STAT.pack(b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))


def _sync_list(stream: _Stream, phone: Phone, path: str) -> None:
    host = _host(phone, path)
    out = bytearray()
    with contextlib.suppress(OSError, TypeError):
        for name in sorted(os.listdir(host)):  # type: ignore[arg-type]
            try:
                st = os.stat(os.path.join(host, name))  # type: ignore[arg-type]
            except OSError:
                continue
            raw = name.encode()
            out += P.SYNC_DENT.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw)) + raw
    out += P.SYNC_DENT.pack(b"DONE", 0, 0, 0, 0)
    stream.write(bytes(out))


def _sync_recv(stream: _Stream, phone: Phone, path: str) -> None:
    host = _host(phone, path)
    try:
        if host is None:
            raise FileNotFoundError
        data = Path(host).read_bytes()
    except IsADirectoryError:
        _sync_fail(stream, f"remote object '{path}' not a file or symlink")
        return
    except OSError as exc:
        _sync_fail(stream, f"remote object '{path}' does not exist" if isinstance(exc, FileNotFoundError) else str(exc))
        return
    data = phone.reverse_mapper().map_all(data)  # host paths written by phone scripts read back as phone paths
    out = bytearray()
    for i in range(0, len(data), P.SYNC_DATA_MAX):
        chunk = data[i : i + P.SYNC_DATA_MAX]
        out += P.SYNC_HDR.pack(b"DATA", len(chunk)) + chunk
        if len(out) >= stream.conn.max_send:
            stream.write(bytes(out))
            out.clear()
    out += P.SYNC_HDR.pack(b"DONE", 0)
    stream.write(bytes(out))


def _sync_send(stream: _Stream, phone: Phone, arg: str) -> None:
    path, _, mode_s = arg.rpartition(",")
    if not path:
        path, mode_s = arg, "33188"
    try:
        mode = int(mode_s)
    except ValueError:
        mode = 0o100644
    chunks = []
    mtime = 0
    while True:
        sid, length = P.SYNC_HDR.unpack(stream.read_exact(P.SYNC_HDR.size))
        if sid == b"DATA":
            if length > P.SYNC_DATA_MAX * 4:
                _sync_fail(stream, "data chunk too large")
                return
            chunks.append(stream.read_exact(length))
        elif sid == b"DONE":
            mtime = length
            break
        else:
            _sync_fail(stream, f"expected DATA or DONE, got {sid!r}")
            return
    host = _host(phone, path)
    if host is None or not path.startswith("/"):
        _sync_fail(stream, f"invalid path '{path}'")
        return
    data = b"".join(chunks)
    if b"\0" not in data:
        # Text (scripts, configs) is stored with phone paths mapped to the root, like everything the phone's shell
        # writes, so a script run directly (./x.sh, #!/bin/sh) or read by another phone program stays inside the
        # twin; pulls, cat and the hash tools map it back.
        with contextlib.suppress(UnicodeDecodeError):
            data = phone.mapper.rewrite(data.decode("utf-8")).encode("utf-8")
    try:
        host.parent.mkdir(parents=True, exist_ok=True)
        if not phone.mapper.inside(host.parent) or (host.is_symlink() and not phone.mapper.inside(host)):
            raise PermissionError(f"'{path}' resolves outside the phone")
        if stat.S_ISLNK(mode):
            raise PermissionError("pushing symlinks is not supported by the twin")
        tmp = host.with_name(f".{host.name}.push")
        tmp.write_bytes(data)
        os.chmod(tmp, stat.S_IMODE(mode) or 0o644)
        if mtime:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, host)
    except OSError as exc:
        _sync_fail(stream, f"couldn't create file: {exc.strerror or exc}")
        return
    stream.write(P.SYNC_HDR.pack(b"OKAY", 0))


# ============================================================================ misc services
def _reboot_service(stream: _Stream, service: str) -> None:
    srv = stream.conn.server
    stream.close()
    if srv.on_reboot is not None:
        threading.Thread(target=srv.on_reboot, name="twin-reboot", daemon=True).start()


def _root_service(stream: _Stream, service: str) -> None:
    stream.write(b"adbd cannot run as root in production builds\n")
