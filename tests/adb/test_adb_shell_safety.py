"""Quoting and validation of everything that reaches a device shell; sectioned output through a real sh."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess

import pytest

from metadvfs.adb import shellsafe as s
from metadvfs.adb.keys import KEY_ENV, default_key_path, ensure_key, load_signer
from metadvfs.adb.link import AdbLink, parse_serial
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.errors import MetaDVFSError


@pytest.mark.parametrize(
    "path",
    [
        "sys/devices/x",
        "/sys/../etc/passwd",
        "/sys/devices/x; reboot",
        "/sys/devices/$(reboot)",
        "/sys/devices/a b",
        "/sys/devices/`id`",
        "/etc/passwd",
        "/sys/devices/x\nreboot",
        "/sys/./x",
    ],
)
def test_bad_paths_rejected(path: str) -> None:
    with pytest.raises(MetaDVFSError):
        s.check_path(path)


def test_good_paths() -> None:
    for path in (
        "/sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq",
        "/sys/bus/iio/devices/iio:device0/energy_value",
        "/sys/devices/platform/1c500000.mali/scaling_min_freq",
        "/data/local/tmp/metadvfs/heartbeat",
    ):
        assert s.check_path(path) == path


def test_write_cmd_quotes_and_validates() -> None:
    cmd = s.write_cmd("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", 1803000)
    assert shlex.split(cmd) == ["echo", "1803000", ">", "/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq"]
    for bad in ("1; reboot", "$(id)", "a b", ""):
        with pytest.raises(MetaDVFSError):
            s.write_cmd("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", bad)


def test_values_checked_against_tables() -> None:
    assert s.check_value(574000, [300000, 574000], "policy0") == 574000
    with pytest.raises(MetaDVFSError, match="not in the discovered table"):
        s.check_value(574001, [300000, 574000], "policy0")
    with pytest.raises(MetaDVFSError, match="not an integer"):
        s.check_value("574000; reboot", [574000], "policy0")  # type: ignore[arg-type]


def test_names_packages_layers_props() -> None:
    assert s.check_name("vendor.thermal-engine", "service") == "vendor.thermal-engine"
    with pytest.raises(MetaDVFSError):
        s.check_name("thermal; reboot", "service")
    assert s.check_package("com.zhiliaoapp.musically") == "com.zhiliaoapp.musically"
    with pytest.raises(MetaDVFSError):
        s.check_package("com.x'; reboot; '")
    layer = "SurfaceView[com.a/com.a.Main](BLAST)#12"
    assert s.check_layer(layer, [layer]) == layer
    with pytest.raises(MetaDVFSError, match="not in"):
        s.check_layer("other#1", [layer])
    with pytest.raises(MetaDVFSError):
        s.check_layer("a\nreboot", ["a\nreboot"])
    assert shlex.split(f"dumpsys SurfaceFlinger --latency {s.q(layer)}")[-1] == layer
    with pytest.raises(MetaDVFSError):
        s.check_prop_value("1; reboot", "vendor.powerhal.init")


def test_su_wrapping_is_one_word() -> None:
    inner = "echo 1 > '/sys/x y'; cat /proc/stat"
    wrapped = AdbLink.wrap_root(inner, "su")
    assert shlex.split(wrapped) == ["su", "-c", inner]
    assert shlex.split(AdbLink.wrap_root(inner, "su0")) == ["su", "0", "sh", "-c", inner]
    assert AdbLink.wrap_root(inner, "adbd") == inner


def test_serials() -> None:
    t = parse_serial("127.0.0.1:5555")
    assert (t.kind, t.host, t.port) == ("tcp", "127.0.0.1", 5555)
    assert parse_serial("[::1]:5037").host == "::1"
    assert parse_serial("1A2B3C4D").kind == "usb"
    for bad in ("", "a b", "host:99999", "x;y"):
        with pytest.raises(MetaDVFSError):
            parse_serial(bad)


def test_usb_without_extra_is_one_line_error(tmp_path, monkeypatch) -> None:
    import adb_shell.adb_device as ad

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "k" / "adbkey"))
    if ad.UsbTransport is not None:  # pragma: no cover - the usb extra is not installed here
        monkeypatch.setattr(ad, "UsbTransport", None)
    with pytest.raises(MetaDVFSError, match=r"adb-shell\[usb\]"):
        AdbLink("ABCDEF123").connect()


def test_sections_through_a_real_shell() -> None:
    sc = Script()
    sc.run("a", "printf 'no newline'")
    sc.run("b", "echo one; echo two")
    sc.run("c", "cat /nonexistent/metadvfs-test-file")
    sc.run("d", "echo @@fake:END; false")
    sc.run("e", "true")
    out = subprocess.run(["sh", "-c", sc.text()], capture_output=True, text=True, check=True).stdout
    r = parse_sections(out, sc)
    assert r["a"].text == "no newline" and not r["a"].failed
    assert r["b"].text == "one\ntwo"
    assert r["c"].failed and r["c"].missing
    assert r["d"].failed and "@@fake:END" in r["d"].text  # contents cannot forge the random-nonce markers
    assert r["e"].text == "" and not r["e"].failed


def test_truncated_output_detected() -> None:
    sc = Script()
    sc.run("a", "echo x")
    out = subprocess.run(["sh", "-c", sc.text()], capture_output=True, text=True, check=True).stdout
    with pytest.raises(MetaDVFSError, match="incomplete output"):
        parse_sections(out[: out.index("END") - 5], sc)


def test_key_created_once_with_0600(tmp_path, monkeypatch) -> None:
    key = tmp_path / "cfg" / "adbkey"
    monkeypatch.setenv(KEY_ENV, str(key))
    assert default_key_path() == key
    path = ensure_key()
    assert path == key and key.is_file() and (tmp_path / "cfg" / "adbkey.pub").is_file()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(key) + ".pub").st_mode) == 0o600
    first = key.read_bytes()
    ensure_key()
    assert key.read_bytes() == first  # generated once
    os.chmod(key, 0o644)
    ensure_key()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert load_signer().GetPublicKey()  # type: ignore[attr-defined]


def test_default_key_location(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_key_path() == tmp_path / "xdg" / "metadvfs" / "adbkey"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_key_path() == tmp_path / "home" / ".config" / "metadvfs" / "adbkey"
