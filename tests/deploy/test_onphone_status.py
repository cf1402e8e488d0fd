"""read_status against a runner that finishes while its status is being read.

The runner writes its final status, removes its pid file and exits. A status read that sees the runner dead must
also see that final status, or ``deploy --on-phone --stop`` reports a stopped runner as ``running``. The race is
made deterministic: the phone's ``tr`` (the liveness check's one process) is replaced by a wrapper that lets the
runner finish at the moment liveness is checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metadvfs.deploy import ondevice as od
from metadvfs.deploy import onphone
from metadvfs.runner import plan as rp

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


class _LocalRoot:
    """A link whose root shell is the local ``sh``, with the phone's run directory mapped into a temp dir."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root, self.bindir, self.serial = root, bindir, "local"

    def root_shell(self, command: str, timeout_s: float | None = None) -> str:
        env = dict(os.environ, PATH=f"{self.bindir}:{os.environ['PATH']}")
        cmd = command.replace(od.ROOT_DIR, str(self.root))
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=env, timeout=30).stdout


def _local(path: str, root: Path) -> Path:
    return Path(path.replace(od.ROOT_DIR, str(root)))


def test_a_runner_that_finishes_during_the_read_is_seen_with_its_final_status(tmp_path: Path) -> None:
    root, bindir = tmp_path / "phone", tmp_path / "bin"
    status, pidf = _local(rp.STATUS_PATH, root), _local(rp.PID_PATH, root)
    status.parent.mkdir(parents=True)
    pidf.parent.mkdir(parents=True, exist_ok=True)
    bindir.mkdir()
    # a process whose /proc cmdline reads like the runner's
    runner = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "metadvfs-runner", "run", "plan.txt"]
    )
    try:
        status.write_text("state running\nstep 42\n")
        pidf.write_text(f"{runner.pid}\n")
        link = _LocalRoot(root, bindir)
        assert onphone.read_status(link) == {"state": "running", "step": "42", "alive": "yes"}  # type: ignore[arg-type]
        # the runner finishes exactly when liveness is checked: final status, pid file removed, process gone
        final = tmp_path / "final"
        final.write_text("state stopped\nstep 43\nreason stop file\n")
        real_tr = shutil.which("tr")
        assert real_tr
        (bindir / "tr").write_text(
            f"#!/bin/sh\ncp {final} {status}.tmp && mv {status}.tmp {status}\nrm -f {pidf}\nkill -9 {runner.pid}\n"
            # SIGKILL is asynchronous: wait until the runner is a zombie (its cmdline then reads empty)
            f"p=/proc/{runner.pid}; while [ -e $p ] && ! grep -q '^State:.*Z' $p/status; do sleep 0.01; done\n"
            f'exec {real_tr} "$@"\n'
        )
        (bindir / "tr").chmod(0o755)
        st = onphone.read_status(link)  # type: ignore[arg-type]
        assert st["alive"] == "no"
        assert st["state"] == "stopped" and st["reason"] == "stop file"
    finally:
        runner.kill()
        runner.wait()
