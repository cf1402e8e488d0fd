"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Re-recorded on branch ``jank`` after the jank rule became HWUI JankTracker's
(buffer stuffing carries over): only the jank fields (``frames_janky``, ``late_dom``, the pipeline state and what the
env derives from QoE) changed; OPPs, power, temperatures and presented frames are identical. Record by running
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
        "backlog_mc": "fa1cd83c0f41a428926c",
        "busy": "f673960b74e1b3878b33",
        "busy_cpu": "56c37bd0db954d1ade8d",
        "energy_mj": "c29f7d9162a897a17f3b",
        "frames_dropped": "a7b5fde0a3e3c0e1cf05",
        "frames_in_flight": "9dba145925db5760cd35",
        "frames_janky": "9acbba4619e119455313",
        "frames_presented": "1647dc2ce14bfc921fd7",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "bce884857b7296ccc10a",
        "idx": "210e334506c5603172d1",
        "late_dom": "77df7144d7dd138754d8",
        "power_mw": "efcf39e2ebd053e7da0a",
        "power_total_mw": "1fa7db4c6ae28b256a65",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "534d1b96cb0263647626",
        "state_pipe": "b89c752228124f477c9b",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "5e05f675410770fa08ed",
        "state_util": "273a2c3a7d04d87c8025",
        "temp_c": "07aef48d5854ae02b486",
        "throttled": "4168923556e08f653ee4",
        "util": "67e8852bfe6f29458179",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "5d14a153728ae3be8c03",
        "busy": "fb0e0a92fbddfd0279ce",
        "busy_cpu": "70c010db7d2ed47a1773",
        "energy_mj": "f45e343133cd305ae073",
        "frames_dropped": "cfc1334618581dae96b3",
        "frames_in_flight": "836c005552550f4701d8",
        "frames_janky": "2820a649e11d51d4f583",
        "frames_presented": "f1577f3bff06e12276b5",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "98b883a9fdb454e9b5fb",
        "idx": "928e46e8213c87dc518a",
        "late_dom": "74168a3d5abcd485e3ec",
        "power_mw": "2a35d360ce1e577fab59",
        "power_total_mw": "54ef188dab7d53128ce7",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5712553b33746743217d",
        "state_pipe": "42ea16b3258cfe970610",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "65e8c28cd911dae67bb2",
        "state_util": "f1cb5ffe487d635cffcd",
        "temp_c": "179457b2309643695807",
        "throttled": "4168923556e08f653ee4",
        "util": "d1be79279780410ee8bb",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "720c1b04655091f197d0",
        "busy": "4a43d2d8941ca1615a5e",
        "busy_cpu": "21ad9ed16d663c25ec62",
        "energy_mj": "465e8ef7e417fe518863",
        "frames_dropped": "c6da370a37a13c902258",
        "frames_in_flight": "e79590ab51577d078a3b",
        "frames_janky": "5f7e54223fc80e0c9dba",
        "frames_presented": "b5603ddd1d58c08e7634",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "468148a01d556a2946d5",
        "power_mw": "7737504157bcb1de2379",
        "power_total_mw": "636f9e66d1cec5086606",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "850b0b5dc7ea3b1d50fd",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "20afd43e2ef1bbd604c4",
        "state_util": "aa8144eb021e2ad5f252",
        "temp_c": "64e9bbc301fe190fab42",
        "throttled": "4168923556e08f653ee4",
        "util": "5158dd66a763eebb8fd5",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "9ea5dbda51fcc08cd188",
        "busy": "077625e92cce2df3b034",
        "busy_cpu": "6cc6b29396924917578a",
        "energy_mj": "1804aa1a07753c2d7f95",
        "frames_dropped": "40c061c7e7d7fc49663f",
        "frames_in_flight": "1a638f284d6c7237cfee",
        "frames_janky": "6735d3de606cb43281dd",
        "frames_presented": "55ced693612d3fb42c0c",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "819a0a9189bd3236c6b5",
        "power_mw": "46637ab260d407283204",
        "power_total_mw": "83adf8328e521ac50b9e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "469d7994a32bec3252bc",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "54c30bfa7011e54f7702",
        "state_util": "40cf41be638cf6f6e99b",
        "temp_c": "c6bb76570b7790e3b2bb",
        "throttled": "4168923556e08f653ee4",
        "util": "5944ae6ce0cb797b7d59",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "a97135aaa6b1526bb513",
        "busy": "b9f3c02c507b44473cb6",
        "busy_cpu": "fd5bcae3c9df8f971703",
        "energy_mj": "5f2fc17f6f84d58b228c",
        "frames_dropped": "9cd352d60d58374a9401",
        "frames_in_flight": "5b9902ea64f621a0251d",
        "frames_janky": "bc6cb48f839304bb2d9e",
        "frames_presented": "91d479e700742465fd63",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "b77ed2d52738e337c207",
        "power_mw": "0ef26631eb2a944474ff",
        "power_total_mw": "9164932f02d081195c5f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "c16bf0cf7ccb76440175",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "6c15f013830bc11c4d41",
        "state_util": "4041e5234d5d8b044ba1",
        "temp_c": "8fa02640663bdd5d4a62",
        "throttled": "4168923556e08f653ee4",
        "util": "3690775d1081e635ea00",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "dd8478e94c8c6e54effc",
        "busy": "095ecdd671774996481c",
        "busy_cpu": "f7e9ab93fdde3b5a1c6d",
        "energy_mj": "c93a0c523047d7a4ba45",
        "frames_dropped": "b35a0345e1d6e6e3518b",
        "frames_in_flight": "1e0062b72b5065cfb278",
        "frames_janky": "02d11e87ace6c361b2bb",
        "frames_presented": "fd64ba92b93f53115bcf",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "e47f5687e860fe019484",
        "power_mw": "68002755055bdf5ab97c",
        "power_total_mw": "c2b22523f0711a714b75",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "9ee1e6f9f02a4b555ec9",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "1f0f4ff9cda25625bc3c",
        "state_util": "def24c928128d87aba33",
        "temp_c": "3f09de2dbb0964e1e2ac",
        "throttled": "4168923556e08f653ee4",
        "util": "e7c8aff98b626fb5e769",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "8361e41d807dc64a5e79",
        "busy": "3181ae5b9b17aa875de9",
        "busy_cpu": "b6067300983d5a663b63",
        "energy_mj": "2aa9cab36a9b34e60ae7",
        "frames_dropped": "fc3c69a2134eacf73553",
        "frames_in_flight": "dd9ab081c60580f77aee",
        "frames_janky": "dc63f6e96f8734d47916",
        "frames_presented": "f5be4a9bdf61033d74b4",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "c16a4328eac841ff6703",
        "idx": "495e70da6068103f0a0a",
        "late_dom": "42c74be95a8037e2891b",
        "power_mw": "88a024aa8a4b33300ba2",
        "power_total_mw": "c2f7c5fe1c23788f1d7b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "a8480098eab96fac03c1",
        "state_pipe": "dca9ec93aa2f5fcef33d",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "945e82ac88a3743aa528",
        "state_util": "70875c73731e2034ecd2",
        "temp_c": "a59f679f2ba7844ed0fe",
        "throttled": "4168923556e08f653ee4",
        "util": "0320623871f9f5ddac4d",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "05573b8f58ca52abec08",
        "busy": "21e6cc63526913778608",
        "busy_cpu": "ef41c3f5b2e72f8a6ca8",
        "energy_mj": "4430e2f6196b8d26e8c5",
        "frames_dropped": "87bd298f02412a50e972",
        "frames_in_flight": "c601ad0a4a5845c0e92a",
        "frames_janky": "5851a31d6458a13b251d",
        "frames_presented": "59df171a284c988cfb10",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "454071fecc33bbb0a4c2",
        "idx": "42217b387610e01bf27d",
        "late_dom": "b4fdb0ad93361b0a430e",
        "power_mw": "1b11c693678a151f2dd8",
        "power_total_mw": "201abe9da4344ff1d68f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "a26ba00dc22ad3f9cd5f",
        "state_pipe": "daf56bff33e916e619ac",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "b066e3a512cb5def59d4",
        "state_util": "1cfe552c2c545f3b59bc",
        "temp_c": "791a34ced82af2c9c6bb",
        "throttled": "4168923556e08f653ee4",
        "util": "485fe41a7127b5856053",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "fe33fd72f6d1c43ae593",
        "busy": "58bc22eaec060d396682",
        "busy_cpu": "3073dcf1a8805e53f112",
        "energy_mj": "25d86324f1ee32aacdb0",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "cc023359f495697d5eec",
        "evaluate_busy_cpu": "c1746e357e6b5cf0ad68",
        "evaluate_energy_mj": "ab0c65d04a5183d447ac",
        "evaluate_frames_dropped": "055c715141ac109d0359",
        "evaluate_frames_in_flight": "bcce2f36e95c61f108ff",
        "evaluate_frames_janky": "1b2d1a7531bda5b427c7",
        "evaluate_frames_presented": "2bcd94ee16f380968848",
        "evaluate_frames_req": "e54514a658b7a28f9916",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "65fd61af33f894689da5",
        "evaluate_power_mw": "f46397fc6b7887ec92a3",
        "evaluate_power_total_mw": "3c06872ab6beadb67430",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "bc6799f8c939c5a25311",
        "evaluate_state2": "f9ce6352210ff5a55dce",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "baf26f43899189cf7ca6",
        "evaluate_temp_c": "f9ce6352210ff5a55dce",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "bc6799f8c939c5a25311",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "67d5f585cc94018fde42",
        "frames_in_flight": "ebd0b91178e32f765963",
        "frames_janky": "373f83299f1ad7579f42",
        "frames_presented": "ca5b47e05c789029140c",
        "frames_req": "d6e60ce2f4ac29d6c701",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "e50e7b50fc99ed5fb4e8",
        "power_mw": "c99297db965ae5817076",
        "power_total_mw": "0e0101cf50373065f13c",
        "rollout_0": "e869a6eab8b68e14c068",
        "rollout_1": "5427e2fcc608552de987",
        "rollout_2": "7a6c0f7cda423c049701",
        "rollout_3": "9ca11c14e7622a7f3cf4",
        "rollout_4": "07049a46d82df25c3dbc",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "a4f53a9a7ca5f3138d4e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "35ca1c3dd574621dd6b6",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "6047b9d38adc4702b2a5",
        "state_util": "a797c20e32f080bb3baa",
        "temp_c": "bb2f0ac9f01bd763a626",
        "throttled": "144b1098d87d89f04e14",
        "util": "e54b47785c3d2371d42d",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "11e34085e70013ed8dc1",
        "busy": "d3e3f7b1c8a8bd348341",
        "busy_cpu": "8ebddc82fa4beb8719c2",
        "energy_mj": "d0906b9e843f74e9db01",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "77ff588372f994d6756a",
        "evaluate_busy_cpu": "0405a7d1049df61318ae",
        "evaluate_energy_mj": "089191f443974f3feb40",
        "evaluate_frames_dropped": "f4e213cf0da9356e1f96",
        "evaluate_frames_in_flight": "972e2eec3637d23b864f",
        "evaluate_frames_janky": "8a46d9ad7bb23bf09327",
        "evaluate_frames_presented": "f60fcf638f344790a60e",
        "evaluate_frames_req": "c56ed3d23c0c79fc7556",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "a7f1e08bdf26505cae97",
        "evaluate_power_mw": "cdd2095436cc259434c7",
        "evaluate_power_total_mw": "0354bdda7ade98f93111",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "905ed8899ea3fc401ec8",
        "evaluate_state2": "314d1610d8ed9ddcdb0a",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "abd429d44982e0a6d2a2",
        "evaluate_temp_c": "314d1610d8ed9ddcdb0a",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "905ed8899ea3fc401ec8",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "c7c23fa8f1af772d268c",
        "frames_in_flight": "0a3c4e4ffb9598cb517d",
        "frames_janky": "00fa996e2719f086766b",
        "frames_presented": "081249a6d7ee1773f937",
        "frames_req": "d2d37517db47e8085717",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "fb735f68a13fdffe7a08",
        "power_mw": "4a36e7938344e7ebd5d8",
        "power_total_mw": "ddc6948c02c4d0f828b7",
        "rollout_0": "01817a8b7d11727c1bc0",
        "rollout_1": "45c4aaf024bcd9afc628",
        "rollout_2": "7d3b26a70746f83aee0b",
        "rollout_3": "724aec4ccf4be3b581f2",
        "rollout_4": "b2d59b56e58a93302d7f",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "f3772f53490ca2f1382f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "0bce2d2384f0bd8c9af9",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "9ab1890467cde203844e",
        "state_util": "803e8024666be7f0302e",
        "temp_c": "a10016c3ee22f0f07f5c",
        "throttled": "144b1098d87d89f04e14",
        "util": "9e8cd51cd33e5a6597d5",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "6dfff87da17d48a9da93",
        "info_fps": "391db8e353751346f0c8",
        "info_fps_requested": "9a18d2febdf41a0cd3b8",
        "info_frames_janky": "13c52bb04891e0638971",
        "info_power_soc_w": "f740de9cbb7924ee491a",
        "info_power_w": "9e9285148daf8cd145cd",
        "info_ppr_norm": "9bef6af5c94a4181cd1f",
        "info_qoe": "9d39a98df81ed2f283da",
        "info_temp_die_c": "b73593c6411d401b4cee",
        "info_temp_skin_c": "1c838cd394ecf01d45bd",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "0ab8cb4642a859c86ff9",
        "obs_obs": "abdc910ba971ff73d49d",
        "reward": "180c9c94f6951280a75c",
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
