"""reward_audit: a policy and the stock governor scored with the policy's training reward on the same episodes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from metadvfs.core.reward import RewardWeights
from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.reward_audit import TOLERANCE, RewardAudit, RewardParts, reward_audit

TASKS = ["pixel5:taobao", "pixel6:3dmark"]


def test_the_parts_add_up_to_the_reward_the_environment_returned() -> None:
    m = load_checkpoint("default")  # trained with the QoE-floor term, so every part is in play
    assert m.cfg.env.reward_weights.qoe_floor > 0
    a = reward_audit(m, TASKS, seeds=(10_000, 10_001), seconds=3.0)
    assert a.tasks == TASKS and a.seeds == [10_000, 10_001] and a.seconds == pytest.approx(3.0)
    for side in (a.policy, a.stock):
        for p in side:
            assert p.reward == pytest.approx(p.qoe + p.ppr + p.floor + p.thermal, abs=1e-6)
            assert p.floor == pytest.approx(-2.0 * p.shortfall) and 0.0 <= p.under_floor <= 1.0
            assert p.freq_mhz[3] > 0  # the GPU ran
    assert a.policy[0] != a.stock[0]
    assert a.to_dict() == reward_audit(m, TASKS, seeds=(10_000, 10_001), seconds=3.0).to_dict()  # deterministic
    assert a.stock[0].freq_mhz[1] > 0 and json.dumps(a.to_dict())


def test_other_weights_score_the_same_episodes_differently() -> None:
    m = load_checkpoint("default")
    no_floor = dataclasses.replace(m.cfg.env.reward_weights, qoe_floor=0.0)
    a = reward_audit(m, TASKS[:1], seeds=(10_000,), seconds=3.0)
    b = reward_audit(m, TASKS[:1], seeds=(10_000,), seconds=3.0, weights=no_floor)
    assert b.policy[0].floor == 0.0 and b.policy[0].shortfall == a.policy[0].shortfall  # reported either way
    assert b.policy[0].reward == pytest.approx(a.policy[0].reward - a.policy[0].floor, abs=1e-6)
    assert b.weights["qoe_floor"] == 0.0 and a.weights["qoe_floor"] == 2.0


def _parts(reward: float) -> RewardParts:
    return RewardParts(reward, 0.5, reward - 0.5, 0.0, 0.0, 0.0, 0.0, [0.0] * 4)


def test_stock_earns_more_only_beyond_the_tolerance() -> None:
    a = RewardAudit(["p:a", "p:b", "p:c"], [1], 1.0, {}, [_parts(2.0), _parts(2.0), _parts(2.0)],
                    [_parts(2.1), _parts(2.0 + TOLERANCE / 2), _parts(1.9)])  # fmt: skip
    assert a.stock_earns_more() == ["p:a"] and a.to_dict()["stock_earns_more"] == ["p:a"]


def test_bad_input_is_one_line(tiny_model: Path) -> None:
    m = load_checkpoint(tiny_model)
    with pytest.raises(MetaDVFSError, match="shorter than one decision"):
        reward_audit(m, TASKS, seconds=0.01)
    with pytest.raises(MetaDVFSError, match="no tasks or no seeds"):
        reward_audit(m, [])
    with pytest.raises(MetaDVFSError, match="no tasks or no seeds"):
        reward_audit(m, TASKS, seeds=())
    assert m.cfg.env.reward_weights == RewardWeights()  # no floor term: the shortfall is still reported
    a = reward_audit(m, TASKS[:1], seeds=(10_000,), seconds=1.0)
    assert a.policy[0].floor == 0.0 and a.policy[0].shortfall >= 0.0
