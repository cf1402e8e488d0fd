"""Issue 10's targets, shared by ``zero_shot.py``, ``adaptation.py`` (its reports) and the report.

A fold meets the whole target when its held-out tasks' mean PPR is at least the stock governor's, at least
:data:`OF_ORACLE` of the oracle's, and every held-out task's QoE is at least stock's minus :data:`QOE_FLOOR`.
"""

from __future__ import annotations

PPR_VS_STOCK = 1.0
"""Mean PPR over the held-out tasks, as a multiple of the stock governor's."""
OF_ORACLE = 0.95
"""Mean PPR over the held-out tasks, as a fraction of the clairvoyant oracle's."""
QOE_FLOOR = 0.01
"""A held-out task is at the QoE floor when the model's QoE is at least stock's minus this."""
ADAPT_MINUTES = 3.5
"""The adaptation target: 95 % of the task-specific reference within this many phone-minutes."""


def ge_stock(ppr: float) -> bool:
    """Whether a fold's mean PPR (normalised to stock) meets the target's PPR part."""
    return bool(ppr >= PPR_VS_STOCK)


def ge_oracle(of_oracle: float) -> bool:
    """Whether a fold's mean ratio to the oracle's PPR meets the target's oracle part."""
    return bool(of_oracle >= OF_ORACLE)


def at_floor(qoe: float, stock_qoe: float) -> bool:
    """Whether one task's QoE is at the floor (stock's QoE minus :data:`QOE_FLOOR`)."""
    return bool(qoe >= stock_qoe - QOE_FLOOR)  # a plain bool also for numpy floats (results are JSON)


def fold_met(ppr: float, of_oracle: float, n_at_floor: int, n_tasks: int) -> bool:
    """Whether a fold meets the whole zero-shot target (all three parts)."""
    return ge_stock(ppr) and ge_oracle(of_oracle) and n_at_floor >= n_tasks


def floor_per_seed(qoe: list[list[float]], stock_qoe: list[float]) -> list[int]:
    """Held-out tasks at the QoE floor with each training seed's model alone.

    Args:
        qoe: Per task, the QoE of each training seed's model (the same seed order for every task).
        stock_qoe: Per task, the stock governor's QoE.

    Returns:
        Per training seed, how many tasks are at the floor (a fold's mean over seeds can hide one seed's miss).
    """
    n = len(qoe[0]) if qoe else 0
    return [sum(at_floor(q[k], s) for q, s in zip(qoe, stock_qoe, strict=True)) for k in range(n)]
