"""Negative-transfer guard: detection rule, guarded checkpoint routing, end-to-end flow, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch as th
from typer.testing import CliRunner

from metadvfs.cli import app
from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.meta.guard import better, detect, guard, task_model_id, write_guarded_checkpoint
from metadvfs.tasks.task import make_task

runner = CliRunner()


# ---------------------------------------------------------------- detection on synthetic per-seed metrics


def _qoe(n: int, v: float = 0.99) -> list[float]:
    return [v] * n


def test_clear_ppr_loss_is_flagged() -> None:
    base = [1.00, 1.02, 0.98, 1.01]
    shared = [b - 0.05 + e for b, e in zip(base, [0.004, -0.003, 0.002, -0.001], strict=True)]
    c = detect(shared, base, _qoe(4), _qoe(4))
    assert c.ppr_flag and c.flagged and not c.qoe_flag
    assert c.ppr_diff == pytest.approx(-0.0495)
    assert c.ppr_tol == pytest.approx(max(0.005, 2 * c.ppr_stderr))
    assert "ppr_norm" in c.reasons[0]


def test_noisy_difference_within_two_stderr_is_not_flagged() -> None:
    base = [1.0, 1.0, 1.0, 1.0]
    shared = [0.95, 1.04, 0.97, 1.02]  # mean -0.005, stderr ~0.02
    c = detect(shared, base, _qoe(4), _qoe(4))
    assert not c.flagged
    assert c.ppr_tol == pytest.approx(2 * np.std(np.array(shared) - 1.0, ddof=1) / 2.0)


def test_floor_applies_to_consistent_tiny_losses() -> None:
    base = [1.0, 1.1, 0.9]
    tiny = detect([b - 0.003 for b in base], base, _qoe(3), _qoe(3))
    assert not tiny.flagged and tiny.ppr_tol == pytest.approx(0.005) and tiny.ppr_stderr == pytest.approx(0.0)
    real = detect([b - 0.006 for b in base], base, _qoe(3), _qoe(3))
    assert real.ppr_flag
    gain = detect([b + 0.2 for b in base], base, _qoe(3), _qoe(3))
    assert not gain.flagged and gain.ppr_diff == pytest.approx(0.2)


def test_qoe_drop_beyond_tolerance_is_flagged() -> None:
    p = [1.2, 1.2]
    assert detect(p, p, [0.975, 0.975], [0.99, 0.99]).qoe_flag
    assert not detect(p, p, [0.985, 0.985], [0.99, 0.99]).flagged
    assert detect(p, p, [0.5, 0.5], [0.99, 0.99], qoe_tol=0.6).flagged is False


@pytest.mark.parametrize(
    "args",
    [([], [], [], []), ([1.0, 1.0], [1.0], [1.0, 1.0], [1.0, 1.0]), ([float("nan")], [1.0], [1.0], [1.0])],
)
def test_detect_rejects_bad_lists(args: tuple[list[float], ...]) -> None:
    with pytest.raises(MetaDVFSError, match="guard"):
        detect(*args)


def test_better_prefers_ppr_unless_qoe_drops() -> None:
    assert better(1.1, 0.99, 1.0, 0.99)
    assert not better(1.1, 0.95, 1.0, 0.99)  # higher PPR bought with QoE
    assert better(0.9, 0.99, 1.2, 0.90)  # QoE rescued


# ---------------------------------------------------------------- guarded checkpoint routing


def _perturbed(sd: dict[str, th.Tensor], scale: float) -> dict[str, th.Tensor]:
    g = th.Generator().manual_seed(0)
    return {k: v + scale * th.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in sd.items()}


def _obs(model, n: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "obs": rng.uniform(0, 1, (n, model.window, 26)).astype(np.float32),
        "meta": rng.uniform(0, 1, (n, model.doc["meta_dim"])).astype(np.float32),
    }


def test_task_specific_model_is_routed(tiny_model: Path, tmp_path: Path) -> None:
    src = load_checkpoint(tiny_model)
    sd = _perturbed(src.policies["all"].state_dict(), 0.3)
    out = write_guarded_checkpoint(src, tmp_path / "g", {"pixel3:tiktok": (task_model_id("pixel3:tiktok"), sd, True)})
    g = load_checkpoint(out)
    assert g.model_for(make_task("pixel3", "tiktok")) == "ft-pixel3-tiktok"
    assert g.model_for(make_task("pixel6", "3dmark")) == "all"
    entries = {m["id"]: m["tasks"] for m in g.doc["models"]}
    assert entries == {"all": ["pixel6:3dmark"], "ft-pixel3-tiktok": ["pixel3:tiktok"]}
    o = _obs(g, 64)
    assert np.array_equal(g.act("all", o), src.act("all", o))  # untouched model copied as is
    ref = load_checkpoint(tiny_model)
    ref.policies["all"].load_state_dict(sd)
    assert np.array_equal(g.act("ft-pixel3-tiktok", o), ref.act("all", o))  # the fine-tuned weights
    assert not np.array_equal(g.act("ft-pixel3-tiktok", o), src.act("all", o))


def test_model_left_without_tasks_is_dropped(tiny_model: Path, tmp_path: Path) -> None:
    src = load_checkpoint(tiny_model)
    sd = src.policies["all"].state_dict()
    new = {t: (task_model_id(t), sd, True) for t in src.doc["tasks"]}
    g = load_checkpoint(write_guarded_checkpoint(src, tmp_path / "g", new))
    assert sorted(m["id"] for m in g.doc["models"]) == ["ft-pixel3-tiktok", "ft-pixel6-3dmark"]
    assert not (tmp_path / "g" / "models" / "all.pt").exists()
    assert g.model_for(make_task("pixel6", "3dmark")) == "ft-pixel6-3dmark"


# ---------------------------------------------------------------- end to end (standalone baseline pre-placed)


def _model_with_baseline(tiny_model: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model whose `standalone` baseline is the same network (identical actions)."""
    d = tmp_path / "m"
    shutil.copytree(tiny_model, d, ignore=shutil.ignore_patterns("baselines", "tb", "eval"))
    shutil.copytree(tiny_model, d / "baselines" / "standalone", ignore=shutil.ignore_patterns("baselines", "tb"))
    return d


def test_guard_identical_baseline_flags_nothing(tiny_model: Path, tmp_path: Path) -> None:
    d = _model_with_baseline(tiny_model, tmp_path)
    rep = guard(d, tmp_path / "out", n_seeds=2, seconds=2.0)
    assert rep["summary"]["flagged"] == 0 and rep["summary"]["task_models_added"] == 0
    for r in rep["tasks"]:
        assert r["check"]["ppr_diff"] == pytest.approx(0.0, abs=1e-12) and r["action"] == "none"
    g = load_checkpoint(tmp_path / "out")
    assert [m["id"] for m in g.doc["models"]] == ["all"] and g.doc["train"]["guard"]["summary"]["flagged"] == 0
    assert (tmp_path / "out" / "guard.md").read_text().count("| no |") == 2


def test_guard_normalises_ppr_to_the_evaluation_reference(tiny_model: Path, tmp_path: Path) -> None:
    """The guard's ``ppr_norm`` is the evaluation's (``metadvfs evaluate``, the experiments): PPR over the stock
    governor's on the same validation seed, not schedutil's."""
    from metadvfs.learn.evaluate import REFERENCE, ModelDriver, run_driver, run_stock

    d = _model_with_baseline(tiny_model, tmp_path)
    task, seeds = "pixel3:tiktok", [20000, 20001]
    rep = guard(d, tmp_path / "out", tasks=[task], n_seeds=2, seconds=2.0)
    assert REFERENCE == "stock" and rep["reference"] == REFERENCE
    own = run_driver(ModelDriver(load_checkpoint(d), [task] * 2, "m"), [task], seeds, 2.0)
    ref, sched = run_stock(REFERENCE, [task], seeds, 2.0), run_stock("schedutil", [task], seeds, 2.0)
    (r,) = rep["tasks"]
    norm = [r["shared"]["ppr_norm_seeds"][i] for i in range(2)]
    assert norm == pytest.approx([o["ppr"] / s["ppr"] for o, s in zip(own, ref, strict=True)])
    assert norm != pytest.approx([o["ppr"] / s["ppr"] for o, s in zip(own, sched, strict=True)])
    assert "stock on the same seeds is the PPR reference" in (tmp_path / "out" / "guard.md").read_text()


def test_guard_flags_finetunes_and_routes(tiny_model: Path, tmp_path: Path) -> None:
    d = _model_with_baseline(tiny_model, tmp_path)
    # a QoE tolerance of -1 flags every task (QoE gaps are never below -1): exercises fine-tune + re-check
    rep = guard(d, tmp_path / "out", tasks=["pixel3:tiktok"], n_seeds=2, seconds=2.0, qoe_tol=-1.0, finetune_steps=128)
    (r,) = rep["tasks"]
    assert r["check"]["flagged"] and r["recheck"]["flagged"] and r["action"] == "unresolved"
    assert r["kept"] in ("shared", "finetuned") and r["finetuned"]["ppr_norm"] > 0
    keep_ft = better(r["finetuned"]["ppr_norm"], r["finetuned"]["qoe"], r["shared"]["ppr_norm"], r["shared"]["qoe"])
    assert r["kept"] == ("finetuned" if keep_ft else "shared")
    g = load_checkpoint(tmp_path / "out")
    assert g.model_for(make_task("pixel3", "tiktok")) == r["new_model"]
    assert r["new_model"] == ("ft-pixel3-tiktok" if keep_ft else "all")
    saved = json.loads((tmp_path / "out" / "guard.json").read_text())
    assert saved["summary"]["unresolved"] == 1 and saved["seeds"] == [20000, 20001]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (["--model", "/nonexistent/model"], "no such checkpoint"),
        (["--seeds", "1"], "--seeds"),
        (["--seconds", "0"], "--seconds"),
        (["--tasks", "pixel8:weibo"], "not a training task"),
        (["--tasks", "pixel8"], "DEVICE:APP"),
        (["--steps", "0"], "--steps"),
    ],
)
def test_cli_bad_input_is_one_line(tiny_model: Path, tmp_path: Path, extra: list[str], msg: str) -> None:
    args = ["guard", "--model", str(tiny_model), "--out", str(tmp_path / "o"), *extra]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in r.output
    assert msg in err


def test_standalone_model_or_busy_out_is_an_error(tiny_model: Path, tmp_path: Path) -> None:
    d = tmp_path / "sa"
    shutil.copytree(tiny_model, d)
    doc = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(json.dumps({**doc, "mode": "standalone"}))
    with pytest.raises(MetaDVFSError, match="shares nothing"):
        guard(d, tmp_path / "o1")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(MetaDVFSError, match="not empty"):
        guard(tiny_model, busy)


def test_guard_against_stock_compares_with_the_stock_governor_and_trains_no_baseline(
    tiny_model: Path, tmp_path: Path
) -> None:
    from metadvfs.learn.evaluate import REFERENCE, ModelDriver, run_driver, run_stock

    d = tmp_path / "m"
    shutil.copytree(tiny_model, d, ignore=shutil.ignore_patterns("baselines", "tb", "eval"))
    task, seeds = "pixel3:tiktok", [20000, 20001]
    rep = guard(d, tmp_path / "out", tasks=[task], n_seeds=2, seconds=2.0, against="stock", finetune_steps=128)
    assert rep["against"] == "stock" and not (d / "baselines").exists()  # nothing trained for the baseline
    (r,) = rep["tasks"]
    assert r["baseline"]["ppr_norm_seeds"] == [1.0, 1.0]
    stock = run_stock(REFERENCE, [task], seeds, 2.0)
    assert r["baseline"]["qoe_seeds"] == pytest.approx([s["qoe"] for s in stock])
    own = run_driver(ModelDriver(load_checkpoint(d), [task] * 2, "m"), [task], seeds, 2.0)
    diff = np.mean([o["ppr"] / s["ppr"] for o, s in zip(own, stock, strict=True)]) - 1.0
    assert r["check"]["ppr_diff"] == pytest.approx(diff)
    assert r["check"]["flagged"] == (r["action"] != "none")
    md = (tmp_path / "out" / "guard.md").read_text()
    assert md.startswith("# Guard against the stock governor") and "| stock PPR / QoE |" in md
    assert "minus stock" in rep["criterion"]
    with pytest.raises(MetaDVFSError, match="--against: must be one of standalone, stock"):
        guard(d, tmp_path / "o2", against="schedutil")


def test_reports_written_before_against_still_render(tiny_model: Path, tmp_path: Path) -> None:
    from metadvfs.meta.guard import to_markdown

    d = _model_with_baseline(tiny_model, tmp_path)
    rep = guard(d, tmp_path / "out", tasks=["pixel3:tiktok"], n_seeds=2, seconds=2.0)
    old = {k: v for k, v in rep.items() if k != "against"}
    old["tasks"] = [
        {**{k: v for k, v in t.items() if k != "baseline"}, "standalone": t["baseline"]} for t in rep["tasks"]
    ]
    assert to_markdown(old) == to_markdown(rep)
    assert to_markdown(rep).startswith("# Negative-transfer guard") and "| standalone PPR / QoE |" in to_markdown(rep)


def test_a_shipped_source_is_named_not_located(tiny_model: Path) -> None:
    from metadvfs.learn.checkpoint import resolve_model_dir
    from metadvfs.paths import source_name

    assert source_name(resolve_model_dir("default")) == "default"
    assert source_name(tiny_model) == str(tiny_model)  # outside the working directory: as given


def test_a_source_under_the_working_directory_is_recorded_relative(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metadvfs.paths import source_name

    monkeypatch.chdir(tiny_model.parent)
    assert source_name(tiny_model) == tiny_model.name
    assert source_name(tiny_model / "sub") == f"{tiny_model.name}/sub"
