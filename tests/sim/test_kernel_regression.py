"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Record by running this module as a script (``PYTHONPATH=$PWD python
tests/sim/test_kernel_regression.py``, which prints the ``EXPECTED`` dictionary). Every
:class:`~metadvfs.sim.core.StepOut` array of every step is hashed (SHA-256 of the raw bytes), per field, so any
change of what :func:`~metadvfs.sim.kernel.fused_step` computes -- even the last bit of one float of one tick --
fails the test and names the field. The digests are of float64 bytes produced by numba on x86-64 with numba's
default (strict IEEE, no fast-math) code generation and numpy's ``expm``; a platform with a different libm or BLAS
may need them re-recorded from the reference commit.

Covered paths: the 30 catalog tasks batched under several governors stepping one tick at a time (as
:func:`~metadvfs.sim.replay.run_ticks` does), the same batch under random OPPs with 10-tick steps (the RL and
``metadvfs bench`` path), non-committing :meth:`SimCore.evaluate` and :meth:`SimCore.rollout` calls, and a
single-environment rollout through the Gymnasium environment."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from metadvfs.governors.registry import make_governor
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import SimCore, StepOut
from metadvfs.sim.kernel import P_RING
from metadvfs.sim.replay import governor_context
from metadvfs.tasks.task import make_task

SECONDS = 20.0
SEEDS = (0, 1)
GOVERNORS = ("schedutil", "performance", "powersave", "stock")
FIELDS = (
    "idx",
    "freq_mhz",
    "util",
    "busy",
    "busy_cpu",
    "power_mw",
    "power_total_mw",
    "energy_mj",
    "frames_req",
    "frames_presented",
    "frames_janky",
    "temp_c",
    "throttled",
    "backlog_mc",
    "late_dom",
    "frames_dropped",
    "frames_in_flight",
    "work_shed_mc",
)


class Digest:
    """Per-field SHA-256 over a sequence of step outputs (and any extra named arrays)."""

    def __init__(self) -> None:
        self.h: dict[str, hashlib._Hash] = {}

    def add(self, name: str, arr: np.ndarray | None) -> None:
        """Hash ``arr`` (its dtype, shape and raw bytes) into the running digest of ``name``."""
        assert arr is not None, name
        a = np.ascontiguousarray(arr)
        h = self.h.setdefault(name, hashlib.sha256())
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())

    def step(self, out: StepOut) -> None:
        """Hash every field of one step's outputs."""
        for f in FIELDS:
            self.add(f, getattr(out, f))

    def hexdigests(self) -> dict[str, str]:
        """Short hex digest per field."""
        return {k: v.hexdigest()[:20] for k, v in sorted(self.h.items())}


def _tasks() -> list:
    from metadvfs.bench import catalog_pairs

    return [make_task(d, a) for d, a in catalog_pairs()]


def _batch(seed: int) -> TaskBatch:
    batch = TaskBatch(_tasks(), SECONDS)
    batch.seed([seed + 17 * i for i in range(batch.n)])
    batch.reset_rows(np.arange(batch.n))
    return batch


def _end_state(dg: Digest, core: SimCore) -> None:
    for name in ("q", "util", "temp", "active", "idx", "cap", "pos"):
        dg.add("state_" + name, getattr(core, name))
    dg.add("state_pipe", core.pipe[:, :P_RING])


def governor_run(gov_name: str, seed: int) -> dict[str, str]:
    """30 catalog tasks under ``gov_name`` for :data:`SECONDS`, one tick per step (as ``run_ticks``)."""
    batch = _batch(seed)
    core = batch.core
    gov = make_governor(gov_name)
    gov.reset(governor_context(batch))
    dg = Digest()
    last = None
    for _ in range(batch.episode_ticks):
        want = gov.decide(last, core.idx)
        merged = core.idx.copy()
        for d in gov.domains:
            merged[:, d] = want[:, d]
        last = core.step(merged, 1, detail=True)
        dg.step(last)
    _end_state(dg, core)
    return dg.hexdigests()


def random_run(seed: int) -> dict[str, str]:
    """30 catalog tasks at random OPPs, 10-tick steps, with ``evaluate`` and ``rollout`` probes along the way."""
    batch = _batch(seed)
    core = batch.core
    rng = np.random.default_rng(1000 + seed)
    top = core.dev.n_opp - 1
    dg = Digest()
    n_steps = batch.episode_ticks // 10 - 4
    rows = np.arange(0, batch.n, 3)
    for k in range(n_steps):
        req = (rng.random((batch.n, 4)) * (top + 1)).astype(np.int64)
        if k % 25 == 7:
            ev, state = core.evaluate(req, 10, detail=True)
            for f in FIELDS:
                dg.add("evaluate_" + f, getattr(ev, f))
            for j, s in enumerate(state):
                dg.add(f"evaluate_state{j}", s[:, :P_RING] if j == 4 else s)
            blk = (rng.random((len(rows), 4)) * (top[rows] + 1)).astype(np.int64)
            for j, r in enumerate(core.rollout(rows, blk, 10, 30)):
                dg.add(f"rollout_{j}", r)
        dg.step(core.step(req, 10, detail=True))
    _end_state(dg, core)
    return dg.hexdigests()


def single_env_run() -> dict[str, str]:
    """One Gymnasium environment (pixel6, tiktok): observations, rewards and info over 2.5 episodes."""
    import gymnasium as gym

    from metadvfs.environment import ENV_ID

    env = gym.make(ENV_ID, device="pixel6", app="tiktok", episode_seconds=SECONDS)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(5)
    dg = Digest()
    for _ in range(500):
        obs, rew, term, trunc, info = env.step(rng.integers(0, 3, size=4))
        for k in sorted(obs):
            dg.add("obs_" + k, obs[k])
        dg.add("reward", np.asarray(rew, dtype=np.float64))
        for k in sorted(info):
            v = info[k]
            if isinstance(v, np.ndarray | float | int | bool | np.floating | np.integer | np.bool_):
                dg.add("info_" + k, np.asarray(v))
        if term or trunc:
            obs, _ = env.reset()
    env.close()
    return dg.hexdigests()


def _cases() -> Iterator[tuple[str, object]]:
    for g in GOVERNORS:
        for s in SEEDS:
            yield f"{g}-seed{s}", (governor_run, g, s)
    for s in SEEDS:
        yield f"random10-seed{s}", (random_run, s)
    yield "single-env", (single_env_run,)


# Recorded at c4259ff (see the module docstring); re-recorded after the GPU calibration (gpu branch: fitted GPU
# throughputs and re-derived estimated GPU power curves in devices/*.yaml change every trajectory).
EXPECTED: dict[str, dict[str, str]] = {
    "schedutil-seed0": {
        "backlog_mc": "8baa4c8630ffdd4361d6",
        "busy": "ae54aa83cb20d87127af",
        "busy_cpu": "a6b977b41b0d4f490de3",
        "energy_mj": "020da4b32c5c35559360",
        "frames_dropped": "fefdfccd5affc8757091",
        "frames_in_flight": "692ba76411cf4776cd1b",
        "frames_janky": "da00ef341c7437fd8476",
        "frames_presented": "d6ca6c951b662311d4f7",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "a0fa7d74467c6ebe6960",
        "idx": "caff65fb2d70c153b7d3",
        "late_dom": "9c89a3505a02c7c35f14",
        "power_mw": "f28d7ea469baf9801b9f",
        "power_total_mw": "a0ce70b153a37e445e4b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "26b7600de4e8f4f5bbb0",
        "state_pipe": "4024adb31484c89d1311",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "474f7465f98fecc5c9f6",
        "state_util": "c34927e157e3ed9216a9",
        "temp_c": "d75014f55da835a766c0",
        "throttled": "4168923556e08f653ee4",
        "util": "18ecd50d4485b9e9f541",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "3826777be09390904041",
        "busy": "4e75c26597b848361bdd",
        "busy_cpu": "4afb5ca161736c72f8c7",
        "energy_mj": "f6bbdc71bf3069f0653c",
        "frames_dropped": "f6db9a4a045ba038a2a6",
        "frames_in_flight": "2e639728f889e89c807b",
        "frames_janky": "ffd0845bcd0fa92bd168",
        "frames_presented": "5614858377aa52cdc4e6",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "41037270a57b08afd947",
        "idx": "6298367f32a68551e487",
        "late_dom": "160b199430f4c902982b",
        "power_mw": "d822e6ec9c2831e47cf4",
        "power_total_mw": "d386cbf0efee9b544f0e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "940c33c8aef16dd4efb3",
        "state_pipe": "8fbc7d88b2a33d621afb",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "747ee58c79f77d970840",
        "state_util": "68e1483fc1a0e7976d9a",
        "temp_c": "a098ebeba46a54a7df24",
        "throttled": "4168923556e08f653ee4",
        "util": "a8056330d38a16f6c29e",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "720c1b04655091f197d0",
        "busy": "68dd75ddb1c3b977251d",
        "busy_cpu": "223b2005e023a37bb715",
        "energy_mj": "34332e4afedba196bd71",
        "frames_dropped": "6c72387cc4ee0ceef6f6",
        "frames_in_flight": "e936e2e52df7873461a7",
        "frames_janky": "9adca6fa245832cb68af",
        "frames_presented": "2a9fd586a81141bc74fa",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "f83ec2e5154291c2aac7",
        "power_mw": "ea680d47fa00180c7a44",
        "power_total_mw": "42078f5670f94a043268",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "c0360dac78963954d876",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "de12d73757dcbd85a396",
        "state_util": "f25bfd948f9817503b2d",
        "temp_c": "a13d1f13ded546a805b7",
        "throttled": "4168923556e08f653ee4",
        "util": "7fb7704cd50ffa01ec57",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "9ea5dbda51fcc08cd188",
        "busy": "4f7fc6287689522c03f7",
        "busy_cpu": "1ada83a36e96ed8f54e8",
        "energy_mj": "e1174383ca53c6746d02",
        "frames_dropped": "ba0833ec0f9f32de5cfc",
        "frames_in_flight": "49b0b529b2a3d380e81d",
        "frames_janky": "78099d5fd7276dc6ce9d",
        "frames_presented": "3b4b4bac2d97481cd89f",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "e5521c3ae7a710c14b38",
        "power_mw": "35c14e806adc4a554e2f",
        "power_total_mw": "03481436ac59c3cfef8d",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "92c890e7376cb24d7fca",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "cbc838949a5a19e19e6d",
        "state_util": "513fc734dbe2bc184b41",
        "temp_c": "245c13d2409a0e5f370c",
        "throttled": "4168923556e08f653ee4",
        "util": "af2f6145df4c0251a133",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "d6f8ec59ea97c4aeff2d",
        "busy": "91d199639d55f17c997c",
        "busy_cpu": "d1390a19b86bb1f563d0",
        "energy_mj": "ec4ec63358661a621e50",
        "frames_dropped": "d461e4328b9f091f1e21",
        "frames_in_flight": "0db5e0355f90b146ff5a",
        "frames_janky": "40d60c89c19571465828",
        "frames_presented": "04dea44565693b4c1542",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "cfde94638b36a6f534b9",
        "power_mw": "ce6036cc1de101c91696",
        "power_total_mw": "943ecbc4e37ec501033e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "f04cf6586e983ada2f29",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "ef37d028e9125163a3e3",
        "state_util": "67921dde7ee48808d406",
        "temp_c": "c9c1499dd049bcc85243",
        "throttled": "4168923556e08f653ee4",
        "util": "14afd596a5f2b33c5385",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "68dd4fc09207cb585085",
        "busy": "96af0cb640174db8d75a",
        "busy_cpu": "27d48a497173fdf0feba",
        "energy_mj": "9b2cc0fe1817139665e7",
        "frames_dropped": "9775e64d86928422a1f1",
        "frames_in_flight": "25c8149dbfb0a23affca",
        "frames_janky": "61fedbbde564005cc485",
        "frames_presented": "06c8d363729e3e66a46d",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "2d0ca45c18d31e2808c4",
        "power_mw": "40e94cece0bc1346b67f",
        "power_total_mw": "4581e6ccf0280a4bf2fa",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "094fcc68586b0eae70a5",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "6e142b0ed25a126089c2",
        "state_util": "b0ac0b87f8b75adbb205",
        "temp_c": "d6c962956d54dea42d29",
        "throttled": "4168923556e08f653ee4",
        "util": "fd67d5a2551b9e67411f",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "859ece21eef836d584ac",
        "busy": "6bf791b0bf57cdb57eb5",
        "busy_cpu": "d836d32eab58169bce02",
        "energy_mj": "2783957def99b1ef26a9",
        "frames_dropped": "70f904ba2bb644800e9e",
        "frames_in_flight": "515d657fc46a07b6d74d",
        "frames_janky": "39c72702d77990c125c2",
        "frames_presented": "eaafc5dea2c9f084a082",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "1871a27ccf464d06646b",
        "idx": "7246767fd15cdd541a9e",
        "late_dom": "8543ca57f361057c5850",
        "power_mw": "72737a03d374e28aee10",
        "power_total_mw": "de4cb341eeec5f9d1839",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "c7c3621ddafe29a92706",
        "state_pipe": "3b284064dd3cb73414c5",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "a77d061276dc8102c883",
        "state_util": "ced56f3c577e4ed2a75e",
        "temp_c": "5218c9127498188442d9",
        "throttled": "4168923556e08f653ee4",
        "util": "2d0160fabc7a756bbf13",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "cac4956c3cff8e8d55a3",
        "busy": "6ef4ff5f6d032960b040",
        "busy_cpu": "df42cf4f9204467f2e5c",
        "energy_mj": "5ec99351d5337c727cfd",
        "frames_dropped": "19e90160e695ef69019e",
        "frames_in_flight": "b3d9f86a0d4ed8c03260",
        "frames_janky": "8f974e9e93639c3b28ab",
        "frames_presented": "e24b611fbbb73cb58a4f",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "db711a2afb25c351789a",
        "idx": "db471aec8f814a0317ed",
        "late_dom": "9cfaaba968ea44495a49",
        "power_mw": "b6131bfbdb6530df88bb",
        "power_total_mw": "8124b0aba702496a984a",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "d8cc71b01aeef113264f",
        "state_pipe": "ec03ea2402bb2471d6a2",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "77196bf913e184f55c3e",
        "state_util": "7a5a6bfbe9ff15d8a909",
        "temp_c": "bd79ab4327716b49b778",
        "throttled": "4168923556e08f653ee4",
        "util": "a5512cd64bd1d3528bb6",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "fe33fd72f6d1c43ae593",
        "busy": "12cfb1f2ca374245ae17",
        "busy_cpu": "c9288a92733bf7037033",
        "energy_mj": "958db65db77ba7c1967a",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "fd03e45438d45024cc4d",
        "evaluate_busy_cpu": "1d74a9717e6764d487be",
        "evaluate_energy_mj": "9d7793ec417727a6ad13",
        "evaluate_frames_dropped": "9a80941af5d54785fc6c",
        "evaluate_frames_in_flight": "fc19d04d349d730ce096",
        "evaluate_frames_janky": "51089bae7ac154c89fa5",
        "evaluate_frames_presented": "74a73e4f5e0954aeeab0",
        "evaluate_frames_req": "e54514a658b7a28f9916",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "32ebccc5b7675bdabfa2",
        "evaluate_power_mw": "0025f9ffe65f7d6f1cc4",
        "evaluate_power_total_mw": "efe45ddc15b7d7eec660",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "f6636dfc93f03f8eaaa9",
        "evaluate_state2": "2a50fed61ef05886bf24",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "fcf7de46850abc1965fc",
        "evaluate_temp_c": "2a50fed61ef05886bf24",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "f6636dfc93f03f8eaaa9",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "32f089aaaa868ba51012",
        "frames_in_flight": "e67ba77dad6754280957",
        "frames_janky": "1045378deb47c50554e1",
        "frames_presented": "dea61bcf5027066ef375",
        "frames_req": "d6e60ce2f4ac29d6c701",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "8450ae5914e317f3f867",
        "power_mw": "34b8e38a059ca3c0cf4f",
        "power_total_mw": "be74bcc63823bc4c3974",
        "rollout_0": "d4259fde1bd015904843",
        "rollout_1": "200371d9ec45ac972935",
        "rollout_2": "59d65a33db251a1f7e02",
        "rollout_3": "e8fde6bc99c9a4659571",
        "rollout_4": "df5189df444083b176ab",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "faff04f9886c119ba0b5",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "1bed1de1b806c1523be1",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "1d121cc712138177d68b",
        "state_util": "1cd0913d4604da50da45",
        "temp_c": "cbc43c7ccea1c9555ffd",
        "throttled": "144b1098d87d89f04e14",
        "util": "eb66ef017bd2f3117503",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "11e34085e70013ed8dc1",
        "busy": "8c2e65f4a48ab622014b",
        "busy_cpu": "89d278bfdc12941d2f3e",
        "energy_mj": "9365cd0c4d62abe48ba5",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "2715e3f91808392d1321",
        "evaluate_busy_cpu": "d0b88fcb4c59d6f3302d",
        "evaluate_energy_mj": "5e2b52af879bc79b8af4",
        "evaluate_frames_dropped": "c76b82b7cf28230db5e7",
        "evaluate_frames_in_flight": "4242c7d9bff5dcdce633",
        "evaluate_frames_janky": "1714681593ec11dca65d",
        "evaluate_frames_presented": "0c6686bc0e9a583139a4",
        "evaluate_frames_req": "c56ed3d23c0c79fc7556",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "862461e76d1195f5d7b3",
        "evaluate_power_mw": "c45f52d56ff471cdd7dd",
        "evaluate_power_total_mw": "6cbb0f23dcc689d5c784",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "6592a3363191ee9f93a0",
        "evaluate_state2": "38e2d0e9a07b63465164",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "48989a5ff3c1bcf8eda6",
        "evaluate_temp_c": "38e2d0e9a07b63465164",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "6592a3363191ee9f93a0",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "55b2908fee799e96a0fd",
        "frames_in_flight": "63c072d85931088514d8",
        "frames_janky": "46e601b597d96a3aad73",
        "frames_presented": "fa2bfbfc4c2de4faa3db",
        "frames_req": "d2d37517db47e8085717",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "a7adfdd6cd235f8e52dd",
        "power_mw": "bc484a38ba92dec499df",
        "power_total_mw": "d3cf533f0690c4cdc412",
        "rollout_0": "412c8e8a334f7efd81f4",
        "rollout_1": "ff92277e638e65df18e8",
        "rollout_2": "c4ae57cec9d544fff2b9",
        "rollout_3": "7a057b04ca9f87f8a1ff",
        "rollout_4": "49cc3d4c896515b00e34",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "7754b5138af1c9c025c2",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "2f95d2cdcec1952d1b63",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "12a6f6ad305e38761668",
        "state_util": "59bb17acb6b4f8e1804c",
        "temp_c": "cd80010a8866a971d688",
        "throttled": "144b1098d87d89f04e14",
        "util": "1d05f6c0461dc4dd3b76",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "b5b8ac60e9981880612c",
        "info_fps": "31f3ccff69141dcfa193",
        "info_fps_requested": "9a18d2febdf41a0cd3b8",
        "info_frames_janky": "daaf579060b3507fb80e",
        "info_power_soc_w": "c88eb9e9140640fdc867",
        "info_power_w": "5b4507497fd2df13730d",
        "info_ppr_norm": "bbffc9541b8bf034af4b",
        "info_qoe": "2f19fe90f50164006963",
        "info_temp_die_c": "6f8ee2753e563b63f097",
        "info_temp_skin_c": "20c153b24108a1f0399c",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "5e90cb85715ac8540937",
        "obs_obs": "fee4588f77d311336db9",
        "reward": "bf36c189b42e3562c885",
    },
}


@pytest.mark.parametrize("case", [c for c, _ in _cases()])
def test_trajectories_bit_identical_to_reference(case: str) -> None:
    """Every output array of every step hashes exactly as at the reference commit."""
    fn, *args = dict(_cases())[case]  # type: ignore[misc]
    got = fn(*args)
    want = EXPECTED[case]
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    assert not diff, f"{case}: fields differing from the reference commit: {diff}"


if __name__ == "__main__":
    # print the EXPECTED dictionary for the current code (run at the reference commit only)
    print("EXPECTED: dict[str, dict[str, str]] = {")
    for c, (fn, *args) in _cases():
        print(f"    {c!r}: {fn(*args)!r},", file=sys.stdout, flush=True)  # type: ignore[operator]
    print("}")
