"""Decision-level logic shared by the single environment and the batched VecEnv.

Wraps a :class:`~metadvfs.sim.batch.TaskBatch`: decodes actions with the codec, advances the simulator one
decision interval, computes the reward and encodes observations. The single env is an ``EnvBatch`` of one,
so both paths produce identical trajectories for identical seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces

from metadvfs.environment import codec
from metadvfs.environment.reference import reference_ppr
from metadvfs.environment.reward import RewardWeights, compute_reward, step_ppr, step_qoe
from metadvfs.errors import MetaDVFSError
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.core import StepOut
from metadvfs.tasks.metadata import metadata_vector
from metadvfs.tasks.task import Task


class EnvBatch:
    """N decision-level environments over one simulator batch.

    Args:
        tasks: One task per environment.
        decision_interval_s: Governor decision interval, s (a multiple of ``tick_s``, 0.01..10).
        episode_seconds: Episode length, s.
        reward_weights: See :class:`~metadvfs.environment.reward.RewardWeights`.
        action_mode: ``relative`` or ``absolute`` (see :mod:`~metadvfs.environment.codec`).
        levels: Choices per domain in ``absolute`` mode (2..32).
        window: Observation history length K (1..64).
        tick_s: Simulator tick, s.
        ppr_ref: Override the schedutil reference PPR (one value or one per task), frames/J.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        decision_interval_s: float = 0.1,
        episode_seconds: float = 60.0,
        reward_weights: RewardWeights | dict[str, float] | None = None,
        action_mode: str = "relative",
        levels: int = 8,
        window: int = 1,
        tick_s: float = 0.01,
        ppr_ref: float | Sequence[float] | None = None,
    ) -> None:
        if action_mode not in codec.ACTION_MODES:
            raise MetaDVFSError(f"action_mode: must be one of {codec.ACTION_MODES}, got {action_mode!r}")
        if not 2 <= levels <= 32:
            raise MetaDVFSError(f"levels: must be in [2, 32], got {levels}")
        if not 1 <= window <= 64:
            raise MetaDVFSError(f"window: must be in [1, 64], got {window}")
        if not 0.01 <= decision_interval_s <= 10.0:
            raise MetaDVFSError(f"decision_interval_s: must be in [0.01, 10] s, got {decision_interval_s}")
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
        self.weights = RewardWeights.from_any(reward_weights)
        self.action_mode = action_mode
        self.levels = levels
        self.window = window
        d = self.tb.dev
        self.spec = codec.CodecSpec(
            mask=d.mask,
            fmax_mhz=d.fmax_mhz,
            n_opp=d.n_opp,
            p_max_mw=d.p_max_mw,
            ambient_c=d.ambient_c,
            die_throttle_c=d.die_throttle_c,
            skin_throttle_c=d.skin_throttle_c,
        )
        self.meta = np.stack([metadata_vector(t.device, t.app) for t in tasks])
        if ppr_ref is None:
            self.ppr_ref = reference_ppr(tasks, self.ticks_per_step, tick_s)
        else:
            self.ppr_ref = np.broadcast_to(np.asarray(ppr_ref, dtype=float), (len(tasks),)).copy()
            if np.any(self.ppr_ref <= 0):
                raise MetaDVFSError("ppr_ref: must be > 0")
        self.hist = np.zeros((self.n, window, codec.OBS_DIM), dtype=np.float32)
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
            util=np.zeros((n, 4)),
            freq_mhz=f,
            level=idx,
            power_mw=np.zeros((n, 4)),
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

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Apply actions for one decision interval.

        Args:
            action: (N, 4) integer choices.

        Returns:
            ``(reward (N,), truncated (N,), step metrics)``; the new observation is in :meth:`observation`.
        """
        core = self.tb.core
        want = codec.decode(action, core.idx, self.spec, self.action_mode, self.levels)
        out = core.step(want, self.ticks_per_step)
        self.last = out
        dt = self.step_s
        qoe = step_qoe(out.frames_req, out.frames_presented)
        ppr = step_ppr(qoe, self.tb.target_fps, out.power_total_mw)
        throttled_now = core.active.any(axis=1).astype(np.float64)
        reward, parts = compute_reward(
            qoe, ppr, self.ppr_ref, out.temp_c[:, 1], self.tb.dev.skin_throttle_c, self.weights
        )
        fps = out.frames_presented / dt
        fps_req = out.frames_req / dt
        reading = codec.Reading(
            util=out.util,
            freq_mhz=out.freq_mhz,
            level=out.idx,
            power_mw=out.power_mw,
            power_total_mw=out.power_total_mw,
            fps=fps,
            fps_target=np.where(out.frames_req > 0, fps_req, self.tb.target_fps),
            qoe=qoe,
            temp_die_c=out.temp_c[:, 0],
            temp_skin_c=out.temp_c[:, 1],
            throttled=throttled_now,
        )
        obs = codec.encode(reading, self.spec)
        if self.window > 1:
            self.hist[:, :-1] = self.hist[:, 1:]
        self.hist[:, -1] = obs
        self.t += 1
        truncated = self.t >= self.n_steps
        metrics = {
            "power_w": out.power_total_mw / 1000.0,
            "energy_j": out.energy_mj / 1000.0,
            "fps": fps,
            "fps_requested": fps_req,
            "frames_janky": out.frames_janky,
            "qoe": qoe,
            "ppr_norm": parts["ppr_norm"],
            "thermal_penalty": parts["thermal"],
            "temp_die_c": out.temp_c[:, 0],
            "temp_skin_c": out.temp_c[:, 1],
            "throttled": out.throttled,
            "freq_mhz": out.freq_mhz,
        }
        return reward, truncated, metrics
