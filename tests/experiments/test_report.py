"""experiments/report.py: REPORT.md from stored results only (synthetic result files here)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import _report_src as R
import report

from metadvfs.errors import MetaDVFSError

ROOT = Path(__file__).resolve().parents[2]

NUM = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*")

METHODS = {  # mean_ppr_norm, mean_qoe, mean_energy_j
    "metadvfs": (1.0412, 0.8731, 51.2),
    "standalone": (0.9815, 0.8502, 50.1),
    "stock": (1.0, 0.8123, 49.6),
    "schedutil": (1.0334, 0.7711, 47.3),
    "oracle": (1.1277, 0.9466, 45.8),
}
PER_TASK = {  # (task, method): (ppr_norm, qoe, energy_j, jank_pct)
    ("pixel3:tiktok", "metadvfs"): (1.1024, 0.9612, 40.0, 2.25),
    ("pixel3:tiktok", "standalone"): (1.0302, 0.9501, 41.0, 3.5),
    ("pixel3:tiktok", "stock"): (1.0, 0.9433, 42.0, 4.75),
    ("pixel6:3dmark", "metadvfs"): (0.9617, 0.7231, 62.4, 30.5),
    ("pixel6:3dmark", "standalone"): (0.9328, 0.7503, 59.2, 28.25),
    ("pixel6:3dmark", "stock"): (1.0, 0.7398, 57.2, 27.75),
}


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


def _summary(with_std: bool = True) -> dict:
    ms = {}
    for m, (p, q, e) in METHODS.items():
        ms[m] = {"mean_ppr_norm": p, "mean_ppr_norm_schedutil": p / 1.0334, "mean_qoe": q, "mean_jank_pct": 12.5,
                 "mean_energy_j": e, "mean_max_temp_c": 36.25, "tasks_qoe_ok": 2, "tasks_won": 1}  # fmt: skip
        if with_std:
            ms[m].update({"std_ppr_norm": 0.0456, "std_qoe": 0.0123})
    ms["metadvfs"]["training_seeds"] = 3
    return {"command": "metadvfs evaluate --model=default --tasks=all", "started_utc": "2026-12-01T10:00:00Z",
            "wall_s": 4321.0, "git_commit": "abc123", "methods": ms, "reference": "stock", "n_tasks": 2,
            "seeds": [10000, 10001, 10002], "seconds": 60.0}  # fmt: skip


def _csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["device", "app", "method", "ppr_norm", "ppr_norm_std", "qoe", "energy_j", "jank_pct"])
        for (task, m), (p, q, e, j) in PER_TASK.items():
            w.writerow([*task.split(":"), m, p, 0.01, q, e, j])


def _adaptation() -> dict:
    def entry(minutes: float, reached: int) -> dict:
        return {"zero_shot_ppr_norm_mean": 0.9013, "zero_shot_ppr_norm_std": 0.0211, "zero_shot_qoe_mean": 0.9702,
                "zero_shot_ratio_to_oracle_mean": 0.7777, "final_ppr_norm_mean": 1.0188, "final_qoe_mean": 0.9855,
                "vs_reference_minutes_mean": minutes, "vs_reference_minutes_std": 0.4321,
                "vs_reference_reached": reached, "vs_reference_reduction_pct": 12.0,
                "fallback_share_mean": 0.125}  # fmt: skip

    scope = {"n_runs": 4, "meta": entry(2.34, 4), "incremental": entry(7.89, 1), "scratch": entry(8.0, 0)}
    return {"command": "python experiments/adaptation.py --quick", "wall_s": 654.0, "budget_minutes": 8.0,
            "aggregate": {"all": scope, "leave-one-device-out": {**scope, "n_runs": 2}}}  # fmt: skip


def _negative_transfer() -> dict:
    tasks = ["pixel3:tiktok", "pixel6:3dmark"]
    vals = {"standalone": (1.05, 1.10), "joint": (1.0, 1.21), "metadata_groups+guard": (1.0815, 1.0725),
            "schedutil": (1.0, 1.0)}  # fmt: skip
    cells = {f"{t}|{m}": {"ppr": v[i], "ppr_std": 0.01, "qoe": 0.9}
             for m, v in vals.items() for i, t in enumerate(tasks)}  # fmt: skip
    return {"command": "python experiments/negative_transfer.py", "wall_s": 3087.4, "tasks": tasks, "cells": cells,
            "negative_transfer": {"joint": {"ppr": ["pixel3:tiktok"], "qoe": []},
                                  "metadata_groups+guard": {"ppr": [], "qoe": []}},
            "train_wall_s": {"standalone": 90.0},
            "guard_summary": {"flagged": 1, "fixed": 1, "unresolved": 0}}  # fmt: skip


def _backbone() -> dict:
    def b(ppr: float, us: float) -> dict:
        return {"mean_ppr_norm": ppr, "mean_qoe": 0.8, "train_wall_s": 30.0, "parameters": 15701,
                "acting_parameters": 13524, "net_median_us": us, "net_p90_us": us * 2, "sb3_median_us": us * 3,
                "sb3_p90_us": us * 4}  # fmt: skip

    return {"command": "python experiments/backbone.py --quick", "wall_s": 568.7, "tasks": ["pixel3:tiktok"],
            "summary": {"cfc": b(0.9521, 606.5), "mlp": b(0.9656, 95.5)}}  # fmt: skip


@pytest.fixture(name="root")
def root_fixture(tmp_path: Path) -> Path:
    """A repository root with one stored result of every kind."""
    _write(tmp_path / "docs/results/demo/summary.json", _summary())
    _csv(tmp_path / "docs/results/demo/results.csv")
    _write(tmp_path / "experiments/results/adaptation/quick/results.json", _adaptation())
    _write(tmp_path / "experiments/results/negative_transfer/full/results.json", _negative_transfer())
    _write(tmp_path / "experiments/results/backbone/quick/results.json", _backbone())
    return tmp_path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "report.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip


def test_numbers_come_from_the_files(root: Path) -> None:
    text = report.build(root)
    row = next(ln for ln in text.splitlines() if ln.startswith("| metadvfs | 3 |"))
    assert "1.041 ± 0.046" in row and "0.873 ± 0.012" in row and "51.2" in row and "36.2" in row
    assert "Mean over tasks ± its standard deviation between runs: over training seeds for a row" in text
    # the headline sentence: computed from the summary (1.0412 / 1.0 and 0.8731 / 0.8123) and the per-task rows
    assert "mean PPR is 4.1 % higher than stock's and its mean QoE 7.5 % higher than stock's" in text
    assert "from -3.8 % (pixel6:3dmark) to +10.2 % (pixel3:tiktok)" in text
    assert "the best task's PPR is below the paper's +17 %" in text
    # T2: the loss (pixel6:3dmark: PPR below stock's, QoE within 0.01) with its per-task numbers from the CSV
    loss = next(ln for ln in text.splitlines() if ln.startswith("| pixel6:3dmark | 0.962 / 0.723"))
    assert "| 1.000 / 0.740 | -3.8 % | -0.017 | PPR and QoE | +9.1 % | 30.50 vs 27.75 |" in loss
    assert "MetaDVFS loses to stock on 1/2 tasks" in text
    assert "Per device: pixel3 0/1, pixel6 1/1. Per app: tiktok 0/1, 3dmark 1/1." in text
    # T3: meta 2.34 vs incremental 7.89 phone-minutes -> 70.3 % faster
    assert "2.34 ± 0.43 phone-minutes (4/4 runs" in text and "meta-init is 70.3 % faster than incremental" in text
    assert "Censoring: 0 meta-init and 3 incremental runs" in text
    # T4: guard vs standalone per task 1.0815/1.05 and 1.0725/1.10
    assert "ranges from -2.5 % to +3.0 % in PPR against standalone" in text and "on 0/2 tasks" in text
    assert "| joint | 1/2 (1 PPR, 0 QoE) |" in text and "avoided" in text
    # T5/T6
    assert "`mlp` has the highest mean PPR (0.966)" in text and "6.4× faster than `cfc`" in text
    assert "| cfc | 15,701 | 13,524 | 606 / 1213 | 1820 / 2426 |" in text  # 606.5 rounds half to even


def test_every_source_line_names_an_existing_file_and_its_digest(root: Path) -> None:
    text = report.build(root)
    sources = re.findall(r"Source: `([^`]+)` \(sha256 `([0-9a-f]{12})`\)", text)
    assert len(sources) == 4  # T1, T3, T4, T5/T6 (T2 cites the CSV in its own line)
    for rel, digest in sources:
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest()[:12] == digest
    assert "produced by `metadvfs evaluate --model=default --tasks=all`; wall time 72.0 min" in text
    assert "started 2026-12-01T10:00:00Z; commit abc123" in text
    assert "Per-task values from `docs/results/demo/results.csv`" in text


def test_without_results_only_the_paper_figures_are_numbers(tmp_path: Path) -> None:
    text = report.build(tmp_path)
    intro = "\n".join(report.INTRO)
    body = re.sub(r"`[^`]*`", "", text.replace(intro, ""))  # commands and paths are not results
    paper = " ".join(R.PAPER.values())
    allowed = set(NUM.findall(paper)) | {"1", "2", "3", "4", "5", "6"}  # table names T1..T6
    assert set(NUM.findall(body)) <= allowed, set(NUM.findall(body)) - allowed


def test_missing_tables_name_the_command(tmp_path: Path) -> None:
    _write(tmp_path / "experiments/results/backbone/quick/results.json", _backbone())
    text = report.build(tmp_path)
    assert "**Missing.** No `metadvfs evaluate` run in `docs/results/`" in text
    assert "**Missing** (needs the T1 run's per-task results)" in text
    assert "`python experiments/adaptation.py` (or `--quick` for the small version)" in text
    assert "`python experiments/negative_transfer.py`" in text and "No `docs/results/peers*` evaluation" in text
    assert "## T5/T6: backbones (quality, parameters, latency) (quick)" in text
    assert "The full run is missing (no `experiments/results/backbone/full/results.json`)" in text
    assert "`python experiments/cavia_quick.py`" in text and "`python experiments/generator_ranges.py`" in text
    missing = "No `experiments/results/metadata_coverage/results.json`; produce it with `python experiments/"
    assert missing + "metadata_coverage.py`." in text


def test_a_full_run_supersedes_the_quick_one(root: Path) -> None:
    _write(root / "experiments/results/negative_transfer/quick/results.json", {"broken": True})  # not read
    text = report.build(root)
    assert "## T4: negative transfer (full)" in text
    assert "The quick run (`experiments/results/negative_transfer/quick/results.json`) is superseded" in text


def test_sentences_follow_the_data(root: Path) -> None:
    s = _summary()
    s["methods"]["metadvfs"].update(mean_ppr_norm=0.95, mean_qoe=0.80, mean_energy_j=40.0)
    _write(root / "docs/results/demo/summary.json", s)
    text = report.build(root)
    assert "mean PPR is 5.0 % lower than stock's and its mean QoE 1.5 % lower than stock's" in text
    assert "it saves energy at the cost of QoE" in text
    # energy within the printed precision of stock's: the same energy, not "0.0 % higher"
    s["methods"]["metadvfs"].update(mean_qoe=0.85, mean_energy_j=49.6 * 1.0002)
    _write(root / "docs/results/demo/summary.json", s)
    text = report.build(root)
    assert "its mean energy is equal to stock's: it gains QoE at the same energy" in text


def test_flat_names_older_summary_and_markdown_per_task(tmp_path: Path) -> None:
    s = _summary(with_std=False)
    del s["command"], s["wall_s"], s["started_utc"], s["git_commit"]
    _write(tmp_path / "docs/results/old-summary.json", s)
    _write(tmp_path / "docs/results/old.md",
           "Produced by `metadvfs evaluate --seeds 3` (a date).\n\n| task | metadvfs | stock |\n|---|---|---|\n"
           "| pixel3:tiktok | 0.990±0.010 / 0.951 | 1.000±0.000 / 0.940 |\n\nmore text\n")  # fmt: skip
    _write(tmp_path / "docs/results/peers-x/summary.json", _summary())
    text = report.build(tmp_path)
    assert "produced by `metadvfs evaluate --seeds 3`; wall time not recorded in the file" in text
    assert "this summary has no spread between runs" in text and "| metadvfs | 3 | 1.041 | 1.008 | 0.873 |" in text
    assert "Per-task values as printed in `docs/results/old.md`" in text
    assert "| pixel3:tiktok | 0.990 / 0.951 | 1.000 / 0.940 | -1.0 % | +0.011 | PPR |" in text
    assert "### peers-x" in text and "## T1: main table (old)" in text and "T1: main table (peers-x)" not in text


def test_peers_experiment_report_is_a_peers_table(tmp_path: Path) -> None:
    d = tmp_path / "experiments/results/peers/full"
    s = _summary(with_std=False)
    del s["command"], s["wall_s"]
    _write(d / "eval/summary.json", s)
    _csv(d / "eval/results.csv")
    _write(d / "results.json", {"command": "python experiments/peers.py", "wall_s": 7200.0})
    text = report.build(tmp_path)
    assert "### peers-full" in text and "No `docs/results/peers*` evaluation" not in text
    assert ("Source: `experiments/results/peers/full/eval/summary.json` (sha256 " in text
            and "(run record: `experiments/results/peers/full/results.json`" in text)  # fmt: skip
    assert "produced by `python experiments/peers.py`; wall time 2.00 h" in text
    assert "| 3dmark | 0.962 / 0.723 | 0.933 / 0.750 | 1.000 / 0.740 |" in text  # per-app breakdown from the CSV


def test_check_detects_a_stale_report(root: Path) -> None:
    out = root / "experiments" / "REPORT.md"
    assert report.main(["--root", str(root), "--check"]) == 1  # not written yet
    assert report.main(["--root", str(root)]) == 0 and out.is_file()
    assert report.main(["--root", str(root), "--check"]) == 0
    b = _backbone()
    b["summary"]["mlp"]["net_median_us"] = 96.5
    _write(root / "experiments/results/backbone/quick/results.json", b)
    assert report.main(["--root", str(root), "--check"]) == 1
    _write(root / "experiments/results/backbone/quick/results.json", _backbone())
    assert report.main(["--root", str(root), "--check"]) == 0


@pytest.mark.parametrize(
    ("rel", "content", "msg"),
    [
        ("experiments/results/backbone/quick/results.json", "{not json", "invalid JSON at line 1"),
        ("experiments/results/backbone/quick/results.json", "[1, 2]", "expected a JSON object"),
        ("experiments/results/backbone/quick/results.json", {"summary": {"cfc": {"mean_ppr_norm": "high"}}},
         "field 'summary.cfc.mean_ppr_norm' must be a number"),
        ("experiments/results/adaptation/quick/results.json", {"aggregate": {}}, "field 'budget_minutes' missing"),
        ("experiments/results/negative_transfer/full/results.json", {"tasks": ["a:b"], "cells": {},
         "negative_transfer": {}}, "field 'cells.a:b|standalone' missing"),
        ("docs/results/demo/summary.json", {**_summary(), "methods": {"stock": {"mean_ppr_norm": 1.0}}},
         "field 'methods.stock.mean_qoe' missing"),
        ("docs/results/demo/results.csv", "device,app,method,ppr_norm,qoe\npixel3,tiktok,stock,x,1\n",
         "line 2: column 'ppr_norm' must be a number"),
    ],
)  # fmt: skip
def test_bad_results_file_is_a_one_line_error(root: Path, rel: str, content: object, msg: str) -> None:
    _write(root / rel, content)
    out = root / "experiments" / "REPORT.md"
    r = _run("--root", str(root))
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip()
    assert err.startswith(f"error: {rel}: ") and msg in err and "\n" not in err and "Traceback" not in r.stderr
    assert not out.exists()


def test_paper_figures_are_the_ones_docs_method_md_quotes() -> None:
    doc = (ROOT / "docs" / "method.md").read_text(encoding="utf-8")
    for v in R.PAPER.values():
        assert v.lstrip("+").removesuffix(" min") in doc, v


def test_repository_report_builds_fast_from_stored_results() -> None:
    t = time.perf_counter()
    r = _run("--out", "/dev/null", "--check")  # builds in full; /dev/null differs, so the check says stale
    assert r.returncode == 1 and "is stale" in r.stderr, r.stderr
    assert time.perf_counter() - t < 60


def test_negative_transfer_with_several_training_seeds(root: Path) -> None:
    nt = _negative_transfer()
    methods = ["standalone", "joint", "metadata_groups+guard"]
    nt["train_seeds"] = [0, 1, 2]
    nt["summary"] = {m: {"ppr_std": 0.0123, "qoe_std": 0.0042} for m in methods}
    nt["negative_transfer_per_seed"] = {
        "joint": [{"seed": 0, "ppr": ["pixel3:tiktok"], "qoe": []}, {"seed": 1, "ppr": [], "qoe": []},
                  {"seed": 2, "ppr": ["pixel3:tiktok"], "qoe": ["pixel6:3dmark"]}],
        "metadata_groups+guard": [{"seed": s, "ppr": [], "qoe": []} for s in range(3)],
    }  # fmt: skip
    nt["guard_summary_per_seed"] = [{"flagged": f, "fixed": f, "unresolved": 0} for f in (1, 2, 0)]
    _write(root / "experiments/results/negative_transfer/full/results.json", nt)
    text = report.build(root)
    assert "3 training seeds (0, 1, 2): mean ± std over the training seeds" in text
    assert "| standalone | - | 1.075 ± 0.012 | 0.900 ± 0.004 |" in text  # cells (1.05, 1.10) and the stored stds
    assert "| joint | 1/2 (1 PPR, 0 QoE) (per seed 1, 0, 2) |" in text
    assert "training wall time (mean per seed)" in text
    assert "Guard, per training seed: flagged 1, 2, 0 of 2 tasks" in text
    del nt["summary"]
    _write(root / "experiments/results/negative_transfer/full/results.json", nt)
    r = _run("--root", str(root))
    assert r.returncode == 2 and "field 'summary' missing" in r.stderr


def test_single_seed_results_still_render(root: Path) -> None:
    text = report.build(root)  # the fixture's negative-transfer file predates train_seeds
    assert "One training seed (the file predates `train_seeds`)" in text
    assert "| standalone | - | 1.075 | 0.900 |" in text
    nt = {**_negative_transfer(), "train_seeds": [0]}
    _write(root / "experiments/results/negative_transfer/full/results.json", nt)
    assert "One training seed (0); the spread between training runs is not measured." in report.build(root)


def test_peers_with_training_seeds(tmp_path: Path) -> None:
    d = tmp_path / "experiments/results/peers/full"
    s = _summary()
    s["methods"]["ztt"] = {**s["methods"]["standalone"], "training_seeds": 3, "std_ppr_norm": 0.0211}
    _write(d / "eval/summary.json", s)
    _write(d / "results.json", {"command": "python experiments/peers.py --train-seeds 3", "wall_s": 60.0})
    text = report.build(tmp_path)
    assert "| ztt | 3 | 0.982 ± 0.021 |" in text and "| stock | - | 1.000 ± 0.046 |" in text
    assert "over training seeds for a row with `training seeds`" in text


def test_adaptation_with_several_training_seeds(root: Path) -> None:
    """T3 adds the spread over training seeds when the file has it; older files render without the column."""
    before = report.build(root)  # the fixture's adaptation file predates train_seeds
    assert "spread over" not in before and "one training seed for the fold models" not in before
    ad = _adaptation()
    ad["train_seeds"] = [0, 1, 2]
    for scope in ad["aggregate"].values():
        for m in ("meta", "incremental", "scratch"):
            scope[m].update({"zero_shot_ppr_norm_train_seed_std": 0.0123, "zero_shot_qoe_train_seed_std": 0.0045,
                             "vs_reference_minutes_train_seed_std": 0.678})  # fmt: skip
    del ad["aggregate"]["all"]["scratch"]["vs_reference_minutes_train_seed_std"]  # a method without the spread
    _write(root / "experiments/results/adaptation/quick/results.json", ad)
    text = report.build(root)
    assert "fold models trained with 3 training seeds (0, 1, 2)" in text
    assert "spread over 3 training seeds (zero-shot PPR / QoE / min to 95 %)" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| meta |"))
    assert row.endswith("| ± 0.012 / ± 0.004 / ± 0.68 |") and "2.34 ± 0.43 (4/4 reached)" in row
    assert next(ln for ln in text.splitlines() if ln.startswith("| scratch |")).endswith("| - |")
    _write(root / "experiments/results/adaptation/quick/results.json", {**_adaptation(), "train_seeds": [0]})
    text = report.build(root)
    assert "one training seed for the fold models" in text and "spread over" not in text


def test_adaptation_states_what_its_runs_cost(root: Path) -> None:
    """A pooled invocation takes seconds; T3 sums the runs' own wall times next to it (none: no line)."""
    assert "Cost: the" not in report.build(root)
    ad = _adaptation()
    ad["runs"] = [{"wall_s": 100.0}, {"wall_s": 3500.0}, {"wall_s": 3600.0}, {"task": "no wall time"}]
    _write(root / "experiments/results/adaptation/quick/results.json", ad)
    text = report.build(root)
    assert "Cost: the 3 adaptation runs' own wall times (each run's `wall_s`, all methods) sum to 2.0 h (median " \
           "3500 s per run)" in text  # fmt: skip
    assert "which reused models or runs already made" in text  # no fold timings: nothing says it trained them
    # what the provenance line's wall time covers: trained here, reused from an earlier invocation, a pool
    trained, reused = {"shared_train_s": 900.0, "meta_train_s": 700.0}, {"shared_train_s": None, "meta_train_s": 700.0}
    for extra, says in (
        ({"folds": [{"timing": trained}]}, "which trained its fold models itself"),
        ({"folds": [{"timing": reused}]}, "which reused models or runs"),
        ({"sources": ["a", "b"]}, "which pooled the stored results it names and trained or adapted nothing"),
    ):
        _write(root / "experiments/results/adaptation/quick/results.json", {**ad, **extra})
        assert says in report.build(root)


def _coverage(phone_inside: bool) -> dict:
    f = {"field": "gpu_capacity_gcps", "value": 2.17, "lo": 0.27, "hi": 1.99}
    heldout = {
        "pixel8:tiktok": {"real": [f], "real+generated": [] if phone_inside else [f]},
        "pixel8:3dmark": {"real": [f], "real+generated": [f]},
    }
    return {
        "command": "python experiments/metadata_coverage.py",
        "wall_s": 1.0,
        "settings": {"tolerance": 0.1},
        "folds": {"device:pixel8": {"heldout": heldout}, "app:kwai": {"heldout": {"pixel3:kwai": {"real": [],
                  "real+generated": []}}}},
    }  # fmt: skip


def test_coverage_section_counts_the_folds_and_its_sentence_follows_the_data(tmp_path: Path) -> None:
    _write(tmp_path / "experiments/results/metadata_coverage/results.json", _coverage(phone_inside=False))
    text = report.build(tmp_path)
    assert "### Metadata coverage of the held-out tasks (complete)" in text
    assert "2/3 against the real training tasks, 2/3 with the generated ones" in text
    assert "| device:pixel8 | 2 | 2 | 2 | gpu_capacity_gcps |" in text and "| app:kwai | 1 | 0 | 0 | - |" in text
    assert "Every held-out phone is outside in some field" in text
    _write(tmp_path / "experiments/results/metadata_coverage/results.json", _coverage(phone_inside=True))
    text = report.build(tmp_path)
    assert "2/3 against the real training tasks, 1/3 with the generated ones" in text
    assert "Every held-out phone" not in text


def _sensitivity(quick_entropy: float) -> dict:
    def model(e: float) -> dict:
        return {"entropy": [e, None, e, e], "changed": {"other phone": [0.5, None, 0.25, 0.125],
                "other app": [0.0, None, 0.0, 0.0], "zeros": [None] * 4}}  # fmt: skip

    return {"command": "python experiments/metadata_sensitivity.py", "wall_s": 1.0,
            "models": {"shipped default": model(0.5), "quick Pixel 8 fold, absolute, training seed 0":
                       model(quick_entropy)}}  # fmt: skip


def test_sensitivity_section_and_its_sentence_follow_the_data(tmp_path: Path) -> None:
    rel = "experiments/results/metadata_sensitivity/results.json"
    _write(tmp_path / rel, _sensitivity(0.05))
    text = report.build(tmp_path)
    assert "| shipped default | 0.50/-/0.50/0.50 | 0.50/-/0.25/0.12 | 0.00/-/0.00/0.00 | -/-/-/- |" in text
    assert "The quick experiments' models have mean action entropy 0.05: they are close to fixed settings" in text
    _write(tmp_path / rel, _sensitivity(0.6))
    assert "close to fixed settings" not in report.build(tmp_path)


def test_full_fold_subsets_show_until_the_full_run_exists(root: Path) -> None:
    sub = {**_adaptation(), "command": "python experiments/adaptation.py --folds device:pixel8",
           "budget_minutes": 20.0533, "settings": {"folds": [["device", "pixel8"]]}}  # fmt: skip
    sub["aggregate"]["all"]["meta"]["vs_reference_minutes_mean"] = 14.96
    _write(root / "experiments/results/adaptation/full-device-pixel8/results.json", sub)
    _write(root / "experiments/results/adaptation/full-device-pixel8-zero-shot/summary.json", {"not": "adaptation"})
    text = report.build(root)
    assert "### Full setting, fold subset: device:pixel8 (full-device-pixel8)" in text
    part = text.split("### Full setting, fold subset")[1]
    assert "14.96 ± 0.43" in part and "budget 20.1 phone-minutes" in part
    assert "produced by `python experiments/adaptation.py --folds device:pixel8`" in part
    pool = {**sub, "command": "python experiments/adaptation.py --pool a,b --out x",
            "settings": {"folds": [["device", "pixel8"], ["app", "weibo"]]}}  # fmt: skip
    _write(root / "experiments/results/adaptation/full-zz-pool/results.json", pool)
    heads = [h.split("\n")[0] for h in report.build(root).split("### Full setting, fold subset: ")[1:]]
    assert heads == ["device:pixel8, app:weibo (full-zz-pool)", "device:pixel8 (full-device-pixel8)"]  # pool first
    _write(root / "experiments/results/adaptation/full/results.json", _adaptation())
    assert "fold subset" not in report.build(root)  # the complete full run supersedes the subsets


def _zero_shot_fold(fold: str, ppr: float, oracle: float, qoe_ok: list[bool]) -> dict:
    tasks = [{"task": f"{fold.split(':')[1]}:t{i}", "ppr": ppr + 0.0125 * i, "qoe": 0.9, "stock_qoe": 0.9,
              "qoe_ok": ok} for i, ok in enumerate(qoe_ok)]  # fmt: skip
    return {"fold": fold, "ppr": ppr, "ppr_std": 0.0125, "of_oracle": oracle, "qoe": 0.9125,
            "stock_qoe": 0.9025, "qoe_ok": sum(qoe_ok), "tasks": tasks,
            "per_seed": [{"ppr": ppr - 0.0125}, {"ppr": ppr + 0.0125}]}  # fmt: skip


def test_zero_shot_section_per_variant_and_its_sentence_follows_the_data(root: Path) -> None:
    text = report.build(root)
    assert "No `experiments/results/zero_shot/<variant>/results.json`" in text
    assert "python experiments/zero_shot.py --gpu-bound 0.25 --train-seeds 3" in text
    doc = {"command": "python experiments/zero_shot.py --gpu-bound 0.25", "wall_s": 4321.0,
           "variant": "full-gpubound25",
           "folds": [_zero_shot_fold("device:pixel8", 0.9625, 0.9375, [True, True]),
                     _zero_shot_fold("app:3dmark", 1.0161, 0.9871, [True, False, True])]}  # fmt: skip
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", doc)
    text = report.build(root)
    part = text.split("### Zero-shot on held-out folds (full-gpubound25)")[1].split("###")[0]
    assert "PPR >= stock on 1/2 folds, >= 0.95 of the oracle on 1/2; 4/5 held-out tasks at the QoE floor" in part
    assert "the whole target on 0/2 folds." in part  # 3dmark is above stock and the oracle bar, one task off the floor
    doc["folds"].append(_zero_shot_fold("app:kwai", 1.0, 0.95, [True]))  # the bars are inclusive
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", doc)
    assert "the whole target on 1/3 folds (app:kwai)." in report.build(root)
    doc["folds"].pop()
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", doc)
    row = "| device:pixel8 | 2 | 0.963 ± 0.013 | 0.938 | 0.912 (0.902) | 2/2 | pixel8:t0 0.963 | 0.950 / 0.975 |"
    assert row in part
    assert "| app:3dmark | 3 | 1.016 ± 0.013 | 0.987 | 0.912 (0.902) | 2/3 | 3dmark:t0 1.016 |" in part
    assert "produced by `python experiments/zero_shot.py --gpu-bound 0.25`" in part
    assert "### Zero-shot variants side by side" not in text  # one variant: nothing to compare
    assert "Fold models' training" not in part  # results from before the field: no line
    doc["folds"][0]["model_train_s"] = [1500.0, None]
    doc["folds"][1]["model_train_s"] = [2100.0, 1800.0]
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", doc)
    assert "Fold models' training: 90.0 min of training wall time over 3 models" in report.build(root)
    for f in doc["folds"]:
        del f["model_train_s"]
    _write(
        root / "experiments/results/zero_shot/full-margin/results.json",
        {**doc, "variant": "full-margin", "folds": [_zero_shot_fold("device:pixel8", 1.0075, 0.99, [True, False])]},
    )
    side = report.build(root).split("### Zero-shot variants side by side")[1].split("##")[0]
    assert "| fold | `full-gpubound25` | `full-margin` |" in side
    assert "| device:pixel8 | 0.963 · 0.912 (0.902) · 2/2 | 1.008 · 0.912 (0.902) · 1/2 |" in side
    assert "| app:3dmark | 1.016 · 0.912 (0.902) · 2/3 | - |" in side
    (root / "experiments/results/zero_shot/full-margin/results.json").unlink()
    one = {**_zero_shot_fold("device:pixel3", 0.9071, 0.9171, [True]), "per_seed": [{"ppr": 0.9071}]}
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", {**doc, "folds": [one]})
    assert "| device:pixel3 | 1 | 0.907 | 0.917 | 0.912 (0.902) | 1/1 | pixel3:t0 0.907 | 0.907 |" in report.build(root)
    # tasks with their per-seed QoE: each training seed's model alone is judged at the floor (stock 0.9 - 0.01)
    two = _zero_shot_fold("device:pixel3", 1.0, 0.96, [True, True])
    two["per_seed"] = [{"seed": 0, "ppr": 0.9875}, {"seed": 1, "ppr": 1.0125}]
    two["tasks"][0]["per_seed"] = [{"seed": 1, "qoe": 0.8875}, {"seed": 0, "qoe": 0.95}]  # seed 1 misses
    two["tasks"][1]["per_seed"] = [{"seed": 0, "qoe": 0.89}, {"seed": 1, "qoe": 0.91}]  # 0.89: at the floor
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", {**doc, "folds": [two]})
    assert "| 0.988 (2/2) / 1.012 (1/2) |" in report.build(root)
    two["tasks"][1]["per_seed"] = [{"seed": 0, "qoe": 0.89}, {"seed": 2, "qoe": 0.91}]
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", {**doc, "folds": [two]})
    with pytest.raises(MetaDVFSError, match=r"tasks\[1\]\.per_seed: training seeds \[0, 2\], the fold's are \[0, 1\]"):
        report.build(root)
    _write(root / "experiments/results/zero_shot/full-gpubound25/results.json", {**doc, "folds": []})
    with pytest.raises(MetaDVFSError, match="field 'folds' is empty"):
        report.build(root)


def test_losses_name_the_domain_whose_power_changed_most(root: Path) -> None:
    rows = list(csv.DictReader((root / "docs/results/demo/results.csv").read_text(encoding="utf-8").splitlines()))
    dom = {  # (method, task) -> per-domain (MHz, mW); Pixel 3 has no mid cluster (empty cells, as evaluate writes)
        ("metadvfs", "pixel6:3dmark"): {"little": (300, 82), "mid": (2193, 114), "big": (501, 3), "gpu": (510, 1196)},
        ("stock", "pixel6:3dmark"): {"little": (550, 109), "mid": (686, 36), "big": (500, 3), "gpu": (462, 1164)},
    }
    cols = [f"{q}_{d}_{u}" for d in ("little", "mid", "big", "gpu") for q, u in (("freq", "mhz"), ("power", "mw"))]
    with (root / "docs/results/demo/results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*rows[0], *cols])
        w.writeheader()
        other = {"little": (400, 40), "big": (800, 60), "gpu": (200, 70)}
        for r in rows:
            d = dom.get((r["method"], f"{r['device']}:{r['app']}"), other)
            w.writerow(
                {
                    **r,
                    **{f"freq_{k}_mhz": f for k, (f, _) in d.items()},
                    **{f"power_{k}_mw": p for k, (_, p) in d.items()},
                }
            )
    text = report.build(root)
    assert "largest power change by domain (frequency, MHz: metadvfs vs stock)" in text
    loss = next(ln for ln in text.splitlines() if ln.startswith("| pixel6:3dmark | 0.962 / 0.723"))
    assert loss.endswith("| mid +78 mW (2193 vs 686 MHz) |")  # mid +78 beats little -27 and gpu +32


def _floor_term(default_reward: float) -> dict:
    def row(reward: float, under: float) -> dict:
        return {"reward": reward, "qoe_part": 0.5, "ppr_part": 1.5, "floor_part": -0.02, "shortfall": 0.01,
                "under_floor": under, "qoe": 0.99, "gpu_mhz": 300.0, "big_mhz": 800.0}  # fmt: skip

    return {"command": "python experiments/qoe_floor_term.py", "wall_s": 17.0, "tasks": ["p:a", "p:b"],
            "weights": {"qoe": 0.5, "ppr": 1.5, "qoe_floor": 2.0, "qoe_floor_margin": 0.01},
            "methods": {"stock": [row(2.0, 0.25), row(2.0, 0.75)],
                        "default": [row(default_reward, 0.0), row(2.5, 0.0)]}}  # fmt: skip


def test_floor_term_section_counts_the_tasks_where_stock_earns_more(tmp_path: Path) -> None:
    rel = "experiments/results/qoe_floor_term/results.json"
    text = report.build(tmp_path)
    assert "produce it with `python experiments/qoe_floor_term.py`" in text
    _write(tmp_path / rel, _floor_term(1.5))
    text = report.build(tmp_path)
    assert "| default | 2.0000 | 0.5000 | 1.5000 | -0.0200 | 0.0100 | 0.0 % | 1/2 |" in text
    assert "| stock | 2.0000 | 0.5000 | 1.5000 | -0.0200 | 0.0100 | 50.0 % | - |" in text
    assert "than the default on 1/2 tasks (p:a); the stock governor's own steps fall under" in text
    _write(tmp_path / rel, _floor_term(2.0))  # a tie is not a loss
    assert "than the default on 0/2 tasks; the stock" in report.build(tmp_path)
    doc = _floor_term(1.5)
    del doc["methods"]["stock"]
    _write(tmp_path / rel, doc)
    with pytest.raises(MetaDVFSError, match="stock governor's row is missing"):
        report.build(tmp_path)


def test_backbone_note_compares_the_run_network_with_the_shipped_one(root: Path) -> None:
    assert "backbone run uses" not in report.build(root)  # no network settings in the file, no shipped config
    net = {"backbone": "cfc", "units": 32, "head": [64]}
    cfg = root / "metadvfs/models/default/config.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("network: {backbone: cfc, units: 32, head: [64]}\n")
    _write(
        root / "experiments/results/backbone/quick/results.json",
        {**_backbone(), "settings": {"base": {"network": net}}},
    )
    text = report.build(root)
    assert "the same network settings as the shipped default" in text and "its `cfc` row measures" in text
    cfg.write_text("network: {backbone: cfc, units: 64, head: [64]}\n")
    assert "so T6 is not the shipped architecture's overhead" in report.build(root)


def test_a_pool_of_every_fold_is_t3_and_the_subsets_follow(root: Path) -> None:
    sub = {
        **_adaptation(),
        "command": "python experiments/adaptation.py --folds device:pixel8",
        "settings": {"devices": ["pixel8"], "apps": ["weibo", "kwai"], "folds": [["device", "pixel8"]]},
    }
    _write(root / "experiments/results/adaptation/full-device-pixel8/results.json", sub)
    every = [["device", "pixel8"], ["app", "weibo"], ["app", "kwai"]]
    pool = {**_adaptation(), "command": "python experiments/adaptation.py --pool a,b,c --out x",
            "settings": {**sub["settings"], "folds": every}}  # fmt: skip
    pool["aggregate"]["all"]["meta"]["vs_reference_minutes_mean"] = 1.23
    _write(root / "experiments/results/adaptation/full-pool/results.json", pool)
    text = report.build(root)
    assert "## T3: adaptation to held-out phones and apps (full, every fold pooled)" in text
    assert "### Every fold: 3 folds (full-pool)" in text and "(quick)" not in text.split("## T4")[0]
    t3 = text.split("### Every fold: 3 folds (full-pool)")[1].split("###")[0]
    assert "1.23 ± 0.43" in t3 and "full (every fold, pooled) run" in t3
    assert "The quick run (`experiments/results/adaptation/quick/results.json`) is superseded" in text
    assert "adaptation/full/results.json" not in text
    heads = [h.split("\n")[0] for h in text.split("### Full setting, fold subset: ")[1:]]
    assert heads == ["device:pixel8 (full-device-pixel8)"]  # the complete pool is not a subset
    pool["settings"]["folds"] = every[:2]  # one fold short: a subset again, the quick run is T3
    _write(root / "experiments/results/adaptation/full-pool/results.json", pool)
    text = report.build(root)
    assert "## T3: adaptation to held-out phones and apps (quick)" in text and "Every fold" not in text


def test_adaptation_headline_when_incremental_starts_at_95(root: Path) -> None:
    doc = _adaptation()
    doc["aggregate"]["all"]["incremental"]["vs_reference_minutes_mean"] = 0.0
    _write(root / "experiments/results/adaptation/quick/results.json", doc)
    text = report.build(root)
    assert "incremental is at 95 % of the reference from minute 0, meta-init is not" in text and "nan" not in text
    doc["aggregate"]["all"]["meta"]["vs_reference_minutes_mean"] = 0.0
    _write(root / "experiments/results/adaptation/quick/results.json", doc)
    text = report.build(root)
    assert "both are at 95 % of the reference from minute 0" in text
    assert "the fastest methods are `meta`, `incremental` (0.00 phone-minutes, 100 % less than scratch's 8.00)" in text


def test_met_then_lost_sentence_only_when_every_method_counts_it(root: Path) -> None:
    doc = _adaptation()
    for i, m in enumerate(("meta", "incremental", "scratch")):
        doc["aggregate"]["all"][m]["vs_reference_met_then_lost"] = i
    _write(root / "experiments/results/adaptation/quick/results.json", doc)
    text = report.build(root)
    assert (
        "within 3.5 phone-minutes, then fell back under it, of 4 runs: `meta` 0, `incremental` 1, `scratch` 2" in text
    )
    del doc["aggregate"]["all"]["scratch"]["vs_reference_met_then_lost"]  # a file written before the count
    _write(root / "experiments/results/adaptation/quick/results.json", doc)
    assert "then fell back" not in report.build(root)


def test_full_backbone_subsets_show_until_the_full_run_exists(root: Path) -> None:
    sub = {**_backbone(), "command": "python experiments/backbone.py --backbones cfc,mlp", "backbones": ["cfc", "mlp"],
           "tasks": ["pixel3:tiktok", "pixel6:3dmark"]}  # fmt: skip
    sub["summary"]["mlp"]["mean_ppr_norm"] = 1.0123
    _write(root / "experiments/results/backbone/full-cfc+mlp/results.json", sub)
    text = report.build(root)
    assert "## T5/T6: backbones (quality, parameters, latency) (quick)" in text
    part = text.split("### Full setting, backbone subset: cfc, mlp (full-cfc+mlp)")[1]
    assert "(2 tasks): `mlp` has the highest mean PPR (1.012)" in part
    assert "full (backbone subset) run; produced by `python experiments/backbone.py --backbones cfc,mlp`" in part
    assert "reused models trained earlier" not in part  # 568.7 s of wall time, 30 s of training per model
    sub["wall_s"] = 5.0
    _write(root / "experiments/results/backbone/full-cfc+mlp/results.json", sub)
    assert "The producing invocation took 5 s: it reused models trained earlier" in report.build(root)
    _write(root / "experiments/results/backbone/full/results.json", _backbone())
    assert "backbone subset" not in report.build(root)  # the full run of every backbone supersedes it


def test_backbone_headline_says_which_gaps_exceed_the_seed_spread(root: Path) -> None:
    doc = _backbone()
    assert "seed spread" not in report.build(root)  # one training seed: the spread is unknown
    doc["summary"]["gru"] = {**doc["summary"]["mlp"], "mean_ppr_norm": 0.9600}
    for b, std in (("cfc", 0.002), ("mlp", 0.004), ("gru", 0.010)):
        doc["summary"][b]["std_ppr_norm"] = std
    _write(root / "experiments/results/backbone/quick/results.json", doc)
    assert "seed spread" not in report.build(root)  # standard deviations without the training seeds
    _write(root / "experiments/results/backbone/quick/results.json", {**doc, "train_seeds": [0, 1, 2]})
    assert (
        "Against `mlp`: `gru` within the training-seed spread (a gap no larger than the larger std), so not ranked; "
        "`cfc` 0.014 below (more than the seed spread)." in report.build(root)
    )
