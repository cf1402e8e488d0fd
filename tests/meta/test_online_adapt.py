"""``metadvfs adapt --serial``: online adaptation on the loopback twin (metadvfs/meta/online.py).

The twins keep their real-time clock on purpose: the sampler measures each interval on the host's clock and the
on-phone applier and watchdog pace themselves on the wall clock, so the simulated phone must move with it (as in
tests/deploy/; docs/twin.md). One twin serves the module's in-process tests (each one leaves it at stock).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml
from typer.testing import CliRunner
from waiting import wait_until

from metadvfs.cli import app
from metadvfs.meta.fast import is_context
from metadvfs.twin import TwinServer

REPO = Path(__file__).resolve().parents[2]
BIG_GOV = "/sys/devices/system/cpu/cpufreq/policy6/scaling_governor"
TIKTOK = "com.zhiliaoapp.musically"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _key(adb_key: None) -> None:
    """Every test here talks to the twin as a user holding the session key."""


@pytest.fixture(scope="module")
def twin(key_env: dict[str, str]) -> Iterator[TwinServer]:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in key_env.items():
            mp.setenv(k, v)
        with TwinServer(device="pixel6", app="tiktok", seed=0) as tw:
            yield tw


_wait = functools.partial(wait_until, step=0.1)


def _one_line_error(res: Any, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return str(lines[0])


def _at_stock(tw: TwinServer, before: dict[str, str]) -> None:
    assert tw.settings_snapshot() == before
    assert not (tw.root / "data/local/metadvfs/claim").exists()
    assert not (tw.root / "data/local/metadvfs/stock.json").exists()
    assert _wait(lambda: not tw.running_processes(), 10), tw.running_processes()


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("minutes", ["0", "-1", "nan"])
def test_budget_must_be_positive(minutes: str) -> None:
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", TIKTOK, "--minutes", minutes])
    _one_line_error(res, "--minutes")


def test_bad_method_and_mixed_options_are_one_line() -> None:
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", TIKTOK, "--minutes", "1", "--method", "x"])
    _one_line_error(res, "--method", "context, finetune")
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", TIKTOK, "--budget-minutes", "1"])
    _one_line_error(res, "--budget-minutes")
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", TIKTOK])
    _one_line_error(res, "--minutes")
    res = runner.invoke(app, ["adapt", "--app", "tiktok", "--budget-minutes", "1"])
    _one_line_error(res, "--device")


def test_unknown_package_is_one_line() -> None:
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", "org.example.nothing", "--minutes", "1"])
    _one_line_error(res, "org.example.nothing", "unknown package")


def test_unreachable_phone_is_one_line() -> None:
    res = runner.invoke(app, ["adapt", "--serial", "127.0.0.1:9", "--app", TIKTOK, "--minutes", "1"])
    _one_line_error(res, "127.0.0.1:9")


# ---------------------------------------------------------------------------------------------- QoE floor


class _FakePhone(gym.Env):  # type: ignore[type-arg]
    """Stands in for LiveDVFSEnv in the floor logic: scripted QoE, records hand_back / take_back."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, qoe: list[float]) -> None:
        self.qoe = list(qoe)
        self.stock_qoe = 0.9
        self.events: list[tuple[int, str]] = []
        self.t = 0
        self.resets = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.resets += 1
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        q = self.qoe[self.t]
        self.t += 1
        info = {"qoe": q, "ppr_norm": 1.0, "power_w": 1.0, "fps": 60.0, "temp_skin_c": 30.0, "temp_die_c": 40.0,
                "step_ms": 1.0, "app": "x", "freq_mhz": {"big": 1.0}, "handback": self.t == len(self.qoe)}  # fmt: skip
        return np.zeros(1, np.float32), 0.0, False, info["handback"], info

    def hand_back(self) -> None:
        self.events.append((self.t, "hand_back"))

    def take_back(self) -> None:
        self.events.append((self.t, "take_back"))


def test_qoe_floor_hands_back_for_one_interval_and_stops_after_thermal_handback() -> None:
    from metadvfs.meta.online import PhoneGuard

    # intervals of 4 decisions; floor = 0.9 - 0.05: the 2nd interval (mean 0.7) is below, the 1st and 4th are not
    qoe = [1.0] * 4 + [0.7] * 4 + [0.2] * 4 + [0.95] * 4
    fake = _FakePhone(qoe)
    stop: dict[str, str] = {}
    g = PhoneGuard(fake, 0.05, 4, stop)
    g.reset()
    assert g.floor == pytest.approx(0.85)
    for _ in qoe:
        g.step(0)
    assert fake.events == [(8, "hand_back"), (12, "take_back")]
    masks = [bool(m[0]) for m in g.masks]
    assert masks == [False] * 8 + [True] * 4 + [False] * 4  # the low-QoE stock interval is not the policy's
    assert "thermal hand-back" in stop["reason"]
    g.reset()
    assert fake.resets == 1  # a stopped run never takes the phone again


def test_fallback_decisions_carry_no_policy_gradient() -> None:
    from types import SimpleNamespace

    from metadvfs.meta.fast import neutralise_fallback

    adv = np.array([[1.0], [3.0], [-7.0], [5.0]])
    buf = SimpleNamespace(advantages=adv.copy())
    neutralise_fallback(buf, [np.array([False]), np.array([True]), np.array([True]), np.array([False])])
    assert buf.advantages[:, 0].tolist() == [1.0, 3.0, 3.0, 5.0]


# ---------------------------------------------------------------------------------------------- on the twin


def test_hand_back_gives_the_stock_governor_control_and_take_back_resumes(twin: TwinServer) -> None:
    from metadvfs.environment.live_env import LiveDVFSEnv

    before = twin.settings_snapshot()
    env = LiveDVFSEnv(twin.serial, ppr_ref=10.0, window=2, episode_seconds=30.0)
    try:
        env.reset(seed=0)
        env.step(np.array([0, 0, 2, 0]))
        assert twin.read_node(BIG_GOV).strip() == "userspace"
        env.hand_back()
        gov, mx = BIG_GOV, BIG_GOV.replace("scaling_governor", "scaling_max_freq")
        assert twin.read_node(gov) == before[gov] == "schedutil\n" and twin.read_node(mx) == before[mx]
        _, _, _, _, info = env.step(np.array([2, 2, 2, 2]))
        assert info["stock_control"] and twin.read_node(gov) == before[gov]
        assert (twin.root / "data/local/metadvfs/stock.json").exists()  # the session stays during a hand-back
        env.take_back()
        _, _, _, _, info = env.step(np.array([0, 0, 0, 0]))
        assert not info["stock_control"] and twin.read_node(BIG_GOV).strip() == "userspace"
    finally:
        env.close()
    assert env.restore_report.verified
    _at_stock(twin, before)


def test_hand_back_waits_for_the_applier_so_no_queued_write_lands_after_it(twin: TwinServer) -> None:
    """A request still queued in the on-phone applier when control is handed back must not pin a frequency after
    the stock settings are written: hand_back drains the applier first (the applier is frozen with SIGSTOP while a
    request is queued and resumed 0.8 s later; without the drain the stock settings are written at once and the
    late request then overwrites them)."""
    from metadvfs.adb import agents
    from metadvfs.environment.live_env import LiveDVFSEnv

    before = twin.settings_snapshot()
    env = LiveDVFSEnv(twin.serial, ppr_ref=10.0, window=2, episode_seconds=30.0)
    try:
        env.reset(seed=0)
        env.step(np.array([0, 0, 0, 0]))
        pid = int(twin.read_node(agents.APPLIER_PID).split()[0])
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(0.8, os.kill, (pid, signal.SIGCONT))
        try:
            env.session.controller.apply(np.array([3, 3, 3, 3]))  # queued behind the frozen applier
            resume.start()
            env.hand_back()
        finally:
            resume.join()
            os.kill(pid, signal.SIGCONT)
        assert _wait(lambda: twin.read_node(agents.ACK_PATH).split()[:1] == [str(env.session.controller.seq)], 5)
        time.sleep(0.3)
        # the frequency nodes are the stock ones (services and properties stay changed during a hand-back)
        now = twin.settings_snapshot()
        changed = {k: (before[k], v) for k, v in now.items() if v != before[k] and not k.startswith("prop:")}
        assert not changed, f"frequency nodes changed after the hand-back: {changed}"
    finally:
        env.close()
    assert env.restore_report.verified
    _at_stock(twin, before)


def _model_without_device_range(src: Path, dest: Path) -> str:
    from metadvfs.learn.metadata import MetadataEncoder

    shutil.copytree(src, dest)
    enc = json.loads((dest / "encoder.json").read_text())
    spec = MetadataEncoder.from_state(enc).spec
    field = next(k for k in spec.numeric if k in spec.device_fields)
    del enc["lo"][field], enc["hi"][field]
    (dest / "encoder.json").write_text(json.dumps(enc))
    return field


def test_refusals_on_the_phone_change_nothing(twin: TwinServer, tiny_model: Path, tmp_path: Path) -> None:
    before = twin.settings_snapshot()
    field = _model_without_device_range(tiny_model, tmp_path / "broken")
    broken = str(tmp_path / "broken")
    res = runner.invoke(app, ["adapt", "--serial", twin.serial, "--app", TIKTOK, "--minutes", "0.1", "--model", broken])
    _one_line_error(res, "cannot encode device pixel6", field)
    _at_stock(twin, before)
    doc = yaml.safe_load((REPO / "envs/apps/tiktok.yaml").read_text())
    doc["name"], doc["android"]["packages"] = "absent", ["org.example.absent"]
    (tmp_path / "absent.yaml").write_text(yaml.safe_dump(doc))
    res = runner.invoke(
        app, ["adapt", "--serial", twin.serial, "--app", str(tmp_path / "absent.yaml"), "--minutes", "0.1",
              "--model", str(tiny_model)],
    )  # fmt: skip
    _one_line_error(res, "org.example.absent is not installed")
    _at_stock(twin, before)
    assert not (tmp_path / "runs").exists()


def test_adapt_on_the_twin_end_to_end(twin: TwinServer, tiny_model: Path, tmp_path: Path) -> None:
    """0.2 phone-minutes of context adaptation: snapshot, takeover, decisions, restore, a deployable governor."""
    from metadvfs.catalog.devices import load_device
    from metadvfs.deploy.run import deploy
    from metadvfs.export.exporter import export_governor
    from metadvfs.export.manifest import load_manifest
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.tasks.task import Task
    from metadvfs.workload.apps import load_app

    before = twin.settings_snapshot()
    seen: dict[str, bool] = {"userspace": False, "snapshot": False}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if twin.read_node(BIG_GOV).strip() == "userspace":
                seen["userspace"] = True
                seen["snapshot"] |= (twin.root / "data/local/metadvfs/stock.json").exists()
            time.sleep(0.1)

    th_ = threading.Thread(target=watch, daemon=True)
    th_.start()
    out = tmp_path / "adapted"
    try:
        res = runner.invoke(
            app, ["adapt", "--serial", twin.serial, "--app", TIKTOK, "--minutes", "0.2", "--model", str(tiny_model),
                  "--out", str(out), "--stock-seconds", "1", "--method", "context", "--json"],
        )  # fmt: skip
    finally:
        done.set()
        th_.join(5)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert seen == {"userspace": True, "snapshot": True}
    assert rep["reason"] == "done" and rep["decisions"] == rep["budget_decisions"] == 128  # 4 rollouts of 32
    assert rep["model"] == str(tiny_model)  # outside the working directory: as given (a shipped model: its name)
    assert rep["phone_minutes"] == pytest.approx(128 * 0.1 / 60, abs=1e-4)
    assert len(rep["curve"]) == 4 and rep["stock"]["qoe"] is not None and rep["qoe_floor"] is not None
    assert rep["restore"] == {"by": "host", "verified": True, "mismatches": [], "error": ""}
    assert rep["extrapolated"] == []  # pixel6:tiktok recombines the tiny model's phone and app: inside
    _at_stock(twin, before)
    assert len((out / "steps.csv").read_text().splitlines()) == 129
    # context adaptation changed the context parameters and nothing else
    a, b = load_checkpoint(tiny_model), load_checkpoint(out)
    sa, sb = next(iter(a.policies.values())).state_dict(), b.policies["adapted"].state_dict()
    changed = {k for k in sa if not th.equal(sa[k], sb[k])}
    assert changed and all(is_context(k) for k in changed), changed
    # the governor is what export writes and deploy runs
    m = load_manifest(out / "governor")
    assert m.device_name == "pixel6" and m.kind == "onnx" and rep["governor_meta_key"] == "tiktok"
    row = a.encode(Task(load_device("pixel6"), load_app("tiktok")))
    np.testing.assert_allclose(m.meta_for("tiktok"), row, rtol=1e-6)  # the row it was adapted with
    assert export_governor(out, "pixel6", tmp_path / "exported")["models"] == ["adapted"]
    s = deploy(out / "governor", twin.serial, seconds=0.5, out_dir=tmp_path / "dep", handle_signals=False)
    assert s["steps"] >= 1 and s["restore"]["verified"]
    _at_stock(twin, before)


# ---------------------------------------------------------------------------------------------- signals


def _adapt_proc(serial: str, model: Path, out: Path, key_env: dict[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, **key_env, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "metadvfs.cli", "adapt", "--serial", serial, "--app", TIKTOK, "--minutes", "5",
         "--model", str(model), "--out", str(out), "--stock-seconds", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=out.parent,
    )  # fmt: skip


@pytest.mark.slow
def test_sigint_then_kill9_restore_the_phone(tiny_model: Path, tmp_path: Path, key_env: dict[str, str]) -> None:
    """Ctrl-C: a clean stop (restored, outputs written, exit 0). kill -9: the on-phone watchdog restores."""
    with TwinServer(device="pixel6", app="tiktok", seed=1) as tw:
        before = tw.settings_snapshot()
        proc = _adapt_proc(tw.serial, tiny_model, tmp_path / "a", key_env)
        try:
            assert _wait(lambda: tw.read_node(BIG_GOV).strip() == "userspace", 120), "no takeover"
            time.sleep(2.0)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 0, stderr
        rep = json.loads(stdout.strip().splitlines()[-1])
        assert rep["reason"] == "interrupted (SIGINT)" and 0 < rep["decisions"] < rep["budget_decisions"]
        assert rep["restore"]["verified"] and (tmp_path / "a/governor/manifest.json").is_file()
        _at_stock(tw, before)

        proc = _adapt_proc(tw.serial, tiny_model, tmp_path / "b", key_env)
        try:
            assert _wait(lambda: tw.read_node(BIG_GOV).strip() == "userspace", 120), "no takeover"
            assert tw.settings_snapshot() != before
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert _wait(lambda: tw.settings_snapshot() == before, 10.0), "watchdog did not restore within 10 s"
        assert not (tmp_path / "b/governor").exists()


def test_thermal_hand_back_ends_the_run_and_restores(twin: TwinServer, tiny_model: Path, tmp_path: Path) -> None:
    """A user profile of the same phone whose skin throttle point is below the phone's skin temperature."""
    from metadvfs.export.manifest import load_manifest

    doc = yaml.safe_load((REPO / "devices/pixel6.yaml").read_text())
    doc["name"], doc["thermal"]["skin_throttle_c"], doc["thermal"]["ambient_c"] = "pixel6cool", 20.0, 15.0
    (tmp_path / "pixel6cool.yaml").write_text(yaml.safe_dump(doc))
    before = twin.settings_snapshot()
    res = runner.invoke(
        app, ["adapt", "--serial", twin.serial, "--app", "tiktok", "--minutes", "0.2", "--model", str(tiny_model),
              "--device", str(tmp_path / "pixel6cool.yaml"), "--out", str(tmp_path / "hot"), "--stock-seconds", "1",
              "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["reason"].startswith("thermal hand-back") and rep["decisions"] == 1, rep["reason"]
    assert rep["method"] == "finetune"  # the default on a phone
    assert rep["device"] == "pixel6cool" and rep["restore"]["verified"]
    _at_stock(twin, before)
    assert load_manifest(tmp_path / "hot/governor").device_name == "pixel6cool"
