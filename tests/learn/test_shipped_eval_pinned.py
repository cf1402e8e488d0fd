"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed), and re-recorded when Pixels 6 and 8 gained deep idle states (docs/simulator.md 6.1: their power
changed; the pixel3:taobao values are unchanged). A change to the simulator, a governor, the codec, the reward or the
model loading that alters what a user measures fails here; if the change is intended, re-record the values and say
why in the commit.
"""

from __future__ import annotations

import pytest

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver, evaluate

TASKS = ["pixel6:tiktok", "pixel3:taobao", "pixel8:3dmark"]
KEYS = ("ppr", "qoe", "jank_pct", "energy_j")
EXPECTED: dict[str, list[dict[str, float]]] = {
    "metadvfs": [
        {"ppr": 27.064565733432843, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.505353437684772},
        {"ppr": 19.773442745157435, "qoe": 0.43881578947368427, "jank_pct": 82.5, "energy_j": 8.09166122774368},
        {"ppr": 13.32619152099906, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 22.437018072931316},
    ],
    "stock": [
        {"ppr": 27.667124467958462, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.385453055396422},
        {
            "ppr": 20.20249435203532,
            "qoe": 0.4554824561403509,
            "jank_pct": 80.24691358024691,
            "energy_j": 8.018811795073173,
        },
        {
            "ppr": 14.064880825447819,
            "qoe": 0.9933333333333334,
            "jank_pct": 0.33444816053511706,
            "energy_j": 21.258623070521466,
        },
    ],
    "schedutil": [
        {"ppr": 27.67627989724428, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.383671524973842},
        {
            "ppr": 22.617297339074344,
            "qoe": 0.43881578947368427,
            "jank_pct": 79.56204379562044,
            "energy_j": 6.057310824813474,
        },
        {
            "ppr": 14.018096327136428,
            "qoe": 0.9366666666666668,
            "jank_pct": 5.704697986577181,
            "energy_j": 21.258236000499398,
        },
    ],
    "oracle": [
        {"ppr": 27.819827242508737, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.355892353361842},
        {
            "ppr": 25.294617140045904,
            "qoe": 0.5013157894736843,
            "jank_pct": 73.2919254658385,
            "energy_j": 6.364990587072702,
        },
        {"ppr": 14.981309300976038, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 19.958202183337875},
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
