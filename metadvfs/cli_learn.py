"""CLI commands: ``tasks``, ``train``, ``evaluate``, ``meta-train``, ``adapt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from metadvfs.cli_common import check_out_dir, extrapolation_note, handle_errors, note_extrapolation, print_json
from metadvfs.errors import MetaDVFSError
from metadvfs.paths import derived_dir

console = Console(stderr=True)
out_console = Console(width=None if Console().is_terminal else 160)


class _LazyProgress:
    """A rich Progress that only draws once the first bar is added (so early errors stay one line)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.started = False

    def __enter__(self) -> _LazyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.p.stop()

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> object:
        """Add a bar (starting the display on first use)."""
        if not self.started:
            self.p.start()
            self.started = True
        fields.setdefault("info", "")
        return self.p.add_task(description, total=total, **fields)

    def update(self, task: object, **kw: object) -> None:
        """Update a bar."""
        self.p.update(task, **kw)  # type: ignore[arg-type]


def _progress() -> _LazyProgress:
    return _LazyProgress()


def tasks_cmd(
    tasks: str = typer.Option("all", "--tasks", help="all | DEVICE:APP,..."),
    groups: str = typer.Option("auto", "--groups", help="auto (silhouette) or a number of groups"),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Show every task, its encoded metadata vector and its metadata group."""
    from metadvfs.learn.metadata import group_tasks
    from metadvfs.learn.tasks import build_tasks, encode_tasks, fit_encoder, parse_task_names

    names = parse_task_names(tasks)
    built = build_tasks(names)
    enc = fit_encoder(built)
    vec = encode_tasks(built, enc)
    k = None if groups == "auto" else _int_opt("--groups", groups, 1, len(names))
    g = group_tasks(vec, enc.block_weights(), k=k)
    rows = [
        {"name": n, "device": n.split(":")[0], "app": n.split(":")[1], "group": int(lab), "metadata": v.tolist()}
        for n, lab, v in zip(names, g.labels, vec, strict=True)
    ]
    if json_out:
        print_json(
            {
                "tasks": rows,
                "features": enc.feature_names,
                "k": g.k,
                "criterion": g.criterion,
                "silhouette": g.silhouette,
            }
        )
        return
    t = Table(title=f"{len(names)} tasks in {g.k} metadata groups ({g.criterion})")
    for c in ("task", "group", "metadata vector (rounded)"):
        t.add_column(c)
    for r in sorted(rows, key=lambda r: (r["group"], r["name"])):
        t.add_row(r["name"], str(r["group"]), " ".join(f"{x:.2f}".rstrip("0").rstrip(".") for x in r["metadata"]))
    out_console.print(t)
    out_console.print("features: " + ", ".join(enc.feature_names))
    if g.silhouette:
        out_console.print("silhouette by k: " + ", ".join(f"{k}: {v:.3f}" for k, v in g.silhouette.items()))


def _int_opt(name: str, value: str, lo: int, hi: int) -> int:
    try:
        v = int(value)
    except ValueError:
        raise MetaDVFSError(f"{name}: expected 'auto' or an integer in [{lo}, {hi}], got {value!r}") from None
    if not lo <= v <= hi:
        raise MetaDVFSError(f"{name}: must be in [{lo}, {hi}], got {v}")
    return v


def train_cmd(
    configs: list[str] = typer.Option(
        ..., "--config", help="YAML config (path, or a shipped name like quickstart); repeat for several runs."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output directory (default runs/<config name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out exactly."),
    seed: int | None = typer.Option(None, "--seed", help="Override the config's seed."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run in --out."),
    seeds: str | None = typer.Option(None, "--seeds", help="Several training seeds (0,1,2 or 0-2): one run each."),
    ray: str | None = typer.Option(None, "--ray", help="Run on Ray: auto | local[:N] | HOST:PORT."),
    storage: str | None = typer.Option(None, "--storage", help="Shared storage root for runs (default runs/scale)."),
) -> None:
    """Train MetaDVFS governors on a set of tasks (progress bar, TensorBoard logs, checkpoints, resume)."""
    import dataclasses

    from metadvfs.learn.config import load_config
    from metadvfs.learn.trainer import train

    check_out_dir(out)
    if len(configs) > 1 or seeds is not None or ray is not None or storage is not None:
        from metadvfs.scale.cli import parse_seeds, train_scaled

        if seed is not None or resume or force:
            raise MetaDVFSError(
                "--seed/--resume/--force: not with --seeds/--ray/--storage or several --config "
                "(runs there are resumed or reused automatically)"
            )
        for r in train_scaled(configs, parse_seeds(seeds), out, storage, ray):
            console.print(f"checkpoint: {r['path']}/ ({r['status']}, {r['wall_s']:.0f} s)")
        return
    cfg = load_config(configs[0])
    if seed is not None:
        if not 0 <= seed < 2**31:
            raise MetaDVFSError(f"--seed: must be in [0, 2^31 - 1], got {seed}")
        cfg = dataclasses.replace(cfg, seed=seed)
    dest = out or Path("runs") / cfg.name
    if force and not resume and dest.exists():
        import shutil

        if not dest.is_dir() or not ((dest / "model.json").exists() or (dest / "config.resolved.json").exists()):
            raise MetaDVFSError(f"{dest}: --force only replaces a MetaDVFS run directory")
        shutil.rmtree(dest)
    with _progress() as prog:
        bars: list[object] = []

        def report(model_id: str, done: int, total: int, reward: float) -> None:
            if not bars:
                bars.append(prog.add_task(f"train {cfg.name}", total=total))
            info = f"model {model_id}" + (f" · reward {reward:.3f}" if reward == reward else "")
            prog.update(bars[0], completed=done, total=total, info=info)

        path = train(cfg, dest, resume=resume, progress=report)
    console.print(f"checkpoint: {path}/  (TensorBoard: tensorboard --logdir {path}/tb)")


def evaluate_cmd(
    model: str = typer.Option(
        "default",
        "--model",
        help="Checkpoint directory or shipped model name; a comma list of runs of one config with different "
        "training seeds reports mean ± std over the training seeds.",
    ),
    tasks: str = typer.Option(
        "model", "--tasks", help="model (the model's tasks) | all | DEVICE:APP[@<degC>C],... | scenario:NAME"
    ),
    baselines: str = typer.Option(
        "stock,schedutil,oracle",
        "--baselines",
        help="Comma list of registered governors (stock, schedutil, oracle, ...) and learned baselines (standalone, "
        "joint and the registered peers); an unknown name lists them all.",
    ),
    reference: str = typer.Option(
        "stock", "--reference", help="Normalise PPR to: stock (the phone's Android stack) | schedutil (older figures)."
    ),
    seeds: int = typer.Option(3, "--seeds", help="Evaluation seeds per task."),
    seconds: float = typer.Option(
        None, "--seconds", help="Episode length, s (default 60, or the longest duration_s of the named scenarios)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Report directory (default <model>/eval; runs/<name>-eval for a shipped model)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (tasks + summary)."),
    ray: str | None = typer.Option(None, "--ray", help="Run shards on Ray: auto | local[:N] | HOST:PORT."),
    storage: str | None = typer.Option(None, "--storage", help="Shared storage root for shards (default runs/scale)."),
) -> None:
    """Evaluate a model against stock governors, the oracle and learned baselines (tables and plots)."""
    from metadvfs.learn.baseline_models import resolve_learned_baselines
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import (
        LEARNED_BASELINE_NAMES,
        REFERENCES,
        STOCK_METHODS,
        ModelDriver,
        evaluate,
        write_reports,
    )
    from metadvfs.learn.tasks import parse_task_names, scenario_seconds
    from metadvfs.provenance import RunRecord
    from metadvfs.tasks.generator import is_generated_task

    run = RunRecord(_evaluate_command(model, tasks, baselines, reference, seeds, seconds, out, ray, storage))
    check_out_dir(out)
    if reference not in REFERENCES:
        raise MetaDVFSError(f"--reference: must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if ray is not None or storage is not None:
        from metadvfs.scale.cli import precheck

        precheck(ray, storage)
    models = [load_checkpoint(p.strip()) for p in model.split(",") if p.strip()]
    if not models:
        raise MetaDVFSError("--model: give a checkpoint directory or a shipped model name")
    m = models[0]
    if len(models) > 1:
        _check_training_seeds(models)
        if ray is not None or storage is not None:
            raise MetaDVFSError("--model: several training seeds are evaluated locally; drop --ray/--storage")
    # generated training tasks are not evaluation tasks: "model" means the model's real tasks
    names = [t for t in m.doc["tasks"] if not is_generated_task(t)] if tasks == "model" else parse_task_names(tasks)
    if seconds is None:
        seconds = (None if tasks == "model" else scenario_seconds(tasks)) or 60.0
    wanted = [b.strip() for b in baselines.split(",") if b.strip()]
    bad = [b for b in wanted if b not in STOCK_METHODS + LEARNED_BASELINE_NAMES]
    if bad:
        raise MetaDVFSError(
            f"--baselines: unknown {bad[0]!r}; choose from {', '.join(STOCK_METHODS + LEARNED_BASELINE_NAMES)}"
        )
    if not 1 <= seeds <= 100:
        raise MetaDVFSError(f"--seeds: must be in [1, 100], got {seeds}")
    if not 1.0 <= seconds <= 3600.0:
        raise MetaDVFSError(f"--seconds: must be in [1, 3600], got {seconds}")
    extrapolated = note_extrapolation(m, names)
    rows = [t for t in names for _ in range(seeds)]
    learned = [b for b in wanted if b in LEARNED_BASELINE_NAMES]
    groups: dict[str, list[str]] = {}
    drivers: list = []
    for mi in models:
        tag = f"@seed{mi.cfg.seed}" if len(models) > 1 else ""
        group = [ModelDriver(mi, rows, "metadvfs")]
        if learned and ray is None and storage is None:  # scaled: trained as units in evaluate_scaled
            with _progress() as prog:
                group += resolve_learned_baselines(mi, learned, names, rows, prog)
        for d in group:
            if tag:
                groups.setdefault(d.name, []).append(d.name + tag)
                d.name += tag
        drivers += group
    stock = [b for b in wanted if b in STOCK_METHODS]
    if ray is not None or storage is not None:
        from metadvfs.scale.cli import evaluate_scaled

        res, dest = evaluate_scaled(m, learned, stock, names, seeds, seconds, out, storage, ray, reference=reference)
    else:
        with console.status("evaluating") as st:
            res = evaluate(
                drivers, stock, names, seeds, seconds, progress=lambda n: st.update(f"evaluating {n}"),
                reference=reference, groups=groups,
            )  # fmt: skip
        dest = out or derived_dir(m.path, m.path / "eval", Path("runs") / f"{m.path.name}-eval")
    paths = write_reports(res, dest, focus="metadvfs", provenance=run.fields())
    if json_out:
        print_json({"tasks": res.rows(), "summary": res.summary("metadvfs"), "extrapolated": extrapolated})
        return
    out_console.print(paths["md"].read_text(encoding="utf-8"))
    console.print(f"reports: {dest}/ ({', '.join(p.name for p in paths.values())})")


def _evaluate_command(
    model: str,
    tasks: str,
    baselines: str,
    reference: str,
    seeds: int,
    seconds: float | None,
    out: Path | None,
    ray: str | None,
    storage: str | None,
) -> str:
    """The ``metadvfs evaluate`` command line of these options (recorded in ``summary.json``)."""
    import shlex

    opts: list[tuple[str, object]] = [("--model", model), ("--tasks", tasks), ("--baselines", baselines),
                                      ("--reference", reference), ("--seeds", seeds), ("--seconds", seconds),
                                      ("--out", out), ("--ray", ray), ("--storage", storage)]  # fmt: skip
    return "metadvfs evaluate " + shlex.join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in opts if v is not None
    )


def _check_training_seeds(models: list) -> None:
    """Several ``--model`` runs must be one config trained with distinct seeds (one-line error otherwise)."""
    import dataclasses

    first = dataclasses.replace(models[0].cfg, seed=0, name="")
    seen: dict[int, str] = {}
    for mi in models:
        if mi.cfg.seed in seen:
            raise MetaDVFSError(
                f"--model: {seen[mi.cfg.seed]} and {mi.path} were trained with the same seed {mi.cfg.seed}"
            )
        seen[mi.cfg.seed] = str(mi.path)
        if dataclasses.replace(mi.cfg, seed=0, name="") != first:
            raise MetaDVFSError(
                f"--model: {mi.path} has a different config from {models[0].path} (only the training seed may differ)"
            )


def inspect_cmd(
    model: str = typer.Option("default", "--model", help="Checkpoint directory or shipped model name."),
    tasks: str = typer.Option("model", "--tasks", help="model (the model's real tasks) | all | DEVICE:APP,..."),
    seconds: float = typer.Option(15.0, "--seconds", help="Closed-loop rollout per task, s (0.5..600)."),
    seeds: int = typer.Option(3, "--seeds", help="Episodes per task for the training-reward check (1..100)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show whether a policy reacts to load and metadata, and whether it reaches stock's score on its own reward."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import SEED_BASE
    from metadvfs.learn.reward_audit import reward_audit
    from metadvfs.learn.sensitivity import FIXED_ENTROPY, metadata_sensitivity
    from metadvfs.learn.tasks import parse_task_names
    from metadvfs.tasks.generator import is_generated_task

    if not 0.5 <= seconds <= 600.0:
        raise MetaDVFSError(f"--seconds: must be in [0.5, 600], got {seconds:g}")
    if not 1 <= seeds <= 100:
        raise MetaDVFSError(f"--seeds: must be in [1, 100], got {seeds}")
    m = load_checkpoint(model)
    names = [t for t in m.doc["tasks"] if not is_generated_task(t)] if tasks == "model" else parse_task_names(tasks)
    extrapolated = note_extrapolation(m, names)
    with console.status(f"rolling out {len(names)} task(s)"):
        res = metadata_sensitivity(m, names, seconds=seconds).to_dict()
        audit = reward_audit(m, names, [SEED_BASE + i for i in range(seeds)], seconds)
    res["extrapolated"] = extrapolated
    res["reward_audit"] = audit.to_dict()
    if json_out:
        print_json(res)
        return
    t = Table(title=f"{m.path.name}: {len(names)} task(s), {res['decisions']} decisions each")
    for c in ("domain", "action entropy", "changed: other phone", "changed: other app", "changed: zeros"):
        t.add_column(c)

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for i, d in enumerate(res["domains"]):
        ch = res["changed"]
        t.add_row(d, cell(res["entropy"][i]), cell(ch["other phone"][i]), cell(ch["other app"][i]),
                  cell(ch["zeros"][i]))  # fmt: skip
    out_console.print(t)
    fixed = [d for d, e in zip(res["domains"], res["entropy"], strict=True) if e is not None and e < FIXED_ENTROPY]
    if fixed:
        console.print(
            f"note: {', '.join(fixed)}: action entropy below {FIXED_ENTROPY:g}, the policy keeps nearly one setting "
            "whatever the load (more training steps per task usually help)"
        )
    _print_reward_audit(audit)


def _print_reward_audit(audit: Any) -> None:
    """The training-reward check of ``inspect``: per task, the policy's and the stock governor's reward and parts."""
    t = Table(title=f"training reward per 100 ms step, {len(audit.seeds)} episode(s) of {audit.seconds:g} s per task")
    for c in ("task", "policy", "stock", "QoE part", "PPR part", "floor part", "steps under floor", "stock earns more"):
        t.add_column(c)
    lost = set(audit.stock_earns_more())
    for name, p, s in zip(audit.tasks, audit.policy, audit.stock, strict=True):
        t.add_row(name, f"{p.reward:.3f}", f"{s.reward:.3f}", f"{p.qoe:.3f} / {s.qoe:.3f}",
                  f"{p.ppr:.3f} / {s.ppr:.3f}", f"{p.floor:.3f} / {s.floor:.3f}",
                  f"{100 * p.under_floor:.0f} / {100 * s.under_floor:.0f} %",
                  "yes" if name in lost else "")  # fmt: skip
    out_console.print(t)
    if lost:
        console.print(
            f"note: on {len(lost)}/{len(audit.tasks)} task(s) the stock governor's choices earn more of this policy's "
            "own training reward than the policy does: it falls short of its own objective there (the reward already "
            "prefers stock's choices; more training steps per task, or a per-task fine-tune with "
            "`metadvfs guard --against stock`, are the first things to try)"
        )


def meta_train_cmd(
    config: str = typer.Option(..., "--config", help="YAML config (tasks, network, env, meta section)."),
    out: Path = typer.Option(..., "--out", help="Output checkpoint directory."),
    algo: str | None = typer.Option(None, "--algo", help="Override meta.algo: fomaml | reptile | cavia."),
    iterations: int | None = typer.Option(None, "--iterations", help="Override meta.iterations (> 0)."),
) -> None:
    """Meta-train one initialization per metadata group (FOMAML or Reptile)."""
    import dataclasses

    from metadvfs.learn.config import META_ALGOS, load_config
    from metadvfs.meta.train import meta_train

    check_out_dir(out)
    cfg = load_config(config)
    meta = cfg.meta
    if algo is not None:
        if algo not in META_ALGOS:
            raise MetaDVFSError(f"--algo: must be one of {', '.join(META_ALGOS)}, got {algo!r}")
        meta = dataclasses.replace(meta, algo=algo)
    if iterations is not None:
        if iterations <= 0:
            raise MetaDVFSError(f"--iterations: must be > 0, got {iterations}")
        meta = dataclasses.replace(meta, iterations=iterations)
    with _progress() as prog:
        bars: dict[str, object] = {}

        def report(gid: str, i: int, n: int, r: float) -> None:
            if gid not in bars:
                bars[gid] = prog.add_task(f"{meta.algo} group {gid}", total=n, info="")
            prog.update(bars[gid], completed=i, info=f"query reward {r:.3f}")  # type: ignore[arg-type]

        path = meta_train(cfg, meta, out, progress=report)
    console.print(f"meta-initializations: {path}/ (one model per metadata group)")


def adapt_cmd(
    model: str = typer.Option("default", "--model", help="Checkpoint directory or shipped model name."),
    device: str | None = typer.Option(
        None, "--device", help="Device name or profile file (simulated; with --serial: optional, by codename)."
    ),
    app_name: str = typer.Option(..., "--app", help="App name or app-profile file (with --serial: also a package)."),
    budget: float | None = typer.Option(None, "--budget-minutes", help="Simulated budget, phone-minutes (10)."),
    serial: str | None = typer.Option(None, "--serial", help="Adapt on this rooted phone (HOST:PORT or USB serial)."),
    minutes: float | None = typer.Option(None, "--minutes", help="With --serial: budget, phone-minutes (> 0)."),
    method: str = typer.Option(
        "finetune", "--method", help="With --serial: finetune | context (finetune: the fastest in the 11 folds)."
    ),
    stock_seconds: float = typer.Option(10.0, "--stock-seconds", help="With --serial: stock measurement, s."),
    out: Path | None = typer.Option(None, "--out", help="Directory for the adapted model, report and plot."),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="Methods: finetune,context,finetune-slow,meta,joint,incremental,scratch (first saved; default finetune).",
    ),
    meta_model: Path | None = typer.Option(None, "--meta-model", help="Meta-init checkpoint for method meta."),
    seed: int = typer.Option(0, "--seed", help="Seed (same for every method)."),
    phones: int = typer.Option(8, "--phones", help="Simulated phones adapting in parallel."),
    rollout: int = typer.Option(32, "--rollout", help="Decisions per phone per update."),
    eval_seeds: int = typer.Option(4, "--eval-seeds", help="Held-out evaluation episodes (seeds 10000+i)."),
    eval_seconds: float = typer.Option(20.0, "--eval-seconds", help="Held-out episode length, s."),
    qoe_margin: float = typer.Option(0.05, "--qoe-margin", help="QoE floor below stock; negative: no floor."),
    no_reference: bool = typer.Option(False, "--no-reference", help="Skip the task-specific reference."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Adapt a model to a new (device, app), in simulation or on a rooted phone (--serial).

    Simulated: quality on held-out episodes vs phone-minutes, minutes to 95 %. On a phone: deploy's safety
    (snapshot, watchdog, restore), a QoE floor, and an exportable governor in OUT/governor.
    """
    from metadvfs.meta.adapt import DEFAULT_METHOD, adapt

    check_out_dir(out)
    if serial is not None:
        from metadvfs.cli_online import adapt_on_phone

        if budget is not None or compare is not None or meta_model is not None:
            raise MetaDVFSError("--budget-minutes, --compare and --meta-model are for simulated adaptation; on a "
                                "phone use --minutes and --method")  # fmt: skip
        if minutes is None:
            raise MetaDVFSError("--serial: give the budget with --minutes M (phone-minutes)")
        margin = None if qoe_margin < 0 else qoe_margin
        adapt_on_phone(model, serial, app_name, minutes, out, method, device, seed, rollout, margin, stock_seconds,
                       json_out)  # fmt: skip
        return
    if device is None:
        raise MetaDVFSError("--device: required for simulated adaptation (or adapt on a phone with --serial)")
    if minutes is not None:
        raise MetaDVFSError("--minutes is the budget on a phone (--serial); simulated: --budget-minutes")
    budget = 10.0 if budget is None else budget
    methods = [c.strip() for c in (compare or DEFAULT_METHOD).split(",") if c.strip()]
    with _progress() as prog:
        bars: dict[str, object] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = prog.add_task(f"adapt ({name})", total=total, info="")
            prog.update(bars[name], completed=done)  # type: ignore[arg-type]

        res = adapt(
            model, device, app_name, budget, out, methods, seed, phones, rollout, 1, eval_seeds, eval_seconds,
            None if qoe_margin < 0 else qoe_margin, meta_model=meta_model, reference=not no_reference,
            progress=report,
        )  # fmt: skip
    if json_out:
        print_json(res)
        return
    if res["extrapolated"]:
        console.print(extrapolation_note(res["task"], "tasks the model", res["extrapolated"]))
    head = f"{res['budget_phone_minutes']:g} phone-min, routed to {res['routed_model']}"
    t = Table(title=f"adaptation to {res['task']} ({head})")
    for c in ("method", "zero-shot PPR/QoE", "final PPR/QoE", "min to 95 % ref", "min to 95 % oracle", "fallback"):
        t.add_column(c)
    for name, m in res["methods"].items():
        z, f = m["zero_shot"], m["final"]

        def fmt(v: dict[str, Any]) -> str:
            return "never" if v["minutes_to_95"] is None else f"{v['minutes_to_95']:.2f}"

        ref_cell = fmt(m["vs_reference"]) if res["reference"] else "- (no reference)"
        t.add_row(
            name,
            f"{z['ppr_norm']:.3f}/{z['qoe']:.3f}",
            f"{f['ppr_norm']:.3f}/{f['qoe']:.3f}",
            ref_cell,
            fmt(m["vs_oracle"]),
            f"{m['fallback_share']:.1%}",
        )
    out_console.print(t)
    ref = res["reference"]
    console.print(
        f"stock ({res['eval']['normalised_to']}) QoE {res['stock']['qoe']:.3f}; "
        f"oracle PPR {res['oracle']['ppr_norm']:.3f}"
        + (f"; reference PPR {ref['ppr_norm']:.3f} QoE {ref['qoe']:.3f}" if ref else "")
    )
    if out is not None:
        console.print(f"adapted model and curve: {out}/ (adaptation.json, adaptation.png)")


def guard_cmd(
    model: str = typer.Option("default", "--model", help="Checkpoint directory or shipped model name."),
    tasks: str = typer.Option("model", "--tasks", help="model (all the model's tasks) | DEVICE:APP,..."),
    seeds: int = typer.Option(5, "--seeds", help="Validation seeds per task (>= 2; seeds 20000+i)."),
    seconds: float = typer.Option(60.0, "--seconds", help="Validation episode length, s."),
    out: Path | None = typer.Option(
        None, "--out", help="Guarded checkpoint directory (default <model>-guarded; runs/<name>-guarded if shipped)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the fine-tuning runs."),
    steps: int | None = typer.Option(
        None, "--steps", help="Fine-tuning budget per flagged task, decisions (default: the model's per-task budget)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    ray: str | None = typer.Option(None, "--ray", help="Run the guard as a Ray unit: auto | local[:N] | HOST:PORT."),
    storage: str | None = typer.Option(None, "--storage", help="Shared storage root (default runs/scale)."),
    against: str = typer.Option(
        "standalone", "--against", help="standalone (negative transfer) | stock (the phone's stock governor stack)."
    ),
) -> None:
    """Guard: flag tasks where the shared model loses to standalone (or stock), fine-tune them, re-check."""
    from metadvfs.learn.checkpoint import resolve_model_dir
    from metadvfs.learn.tasks import parse_task_names
    from metadvfs.meta.guard import guard, to_markdown

    check_out_dir(out)
    src = resolve_model_dir(model)
    names = None if tasks == "model" else parse_task_names(tasks)
    if ray is not None or storage is not None:
        from metadvfs.scale.cli import guard_scaled

        rep = guard_scaled(src, out, names, seeds, seconds, seed, storage, ray, against, steps)
        if json_out:
            print_json(rep)
        else:
            out_console.print(to_markdown(rep))
        return
    dest = out or derived_dir(src, src.parent / f"{src.name}-guarded", Path("runs") / f"{src.name}-guarded")
    with console.status("guard") as st:
        rep = guard(
            src, dest, names, seeds, seconds, seed, finetune_steps=steps,
            progress=lambda m: st.update(f"guard: {m}"), against=against,
        )  # fmt: skip
    if json_out:
        print_json(rep)
        return
    out_console.print(to_markdown(rep))
    console.print(f"guarded checkpoint and report: {dest}/ (model.json, guard.json, guard.md)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("tasks")(handle_errors(tasks_cmd))
    app.command("train")(handle_errors(train_cmd))
    app.command("evaluate")(handle_errors(evaluate_cmd))
    app.command("meta-train")(handle_errors(meta_train_cmd))
    app.command("adapt")(handle_errors(adapt_cmd))
    app.command("inspect")(handle_errors(inspect_cmd))
    app.command("guard")(handle_errors(guard_cmd))
