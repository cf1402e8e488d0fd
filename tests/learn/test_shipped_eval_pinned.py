"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed; re-recorded after the GPU calibration changed the GPU throughputs and power curves). A change to the
simulator, a governor, the codec, the reward or the model loading that alters what a user measures fails here; if the
change is intended, re-record the values and say why in the commit.
"""

from __future__ import annotations

import pytest

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver, evaluate

TASKS = ["pixel6:tiktok", "pixel3:taobao", "pixel8:3dmark"]
KEYS = ("ppr", "qoe", "jank_pct", "energy_j")
EXPECTED: dict[str, list[dict[str, float]]] = {
    "metadvfs": [
        {"ppr": 26.879745063146316, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.543207335112996},
        {"ppr": 21.741095730623833, "qoe": 0.43881578947368427, "jank_pct": 82.5, "energy_j": 7.359334689586458},
        {"ppr": 21.94262996780787, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 13.626443158302546},
    ],
    "stock": [
        {"ppr": 27.45114927788277, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.427823749443103},
        {
            "ppr": 22.024279559951797,
            "qoe": 0.4554824561403509,
            "jank_pct": 80.24691358024691,
            "energy_j": 7.355518692860006,
        },
        {"ppr": 21.79404284104511, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 13.719345335822135},
    ],
    "schedutil": [
        {"ppr": 27.623749201357853, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.39390938260748},
        {
            "ppr": 23.70854879500585,
            "qoe": 0.43881578947368427,
            "jank_pct": 79.56204379562044,
            "energy_j": 5.778506360071213,
        },
        {
            "ppr": 22.019827649657486,
            "qoe": 0.9466666666666667,
            "jank_pct": 4.697986577181208,
            "energy_j": 13.533257604976548,
        },
    ],
    "oracle": [
        {"ppr": 27.670416727864875, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.384812287628212},
        {
            "ppr": 27.432475685271736,
            "qoe": 0.5013157894736843,
            "jank_pct": 73.2919254658385,
            "energy_j": 5.868956263631705,
        },
        {"ppr": 23.093701477775266, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 12.947253184499212},
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
