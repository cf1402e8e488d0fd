"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed). A change to the simulator, a governor, the codec, the reward or the model loading that alters
what a user measures fails here; if the change is intended, re-record the values and say why in the commit.
"""

from __future__ import annotations

import pytest

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver, evaluate

TASKS = ["pixel6:tiktok", "pixel3:taobao", "pixel8:3dmark"]
KEYS = ("ppr", "qoe", "jank_pct", "energy_j")
EXPECTED: dict[str, list[dict[str, float]]] = {
    "metadvfs": [
        {"ppr": 25.20324812250731, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.911936401044206},
        {"ppr": 19.773442745157435, "qoe": 0.43881578947368427, "jank_pct": 82.5, "energy_j": 8.09166122774368},
        {
            "ppr": 13.129218276584702,
            "qoe": 0.9766666666666666,
            "jank_pct": 2.0066889632107023,
            "energy_j": 22.773633106035827,
        },
    ],
    "stock": [
        {"ppr": 25.818818875470587, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.770984362943064},
        {
            "ppr": 20.20249435203532,
            "qoe": 0.4554824561403509,
            "jank_pct": 80.24691358024691,
            "energy_j": 8.018811795073173,
        },
        {
            "ppr": 13.871554398006158,
            "qoe": 0.9933333333333334,
            "jank_pct": 0.33444816053511706,
            "energy_j": 21.55490231455078,
        },
    ],
    "schedutil": [
        {"ppr": 25.96850074569445, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.7377205353183145},
        {
            "ppr": 22.617297339074344,
            "qoe": 0.43881578947368427,
            "jank_pct": 79.56204379562044,
            "energy_j": 6.057310824813474,
        },
        {
            "ppr": 13.853016637813706,
            "qoe": 0.9366666666666668,
            "jank_pct": 5.704697986577181,
            "energy_j": 21.511560102120157,
        },
    ],
    "oracle": [
        {"ppr": 26.086982073834555, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.711661072111831},
        {
            "ppr": 25.294617140045904,
            "qoe": 0.5013157894736843,
            "jank_pct": 73.2919254658385,
            "energy_j": 6.364990587072702,
        },
        {"ppr": 14.795179693191317, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 20.20928479412782},
    ],
}


def test_shipped_model_evaluation_is_pinned() -> None:
    m = load_checkpoint("default")
    res = evaluate([ModelDriver(m, list(TASKS))], ["oracle"], TASKS, 1, 5.0)
    assert sorted(res.raw) == sorted(EXPECTED)
    for method, rows in EXPECTED.items():
        for task, want, got in zip(TASKS, rows, res.raw[method], strict=True):
            for k in KEYS:
                assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-12), (method, task, k)
