"""Faults, every device profile's topology, and the ``metadvfs twin`` command."""

from __future__ import annotations

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from twinutil import connect
from typer.testing import CliRunner

from metadvfs.catalog.devices import list_devices, load_device
from metadvfs.cli import app as cli_app
from metadvfs.errors import MetaDVFSError
from metadvfs.twin import ManualClock, TwinServer
from metadvfs.twin.family import facts_for

CPU = "/sys/devices/system/cpu/cpufreq"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split()]


# ------------------------------------------------------------------------------------------------ faults
def test_garbled_sysfs(signer: PythonRSASigner) -> None:
    clock = ManualClock()
    with TwinServer("pixel6", "tiktok", faults=frozenset({"garbled_sysfs"}), clock=clock) as tw:
        dev = connect(tw, signer)
        reads = []
        for _ in range(20):  # one refresh between reads (the node is rewritten every tick)
            clock.advance(0.01)
            reads.append(dev.shell(f"cat {CPU}/policy6/scaling_cur_freq"))
        dev.close()
    values = [r.strip() for r in reads]
    good = [v for v in values if v.isdigit() and int(v) in load_device("pixel6").clusters[2].freqs_khz]
    bad = [v for v in values if v not in good]
    assert good and bad  # some reads are valid frequencies, some are garbage


@pytest.mark.parametrize("device", ["pixel6", "pixel4"])
def test_missing_nodes_and_no_userspace(device: str, signer: PythonRSASigner) -> None:
    faults = frozenset({"missing_nodes", "no_userspace"})
    prof = load_device(device)
    big = f"{CPU}/policy{prof.clusters[-1].first_cpu}"
    with TwinServer(device, "weibo", faults=faults) as tw:
        dev = connect(tw, signer)
        out = dev.shell(f"ls {big}; cat {CPU}/policy0/scaling_available_governors")
        gpu = facts_for(prof).gpu_dir + ("" if prof.gpu.family == "mali" else "/devfreq")
        gone = dev.shell(f"ls {gpu} 2>&1; cat {big}/scaling_max_freq 2>&1")
        dev.shell(f"su -c 'echo userspace > {CPU}/policy0/scaling_governor'")
        gov = dev.shell(f"cat {CPU}/policy0/scaling_governor").strip()
        snap = tw.settings_snapshot()
        dev.close()
    assert "scaling_max_freq" not in out.split() and "scaling_min_freq" in out.split()
    assert "userspace" not in out.split() and "schedutil" in out.split()
    assert gone.count("No such file or directory") == 2
    assert gov == "schedutil"  # writing a governor that is not available is rejected
    assert f"{big}/scaling_max_freq" not in snap and not any(k.startswith(gpu + "/") for k in snap)


def test_permission_denied(signer: PythonRSASigner) -> None:
    with TwinServer("pixel6", "tiktok", faults=frozenset({"permission_denied"})) as tw:
        before = tw.settings_snapshot()
        dev = connect(tw, signer)
        su = dev.shell("su -c 'id'; echo rc=$?")
        plain = dev.shell(f"echo 500000 > {CPU}/policy6/scaling_max_freq; echo rc=$?")
        prop = dev.shell("setprop persist.vendor.disable.thermal.control 1; echo rc=$?")
        tmp = dev.shell("echo hi > /data/local/tmp/x && cat /data/local/tmp/x")
        dev.close()
        assert tw.settings_snapshot() == before
    assert su.splitlines() == ["Permission denied", "rc=1"]
    assert "Permission denied" in plain and not plain.strip().endswith("rc=0")
    assert "Failed to set property" in prop
    assert tmp.strip() == "hi"  # /data/local/tmp stays writable for the shell user


def test_unknown_fault_and_bad_arguments() -> None:
    with pytest.raises(MetaDVFSError, match="unknown fault 'nope'"):
        TwinServer(faults=frozenset({"nope"}))
    with pytest.raises(MetaDVFSError, match="unknown device"):
        TwinServer(device="pixel9")
    with pytest.raises(MetaDVFSError, match="unknown app"):
        TwinServer(app="nope")
    with pytest.raises(MetaDVFSError, match="port"):
        TwinServer(port=70000)
    with pytest.raises(MetaDVFSError, match="not running"):
        TwinServer().settings_snapshot()


# ------------------------------------------------------------------------------------------------ devices
@pytest.mark.parametrize("device", list_devices())
def test_device_topology(device: str, signer: PythonRSASigner) -> None:
    prof = load_device(device)
    facts = facts_for(prof)
    with TwinServer(device, "taobao") as tw:
        dev = connect(tw, signer)
        sh = dev.shell
        assert sh("getprop ro.product.device").strip() == prof.codenames[0]
        assert sh(f"ls {CPU}").split() == [f"policy{c.first_cpu}" for c in prof.clusters]
        for c in prof.clusters:
            p = f"{CPU}/policy{c.first_cpu}"
            lines = sh(f"cat {p}/related_cpus; cat {p}/scaling_available_frequencies; cat {p}/scaling_cur_freq")
            rel, freqs, cur = lines.splitlines()
            assert _ints(freqs) == list(c.freqs_khz) and int(cur) in c.freqs_khz
            assert len(_ints(rel)) == c.cores and _ints(rel)[0] == c.first_cpu
        n_cpus = sum(c.cores for c in prof.clusters)
        assert sh("grep -c '^cpu[0-9]' /proc/stat").strip() == str(n_cpus)
        gpu_hz = sorted((f * 1000 for f in prof.gpu.freqs_khz), reverse=True)
        if prof.gpu.family == "adreno":
            assert _ints(sh(f"cat {facts.gpu_dir}/gpu_available_frequencies")) == gpu_hz
            assert sh(f"cat {facts.gpu_dir}/devfreq/governor").strip() == "msm-adreno-tz"
            # pin power level 1 (level 0 is the fastest): max_pwrlevel = min_pwrlevel = 1
            k = facts.gpu_dir
            sh(f"su -c 'echo 1 > {k}/max_pwrlevel; echo 1 > {k}/min_pwrlevel'")
            assert _ints(sh(f"cat {k}/gpuclk {k}/devfreq/cur_freq")) == [gpu_hz[1], gpu_hz[1]]
            sh(f"su -c 'echo 0 > {k}/max_pwrlevel; echo {len(gpu_hz) - 1} > {k}/min_pwrlevel'")
            assert sh("ls /sys/bus/iio/devices 2>&1").count("No such file") == 1  # no ODPM before Pixel 6
        else:
            assert _ints(sh(f"cat {facts.gpu_dir}/available_frequencies")) == [h // 1000 for h in gpu_hz]
            names = sh("cat /sys/bus/iio/devices/iio:device*/name").split()
            assert len(names) == 2 and all(n.endswith("-odpm") for n in names)
            rails = sh("cat /sys/bus/iio/devices/iio:device*/enabled_rails")
            assert all(f"CPUCL{k}]" in rails for k in range(3)) and "VDD_G3D]" in rails
        types = sh("cat /sys/class/thermal/thermal_zone*/type").split()
        assert sorted(types) == sorted(z.type for z in facts.zones)
        assert int(sh("cat /sys/class/power_supply/battery/current_now")) < 0
        dev.close()


def test_realtime_scales_simulated_time() -> None:
    """Real-time mode on purpose (the users' clock): simulated time follows the wall clock scaled by ``realtime``."""
    import time

    with TwinServer("pixel3", "bilibili", realtime=4.0) as tw:
        up0, t0, lag0 = float(tw.read_node("/proc/uptime").split()[0]), time.monotonic(), tw.lag_s
        time.sleep(0.6)
        up1, t1, lag1 = float(tw.read_node("/proc/uptime").split()[0]), time.monotonic(), tw.lag_s
    expected = 4.0 * (t1 - t0) - (lag1 - lag0)  # minus simulated time dropped if the host fell behind
    assert expected - 0.35 <= up1 - up0 <= expected + 0.35  # /proc/uptime is refreshed every 0.1 simulated s


# ------------------------------------------------------------------------------------------------ raw protocol
def test_raw_protocol_no_auth_and_interactive_shell() -> None:
    import socket

    from metadvfs.twin import protocol as P

    with TwinServer("pixel5", "weibo", auth=False) as tw, socket.create_connection(("127.0.0.1", tw.port), 5) as s:
        s.sendall(P.pack(P.CNXN, 0x01000000, 4096, b"host::test\0"))
        hello = P.read_packet(s)
        assert hello.name == "CNXN" and hello.arg1 == P.MAX_PAYLOAD and b"ro.product.device=redfin" in hello.data
        s.sendall(P.pack(P.OPEN, 7, 0, b"shell:\0"))  # no command: the shell reads commands from the stream
        ok = P.read_packet(s)
        assert (ok.name, ok.arg1) == ("OKAY", 7)
        remote = ok.arg0
        s.sendall(P.pack(P.WRTE, 7, remote, b"getprop ro.product.model; exit\n"))
        out = b""
        while True:
            pkt = P.read_packet(s)
            if pkt.name == "WRTE":
                out += pkt.data
                s.sendall(P.pack(P.OKAY, 7, remote))
            elif pkt.name == "CLSE":
                break
        assert out == b"Pixel 5\n"
        s.sendall(P.pack(P.OPEN, 8, 0, b"bogus:\0"))
        assert P.read_packet(s).name == "CLSE"  # unknown services are refused


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_twin_errors_are_one_line() -> None:
    runner = CliRunner()
    for args, needle in (
        (["--device", "pixel9"], "unknown device"),
        (["--app", "nope"], "unknown app"),
        (["--port", "-1"], "port"),
        (["--fault", "nope"], "unknown fault"),
    ):
        res = runner.invoke(cli_app, ["twin", "--port", "0", *args])
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_cli_twin_serves_and_prints_serial() -> None:
    res = CliRunner().invoke(cli_app, ["twin", "--device", "pixel5", "--port", "0", "--duration", "0.3"])
    assert res.exit_code == 0, res.output
    assert "serial: 127.0.0.1:" in res.output and "adb connect 127.0.0.1:" in res.output
