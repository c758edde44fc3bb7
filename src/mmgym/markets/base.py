"""The market protocol and the record of one step, shared by every market model.

A market knows nothing of agents, rewards or observations. It holds the state of ``n``
independent markets, takes the agents' quotes (offsets from its mid, one bid and one ask per
environment) and the step's uniform random numbers, and returns what happened as a
:class:`MarketStep` of arrays. Accounting, features and rewards are computed from that record
by :class:`mmgym.core.MarketMakingCore`, in that order.

Randomness enters only through the uniforms passed to :meth:`Market.reset` and
:meth:`Market.step` (see :mod:`mmgym.rng`): a market draws nothing itself, so the same seed
gives the same market whatever the batch size, and its draws never depend on the quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass(slots=True)
class MarketStep:
    """What happened in one step, one entry per environment (arrays of shape ``(n,)``).

    Sizes are in the market's size unit (``as2008``: shares, one per fill), prices and
    notionals in its price unit. The arrays may be reused by the market on its next step.

    Attributes:
        mid_before: mid price against which the quotes were set (start of the step).
        mid: mid price at the end of the step.
        bid_price, ask_price: the agent's quotes in force during the step (NaN: no quote).
        bid_fill, ask_fill: size filled on the agent's bid / ask during the step (>= 0).
        bid_notional, ask_notional: sum of price x size of those fills (0 when none).
    """

    mid_before: np.ndarray
    mid: np.ndarray
    bid_price: np.ndarray
    ask_price: np.ndarray
    bid_fill: np.ndarray
    ask_fill: np.ndarray
    bid_notional: np.ndarray
    ask_notional: np.ndarray


class Market(Protocol):
    """A batch of ``n`` market models stepped together.

    Attributes: ``name`` (its config id), ``Params`` (the frozen dataclass of its parameters,
    validated on construction), ``default_features`` (the observation when the user
    names none), ``n_uniforms`` (uniform numbers it consumes per environment per step, and at
    reset), ``horizon_steps`` (steps per episode), ``dt`` (step length in the market's time
    unit), ``quote_size`` (size of one quote, size units), ``offset_low``/``offset_high`` (the
    bounds of the action's offsets) and ``mid`` (the current mid of each environment).
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    default_features: ClassVar[tuple[str, ...]]
    n: int
    n_uniforms: int
    horizon_steps: int
    dt: float
    quote_size: float
    offset_low: float
    offset_high: float
    mid: np.ndarray

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        """Start new episodes for the environments where ``mask`` is true, using their reset
        uniforms (shape ``(mask.sum(), n_uniforms)``)."""

    def step(
        self,
        bid_offset: np.ndarray,
        ask_offset: np.ndarray,
        uniforms: np.ndarray,
    ) -> MarketStep:
        """Advance every environment by one step.

        Args:
            bid_offset, ask_offset: distances of the quotes from the mid, shape ``(n,)``, in
                the market's offset unit; NaN means no quote on that side.
            uniforms: the step's uniform numbers, shape ``(n, n_uniforms)``.
        """

    def params(self) -> dict[str, Any]:
        """The model's parameters by name (for policies that may know them, and for logs)."""
