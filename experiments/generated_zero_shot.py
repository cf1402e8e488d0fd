"""Zero-shot on a held-out phone: a conditioned model trained with generated tasks vs one on the real tasks only.

Quick leave-one-device-out fold of ``adaptation.py --quick`` (Pixel 8 held out; Pixel 3, 6 x TikTok, Weibo, 3DMark
for training). ``with_generated`` is that fold's shared model (6 real + 6 generated tasks x 30k steps, generated
around Pixel 3 and 6 only, pool ``all``, margin 25 %); ``real_only`` trains the 6 real tasks with the same total
steps (60k per task). Both are evaluated zero-shot on the three Pixel 8 tasks (seeds 10000-10002, 20 s episodes)
against the stock reference and the oracle. One training seed.

Run from the repository root after ``python experiments/adaptation.py --quick`` (reuses its fold model)::

    python experiments/generated_zero_shot.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import adaptation as A

HELD = ["pixel8:tiktok", "pixel8:weibo", "pixel8:3dmark"]


def main() -> None:
    """Train the real-only model (cached), evaluate both, write results/generated_zero_shot/quick."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import ModelDriver, evaluate

    C.limit_threads()
    t0 = time.perf_counter()
    s, train_tasks, work = A.quick_pixel8_fold()
    s2 = {**s, "per_task_steps": 60_000}
    real_only, _ = C.train_cached(
        A._config(s2, "lodo-pixel8-realonly", train_tasks, "conditioned", None), work / "shared-realonly"
    )
    rows_md, data = [], {}
    for name, path in (("with_generated", work / "shared"), ("real_only", real_only)):
        m = load_checkpoint(path)
        res = evaluate([ModelDriver(m, [t for t in HELD for _ in range(3)], name)], ["oracle"], HELD, 3, 20.0)
        by = {(r["app"], r["method"]): r for r in res.rows()}
        data[name] = {"summary": res.summary()["methods"], "rows": res.rows()}
        for t in HELD:
            app = t.split(":")[1]
            r, st, orc = by[(app, name)], by[(app, "schedutil")], by[(app, "oracle")]
            rows_md.append(
                [
                    name,
                    t,
                    f"{r['ppr_norm']:.3f} ± {r['ppr_norm_std']:.3f}",
                    f"{r['qoe']:.3f}",
                    f"{st['qoe']:.3f}",
                    f"{r['ppr_norm'] / orc['ppr_norm']:.3f}",
                ]
            )
        e = data[name]["summary"][name]
        rows_md.append(
            [
                name,
                "**mean**",
                f"**{e['mean_ppr_norm']:.3f}**",
                f"{e['mean_qoe']:.3f}",
                "",
                f"{e['ratio_to_oracle']:.3f}",
            ]
        )
    md = [
        "# Zero-shot on a held-out phone: generated training tasks vs real tasks only",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        *C.md_table(
            ["model", "task", "PPR / stock (mean ± std over seeds)", "QoE", "stock QoE", "PPR / oracle"], rows_md
        ),
    ]
    C.write_report(C.RESULTS / "generated_zero_shot" / "quick", md, data, time.perf_counter() - t0)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
