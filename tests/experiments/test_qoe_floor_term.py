"""experiments/qoe_floor_term.py: the reward split adds up, for the stock replay and for a model's rollout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import qoe_floor_term as QF


def test_reward_parts_add_up_for_stock_and_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from metadvfs.environment.reference import reference_qoe
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.tasks import task_map

    monkeypatch.setattr(QF, "SEEDS", (10_000, 10_001))
    monkeypatch.setattr(QF, "SECONDS", 3.0)
    names = ["pixel5:taobao", "pixel6:3dmark"]
    tm = task_map(names)
    tasks = [tm[n] for n in names]
    w = load_checkpoint("default").cfg.env.reward_weights
    assert w.qoe_floor > 0, "the shipped default trains with the floor term"
    qoe_ref = reference_qoe([t for t in tasks for _ in QF.SEEDS], 10)
    for run in (QF._stock(tasks, w, 10), QF._model("default", tasks, names, w)):
        assert run["reward"].shape == (30, 4)
        rows = QF._per_task(run, qoe_ref, w, len(names))
        for r in rows:  # the phones stay cool in 3 s: no thermal part
            assert r["reward"] == pytest.approx(r["qoe_part"] + r["ppr_part"] + r["floor_part"], abs=1e-6)
            assert r["floor_part"] == pytest.approx(-w.qoe_floor * r["shortfall"])
            assert 0.0 <= r["under_floor"] <= 1.0 and r["gpu_mhz"] > 0
    assert QF._per_task(run, qoe_ref, w, 2)[0] != QF._per_task(QF._stock(tasks, w, 10), qoe_ref, w, 2)[0]
