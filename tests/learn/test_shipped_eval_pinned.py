"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed), and re-recorded on branch ``jank`` (issue 9: HWUI's jank rule, UI phases at the panel's refresh
rate: the governors' QoE and jank change, e.g. pixel3:taobao's ``stock`` janks 3.1 % instead of 80 %; the model
observes QoE, so its actions and PPR change too). A change to the simulator, a governor, the codec, the reward or
the model loading that alters what a user measures fails here; if the change is intended, re-record the values
and say why in the commit.
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
        {
            "ppr": 21.615174939652086,
            "qoe": 0.9311403508771929,
            "jank_pct": 4.45859872611465,
            "energy_j": 7.263415653046158,
        },
        {
            "ppr": 13.160833571751057,
            "qoe": 0.9833333333333332,
            "jank_pct": 0.6688963210702341,
            "energy_j": 22.71892569493361,
        },
    ],
    "stock": [
        {"ppr": 25.818818875470587, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.770984362943064},
        {
            "ppr": 20.20249435203532,
            "qoe": 0.9603070175438596,
            "jank_pct": 3.0864197530864197,
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
            "qoe": 0.8400438596491228,
            "jank_pct": 6.569343065693431,
            "energy_j": 6.057310824813474,
        },
        {
            "ppr": 13.853016637813706,
            "qoe": 0.9833333333333332,
            "jank_pct": 0.33557046979865773,
            "energy_j": 21.511560102120157,
        },
    ],
    "oracle": [
        {"ppr": 26.086982073834555, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.711661072111831},
        {
            "ppr": 24.61036642845343,
            "qoe": 0.9675438596491228,
            "jank_pct": 1.2422360248447204,
            "energy_j": 6.54195866884204,
        },
        {"ppr": 13.94653491817527, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 21.439017057229037},
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
