"""CAVIA on the quick leave-one-device-out fold: meta-train a context-steerable init, adapt it by its context only.

Same fold as ``adaptation.py --quick`` (Pixel 8 held out): CAVIA meta-training (``meta.algo: cavia``; the quick
FOMAML settings with an inner step of 0.5 on the context) on the 6 training tasks, then ``metadvfs adapt``'s
``meta`` method with this checkpoint (context-only adaptation) on pixel8:3dmark for 3 seeds, with the same budget,
evaluation episodes, QoE floor and reference as the adaptation experiment.

Run from the repository root after ``python experiments/adaptation.py --quick`` (reuses its fold model)::

    python experiments/cavia_quick.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import adaptation as A


def main() -> None:
    """Meta-train (cached), adapt, write results/cavia/quick."""
    from metadvfs.learn.config import MetaConfig
    from metadvfs.meta.adapt import adapt
    from metadvfs.meta.train import meta_train

    C.limit_threads()
    t0 = time.perf_counter()
    s, train_tasks, fold = A.quick_pixel8_fold()
    shared = fold / "shared"
    work = C.ROOT / "runs" / "experiments" / "cavia-quick"
    work.mkdir(parents=True, exist_ok=True)
    mcfg = {**s["meta"], "algo": "cavia", "inner_lr": 0.5}
    if not (work / "cavia" / "model.json").is_file():
        cfg = A._config(s, "lodo-pixel8-cavia", train_tasks, "conditioned", None)
        C.log("CAVIA meta-training")
        meta_train(cfg, MetaConfig(**mcfg), work / "cavia")
    runs = []
    for seed in (100, 101, 102):
        C.log(f"adapt pixel8:3dmark seed {seed}")
        runs.append(
            adapt(
                shared,
                "pixel8",
                "3dmark",
                s["budget_minutes"],
                None,
                ["meta"],
                seed,
                s["phones"],
                s["rollout"],
                1,
                s["eval_seeds"],
                s["eval_seconds"],
                s["qoe_margin"],
                meta_model=work / "cavia",
            )
        )
    rows = []
    for r in runs:
        m = r["methods"]["meta"]
        rows.append(
            [
                r["seed"],
                f"{m['zero_shot']['ppr_norm']:.3f} / {m['zero_shot']['qoe']:.3f}",
                f"{m['final']['ppr_norm']:.3f} / {m['final']['qoe']:.3f}",
                "-" if m["minutes_to_95"] is None else f"{m['minutes_to_95']:.2f}",
                f"{min(p[1] for p in m['curve']):.3f} .. {max(p[1] for p in m['curve']):.3f}",
                f"{m['fallback_share']:.1%}",
            ]
        )
    ref = runs[0]["reference"]
    md = [
        "# CAVIA init adapted by its context (quick, pixel8:3dmark held out)",
        "",
        f"Meta settings {mcfg}. Budget {runs[0]['budget_phone_minutes']} phone-minutes; reference PPR "
        f"{ref['ppr_norm']:.3f} / QoE {ref['qoe']:.3f}; stock QoE {runs[0]['stock']['qoe']:.3f}.",
        "",
        *C.md_table(
            [
                "seed",
                "zero-shot PPR / QoE",
                "final PPR / QoE",
                "min to 95 % ref",
                "PPR range on the curve",
                "QoE-floor share",
            ],
            rows,
        ),
    ]
    C.write_report(C.RESULTS / "cavia" / "quick", md, {"meta": mcfg, "runs": runs}, time.perf_counter() - t0)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
