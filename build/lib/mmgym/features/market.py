"""Observation features of the market: the order book, the order flow and volatility.

Each wraps a streaming estimator of :mod:`mmgym.features.book`, :mod:`~mmgym.features.flow`
or :mod:`~mmgym.features.volatility` and normalises its value to order one, as documented per
feature. Features marked ``needs_book`` read the order book and trades of the step record
(:class:`mmgym.markets.LOBStep`) and are available on markets that have a book; the others
only read the mid.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mmgym.features.base import Feature, FeatureInputs
from mmgym.features.book import microprice
from mmgym.features.flow import VPIN, CumulativeDelta, OrderFlowImbalance, TradeRate
from mmgym.features.kernels import depth_imbalance
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
