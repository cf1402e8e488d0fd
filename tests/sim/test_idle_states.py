"""Deep idle states (docs/simulator.md 6.1): profile validation and the kernel's power against a re-implementation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from metadvfs.catalog.devices import load_device
from metadvfs.catalog.types import DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.device_arrays import NO_IDLE_STATES, compile_devices
from metadvfs.tasks.task import make_task

TICK = 0.01


def _stripped(dev: DeviceProfile) -> DeviceProfile:
    return dataclasses.replace(dev, clusters=tuple(dataclasses.replace(c, idle_states=None) for c in dev.clusters))


def _run(dev: DeviceProfile, app: str, req_level: float, ticks: int) -> list:
    batch = TaskBatch([make_task(dev, app)], ticks * TICK + 1.0)
    batch.seed([5])
    batch.reset_rows(np.arange(1))
    req = np.round((batch.dev.n_opp - 1) * req_level).astype(np.int64)
    return [batch.core.step(req, 1, detail=True) for _ in range(ticks)]


def test_only_tensor_phones_have_idle_states() -> None:
    for name, has in (("pixel3", False), ("pixel4", False), ("pixel5", False), ("pixel6", True), ("pixel8", True)):
        dev = load_device(name)
        assert all((c.idle_states is not None) == has for c in dev.clusters), name
        par = compile_devices([dev]).idle_par[0]
        assert tuple(par[3]) == NO_IDLE_STATES  # the GPU never powers off
        if not has:
            assert np.array_equal(par, np.array([NO_IDLE_STATES] * 4))
    p6 = load_device("pixel6")
    assert [c.idle_states.core_off_min_residency_us for c in p6.clusters] == [2000, 2500, 3500]  # type: ignore[union-attr]
    assert [c.idle_states.exit_active_us for c in p6.clusters] == [0, 0, 200]  # type: ignore[union-attr]


@pytest.mark.parametrize("level", [0.2, 1.0])
def test_kernel_power_matches_reimplementation(level: float) -> None:
    """One-tick steps: every CPU domain's power equals the section 6.1 formula recomputed from busy/crit outputs."""
    dev = load_device("pixel6")
    outs = _run(dev, "weibo", level, 600)
    arr = compile_devices([dev])
    par = arr.idle_par[0]
    run = np.zeros(4)
    cl_run = np.zeros(4)
    deep_ticks = cluster_off = 0
    for out in outs:
        for d in range(3):
            b, c, k = out.busy[0, d], out.busy_cpu[0, d], out.idx[0, d]
            run[d] = (1.0 - b) * TICK if b > 0 else run[d] + TICK
            cl_run[d] = (1.0 - c) * TICK if c > 0 else cl_run[d] + TICK
            be, deep, on = b, 0.0, 1.0
            if run[d] >= par[d, 0]:
                be = min(1.0, b + par[d, 1] / TICK) if b > 0 else 0.0
                deep = 1.0 - be
                deep_ticks += 1
                if cl_run[d] >= par[d, 2]:
                    on = min(1.0, c + par[d, 1] / TICK) if c > 0 else 0.0
                    cluster_off += on < 1.0
            want = (
                arr.cores[0, d]
                * (arr.p_active_mw[0, d, k] * be + arr.idle_mw[0, d, k] * (1.0 - be - deep) + par[d, 3] * deep)
                + arr.static_mw[0, d, k] * on
            )
            assert out.power_mw[0, d] == pytest.approx(want, rel=1e-12, abs=1e-9)
    assert deep_ticks > 100  # the model is exercised, not vacuous
    if level < 0.5:
        assert cluster_off > 0


def test_idle_states_lower_power_not_frames() -> None:
    """Same work and frames; less power on lightly loaded clusters (power-down replaces WFI and static power)."""
    dev = load_device("pixel6")
    full = _run(dev, "tiktok", 1.0, 500)
    plain = _run(_stripped(dev), "tiktok", 1.0, 500)
    for a, b in zip(full, plain, strict=True):
        np.testing.assert_array_equal(a.busy, b.busy)
        np.testing.assert_array_equal(a.frames_presented, b.frames_presented)
        assert np.all(a.power_mw[0, :2] <= b.power_mw[0, :2] + 1e-12)  # LITTLE, MID: no wake-up cost
    e_full = sum(float(o.power_total_mw[0]) for o in full)
    e_plain = sum(float(o.power_total_mw[0]) for o in plain)
    assert e_full < 0.95 * e_plain


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p6.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("cluster_off: {min_residency_us: 10000}", "cluster_off: {min_residency_us: 100}", "must be >= core_off"),
        ("power_mw: 0.0, exit_active_us: 0}", "power_mw: -1, exit_active_us: 0}", "core_off.power_mw"),
        ("entry_us: 70,", "entry_ms: 70,", "core_off.entry_us: required key is missing"),
        ("cluster_off: {min_residency_us: 10000}", "cluster_off: {min_residency_us: 1e9}", "min_residency_us"),
    ],
)
def test_bad_idle_states_one_line_error(tmp_path: Path, old: str, new: str, needle: str) -> None:
    src = (Path(__file__).resolve().parents[2] / "devices" / "pixel6.yaml").read_text()
    assert old in src
    path = _write(tmp_path, src.replace(old, new, 1))
    with pytest.raises(MetaDVFSError) as err:
        load_device(str(path))
    msg = str(err.value)
    assert needle in msg and "idle_states" in msg and str(path) in msg and "\n" not in msg
