"""Rule-free baselines: never quoting, a fixed symmetric spread and uniformly random quotes."""

from __future__ import annotations

import numpy as np

from mmgym.policies.base import NO_QUOTE
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
