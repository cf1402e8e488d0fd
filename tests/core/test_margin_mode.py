"""``margin`` action mode: a choice is a headroom factor over the measured demand, the same slack on every phone."""

from __future__ import annotations

import numpy as np
import pytest

from metadvfs.adb.binding import profile_codec_spec
from metadvfs.catalog.devices import load_device
from metadvfs.core import codec
from metadvfs.environment.env_batch import EnvBatch
from metadvfs.tasks.task import make_task

BIG, GPU = 2, 3


def _spec(device: str) -> codec.CodecSpec:
    return profile_codec_spec(load_device(device))


def test_margins_span_the_documented_range() -> None:
    m = codec.margins(8)
    assert m[0] == pytest.approx(codec.MARGIN_LOW) and m[-2] == pytest.approx(codec.MARGIN_HIGH)
    g = m[:-1]
    assert np.all(np.diff(g) > 0) and np.allclose(g[1:] / g[:-1], g[1] / g[0])  # geometric
    assert m[-1] == np.inf  # the last choice: the top OPP whatever the demand


@pytest.mark.parametrize("device", ["pixel3", "pixel6", "pixel8"])
def test_margin_picks_the_lowest_opp_covering_the_scaled_demand(device: str) -> None:
    spec = _spec(device)
    table = spec.freq_mhz[0]
    top = spec.n_opp[0] - 1
    m = codec.margins(8)
    for a in range(8):
        for u in (0.0, 0.1, 0.33, 0.5, 0.9, 1.0):
            util = np.full((1, 4), u)
            cur = top[None].copy()  # GPU at its top OPP: its busy fraction is already a share of fmax
            got = codec.decode(np.full((1, 4), a), cur, spec, "margin", 8, util)[0]
            for d in range(4):
                if spec.mask[0, d] == 0:
                    continue
                t = table[d, : top[d] + 1]
                if np.isinf(m[a]):
                    assert got[d] == top[d]  # race to idle, even with no demand
                    continue
                want_f = m[a] * u * t[-1]
                assert t[got[d]] >= min(want_f, t[-1]) * (1 - 1e-9)  # enough (the top OPP when the demand exceeds it)
                assert got[d] == 0 or t[got[d] - 1] < want_f  # and the lowest such OPP
    saturated = codec.decode(np.full((1, 4), 6), top[None], spec, "margin", 8, np.ones((1, 4)))[0]
    assert np.array_equal(saturated[spec.mask[0] > 0], top[spec.mask[0] > 0])


def test_gpu_busy_fraction_is_scaled_by_its_current_opp() -> None:
    spec = _spec("pixel6")
    table = spec.freq_mhz[0, GPU, : spec.n_opp[0, GPU]]
    a = np.full((1, 4), 3)
    util = np.full((1, 4), 1.0)
    low = codec.decode(a, np.zeros((1, 4), np.int64), spec, "margin", 8, util)[0, GPU]
    high = codec.decode(a, np.full((1, 4), len(table) - 1), spec, "margin", 8, util)[0, GPU]
    assert low < high  # a busy GPU at its lowest OPP asks for m * f_low, not m * fmax
    m = codec.margins(8)[3]
    assert table[low] >= m * table[0] * (1 - 1e-9) and (low == 0 or table[low - 1] < m * table[0])


def test_margin_needs_the_utilisation_and_rejects_unknown_modes() -> None:
    spec = _spec("pixel6")
    with pytest.raises(ValueError, match="utilisation"):
        codec.decode(np.zeros((1, 4)), np.zeros((1, 4), np.int64), spec, "margin", 8)
    with pytest.raises(ValueError, match="unknown action mode"):
        codec.decode(np.zeros((1, 4)), np.zeros((1, 4), np.int64), spec, "bogus", 8)


def test_same_choice_same_slack_on_phones_with_different_tables() -> None:
    """The point of the mode: one choice gives each phone the lowest OPP with the same headroom over its demand."""
    for device in ("pixel3", "pixel8"):
        spec = _spec(device)
        t = spec.freq_mhz[0, BIG, : spec.n_opp[0, BIG]]
        util = np.full((1, 4), 0.4)
        lvl = codec.decode(np.full((1, 4), 4), np.zeros((1, 4), np.int64), spec, "margin", 8, util)[0, BIG]
        slack = t[lvl] / (0.4 * t[-1])
        assert slack >= codec.margins(8)[4] * (1 - 1e-9)
        assert lvl == 0 or t[lvl - 1] / (0.4 * t[-1]) < codec.margins(8)[4]


def test_simulated_env_decodes_with_the_shared_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    """EnvBatch in margin mode requests exactly codec.decode of the kernel's utilisation (the live path's codec)."""
    env = EnvBatch([make_task("pixel6", "3dmark"), make_task("pixel3", "tiktok")], action_mode="margin", levels=8)
    env.seed([1, 2])
    env.reset_rows(np.arange(2))
    core = env.tb.core
    step = core.step
    asked: list[np.ndarray] = []

    def spy(req_idx: np.ndarray, n_ticks: int, detail: bool = False):
        asked.append(np.array(req_idx))
        return step(req_idx, n_ticks, detail)

    monkeypatch.setattr(core, "step", spy)
    rng = np.random.default_rng(0)
    wants = []
    for _ in range(20):
        a = rng.integers(0, 8, size=(2, 4))
        wants.append(codec.decode(a, core.idx.copy(), env.spec, "margin", 8, core.util.copy()))
        env.step(a)
    assert all(np.array_equal(w, q) for w, q in zip(wants, asked, strict=True))
    assert len({tuple(q.ravel()) for q in asked}) > 1  # the requests followed the demand
