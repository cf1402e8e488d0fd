"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Re-recorded on branch ``jank`` after the jank rule became HWUI JankTracker's
(buffer stuffing carries over): only the jank fields (``frames_janky``, ``late_dom``, the pipeline state and what the
env derives from QoE) changed; OPPs, power, temperatures and presented frames are identical. Re-recorded again
there when the UI apps' scroll/animation phases started drawing at the panel's refresh rate (``display_rate``;
demand of the 90/120 Hz phones' UI tasks). Record by running
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
        "backlog_mc": "e4be89b7ddac1eb16e77",
        "busy": "eec46c31cf897660061e",
        "busy_cpu": "9e108ef5926270978cf6",
        "energy_mj": "f1d4978f329c2f8cbc85",
        "frames_dropped": "1d07bccd9eefa574515e",
        "frames_in_flight": "db9f9dc2f41fb65a02f2",
        "frames_janky": "38d75d9602ed4b325904",
        "frames_presented": "8e9f1867c43d5c02a77b",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "4308474bda07b11be8d7",
        "idx": "e793562ff1bdcf437b91",
        "late_dom": "65167951e67026c18783",
        "power_mw": "c7b13582e592d80aff14",
        "power_total_mw": "79abd7649b923042af4e",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80ced38b4503b6e0fc58",
        "state_pipe": "a8f79afb8e044bc14c05",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "86de3121b9f733b159d9",
        "state_util": "472fbe2b0e4af56b1d35",
        "temp_c": "6c321a1bf2b860268589",
        "throttled": "4168923556e08f653ee4",
        "util": "2cad960951b12a300bf1",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "bca73afaa5a898408890",
        "busy": "4c4933aad2cc64b98110",
        "busy_cpu": "a048eb9394741e166bcf",
        "energy_mj": "0c149d637a6fbe9837ff",
        "frames_dropped": "9b2e5f6416eeb9a1c346",
        "frames_in_flight": "02a8584c0d93199f27c2",
        "frames_janky": "a4a9f02458b678adb1db",
        "frames_presented": "03810c2bbc2da302740b",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "24524bcea14a15686f6c",
        "idx": "f64a831adbe669ed4395",
        "late_dom": "e2defcf5cbef2176f501",
        "power_mw": "c612c1a45976d214f6e0",
        "power_total_mw": "257b6584ae78df6e7d7b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "b8da21f3e95d83232ac1",
        "state_pipe": "455704452c22eb9c9734",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "345f3291af60ae742ac6",
        "state_util": "3bf15a08b0c31d34e61d",
        "temp_c": "4ca6a7bb270eb9dc5487",
        "throttled": "4168923556e08f653ee4",
        "util": "bcdd4dabf03597dcbf05",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "0b0437d6d16ed2ae5896",
        "busy": "978d605b032a184f13c4",
        "busy_cpu": "510a7529355cdc775c55",
        "energy_mj": "79842b09041416020979",
        "frames_dropped": "4cc9a0807037febd47e6",
        "frames_in_flight": "bc40f9ad4c1827e5363a",
        "frames_janky": "78a480b665c9504a9e43",
        "frames_presented": "aa7347345ed986b03b31",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "7b5c29e96d76e279b5f9",
        "power_mw": "cdee38c19785c6a7e739",
        "power_total_mw": "0895f6657d94c7cdbf56",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "bc7fea49f7ce95ad1962",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "2fd8246edb2e2fc6736e",
        "state_util": "d157113bfc80ac5826d0",
        "temp_c": "9aa9b95f560d6c26a17e",
        "throttled": "4168923556e08f653ee4",
        "util": "b9c1293fca7e956f76ea",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "4169691f11ba3df202e3",
        "busy": "3f990f80b1de37188536",
        "busy_cpu": "6f05167201ec89bc0cf1",
        "energy_mj": "b8ad8cfcc89c60d625c5",
        "frames_dropped": "058b3c1becf0c756f568",
        "frames_in_flight": "f53b4148990df99fdcd9",
        "frames_janky": "76dfb238463ae68bf017",
        "frames_presented": "5d50f6d688b822faabb4",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "5977bf9ac6192d1d02a0",
        "power_mw": "dfbe4e9bcf8dc67c229a",
        "power_total_mw": "2046ae3c0a6f099511c5",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "d1fea442700edd086420",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "88a31b70f19654c4e0f4",
        "state_util": "0daef11c63c52037f1e5",
        "temp_c": "701901bd0f86ffa0d6af",
        "throttled": "4168923556e08f653ee4",
        "util": "4b3c27e1f328200be59d",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "badf2fe27dca20fbe15f",
        "busy": "9f0de86e89fbd28d9cd1",
        "busy_cpu": "4c58cffceb87face1a3c",
        "energy_mj": "ecbd908a1c5be50fe2ab",
        "frames_dropped": "87b45779c9b14622e768",
        "frames_in_flight": "e01ec5b59d93706e8f4a",
        "frames_janky": "5fa57d9d732a46a09a20",
        "frames_presented": "ee03f5e7e39ef265801f",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "85a9b019bfa29e5788b9",
        "power_mw": "4ed7dde7f31121b18a94",
        "power_total_mw": "ad8ba699ec799f239634",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "bcba31b5bd53832a6196",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "764f0a12922ad1a18a6a",
        "state_util": "5a2e1a461690793b6cd6",
        "temp_c": "cfd8c6f65a262dd9a4ae",
        "throttled": "4168923556e08f653ee4",
        "util": "c84be230ee1f4112cb7f",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "72925112a31a47e9026d",
        "busy": "c0c54081b6ca031f6824",
        "busy_cpu": "9ebfa3e6421e6eccebfc",
        "energy_mj": "b7e06d0a32d213ef082f",
        "frames_dropped": "f122f285d3e350be38e0",
        "frames_in_flight": "c586de881e329934f072",
        "frames_janky": "52fa30fd07880785d567",
        "frames_presented": "4acc6b3531acfe6f1359",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "72a71a169aba5f8f6595",
        "power_mw": "e17ba3bd79287c998dfe",
        "power_total_mw": "7720127f36075598a1e3",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "e71510469a203e1c27d3",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "ef45b9b80d49ab084899",
        "state_util": "84d8f127fc3b2d8d3d6f",
        "temp_c": "991c78f3a3f190bd1855",
        "throttled": "4168923556e08f653ee4",
        "util": "daabc7f5f6b4c9472771",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "04a630c8fc6eddc57882",
        "busy": "6f2bb43d14f1481bc015",
        "busy_cpu": "e4f1f2348d78ad198718",
        "energy_mj": "fe8febcc19ac2cea4358",
        "frames_dropped": "24cf4319756b337459f2",
        "frames_in_flight": "fd2d504eb8844ca57616",
        "frames_janky": "fce5dda7158eed763716",
        "frames_presented": "f8ffb76e17102a2e6396",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "700e0bec1f048d8ec932",
        "idx": "9be7aebec73c5134af0c",
        "late_dom": "3608e5f720ca93c1e5c8",
        "power_mw": "b1a1c99ad666c0428b84",
        "power_total_mw": "15664b26bc6790e679a5",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "a8ad4c3d3e7cce7b9af5",
        "state_pipe": "940fdca774f791e2a83d",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "0ed0f99379303f47e842",
        "state_util": "b9d617164b3c3ff40854",
        "temp_c": "393bcec35679a349f09f",
        "throttled": "4168923556e08f653ee4",
        "util": "d00462a2727b0adfc04b",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "fe0a6d0aa0f1ab36bb97",
        "busy": "1b7f50c53c681ded9cf0",
        "busy_cpu": "ae6db3e1c75f0cb47740",
        "energy_mj": "f778b4e63c09ac250827",
        "frames_dropped": "08249ef91c126d502d3b",
        "frames_in_flight": "629e67bc63ee53fe996c",
        "frames_janky": "c126534beebe9e52ca81",
        "frames_presented": "edd9c9e0ce94d454f35a",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "f35612b49e40fc2a4fd4",
        "idx": "5edfd3bdf50d8c41d8bf",
        "late_dom": "f00186028fc0bac29814",
        "power_mw": "3879e7bfe33070044cbf",
        "power_total_mw": "1493e547898baa04d0c7",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "381b8d0bc41c897be043",
        "state_pipe": "858fe8f8aaa232d893ac",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "eec9c182f95fdebf8a55",
        "state_util": "212b024818b0d370b020",
        "temp_c": "79c40f47e65b7f787d2e",
        "throttled": "4168923556e08f653ee4",
        "util": "32d65291803a7f33c64f",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "76a6b2e4e052fda9276f",
        "busy": "23ab290535401b253a44",
        "busy_cpu": "c3278f4300153677ecf7",
        "energy_mj": "f31dc6da6a4d52b77489",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "dd1af359eb0b3454b400",
        "evaluate_busy_cpu": "dc3d1a8dc8666c1e9857",
        "evaluate_energy_mj": "06bb3274d858e17999f0",
        "evaluate_frames_dropped": "300c3e9acdbaef8ba5bc",
        "evaluate_frames_in_flight": "388d17eda064dd5d3b4f",
        "evaluate_frames_janky": "39d341ed9fbbc5d2ba5a",
        "evaluate_frames_presented": "89e220b37a11edae6c05",
        "evaluate_frames_req": "e8db5897a2fbd3242dfb",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "f5617643abf730f97662",
        "evaluate_power_mw": "8fc76379567e43b96a4e",
        "evaluate_power_total_mw": "6e7961e674fd79d34a77",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "d1d7821380c36ce6cfeb",
        "evaluate_state2": "c863a5cf06e96f3a1e0d",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "f3d5e368ca39587b73f4",
        "evaluate_temp_c": "c863a5cf06e96f3a1e0d",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "d1d7821380c36ce6cfeb",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "1fd4b96b53f44fad6bca",
        "frames_in_flight": "286b204216b76668fcb7",
        "frames_janky": "c0e5a2a1a0d884b1832c",
        "frames_presented": "ccac0961df03f53d3f37",
        "frames_req": "2f0c0e0eaedb7348662e",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "ece70063b7e565bc2612",
        "power_mw": "1bf1a92f8daa0e1f7e13",
        "power_total_mw": "06d709533d6586abdc6b",
        "rollout_0": "c7700d90c4a66d64181a",
        "rollout_1": "df2cc025fc45ee205d1e",
        "rollout_2": "9b32dc7b23bef464f5cb",
        "rollout_3": "2da1f742d05ba4ad45e0",
        "rollout_4": "81ffb9afd9a9d495669c",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "e5ef5b154cebcb1d5635",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "e171173d8c3580ab52e9",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "bbfec6cefd3754390e57",
        "state_util": "2b07df846578998df91e",
        "temp_c": "679868959e48cecfa45a",
        "throttled": "144b1098d87d89f04e14",
        "util": "4665fab92cd9e75a2cb3",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "62694f265e9d8c8951c1",
        "busy": "39604dca17f93539c137",
        "busy_cpu": "3ec9e25f69a2f131391a",
        "energy_mj": "a1a8efbc560b27eb054a",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "37313930d4ad1023918d",
        "evaluate_busy_cpu": "93e6d4ce5157884100cf",
        "evaluate_energy_mj": "e1f91298526605f64ca1",
        "evaluate_frames_dropped": "0bccc7b8a556954d5019",
        "evaluate_frames_in_flight": "6fe0042d3e02c1ac094b",
        "evaluate_frames_janky": "b9e74d791b7026da1133",
        "evaluate_frames_presented": "685013598dd2b8710595",
        "evaluate_frames_req": "380f92ad5e86e35332e6",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "9db2d843b90fc50f01e7",
        "evaluate_power_mw": "08ca667310ca44d57377",
        "evaluate_power_total_mw": "02d6bf136bf2d723de18",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "8713f2c540611ebe9c52",
        "evaluate_state2": "3cbd27fe281d9e19e075",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "c7fa868bfa5f05103359",
        "evaluate_temp_c": "3cbd27fe281d9e19e075",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "8713f2c540611ebe9c52",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "3e517bcf069c034c4189",
        "frames_in_flight": "d0bd613f3887564288be",
        "frames_janky": "01d71af4b1418f4fa135",
        "frames_presented": "51d802120d2d018e8d89",
        "frames_req": "a7b21a40fa2421d0f3fc",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "9b7beefa91f269a46897",
        "power_mw": "b245f08706ff290586b9",
        "power_total_mw": "27ed0bafeeda06659e5b",
        "rollout_0": "20caf8d459e78ffd6492",
        "rollout_1": "bec80981562cc3147577",
        "rollout_2": "60d1d24a206965cb8db6",
        "rollout_3": "4d0f1bfb046e81f79aaf",
        "rollout_4": "bd8a28ca5ecab0814c96",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "58188d2fdc28ff7732a1",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "ec068d55587bebc5e721",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "95d413798a02cf40765d",
        "state_util": "dca340f4b058c7e9d6df",
        "temp_c": "4821952b322326eeb303",
        "throttled": "144b1098d87d89f04e14",
        "util": "f2e5a6675080ddbf58e6",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "210c0a84f61e4a675b46",
        "info_fps": "211822b51ef241664ddc",
        "info_fps_requested": "230a01af1daa4acfc7d3",
        "info_frames_janky": "d7504a1ee989483ded25",
        "info_power_soc_w": "29fe0acaf20beec7abb2",
        "info_power_w": "698ba135cb424e43e5c7",
        "info_ppr_norm": "35e1cd1aa9b9eac8481d",
        "info_qoe": "cb21ea4a60433de778d7",
        "info_temp_die_c": "247ec077a78e6fdd8970",
        "info_temp_skin_c": "8d8281d02b64b3731637",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "0ab8cb4642a859c86ff9",
        "obs_obs": "5a2ce4ecfdbb90aa41c3",
        "reward": "491a90ed632e114a961c",
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
