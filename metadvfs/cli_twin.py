"""CLI commands: ``twin`` (serve a simulated, rooted Pixel over the real ADB protocol on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

from metadvfs.cli_common import handle_errors
from metadvfs.errors import MetaDVFSError

console = Console(stderr=True)


def twin(
    device: str = typer.Option("pixel6", "--device", "-d", help="Device name (`metadvfs devices`) or profile file."),
    app: str = typer.Option("tiktok", "--app", "-a", help="App in the foreground (catalog name or app-profile file)."),
    port: int = typer.Option(5555, "--port", "-p", help="TCP port on 127.0.0.1 (0 picks a free one)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated demand (>= 0)."),
    fault: list[str] = typer.Option(
        [], "--fault", help="Fault (repeatable): garbled_sysfs, missing_nodes, permission_denied, no_userspace."
    ),
    realtime: float = typer.Option(1.0, "--realtime", help="Simulated seconds per wall-clock second (> 0)."),
    duration: float = typer.Option(0.0, "--duration", help="Serve this many seconds, then exit (0: until Ctrl-C)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Do not require RSA authentication (anyone connects)."),
    key: list[Path] = typer.Option(
        [], "--key", help="Trust this adb public key (repeatable; adbkey.pub or a private key with .pub next to it)."
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Accept any host key (default: only your own and --key)."),
) -> None:
    """Serve a digital twin of a rooted Pixel over ADB until Ctrl-C, SIGTERM or SIGHUP (all clean up)."""
    from metadvfs.twin.server import TwinServer

    if duration < 0:
        raise MetaDVFSError(f"--duration: must be >= 0, got {duration:g}")
    server = TwinServer(
        device=device,
        app=app,
        port=port,
        seed=seed,
        faults=frozenset(fault),
        realtime=realtime,
        auth=not no_auth,
        auto_accept=insecure,
        keys=list(key),
    )
    with _stop_signals(), server:
        prof = server.profile
        faults = ", ".join(sorted(server.faults)) or "none"
        console.print(
            f"[bold]{prof.display_name}[/] twin ({prof.codenames[0]}) running [bold]{server.app}[/] · "
            f"faults: {faults} · realtime x{server.realtime:g}"
        )
        console.print(f"phone files: {server.root}")
        print(f"serial: {server.serial}", flush=True)
        console.print(
            f"connect with:  adb connect {server.serial}  |  metadvfs record --serial {server.serial}  |  "
            f"AdbDeviceTcp('127.0.0.1', {server.port})"
        )
        trust = "any key (--insecure)" if insecure else "your adb keys" + (" and --key" if key else "")
        if no_auth:
            trust = "anyone (--no-auth)"
        console.print(f"accepts: {trust}; {server.confinement}")
        console.print("Ctrl-C to stop" if duration == 0 else f"serving for {duration:g} s")
        end = time.monotonic() + duration if duration > 0 else None
        try:
            while end is None or time.monotonic() < end:
                time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))
        except (KeyboardInterrupt, _Stop):
            console.print("stopping")


class _Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP: leave the ``with`` block, so the twin kills its phone processes and removes its files."""


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("twin")(handle_errors(twin))
