"""Built-in reward functions."""

from __future__ import annotations

import numpy as np

from mmgym.rewards.base import Transition
from mmgym.validation import check_number


class PnL:
    """r_t = ΔPnL_t, the change of mark-to-market PnL (price units); risk neutral."""

    name = "pnl"

    def __call__(self, tr: Transition) -> np.ndarray:
        return tr.pnl_change.copy()


class PnLMinusInventoryPenalty:
    """r_t = ΔPnL_t − φ·q_t², with q_t the inventory after the step.

    The quadratic penalty is the per-step cost of holding inventory in the mean-variance
    approximation of Avellaneda & Stoikov's (2008) exponential utility: over a step of length
    dt, holding q exposes the PnL to variance σ²·q²·dt, and a CARA agent of risk aversion γ
    pays γ/2 of it, so φ = γ·σ²·dt/2. The default φ = 0.001 is that value for γ = 0.1 on the
    ``as2008`` market (σ = 2, dt = 0.005), the paper's middle case.

    Args:
        inventory_penalty: φ, in price units per size unit squared per step, ≥ 0.
    """

    name = "pnl_minus_inventory_penalty"

    def __init__(self, inventory_penalty: float = 0.001) -> None:
        self.inventory_penalty = check_number("inventory_penalty", inventory_penalty, low=0)

    def __call__(self, tr: Transition) -> np.ndarray:
        r = np.square(tr.inventory)
        r *= -self.inventory_penalty
        r += tr.pnl_change
        return r
