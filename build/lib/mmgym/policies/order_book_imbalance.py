"""Order-book-imbalance skew: the practitioner's market maker that leans its quotes toward the
side the book says the price will move.

I is the observation's ``imbalance`` feature, (B − A)/(B + A) of the top levels, in
[−1, 1]: positive when the bids are heavier, when the mid tends to rise next (see the
``lob`` market's stylized facts). Offsets are in the market's offset unit (``lob``: ticks).
"""

from __future__ import annotations

import math

import numpy as np

from mmgym.policies.base import feature_column
from mmgym.validation import check_number


class OBISkew:
    """bid = mid − s/2 + α·I, ask = mid + s/2 + α·I, with α halved while the observation's
    ``volatility`` exceeds ``vol_threshold``; ``obi_skew``.

    As offsets: δ_b = s/2 − α·I, δ_a = s/2 + α·I: both quotes move by α·I toward the side
    the imbalance points to, the spread s stays. Parameters: ``half_spread`` (s/2),
    ``alpha`` (offset per unit of imbalance), ``vol_threshold`` (in the volatility feature's
    unit, bps/√s; ``inf`` never halves), ``feature_names`` (the observation's).
    """

    name = "obi_skew"

    def __init__(
        self,
        *,
        half_spread: float = 1.0,
        alpha: float = 1.0,
        vol_threshold: float = math.inf,
        feature_names: tuple[str, ...] = ("imbalance", "volatility"),
    ) -> None:
        self.half_spread = check_number("half_spread", half_spread)
        self.alpha = check_number("alpha", alpha)
        self.vol_threshold = check_number("vol_threshold", vol_threshold, low=0,
                                          allow_inf=True)
        self._imbalance = feature_column(tuple(feature_names), "imbalance", self.name)
        self._volatility = (None if math.isinf(self.vol_threshold)
                            else feature_column(tuple(feature_names), "volatility", self.name))

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        skew = self.alpha * obs[:, self._imbalance].astype(np.float64)
        if self._volatility is not None:
            skew = np.where(obs[:, self._volatility] > self.vol_threshold, skew / 2, skew)
        return np.stack([self.half_spread - skew, self.half_spread + skew], axis=-1)


class OBISkewInventory:
    """δ_b = (s/2)·(1 − κ·I) + φ·q, δ_a = (s/2)·(1 + κ·I) − φ·q; ``obi_skew_inventory``.

    The imbalance scales each side's half-spread (the side the price is expected to move
    toward is quoted closer), and the inventory q (size units) shifts both quotes against the
    position by φ·q: a long market maker lowers its bid and its ask, to sell more and buy
    less. Parameters: ``half_spread`` (s/2), ``kappa`` (κ, dimensionless), ``phi`` (φ,
    offset per size unit), ``feature_names``.
    """

    name = "obi_skew_inventory"

    def __init__(
        self,
        *,
        half_spread: float = 1.0,
        kappa: float = 0.5,
        phi: float = 0.0,
        feature_names: tuple[str, ...] = ("imbalance",),
    ) -> None:
        self.half_spread = check_number("half_spread", half_spread)
        self.kappa = check_number("kappa", kappa)
        self.phi = check_number("phi", phi)
        self._imbalance = feature_column(tuple(feature_names), "imbalance", self.name)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        lean = self.kappa * obs[:, self._imbalance].astype(np.float64)
        shift = self.phi * np.asarray(info["inventory"], dtype=np.float64)
        bid = self.half_spread * (1 - lean) + shift
        ask = self.half_spread * (1 + lean) - shift
        return np.stack([bid, ask], axis=-1)
