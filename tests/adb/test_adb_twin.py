"""Integration tests against the loopback twin (metadvfs.twin.server.TwinServer): record -> replay, deploy ->
restore, kill -9 -> watchdog, cut connection, faults, wrong phone, LiveDVFS-v0.

Only the discovery test steps a manual clock. The others keep the twin's real-time clock on purpose: they run
``metadvfs record``/``deploy`` in subprocesses and on-phone scripts (applier, watchdog heartbeat) that pace
themselves on the wall clock, so the phone must move with it as a real one does."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_until

from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import write_rule_governor

twin_server = pytest.importorskip("metadvfs.twin.server", reason="the twin (metadvfs/twin/server.py) is not there yet")
TwinServer = twin_server.TwinServer
ManualClock = pytest.importorskip("metadvfs.twin.clock").ManualClock

REPO = Path(__file__).resolve().parents[2]
POLICY = "/sys/devices/system/cpu/cpufreq/policy{}/scaling_{}_freq"
BIG_CUR = "/sys/devices/system/cpu/cpufreq/policy6/scaling_cur_freq"
BIG_GOV = "/sys/devices/system/cpu/cpufreq/policy6/scaling_governor"


def _gov(tmp_path: Path, rule: str, device: str = "pixel6") -> Path:
    """A rule governor deciding every 50 ms with absolute actions (a rule reaches its target in one step)."""
    return write_rule_governor(device, rule, tmp_path / "gov", decision_interval_s=0.05, action_mode="absolute")


@pytest.fixture(autouse=True)
def _key(adb_key: None) -> None:
    """Every test here talks to the twin as a user holding the session key."""


_wait = functools.partial(wait_until, step=0.1)


def _env(key_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(key_env)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_discovery_and_one_step_read(tmp_path: Path) -> None:
    from metadvfs.adb.binding import bind, profile_for_codename
    from metadvfs.adb.discovery import discover
    from metadvfs.adb.link import AdbLink
    from metadvfs.adb.sampler import Sampler

    clock = ManualClock()  # in-process reads only: step the phone exactly between the two samples
    with TwinServer(device="pixel6", app="tiktok", clock=clock) as twin, AdbLink(twin.serial) as link:
        assert link.detect_root() in ("adbd", "su", "su0")
        lay = discover(link)
        assert lay.codename == "oriole"
        assert [p.name for p in lay.policies] == ["policy0", "policy4", "policy6"]
        assert lay.gpu.family == "mali" and lay.power.kind == "odpm"
        assert lay.thermal.skin_zone is not None and lay.thermal.die_zones
        b = bind(lay, profile_for_codename(lay.codename))
        assert set(b.rail_domain.values()) == {0, 1, 2, 3}
        s = Sampler(link, b, fg_period_s=0.0)
        clock.advance(1.0)  # statistics and frames exist, as on a phone that has been up a while
        prev = s.sample()
        clock.advance(0.2)
        cur = s.sample()
        sr = s.reading(prev, cur)
        assert s.foreground == "com.zhiliaoapp.musically" and s.app == "tiktok"
        assert sr.power_total_mw > 0 and np.all(sr.reading.freq_mhz > 0)
        assert 20 < sr.temp_skin_c < 60


def test_record_then_replay(tmp_path: Path, key_env: dict[str, str]) -> None:
    from metadvfs.workload.trace import read_trace

    out = tmp_path / "rec.csv"
    with TwinServer(device="pixel6", app="tiktok") as twin:
        res = subprocess.run(
            [sys.executable, "-m", "metadvfs.cli", "record", "--serial", twin.serial, "--seconds", "3",
             "--interval", "0.1", "--out", str(out), "--json"],
            capture_output=True, text=True, timeout=120, env=_env(key_env), cwd=tmp_path,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert not any("poller" in p for p in twin.running_processes())
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 30 and summary["app"] == "tiktok" and summary["power_source"] == "odpm"
    df, meta = read_trace(out)
    assert meta.source == "recorded" and meta.device == "pixel6" and meta.tick_s == pytest.approx(0.1)
    assert df["frames"].sum() > 0 and (df["ui_mc"] + df["worker_mc"] + df["bg_mc"]).sum() > 0
    res = subprocess.run(
        [sys.executable, "-m", "metadvfs.cli", "replay", "--device", "pixel5", "--trace", str(out), "--seconds", "2",
         "--governor", "schedutil", "--json", "--out", str(tmp_path / "replay")],
        capture_output=True, text=True, timeout=300, env=_env(key_env), cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["fps_mean"] > 0


def test_thermal_handback(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = _gov(tmp_path, "performance")
    doc = json.loads((gov / "manifest.json").read_text())
    doc["throttle"]["skin_c"] = 5.0  # below any temperature the twin reports: hand back at the first step
    (gov / "manifest.json").write_text(json.dumps(doc))
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        s = deploy(gov, twin.serial, seconds=5, out_dir=tmp_path / "run", handle_signals=False)
        assert twin.settings_snapshot() == before
    assert s["reason"].startswith("thermal hand-back") and s["steps"] == 0
    assert s["restore"]["verified"]


def test_deploy_pins_and_restores(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = write_rule_governor(
        "pixel6", "performance", tmp_path / "gov", decision_interval_s=0.05, action_mode="absolute"
    )
    seen: list[str] = []
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()

        def on_step(step: dict) -> None:  # type: ignore[type-arg]
            if step["step"] == 10:
                seen.append(twin.read_node(BIG_CUR).strip())
                seen.append(twin.read_node(BIG_GOV).strip())

        summary = deploy(gov, twin.serial, seconds=1.0, out_dir=tmp_path / "run", on_step=on_step, handle_signals=False)
        after = twin.settings_snapshot()
        assert not any("watchdog" in p for p in twin.running_processes())
    assert summary["restore"] == {"by": "host", "verified": True, "mismatches": [], "error": ""}
    assert summary["steps"] >= 15 and summary["reason"] == "done"
    assert before == after
    assert seen == ["2802000", "userspace"]  # big cluster pinned at the top OPP via userspace + setspeed
    assert (tmp_path / "run" / "trace.csv").is_file() and (tmp_path / "run" / "summary.json").is_file()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = write_rule_governor("pixel6", "schedutil", tmp_path / "gov")
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        res = deploy(gov, twin.serial, dry_run=True, handle_signals=False)
        assert twin.settings_snapshot() == before
        assert not twin.running_processes()
    assert res["dry_run"] and res["changes"]


def _deploy_proc(gov: Path, serial: str, key_env: dict[str, str], tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "metadvfs.cli", "deploy", "--governor", str(gov), "--serial", serial, "--json",
         "--out", str(tmp_path / "run"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(key_env), cwd=tmp_path,
    )  # fmt: skip


def test_kill9_watchdog_restores(tmp_path: Path, key_env: dict[str, str]) -> None:
    gov = write_rule_governor(
        "pixel6", "performance", tmp_path / "gov", decision_interval_s=0.05, action_mode="absolute"
    )
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        proc = _deploy_proc(gov, twin.serial, key_env, tmp_path)
        try:
            assert _wait(lambda: twin.read_node(BIG_GOV).strip() == "userspace", 60), proc.stderr
            assert _wait(lambda: twin.read_node(BIG_CUR).strip() == "2802000", 5)
            assert any("watchdog" in p for p in twin.running_processes())
            assert twin.settings_snapshot() != before
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        t0 = time.monotonic()
        assert _wait(lambda: twin.settings_snapshot() == before, 5.0), "watchdog did not restore within 5 s"
        elapsed = time.monotonic() - t0
        assert _wait(lambda: not any("watchdog" in p for p in twin.running_processes()), 3.0)
    assert elapsed <= 5.0


def test_sigterm_restores(tmp_path: Path, key_env: dict[str, str]) -> None:
    gov = _gov(tmp_path, "powersave")
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        proc = _deploy_proc(gov, twin.serial, key_env, tmp_path)
        assert _wait(lambda: twin.read_node(BIG_GOV).strip() == "userspace", 60)  # the run has taken over
        assert _wait(lambda: twin.read_node(BIG_CUR).strip() == "500000", 5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["reason"].startswith("terminated") and summary["restore"]["verified"]
        assert twin.settings_snapshot() == before


def test_cut_connection_restored(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = write_rule_governor(
        "pixel6", "performance", tmp_path / "gov", decision_interval_s=0.05, action_mode="absolute"
    )
    result: dict = {}  # type: ignore[type-arg]
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()

        def run() -> None:
            result.update(deploy(gov, twin.serial, seconds=20, out_dir=tmp_path / "run", handle_signals=False))

        th = threading.Thread(target=run)
        th.start()
        assert _wait(lambda: twin.read_node(BIG_CUR).strip() == "2802000", 30)
        twin.cut_connections()
        th.join(30)
        assert not th.is_alive()
        assert _wait(lambda: twin.settings_snapshot() == before, 5.0)
    assert result["reason"].startswith("lost ADB link")
    assert result["restore"]["by"] in ("host", "watchdog")


@pytest.mark.parametrize("fault", ["garbled_sysfs", "missing_nodes", "permission_denied"])
def test_faults_one_line_error_nothing_changed(tmp_path: Path, fault: str, key_env: dict[str, str]) -> None:
    gov = write_rule_governor("pixel6", "performance", tmp_path / "gov")
    with TwinServer(device="pixel6", app="tiktok", faults=frozenset({fault})) as twin:
        before = twin.settings_snapshot()
        res = subprocess.run(
            [sys.executable, "-m", "metadvfs.cli", "deploy", "--governor", str(gov), "--serial", twin.serial,
             "--seconds", "1"],
            capture_output=True, text=True, timeout=120, env=_env(key_env), cwd=tmp_path,
        )  # fmt: skip
        assert twin.settings_snapshot() == before
        assert not any("watchdog" in p for p in twin.running_processes())
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.stderr


def test_wrong_phone(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = write_rule_governor("pixel8", "schedutil", tmp_path / "gov")
    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        with pytest.raises(MetaDVFSError, match=r"'oriole'.*built for pixel8"):
            deploy(gov, twin.serial, seconds=1, handle_signals=False)
        assert twin.settings_snapshot() == before


def test_no_userspace_uses_clamp(tmp_path: Path) -> None:
    from metadvfs.deploy.run import deploy

    gov = _gov(tmp_path, "fixed:0.5")
    seen: list[tuple[str, str]] = []
    with TwinServer(device="pixel6", app="tiktok", faults=frozenset({"no_userspace"})) as twin:
        before = twin.settings_snapshot()
        s = deploy(gov, twin.serial, dry_run=True, handle_signals=False)
        assert all("pinned" in c for c in s["changes"] if c.startswith(("little", "mid", "big")))

        def on_step(step: dict) -> None:  # type: ignore[type-arg]
            if step["step"] == 5:
                seen.append((twin.read_node(POLICY.format(6, "min")).strip(), POLICY.format(6, "max")))
                seen[-1] = (seen[-1][0], twin.read_node(POLICY.format(6, "max")).strip())

        s = deploy(gov, twin.serial, seconds=0.6, out_dir=tmp_path / "run", handle_signals=False, on_step=on_step)
        assert s["restore"]["verified"]
        assert twin.settings_snapshot() == before
    assert seen and seen[0][0] == seen[0][1] == "2048000"  # min = max = the decoded OPP (absolute choice 4 of 8)


def test_live_env(tmp_path: Path) -> None:
    import gymnasium as gym

    import metadvfs.environment  # noqa: F401

    with TwinServer(device="pixel6", app="tiktok") as twin:
        before = twin.settings_snapshot()
        env = gym.make(
            "metadvfs/LiveDVFS-v0", serial=twin.serial, ppr_ref=10.0, episode_seconds=0.5, window=3,
            decision_interval_s=0.05,
        )  # fmt: skip
        sim = gym.make("metadvfs/DVFS-v0", device="pixel6", app="tiktok", window=3)
        assert env.observation_space == sim.observation_space and env.action_space == sim.action_space
        try:
            obs, info = env.reset(seed=0)
            assert env.observation_space.contains(obs)
            done = False
            n = 0
            while not done:
                obs, r, term, trunc, info = env.step(env.action_space.sample())
                assert env.observation_space.contains(obs) and np.isfinite(r)
                done = term or trunc
                n += 1
            assert n == 10 and info["app"] == "tiktok"
        finally:
            env.close()
            sim.close()
        assert twin.settings_snapshot() == before


def test_live_env_margin_mode_decodes_like_the_simulator(tmp_path: Path) -> None:
    """LiveDVFS-v0 in margin mode applies codec.decode of the phone's last reading (the codec the sim uses)."""
    import gymnasium as gym

    import metadvfs.environment  # noqa: F401
    from metadvfs.core import codec

    with TwinServer(device="pixel6", app="3dmark") as twin:
        env = gym.make(
            "metadvfs/LiveDVFS-v0", serial=twin.serial, ppr_ref=10.0, episode_seconds=0.5, window=3,
            decision_interval_s=0.05, action_mode="margin", levels=8,
        )  # fmt: skip
        live = env.unwrapped
        try:
            env.reset(seed=0)
            applied: list[np.ndarray] = []
            apply = live.session.apply
            live.session.apply = lambda levels: applied.append(np.array(levels)) or apply(levels)
            wants = []
            for a in ([7, 7, 7, 7], [0, 0, 0, 0], [3, 5, 2, 6], [7, 0, 7, 0]):
                last = live._last
                want = codec.decode(np.array([a]), last.level[None], live.codec_spec, "margin", 8, last.reading.util)
                wants.append(want[0])
                env.step(np.array(a))
            assert all(np.array_equal(w, g) for w, g in zip(wants, applied, strict=True))
            assert not np.array_equal(applied[0], applied[1])  # the top and the bottom headroom differ
        finally:
            env.close()
