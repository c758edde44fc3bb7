"""The reward interface: a function of a batched transition record, one float per env.

A reward function is any callable ``reward_fn(tr: Transition) -> np.ndarray`` returning a float
array of shape ``(n,)``. One that keeps state across steps (a running mean, say) also defines
``reset(mask)``, called when the masked environments start a new episode. The environment
checks the returned array at every step: a wrong shape, a non-float dtype or a NaN/inf fails
at once, naming the function.

The record's arrays are views on the simulator's buffers, valid during the call only: copy
what you keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True, eq=False)
class Transition:
    """One step of ``n`` environments, as a reward function sees it (arrays of shape ``(n,)``).

    Money is in the market's price unit (price × size), sizes in its size unit.

    | field | meaning |
    |---|---|
    | ``pnl_change`` | change of mark-to-market PnL this step = spread + inventory PnL − fees |
    | ``spread_change`` | spread captured by this step's fills, measured against ``mid_before`` |
    | ``inventory_pnl_change`` | ``inventory × (mid − mid_before)`` |
    | ``fees_change`` | fees paid this step (negative: rebate) |
    | ``pnl`` | PnL since the episode start, after this step |
    | ``cash`` | cash after this step |
    | ``inventory_before``, ``inventory`` | position before and after this step's fills |
    | ``mid_before``, ``mid`` | mid price when the quotes were set, and after the step |
    | ``bid_fill``, ``ask_fill`` | sizes filled this step on each side |
    | ``bid_price``, ``ask_price`` | quotes in force this step (NaN: side not quoted) |
    | ``step_index`` | steps taken in the episode, after this one (int) |
    | ``time_remaining`` | fraction of the episode remaining after this step, in [0, 1] |
    | ``terminated`` | true where this step ended the episode (bool) |
    | ``features`` | the observation after this step, shape ``(n, len(feature_names))`` |

    Scalars: ``dt`` (step length, market time unit), ``horizon_steps`` (steps per episode),
    ``max_inventory`` (position limit), ``feature_names``.
    """

    pnl_change: np.ndarray
    spread_change: np.ndarray
    inventory_pnl_change: np.ndarray
    fees_change: np.ndarray
    pnl: np.ndarray
    cash: np.ndarray
    inventory_before: np.ndarray
    inventory: np.ndarray
    mid_before: np.ndarray
    mid: np.ndarray
    bid_fill: np.ndarray
    ask_fill: np.ndarray
    bid_price: np.ndarray
    ask_price: np.ndarray
    step_index: np.ndarray
    time_remaining: np.ndarray
    terminated: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    dt: float
    horizon_steps: int
    max_inventory: float

    @property
    def mid_change(self) -> np.ndarray:
        """``mid − mid_before``, price units."""
        return self.mid - self.mid_before


RewardFn = Callable[[Transition], np.ndarray]
