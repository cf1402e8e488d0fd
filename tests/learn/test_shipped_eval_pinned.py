"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed), re-recorded after the GPU calibration, and on branch ``jank`` (issue 9: HWUI's jank rule, UI
phases at the panel's refresh rate: the governors' QoE and jank change, e.g. pixel3:taobao's ``stock`` janks 3.1 %
instead of 80 %; the model observes QoE, so its actions and PPR change too). A change to the simulator, a governor,
the codec, the reward or the model loading that alters what a user measures fails here; if the change is intended,
re-record the values (run this module as a script: it prints ``EXPECTED``) and say why in the commit.
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
        {
            "ppr": 23.95815548907831,
            "qoe": 0.9311403508771929,
            "jank_pct": 4.45859872611465,
            "energy_j": 6.553092122286744,
        },
        {
            "ppr": 21.94262996780787,
            "qoe": 0.9933333333333334,
            "jank_pct": 0.33444816053511706,
            "energy_j": 13.626443158302546,
        },
    ],
    "stock": [
        {"ppr": 27.45114927788277, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.427823749443103},
        {
            "ppr": 22.024279559951797,
            "qoe": 0.9603070175438596,
            "jank_pct": 3.0864197530864197,
            "energy_j": 7.355518692860006,
        },
        {"ppr": 21.79404284104511, "qoe": 0.99, "jank_pct": 0.6688963210702341, "energy_j": 13.719345335822135},
    ],
    "schedutil": [
        {"ppr": 27.623749201357853, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.39390938260748},
        {
            "ppr": 23.70854879500585,
            "qoe": 0.8400438596491228,
            "jank_pct": 6.569343065693431,
            "energy_j": 5.778506360071213,
        },
        {
            "ppr": 22.019827649657486,
            "qoe": 0.9799999999999999,
            "jank_pct": 0.6711409395973155,
            "energy_j": 13.533257604976548,
        },
    ],
    "oracle": [
        {"ppr": 27.670416727864875, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.384812287628212},
        {
            "ppr": 26.887001546235286,
            "qoe": 0.9675438596491228,
            "jank_pct": 1.2422360248447204,
            "energy_j": 5.9880236077326074,
        },
        {"ppr": 22.003466879894404, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 13.58876769883978},
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


if __name__ == "__main__":
    # print the EXPECTED dictionary for the current code (re-record after an intended change, and say why)
    import pprint

    _m = load_checkpoint("default")
    _res = evaluate([ModelDriver(_m, list(TASKS))], ["oracle"], TASKS, 1, 5.0)
    _out = {meth: [{k: r[k] for k in KEYS} for r in _res.raw[meth]] for meth in EXPECTED}
    print("EXPECTED: dict[str, list[dict[str, float]]] = " + pprint.pformat(_out, sort_dicts=False, width=116))
