"""Unit tests: path rewriting (Python and the sed form the phone's sh uses), reverse mapping, ADB packets, RSA auth."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from twinutil import make_signer

from metadvfs.errors import MetaDVFSError
from metadvfs.twin import protocol as P
from metadvfs.twin.paths import PathMapper, ReverseMapper, phone_reverse_pairs

ROOT = "/dev/shm/metadvfs-twin-ab_c1/phone"  # starts with a phone directory on purpose (/dev)
M = PathMapper(ROOT)

CORPUS = [
    "cat /sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
    "cat /sys/a /proc/stat;echo 1>/data/local/tmp/x",
    "su -c 'echo 1000 > /sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq'",
    'PATH=/system/bin:/vendor/bin; X="/sys/class/thermal" ; ls $X',
    "nohup sh /data/local/tmp/w.sh >/dev/null 2>&1 &",
    "cat /usr/bin/x /tmp/y foo/sys/z /system2 /sysfoo ./sys/x",
    "[ -f /sys/x ] && (cat /proc/uptime) | grep -c ,/dev/null",
    "#!/system/bin/sh\nwhile true; do cat /sys/x; done",
    f"cat {ROOT}/sys/already",
    "/sys",
    "`cat /sys/x`",
    "cd / && ls sys; cd /data; echo $((6 / 2))",
]


def test_rewrite_maps_phone_paths_only() -> None:
    out = M.rewrite(CORPUS[1])
    assert out == f"cat {ROOT}/sys/a {ROOT}/proc/stat;echo 1>{ROOT}/data/local/tmp/x"
    out = M.rewrite(CORPUS[3])
    assert out.startswith(f"PATH={ROOT}/system/bin:{ROOT}/vendor/bin;") and f'"{ROOT}/sys/class/thermal"' in out
    assert M.rewrite(CORPUS[5]) == CORPUS[5]  # host-only and relative paths, lookalikes untouched
    assert M.rewrite("/sys") == f"{ROOT}/sys"
    assert M.rewrite(CORPUS[-1]) == f"cd {ROOT} && ls sys; cd {ROOT}/data; echo $((6 / 2))"


def test_rewrite_is_idempotent_even_with_root_under_dev() -> None:
    for line in CORPUS:
        once = M.rewrite(line)
        assert M.rewrite(once) == once
    assert M.rewrite(CORPUS[8]) == CORPUS[8]


def test_sed_expressions_match_python_rewrite() -> None:
    args = ["sed", "-E"]
    for e in M.sed_expressions():
        args += ["-e", e]
    text = "\n".join(CORPUS) + "\n"
    res = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    assert res.stdout == M.rewrite(text)
    again = subprocess.run(args, input=res.stdout, capture_output=True, text=True, check=True)
    assert again.stdout == res.stdout


def test_host_path_cannot_leave_root() -> None:
    assert str(M.host_path("/data/local/tmp/../../../../etc/passwd")) == f"{ROOT}/etc/passwd"
    assert M.phone_path(M.host_path("/sys/x")) == "/sys/x"
    with pytest.raises(MetaDVFSError):
        M.host_path("relative/path")
    with pytest.raises(MetaDVFSError):
        PathMapper("/has space/phone")


def test_reverse_mapper_streams_across_chunk_boundaries() -> None:
    pairs = phone_reverse_pairs(ROOT, "/dev/shm/metadvfs-twin-ab_c1/twin")
    data = f"{ROOT}/sys/a\n/dev/shm/metadvfs-twin-ab_c1/twin/bin/sh: x\n{ROOT}\nplain\n".encode() * 3
    want = ReverseMapper(pairs).map_all(data)
    assert want.count(b"/sys/a") == 3 and b"metadvfs-twin" not in want and b"/system/bin/sh: x" in want
    for cut in range(1, len(data)):
        rm = ReverseMapper(pairs)
        got = rm.feed(data[:cut]) + rm.feed(data[cut:]) + rm.flush()
        assert got == want, cut


def test_packet_roundtrip_and_checksum() -> None:
    a, b = socket.socketpair()
    try:
        a.sendall(P.pack(P.WRTE, 3, 7, b"hello"))
        pkt = P.read_packet(b)
        assert (pkt.name, pkt.arg0, pkt.arg1, pkt.data) == ("WRTE", 3, 7, b"hello")
        raw = bytearray(P.pack(P.WRTE, 1, 2, b"abc"))
        raw[-1] ^= 0xFF  # corrupt the payload
        a.sendall(bytes(raw))
        with pytest.raises(P.ProtocolError, match="checksum"):
            P.read_packet(b)
    finally:
        a.close()
        b.close()


def test_rsa_key_decode_and_signature(tmp_path: Path) -> None:
    signer = make_signer(tmp_path / "a")
    other = make_signer(tmp_path / "b")
    key = P.decode_public_key(signer.GetPublicKey().encode() + b"\0")
    token = bytes(range(20))
    assert P.verify_signature(key, token, signer.Sign(token))
    assert not P.verify_signature(key, bytes(20), signer.Sign(token))
    assert not P.verify_signature(key, token, other.Sign(token))
    with pytest.raises(ValueError):
        P.decode_public_key(b"not a key")
