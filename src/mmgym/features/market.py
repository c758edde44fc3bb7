"""Observation features of the market: the order book, the order flow and volatility.

Each wraps a streaming estimator of :mod:`mmgym.features.book`, :mod:`~mmgym.features.flow`
or :mod:`~mmgym.features.volatility` (``queue_pressure``, ``avg_trade_size`` and
``spread_zscore`` keep their own :class:`~mmgym.features.flow.RollingSum`; ``depth_ratio``,
like ``imbalance``, reads the current book only) and normalises its value to order one, as
documented per feature. Features marked ``needs_book`` read the order book and trades of the
step record (:class:`mmgym.markets.LOBStep`) and are available on markets that have a book;
the others only read the mid.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mmgym.features.base import Feature, FeatureInputs
from mmgym.features.book import microprice, safe_ratio
from mmgym.features.flow import VPIN, CumulativeDelta, OrderFlowImbalance, RollingSum, TradeRate
from mmgym.features.kernels import (
    depth_imbalance,
    depth_ratio,
    queue_pressure,
    spread_zscore,
    window_log_return,
)
from mmgym.features.volatility import GarmanKlassVolatility, RealizedVolatility
from mmgym.markets.base import Market
from mmgym.validation import check_number


class StreamingFeature(Feature):
    """A feature backed by a streaming estimator (``self.estimator``), 0 after a reset."""

    estimator: Any

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        self.estimator.reset(mask)
        self.out[mask] = 0.0


class MidVolatility(StreamingFeature):
    """A volatility estimator of the mid, scaled by ``self.scale`` into bps per √second."""

    scale: float

    def update(self, inputs: FeatureInputs) -> None:
        self.estimator.update(inputs.market.mid, out=self._value)
        np.multiply(self._value, self.scale, out=self.out)


class Imbalance(Feature):
    """Depth imbalance of the best ``levels`` levels, (B − A)/(B + A), in [−1, 1] (0 for an
    empty book): :func:`~mmgym.features.book.book_imbalance` on the step record's
    ``(2, L, n)`` depth."""

    name: ClassVar[str] = "imbalance"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = -1.0
    high: ClassVar[float] = 1.0

    def __init__(self, out: np.ndarray, market: Market, levels: int = 3) -> None:
        super().__init__(out, market)
        self.levels = check_number("imbalance.levels", levels, low=1, integer=True)

    def update(self, inputs: FeatureInputs) -> None:
        depth_imbalance(inputs.market.step_record.depth, self.levels, self.out)


class OFI(StreamingFeature):
    """Order-flow imbalance of the best quotes (Cont, Kukanov & Stoikov 2014) summed over the
    last ``window`` steps and divided by the average best-level depth over them
    (dimensionless: the net flow in "queues"); see
    :class:`~mmgym.features.flow.OrderFlowImbalance`."""

    name: ClassVar[str] = "ofi"
    needs_book: ClassVar[bool] = True

    def __init__(self, out: np.ndarray, market: Market, window: int = 50) -> None:
        super().__init__(out, market)
        window = check_number("ofi.window", window, low=1, integer=True)
        self.estimator = OrderFlowImbalance(len(out), window, normalize=True)

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        self.estimator.update(rec.best[0], rec.depth[0, 0], rec.best[1], rec.depth[1, 0],
                              out=self._value)
        self.out[:] = self._value


class VPINFeature(StreamingFeature):
    """VPIN (Easley, López de Prado & O'Hara 2012): mean |buy − sell| / bucket volume over
    the last ``n_buckets`` volume buckets of ``bucket_volume`` (size units), trades
    classified by bulk volume classification of each step's mid change; in [0, 1]. See
    :class:`~mmgym.features.flow.VPIN`."""

    name: ClassVar[str] = "vpin"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def __init__(
        self,
        out: np.ndarray,
        market: Market,
        bucket_volume: float = 0.5,
        n_buckets: int = 10,
        sigma_window: int = 50,
    ) -> None:
        super().__init__(out, market)
        self.estimator = VPIN(
            len(out),
            check_number("vpin.bucket_volume", bucket_volume, low=0, low_open=True),
            check_number("vpin.n_buckets", n_buckets, low=1, integer=True),
            check_number("vpin.sigma_window", sigma_window, low=2, integer=True),
        )

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        self.estimator.update(rec.mid, rec.buy_volume + rec.sell_volume, out=self._value)
        self.out[:] = self._value


class Volatility(MidVolatility):
    """Realized volatility: the std of log mid returns over the last ``window`` steps, in
    basis points per √second (σ_step·10⁴/√dt). See
    :class:`~mmgym.features.volatility.RealizedVolatility`."""

    name: ClassVar[str] = "volatility"
    low: ClassVar[float] = 0.0

    def __init__(self, out: np.ndarray, market: Market, window: int = 50) -> None:
        super().__init__(out, market)
        window = check_number("volatility.window", window, low=2, integer=True)
        self.estimator = RealizedVolatility(len(out), window)
        self.scale = 1e4 / math.sqrt(market.dt)

class GarmanKlass(MidVolatility):
    """Garman–Klass (1980) volatility of the mid on bars of ``bar_steps`` steps, averaged
    over the last ``n_bars`` bars, in basis points per √second. See
    :class:`~mmgym.features.volatility.GarmanKlassVolatility`."""

    name: ClassVar[str] = "garman_klass"
    low: ClassVar[float] = 0.0

    def __init__(self, out: np.ndarray, market: Market, bar_steps: int = 10,
                 n_bars: int = 10) -> None:
        super().__init__(out, market)
        bar_steps = check_number("garman_klass.bar_steps", bar_steps, low=1, integer=True)
        n_bars = check_number("garman_klass.n_bars", n_bars, low=1, integer=True)
        self.estimator = GarmanKlassVolatility(len(out), bar_steps, n_bars)
        self.scale = 1e4 / math.sqrt(bar_steps * market.dt)

class MidReturn(Feature):
    """The mid's log return over the last ``window`` steps (fewer since the reset), in basis
    points: ln(mid_t / mid_{t−window})·10⁴, 0 at the reset; kept exactly, from a ring of
    each environment's last ``window + 1`` log mids. Momentum of one asset, and in a
    multi-asset market the lead of another's (:mod:`mmgym.markets.multi`)."""

    name: ClassVar[str] = "mid_return"

    def __init__(self, out: np.ndarray, market: Market, window: int = 20) -> None:
        super().__init__(out, market)
        window = check_number("mid_return.window", window, low=1, integer=True)
        self._ring = np.zeros((window + 1, len(out)))
        self._age = np.zeros(len(out), dtype=np.int64)

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        self._ring[0, mask] = np.log(inputs.market.mid[mask])
        self._age[mask] = 0
        self.out[mask] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        window_log_return(inputs.market.mid, self._ring, self._age, self.out)


class Microprice(Feature):
    """Weighted mid minus mid, in ticks (positive: the bid queue is the heavier one)."""

    name: ClassVar[str] = "microprice"
    needs_book: ClassVar[bool] = True

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        best, top = rec.best[:, None, :], rec.depth[:, :1]
        microprice(best[0].T, top[0].T, best[1].T, top[1].T, out=self._value)
        self._value -= rec.mid
        np.divide(self._value, inputs.market.p.tick, out=self.out)


class Spread(Feature):
    """Best ask minus best bid, in ticks (≥ 1)."""

    name: ClassVar[str] = "spread"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        best = inputs.market.step_record.best
        np.subtract(best[1], best[0], out=self._value)
        np.divide(self._value, inputs.market.p.tick, out=self.out)


class TradeArrivalRate(StreamingFeature):
    """Market orders per second over the last ``window`` steps."""

    name: ClassVar[str] = "trade_rate"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = 0.0

    def __init__(self, out: np.ndarray, market: Market, window: int = 50) -> None:
        super().__init__(out, market)
        window = check_number("trade_rate.window", window, low=1, integer=True)
        self.estimator = TradeRate(len(out), window, measure="count")
        self.scale = 1.0 / market.dt

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        self.estimator.update(rec.trades, rec.buy_volume + rec.sell_volume, out=self._value)
        np.multiply(self._value, self.scale, out=self.out)


class CumulativeDeltaFeature(StreamingFeature):
    """Buy minus sell market-order volume since the episode start (aggressor-signed), in
    units of the position limit (``max_inventory``)."""

    name: ClassVar[str] = "cumulative_delta"
    needs_book: ClassVar[bool] = True

    def __init__(self, out: np.ndarray, market: Market) -> None:
        super().__init__(out, market)
        self.estimator = CumulativeDelta(len(out))

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        self.estimator.update(rec.buy_volume, rec.sell_volume, out=self._value)
        np.divide(self._value, inputs.max_inventory, out=self.out)


class DepthRatio(Feature):
    """Share of the visible book's volume that lies within the best ``levels`` price levels,
    both sides pooled, dimensionless, in [0, 1] (0 for an empty book):

        D_k = (B_k + A_k) / (B_L + A_L),    B_k = Σ_{j<k} depth[0, j],  A_k = Σ_{j<k} depth[1, j],

    with ``k = levels`` and ``L`` the levels of the step record's ``(2, L, n)`` depth (level
    ``j`` is ``j`` ticks from each side's best, an empty level counts 0, the agent's orders
    are excluded): a point of the normalised cumulative depth profile. Unlike ``imbalance``,
    which compares the two sides, it compares the touch with the book behind it. A low value
    is a thin touch in front of a deep book: a market order walks further per unit size, so
    a quote at the touch is cheaper to run through and the price moves more per trade; a high
    value is liquidity piled at the touch. The average profile is hump-shaped, thinner at the
    best quotes than a few ticks behind them (Biais, Hillion & Spatt 1995, "An empirical
    analysis of the limit order book and the order flow in the Paris Bourse", Journal of
    Finance 50(5), 1655–1689; Bouchaud, Mézard & Potters 2002, "Statistical properties of
    stock order books: empirical results and models", Quantitative Finance 2(4), 251–256), so
    the feature's typical level depends on the market and on ``L``; what informs is its
    movement about that level.

    Args:
        levels: ``k``, levels from the best counted as near the touch, in [1, L − 1].
    """

    name: ClassVar[str] = "depth_ratio"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def __init__(self, out: np.ndarray, market: Market, levels: int = 5) -> None:
        super().__init__(out, market)
        book_levels = market.step_record.depth.shape[1]
        self.levels = check_number("depth_ratio.levels", levels, low=1, high=book_levels - 1,
                                   integer=True)

    def update(self, inputs: FeatureInputs) -> None:
        depth_ratio(inputs.market.step_record.depth, self.levels, self._value)
        self.out[:] = self._value


class QueuePressure(Feature):
    """Rate of change of the best-level queue difference, in best-level queues per second
    (the market's time unit):

        P_t = (Q_t − Q_{t−c}) / (c·dt·D̄_t),    Q = q^b − q^a,

    where ``q^b`` (``q^a``) is the volume at the best bid (ask) after a step (level 0 of the
    step record's depth, the agent's orders excluded), ``c = min(steps since the reset,
    window)`` (``Q_{t−c}`` is the reset book's while fewer than ``window`` steps have passed)
    and ``D̄_t`` the mean of ``(q^b + q^a)/2`` over the books after those ``c`` steps (the
    scale of the ``ofi`` feature), so ``c·D̄_t = Σ (q^b + q^a)/2``. 0 at the reset and while
    that sum is 0. Positive: the bid queue grows against the ask queue.

    "The volume at the best level" is the volume at whatever price is best when the book is
    seen: when the best price moves (a queue emptied by trades or cancellations, or a new
    level inside the spread), ``Q`` compares the new best queue with the old one, a
    difference of snapshots. OFI (Cont, Kukanov & Stoikov 2014) instead counts order-flow
    events, a whole new queue at a better price as inflow; the two agree while the best
    prices stay put. Cont & de Larrard (2013), "Price dynamics in a Markovian limit order
    market", SIAM Journal on Financial Mathematics 4(1), 1–25: the price moves when a best
    queue depletes, so a queue shrinking fast against the other signals a move its way (a
    falling ``P``: the bid queue depleting, the price about to tick down).

    Args:
        window: ``w``, steps over which the change is taken, ``>= 1``.
    """

    name: ClassVar[str] = "queue_pressure"
    needs_book: ClassVar[bool] = True

    def __init__(self, out: np.ndarray, market: Market, window: int = 10) -> None:
        super().__init__(out, market)
        window = check_number("queue_pressure.window", window, low=1, integer=True)
        n = len(out)
        self.dt = float(market.dt)
        self._sums = RollingSum(n, window, 1)
        self._values = np.zeros((1, n))
        self._ring = np.zeros((window, n))  # Q of the last window steps, at the sums' slots
        self._start = np.zeros(n)  # Q of the reset book

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        top = inputs.market.step_record.depth[:, 0]
        self._start[mask] = top[0, mask] - top[1, mask]
        self._sums.reset(mask)
        self._value[mask] = 0.0
        self.out[mask] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        queue_pressure(inputs.market.step_record.depth, self._ring, self._start, self._values,
                       *self._sums.state(), self.dt, self._value)
        self._sums.advance()
        self.out[:] = self._value


class AvgTradeSize(Feature):
    """Average market-order size over the last ``window`` steps, in units of the agent's order
    size per side (the market's ``quote_size``), ``>= 0``:

        S_t = Σ (V^buy + V^sell) / Σ N / quote_size

    over the last ``c = min(steps since the reset, window)`` steps, ``V^buy``, ``V^sell`` the
    aggressor volume of a step (the agent's fills included) and ``N`` its number of market
    orders; 0 when the window holds no market order. ``S = 1``: the average market order is
    as large as the agent's quote, ``S > 1``: it would take the whole quote. Easley & O'Hara
    (1987), "Price, trade size, and information in securities markets", Journal of Financial
    Economics 19(1), 69–90: informed traders prefer large orders, so a larger average size
    signals more adverse selection for the market maker.

    Args:
        window: steps summed, ``>= 1``.
    """

    name: ClassVar[str] = "avg_trade_size"
    needs_book: ClassVar[bool] = True
    low: ClassVar[float] = 0.0

    def __init__(self, out: np.ndarray, market: Market, window: int = 50) -> None:
        super().__init__(out, market)
        window = check_number("avg_trade_size.window", window, low=1, integer=True)
        n = len(out)
        self.quote_size = float(market.quote_size)
        self._sums = RollingSum(n, window, 2)
        self._values = np.zeros((2, n))  # volume, market orders

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        self._sums.reset(mask)
        self._value[mask] = 0.0
        self.out[mask] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        np.add(rec.buy_volume, rec.sell_volume, out=self._values[0])
        self._values[1] = rec.trades
        self._sums.push(self._values)
        safe_ratio(self._sums.sums[0], self._sums.sums[1], out=self._value)
        self._value /= self.quote_size
        self.out[:] = self._value


class SpreadZScore(Feature):
    """The spread against its recent level, dimensionless:

        z_t = (s_t − mean(s)) / sd(s)

    over the spreads after the last ``c = min(steps since the reset, window)`` steps, the
    current one included (the reset book's spread is not a sample), ``s`` the best ask minus
    the best bid in whole ticks (rounded to the nearest: the book markets' prices lie on the
    tick grid, the rounding removes the float noise of their representation) and ``sd`` the
    sample standard deviation (ddof = 1, as ``pandas.Series.rolling(window).std()``). 0 while
    ``c < 2`` and when the window's spreads are all equal (computed exactly for spreads below
    9000 ticks); ``|z| <= (c − 1)/√c``. A spread wide against its recent level marks a book
    depleted by a liquidity shock or an information event, which new limit orders refill
    inside the spread over time (Biais, Hillion & Spatt 1995, Journal of Finance 50(5),
    1655–1689; the resiliency of Foucault, Kadan & Kandel 2005, "Limit order book as a market
    for liquidity", Review of Financial Studies 18(4), 1171–1217).

    Args:
        window: spreads in the window, in [2, 10000].
    """

    name: ClassVar[str] = "spread_zscore"
    needs_book: ClassVar[bool] = True

    def __init__(self, out: np.ndarray, market: Market, window: int = 100) -> None:
        super().__init__(out, market)
        window = check_number("spread_zscore.window", window, low=2, high=10_000, integer=True)
        n = len(out)
        self.tick = float(market.p.tick)
        self._sums = RollingSum(n, window, 2)
        self._values = np.zeros((2, n))  # s, s²

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        self._sums.reset(mask)
        self._value[mask] = 0.0
        self.out[mask] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        spread_zscore(inputs.market.step_record.best, self.tick, self._values,
                      *self._sums.state(), self._value)
        self._sums.advance()
        self.out[:] = self._value
