"""The MetaDVFS network: a temporal encoder over the last K observations, conditioned on task metadata.

``MetaTemporalExtractor`` is an SB3 ``BaseFeaturesExtractor`` for the Dict observation of ``DVFS-v0``
(``obs``: (K, 26) window, ``meta``: (M,) encoded metadata):

    window --LayerNorm--> backbone (cfc | ltc | gru | mlp) --> h (H)
    meta   --Linear+Tanh--> e (E) --Linear--> (gamma, beta) (H each)
    features = concat(h * (1 + gamma) + beta, e)

Conditioning is FiLM (feature-wise linear modulation), not CARE's attention over k encoders: FiLM costs
one linear layer, keeps a single temporal encoder (the CfC dominates the compute, so k encoders would cost
k times as much on a 2-core laptop and on the phone), and lets metadata rescale the temporal features per
task, which is what differs between a 3-cluster Tensor running 3DMark and a 2-cluster Snapdragon
scrolling a feed. With ``use_meta=False`` the metadata is ignored (the ``standalone`` and ``joint``
baselines).

The extractor is stateless across steps (the window carries the history), so it works with SB3's PPO
(``MultiDiscrete``) and DQN (flattened or branching actions) unchanged.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.backbones import BACKBONES, WIRINGS, shape_problem

__all__ = ["BACKBONES", "WIRINGS", "MetaTemporalExtractor", "TemporalEncoder", "policy_kwargs"]


def _shape(space: gym.Space[Any]) -> tuple[int, ...]:
    """The shape of a Box space (Dict-space entries are typed ``Space``, whose shape may be ``None``)."""
    if space.shape is None:
        raise MetaDVFSError(f"observation space {space} has no shape")
    return space.shape


class TemporalEncoder(nn.Module):
    """Encode a (B, K, C) window into (B, H) features with a switchable backbone.

    Args:
        in_dim: Features per step C.
        window: Window length K.
        backbone: A :data:`~metadvfs.learn.backbones.BACKBONES` name: ``cfc`` (ncps closed-form continuous-time),
            ``ltc`` (ncps liquid time-constant, ODE-unfolded, AutoNCP wiring), ``gru`` or ``mlp`` (the flattened
            window).
        units: Neurons of the recurrent cell (cfc/ltc/gru) or width of the MLP.
        out_dim: Output width H (AutoNCP: motor neurons, must be < units - 2; full CfC: linear projection).
        wiring: CfC wiring: ``full`` (fully connected cell without backbone, projected to ``out_dim``; its
            exported graph is 3x smaller than NCP's, which keeps on-phone decisions near 50 us) or ``ncp``
            (ncps AutoNCP sparse wiring, the three-layer inter/command/motor structure).
    """

    def __init__(
        self, in_dim: int, window: int, backbone: str = "cfc", units: int = 32, out_dim: int = 16, wiring: str = "full"
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise MetaDVFSError(f"backbone: must be one of {', '.join(BACKBONES)}, got {backbone!r}")
        self.backbone = backbone
        self.norm = nn.LayerNorm(in_dim)
        self.out_dim = out_dim
        if wiring not in WIRINGS:
            raise MetaDVFSError(f"wiring: must be one of {', '.join(WIRINGS)}, got {wiring!r}")
        self.wiring = wiring
        problem = shape_problem(backbone, wiring, units, out_dim)
        if problem:
            raise MetaDVFSError(problem)
        self.net: nn.Module
        self.head: nn.Module
        BACKBONES[backbone].build(self, in_dim, window, units, out_dim, wiring)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """(B, K, C) window, oldest first -> (B, H)."""
        return BACKBONES[self.backbone].forward(self, self.norm(x))


class MetaTemporalExtractor(BaseFeaturesExtractor):
    """Temporal encoder of the observation window, FiLM-conditioned on the metadata vector.

    Args:
        observation_space: ``Dict(obs=Box(K, C), meta=Box(M))``.
        backbone: See :class:`TemporalEncoder`.
        units: Recurrent units / MLP width.
        out_dim: Temporal feature width H.
        meta_dim: Metadata embedding width E.
        use_meta: Condition on metadata (False: ignore it; features are ``h`` only).
        wiring: CfC wiring (see :class:`TemporalEncoder`).
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        backbone: str = "cfc",
        units: int = 32,
        out_dim: int = 16,
        meta_dim: int = 16,
        use_meta: bool = True,
        wiring: str = "full",
    ) -> None:
        window, in_dim = _shape(observation_space["obs"])
        m = _shape(observation_space["meta"])[0]
        features = out_dim + (meta_dim if use_meta else 0)
        super().__init__(observation_space, features_dim=features)
        self.use_meta = use_meta
        self.temporal = TemporalEncoder(in_dim, window, backbone, units, out_dim, wiring)
        if use_meta:
            self.meta_net = nn.Sequential(nn.Linear(m, meta_dim), nn.Tanh())
            self.film = nn.Linear(meta_dim, 2 * out_dim)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Dict observation batch -> (B, features_dim)."""
        h = self.temporal(observations["obs"])
        if not self.use_meta:
            return h
        e = self.meta_net(observations["meta"])
        gamma, beta = self.film(e).chunk(2, dim=-1)
        return th.cat([h * (1.0 + gamma) + beta, e], dim=-1)


def policy_kwargs(
    backbone: str = "cfc",
    units: int = 32,
    out_dim: int = 16,
    meta_dim: int = 16,
    use_meta: bool = True,
    head: tuple[int, ...] = (64,),
    algo: str = "ppo",
    wiring: str = "full",
) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` for a MetaDVFS network.

    Args:
        backbone: A :data:`~metadvfs.learn.backbones.BACKBONES` name.
        units: Recurrent units / MLP width.
        out_dim: Temporal feature width.
        meta_dim: Metadata embedding width.
        use_meta: Condition on metadata.
        head: Hidden widths of the policy/value (PPO) or Q (DQN) head.
        algo: ``ppo`` or ``dqn``.
        wiring: CfC wiring, ``full`` or ``ncp``.

    Returns:
        Keyword arguments for ``PPO(..., policy_kwargs=...)`` / ``DQN(...)``.
    """
    ext = {
        "backbone": backbone,
        "units": units,
        "out_dim": out_dim,
        "meta_dim": meta_dim,
        "use_meta": use_meta,
        "wiring": wiring,
    }
    kw: dict[str, object] = {"features_extractor_class": MetaTemporalExtractor, "features_extractor_kwargs": ext}
    kw["net_arch"] = {"pi": list(head), "vf": list(head)} if algo == "ppo" else list(head)
    return kw
