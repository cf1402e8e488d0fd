"""Adaptation runs: PPO from a given start, optionally context-only (CAVIA-style), under a QoE floor.

**Context adaptation** fits only the task-context parameters of a metadata-conditioned policy
(:data:`CONTEXT_PARAMS`): the bias of the first metadata layer (``meta_net.0.bias``, the pre-activation of the
FiLM context vector ``e``, 16 numbers) and the bias of the action logits (``action_net.bias``, one offset per
domain and action: the task's prior over frequency levels, 32 numbers in absolute mode); the temporal encoder,
the FiLM layer, the hidden layers of the heads, the logit weights and the metadata weights stay frozen. This
is CAVIA's context placed where the network takes the task description and where it has authority over the
chosen level, so the adapted model is a normal checkpoint (the fitted biases replace the old ones) and exports
unchanged. Why both: the metadata bias alone could not move the deterministic actions (docs/learner.md,
"Context adaptation"): behind its Tanh and the frozen head it steers the little and mid CPU clusters but not
the big cluster or the GPU, and 6 phone-minutes of PPO on it left the held-out PPR unchanged to 5 digits.

The context is fitted by the policy loss only (``vf_coef = 0``): in a context-only run no critic weight is
trainable, so the value loss could only act through the shared metadata bias, where its gradient was 7x
(shipped model) to 300x (quick fold model) the policy gradient's (the context moved to fit the frozen critic,
not to improve the policy; ``experiments/context_diagnostic.py``). Its step size :data:`CONTEXT_LR` is Adam's:
a few tenths per coordinate per PPO update, the scale at which a logit offset changes an argmax; PPO's clipped
objective still bounds each update's policy change.

**QoE floor** (:class:`QoEFloorVecEnv`): every ``interval_steps`` decisions the mean QoE of each phone
under the learner is compared with ``floor`` (the stock governor's QoE on the task minus a margin); when it
is lower, the next interval on that phone is controlled by the stock rule. The simulated environment steps
at the decision interval, so the stock rule is schedutil's frequency rule applied at each decision
(CPU: ``1.25 * util * fmax`` with frequency-invariant util; GPU: ``1.25 * busy * f_cur``; lowest OPP at or
above the target), not the per-tick kernel governor. Decisions taken by the fallback are not the policy's:
in the PPO buffer they get the mean advantage of the policy's own decisions, so after PPO's advantage
normalisation they carry no policy gradient (their returns still train the value function). Writing the
executed actions into the buffer instead (as on-policy data) stopped learning: a scratch run on Pixel 8 /
3DMark stayed at QoE 0.33 for 6 phone-minutes, against 0.96 after 1 phone-minute with this rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from metadvfs.errors import MetaDVFSError

CONTEXT_PARAMS = ("meta_net.0.bias", "action_net.bias")
"""Name suffixes of the context parameters (SB3 ties ``features_extractor``/``pi_``/``vf_features_extractor``)."""
CONTEXT_LR = 0.2
"""Default Adam step size of context adaptation (see the module docstring and docs/learner.md)."""
SCHEDUTIL_MARGIN = 1.25


def _innermost(venv: Any) -> Any:
    v = venv
    while hasattr(v, "venv"):
        v = v.venv
    return v


def stock_rule_actions(obs_last: np.ndarray, dev: Any, levels: int, mode: str) -> np.ndarray:
    """Actions that apply schedutil's frequency rule at the decision interval.

    Args:
        obs_last: (N, OBS_DIM) newest observation row per phone.
        dev: The batch's device arrays (``freq_mhz`` (N, 4, K), ``n_opp``, ``fmax_mhz``).
        levels: Absolute- and margin-mode levels.
        mode: ``absolute``, ``relative`` or ``margin``.

    Returns:
        (N, 4) actions in the environment's action space. In ``margin`` mode: the smallest headroom factor >=
        schedutil's (the stock rule, rounded to the safe side).
    """
    from metadvfs.environment.codec import DOMAIN_FEATURES, margins

    if mode == "margin":
        a = int(np.searchsorted(margins(levels), SCHEDUTIL_MARGIN - 1e-9))  # ascending, ends with inf
        return np.full((obs_last.shape[0], 4), a, dtype=np.int64)
    nf = len(DOMAIN_FEATURES)
    util = np.stack([obs_last[:, d * nf + 1] for d in range(4)], axis=1).astype(float)
    ffrac = np.stack([obs_last[:, d * nf + 2] for d in range(4)], axis=1).astype(float)
    fmax = np.asarray(dev.fmax_mhz, dtype=float)
    target = SCHEDUTIL_MARGIN * util * fmax
    target[:, 3] = SCHEDUTIL_MARGIN * util[:, 3] * ffrac[:, 3] * fmax[:, 3]
    freq = np.asarray(dev.freq_mhz, dtype=float)
    n_opp = np.asarray(dev.n_opp, dtype=np.int64)
    n = obs_last.shape[0]
    top = np.maximum(n_opp - 1, 0)
    if mode == "absolute":
        a_grid = np.arange(levels)
        opp = np.rint(a_grid[None, None, :] / max(levels - 1, 1) * top[:, :, None]).astype(np.int64)
        f_at = np.take_along_axis(freq, opp, axis=2)
        ok = f_at >= target[:, :, None] - 1e-9
        return np.where(ok.any(axis=2), ok.argmax(axis=2), levels - 1).astype(np.int64)
    cur = np.rint(ffrac * fmax)
    lower = np.take_along_axis(freq, np.maximum(np.abs(freq - cur[:, :, None]).argmin(axis=2) - 1, 0)[:, :, None], 2)
    act = np.ones((n, 4), dtype=np.int64)
    act[target > cur + 1e-6] = 2
    act[(target <= cur + 1e-6) & (lower[:, :, 0] >= target) & (lower[:, :, 0] < cur)] = 0
    return act


class QoEFloorVecEnv(VecEnvWrapper):
    """Hands a phone to the stock rule for one interval when its QoE under the learner fell below a floor.

    Args:
        venv: The training VecEnv (its innermost env is a ``BatchedDVFSVecEnv``).
        floor: QoE below which control returns to the stock rule (``None``: never).
        interval_steps: Decisions per checked interval.
        levels: Absolute-mode levels of the environment.
        mode: Action mode of the environment.
    """

    def __init__(self, venv: VecEnv, floor: float | None, interval_steps: int, levels: int, mode: str):
        super().__init__(venv)
        self.floor = floor
        self.interval = max(1, int(interval_steps))
        self.levels = levels
        self.mode = mode
        self.inner = _innermost(venv)
        n = venv.num_envs
        self.fallback_left = np.zeros(n, dtype=np.int64)
        self.acc = np.zeros(n)
        self.cnt = np.zeros(n, dtype=np.int64)
        self.last_obs: dict[str, np.ndarray] | None = None
        self.log: list[tuple[np.ndarray, np.ndarray]] = []
        self.decisions = 0
        self.fallback_decisions = 0

    def reset(self) -> Any:
        """Reset the wrapped env."""
        self.last_obs = self.venv.reset()  # type: ignore[assignment]
        return self.last_obs

    def step_async(self, actions: np.ndarray) -> None:
        """Replace the actions of phones under the fallback, log what is executed."""
        a = np.asarray(actions).reshape(self.num_envs, -1).copy()
        mask = self.fallback_left > 0
        if mask.any() and self.last_obs is not None:
            fb = stock_rule_actions(self.last_obs["obs"][:, -1, :], self.inner.batch.tb.dev, self.levels, self.mode)
            a[mask] = fb[mask]
        self.log.append((a.copy(), mask.copy()))
        self.decisions += self.num_envs
        self.fallback_decisions += int(mask.sum())
        self.venv.step_async(a)

    def step_wait(self) -> Any:
        """Step, then update the per-phone QoE check."""
        obs, rew, done, infos = self.venv.step_wait()
        self.last_obs = obs  # type: ignore[assignment]  # Dict observation space
        qoe = np.asarray(self.inner.last_metrics["qoe"], dtype=float)
        under = self.fallback_left > 0
        self.fallback_left[under] -= 1
        learner = ~under
        self.acc[learner] += qoe[learner]
        self.cnt[learner] += 1
        full = learner & (self.cnt >= self.interval)
        if self.floor is not None:
            bad = full & (self.acc / np.maximum(self.cnt, 1) < self.floor)
            self.fallback_left[bad] = self.interval
        self.acc[full] = 0.0
        self.cnt[full] = 0
        return obs, rew, done, infos


class _Curve(BaseCallback):
    """Evaluates the policy every ``every`` rollouts and fixes fallback transitions in the PPO buffer."""

    def __init__(
        self,
        evaluate: Callable[[], dict[str, float]],
        every: int,
        dt: float,
        floor_env: QoEFloorVecEnv,
        report: Callable[[int], None] | None,
    ):
        super().__init__()
        self.evaluate = evaluate
        self.every = max(1, every)
        self.dt = dt
        self.floor_env = floor_env
        self.report = report
        self.k = 0
        self.points: list[list[float]] = []

    def point(self) -> None:
        from metadvfs.meta.measure import phone_minutes

        q = self.evaluate()
        self.points.append([phone_minutes(int(self.model.num_timesteps), self.dt), q["ppr_norm"], q["qoe"]])

    def _on_rollout_start(self) -> None:
        if self.k % self.every == 0:
            self.point()
        self.k += 1
        self.floor_env.log.clear()

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer  # type: ignore[attr-defined]
        neutralise_fallback(buf, [m for _, m in self.floor_env.log[-buf.buffer_size :]])

    def _on_step(self) -> bool:
        if self.report and self.n_calls % 8 == 0:
            self.report(int(self.model.num_timesteps))
        return True


def neutralise_fallback(buf: Any, masks: list[np.ndarray]) -> None:
    """Take the policy gradient out of the decisions the fallback took, in a filled PPO rollout buffer.

    Decisions taken by the fallback are not the policy's: they get the mean advantage of the policy's own
    decisions, so after PPO's advantage normalisation they carry (about) no policy gradient; their returns still
    train the value function.

    Args:
        buf: SB3 rollout buffer (``advantages`` of shape (steps, phones)).
        masks: Per buffer step, the (phones,) mask of decisions taken by the fallback (oldest first).
    """
    mask = np.zeros(buf.advantages.shape, dtype=bool)
    for t, m in enumerate(masks[: mask.shape[0]]):
        mask[t] = m
    if not mask.any():
        return
    own = buf.advantages[~mask]
    buf.advantages[mask] = float(own.mean()) if own.size else 0.0


def adapter_config(
    cfg: Any, rollout: int, n_envs: int, context_only: bool, context_lr: float, lr_scale: float = 1.0
) -> Any:
    """The training config of an adaptation run: PPO updates every ``rollout`` decisions per phone.

    Args:
        cfg: The model's training config.
        rollout: Decisions per phone per PPO update.
        n_envs: Phones adapting in parallel.
        context_only: Context adaptation: the step size becomes ``context_lr`` and the value loss is dropped
            (no critic weight is trainable, so it would only bend the shared context toward the frozen critic).
        context_lr: Adam step size for the context parameters.
        lr_scale: Factor on the config's learning rate for full fine-tuning (> 0; ignored with ``context_only``).
    """
    if not lr_scale > 0:
        raise MetaDVFSError(f"learning-rate scale: must be > 0, got {lr_scale}")
    ppo = dataclasses.replace(cfg.ppo, n_steps=rollout, batch_size=min(cfg.ppo.batch_size, rollout * n_envs))
    if lr_scale != 1.0:
        ppo = dataclasses.replace(ppo, learning_rate=ppo.learning_rate * lr_scale)
    if context_only:
        ppo = dataclasses.replace(ppo, learning_rate=context_lr, vf_coef=0.0)
    return dataclasses.replace(cfg, ppo=ppo)


def make_adapter(
    cfg: Any, venv: VecEnv, init: dict[str, th.Tensor] | None, use_meta: bool, seed: int, context_only: bool,
    context_lr: float,
) -> Any:  # fmt: skip
    """PPO on ``venv`` starting from ``init``; with ``context_only`` only the context parameters are trained.

    Args:
        cfg: Config from :func:`adapter_config`.
        venv: The environments (simulated phones, or one real phone).
        init: Policy weights to start from (``None``: fresh network).
        use_meta: Whether the network is metadata-conditioned.
        seed: PPO seed.
        context_only: Fit only the context parameters (needs ``use_meta``).
        context_lr: Adam step size for the context parameters.

    Raises:
        MetaDVFSError: Context adaptation of an unconditioned network.
    """
    from metadvfs.learn.trainer import make_algo

    if context_only and not use_meta:
        raise MetaDVFSError("context adaptation needs a metadata-conditioned model")
    algo = make_algo(cfg, venv, use_meta, seed, None)
    if init is not None:
        algo.policy.load_state_dict(init)
    if context_only:
        names = set(context_parameters(algo.policy))
        params = []
        for n, p in algo.policy.named_parameters():
            p.requires_grad_(n in names)
            if n in names:
                params.append(p)
        algo.policy.optimizer = th.optim.Adam(params, lr=context_lr, eps=1e-5)
    return algo


def adapted_weights(algo: Any) -> dict[str, th.Tensor]:
    """A copy of the policy's weights after adaptation (every parameter trainable again)."""
    for p in algo.policy.parameters():
        p.requires_grad_(True)
    return {k: v.detach().clone() for k, v in algo.policy.state_dict().items()}


@dataclasses.dataclass
class RunResult:
    """One adaptation run: its curve, final weights and how often the QoE floor took over."""

    curve: list[list[float]]
    state_dict: dict[str, th.Tensor]
    fallback_share: float
    decisions: int


def is_context(name: str) -> bool:
    """Whether a parameter or state-dict name is a context parameter (:data:`CONTEXT_PARAMS`)."""
    return name.endswith(CONTEXT_PARAMS)


def context_parameters(policy: Any) -> list[str]:
    """Names of the context parameters of a conditioned policy (metadata-layer bias, action-logit bias)."""
    return [n for n, _ in policy.named_parameters() if is_context(n)]


def run(
    cfg: Any,
    task: Any,
    meta_row: np.ndarray,
    init: dict[str, th.Tensor] | None,
    use_meta: bool,
    decisions: int,
    seed: int,
    n_envs: int,
    rollout: int,
    evaluate: Callable[[Any], dict[str, float]],
    eval_every: int = 1,
    context_only: bool = False,
    context_lr: float = CONTEXT_LR,
    floor: float | None = None,
    floor_interval_s: float = 1.0,
    report: Callable[[int], None] | None = None,
    lr_scale: float = 1.0,
) -> RunResult:
    """Adapt one start point with PPO for ``decisions`` decisions and record its held-out quality curve.

    Args:
        cfg: The model's training config (network, env, PPO hyper-parameters).
        task: The new task.
        meta_row: Its encoded metadata.
        init: Policy weights to start from (``None``: fresh network).
        use_meta: Whether the network is metadata-conditioned.
        decisions: Budget, decisions summed over the simulated phones (rounded up to whole rollouts).
        seed: Seed of environments and PPO (the same for every method).
        n_envs: Simulated phones.
        rollout: Decisions per phone per PPO update.
        evaluate: ``policy -> {"ppr_norm", "qoe"}`` on the held-out episodes.
        eval_every: Rollouts between curve points.
        context_only: Fit only the context parameters (needs ``use_meta``).
        context_lr: Adam step size for the context parameters.
        floor: QoE floor during adaptation (``None``: off).
        floor_interval_s: Length of a checked interval, s.
        report: Progress callback (decisions done).
        lr_scale: Factor on the config's learning rate for full fine-tuning (method ``finetune-slow``).

    Returns:
        The curve ``[[phone_minutes, ppr_norm, qoe], ...]`` (first point at minute 0, last at the budget), the
        final weights and the share of decisions taken by the fallback.
    """
    from metadvfs.learn.trainer import make_train_env

    if context_only and not use_meta:
        raise MetaDVFSError("context adaptation needs a metadata-conditioned model")
    c = adapter_config(cfg, rollout, n_envs, context_only, context_lr, lr_scale)
    venv = make_train_env((task,), c, meta_row[None], seed, n_per_task=n_envs)
    dt = float(cfg.env.decision_interval_s)
    fenv = QoEFloorVecEnv(venv, floor, round(floor_interval_s / dt), cfg.env.levels, cfg.env.action_mode)
    algo = make_adapter(c, fenv, init, use_meta, seed, context_only, context_lr)
    unit = rollout * n_envs
    steps = max(unit, int(np.ceil(decisions / unit)) * unit)
    cb = _Curve(lambda: evaluate(algo.policy), eval_every, dt, fenv, report)
    algo.learn(steps, callback=cb, progress_bar=False)
    cb.point()
    sd = adapted_weights(algo)
    venv.close()
    share = fenv.fallback_decisions / max(1, fenv.decisions)
    return RunResult(cb.points, sd, round(share, 4), int(algo.num_timesteps))
