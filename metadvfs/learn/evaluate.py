"""Evaluate learned governors against stock governors, the oracle and learned baselines on the same traces.

Every method runs each (task, seed) episode on the same demand: learned policies through the batched
environment (``BatchedDVFSVecEnv`` seeded per row), stock governors and the oracle through
:func:`metadvfs.sim.replay.replay` with the same seeds (the two draw identical demand windows). Metrics come
from :mod:`metadvfs.metrics`; ``ppr_norm`` divides by the reference governor's PPR on the same task and seed
(``stock``, the Android stack the phone runs, by default; ``reference="schedutil"`` gives the older figures) and
``ppr_norm_schedutil`` divides by schedutil's (the pure kernel rule), reported next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from metadvfs.core.domains import DOMAINS
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.registry import GOVERNOR_NAMES
from metadvfs.learn.baselines import LEARNED_BASELINES
from metadvfs.learn.checkpoint import LoadedModel
from metadvfs.learn.wrappers import flat_to_multi
from metadvfs.metrics import Series, summarize

if TYPE_CHECKING:
    from metadvfs.tasks.task import Task

STOCK_METHODS: tuple[str, ...] = GOVERNOR_NAMES
"""Simulator governors evaluated as methods: the governor registry's names (``fixed`` is the mid-table level)."""
MODE_BASELINES: tuple[str, ...] = ("standalone", "joint")
"""Training modes evaluated as learned baselines (the model's config with only ``mode`` changed)."""
LEARNED_BASELINE_NAMES: tuple[str, ...] = (*MODE_BASELINES, *LEARNED_BASELINES)
REFERENCES = ("stock", "schedutil")
"""Governors PPR can be normalised to."""
REFERENCE = "stock"
"""The default reference: the phone's own Android governor stack (``schedutil`` is always reported next to it)."""
REPORT_KEYS = (
    "ppr_norm", "ppr_norm_schedutil", "qoe", "jank_pct", "energy_j", "avg_power_w", "max_temp_c", "ppr_soc_norm",
    "avg_soc_power_w",
)  # fmt: skip
"""Per-task report columns. ``ppr_norm`` uses whole-phone power, ``ppr_soc_norm`` SoC power (CPU + GPU rails);
both are divided by the reference governor's value of the same quantity on the same task and seed
(``ppr_norm_schedutil``: whole-phone PPR divided by schedutil's)."""
DOMAIN_KEYS: tuple[str, ...] = tuple(k for d in DOMAINS for k in (f"freq_{d}_mhz", f"power_{d}_mw"))
"""Per-domain episode means reported per (task, method) in ``results.csv`` and results.md's *where the power goes*
table: applied frequency, MHz, and domain power, mW (absent from an episode's metrics when the phone has no such
domain, e.g. Pixel 3's ``mid``); named like :class:`metadvfs.sim.replay.Timeline`'s columns."""


def domain_means(task: Task, freq_mhz: np.ndarray, power_mw: np.ndarray) -> dict[str, float]:
    """Episode means of each present domain's applied frequency and power.

    Args:
        task: The task (its device's ``domain_mask`` says which domains exist).
        freq_mhz: (T, 4) applied frequency per step or tick, MHz.
        power_mw: (T, 4) mean power per step or tick, mW (steps of equal length).

    Returns:
        ``{"freq_<domain>_mhz": MHz, "power_<domain>_mw": mW}`` for the domains the phone has.
    """
    out: dict[str, float] = {}
    for d, (name, present) in enumerate(zip(DOMAINS, task.device.domain_mask, strict=True)):
        if present:
            out[f"freq_{name}_mhz"] = float(np.mean(freq_mhz[:, d]))
            out[f"power_{name}_mw"] = float(np.mean(power_mw[:, d]))
    return out


SEED_BASE = 10_000
"""Evaluation seeds are ``SEED_BASE + i`` (training uses small seeds; evaluation windows differ)."""


class Driver(Protocol):
    """A learned policy that acts in a BatchedDVFSVecEnv built with its ``env_kwargs``."""

    name: str
    env_kwargs: dict[str, Any]

    def reset(self, n_envs: int) -> None:
        """Start a batch of evaluation episodes."""

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 4) per-domain choices."""


class ModelDriver:
    """Drive environments with a MetaDVFS checkpoint (routing each task to its model, metadata encoded).

    Args:
        model: Loaded checkpoint.
        task_names: Task of each environment row.
        name: Method name in reports.
    """

    def __init__(self, model: LoadedModel, task_names: Sequence[str], name: str = "metadvfs"):
        from metadvfs.learn.tasks import task_map

        self.name = name
        self.model = model
        e = model.cfg.env
        self.env_kwargs: dict[str, Any] = {
            "decision_interval_s": e.decision_interval_s,
            "window": e.window,
            "action_mode": e.action_mode,
            "levels": e.levels,
        }
        uniq = list(dict.fromkeys(task_names))
        tasks = task_map(uniq)
        self.meta = np.stack([model.encode(tasks[n]) for n in task_names])
        route = {n: model.model_for(tasks[n]) for n in uniq}
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(task_names):
            groups.setdefault(route[n], []).append(i)
        self.rows: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in groups.items()}
        self.nvec = np.asarray(model.doc["action"]["n"]) if model.doc["algo"] == "ppo" else np.array([3, 3, 3, 3])

    def reset(self, n_envs: int) -> None:
        """Nothing to reset (the policy is stateless; the window carries the history)."""

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Per-model batched deterministic actions."""
        n = obs["obs"].shape[0]
        out = np.ones((n, 4), dtype=np.int64)
        for mid, rows in self.rows.items():
            o = {"obs": obs["obs"][rows], "meta": self.meta[rows]}
            a = self.model.act(mid, o)
            out[rows] = flat_to_multi(a, self.nvec) if self.model.doc["algo"] == "dqn" else a.reshape(len(rows), -1)
        return out


def run_driver(
    driver: Driver, task_names: Sequence[str], seeds: Sequence[int], seconds: float
) -> list[dict[str, float]]:
    """Run a driver for one episode per (task, seed); returns metrics in task-major, seed-minor order."""
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.tasks import task_map

    rows = [(t, s) for t in task_names for s in seeds]
    tasks = task_map(task_names)
    venv = BatchedDVFSVecEnv([tasks[t] for t, _ in rows], episode_seconds=seconds, **driver.env_kwargs)
    venv.batch.seed([s for _, s in rows])
    obs = venv.reset()
    driver.reset(venv.num_envs)
    dt = float(driver.env_kwargs.get("decision_interval_s", 0.1))
    n_steps = round(seconds / dt)
    keys = ("energy_j", "fps", "fps_requested", "frames_janky", "temp_die_c", "temp_skin_c", "throttled", "power_soc_w")
    rec = {k: np.zeros((n_steps, venv.num_envs)) for k in keys}
    dom = {k: np.zeros((n_steps, venv.num_envs, len(DOMAINS))) for k in ("freq_mhz", "power_mw")}
    for k in range(n_steps):
        act = driver.act(venv, obs)
        step_obs = venv.step(act)[0]
        assert isinstance(step_obs, dict), "BatchedDVFSVecEnv observations are Dict arrays"
        obs = step_obs
        m = venv.last_metrics
        for key in keys:
            rec[key][k] = m[key]
        last = venv.batch.last
        assert last is not None, "a stepped batch keeps its last step's output"
        dom["freq_mhz"][k] = last.freq_mhz
        dom["power_mw"][k] = last.power_mw
    out = []
    for i in range(venv.num_envs):
        s = Series(
            step_s=dt,
            energy_mj=rec["energy_j"][:, i] * 1000.0,
            frames_req=rec["fps_requested"][:, i] * dt,
            frames_presented=rec["fps"][:, i] * dt,
            frames_janky=rec["frames_janky"][:, i],
            temp_die_c=rec["temp_die_c"][:, i],
            temp_skin_c=rec["temp_skin_c"][:, i],
            throttled=rec["throttled"][:, i].astype(bool),
            energy_soc_mj=rec["power_soc_w"][:, i] * dt * 1000.0,
        )
        task = tasks[rows[i][0]]
        out.append({**summarize(s), **domain_means(task, dom["freq_mhz"][:, i], dom["power_mw"][:, i])})
    return out


def run_stock(name: str, task_names: Sequence[str], seeds: Sequence[int], seconds: float) -> list[dict[str, float]]:
    """Replay a stock governor (or the oracle) on every (task, seed), same order as :func:`run_driver`."""
    from metadvfs.governors.registry import make_governor
    from metadvfs.learn.tasks import task_map
    from metadvfs.sim.replay import replay

    rows = [(t, s) for t in task_names for s in seeds]
    tasks = task_map(task_names)
    tl = replay([tasks[t] for t, _ in rows], make_governor(name), seconds, [s for _, s in rows])
    f, p = np.asarray(tl.freq_mhz, dtype=float), np.asarray(tl.power_mw, dtype=float)
    return [{**summarize(tl.series(i)), **domain_means(tasks[t], f[:, i], p[:, i])} for i, (t, _) in enumerate(rows)]


@dataclass
class EvalResult:
    """Per-episode metrics of every method, and the aggregated tables.

    Attributes:
        tasks: Task names.
        seeds: Evaluation seeds.
        seconds: Episode length, s.
        raw: ``{method: [metrics per (task, seed)]}`` (task-major order).
        reference: Governor ``ppr_norm`` and the QoE check refer to (one of :data:`REFERENCES`).
        groups: ``{method: [member methods in raw]}``: a learned method trained with several training seeds.
            Its row is the mean over members of each member's mean over evaluation seeds, and its ``*_std`` is the
            standard deviation over members (training seeds); the members are not reported on their own.
    """

    tasks: list[str]
    seeds: list[int]
    seconds: float
    raw: dict[str, list[dict[str, float]]]
    reference: str = "stock"
    groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        """Reported methods in order: groups replace their members at the first member's position."""
        member_of = {m: g for g, ms in self.groups.items() for m in ms}
        return list(dict.fromkeys(member_of.get(m, m) for m in self.raw))

    def _task_stats(self, method: str, ti: int) -> dict[str, tuple[float, float]]:
        """``{key: (mean, std)}`` over evaluation seeds of one raw method on task ``ti``."""
        return {k: (float(np.mean(v)), float(np.std(v))) for k, v in self._task_values(method, ti).items()}

    def _task_values(self, method: str, ti: int) -> dict[str, list[float]]:
        """``{key: [value per evaluation seed]}`` of one raw method on task ``ti`` (``ppr_norm`` normalised)."""
        ns = len(self.seeds)
        ref = self.raw[self.reference]
        su = self.raw["schedutil"]
        res = self.raw[method]
        vals: dict[str, list[float]] = {k: [] for k in (*REPORT_KEYS, *DOMAIN_KEYS)}
        for si in range(ns):
            r = res[ti * ns + si]
            rr = ref[ti * ns + si]
            base = rr["ppr"]
            base_su = su[ti * ns + si]["ppr"]
            base_soc = rr.get("ppr_soc", 0.0)
            norm = {
                "ppr_norm": r["ppr"] / base if base > 0 else float("nan"),
                "ppr_norm_schedutil": r["ppr"] / base_su if base_su > 0 else float("nan"),
                "ppr_soc_norm": r.get("ppr_soc", float("nan")) / base_soc if base_soc else float("nan"),
            }
            for k in vals:
                vals[k].append(norm[k] if k in norm else r.get(k, float("nan")))
        return vals

    def _run_std(self, method: str) -> dict[str, float]:
        """Std of the mean over tasks between runs: over training seeds (a group) or over evaluation seeds."""
        members = self.groups.get(method)
        tasks = range(len(self.tasks))
        if members:  # one number per training seed: its mean over tasks of the mean over evaluation seeds
            per = [[self._task_stats(m, ti) for ti in tasks] for m in members]
            return {k: float(np.std([np.mean([p[ti][k][0] for ti in tasks]) for p in per])) for k in REPORT_KEYS}
        vals = [self._task_values(method, ti) for ti in tasks]  # one number per evaluation seed
        return {k: float(np.std(np.mean([v[k] for v in vals], axis=0))) for k in REPORT_KEYS}

    def rows(self) -> list[dict[str, Any]]:
        """Per (task, method): mean and std of :data:`REPORT_KEYS`, and the mean of :data:`DOMAIN_KEYS`.

        ``ppr_norm`` is against the reference. A domain key is left out for a domain the phone lacks, and in
        metrics recorded without per-domain means. The std is over evaluation seeds, or over training seeds for a
        method in :attr:`groups`.
        """
        out = []
        for ti, task in enumerate(self.tasks):
            dev, app = task.split(":", 1)
            for method in self.methods:
                row: dict[str, Any] = {"device": dev, "app": app, "method": method}
                members = self.groups.get(method)
                if members:
                    per = [self._task_stats(m, ti) for m in members]
                    for k in REPORT_KEYS:
                        means = [p[k][0] for p in per]
                        row[k] = float(np.mean(means))
                        row[f"{k}_std"] = float(np.std(means))
                    row["training_seeds"] = len(members)
                    dom = {k: float(np.mean([p[k][0] for p in per])) for k in DOMAIN_KEYS}
                else:
                    stats = self._task_stats(method, ti)
                    for k in REPORT_KEYS:
                        row[k], row[f"{k}_std"] = stats[k]
                    dom = {k: stats[k][0] for k in DOMAIN_KEYS}
                row.update({k: v for k, v in dom.items() if not np.isnan(v)})  # JSON has no NaN
                out.append(row)
        return out

    def summary(self, focus: str | None = None) -> dict[str, Any]:
        """Mean over tasks per method, ratio to the oracle, tasks won, QoE check against the reference.

        ``std_<key>`` is the spread of ``mean_<key>`` between runs: the standard deviation over training seeds
        for a method in :attr:`groups` (its entry has ``training_seeds``), else over evaluation seeds (of the
        mean over tasks per seed).

        A method *wins* a task when its mean ``ppr_norm`` is the highest among all non-oracle methods whose
        QoE is at least the reference governor's - 0.01 on that task.
        """
        refm = self.reference
        rows = self.rows()
        methods = self.methods
        by = {(r["device"] + ":" + r["app"], r["method"]): r for r in rows}
        s: dict[str, Any] = {"methods": {}}
        for m in methods:
            mean = {k: float(np.mean([by[(t, m)][k] for t in self.tasks])) for k in REPORT_KEYS}
            qoe_ok = sum(by[(t, m)]["qoe"] >= by[(t, refm)]["qoe"] - 0.01 for t in self.tasks)
            entry: dict[str, Any] = {**{f"mean_{k}": v for k, v in mean.items()}, "tasks_qoe_ok": int(qoe_ok)}
            entry.update({f"std_{k}": v for k, v in self._run_std(m).items()})
            if m in self.groups:
                entry["training_seeds"] = len(self.groups[m])
            if "oracle" in self.raw:
                entry["ratio_to_oracle"] = float(
                    np.mean([by[(t, m)]["ppr_norm"] / by[(t, "oracle")]["ppr_norm"] for t in self.tasks])
                )
            s["methods"][m] = entry
        won = {m: 0 for m in methods}
        for t in self.tasks:
            ok = [m for m in methods if m != "oracle" and by[(t, m)]["qoe"] >= by[(t, refm)]["qoe"] - 0.01]
            if ok:
                won[max(ok, key=lambda m: by[(t, m)]["ppr_norm"])] += 1
        for m in methods:
            s["methods"][m]["tasks_won"] = won[m]
        if focus and focus in methods:
            for other in ("standalone",):
                if other in methods:
                    s[f"{focus}_ge_{other}"] = int(
                        sum(by[(t, focus)]["ppr_norm"] >= by[(t, other)]["ppr_norm"] - 1e-9 for t in self.tasks)
                    )
        s["reference"] = refm
        s["n_tasks"] = len(self.tasks)
        s["seeds"] = self.seeds
        s["seconds"] = self.seconds
        return s


def evaluate(
    drivers: Sequence[Driver],
    stock: Sequence[str],
    task_names: Sequence[str],
    n_seeds: int = 3,
    seconds: float = 60.0,
    progress: Callable[[str], None] | None = None,
    reference: str = "stock",
    groups: dict[str, list[str]] | None = None,
    seed_base: int = SEED_BASE,
) -> EvalResult:
    """Run all methods on all (task, seed) episodes.

    Args:
        drivers: Learned methods.
        stock: Stock governor names (``stock`` and ``schedutil`` are always included).
        task_names: Tasks.
        n_seeds: Seeds per task (``seed_base + i``).
        seconds: Episode length, s.
        progress: Called with the method name before it runs.
        reference: Governor ``ppr_norm`` is normalised to (:data:`REFERENCES`).
        groups: Learned methods trained with several training seeds: ``{method: [driver names]}``
            (see :class:`EvalResult`).
        seed_base: Episode seeds are ``seed_base + i`` (a search validates on other seeds than the evaluation).

    Returns:
        The results.
    """
    if reference not in REFERENCES:
        raise MetaDVFSError(f"--reference: must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if n_seeds < 1:
        raise MetaDVFSError(f"--seeds: must be >= 1, got {n_seeds}")
    if seconds <= 0:
        raise MetaDVFSError(f"--seconds: must be > 0, got {seconds}")
    seeds = [seed_base + i for i in range(n_seeds)]
    governors: dict[str, list[dict[str, float]]] = {}
    for name in dict.fromkeys(["stock", "schedutil", *stock]):  # first: they are cheap and define PPR's reference
        if progress:
            progress(name)
        governors[name] = run_stock(name, task_names, seeds, seconds)
        if name == "stock":
            check_frames_requested(governors[name], task_names, seeds, seconds)
    raw: dict[str, list[dict[str, float]]] = {}
    for d in drivers:
        if progress:
            progress(d.name)
        per_task = getattr(d, "drivers", None)
        if per_task is not None:  # a single-task method: one driver per task
            raw[d.name] = [r for t in task_names for r in run_driver(per_task[t], [t], seeds, seconds)]
        else:
            raw[d.name] = run_driver(d, task_names, seeds, seconds)
    raw.update(governors)  # reported after the learned methods, as before
    return EvalResult(list(task_names), seeds, seconds, raw, reference, dict(groups or {}))


def check_frames_requested(
    metrics: Sequence[dict[str, float]], task_names: Sequence[str], seeds: Sequence[int], seconds: float
) -> None:
    """Refuse episodes in which the app requests no frame: their PPR (frames per joule) is undefined.

    The frames an episode requests come from the app's trace, not from the governor, so one governor's run
    (task-major, seed-minor, as :func:`run_stock` returns) decides it for every method.

    Raises:
        MetaDVFSError: Naming the first such task and seed, and the episode length.
    """
    ns = len(seeds)
    idle = [(task_names[i // ns], seeds[i % ns]) for i, m in enumerate(metrics) if m.get("frames_req", 1.0) <= 0]
    if idle:
        (task, seed), more = idle[0], (f" and {len(idle) - 1} more episode(s)" if len(idle) > 1 else "")
        raise MetaDVFSError(
            f"--seconds {seconds:g}: {task} (seed {seed}){more} requests no frame in {seconds:g} s, so PPR is "
            "undefined; use longer episodes"
        )


def write_reports(
    res: EvalResult, out: Path, focus: str | None = None, provenance: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md``, ``summary.json`` and plots into ``out`` (atomically).

    Args:
        res: The evaluation.
        out: Report directory.
        focus: The method compared with the standalone baseline in the summary.
        provenance: Fields put first in ``summary.json`` (:meth:`metadvfs.provenance.RunRecord.fields`: the
            producing command, start time, wall time, git commit).
    """
    import json

    import pandas as pd

    from metadvfs.io import write_text_atomic, write_with

    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(res.rows())
    df = df[[c for c in df.columns if c not in DOMAIN_KEYS] + [k for k in DOMAIN_KEYS if k in df.columns]]
    paths = {"csv": out / "results.csv", "md": out / "results.md", "json": out / "summary.json"}
    write_with(paths["csv"], lambda p: df.to_csv(p, index=False, float_format="%.5g"))
    write_text_atomic(paths["md"], to_markdown(res, focus))
    write_text_atomic(paths["json"], json.dumps({**(provenance or {}), **res.summary(focus)}, indent=1))
    from metadvfs.viz.evaluation import plot_bars, plot_domains, plot_scatter

    paths["bars"] = out / "ppr_norm_per_task.png"
    paths["scatter"] = out / "power_vs_qoe.png"
    write_with(paths["bars"], lambda p: plot_bars(df, p, res.reference))
    write_with(paths["scatter"], lambda p: plot_scatter(df, p))
    if any(c.startswith("power_") and c in DOMAIN_KEYS for c in df.columns):
        paths["domains"] = out / "power_by_domain.png"
        write_with(paths["domains"], lambda p: plot_domains(df, p, DOMAINS))
    return paths


def to_markdown(res: EvalResult, focus: str | None = None) -> str:
    """Markdown tables: per task (PPR norm and QoE, mean +- std) and the summary."""
    rows = res.rows()
    methods = res.methods
    by = {(r["device"] + ":" + r["app"], r["method"]): r for r in rows}
    seeds_note = "".join(
        f" {g}: mean ± std over {len(ms)} training seeds (each the mean of the evaluation seeds)."
        for g, ms in res.groups.items()
    )
    lines = [
        f"Seeds {res.seeds}, {res.seconds:g} s episodes. Cells: PPR normalised to {res.reference} / QoE (mean ± std)."
        + seeds_note,
        "",
        "| task | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for t in res.tasks:
        cells = [
            f"{by[(t, m)]['ppr_norm']:.3f}±{by[(t, m)]['ppr_norm_std']:.3f} / {by[(t, m)]['qoe']:.3f}" for m in methods
        ]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    s = res.summary(focus)
    lines += [
        "",
        f"| method | mean PPR / {res.reference} | mean PPR / schedutil | mean PPR / {res.reference} (SoC power) "
        "| mean QoE | mean jank % | ratio to oracle | QoE ok | tasks won |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        e = s["methods"][m]
        rto = f"{e['ratio_to_oracle']:.3f}" if "ratio_to_oracle" in e else "-"
        won = "–" if m == "oracle" else e["tasks_won"]  # the bound does not take part in the contest
        lines.append(
            f"| {m} | {e['mean_ppr_norm']:.3f} | {e['mean_ppr_norm_schedutil']:.3f} | "
            f"{e['mean_ppr_soc_norm']:.3f} | {e['mean_qoe']:.3f} | {e['mean_jank_pct']:.2f} | {rto} | "
            f"{e['tasks_qoe_ok']}/{len(res.tasks)} | {won} |"
        )
    return "\n".join(lines + _domain_table(res.tasks, methods, by)) + "\n"


def _domain_table(tasks: Sequence[str], methods: Sequence[str], by: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Markdown lines of the *where the power goes* table (empty when no method recorded per-domain means).

    ``by`` holds :meth:`EvalResult.rows`, which leave a domain's keys out rather than store NaN.
    """
    if not any(k in by[(t, m)] for t in tasks for m in methods for k in DOMAIN_KEYS):
        return []

    def cell(r: dict[str, Any], d: str) -> str:
        f = f"freq_{d}_mhz"
        return f"{r[f]:.0f} · {r[f'power_{d}_mw']:.0f}" if f in r else "-"

    lines = [
        "",
        "Where the power goes: per domain, mean applied frequency (MHz) · mean power (mW) over the episodes; "
        "`-`: the phone has no such domain.",
        "",
        "| task | method | " + " | ".join(DOMAINS) + " |",
        "|---|---|" + "---|" * len(DOMAINS),
    ]
    for t in tasks:
        lines += [f"| {t} | {m} | " + " | ".join(cell(by[(t, m)], d) for d in DOMAINS) + " |" for m in methods]
    return lines
