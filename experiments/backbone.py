"""Backbone ablation: CfC vs LTC vs GRU vs MLP temporal encoders, same budget, same everything else.

One metadata-conditioned model (``mode: conditioned``, PPO, the network, environment and PPO settings of
``configs/quickstart.yaml``) per backbone (``network.backbone``) and training seed (``--train-seeds N``, default 3;
the base seed keeps the single-seed directory ``<work>/<backbone>``, seed ``s`` lives in ``<backbone>@seed<s>``),
the same tasks and environment steps. Reported per backbone: mean (± std over training seeds)
``ppr_norm`` and QoE over the tasks (evaluation seeds 10000+i, ``stock`` on the same seeds as reference),
per-task values, parameters (whole policy, and the acting path the phone runs: encoder + FiLM + policy head),
training wall time, and batch-1 forward latency of the acting path (window of 8 observations, one CPU
thread, median and 90th percentile over many calls after a warm-up).

Run from the repository root::

    python experiments/backbone.py --quick   # 4 tasks, 40k steps per task
    python experiments/backbone.py           # 30 tasks, metadvfs.yaml budget per task (long)
    python experiments/backbone.py --backbones cfc,gru,mlp   # a subset, reported apart (full-cfc+gru+mlp)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import numpy as np

from metadvfs.learn.backbones import BACKBONES as _REGISTRY

BACKBONES = tuple(_REGISTRY)
CHECKPOINT_EVERY = 500_000
"""Environment steps between a model's resumable checkpoints (as ``configs/metadvfs.yaml``): a full LTC model
trains for hours, and a stopped run resumes it from its last checkpoint instead of from the start."""


def train_order(backbones: tuple[str, ...]) -> tuple[str, ...]:
    """Training order: LTC last. It is the slowest to train (full run: 24.5 against 7.4 min per seed for CfC, with
    the sparse ODE solver of :mod:`metadvfs.learn.ltc`), so the other backbones' models are done first when a long
    run is stopped and resumed later (finished models are reused, an interrupted one resumes from its checkpoint)."""
    return tuple(sorted(backbones, key=lambda b: b == "ltc"))


def pick_backbones(arg: str | None) -> tuple[str, ...]:
    """``--backbones a,b``: a subset of :data:`BACKBONES` in registry order (None: all); an unknown or empty
    list exits 2 with a one-line error."""
    if arg is None:
        return BACKBONES
    want = [b.strip() for b in arg.split(",") if b.strip()]
    bad = [b for b in want if b not in BACKBONES]
    if bad or not want:
        C.fail(f"--backbones: {'unknown backbone ' + repr(bad[0]) if bad else 'empty list'}; choose from "
               + ", ".join(BACKBONES))  # fmt: skip
    return tuple(b for b in BACKBONES if b in want)


SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "tasks": ["pixel3:tiktok", "pixel3:3dmark", "pixel6:tiktok", "pixel6:3dmark"],
        "per_task_steps": 40_000,
        "envs_per_task": 8,
        "eval_seeds": 3,
        "eval_seconds": 30.0,
        "latency_calls": 2000,
    },
    "full": {
        "tasks": ["all"],
        "per_task_steps": None,
        "envs_per_task": 16,
        "eval_seeds": 3,
        "eval_seconds": 60.0,
        "latency_calls": 5000,
    },
}


def acting_parameters(policy: Any) -> int:
    """Parameters used to choose an action: features extractor, policy MLP, action head."""
    mods = [policy.features_extractor, policy.mlp_extractor.policy_net, policy.action_net]
    return int(sum(p.numel() for m in mods for p in m.parameters()))


def latency_us(policy: Any, window: int, obs_dim: int, meta_dim: int, calls: int) -> dict[str, float]:
    """Batch-1 latency of the acting path (one thread), microseconds: the network alone and SB3's predict path."""
    import torch as th

    th.set_num_threads(1)
    g = th.Generator().manual_seed(0)
    obs = {"obs": th.rand((1, window, obs_dim), generator=g), "meta": th.rand((1, meta_dim), generator=g)}

    def net() -> th.Tensor:  # features -> policy MLP -> action logits (no distribution objects)
        return policy.action_net(policy.mlp_extractor.forward_actor(policy.extract_features(obs)))

    def sb3() -> Any:  # what SB3 runs for a deterministic action (builds the distribution, takes its mode)
        return policy._predict(obs, deterministic=True)

    out: dict[str, float] = {}
    with th.no_grad():
        for name, fn in (("net", net), ("sb3", sb3)):
            times = np.empty(calls)
            for _ in range(max(50, calls // 20)):
                fn()
            for i in range(calls):
                t = time.perf_counter_ns()
                fn()
                times[i] = time.perf_counter_ns() - t
            out[f"{name}_median_us"] = float(np.median(times) / 1e3)
            out[f"{name}_p90_us"] = float(np.percentile(times, 90) / 1e3)
    return out


def main() -> None:
    """Command line entry."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.tasks import parse_task_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 tasks, small budgets")
    ap.add_argument("--out", type=Path, default=None, help="reports (default experiments/results/NAME/quick|full)")
    ap.add_argument("--work", type=Path, default=None, help="models (default runs/experiments/...)")
    ap.add_argument("--backbones", default=None, help="a subset, e.g. cfc,gru,mlp (default all); reports in "
                    "experiments/results/backbone/<quick|full>-<b1>+<b2>... (same work directory)")  # fmt: skip
    C.add_seed_args(ap)
    C.add_scale_args(ap)
    C.add_fresh_arg(ap)
    a = ap.parse_args()
    seeds = C.training_seeds(a.train_seeds)
    n = len(seeds)
    C.limit_threads()
    mode = "quick" if a.quick else "full"
    chosen = pick_backbones(a.backbones)
    subset = "" if chosen == BACKBONES else "-" + "+".join(chosen)
    a.out = a.out or C.RESULTS / "backbone" / (mode + subset)
    s = dict(SETTINGS[mode])
    s["base"] = C.base_sections(mode)
    s["per_task_steps"] = s["per_task_steps"] or s["base"]["total_steps"] // 30
    work = a.work or C.ROOT / "runs" / "experiments" / f"backbone-{mode}"
    # the training seed is in each model's directory name and config, not in the spec
    C.prepare_work(work, s, fresh=a.fresh)
    names = parse_task_names(s["tasks"])
    t0 = time.perf_counter()
    units, jobs = C.seed_jobs(
        work,
        "bb",
        train_order(chosen),
        seeds,
        lambda b, name, sd: C.make_config(
            s["base"], name, names, "conditioned", s["per_task_steps"], s["envs_per_task"], seed=sd,
            network={"backbone": b}, checkpoint_every_steps=CHECKPOINT_EVERY,
        ),
    )  # fmt: skip
    trained = C.train_all(jobs, a.ray)
    t_train = time.perf_counter() - t0
    C.log(f"training wall time {t_train:.0f} s ({'serial' if a.ray is None else 'ray ' + a.ray})")
    models, walls, info = {}, {}, {}
    for (b, sd), (d, w) in zip(units, trained, strict=True):
        if w is None:
            import json

            w = json.loads((d / "model.json").read_text())["train"].get("wall_s")
        walls[(b, sd)] = w
        m = load_checkpoint(d)
        models[(b, sd)] = m
        if sd == seeds[0]:  # parameters and latency are the architecture's: measured on the first seed's model
            pol = m.policies["all"]
            info[b] = {
                "parameters": int(sum(p.numel() for p in pol.parameters())),
                "acting_parameters": acting_parameters(pol),
                **latency_us(pol, m.window, m.doc["obs"]["obs_dim"], m.doc["meta_dim"], s["latency_calls"]),
            }
            C.log(f"{b}: {info[b]}")
    C.log("evaluating")
    res = C.evaluate_seed_models(models, chosen, seeds, names, [], s["eval_seeds"], s["eval_seconds"])
    # PPR vs C.REFERENCE (stock), schedutil reported next to it
    cells = C.seed_cells(res, names, chosen, seeds, ("schedutil",))
    wall = time.perf_counter() - t0
    per_seed = C.seed_summary(res, chosen, seeds)
    summary = {}
    for b in chosen:
        done = [walls[(b, sd)] for sd in seeds if walls[(b, sd)] is not None]
        summary[b] = {
            "mean_ppr_norm": float(np.mean([cells[(t, b)]["ppr"] for t in names])),
            "mean_qoe": float(np.mean([cells[(t, b)]["qoe"] for t in names])),
            "std_ppr_norm": per_seed[b]["ppr_std"] if n > 1 else None,
            "std_qoe": per_seed[b]["qoe_std"] if n > 1 else None,
            "per_seed": per_seed[b]["per_seed"],
            "train_wall_s": float(np.mean(done)) if done else None,
            **info[b],
        }
    window = models[(chosen[0], seeds[0])].window
    md = [
        "# Backbone ablation",
        "",
        f"{len(names)} tasks, one conditioned model per backbone, {s['per_task_steps']:,} environment steps per task "
        f"({s['envs_per_task']} simulated phones per task), "
        + (f"training seed {seeds[0]}" if n == 1 else f"{n} training seeds ({', '.join(map(str, seeds))})")
        + f"; evaluation seeds {res.seeds}, "
        f"{res.seconds:g} s episodes. Network: {s['base']['network'] | {'backbone': '…'}}. Latency: batch 1, window "
        f"{window}, one CPU thread of this (shared, noisy) 2-core machine, {s['latency_calls']} calls "
        "after a warm-up; *network* = features → policy MLP → action logits in PyTorch, *SB3 predict* = the "
        "deterministic action through SB3 (distribution objects included). The exported on-phone governor "
        "(`metadvfs export`) is measured separately in docs/deploy.md."
        + ("" if not subset else f" Backbones: {', '.join(chosen)} only (`--backbones`), not the whole ablation."),
        "",
    ]
    md += C.md_table(
        [
            "backbone",
            "mean PPR norm" + ("" if n == 1 else f" (± std over {n} training seeds)"),
            "mean QoE" + ("" if n == 1 else f" (± std over {n} training seeds)"),
            "parameters (policy)",
            "parameters (acting path)",
            "network µs (median / p90)",
            "SB3 predict µs (median / p90)",
            "train wall s" + ("" if n == 1 else " (mean per seed)"),
        ],
        [_summary_row(b, e) for b, e in summary.items()],
    )
    spread = "std over evaluation seeds" if n == 1 else "std over training seeds"
    md += ["", f"Per task: PPR normalised to {C.REFERENCE} (mean ± {spread}) / QoE.", ""]
    md += C.md_table(
        ["task", *chosen],
        [
            [
                t,
                *(
                    f"{cells[(t, b)]['ppr']:.3f}±{cells[(t, b)]['ppr_std']:.3f} / {cells[(t, b)]['qoe']:.3f}"
                    for b in chosen
                ),
            ]
            for t in names
        ],
    )
    md += ["", "![backbones](backbone.png)"]
    plot(a.out / "backbone.png", summary)
    C.write_report(
        a.out,
        md,
        {
            "settings": s,
            "backbones": list(chosen),
            "train_seeds": seeds,
            "tasks": names,
            "eval_seeds": res.seeds,
            "summary": summary,
            "cells": {f"{t}|{b}": c for (t, b), c in cells.items()},
        },
        wall,
    )
    C.log(f"report: {a.out / 'results.md'}")


def _summary_row(b: str, e: dict[str, Any]) -> list[str]:
    wall = "-" if e["train_wall_s"] is None else f"{e['train_wall_s']:.0f}"
    pm = lambda v, sd: f"{v:.3f}" if sd is None else f"{v:.3f} ± {sd:.3f}"  # noqa: E731
    return [
        b,
        pm(e["mean_ppr_norm"], e.get("std_ppr_norm")),
        pm(e["mean_qoe"], e.get("std_qoe")),
        f"{e['parameters']:,}",
        f"{e['acting_parameters']:,}",
        f"{e['net_median_us']:.0f} / {e['net_p90_us']:.0f}",
        f"{e['sb3_median_us']:.0f} / {e['sb3_p90_us']:.0f}",
        wall,
    ]


def plot(path: Path, summary: dict[str, Any]) -> None:
    """Mean PPR norm and median latency per backbone."""
    plt = C.matplotlib_agg()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0))
    bs = list(summary)
    axes[0].bar(bs, [summary[b]["mean_ppr_norm"] for b in bs], color="tab:blue")
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[0].set_ylabel(f"mean PPR / {C.REFERENCE}")
    axes[1].bar(bs, [summary[b]["net_median_us"] for b in bs], color="tab:orange")
    axes[1].set_ylabel("batch-1 network latency, µs (median)")
    fig.tight_layout()
    C.savefig(fig, path)


if __name__ == "__main__":
    main()
