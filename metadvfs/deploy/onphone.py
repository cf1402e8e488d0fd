"""``metadvfs deploy --on-phone``: run the governor on the phone by itself (the C runner), then let the host go.

Start (:func:`start_on_phone`), in this order (nothing is changed before the runner's own check passed):

1. the governor directory's ``policy.bin`` is read and checked (device, profile, schema) on the host;
2. the phone is discovered, matched and bound exactly as ``deploy`` does; the phone is claimed and its stock
   settings snapshotted (:class:`~metadvfs.deploy.session.ControlSession`);
3. the runner for the phone's CPU (``uname -m``: ``aarch64`` on a Pixel, ``x86_64`` on the twin), the weight file
   and the plan (:mod:`metadvfs.runner.plan`) are pushed into the root-only run directory ``/data/local/metadvfs/
   runner``; ``metadvfs-runner check`` validates plan and weights, reads every node and opens every write node
   for writing (a corrupt weight file, another device's governor, an unwritable node: one-line error, exit 2,
   nothing changed, the claim released);
4. the stock snapshot and ``restore.sh`` are saved, the frame poller and the watchdog started, the platform
   services stopped (:meth:`~metadvfs.deploy.session.ControlSession.start_untethered`);
5. the runner is started with ``nohup setsid`` as root (it ignores SIGHUP) and the host waits for its status
   ``running``; then the host disconnects. The runner writes the watchdog's heartbeat every step, so a
   ``kill -9`` of the runner is restored by the watchdog within its timeout (3 s) plus one check (1 s).

``--status`` reads the runner's status file and checks its pid; ``--stop`` creates the stop file (the runner
restores and verifies every node it wrote, then runs ``restore.sh``), waits up to 10 s for it to exit (then
stops it: SIGTERM, SIGKILL, and waits until it is gone), and finishes with
``deploy --restore`` (verify against the stock snapshot, remove it, release the claim); ``--logs`` copies the step
log and writes it as a replayable trace (``metadvfs replay --trace``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from metadvfs.adb.discovery import discover
from metadvfs.adb.link import AdbLink
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import ondevice as od
from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import check_files, load_manifest
from metadvfs.export.weights import WEIGHTS_FILE, read_weights
from metadvfs.runner import plan as rp

TMP_DIR = "/data/local/tmp/metadvfs"
START_TIMEOUT_S = 5.0


def runner_target(link: AdbLink) -> str:
    """The runner build for the phone's CPU (``uname -m``)."""
    machine = link.shell("uname -m").strip()
    target = {"aarch64": "aarch64", "arm64": "aarch64", "armv8l": "aarch64", "x86_64": "x86_64"}.get(machine)
    if target is None:
        raise MetaDVFSError(f"{link.serial}: no runner build for CPU {machine!r} (aarch64 and x86_64 are built)")
    return target


def _install(link: AdbLink, binary: Path, weights: Path, plan_text: str) -> None:
    """Push the runner, the weights and the plan into the root-only run directory (0700, files 0700/0600)."""
    link.shell(f"mkdir -p {q(TMP_DIR)}")
    staged = []
    for src, name in ((binary, "runner.bin"), (weights, "policy.bin")):
        dst = f"{TMP_DIR}/{name}"
        link.push_bytes(src.read_bytes(), dst, 0o600)
        staged.append(dst)
    home = q(rp.HOME)
    out = link.root_shell(
        f"{{ umask 077; mkdir -p {home} && chown 0:0 {home} 2>/dev/null; chmod 700 {home} && "
        f"rm -f {q(rp.STOP_PATH)} {q(rp.STATUS_PATH)} && "
        f"cp {q(staged[0])} {q(rp.BINARY_PATH)} && chmod 700 {q(rp.BINARY_PATH)} && "
        f"cp {q(staged[1])} {q(rp.WEIGHTS_PATH)} && chmod 600 {q(rp.WEIGHTS_PATH)} && "
        f"rm -f {q(staged[0])} {q(staged[1])} ; }} 2>&1 && echo @@ok"
    )
    if "@@ok" not in out:
        raise MetaDVFSError(f"installing the runner in {rp.HOME} failed: {out.strip()[:100]!r}")
    od.root_write(link, rp.PLAN_PATH, plan_text)


def _check(link: AdbLink) -> str:
    """``metadvfs-runner check`` on the phone: its one line, or a MetaDVFSError with its error line."""
    s = Script().run("c", f"{q(rp.BINARY_PATH)} check {q(rp.PLAN_PATH)}")
    sec = parse_sections(link.root_shell(s.text(), timeout_s=30), s)["c"]
    text = sec.text.strip().splitlines()
    if sec.failed:
        msg = text[-1] if text else "no output"
        raise MetaDVFSError(f"the runner refused to start: {msg.removeprefix('error: ')}")
    return text[-1] if text else ""


def read_status(link: AdbLink) -> dict[str, str]:
    """The runner's status file (``state``, ``pid``, ``step``, ``app``, ``reason``, ``restore``) plus ``alive``.

    Liveness is read before the status file: the runner writes its final status before it removes its pid file and
    exits, so ``alive == "no"`` always comes with the status the runner left (read the other way round, a runner
    finishing between the two reads showed as dead and still ``running``).
    """
    s = Script()
    s.run("cmd", f'p=; [ -f {q(rp.PID_PATH)} ] && IFS= read -r p < {q(rp.PID_PATH)}; case "$p" in ""|*[!0-9]*) '
          f'echo none ;; *) tr "\\000" " " < /proc/"$p"/cmdline 2>/dev/null || echo none ;; esac')  # fmt: skip
    s.cat("st", rp.STATUS_PATH)
    r = parse_sections(link.root_shell(s.text()), s)
    out: dict[str, str] = {}
    if not r["st"].failed:
        for line in r["st"].text.splitlines():
            k, _, v = line.partition(" ")
            if re.fullmatch(r"[a-z_]{1,20}", k):
                out[k] = v.strip()
    out["alive"] = "yes" if "metadvfs-runner" in r["cmd"].text and " run " in r["cmd"].text else "no"
    return out


def start_on_phone(
    governor: str | Path,
    serial: str,
    seconds: float | None = None,
    method: str = "auto",
    keep_thermal: bool = False,
    timeout_s: float = 5.0,
    heartbeat_timeout_s: float = 3.0,
    runner: str | Path | None = None,
    link: AdbLink | None = None,
) -> dict[str, Any]:
    """Deploy a governor to run on the phone by itself (see the module docstring).

    Args:
        governor: Governor directory with ``policy.bin`` (``metadvfs export``).
        serial: ``HOST:PORT`` or USB serial.
        seconds: Run length on the phone, s (``None``: until ``--stop``, a signal or a thermal hand-back).
        method: CPU write method (``auto``, ``clamp``, ``userspace``).
        keep_thermal: Leave thermal daemons/properties alone.
        timeout_s: ADB timeout of every call, s.
        heartbeat_timeout_s: Heartbeat silence after which the watchdog restores, s.
        runner: A runner binary to push instead of the cached build for the phone's CPU.
        link: An already connected link (tests).

    Returns:
        ``{"device", "serial", "target", "check", "status", "plan": [changes]}``.

    Raises:
        MetaDVFSError: Bad governor, wrong phone, no root, or the runner refused (nothing changed then).
    """
    from metadvfs.adb.binding import bind
    from metadvfs.deploy.run import check_match, check_throttle, profile_for_manifest
    from metadvfs.deploy.session import ControlSession
    from metadvfs.runner.build import runner_binary

    if seconds is not None and not 0 < seconds <= 7 * 24 * 3600:
        raise MetaDVFSError(f"--seconds: must be > 0, got {seconds:g}")
    m = load_manifest(governor)
    wpath = m.path / WEIGHTS_FILE
    if WEIGHTS_FILE not in m.files:
        raise MetaDVFSError(f"{m.path}: no {WEIGHTS_FILE} listed in manifest.json (re-export with metadvfs export)")
    w = read_weights(wpath)
    if (w.device, w.profile_hash) != (m.device_name, m.profile_hash):
        raise MetaDVFSError(f"{wpath}: weights for {w.device} ({w.profile_hash}), manifest for {m.device_name}")
    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    session = None
    try:
        layout = discover(link)
        check_match(m, layout, link.serial)
        profile, _notes = profile_for_manifest(m, layout.codename)
        check_throttle(m, profile)
        binding = bind(layout, profile)
        target = runner_target(link)
        binary = Path(runner) if runner else runner_binary(target)
        session = ControlSession(
            link, binding, method=method, keep_thermal=keep_thermal, heartbeat_timeout_s=heartbeat_timeout_s
        )
        changes = session.prepare()
        check_files(m)
        _install(link, binary, wpath, rp.render_plan(m, binding, session.controller.plan, seconds or 0.0))
        check = _check(link)
        session.start_untethered()
        link.root_shell(
            f"cd / && nohup setsid {q(rp.BINARY_PATH)} run {q(rp.PLAN_PATH)} > {q(rp.OUT_PATH)} 2>&1 < /dev/null &"
        )
        st = _wait_running(link)
        session = None  # the phone is the runner's now: the host leaves without restoring
        return {"device": m.device_name, "serial": link.serial, "target": target, "check": check, "status": st,
                "changes": changes}  # fmt: skip
    finally:
        if session is not None:
            session.restore()
        if own:
            link.close()


def _wait_running(link: AdbLink) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        st = read_status(link)
        if st.get("state") == "running" and st["alive"] == "yes":
            return st
        if st.get("state") == "stopped":
            return st  # it ran and already handed the phone back by itself (e.g. thermal hand-back)
        if st.get("state") == "failed" or time.monotonic() > deadline:
            out = link.root_shell(f"cat {q(rp.OUT_PATH)} 2>/dev/null").strip().splitlines()
            why = st.get("reason") or (out[-1] if out else "no status after 5 s")
            raise MetaDVFSError(f"the runner did not start: {why}")
        time.sleep(0.1)


def stop_on_phone(serial: str, timeout_s: float = 5.0, link: AdbLink | None = None) -> dict[str, Any]:
    """Stop the runner (stop file), wait for its own restore, then verify and clean up as ``deploy --restore``.

    Returns:
        ``{"runner": status after the stop, "restore": deploy --restore's result}``.

    Raises:
        NotRestored: Some setting still differs from the stock snapshot.
    """
    from metadvfs.deploy.rescue import restore_phone

    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    try:
        link.require_root()
        st = read_status(link)
        if st["alive"] == "yes":
            od.root_write(link, rp.STOP_PATH, "stop\n")
            deadline = time.monotonic() + 10.0
            while st["alive"] == "yes" and time.monotonic() < deadline:
                time.sleep(0.1)
                st = read_status(link)
            if st["alive"] == "yes":
                od.stop_helpers(link, [od.RUNNER])
                st = read_status(link)
        res = restore_phone(link.serial, timeout_s=timeout_s, link=link)
        return {"runner": st, "restore": res}
    finally:
        if own:
            link.close()


def status_on_phone(serial: str, timeout_s: float = 5.0, link: AdbLink | None = None) -> dict[str, str]:
    """The runner's status (see :func:`read_status`)."""
    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    try:
        link.require_root()
        return read_status(link)
    finally:
        if own:
            link.close()


def logs_on_phone(serial: str, out: str | Path, timeout_s: float = 5.0, link: AdbLink | None = None) -> dict[str, Any]:
    """Copy the runner's step log to ``out/steps.csv`` and write ``out/trace.csv`` (replays with ``--trace``).

    Returns:
        ``{"steps": n, "steps_csv": path, "trace": path or None, "app": dominant app}``.
    """
    from metadvfs.runner.logs import write_run_logs

    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    try:
        link.require_root()
        s = Script().cat("log", rp.LOG_PATH).cat("plan", rp.PLAN_PATH)
        r = parse_sections(link.root_shell(s.text(), timeout_s=60), s)
        if r["log"].failed:
            raise MetaDVFSError(f"{link.serial}:{rp.LOG_PATH}: no runner log on the phone")
        return write_run_logs(r["log"].text, r["plan"].text if not r["plan"].failed else "", Path(out))
    finally:
        if own:
            link.close()
