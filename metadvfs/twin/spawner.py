"""The twin's process spawner: one small, already confined process that forks every phone shell.

Why: confining each phone shell in a ``preexec_fn`` forces Python's ``subprocess`` to ``fork`` the whole twin
process (simulator, numpy, onnxruntime: measured 20.5 ms instead of 8.1 ms median per ``adb shell true`` on the
2-core development machine). Instead, :class:`Spawner` starts this file as a fresh interpreter that imports only
the standard library and :mod:`metadvfs.twin.confine`, puts itself into the Landlock domain once, and then forks
(cheaply: a ~10 MB process) and ``exec``s each phone shell, which inherits the domain. All phone processes thus
share one domain (they may signal each other; the watchdog stops the applier).

Protocol over a ``SOCK_SEQPACKET`` socket pair: the twin sends a JSON request (``argv``, ``exe``, ``cwd``,
``env``, ``user``/``group`` or null) with the child's stdin, stdout and stderr as ``SCM_RIGHTS`` descriptors; the
spawner answers ``{"pid": N}`` (or ``{"error": ...}``) and later ``{"exit": N, "code": C}`` when the child
ends (``C`` as in :attr:`subprocess.Popen.returncode`: negative for a signal).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

_MAX_MSG = 1 << 20


def _serve(sock: socket.socket, drop_caps: bool) -> None:  # runs in the spawner process
    from confine import apply_cap_drop  # type: ignore[import-not-found]

    children: set[int] = set()
    wake_r, wake_w = os.pipe()  # SIGCHLD wakes the select at once: exits are reported without polling delay
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        watched: list[Any] = [sock, wake_r]
        ready, _, _ = select.select(watched, [], [], 1.0)
        if wake_r in ready:
            with contextlib.suppress(OSError):
                os.read(wake_r, 4096)
        if sock in ready:
            try:
                msg, fds = _recv_fds(sock)
            except (OSError, ValueError):
                return
            if not msg:
                return
            req = json.loads(msg)
            try:
                pid = os.fork()
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"error": str(exc)}).encode())
                continue
            if pid == 0:  # child
                try:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.setsid()
                    for i, fd in enumerate(fds):
                        os.dup2(fd, i)
                    os.closerange(3, 65536)
                    if req.get("group") is not None:
                        os.setgroups([])
                        os.setgid(req["group"])
                    if req.get("user") is not None:
                        os.setuid(req["user"])
                    if drop_caps:
                        apply_cap_drop()
                    os.chdir(req["cwd"])
                    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                    os.execve(req["exe"], req["argv"], req["env"])
                finally:
                    os._exit(127)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            sock.send(json.dumps({"pid": pid}).encode())
        for pid in list(children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                children.discard(pid)
                continue
            if done:
                children.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                sock.send(json.dumps({"exit": pid, "code": code}).encode())


def _recv_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(_MAX_MSG, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def main() -> None:
    """Entry point of the spawner process: ``python spawner.py <socket fd> <ruleset fd> <drop caps 0|1>``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I: the script's directory is not on it
    from confine import restrict_self  # type: ignore[import-not-found]

    sock = socket.socket(fileno=int(sys.argv[1]))
    ruleset = int(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ruleset >= 0:
        restrict_self(ruleset)
        os.close(ruleset)
    _serve(sock, sys.argv[3] == "1")


class SpawnedProcess:
    """The parts of :class:`subprocess.Popen` the twin uses, for a process the spawner started."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes] | None) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        """The exit code, or ``None`` while running."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code.

        Raises:
            subprocess.TimeoutExpired: Still running after ``timeout`` s.
        """
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("phone shell", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Close stdin, read stdout to its end and wait (stderr merged or read after stdout)."""
        with contextlib.suppress(OSError):
            self.stdin.close()
        out = self.stdout.read()
        err = self.stderr.read() if self.stderr is not None else b""
        self.wait(timeout)
        return out, err


class Spawner:
    """Starts and talks to the spawner process.

    Args:
        ruleset_fd: Landlock ruleset the spawner applies to itself (-1: none).
        drop_caps: Children of a root twin drop every capability before ``exec``.
    """

    def __init__(self, ruleset_fd: int, drop_caps: bool) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        keep = [theirs.fileno()] + ([ruleset_fd] if ruleset_fd >= 0 else [])
        here = Path(__file__).resolve().parent
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(here / "spawner.py"), str(theirs.fileno()), str(ruleset_fd),
             "1" if drop_caps else "0"],
            pass_fds=keep, stdin=subprocess.DEVNULL, env={}, cwd="/",
        )  # fmt: skip
        theirs.close()
        self._lock = threading.Lock()
        self._replies: list[dict[str, Any]] = []
        self._reply = threading.Condition()
        self._procs: dict[int, SpawnedProcess] = {}
        self._early: dict[int, int] = {}
        self._reader = threading.Thread(target=self._read, name="twin-spawner", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self._sock.recv(_MAX_MSG)
            except OSError:
                msg = b""
            if not msg:
                with self._reply:
                    self._replies.append({"error": "spawner gone"})
                    self._reply.notify_all()
                for p in list(self._procs.values()):
                    p._exited(-signal.SIGKILL)
                return
            doc = json.loads(msg)
            if "exit" in doc:
                with self._reply:
                    done = self._procs.pop(doc["exit"], None)
                    if done is None:
                        self._early[doc["exit"]] = doc["code"]
                if done is not None:
                    done._exited(doc["code"])
            else:
                with self._reply:
                    self._replies.append(doc)
                    self._reply.notify_all()

    def spawn(
        self,
        argv: list[str],
        exe: str,
        cwd: str,
        env: dict[str, str],
        separate_stderr: bool,
        user: tuple[int, int] | None = None,
    ) -> SpawnedProcess:
        """Start a process with pipes for stdin and stdout (and stderr, or stderr into stdout).

        Raises:
            OSError: The spawner could not start it.
        """
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if separate_stderr else (-1, out_w)
        req = {"argv": argv, "exe": exe, "cwd": cwd, "env": env, "user": user[0] if user else None,
               "group": user[1] if user else None}  # fmt: skip
        fds = array.array("i", [in_r, out_w, err_w])
        with self._lock:
            try:
                self._sock.sendmsg([json.dumps(req).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
            finally:
                for fd in {in_r, out_w, err_w}:
                    os.close(fd)
            with self._reply:
                while not self._replies:
                    self._reply.wait()
                doc = self._replies.pop(0)
        if "pid" not in doc:
            for fd in (in_w, out_r, err_r):
                if fd >= 0:
                    os.close(fd)
            raise OSError(f"twin spawner: {doc.get('error')}")
        p = SpawnedProcess(
            doc["pid"], os.fdopen(in_w, "wb"), os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb") if err_r >= 0 else None
        )
        with self._reply:
            early = self._early.pop(p.pid, None)
            if early is None:
                self._procs[p.pid] = p
        if early is not None:
            p._exited(early)
        return p

    def close(self) -> None:
        """Stop the spawner (phone processes are killed separately)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5.0)


if __name__ == "__main__":
    main()
