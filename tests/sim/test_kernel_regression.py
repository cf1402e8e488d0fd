"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Re-recorded on branch ``jank`` after the jank rule became HWUI JankTracker's
(buffer stuffing carries over): only the jank fields (``frames_janky``, ``late_dom``, the pipeline state and what the
env derives from QoE) changed; OPPs, power, temperatures and presented frames are identical. Re-recorded again
there when the UI apps' scroll/animation phases started drawing at the panel's refresh rate (``display_rate``;
demand of the 90/120 Hz phones' UI tasks), and at the merge with the GPU calibration (fitted ``gpu.throughput``,
re-derived estimated GPU power curves). Record by running
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
        "energy_mj": "d018ef437e127753f1dd",
        "frames_dropped": "79bdbdada2a843c9e7ee",
        "frames_in_flight": "81356aac913f86627767",
        "frames_janky": "e6b3b8cf51420e70151a",
        "frames_presented": "b551f55af47abd1965fa",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "e7bfd6e378f5b94a3aeb",
        "idx": "8204cfa0abd3a2168c94",
        "late_dom": "ec46164723b022dc80b6",
        "power_mw": "65a4269d7162f9ab1f3b",
        "power_total_mw": "8f32cba8d81f3fe40317",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "2d4970d71cbc97223411",
        "state_pipe": "f131f115560bf9badae3",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "56db12aebcc7ef118a68",
        "state_util": "63c2e12a6703d8eca763",
        "temp_c": "ebf1ec90bcbad2d37a02",
        "throttled": "4168923556e08f653ee4",
        "util": "c6d8ee7d7d945b499037",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "283cf72db82203fb1715",
        "busy": "d2a8e212f997e31569fd",
        "busy_cpu": "d0ecb68848b3abf29955",
        "energy_mj": "2507eae4fe66358e30e5",
        "frames_dropped": "b45ef015bf43895a0e8c",
        "frames_in_flight": "b0e86ce6cf3d24976aae",
        "frames_janky": "6aa88525463c9f90513c",
        "frames_presented": "c295e5a29ee0ed8c6ae7",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "deb0d1f1b2357a89e995",
        "idx": "f08c0c506632b42f7720",
        "late_dom": "58a8b97986b6bc66773d",
        "power_mw": "fbbbb42f138dd5708aa8",
        "power_total_mw": "2e71c65069eb8dd5ecb0",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "cd2085d1b7f16da61793",
        "state_pipe": "21aa5b07ec65a601e68f",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "735b8dd6365a317934de",
        "state_util": "9c63248cadac99480482",
        "temp_c": "193a398c8fd4f5698e07",
        "throttled": "4168923556e08f653ee4",
        "util": "1a3417f7c475fe181283",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "89cd5b742b8dfd923536",
        "busy": "64d6783733ac5e3f2d27",
        "busy_cpu": "2f226d447484f388ab63",
        "energy_mj": "ef90a4713412dec07c8b",
        "frames_dropped": "1a769f635bf98a565a9b",
        "frames_in_flight": "1812998ec9c8701f5d64",
        "frames_janky": "cb2384017f2386d387dc",
        "frames_presented": "406dfcf790dab1fb3697",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "d00f656be3371e34de0b",
        "power_mw": "c8d34febfa1eda3a0f72",
        "power_total_mw": "b64f57ac6a40c3a1095f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "ff21ae4c09d3fe6e8032",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "3d7e7875de6a3eb3c9f4",
        "state_util": "ef04931b428b75592c14",
        "temp_c": "86462f202b3585855efe",
        "throttled": "4168923556e08f653ee4",
        "util": "1befad2e85ae275ae76f",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "4169691f11ba3df202e3",
        "busy": "2aec6ed7f5a8390eb296",
        "busy_cpu": "949e589e73a600c2fd5a",
        "energy_mj": "82af406867614b8bed07",
        "frames_dropped": "a10ca5f083b534d859b9",
        "frames_in_flight": "0e613c47ab3ea8b8b37f",
        "frames_janky": "4e41e20fdb2af85a91c3",
        "frames_presented": "9f572c08487cc5ef15ac",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "79fa5cd4c5ebe9bdcfa0",
        "power_mw": "0a76f1af4584d70cf62e",
        "power_total_mw": "98a8fa40142776bc4362",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "a2ec15c1eab34f334296",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "a968a2de64400964b62a",
        "state_util": "d5966a40f23b64ee7ad4",
        "temp_c": "8518c58d3b6a3796adeb",
        "throttled": "4168923556e08f653ee4",
        "util": "6098e2158a490e1d22d7",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "94690aa78c41903307ff",
        "busy": "e277af29bce12ad7fba7",
        "busy_cpu": "3818b981a0a8ad516d14",
        "energy_mj": "f1e8519ab07dab132a84",
        "frames_dropped": "d7284c1f04644cc976e9",
        "frames_in_flight": "af64b71478914bad8d06",
        "frames_janky": "5895280c349143eee243",
        "frames_presented": "b30f3780f17490b520f8",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "01f6997ed1d58ce38009",
        "power_mw": "f26acc664a2bbe9b9a85",
        "power_total_mw": "24a0d90fb3fcf811e670",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "a61b73d690e85cd1bc03",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "47f9a9e679d9a114e5f5",
        "state_util": "39372dc83037e1fe0402",
        "temp_c": "71df62bd6482ca1868d0",
        "throttled": "4168923556e08f653ee4",
        "util": "229899ab77cf6ed49e22",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "d3803981345ccaadf002",
        "busy": "0f88cc2aeb8bd3d6240f",
        "busy_cpu": "9fd19189881d5bb045cd",
        "energy_mj": "b1f45dc7501fba72a565",
        "frames_dropped": "25042e1f70269209ba0e",
        "frames_in_flight": "e1d7bf98155b14d57880",
        "frames_janky": "bf4fcd64d02f73a0cfda",
        "frames_presented": "09c49c0d83b2d0af17f4",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "1a4478ea7ac43689f376",
        "power_mw": "2943441e97b99fc83086",
        "power_total_mw": "27fde4f1a273342da9ef",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "8a79d038ad8c6f0ed441",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "17d246289b299ccb6220",
        "state_util": "68c1cc5e19dc5c0b838b",
        "temp_c": "d3d46e8818b8e5019458",
        "throttled": "4168923556e08f653ee4",
        "util": "7a48da4f0249d031b0da",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "642afd655e61d1db4a35",
        "busy": "1bd2b87f160e0dc0abd6",
        "busy_cpu": "06a766a540f102aadb9f",
        "energy_mj": "a3004979c6e889e20b95",
        "frames_dropped": "f684432a0dd760aaa2b1",
        "frames_in_flight": "fcbe4fc22e686400229e",
        "frames_janky": "efc908d21761bccd57df",
        "frames_presented": "d71e7a445f5745c65aef",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "8b3bdb5e4e052b91685f",
        "idx": "e6f6e40055b2c3624b90",
        "late_dom": "d807fce25042c974d838",
        "power_mw": "d4f2b292e633e64fdb78",
        "power_total_mw": "8d5c7834b94171034a1b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "431db30cea6e572f418c",
        "state_pipe": "150fa9e7eeaefeacc536",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "39c4f1c8e943f48db661",
        "state_util": "f095a34999b15557327c",
        "temp_c": "52fe601cfa3bc2b64026",
        "throttled": "4168923556e08f653ee4",
        "util": "2e2781cbaad744b392d4",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "0d90b747afa8a96c1b7c",
        "busy": "e25803c869b2788930e4",
        "busy_cpu": "74114dcd2fb45305d7bc",
        "energy_mj": "e84f6376803ff13d87bd",
        "frames_dropped": "f8791ce9c69a8d6bcd30",
        "frames_in_flight": "fc53a3e03643cdf6eede",
        "frames_janky": "6463d6694293c037d300",
        "frames_presented": "42dd5d877b45bba7f1d7",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "5387a29e41f9b7e24550",
        "idx": "9b0934ebdbc2cebfab72",
        "late_dom": "858fba7e09f63de48c13",
        "power_mw": "ab4774855995ae746802",
        "power_total_mw": "8dfaf64cb6e9f7d77485",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f8675b81784f4767e470",
        "state_pipe": "6a61aff7f4352c9d91a1",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "0b335f8d7bc06b10b28a",
        "state_util": "2db0452175eaa56fadad",
        "temp_c": "e1f54a36e5287834b3f5",
        "throttled": "4168923556e08f653ee4",
        "util": "a12f6324a2a226ea06a8",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "ec09f1c7f61e43f906df",
        "busy": "2ffeea57585f269f51ca",
        "busy_cpu": "70efb7a6ef1021288a2e",
        "energy_mj": "1c6e97d0db67c5b05e34",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "18fadc5162cb9e1a2ddd",
        "evaluate_busy_cpu": "e948b4a24b8ffeba75c3",
        "evaluate_energy_mj": "6f120101e16e620fd707",
        "evaluate_frames_dropped": "ad9d1065f2e2eedc5006",
        "evaluate_frames_in_flight": "d135fbb4928a95e244cb",
        "evaluate_frames_janky": "0f7425467fde729e62b6",
        "evaluate_frames_presented": "5eb7b5ef36c9b700278f",
        "evaluate_frames_req": "e8db5897a2fbd3242dfb",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "da96306541d4b2ce1231",
        "evaluate_power_mw": "31cc9082cad074a6faf4",
        "evaluate_power_total_mw": "bd017e8f3ac5efb4ec06",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "5e9b98f4a8986f1df5ef",
        "evaluate_state2": "1c82ffce343acd42d072",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "e3815d3d4b4f53abc513",
        "evaluate_temp_c": "1c82ffce343acd42d072",
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
        "power_mw": "31fd6e81bdec32018ed9",
        "power_total_mw": "87f633bf42eb23b29405",
        "rollout_0": "cdc334c336ad24287765",
        "rollout_1": "5fc1d6bd7aee29d2c8fa",
        "rollout_2": "45a1bee5d23ad393294f",
        "rollout_3": "5dab06868fba2a3fc94b",
        "rollout_4": "0ae4ff963f46155f2c33",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "4e30026970212a1c4283",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "953f08bd39f29a3addb0",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "9520aec42c4eb078fb10",
        "state_util": "5141a79a13a4a1093804",
        "temp_c": "6836ee6f2da6aec7e201",
        "throttled": "144b1098d87d89f04e14",
        "util": "311711b05aeb3a737a31",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "62694f265e9d8c8951c1",
        "busy": "ba1d00e7864fa36a3861",
        "busy_cpu": "7e7a6528c08c7be68743",
        "energy_mj": "255d01cdd30ebcfe1a9b",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "8520797afdf446324f57",
        "evaluate_busy_cpu": "e843424e3312b2d0d0ca",
        "evaluate_energy_mj": "7558013b65d8ef266315",
        "evaluate_frames_dropped": "326dc07d5ed9620ec212",
        "evaluate_frames_in_flight": "20802c7deb6e7a47622c",
        "evaluate_frames_janky": "afeef873606aee2d975f",
        "evaluate_frames_presented": "99bc38fe6648ec7dd62e",
        "evaluate_frames_req": "380f92ad5e86e35332e6",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "693222c716d8a278a369",
        "evaluate_power_mw": "c80715a9576a88dceb6b",
        "evaluate_power_total_mw": "65fea4df333ce5ae8950",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "279bcde20b1add7a6500",
        "evaluate_state2": "a0d4e67c88f19c5a80e4",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "cc89beb8c3eeee6662b5",
        "evaluate_temp_c": "a0d4e67c88f19c5a80e4",
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
        "power_mw": "cb189052687ac7c972b0",
        "power_total_mw": "6a71b3a6f530916a19f8",
        "rollout_0": "6bba010fd418ec38dd75",
        "rollout_1": "035c9741b398f6c25e65",
        "rollout_2": "2bbb9d73b80c020d6306",
        "rollout_3": "15186d30915e57e39d9d",
        "rollout_4": "9209fe7b0f2897082b0a",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "1982867c330935f6c8c8",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "fb9ec75c55e3843407a0",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "9ad12c52e7a79eee7bd5",
        "state_util": "95525886646cf8ec1769",
        "temp_c": "c196e502ccb988dd0e5a",
        "throttled": "144b1098d87d89f04e14",
        "util": "a978bc56988471f7dcff",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "1ea902eaa8db7e239ab6",
        "info_fps": "00d1d71effe94e8e75e7",
        "info_fps_requested": "230a01af1daa4acfc7d3",
        "info_frames_janky": "754e94734fea49c7fd0a",
        "info_power_soc_w": "d4874edd7e48806cf456",
        "info_power_w": "a6d208ec8d74cd61df10",
        "info_ppr_norm": "98b4e6eebff1c83be1a3",
        "info_qoe": "af2dae8c877bce1ecea4",
        "info_temp_die_c": "b762e63e4702f3c06301",
        "info_temp_skin_c": "1a33c65db8e2e439be3b",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "5e90cb85715ac8540937",
        "obs_obs": "c689ce4628d1a6cd58ed",
        "reward": "ac1406425bd3529e794f",
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
