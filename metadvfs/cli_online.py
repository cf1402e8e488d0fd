"""``metadvfs adapt --serial S --app PKG --minutes M``: online adaptation on a phone (see metadvfs/meta/online.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from metadvfs.cli_common import extrapolation_note, print_json

console = Console(stderr=True)


class _PhoneMinutes:
    """A progress bar in phone-minutes (decisions x decision interval), drawn from the first decision on."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.2f}/{task.total:.2f} phone-min"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.enabled = enabled
        self.bar: Any = None

    def update(self, done: float, total: float) -> None:
        """Phone-minutes done out of the budget's."""
        if not self.enabled:
            return
        if self.bar is None:
            self.p.start()
            self.bar = self.p.add_task("adapting on the phone", total=total)
        self.p.update(self.bar, completed=done)

    def say(self, message: str) -> None:
        """A stage line on stderr (above the bar while it is shown)."""
        (self.p.console if self.bar is not None else console).print(f"[dim]{message}[/]")

    def stop(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.p.stop()
            self.bar = None


def adapt_on_phone(
    model: str,
    serial: str,
    app: str,
    minutes: float,
    out: Path | None,
    method: str,
    device: str | None,
    seed: int,
    rollout: int,
    qoe_margin: float | None,
    stock_seconds: float,
    json_out: bool,
) -> None:
    """Run :func:`metadvfs.meta.online.adapt_online` with a phone-minute progress bar and print the result."""
    import sys

    from metadvfs.meta.online import adapt_online

    bar = _PhoneMinutes(sys.stderr.isatty() and not json_out)
    try:
        rep = adapt_online(
            model, serial, app, minutes, out, method, device, seed, rollout, qoe_margin,
            stock_seconds=stock_seconds, progress=bar.update, status=None if json_out else bar.say,
        )  # fmt: skip
    finally:
        bar.stop()
    if json_out:
        print_json(rep)
        return
    last = rep["curve"][-1] if rep["curve"] else None
    print(
        f"{rep['reason']}: {rep['decisions']} decisions = {rep['phone_minutes']:.2f} phone-minutes on "
        f"{rep['device']} / {rep['package']} ({rep['method']}, from {rep['routed_model']}); stock control "
        f"{rep['stock_control_share']:.1%} of decisions"
    )
    if last is not None:
        first = rep["curve"][0]
        print(
            f"on-phone rollouts: PPR/stock {first[1]:.3f} -> {last[1]:.3f}, QoE {first[2]:.3f} -> {last[2]:.3f} "
            f"(stock QoE {rep['stock']['qoe']:.3f})"
        )
    if rep["extrapolated"]:
        print(extrapolation_note(f"{rep['device']}:{rep['app']}", "tasks the model", rep["extrapolated"]))
    r = rep["restore"]
    print(f"restored by {r['by']}" + (" (verified)" if r["verified"] else ""))
    print(f"adapted model: {rep['out']}/; governor: {rep['governor']} (metadvfs deploy --governor ... --serial ...)")
