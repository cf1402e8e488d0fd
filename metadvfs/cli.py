"""The ``metadvfs`` command line (Typer). Commands are thin wrappers over library functions."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from metadvfs.cli_common import check_out_dir, handle_errors, print_json
from metadvfs.cli_trace import trace_app
from metadvfs.errors import MetaDVFSError

app = typer.Typer(
    help="MetaDVFS: simulate phones, compare DVFS governors, train and deploy learned governors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(trace_app, name="trace", help="Generate and validate workload traces.")
console = Console(stderr=True)
out_console = Console(width=None if Console().is_terminal else 160)

DEMO_EXCLUDED = ("fixed",)
"""Registered governors ``--governor all`` leaves out (``fixed`` needs a level: give ``fixed:<x>`` explicitly)."""


def demo_governors() -> list[str]:
    """``--governor all``: stock (the reference) and schedutil first, then every other registered simulator governor."""
    from metadvfs.governors.registry import GOVERNOR_NAMES

    return list(dict.fromkeys(["stock", "schedutil", *(g for g in GOVERNOR_NAMES if g not in DEMO_EXCLUDED)]))


@app.command()
@handle_errors
def devices(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the device catalog."""
    from metadvfs.catalog.devices import device_to_dict, list_devices, load_device

    rows = [device_to_dict(load_device(n)) for n in list_devices()]
    if json_out:
        print_json(rows)
        return
    t = Table(title="Devices")
    for c in ("name", "SoC", "clusters", "GPU"):
        t.add_column(c)
    for n in list_devices():
        d = load_device(n)
        cl = " + ".join(f"{c.cores}x{c.core_type}@{c.fmax_khz / 1e6:.2f}GHz" for c in d.clusters)
        t.add_row(n, d.metadata.soc, cl, f"{d.gpu.name} @{d.gpu.fmax_khz / 1000:.0f}MHz")
    out_console.print(t)


@app.command()
@handle_errors
def apps(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the app catalog."""
    from metadvfs.workload.apps import app_to_dict, list_apps, load_app

    rows = [app_to_dict(load_app(n)) for n in list_apps()]
    if json_out:
        print_json(rows)
        return
    t = Table(title="Apps")
    for c in ("name", "category", "target FPS", "CPU", "GPU", "phases"):
        t.add_column(c)
    for n in list_apps():
        a = load_app(n)
        m = a.metadata
        t.add_row(
            n,
            m.category,
            f"{m.target_fps:g}",
            f"{m.cpu_intensity:.2f}",
            f"{m.gpu_intensity:.2f}",
            ", ".join(p.name for p in a.phases),
        )
    out_console.print(t)


def _governor_list(spec: str) -> list[str]:
    names = demo_governors() if spec == "all" else [g.strip() for g in spec.split(",") if g.strip()]
    if not names:
        raise MetaDVFSError("--governor: give at least one governor name (or 'all')")
    return names


@app.command()
@handle_errors
def replay(
    device: str = typer.Option("pixel6", "--device", "-d", help="Device name or profile file."),
    app_name: str = typer.Option(
        None, "--app", "-a", help="App name or app-profile file (default tiktok); APP@35C sets a 35 degC ambient."
    ),
    trace: Path = typer.Option(None, "--trace", help="Trace file (CSV/Parquet) to replay instead of the app."),
    governor: str = typer.Option(
        "schedutil",
        "--governor",
        "-g",
        help="Governor, comma list, or 'all' (every registered governor but fixed; fixed:<0..1> pins a level).",
    ),
    seconds: float = typer.Option(
        None, "--seconds", "-s", help="Simulated seconds (0 < s <= 3600; default 60, or the scenario's duration_s)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the demand window (>= 0)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default runs/replay-DEVICE-APP-seedN)."),
    fmt: str = typer.Option("parquet", "--format", help="Timeline format: parquet or csv."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
    scenario: str = typer.Option(None, "--scenario", help="Scenario name or file (envs/scenarios): run its tasks."),
) -> None:
    """Replay governors on a simulated phone; print metrics, write timelines and plots."""
    import numpy as np

    if scenario is not None:
        from metadvfs.cli_scenario import replay_scenario_cmd

        replay_scenario_cmd(scenario, _governor_list(governor), seconds, seed, out, fmt, json_out)
        return
    if seconds is None:
        seconds = 60.0

    from metadvfs.governors.registry import make_governor
    from metadvfs.io import write_text_atomic, write_with
    from metadvfs.sim.replay import replay as run_replay
    from metadvfs.tasks.task import make_task, split_ambient
    from metadvfs.viz.timeline import plot_timeline

    if not 0 < seconds <= 3600:
        raise MetaDVFSError(f"--seconds: must be in (0, 3600], got {seconds:g}")
    if seed < 0:
        raise MetaDVFSError(f"--seed: must be >= 0, got {seed}")
    if fmt not in ("parquet", "csv"):
        raise MetaDVFSError(f"--format: must be parquet or csv, got {fmt!r}")
    names = _governor_list(governor)
    govs = [make_governor(g) for g in names]  # validate every name before running anything
    if app_name is None and trace is None:
        app_name = "tiktok"  # the documented default
    app_name, ambient = split_ambient(app_name, "--app") if app_name else (app_name, None)  # APP@<degC>C
    task = make_task(device, app_name, str(trace) if trace else None, ambient_c=ambient)
    if out is None:
        amb = "" if ambient is None else f"-at{ambient:g}C"
        out = Path("runs") / f"replay-{task.device.name}-{task.app.name}{amb}-seed{seed}"
    check_out_dir(out)
    results: list[dict[str, Any]] = []
    ref = None
    run_order = list(dict.fromkeys(["stock", "schedutil", *names]))
    gov_objs = dict(zip(names, govs, strict=True))
    timelines = {}
    with console.status("") as status:
        for g in run_order:
            gov = gov_objs.get(g) or make_governor(g)
            gov_objs[g] = gov

            def prog(done: int, total: int, g: str = g) -> None:
                status.update(f"[bold]{g}[/]: {done}/{total} ticks ({100 * done / total:.0f}%)")

            timelines[g] = run_replay([task], gov, seconds, seed, progress=prog)
    ref = timelines["stock"].metrics(0)["ppr"]
    su_ppr = timelines["schedutil"].metrics(0)["ppr"]
    for g in names:
        m = timelines[g].metrics(0, ppr_ref=ref)
        m["ppr_norm_schedutil"] = m["ppr"] / su_ppr if su_ppr > 0 else float("nan")
        results.append({"governor": g, **m})
    for note in getattr(gov_objs.get("stock"), "notes", []) or []:
        console.print(f"[yellow]note:[/] {note}")
    for g in names:
        df = timelines[g].frame(0)
        safe = g.replace("/", "+").replace(":", "=")
        target = out / f"timeline_{safe}.{fmt}"
        write_with(target, functools.partial(df.to_parquet if fmt == "parquet" else df.to_csv, index=False))
        plot_timeline(
            df,
            out / f"timeline_{safe}.png",
            f"{task.device.display_name} · {task.app.name} · {g} · seed {seed}",
            skin_throttle_c=float(task.device.thermal.skin_throttle_c),
        )
    header = {
        "device": task.device.name,
        "app": task.app.name,
        "seed": seed,
        "seconds": seconds,
        "ambient_c": float(task.device.thermal.ambient_c),
    }
    write_text_atomic(out / "metrics.json", json.dumps({**header, "runs": results}, indent=2, default=float))
    if json_out:
        if len(results) == 1:
            print_json({**header, **results[0]})
        else:
            print_json({**header, "runs": results})
        return
    t = Table(title=f"{task.device.display_name} · {task.app.name} · {seconds:g} s · seed {seed}")
    cols = [
        ("governor", None),
        ("power W", "avg_power_w"),
        ("energy J", "energy_j"),
        ("FPS", "fps_mean"),
        ("QoE", "qoe"),
        ("jank %", "jank_pct"),
        ("PPR", "ppr"),
        ("PPR/stock", "ppr_norm"),
        ("PPR/schedutil", "ppr_norm_schedutil"),
        ("PPR SoC", "ppr_soc"),
        ("max die °C", "max_temp_c"),
        ("throttled %", "throttled_pct"),
    ]
    for c, _ in cols:
        t.add_column(c, justify="left" if c == "governor" else "right")
    for r in results:
        t.add_row(
            *(
                str(r["governor"]) if k is None else f"{float(r[k]):.3g}" if np.isfinite(float(r[k])) else "-"
                for c, k in cols
            )
        )
    out_console.print(t)
    out_console.print(f"timelines and plots: {out}/")


def _side_bench(
    status: str, run: Callable[[], dict[str, Any]], line: Callable[[dict[str, Any]], str], json_out: bool
) -> None:
    """Run one of ``bench``'s alternative measurements under a status spinner; print its JSON or its one line."""
    with console.status(status):
        res = run()
    if json_out:
        print_json(res)
    else:
        out_console.print(line(res))


@app.command()
@handle_errors
def bench(
    n_envs: int = typer.Option(1024, "--envs", help="Environments in the batched VecEnv (1..65536)."),
    steps: int = typer.Option(200, "--steps", help="Vector steps per timed batched run (>= 1)."),
    repeats: int = typer.Option(5, "--repeats", help="Timed repetitions (medians reported, >= 1)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="Kernel threads of the second, multi-threaded batched measurement (1..256; 1 skips it; "
        "default: the CPU count). The first batched measurement is single-threaded.",
    ),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="Instead: decision latency of this checkpoint's policy (SB3 predict vs the evaluation path).",
    ),
    ltc: int | None = typer.Option(
        None,
        "--ltc",
        help="Instead: one PPO minibatch of this many windows (1..65536; the full config's is 4096) forward and "
        "backward through the LTC backbone, ncps's dense ODE solver vs the sparse one.",
    ),
) -> None:
    """Measure simulator throughput: single env, DummyVecEnv and the batched VecEnv (or a policy's latency)."""
    from metadvfs.bench import run_bench, run_ltc_bench, run_policy_bench
    from metadvfs.sim.threads import check_threads

    if not 1 <= n_envs <= 65536:
        raise MetaDVFSError(f"--envs: must be in [1, 65536], got {n_envs}")
    if steps < 1 or repeats < 1:
        raise MetaDVFSError("--steps and --repeats: must be >= 1")
    if ltc is not None:
        if not 1 <= ltc <= 65536:
            raise MetaDVFSError(f"--ltc: must be in [1, 65536], got {ltc}")
        _side_bench(
            f"timing an LTC minibatch of {ltc}",
            lambda: run_ltc_bench(ltc, repeats=repeats),
            lambda r: (
                f"LTC backbone, minibatch {ltc} x window {r['window']} x {r['channels']} channels, forward + "
                f"backward, 1 thread, median of {repeats}: ncps dense solver {r['dense_ms']:.1f} ms, sparse "
                f"{r['sparse_ms']:.1f} ms ({r['speedup']:.1f}x; same outputs)"
            ),
            json_out,
        )
        return
    if policy is not None:
        _side_bench(
            f"timing the policy of {policy}",
            lambda: run_policy_bench(policy, repeats=repeats),
            lambda r: (
                f"{r['model']}: {r['batch']} phones per call, median of {repeats}: SB3 predict "
                f"{r['predict_ms']:.3f} ms, policy_actions {r['policy_actions_ms']:.3f} ms "
                f"(ratio {r['policy_actions_vs_predict']:.2f}; same actions)"
            ),
            json_out,
        )
        return
    n_threads = None if threads is None else check_threads(threads, "--threads")
    with console.status("benchmarking") as status:
        res = run_bench(
            n_envs=n_envs, steps=steps, repeats=repeats, progress=lambda s: status.update(s), threads=n_threads
        )
    if json_out:
        print_json(res)
        return
    t = Table(title="Simulator throughput (medians)")
    t.add_column("path")
    t.add_column("env-steps/s", justify="right")
    t.add_row("single DVFSEnv", f"{res['single_env_steps_per_s']:,.0f}")
    t.add_row(f"DummyVecEnv x{res['dummy_envs']}", f"{res['dummy_vec_env_steps_per_s']:,.0f}")
    t.add_row(f"BatchedDVFSVecEnv x{res['n_envs']}, 1 kernel thread", f"{res['batched_steps_per_s']:,.0f}")
    if "batched_threaded_steps_per_s" in res:
        t.add_row(
            f"BatchedDVFSVecEnv x{res['n_envs']}, {res['sim_threads']} kernel threads",
            f"{res['batched_threaded_steps_per_s']:,.0f}",
        )
    out_console.print(t)
    out_console.print(f"batched (1 thread) / DummyVecEnv = {res['batched_vs_dummy']:.1f}x")
    if "batched_threaded_vs_dummy" in res:
        out_console.print(
            f"batched ({res['sim_threads']} threads) / DummyVecEnv = {res['batched_threaded_vs_dummy']:.1f}x"
        )


def _register_command_modules() -> None:
    """Add the commands defined in the other ``cli_*`` modules (each exposes ``register(app)``)."""
    import importlib

    for mod in (
        "metadvfs.cli_learn",
        "metadvfs.cli_export",
        "metadvfs.cli_twin",
        "metadvfs.cli_device",
        "metadvfs.cli_scale",
    ):
        importlib.import_module(mod).register(app)
    importlib.import_module("metadvfs.cli_calibrate").register(app)
    importlib.import_module("metadvfs.cli_runner").register(app)


_register_command_modules()


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
