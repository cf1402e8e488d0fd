"""Adaptation to held-out devices and apps: meta-init vs joint-init vs incremental vs scratch.

Leave-one-device-out (LODO) and leave-one-app-out (LOAO) folds over the task universe (all 30 tasks in the
full run). For each fold:

1. the remaining tasks are meta-trained with FOMAML, one initialization per metadata group
   (:func:`metadvfs.meta.train.meta_train`), and trained as one metadata-conditioned model
   (:func:`metadvfs.learn.trainer.train`, ``mode: conditioned``) with the same per-task budget;
2. each held-out task is fine-tuned with PPO for the same step budget, from the same seeds, starting from
   - ``meta``: the meta-initialization of the group the task's metadata routes it to,
   - ``joint``: the conditioned multi-task model (joint-init),
   - ``incremental``: the standalone model of the nearest training task by metadata (trained once with the
     per-task budget), as :mod:`metadvfs.meta.adapt` does,
   - ``scratch``: a freshly initialised network;
3. steps and simulated minutes to 95 % use the rule of :mod:`metadvfs.meta.adapt` (threshold on the
   improvement over scratch's starting reward, floored at the converged reward minus twice the noise of the
   converged tail; first step after which the curve stays above it) on two
   curves: the training reward (60-s moving average, what ``metadvfs adapt`` reports) and a fixed-episode
   evaluation of the policy (same 8 episodes every time, deterministic actions, so demand noise does not
   move it). ``own``: 95 % of the method's own converged reward; ``common``: 95 % of the best converged
   reward among the four methods of that run (stricter: a method that converges to a worse plateau does not
   count as fast). Runs that never reach the threshold are counted at the budget (censored).

Run from the repository root::

    python experiments/adaptation.py --quick      # 2 folds, 1 held-out task each, 2 seeds
    python experiments/adaptation.py              # 11 folds over 30 tasks (long)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import numpy as np

from metadvfs.catalog.devices import list_devices
from metadvfs.workload.apps import list_apps

METHODS = ("meta", "joint", "incremental", "scratch")
ALL_DEVICES = tuple(list_devices())  # the catalogs: a new device or app file joins the full setting
ALL_APPS = tuple(list_apps())

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "devices": ["pixel3", "pixel6", "pixel8"],
        "apps": ["tiktok", "weibo", "3dmark"],
        "folds": [["device", "pixel8"], ["app", "weibo"]],
        "heldout": {"pixel8": ["pixel8:3dmark"], "weibo": ["pixel3:weibo"]},
        "per_task_steps": 30_000,
        "envs_per_task": 8,
        "meta": {"algo": "fomaml", "iterations": 30, "meta_batch": 3, "inner_steps": 2, "inner_lr": 0.001,
                 "outer_lr": 0.001, "envs_per_task": 8, "n_steps": 64},
        "adapt_steps": 49_152,
        "adapt_envs": 16,
        "eval_every": 2,
        "seeds": 2,
    },
    "full": {
        "devices": list(ALL_DEVICES),
        "apps": list(ALL_APPS),
        "folds": [["device", d] for d in ALL_DEVICES] + [["app", a] for a in ALL_APPS],
        "heldout": None,
        "per_task_steps": None,
        "envs_per_task": 16,
        "meta": {"algo": "fomaml", "iterations": 150, "meta_batch": 4, "inner_steps": 2, "inner_lr": 0.001,
                 "outer_lr": 0.001, "envs_per_task": 8, "n_steps": 64},
        "adapt_steps": 102_400,
        "adapt_envs": 16,
        "eval_every": 2,
        "seeds": 2,
    },
}
SEED_BASE = 100
"""Adaptation seeds are 100+i (environments and PPO); every method of a run uses the same seed."""
EVAL_SEED = 20_000
EVAL_ENVS = 8
"""Held-out evaluation of the policy during fine-tuning: 8 fixed episodes (seeds 20000+i), deterministic actions."""
FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0)
"""Budget fractions at which the fixed-episode reward is tabulated."""
MEASURES = ("train_own", "train_common", "eval_own", "eval_common")
MEASURE_TEXT = {
    "train_own": "training reward, own converged (`metadvfs adapt`)",
    "train_common": "training reward, best converged of the run",
    "eval_own": "fixed-episode reward, own converged",
    "eval_common": "fixed-episode reward, best converged of the run",
}


def finetune(
    cfg: Any, task: Any, meta_row: np.ndarray, init: dict[str, Any] | None, use_meta: bool, steps: int, seed: int,
    n_envs: int, eval_every: int,
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """PPO fine-tuning as :func:`metadvfs.meta.adapt._finetune`, plus a noise-free evaluation curve.

    Besides the mean reward of every training rollout (the curve ``metadvfs adapt`` measures), the policy is
    evaluated before training and after every ``eval_every`` rollouts on the same 8 episodes (seeds 20000+i,
    one episode each, deterministic actions): the demand is identical at every evaluation, so that curve moves
    only when the policy changes. Evaluation uses its own environments and draws no random numbers, so the
    training run is the same as without it.

    Returns:
        ``(training points, evaluation points)`` as ``(environment steps, mean reward per step)``.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from metadvfs.environment.vec_env import BatchedDVFSVecEnv
    from metadvfs.learn.trainer import make_algo, make_train_env
    from metadvfs.learn.wrappers import MetaVecEnv

    venv = make_train_env((task,), cfg, meta_row[None], seed, n_per_task=n_envs)
    algo = make_algo(cfg, venv, use_meta, seed, None)
    if init is not None:
        algo.policy.load_state_dict(init)
    e = cfg.env
    ev = MetaVecEnv(BatchedDVFSVecEnv([task] * EVAL_ENVS, options=e), np.repeat(meta_row[None], EVAL_ENVS, axis=0))
    n_eval = round(e.episode_seconds / e.decision_interval_s)

    def evaluate() -> float:
        ev.seed(EVAL_SEED)
        obs = ev.reset()
        tot = 0.0
        for _ in range(n_eval):
            act, _ = algo.policy.predict(obs, deterministic=True)
            obs, r, _, _ = ev.step(act)
            tot += float(np.mean(r))
        return tot / n_eval

    class Curves(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.train: list[tuple[int, float]] = []
            self.eval: list[tuple[int, float]] = []
            self.k = 0

        def _on_rollout_start(self) -> None:
            if self.k % eval_every == 0:
                self.eval.append((int(self.model.num_timesteps), evaluate()))
            self.k += 1

        def _on_rollout_end(self) -> None:
            buf = self.model.rollout_buffer  # type: ignore[attr-defined]
            self.train.append((int(self.model.num_timesteps), float(np.mean(buf.rewards))))

        def _on_step(self) -> bool:
            return True

    cb = Curves()
    algo.learn(steps, callback=cb, progress_bar=False)
    if cb.eval[-1][0] != algo.num_timesteps:
        cb.eval.append((int(algo.num_timesteps), evaluate()))
    venv.close()
    ev.close()
    return cb.train, cb.eval


def reward_at(points: list[tuple[int, float]], fractions: tuple[float, ...]) -> list[float]:
    """Fixed-episode reward of the last evaluation at or before each fraction of the run's last step."""
    st = np.array([p[0] for p in points])
    r = np.array([p[1] for p in points])
    return [round(float(r[np.flatnonzero(st <= f * st[-1])[-1]]), 5) for f in fractions]


def eval_summary(curves: dict[str, list[tuple[int, float]]], dt: float) -> dict[str, Any]:
    """Steps to 95 % on the evaluation curves: :func:`metadvfs.meta.adapt._summarize`'s rule, moving average of 1.

    Same threshold as ``metadvfs adapt`` (scratch's first point as the common start, 95 % of the improvement to
    the converged reward = mean of the last 20 % of the points, floored at converged − 2 sd of that tail), applied
    to the evaluation points themselves (each already averages 8 episodes of 20 s).
    """
    from metadvfs.meta.adapt import _summarize

    return _summarize(curves, dt, n_steps=10**9)["methods"]  # 60 s / (n_steps · dt) rounds to a width of 1


def summarize_run(run: dict[str, Any], dt: float, n_steps: int) -> dict[str, Any]:
    """(Re)compute a run's statistics from its stored curves (so a rule change needs no new training)."""
    from metadvfs.meta.adapt import _summarize

    train = {k: [(int(a), float(b)) for a, b in v] for k, v in run["curves"].items()}
    ev = {k: [(int(a), float(b)) for a, b in v] for k, v in run["eval_curves"].items()}
    return {**run, **_summarize(train, dt, n_steps), "eval_methods": eval_summary(ev, dt)}


def fold_tasks(s: dict[str, Any], kind: str, value: str) -> tuple[list[str], list[str]]:
    """(training tasks, held-out tasks) of a fold."""
    universe = [f"{d}:{a}" for d in s["devices"] for a in s["apps"]]
    idx = 0 if kind == "device" else 1
    held = [t for t in universe if t.split(":")[idx] == value]
    train = [t for t in universe if t not in held]
    if s["heldout"] is not None:
        held = list(s["heldout"][value])
    return train, held


def run_fold(s: dict[str, Any], kind: str, value: str, work: Path, seeds: list[int]) -> dict[str, Any]:
    """Train the fold's models and adapt to its held-out tasks; returns per-run summaries and timings."""
    import torch as th

    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.config import MetaConfig
    from metadvfs.meta.adapt import _incremental_init, nearest_task
    from metadvfs.meta.train import meta_train
    from metadvfs.tasks.task import make_task

    train_tasks, held = fold_tasks(s, kind, value)
    fw = work / f"{kind}-{value}"
    fw.mkdir(parents=True, exist_ok=True)
    cfg = C.make_config(s["base"], f"lo{kind[0]}o-{value}", train_tasks, "conditioned", s["per_task_steps"],
                        s["envs_per_task"], meta=s["meta"])
    timing: dict[str, float | None] = {}
    meta_dir = fw / "meta"
    if not (meta_dir / "model.json").is_file():
        shutil.rmtree(meta_dir, ignore_errors=True)
        C.log(f"[{kind} {value}] FOMAML meta-training on {len(train_tasks)} tasks")
        _, timing["meta_train_s"] = C.timed(lambda: meta_train(cfg, MetaConfig(**s["meta"]), meta_dir))
    joint_dir, timing["joint_train_s"] = C.train_cached(cfg, fw / "joint")
    meta_m, joint_m = load_checkpoint(meta_dir), load_checkpoint(joint_dir)
    dt, n_steps = meta_m.cfg.env.decision_interval_s, meta_m.cfg.ppo.n_steps
    runs: list[dict[str, Any]] = []
    run_key = hashlib.sha1(json.dumps([s["adapt_steps"], s["adapt_envs"], s["eval_every"], EVAL_SEED, EVAL_ENVS])
                           .encode()).hexdigest()[:10]
    for tname in held:
        task = make_task(*tname.split(":", 1))
        gid = meta_m.model_for(task)
        near = nearest_task(meta_m, task)
        t0 = time.perf_counter()
        inc, _ = _incremental_init(meta_m, near, meta_m.cfg, None)
        timing[f"incremental_standalone_{near}_s"] = round(time.perf_counter() - t0, 1)
        starts = {
            "meta": ({k: v.clone() for k, v in meta_m.policies[gid].state_dict().items()}, True, meta_m),
            "joint": ({k: v.clone() for k, v in joint_m.policies["all"].state_dict().items()}, True, joint_m),
            "incremental": (inc, False, meta_m),
            "scratch": (None, True, meta_m),
        }
        for seed in seeds:
            cache = fw / f"runs-{run_key}" / f"{tname.replace(':', '-')}-s{seed}.json"
            if cache.is_file():
                runs.append(summarize_run(json.loads(cache.read_text()), dt, n_steps))
                continue
            curves, evals, walls = {}, {}, {}
            for m in METHODS:
                init, use_meta, src = starts[m]
                C.log(f"[{kind} {value}] adapt {tname} seed {seed}: {m}")
                th.manual_seed(seed)
                (curves[m], evals[m]), walls[m] = C.timed(
                    lambda init=init, use_meta=use_meta, src=src, task=task, seed=seed: finetune(
                        meta_m.cfg, task, src.encode(task), init, use_meta, s["adapt_steps"], seed, s["adapt_envs"],
                        s["eval_every"],
                    )
                )
            run = {"fold": f"{kind}:{value}", "kind": kind, "task": tname, "seed": seed, "routed_group": gid,
                   "nearest_task": near, "wall_s": {k: round(v, 1) for k, v in walls.items()},
                   "curves": {k: [[int(a), round(b, 5)] for a, b in v] for k, v in curves.items()},
                   "eval_curves": {k: [[int(a), round(b, 5)] for a, b in v] for k, v in evals.items()}}
            cache.parent.mkdir(exist_ok=True)
            cache.write_text(json.dumps(run))
            runs.append(summarize_run(run, dt, n_steps))
    groups = {m["id"]: m["tasks"] for m in meta_m.doc["models"]}
    return {"train_tasks": train_tasks, "heldout": held, "groups": groups, "timing": timing, "runs": runs,
            "meta_curves": meta_m.doc["train"].get("meta_curves", {})}


def _source(run: dict[str, Any], measure: str) -> tuple[dict[str, Any], str]:
    src = run["methods"] if measure.startswith("train") else run["eval_methods"]
    return src, "steps_to_95" if measure.endswith("own") else "steps_to_95_common"


def aggregate(runs: list[dict[str, Any]], budget: int, dt: float) -> dict[str, Any]:
    """Per measure and method: steps/minutes to 95 % (censored at the budget), reductions vs scratch, rewards."""
    out: dict[str, Any] = {"n_runs": len(runs)}
    for measure in MEASURES:
        per: dict[str, Any] = {}
        steps = {}
        for m in METHODS:
            vals = [_source(r, measure)[0][m][_source(r, measure)[1]] for r in runs]
            steps[m] = (np.array([budget if v is None else v for v in vals], dtype=float),
                        sum(v is not None for v in vals))
        sc = steps["scratch"][0]
        for m in METHODS:
            st, reached = steps[m]
            ok = sc > 0
            ratio_means = float(st.mean() / sc.mean()) if sc.mean() > 0 else float("nan")
            mean_ratios = float(np.mean(st[ok] / sc[ok])) if ok.any() else float("nan")
            per[m] = {
                "steps_mean": float(st.mean()), "steps_std": float(st.std()),
                "minutes_mean": float(st.mean() * dt / 60), "minutes_std": float(st.std() * dt / 60),
                "reached": int(reached), "ratio_of_means": ratio_means, "mean_of_ratios": mean_ratios,
                "mean_of_ratios_runs": int(ok.sum()),
                "reduction_ratio_of_means_pct": 100 * (1 - ratio_means),
                "reduction_mean_of_ratios_pct": 100 * (1 - mean_ratios),
            }
        out[measure] = per
    if all("eval_curves" in r for r in runs):
        out["eval_at"] = {m: np.mean([reward_at(r["eval_curves"][m], FRACTIONS) for r in runs], axis=0).tolist()
                          for m in METHODS}
    for curve, key in (("train", "methods"), ("eval", "eval_methods")):
        out[f"{curve}_rewards"] = {
            m: {k: float(np.mean([r[key][m][k] for r in runs])) for k in ("start_reward", "converged_reward",
                                                                          "final_reward")}
            for m in METHODS
        }
    return out


def plot_curves(folds: list[dict[str, Any]], path: Path) -> None:
    """Mean reward vs steps per method: training reward (60-s moving average) and fixed-episode evaluation."""
    from metadvfs.meta.adapt import moving_average

    plt = C.matplotlib_agg()
    kinds = [k for k in ("device", "app") if any(r["kind"] == k for f in folds for r in f["runs"])]
    fig, axes = plt.subplots(2, len(kinds), figsize=(5.2 * len(kinds), 6.4), squeeze=False)
    for col, kind in enumerate(kinds):
        runs = [r for f in folds for r in f["runs"] if r["kind"] == kind]
        for row, (key, label) in enumerate((("curves", "training reward (60 s moving avg.)"),
                                            ("eval_curves", "fixed-episode reward (deterministic)"))):
            ax = axes[row][col]
            for m in METHODS:
                ys = []
                for r in runs:
                    a = np.asarray(r[key][m], dtype=float)
                    ys.append(moving_average(a[:, 1], int(r["ma_width_rollouts"])) if key == "curves" else a[:, 1])
                n = min(len(y) for y in ys)
                y = np.mean([v[:n] for v in ys], axis=0)
                sd = np.std([v[:n] for v in ys], axis=0)
                x = np.asarray(runs[0][key][m], dtype=float)[:n, 0]
                ax.plot(x, y, label=m)
                ax.fill_between(x, y - sd, y + sd, alpha=0.12)
            ax.set_title(f"leave-one-{kind}-out ({len(runs)} runs)", fontsize=9)
            ax.set_xlabel("environment steps on the held-out task", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            ax.legend(fontsize=7)
    fig.tight_layout()
    C.savefig(fig, path)


def report(folds: list[dict[str, Any]], s: dict[str, Any], seeds: list[int], wall: float, out: Path) -> None:
    """Markdown tables + JSON + figure."""
    dt = s["base"]["env"]["decision_interval_s"]
    unit = s["base"]["ppo"]["n_steps"] * s["adapt_envs"]
    budget = int(np.ceil(s["adapt_steps"] / unit) * unit)
    all_runs = [r for f in folds for r in f["runs"]]
    scopes = {"all": all_runs}
    for kind in ("device", "app"):
        rr = [r for r in all_runs if r["kind"] == kind]
        if rr:
            scopes[f"leave-one-{kind}-out"] = rr
    agg = {k: aggregate(v, budget, dt) for k, v in scopes.items()}
    md = [
        "# Adaptation to held-out devices and apps",
        "",
        f"Folds: {', '.join(f['fold'] for f in folds)}. Held-out tasks: "
        f"{', '.join(t for f in folds for t in f['heldout'])}. Seeds {seeds} (each held-out task × seed is one run; "
        f"every method of a run uses the same seed, hence the same training episodes). Budget per method and run: "
        f"{budget:,} environment steps ({s['adapt_envs']} simulated phones; {budget * dt / 60:.0f} simulated "
        f"minutes of one phone). Source models: {s['per_task_steps']:,} steps per training task; FOMAML "
        f"{s['meta']}.",
        "",
        "Steps to 95 % (rule of `metadvfs.meta.adapt`): threshold = scratch's starting reward + 95 % of the "
        "improvement to the converged reward (mean of the last 20 % of the curve), lowered to converged − 2 sd of "
        "that tail when this is lower (a curve within noise of its plateau counts as converged); steps to 95 % = "
        "first step after which the curve stays at or above the threshold. Two curves: the **training reward** "
        "(mean reward of every PPO rollout, 60-s moving average; what `metadvfs adapt` reports) and the "
        "**fixed-episode reward** (the policy "
        f"evaluated before training and every {s['eval_every']} rollouts on the same {EVAL_ENVS} episodes, seeds "
        f"{EVAL_SEED}+i, deterministic actions; no demand noise, and step 0 shows what the initialization is worth). "
        "**own**: the method's own converged reward; **common**: the best converged reward among the run's four "
        "methods (a method that settles on a worse plateau is not counted as fast). Runs that never reach the "
        "threshold count at the budget (*reached* says how many did). Reduction = 1 − method/scratch: *ratio of "
        "means* of the steps, and *mean of per-run ratios*.",
        "",
    ]
    for scope, a in agg.items():
        md += [f"## {scope} ({a['n_runs']} runs)", ""]
        rows = []
        for measure in MEASURES:
            for m in METHODS:
                e = a[measure][m]
                rows.append([MEASURE_TEXT[measure], m, f"{e['steps_mean']:,.0f} ± {e['steps_std']:,.0f}",
                             f"{e['minutes_mean']:.1f} ± {e['minutes_std']:.1f}", f"{e['reached']}/{a['n_runs']}",
                             f"{e['reduction_ratio_of_means_pct']:+.1f} %",
                             f"{e['reduction_mean_of_ratios_pct']:+.1f} %"])
        md += C.md_table(["measure", "method", "steps to 95 % (mean ± std)", "sim. minutes (mean ± std)", "reached",
                          "reduction vs scratch (ratio of means)", "reduction (mean of ratios)"], rows)
        md.append("")
        rw, ew = a["train_rewards"], a["eval_rewards"]
        md += C.md_table(
            ["method", "training reward: start / converged / final", "fixed-episode reward: start / converged / final"],
            [[m, f"{rw[m]['start_reward']:.4f} / {rw[m]['converged_reward']:.4f} / {rw[m]['final_reward']:.4f}",
              f"{ew[m]['start_reward']:.4f} / {ew[m]['converged_reward']:.4f} / {ew[m]['final_reward']:.4f}"]
             for m in METHODS])
        md += ["", "Fixed-episode reward (mean over runs) after a fraction of the budget:", ""]
        md += C.md_table(["method", *(f"{f:.0%} ({int(f * budget):,} steps)" for f in FRACTIONS)],
                         [[m, *(f"{v:.4f}" for v in a["eval_at"][m])] for m in METHODS])
        md.append("")
    md += ["## Per run (steps to 95 %: training own / common · fixed-episode own / common; '-' = not reached)", ""]
    rows = []

    def fmt(v: int | None) -> str:
        return "-" if v is None else f"{v:,}"

    for r in all_runs:
        cells = []
        for m in METHODS:
            t, e = r["methods"][m], r["eval_methods"][m]
            cells.append(f"{fmt(t['steps_to_95'])} / {fmt(t['steps_to_95_common'])} · "
                         f"{fmt(e['steps_to_95'])} / {fmt(e['steps_to_95_common'])}")
        rows.append([r["fold"], r["task"], r["seed"], r["routed_group"], r["nearest_task"], *cells])
    md += C.md_table(["fold", "task", "seed", "meta group", "nearest (incremental)", *METHODS], rows)
    md += ["", "## Source models", ""]
    rows = []
    for f in folds:
        t = f["timing"]
        groups = "; ".join(f"{g}: {', '.join(v)}" for g, v in f["groups"].items())
        rows.append([f["fold"], len(f["train_tasks"]), groups,
                     "reused" if t.get("meta_train_s") is None else f"{t['meta_train_s']:.0f}",
                     "reused" if t.get("joint_train_s") is None else f"{t['joint_train_s']:.0f}"])
    md += C.md_table(["fold", "training tasks", "metadata groups (FOMAML inits)", "FOMAML wall s",
                      "joint train wall s"], rows)
    res = {ms: agg["all"][ms]["meta"]["reduction_ratio_of_means_pct"] for ms in MEASURES}
    md += ["", "## Target", "",
           "Target: ≥ 80 % fewer steps than scratch for meta-init. Measured over all runs (ratio of means): "
           + ", ".join(f"{MEASURE_TEXT[ms]}: {v:+.1f} %" for ms, v in res.items()) + ". "
           + ("Met on every measure." if min(res.values()) >= 80 else "Not met."),
           "", "![adaptation curves](adaptation_curves.png)"]
    plot_curves(folds, out / "adaptation_curves.png")
    slim = [{k: v for k, v in r.items() if k not in ("curves", "eval_curves")} for r in all_runs]
    C.write_report(out, md, {"settings": s, "seeds": seeds, "budget": budget, "aggregate": agg, "runs": slim,
                             "folds": [{k: v for k, v in f.items() if k != "runs"} for f in folds]}, wall)


def main() -> None:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 folds on a 9-task universe, small budgets")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/NAME/quick|full)")
    ap.add_argument("--work", type=Path, default=None, help="models and runs (default runs/experiments/...)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per held-out task (default 2)")
    ap.add_argument("--folds", default=None, help="subset of folds, e.g. device:pixel8,app:weibo (default all)")
    a = ap.parse_args()
    C.limit_threads()
    mode = "quick" if a.quick else "full"
    a.out = a.out or C.RESULTS / "adaptation" / mode
    s = dict(SETTINGS[mode])
    s["base"] = C.base_sections(mode)
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    if a.seeds is not None:
        if a.seeds < 1:
            raise SystemExit("error: --seeds: must be >= 1")
        s["seeds"] = a.seeds
    if a.folds:
        want = [f.strip().split(":", 1) for f in a.folds.split(",") if f.strip()]
        bad = [":".join(f) for f in want if f not in s["folds"]]
        if bad:
            raise SystemExit(f"error: --folds: unknown fold {bad[0]!r}; choose from "
                             + ", ".join(":".join(f) for f in s["folds"]))
        s["folds"] = want
    work = a.work or C.ROOT / "runs" / "experiments" / f"adaptation-{mode}"
    C.prepare_work(work, {k: s[k] for k in ("devices", "apps", "per_task_steps", "envs_per_task", "meta", "base")})
    seeds = [SEED_BASE + i for i in range(s["seeds"])]
    t0 = time.perf_counter()
    folds = []
    for kind, value in s["folds"]:
        f = run_fold(s, kind, value, work, seeds)
        f["fold"] = f"{kind}:{value}"
        folds.append(f)
    report(folds, s, seeds, time.perf_counter() - t0, a.out)
    C.log(f"report: {a.out / 'results.md'}")


if __name__ == "__main__":
    main()
