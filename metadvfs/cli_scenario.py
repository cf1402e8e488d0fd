"""``metadvfs replay --scenario``: replay a scenario's tasks (thermal stress sessions and the like)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from metadvfs.cli_common import check_out_dir, print_json
from metadvfs.errors import MetaDVFSError

if TYPE_CHECKING:
    import pandas as pd

console = Console(stderr=True)
out_console = Console(width=None if Console().is_terminal else 180)


def _write_frame(df: pd.DataFrame, fmt: str, path: Path) -> None:
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def _fmt_rules(rules: list[dict[str, object]]) -> str:
    if not rules:
        return "-"
    by_time = sorted(rules, key=lambda r: float(r["first_s"]))  # type: ignore[arg-type]
    return "; ".join(f"{r['sensor']}>={float(r['trip_c']):g}C@{float(r['first_s']):.0f}s" for r in by_time)  # type: ignore[arg-type]


def replay_scenario_cmd(
    scenario: str, governors: list[str], seconds: float | None, seed: int, out: Path | None, fmt: str, json_out: bool
) -> None:
    """Run every task of a scenario under each governor; print a table, write metrics.json and timelines.

    Args:
        scenario: Scenario name or file.
        governors: Governor names.
        seconds: Session length override, s (``None``: the scenario's ``duration_s``).
        seed: Demand-window seed (>= 0).
        out: Output directory (default ``runs/scenario-NAME-seedN``).
        fmt: Timeline format, ``parquet`` or ``csv``.
        json_out: Print one JSON object instead of the table.
    """
    from metadvfs.io import write_text_atomic, write_with
    from metadvfs.tasks.scenario import DURATION_RANGE_S, load_scenario
    from metadvfs.tasks.scenario_run import run_scenario, scenario_rows

    scn = load_scenario(scenario)
    lo, hi = DURATION_RANGE_S
    if seconds is not None and not lo <= seconds <= hi:
        raise MetaDVFSError(f"--seconds: must be in [{lo:g}, {hi:g}], got {seconds:g}")
    if seed < 0:
        raise MetaDVFSError(f"--seed: must be >= 0, got {seed}")
    if fmt not in ("parquet", "csv"):
        raise MetaDVFSError(f"--format: must be parquet or csv, got {fmt!r}")
    if out is None:
        out = Path("runs") / f"scenario-{scn.name}-seed{seed}"
    check_out_dir(out)
    with console.status("") as status:
        tasks, timelines = run_scenario(
            scn, governors, seed, seconds, progress=lambda g: status.update(f"[bold]{scn.name}[/]: {g}")
        )
    rows = scenario_rows(tasks, timelines)
    for g, tl in timelines.items():
        for i, task in enumerate(tasks):
            df = tl.frame(i)
            safe = f"{task.name}_{g}".replace("/", "+").replace(":", "=").replace("@", "_at_")
            target = out / f"timeline_{safe}.{fmt}"
            write_with(target, functools.partial(_write_frame, df, fmt))
    header = {
        "scenario": scn.name,
        "file": str(scn.path),
        "seed": seed,
        "seconds": float(seconds if seconds is not None else scn.duration_s),
    }
    write_text_atomic(out / "metrics.json", json.dumps({**header, "runs": rows}, indent=1, default=float))
    if json_out:
        print_json({**header, "runs": rows})
        return
    t = Table(title=f"scenario {scn.name} · {header['seconds']:g} s · seed {seed}")
    for c in ("task", "governor", "power W", "SoC W", "FPS", "QoE", "jank %", "PPR", "PPR SoC", "max skin °C",
              "throttled %", "rules engaged (sensor>=trip @ first time)"):  # fmt: skip
        t.add_column(c, justify="left" if c in ("task", "governor") or c.startswith("rules") else "right")
    for r in rows:
        t.add_row(
            str(r["task"]), str(r["governor"]),
            *(f"{float(r[k]):.3g}" for k in ("avg_power_w", "avg_soc_power_w", "fps_mean", "qoe", "jank_pct", "ppr",
                                             "ppr_soc", "max_skin_c", "throttled_pct")),
            _fmt_rules(r["rules_engaged"]),  # type: ignore[arg-type]
        )  # fmt: skip
    out_console.print(t)
    out_console.print(f"metrics and timelines: {out}/")
