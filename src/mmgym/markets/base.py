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
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np


@dataclass(slots=True)
class MarketStep:
    """What happened in one step, one entry per environment.

    Sizes are in the market's size unit (``as2008``: shares, one per fill), prices and
    notionals in its price unit. Paired arrays have shape ``(2, n)``: row 0 is the agent's
    bid side, row 1 its ask side. The arrays may be reused by the market on its next step.

    Attributes:
        mid_before: ``(n,)`` mid price against which the quotes were set (start of the step).
        mid: ``(n,)`` mid price at the end of the step.
        prices: the agent's quotes in force during the step (NaN: no quote on that side).
        fills: size filled on each side during the step (>= 0).
        notional: sum of price x size of those fills (0 when none).
        taker_fills: the part of ``fills`` that took liquidity (the agent's order crossed the
            opposite side and traded at once: taker fees), the rest made it (maker fees);
            zeros in a market where the agent never takes.
        taker_notional: the part of ``notional`` of those taker fills.
    """

    mid_before: np.ndarray
    mid: np.ndarray
    prices: np.ndarray
    fills: np.ndarray
    notional: np.ndarray
    taker_fills: np.ndarray
    taker_notional: np.ndarray

    @classmethod
    def empty(cls, mid: np.ndarray) -> MarketStep:
        """A record for ``len(mid)`` environments whose end-of-step mid is the array ``mid``."""
        n = len(mid)
        return cls(np.empty(n), mid, np.empty((2, n)), np.zeros((2, n)), np.zeros((2, n)),
                   np.zeros((2, n)), np.zeros((2, n)))


@dataclass(slots=True)
class LOBStep(MarketStep):
    """:class:`MarketStep` plus the book and the trades: the record of the book markets
    (``lob``, ``wide``, ``replay``).

    Attributes:
        best: ``(2, n)`` best bid and ask after the step, price units.
        depth: ``(2, levels, n)`` volume per level after the step (bid side, ask side; level 0
            is the best), size units; the agent's orders excluded.
        buy_volume, sell_volume: ``(n,)`` volume of market buys / sells executed this step
            (aggressor side), size units, the agent's fills included.
        trades: ``(n,)`` number of market orders this step.
        book_traded: ``(2, n)`` decrease of each side's book volume (the agent's orders
            excluded) during the market-order phase of the step, size units: what trades
            took from the background queues, and the agent's own taker fills took from it
            (a bookkeeping check: a side's aggressor volume equals this plus the agent's maker
            fills on that side).
        event: ``(n,)`` whether an information event is under way during the step: the
            fundamental at least ``informed_gap_ticks`` from the mid, informed traders active
            (ground truth, for tests and diagnostics; not an observable feature).
    """

    best: np.ndarray
    depth: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    trades: np.ndarray
    book_traded: np.ndarray
    event: np.ndarray


class BookRecord(NamedTuple):
    """The arrays of a :class:`LOBStep` that a book market's compiled step fills, passed to
    it as one tuple (:meth:`of`)."""

    mid_before: np.ndarray
    prices: np.ndarray
    fills: np.ndarray
    notional: np.ndarray
    best: np.ndarray
    depth: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    trades: np.ndarray
    book_traded: np.ndarray
    taker_fills: np.ndarray
    taker_notional: np.ndarray

    @classmethod
    def of(cls, rec: LOBStep) -> BookRecord:
        """The arrays of the step record ``rec``."""
        return cls(*(getattr(rec, name) for name in cls._fields))


class LatentFundamental:
    """The latent value of a book market whose state holds a ``fundamental`` in ticks
    (``lob``, ``wide``; ``p.tick`` its tick size): what :mod:`mmgym.markets.multi` reads and
    moves to tie several assets."""

    fundamental: np.ndarray
    p: Any

    def value(self) -> np.ndarray:
        """The latent value of each environment, the fundamental, price units (a new array)."""
        return self.fundamental * self.p.tick

    def shift_value(self, delta: np.ndarray) -> None:
        """Move each environment's fundamental by ``delta`` (price units): a value move from
        outside the book (:mod:`mmgym.markets.multi`), acted on from the next step as the
        market's own information events are."""
        self.fundamental += delta / self.p.tick


class Market(Protocol):
    """A batch of ``n`` market models stepped together.

    Attributes:
        name: its config id.
        Params: the frozen dataclass of its parameters, validated on construction.
        has_book: whether its step record is a :class:`LOBStep` with the
            book and the trades.
        default_max_inventory: the position limit when the user sets none, size units.
        default_features: the observation when the user names none.
        n_uniforms: uniform numbers it consumes per environment per step (and at reset).
        horizon_steps: steps per episode.
        dt: step length, in the market's time unit.
        quote_size: the agent's total order size per side, size units.
        offset_low, offset_high: the bounds of the action's offsets.
        mid: the current mid of each environment, price units.
        step_record: the :class:`MarketStep` that :meth:`step` fills and returns, the same
            object every step.

    Optional: ``default_feature_params``, parameters of features by name that suit the
    market (the user's ``feature_params`` override them key by key); ``legs``, the
    single-asset markets of a multi-asset one (:mod:`mmgym.markets.multi`).
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    default_features: ClassVar[tuple[str, ...]]
    default_max_inventory: ClassVar[float]
    has_book: ClassVar[bool]
    n: int
    n_uniforms: int
    horizon_steps: int
    dt: float
    quote_size: float
    offset_low: float
    offset_high: float
    mid: np.ndarray
    step_record: MarketStep

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        """Start new episodes for the environments where ``mask`` is true, using their reset
        uniforms (shape ``(n_uniforms, mask.sum())``)."""

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> MarketStep:
        """Advance every environment by one step.

        Args:
            offsets: ``(2, n)`` distances of the bid (row 0) and ask (row 1) from the mid, in
                the market's offset unit, positive away from the mid; NaN means no quote.
            uniforms: the step's uniform numbers, shape ``(n_uniforms, n)``.
        """

    def params(self) -> dict[str, Any]:
        """The model's parameters by name (for policies that may know them, and for logs)."""
