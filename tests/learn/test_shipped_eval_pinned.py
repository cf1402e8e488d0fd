"""The shipped model's evaluation is pinned: the same seeds give the same numbers (issue 12, "behaviour stays").

The expected values were produced by this very evaluation on 2026-12-04 (after the frame pipeline and the ``stock``
governor landed), re-recorded after the GPU calibration, on branch ``jank`` (issue 9: HWUI's jank rule, UI phases
at the panel's refresh rate: the governors' QoE and jank change, e.g. pixel3:taobao's ``stock`` janks 3.1 % instead
of 80 %; the model observes QoE, so its actions and PPR change too), and on branch ``world`` (issue 9: a late frame
carries its requested work; the UI apps' GPU work sized by the weakest-GPU rule). A change to the simulator, a
governor, the codec, the reward or the model loading that alters what a user measures fails here; if the change is
intended, re-record the values and say why in the commit.
"""

from __future__ import annotations

import pytest

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.evaluate import ModelDriver, evaluate

TASKS = ["pixel6:tiktok", "pixel3:taobao", "pixel8:3dmark"]
KEYS = ("ppr", "qoe", "jank_pct", "energy_j")
EXPECTED: dict[str, list[dict[str, float]]] = {
    "metadvfs": [
        {"ppr": 27.70015476105913, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.379031318968086},
        {
            "ppr": 24.10116915742182,
            "qoe": 0.918640350877193,
            "jank_pct": 5.769230769230769,
            "energy_j": 6.472715036397339,
        },
        {
            "ppr": 21.94262996780787,
            "qoe": 0.9933333333333334,
            "jank_pct": 0.33444816053511706,
            "energy_j": 13.626443158302546,
        },
    ],
    "stock": [
        {"ppr": 28.199032061551502, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.28386930710139},
        {
            "ppr": 20.87352342648028,
            "qoe": 0.9728070175438596,
            "jank_pct": 1.8404907975460123,
            "energy_j": 7.808935591258025,
        },
        {"ppr": 21.79404284104511, "qoe": 0.99, "jank_pct": 0.6688963210702341, "energy_j": 13.719345335822135},
    ],
    "schedutil": [
        {"ppr": 28.38119597126624, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.249954940265765},
        {
            "ppr": 23.636398921018333,
            "qoe": 0.906140350877193,
            "jank_pct": 6.4935064935064934,
            "energy_j": 6.51537488915275,
        },
        {
            "ppr": 22.019827649657486,
            "qoe": 0.9799999999999999,
            "jank_pct": 0.6711409395973155,
            "energy_j": 13.533257604976548,
        },
    ],
    "oracle": [
        {"ppr": 28.424378424033023, "qoe": 0.9933333333333334, "jank_pct": 0.0, "energy_j": 5.241979183404743},
        {
            "ppr": 26.023135626479238,
            "qoe": 0.9717105263157894,
            "jank_pct": 1.2345679012345678,
            "energy_j": 6.225229823386873,
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
