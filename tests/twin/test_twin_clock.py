"""The twin's clocks: a manual clock steps the phone exactly and reproducibly; the real-time clock is the default."""

from __future__ import annotations

import threading

import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.twin import Clock, ManualClock, RealTimeClock, TwinServer

CPU0 = "/sys/devices/system/cpu/cpufreq/policy0"
NODES = (
    "/proc/uptime",
    f"{CPU0}/stats/time_in_state",
    f"{CPU0}/scaling_cur_freq",
    "/sys/devices/system/cpu/cpufreq/policy6/scaling_cur_freq",
    "/sys/class/thermal/thermal_zone0/temp",
    "/sys/bus/iio/devices/iio:device0/energy_value",
    "/sys/class/power_supply/battery/current_now",
)


def _state(tw: TwinServer) -> dict[str, str]:
    out = {n: tw.read_node(n) for n in NODES}
    # /proc/stat without btime (the boot time is the host's wall clock)
    out["/proc/stat"] = "".join(x for x in tw.read_node("/proc/stat").splitlines(True) if not x.startswith("btime"))
    return out


def _drivers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "metadvfs-twin-driver"]


def test_clocks_follow_the_protocol() -> None:
    assert isinstance(ManualClock(), Clock) and isinstance(RealTimeClock(2.0), Clock)
    with pytest.raises(MetaDVFSError, match="realtime: must be > 0"):
        RealTimeClock(0.0)


def test_manual_clock_steps_exactly_without_a_thread() -> None:
    clock = ManualClock()
    before = len(_drivers())
    with TwinServer("pixel3", "bilibili", clock=clock) as tw:
        assert len(_drivers()) == before  # no driver thread: time stands still between advances
        t0 = tw.sim_time_s  # the build's first tick
        up0 = tw.read_node("/proc/uptime")
        assert tw.read_node("/proc/uptime") == up0 and tw.sim_time_s == t0
        clock.advance(2.5)
        assert tw.sim_time_s == pytest.approx(t0 + 2.5, abs=1e-9) and clock.now_s == pytest.approx(2.5)
        clock.advance(0.0)
        assert tw.sim_time_s == pytest.approx(t0 + 2.5, abs=1e-9)
        assert tw.lag_s == 0.0 and not tw.errors
        for bad in (-0.01, 0.005, 0.123):
            with pytest.raises(MetaDVFSError, match=r"multiple of 0\.01 s"):
                clock.advance(bad)
    with pytest.raises(MetaDVFSError, match="not running"):
        clock.advance(0.1)


def test_manual_clock_is_reproducible() -> None:
    """Same seed, same advances -> the same node contents, whatever the host's load."""
    states = []
    for _ in range(2):
        clock = ManualClock()
        with TwinServer("pixel6", "tiktok", seed=3, clock=clock) as tw:
            clock.advance(1.5)
            tw.set_foreground("weibo")
            clock.advance(0.7)
            states.append(_state(tw))
    assert states[0] == states[1]
    assert float(states[0]["/proc/uptime"].split()[0]) == pytest.approx(2.2)
    with TwinServer("pixel6", "tiktok", seed=4, clock=(clock := ManualClock())) as tw:
        clock.advance(1.5)
        tw.set_foreground("weibo")
        clock.advance(0.7)
        assert _state(tw) != states[0]  # another seed, another demand
