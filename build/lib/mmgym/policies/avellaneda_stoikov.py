"""The Avellaneda–Stoikov (2008) market makers.

M. Avellaneda and S. Stoikov, "High-frequency trading in a limit order book", Quantitative
Finance 8(3), 217-224 (2008), equations (29)-(30) and section 3.3.

With mid s, inventory q, risk aversion γ, mid volatility σ, fill-intensity decay k and time
remaining τ = T − t, the **inventory strategy** quotes around the reservation price

    r = s − q·γ·σ²·τ

with total spread

    δ_a + δ_b = γ·σ²·τ + (2/γ)·ln(1 + γ/k),

so the offsets from the mid are δ_b = q·γσ²τ + spread/2 and δ_a = spread/2 − q·γσ²τ. The
**symmetric strategy** is the paper's benchmark: the inventory strategy's spread averaged over
[0, T], γσ²T/2 + (2/γ)·ln(1 + γ/k), centred on the mid whatever the inventory.

Parameters: ``gamma`` (1/price units), and the market's ``sigma`` (price/√time), ``k``
(1/price) and ``T`` (time) — on ``as2008`` read from the market (:func:`market_params`);
"price" is the market's offset unit (``lob``: ticks). ``T=None`` with ``horizon`` set gives
the infinite-horizon variant, which holds τ at ``horizon`` for markets with no end. ``unit``
is the size of one order: q counts orders, the environment's inventory divided by it.
"""

from __future__ import annotations

import math

import numpy as np

from mmgym.policies.base import TimeToGo
from mmgym.validation import check_number


class _AvellanedaStoikov:
    def __init__(
        self,
        *,
        sigma: float,
        k: float,
        gamma: float = 0.1,
        T: float | None = None,
        horizon: float | None = None,
        unit: float = 1.0,
        feature_names: tuple[str, ...] = ("inventory", "time_remaining"),
    ) -> None:
        self.unit = check_number("unit", unit, low=0, low_open=True)
        self.sigma = check_number("sigma", sigma, low=0)
        self.k = check_number("k", k, low=0, low_open=True)
        self.gamma = check_number("gamma", gamma, low=0, low_open=True)
        self.time_to_go = TimeToGo(self.name, T, horizon, feature_names)
        self.half_log_term = math.log1p(self.gamma / self.k) / self.gamma


class ASInventory(_AvellanedaStoikov):
    """The inventory strategy (see the module doc); ``as_inventory``."""

    name = "as_inventory"

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        risk = self.gamma * self.sigma**2 * self.time_to_go(obs)
        half_spread = risk / 2 + self.half_log_term
        skew = np.asarray(info["inventory"]) / self.unit * risk
        return np.stack([half_spread + skew, half_spread - skew], axis=-1)


class ASSymmetric(_AvellanedaStoikov):
    """The symmetric strategy (see the module doc); ``as_symmetric``."""

    name = "as_symmetric"

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        half = self.gamma * self.sigma**2 * self.time_to_go.total / 4 + self.half_log_term
        return np.full((len(obs), 2), half)
