"""Rule-free baselines: never quoting, a fixed symmetric spread (plain or skewed by inventory)
and uniformly random quotes."""

from __future__ import annotations

import numpy as np

from mmgym.policies.base import NO_QUOTE, feature_column
from mmgym.validation import check_number


class NoQuote:
    """Withdraw both sides at every step; ``no_quote``. It never trades, so it earns exactly
    0: the zero of every market's PnL table."""

    name = "no_quote"

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        return np.full((len(obs), 2), NO_QUOTE)


class FixedSpread:
    """Quote mid ± ``half_spread`` (the market's offset unit) on both sides; ``fixed_spread``."""

    name = "fixed_spread"

    def __init__(self, half_spread: float = 1.0) -> None:
        self.half_spread = check_number("half_spread", half_spread)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        return np.full((len(obs), 2), self.half_spread)


class SkewedSpread:
    """Quote a fixed ``spread`` around the mid shifted by the inventory: bid at
    ``spread/2 + skew·ι``, ask at ``spread/2 − skew·ι`` (offset units), ι = q / max_inventory
    the ``inventory`` feature in [−1, 1] (a long position quotes its bid further, its ask
    nearer); ``skewed_spread``. The fixed-spread counterpart of ``spread_predictor``."""

    name = "skewed_spread"

    def __init__(self, spread: float = 2.0, skew: float = 0.0,
                 feature_names: tuple[str, ...] = ("inventory",)) -> None:
        self.spread = check_number("skewed_spread.spread", spread, low=0)
        self.skew = check_number("skewed_spread.skew", skew)
        self.column = feature_column(tuple(feature_names), "inventory", self.name)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        shift = self.skew * obs[:, self.column].astype(np.float64)
        return np.stack([self.spread / 2 + shift, self.spread / 2 - shift], axis=1)


class RandomQuotes:
    """Offsets drawn uniformly from [low, high] on each side, from its own seeded generator
    (never the market's streams); ``random``."""

    name = "random"

    def __init__(self, low: float = 0.0, high: float = 3.0, seed: int = 0) -> None:
        self.low = check_number("low", low)
        self.high = check_number("high", high, low=self.low)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, (len(obs), 2))
