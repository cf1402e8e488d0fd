"""CLI: ``build-runner`` and the on-phone side of ``deploy`` (``--on-phone``, ``--status``, ``--stop``, ``--logs``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from metadvfs.cli_common import check_out_dir, handle_errors, print_json
from metadvfs.errors import MetaDVFSError


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("build-runner")(handle_errors(build_runner_cmd))


def build_runner_cmd(
    target: str = typer.Option("all", "--target", help="aarch64 (Pixels), x86_64 (this machine, the twin) or all."),
    out: Path = typer.Option(Path("build/runner"), "--out", help="Directory: <out>/<target>/metadvfs-runner."),
    show: bool = typer.Option(False, "--show-command", help="Print the compiler command lines too."),
) -> None:
    """Build the on-phone runner (C11, static, libc only) with Zig's C toolchain (pip install ziglang)."""
    from metadvfs.runner.build import CSRC, TARGETS, build, build_command

    check_out_dir(out)
    targets = list(TARGETS) if target == "all" else [target]
    for t in targets:
        if t not in TARGETS:
            raise MetaDVFSError(f"--target: must be one of {', '.join(TARGETS)} or all, got {t!r}")
    for t in targets:
        dest = out / t / "metadvfs-runner"
        if show:
            print(f"(cd {CSRC} && {' '.join(build_command(t, dest.resolve()))})")
        path = build(t, dest)
        print(f"{t}: {path} ({path.stat().st_size:,} bytes)")


def untethered(
    action: str,
    governor: Path | None,
    serial: str,
    seconds: float | None,
    out: Path | None,
    method: str,
    keep_thermal: bool,
    timeout: float,
    runner: Path | None,
    json_out: bool,
) -> None:
    """``deploy --on-phone/--status/--stop/--logs`` (see :mod:`metadvfs.deploy.onphone`)."""
    from metadvfs.deploy import onphone

    res: dict[str, Any]
    if action == "on_phone":
        if governor is None:
            raise MetaDVFSError("--governor: required with --on-phone")
        res = onphone.start_on_phone(governor, serial, seconds, method, keep_thermal, timeout, runner=runner)
        line = (
            f"runner started on {res['serial']} ({res['device']}, {res['target']}, pid {res['status'].get('pid')}); "
            f"it runs without the host. metadvfs deploy --serial {serial} --status | --logs | --stop"
        )
    elif action == "status":
        res = onphone.status_on_phone(serial, timeout)
        if not res.get("state"):
            line = f"{serial}: no on-phone runner has run"
        else:
            state = res["state"] if res["alive"] == "yes" or res["state"] != "running" else "gone (no process: killed?)"
            line = (
                f"runner {state}: step {res.get('step')}, "
                f"{res.get('t_s')} s, app {res.get('app')}; reason {res.get('reason')}; restore {res.get('restore')}"
            )
    elif action == "stop":
        res = onphone.stop_on_phone(serial, timeout)
        r = res["restore"]
        st = res["runner"]
        who = f"runner {st['state']} ({st.get('reason', '-')})" if "state" in st else "no runner status file"
        line = f"{who}; " + (f"restored the {r['snapshot']} (verified)" if r["restored"] else "nothing left to restore")
    else:
        dest = out or Path("runs") / f"runner-{serial.replace(':', '_')}-{time.strftime('%Y%m%dT%H%M%S')}"
        res = onphone.logs_on_phone(serial, dest, timeout)
        line = f"{res['steps']} steps -> {res['steps_csv']}" + (
            f"; trace {res['trace']} (metadvfs replay --trace {res['trace']})" if res["trace"] else ""
        )
    if json_out:
        print_json(res)
    else:
        print(line)
