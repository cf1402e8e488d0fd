"""Decision-level logic shared by the single environment and the batched VecEnv.

Wraps a :class:`~metadvfs.sim.batch.TaskBatch`: decodes actions with the codec, advances the simulator one
decision interval, computes the reward and encodes observations. The single env is an ``EnvBatch`` of one,
so both paths produce identical trajectories for identical seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
from gymnasium import spaces

from metadvfs.core import codec
from metadvfs.core.domains import N_DOMAINS
from metadvfs.core.options import EnvOptions
from metadvfs.environment.reference import reference_ppr, reference_qoe
from metadvfs.errors import MetaDVFSError
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import StepOut
from metadvfs.tasks.metadata import metadata_vector
from metadvfs.tasks.task import Task


@numba.njit(cache=True, nogil=True)
def _decode_relative(action: np.ndarray, cur: np.ndarray, top: np.ndarray, out: np.ndarray) -> None:
    """``codec.decode`` in ``relative`` mode: ``clip(cur + action - 1, 0, top)`` per (env, domain)."""
    for i in range(cur.shape[0]):
        for d in range(4):
            k = cur[i, d] + action[i, d] - 1
            if k > top[i, d]:
                k = top[i, d]
            if k < 0:
                k = 0
            out[i, d] = k


@numba.njit(cache=True, nogil=True)
def _decision_kernel(
    counts: np.ndarray,
    power_total_mw: np.ndarray,
    power_mw: np.ndarray,
    util: np.ndarray,
    freq_mhz: np.ndarray,
    level: np.ndarray,
    temp_c: np.ndarray,
    active: np.ndarray,
    target_fps: np.ndarray,
    ppr_ref: np.ndarray,
    qoe_ref: np.ndarray,
    w: np.ndarray,
    dt: float,
    mask: np.ndarray,
    fmax_mhz: np.ndarray,
    n_opp: np.ndarray,
    p_max_mw: np.ndarray,
    p_total_max_mw: np.ndarray,
    ambient_c: np.ndarray,
    die_throttle_c: np.ndarray,
    skin_throttle_c: np.ndarray,
    reward: np.ndarray,
    qoe: np.ndarray,
    ppr_norm: np.ndarray,
    heat: np.ndarray,
    fps: np.ndarray,
    fps_req: np.ndarray,
    power_soc_w: np.ndarray,
    obs: np.ndarray,
) -> None:
    """Reward terms and the observation of one decision step, per environment.

    The same arithmetic, in the same order, as :func:`~metadvfs.core.reward.step_qoe`,
    :func:`~metadvfs.core.reward.step_ppr`, :func:`~metadvfs.core.reward.compute_reward` and
    :func:`~metadvfs.core.codec.encode` (a test checks bitwise equality), fused so a 1024-env step does
    not pay numpy's per-call overhead. ``w`` = (w_qoe, w_ppr, w_thermal, thermal_margin_c, ppr_clip, w_floor,
    floor_margin); ``qoe_ref`` is read only when ``w_floor > 0``.
    ``power_soc_w`` is ``power_mw.sum(axis=1) / 1000`` (numpy sums a row of four left to right, as here).
    """
    n = counts.shape[0]
    n_rules = active.shape[1]
    for i in range(n):
        req = counts[i, 0]
        pres = counts[i, 1] - counts[i, 2]  # frames presented on time
        if req > 0:
            den = req if req > 1e-12 else 1e-12
            qv = pres / den
            if qv > 1.0:
                qv = 1.0
        else:
            qv = 1.0
        qoe[i] = qv
        ppr = qv * target_fps[i] / (power_total_mw[i] / 1000.0)
        pn = ppr / ppr_ref[i]
        if pn > w[4]:
            pn = w[4]
        ppr_norm[i] = pn
        h = (temp_c[i, 1] - (skin_throttle_c[i] - w[3])) / w[3]
        if h < 0.0:
            h = 0.0
        elif h > 1.0:
            h = 1.0
        heat[i] = h
        rv = w[0] * qv + w[1] * pn - w[2] * h
        if w[5] > 0.0:
            short = qoe_ref[i] - w[6] - qv
            if short < 0.0:
                short = 0.0
            rv = rv - w[5] * short
        reward[i] = rv
        fp = counts[i, 1] / dt
        fr = req / dt
        fps[i] = fp
        fps_req[i] = fr
        p_soc = power_mw[i, 0]
        for d in range(1, power_mw.shape[1]):
            p_soc += power_mw[i, d]
        power_soc_w[i] = p_soc / 1000.0
        ft = fr if req > 0 else target_fps[i]
        for d in range(4):
            m = mask[i, d]
            den_l = n_opp[i, d] - 1
            if den_l < 1:
                den_l = 1
            pm = p_max_mw[i, d]
            feats = (
                m,
                util[i, d] * m,
                freq_mhz[i, d] / fmax_mhz[i, d] * m,
                level[i, d] / den_l * m,
                power_mw[i, d] / pm if pm > 0 else 0.0,
            )
            for j in range(5):
                x = feats[j]
                x = 0.0 if x < 0.0 else (2.0 if x > 2.0 else x)
                obs[i, d * 5 + j] = x
        thr = 0.0
        for r in range(n_rules):
            if active[i, r]:
                thr = 1.0
        amb = ambient_c[i]
        glob = (
            fp / ft if ft > 0 else 1.0,
            qv,
            power_total_mw[i] / p_total_max_mw[i],
            (temp_c[i, 0] - amb) / (die_throttle_c[i] - amb),
            (temp_c[i, 1] - amb) / (skin_throttle_c[i] - amb),
            thr,
        )
        for j in range(6):
            x = glob[j]
            x = 0.0 if x < 0.0 else (2.0 if x > 2.0 else x)
            obs[i, 20 + j] = x


class EnvBatch:
    """N decision-level environments over one simulator batch.

    Args:
        tasks: One task per environment.
        options: Environment options (:class:`~metadvfs.core.options.EnvOptions`; default: its defaults).
        tick_s: Simulator tick, s (the decision interval must be a multiple of it).
        ppr_ref: Override the schedutil reference PPR (one value or one per task), frames/J.
        **overrides: :class:`~metadvfs.core.options.EnvOptions` fields replacing those of ``options``.
    """

    render_mode: str | None = None
    """No rendering (read by SB3's VecEnv constructor)."""

    def __init__(
        self,
        tasks: Sequence[Task],
        options: EnvOptions | None = None,
        *,
        tick_s: float = 0.01,
        ppr_ref: float | Sequence[float] | None = None,
        **overrides: Any,
    ) -> None:
        opts = EnvOptions.build(options, **overrides)
        self.options = opts
        decision_interval_s, episode_seconds = opts.decision_interval_s, opts.episode_seconds
        ticks = decision_interval_s / tick_s
        if abs(ticks - round(ticks)) > 1e-6:
            raise MetaDVFSError(
                f"decision_interval_s: must be a multiple of the {tick_s * 1000:g} ms tick, got {decision_interval_s}"
            )
        self.tb = TaskBatch(tasks, episode_seconds, tick_s)
        self.ticks_per_step = round(ticks)
        self.n_steps = self.tb.episode_ticks // self.ticks_per_step
        if self.n_steps < 1:
            raise MetaDVFSError("episode_seconds: shorter than one decision interval")
        self.step_s = self.ticks_per_step * tick_s
        self.weights = opts.reward_weights
        self.action_mode = opts.action_mode
        self.levels = opts.levels
        self.window = window = opts.window
        d = self.tb.dev
        self.spec = codec.CodecSpec.of(d)
        self.meta = np.stack([metadata_vector(t.device, t.app) for t in tasks])
        if ppr_ref is None:
            self.ppr_ref = reference_ppr(tasks, self.ticks_per_step, tick_s)
        else:
            self.ppr_ref = np.broadcast_to(np.asarray(ppr_ref, dtype=float), (len(tasks),)).copy()
            if np.any(self.ppr_ref <= 0):
                raise MetaDVFSError("ppr_ref: must be > 0")
        # the stock governors' QoE, for the reward's optional QoE floor (a replay only when the floor is on)
        if self.weights.qoe_floor > 0:
            self.qoe_ref = reference_qoe(tasks, self.ticks_per_step, tick_s)
        else:
            self.qoe_ref = np.ones(len(tasks))
        self.hist = np.zeros((self.n, window, codec.OBS_DIM), dtype=np.float32)
        self._top = (d.n_opp - 1).astype(np.int64)
        self._p_total_max = self.spec.p_total_max_mw
        w = self.weights
        self._w = np.array(
            [w.qoe, w.ppr, w.thermal, w.thermal_margin_c, w.ppr_clip, w.qoe_floor, w.qoe_floor_margin], dtype=float
        )
        self.t = np.zeros(self.n, dtype=np.int64)
        self.last: StepOut | None = None

    @property
    def n(self) -> int:
        """Number of environments."""
        return self.tb.n

    def observation_space(self) -> spaces.Dict:
        """Dict space: ``obs`` (window, OBS_DIM) features and ``meta`` metadata vector."""
        return spaces.Dict(
            {
                "obs": spaces.Box(codec.OBS_LOW, codec.OBS_HIGH, (self.window, codec.OBS_DIM), np.float32),
                "meta": spaces.Box(0.0, 2.0, (self.meta.shape[1],), np.float32),
            }
        )

    def action_space(self) -> spaces.MultiDiscrete:
        """One choice per canonical domain."""
        return spaces.MultiDiscrete(codec.action_nvec(self.action_mode, self.levels))

    def seed(self, seeds: Sequence[int | None]) -> None:
        """Seed each environment's RNG."""
        self.tb.seed(seeds)

    def reset_rows(self, rows: np.ndarray) -> None:
        """Start new episodes in ``rows`` and fill their observation history."""
        self.tb.reset_rows(rows)
        core = self.tb.core
        d = self.tb.dev
        n = len(rows)
        idx = core.idx[rows]
        f = np.take_along_axis(d.freq_mhz[rows], idx[:, :, None], 2)[:, :, 0]
        r = codec.Reading(
            util=np.zeros((n, N_DOMAINS)),
            freq_mhz=f,
            level=idx,
            power_mw=np.zeros((n, N_DOMAINS)),
            power_total_mw=d.base_mw[rows].copy(),
            fps=np.zeros(n),
            fps_target=self.tb.target_fps[rows],
            qoe=np.ones(n),
            temp_die_c=core.temp[rows, 0],
            temp_skin_c=core.temp[rows, 1],
            throttled=np.zeros(n),
        )
        spec = codec.CodecSpec(*(np.asarray(getattr(self.spec, k))[rows] for k in self.spec.__dataclass_fields__))
        obs = codec.encode(r, spec)
        self.hist[rows] = obs[:, None, :]
        self.t[rows] = 0

    def observation(self) -> dict[str, np.ndarray]:
        """Current observations of all environments (copies)."""
        return {"obs": self.hist.copy(), "meta": self.meta.copy()}

    @staticmethod
    def _counts_view(out: StepOut) -> np.ndarray:
        """(N, 3) frames requested / presented / janky of a step (the kernel's own counts array)."""
        base = out.frames_req.base
        if base is not None and base.shape == (out.frames_req.shape[0], 3):
            return base
        return np.stack([out.frames_req, out.frames_presented, out.frames_janky], axis=1)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Apply actions for one decision interval.

        Args:
            action: (N, 4) integer choices.

        Returns:
            ``(reward (N,), truncated (N,), step metrics)``; the new observation is in :meth:`observation`.
        """
        core = self.tb.core
        n = self.n
        a = np.asarray(action)
        if self.action_mode == "relative":
            a = a.reshape(n, N_DOMAINS).astype(np.int64, copy=False)
            want = np.empty((n, N_DOMAINS), dtype=np.int64)
            _decode_relative(a, core.idx, self._top, want)
        else:
            want = codec.decode(action, core.idx, self.spec, self.action_mode, self.levels, core.util)
        out = core.step(want, self.ticks_per_step)
        self.last = out
        reward = np.empty(n)
        qoe = np.empty(n)
        ppr_norm = np.empty(n)
        heat = np.empty(n)
        fps = np.empty(n)
        fps_req = np.empty(n)
        power_soc_w = np.empty(n)
        obs = np.empty((n, codec.OBS_DIM), dtype=np.float32)
        d = self.tb.dev
        _decision_kernel(
            self._counts_view(out), out.power_total_mw, out.power_mw, out.util, out.freq_mhz, out.idx, out.temp_c,
            core.active, self.tb.target_fps, self.ppr_ref, self.qoe_ref, self._w, self.step_s, d.mask, d.fmax_mhz,
            d.n_opp, d.p_max_mw, self._p_total_max, d.ambient_c, d.die_throttle_c, d.skin_throttle_c, reward, qoe,
            ppr_norm, heat, fps, fps_req, power_soc_w, obs,
        )  # fmt: skip
        if self.window > 1:
            self.hist[:, :-1] = self.hist[:, 1:]
        self.hist[:, -1] = obs
        self.t += 1
        truncated = self.t >= self.n_steps
        metrics = {
            "power_w": out.power_total_mw / 1000.0,
            "power_soc_w": power_soc_w,
            "energy_j": out.energy_mj / 1000.0,
            "fps": fps,
            "fps_requested": fps_req,
            "frames_janky": out.frames_janky,
            "qoe": qoe,
            "ppr_norm": ppr_norm,
            "thermal_penalty": heat,
            "temp_die_c": out.temp_c[:, 0],
            "temp_skin_c": out.temp_c[:, 1],
            "throttled": out.throttled,
            "freq_mhz": out.freq_mhz,
        }
        return reward, truncated, metrics
