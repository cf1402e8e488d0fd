"""``--train-seeds N`` of experiments/negative_transfer.py and experiments/peers.py (tiny budgets)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import _common as C
import backbone as BB
import negative_transfer as NT
import peers

from metadvfs.learn.evaluate import EvalResult

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["pixel3:tiktok", "pixel6:3dmark"]
SINGLE_SEED_COMMIT = "fa535b2"
"""The last commit whose experiment scripts trained one seed (their numbers are what ``--train-seeds 1`` gives)."""


def test_seed_helpers() -> None:
    assert C.training_seeds(3) == [0, 1, 2] and C.training_seeds(2, base=5) == [5, 6]
    assert C.seed_dir(Path("w/joint"), 0) == Path("w/joint")  # the single-seed layout is reused as it is
    assert C.seed_dir(Path("w/joint"), 2) == Path("w/joint@seed2")
    assert C.seed_label("ztt", 1, 1) == "ztt" and C.seed_label("ztt", 1, 2) == "ztt@seed1"
    assert C.seed_groups(["a"], [0]) == {} and C.seed_groups(["a"], [0, 1]) == {"a": ["a@seed0", "a@seed1"]}
    assert C.seed_spread([1.0, 3.0]) == (2.0, 1.0)


@pytest.mark.parametrize("script", ["negative_transfer.py", "peers.py", "backbone.py", "adaptation.py"])
def test_zero_training_seeds_is_a_one_line_error(script: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / script), "--train-seeds", "0", "--work",
                        str(tmp_path / "w"), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --train-seeds: must be >= 1, got 0" and "Traceback" not in r.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()


def _episode(ppr: float, qoe: float) -> dict[str, float]:
    return {"ppr": ppr, "qoe": qoe, "ppr_soc": ppr, "jank_pct": 1.0, "energy_j": 10.0, "avg_power_w": 1.0,
            "max_temp_c": 40.0, "avg_soc_power_w": 0.5}  # fmt: skip


def _fake_result(n_seeds: int) -> EvalResult:
    """Two tasks x 2 evaluation seeds; stock's PPR is 1, so a cell's PPR is the method's own PPR."""
    rng = np.random.default_rng(7)
    raw: dict[str, list[dict[str, float]]] = {}
    for m in ["standalone", *NT.SHARED]:
        for sd in range(n_seeds):
            raw[C.seed_label(m, sd, n_seeds)] = [_episode(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.8, 1)))
                                                 for _ in range(4)]  # fmt: skip
    for g in ("stock", "schedutil", "oracle"):
        raw[g] = [_episode(1.0, 0.9) for _ in range(4)]
    return EvalResult(TASKS, [10000, 10001], 5.0, raw, "stock", C.seed_groups(["standalone", *NT.SHARED],
                                                                              list(range(n_seeds))))  # fmt: skip


def test_cells_are_mean_and_std_over_training_seeds() -> None:
    res = _fake_result(3)
    methods = ["standalone", *NT.SHARED]
    cells, nt, nt_seed = NT.tabulate(res, TASKS, methods, [0, 1, 2])
    for ti, t in enumerate(TASKS):
        for m in methods:
            per = [float(np.mean(C.per_seed(res, f"{m}@seed{sd}", ti)[0])) for sd in range(3)]
            c = cells[(t, m)]
            assert [p["ppr"] for p in c["per_seed"]] == pytest.approx(per)
            assert c["ppr"] == pytest.approx(np.mean(per)) and c["ppr_std"] == pytest.approx(np.std(per))
    assert len(nt_seed["joint"]) == 3 and set(nt) == set(NT.SHARED)


def test_one_training_seed_gives_the_single_seed_numbers() -> None:
    """N=1: the cells are the old per-task numbers (mean and std over evaluation seeds, the guard's check)."""
    from metadvfs.meta.guard import detect

    res = _fake_result(1)
    cells, nt, _ = NT.tabulate(res, TASKS, ["standalone", *NT.SHARED], [0])
    for ti, t in enumerate(TASKS):
        bp, bq = C.per_seed(res, "standalone", ti)
        for m in ["standalone", *NT.SHARED]:
            p, q = C.per_seed(res, m, ti)
            c = cells[(t, m)]
            assert (c["ppr"], c["ppr_std"], c["qoe"]) == (float(np.mean(p)), float(np.std(p)), float(np.mean(q)))
            if m != "standalone":
                chk = detect(p, bp, q, bq)
                assert c["check"]["ppr_diff"] == chk.ppr_diff and (t in nt[m]["ppr"]) == chk.ppr_flag


def _tiny_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(NT.SETTINGS, "quick", {"tasks": TASKS, "per_task_steps": 128, "envs_per_task": 2,
                                               "eval_seeds": 2, "eval_seconds": 3.0, "guard_seeds": 2,
                                               "guard_seconds": 3.0})  # fmt: skip


def _run_nt(monkeypatch: pytest.MonkeyPatch, work: Path, out: Path, n: int) -> dict[str, Any]:
    _tiny_settings(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["negative_transfer.py", "--quick", "--work", str(work), "--out", str(out),
                                      "--train-seeds", str(n)])  # fmt: skip
    NT.main()
    return json.loads((out / "results.json").read_text())


def _weights(d: Path) -> list[th.Tensor]:
    return [t for f in sorted((d / "models").glob("*.pt")) for t in th.load(f, weights_only=True).values()]


@pytest.mark.slow
def test_negative_transfer_two_training_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    work = tmp_path / "work"
    two = _run_nt(monkeypatch, work, tmp_path / "two", 2)
    assert two["train_seeds"] == [0, 1]
    a, b = _weights(work / "joint"), _weights(work / "joint@seed1")
    assert len(a) == len(b) and any(not th.equal(x, y) for x, y in zip(a, b, strict=True))
    for c in two["cells"].values():
        if "per_seed" in c:
            per = [p["ppr"] for p in c["per_seed"]]
            assert c["ppr"] == pytest.approx(np.mean(per)) and c["ppr_std"] == pytest.approx(np.std(per))
    s = two["summary"]["joint"]
    assert s["ppr_std"] == pytest.approx(np.std([p["ppr"] for p in s["per_seed"]]))
    md = (tmp_path / "two" / "results.md").read_text()
    assert "2 training seeds (0, 1;" in md and "(± std over 2 training seeds)" in md
    assert (work / "metadata_groups+guard@seed1" / "guard.json").is_file()
    g = work / "metadata_groups+guard" / "guard.json"
    doc = json.loads(g.read_text())
    assert doc["reference"] == "stock"
    del doc["reference"]  # as a guard stored before it normalised to stock: run again
    g.write_text(json.dumps(doc))

    # one training seed on the same work directory: seed 0's models are reused (not retrained) and the numbers
    # are seed 0's of the two-seed run, in the single-seed format
    stamp = (work / "joint" / "model.json").stat().st_mtime_ns
    one = _run_nt(monkeypatch, work, tmp_path / "one", 1)
    assert (work / "joint" / "model.json").stat().st_mtime_ns == stamp
    assert json.loads(g.read_text())["reference"] == "stock"
    assert "one training seed (0)" in (tmp_path / "one" / "results.md").read_text()
    for key, c in one["cells"].items():
        if "per_seed" in c:
            assert c["ppr"] == pytest.approx(two["cells"][key]["per_seed"][0]["ppr"], abs=1e-12)

    # the script before --train-seeds (which normalised PPR to schedutil), on the same models: the same numbers as
    # --train-seeds 1 with schedutil as the reference
    monkeypatch.setattr(C, "REFERENCE", "schedutil")
    one = _run_nt(monkeypatch, work, tmp_path / "one-schedutil", 1)
    old = tmp_path / "old_negative_transfer.py"
    src = subprocess.run(["git", "show", f"{SINGLE_SEED_COMMIT}:experiments/negative_transfer.py"], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    old.write_text(src.stdout)
    if src.returncode == 0:  # the commit is in this clone's history
        spec = importlib.util.spec_from_file_location("old_negative_transfer", old)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        monkeypatch.setitem(mod.SETTINGS, "quick", NT.SETTINGS["quick"])
        monkeypatch.setattr(sys, "argv", ["old", "--quick", "--work", str(work), "--out", str(tmp_path / "old")])
        mod.main()
        ref = json.loads((tmp_path / "old" / "results.json").read_text())
        for key, c in ref["cells"].items():
            assert (one["cells"][key]["ppr"], one["cells"][key]["ppr_std"], one["cells"][key]["qoe"]) == (
                c["ppr"], c["ppr_std"], c["qoe"])  # fmt: skip
            assert one["cells"][key].get("check") == c.get("check")
        assert one["negative_transfer"] == ref["negative_transfer"]


def _flat(sd: Any, prefix: str = "") -> dict[str, th.Tensor]:
    """``{path: tensor}`` of nested state dicts."""
    if isinstance(sd, dict):
        return {k: v for key, val in sd.items() for k, v in _flat(val, f"{prefix}/{key}").items()}
    return {prefix: sd}


@pytest.mark.slow
def test_peers_two_training_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["peers.py", "--methods", "ztt", "--tasks", "pixel3:tiktok", "--steps", "300", "--seeds", "2",
            "--seconds", "3", "--work", str(work), "--out", str(out)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", [*argv, "--train-seeds", "2"])
    peers.main()
    d0, d1 = work / "ztt" / "pixel3-tiktok", work / "ztt@seed1" / "pixel3-tiktok"
    assert json.loads((d1 / "baseline.json").read_text())["train"]["seed"] == 1
    w0, w1 = (_flat(th.load(d / "weights.pt", weights_only=True)) for d in (d0, d1))
    assert w0 and w0.keys() == w1.keys() and any(not th.equal(w0[k], w1[k]) for k in w0)
    data = json.loads((out / "results.json").read_text())
    per = [p["mean_ppr_norm"] for p in data["per_seed"]["ztt"]]
    e = data["summary"]["methods"]["ztt"]
    assert e["training_seeds"] == 2 and data["train_seeds"] == [0, 1]
    assert e["mean_ppr_norm"] == pytest.approx(np.mean(per)) and e["std_ppr_norm"] == pytest.approx(np.std(per))
    ev = json.loads((out / "eval" / "summary.json").read_text())["methods"]["ztt"]
    assert ev["training_seeds"] == 2
    assert "2 training seeds (0, 1)" in (out / "results.md").read_text()

    stamp = (d0 / "baseline.json").stat().st_mtime_ns
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "one"), "--train-seeds", "1"])
    peers.main()
    assert (d0 / "baseline.json").stat().st_mtime_ns == stamp  # seed 0 reused
    one = json.loads((tmp_path / "one" / "results.json").read_text())["summary"]["methods"]["ztt"]
    assert "training_seeds" not in one and one["mean_ppr_norm"] == pytest.approx(per[0], abs=1e-12)


def _run_bb(monkeypatch: pytest.MonkeyPatch, work: Path, out: Path, n: int) -> dict[str, Any]:
    monkeypatch.setattr(BB, "BACKBONES", ("mlp", "gru"))
    monkeypatch.setitem(BB.SETTINGS, "quick", {"tasks": TASKS, "per_task_steps": 128, "envs_per_task": 2,
                                               "eval_seeds": 2, "eval_seconds": 3.0, "latency_calls": 20})  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["backbone.py", "--quick", "--work", str(work), "--out", str(out),
                                      "--train-seeds", str(n)])  # fmt: skip
    BB.main()
    return json.loads((out / "results.json").read_text())


def test_backbone_training_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two training seeds: two models per backbone with different weights, cells and summaries the mean and std of
    the per-seed values; one seed on the same work directory reuses seed 0's model and gives its numbers."""
    work = tmp_path / "work"
    two = _run_bb(monkeypatch, work, tmp_path / "two", 2)
    assert two["train_seeds"] == [0, 1]
    a, b = _weights(work / "gru"), _weights(work / "gru@seed1")
    assert len(a) == len(b) and any(not th.equal(x, y) for x, y in zip(a, b, strict=True))
    for key, c in two["cells"].items():
        if key.endswith("|schedutil"):
            continue
        per = [p["ppr"] for p in c["per_seed"]]
        assert c["ppr"] == pytest.approx(np.mean(per)) and c["ppr_std"] == pytest.approx(np.std(per))
    for e in two["summary"].values():
        assert e["std_ppr_norm"] == pytest.approx(np.std([p["ppr"] for p in e["per_seed"]]))
    assert "(± std over 2 training seeds)" in (tmp_path / "two" / "results.md").read_text()
    stamp = (work / "gru" / "model.json").stat().st_mtime_ns
    one = _run_bb(monkeypatch, work, tmp_path / "one", 1)
    assert (work / "gru" / "model.json").stat().st_mtime_ns == stamp
    for key, c in one["cells"].items():
        if not key.endswith("|schedutil"):
            assert c["ppr"] == pytest.approx(two["cells"][key]["per_seed"][0]["ppr"], abs=1e-12)


def test_backbone_subset_reuses_the_work_directory_and_reports_apart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--backbones gru`` after a run of both: the gru model is reused, only gru is evaluated and reported (and
    named in the file); an unknown or empty list is a one-line error, exit 2, nothing written."""
    work = tmp_path / "work"
    both = _run_bb(monkeypatch, work, tmp_path / "both", 1)
    stamp = (work / "gru" / "model.json").stat().st_mtime_ns
    monkeypatch.setattr(sys, "argv", ["backbone.py", "--quick", "--work", str(work), "--out", str(tmp_path / "gru"),
                                      "--train-seeds", "1", "--backbones", "gru"])  # fmt: skip
    BB.main()
    sub = json.loads((tmp_path / "gru" / "results.json").read_text())
    assert (work / "gru" / "model.json").stat().st_mtime_ns == stamp
    assert sub["backbones"] == ["gru"] and list(sub["summary"]) == ["gru"] and both["backbones"] == ["mlp", "gru"]
    assert all(k.endswith(("|gru", "|schedutil")) for k in sub["cells"])
    assert "Backbones: gru only" in (tmp_path / "gru" / "results.md").read_text()
    for bad, msg in (("gru,xyz", "unknown backbone 'xyz'"), (" , ", "empty list")):
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["backbone.py", "--quick", "--work", str(work), "--out",
                                          str(tmp_path / "bad"), "--backbones", bad])  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            BB.main()
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and "\n" not in err and msg in err and not (tmp_path / "bad").exists()
