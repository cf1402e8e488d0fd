"""``metadvfs calibrate``: check the simulated phones against published measurements and write the tables."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from metadvfs.cli_common import handle_errors, print_json
from metadvfs.errors import MetaDVFSError

console = Console(stderr=True)
out_console = Console(width=None if Console().is_terminal else 200)


def _default_docs() -> Path:
    from metadvfs.paths import PACKAGE_DIR

    return PACKAGE_DIR.parent / "docs" / "devices.md"


def _cell(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def calibrate_cmd(
    device: str = typer.Option(None, "--device", "-d", help="Only this device (catalog name); default all."),
    data: Path = typer.Option(None, "--data", help="Published-measurements file (default the shipped one)."),
    governor: str = typer.Option(None, "--governor", "-g", help="Override every workload's governor (e.g. stock)."),
    docs: Path = typer.Option(
        None,
        "--docs",
        help="Markdown file whose calibration block is rewritten (default: the checkout's docs/devices.md).",
    ),
    no_docs: bool = typer.Option(False, "--no-docs", help="Do not write the docs tables."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Simulate the calibration workloads, compare them with published figures, write docs/devices.md tables."""
    from metadvfs.calibration import (
        compare,
        gpu_order_matches,
        load_calibration,
        render_markdown,
        simulate,
        update_docs,
    )
    from metadvfs.catalog.devices import list_devices

    cal = load_calibration(data)
    catalog = list_devices()
    if device is not None and device not in catalog:
        raise MetaDVFSError(f"--device: unknown device {device!r}; choose from {', '.join(catalog)}")
    with console.status("simulating the calibration workloads"):
        sim = simulate(catalog, cal, governor)  # always all phones: the ratios need the reference phones
    rows = compare(cal, sim)
    shown = [r for r in rows if device is None or r["device"] == device]
    written = None
    if not no_docs and device is None:
        target = docs or _default_docs()
        if target.is_file():
            cmd = "metadvfs calibrate" + (f" --governor {governor}" if governor else "")
            update_docs(target, render_markdown(cal, rows, sim, cmd))
            written = str(target)
        elif docs is not None:
            raise MetaDVFSError(f"--docs: {docs} is not a file")
    summary = {
        "figures": len(shown),
        "compared": sum(r["within"] is not None for r in shown),
        "within": sum(bool(r["within"]) for r in shown),
        "gpu_order_as_published": gpu_order_matches(rows),
        "gpu_order_as_published_by_work_rate": gpu_order_matches(rows, "simulated_work"),
        "docs_written": written,
    }
    if json_out:
        print_json({"data": str(cal.path), "simulated": sim if device is None else {device: sim[device]},
                    "rows": shown, "summary": summary})  # fmt: skip
        return
    t = Table(title=f"Calibration against published measurements ({cal.path.name})")
    for c in ("device", "quantity", "benchmark", "vs", "published", "simulated", "work-rate", "model", "sim/pub",
              "tol", "within"):  # fmt: skip
        t.add_column(c, justify="left" if c in ("device", "quantity", "benchmark", "vs", "within") else "right")
    for r in shown:
        within = {"reference": "ref", "no partner": "-"}.get(r["role"]) or ("yes" if r["within"] else "NO")
        t.add_row(r["device"], r["quantity"], r["benchmark"], r.get("reference_device") or "-", _cell(r["published"]),
                  _cell(r["simulated"]), _cell(r.get("simulated_work")), _cell(r["model"]),
                  _cell(r["sim_over_published"]), f"{100 * r['tolerance']:.0f}%", within)  # fmt: skip
    out_console.print(t)
    out_console.print(
        f"{summary['within']}/{summary['compared']} comparisons within tolerance; GPU order as published: "
        f"{summary['gpu_order_as_published']} "
        f"(by delivered work rate: {summary['gpu_order_as_published_by_work_rate']})"
    )
    if written:
        out_console.print(f"tables written to {written}")


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the CLI."""
    app.command("calibrate")(handle_errors(calibrate_cmd))
