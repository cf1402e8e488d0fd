"""The emulated phone's host side: directories, node files, tools, and the processes it runs.

Layout of one twin (a fresh temporary directory ``base``)::

    base/phone/        the phone's "/" (``TwinServer.root``): sys/, proc/, data/local/tmp/, dev/, system/bin/, ...
    base/twin/bin/     Android-only tools (sh, su, getprop, setprop, start, stop, dumpsys, cmd, am, ...)
    base/twin/hostbin/ wrappers for the host programs the phone may run (toybox-like set)
    base/twin/props/   one file per system property
    base/twin/state/   dumpsys outputs kept current by the simulator driver
    base/twin/requests/ requests from tools to the driver (dumpsys --latency-clear, am start, ...)
    base/twin/exec/    rewritten copies of scripts the phone user may not rewrite in place

Phone processes are host processes started with ``PATH=base/twin/bin:base/twin/hostbin``, ``cwd=base/phone``
and the marker variable ``METADVFS_TWIN=<id>`` in their environment; the marker (and their session id) is how
:meth:`Phone.processes` finds them, so ``nohup`` and ``setsid`` children stay tracked.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metadvfs.errors import MetaDVFSError
from metadvfs.twin import confine, tools
from metadvfs.twin.paths import PathMapper, ReverseMapper, phone_reverse_pairs
from metadvfs.twin.spawner import SpawnedProcess, Spawner

MARKER = "METADVFS_TWIN"
"""Environment variable carried by every phone process (value: the twin's id)."""
SHELL_UID = 2000
"""The uid ``adb shell`` runs as on Android (the ``shell`` user)."""
UNPRIVILEGED = "nobody"
"""Host user the phone's processes run as under ``permission_denied`` when the twin itself runs as root."""


class Phone:
    """Host directories, node files and processes of one emulated phone.

    Args:
        twin_id: Unique id of the twin (put in every phone process's environment).
        unprivileged: Run phone processes without write access to control nodes (``permission_denied``).
        workdir: Parent directory of the twin's temporary directory (default: ``/dev/shm`` when it is a writable
            tmpfs, because the driver rewrites node files many times a second; else the system temp dir).
    """

    def __init__(self, twin_id: str, unprivileged: bool = False, workdir: str | os.PathLike[str] | None = None) -> None:
        if not os.path.isdir("/proc/self"):
            raise MetaDVFSError("the twin needs a Linux host (/proc is used to track the phone's processes)")
        self.twin_id = twin_id
        parent = str(workdir) if workdir is not None else default_workdir()
        try:
            self.base = Path(tempfile.mkdtemp(prefix="metadvfs-twin-", dir=parent))
        except OSError as exc:
            raise MetaDVFSError(f"twin workdir {parent}: cannot create a directory ({exc.strerror})") from None
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.root = self.base / "phone"
        self.twin = self.base / "twin"
        self.bin = self.twin / "bin"
        self.hostbin = self.twin / "hostbin"
        self.props = self.twin / "props"
        self.state = self.twin / "state"
        self.requests = self.twin / "requests"
        self.exec_dir = self.twin / "exec"
        for d in (self.root, self.bin, self.hostbin, self.props, self.state / "sf", self.requests, self.exec_dir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.props, self.requests, self.exec_dir):
            os.chmod(d, 0o777)
        self.mapper = PathMapper(str(self.root))
        self.reverse_pairs = phone_reverse_pairs(str(self.root), str(self.twin))
        self.host_sh = tools.host_tool("sh")
        self.run_as: tuple[int, int] | None = None
        if unprivileged and os.geteuid() == 0:
            pw = pwd.getpwnam(UNPRIVILEGED)
            self.run_as = (pw.pw_uid, pw.pw_gid)
        self.sandbox = confine.Sandbox(
            writable=[str(d) for d in (self.root, self.props, self.state, self.requests, self.exec_dir)],
            readable=[str(self.bin), str(self.hostbin), *confine.SYSTEM_DIRS],
        )
        self.spawner = Spawner(self.sandbox.fd, self.sandbox.drop_caps)
        self.sessions: set[int] = set()
        self._started: dict[int, float] = {}
        self.missing: tuple[str, ...] = ()
        self._hosts: dict[str, str] = {}

    # ------------------------------------------------------------------ files
    def host(self, phone_path: str) -> Path:
        """Host path of an on-phone absolute path."""
        return self.mapper.host_path(phone_path)

    def host_str(self, phone_path: str) -> str:
        """:meth:`host` as a string, cached (the driver's hot path)."""
        h = self._hosts.get(phone_path)
        if h is None:
            h = self._hosts[phone_path] = str(self.mapper.host_path(phone_path))
        return h

    def is_missing(self, phone_path: str) -> bool:
        """True when the path lies under a node removed by the ``missing_nodes`` fault."""
        return any(phone_path == m or phone_path.startswith(m + "/") for m in self.missing)

    def mkdir(self, phone_path: str, mode: int = 0o755) -> None:
        """Create an on-phone directory (and parents)."""
        p = self.host(phone_path)
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)

    def put(self, phone_path: str, text: str | bytes, mode: int = 0o444) -> None:
        """Atomically replace an on-phone file (readers never see a partial file). Skips missing nodes."""
        if self.is_missing(phone_path):
            return
        self.put_host(self.host_str(phone_path), text, mode)

    def put_host(self, path: str | os.PathLike[str], text: str | bytes, mode: int = 0o444) -> None:
        """Atomically replace a host file under the twin's base directory (write a sibling, then rename)."""
        data = text.encode() if isinstance(text, str) else text
        path = os.fspath(path)
        tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def put_inplace(self, phone_path: str, text: str) -> os.stat_result | None:
        """Rewrite a control node in place (keeps its inode); returns its new stat, ``None`` if absent."""
        p = self.host_str(phone_path)
        try:
            mode = os.stat(p).st_mode
            if not mode & stat.S_IWUSR:
                os.chmod(p, mode | stat.S_IWUSR)
            fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
            if not mode & stat.S_IWUSR:
                os.chmod(p, stat.S_IMODE(mode))
            return os.stat(p)
        except FileNotFoundError:
            return None

    def symlink(self, phone_path: str, target: str) -> None:
        """Create a symlink ``phone_path -> target``; ``target`` must be relative (stays inside the root)."""
        if target.startswith("/"):
            raise ValueError(f"twin symlinks must be relative, got {target!r}")
        if self.is_missing(phone_path):
            return
        p = self.host(phone_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        os.symlink(target, p)

    def read(self, phone_path: str) -> str:
        """Content of an on-phone file.

        Raises:
            FileNotFoundError: No such node.
        """
        return self.host(phone_path).read_text(encoding="utf-8", errors="replace")

    def set_prop(self, name: str, value: str) -> None:
        """Set a system property (as ``setprop`` would, without permission checks)."""
        self.put_host(self.props / name, value, 0o666)

    def get_prop(self, name: str) -> str:
        """Value of a property ("" when unset)."""
        try:
            return (self.props / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ tools
    def install_tools(self, no_root: bool) -> None:
        """Write the phone's tools, host-tool wrappers, ``/system/bin`` and the base directories."""
        sed, grep, mktemp, mv, touch = (tools.host_tool(n) for n in ("sed", "grep", "mktemp", "mv", "touch"))
        sh = self.host_sh
        b, s, r, p = str(self.bin), str(self.state), str(self.requests), str(self.props)
        scripts = {
            "sh": tools.sh_wrapper(
                sh, sed, grep, mktemp, self.mapper.sed_expressions(), self.mapper.grep_pattern(), str(self.exec_dir)
            ),
            "su": tools.su_script(sh, b, s, str(self.root)),
            "getprop": tools.getprop_script(sh, p),
            "setprop": tools.setprop_script(sh, p, mktemp, mv),
            "start": tools.startstop_script(sh, p, s, mktemp, mv),
            "stop": tools.startstop_script(sh, p, s, mktemp, mv),
            "dumpsys": tools.dumpsys_script(sh, s, r, touch),
            "cmd": tools.cmd_script(sh, s, b),
            "pm": tools.cmd_script(sh, s, b),
            "am": tools.am_script(sh, s, r, mktemp, mv),
            "monkey": tools.am_script(sh, s, r, mktemp, mv),
            "id": tools.id_script(sh),
            "whoami": tools.id_script(sh),
            "getenforce": tools.selinux_script(sh),
            "setenforce": tools.selinux_script(sh),
        }
        for name in ("md5sum", "sha1sum", "sha256sum"):
            target = _which(name)
            if target is not None:
                scripts[name] = tools.hash_script(sh, target, grep, sed, str(self.root))
        path_line = f"PATH={tools.shq(self.path_env())}; export PATH\n"
        for name, text in scripts.items():
            if name != "sh":  # the sh wrapper must not touch PATH (it is the user's shell)
                first, rest = text.split("\n", 1)
                text = f"{first}\n{path_line}{rest}"
            self.put_host(self.bin / name, text, 0o755)
        wrappers: dict[str, str] = {}
        for name in tools.HOST_TOOLS:
            target = _which(name)
            if target is not None:
                wrappers[name] = tools.host_wrapper(sh, target)
                self.put_host(self.hostbin / name, wrappers[name], 0o755)
        # /system/bin inside the phone: copies (regular files), so scripts can call /system/bin/<tool>.
        self.mkdir("/system/bin")
        self.mkdir("/system/etc")
        for name in scripts:
            self.put(f"/system/bin/{name}", (self.bin / name).read_bytes(), 0o755)
        for name, text in wrappers.items():
            self.put(f"/system/bin/{name}", text, 0o755)
        self.symlink("/bin", "system/bin")
        self.symlink("/etc", "system/etc")
        for d in ("/vendor/bin", "/sdcard", "/storage/emulated/0", "/data/misc/adb", "/mnt", "/cache"):
            self.mkdir(d)
        self.mkdir("/data/local/tmp", 0o777)
        self.mkdir("/data/local", 0o751)
        self.mkdir("/data/adb/service.d", 0o700)  # Magisk's boot scripts (run as root after every boot)
        self.mkdir("/dev")
        for dev in ("null", "zero", "urandom", "random"):  # the host's character devices (harmless to write)
            node = self.host(f"/dev/{dev}")
            with contextlib.suppress(FileNotFoundError):
                node.unlink()
            os.symlink(f"/dev/{dev}", node)
        if no_root:
            self.put_host(self.state / "no_root", "", 0o444)

    def path_env(self) -> str:
        """``PATH`` of phone processes."""
        return f"{self.bin}:{self.hostbin}"

    def env(self) -> dict[str, str]:
        """Environment of an ``adb shell`` process."""
        root = str(self.root)
        return {
            "PATH": self.path_env(),
            "HOME": root,
            "TMPDIR": f"{root}/data/local/tmp",
            "ANDROID_DATA": f"{root}/data",
            "ANDROID_ROOT": f"{root}/system",
            "EXTERNAL_STORAGE": f"{root}/sdcard",
            "SHELL": f"{root}/system/bin/sh",
            "USER": "shell",
            "HOSTNAME": "localhost",
            "LANG": "C",
            "TWIN_UID": str(SHELL_UID),
            MARKER: self.twin_id,
        }

    def reverse_mapper(self) -> ReverseMapper:
        """A fresh streaming reverse mapper (host paths -> phone paths) for one output stream."""
        return ReverseMapper(self.reverse_pairs)

    # ------------------------------------------------------------------ processes
    def spawn_shell(self, command: str | None, separate_stderr: bool = False) -> SpawnedProcess:
        """Start ``sh -c <command>`` (phone paths rewritten) or an interactive-less ``sh`` reading stdin.

        Args:
            command: The ``shell:`` service argument; ``None`` or empty for a shell reading commands on stdin.
            separate_stderr: Give stderr its own pipe (``shell_v2``); else merged into stdout (v1 ``shell:``).

        Returns:
            The process.
        """
        if command:
            argv = ["/system/bin/sh", "-c", self.mapper.rewrite(command)]
            exe = self.host_sh
        else:
            argv = ["/system/bin/sh"]
            exe = str(self.bin / "sh")
        # forked by the spawner (already confined, small): in a new session, with pipes
        proc = self.spawner.spawn(argv, exe, str(self.root), self.env(), separate_stderr, self.run_as)
        self.sessions.add(proc.pid)
        self._started[proc.pid] = time.monotonic()
        if len(self._started) > 256:
            cutoff = time.monotonic() - 1.0
            self._started = {k: v for k, v in self._started.items() if v > cutoff}
        return proc

    def run_boot_scripts(self, timeout_s: float = 30.0) -> list[str]:
        """Run ``/data/adb/service.d/*.sh`` as root, one after the other (what Magisk does after a boot).

        Returns:
            The names of the scripts run.
        """
        d = self.host("/data/adb/service.d")
        ran = []
        for p in sorted(d.glob("*.sh")) if d.is_dir() else []:
            if not p.is_file() or p.is_symlink() or not re.fullmatch(r"[A-Za-z0-9_.-]+\.sh", p.name):
                continue
            proc = self.spawn_shell(f"su -c 'sh /data/adb/service.d/{p.name}'")
            try:
                proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.hangup(proc)
            ran.append(p.name)
        return ran

    def hangup(self, proc: SpawnedProcess) -> None:
        """Send SIGHUP to a shell's process group (what a closed adb stream does); nohup'd children survive."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGHUP)

    def processes(self) -> list[tuple[int, list[str]]]:
        """``(pid, argv)`` of every live phone process (by environment marker or session)."""
        out = []
        me = os.getpid()
        marker = f"{MARKER}={self.twin_id}".encode()
        seen: set[int] = set()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid == me:
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    st = f.read()
                fields = st[st.rindex(b")") + 2 :].split()
                if fields[0] == b"Z":
                    continue
                sid = int(fields[3])
                if sid not in self.sessions:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        if marker not in f.read().split(b"\0"):
                            continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            except (OSError, ValueError, IndexError):
                continue
            if argv:
                out.append((pid, argv))
                seen.add(sid)
        self.sessions &= seen | set(self._recent())  # forget sessions with no process left (pids get reused)
        return out

    def _recent(self) -> list[int]:
        """Session ids of shells started in the last second (they may not be visible in /proc yet)."""
        now = time.monotonic()
        return [sid for sid, t in self._started.items() if now - t < 1.0]

    def command_lines(self) -> list[str]:
        """Command lines of the phone's processes as the phone would show them (phone paths, ``sh``)."""
        rev = ReverseMapper(self.reverse_pairs)
        lines = []
        for _, argv in self.processes():
            if argv[0] in (self.host_sh, "/system/bin/sh", str(self.bin / "sh")):
                argv = ["sh", *argv[1:]]
            lines.append(rev.map_all(" ".join(argv).encode()).decode(errors="replace"))
        return sorted(lines)

    def kill_all(self, grace_s: float = 0.5) -> None:
        """Terminate every phone process (SIGTERM, then SIGKILL after ``grace_s``)."""
        self._signal_all(signal.SIGTERM)
        end = time.monotonic() + grace_s
        while time.monotonic() < end and self.processes():
            time.sleep(0.02)
        self._signal_all(signal.SIGKILL)
        for sid in list(self.sessions):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(sid, signal.SIGKILL)

    def _signal_all(self, sig: int) -> None:
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def default_workdir() -> str:
    """``/dev/shm`` when it is a writable directory (tmpfs on Linux), else the system temporary directory."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name, path="/usr/bin:/bin")


def remove_tree(path: Path) -> None:
    """Remove a twin's base directory (making read-only directories writable first)."""
    import shutil

    def retry(func, p, exc):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
            func(p)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)
