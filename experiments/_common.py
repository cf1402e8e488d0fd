"""Helpers shared by the experiment scripts: configs, cached training, evaluation drivers, reports.

The scripts are run from the repository root (``python experiments/NAME.py``); each keeps its trained models
in a work directory (default ``runs/experiments/NAME-quick|full``, git-ignored) and writes its report (Markdown,
figures, a compact JSON) to ``experiments/results/NAME/``. A work directory remembers the settings it was made
with (``spec.json``); a rerun with the same settings reuses the finished models, other settings start afresh.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

os.environ.setdefault("OMP_NUM_THREADS", "1")  # 2 shared cores: spinning OpenMP threads only slow everyone

import contextlib

import numpy as np
import torch as th

from metadvfs.provenance import git_commit as _git_commit

th.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"

BASE_CONFIG = {"quick": "quickstart", "full": "metadvfs"}
"""Quick runs take network, environment and PPO settings from ``configs/quickstart.yaml``, full runs from
``configs/metadvfs.yaml`` (the shipped model's network, environment, PPO and per-task budget; the shipped model
adds generated tasks, ``configs/metadvfs-generated.yaml``); only tasks, mode, budget and envs per task change."""


def base_sections(mode: str) -> dict[str, Any]:
    """``network``, ``env`` and ``ppo`` sections (and ``total_steps``, ``tasks``) of the base config of a mode."""
    from metadvfs.io import read_document

    d = read_document(ROOT / "configs" / f"{BASE_CONFIG[mode]}.yaml")
    return {k: d[k] for k in ("network", "env", "ppo", "total_steps", "tasks")}


_T0 = time.perf_counter()
_STARTED = time.time()  # recorded as ``started_utc`` in results.json
_COMMIT = _git_commit()  # recorded as ``git_commit``: the code that ran, not the tree when the results are written


def limit_threads() -> None:
    """One torch/OpenMP thread: on 2 shared cores, spinning OpenMP threads slow every job down."""
    import torch as th

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    th.set_num_threads(1)


def log(msg: str) -> None:
    """Timestamped progress line on stderr."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def command_line() -> str:
    """The command that is running, as typed from the repository root."""
    argv = list(sys.argv)
    with contextlib.suppress(ValueError):
        argv[0] = str(Path(argv[0]).resolve().relative_to(ROOT))
    return "python " + shlex.join(argv)


def make_config(
    base: dict[str, Any],
    name: str,
    tasks: Sequence[str],
    mode: str,
    per_task_steps: int,
    envs_per_task: int,
    seed: int = 0,
    network: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    groups: str | int = "auto",
    checkpoint_every_steps: int = 0,
) -> Any:
    """A validated :class:`~metadvfs.learn.config.TrainConfig` with ``per_task_steps`` per task.

    Args:
        base: :func:`base_sections` of the run (network, env, ppo).
        name: Run name.
        tasks: Task names.
        mode: Training mode.
        per_task_steps: Environment steps per task.
        envs_per_task: Simulated phones per task.
        seed: Training seed.
        network: Overrides of the network section.
        meta: ``meta`` section (meta-training).
        groups: Grouping (``auto`` or a number).
        checkpoint_every_steps: Environment steps between resumable checkpoints (0: only the final model). Learning
            in chunks does not change the weights (tests/scale/test_scale_serial.py), so a long unit may checkpoint
            and resume after a stop without changing its numbers.
    """
    from metadvfs.learn.config import config_from_dict

    d: dict[str, Any] = {
        "name": name,
        "tasks": list(tasks),
        "mode": mode,
        "groups": groups,
        "algo": "ppo",
        "total_steps": int(per_task_steps * len(tasks)),
        "envs_per_task": envs_per_task,
        "seed": seed,
        "checkpoint_every_steps": checkpoint_every_steps,
        "network": {**base["network"], **(network or {})},
        "env": dict(base["env"]),
        "ppo": dict(base["ppo"]),
    }
    if meta:
        d["meta"] = meta
    return config_from_dict(d, name)


def prepare_work(work: Path, spec: dict[str, Any], fresh: bool = False) -> None:
    """Create the work directory, or reuse it if it was made with the same settings (``spec.json``).

    A work directory made with other settings holds hours of trained models, so it is never wiped silently: that
    is a one-line error naming the first differing settings, unless ``fresh`` (``--fresh``) asks to start afresh.
    """
    f = work / "spec.json"
    if work.exists():
        old = json.loads(f.read_text()) if f.is_file() else None
        if old != spec:
            if old is None and any(work.iterdir()):
                fail(f"{work} exists and is not an experiment work directory; pass another --work")
            if old is not None and not fresh:
                fail(
                    f"{work} was made with other settings ({spec_difference(old, spec)}); rerun with the same "
                    "settings to reuse its models, pass another --work, or --fresh to delete it and start afresh"
                )
            log(f"work directory {work}: other settings, starting afresh")
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(spec, indent=1))


def spec_difference(old: dict[str, Any], new: dict[str, Any], limit: int = 3) -> str:
    """The first ``limit`` settings that differ between two specs, as ``key: old -> new`` (dotted keys)."""

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(d, dict):
            return {prefix: d}
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out

    a, b = flat(old), flat(new)
    diff = [f"{k}: {a.get(k, '(unset)')} -> {b.get(k, '(unset)')}" for k in sorted(a.keys() | b.keys())
            if a.get(k) != b.get(k)]  # fmt: skip
    more = f", and {len(diff) - limit} more" if len(diff) > limit else ""
    return "; ".join(diff[:limit]) + more


def add_fresh_arg(ap: Any) -> None:
    """``--fresh``: delete a work directory made with other settings instead of refusing to run."""
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="start afresh if the work directory was made with other settings (deletes its models)",
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn``; return its result and the wall time, s."""
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


def train_cached(cfg: Any, dest: Path) -> tuple[Path, float | None]:
    """Train ``cfg`` into ``dest`` unless a finished checkpoint is there; returns (dir, wall s or None if reused)."""
    from metadvfs.learn.trainer import train

    if (dest / "model.json").is_file():
        log(f"reusing {dest}")
        return dest, None
    if dest.exists():
        shutil.rmtree(dest)
    log(f"training {cfg.name} ({cfg.mode}, {cfg.total_steps:,} steps) -> {dest}")
    _, wall = timed(lambda: train(cfg, dest, tensorboard=False))
    log(f"  done in {wall:.0f} s")
    return dest, wall


def add_scale_args(ap: Any) -> None:
    """``--ray auto|local[:N]|ADDRESS``: train the experiment's independent models as Ray units.

    The work directory (``--work``) is the storage root: on a multi-node cluster it must be on a file system
    every node mounts at the same path. See docs/scale-out.md.
    """
    ap.add_argument(
        "--ray",
        default=None,
        metavar="auto|local[:N]|ADDRESS",
        help="train the independent models as Ray tasks (default: serially in this process)",
    )


def runner_for(ray: str | None) -> Any:
    """The serial runner, or a Ray runner for ``--ray``; a bad value or a missing Ray is a one-line error."""
    from metadvfs.errors import MetaDVFSError
    from metadvfs.scale.runner import make_runner

    try:
        return make_runner(ray)
    except MetaDVFSError as exc:
        raise SystemExit(f"error: {exc}") from None


def run_units(units: Sequence[Any], ray: str | None = None) -> list[Any]:
    """Run :class:`metadvfs.scale.runner.Unit` s serially or on Ray; results in unit order (same either way)."""
    from metadvfs.errors import MetaDVFSError

    if not units:
        return []
    runner = runner_for(ray)
    log(f"running {len(units)} unit(s) on the {runner.name} runner")
    try:
        return list(runner.run(units, lambda k, i, n: log(f"  [{i}/{n}] {k} done")))
    except MetaDVFSError as exc:
        raise SystemExit(f"error: {exc}") from None


def train_all(jobs: Sequence[tuple[Any, Path]], ray: str | None = None) -> list[tuple[Path, float | None]]:
    """Train several ``(config, dest)`` jobs, serially or on Ray; same numbers either way.

    Every job is a :func:`metadvfs.scale.units.train_unit`: a finished checkpoint is reused (wall ``None``),
    an interrupted one resumes from its last ``train_state/``.

    Returns:
        ``(dest, wall s or None if reused)`` per job, in job order.
    """
    from metadvfs.scale.jobs import train_many

    runner = runner_for(ray)
    log(f"training {len(jobs)} model(s) on the {runner.name} runner: " + ", ".join(c.name for c, _ in jobs))
    res = train_many(runner, [c for c, _ in jobs], [d for _, d in jobs], lambda k, i, n: log(f"  [{i}/{n}] {k} done"))
    return [(Path(r["path"]), unit_wall(r)) for r in res]


def unit_wall(result: dict[str, Any]) -> float | None:
    """Wall time of a training unit's result, s (None when it reused a finished model)."""
    return None if result["status"] == "reused" else float(result["wall_s"])


def model_train_wall(run: Path) -> float | None:
    """A finished model's own training wall time, s (``train.wall_s`` of its ``model.json``; a resumed run
    counts its last leg only), None when the file or field is missing: the time it took whichever run trained it."""
    import json

    try:
        w = json.loads((Path(run) / "model.json").read_text())["train"]["wall_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(w) if isinstance(w, (int, float)) else None


BASE_SEED = 0
"""Training seed of the first (or only) model of every method: the seed the scripts always used."""


def add_seed_args(ap: Any, default: int = 3) -> None:
    """``--train-seeds N``: train every method with N training seeds (base seed + k; ``default`` N)."""
    ap.add_argument(
        "--train-seeds",
        type=int,
        default=default,
        metavar="N",
        help=f"training seeds per method (seed = base + k; default {default}; 1 = one model per method)",
    )


def training_seeds(n: int, base: int = BASE_SEED) -> list[int]:
    """The training seeds ``base + k`` for ``k < n``; ``n < 1`` is a one-line error and exit 2."""
    if n < 1:
        fail(f"--train-seeds: must be >= 1, got {n}")
    return [base + k for k in range(n)]


def no_options(doc: str | None) -> None:
    """Command line of a script that takes no options: ``--help`` prints the first paragraph of its docstring and
    exits 0 (without running it); any other argument is a one-line usage error and exit 2."""
    import argparse

    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0], epilog="It takes no options.")
    ap.parse_args()


def fail(msg: str) -> NoReturn:
    """Bad input: ``error: <msg>`` on one line of stderr and exit 2."""
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def seed_dir(path: Path, seed: int, base: int = BASE_SEED) -> Path:
    """Where the model of training seed ``seed`` lives: ``path`` for the base seed (so a single-seed work
    directory is reused as it is), else ``path@seed<seed>`` next to it."""
    return path if seed == base else path.with_name(f"{path.name}@seed{seed}")


def seed_label(name: str, seed: int, n_seeds: int) -> str:
    """A method's name for one training seed: the name alone with one seed, else ``name@seed<seed>``
    (the member names ``metadvfs evaluate --model A,B,C`` uses)."""
    return name if n_seeds == 1 else f"{name}@seed{seed}"


def seed_groups(methods: Sequence[str], seeds: Sequence[int]) -> dict[str, list[str]]:
    """``{method: [member label per training seed]}`` for :class:`~metadvfs.learn.evaluate.EvalResult`
    (empty with one seed: each method is its own model)."""
    if len(seeds) == 1:
        return {}
    return {m: [seed_label(m, s, len(seeds)) for s in seeds] for m in methods}


def seed_jobs(
    work: Path, prefix: str, methods: Sequence[str], seeds: Sequence[int], config: Callable[[str, str, int], Any]
) -> tuple[list[tuple[str, int]], list[tuple[Any, Path]]]:
    """One training job per (method, training seed): ``work/<method>`` (:func:`seed_dir`), run name
    ``<prefix>-<method>`` (``-seed<s>`` for other seeds than the base one); a checkpoint of another seed there is
    dropped.

    Args:
        work: Work directory.
        prefix: Run-name prefix of the experiment.
        methods: Method names (directory names).
        seeds: Training seeds.
        config: ``(method, run name, seed) -> TrainConfig``.

    Returns:
        ``(units, jobs)``: the ``(method, seed)`` units and their ``(config, dest)`` for :func:`train_all`.
    """
    units = [(m, sd) for m in methods for sd in seeds]
    jobs = []
    for m, sd in units:
        dest = seed_dir(work / m, sd)
        drop_other_seed(dest, sd)
        jobs.append((config(m, f"{prefix}-{m}" if sd == BASE_SEED else f"{prefix}-{m}-seed{sd}", sd), dest))
    return units, jobs


def evaluate_seed_models(
    models: dict[tuple[str, int], Any],
    methods: Sequence[str],
    seeds: Sequence[int],
    tasks: Sequence[str],
    governors: Sequence[str],
    eval_seeds: int,
    eval_seconds: float,
) -> Any:
    """Evaluate one checkpoint per (method, training seed) on ``tasks`` (each drives every task's rows), grouped
    by :func:`seed_groups`, PPR against :data:`REFERENCE`; returns the EvalResult."""
    from metadvfs.learn.evaluate import ModelDriver, evaluate

    rows = [t for t in tasks for _ in range(eval_seeds)]
    return evaluate(
        [ModelDriver(models[(m, sd)], rows, seed_label(m, sd, len(seeds))) for m in methods for sd in seeds],
        list(governors),
        list(tasks),
        eval_seeds,
        eval_seconds,
        progress=lambda k: log(f"  {k}"),
        groups=seed_groups(methods, seeds),
        reference=REFERENCE,
    )


def drop_other_seed(dest: Path, seed: int) -> None:
    """Remove a finished checkpoint in ``dest`` that was trained with another seed (its ``config.yaml``)."""
    from metadvfs.io import read_document

    f = dest / "config.yaml"
    if (dest / "model.json").is_file() and f.is_file() and int(read_document(f).get("seed", -1)) != seed:
        log(f"{dest}: trained with another seed, retraining")
        shutil.rmtree(dest)


def seed_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std over training seeds (each value one seed's mean over evaluation seeds)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std())


def seed_cells(
    res: Any, names: Sequence[str], methods: Sequence[str], seeds: Sequence[int], others: Sequence[str] = ()
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per ``(task, method)`` cell of an EvalResult evaluated with :func:`seed_groups`.

    ``ppr`` (vs :data:`REFERENCE`) and ``qoe`` are the mean over training seeds of each seed's mean over the
    evaluation seeds, ``ppr_std`` the std over training seeds (over evaluation seeds with one training seed), as
    :class:`~metadvfs.learn.evaluate.EvalResult` aggregates them; the ``methods`` also keep ``per_seed`` (each
    seed's ``ppr`` and ``qoe``), the ``others`` (governors) do not.
    """
    import dataclasses

    n = len(seeds)
    by = {(r["device"] + ":" + r["app"], r["method"]): r for r in res.rows()}
    one = {(r["device"] + ":" + r["app"], r["method"]): r for r in dataclasses.replace(res, groups={}).rows()}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for t in names:
        for m in [*methods, *others]:
            r = by[(t, m)]
            c: dict[str, Any] = {"ppr": r["ppr_norm"], "ppr_std": r["ppr_norm_std"], "qoe": r["qoe"]}
            if m in methods:
                per = [(sd, one[(t, seed_label(m, sd, n))]) for sd in seeds]
                c["per_seed"] = [{"seed": sd, "ppr": x["ppr_norm"], "qoe": x["qoe"]} for sd, x in per]
            cells[(t, m)] = c
    return cells


def seed_summary(res: Any, methods: Sequence[str], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per method: each training seed's mean over the tasks (``per_seed``: seed, ppr, qoe) and the std of those
    over the training seeds (``ppr_std``, ``qoe_std``), from an EvalResult evaluated with :func:`seed_groups`."""
    import dataclasses

    n = len(seeds)
    per = dataclasses.replace(res, groups={}).summary()["methods"]
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        ps = [per[seed_label(m, sd, n)] for sd in seeds]
        out[m] = {
            "per_seed": [
                {"seed": sd, "ppr": p["mean_ppr_norm"], "qoe": p["mean_qoe"]} for sd, p in zip(seeds, ps, strict=True)
            ],
            "ppr_std": seed_spread([p["mean_ppr_norm"] for p in ps])[1],
            "qoe_std": seed_spread([p["mean_qoe"] for p in ps])[1],
        }
    return out


class GroupsDriver:
    """Evaluate several checkpoints as one method: each drives the rows of its own tasks.

    Args:
        models: Loaded checkpoints whose task lists partition the evaluated tasks.
        rows: Task name per evaluation environment row.
        name: Method name.
    """

    def __init__(self, models: Sequence[Any], rows: Sequence[str], name: str):
        from metadvfs.learn.evaluate import ModelDriver

        self.name = name
        self.parts: list[tuple[np.ndarray, Any]] = []
        for m in models:
            idx = [i for i, t in enumerate(rows) if t in m.doc["tasks"]]
            if idx:
                self.parts.append((np.asarray(idx), ModelDriver(m, [rows[i] for i in idx], name)))
        covered = sum(len(i) for i, _ in self.parts)
        if covered != len(rows):
            raise ValueError(f"{name}: the checkpoints cover {covered} of {len(rows)} rows")
        self.env_kwargs = self.parts[0][1].env_kwargs

    def reset(self, n_envs: int) -> None:
        """Stateless policies: nothing to reset."""

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Per-checkpoint actions on its rows."""
        out = np.ones((obs["obs"].shape[0], 4), dtype=np.int64)
        for idx, d in self.parts:
            out[idx] = d.act(venv, {"obs": obs["obs"][idx], "meta": obs["meta"][idx]})
        return out


REFERENCE = "stock"
"""The governor the experiments normalise PPR to (the evaluation's reference, issue 9: the governor stack the phone
runs; ``schedutil`` is reported next to it)."""


def per_seed(res: Any, method: str, task_index: int) -> tuple[list[float], list[float]]:
    """Per-seed ``ppr_norm`` (vs :data:`REFERENCE` on the same seed) and QoE of a method on one task of an
    EvalResult."""
    ns = len(res.seeds)
    sl = slice(task_index * ns, (task_index + 1) * ns)
    ppr = [r["ppr"] / s["ppr"] for r, s in zip(res.raw[method][sl], res.raw[REFERENCE][sl], strict=True)]
    return ppr, [r["qoe"] for r in res.raw[method][sl]]


def mean_std(x: Sequence[float]) -> str:
    """``mean ± std`` (population std) or ``-`` for an empty list."""
    if len(x) == 0:
        return "-"
    a = np.asarray(x, dtype=float)
    return f"{a.mean():.3f} ± {a.std():.3f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Markdown table lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def write_report(dest: Path, md_lines: Sequence[str], data: dict[str, Any], wall_s: float) -> None:
    """Write ``results.md`` (the command that produced it on top) and ``results.json`` into ``dest``.

    ``results.json`` starts with the provenance ``experiments/report.py`` prints next to the table: ``command``,
    ``started_utc``, ``wall_s`` (the timed part of the run, s) and ``git_commit``.
    """
    from metadvfs.io import write_text_atomic
    from metadvfs.provenance import RunRecord, utc_stamp

    dest.mkdir(parents=True, exist_ok=True)
    head = [
        f"Produced by `{command_line()}` (wall time {wall_s / 60:.1f} min on this machine, "
        f"{time.strftime('%Y-%m-%d')}).",
        "",
    ]
    write_text_atomic(dest / "results.md", "\n".join([*head, *md_lines]) + "\n")
    prov = RunRecord(command_line(), started_utc=utc_stamp(_STARTED), commit=_COMMIT).fields(wall_s)
    doc = repo_relative({**prov, **data})
    write_text_atomic(dest / "results.json", json.dumps(doc, indent=1, default=_json_default))


def repo_relative(obj: Any) -> Any:
    """``obj`` with every string path under the repository root made relative to it (``runs/...``, not this
    machine's ``/home/me/metadvfs/runs/...``): stored results name their models the same on every machine."""
    prefix = str(ROOT) + "/"
    if isinstance(obj, str):
        return obj[len(prefix) :] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: repo_relative(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [repo_relative(v) for v in obj]
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def savefig(fig: Any, path: Path) -> None:
    """Save a small PNG (64-colour palette) atomically and close the figure."""
    import matplotlib.pyplot as plt

    from metadvfs.io import write_with

    def write(p: Path) -> None:
        import io

        from PIL import Image

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        buf.seek(0)
        Image.open(buf).convert("RGB").quantize(colors=64).save(p, format="PNG", optimize=True)

    write_with(path, write)
    plt.close(fig)


def matplotlib_agg() -> Any:
    """pyplot with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
