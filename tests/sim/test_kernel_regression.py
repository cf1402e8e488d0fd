"""Regression check of the simulator kernel: trajectories are bit-identical to the reference commit.

The expected digests were recorded at commit c4259ff (``perf`` branch start, before the kernel was optimised); the
two ``stock`` cases were re-recorded after the ``stock`` governor's GPU sampling-window fix (a governor change; the
kernel cases were unchanged). Re-recorded on branch ``jank`` after the jank rule became HWUI JankTracker's (buffer
stuffing carries over): only the jank fields (``frames_janky``, ``late_dom``, the pipeline state and what the env
derives from QoE) changed; OPPs, power, temperatures and presented frames are identical. Re-recorded again there
when the UI apps' scroll/animation phases started drawing at the panel's refresh rate (``display_rate``; demand of
the 90/120 Hz phones' UI tasks), and at the merge with the GPU calibration (fitted ``gpu.throughput``, re-derived
estimated GPU power curves) the CPU idle states of the Pixels 6 and 8 (power only), late frames carrying the
requested frame's work and the UI apps' GPU work sized to the weakest catalog GPU. Record by running this module as
a script (``PYTHONPATH=$PWD python tests/sim/test_kernel_regression.py``, which prints the ``EXPECTED`` dictionary).
Every :class:`~metadvfs.sim.core.StepOut` array of every step is hashed (SHA-256 of the raw bytes), per field, so
any change of what :func:`~metadvfs.sim.kernel.fused_step` computes -- even the last bit of one float of one tick --
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
        "backlog_mc": "b246265111a392a75179",
        "busy": "9be8e28c8f25a09da970",
        "busy_cpu": "8e60b5b531ec892e9848",
        "energy_mj": "110a3ae43202cca9fb3b",
        "frames_dropped": "7ad36c62a61624f5376b",
        "frames_in_flight": "6ab0c1ac0eaba7a31234",
        "frames_janky": "671367f5e1e2b7663a4a",
        "frames_presented": "ee16411d9196931b05f0",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "06189eef8a65e291ace4",
        "idx": "f637e1f228a5f2f9fd9f",
        "late_dom": "d14584dac7cb0fc17aca",
        "power_mw": "d90f1743ac7a602f6d47",
        "power_total_mw": "1ca8f98f205335d0e483",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "17e407869f168c9348e4",
        "state_pipe": "54c2c5c321e96a7e6345",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "e9424eddd21590c72374",
        "state_temp": "fe39104535e685c8b010",
        "state_util": "90737db61a938ab04bde",
        "temp_c": "053892ca41e12dc10db3",
        "throttled": "4168923556e08f653ee4",
        "util": "48fb5f898a51684d391f",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "schedutil-seed1": {
        "backlog_mc": "3c58dd6bfc11e26d545d",
        "busy": "ffdb7bbbee17f6505b59",
        "busy_cpu": "eb842ddcb2dba95e2f0b",
        "energy_mj": "27d79f2bd81033c16602",
        "frames_dropped": "a793340f180a94cfc1d6",
        "frames_in_flight": "911769f6e5556ef6d548",
        "frames_janky": "bb7d4a0ebc4819d5b46d",
        "frames_presented": "12d5924a379b27555ab2",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "0d2a640d70ebe29782c1",
        "idx": "4dc671eafe5187360968",
        "late_dom": "c7e6c038a1b775b602ff",
        "power_mw": "188fba2fb80379de0dff",
        "power_total_mw": "d8d1c95b465006dcf18d",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "de70a051b45418932f04",
        "state_pipe": "b2ca207f9e75dbe697d4",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "3218036230e8c8c73ce4",
        "state_temp": "9183cd99862cd101b21e",
        "state_util": "7649de6449e622a32df0",
        "temp_c": "9d438011855ea3a98b9c",
        "throttled": "4168923556e08f653ee4",
        "util": "3b4a1ec294e8c29e0677",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed0": {
        "backlog_mc": "9c4bb1b063b7d29418b0",
        "busy": "ba1d911c5f8785ed3235",
        "busy_cpu": "67d5dab449ea9f7543df",
        "energy_mj": "d7728b4727965434e128",
        "frames_dropped": "a6068fb52102f4cbf271",
        "frames_in_flight": "99d12f315dc45042717e",
        "frames_janky": "bd7956ee33343720c33e",
        "frames_presented": "1d33e2b45da6046021b9",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "00be1c6e33a9bea8c4e2",
        "power_mw": "036c83f9f655779376d1",
        "power_total_mw": "5cfb5958b3951fa711a4",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "8a24dd72dccdf4d91a2b",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "572857951cee6a84ca74",
        "state_util": "8c358dcb5d2fc836cd65",
        "temp_c": "44bbe2a6bfedda7c2b1d",
        "throttled": "4168923556e08f653ee4",
        "util": "b844d3857a00a33aefd1",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "performance-seed1": {
        "backlog_mc": "8b07d8ee4a9e4c8d5e17",
        "busy": "49b41b1d15a939cfcc4a",
        "busy_cpu": "20f1e6502fe86c366d7e",
        "energy_mj": "a01f2f9662b9a978ca72",
        "frames_dropped": "14a8f950757af92d42ba",
        "frames_in_flight": "ffc78ffcda1e6b9cf9ad",
        "frames_janky": "fe844ef988a78e4ced2b",
        "frames_presented": "1aeb47c318d1eb6e2562",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "1eef012730e2ebdab4df",
        "idx": "47cb790926f969e504f0",
        "late_dom": "c05f89fbf9c7189bf042",
        "power_mw": "137c5e82d24146deb1bb",
        "power_total_mw": "7a29e3e848b5dba44f4b",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f414537da344f2579963",
        "state_pipe": "31052c2dca0048fcc5aa",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "650fb60a8b8b7ca842a6",
        "state_temp": "042839315ca2dfc55e29",
        "state_util": "82228390ac3bf1f8b98c",
        "temp_c": "0981421b1b189f26b406",
        "throttled": "4168923556e08f653ee4",
        "util": "768a714cedc35dcd4b0e",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "powersave-seed0": {
        "backlog_mc": "c1a20668e5c194e5db60",
        "busy": "2cb17831b7ea16f557a0",
        "busy_cpu": "e89aa27705a40ea92e05",
        "energy_mj": "440f8b88a38757cf6183",
        "frames_dropped": "3fe51f9af180409829f4",
        "frames_in_flight": "0286baf8d63f42ce4a29",
        "frames_janky": "86ff08aa2c34f49efffc",
        "frames_presented": "96abb0cd92ba0f149950",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "b28b20697d4e5c71d949",
        "power_mw": "4a28eca6f1327ca8c6f6",
        "power_total_mw": "dd8352d0da01bacc5f4c",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "6326e86cbc1a3f44158b",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "48954fa70b06d03c35f9",
        "state_temp": "e8968622ef2340e3e94c",
        "state_util": "d16744bdc274d31c20f4",
        "temp_c": "a313e606fbc3ee9b0b5c",
        "throttled": "4168923556e08f653ee4",
        "util": "7f1bee590f28bd537716",
        "work_shed_mc": "434184992e03ea2b4d7d",
    },
    "powersave-seed1": {
        "backlog_mc": "a75597895e17310c9c30",
        "busy": "71094bae84f4fb9fb0ed",
        "busy_cpu": "07780f0ea32669511b1c",
        "energy_mj": "753a14ad84ffcc96d726",
        "frames_dropped": "9fa3864e029d87772f08",
        "frames_in_flight": "2fcf095b0a92dd20ad72",
        "frames_janky": "a687220c8983538655e8",
        "frames_presented": "547dab87c63fc46ed77a",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "0f891d92617fa16bb57f",
        "idx": "982a043e838f41fd848c",
        "late_dom": "629ee2a05c3827c6b137",
        "power_mw": "a455aee80b1c4f4c9268",
        "power_total_mw": "92b66b4da9ca7f9a3787",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "80b10cbba897fedae504",
        "state_pipe": "ccfe87c22861b835de1e",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "d4fcde10b9f61b5ec34d",
        "state_temp": "0c9b4b95b2b5c859464e",
        "state_util": "3173d11cbe75563e62ea",
        "temp_c": "e8c76f6712a319150933",
        "throttled": "4168923556e08f653ee4",
        "util": "bb6cb14fa150531e5a1f",
        "work_shed_mc": "5fa52acc537eb3c433da",
    },
    "stock-seed0": {
        "backlog_mc": "9bec7a216cf10fa897ac",
        "busy": "8668b43f1c5bcdd4919f",
        "busy_cpu": "22da60455ed333460dac",
        "energy_mj": "8113fc499c5349fdc90c",
        "frames_dropped": "03fb634c9a5f7da4442e",
        "frames_in_flight": "ff6554d09824c0e5f4eb",
        "frames_janky": "bfb09b9095521ab686fd",
        "frames_presented": "ef76bbed8864e6098d65",
        "frames_req": "2c52869f7f991afb5967",
        "freq_mhz": "a238313e955e6325c621",
        "idx": "7a407909daef30068efa",
        "late_dom": "4faeb69fdf427766538c",
        "power_mw": "03560f56926d2ddaa96d",
        "power_total_mw": "7d112a32672983eac195",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "90eb11e99c370e4e5f94",
        "state_pipe": "2bd75f1c9e34e208efe0",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "16c6e07464e129c967b8",
        "state_temp": "669c484243ed4816ebaf",
        "state_util": "43f1de97d0411dd1ae06",
        "temp_c": "ee039e54b806cf86f171",
        "throttled": "4168923556e08f653ee4",
        "util": "0a1357e003cb21ed50e8",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "stock-seed1": {
        "backlog_mc": "cc38d7d313ccbb86a3fe",
        "busy": "0dd285fcde0c5c2d4d14",
        "busy_cpu": "c44143e0b2749d145b27",
        "energy_mj": "2d7ecb6d1c0df66a9791",
        "frames_dropped": "c4a760c46641047f5439",
        "frames_in_flight": "0ea36ff96e327484b69d",
        "frames_janky": "ef75b3aaa55bd15a20f8",
        "frames_presented": "9345c9581c8ca2a1fd5b",
        "frames_req": "4408fcac644ffbcff35c",
        "freq_mhz": "952af3c93c51a19918d8",
        "idx": "edb10f9d156c0c6e0a9d",
        "late_dom": "3db709cd34e2ac009716",
        "power_mw": "8199bcd4d3f58ccfc201",
        "power_total_mw": "ef35d0be34f8f209f0a5",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "2f89d5c0254f8d70b3a8",
        "state_pipe": "d6d79b3328e8111c324e",
        "state_pos": "b6db5bdfdfd2764b61f8",
        "state_q": "df17eda1ec2692bd15f5",
        "state_temp": "bc6d6f32623d2fbb62c6",
        "state_util": "763b187c35471db4108e",
        "temp_c": "ae89aa3cfa6525924d7b",
        "throttled": "4168923556e08f653ee4",
        "util": "0ccc7bb72c6677b35cc9",
        "work_shed_mc": "373bb224dc121f6904dd",
    },
    "random10-seed0": {
        "backlog_mc": "86617a33c1f97fc8759b",
        "busy": "018bd83a1432df3fad07",
        "busy_cpu": "c9016955503f33d342d0",
        "energy_mj": "c4a5db2293ccd8ba414b",
        "evaluate_backlog_mc": "e581a0e668b4dcdcb0ea",
        "evaluate_busy": "0ecf672390acbbbd1105",
        "evaluate_busy_cpu": "b1f308c472bd7dd940b1",
        "evaluate_energy_mj": "b014e8c4ee5a4ce9eede",
        "evaluate_frames_dropped": "b6d18f00905c3400bfa7",
        "evaluate_frames_in_flight": "80a0e3347dcad8baeebb",
        "evaluate_frames_janky": "6b42b78a6e42fd238cab",
        "evaluate_frames_presented": "da7b5ffd3f732f6e3f95",
        "evaluate_frames_req": "e8db5897a2fbd3242dfb",
        "evaluate_freq_mhz": "70b7efe5f5fa1a4aab8e",
        "evaluate_idx": "01cb6659830bfd3111f2",
        "evaluate_late_dom": "270507bf6affaa1b5510",
        "evaluate_power_mw": "6dcafc209ad87793333a",
        "evaluate_power_total_mw": "bf2d39bf83f572b2b56c",
        "evaluate_state0": "e581a0e668b4dcdcb0ea",
        "evaluate_state1": "03d9864c84dc0fb59b31",
        "evaluate_state2": "9b8b941c89013fc013e9",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "388941d7d94bc428a3ec",
        "evaluate_temp_c": "9b8b941c89013fc013e9",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "03d9864c84dc0fb59b31",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "43889eec2587591d9489",
        "frames_in_flight": "e72ff4b2164096ea2bb9",
        "frames_janky": "4a2f9bc741b7f9fb0411",
        "frames_presented": "8fea3771c8ccf90ac9d7",
        "frames_req": "2f0c0e0eaedb7348662e",
        "freq_mhz": "0b610763b90d4f3dc811",
        "idx": "ff2f79c4f12fe7c09073",
        "late_dom": "948a6fc41f4857e59467",
        "power_mw": "e118f8e4690882511020",
        "power_total_mw": "346043f9ce791ece4f8c",
        "rollout_0": "3afc0d648b3631b6ad1b",
        "rollout_1": "c3b3b73ec5ddcc8b79c2",
        "rollout_2": "c29dcb591ab6101b5421",
        "rollout_3": "6a370d6e9299d5c5f1f5",
        "rollout_4": "3d1ba47ed6f7fdc9a934",
        "rollout_5": "ea055e15dd28110ad276",
        "rollout_6": "6fcf3b929828fb04bd50",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "5ee76e29ff6cd0de88b0",
        "state_pipe": "3e209a3a7a6d7fa2f55d",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "d9a1d5b938d2cdcd6a53",
        "state_temp": "c7285eb581be1e4f4aba",
        "state_util": "a20b194cc04ad2bcd676",
        "temp_c": "61e74b4c75e20085f2ff",
        "throttled": "144b1098d87d89f04e14",
        "util": "6a21e90b1e667d8eb87a",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "random10-seed1": {
        "backlog_mc": "2396dd468ebe2834a8ed",
        "busy": "a7e42881a7455e3f9a29",
        "busy_cpu": "36d480435095f30d9c91",
        "energy_mj": "1afa785444d8b91d697c",
        "evaluate_backlog_mc": "63c24d8d78b92261d256",
        "evaluate_busy": "486123863e76d06f35d5",
        "evaluate_busy_cpu": "614524b62970dbc22a72",
        "evaluate_energy_mj": "5ca41f657a36274b2c89",
        "evaluate_frames_dropped": "e420a731caeaea059929",
        "evaluate_frames_in_flight": "1f15515b62da70971fb0",
        "evaluate_frames_janky": "4c114fa49fbfb51105d2",
        "evaluate_frames_presented": "bd5793d72f8ed691c39d",
        "evaluate_frames_req": "380f92ad5e86e35332e6",
        "evaluate_freq_mhz": "02b41391ee15926e4e56",
        "evaluate_idx": "ebbccfb8cc9afe9fb50d",
        "evaluate_late_dom": "faa645b14c9c8c1cdc19",
        "evaluate_power_mw": "96d0beeb624b93c6fbdb",
        "evaluate_power_total_mw": "3ab56955b31f15eed6fb",
        "evaluate_state0": "63c24d8d78b92261d256",
        "evaluate_state1": "7082ab25a6e3bff33c4c",
        "evaluate_state2": "b86ac7d65ad18c8bda46",
        "evaluate_state3": "dbd5a0695c6fb2857b30",
        "evaluate_state4": "183008175bc1d0b14da5",
        "evaluate_temp_c": "b86ac7d65ad18c8bda46",
        "evaluate_throttled": "e6106fe0f66a977634bd",
        "evaluate_util": "7082ab25a6e3bff33c4c",
        "evaluate_work_shed_mc": "79525c165a3f11c4200b",
        "frames_dropped": "4db683c10ce20a8e4e86",
        "frames_in_flight": "ad16d25786135af82dda",
        "frames_janky": "85bc5163fedf4c49d8f0",
        "frames_presented": "806f3f8e47221da1655d",
        "frames_req": "a7b21a40fa2421d0f3fc",
        "freq_mhz": "25658d16563a59142e2c",
        "idx": "795b74e71726fb5afb9f",
        "late_dom": "4f7b07f994bb8fc96d7d",
        "power_mw": "0ad9f2e6e81a043d87f0",
        "power_total_mw": "669d55d43d8df310cf93",
        "rollout_0": "9eda7b704f008a3b269f",
        "rollout_1": "5a8d096cac8a31b83422",
        "rollout_2": "368a7ab3de3bafb8e7b1",
        "rollout_3": "de08e6e9590a4dc94091",
        "rollout_4": "783332867f0531748877",
        "rollout_5": "6ac863f5063e413d5ec6",
        "rollout_6": "5f9f544ea12ef5e8f11c",
        "state_active": "e5f5c369c6b9dcaa9a51",
        "state_cap": "f414537da344f2579963",
        "state_idx": "f327d066500373888a0e",
        "state_pipe": "6154ae38d1d535ca9fb3",
        "state_pos": "7d6b6025077551025f7e",
        "state_q": "1adbb9b802ab1ba9e350",
        "state_temp": "efd606b266d8552f897a",
        "state_util": "3357221b1209d158b684",
        "temp_c": "9e021b1010e1f78d427a",
        "throttled": "144b1098d87d89f04e14",
        "util": "89370dd0c2c8745d5bfb",
        "work_shed_mc": "803a8397c3f8ed2e8f41",
    },
    "single-env": {
        "info_energy_j": "99c3a57f4c4c789fbe98",
        "info_fps": "1d70fb96d2cec0d4a418",
        "info_fps_requested": "230a01af1daa4acfc7d3",
        "info_frames_janky": "98b81c82f538e7e733f0",
        "info_power_soc_w": "3325c81424c6d125c402",
        "info_power_w": "8cf826ace7ae3455405c",
        "info_ppr_norm": "397ba1617e8d4d3beda7",
        "info_qoe": "9e705ec74fb33d7542c4",
        "info_temp_die_c": "bffe5040334b2697473c",
        "info_temp_skin_c": "7cba96d401d2d9dbfe91",
        "info_thermal_penalty": "3c6719d3e990390b0650",
        "info_throttled": "8a998528911a1396f1b4",
        "obs_meta": "8f9d3e5b0f928977dbe8",
        "obs_obs": "f199fca033014b095230",
        "reward": "9843978b0d8af94567f9",
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
