"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). All cases were re-recorded on branch ``fit`` when Pixels 6 and 8 gained deep idle states
(docs/simulator.md 6.1: their power changes; the Qualcomm phones' trajectories were checked bit-identical), and
again when the idle-interval columns moved in the pipeline state (only ``state_pipe`` and ``evaluate_state4``
changed). Record by running this module as a script (``PYTHONPATH=$PWD python tests/sim/test_kernel_regression.py``,
which prints the ``EXPECTED`` dictionary). Every
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
        "energy_mj": "cb2e7c3f1da995fd53d8",
        "frames_dropped": "a7b5fde0a3e3c0e1cf05",
        "frames_in_flight": "9dba145925db5760cd35",
        "frames_janky": "ec6b6b9884fe5fd99b78",
        "frames_presented": "1647dc2ce14bfc921fd7",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "bce884857b7296ccc10a",
        "idx": "210e334506c5603172d1",
        "late_dom": "05f3a758f68dc490c976",
        "power_mw": "e6f8c64f66fc95bf88c2",
        "power_total_mw": "67d56809e2131e294ff2",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "534d1b96cb0263647626",
        "state_pipe": "a6cb6e66a071c3316e6b",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "825066edcdb58dbd7f97",
        "state_util": "273a2c3a7d04d87c8025",
        "temp_c": "83a198f4f8fd127174df",
        "throttled": "4168923556e08f653ee4",
        "util": "67e8852bfe6f29458179",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "5d14a153728ae3be8c03",
        "busy": "fb0e0a92fbddfd0279ce",
        "busy_cpu": "70c010db7d2ed47a1773",
        "energy_mj": "3abcb4774caf64cd3abb",
        "frames_dropped": "cfc1334618581dae96b3",
        "frames_in_flight": "836c005552550f4701d8",
        "frames_janky": "ad91029e6484d659e67f",
        "frames_presented": "f1577f3bff06e12276b5",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "98b883a9fdb454e9b5fb",
        "idx": "928e46e8213c87dc518a",
        "late_dom": "cac3f07fd0deab3296c5",
        "power_mw": "aa318f9916f924bf01b5",
        "power_total_mw": "3958b71589238b1c5c1b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5712553b33746743217d",
        "state_pipe": "8c5464433e085bdb4695",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "b7fa1b85441c5631869f",
        "state_util": "f1cb5ffe487d635cffcd",
        "temp_c": "b998b758e261ae381888",
        "throttled": "4168923556e08f653ee4",
        "util": "d1be79279780410ee8bb",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "720c1b04655091f197d0",
        "busy": "4a43d2d8941ca1615a5e",
        "busy_cpu": "21ad9ed16d663c25ec62",
        "energy_mj": "884b9d821572c6475bb0",
        "frames_dropped": "c6da370a37a13c902258",
        "frames_in_flight": "e79590ab51577d078a3b",
        "frames_janky": "c0f7a8309d7bce74786f",
        "frames_presented": "b5603ddd1d58c08e7634",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "c87c12b7d6966bd8017b",
        "power_mw": "9f1926c4aa21adac70f4",
        "power_total_mw": "c8b2039958a519a97102",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "9272b2fe3b9a9328363c",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "3378a8c31d46f3890732",
        "state_util": "aa8144eb021e2ad5f252",
        "temp_c": "be4ca3e4f2cb928343a8",
        "throttled": "4168923556e08f653ee4",
        "util": "5158dd66a763eebb8fd5",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "9ea5dbda51fcc08cd188",
        "busy": "077625e92cce2df3b034",
        "busy_cpu": "6cc6b29396924917578a",
        "energy_mj": "2d74d87b94d2e7d95fab",
        "frames_dropped": "40c061c7e7d7fc49663f",
        "frames_in_flight": "1a638f284d6c7237cfee",
        "frames_janky": "3d1e0c45de2d599e1c95",
        "frames_presented": "55ced693612d3fb42c0c",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "fe89e61bbf2b4400278f",
        "power_mw": "3a03b6a518527c3029b5",
        "power_total_mw": "32058041dfef9fe24655",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "70256bdf695b45f98afb",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "898d3c9cfa32317300a5",
        "state_util": "40cf41be638cf6f6e99b",
        "temp_c": "72134ef195f4689fcd6b",
        "throttled": "4168923556e08f653ee4",
        "util": "5944ae6ce0cb797b7d59",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "a97135aaa6b1526bb513",
        "busy": "b9f3c02c507b44473cb6",
        "busy_cpu": "fd5bcae3c9df8f971703",
        "energy_mj": "2b3ca135710a2240f77b",
        "frames_dropped": "9cd352d60d58374a9401",
        "frames_in_flight": "5b9902ea64f621a0251d",
        "frames_janky": "a04134ed9d4fef14b98b",
        "frames_presented": "91d479e700742465fd63",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "738c61498b25ea5062a4",
        "power_mw": "e4a3a2b7c55ef480eb99",
        "power_total_mw": "c779026179fc9e7da2ba",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "a6c95d25d4f54655f7af",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "5e2990a18895a3e2f655",
        "state_util": "4041e5234d5d8b044ba1",
        "temp_c": "91003222b42e439fcae5",
        "throttled": "4168923556e08f653ee4",
        "util": "3690775d1081e635ea00",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "dd8478e94c8c6e54effc",
        "busy": "095ecdd671774996481c",
        "busy_cpu": "f7e9ab93fdde3b5a1c6d",
        "energy_mj": "96a74f2318dcb58b797c",
        "frames_dropped": "b35a0345e1d6e6e3518b",
        "frames_in_flight": "1e0062b72b5065cfb278",
        "frames_janky": "f1e0d25df625fc4bd9d9",
        "frames_presented": "fd64ba92b93f53115bcf",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "f760e09da07dad97e610",
        "power_mw": "044c32ef355a55196895",
        "power_total_mw": "9b8b7a460afc27ef0cf1",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "1b212271700dbde50c04",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "65ced028951b729ec117",
        "state_util": "def24c928128d87aba33",
        "temp_c": "56568d522d3a19595b1d",
        "throttled": "4168923556e08f653ee4",
        "util": "e7c8aff98b626fb5e769",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "8361e41d807dc64a5e79",
        "busy": "3181ae5b9b17aa875de9",
        "busy_cpu": "b6067300983d5a663b63",
        "energy_mj": "fa4637d331264abba4c1",
        "frames_dropped": "fc3c69a2134eacf73553",
        "frames_in_flight": "dd9ab081c60580f77aee",
        "frames_janky": "8329a01f73093054658f",
        "frames_presented": "f5be4a9bdf61033d74b4",
        "frames_req": "6b340664c0933149d839",
        "freq_mhz": "c16a4328eac841ff6703",
        "idx": "495e70da6068103f0a0a",
        "late_dom": "99cab0ef1c67098e9eb8",
        "power_mw": "f2f170363b37ed3e10af",
        "power_total_mw": "16d3470e1944bde20cbf",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "a8480098eab96fac03c1",
        "state_pipe": "3456f38e8a86ded7b63a",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "df0cd5793008e66281f0",
        "state_util": "70875c73731e2034ecd2",
        "temp_c": "8e46843243d7cc076d53",
        "throttled": "4168923556e08f653ee4",
        "util": "0320623871f9f5ddac4d",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "05573b8f58ca52abec08",
        "busy": "21e6cc63526913778608",
        "busy_cpu": "ef41c3f5b2e72f8a6ca8",
        "energy_mj": "5b3e253b396874196d63",
        "frames_dropped": "87bd298f02412a50e972",
        "frames_in_flight": "c601ad0a4a5845c0e92a",
        "frames_janky": "ac1151f62b26d6e3638f",
        "frames_presented": "59df171a284c988cfb10",
        "frames_req": "777a88f5ab130db7c12d",
        "freq_mhz": "454071fecc33bbb0a4c2",
        "idx": "42217b387610e01bf27d",
        "late_dom": "f11808e45f132feba7ef",
        "power_mw": "20ea35db64de6c83d6ec",
        "power_total_mw": "85e932a61c106868ddf9",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "a26ba00dc22ad3f9cd5f",
        "state_pipe": "c902fbde1c9cd38525cc",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "98f3710e1f6a4517c888",
        "state_util": "1cfe552c2c545f3b59bc",
        "temp_c": "c738eb9eb3189b92dfb6",
        "throttled": "4168923556e08f653ee4",
        "util": "485fe41a7127b5856053",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "fe33fd72f6d1c43ae593",
        "busy": "58bc22eaec060d396682",
        "busy_cpu": "3073dcf1a8805e53f112",
        "energy_mj": "88289d03825e01bd3a2e",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "cc023359f495697d5eec",
        "evaluate_busy_cpu": "c1746e357e6b5cf0ad68",
        "evaluate_energy_mj": "1f86c2c53978fc8f4acc",
        "evaluate_frames_dropped": "055c715141ac109d0359",
        "evaluate_frames_in_flight": "bcce2f36e95c61f108ff",
        "evaluate_frames_janky": "12493f918b30ac4836c0",
        "evaluate_frames_presented": "2bcd94ee16f380968848",
        "evaluate_frames_req": "e54514a658b7a28f9916",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "0665d4ecb9811a1740cd",
        "evaluate_power_mw": "350d2d4f52687d4b33c2",
        "evaluate_power_total_mw": "e0ed88331a4cb95f31e9",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "bc6799f8c939c5a25311",
        "evaluate_state2": "03f1c77712b7eaf6814b",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "e89302440d4a30842685",
        "evaluate_temp_c": "03f1c77712b7eaf6814b",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "bc6799f8c939c5a25311",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "67d5f585cc94018fde42",
        "frames_in_flight": "ebd0b91178e32f765963",
        "frames_janky": "c70e79ac95a81ffe7d2b",
        "frames_presented": "ca5b47e05c789029140c",
        "frames_req": "d6e60ce2f4ac29d6c701",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "f3845c54f5587a34872d",
        "power_mw": "bff1a417f85a0cebc791",
        "power_total_mw": "b8212601aeac39309acc",
        "rollout_0": "a449f63068f2e26849ab",
        "rollout_1": "5427e2fcc608552de987",
        "rollout_2": "c890bd91ada011f7feae",
        "rollout_3": "9ca11c14e7622a7f3cf4",
        "rollout_4": "a8c76bb552dcf5e28189",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "a4f53a9a7ca5f3138d4e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "6df8d4448b235a563018",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "8b71aef8ffe5d8e47cb0",
        "state_util": "a797c20e32f080bb3baa",
        "temp_c": "85aed126969536132f9b",
        "throttled": "144b1098d87d89f04e14",
        "util": "e54b47785c3d2371d42d",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "11e34085e70013ed8dc1",
        "busy": "d3e3f7b1c8a8bd348341",
        "busy_cpu": "8ebddc82fa4beb8719c2",
        "energy_mj": "ced88f36ba55fcd54240",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "77ff588372f994d6756a",
        "evaluate_busy_cpu": "0405a7d1049df61318ae",
        "evaluate_energy_mj": "3450489aabc2e141b044",
        "evaluate_frames_dropped": "f4e213cf0da9356e1f96",
        "evaluate_frames_in_flight": "972e2eec3637d23b864f",
        "evaluate_frames_janky": "2c9443adf51485a528fd",
        "evaluate_frames_presented": "f60fcf638f344790a60e",
        "evaluate_frames_req": "c56ed3d23c0c79fc7556",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "5079c4bbb450b35cf9fe",
        "evaluate_power_mw": "fda4dcf8d0b3d4177a40",
        "evaluate_power_total_mw": "b6b8b120529ff3593062",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "905ed8899ea3fc401ec8",
        "evaluate_state2": "d9cb233fdcf38684e480",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "eac7f6a8b190f1c80aa2",
        "evaluate_temp_c": "d9cb233fdcf38684e480",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "905ed8899ea3fc401ec8",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "c7c23fa8f1af772d268c",
        "frames_in_flight": "0a3c4e4ffb9598cb517d",
        "frames_janky": "6637695d6298fe033a99",
        "frames_presented": "081249a6d7ee1773f937",
        "frames_req": "d2d37517db47e8085717",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "06108e1c998a115d7e6c",
        "power_mw": "e6f06fc465aeec6cbf5b",
        "power_total_mw": "cc7f183ddadc2b8b544e",
        "rollout_0": "e6e1a6e5ebfd0f11e506",
        "rollout_1": "45c4aaf024bcd9afc628",
        "rollout_2": "e11d8ff5357c2516871f",
        "rollout_3": "724aec4ccf4be3b581f2",
        "rollout_4": "33fafd3de58086f2d1b2",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "f3772f53490ca2f1382f",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "1f9663e9bb8817dc074a",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "94b080189db73db306f8",
        "state_util": "803e8024666be7f0302e",
        "temp_c": "831729fa34acd76962e8",
        "throttled": "144b1098d87d89f04e14",
        "util": "9e8cd51cd33e5a6597d5",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "8621338ba789fc514e6a",
        "info_fps": "391db8e353751346f0c8",
        "info_fps_requested": "9a18d2febdf41a0cd3b8",
        "info_frames_janky": "d7f33aa6cc6df6149ddb",
        "info_power_soc_w": "4eb093295c23d3c0bab5",
        "info_power_w": "d4590153fc9b8d3d24ca",
        "info_ppr_norm": "521ff2be1cad5056a53b",
        "info_qoe": "85955a9a4b22ec006d28",
        "info_temp_die_c": "547cc549dc0142f45c3b",
        "info_temp_skin_c": "47ea150930ee0e09de09",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "0ab8cb4642a859c86ff9",
        "obs_obs": "77677579883dc5fca438",
        "reward": "e8cacee1d7111f831b82",
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
