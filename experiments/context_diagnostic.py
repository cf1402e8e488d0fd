"""Why context adaptation did (not) move the policy: gradient direction and authority of candidate contexts.

On the quick leave-one-device-out fold (``pixel8:3dmark`` held out; the model of ``adaptation.py --quick``):

1. **Direction**: on one rollout of the held-out task (three seeds), the gradient on the metadata-layer bias of
   each PPO loss term (clipped surrogate, ``vf_coef`` x value loss, entropy bonus), and the cosine of their sum
   with the policy term's. A context fitted with the full loss follows the critic when the value term dominates.
2. **Authority**: behaviour-clone the task-specific reference's deterministic actions on its own held-out
   episodes by fitting only one parameter set of the routed model (300 Adam steps, step 0.05), and report the
   per-domain agreement. A parameter set that cannot reach the reference's levels cannot be the context.

Prints only (nothing is written). Run from the repository root after ``python experiments/adaptation.py
--quick`` (or its pixel8 fold model alone)::

    python experiments/context_diagnostic.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import adaptation as A
import numpy as np
import torch as th

TASK = "pixel8:3dmark"
CANDIDATES = {
    "meta_net.0.bias": ("meta_net.0.bias",),
    "film.bias": ("film.bias",),
    "policy head hidden bias": ("policy_net.0.bias",),
    "action_net.bias": ("action_net.bias",),
    "context (meta_net.0.bias + action_net.bias)": ("meta_net.0.bias", "action_net.bias"),
}


def gradient_terms(model: Any, task: Any, row: np.ndarray, policy: dict[str, th.Tensor], seed: int) -> None:
    """Print the per-term gradient of the PPO loss on the metadata-layer bias for one rollout (seed ``seed``)."""
    from metadvfs.learn.trainer import make_train_env
    from metadvfs.meta import fast

    cfg = fast.adapter_config(model.cfg, 32, 8, False, fast.CONTEXT_LR)
    venv = make_train_env((task,), cfg, row[None], seed, n_per_task=8)
    algo = fast.make_adapter(cfg, venv, policy, True, seed, False, fast.CONTEXT_LR)
    _, cb = algo._setup_learn(10**9, None, progress_bar=False)
    cb.init_callback(algo)
    algo.collect_rollouts(venv, cb, algo.rollout_buffer, n_rollout_steps=algo.n_steps)
    d = next(algo.rollout_buffer.get(batch_size=None))
    pol, p = algo.policy, cfg.ppo
    bias = pol.features_extractor.meta_net[0].bias
    values, logp, ent = pol.evaluate_actions(d.observations, d.actions.long())
    adv = (d.advantages - d.advantages.mean()) / (d.advantages.std() + 1e-8)
    ratio = th.exp(logp - d.old_log_prob)
    clipped = th.clamp(ratio, 1 - p.clip_range, 1 + p.clip_range)
    terms = {
        "policy (clipped surrogate)": -th.min(adv * ratio, adv * clipped).mean(),
        f"value x {p.vf_coef}": p.vf_coef * th.nn.functional.mse_loss(d.returns, values.flatten()),
        f"entropy x {p.ent_coef}": -p.ent_coef * ent.mean(),
    }  # fmt: skip
    grads = {k: th.autograd.grad(v, bias, retain_graph=True)[0] for k, v in terms.items()}
    pg = next(iter(grads.values()))
    total = sum(grads.values(), th.zeros_like(pg))
    cos = float(th.nn.functional.cosine_similarity(total, pg, 0))
    norms = ", ".join(f"{k} {float(g.norm()):.4f}" for k, g in grads.items())
    print(f"  seed {seed}: |grad| {norms}; cosine(full-loss gradient, policy gradient) {cos:.3f}")
    venv.close()


def authority(model: Any, task: Any, row: np.ndarray, policy: dict[str, th.Tensor], ref: Any) -> None:
    """Print how far fitting each candidate parameter set alone brings the routed model to the reference."""
    from metadvfs.learn.evaluate import SEED_BASE, run_driver
    from metadvfs.meta.measure import PolicyDriver, env_kwargs

    ref_pol = ref.policies[ref.doc["models"][0]["id"]]
    seen: list[np.ndarray] = []

    class Recorder(PolicyDriver):
        def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
            seen.append(obs["obs"].copy())
            return super().act(venv, obs)

    run_driver(Recorder("reference", ref_pol, ref.encode(task), env_kwargs(model.cfg)), [TASK],
               [SEED_BASE + i for i in range(3)], 20.0)  # fmt: skip
    obs = th.tensor(np.concatenate(seen))
    n = len(obs)
    with th.no_grad():
        target = ref_pol._predict({"obs": obs, "meta": th.tensor(np.repeat(ref.encode(task)[None], n, 0))}, True)
    x = {"obs": obs, "meta": th.tensor(np.repeat(row[None], n, 0), dtype=th.float32)}
    pol = model.policies[model.model_for(task)]
    for name, suffixes in CANDIDATES.items():
        pol.load_state_dict(policy)
        params = [p for k, p in pol.named_parameters() if k.endswith(suffixes)]
        for p in pol.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = th.optim.Adam(params, lr=0.05)
        for _ in range(300):
            loss = -pol.get_distribution(x).log_prob(target).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with th.no_grad():
            agree = (pol._predict(x, deterministic=True) == target).float().mean(0).numpy()
        print(f"  {name} ({sum(p.numel() for p in params)} numbers): agreement per domain "
              f"(little, mid, big, GPU) {[round(float(a), 3) for a in agree]}")  # fmt: skip
    pol.load_state_dict(policy)
    for p in pol.parameters():
        p.requires_grad_(True)


def main() -> None:
    """Load the fold model and the task reference (trained and cached if missing), print both diagnostics."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.meta.adapt import reference_model
    from metadvfs.tasks.task import make_task

    C.limit_threads()
    _, _, fold = A.quick_pixel8_fold()
    model = load_checkpoint(fold / "shared")
    task = make_task(*TASK.split(":"))
    row = model.encode(task)
    policy = {k: v.detach().clone() for k, v in model.policies[model.model_for(task)].state_dict().items()}
    ref = load_checkpoint(reference_model(model, task, TASK))
    print(f"1. gradient of the PPO loss terms on the metadata-layer bias ({TASK}, one rollout of 8 x 32 decisions)")
    for seed in (100, 101, 102):
        gradient_terms(model, task, row, policy, seed)
    print(f"2. behaviour cloning of the reference's deterministic actions on its held-out episodes ({TASK})")
    authority(model, task, row, policy, ref)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
