"""Parsers of sysfs/procfs/dumpsys text: good samples parse, garbage gives a one-line error naming the node."""

from __future__ import annotations

import pytest

from metadvfs.adb import parsers as p
from metadvfs.errors import MetaDVFSError

PROC_STAT = """cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
cpu1 1335068 38208 482276 4997451 3013 0 3014 0 0 0
cpu3 1100000 10000 400000 5000000 1000 0 0 0 0 0
intr 1462898 0 0 0
ctxt 2184516
btime 1671000000
"""


def test_proc_stat_per_cpu_busy_and_total() -> None:
    r = p.parse_proc_stat(PROC_STAT)
    assert sorted(r) == [0, 1, 3]  # cpu2 offline: no line, parsed by name not position
    busy, total = r[0]
    fields = [1393280, 32966, 572056, 13343292, 6130, 0, 17875, 0]
    assert total == sum(fields)
    assert busy == total - (13343292 + 6130)


@pytest.mark.parametrize("text", ["cpu0 1 2 x 4\n", "cpu0 1 2\n", "garbage", "cpuX 1 2 3 4 5\n", ""])
def test_proc_stat_garbage(text: str) -> None:
    with pytest.raises(MetaDVFSError, match="/proc/stat"):
        p.parse_proc_stat(text)


def test_time_in_state() -> None:
    r = p.parse_time_in_state("300000 1520\n574000 33\n1803000 0\n", "policy0/stats/time_in_state")
    assert r == {300000: 1520, 574000: 33, 1803000: 0}
    with pytest.raises(MetaDVFSError, match="policy0/stats/time_in_state"):
        p.parse_time_in_state("300000 12 7\n", "policy0/stats/time_in_state")
    with pytest.raises(MetaDVFSError, match="time_in_state"):
        p.parse_time_in_state("\x00\x01garbage\n", "time_in_state")


def test_freq_table_and_values() -> None:
    node = "/sys/devices/system/cpu/cpufreq/policy0/scaling_available_frequencies"
    assert p.parse_freq_list("1803000 300000 574000 \n", node) == [300000, 574000, 1803000]
    assert p.parse_freq_list("585000000 257000000", "gpu_available_frequencies", 1e-3) == [257000, 585000]
    with pytest.raises(MetaDVFSError, match="policy0/scaling_available_frequencies"):
        p.parse_freq_list("300000 abc", node)
    assert p.parse_freq_khz("1803000\n", "scaling_cur_freq") == 1803000
    with pytest.raises(MetaDVFSError, match="scaling_cur_freq: expected an integer"):
        p.parse_freq_khz("18O3000", "scaling_cur_freq")
    with pytest.raises(MetaDVFSError, match="plausible"):
        p.parse_freq_khz("5", "scaling_cur_freq")


def test_cpu_lists_governors() -> None:
    assert p.parse_cpu_list("4 5\n", "related_cpus") == [4, 5]
    assert p.parse_cpu_list("0-3,6", "related_cpus") == [0, 1, 2, 3, 6]
    with pytest.raises(MetaDVFSError, match="related_cpus"):
        p.parse_cpu_list("four", "related_cpus")
    assert p.parse_words("schedutil userspace performance \n", "avail") == ["schedutil", "userspace", "performance"]
    assert p.parse_word("schedutil\n", "scaling_governor") == "schedutil"
    with pytest.raises(MetaDVFSError, match="scaling_governor"):
        p.parse_word("sched;rm -rf /", "scaling_governor")


def test_thermal_zone_temperatures() -> None:
    node = "/sys/class/thermal/thermal_zone3/temp"
    assert p.parse_temp_c("45123\n", node) == pytest.approx(45.123)
    assert p.parse_temp_c("-5000", node) == pytest.approx(-5.0)
    for bad in ("45.1C", "", "999999999", "nan"):
        with pytest.raises(MetaDVFSError, match="thermal_zone3/temp"):
            p.parse_temp_c(bad, node)


def test_gpu_percent() -> None:
    assert p.parse_percent("37 %\n", "gpu_busy_percentage") == pytest.approx(0.37)
    assert p.parse_percent("100", "utilization") == pytest.approx(1.0)
    with pytest.raises(MetaDVFSError, match="utilization"):
        p.parse_percent("180", "utilization")
    with pytest.raises(MetaDVFSError, match="utilization"):
        p.parse_percent("busy", "utilization")


ODPM = """t=437823
CH0(T=437812)[PPVAR_VSYS_PWR_DISP], 1822839212
CH3(T=437812)[S2M_VDD_CPUCL2], 93847
CH5(T=437812)[S4M_VDD_CPUCL0], 8234567
"""


def test_odpm_energy_value() -> None:
    r = p.parse_odpm(ODPM, "/sys/bus/iio/devices/iio:device0/energy_value")
    assert r.t_ms == 437823
    assert r.rails["S2M_VDD_CPUCL2"] == (437812, 93847)
    assert list(r.rails) == ["PPVAR_VSYS_PWR_DISP", "S2M_VDD_CPUCL2", "S4M_VDD_CPUCL0"]
    for bad in ("CH0(T=1)[X], 5\n", "t=1\nCH0[X] 5\n", "t=1\n"):
        with pytest.raises(MetaDVFSError, match="iio:device0/energy_value"):
            p.parse_odpm(bad, "/sys/bus/iio/devices/iio:device0/energy_value")


SF = """16666666
0\t0\t0
1000000000\t1000500000\t990000000
1016666666\t1016900000\t1010000000
1033333333\t1066700000\t1030000000
9223372036854775807\t9223372036854775807\t9223372036854775807
"""


def test_sf_latency() -> None:
    r = p.parse_sf_latency(SF)
    assert r.refresh_ns == 16666666
    assert len(r.frames) == 3  # the empty slot and the pending fence are dropped
    assert r.frames[0] == (1000000000, 1000500000, 990000000)
    with pytest.raises(MetaDVFSError, match="refresh period"):
        p.parse_sf_latency("hello\n1 2 3\n")
    with pytest.raises(MetaDVFSError, match="3 integer columns"):
        p.parse_sf_latency("16666666\n1 2\n")


def test_sf_list() -> None:
    text = "Display 0 (HWC display 0)\nSurfaceView[com.a/com.a.Main](BLAST)#123\ncom.a/com.a.Main#122\n\n"
    assert p.parse_sf_list(text)[1] == "SurfaceView[com.a/com.a.Main](BLAST)#123"


@pytest.mark.parametrize(
    ("text", "pkg"),
    [
        (
            "  mResumedActivity: ActivityRecord{8d5f3a2 u0 com.zhiliaoapp.musically/"
            "com.ss.android.ugc.aweme.splash.SplashActivity t1234}\n",
            "com.zhiliaoapp.musically",
        ),
        ("    topResumedActivity=ActivityRecord{b1 u0 tv.danmaku.bili/.MainActivityV2 t42}\n", "tv.danmaku.bili"),
        ("  mCurrentFocus=Window{a1b2c3 u0 com.sina.weibo/com.sina.weibo.MainTabActivity}\n", "com.sina.weibo"),
        ("  mCurrentFocus=Window{123 u0 NotificationShade}\n", None),
        ("", None),
    ],
)
def test_foreground(text: str, pkg: str | None) -> None:
    assert p.parse_foreground(text) == pkg


def test_getprop() -> None:
    assert p.parse_getprop("oriole\n", "getprop ro.product.device") == "oriole"
    assert p.parse_getprop("", "getprop x") == ""
    with pytest.raises(MetaDVFSError, match="getprop x"):
        p.parse_getprop("a\nb\n", "getprop x")
