"""The Pixel 6 twin through the unmodified adb-shell client: auth, every node kind, writes, sync, nohup, cut, stop."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.exceptions import AdbTimeoutError, TcpTimeoutException
from twinutil import connect, make_signer, wait_for

from metadvfs.catalog.devices import load_device
from metadvfs.errors import MetaDVFSError
from metadvfs.twin import ManualClock, TwinServer

CPU = "/sys/devices/system/cpu/cpufreq"
MALI = "/sys/devices/platform/1c500000.mali"
P6 = load_device("pixel6")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split()]


# ------------------------------------------------------------------------------------------------ auth
def test_insecure_accepts_unknown_key_then_known_key_signs(tmp_path, signer) -> None:  # type: ignore[no-untyped-def]
    other = make_signer(tmp_path / "k")
    with TwinServer("pixel5", "weibo", auto_accept=True) as tw:
        dev = connect(tw, other)
        assert dev.shell("echo ok").strip() == "ok"
        dev.close()
        assert tw.auth_log == ["signature-rejected", "publickey-accepted"]
        pub = other.GetPublicKey().split()[0]
        assert pub in tw.read_node("/data/misc/adb/adb_keys")
        dev = connect(tw, other)
        assert dev.shell("echo again").strip() == "again"
        dev.close()
        assert tw.auth_log[-1] == "signature-accepted"


def test_own_key_and_key_option_are_trusted(twin6: TwinServer, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    n = len(twin6.auth_log)
    connect(twin6, signer).close()  # the user's own key ($METADVFS_ADB_KEY): trusted without a prompt
    assert twin6.auth_log[n:] == ["signature-accepted"]
    friend = make_signer(tmp_path / "friend")
    with TwinServer("pixel5", "weibo", keys=[tmp_path / "friend" / "adbkey"]) as tw:
        connect(tw, friend).close()
        assert tw.auth_log == ["signature-accepted"]
    with pytest.raises(MetaDVFSError, match="no adb public key"):
        TwinServer("pixel5", "weibo", keys=[tmp_path / "nothing"])


def test_unknown_key_refused_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Old code accepted any key by default (another local user got a shell on the twin)."""
    signer = make_signer(tmp_path / "k")
    with TwinServer("pixel5", "weibo") as tw:
        dev = AdbDeviceTcp("127.0.0.1", tw.port, default_transport_timeout_s=0.5)
        with pytest.raises((TcpTimeoutException, AdbTimeoutError)):
            dev.connect(rsa_keys=[signer], auth_timeout_s=0.5, read_timeout_s=0.5)
        assert tw.auth_log == ["signature-rejected", "publickey-ignored"]


# ------------------------------------------------------------------------------------------------ reads
def test_cpufreq_nodes(dev6: AdbDeviceTcp) -> None:
    assert dev6.shell(f"ls {CPU}").split() == ["policy0", "policy4", "policy6"]
    for c in P6.clusters:
        p = f"{CPU}/policy{c.first_cpu}"
        out = dev6.shell(
            f"cd {p} && cat related_cpus affected_cpus cpuinfo_min_freq cpuinfo_max_freq scaling_min_freq "
            "scaling_max_freq scaling_cur_freq scaling_governor scaling_setspeed && cat scaling_available_frequencies "
            "&& cat scaling_available_governors && cat stats/time_in_state"
        ).splitlines()
        first, last = (int(x) for x in c.cpus.split("-")) if "-" in c.cpus else (int(c.cpus),) * 2
        assert _ints(out[0]) == list(range(first, last + 1)) == _ints(out[1])
        assert (int(out[2]), int(out[3]), int(out[4]), int(out[5])) == (
            c.freqs_khz[0], c.freqs_khz[-1], c.freqs_khz[0], c.freqs_khz[-1]
        )  # fmt: skip
        assert int(out[6]) in c.freqs_khz and out[7] == "schedutil" and out[8] == "<unsupported>"
        assert _ints(out[9]) == list(c.freqs_khz)
        assert {"schedutil", "userspace", "performance", "powersave"} <= set(out[10].split())
        tis = [_ints(x) for x in out[11:]]
        assert [f for f, _ in tis] == list(c.freqs_khz) and sum(t for _, t in tis) > 0
    # same directory through /sys/devices/system/cpu/cpuN/cpufreq
    assert dev6.shell("cat /sys/devices/system/cpu/cpu7/cpufreq/related_cpus").strip() == "6 7"


def test_time_in_state_and_proc_stat_follow_simulated_time(dev6: AdbDeviceTcp, clock6: ManualClock) -> None:
    cmd = f"cat /proc/uptime; cat /proc/stat; cat {CPU}/policy0/stats/time_in_state"

    def snap() -> tuple[float, dict[str, list[int]], int]:
        lines = dev6.shell(cmd).splitlines()
        up = float(lines[0].split()[0])
        stat = {ln.split()[0]: _ints(" ".join(ln.split()[1:])) for ln in lines[1:] if ln.startswith("cpu")}
        tis = sum(_ints(ln)[1] for ln in lines if ln and ln.split()[0].isdigit() and len(ln.split()) == 2)
        return up, stat, tis

    up0, s0, t0 = snap()
    clock6.advance(0.6)  # 60 ticks exactly: uptime (every 100 ms) and time_in_state (every 50 ms) are both due
    up1, s1, t1 = snap()
    assert set(s0) == {"cpu", *(f"cpu{i}" for i in range(8))}
    jiffies = sum(s1["cpu0"]) - sum(s0["cpu0"])
    assert up1 - up0 == pytest.approx(0.6, abs=1e-9)
    assert abs(jiffies - 60) <= 1  # one jiffy per 10 ms tick (the twin truncates ticks * 0.01 * 100 to an int)
    for name in (f"cpu{i}" for i in range(8)):
        d = [b - a for a, b in zip(s0[name], s1[name], strict=True)]
        assert all(x >= 0 for x in d)
        assert sum(d) == jiffies  # user + system + idle advance one jiffy per 10 ms tick on every CPU
    busy = sum(s1["cpu0"][:3]) - sum(s0["cpu0"][:3])
    assert 0 <= busy <= jiffies
    assert t1 - t0 == 60  # time_in_state is in 10 ms units: one per tick


def test_gpu_thermal_power_nodes(dev6: AdbDeviceTcp, clock6: ManualClock) -> None:
    out = dev6.shell(
        f"cat {MALI}/cur_freq {MALI}/utilization {MALI}/max_freq {MALI}/min_freq; cat {MALI}/available_frequencies; "
        "readlink /sys/class/misc/mali0/device"
    ).splitlines()
    gpu = list(P6.gpu.freqs_khz)
    assert int(out[0]) in gpu and 0 <= int(out[1]) <= 100 and (int(out[2]), int(out[3])) == (gpu[-1], gpu[0])
    assert _ints(out[4]) == sorted(gpu, reverse=True) and out[5].endswith("1c500000.mali")
    types = dev6.shell("for z in /sys/class/thermal/thermal_zone*; do cat $z/type; done").split()
    assert {"BIG", "MID", "LITTLE", "G3D", "VIRTUAL-SKIN", "battery"} <= set(types)
    temps = _ints(dev6.shell("cat /sys/class/thermal/thermal_zone*/temp"))
    assert all(20_000 < t < 60_000 for t in temps)  # millidegrees C
    assert dev6.shell("cat /dev/thermal/cdev-by-name/thermal-cpufreq-2/cur_state").strip() == "0"

    def energy() -> tuple[int, dict[str, int]]:
        text = dev6.shell("cat /sys/bus/iio/devices/iio:device*/energy_value")
        t = max(int(ln[2:]) for ln in text.splitlines() if ln.startswith("t="))
        rails = {ln.split("[")[1].split("]")[0]: int(ln.split(",")[1]) for ln in text.splitlines() if "[" in ln}
        return t, rails

    t0, e0 = energy()
    clock6.advance(0.5)
    t1, e1 = energy()
    assert t1 - t0 == 500  # ODPM timestamps, ms of simulated time
    assert len(e0) == 16 and {"S4M_VDD_CPUCL0", "S3M_VDD_CPUCL1", "S2M_VDD_CPUCL2", "S2S_VDD_G3D"} <= set(e0)
    power_w = sum(e1[r] - e0[r] for r in e0) / (t1 - t0) / 1000.0  # uWs / ms -> mW -> W
    assert 0.5 < power_w < 15.0
    bat = "/sys/class/power_supply/battery"
    cur, volt = _ints(dev6.shell(f"cat {bat}/current_now {bat}/voltage_now"))
    assert cur < 0 and volt == 3_850_000


def test_dumpsys_getprop_foreground(dev6: AdbDeviceTcp) -> None:
    assert dev6.shell("getprop ro.product.device").strip() == "oriole"
    assert dev6.exec_out("getprop ro.product.model").strip() == "Pixel 6"  # exec: service
    assert "com.zhiliaoapp.musically/" in dev6.shell("dumpsys window | grep mCurrentFocus")
    assert "mResumedActivity: ActivityRecord{" in dev6.shell("dumpsys activity activities | grep -E 'mResumedActivity'")
    layers = dev6.shell("dumpsys SurfaceFlinger --list").splitlines()
    sv = [x for x in layers if x.startswith("SurfaceView[com.zhiliaoapp.musically/")]
    assert len(sv) == 1
    lat = dev6.shell(f"dumpsys SurfaceFlinger --latency '{sv[0]}'").splitlines()
    assert int(lat[0]) == round(1e9 / 90) and len(lat) == 128  # refresh period, then 127 records
    frames = [_ints(x) for x in lat[1:] if x != "0\t0\t0"]
    assert len(frames) > 5
    actual = [f[1] for f in frames]
    assert actual == sorted(actual) and all(f[0] <= f[1] for f in frames)
    assert dev6.shell("dumpsys SurfaceFlinger --latency NoSuchLayer#0").strip() == lat[0]
    dev6.shell("dumpsys SurfaceFlinger --latency-clear")
    after = dev6.shell(f"dumpsys SurfaceFlinger --latency '{sv[0]}'").splitlines()
    assert sum(x != "0\t0\t0" for x in after[1:]) < len(frames)
    assert "level:" in dev6.shell("dumpsys battery") and "Can't find service: nope" in dev6.shell("dumpsys nope")


# ------------------------------------------------------------------------------------------------ writes
def test_writes_change_the_simulated_phone(twin6: TwinServer, dev6: AdbDeviceTcp, clock6: ManualClock) -> None:
    before = twin6.settings_snapshot()
    p4 = f"{CPU}/policy4"
    mid = list(P6.clusters[1].freqs_khz)
    # pin mid at 1024000 with min = max: scaling_cur_freq follows at once
    dev6.shell(f"su -c 'echo 1024000 > {p4}/scaling_max_freq; echo 1024000 > {p4}/scaling_min_freq'")
    assert dev6.shell(f"cat {p4}/scaling_cur_freq").strip() == "1024000"
    clock6.advance(0.2)  # schedutil keeps deciding: the pin holds
    assert dev6.shell(f"cat {p4}/scaling_cur_freq").strip() == "1024000"
    # a max between OPPs is kept as written; the phone runs at most the OPP below it
    dev6.shell(f"su -c 'echo 400000 > {p4}/scaling_min_freq; echo 800000 > {p4}/scaling_max_freq'")
    assert dev6.shell(f"cat {p4}/scaling_max_freq").strip() == "800000"
    for _ in range(3):  # and keeps to it while the governor runs
        assert int(dev6.shell(f"cat {p4}/scaling_cur_freq")) <= 799000
        clock6.advance(0.05)
    # garbage is rejected (EINVAL): the old value stays
    dev6.shell(f"su -c 'echo abc > {p4}/scaling_max_freq'")
    assert dev6.shell(f"cat {p4}/scaling_max_freq").strip() == "800000"
    # userspace + scaling_setspeed (RELATION_L: the lowest OPP at or above the request), clamped to [min, max]
    dev6.shell(f"su -c 'echo {mid[-1]} > {p4}/scaling_max_freq; echo userspace > {p4}/scaling_governor'")
    dev6.shell(f"su -c 'echo 1500000 > {p4}/scaling_setspeed'")
    assert dev6.shell(f"cat {p4}/scaling_cur_freq {p4}/scaling_setspeed").split() == ["1663000", "1663000"]
    dev6.shell(f"su -c 'echo schedutil > {p4}/scaling_governor; echo 400000 > {p4}/scaling_setspeed'")
    assert dev6.shell(f"cat {p4}/scaling_governor {p4}/scaling_setspeed").split() == ["schedutil", "<unsupported>"]
    # Mali: scaling_max_freq must equal a table entry
    dev6.shell(f"su -c 'echo 500000 > {MALI}/scaling_max_freq'")
    assert dev6.shell(f"cat {MALI}/scaling_max_freq").strip() == "848000"
    dev6.shell(f"su -c 'echo 302000 > {MALI}/scaling_max_freq'")
    assert int(dev6.shell(f"cat {MALI}/cur_freq")) <= 302000  # devfreq applies a limit at once
    clock6.advance(0.1)
    assert int(dev6.shell(f"cat {MALI}/cur_freq")) <= 302000
    dev6.shell(f"su -c 'echo 848000 > {MALI}/scaling_max_freq'")
    assert twin6.settings_snapshot() == before


def test_services_and_properties_in_snapshot(twin6: TwinServer, dev6: AdbDeviceTcp) -> None:
    before = twin6.settings_snapshot()
    assert before["prop:init.svc.vendor.thermal-hal-2-0"] == "running"
    assert "must be root" in dev6.shell("stop vendor.thermal-hal-2-0")
    dev6.shell("su -c 'stop vendor.thermal-hal-2-0; setprop persist.vendor.disable.thermal.control 1'")
    snap = twin6.settings_snapshot()
    assert twin6._driver is not None and not twin6._driver.skin_enabled  # the skin throttle rules are off
    assert snap["prop:init.svc.vendor.thermal-hal-2-0"] == "stopped"
    assert snap["prop:persist.vendor.disable.thermal.control"] == "1"
    assert dev6.shell("getprop init.svc.vendor.thermal-hal-2-0").strip() == "stopped"
    dev6.shell("su 0 sh -c 'start vendor.thermal-hal-2-0; setprop persist.vendor.disable.thermal.control 0'")
    assert twin6.settings_snapshot() == before and twin6._driver.skin_enabled
    assert dev6.shell("id -u; su -c 'id -u'").split() == ["2000", "0"]


# ------------------------------------------------------------------------------------------------ sync
def test_push_pull_roundtrip(dev6: AdbDeviceTcp, twin6: TwinServer) -> None:
    blob = os.urandom(300_000)
    dev6.push(io.BytesIO(blob), "/data/local/tmp/blob.bin")
    out = io.BytesIO()
    dev6.pull("/data/local/tmp/blob.bin", out)
    assert out.getvalue() == blob
    mode, size, _ = dev6.stat("/data/local/tmp/blob.bin")
    assert size == len(blob) and mode & 0o777 == 0o770
    assert dev6.shell("wc -c < /data/local/tmp/blob.bin").strip() == str(len(blob))
    names = {e.filename.decode() for e in dev6.list("/data/local/tmp")}
    assert "blob.bin" in names
    dev6.push(io.BytesIO(b"x"), "/data/local/tmp/../../../../tmp/metadvfs-twin-escape")
    assert not os.path.exists("/tmp/metadvfs-twin-escape")
    assert twin6.read_node("/tmp/metadvfs-twin-escape") == "x"  # landed inside the phone's root
    with pytest.raises(Exception, match="does not exist"):
        dev6.pull("/data/local/tmp/nope", io.BytesIO())


def test_scripts_run_directly_stay_in_the_twin(dev6: AdbDeviceTcp) -> None:
    import hashlib

    cmd = f"cat {CPU}/policy0/cpuinfo_max_freq"
    scripts = {"/data/local/tmp/a.sh": f"#!/bin/sh\n{cmd}\n", "/data/local/tmp/b.sh": f"{cmd}\n"}
    for path, text in scripts.items():
        dev6.push(io.BytesIO(text.encode()), path)
    out = dev6.shell("cd /data/local/tmp && chmod 755 a.sh b.sh && ./a.sh && /data/local/tmp/b.sh")
    assert out.split() == ["1803000", "1803000"]  # the host's /sys would show the host's CPUs
    sums = dev6.shell("md5sum /data/local/tmp/a.sh /data/local/tmp/b.sh").split()
    assert sums == [x for p, t in scripts.items() for x in (hashlib.md5(t.encode()).hexdigest(), p)]
    assert dev6.shell("cd / && pwd && ls").split()[:2] == ["/", "bin"]


def test_nohup_script_survives_disconnect(twin6: TwinServer, signer: PythonRSASigner) -> None:
    node = f"{CPU}/policy6/scaling_max_freq"
    script = f"""#!/system/bin/sh
# watchdog: put the big cluster's max back when the heartbeat file is older than 1 s
while true; do
  now=$(date +%s); hb=$(cat /data/local/tmp/hb 2>/dev/null || echo 0)
  if [ $((now - hb)) -gt 1 ]; then echo 2802000 > {node}; echo restored > /data/local/tmp/wd.log; exit 0; fi
  sleep 0.2
done
"""
    dev = connect(twin6, signer)
    dev.push(io.BytesIO(script.encode()), "/data/local/tmp/wd_test.sh")
    # heartbeat 3 s in the future: the watchdog must still be running when we look (a loaded CI machine can
    # take over a second between writing the heartbeat and starting the script)
    dev.shell(f"su -c 'echo 1000000 > {node}'; echo $(( $(date +%s) + 3 )) > /data/local/tmp/hb")
    t0 = time.monotonic()
    assert dev.shell("nohup sh /data/local/tmp/wd_test.sh > /dev/null 2>&1 &") == ""
    assert time.monotonic() - t0 < 2.0  # the shell stream closes although the script keeps running
    # the background shell may take a moment to exec the script (a loaded machine): wait until it is listed
    assert wait_for(lambda: any("sh /data/local/tmp/wd_test.sh" in p for p in twin6.running_processes()), 2.0)
    dev.close()
    assert twin6.read_node(node).strip() == "1000000"
    assert wait_for(lambda: twin6.read_node(node).strip() == "2802000", 10.0)
    assert twin6.read_node("/data/local/tmp/wd.log").strip() == "restored"
    assert wait_for(lambda: not any("wd_test" in p for p in twin6.running_processes()), 3.0)
    back = io.BytesIO()
    dev = connect(twin6, signer)
    dev.pull("/data/local/tmp/wd_test.sh", back)  # the file reads back as pushed (phone paths)
    dev.close()
    assert back.getvalue() == script.encode()


def test_cut_connections(twin6: TwinServer, signer: PythonRSASigner) -> None:
    dev = connect(twin6, signer)
    assert dev.shell("echo 1").strip() == "1"
    twin6.cut_connections()
    assert wait_for(lambda: twin6.connections == 0, 2.0)
    with pytest.raises(Exception):  # noqa: B017 - any transport error: reset, broken pipe, timeout
        dev.shell("echo 2", read_timeout_s=2.0)
    dev.close()
    dev = connect(twin6, signer)
    assert dev.shell("echo 3").strip() == "3"
    dev.close()


def test_concurrent_clients(twin6: TwinServer, signer: PythonRSASigner) -> None:
    errors: list[str] = []

    def worker(k: int) -> None:
        try:
            dev = connect(twin6, signer)
            for i in range(8):
                got = dev.shell(f"echo {k}-{i}; cat {CPU}/policy0/cpuinfo_max_freq").split()
                if got != [f"{k}-{i}", "1803000"]:
                    errors.append(repr(got))
            dev.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


def test_foreground_switch_and_reboot(tmp_path, signer: PythonRSASigner) -> None:  # type: ignore[no-untyped-def]
    with TwinServer("pixel8", "tiktok", seed=1) as tw:
        dev = connect(tw, signer)
        out = dev.shell("am start -n tv.danmaku.bili/tv.danmaku.bili.MainActivityV2")
        assert out.startswith("Starting:")
        assert "tv.danmaku.bili/" in dev.shell("dumpsys window | grep mCurrentFocus")
        assert "unable to resolve" in dev.shell("am start -n com.example.none/.Main")
        before = tw.settings_snapshot()
        dev.shell("su -c 'echo performance > /sys/devices/system/cpu/cpufreq/policy0/scaling_governor'")
        dev.shell("nohup sh -c 'while true; do sleep 1; done' > /dev/null 2>&1 &")
        assert tw.settings_snapshot() != before
        assert wait_for(lambda: bool(tw.running_processes()), 2.0)  # the background job may not be up yet (load)
        dev.reboot()
        assert wait_for(lambda: not tw.running_processes() and tw.settings_snapshot() == before, 5.0)
        dev.close()
        dev = connect(tw, signer)
        assert dev.shell("cat /sys/devices/system/cpu/cpufreq/policy0/scaling_governor").strip() == "schedutil"
        dev.close()


def test_stop_kills_phone_processes(signer: PythonRSASigner) -> None:
    tw = TwinServer("pixel4", "kwai").start()
    try:
        dev = connect(tw, signer)
        dev.shell("nohup sh -c 'while true; do sleep 1; done' > /dev/null 2>&1 &")
        dev.shell("setsid sh -c 'sleep 300' > /dev/null 2>&1 < /dev/null &")
        dev.close()
        assert wait_for(lambda: len(tw.running_processes()) >= 2, 2.0)
        phone = tw._phone
        assert phone is not None
        base = phone.base
    finally:
        tw.stop()
    assert not phone.processes() and not base.exists()
