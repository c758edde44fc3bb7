"""The feature protocol: streaming, batched estimators that make up the observation.

A feature holds whatever state it needs for ``n`` environments, is reset per environment,
and after every step writes its current value for every environment into ``out``, its column
of the observation. Each feature documents its definition, unit and normalisation, and the
bounds (``low``, ``high``) it declares to the observation space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mmgym.accounting import Accounts
from mmgym.markets.base import Market
from mmgym.registry import FEATURES
from mmgym.validation import ConfigError


@dataclass(slots=True)
class FeatureInputs:
    """What features may read: the market (its current state; its ``step_record`` holds the
    last step and, for a market with a book, the current book), the accounts, the fraction
    of the episode remaining (``(n,)``, 1 at the start, 0 at the end) and the position limit
    (size units)."""

    market: Market
    accounts: Accounts
    time_remaining: np.ndarray
    max_inventory: float


class Feature:
    """Base class of the features.

    Attributes: ``name`` (config name), ``low``/``high`` (bounds declared to the observation
    space), ``needs_book`` (reads the order book and trades: markets without a book reject it).

    Args:
        out: this feature's column of the observation, shape ``(n,)``.
        market: the market the feature observes (for its tick, step length, ...).
    """

    name: ClassVar[str]
    low: ClassVar[float] = -math.inf
    high: ClassVar[float] = math.inf
    needs_book: ClassVar[bool] = False

    def __init__(self, out: np.ndarray, market: Market) -> None:
        self.out = out
        self._value = np.zeros(len(out))

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        """Forget the masked environments' history and write their first value."""
        self.update(inputs)

    def update(self, inputs: FeatureInputs) -> None:
        """Take in the last step and write the current value of every environment."""
        raise NotImplementedError


def make_features(
    names: tuple[str, ...],
    params: dict[str, dict[str, Any]] | None,
    obs: np.ndarray,
    market: Market,
) -> list[Feature]:
    """The named features, each writing its column of ``obs``, with their parameters."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ConfigError(
            f"feature_params: {', '.join(map(repr, unknown))} not among the features {list(names)}"
        )
    features = []
    for j, name in enumerate(names):
        cls = FEATURES.lookup("features", name)
        if cls.needs_book and not market.has_book:
            raise ConfigError(
                f"features: {name!r} reads an order book, which market {market.name!r} lacks"
            )
        try:
            features.append(cls(obs[:, j], market, **params.get(name, {})))
        except TypeError as e:
            raise ConfigError(f"feature_params[{name!r}]: {e}") from None
    return features
