"""CLI commands: ``export``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from metadvfs.cli_common import handle_errors, print_json

console = Console(stderr=True)


def export_cmd(
    model: str = typer.Option("default", "--model", help="Checkpoint directory or shipped model name."),
    device: str = typer.Option(..., "--device", help="Device name or profile file."),
    out: Path = typer.Option(..., "--out", help="Governor directory to write (policy.onnx + manifest.json)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export a trained model as a per-device governor that runs with onnxruntime + numpy only."""
    from metadvfs.export.exporter import export_governor

    with console.status(f"exporting for {device}"):
        res = export_governor(model, device, out)
    if json_out:
        print_json(res)
        return
    console.print(
        f"governor for [bold]{res['device']}[/]: {res['onnx']} ({res['parameters']:,} parameters, "
        f"models {', '.join(res['models'])}) + {res['manifest']}"
    )
    console.print(f"rehearse: metadvfs twin --device {res['device']} --app tiktok --port 5555 &  then  "
                  f"metadvfs deploy --governor {out} --serial 127.0.0.1:5555 --dry-run")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("export")(handle_errors(export_cmd))
