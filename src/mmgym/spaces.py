"""The Gymnasium spaces of a core's single environment."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from mmgym.core import MarketMakingCore


def action_space(core: MarketMakingCore) -> spaces.Box:
    """``Box`` of (bid offset, ask offset) from the mid per asset (``2·N`` entries), in the
    market's offset unit, or in [−1, 1] with the core's ``normalize_actions``; the upper
    bound withdraws a side."""
    low, high = (-1.0, 1.0) if core.normalize_actions else (core.action_low, core.action_high)
    width = 2 * core.assets
    return spaces.Box(low=np.full(width, low, dtype=np.float32),
                      high=np.full(width, high, dtype=np.float32), dtype=np.float32)


def observation_space(core: MarketMakingCore) -> spaces.Box:
    """``Box`` of the named features, with the bounds each feature declares (the assets'
    features, then the portfolio's)."""
    low = [f.low for fs in core.leg_features for f in fs]
    high = [f.high for fs in core.leg_features for f in fs]
    for f in core.portfolio_features:
        lo, hi = f.bounds(core.assets)
        low += lo
        high += hi
    return spaces.Box(low=np.array(low, dtype=np.float32),
                      high=np.array(high, dtype=np.float32), dtype=np.float32)


def offsets_of(actions: np.ndarray, low: float, high: float) -> np.ndarray:
    """The offsets (market unit) of normalized actions in [−1, 1] for offset bounds
    ``[low, high]``: ``low + (a + 1)/2·(high − low)``, ``inf`` (no quote) for ``a >= 1``,
    ``low`` below −1; the arithmetic of the core's own mapping, so that a policy acting in
    either form quotes the same prices."""
    a = np.asarray(actions, dtype=np.float64)
    offsets = low + (np.maximum(a, -1.0) + 1.0) * 0.5 * (high - low)
    return np.where(a >= 1.0, np.inf, offsets)
