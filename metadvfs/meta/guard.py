"""Negative-transfer guard: find tasks where the shared model loses to standalone training, and fix them.

For every guarded task the shared model (the checkpoint's routed model for that task) and the ``standalone``
baseline (the same network trained on that task alone with the same per-task budget, resolved or trained by
:func:`metadvfs.learn.baseline_models.resolve_learned_baselines`) play the same validation episodes: seeds
``VALIDATION_SEED_BASE + i`` (20000+i; evaluation uses 10000+i, training uses small seeds), the evaluation's
reference governor (:data:`metadvfs.learn.evaluate.REFERENCE`, ``stock``: the phone's own governor stack) on the
same seeds as the PPR reference, so ``ppr_norm`` here means what it means in ``metadvfs evaluate`` and the
experiments.

**Detection** (:func:`detect`), per task, on the paired per-seed differences ``d_i = ppr_norm_shared,i −
ppr_norm_standalone,i`` (same seed = same demand window):

- PPR: flagged when ``mean(d) < −max(ppr_floor, k · stderr(d))`` with ``ppr_floor = 0.005`` and ``k = 2``
  (``stderr`` = sample std / √n), i.e. the shared model is worse by more than half a percent of the reference
  governor's PPR *and* by more than two standard errors of the seed-to-seed spread;
- QoE: flagged when ``mean(qoe_shared) < mean(qoe_standalone) − 0.01``.

**Action** for a flagged task: task-specific fine-tuning. PPO starts from the shared model's weights for
that task (metadata conditioning kept as it was) and trains on that task alone for the model's per-task budget
(``total_steps / number of training tasks``, as in :func:`metadvfs.meta.adapt._finetune`); the fine-tuned
policy is re-checked on the same validation episodes. It is kept when it is no longer flagged
(``fixed``). Otherwise the better of the shared and fine-tuned policies is kept and the task is reported
``unresolved`` (better = higher mean ``ppr_norm``, unless its QoE is more than 0.01 below the other's; this
0.01 is fixed, it does not follow a changed detection tolerance).

**Against the stock governor** (``against="stock"``, ``metadvfs guard --against stock``): the baseline is the
phone's stock governor stack on the same validation episodes instead of the standalone model (its ``ppr_norm`` is
1 on every seed by definition, its QoE is the evaluation's floor reference), so a flagged task is one where the
shared model's PPR is under stock's by more than the tolerance or its QoE is more than 0.01 under stock's; nothing
is trained for the baseline. Detection, fine-tuning and the re-check are the same.

**Output**: a new checkpoint, a copy of the model in which every task that keeps a fine-tuned policy has its
own model entry ``ft-<device>-<app>`` (and is removed from the shared model's task list, so
:meth:`~metadvfs.learn.checkpoint.LoadedModel.model_for` routes it there), plus ``guard.json`` and
``guard.md`` (what was measured, detected and done).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import LoadedModel, build_policy, load_checkpoint
from metadvfs.paths import source_name

VALIDATION_SEED_BASE = 20_000
"""Validation seeds are ``VALIDATION_SEED_BASE + i`` (evaluation uses 10000+i)."""
PPR_FLOOR = 0.005
"""Smallest mean ``ppr_norm`` deficit (fraction of the reference governor's PPR) that counts as negative transfer."""
K_STDERR = 2.0
"""The deficit must also exceed this many standard errors of the paired per-seed differences."""
QOE_TOL = 0.01
"""A mean QoE deficit larger than this (absolute, QoE in [0, 1]) counts as negative transfer."""
AGAINST = ("standalone", "stock")
"""What the shared model is checked against: the standalone model (negative transfer) or the stock governor."""


@dataclass(frozen=True)
class Check:
    """Outcome of comparing a candidate policy with standalone on one task.

    Attributes:
        ppr_diff: Mean paired difference of ``ppr_norm`` (candidate − standalone).
        ppr_stderr: Standard error of the paired differences (0 for one seed).
        ppr_tol: Tolerance ``max(ppr_floor, k · stderr)``.
        qoe_diff: Mean QoE difference (candidate − standalone).
        ppr_flag: PPR deficit beyond the tolerance.
        qoe_flag: QoE deficit beyond ``qoe_tol``.
    """

    ppr_diff: float
    ppr_stderr: float
    ppr_tol: float
    qoe_diff: float
    ppr_flag: bool
    qoe_flag: bool

    @property
    def flagged(self) -> bool:
        """Negative transfer detected (PPR or QoE)."""
        return self.ppr_flag or self.qoe_flag

    @property
    def reasons(self) -> list[str]:
        """Human-readable reasons for the flag."""
        out = []
        if self.ppr_flag:
            out.append(f"ppr_norm {self.ppr_diff:+.4f} < -{self.ppr_tol:.4f}")
        if self.qoe_flag:
            out.append(f"QoE {self.qoe_diff:+.4f}")
        return out


def _device_app(task: str) -> tuple[str, str]:
    """``(device, app)`` of a ``device:app`` task name."""
    device, app = task.split(":", 1)
    return device, app


def detect(
    cand_ppr: Sequence[float],
    base_ppr: Sequence[float],
    cand_qoe: Sequence[float],
    base_qoe: Sequence[float],
    ppr_floor: float = PPR_FLOOR,
    k_stderr: float = K_STDERR,
    qoe_tol: float = QOE_TOL,
) -> Check:
    """Negative-transfer test of a candidate against standalone on paired per-seed metrics.

    Args:
        cand_ppr: Candidate ``ppr_norm`` per validation seed.
        base_ppr: Standalone ``ppr_norm`` on the same seeds (same order).
        cand_qoe: Candidate QoE per seed.
        base_qoe: Standalone QoE per seed.
        ppr_floor: Minimum deficit in ``ppr_norm`` that counts.
        k_stderr: Standard errors the deficit must exceed.
        qoe_tol: Allowed mean QoE deficit.

    Returns:
        The check (``flagged`` when either criterion fires).

    Raises:
        MetaDVFSError: Lists of different or zero length, or non-finite values.
    """
    arrs = [np.asarray(x, dtype=float) for x in (cand_ppr, base_ppr, cand_qoe, base_qoe)]
    n = len(arrs[0])
    if n == 0 or any(len(a) != n for a in arrs):
        lens = [len(a) for a in arrs]
        raise MetaDVFSError(f"guard: per-seed metric lists must be non-empty and equally long, got {lens}")
    if not all(np.isfinite(a).all() for a in arrs):
        raise MetaDVFSError("guard: non-finite metric values")
    d = arrs[0] - arrs[1]
    se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    tol = max(ppr_floor, k_stderr * se)
    mean_d = float(d.mean())
    qd = float(arrs[2].mean() - arrs[3].mean())
    return Check(mean_d, se, tol, qd, bool(mean_d < -tol), bool(qd < -qoe_tol))


def better(a_ppr: float, a_qoe: float, b_ppr: float, b_qoe: float, qoe_tol: float = QOE_TOL) -> bool:
    """Whether policy A is better than B: higher mean ``ppr_norm`` unless its QoE is > ``qoe_tol`` lower.

    Args:
        a_ppr: A's mean ``ppr_norm``.
        a_qoe: A's mean QoE.
        b_ppr: B's mean ``ppr_norm``.
        b_qoe: B's mean QoE.
        qoe_tol: QoE margin.

    Returns:
        True when A should be kept over B.
    """
    if a_qoe < b_qoe - qoe_tol:
        return False
    if b_qoe < a_qoe - qoe_tol:
        return True
    return a_ppr > b_ppr


@dataclass
class TaskReport:
    """What the guard measured and did for one task.

    Attributes:
        task: ``device:app``.
        model: Id of the shared model that drove the task.
        shared: Mean ``ppr_norm`` / QoE of the shared model (and per-seed lists).
        baseline: Same for the baseline (the standalone model, or the stock governor with ``against="stock"``).
        check: Shared vs the baseline (detection).
        action: ``none`` | ``fixed`` | ``unresolved``.
        finetuned: Metrics of the fine-tuned policy (flagged tasks only).
        recheck: Fine-tuned vs the baseline.
        kept: ``shared`` or ``finetuned``.
        new_model: Model id that drives the task in the guarded checkpoint.
    """

    task: str
    model: str
    shared: dict[str, Any]
    baseline: dict[str, Any]
    check: dict[str, Any]
    action: str = "none"
    finetuned: dict[str, Any] | None = None
    recheck: dict[str, Any] | None = None
    kept: str = "shared"
    new_model: str = ""
    notes: list[str] = field(default_factory=list)


def _metrics(res: Sequence[dict[str, float]], ref: Sequence[dict[str, float]]) -> dict[str, Any]:
    ppr = [r["ppr"] / s["ppr"] for r, s in zip(res, ref, strict=True)]
    qoe = [r["qoe"] for r in res]
    return {"ppr_norm": float(np.mean(ppr)), "qoe": float(np.mean(qoe)), "ppr_norm_seeds": ppr, "qoe_seeds": qoe}


def _check(c: dict[str, Any], b: dict[str, Any], **tol: float) -> Check:
    return detect(c["ppr_norm_seeds"], b["ppr_norm_seeds"], c["qoe_seeds"], b["qoe_seeds"], **tol)


def _check_dict(c: Check) -> dict[str, Any]:
    return {**asdict(c), "flagged": c.flagged, "reasons": c.reasons}


def task_model_id(task: str) -> str:
    """File-safe model id of a task-specific (fine-tuned) model."""
    return "ft-" + task.replace(":", "-").replace("/", "_")


def _single_policy_model(model: LoadedModel, task: str, sd: dict[str, th.Tensor], use_meta: bool) -> LoadedModel:
    """A LoadedModel view that drives only ``task`` with the weights ``sd``."""
    doc = copy.deepcopy(model.doc)
    doc["models"] = [{"id": "cand", "tasks": [task], "use_meta": use_meta, "file": ""}]
    pol = build_policy(model.doc, model.cfg, use_meta)
    pol.load_state_dict(sd)
    return LoadedModel(model.path, doc, model.cfg, model.encoder, {"cand": pol})


def _validate(model: LoadedModel, tasks: Sequence[str], seeds: Sequence[int], seconds: float) -> list[dict[str, float]]:
    from metadvfs.learn.evaluate import ModelDriver, run_driver

    rows = [t for t in tasks for _ in seeds]
    return run_driver(ModelDriver(model, rows, "cand"), tasks, seeds, seconds)


def guard(
    model_ref: str | Path,
    out: str | Path,
    tasks: Sequence[str] | None = None,
    n_seeds: int = 5,
    seconds: float = 60.0,
    seed: int = 0,
    ppr_floor: float = PPR_FLOOR,
    k_stderr: float = K_STDERR,
    qoe_tol: float = QOE_TOL,
    finetune_steps: int | None = None,
    progress: Callable[[str], None] | None = None,
    against: str = "standalone",
) -> dict[str, Any]:
    """Run the negative-transfer guard on a checkpoint and write the guarded checkpoint and its report.

    Args:
        model_ref: Checkpoint directory or shipped model name (PPO, not standalone).
        out: Directory of the guarded checkpoint (must not exist or be empty).
        tasks: Tasks to guard (default: all the model's tasks); each must be a training task of the model.
        n_seeds: Validation seeds per task (>= 2, for the standard error).
        seconds: Validation episode length, s.
        seed: Seed of the fine-tuning runs.
        ppr_floor: See :func:`detect`.
        k_stderr: See :func:`detect`.
        qoe_tol: See :func:`detect`.
        finetune_steps: Fine-tuning budget per flagged task (default: the model's per-task budget).
        progress: Called with a short status line before each phase.
        against: ``standalone`` (negative transfer) or ``stock`` (the phone's stock governor stack), see the module
            docstring.

    Returns:
        The report (also written to ``out/guard.json`` and ``out/guard.md``).
    """
    from metadvfs.learn.baseline_models import per_task_budget, resolve_learned_baselines
    from metadvfs.learn.evaluate import REFERENCE, run_driver, run_stock
    from metadvfs.meta.adapt import _finetune
    from metadvfs.tasks.generator import is_generated_task
    from metadvfs.tasks.task import make_task

    if against not in AGAINST:
        raise MetaDVFSError(f"--against: must be one of {', '.join(AGAINST)}, got {against!r}")
    if n_seeds < 2:
        raise MetaDVFSError(f"--seeds: must be >= 2 (the guard needs a standard error), got {n_seeds}")
    if not 1.0 <= seconds <= 3600.0:
        raise MetaDVFSError(f"--seconds: must be in [1, 3600], got {seconds}")
    if finetune_steps is not None and finetune_steps <= 0:
        raise MetaDVFSError(f"--steps (fine-tuning budget): must be > 0, got {finetune_steps}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MetaDVFSError(f"{out}: output directory is not empty")
    model = load_checkpoint(model_ref)
    if out.resolve() == model.path.resolve():
        raise MetaDVFSError(f"{out}: must differ from the model directory")
    if model.doc["algo"] != "ppo":
        raise MetaDVFSError(f"{model.path}: the guard fine-tunes with PPO; this checkpoint is {model.doc['algo']}")
    if model.doc["mode"] == "standalone" and against == "standalone":
        raise MetaDVFSError(f"{model.path}: a standalone model shares nothing; there is no transfer to guard")
    known = list(model.doc["tasks"])
    names = known if tasks is None else list(tasks)
    for t in names:
        if t not in known:
            real = [k for k in known if not is_generated_task(k)]
            gen = len(known) - len(real)
            raise MetaDVFSError(
                f"--tasks: {t} is not a training task of {model.path} (its tasks: {', '.join(real)}"
                + (f", and {gen} generated tasks" if gen else "")
                + "); a new phone or app is adapted with `metadvfs adapt`, not guarded"
            )
    seeds = [VALIDATION_SEED_BASE + i for i in range(n_seeds)]
    tol = {"ppr_floor": ppr_floor, "k_stderr": k_stderr, "qoe_tol": qoe_tol}
    tmap = {t: make_task(*t.split(":", 1)) for t in names}
    route = {t: model.model_for(tmap[t]) for t in names}
    mdoc = {m["id"]: m for m in model.doc["models"]}
    single = {t for t in names if len(mdoc[route[t]]["tasks"]) == 1}

    def say(msg: str) -> None:
        if progress:
            progress(msg)

    rows = [t for t in names for _ in seeds]
    if against == "standalone":
        say("standalone baseline (reused or trained)")
        (standalone,) = resolve_learned_baselines(model, ["standalone"], names, rows)
    say("validation rollouts")
    ref = run_stock(REFERENCE, names, seeds, seconds)
    shared_res = _validate(model, names, seeds, seconds)
    base_res = run_driver(standalone, names, seeds, seconds) if against == "standalone" else ref
    ns = len(seeds)
    budget = int(finetune_steps or per_task_budget(model))
    reports: list[TaskReport] = []
    new_weights: dict[str, tuple[str, dict[str, th.Tensor], bool]] = {}
    for ti, t in enumerate(names):
        sl = slice(ti * ns, (ti + 1) * ns)
        sh, sa = _metrics(shared_res[sl], ref[sl]), _metrics(base_res[sl], ref[sl])
        chk = _check(sh, sa, **tol)
        rep = TaskReport(t, route[t], sh, sa, _check_dict(chk), new_model=route[t])
        reports.append(rep)
        if not chk.flagged:
            continue
        if t in single:
            rep.notes.append("already drives its own single-task model; fine-tuned further")
        say(f"fine-tuning {t} ({budget:,} steps)")
        mid = route[t]
        use_meta = bool(mdoc[mid]["use_meta"])
        init = {k: v.detach().clone() for k, v in model.policies[mid].state_dict().items()}
        sd, _curve = _finetune(
            model.cfg, tmap[t], model.encode(tmap[t]), init, use_meta, budget, seed, model.cfg.envs_per_task, None
        )
        say(f"re-checking {t}")
        ft = _metrics(_validate(_single_policy_model(model, t, sd, use_meta), [t], seeds, seconds), ref[sl])
        re = _check(ft, sa, **tol)
        rep.finetuned, rep.recheck = ft, _check_dict(re)
        if not re.flagged:
            rep.action, rep.kept = "fixed", "finetuned"
        else:
            rep.action = "unresolved"
            keep_ft = better(ft["ppr_norm"], ft["qoe"], sh["ppr_norm"], sh["qoe"])
            rep.kept = "finetuned" if keep_ft else "shared"
        if rep.kept == "finetuned":
            new_id = mid if t in single else task_model_id(t)
            new_weights[t] = (new_id, sd, use_meta)
            rep.new_model = new_id
    report = _report(model, out, names, seeds, seconds, budget, tol, reports, REFERENCE, against)
    from metadvfs.io import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "guard.json", json.dumps(report, indent=1))
    write_text_atomic(out / "guard.md", to_markdown(report))
    info = {k: report[k] for k in ("summary", "seeds", "seconds", "tolerance")}
    write_guarded_checkpoint(model, out, new_weights, route, info)
    return report


def write_guarded_checkpoint(
    model: LoadedModel,
    out: Path,
    new_weights: dict[str, tuple[str, dict[str, th.Tensor], bool]],
    route: dict[str, str] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a copy of ``model`` where some tasks get their own (fine-tuned) model entries.

    Args:
        model: The source checkpoint.
        out: Destination directory (created; the copy includes ``baselines/standalone`` when present).
        new_weights: ``{task: (model id, state_dict, use_meta)}``. An id equal to the task's current
            single-task model replaces its weights; any other id becomes a new entry ``{id, tasks: [task]}``
            and the task is removed from its old model's list (a model left without tasks is dropped).
        route: ``{task: current model id}`` (default: ``model.model_for``).
        info: Stored as ``train.guard`` in ``model.json``.

    Returns:
        ``out``.
    """
    from metadvfs.io import atomic_path, write_text_atomic
    from metadvfs.tasks.task import make_task

    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    for f in ("config.yaml", "encoder.json"):
        shutil.copy2(model.path / f, out / f)
    from metadvfs.learn.baseline_models import baseline_root

    sa = baseline_root(model) / "standalone"  # where the guard's standalone baselines were trained
    if sa.is_dir() and not (out / "baselines" / "standalone").exists():
        shutil.copytree(sa, out / "baselines" / "standalone")
    doc = copy.deepcopy(model.doc)
    entries = doc["models"]
    for t, (new_id, sd, use_meta) in new_weights.items():
        old = (route or {}).get(t) or model.model_for(make_task(*_device_app(t)))
        n_params = int(sum(v.numel() for v in sd.values()))
        if new_id == old:
            e = next(m for m in entries if m["id"] == old)
            e["parameters"] = n_params
            e["guard"] = "fine-tuned by the negative-transfer guard"
        else:
            if any(m["id"] == new_id for m in entries):
                raise MetaDVFSError(f"{model.path}: model id {new_id!r} already exists")
            for m in entries:
                if m["id"] == old:
                    m["tasks"] = [x for x in m["tasks"] if x != t]
            entries.append(
                {
                    "id": new_id,
                    "tasks": [t],
                    "use_meta": bool(use_meta),
                    "file": f"models/{new_id}.pt",
                    "parameters": n_params,
                    "guard": f"fine-tuned from model {old}",
                }
            )
        with atomic_path(out / "models" / f"{new_id}.pt") as tmp:
            th.save({k: v.detach().clone() for k, v in sd.items()}, tmp)
    doc["models"] = [m for m in entries if m["tasks"]]
    fresh = {v[0] for v in new_weights.values()}
    for m in doc["models"]:
        if m["id"] not in fresh:
            shutil.copy2(model.path / m["file"], out / m["file"])
    doc["guarded_from"] = source_name(model.path)
    if info is not None:
        doc.setdefault("train", {})["guard"] = info
    write_text_atomic(out / "model.json", json.dumps(doc, indent=1))
    return out


def _report(
    model: LoadedModel,
    out: Path,
    names: Sequence[str],
    seeds: Sequence[int],
    seconds: float,
    budget: int,
    tol: dict[str, float],
    reports: Sequence[TaskReport],
    reference: str,
    against: str,
) -> dict[str, Any]:
    flagged = [r.task for r in reports if r.check["flagged"]]
    summary = {
        "tasks": len(reports),
        "flagged": len(flagged),
        "fixed": sum(r.action == "fixed" for r in reports),
        "unresolved": sum(r.action == "unresolved" for r in reports),
        "task_models_added": sum(r.kept == "finetuned" for r in reports),
        "flagged_tasks": flagged,
    }
    return {
        "model": source_name(model.path),
        "guarded_model": source_name(out),
        "seeds": list(seeds),
        "seconds": seconds,
        "reference": reference,
        "against": against,
        "finetune_steps": budget,
        "tolerance": tol,
        "criterion": (
            f"flag if mean paired ppr_norm diff < -max({tol['ppr_floor']}, {tol['k_stderr']}*stderr) "
            f"or mean QoE diff < -{tol['qoe_tol']} (shared/fine-tuned minus {against})"
        ),
        "summary": summary,
        "tasks": [asdict(r) for r in reports],
    }


def to_markdown(report: dict[str, Any]) -> str:
    """Markdown summary of a guard report."""
    s = report["summary"]
    against = report.get("against", "standalone")  # reports written before --against compared with standalone
    title = "Negative-transfer guard" if against == "standalone" else "Guard against the stock governor"
    lines = [
        f"# {title}: {report['model']}",
        "",
        f"Validation seeds {report['seeds']}, {report['seconds']:g} s episodes; "
        f"{report.get('reference', 'schedutil')} on the same seeds is the PPR reference. "  # older reports: schedutil
        f"Criterion: {report['criterion']}. Fine-tuning budget {report['finetune_steps']:,} steps.",
        "",
        f"**{s['flagged']} of {s['tasks']} tasks flagged; {s['fixed']} fixed by task-specific fine-tuning, "
        f"{s['unresolved']} unresolved; task-specific models in the guarded checkpoint: {s['task_models_added']}.**",
        "",
        f"| task | model | shared PPR / QoE | {against} PPR / QoE | Δppr (tol) | ΔQoE | flag | action | "
        "fine-tuned PPR / QoE | kept → model |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["tasks"]:
        c = r["check"]
        ft = r["finetuned"]
        b = r.get("baseline", r.get("standalone"))  # the key was "standalone" before --against
        ftc = f"{ft['ppr_norm']:.3f} / {ft['qoe']:.3f}" if ft else "-"
        lines.append(
            f"| {r['task']} | {r['model']} | {r['shared']['ppr_norm']:.3f} / {r['shared']['qoe']:.3f} | "
            f"{b['ppr_norm']:.3f} / {b['qoe']:.3f} | {c['ppr_diff']:+.4f} "
            f"({c['ppr_tol']:.4f}) | {c['qoe_diff']:+.4f} | {'yes' if c['flagged'] else 'no'} | {r['action']} | "
            f"{ftc} | {r['kept']} → {r['new_model']} |"
        )
    return "\n".join(lines) + "\n"
