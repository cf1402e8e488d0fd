"""Temporal backbones: the single registry of network families the learner, configs and experiments use.

Each entry builds the layers of a :class:`~metadvfs.learn.policy.TemporalEncoder` (as its ``net`` and, where
needed, ``head`` attributes, so checkpoints keep their parameter names) and maps a normalised (B, K, C) window to
(B, H) features. Importing this module does not import torch (the builders do), so config validation and
``--help`` stay light. Adding a backbone is one :class:`Backbone` entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch as th

WIRINGS: tuple[str, ...] = ("full", "ncp")
"""CfC wirings: ``full`` (fully connected cell, projected to ``out_dim``) or ``ncp`` (ncps AutoNCP)."""


@dataclass(frozen=True)
class Backbone:
    """One backbone family.

    Attributes:
        description: One line for help texts.
        build: ``build(encoder, in_dim, window, units, out_dim, wiring)`` sets ``encoder.net`` (and
            ``encoder.head`` if the family needs one).
        forward: ``forward(encoder, x)`` maps the normalised (B, K, C) window to (B, out_dim) features.
        ncp: ``ncp(wiring)`` is True when the family uses an AutoNCP wiring (then ``out_dim < units - 2``).
    """

    description: str
    build: Callable[[Any, int, int, int, int, str], None]
    forward: Callable[[Any, th.Tensor], th.Tensor]
    ncp: Callable[[str], bool]


def _build_cfc(enc: Any, in_dim: int, window: int, units: int, out_dim: int, wiring: str) -> None:
    from ncps.torch import CfC

    if wiring == "full":
        enc.net = CfC(in_dim, units, proj_size=out_dim, return_sequences=False, batch_first=True, backbone_layers=0)
    else:
        from ncps.wirings import AutoNCP

        enc.net = CfC(in_dim, AutoNCP(units, out_dim), return_sequences=False, batch_first=True)


def _build_ltc(enc: Any, in_dim: int, window: int, units: int, out_dim: int, wiring: str) -> None:
    from ncps.torch import LTC
    from ncps.wirings import AutoNCP

    from metadvfs.learn.ltc import SparseLTCCell

    enc.net = LTC(in_dim, AutoNCP(units, out_dim), return_sequences=False, batch_first=True)
    SparseLTCCell.adopt(enc.net.rnn_cell)


def _build_gru(enc: Any, in_dim: int, window: int, units: int, out_dim: int, wiring: str) -> None:
    from torch import nn

    enc.net = nn.GRU(in_dim, units, batch_first=True)
    enc.head = nn.Sequential(nn.Linear(units, out_dim), nn.Tanh())


def _build_mlp(enc: Any, in_dim: int, window: int, units: int, out_dim: int, wiring: str) -> None:
    from torch import nn

    enc.net = nn.Sequential(
        nn.Flatten(), nn.Linear(in_dim * window, units), nn.ReLU(), nn.Linear(units, out_dim), nn.Tanh()
    )


def _ncp_if_asked(wiring: str) -> bool:
    return wiring == "ncp"


def _always_ncp(wiring: str) -> bool:
    return True


def _never_ncp(wiring: str) -> bool:
    return False


def _forward_ncps(enc: Any, x: th.Tensor) -> th.Tensor:
    out, _ = enc.net(x)
    return out  # type: ignore[no-any-return]


def _forward_gru(enc: Any, x: th.Tensor) -> th.Tensor:
    _, h = enc.net(x)
    return enc.head(h[-1])  # type: ignore[no-any-return]


def _forward_flat(enc: Any, x: th.Tensor) -> th.Tensor:
    return enc.net(x)  # type: ignore[no-any-return]


BACKBONES: dict[str, Backbone] = {
    "cfc": Backbone(
        "ncps closed-form continuous-time cell (full or AutoNCP wiring)", _build_cfc, _forward_ncps, _ncp_if_asked
    ),
    "ltc": Backbone(
        "ncps liquid time-constant cell, ODE-unfolded over the AutoNCP synapses", _build_ltc, _forward_ncps, _always_ncp
    ),
    "gru": Backbone("GRU over the window, last hidden state through a tanh head", _build_gru, _forward_gru, _never_ncp),
    "mlp": Backbone("MLP over the flattened window", _build_mlp, _forward_flat, _never_ncp),
}
"""Backbone name -> family (``network.backbone`` in configs)."""


def shape_problem(backbone: str, wiring: str, units: int, out_dim: int) -> str | None:
    """Why ``units`` / ``out_dim`` do not fit the backbone, or ``None`` (the AutoNCP rule, in one place).

    Args:
        backbone: Registered backbone name.
        wiring: ``full`` or ``ncp``.
        units: Neurons of the cell.
        out_dim: Output width.

    Returns:
        A message naming ``out_dim`` and its allowed range, or ``None``.
    """
    if BACKBONES[backbone].ncp(wiring) and not 0 < out_dim < units - 2:
        return f"out_dim: must be in [1, units - 3] = [1, {units - 3}] for {backbone}"
    return None
