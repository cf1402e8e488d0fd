"""Issue 11 defects of the twin (each failed on the code before): escapes from the phone tree, host privileges of
phone commands, the max payload, stdin of shell:, and leftovers after SIGTERM/SIGHUP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from twinutil import wait_for

from metadvfs.twin import TwinServer
from metadvfs.twin import protocol as P
from metadvfs.twin.confine import abi_version

REPO = Path(__file__).resolve().parents[2]
needs_landlock = pytest.mark.skipif(abi_version() < 1, reason="the kernel has no Landlock")


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    p = tmp_path / "host-secret.txt"
    p.write_text("host-only-secret\n")
    return p


@needs_landlock
def test_dotdot_and_symlinks_cannot_leave_the_phone(twin6: TwinServer, dev6: AdbDeviceTcp, secret: Path) -> None:
    rel = os.path.relpath(secret, twin6.root)
    assert rel.startswith("..")
    out = dev6.shell(f"cd /; cat {rel}; cat {secret}; cat $(echo {secret})")
    assert "host-only-secret" not in out
    dev6.shell(f"ln -s ../../../{rel} /data/local/tmp/escape")  # relative symlink out of the tree
    assert "host-only-secret" not in dev6.shell("cat /data/local/tmp/escape")
    with pytest.raises(Exception):  # noqa: B017 - adb-shell raises its own FAIL error type
        dev6.pull("/data/local/tmp/escape", str(secret.with_name("pulled")))
    assert not secret.with_name("pulled").exists() or "host-only" not in secret.with_name("pulled").read_text()
    dev6.shell("rm -f /data/local/tmp/escape")


@needs_landlock
def test_phone_root_is_not_host_root(twin6: TwinServer, dev6: AdbDeviceTcp) -> None:
    status = dev6.shell("su -c 'cat /proc/self/status'")
    cap = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("CapEff:"))
    assert int(cap, 16) == 0  # uid 0 on the phone holds no capability on the host
    home = Path.home()
    assert str(home) not in dev6.shell(f"ls {home} 2>&1; echo done").replace(f"ls: cannot open directory '{home}'", "")


def _raw(tw: TwinServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", tw.port), 10)
    s.sendall(P.pack(P.CNXN, 0x01000000, 1024 * 1024, b"host::raw\0"))  # the host announces 1 MiB
    assert P.read_packet(s).name == "CNXN"
    return s


def _open(s: socket.socket, local: int, service: bytes) -> int:
    s.sendall(P.pack(P.OPEN, local, 0, service + b"\0"))
    ok = P.read_packet(s)
    assert ok.name == "OKAY"
    return ok.arg0


def test_packets_never_exceed_the_announced_max_payload() -> None:
    with TwinServer("pixel5", "weibo", auth=False) as tw, _raw(tw) as s:
        big = os.urandom(600 * 1024)
        tw_file = tw.root / "data/local/tmp/big.bin"
        tw_file.write_bytes(big)
        remote = _open(s, 1, b"sync:")
        path = b"/data/local/tmp/big.bin"
        s.sendall(P.pack(P.WRTE, 1, remote, P.SYNC_HDR.pack(b"RECV", len(path)) + path))
        data, sizes = b"", []
        while True:
            pkt = P.read_packet(s, max_payload=4 * 1024 * 1024)
            if pkt.name == "OKAY":
                continue
            assert pkt.name == "WRTE"
            sizes.append(len(pkt.data))
            data += pkt.data
            s.sendall(P.pack(P.OKAY, 1, remote))
            if data.endswith(P.SYNC_HDR.pack(b"DONE", 0)):
                break
        assert max(sizes) <= P.MAX_PAYLOAD, max(sizes)


def test_stdin_reaches_shell_commands() -> None:
    with TwinServer("pixel5", "weibo", auth=False) as tw, _raw(tw) as s:
        remote = _open(s, 3, b"shell:read a; echo got:$a")
        s.sendall(P.pack(P.WRTE, 3, remote, b"hello\n"))
        out = b""
        while b"got:" not in out or not out.endswith(b"\n"):
            pkt = P.read_packet(s)
            if pkt.name == "WRTE":
                out += pkt.data
                s.sendall(P.pack(P.OKAY, 3, remote))
            elif pkt.name == "CLSE":
                break
        assert out == b"got:hello\n"


def test_shell_v2_exit_status_and_stderr() -> None:
    import struct

    hdr = struct.Struct("<BI")
    with TwinServer("pixel5", "weibo", auth=False) as tw, _raw(tw) as s:
        remote = _open(s, 5, b"shell,v2,raw:read a; echo out:$a; echo err >&2; exit 7")
        s.sendall(P.pack(P.WRTE, 5, remote, hdr.pack(0, 3) + b"hi\n" + hdr.pack(4, 0)))
        buf = b""
        while True:
            pkt = P.read_packet(s)
            if pkt.name == "WRTE":
                buf += pkt.data
                s.sendall(P.pack(P.OKAY, 5, remote))
            elif pkt.name == "CLSE":
                break
        got: dict[int, bytes] = {}
        while buf:
            kind, n = hdr.unpack_from(buf)
            got[kind] = got.get(kind, b"") + buf[hdr.size : hdr.size + n]
            buf = buf[hdr.size + n :]
        assert got == {1: b"out:hi\n", 2: b"err\n", 3: bytes([7])}


@pytest.mark.skipif(shutil.which("adb") is None, reason="the Debian adb client is not installed (apt install adb)")
def test_debian_adb_client_pulls_a_large_file(tmp_path: Path, signer) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, HOME=str(tmp_path), ANDROID_USER_HOME=str(tmp_path / ".android"))
    (tmp_path / ".android").mkdir()
    key = Path(os.environ["METADVFS_ADB_KEY"])
    shutil.copy(key, tmp_path / ".android/adbkey")
    shutil.copy(key.with_name(key.name + ".pub"), tmp_path / ".android/adbkey.pub")
    port = 5037 + (os.getpid() % 2000)
    env["ANDROID_ADB_SERVER_PORT"] = str(port)
    with TwinServer("pixel6", "tiktok") as tw:
        data = os.urandom(300 * 1024)
        (tw.root / "data/local/tmp/big.bin").write_bytes(data)
        try:
            run = lambda *a: subprocess.run(["adb", *a], env=env, capture_output=True, text=True, timeout=60)  # noqa: E731
            run("connect", tw.serial)
            assert wait_for(lambda: "device" in run("-s", tw.serial, "get-state").stdout, 20)
            res = run("-s", tw.serial, "pull", "/data/local/tmp/big.bin", str(tmp_path / "big.bin"))
            assert res.returncode == 0, res.stdout + res.stderr
            assert (tmp_path / "big.bin").read_bytes() == data
            assert run("-s", tw.serial, "shell", "echo", "hi").stdout.strip() == "hi"
            res = run("-s", tw.serial, "shell", "echo out; echo err >&2; exit 3")  # shell_v2: status, stderr
            assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
            res = subprocess.run(["adb", "-s", tw.serial, "shell", "cat"], input="piped\n", env=env,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
            assert res.stdout == "piped\n"
        finally:
            subprocess.run(["adb", "kill-server"], env=env, capture_output=True, timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_cli_twin_cleans_up_on_signal(sig: signal.Signals, signer) -> None:  # type: ignore[no-untyped-def]
    """Old code: SIGTERM killed `metadvfs twin` without cleanup (phone processes and /dev/shm files left)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "metadvfs.cli", "twin", "--device", "pixel5", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("serial: "), line
        port = int(line.split(":")[-1])
        root = ""
        while not root:
            err_line = proc.stderr.readline()
            assert err_line, "no 'phone files:' line"
            if "phone files: " in err_line:
                root = err_line.split("phone files: ", 1)[1].strip()
        dev = AdbDeviceTcp("127.0.0.1", port, default_transport_timeout_s=5.0)
        assert dev.connect(rsa_keys=[signer], auth_timeout_s=5.0, read_timeout_s=5.0)
        dev.shell("nohup sh -c 'while true; do sleep 1; done' > /dev/null 2>&1 &")
        dev.close()
        assert wait_for(lambda: bool(_phone_pids(root)), 5.0)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130), err
    assert wait_for(lambda: not _phone_pids(root), 5.0)
    assert not Path(root).parent.exists(), err


def _phone_pids(root: str) -> set[int]:
    """Processes of the twin whose phone root is ``root`` (their environment has HOME=<root>)."""
    want = f"HOME={root}".encode()
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    out.add(int(name))
        except OSError:
            continue
    return out
