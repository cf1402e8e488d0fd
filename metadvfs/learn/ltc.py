"""The LTC backbone's ODE solver over the wiring's synapses only.

``ncps.torch.LTCCell`` evaluates every (pre, post) neuron pair of its ``units x units`` (and ``inputs x units``)
synapse matrices in each of its ``ode_unfolds`` solver steps and multiplies the absent ones by the wiring's sparsity
mask. An AutoNCP wiring of 32 units and 16 outputs has 84 of 1,024 recurrent synapses (130 of 832 sensory ones for
the observation's 26 channels), so most of that work, and of the activations autograd keeps for the backward pass,
is multiplied by 0. :class:`SparseLTCCell` computes the same function on the synapses alone: it gathers the
presynaptic potentials of each synapse and sums the synaptic currents into their postsynaptic neurons with
``index_add``. Parameters, their names, shapes, initialisation and constraints are ncps's, so checkpoints are
interchangeable (the exporter switches back to ncps's dense solver, :meth:`SparseLTCCell.release`); an absent
synapse's parameters get a zero gradient in both forms. Only the order of floating-point sums differs, so outputs
agree with ncps's to float32 rounding (tested), and a full PPO minibatch trains several times faster
(``metadvfs bench --ltc 4096``).
"""

from __future__ import annotations

from typing import Any

import torch as th
from ncps.torch import LTCCell


def _synapses(mask: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """(pre, post) indices of the mask's non-zero entries, row-major."""
    pre, post = th.nonzero(mask, as_tuple=True)
    return pre, post


def _currents(
    pre_v: th.Tensor, mu: th.Tensor, sigma: th.Tensor, w: th.Tensor, erev: th.Tensor, post: th.Tensor, units: int
) -> tuple[th.Tensor, th.Tensor]:
    """Summed synaptic conductance-times-reversal (numerator) and conductance (denominator) per neuron.

    Args:
        pre_v: (B, S) presynaptic potential of each synapse.
        mu: (S,) sigmoid centre of each synapse.
        sigma: (S,) sigmoid slope of each synapse.
        w: (S,) maximum conductance of each synapse (positive, sparsity mask applied).
        erev: (S,) reversal potential of each synapse.
        post: (S,) postsynaptic neuron of each synapse.
        units: Number of postsynaptic neurons.

    Returns:
        ``(numerator, denominator)``, each (B, units).
    """
    act = w * th.sigmoid(sigma * (pre_v - mu))
    zeros = pre_v.new_zeros(pre_v.shape[0], units)
    return zeros.index_add(1, post, act * erev), zeros.index_add(1, post, act)


DENSE_BELOW = 8
"""Batches smaller than this run ncps's dense solver: at batch 1 (the acting path on a phone, one decision at a
time) the sparse form's index bookkeeping costs more than it saves (median 2,412 against 2,288 µs for 32 units,
24 inputs, window 8; from batch 8 on the sparse form is faster: 2,602 against 2,740 µs, and 4,473 against 15,589
at 128)."""


class SparseLTCCell(LTCCell):
    """``ncps.torch.LTCCell`` whose ODE solver runs over the wiring's synapses only (see the module docstring).

    Build an ncps ``LTC`` as usual and call :meth:`adopt` on its ``rnn_cell``; nothing else changes.
    """

    @classmethod
    def adopt(cls, cell: LTCCell) -> SparseLTCCell:
        """Switch an existing ncps cell to the sparse solver in place (its parameters and RNG use are untouched).

        Args:
            cell: An ``ncps.torch.LTCCell`` (as built by ``ncps.torch.LTC``).

        Returns:
            The same object, now a :class:`SparseLTCCell`.
        """
        if type(cell) is not LTCCell:
            raise TypeError(f"SparseLTCCell.adopt: expected an ncps LTCCell, got {type(cell).__name__}")
        cell.__class__ = cls
        return cell  # type: ignore[return-value]

    @staticmethod
    def release(cell: SparseLTCCell) -> LTCCell:
        """Switch a cell back to ncps's dense solver in place, for ONNX export.

        The legacy ONNX exporter writes ``index_add`` with repeated indices as a scatter that keeps one value, so
        the sparse form would export wrong.

        Args:
            cell: A :class:`SparseLTCCell`.

        Returns:
            The same object, now an ``ncps.torch.LTCCell``.
        """
        cell.__class__ = LTCCell
        return cell

    def _ode_solver(self, inputs: th.Tensor, state: th.Tensor, elapsed_time: Any) -> th.Tensor:
        if inputs.shape[0] < DENSE_BELOW:
            return super()._ode_solver(inputs, state, elapsed_time)  # type: ignore[no-any-return]
        p = self._params
        pos = self.make_positive_fn
        units = self.state_size
        s_pre, s_post = _synapses(p["sensory_sparsity_mask"])
        num_s, den_s = _currents(
            inputs.index_select(1, s_pre),
            p["sensory_mu"][s_pre, s_post],
            p["sensory_sigma"][s_pre, s_post],
            pos(p["sensory_w"])[s_pre, s_post] * p["sensory_sparsity_mask"][s_pre, s_post],
            p["sensory_erev"][s_pre, s_post],
            s_post,
            units,
        )
        cm_t = pos(p["cm"]) / (elapsed_time / self._ode_unfolds)
        gleak = pos(p["gleak"])
        leak = gleak * p["vleak"]
        pre, post = _synapses(p["sparsity_mask"])
        mu, sigma, erev = p["mu"][pre, post], p["sigma"][pre, post], p["erev"][pre, post]
        w = pos(p["w"])[pre, post] * p["sparsity_mask"][pre, post]
        v = state
        for _ in range(self._ode_unfolds):
            num, den = _currents(v.index_select(1, pre), mu, sigma, w, erev, post, units)
            v = (cm_t * v + leak + (num + num_s)) / (cm_t + gleak + (den + den_s) + self._epsilon)
        return v
