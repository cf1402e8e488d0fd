"""Deploy safety against the loopback twin: each test reproduces one defect of issue 11 (they fail on the code
before it): a crash's settings becoming "stock", two deploys at once, a steerable watchdog, persistent thermal
properties after a reboot, settings that differ from the saved stock, and governor-directory checks.

Timing: nothing here races the wall clock; every wait is event-based with generous limits (a loaded 2-core CI
machine), and the claim logic's own waits are covered with a manual clock in test_claim.py. The twins here keep
their real-time clock on purpose: `metadvfs deploy` subprocesses, the on-phone applier and the watchdog heartbeat
pace themselves on the wall clock, so the simulated phone must move with it as a real phone does.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from waiting import wait_until

from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import write_rule_governor
from metadvfs.twin import TwinServer

REPO = Path(__file__).resolve().parents[2]
BIG_CUR = "/sys/devices/system/cpu/cpufreq/policy6/scaling_cur_freq"
BIG_GOV = "/sys/devices/system/cpu/cpufreq/policy6/scaling_governor"
BIG_MAX = "/sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq"
THERMAL_PROPS = ("prop:persist.vendor.disable.thermal.control", "prop:persist.vendor.disable.thermal.tj.control")


@pytest.fixture(autouse=True)
def _key(adb_key: None) -> None:
    """Every test here talks to the twin as a user holding the session key."""


_wait = functools.partial(wait_until, step=0.05)


def _gov(tmp_path: Path, rule: str = "performance", name: str = "gov") -> Path:
    return write_rule_governor("pixel6", rule, tmp_path / name, decision_interval_s=0.05, action_mode="absolute")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "metadvfs.cli", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _deploy(gov: Path, serial: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _cli("deploy", "--governor", str(gov), "--serial", serial, "--json", "--out", str(out), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=out.parent,
    )  # fmt: skip


def _pinned(twin: TwinServer) -> bool:
    return twin.read_node(BIG_GOV).strip() == "userspace" and twin.read_node(BIG_CUR).strip() == "2802000"


def _claim_dir(twin: TwinServer) -> Path:
    return twin.root / "data/local/metadvfs/claim"


def kill9_then_redeploy(twin: TwinServer, tmp_path: Path, i: int = 0) -> tuple[int, str]:
    """Deploy, ``kill -9`` it once it has pinned the phone, start a second deploy at once; return its exit code."""
    gov = tmp_path / "gov"
    if not gov.exists():
        _gov(tmp_path)
    first = _deploy(gov, twin.serial, tmp_path / f"run{i}a")
    try:
        assert _wait(lambda: _pinned(twin), 90), first.stderr.read() if first.poll() is not None else "not pinned"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = subprocess.run(
        _cli("deploy", "--governor", str(gov), "--serial", twin.serial, "--json", "--seconds", "0.5",
             "--out", str(tmp_path / f"run{i}b")),
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=180,
    )  # fmt: skip
    return second.returncode, second.stdout + second.stderr


def test_kill9_then_immediate_deploy_keeps_true_stock(tmp_path: Path) -> None:
    """Old code: the second deploy snapshotted the pinned phone as "stock" and left it pinned, exit 0."""
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        code, out = kill9_then_redeploy(twin, tmp_path)
        assert code == 0, out
        summary = json.loads(out.strip().splitlines()[0])
        assert summary["restore"]["verified"]
        assert any("earlier run" in n for n in summary["notes"]), summary["notes"]
        assert twin.settings_snapshot() == before
        assert _wait(lambda: not twin.running_processes(), 10), twin.running_processes()
        assert not _claim_dir(twin).exists()
        assert not (twin.root / "data/local/metadvfs/stock.json").exists()


@pytest.mark.slow
def test_kill9_then_immediate_deploy_20_times(tmp_path: Path) -> None:
    """Target of issue 11: 20/20 repetitions end with the phone at its true stock settings."""
    ok = 0
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        for i in range(20):
            code, out = kill9_then_redeploy(twin, tmp_path, i)
            clean = _wait(lambda: not twin.running_processes(), 10)
            after = twin.settings_snapshot()
            diff = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
            if code == 0 and not diff and clean and not _claim_dir(twin).exists():
                ok += 1
            else:
                left = twin.running_processes()
                print(
                    f"repetition {i}: exit {code}, differs {diff}, left {left}, "
                    f"claim {_claim_dir(twin).exists()}, {out[-200:]}"
                )
    print(f"kill -9 then immediately deploy again: {ok}/20 ended at the true stock settings")
    assert ok == 20


def test_two_deploys_at_once_only_one_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old code checked, then claimed: two deploys started together both ran (one root applier was left)."""
    from metadvfs.deploy import claim
    from metadvfs.deploy.run import deploy

    gov = _gov(tmp_path)
    real = claim.acquire
    barrier = threading.Barrier(2, timeout=60)

    def together(*a, **k):  # type: ignore[no-untyped-def]
        barrier.wait()
        return real(*a, **k)

    monkeypatch.setattr(claim, "acquire", together)
    results: dict[int, object] = {}
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()

        def run(i: int) -> None:
            try:
                results[i] = deploy(gov, twin.serial, seconds=3.0, out_dir=tmp_path / f"r{i}", handle_signals=False)
            except MetaDVFSError as exc:
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert _wait(lambda: not twin.running_processes(), 10), twin.running_processes()
        assert twin.settings_snapshot() == before
        assert not _claim_dir(twin).exists()
    busy = [r for r in results.values() if isinstance(r, claim.PhoneBusy)]
    ran = [r for r in results.values() if isinstance(r, dict)]
    assert len(busy) == 1 and len(ran) == 1, results
    assert ran[0]["restore"]["verified"]  # type: ignore[index]
    assert "another metadvfs deploy" in str(busy[0]) and busy[0].exit_code == 3


def test_helpers_are_root_only(tmp_path: Path) -> None:
    """Old code: pid files in a shell-writable directory and a world-writable command FIFO (mode 0622)."""
    gov = _gov(tmp_path)
    with TwinServer(device="pixel6", app="tiktok") as twin:
        proc = _deploy(gov, twin.serial, tmp_path / "run", "--seconds", "20")
        try:
            assert _wait(lambda: _pinned(twin), 90)
            d = twin.root / "data/local/metadvfs"
            ack = twin.root / "data/local/metadvfs-ack/ack"
            assert _wait(ack.exists, 10)  # the applier acknowledges after its node writes
            assert stat.S_IMODE(d.stat().st_mode) == 0o700
            assert stat.S_IMODE(ack.parent.stat().st_mode) == 0o711
            fifo = d / "cmd.fifo"
            assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_IMODE(fifo.stat().st_mode) == 0o600
            assert stat.S_IMODE(ack.stat().st_mode) == 0o644  # the only file the shell user may read
            for name in ("applier.pid", "watchdog.pid", "stock.json", "heartbeat"):
                assert stat.S_IMODE((d / name).stat().st_mode) & 0o077 == 0, name
            for name in ("applier.sh", "watchdog.sh", "restore.sh"):
                assert stat.S_IMODE((d / name).stat().st_mode) == 0o700, name
            assert not (twin.root / "data/local/tmp/metadvfs/cmd.fifo").exists()
            assert not (twin.root / "data/local/tmp/metadvfs/applier.pid").exists()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        # after the watchdog's restore no root helper is left that could obey a later request
        assert _wait(lambda: not any("applier" in p for p in twin.running_processes()), 15)
        assert _wait(lambda: not twin.running_processes(), 10)


def test_reboot_mid_run_restores_persistent_thermal_properties(tmp_path: Path) -> None:
    """Old code: persist.vendor.disable.thermal.{control,tj.control}=1 survived a reboot during a run."""
    gov = _gov(tmp_path)
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        proc = _deploy(gov, twin.serial, tmp_path / "run", "--seconds", "60")
        try:
            assert _wait(lambda: _pinned(twin), 90)
            snap = twin.settings_snapshot()
            assert all(snap[p] == "1" for p in THERMAL_PROPS), {p: snap[p] for p in THERMAL_PROPS}
            proc.send_signal(signal.SIGKILL)  # the host goes away and the phone reboots before its watchdog acts
            proc.wait(10)
            twin.reboot()
        finally:
            if proc.poll() is None:
                proc.kill()
        after = twin.settings_snapshot()
        assert {p: after[p] for p in THERMAL_PROPS} == {p: before[p] for p in THERMAL_PROPS}
        assert after == before
        res = subprocess.run(_cli("deploy", "--restore", "--serial", twin.serial, "--json"),
                             capture_output=True, text=True, env=_env(), timeout=120)  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["restored"] is True
        assert not _claim_dir(twin).exists() and not (twin.root / "data/local/metadvfs/stock.json").exists()
        assert not (twin.root / "data/adb/service.d/metadvfs-restore.sh").exists()
        assert twin.settings_snapshot() == before


def test_refuses_while_phone_differs_from_saved_stock(tmp_path: Path) -> None:
    """A deploy must not take a changed phone's settings as stock; it names what differs, changes nothing."""
    from metadvfs.deploy.run import deploy
    from metadvfs.deploy.session import NotAtStock

    gov = _gov(tmp_path)
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        proc = _deploy(gov, twin.serial, tmp_path / "run", "--seconds", "60")
        try:
            assert _wait(lambda: _pinned(twin), 90)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert _wait(lambda: twin.settings_snapshot() == before and not _claim_dir(twin).exists(), 15)
        (twin.root / "data/local/metadvfs/stock.json").unlink()  # the phone's copy is lost; the host's remains
        low = twin.read_node(BIG_MAX).strip()
        table = twin.read_node("/sys/devices/system/cpu/cpufreq/policy6/scaling_available_frequencies").split()
        low = table[0]
        (twin.root / BIG_MAX.lstrip("/")).write_text(low + "\n")
        twin.sync()
        changed = twin.settings_snapshot()
        with pytest.raises(NotAtStock, match="scaling_max_freq") as ei:
            deploy(gov, twin.serial, seconds=1, out_dir=tmp_path / "r2", handle_signals=False)
        assert "--restore" in str(ei.value) and ei.value.exit_code == 2
        assert twin.settings_snapshot() == changed  # nothing was changed
        assert not _claim_dir(twin).exists()
        res = subprocess.run(_cli("deploy", "--restore", "--serial", twin.serial),
                             capture_output=True, text=True, env=_env(), timeout=120)  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert twin.settings_snapshot() == before


def test_throttle_points_above_the_profile_are_refused(tmp_path: Path) -> None:
    """Old code accepted throttle points up to 200 degC while the phone's thermal control was switched off."""
    gov = _gov(tmp_path)
    doc = json.loads((gov / "manifest.json").read_text())
    doc["throttle"]["skin_c"] = 200.0
    (gov / "manifest.json").write_text(json.dumps(doc))
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        res = subprocess.run(_cli("deploy", "--governor", str(gov), "--serial", twin.serial, "--seconds", "1"),
                             capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path)  # fmt: skip
        assert res.returncode == 2
        assert "throttle.skin_c is 200 degC, above the pixel6 profile's" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert twin.settings_snapshot() == before and not twin.running_processes()


def test_another_devices_model_is_refused(tmp_path: Path) -> None:
    """Old code accepted another device's policy.onnx copied into a governor directory."""
    from metadvfs.deploy.bench import write_onnx_governor
    from metadvfs.export.runtime import GovernorRuntime

    g6 = write_onnx_governor("pixel6", tmp_path / "g6", window=2)
    g7 = write_onnx_governor("pixel8", tmp_path / "g7", window=2, seed=3)
    GovernorRuntime(g6)
    shutil.copy(g7 / "policy.onnx", g6 / "policy.onnx")
    with pytest.raises(MetaDVFSError, match=r"SHA-256 .* differs from manifest\.json files\.policy\.onnx"):
        GovernorRuntime(g6)
    res = subprocess.run(_cli("deploy", "--governor", str(g6), "--serial", "127.0.0.1:9", "--dry-run"),
                         capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "files.policy.onnx" in res.stderr


def test_out_of_range_action_refused_before_takeover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old code caught an out-of-range action only after it had taken the phone over."""
    from metadvfs.deploy.bench import tiny_onnx_policy, write_onnx_governor
    from metadvfs.deploy.run import deploy
    from metadvfs.deploy.session import ControlSession
    from metadvfs.export.manifest import file_sha256, load_manifest

    gdir = write_onnx_governor("pixel6", tmp_path / "g", window=2)
    meta_dim = load_manifest(gdir).meta_dim
    tiny_onnx_policy(gdir / "policy.onnx", window=2, meta_dim=meta_dim, nvec=50, seed=1)
    doc = json.loads((gdir / "manifest.json").read_text())
    doc["files"] = {"policy.onnx": file_sha256(gdir / "policy.onnx")}  # a consistent but bad export
    (gdir / "manifest.json").write_text(json.dumps(doc))
    started: list[bool] = []
    real_start = ControlSession.start
    monkeypatch.setattr(ControlSession, "start", lambda self: (started.append(True), real_start(self))[1])
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        with pytest.raises(MetaDVFSError, match="refused before any write") as ei:
            deploy(gdir, twin.serial, seconds=2, out_dir=tmp_path / "run", handle_signals=False)
        assert "outside the action space" in str(ei.value)
        assert twin.settings_snapshot() == before
        assert not _claim_dir(twin).exists()
    assert not started


def test_a_governor_that_stops_writing_keeps_its_watchdog_quiet(tmp_path: Path) -> None:
    """The root heartbeat must keep beating when no decision writes (a steady governor for > 3 s)."""
    from metadvfs.deploy.run import deploy

    gov = _gov(tmp_path, "powersave")
    bad: list[str] = []
    with TwinServer(device="pixel6", app="tiktok") as twin:
        d = twin.root / "data/local/metadvfs"

        def on_step(step: dict) -> None:  # type: ignore[type-arg]
            if step["step"] > 5 and ((d / "watchdog.status").exists() or not (d / "applier.pid").exists()):
                bad.append(f"step {step['step']} at {step['t_s']:.1f} s")

        s = deploy(gov, twin.serial, seconds=5.0, out_dir=tmp_path / "run", on_step=on_step, handle_signals=False)
    assert s["writes"] <= 8  # it pinned once, then stayed quiet
    assert not bad, bad[:3]
    assert s["restore"]["verified"] and s["restore"]["by"] == "host"
