"""``metadvfs/DVFS-v0``: one simulated Pixel running one app, with a DVFS governor as the agent."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from metadvfs.catalog.types import DeviceProfile
from metadvfs.core.domains import DOMAINS, N_DOMAINS
from metadvfs.core.options import EnvOptions
from metadvfs.environment.env_batch import EnvBatch
from metadvfs.tasks.task import make_task
from metadvfs.workload.types import AppProfile


class DVFSEnv(gym.Env):
    """A simulated phone (device profile) running an app (app profile or trace) under a learned governor.

    ## Description
    Every decision interval the agent picks a frequency move for each canonical power domain (little, mid,
    big CPU clusters and the GPU). The simulator (:mod:`metadvfs.sim.core`) advances 10 ms ticks: it queues
    the app's CPU/GPU work on the clusters, times each frame against its vsync deadline, integrates power and
    a die/skin thermal model, and applies the device's real thermal throttle caps.

    ## Action Space
    ``MultiDiscrete([3, 3, 3, 3])`` (``action_mode="relative"``): per domain 0 = one OPP down, 1 = stay,
    2 = one OPP up. With ``action_mode="absolute"``: ``MultiDiscrete([L] * 4)`` selecting an evenly spaced OPP.
    Choices for domains the phone does not have are ignored.

    ## Observation Space
    ``Dict(obs=Box(0, 2, (window, 26)), meta=Box(0, 2, (M,)))``. ``obs`` rows (oldest first) hold, per domain
    (little, mid, big, gpu):

    | feature | meaning | unit/normalisation |
    |---|---|---|
    | present | domain exists on this phone | 0/1 |
    | util | kernel utilisation (PELT, frequency-invariant; GPU: busy) | 0..1 |
    | freq | current frequency | f / fmax |
    | level | current OPP index | idx / (n_opp - 1) |
    | power | domain power over the last interval | mW / domain max mW |

    then ``fps`` (presented / requested FPS), ``qoe`` (0..1), ``power_total`` (W / sum of domain maxima),
    ``temp_die`` and ``temp_skin`` ((T - ambient) / (throttle point - ambient), degC ratio) and
    ``throttled`` (0/1). ``meta`` is the device + app metadata vector (:mod:`metadvfs.tasks.metadata`).

    ## Rewards
    ``w_qoe * QoE + w_ppr * min(PPR / PPR_schedutil, clip) - w_thermal * H`` (see
    :mod:`metadvfs.core.reward`); defaults 1, 1, 2.

    ## Starting State
    Each OPP at the middle of its table, no backlog, temperatures at the idle steady state; the demand window
    is drawn from the app's seeded trace bank (or the given trace) with the env's RNG.

    ## Episode End
    Never terminated; truncated after ``episode_seconds``.

    ## Info
    ``power_w`` (W), ``energy_j`` (J), ``fps``, ``fps_requested`` (frames/s), ``frames_janky``, ``qoe``,
    ``ppr_norm``, ``thermal_penalty``, ``temp_die_c``, ``temp_skin_c`` (degC), ``throttled``,
    ``freq_mhz`` (per domain, MHz), ``task``.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | device | "pixel6" | device name or profile path |
    | app | None | app name or app-profile path; "tiktok" when neither app nor trace is given |
    | trace | None | trace file (CSV/Parquet) replacing the generated demand |
    | options | None | :class:`~metadvfs.core.options.EnvOptions` (its fields may also be given as keywords) |
    | decision_interval_s | 0.1 | decision interval, s |
    | episode_seconds | 60 | episode length, s |
    | reward_weights | None | dict of :class:`~metadvfs.core.reward.RewardWeights` fields |
    | action_mode | "relative" | ``relative``, ``absolute`` or ``margin`` |
    | levels | 8 | choices per domain in absolute and margin mode |
    | window | 1 | observation history length |
    | tick_s | 0.01 | simulator tick, s |
    | ppr_ref | None | override schedutil's reference PPR, frames/J |

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium convention)

    def __init__(
        self,
        device: str | DeviceProfile = "pixel6",
        app: str | AppProfile | None = None,
        trace: str | None = None,
        *,
        options: EnvOptions | None = None,
        tick_s: float = 0.01,
        ppr_ref: float | None = None,
        **env_options: Any,
    ) -> None:
        opts = EnvOptions.build(options, **env_options)
        if app is None and trace is None:
            app = "tiktok"
        task = make_task(device, app, trace, tick_s)
        self.task = task
        self.options = opts
        self.batch = EnvBatch([task], opts, tick_s=tick_s, ppr_ref=ppr_ref)
        self.observation_space = self.batch.observation_space()
        self.action_space = self.batch.action_space()
        self._rows = np.zeros(1, dtype=np.int64)
        self._seeded = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode; ``seed`` re-seeds the demand-window RNG."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self.batch.seed([seed])
            self._seeded = True
        self.batch.reset_rows(self._rows)
        obs = self.batch.observation()
        return {k: v[0] for k, v in obs.items()}, {"task": self.task.name}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one decision; see the class docstring for the returned values."""
        reward, truncated, m = self.batch.step(np.asarray(action).reshape(1, N_DOMAINS))
        obs = self.batch.observation()
        info: dict[str, Any] = {k: float(v[0]) for k, v in m.items() if k != "freq_mhz"}
        info["throttled"] = bool(m["throttled"][0])
        info["freq_mhz"] = dict(zip(DOMAINS, m["freq_mhz"][0].tolist(), strict=True))
        info["task"] = self.task.name
        return {k: v[0] for k, v in obs.items()}, float(reward[0]), False, bool(truncated[0]), info
