"""Behaviour a user checks: stock governors ordered by power, powersave starves 3DMark, the oracle bounds PPR."""

from __future__ import annotations

import numpy as np
import pytest

from metadvfs.catalog.devices import list_devices
from metadvfs.errors import MetaDVFSError
from metadvfs.governors.registry import GOVERNOR_NAMES, make_governor
from metadvfs.sim.replay import replay
from metadvfs.tasks.task import make_task
from metadvfs.workload.apps import list_apps, load_app

DEVICES = tuple(list_devices())  # the catalogs: a new profile or app file is covered without a test edit
APPS = tuple(list_apps())
SECONDS = 20.0
SEED = 7


@pytest.fixture(scope="module")
def results() -> dict[str, list[dict[str, float]]]:
    tasks = [make_task(d, a) for d in DEVICES for a in APPS]
    out = {}
    for g in GOVERNOR_NAMES:
        tl = replay(tasks, make_governor(g), SECONDS, SEED)
        out[g] = [tl.metrics(i) | {"domain_mw": tl.power_mw[:, i].mean(axis=0)} for i in range(len(tasks))]
    out["_names"] = [t.name for t in tasks]  # type: ignore[assignment]
    return out


# Where powersave is not the lowest-power policy, for a physical reason in the device data (docs/devices.md,
# "Pixel 4 and Pixel 5 power_profile floors"; docs/simulator.md section 8). The Pixel 4 and Pixel 5 power_profile
# curves have a large frequency-independent part, so the energy of a busy cycle above idle, (power_mw - idle_mw) / f,
# FALLS above fmin: fmin is an inefficient OPP (a higher OPP does the same work for less energy).
# - pixel4:weibo: on the silver (little) cluster that energy falls over the whole table (0.118 nJ at 300 MHz ->
#   0.038 nJ at 1786 MHz). schedutil lifts the little cluster above 300 MHz in ~9 % of the ticks and so draws ~0.2 %
#   less than powersave pinned at 300 MHz.
# - pixel5:bilibili: video playback needs < 20 % of fmin, so schedutil sits at fmin in > 99.6 % of the ticks on every
#   domain and is the same policy as powersave; its few ticks above fmin on the gold (mid) core, where fmin is
#   inefficient, save about what its GPU ticks cost. The two differ by a few microwatts, so the sign is not
#   meaningful and is not asserted.
# - With the frame pipeline (docs/simulator.md section 4), worker threads that fit a little core run there (EAS), so
#   the little cluster carries most of the non-frame work. Where its fmin is inefficient (Pixel 4 silver; the measured
#   little-cluster curves of Pixel 6 and Pixel 8 on video playback), schedutil's occasional higher little OPP retires
#   that work for less energy than powersave pinned at fmin (measured, seed 7: pixel4 tiktok/kwai/bilibili/weibo,
#   pixel6:bilibili, pixel8:bilibili; -0.5 to -41 mW on little, 0.01-3.5 % of total power). pixel8:tiktok joined
#   with the benchmark-fitted GPU throughput (docs/devices.md): its GPU now runs video at ~13 % busy at fmin under both
#   governors (schedutil's GPU extra fell from 7.6 to 1.0 mW), so the little cluster's -7.4 mW decides (-0.6 %).
# - Deep idle states (docs/simulator.md section 6.1, Pixels 6 and 8) add race-to-idle: a little core that finishes its
#   work sooner at a higher OPP powers down for longer. pixel8:tiktok (measured, seed 7): schedutil draws 8.2 mW less
#   than powersave on LITTLE and 8.1 mW more on MID and the GPU, 0.06 mW (0.007 %) less in total.
# The test checks that each exception is exactly that: schedutil within 5 % of powersave, schedutil not below
# powersave on the other domains, and performance above both.
# task -> domain index of the inefficient cluster
POWERSAVE_NOT_MINIMAL = {
    "pixel4:tiktok": 0,
    "pixel4:kwai": 0,
    "pixel4:bilibili": 0,
    "pixel4:weibo": 0,
    "pixel5:bilibili": 1,
    "pixel6:bilibili": 0,
    "pixel8:bilibili": 0,
    "pixel8:tiktok": 0,
}


def test_power_ordering_on_every_task(results):
    """performance > schedutil > powersave in average power on all 30 tasks (documented exceptions, bounded)."""
    for i, name in enumerate(results["_names"]):
        perf = results["performance"][i]["avg_power_w"]
        su = results["schedutil"][i]["avg_power_w"]
        ps = results["powersave"][i]["avg_power_w"]
        assert perf > su, f"{name}: performance {perf:.4f} W <= schedutil {su:.4f} W"
        assert perf > ps, f"{name}: performance {perf:.4f} W <= powersave {ps:.4f} W"
        if name not in POWERSAVE_NOT_MINIMAL:
            assert su > ps, f"{name}: schedutil {su:.5f} W <= powersave {ps:.5f} W"
            continue
        dom = POWERSAVE_NOT_MINIMAL[name]
        assert su >= ps * (1 - 0.05), f"{name}: schedutil {su:.5f} W far below powersave {ps:.5f} W"
        su_dom = results["schedutil"][i]["domain_mw"]
        ps_dom = results["powersave"][i]["domain_mw"]
        others = np.arange(4) != dom
        # the whole gap sits on the inefficient cluster; elsewhere schedutil draws at least powersave's power
        assert su_dom[others].sum() >= ps_dom[others].sum() - 1e-6


def test_powersave_loses_qoe_on_3dmark(results):
    for i, name in enumerate(results["_names"]):
        if name.endswith(":3dmark"):
            ps = results["powersave"][i]["qoe"]
            perf = results["performance"][i]["qoe"]
            if perf < 0.05:  # pixel5: even fmax cannot render the scenes at 60 fps (every frame late); fewer frames
                ps_fps, perf_fps = results["powersave"][i]["fps_mean"], results["performance"][i]["fps_mean"]
                assert ps_fps < 0.9 * perf_fps, f"{name}: powersave {ps_fps:.1f} fps vs performance {perf_fps:.1f}"
                continue
            assert ps < perf - 0.02, f"{name}: powersave QoE {ps:.3f} vs performance {perf:.3f}"
            # at the bottom GPU OPP most requests are coalesced or presented late (HWUI counts a frame that only
            # waits behind a queued buffer as on time, so the jank share alone understates it: docs/simulator.md 5.1)
            m = results["powersave"][i]
            on_time = m["fps_mean"] * m["duration_s"] * (1.0 - m["jank_pct"] / 100.0) / m["frames_req"]
            assert on_time < 0.8, f"{name}: powersave presents {on_time:.2f} of the requested frames on time"


# the video and social apps (issue 9: real Pixels run them at low single-digit janky-frame rates)
SMOOTH_CATEGORIES = ("short_video", "long_video", "social_feed")


def test_stock_janks_at_most_5_percent_on_video_and_social_apps(results):
    """``stock`` (the governor stack the phone runs) janks <= 5 % of frames on the video and social apps on every
    phone, as ``dumpsys gfxinfo`` reports for them on real Pixels (jank by HWUI's rule, docs/simulator.md 5.1)."""
    apps = {a: load_app(a) for a in APPS}
    checked = 0
    for i, name in enumerate(results["_names"]):
        if apps[name.split(":")[1]].metadata.category not in SMOOTH_CATEGORIES:
            continue
        m = results["stock"][i]
        assert m["fps_mean"] > 0, name
        assert m["jank_pct"] <= 5.0, f"{name}: stock janks {m['jank_pct']:.1f} % of frames"
        checked += 1
    assert checked >= len(DEVICES) * 4


def test_oracle_bounds_ppr_at_full_qoe(results):
    """On every task: oracle QoE >= every governor's - 0.01, and oracle PPR >= that of every governor whose QoE is
    at least the oracle's - 0.01 and that janks no more frames. The oracle also presents every frame the top OPP
    presents (QoE >= performance)."""
    for i, name in enumerate(results["_names"]):
        o = results["oracle"][i]
        perf = results["performance"][i]
        # the oracle drops no more frames and janks no more than the top OPPs over each block and its look-ahead;
        # a frame presented a vsync later can move to the next 1-s QoE window, hence the small tolerances
        assert o["qoe"] >= perf["qoe"] - 0.01, f"{name}: oracle QoE {o['qoe']:.4f} < performance {perf['qoe']:.4f}"
        assert o["jank_pct"] <= perf["jank_pct"] + 1.0, f"{name}: oracle jank above performance's"
        for g in GOVERNOR_NAMES:
            if g == "oracle":
                continue
            m = results[g][i]
            assert o["qoe"] >= m["qoe"] - 0.01, f"{name}: oracle QoE {o['qoe']:.3f} < {g} {m['qoe']:.3f}"
            # The oracle never trades jank for energy (docs/simulator.md 9), so PPR is compared with the governors at
            # its QoE up to the 1-s windowing that jank no more frames than it. With HWUI's jank rule a governor can
            # jank a few more frames and stay within 0.01 QoE: measured (20 s, seed 7) ondemand and conservative on
            # pixel4:tiktok (0.9 / 1.6 % jank vs 0.18 %, PPR +0.2 / +0.1 %), stock and schedutil on pixel6:tiktok
            # (0.5 / 0.7 % vs 0.18 %, +0.02 / +0.06 %), stock on pixel8:tiktok (0.33 % vs 0 %, +0.06 %).
            if m["qoe"] >= o["qoe"] - 0.01 and _janky(m) <= _janky(o) + 0.5:
                assert o["ppr"] >= m["ppr"] * (1 - 1e-9), f"{name}: oracle PPR {o['ppr']:.4f} < {g} {m['ppr']:.4f}"


def _janky(m: dict[str, float]) -> float:
    """Janky frames of a run from its metrics."""
    return m["jank_pct"] / 100.0 * m["fps_mean"] * m["duration_s"]


def test_oracle_replans_when_a_thermal_cap_engages():
    """A throttle rule that trips mid-run changes the allowed OPPs; the oracle re-plans within the new caps."""
    import yaml

    from metadvfs.catalog.devices import profile_from_dict
    from metadvfs.governors.oracle import Oracle
    from metadvfs.paths import data_dir

    doc = yaml.safe_load((data_dir("devices") / "pixel6.yaml").read_text())
    doc["name"] = "hot6"
    # die starts near 29 + 6 x 0.1 degC (base power only); a busy SoC crosses 31 degC within a second
    doc["thermal"]["rules"].append(
        {
            "sensor": "die",
            "trip_c": 31.0,
            "clear_c": 30.5,
            "caps_khz": {"big": 1426000, "gpu": 302000},
            "source": "test",
        }
    )
    task = make_task(profile_from_dict(doc), "3dmark")
    gov = Oracle()
    tl = replay([task], gov, 5.0, 0)
    assert tl.throttled[:, 0].any()
    assert gov.n_plans >= 2
    big = tl.freq_mhz[tl.throttled[:, 0], 0, 2]
    assert big.size > 0 and np.all(big <= 1426.0 + 1e-9)


def _idle_powers(device: str) -> tuple[np.ndarray, np.ndarray, object]:
    """Domain power of a phone with no work at all, at the top OPPs and then at the lowest (one tick each)."""
    from metadvfs.sim.batch import TaskBatch
    from metadvfs.sim.demand import CompiledDemand, DemandPool

    batch = TaskBatch([make_task(device, "tiktok")], 1.0)
    core = batch.core
    core.pool = DemandPool()  # private pool: the shared one holds other tests' demand
    ticks = core.buffer_ticks
    idle = CompiledDemand(
        other=np.zeros((1, ticks, 4), np.float32),
        other_share=np.zeros((1, ticks, 4), np.float32),
        frames=np.zeros((1, ticks), np.float32),
        ui_pf=np.zeros((1, ticks), np.float32),
        gpu_pf=np.zeros((1, ticks), np.float32),
        ui_dom=np.full((1, ticks), 2, np.int8),
        rt_pf=np.zeros((1, ticks), np.float32),
        rt_dom=np.full((1, ticks), 2, np.int8),
        frame_fps=np.zeros((1, ticks), np.float32),
    )
    core.load_row(0, idle, 0, batch.init_idx(np.arange(1))[0])
    core.finish_loading(np.arange(1))
    top = batch.dev.n_opp - 1
    p_top = core.step(top, 1).power_mw[0]
    p_low = core.step(np.zeros_like(top), 1).power_mw[0]
    return p_top, p_low, batch.dev


def test_idle_cores_draw_the_idle_power_of_the_applied_opp():
    """Without deep idle states (Pixel 4) an idle domain draws cores x idle_mw(f) + static_mw(f) at its OPP: idle
    cores at the top OPP cost more."""
    p_top, p_low, dev = _idle_powers("pixel4")
    top = dev.n_opp - 1  # type: ignore[attr-defined]
    r = np.arange(4)
    expect_top = dev.cores[0] * dev.idle_mw[0, r, top[0]] + dev.static_mw[0, r, top[0]]  # type: ignore[attr-defined]
    expect_low = dev.cores[0] * dev.idle_mw[0, r, 0] + dev.static_mw[0, r, 0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(p_top, expect_top)
    np.testing.assert_allclose(p_low, expect_low)
    assert np.all(p_top[:3] > 2 * p_low[:3]) and p_top[3] > p_low[3]  # Pixel 4 GPU fmin is 0.44 fmax: 1.8x


def test_idle_clusters_power_down_where_the_data_has_idle_states():
    """Pixel 6 (docs/simulator.md 6.1): a cluster without work powers its cores and itself down, at any OPP (core
    power-down draws 0 mW, Wattson idle1); the GPU, without a power-off rule in the data, still draws idle_mw(f)."""
    p_top, p_low, dev = _idle_powers("pixel6")
    top = dev.n_opp - 1  # type: ignore[attr-defined]
    np.testing.assert_allclose(p_top[:3], 0.0, atol=1e-12)
    np.testing.assert_allclose(p_low[:3], 0.0, atol=1e-12)
    np.testing.assert_allclose(p_top[3], dev.idle_mw[0, 3, top[0, 3]])  # type: ignore[attr-defined]
    np.testing.assert_allclose(p_low[3], dev.idle_mw[0, 3, 0])  # type: ignore[attr-defined]


def test_replay_is_deterministic():
    t = [make_task("pixel4", "taobao")]
    a = replay(t, make_governor("schedutil"), 5, 3)
    b = replay(t, make_governor("schedutil"), 5, 3)
    c = replay(t, make_governor("schedutil"), 5, 4)
    np.testing.assert_array_equal(a.energy_mj, b.energy_mj)
    np.testing.assert_array_equal(a.freq_mhz, b.freq_mhz)
    assert not np.array_equal(a.energy_mj, c.energy_mj)


def test_schedutil_follows_the_kernel_rule():
    """next_freq = 1.25 * fmax * util rounded up to an OPP (util_est off, so util = PELT util)."""
    from metadvfs.governors.stock import Schedutil
    from metadvfs.sim.batch import TaskBatch
    from metadvfs.sim.replay import governor_context

    batch = TaskBatch([make_task("pixel6", "weibo")], 2.0)
    batch.seed([0])
    batch.reset_rows(np.arange(1))
    gov = Schedutil(util_est=False)
    gov.reset(governor_context(batch))
    last = batch.core.step(batch.core.idx.copy(), 1)
    for _ in range(50):
        want = gov.decide(last, batch.core.idx)
        dev = batch.dev
        for d in range(3):
            target = 1.25 * dev.fmax_mhz[0, d] * last.util[0, d]
            freqs = dev.freq_mhz[0, d, : dev.n_opp[0, d]]
            expect = int(np.searchsorted(freqs, target - 1e-9))
            assert want[0, d] == min(expect, dev.n_opp[0, d] - 1)
        merged = batch.core.idx.copy()
        merged[:, :3] = want[:, :3]
        last = batch.core.step(merged, 1)


@pytest.mark.parametrize("bad", ["nope", "fixed:2", "fixed:x", "schedutil/nope"])
def test_unknown_governor_is_a_clear_error(bad):
    with pytest.raises(MetaDVFSError):
        make_governor(bad)
