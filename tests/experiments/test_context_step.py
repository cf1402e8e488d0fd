"""``experiments/context_step.py``: the diagnostic's summary and its bad input (no model needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import context_step as S


def _run(step: float | None, start: float, final: float) -> dict:
    return {"min95": step, "zs": {"ppr_norm": start}, "final": {"ppr_norm": final}}


def test_summary_counts_never_reached_at_the_budget_and_drift() -> None:
    rows = [_run(0.0, 1.00, 1.00), _run(None, 1.00, 0.95), _run(5.0, 1.00, 0.995)]
    line = S.summary("x", rows, 20.0)
    # mean of 0, 20 (never reached counts at the budget) and 5; one run drifted more than 0.01 under its start
    assert line.startswith("x: 3 runs, min to 95 % 8.33 ± ")
    assert "never 1, within 3.5 min 1, drifted (final < start - 0.01) 1, final PPR 0.982" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [(["x"], "error: lrs: not a comma-separated list"), (["0"], "error: lrs: give step sizes > 0"),
     (["0.05", "--first", "0"], "error: --first: must be in [1, 45], got 0"),
     (["0.05", "--fold", "weibo"], "error: --fold: expected app:NAME or device:NAME, got 'weibo'"),
     (["0.05", "--fold", "app:nosuch"], "error: "),
     (["0.05", "--fold", "app:weibo", "--first", "46"], "error: --first: must be in [1, 45], got 46")],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    monkeypatch.setattr(sys, "argv", ["context_step.py", *args])
    with pytest.raises(SystemExit) as exc:
        S.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(says)


def test_a_missing_fold_names_its_results_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["context_step.py", "0.05", "--fold", "device:nosuch"])
    with pytest.raises(SystemExit):
        S.main()
    err = capsys.readouterr().err.strip()
    assert "full-margin-gpubound25-qoefloor2-device-nosuch/results.json: cannot read the device:nosuch fold's" in err


def test_a_fold_s_runs_and_models_come_from_its_stored_results() -> None:
    assert S.results_path("app:weibo").parent.name == "full-margin-gpubound25-qoefloor2-app-weibo"
    s, budget, stored, models = S.load_fold("app:weibo")
    assert budget == pytest.approx(20.05, abs=0.01) and s["phones"] == 8 and len(stored) == len(models) == 45
    first = next(iter(models))
    assert first == ("pixel3:weibo", 0, 100) and set(stored[first]) >= {"context", "finetune"}
    # the training seed's shared model in the work directory the fold ran in (seed 0: no @seed suffix)
    work = models[first].parent
    assert models[first].name == "shared" and work.name == "app-weibo"
    assert work.parent.name == "adaptation2-full-margin-gpubound25-qoefloor2"
    assert models[("pixel3:weibo", 2, 100)].parent.name == "app-weibo@seed2"
