"""Features of a multi-asset portfolio, computed after every asset's own features.

| name | columns | value | unit |
|---|---|---|---|
| ``hedge`` | 1 | −Σ_a β_a·q_a / max_inventory | leader size / max_inventory |
| ``relative_volatility`` | ``N`` | σ_a / mean_b σ_b (1 when all are 0) | dimensionless |

``hedge`` is the hedge signal q_hedge = −Σ_a β_a·q_a (:func:`hedge_quantity`, also in
:mod:`mmgym.hedging`), the leader trade that flattens the portfolio's exposure to the
leader's moves, scaled by the position limit; ``relative_volatility`` each asset's realized
volatility against the assets' mean.

``hedge`` takes ``beta``, the assets' loadings on the leader (``N`` numbers, the leader's 1),
through ``feature_params={"hedge": {"beta": [...]}}``: by default the market's configured
ones (a simulated multi-asset market), else estimate them
(:func:`mmgym.hedging.estimate_betas`); a market without configured loadings (recorded
assets: ``multi_asset`` with ``leg="replay"``) leaves ``hedge`` out of the default portfolio
features unless its ``beta`` is given. ``relative_volatility`` reads each asset's
``volatility`` feature, which must be among the assets' features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numba import njit

from mmgym.validation import ConfigError

if TYPE_CHECKING:
    from mmgym.core import MarketMakingCore


class PortfolioFeature:
    """Base class: ``width(N)`` columns of the observation, written by :meth:`update` from
    the core's state after the assets' features.

    Args:
        out: its columns of the observation, ``(n, width)``.
        core: the core it observes (its accounts, market and observation).
    """

    name: ClassVar[str]
    low: ClassVar[float] = -np.inf
    high: ClassVar[float] = np.inf

    def __init__(self, out: np.ndarray, core: MarketMakingCore) -> None:
        self.out = out

    @classmethod
    def width(cls, assets: int) -> int:
        """Its number of columns for ``assets`` assets."""
        return 1

    def names(self, assets: int) -> tuple[str, ...]:
        """Its columns' names."""
        return (self.name,)

    def bounds(self, assets: int) -> tuple[list[float], list[float]]:
        """The observation space's bounds of its columns."""
        w = self.width(assets)
        return [self.low] * w, [self.high] * w

    def reset(self, mask: np.ndarray) -> None:
        """Write the masked environments' first values."""
        self.update()

    def update(self) -> None:
        """Write the current value of every environment."""
        raise NotImplementedError


class Hedge(PortfolioFeature):
    """q_hedge = −Σ_a β_a·q_a / max_inventory (see the module doc)."""

    name: ClassVar[str] = "hedge"

    def __init__(self, out: np.ndarray, core: MarketMakingCore,
                 beta: Sequence[float] | None = None) -> None:
        super().__init__(out, core)
        N = core.assets
        if beta is None:
            beta = market_betas(core.market)
            if beta is None:
                raise ConfigError(
                    f"feature_params.hedge.beta: market {core.market.name!r} has no configured "
                    f"loadings (recorded assets co-move as in their data); give the {N} "
                    f"assets' betas, the leader's 1 first: feature_params={{'hedge': "
                    f"{{'beta': [1.0, ...]}}}} (mmgym.hedging.estimate_betas)")
        b = np.asarray(beta, dtype=float)
        if b.shape != (N,) or not np.isfinite(b).all():
            raise ConfigError(f"feature_params.hedge.beta={beta!r}: "
                              f"expected {N} finite numbers, one per asset (the leader's 1)")
        self.beta = b
        self._max_inventory = core.max_inventory
        self._inventory = core.leg_inventories

    def bounds(self, assets: int) -> tuple[list[float], list[float]]:
        m = float(np.abs(self.beta).sum())
        return [-m], [m]

    def update(self) -> None:
        self.out[:, 0] = hedge_quantity(self._inventory.T, self.beta) / self._max_inventory


def hedge_quantity(inventory: np.ndarray, beta: np.ndarray | Sequence[float]) -> np.ndarray:
    """q_hedge = −Σ_a β_a·q_a: the leader trade (leader size units) that flattens the
    exposure of the inventories ``q`` to the leader's price moves.

    Args:
        inventory: ``(..., N)`` the assets' inventories, size units.
        beta: ``(N,)`` the assets' loadings on the leader, price units of each asset per
            price unit of the leader (the leader's 1;
            :func:`mmgym.hedging.estimate_betas`).

    Returns:
        ``(...)`` the hedge quantity, leader size units.
    """
    q = np.asarray(inventory, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    if b.ndim != 1 or q.shape[-1:] != b.shape:
        raise ConfigError(f"beta: shape {b.shape} for inventories of shape {q.shape}; expected "
                          f"one loading per asset (the inventories' last axis)")
    return -(q @ b)


class RelativeVolatility(PortfolioFeature):
    """σ_a / mean_b σ_b per asset (see the module doc)."""

    name: ClassVar[str] = "relative_volatility"
    low: ClassVar[float] = 0.0

    def __init__(self, out: np.ndarray, core: MarketMakingCore) -> None:
        super().__init__(out, core)
        names = core.asset_feature_names
        if "volatility" not in names:
            raise ConfigError(f"portfolio_features: 'relative_volatility' reads each asset's "
                              f"'volatility', which the features {list(names)} lack")
        F, j = len(names), names.index("volatility")
        self._columns = np.array([a * F + j for a in range(core.assets)], dtype=np.int64)
        self._obs = core.obs

    @classmethod
    def width(cls, assets: int) -> int:
        return assets

    def names(self, assets: int) -> tuple[str, ...]:
        return tuple(f"{self.name}_{a}" for a in range(assets))

    def update(self) -> None:
        _relative(self._obs, self._columns, self.out)


@njit(cache=True)
def _relative(obs: np.ndarray, columns: np.ndarray, out: np.ndarray) -> None:
    """``out[i, a] = obs[i, columns[a]] / mean_b obs[i, columns[b]]`` (1 where the mean is
    not positive)."""
    N = columns.shape[0]
    for i in range(obs.shape[0]):
        total = 0.0
        for a in range(N):
            total += obs[i, columns[a]]
        mean = total / N
        for a in range(N):
            out[i, a] = obs[i, columns[a]] / mean if mean > 0 else 1.0


PORTFOLIO_FEATURES: dict[str, type[PortfolioFeature]] = {
    cls.name: cls for cls in (Hedge, RelativeVolatility)
}
"""The portfolio features by name."""


def market_betas(market: Any) -> np.ndarray | None:
    """The market's configured loadings on the leader (its ``betas()``), or None when it has
    none (a single-asset market, or recorded assets)."""
    betas = getattr(market, "betas", None)
    return None if betas is None else betas()


def split_portfolio_params(params: dict[str, dict[str, Any]] | None
                           ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``feature_params`` split into the assets' features' and the portfolio features'."""
    params = dict(params or {})
    portfolio = {k: dict(params.pop(k)) for k in list(params) if k in PORTFOLIO_FEATURES}
    return params, portfolio


def make_portfolio_features(
    names: Sequence[str] | None, params: dict[str, dict[str, Any]], assets: int,
    asset_features: Sequence[str], loadings: bool = True,
) -> list[tuple[type[PortfolioFeature], dict[str, Any]]]:
    """The classes and parameters of the portfolio features ``names`` (None: ``hedge`` when
    the market has configured ``loadings`` or ``params`` give it some, and
    ``relative_volatility`` when the assets observe ``volatility``)."""
    if names is None:
        hedge = loadings or "hedge" in params
        names = (["hedge"] if hedge else []) + (
            ["relative_volatility"] if "volatility" in asset_features else [])
    names = list(names)
    if len(set(names)) != len(names):
        raise ConfigError(f"portfolio_features={names!r}: a feature is named twice")
    out = []
    for name in names:
        if name not in PORTFOLIO_FEATURES:
            raise ConfigError(f"portfolio_features: {name!r} is not one of "
                              f"{sorted(PORTFOLIO_FEATURES)}")
        out.append((PORTFOLIO_FEATURES[name], params.get(name, {})))
    unused = sorted(set(params) - set(names))
    if unused:
        raise ConfigError(f"feature_params: {', '.join(map(repr, unused))} not among the "
                          f"portfolio features {names}")
    return out
