"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Re-recorded on branch ``jank`` after the jank rule became HWUI JankTracker's
(buffer stuffing carries over): only the jank fields (``frames_janky``, ``late_dom``, the pipeline state and what the
env derives from QoE) changed; OPPs, power, temperatures and presented frames are identical. Re-recorded again
there when the UI apps' scroll/animation phases started drawing at the panel's refresh rate (``display_rate``;
demand of the 90/120 Hz phones' UI tasks), and at the merge with the GPU calibration (fitted ``gpu.throughput``,
re-derived estimated GPU power curves) and the CPU idle states of the Pixels 6 and 8 (power only). Record by running
this module as a script (``PYTHONPATH=$PWD python tests/sim/test_kernel_regression.py``, which prints the
``EXPECTED`` dictionary). Every
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


# Recorded at c4259ff (see the module docstring).
EXPECTED: dict[str, dict[str, str]] = {
    "schedutil-seed0": {
        "backlog_mc": "07a2f5ff431f4b3e4e02",
        "busy": "1181b36ed731d423aca2",
        "busy_cpu": "0bab9546d70098113feb",
        "energy_mj": "0638c94df4f9274551da",
        "frames_dropped": "79bdbdada2a843c9e7ee",
        "frames_in_flight": "81356aac913f86627767",
        "frames_janky": "e6b3b8cf51420e70151a",
        "frames_presented": "b551f55af47abd1965fa",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "e7bfd6e378f5b94a3aeb",
        "idx": "8204cfa0abd3a2168c94",
        "late_dom": "ec46164723b022dc80b6",
        "power_mw": "38c2374c605b5ee6d870",
        "power_total_mw": "ff707d6cd22bbdf3b3a1",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "2d4970d71cbc97223411",
        "state_pipe": "86acadbb2be224c4e745",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "9d2f6f9fd381d3bed0ab",
        "state_util": "63c2e12a6703d8eca763",
        "temp_c": "004efbab326356f4c9f9",
        "throttled": "4168923556e08f653ee4",
        "util": "c6d8ee7d7d945b499037",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "283cf72db82203fb1715",
        "busy": "d2a8e212f997e31569fd",
        "busy_cpu": "d0ecb68848b3abf29955",
        "energy_mj": "f194203d5a82f5d26bc0",
        "frames_dropped": "b45ef015bf43895a0e8c",
        "frames_in_flight": "b0e86ce6cf3d24976aae",
        "frames_janky": "6aa88525463c9f90513c",
        "frames_presented": "c295e5a29ee0ed8c6ae7",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "deb0d1f1b2357a89e995",
        "idx": "f08c0c506632b42f7720",
        "late_dom": "58a8b97986b6bc66773d",
        "power_mw": "d682bdd66a1063cdccac",
        "power_total_mw": "ea413a85a00cb77ad8d3",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "cd2085d1b7f16da61793",
        "state_pipe": "8728df30bc4f262c4cb7",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "d25fb86ed9e047fe90e5",
        "state_util": "9c63248cadac99480482",
        "temp_c": "148af518bc65ce975c02",
        "throttled": "4168923556e08f653ee4",
        "util": "1a3417f7c475fe181283",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "89cd5b742b8dfd923536",
        "busy": "64d6783733ac5e3f2d27",
        "busy_cpu": "2f226d447484f388ab63",
        "energy_mj": "de4744b929de6ea8d2d0",
        "frames_dropped": "1a769f635bf98a565a9b",
        "frames_in_flight": "1812998ec9c8701f5d64",
        "frames_janky": "cb2384017f2386d387dc",
        "frames_presented": "406dfcf790dab1fb3697",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "d00f656be3371e34de0b",
        "power_mw": "33f24e8930ebd1d38ac7",
        "power_total_mw": "63b2ce8a13b978647d3f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "620ef3c822d99539fa29",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "40757d902e7213e67c40",
        "state_util": "ef04931b428b75592c14",
        "temp_c": "bb8d0e40c6effb766cc6",
        "throttled": "4168923556e08f653ee4",
        "util": "1befad2e85ae275ae76f",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "4169691f11ba3df202e3",
        "busy": "2aec6ed7f5a8390eb296",
        "busy_cpu": "949e589e73a600c2fd5a",
        "energy_mj": "bc40953b01463fe2f13b",
        "frames_dropped": "a10ca5f083b534d859b9",
        "frames_in_flight": "0e613c47ab3ea8b8b37f",
        "frames_janky": "4e41e20fdb2af85a91c3",
        "frames_presented": "9f572c08487cc5ef15ac",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "79fa5cd4c5ebe9bdcfa0",
        "power_mw": "09bbae23ef8b1d4d06de",
        "power_total_mw": "4b226f1bf7df7e436bb7",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "9c9fe74ab2efb7a06883",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "bc9ec5647ba19ac72ade",
        "state_util": "d5966a40f23b64ee7ad4",
        "temp_c": "31b24a00e397c500d96d",
        "throttled": "4168923556e08f653ee4",
        "util": "6098e2158a490e1d22d7",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "94690aa78c41903307ff",
        "busy": "e277af29bce12ad7fba7",
        "busy_cpu": "3818b981a0a8ad516d14",
        "energy_mj": "11215d36d112c71ecaf5",
        "frames_dropped": "d7284c1f04644cc976e9",
        "frames_in_flight": "af64b71478914bad8d06",
        "frames_janky": "5895280c349143eee243",
        "frames_presented": "b30f3780f17490b520f8",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "01f6997ed1d58ce38009",
        "power_mw": "df3bf0967623c78e3e98",
        "power_total_mw": "79b2b2bbc0f2373e4c15",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "e0626a7eeb362831eeb3",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "6e275a9a2f9fba9fd7f0",
        "state_util": "39372dc83037e1fe0402",
        "temp_c": "132e92a8be8735dc9bd2",
        "throttled": "4168923556e08f653ee4",
        "util": "229899ab77cf6ed49e22",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "d3803981345ccaadf002",
        "busy": "0f88cc2aeb8bd3d6240f",
        "busy_cpu": "9fd19189881d5bb045cd",
        "energy_mj": "2a7361e62b8358b8212b",
        "frames_dropped": "25042e1f70269209ba0e",
        "frames_in_flight": "e1d7bf98155b14d57880",
        "frames_janky": "bf4fcd64d02f73a0cfda",
        "frames_presented": "09c49c0d83b2d0af17f4",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "1a4478ea7ac43689f376",
        "power_mw": "5da78761bbbb2ffc52f5",
        "power_total_mw": "cf318ed0d0f1956c9c3d",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "139074e9337d75a89179",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "53d9a4f5cb39bef72e58",
        "state_util": "68c1cc5e19dc5c0b838b",
        "temp_c": "e92cd779e72b75302cb9",
        "throttled": "4168923556e08f653ee4",
        "util": "7a48da4f0249d031b0da",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "642afd655e61d1db4a35",
        "busy": "1bd2b87f160e0dc0abd6",
        "busy_cpu": "06a766a540f102aadb9f",
        "energy_mj": "71c1f40a6cc6e10cd533",
        "frames_dropped": "f684432a0dd760aaa2b1",
        "frames_in_flight": "fcbe4fc22e686400229e",
        "frames_janky": "efc908d21761bccd57df",
        "frames_presented": "d71e7a445f5745c65aef",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "8b3bdb5e4e052b91685f",
        "idx": "e6f6e40055b2c3624b90",
        "late_dom": "d807fce25042c974d838",
        "power_mw": "47b972996362fd3f3f66",
        "power_total_mw": "9d48ce2f544354496714",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "431db30cea6e572f418c",
        "state_pipe": "70d28c535aeddebb5012",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "241cfb58ee080f4c92b9",
        "state_util": "f095a34999b15557327c",
        "temp_c": "b27f4473905bbeb7fc17",
        "throttled": "4168923556e08f653ee4",
        "util": "2e2781cbaad744b392d4",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "0d90b747afa8a96c1b7c",
        "busy": "e25803c869b2788930e4",
        "busy_cpu": "74114dcd2fb45305d7bc",
        "energy_mj": "76850d9a0fd4631a24ee",
        "frames_dropped": "f8791ce9c69a8d6bcd30",
        "frames_in_flight": "fc53a3e03643cdf6eede",
        "frames_janky": "6463d6694293c037d300",
        "frames_presented": "42dd5d877b45bba7f1d7",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "5387a29e41f9b7e24550",
        "idx": "9b0934ebdbc2cebfab72",
        "late_dom": "858fba7e09f63de48c13",
        "power_mw": "15c5dca5a6f23e0db994",
        "power_total_mw": "5cb0a1eff425a067df90",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f8675b81784f4767e470",
        "state_pipe": "d3920258127747b9984c",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "e7f0532dff6ad47f82d3",
        "state_util": "2db0452175eaa56fadad",
        "temp_c": "b1f87ff11fdd12df149f",
        "throttled": "4168923556e08f653ee4",
        "util": "a12f6324a2a226ea06a8",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "ec09f1c7f61e43f906df",
        "busy": "2ffeea57585f269f51ca",
        "busy_cpu": "70efb7a6ef1021288a2e",
        "energy_mj": "47f1e86484e651613cce",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "18fadc5162cb9e1a2ddd",
        "evaluate_busy_cpu": "e948b4a24b8ffeba75c3",
        "evaluate_energy_mj": "f48b5a0851aba3b0db4f",
        "evaluate_frames_dropped": "ad9d1065f2e2eedc5006",
        "evaluate_frames_in_flight": "d135fbb4928a95e244cb",
        "evaluate_frames_janky": "0f7425467fde729e62b6",
        "evaluate_frames_presented": "5eb7b5ef36c9b700278f",
        "evaluate_frames_req": "e8db5897a2fbd3242dfb",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "da96306541d4b2ce1231",
        "evaluate_power_mw": "409c008bc0d9ecc9fe9b",
        "evaluate_power_total_mw": "5f83ceddc20b6d285e2c",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "5e9b98f4a8986f1df5ef",
        "evaluate_state2": "3c618a6ed6c5e195c1b1",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "f0dd121f669cafac5bc4",
        "evaluate_temp_c": "3c618a6ed6c5e195c1b1",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "5e9b98f4a8986f1df5ef",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "765fce193eb41cef7281",
        "frames_in_flight": "5f52ceb85adf3d09e4b3",
        "frames_janky": "25327fe35df4f6b75f67",
        "frames_presented": "3ad9714b63b533e020e6",
        "frames_req": "2f0c0e0eaedb7348662e",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "19e0b45bad5a6400936a",
        "power_mw": "79983e7029a43fdf6e37",
        "power_total_mw": "11654a8fb492ecb69263",
        "rollout_0": "c0707de3eb6178bad7cf",
        "rollout_1": "5fc1d6bd7aee29d2c8fa",
        "rollout_2": "45a1bee5d23ad393294f",
        "rollout_3": "5dab06868fba2a3fc94b",
        "rollout_4": "9d66da015b2c8ee31edf",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "4e30026970212a1c4283",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "f23ceb8927024a5714d1",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "ae72838149214562db33",
        "state_util": "5141a79a13a4a1093804",
        "temp_c": "a629e5f0d8080e6d483d",
        "throttled": "144b1098d87d89f04e14",
        "util": "311711b05aeb3a737a31",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "62694f265e9d8c8951c1",
        "busy": "ba1d00e7864fa36a3861",
        "busy_cpu": "7e7a6528c08c7be68743",
        "energy_mj": "4ef97c6ebdfdafcb9530",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "8520797afdf446324f57",
        "evaluate_busy_cpu": "e843424e3312b2d0d0ca",
        "evaluate_energy_mj": "958f3e8b7962260cd9d9",
        "evaluate_frames_dropped": "326dc07d5ed9620ec212",
        "evaluate_frames_in_flight": "20802c7deb6e7a47622c",
        "evaluate_frames_janky": "afeef873606aee2d975f",
        "evaluate_frames_presented": "99bc38fe6648ec7dd62e",
        "evaluate_frames_req": "380f92ad5e86e35332e6",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "693222c716d8a278a369",
        "evaluate_power_mw": "835625b5c3bff35e659c",
        "evaluate_power_total_mw": "61bf6f04564bf251aac0",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "279bcde20b1add7a6500",
        "evaluate_state2": "38ccba8959fe2cb9a1bc",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "7f19e157df7edd4b7b7d",
        "evaluate_temp_c": "38ccba8959fe2cb9a1bc",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "279bcde20b1add7a6500",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "07f79edd910f4f1c5fc4",
        "frames_in_flight": "ac4e2e8d4c6a97f33609",
        "frames_janky": "85e774e4a714d8fedf08",
        "frames_presented": "e3ff8de079d96c9bc770",
        "frames_req": "a7b21a40fa2421d0f3fc",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "f69737b4d1ad19cf8a8c",
        "power_mw": "edeb837ef532b7341d1a",
        "power_total_mw": "9dfe7f8ed2de25f448fb",
        "rollout_0": "d42e1e510d2ffa54495c",
        "rollout_1": "035c9741b398f6c25e65",
        "rollout_2": "2bbb9d73b80c020d6306",
        "rollout_3": "15186d30915e57e39d9d",
        "rollout_4": "5a13c83c91a938248d40",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "1982867c330935f6c8c8",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "76ccd502e72a897a6954",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "cba15036974a75d46997",
        "state_util": "95525886646cf8ec1769",
        "temp_c": "5c635c2bd185e22c020d",
        "throttled": "144b1098d87d89f04e14",
        "util": "a978bc56988471f7dcff",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "bab0ad87e4c76b49c051",
        "info_fps": "00d1d71effe94e8e75e7",
        "info_fps_requested": "230a01af1daa4acfc7d3",
        "info_frames_janky": "754e94734fea49c7fd0a",
        "info_power_soc_w": "ca77a42b990cfad1535a",
        "info_power_w": "e52210c7d8388a92033d",
        "info_ppr_norm": "992632402f46fa9c57e4",
        "info_qoe": "af2dae8c877bce1ecea4",
        "info_temp_die_c": "e8a9bacdcfa6ea6dd72b",
        "info_temp_skin_c": "4976645ffe863290de87",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "5e90cb85715ac8540937",
        "obs_obs": "8c9d3b8652dfce011bba",
        "reward": "9e00d508a89b02678c3a",
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
