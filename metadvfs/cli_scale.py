"""CLI command ``sweep`` (hyper-parameter search on Ray Tune; see :mod:`metadvfs.scale.sweep`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from metadvfs.cli_common import handle_errors, print_json

console = Console(stderr=True)


def sweep_cmd(
    config: str = typer.Option(..., "--config", help="Base YAML config (path or shipped name)."),
    space: str = typer.Option(..., "--space", help="YAML search space: KEY: {uniform|loguniform|randint|choice: ...}."),
    samples: int = typer.Option(8, "--samples", help="Trials (samples of the space)."),
    rungs: int = typer.Option(4, "--rungs", help="ASHA rungs: each trial is scored after every 1/rungs of its budget."),
    ray: str | None = typer.Option(None, "--ray", help="auto | local[:N] | HOST:PORT (default: a new local instance)."),
    storage: str | None = typer.Option(None, "--storage", help="Storage root for trials (default runs/scale)."),
    out: Path | None = typer.Option(None, "--out", help="Best config file (default <storage>/sweep/<name>-best.yaml)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler (same seed -> same samples)."),
    eval_seeds: int = typer.Option(2, "--eval-seeds", help="Validation episodes per task per rung."),
    eval_seconds: float = typer.Option(20.0, "--eval-seconds", help="Validation episode length, s."),
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as one JSON object."),
) -> None:
    """Search hyper-parameters with Ray Tune + ASHA; the metric is PPR vs the reference at the QoE floor."""
    from metadvfs.scale.sweep import run_sweep

    res = run_sweep(config, space, samples, rungs, ray, storage, out, seed, eval_seeds, eval_seconds)
    if json_out:
        print_json(res)
        return
    b = res["best"]
    console.print(
        f"{res['trials']} trials in {res['wall_s']:.0f} s; best score {b['scores'][-1]:.4f} with {b['params']}"
    )
    console.print(f"best config: {res['best_config']}  (all trials: {res['sweep_json']})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("sweep")(handle_errors(sweep_cmd))
