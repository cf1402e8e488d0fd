"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed) and re-recorded after each intended change of the world: the GPU calibration, the CPU idle states
of the Pixels 6 and 8, and HWUI's jank rule with UI phases at the panel's refresh rate (the governors' QoE and jank
change, e.g. pixel3:taobao's ``stock`` janks about 3 % instead of 80 %; the model observes QoE, so its actions and PPR
change too). A change to the simulator, a governor, the codec, the reward or the model loading that alters what a
user measures fails here; if the change is intended, re-record the values (run this module as a script: it prints
``EXPECTED``) and say why in the commit.
"""

from __future__ import annotations

import pytest

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver, evaluate

TASKS = ["pixel6:tiktok", "pixel3:taobao", "pixel8:3dmark"]
KEYS = ("ppr", "qoe", "jank_pct", "energy_j")
EXPECTED: dict[str, list[dict[str, float]]] = {
    "metadvfs": [
        {"ppr": 29.006267809991577, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.136820806318111},
        {
            "ppr": 23.95815548907831,
            "qoe": 0.9311403508771929,
            "jank_pct": 4.45859872611465,
            "energy_j": 6.553092122286744,
        },
        {
            "ppr": 22.67187654045031,
            "qoe": 0.9933333333333334,
            "jank_pct": 0.33444816053511706,
            "energy_j": 13.188145210059494,
        },
    ],
    "stock": [
        {"ppr": 29.55005123502108, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.042292441896462},
        {
            "ppr": 22.024279559951797,
            "qoe": 0.9603070175438596,
            "jank_pct": 3.0864197530864197,
            "energy_j": 7.355518692860006,
        },
        {"ppr": 22.27508960734505, "qoe": 0.99, "jank_pct": 0.6688963210702341, "energy_j": 13.42306609179282},
    ],
    "schedutil": [
        {"ppr": 29.56431111068574, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.039860372263007},
        {
            "ppr": 23.70854879500585,
            "qoe": 0.8400438596491228,
            "jank_pct": 6.569343065693431,
            "energy_j": 5.778506360071213,
        },
        {
            "ppr": 22.43989422863932,
            "qoe": 0.9799999999999999,
            "jank_pct": 0.6711409395973155,
            "energy_j": 13.279919992656296,
        },
    ],
    "oracle": [
        {"ppr": 29.636090660011988, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.027653670969696},
        {
            "ppr": 26.887001546235286,
            "qoe": 0.9675438596491228,
            "jank_pct": 1.2422360248447204,
            "energy_j": 5.9880236077326074,
        },
        {"ppr": 22.454954507656055, "qoe": 0.9966666666666667, "jank_pct": 0.0, "energy_j": 13.315546905163199},
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
