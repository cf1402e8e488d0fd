"""The shared "stop the helpers, wait until they are gone" shell (metadvfs.deploy.ondevice.stop_command), run by
the host's own POSIX shells (dash as /bin/sh; mksh, Android's /system/bin/sh, when installed) on real processes.

The generated command names the phone's root directory; here it is rewritten to a temporary directory (the only
change), and the helpers are host processes whose command line names ``metadvfs/applier.sh`` like the real one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metadvfs.deploy import ondevice as od

SHELLS = [s for s in ("/bin/sh", shutil.which("mksh")) if s]


def _stop(shell: str, root: Path) -> tuple[float, str]:
    """Run the stop command for the applier and the runner under ``shell``; (seconds it took, output)."""
    cmd = od.stop_command([od.APPLIER, od.RUNNER]) + f"; {od.left_test([od.APPLIER, od.RUNNER])} && echo LEFT; true"
    t0 = time.monotonic()
    out = subprocess.run(
        [shell, "-c", cmd.replace(od.ROOT_DIR, str(root))], capture_output=True, text=True, timeout=30, check=True
    )
    return time.monotonic() - t0, out.stdout + out.stderr


@contextlib.contextmanager
def _helper(root: Path, body: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``sh <root>/applier.sh`` with ``body``, its pid file written as the applier does; killed on exit."""
    script = root / "applier.sh"
    script.write_text(body)
    proc = subprocess.Popen(["/bin/sh", str(script)])
    (root / "applier.pid").write_text(f"{proc.pid}\n")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    d = tmp_path / "metadvfs"
    (d / "runner").mkdir(parents=True)
    return d


@pytest.mark.parametrize("shell", SHELLS)
def test_a_stopped_helper_gets_sigkill_and_is_waited_for(shell: str, root: Path) -> None:
    """A frozen helper cannot act on SIGTERM (here it also ignores it): SIGKILL after the 2 s wait, and the
    command returns only once it is gone (a zombie counts as gone: it can no longer write)."""
    with _helper(root, "trap '' TERM\nwhile :; do sleep 0.05; done\n") as proc:
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGSTOP)
        took, out = _stop(shell, root)
        assert proc.wait(2.0) == -signal.SIGKILL
    assert od.STOP_WAIT_S <= took <= 2 * od.STOP_WAIT_S + 2.0, took
    assert "LEFT" not in out and not (root / "applier.pid").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_helper_that_obeys_sigterm_is_not_killed(shell: str, root: Path) -> None:
    with _helper(root, "while :; do sleep 0.05; done\n") as proc:
        time.sleep(0.2)
        took, out = _stop(shell, root)
        assert proc.wait(2.0) == -signal.SIGTERM
    assert took < 1.5 and "LEFT" not in out


@pytest.mark.parametrize("shell", SHELLS)
def test_a_reused_pid_is_never_signalled(shell: str, root: Path) -> None:
    """The pid files name live processes that are not the helpers (a pid reused after a crash)."""
    others = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        (root / "applier.pid").write_text(f"{others[0].pid}\n")
        (root / "runner" / "pid").write_text(f"{others[1].pid}\n")
        took, out = _stop(shell, root)
        assert all(p.poll() is None for p in others)
    finally:
        for p in others:
            p.kill()
            p.wait()
    assert took < 1.0 and "LEFT" not in out
