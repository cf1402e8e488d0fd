"""CLI commands: ``record``, ``deploy`` (phones over ADB; see docs/deploy.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from metadvfs.cli_common import check_out_dir, handle_errors, print_json
from metadvfs.core.domains import DOMAINS
from metadvfs.errors import MetaDVFSError


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("record")(handle_errors(record_cmd))
    app.command("deploy")(handle_errors(deploy_cmd))


def record_cmd(
    serial: str = typer.Option(..., "--serial", help="HOST:PORT (Wi-Fi adb, twin) or a USB serial."),
    seconds: float = typer.Option(..., "--seconds", help="Recording length, s."),
    out: Path = typer.Option(..., "--out", help="Trace file to write (.csv or .parquet)."),
    interval: float = typer.Option(0.1, "--interval", help="Sampling interval = trace row length, s (0.001..1)."),
    device: str = typer.Option(None, "--device", help="Device profile (default: by the phone's codename)."),
    timeout: float = typer.Option(5.0, "--timeout", help="ADB timeout of every call, s."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Record a workload trace from a phone running its stock governor (replay it with `metadvfs replay`)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from metadvfs.deploy.record import record

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]recording[/] {task.fields[info]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} rows"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as prog:
        task = prog.add_task("rec", total=max(1, round(seconds / interval)) if interval > 0 else 1, info="")

        def on_row(done: int, total: int, sr: Any) -> None:
            info = ""
            if sr is not None:
                name = sr.app or sr.foreground or "-"
                info = f"{name}  {sr.fps:4.0f} fps  {sr.power_total_mw / 1000:.2f} W"
            prog.update(task, completed=done, total=total, info=info)

        summary = record(serial, seconds, out, interval, device, timeout, progress=on_row)
    if json_out:
        print_json(summary)
        return
    print(
        f"wrote {summary['out']}: {summary['rows']} rows of {interval:g} s on {summary['device']} "
        f"({summary['codename']}), app {summary['app']}, mean {summary['mean_fps']:.1f} fps, "
        f"{summary['mean_power_w']:.2f} W ({summary['power_source']}); read {summary['read_ms_median']:.1f} ms median"
        + (" (interrupted)" if summary["interrupted"] else "")
    )
    print(f"replay it: metadvfs replay --device {summary['device']} --trace {summary['out']}")


class _LiveView:
    """Rich live panel: per-domain frequency/level/util/action, power, FPS, temperatures, step time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.live: Any = None
        self.plan: dict[str, Any] = {}
        self.last = 0.0
        self.step_ms: list[float] = []

    def ready(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        if not self.enabled:
            return
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(stderr=True), refresh_per_second=4, transient=False)
        self.live.start()

    def step(self, s: dict[str, Any]) -> None:
        self.step_ms.append(s["step_ms"])
        if self.live is None:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        from rich.table import Table

        t = Table(
            title=f"{self.plan.get('device')} ({self.plan.get('codename')}) · {self.plan.get('governor_desc')}",
            caption=(
                f"step {s['step']}  t {s['t_s']:.1f} s  app {s['app'] or '-'}  "
                f"loop {s['step_ms']:.1f} ms (median {sorted(self.step_ms)[len(self.step_ms) // 2]:.1f})  "
                "Ctrl-C stops and restores"
            ),
        )
        for c in ("domain", "MHz", "level", "util %", "action"):
            t.add_column(c, justify="right")
        for d in DOMAINS:
            if s[f"{d}_mhz"] <= 0:  # the phone has no such cluster (e.g. Pixel 3: no mid)
                t.add_row(d, "-", "-", "-", "-")
                continue
            util = f"{100 * s[f'{d}_util']:.0f}"
            t.add_row(d, f"{s[f'{d}_mhz']:.0f}", str(s[f"{d}_level"]), util, str(s[f"{d}_action"]))
        t.add_row("", "", "", "", "")
        t.add_row("power", f"{s['power_w']:.2f} W", "", "fps", f"{s['fps']:.0f}")
        t.add_row("die", f"{s['temp_die_c']:.1f} °C", "", "skin", f"{s['temp_skin_c']:.1f} °C")
        if s["throttled"]:
            t.add_row("", "", "", "throttled", "yes")
        self.live.update(t)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def deploy_cmd(
    governor: Path = typer.Option(None, "--governor", help="Governor directory (from metadvfs export)."),
    serial: str = typer.Option(..., "--serial", help="HOST:PORT (Wi-Fi adb, twin) or a USB serial."),
    seconds: float = typer.Option(None, "--seconds", help="Run length, s (default: until Ctrl-C)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the phone, print what would change."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary (no live view)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/deploy-DEVICE-TIME)."),
    keep_thermal: bool = typer.Option(False, "--keep-thermal", help="Leave thermal daemons and properties running."),
    method: str = typer.Option("auto", "--method", help="CPU writes: auto, clamp (min=max) or userspace."),
    timeout: float = typer.Option(5.0, "--timeout", help="ADB timeout of every call, s."),
    restore: bool = typer.Option(
        False, "--restore", help="Only put the phone back to its saved stock settings (after a crash or reboot)."
    ),
    on_phone: bool = typer.Option(
        False, "--on-phone", help="Run the governor on the phone by itself (C runner); the host may disconnect."
    ),
    status: bool = typer.Option(False, "--status", help="State of the on-phone runner."),
    stop: bool = typer.Option(False, "--stop", help="Stop the on-phone runner and verify the phone is at stock."),
    logs: bool = typer.Option(False, "--logs", help="Copy the on-phone runner's log to --out (+ trace.csv)."),
    runner: Path = typer.Option(None, "--runner", help="Runner binary to push (default: built for the phone's CPU)."),
) -> None:
    """Run a governor on a rooted phone; restores the stock settings on exit (watchdog-protected).

    Exit status: 0 run ended and the phone was verified back at stock; 2 refused or failed with nothing left
    changed; 3 another deploy owns the phone; 4 the phone may still be changed (see docs/deploy.md).
    """
    from metadvfs.deploy.run import deploy
    from metadvfs.deploy.session import NotRestored

    check_out_dir(out)
    picked = [name for name, on in (("on_phone", on_phone), ("status", status), ("stop", stop), ("logs", logs)) if on]
    if len(picked) > 1 or (picked and (restore or dry_run)):
        raise MetaDVFSError("--on-phone, --status, --stop, --logs, --restore and --dry-run exclude each other")
    if picked:
        from metadvfs.cli_runner import untethered

        untethered(picked[0], governor, serial, seconds, out, method, keep_thermal, timeout, runner, json_out)
        return
    if restore:
        from metadvfs.deploy.rescue import restore_phone

        res = restore_phone(serial, timeout_s=timeout)
        if json_out:
            print_json(res)
        else:
            for note in res["notes"]:
                print(f"note: {note}")
            done = f"restored the {res['snapshot']} from {res['source']} (verified)"
            print(done if res["restored"] else "nothing to do")
        return
    if governor is None:
        raise MetaDVFSError("--governor: required (or --restore)")

    view = _LiveView(enabled=not json_out and not dry_run and sys.stderr.isatty())
    try:
        summary = deploy(
            governor,
            serial,
            seconds=seconds,
            dry_run=dry_run,
            out_dir=out,
            keep_thermal=keep_thermal,
            method=method,
            timeout_s=timeout,
            on_step=view.step,
            on_ready=view.ready,
        )
    finally:
        view.stop()
    if json_out:
        print_json(summary)
    elif dry_run:
        print(f"dry run: {summary['governor_desc']}")
        print(f"phone {summary['serial']}: {summary['device']} ({summary['codename']}), root via {summary['root']}")
        print("would change:")
        for line in summary["changes"]:
            print(f"  - {line}")
        for note in summary["notes"]:
            print(f"note: {note}")
    else:
        r = summary["restore"]
        lm = summary["loop_ms"]
        print(
            f"{summary['reason']}: {summary['steps']} steps in {summary['duration_s']:.1f} s; "
            f"loop {lm['median']:.1f} ms median / {lm['p95']:.1f} ms p95 (read {summary['read_ms']['median']:.1f}, "
            f"decide {summary['decide_ms']['median']:.2f}, write {summary['write_ms']['median']:.1f})"
        )
        if summary["steps"]:
            print(
                f"mean {summary['mean_power_w']:.2f} W, {summary['mean_fps']:.1f} fps; max die "
                f"{summary['max_temp_die_c']:.1f} °C, skin {summary['max_temp_skin_c']:.1f} °C; "
                f"log in {summary['out']}/"
            )
        print(f"restored by {r['by']}" + (" (verified)" if r["verified"] else ""))
    r = summary.get("restore")
    if r is not None and not (r["by"] == "host" and r["verified"]):
        detail = r["error"] or "; ".join(r["mismatches"][:3])
        raise NotRestored(
            f"phone not verified restored (by {r['by']}): {detail}; run metadvfs deploy --restore --serial {serial}"
        )
