"""What does the QoE-floor reward term ask of a policy, task by task, and does the shipped model give it?

The shipped default trains with ``env.reward_weights.qoe_floor: 2``: every 100 ms decision step whose QoE is under
the stock governor's mean QoE on its task minus 0.01 costs 2 per unit of shortfall. The floor of the *evaluation*
is on the episode's mean QoE; the term charges each step. This script measures, on the evaluation's episodes
(seeds 10000-10002, 60 s, deterministic actions), per task:

- the per-step shortfall under the floor (mean over steps; the term costs ``qoe_floor`` times it) and the share of
  steps under the floor, for the stock governor itself and for each model on disk;
- each policy's mean per-step training reward under the *shipped default's* reward weights (the objective it was
  trained for), split into its QoE, PPR (normalised to schedutil, as in training) and floor parts;
- mean GPU and big-cluster frequency.

A task on which another policy earns a higher reward than the default under the default's own weights is a task the
default does not solve for its own objective (a shared policy trades tasks against each other), not a task where
the term demands the choice it made. Nothing is trained; models not on disk are skipped and listed.

Run from the repository root::

    python experiments/qoe_floor_term.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SEEDS = (10_000, 10_001, 10_002)
SECONDS = 60.0
MODELS = (
    ("default", "default"),
    ("default, training seed 1", "runs/metadvfs-generated-margin-qoefloor-s1"),
    ("default, training seed 2", "runs/metadvfs-generated-margin-qoefloor-s2"),
    ("previous default (absolute actions, no floor term)", "runs/metadvfs-generated"),
)
"""(label, model): the shipped default, its other training seeds, and the model shipped before it."""


def _stock(tasks: list[Any], weights: Any, step_ticks: int) -> dict[str, np.ndarray]:
    """Per-step QoE, normalised PPR and reward of the stock governor on every (task, seed), shape (steps, N)."""
    from metadvfs.core.reward import compute_reward, step_ppr, step_qoe
    from metadvfs.environment.reference import reference_ppr, reference_qoe
    from metadvfs.governors.registry import make_governor
    from metadvfs.sim.replay import replay

    rows = [t for t in tasks for _ in SEEDS]
    tl = replay(rows, make_governor("stock"), SECONDS, [s for _ in tasks for s in SEEDS])
    steps = tl.energy_mj.shape[0] // step_ticks
    cut = steps * step_ticks

    def agg(a: np.ndarray) -> np.ndarray:
        return np.asarray(a)[:cut].reshape(steps, step_ticks, -1).sum(axis=1)

    qoe = step_qoe(agg(tl.frames_req), agg(tl.frames_presented), agg(tl.frames_janky))
    power = agg(tl.power_total_mw) / step_ticks
    fps_t = np.array([t.target_fps for t in rows])[None, :]
    ppr = step_ppr(qoe, fps_t, power)
    ppr_ref = reference_ppr(rows, step_ticks)[None, :]
    qoe_ref = reference_qoe(rows, step_ticks)
    skin = np.array([t.device.thermal.skin_throttle_c for t in rows])
    temp = np.asarray(tl.temp_c)[step_ticks - 1 : cut : step_ticks, :, 1]  # at the end of each step, as the env
    r = np.stack([compute_reward(qoe[k], ppr[k], ppr_ref[0], temp[k], skin, weights, qoe_ref)[0] for k in range(steps)])
    freq = np.asarray(tl.freq_mhz, dtype=float)[:cut].reshape(steps, step_ticks, len(rows), -1).mean(axis=1)
    return {"qoe": qoe, "ppr_norm": np.minimum(ppr / ppr_ref, weights.ppr_clip), "reward": r, "freq": freq}


def _model(path: str, tasks: list[Any], names: list[str], weights: Any) -> dict[str, np.ndarray]:
    """Per-step QoE, normalised PPR, reward (under ``weights``) and frequencies of a model, shape (steps, N)."""
    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import ModelDriver

    m = load_checkpoint(path)
    task_rows = [n for n in names for _ in SEEDS]
    drv = ModelDriver(m, task_rows)
    venv = BatchedDVFSVecEnv([t for t in tasks for _ in SEEDS], reward_weights=weights, **drv.env_kwargs)
    venv.batch.seed([s for _ in tasks for s in SEEDS])
    obs = venv.reset()
    drv.reset(venv.num_envs)
    n_steps = round(SECONDS / float(drv.env_kwargs["decision_interval_s"]))
    out: dict[str, list[np.ndarray]] = {"qoe": [], "ppr_norm": [], "reward": [], "freq": []}
    for _ in range(n_steps):
        step_obs, reward, _, _ = venv.step(drv.act(venv, obs))
        assert isinstance(step_obs, dict), "BatchedDVFSVecEnv observations are Dict arrays"
        obs = step_obs
        met = venv.last_metrics
        out["qoe"].append(met["qoe"].copy())
        out["ppr_norm"].append(met["ppr_norm"].copy())
        out["reward"].append(np.asarray(reward, dtype=float).copy())
        out["freq"].append(np.asarray(met["freq_mhz"], dtype=float).copy())
    return {k: np.stack(v) for k, v in out.items()}


def _per_task(run: dict[str, np.ndarray], qoe_ref: np.ndarray, weights: Any, n_tasks: int) -> list[dict[str, float]]:
    """Per-task means over steps and seeds."""
    from metadvfs.core.domains import DOMAINS

    short = np.maximum(qoe_ref[None, :] - weights.qoe_floor_margin - run["qoe"], 0.0)
    k = len(SEEDS)
    gpu, big = DOMAINS.index("gpu"), DOMAINS.index("big")
    rows = []
    for i in range(n_tasks):
        s = slice(i * k, (i + 1) * k)
        rows.append({
            "reward": float(run["reward"][:, s].mean()),
            "qoe_part": float(weights.qoe * run["qoe"][:, s].mean()),
            "ppr_part": float(weights.ppr * run["ppr_norm"][:, s].mean()),
            "floor_part": float(-weights.qoe_floor * short[:, s].mean()),
            "shortfall": float(short[:, s].mean()),
            "under_floor": float((short[:, s] > 1e-9).mean()),
            "qoe": float(run["qoe"][:, s].mean()),
            "gpu_mhz": float(run["freq"][:, s, gpu].mean()),
            "big_mhz": float(run["freq"][:, s, big].mean()),
        })  # fmt: skip
    return rows


def main() -> None:
    """Write experiments/results/qoe_floor_term/results.md and results.json."""
    from metadvfs.environment.reference import reference_qoe
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.tasks import all_task_names, task_map

    t0 = time.perf_counter()
    C.limit_threads()
    names = all_task_names()
    tm = task_map(names)
    tasks = [tm[n] for n in names]
    shipped = load_checkpoint("default")
    weights = shipped.cfg.env.reward_weights
    step_ticks = round(shipped.cfg.env.decision_interval_s / 0.01)
    qoe_ref = reference_qoe([t for t in tasks for _ in SEEDS], step_ticks)
    C.log("stock")
    res: dict[str, list[dict[str, float]]] = {
        "stock": _per_task(_stock(tasks, weights, step_ticks), qoe_ref, weights, len(names))
    }
    missing = []
    for label, path in MODELS:
        full = path if path == "default" else str(C.ROOT / path)
        if path != "default" and not (Path(full) / "model.json").is_file():
            missing.append(f"{label}: `{path}` not on this disk")
            continue
        C.log(label)
        res[label] = _per_task(_model(full, tasks, names, weights), qoe_ref, weights, len(names))
    data: dict[str, Any] = {
        "seeds": list(SEEDS), "seconds": SECONDS, "tasks": names, "weights": {
            "qoe": weights.qoe, "ppr": weights.ppr, "qoe_floor": weights.qoe_floor,
            "qoe_floor_margin": weights.qoe_floor_margin}, "methods": res, "missing": missing,
    }  # fmt: skip
    C.write_report(C.RESULTS / "qoe_floor_term", _markdown(names, res, weights, missing), data,
                   time.perf_counter() - t0)  # fmt: skip


def _markdown(names: list[str], res: dict[str, list[dict[str, float]]], w: Any, missing: list[str]) -> list[str]:
    """The report."""
    methods = list(res)
    md = [
        "# The QoE-floor reward term, task by task",
        "",
        f"Episodes: the evaluation's (seeds {SEEDS[0]}-{SEEDS[-1]}, {SECONDS:g} s, deterministic actions). Reward: "
        f"the shipped default's training reward, {w.qoe:g} x QoE + {w.ppr:g} x PPR/PPR(schedutil) - "
        f"{w.qoe_floor:g} x per-step shortfall under (stock's mean QoE on the task - {w.qoe_floor_margin:g}), "
        "mean per 100 ms step (thermal part omitted from the split; it is in the total). *Shortfall*: mean per-step "
        "shortfall under that floor; *under*: share of steps under it. The stock governor's own steps fall under "
        "the floor wherever its QoE varies from step to step: the term charges variance, the evaluation's floor "
        "only the episode's mean.",
        "",
        "## Mean over the 30 tasks",
        "",
    ]
    rows = []
    for m in methods:
        r = res[m]
        rows.append([m, *(f"{np.mean([x[k] for x in r]):.4f}" for k in ("reward", "qoe_part", "ppr_part",
                                                                         "floor_part", "shortfall")),
                     f"{100 * np.mean([x['under_floor'] for x in r]):.1f} %"])  # fmt: skip
    md += C.md_table(["policy", "reward", "QoE part", "PPR part", "floor part", "shortfall", "under"], rows)
    if "default" in res:
        others = [m for m in methods if m not in ("default", "stock") and not m.startswith("default,")]
        for o in others:
            better = [i for i in range(len(names)) if res[o][i]["reward"] > res["default"][i]["reward"] + 1e-4]
            md += [
                "",
                f"Tasks where *{o}* earns more of the default's own reward than the default: "
                f"{len(better)}/{len(names)}" + (": " + ", ".join(names[i] for i in better) if better else "") + ".",
            ]
        for m in methods:
            if m == "stock":
                continue
            below = [i for i in range(len(names)) if res["stock"][i]["reward"] > res[m][i]["reward"] + 1e-4]
            md += [
                "",
                f"Tasks where the stock governor earns more of this reward than *{m}*: {len(below)}/{len(names)}"
                + (": " + ", ".join(names[i] for i in below) if below else "")
                + ".",
            ]
        md += ["", "## Per task", ""]
        hdr = ["task", *(f"{m}: reward / shortfall / under / GPU, big MHz" for m in methods)]
        trows = []
        for i, n in enumerate(names):
            cells = []
            for m in methods:
                x = res[m][i]
                cells.append(f"{x['reward']:.3f} / {x['shortfall']:.4f} / {100 * x['under_floor']:.0f} % / "
                             f"{x['gpu_mhz']:.0f}, {x['big_mhz']:.0f}")  # fmt: skip
            trows.append([n, *cells])
        md += C.md_table(hdr, trows)
    if missing:
        md += ["", "Not measured:", "", *[f"- {x}" for x in missing]]
    return md


if __name__ == "__main__":
    main()
