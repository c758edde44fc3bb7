"""The Gymnasium spaces of a core's single environment."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from mmgym.core import MarketMakingCore


def action_space(core: MarketMakingCore) -> spaces.Box:
    """``Box`` of (bid offset, ask offset) from the mid, in the market's offset unit."""
    return spaces.Box(
        low=np.full(2, core.action_low, dtype=np.float32),
        high=np.full(2, core.action_high, dtype=np.float32),
        dtype=np.float32,
    )


def observation_space(core: MarketMakingCore) -> spaces.Box:
    """``Box`` of the named features, with the bounds each feature declares."""
    return spaces.Box(
        low=np.array([f.low for f in core.features], dtype=np.float32),
        high=np.array([f.high for f in core.features], dtype=np.float32),
        dtype=np.float32,
    )
