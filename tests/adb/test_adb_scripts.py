"""The generated on-phone scripts (applier, watchdog, frame poller), run in the host's sh with the phone paths
redirected into a temporary directory; frame accounting of the sampler."""

from __future__ import annotations

import functools
import os
import subprocess
import time
from pathlib import Path

import pytest
from waiting import wait_until

from metadvfs.adb import agents
from metadvfs.adb.parsers import SfLatency
from metadvfs.adb.sampler import count_frames
from metadvfs.adb.shellsafe import write_cmd
from metadvfs.deploy import ondevice as od
from metadvfs.deploy import watchdog as wd

NODES = ["/sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed", "/sys/devices/platform/x.mali/scaling_max_freq"]
TABLES = [(300000, 1803000), (151000, 848000)]


def _localize(text: str, root: Path) -> str:
    return (
        text.replace("/data/local/tmp", f"{root}/data/local/tmp")
        .replace("/data/local/metadvfs", f"{root}/data/local/metadvfs")
        .replace("/sys/", f"{root}/sys/")
    )


_wait = functools.partial(wait_until, step=0.02)


@pytest.fixture
def phone(tmp_path: Path) -> Path:
    (tmp_path / "data/local/tmp/metadvfs").mkdir(parents=True)
    (tmp_path / "data/local/metadvfs").mkdir(parents=True, mode=0o700)
    (tmp_path / "data/local/metadvfs-ack").mkdir(parents=True, mode=0o711)
    for n in NODES:
        p = Path(_localize(n, tmp_path))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("0\n")
    return tmp_path


def _run_script(text: str, phone: Path, name: str) -> subprocess.Popen[bytes]:
    """Write a generated script where the phone keeps it and run it with sh (so its cmdline names it)."""
    path = Path(_localize(f"/data/local/metadvfs/{name}", phone))
    path.write_text(_localize(text, phone))
    return subprocess.Popen(["sh", str(path)])


def _send(root: Path, line: str) -> None:
    fifo = _localize(agents.FIFO_PATH, root)
    fd = os.open(fifo, os.O_WRONLY)
    os.write(fd, (line + "\n").encode())
    os.close(fd)


def test_applier_writes_whitelisted_table_values_only(phone: Path) -> None:
    os.mkfifo(_localize(agents.FIFO_PATH, phone), 0o600)
    proc = _run_script(agents.applier_script(NODES, TABLES), phone, "applier.sh")
    try:
        assert _wait(lambda: Path(_localize(agents.APPLIER_PID, phone)).exists(), 3)
        ack = Path(_localize(agents.ACK_PATH, phone))
        _send(phone, "1 0 1803000 1 848000")
        assert _wait(lambda: ack.exists() and ack.read_text().split() == ["1", "0"], 3)
        assert Path(_localize(NODES[0], phone)).read_text() == "1803000\n"
        assert Path(_localize(NODES[1], phone)).read_text() == "848000\n"
        _send(phone, "2 0 12;reboot 7 5 1 $(id)")  # non-digit values and an unknown id are refused
        assert _wait(lambda: ack.read_text().split() == ["2", "3"], 3)
        _send(phone, "3 0 1803001 1 1")  # digits, but not values of the nodes' tables
        assert _wait(lambda: ack.read_text().split() == ["3", "2"], 3)
        assert Path(_localize(NODES[0], phone)).read_text() == "1803000\n"
        _send(phone, "x; 0 1")  # a bad sequence number: ignored entirely
        _send(phone, "quit")
        proc.wait(3)
    finally:
        proc.kill()
    assert ack.read_text().split() == ["3", "2"]
    assert not Path(_localize(agents.APPLIER_PID, phone)).exists()


def test_applier_request_command_is_safe() -> None:
    cmd = agents.applier_request(7, [(0, 1803000), (1, 848000)])
    assert "'7 0 1803000 1 848000'" in cmd and cmd.startswith("[ -f ")
    with pytest.raises(Exception):  # noqa: B017 - MetaDVFSError or ValueError
        agents.applier_request(7, [(0, "1;reboot")])  # type: ignore[list-item]


TOKEN = "0123456789abcdef0123456789abcdef"


def _claim(phone: Path, owner: str = TOKEN) -> Path:
    d = Path(_localize(od.CLAIM_DIR, phone))
    d.mkdir(parents=True, exist_ok=True)
    (d / "owner").write_text(owner + "\n")
    return d


def _restore_sh(phone: Path, value: int) -> None:
    Path(_localize(od.RESTORE_PATH, phone)).write_text(_localize(write_cmd(NODES[0], value) + "\n", phone))


def test_watchdog_restores_after_heartbeat_stops_and_releases_claim(phone: Path) -> None:
    node = Path(_localize(NODES[0], phone))
    node.write_text("999\n")
    _restore_sh(phone, 300000)
    claim_dir = _claim(phone)
    hb = Path(_localize(od.HEARTBEAT_PATH, phone))
    hb.write_text("1\n")
    proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=1.0), phone, "watchdog.sh")
    try:
        assert _wait(lambda: Path(_localize(wd.PID_PATH, phone)).exists(), 3)
        for i in range(2, 8):  # a live host: nothing happens
            hb.write_text(f"{i}\n")
            time.sleep(0.3)
        assert node.read_text() == "999\n"
        t0 = time.monotonic()  # the host dies: heartbeat frozen
        assert _wait(lambda: node.read_text() == "300000\n", 4)
        assert time.monotonic() - t0 < 3.5
        proc.wait(3)
    finally:
        proc.kill()
    assert Path(_localize(wd.STATUS_PATH, phone)).read_text().strip() == "restored"
    assert Path(_localize(agents.POLLER_STOP, phone)).exists()
    assert not Path(_localize(wd.PID_PATH, phone)).exists()
    assert not claim_dir.exists()


def test_watchdog_kills_only_the_applier_named_in_its_pid_file(phone: Path) -> None:
    """Old code: ``kill $(cat applier.pid)`` unquoted; ``-s KILL <pid>`` in the pid file killed any process."""
    _restore_sh(phone, 300000)
    _claim(phone)
    victim = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = Path(_localize(agents.APPLIER_PID, phone))
        pid_file.write_text(f"-s KILL {victim.pid}\n")
        proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=1.0), phone, "watchdog.sh")
        proc.wait(8)
        assert victim.poll() is None, "the watchdog signalled a process that is not the applier"
        pid_file.write_text(f"{victim.pid}\n")  # a digits-only pid of an unrelated process: /proc check refuses
        _claim(phone)
        proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=1.0), phone, "watchdog.sh")
        proc.wait(8)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_watchdog_kills_the_real_applier(phone: Path) -> None:
    os.mkfifo(_localize(agents.FIFO_PATH, phone), 0o600)
    applier = _run_script(agents.applier_script(NODES, TABLES), phone, "applier.sh")
    try:
        assert _wait(lambda: Path(_localize(agents.APPLIER_PID, phone)).exists(), 3)
        _restore_sh(phone, 300000)
        _claim(phone)
        proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=1.0), phone, "watchdog.sh")
        proc.wait(8)
        assert applier.wait(3) is not None
    finally:
        applier.kill()


def test_watchdog_exits_without_restoring_when_its_run_lost_the_claim(phone: Path) -> None:
    _restore_sh(phone, 300000)
    _claim(phone, owner="f" * 32)  # another run owns the phone now
    proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=1.0), phone, "watchdog.sh")
    proc.wait(5)
    assert Path(_localize(NODES[0], phone)).read_text() == "0\n"
    assert Path(_localize(od.CLAIM_DIR, phone)).exists()


def test_watchdog_stop_file(phone: Path) -> None:
    _restore_sh(phone, 1)
    _claim(phone)
    proc = _run_script(wd.watchdog_script(TOKEN, timeout_s=3.0), phone, "watchdog.sh")
    try:
        assert _wait(lambda: Path(_localize(wd.PID_PATH, phone)).exists(), 3)
        Path(_localize(wd.STOP_PATH, phone)).write_text("1\n")
        proc.wait(3)
    finally:
        proc.kill()
    assert Path(_localize(NODES[0], phone)).read_text() == "0\n"  # stopped without restoring


def test_fg_and_sf_files() -> None:
    act, win, layers = agents.parse_fg_file(
        f"mResumedActivity: ActivityRecord{{1 u0 a.b/.M t1}}\n{agents.FG_MARK_WINDOW}\nmCurrentFocus=x\n"
        f"{agents.FG_MARK_LIST}\nlayer#1\n"
    )
    assert "a.b/" in act and "mCurrentFocus" in win and layers.strip() == "layer#1"
    assert agents.parse_sf_file("seq 4\nlayer SurfaceView[a.b/.M](BLAST)#0\n16666666\n1 2 3\n") == (
        4,
        "SurfaceView[a.b/.M](BLAST)#0",
        "16666666\n1 2 3\n",
    )
    assert agents.parse_sf_file("16666666\n") is None


def _lat(frames: list[tuple[int, int]]) -> SfLatency:
    return SfLatency(refresh_ns=16_666_667, frames=[(d, a, a) for d, a in frames])


def test_count_frames_new_only_and_jank() -> None:
    p = 16_666_667
    prev = _lat([(0, 0 + 1000), (p, p + 1000)])
    cur = _lat([(p, p + 1000), (2 * p, 2 * p + 1000), (3 * p, 5 * p)])  # the last frame is 2 periods late
    n, presented = count_frames(prev, cur, same_layer=True)
    assert n == 2
    assert presented == pytest.approx(1.0 + 1.0 / 3.0)
    assert count_frames(prev, cur, same_layer=False) == (0, 0.0)
    assert count_frames(None, cur, same_layer=True) == (0, 0.0)
