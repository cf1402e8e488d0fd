"""Meta-learning an initialization per metadata group: first-order MAML and Reptile over the PPO loss.

Both work on the same policy network as :mod:`metadvfs.learn.policy` and collect rollouts with SB3 PPO on
the batched simulator (one small VecEnv per task).

- **FOMAML** (``docs/method.md`` §5.2, first-order): for each sampled task, ``inner_steps`` SGD steps of the PPO
  loss on a *support* rollout taken under the meta-parameters θ give θ'; the gradient of the PPO loss on a
  fresh *query* rollout under θ', taken at θ' (first-order), is averaged over the task batch and applied
  to θ by Adam. The inner steps run through :func:`torch.func.functional_call`, so θ is never modified.
- **Reptile**: for each sampled task, ``inner_steps`` ordinary PPO updates from θ give θ'; θ moves by
  ``outer_lr · mean(θ' − θ)``.
- **CAVIA** (first-order): as FOMAML, but the inner steps update only the context parameters (the first
  metadata layer's bias and the action-logit bias, :data:`metadvfs.meta.fast.CONTEXT_PARAMS`) by the policy
  loss alone (no value term: no critic weight moves in the inner loop, as in context adaptation) and the outer
  step updates everything else, so the policy learns to be steerable by a few context steps (what
  ``metadvfs adapt``'s ``context`` method does).

The result is one initialization per metadata group (the paper's "set of DVFS models"), saved as a
regular checkpoint (``mode: meta-<algo>``); :func:`metadvfs.meta.adapt.adapt` routes a new (device, app) to
its group by metadata and fine-tunes from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn
from torch.func import functional_call

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.config import META_ALGOS, MetaConfig, TrainConfig
from metadvfs.learn.trainer import make_algo, make_train_env
from metadvfs.meta.fast import is_context


class _EvalActions(nn.Module):
    """``forward(obs, actions) = policy.evaluate_actions(obs, actions)`` so functional_call can drive it."""

    def __init__(self, policy: Any):
        super().__init__()
        self.policy = policy

    def forward(self, obs: dict[str, th.Tensor], actions: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        return self.policy.evaluate_actions(obs, actions)


def ppo_loss(
    module: _EvalActions, params: dict[str, th.Tensor], data: dict[str, Any], clip: float, vf: float, ent: float
) -> th.Tensor:
    """PPO clipped surrogate + value loss - entropy bonus, evaluated with ``params``."""
    values, logp, entropy = functional_call(module, params, (data["obs"], data["actions"]))
    adv = data["advantages"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = th.exp(logp - data["old_log_prob"])
    pg = -th.min(adv * ratio, adv * th.clamp(ratio, 1 - clip, 1 + clip)).mean()
    v = nn.functional.mse_loss(data["returns"], values.flatten())
    return pg + vf * v - ent * entropy.mean()


class _TaskLearner:
    """One task's PPO (env + rollout buffer) whose policy weights are set from outside."""

    def __init__(self, cfg: TrainConfig, mcfg: MetaConfig, task: str, meta_row: np.ndarray, seed: int):
        import dataclasses

        c = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, n_steps=mcfg.n_steps))
        self.venv = make_train_env((task,), c, meta_row[None], seed, n_per_task=mcfg.envs_per_task)
        self.algo: PPO = make_algo(c, self.venv, True, seed, None)  # type: ignore[assignment]
        _, self.cb = self.algo._setup_learn(10**12, None, reset_num_timesteps=True, progress_bar=False)
        self.cb.init_callback(self.algo) if isinstance(self.cb, BaseCallback) else None

    def set_params(self, params: dict[str, th.Tensor]) -> None:
        with th.no_grad():
            _missing, unexpected = self.algo.policy.load_state_dict(
                {k: v.detach() for k, v in params.items()}, strict=False
            )
            if unexpected:
                raise MetaDVFSError(f"meta parameters do not match the policy: {unexpected[0]}")

    def rollout(self) -> tuple[dict[str, Any], float]:
        """Collect one rollout under the current weights; returns tensors and the mean step reward."""
        a = self.algo
        a.policy.set_training_mode(False)
        env = a.get_env()
        if env is None:
            raise RuntimeError("the PPO rollout collector has no environment")
        a.collect_rollouts(env, self.cb, a.rollout_buffer, n_rollout_steps=a.n_steps)
        data = next(a.rollout_buffer.get(batch_size=None))
        mean_r = float(np.mean(a.rollout_buffer.rewards))
        return {
            "obs": data.observations,
            "actions": data.actions.long(),
            "old_log_prob": data.old_log_prob,
            "advantages": data.advantages,
            "returns": data.returns,
        }, mean_r


def meta_train_group(
    cfg: TrainConfig,
    mcfg: MetaConfig,
    tasks: tuple[str, ...],
    meta_rows: np.ndarray,
    init: dict[str, th.Tensor],
    seed: int,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[dict[str, th.Tensor], list[float]]:
    """Meta-train one group's initialization.

    Args:
        cfg: Training config (network, env, PPO coefficients).
        mcfg: Meta hyper-parameters.
        tasks: The group's task names.
        meta_rows: (T, M) encoded metadata of ``tasks``.
        init: Starting parameters (a policy state_dict).
        seed: Seed for task sampling and environments.
        progress: ``(iteration, iterations, mean query reward)`` callback.

    Returns:
        ``(meta-parameters, mean query/inner reward per iteration)``.
    """
    if mcfg.algo not in META_ALGOS:
        raise MetaDVFSError(f"meta algo: must be one of {META_ALGOS}, got {mcfg.algo!r}")
    rng = np.random.default_rng(seed)
    learners: dict[str, _TaskLearner] = {}

    def learner(i: int) -> _TaskLearner:
        name = tasks[i]
        if name not in learners:
            learners[name] = _TaskLearner(cfg, mcfg, name, meta_rows[i], seed + 7919 * (len(learners) + 1))
        return learners[name]

    # unique parameter names (SB3 ties features_extractor / pi_ / vf_features_extractor)
    trainable = [k for k, _ in learner(0).algo.policy.named_parameters()]
    context = [k for k in trainable if is_context(k)]
    if mcfg.algo == "cavia" and not context:
        raise MetaDVFSError("meta algo cavia: the policy has no context parameters (needs a conditioned network)")
    theta = {k: init[k].detach().clone().float().requires_grad_(True) for k in trainable}
    outer = [k for k in trainable if not (mcfg.algo == "cavia" and k in context)]
    opt = th.optim.Adam([theta[k] for k in outer], lr=mcfg.outer_lr) if mcfg.algo != "reptile" else None
    p = cfg.ppo
    curve: list[float] = []
    for it in range(mcfg.iterations):
        batch = rng.choice(len(tasks), size=min(mcfg.meta_batch, len(tasks)), replace=False)
        acc = {k: th.zeros_like(theta[k]) for k in trainable}
        rewards = []
        for ti in batch:
            lr_ = learner(int(ti))
            lr_.set_params(theta)
            if mcfg.algo == "reptile":
                for _ in range(mcfg.inner_steps):
                    _, r = lr_.rollout()
                    lr_.algo.train()
                rewards.append(r)
                new = lr_.algo.policy.state_dict()
                for k in trainable:
                    acc[k] += new[k].detach() - theta[k].detach()
                continue
            module = _EvalActions(lr_.algo.policy)
            # clones: functional_call can leave the tensors it was given installed in modules with tied weights
            # (SB3's shared features extractor), and set_params would then write the adapted weights into θ
            fast = {f"policy.{k}": v.detach().clone().requires_grad_(True) for k, v in theta.items()}
            support, _ = lr_.rollout()
            inner_keys = context if mcfg.algo == "cavia" else trainable
            inner_vf = 0.0 if mcfg.algo == "cavia" else p.vf_coef  # the context is fitted by the policy loss
            for _ in range(mcfg.inner_steps):
                loss = ppo_loss(module, fast, support, p.clip_range, inner_vf, p.ent_coef)
                keys = [f"policy.{k}" for k in inner_keys]
                grads = th.autograd.grad(loss, [fast[k] for k in keys], allow_unused=True)
                fast = dict(fast)
                for k, g in zip(keys, grads, strict=True):
                    if g is not None:
                        fast[k] = (fast[k] - mcfg.inner_lr * g).detach().requires_grad_(True)  # first-order
            lr_.set_params({k[len("policy.") :]: v for k, v in fast.items()})
            query, r = lr_.rollout()
            rewards.append(r)
            loss_q = ppo_loss(module, fast, query, p.clip_range, p.vf_coef, p.ent_coef)
            keys = [f"policy.{k}" for k in trainable]
            grads = th.autograd.grad(loss_q, [fast[k] for k in keys], allow_unused=True)
            for k, g in zip(trainable, grads, strict=True):
                if g is not None and not (mcfg.algo == "cavia" and k in context):
                    acc[k] += th.nan_to_num(g.detach())
        n = len(batch)
        if mcfg.algo == "reptile":
            with th.no_grad():
                for k in trainable:
                    theta[k] += mcfg.reptile_step * acc[k] / n
        else:
            assert opt is not None
            opt.zero_grad()
            for k in outer:
                theta[k].grad = acc[k] / n
            th.nn.utils.clip_grad_norm_([theta[k] for k in outer], p.max_grad_norm)
            opt.step()
        curve.append(float(np.mean(rewards)))
        if progress:
            progress(it + 1, mcfg.iterations, curve[-1])
    full = learner(0).algo.policy
    learner(0).set_params(theta)
    out = {k: v.detach().clone() for k, v in full.state_dict().items()}
    for v in learners.values():
        v.venv.close()
    return out, curve
