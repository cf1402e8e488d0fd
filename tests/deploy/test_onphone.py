"""deploy --on-phone against the loopback twin, which runs the x86_64 C runner for real.

Covered: push/start/status/logs/stop with every node restored; the host disconnecting (the runner goes on);
kill -9 of the runner (the watchdog restores within 5 s); thermal hand-back by the runner; a corrupt weight file
refused before any node is touched (on the host, and by the runner itself). The twins keep their real-time clock:
the runner paces itself on the wall clock, like on a phone.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from waiting import wait_until

from metadvfs.adb.link import AdbLink
from metadvfs.deploy import onphone
from metadvfs.errors import MetaDVFSError
from metadvfs.export.exporter import export_governor
from metadvfs.export.manifest import write_manifest
from metadvfs.paths import PACKAGE_DIR
from metadvfs.runner import plan as rp
from metadvfs.twin import TwinServer

SHIPPED = PACKAGE_DIR / "models" / "default"


@pytest.fixture(autouse=True)
def _key(adb_key: None) -> None:
    """Every test here talks to the twin as a user holding the session key."""


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gov") / "pixel6"
    export_governor(SHIPPED, "pixel6", out)
    return out


_wait = functools.partial(wait_until, step=0.05)


def _controls(twin: TwinServer) -> dict[str, str]:
    return dict(twin.settings_snapshot())


def test_start_status_logs_stop_restores_every_node(runner_bin: Path, gov: Path, tmp_path: Path) -> None:
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        res = onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        assert res["target"] == "x86_64" and res["status"]["state"] == "running" and "ok:" in res["check"]
        assert _wait(lambda: int(onphone.status_on_phone(twin.serial).get("step", "0")) >= 10, 10.0)
        assert _controls(twin) != before  # the runner took the phone over (governor switched, clamps written)
        st = onphone.status_on_phone(twin.serial)
        assert st["alive"] == "yes" and st["app"] == "tiktok"
        logs = onphone.logs_on_phone(twin.serial, tmp_path / "logs")
        assert logs["steps"] >= 10 and logs["app"] == "tiktok" and logs["trace"]
        _check_encoding(gov, Path(logs["steps_csv"]))
        _check_decoding(gov, Path(logs["steps_csv"]))
        r = subprocess.run(
            [sys.executable, "-m", "metadvfs.cli", "replay", "--trace", logs["trace"], "--device", "pixel6",
             "--seconds", "1", "--out", str(tmp_path / "replay"), "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        out = onphone.stop_on_phone(twin.serial)
        assert out["runner"]["state"] == "stopped" and out["runner"]["reason"] == "stop file"
        assert out["runner"]["restore"].startswith("verified")
        assert out["restore"]["verified"]
        assert _controls(twin) == before
        assert not any("metadvfs-runner" in p for p in twin.running_processes())


def _check_encoding(gov: Path, steps_csv: Path) -> None:
    """The runner's observation rows equal metadvfs.core.codec.encode of the readings it logged."""
    import numpy as np
    import pandas as pd

    from metadvfs.core import codec
    from metadvfs.export.manifest import load_manifest

    df = pd.read_csv(steps_csv)
    dom = ("little", "mid", "big", "gpu")

    def col(fmt: str) -> np.ndarray:
        return np.stack([df[fmt.format(d)].to_numpy(float) for d in dom], axis=1)

    r = codec.Reading(
        util=col("{}_util"), freq_mhz=col("{}_khz") / 1000.0, level=col("{}_level"), power_mw=col("{}_power_mw"),
        power_total_mw=df["power_total_mw"].to_numpy(float), fps=df["fps"].to_numpy(float),
        fps_target=df["fps_target"].to_numpy(float), qoe=df["qoe"].to_numpy(float),
        temp_die_c=df["temp_die_c"].to_numpy(float), temp_skin_c=df["temp_skin_c"].to_numpy(float),
        throttled=df["throttled"].to_numpy(float),
    )  # fmt: skip
    c = load_manifest(gov).codec
    spec = codec.CodecSpec(**{k: np.repeat(v, len(df), axis=0) for k, v in vars(c.spec()).items()})
    want = codec.encode(r, spec)
    got = df[[f"obs{i}" for i in range(codec.OBS_DIM)]].to_numpy(np.float32)
    assert np.allclose(got, want, rtol=0, atol=2e-6), np.abs(got - want).max(axis=0)
    assert got[:, 1::5][:, :4].max() > 0  # real utilisation was encoded, not only zeros


def test_runner_goes_on_when_the_host_disconnects(runner_bin: Path, gov: Path) -> None:
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        twin.cut_connections()  # the cable is pulled: every ADB connection reset
        s0 = int(onphone.status_on_phone(twin.serial)["step"])
        time.sleep(4.0)  # longer than the watchdog's 3 s: only the runner's own heartbeat keeps it from restoring
        st = onphone.status_on_phone(twin.serial)
        assert st["alive"] == "yes" and int(st["step"]) >= s0 + 20
        onphone.stop_on_phone(twin.serial)
        assert _controls(twin) == before


def test_kill9_of_the_runner_is_restored_within_5_s(runner_bin: Path, gov: Path) -> None:
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        res = onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        assert _wait(lambda: _controls(twin) != before, 5.0)
        link = AdbLink(twin.serial).connect()
        try:
            link.root_shell(f"kill -9 {int(res['status']['pid'])}")
            t0 = time.monotonic()
            assert _wait(lambda: _controls(twin) == before, 5.0), "not restored within 5 s of the kill"
            assert time.monotonic() - t0 <= 5.0
        finally:
            link.close()
        assert onphone.stop_on_phone(twin.serial)["restore"]["verified"]


def test_thermal_hand_back(runner_bin: Path, gov: Path, tmp_path: Path) -> None:
    cold = tmp_path / "cold"
    shutil.copytree(gov, cold)
    doc = json.loads((cold / "manifest.json").read_text())
    doc["throttle"] = {"skin_c": 1.0, "die_c": 1.0}  # below any temperature: the first step hands back
    write_manifest(cold, doc, extra_files=["policy.bin"])
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        onphone.start_on_phone(cold, twin.serial, runner=runner_bin)
        assert _wait(lambda: onphone.status_on_phone(twin.serial).get("state") == "stopped", 5.0)
        st = onphone.status_on_phone(twin.serial)
        assert st["reason"].startswith("thermal hand-back") and st["restore"].startswith("verified")
        assert _controls(twin) == before
        assert onphone.stop_on_phone(twin.serial)["restore"]["verified"]


def test_corrupt_weight_file_is_refused_before_any_node_changes(
    runner_bin: Path, gov: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(gov, bad)
    data = bytearray((bad / "policy.bin").read_bytes())
    data[1000] ^= 0x40
    (bad / "policy.bin").write_bytes(bytes(data))
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        with pytest.raises(MetaDVFSError, match=r"policy\.bin"):  # the host sees the manifest hash differ
            onphone.start_on_phone(bad, twin.serial, runner=runner_bin)
        assert _controls(twin) == before
        real = onphone._install

        def corrupt_on_phone(link: AdbLink, binary: Path, weights: Path, plan_text: str) -> None:
            broken = tmp_path / "broken.bin"
            broken.write_bytes(bytes(data))
            real(link, binary, broken, plan_text)

        monkeypatch.setattr(onphone, "_install", corrupt_on_phone)
        with pytest.raises(MetaDVFSError, match=r"runner refused to start: .*corrupt"):
            onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        assert _controls(twin) == before
        st = onphone.status_on_phone(twin.serial)
        assert not st.get("state")  # the runner never ran
        assert not onphone.stop_on_phone(twin.serial)["restore"]["restored"]  # no snapshot left, claim released


def test_plan_names_the_nodes_of_the_adb_deploy(gov: Path) -> None:
    """The plan's reads and writes are the binding's and the write plan's."""
    from metadvfs.adb.binding import bind
    from metadvfs.adb.control import domain_nodes
    from metadvfs.adb.discovery import discover
    from metadvfs.deploy.run import profile_for_manifest
    from metadvfs.export.manifest import load_manifest

    m = load_manifest(gov)
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        link = AdbLink(twin.serial).connect()
        try:
            lay = discover(link)
        finally:
            link.close()
    b = bind(lay, profile_for_manifest(m, lay.codename)[0])
    text = rp.render_plan(m, b, domain_nodes(b))
    assert f"gpu_util {lay.gpu.util_node}" in text and f"cur 3 {lay.gpu.cur_node} " in text
    for dn in domain_nodes(b):
        assert f"write {dn.domain} {dn.method} {dn.min_node} {dn.max_node} " in text
        assert text.split(f"write {dn.domain} ")[1].splitlines()[0].endswith(" ".join(str(v) for v in dn.table))
    assert f"device {m.device_name}" in text and f"profile_hash {m.profile_hash}" in text


def test_runner_refuses_another_devices_weights(
    runner_bin: Path, gov: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if another device's policy.bin reached the phone, the runner compares it with the plan and refuses."""
    other = tmp_path / "p8"
    export_governor(SHIPPED, "pixel8", other)
    real = onphone._install

    def swap(link: AdbLink, binary: Path, weights: Path, plan_text: str) -> None:
        real(link, binary, other / "policy.bin", plan_text)

    monkeypatch.setattr(onphone, "_install", swap)
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        with pytest.raises(MetaDVFSError, match=r"governor for pixel8 .* this phone runs pixel6"):
            onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        assert _controls(twin) == before


def test_time_limit_and_cli(runner_bin: Path, gov: Path, tmp_path: Path, key_env: dict[str, str]) -> None:
    import os

    env = {**os.environ, **key_env}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "metadvfs.cli", "deploy", *args], capture_output=True, text=True,
                              timeout=300, env=env)  # fmt: skip

    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        r = cli("--serial", twin.serial, "--status")
        assert r.returncode == 0 and "no on-phone runner has run" in r.stdout
        r = cli("--serial", twin.serial, "--status", "--stop")
        assert r.returncode == 2 and "exclude each other" in r.stderr and r.stderr.count("\n") == 1
        r = cli("--serial", twin.serial, "--stop")  # nothing ever ran (old code: "runner ? (-); ...")
        assert r.returncode == 0 and "no runner status file; nothing left to restore" in r.stdout, r.stdout
        r = cli("--governor", str(gov), "--serial", twin.serial, "--on-phone", "--seconds", "1",
                "--runner", str(runner_bin))  # fmt: skip
        assert r.returncode == 0 and "runner started" in r.stdout, r.stderr
        assert _wait(lambda: onphone.status_on_phone(twin.serial).get("state") == "stopped", 10.0)
        st = onphone.status_on_phone(twin.serial)
        assert st["reason"] == "time limit 1 s" and st["restore"].startswith("verified") and int(st["step"]) >= 9
        r = cli("--serial", twin.serial, "--logs", "--out", str(tmp_path / "logs"))
        assert r.returncode == 0 and (tmp_path / "logs" / "trace.csv").is_file()
        r = cli("--serial", twin.serial, "--stop")
        assert r.returncode == 0 and "(verified)" in r.stdout, r.stderr
        assert _controls(twin) == before


def test_a_hung_runner_is_stopped_and_the_phone_restored(runner_bin: Path, gov: Path) -> None:
    """SIGSTOP (a hang): the heartbeat stops; the watchdog sends SIGTERM, which a stopped runner cannot act on,
    then SIGKILL after 2 s, and restores only once the runner is gone, so it can never write again."""
    with TwinServer(device="pixel6", app="tiktok", port=0) as twin:
        before = _controls(twin)
        res = onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        pid = int(res["status"]["pid"])
        assert _wait(lambda: _controls(twin) != before, 5.0)
        link = AdbLink(twin.serial).connect()
        try:
            link.root_shell(f"kill -STOP {pid}")
            # heartbeat timeout 3 s + one check + SIGTERM wait 2 s + SIGKILL + restore, on a loaded machine
            assert _wait(lambda: _controls(twin) == before, 12.0), "the watchdog did not restore a hung runner"
        finally:
            link.close()
        st = onphone.status_on_phone(twin.serial)
        assert st["alive"] == "no" and st["state"] == "running"  # killed before the restore: no final status
        time.sleep(0.5)
        assert _controls(twin) == before
        assert onphone.stop_on_phone(twin.serial)["restore"]["verified"]


def _check_decoding(gov: Path, steps_csv: Path) -> int:
    """The runner's OPP targets equal metadvfs.core.codec.decode of its actions, levels and utilisation.

    Returns:
        Number of decisions checked.
    """
    import numpy as np
    import pandas as pd

    from metadvfs.core import codec
    from metadvfs.export.manifest import load_manifest

    df = pd.read_csv(steps_csv)
    m = load_manifest(gov)
    spec = m.codec_spec()
    dom = ("little", "mid", "big", "gpu")
    n = 0
    for _, row in df.iterrows():
        act = np.array([[row[f"{d}_action"] for d in dom]], dtype=np.int64)
        lvl = np.array([[row[f"{d}_level"] for d in dom]], dtype=np.int64)
        util = np.array([[row[f"{d}_util"] for d in dom]], dtype=float)
        want = codec.decode(act, lvl, spec, m.codec.action_mode, m.codec.levels, util)[0]
        got = np.array([row[f"{d}_target"] for d in dom])
        present = np.asarray(m.codec.n_opp) > 0
        assert np.array_equal(got[present], want[present]), (row["step"], got, want)
        n += 1
    return n


def test_margin_mode_runner_decodes_like_the_codec(
    runner_bin: Path,
    write_cfg,
    tmp_path: Path,
) -> None:
    """A margin-mode governor on the twin: the C runner turns headroom choices into the codec's OPPs."""
    from metadvfs.learn.config import load_config
    from metadvfs.learn.trainer import train

    cfg = load_config(
        write_cfg(tmp_path / "m.yaml", env={"decision_interval_s": 0.1, "episode_seconds": 5, "window": 4,
                                             "action_mode": "margin", "levels": 8})
    )  # fmt: skip
    model = train(cfg, tmp_path / "run", tensorboard=False)
    gov = tmp_path / "gov"
    export_governor(model, "pixel6", gov)
    with TwinServer(device="pixel6", app="3dmark", port=0) as twin:
        before = _controls(twin)
        onphone.start_on_phone(gov, twin.serial, runner=runner_bin)
        assert _wait(lambda: int(onphone.status_on_phone(twin.serial).get("step", "0")) >= 15, 15.0)
        logs = onphone.logs_on_phone(twin.serial, tmp_path / "logs")
        onphone.stop_on_phone(twin.serial)
        assert _controls(twin) == before
    assert _check_decoding(gov, Path(logs["steps_csv"])) >= 15
