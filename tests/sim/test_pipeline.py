"""The frame pipeline: back-pressure, vsync presentation, per-tick progress, worker placement, bounded queues."""

from __future__ import annotations

import numpy as np
import pytest

from metadvfs.governors.registry import make_governor
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import BUFFER_DEPTH
from metadvfs.sim.demand import CompiledDemand, DemandPool, compile_demand
from metadvfs.sim.device_arrays import compile_devices
from metadvfs.sim.kernel import C_FPS, C_FRAMES, C_GPU_PF, C_RT_PF, C_UI_PF, OTHER_BACKLOG_S
from metadvfs.sim.replay import replay
from metadvfs.tasks.task import make_task
from metadvfs.workload.apps import load_app

DEVICES = ("pixel3", "pixel4", "pixel5", "pixel6", "pixel8")
APPS = ("tiktok", "kwai", "bilibili", "weibo", "taobao", "3dmark")


def _synthetic(device: str, length: int, frames_every: int, ui: float, rt: float, gpu: float, fps: float = 60.0):
    """A core running a private demand block: one frame every ``frames_every`` ticks with fixed per-frame work."""
    batch = TaskBatch([make_task(device, "tiktok")], length * 0.01)
    core = batch.core
    core.pool = DemandPool()
    frames = np.zeros((1, length), dtype=np.float32)
    frames[0, ::frames_every] = 1.0
    z4 = np.zeros((1, length, 4), dtype=np.float32)
    demand = CompiledDemand(
        other=z4,
        other_share=z4.copy(),
        frames=frames,
        ui_pf=np.full((1, length), ui, dtype=np.float32),
        gpu_pf=np.full((1, length), gpu, dtype=np.float32),
        ui_dom=np.full((1, length), 2, dtype=np.int8),
        rt_pf=np.full((1, length), rt, dtype=np.float32),
        rt_dom=np.full((1, length), 2, dtype=np.int8),
        frame_fps=np.full((1, length), fps, dtype=np.float32),
    )
    core.load_row(0, demand, 0, batch.init_idx(np.arange(1))[0])
    core.finish_loading(np.arange(1))
    return core


def test_gpu_bound_frame_rate_is_proportional_to_gpu_rate():
    """Overload: a GPU-bound app presents at the GPU's delivered rate, the pipeline stays at the buffer depth."""
    core = _synthetic("pixel6", 1000, 1, ui=0.5, rt=0.5, gpu=60.0)  # a frame requested every 10 ms
    dev = core.dev
    rates = []
    for k in (dev.n_opp[0, 3] - 1, (dev.n_opp[0, 3] - 1) // 2):
        core.start_row(0, core.base[0], np.array([0, 0, 0, 0]))
        req = np.array([[dev.n_opp[0, 0] - 1, dev.n_opp[0, 1] - 1, dev.n_opp[0, 2] - 1, k]])
        pres = 0.0
        for _ in range(90):
            out = core.step(req, 10)
            pres += float(out.frames_presented[0])
            assert out.frames_in_flight[0] <= BUFFER_DEPTH
        gpu_rate = dev.freq_mhz[0, 3, k] * dev.ipc[0, 3] / 60.0  # frames/s the GPU can render
        rates.append((pres / 9.0, gpu_rate))
    for fps, gpu_rate in rates:
        assert fps == pytest.approx(gpu_rate, rel=0.05), rates


def test_mid_frame_frequency_change_counts():
    """Frame work progresses at the OPP of each tick: raising the clock mid-frame finishes the frame earlier."""

    def finish_tick(switch: bool) -> int:
        core = _synthetic("pixel6", 200, 100, ui=30.0, rt=0.1, gpu=0.1)
        lo = np.array([[0, 0, 0, 0]])
        hi = np.array([[0, 0, core.dev.n_opp[0, 2] - 1, 0]])
        for t in range(100):
            core.step(hi if (switch and t >= 2) else lo, 1)
            st = core.pipeline_counts()[0]
            if st[0] == 0 and st[1] == 0 and t > 0:
                return t
        return 100

    assert finish_tick(True) < finish_tick(False)


def test_video_on_a_90hz_panel_presents_every_third_vsync_and_slow_frames_are_janky():
    """A 30 fps frame on a 90 Hz panel is due 3 vsyncs after its start; late presentation counts as jank."""
    fast = _synthetic("pixel6", 300, 3, ui=0.5, rt=0.5, gpu=0.5, fps=30.0)
    top = fast.dev.n_opp[0] - 1
    o_fast = fast.step(top[None, :], 300)
    assert fast.dev.refresh_hz[0] == 90.0
    assert o_fast.frames_janky[0] == 0.0 and o_fast.frames_presented[0] >= 95
    # at fmin a 40 Mc UI stage takes > 50 ms: frames are presented late and requests are coalesced
    slow_core = _synthetic("pixel6", 300, 3, ui=40.0, rt=0.5, gpu=0.5, fps=30.0)
    o_slow = slow_core.step(np.zeros((1, 4), dtype=np.int64), 300)
    assert o_slow.frames_janky[0] > 0 and o_slow.frames_dropped[0] > 0
    assert o_slow.frames_presented[0] < o_fast.frames_presented[0]


def test_one_late_frame_is_one_janky_frame_not_a_stuffed_pipeline_of_them():
    """HWUI JankTracker: after one late frame the queue is one buffer deeper (buffer stuffing); the frames that
    follow are presented one vsync later than their own deadline but completed in time, and are not janky."""
    n = 600
    core = _synthetic("pixel3", n, 1, ui=2.0, rt=1.0, gpu=3.0)  # 60 Hz panel; light frames: ~7 ms at the top OPPs
    b = int(core.base[0])
    grid = np.floor(np.arange(int(n * 0.01 * 60)) / 60 / 0.01 + 1e-9).astype(int)  # a request at every vsync
    core.pool.data[b : b + n, C_FRAMES] = np.bincount(grid, minlength=n)[:n]
    heavy = grid[120]  # one frame whose GPU work (15 GPU-Mc, 21 ms at 710 MHz) misses its vsync
    core.pool.data[b + heavy, C_GPU_PF] = 15.0
    top = core.dev.n_opp[0] - 1
    out = core.step(top[None, :], n)
    assert out.frames_req[0] == len(grid) and out.frames_presented[0] >= len(grid) - 2
    assert out.frames_janky[0] == 1.0


def test_ui_phases_request_the_panel_refresh_rate_and_benchmarks_keep_their_target():
    """Display-rate apps draw their UI phases once per vsync: on the 90 Hz Pixel 6 the frames of Weibo's 60 fps
    phases become 90/s with the same work per frame; the 60 Hz Pixel 3 and the 60 fps-capped 3DMark are unchanged."""

    def pool(device: str, app: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = TaskBatch([make_task(device, app)], 60.0)
        batch.seed([3])
        batch.reset_rows(np.arange(1))
        core = batch.core
        b = int(core.base[0])
        rows = core.pool.data[b : b + batch.episode_ticks]
        return rows[:, C_FRAMES], rows[:, C_FPS], rows[:, C_UI_PF] + rows[:, C_RT_PF]

    assert load_app("weibo").metadata.display_rate and not load_app("3dmark").metadata.display_rate
    fr6, fps6, ui6 = pool("pixel6", "weibo")
    fr3, fps3, ui3 = pool("pixel3", "weibo")
    ui_ticks6, ui_ticks3 = fps6 == 90.0, fps3 == 60.0
    assert ui_ticks6.sum() == ui_ticks3.sum() > 500  # the same phases (one bank, one window)
    assert fr6[ui_ticks6].sum() / (ui_ticks6.sum() * 0.01) == pytest.approx(90.0, rel=0.01)
    assert fr3[ui_ticks3].sum() / (ui_ticks3.sum() * 0.01) == pytest.approx(60.0, rel=0.01)
    assert np.median(ui6[ui_ticks6 & (fr6 > 0)]) == pytest.approx(np.median(ui3[ui_ticks3 & (fr3 > 0)]), rel=0.1)
    fr_b, fps_b, _ = pool("pixel6", "3dmark")
    assert set(np.unique(fps_b[fr_b > 0]).tolist()) <= {5.0, 60.0}


def test_workers_spread_over_fitting_cores_not_one_mid_core():
    """Pixel 5 has one mid core: worker threads too big for little spread over mid and big, not all on mid."""
    task = make_task("pixel5", "tiktok")
    dev = compile_devices([task.device])
    n = 50
    raw = {
        "frames": np.zeros((1, n)),
        "ui_mc": np.zeros((1, n)),
        "gpu_mc": np.zeros((1, n)),
        "worker_mc": np.full((1, n), 40.0),  # 4 threads of 1000 Mc/s: do not fit little, fit mid and big
        "bg_mc": np.zeros((1, n)),
    }
    comp = compile_demand(raw, dev, np.zeros(1, dtype=np.int64), np.array([60.0]), 0.01)
    other = comp.other[0, 0]
    assert other[0] == 0.0 and other[1] > 0.0 and other[2] > 0.0
    assert other[1] < 40.0
    small = dict(raw, worker_mc=np.full((1, n), 2.0))  # small threads: EAS keeps them on little cores
    comp = compile_demand(small, dev, np.zeros(1, dtype=np.int64), np.array([60.0]), 0.01)
    assert comp.other[0, 0, 0] == pytest.approx(2.0) and comp.other[0, 0, 1] == 0.0


def test_frames_do_not_wait_behind_worker_backlog_on_other_cores():
    """A worker backlog on the little cluster does not delay frames whose threads run on big."""
    a = _synthetic("pixel6", 300, 2, ui=3.0, rt=2.0, gpu=2.0)
    b = _synthetic("pixel6", 300, 2, ui=3.0, rt=2.0, gpu=2.0)
    b.q[0, 0] = 1e6  # a huge little-cluster backlog
    req = np.array([[0, 0, 10, 10]])
    oa, ob = a.step(req, 300), b.step(req, 300)
    assert oa.frames_presented[0] == ob.frames_presented[0]
    assert oa.frames_janky[0] == ob.frames_janky[0]


def test_same_seed_same_trajectory_and_batched_equals_single():
    tasks = [make_task("pixel5", "weibo"), make_task("pixel8", "3dmark")]
    gov = make_governor("schedutil")
    a = replay(tasks, gov, 3.0, seed=3)
    b = replay(tasks, make_governor("schedutil"), 3.0, seed=3)
    np.testing.assert_array_equal(a.frames_presented, b.frames_presented)
    np.testing.assert_array_equal(a.energy_mj, b.energy_mj)
    single = replay(tasks[1:], make_governor("schedutil"), 3.0, seed=3)
    np.testing.assert_array_equal(single.frames_janky[:, 0], a.frames_janky[:, 1])
    np.testing.assert_array_equal(single.energy_mj[:, 0], a.energy_mj[:, 1])


@pytest.mark.slow
@pytest.mark.parametrize("gov", ["schedutil", "performance", "powersave", "ondemand", "conservative"])
def test_no_queue_grows_without_bound_over_ten_minutes(gov):
    """10-minute episodes on all 30 tasks: frames in flight stay within the buffer depth and the other-work backlog
    within its bound (2 s of top-OPP throughput). Under the governors that follow the load, every minute the backlog
    of each task empties at least once (a queue that grows without bound never empties); powersave holds some
    clusters below the load for minutes (Pixel 3 app loading), where the bound sheds work instead."""
    tasks = [make_task(d, a) for d in DEVICES for a in APPS]
    tl = replay(tasks, make_governor(gov), 600.0, seed=1)
    assert tl.frames_in_flight.max() <= BUFFER_DEPTH
    dev = compile_devices([t.device for t in tasks])
    bound = OTHER_BACKLOG_S * dev.fmax_mhz * dev.ipc * dev.cores  # (N, 4) Mc
    assert np.all(tl.backlog_mc <= bound[None] * (1 + 1e-9) + 1e-6)
    if gov == "powersave":
        return
    minute = round(60.0 / tl.step_s)
    total = tl.backlog_mc.sum(axis=2)
    lows = total.reshape(10, minute, -1).min(axis=1)  # (minute, task) lowest backlog in each minute
    for i, name in enumerate(tl.task_names):
        assert lows[:, i].max() < 1.0, f"{gov} {name}: backlog did not empty within a minute ({lows[:, i]})"
        assert tl.work_shed_mc[:, i].sum() == 0.0, f"{gov} {name}: work shed"


def test_a_frame_starting_in_a_tick_without_a_request_costs_the_requested_work():
    """``compile_demand`` carries the latest requested frame's UI and GPU work into ticks without a request (a
    late frame starts there); ticks with a request keep their own work."""
    dev = compile_devices([make_task("pixel3", "weibo").device])
    frames = np.array([[0, 1, 0, 0, 2, 0, 1, 0, 0]], dtype=np.float64)
    ui = frames * np.array([[0, 10, 0, 0, 6, 0, 3, 0, 0]])  # per frame 10, 6, 3 Mc
    raw = {"frames": frames, "ui_mc": ui, "gpu_mc": ui / 2.0, "worker_mc": np.zeros_like(ui), "bg_mc": ui * 0}
    out = compile_demand(raw, dev, np.zeros(1, dtype=np.int64), np.array([60.0]))
    per_frame = np.array([10, 10, 10, 10, 6, 6, 3, 3, 3], dtype=np.float32)
    assert np.allclose(out.ui_pf[0] + out.rt_pf[0], per_frame)
    assert np.allclose(out.gpu_pf[0], per_frame / 2.0)


@pytest.mark.parametrize("app", ["3dmark", "weibo"])
def test_gpu_work_per_presented_frame_is_the_apps_per_frame_work(app):
    """At the top OPPs the GPU work executed per presented frame equals the app's mean GPU work per requested
    frame (GPU-bound 3DMark and a UI app on the Pixel 3); late frames are not free."""
    task = make_task("pixel3", app)
    tl = replay([task], make_governor("performance"), 20.0, seed=10000)
    batch = TaskBatch([task], 20.0)
    batch.seed([10000])
    batch.reset_rows(np.arange(1))
    core = batch.core
    rows = core.pool.data[int(core.base[0]) : int(core.base[0]) + batch.episode_ticks]
    requested = float((rows[:, C_FRAMES] * rows[:, C_GPU_PF]).sum() / rows[:, C_FRAMES].sum())
    gpu_rate = tl.freq_mhz[:, 0, 3] * core.dev.ipc[0, 3]  # GPU-Mc/s
    executed = float((tl.util[:, 0, 3] * gpu_rate * tl.step_s).sum() / tl.frames_presented[:, 0].sum())
    assert executed == pytest.approx(requested, rel=0.1)
