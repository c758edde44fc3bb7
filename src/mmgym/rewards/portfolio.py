"""Rewards of a multi-asset portfolio (:mod:`mmgym.markets.multi`).

A portfolio reward is a callable with ``portfolio = True`` that takes a
:class:`PortfolioTransition`, the step of all the assets at once, and returns one float per
environment. A single-asset reward given to a multi-asset environment is applied to each
asset and summed instead (see :class:`mmgym.core.MarketMakingCore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mmgym.rewards.base import Transition
from mmgym.validation import ConfigError, check_number


@dataclass(slots=True, eq=False)
class PortfolioTransition:
    """One step of ``n`` environments of ``N`` assets, as a portfolio reward sees it.

    Attributes:
        legs: each asset's :class:`~mmgym.rewards.Transition` (arrays of shape ``(n,)``, its
            ``features`` the asset's columns of the observation), asset 0 first.
        features: the whole observation, ``(n, n_features)``.
        feature_names: its column names.
    """

    legs: tuple[Transition, ...]
    features: np.ndarray
    feature_names: tuple[str, ...]

    @property
    def assets(self) -> int:
        """The number of assets, ``N``."""
        return len(self.legs)

    def stack(self, field: str) -> np.ndarray:
        """``(N, n)``: the assets' transition field ``field`` (``inventory``, ...), row ``a``
        asset ``a``'s (a new array)."""
        return np.stack([getattr(tr, field) for tr in self.legs])


class PortfolioInventoryPenalty:
    """The portfolio's PnL change minus a quadratic penalty on its inventories,

        r_t = Σ_a ΔPnL_a,t − φ·Σ_a q_a,t² − (γ/2)·q_tᵀ Σ q_t·Δt,

    with ``q_t`` the assets' inventories after the step (size units), φ
    (``inventory_penalty``, price units per size unit²) the per-asset penalty of the
    single-asset default, and the covariance-aware term of Guéant's multi-asset market
    making (O. Guéant, "Optimal market making", Applied Mathematical Finance 24(2), 112–154,
    2017, its multi-asset model: the running penalty (γ/2)·qᵀΣq of the objective): ``Σ``
    (``covariance``, an ``N × N`` matrix of the assets' mid changes, price units² per unit
    of time) and γ (``risk_aversion``, 1/price units), so that the penalty is γ/2 times the
    variance the position adds to the portfolio's value over the step. Correlated
    inventories that offset (a long and a short in co-moving assets) are penalized less than
    the sum of their own risks; the diagonal term ignores the correlation.
    """

    name: ClassVar[str] = "portfolio_inventory_penalty"
    portfolio: ClassVar[bool] = True

    def __init__(self, inventory_penalty: float = 0.001, risk_aversion: float = 0.0,
                 covariance: Sequence[Sequence[float]] | None = None) -> None:
        self.phi = check_number("inventory_penalty", inventory_penalty, low=0)
        self.gamma = check_number("risk_aversion", risk_aversion, low=0)
        self.covariance = None if covariance is None else np.asarray(covariance, dtype=float)
        if self.covariance is not None:
            c = self.covariance
            if c.ndim != 2 or c.shape[0] != c.shape[1] or not np.allclose(c, c.T) \
                    or not np.isfinite(c).all() or np.linalg.eigvalsh(c).min() < -1e-12 * max(
                        1.0, float(np.abs(c).max())):
                raise ConfigError(f"covariance={covariance!r}: expected a symmetric positive "
                                  "semi-definite square matrix of finite numbers")
        elif self.gamma > 0:
            raise ConfigError(f"risk_aversion={risk_aversion!r}: needs a covariance matrix")

    def __call__(self, tr: PortfolioTransition) -> np.ndarray:
        r = np.zeros_like(tr.legs[0].pnl_change)
        for leg in tr.legs:
            r += leg.pnl_change
            if self.phi:
                r -= self.phi * leg.inventory**2
        if self.gamma:
            c = self.covariance
            if c.shape != (tr.assets, tr.assets):
                raise ConfigError(f"covariance: shape {c.shape}, expected ({tr.assets}, "
                                  f"{tr.assets}) for {tr.assets} assets")
            q = tr.stack("inventory")
            r -= 0.5 * self.gamma * tr.legs[0].dt * np.einsum("ai,ab,bi->i", q, c, q)
        return r
