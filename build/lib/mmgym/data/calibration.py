"""Calibrate the market models and the Avellaneda–Stoikov baseline to an event file.

``mmgym-calibrate btc.parquet [--name N] [-o conf/market] [--klines btc.jsonl.gz]`` reads an
event table (:mod:`mmgym.data.schema`), rebuilds the mid and estimates, printing each with its
quality:

**Volatility σ of the mid.** *Realized volatility* (Andersen & Bollerslev 1998): the mid
sampled every ``bar_seconds`` (the last mid at or before each grid time), increments
``r_i``, ``σ² = Σ r_i² / (N·Δ)``, in price units per √s. *Garman–Klass* (Garman & Klass,
"On the estimation of security price volatilities from historical data", J. Business 53(1),
1980, the estimator of their eq. (18), σ̂²₅ in their notation, as usually quoted): on OHLC bars
of the mid of length ``B`` = ``gk_bar_seconds``, with ``u = ln(H/O)``, ``d = ln(L/O)``,
``c = ln(C/O)``, ``σ²·B = E[½(u − d)² − (2 ln 2 − 1)c²]``. H and L come from the recorded
mid updates, a discrete sample of the path, so GK reads a little low when updates are sparse
within a bar. Both are given in price units per √s and in bps per √s (÷ mean mid × 10⁴).

**Garman–Klass on the recording's klines** (``--klines rec.jsonl.gz``: the recording of
:mod:`mmgym.data.recorder` the event file was imported from): the same estimator
(:func:`garman_klass_vol`, ``B`` = 60 s) on the exchange's one-minute candles of trade prices
(:func:`mmgym.data.recorder.read_klines`) that are complete inside the event file's span
(:func:`complete_klines` states the rule), × the mean mid, in price units and bps per √s. It
is a report beside the mid's estimates; the baseline's σ stays the realized one, because
(i) klines are trade prices, which bounce between bid and ask (Roll, "A simple implicit
measure of the effective bid-ask spread", J. Finance 39(4), 1984), so H − L can span up to a
spread more than the mid's range, a bias that grows as bars shorten and spreads widen, and a
minute with few trades samples its path sparsely; (ii) one-minute bars over a 10-minute
recording give at most 10 bars, and σ̂ from n bars has a relative standard error of about
½·√0.27/√n = 0.26/√n (Garman & Klass: the variance of one bar's estimate of σ²B is
0.27(σ²B)²): 8% for 10 bars, against 1/√(2·600) ≈ 3% for the realized σ of 600 one-second
increments of a Brownian mid.

**Fill intensity λ(δ) = A·e^(−kδ)** (the model of Avellaneda & Stoikov 2008, section 2.2,
and of Guéant, *The Financial Mathematics of Market Liquidity*, 2016; the fit of ln λ on the
distance by least squares as in hftbacktest's GLFT market-making tutorial): trades of one
aggressor side arriving together form one market order (:func:`market_orders`); its *reach*
is its furthest price beyond the mid that prevailed before it (a buy at price p reaches
``p − mid``: it would fill an ask quoted at ``mid + δ`` for every δ ≤ p − mid; a sell
``mid − p``). For a grid of distances δ (by default 0.5, 1.5, ..., 14.5 ticks: the levels of
a one-tick-spread book near the touch, where the agent quotes), λ(δ) = number of orders of
reach ≥ δ / (2·T), per side per second, both sides pooled; ``ln λ`` is fitted on δ by least
squares over the δ with at least ``min_count`` orders, giving A (1/s), k (1/price) and R² of
the fit (its quality).

**The book's touch** (:func:`touch_stats`): the rebuilt book sampled every ``bar_seconds``
(the book after every message at or before each grid time, the grid of the realized
volatility), times with a one-sided or empty book left out: the spread in ticks (mean and
the 10/25/50/75/90% quantiles, numpy's default linear interpolation) and the size at the best
bid and at the best ask (median and mean, size units). Sampling in time weighs each state by
how long it lasted, not by how many messages it saw. For a source that shows only the best
``L`` levels (LOBSTER, ``mmgym.levels``) the rebuilt book is those levels, so its best level
per side is the source's level 1: every estimate here reads the best levels only (the mid,
the spread, the sizes at the best, the reaches of market orders), and the limit increments
of :func:`lob_params` count only a level's changes while it stays shown.

**Trades and mid returns** (:func:`trade_stats`, :func:`mid_returns`): the trade
(execution) rate, both sides, per second, and the mean and median trade size, beside the
market-order rate (trades of one aggressor within 1 ms taken as one order,
:func:`market_orders`), both counted after the first mid; the 1-s increments of the sampled
mid in ticks, their standard deviation (the realized σ at 1-s bars in ticks/√s up to the
squared mean increment) and their lag-1 autocorrelation (negative when the mid bounces).

**The ``lob`` market's parameters** (:class:`~mmgym.markets.lob.LOBParams`), each estimator
documented in :func:`lob_params`; what the data cannot give is left at the market's default.
The market configs written from a calibration (``mmgym-calibrate``) are the training kit's
(:mod:`mmgym.kit.calibrate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmgym.data.book import BookHistory, rebuild_book
from mmgym.data.schema import DELTA, TRADE
from mmgym.data.store import DataError

GK_LOG_COEF = 2.0 * math.log(2.0) - 1.0
"""The coefficient of the close-to-open term of Garman–Klass, 2 ln 2 − 1 ≈ 0.386."""
QUOTE_LOTS = 10
"""The agent's order size in lots (the ``lob`` default: 0.01 BTC = 10 lots of 0.001)."""
INVENTORY_ORDERS = 50
"""The position limit in orders (the ``lob`` default: 0.5 BTC = 50 orders of 0.01)."""
KLINE_SECONDS = 60.0
"""The length of the recorder's klines (ccxt timeframe ``1m``), s."""
REPLAY_EPISODE_SECONDS = 60.0
"""The episode length of the replay config :func:`mmgym.kit.calibrate.replay_config`
writes, s."""
STEP_SECONDS = 0.1
"""The step of the configs written (the ``lob`` and ``replay`` defaults), s."""
REPLAY_SPLIT_FRACTION = 0.7
"""The training range of that config: the first 70% of the recording's time span."""
SPREAD_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
"""The quantiles of the time-sampled spread that :func:`touch_stats` gives."""
RETURN_SECONDS = 1.0
"""The interval of the mid returns of :func:`mid_returns`, s."""


def mid_series(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The mid after each book update of ``events``: ``(ts_ns, mid)``.

    The book is rebuilt by :func:`mmgym.data.book.rebuild_book` (a snapshot replaces the
    book, a delta sets its level's size, 0 removes it). After the last book message of each
    ``ts_ns`` the mid ``(best bid + best ask)/2`` is taken when both sides have a level and
    that message did not cross the book (a crossed or one-sided book gives no point; the
    stale levels of a crossed book are removed by the rebuilder's rule, which the importers
    have already applied to their output).
    """
    return book_mid(rebuild_book(events))


def book_mid(history: BookHistory) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mid_series` of a rebuilt book: ``(ts_ns, mid)``, ns and price units."""
    ts = history.ts_ns
    last_of_ts = np.r_[ts[1:] != ts[:-1], True] if len(ts) else np.zeros(0, dtype=bool)
    ok = (last_of_ts & ~history.crossed & np.isfinite(history.bid_price)
          & np.isfinite(history.ask_price))
    return ts[ok].astype(np.int64), 0.5 * (history.bid_price[ok] + history.ask_price[ok])


def _sampled(ts: np.ndarray, mid: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The mid at each grid time: the last update at or before it (previous tick)."""
    return mid[np.searchsorted(ts, grid, side="right") - 1]


def sample_grid(ts: np.ndarray, bar_seconds: float) -> np.ndarray:
    """The times ``ts[0] + i·bar_seconds`` (ns) up to ``ts[-1]``: the sampling grid."""
    return np.arange(ts[0], ts[-1] + 1, round(bar_seconds * 1e9), dtype=np.int64)


def realized_vol(ts: np.ndarray, mid: np.ndarray, bar_seconds: float) -> tuple[float, int]:
    """Realized volatility of the mid (price/√s) from increments over ``bar_seconds``, and
    the number of increments: ``sqrt(Σ r² / (N·Δ))``."""
    r = np.diff(_sampled(ts, mid, sample_grid(ts, bar_seconds)))
    return math.sqrt(np.sum(r**2) / (r.size * bar_seconds)), r.size


@dataclass
class MidReturns:
    """The increments of the mid sampled every :data:`RETURN_SECONDS` (ticks)."""

    count: int
    std_ticks: float  # ticks per RETURN_SECONDS: the standard deviation (about the mean)
    autocorr: float  # lag-1 autocorrelation, dimensionless; NaN when the mid never moved


def mid_returns(ts: np.ndarray, mid: np.ndarray, tick: float,
                seconds: float = RETURN_SECONDS) -> MidReturns:
    """The increments ``r_i`` of the previous-tick mid on :func:`sample_grid` of ``seconds``,
    in ticks: their standard deviation ``sqrt(mean((r − r̄)²))`` and lag-1 autocorrelation
    ``Σ (r_i − r̄)(r_{i+1} − r̄) / Σ (r_i − r̄)²`` (the sample autocorrelation of Box &
    Jenkins)."""
    r = np.diff(_sampled(ts, mid, sample_grid(ts, seconds))) / tick
    if r.size < 2:
        raise DataError(f"mid returns: {r.size} increments of {seconds:g} s; need 2")
    dev = r - r.mean()
    total = float(np.sum(dev**2))
    autocorr = float(np.sum(dev[:-1] * dev[1:]) / total) if total > 0 else math.nan
    return MidReturns(int(r.size), math.sqrt(total / r.size), autocorr)


@dataclass
class Touch:
    """The best levels of the rebuilt book sampled in time (:func:`touch_stats`)."""

    samples: int  # grid times with a two-sided book
    spread_mean: float  # ticks
    spread_quantiles: dict[float, float]  # quantile (of SPREAD_QUANTILES) → ticks
    bid_size_median: float  # size units
    bid_size_mean: float  # size units
    ask_size_median: float  # size units
    ask_size_mean: float  # size units

    @property
    def spread_median(self) -> float:
        """The median spread, ticks."""
        return self.spread_quantiles[0.5]


def touch_stats(history: BookHistory, grid: np.ndarray, tick: float) -> Touch:
    """The spread (ticks) and the sizes at the best bid and ask (size units) of the book
    after every message at or before each time of ``grid`` (ns), over the times at which the
    book has both sides; see the module doc."""
    top = history.top_at(grid)
    two_sided = np.isfinite(top["bid_price"]) & np.isfinite(top["ask_price"])
    top = top[two_sided.to_numpy()]
    if len(top) == 0:
        raise DataError("touch: no sample time with a two-sided book")
    spread = ((top["ask_price"] - top["bid_price"]) / tick).to_numpy()
    bid, ask = top["bid_size"].to_numpy(), top["ask_size"].to_numpy()
    return Touch(len(top), float(spread.mean()),
                 {q: float(np.quantile(spread, q)) for q in SPREAD_QUANTILES},
                 float(np.median(bid)), float(bid.mean()), float(np.median(ask)),
                 float(ask.mean()))


@dataclass
class Trades:
    """The recorded trades (executions) after the first mid (:func:`trade_stats`)."""

    count: int
    rate: float  # trades per second, both sides
    mean_size: float  # size units
    median_size: float  # size units


def trade_stats(events: pd.DataFrame, first_ns: int, seconds: float) -> Trades:
    """The trades after ``first_ns`` (the first mid, ns; as :func:`market_orders` counts
    orders): their number, rate over ``seconds`` (1/s, both sides), mean and median size
    (size units)."""
    trades = events[(events["kind"] == TRADE) & (events["ts_ns"] > first_ns)]
    size = trades["size"].to_numpy()
    if size.size == 0:
        raise DataError("trades: none after the first mid")
    return Trades(int(size.size), float(size.size / seconds), float(size.mean()),
                  float(np.median(size)))


def ohlc_bars(ts: np.ndarray, mid: np.ndarray, bar_seconds: float) -> pd.DataFrame:
    """Complete OHLC bars of the mid of ``bar_seconds`` from its first update: the open is the
    mid at the bar's start, high/low over the open and the updates inside, the close the mid
    at its end."""
    step = round(bar_seconds * 1e9)
    edges = np.arange(ts[0], ts[-1] + 1, step, dtype=np.int64)
    at_edges = _sampled(ts, mid, edges)
    inside = pd.Series(mid).groupby((ts - ts[0]) // step)
    n = edges.size - 1
    high = inside.max().reindex(range(n)).to_numpy()
    low = inside.min().reindex(range(n)).to_numpy()
    o, c = at_edges[:-1], at_edges[1:]
    return pd.DataFrame({"open": o, "high": np.fmax(np.fmax(high, o), c),
                         "low": np.fmin(np.fmin(low, o), c), "close": c})


def garman_klass_vol(bars: pd.DataFrame, bar_seconds: float) -> float:
    """Garman–Klass volatility (1/√s, log-return units) from OHLC bars of ``bar_seconds``:
    ``sqrt(mean(½ ln(H/L)² − (2 ln 2 − 1) ln(C/O)²) / B)``."""
    hl = np.log(bars["high"] / bars["low"])
    co = np.log(bars["close"] / bars["open"])
    return math.sqrt(np.mean(0.5 * hl**2 - GK_LOG_COEF * co**2) / bar_seconds)


def _utc(ts_ns: int) -> str:
    """A time in ns since the epoch as ISO 8601 UTC."""
    return pd.Timestamp(ts_ns, unit="ns", tz="UTC").isoformat()


def complete_klines(klines: pd.DataFrame, first_ns: int, last_ns: int,
                    source: str = "klines") -> pd.DataFrame:
    """The recorded one-minute candles complete inside an event file's span, checked.

    A candle ``[t, t + 60 s)`` (``t`` its open time, ``ts_ns``) is used when it lies inside
    ``[first_ns, last_ns]`` (the first and last event, on the same exchange clock as
    ``mmgym-import ccxt`` writes by default) and it is not the newest candle of the recording.
    The exchange returns the minute in progress as the newest candle of each reply, so the
    recording's newest candle was still open at its last kline fetch; the span alone does not
    exclude it, since the recorder fetches klines only every ``--kline-every`` s and that
    candle can end before the last event. Every other candle's last version (the one
    :func:`~mmgym.data.recorder.read_klines` keeps) came from a reply that also held a newer
    candle, i.e. after it closed, as long as consecutive replies overlap (the recorder's
    ``fetch_ohlcv`` has no limit, and ccxt then asks Bybit for 200 candles, against a fetch
    every minute).

    Args:
        klines: :func:`~mmgym.data.recorder.read_klines`'s table (``ts_ns`` open time, ns;
            prices in quote currency).
        first_ns, last_ns: the event file's first and last ``ts_ns`` (ns).
        source: the klines' file, for messages.

    Raises:
        DataError: naming ``source`` and the reason, when there are no candles, a candle has
            a price that is not finite > 0, a high below max(open, close) or a low above
            min(open, close) (naming its open time), or fewer than 2 candles are complete
            inside the span.
    """
    if klines.empty:
        raise DataError(f"{source}: no klines (no ohlcv lines with candles)")
    t = klines["ts_ns"].to_numpy()
    o, h, lo, c = (klines[k].to_numpy() for k in ("open", "high", "low", "close"))
    prices = np.stack([o, h, lo, c], axis=1)
    problems = [
        (~(np.isfinite(prices) & (prices > 0)).all(axis=1), "a price is not finite > 0"),
        (h < np.maximum(o, c), "high below max(open, close)"),
        (lo > np.minimum(o, c), "low above min(open, close)"),
    ]
    for bad, what in problems:
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{source}: candle opened {_utc(int(t[i]))} ({t[i]} ns): {what} "
                            f"(open {o[i]}, high {h[i]}, low {lo[i]}, close {c[i]})")
    length = round(KLINE_SECONDS * 1e9)
    inside = (t >= first_ns) & (t + length <= last_ns) & (t < t.max())
    if inside.sum() < 2:
        raise DataError(f"{source}: {int(inside.sum())} complete 1-min candles inside the event "
                        f"file's span {_utc(first_ns)} to {_utc(last_ns)} (the klines open "
                        f"{_utc(int(t.min()))} to {_utc(int(t.max()))}, the newest still open); "
                        f"need at least 2")
    return klines[inside].reset_index(drop=True)


def market_orders(events: pd.DataFrame, ts: np.ndarray, mid: np.ndarray,
                  gap_ns: int = 1_000_000) -> pd.DataFrame:
    """Market orders: runs of consecutive trades of one aggressor side, each fill within
    ``gap_ns`` of the previous one (the fills of one order walking the book arrive together:
    on the Binance sample 99% within 1.4 ms of each other), after the first mid.

    Columns ``ts_ns`` (the first fill's), ``side``, ``size`` (summed), ``reach`` (price
    units: the furthest fill beyond the mid that prevailed before the first fill, ``price −
    mid`` for buys, ``mid − price`` for sells; negative when it traded on the near side of
    the mid)."""
    trades = events[events["kind"] == TRADE]
    t = trades["ts_ns"].to_numpy()
    side = trades["side"].to_numpy()
    new = np.r_[True, (side[1:] != side[:-1]) | (np.diff(t) > gap_ns)]
    order = np.cumsum(new) - 1
    first = t[new]
    before = np.searchsorted(ts, first, side="left") - 1
    prevailing = mid[np.maximum(before, 0)][order]
    frame = pd.DataFrame({"order": order, "ts_ns": t, "side": side,
                          "size": trades["size"].to_numpy(),
                          "reach": side * (trades["price"].to_numpy() - prevailing)})
    orders = frame.groupby("order", sort=False).agg(
        ts_ns=("ts_ns", "first"), side=("side", "first"), size=("size", "sum"),
        reach=("reach", "max"))
    return orders[before >= 0].reset_index(drop=True)


@dataclass
class IntensityFit:
    """λ(δ) = A·e^(−kδ) fitted by least squares of ln λ on δ (δ in price units)."""

    A: float
    k: float
    r2: float
    deltas: list[float]
    rates: list[float]
    counts: list[int]


def fit_intensity(reach: np.ndarray, seconds: float, deltas: np.ndarray,
                  min_count: int = 30) -> IntensityFit:
    """Fit λ(δ) = A·e^(−kδ) to market orders' reaches (both sides pooled).

    Args:
        reach: each order's reach beyond the prevailing mid (price units).
        seconds: observation time (s); λ is per side: count / (2·seconds).
        deltas: the distances δ (price units, increasing).
        min_count: the fit uses the δ reached by at least this many orders (≥ 2 such δ).
    """
    counts = np.array([(reach >= d).sum() for d in deltas])
    used = counts >= min_count
    if used.sum() < 2:
        raise DataError(f"intensity fit: fewer than 2 distances reached by {min_count} market "
                        f"orders (counts {counts.tolist()} at δ {deltas.tolist()})")
    d, rate = deltas[used], counts[used] / (2.0 * seconds)
    slope, intercept = np.polyfit(d, np.log(rate), 1)
    resid = np.log(rate) - (intercept + slope * d)
    total = np.sum((np.log(rate) - np.log(rate).mean()) ** 2)
    r2 = 1.0 - np.sum(resid**2) / total if total > 0 else 1.0
    return IntensityFit(float(np.exp(intercept)), float(-slope), float(r2), d.tolist(),
                        rate.tolist(), counts[used].tolist())


@dataclass
class Calibration:
    """What :func:`calibrate` estimated (units in the field names or the comments)."""

    source: str
    tick: float  # price units
    lot: float  # size units
    seconds: float  # s, from the first mid to the last event
    mean_mid: float  # price units
    mid_updates: int
    sigma_rv: float  # price/√s
    rv_bar_seconds: float  # s
    rv_increments: int
    sigma_gk: float  # price/√s (GK's log volatility × mean mid)
    gk_bar_seconds: float  # s
    gk_bars: int
    intensity: IntensityFit
    orders_per_side_per_s: float  # market orders, 1/s per side
    mean_order_size: float  # size units
    mean_limit_increment: float | None  # size units; None without deltas
    touch: Touch  # spread (ticks) and sizes at the best (size units), sampled in time
    trades: Trades  # executions: rate (1/s, both sides), mean and median size (size units)
    returns: MidReturns  # 1-s mid increments: std (ticks), lag-1 autocorrelation
    params: dict[str, Any] = field(default_factory=dict)
    sigma_klines: float | None = None  # price/√s (GK of the 1m klines × mean mid); None: none
    kline_bars: int = 0
    klines_source: str | None = None

    def bps(self, sigma: float) -> float:
        """A volatility in price/√s (or a price distance) as bps of the mean mid."""
        return sigma / self.mean_mid * 1e4

    def ticks(self, price: float) -> float:
        """A volatility in price/√s (or a price distance) in ticks."""
        return price / self.tick


def lob_params(events: pd.DataFrame, orders: pd.DataFrame, seconds: float, tick: float,
               lot: float, mean_mid: float) -> tuple[dict[str, Any], float, float, float | None]:
    """The ``lob`` market's parameters estimable from the data, and their raw estimates.

    - ``tick``, ``lot``: the file's metadata; ``s0``: the mean mid, on the tick grid.
    - ``market_rate``: market orders (:func:`market_orders`) per side per second.
      The data do not tell uninformed from informed orders (the PIN model's ε and μ need
      many days of counts, Easley et al. 1996): all of them are taken as ``market_rate`` and
      the information-event parameters (``event_rate``, ``event_jump_ticks``,
      ``informed_rate``, ``informed_gap_ticks``) keep their defaults, so the simulated flow
      exceeds the data's by the informed orders during events.
    - ``market_size_lots``: the mean market order size in lots (the market's sizes are
      geometric with this mean; real sizes are heavier tailed).
    - ``limit_size_lots``: the mean increase of an existing level's size in ``DELTA`` rows,
      in lots (an increase is at least one limit order: an upper estimate of the order size);
      left at the default for snapshot-only data (polled snapshots merge many orders).
    - ``quote_size``: ``QUOTE_LOTS`` lots (the default's 0.01 BTC is 10 lots of 0.001).
    - Not estimable from L2 data without order ids, left at the defaults: ``limit_rate``,
      ``limit_decay``, ``cancel_rate``, ``refill_rate``, ``requote_rate``, ``lean``,
      ``lean_scale_ticks``, and the step ``dt`` and episode length.

    Returns:
        (params, orders per side per second, mean order size, mean limit increment or None)
    """
    rate = len(orders) / (2.0 * seconds)
    mean_size = float(orders["size"].mean())
    book = events[events["kind"] != TRADE]
    previous = book.groupby(["side", "price"], sort=False)["size"].shift(1)
    increase = (book["size"] - previous)[(book["kind"] == DELTA) & (previous > 0)]
    increase = increase[increase > 0]
    mean_increment = float(increase.mean()) if len(increase) else None
    params: dict[str, Any] = {
        "s0": float(round(mean_mid / tick) * tick),
        "tick": float(tick),
        "lot": float(lot),
        "market_rate": round(float(rate), 4),
        "market_size_lots": max(1.0, round(mean_size / lot, 2)),
        "quote_size": float(QUOTE_LOTS * lot),
    }
    if mean_increment is not None:
        params["limit_size_lots"] = max(1.0, round(mean_increment / lot, 2))
    return params, rate, mean_size, mean_increment


def calibrate(
    events: pd.DataFrame,
    tick: float,
    lot: float,
    source: str = "events",
    bar_seconds: float = 1.0,
    gk_bar_seconds: float = 60.0,
    max_delta_ticks: int = 15,
    min_count: int = 30,
    klines: pd.DataFrame | None = None,
    klines_source: str = "klines",
) -> Calibration:
    """Estimate σ, λ(δ) and the ``lob`` parameters from an event table (see the module doc).

    Args:
        events: a table in the event format.
        tick, lot: tick size (quote currency) and lot size (base units).
        source: the name of the data, for messages and the config's comments.
        bar_seconds: the sampling interval of the realized volatility (s).
        gk_bar_seconds: the OHLC bar length of Garman–Klass (s).
        max_delta_ticks: the largest δ of the intensity grid, in ticks.
        min_count: the least number of orders at a δ used in the intensity fit.
        klines: the recording's one-minute klines (:func:`mmgym.data.recorder.read_klines`)
            for Garman–Klass σ on :func:`complete_klines`; None: no such estimate.
        klines_source: the klines' file, for messages and the report.
    """
    history = rebuild_book(events)
    ts, mid = book_mid(history)
    if ts.size < 2:
        raise DataError(f"{source}: fewer than 2 mid prices (a book with both sides)")
    candles = None if klines is None else complete_klines(
        klines, int(events["ts_ns"].iat[0]), int(events["ts_ns"].iat[-1]), klines_source)
    seconds = (max(ts[-1], events["ts_ns"].iat[-1]) - ts[0]) / 1e9
    for name, bar in (("bar_seconds", bar_seconds), ("gk_bar_seconds", gk_bar_seconds)):
        if not (bar > 0 and 2 * bar <= seconds):
            raise DataError(f"{source}: {name} = {bar} s needs 0 < it <= half the data's "
                            f"{seconds:.1f} s")
    sigma_rv, n_rv = realized_vol(ts, mid, bar_seconds)
    bars = ohlc_bars(ts, mid, gk_bar_seconds)
    mean_mid = float(mid.mean())
    sigma_gk = garman_klass_vol(bars, gk_bar_seconds) * mean_mid
    orders = market_orders(events, ts, mid)
    deltas = (np.arange(max_delta_ticks) + 0.5) * tick
    intensity = fit_intensity(orders["reach"].to_numpy(), seconds, deltas, min_count)
    params, rate, mean_size, increment = lob_params(events, orders, seconds, tick, lot,
                                                     mean_mid)
    sigma_klines = (None if candles is None
                    else garman_klass_vol(candles, KLINE_SECONDS) * mean_mid)
    return Calibration(
        source=source, tick=tick, lot=lot, seconds=seconds, mean_mid=mean_mid,
        mid_updates=ts.size, sigma_rv=sigma_rv, rv_bar_seconds=bar_seconds, rv_increments=n_rv,
        sigma_gk=sigma_gk, gk_bar_seconds=gk_bar_seconds, gk_bars=len(bars),
        intensity=intensity, orders_per_side_per_s=rate, mean_order_size=mean_size,
        mean_limit_increment=increment,
        touch=touch_stats(history, sample_grid(ts, bar_seconds), tick),
        trades=trade_stats(events, int(ts[0]), seconds),
        returns=mid_returns(ts, mid, tick), params=params, sigma_klines=sigma_klines,
        kline_bars=0 if candles is None else len(candles),
        klines_source=None if candles is None else klines_source)


def summary(cal: Calibration) -> str:
    """The estimates with their units and quality, one per line."""
    f, touch, trades, ret = cal.intensity, cal.touch, cal.trades, cal.returns
    quantiles = "/".join(f"{q * 100:g}" for q in SPREAD_QUANTILES)
    lines = [
        f"data: {cal.source}: {cal.seconds:.1f} s, {cal.mid_updates} mid updates, mean mid "
        f"{cal.mean_mid:.2f}, tick {cal.tick} (= {cal.bps(cal.tick):.3g} bps), lot {cal.lot}",
        f"spread (sampled every {cal.rv_bar_seconds:g} s, n={touch.samples}): mean "
        f"{touch.spread_mean:.4g} ticks, {quantiles}%: "
        + "/".join(f"{touch.spread_quantiles[q]:.4g}" for q in SPREAD_QUANTILES)
        + f" ticks (median {cal.bps(touch.spread_median * cal.tick):.4g} bps of the mean mid)",
        f"size at the best (sampled every {cal.rv_bar_seconds:g} s): bid median "
        f"{touch.bid_size_median:.4g}, mean {touch.bid_size_mean:.4g}; ask median "
        f"{touch.ask_size_median:.4g}, mean {touch.ask_size_mean:.4g} (size units)",
        f"sigma realized ({cal.rv_bar_seconds:g}-s increments, n={cal.rv_increments}): "
        f"{cal.sigma_rv:.4g} price/√s = {cal.bps(cal.sigma_rv):.4g} bps/√s = "
        f"{cal.ticks(cal.sigma_rv):.4g} ticks/√s",
        f"mid returns over {RETURN_SECONDS:g} s (n={ret.count}): std {ret.std_ticks:.4g} "
        f"ticks, lag-1 autocorrelation {ret.autocorr:.3f}",
        f"sigma Garman-Klass ({cal.gk_bar_seconds:g}-s bars, n={cal.gk_bars}): "
        f"{cal.sigma_gk:.4g} price/√s = {cal.bps(cal.sigma_gk):.4g} bps/√s",
        *([] if cal.sigma_klines is None else [
            f"sigma Garman-Klass (trade-price 1m klines of {cal.klines_source}, "
            f"n={cal.kline_bars} bars): {cal.sigma_klines:.4g} price/√s = "
            f"{cal.bps(cal.sigma_klines):.4g} bps/√s (a report; the baseline's σ is the "
            f"realized one)"]),
        f"intensity λ(δ) = A·exp(−kδ): A = {f.A:.4g} /s per side, k = {f.k:.4g} /price = "
        f"{f.k * cal.tick:.4g} /tick, R² = {f.r2:.4f}, δ in [{f.deltas[0] / cal.tick:g}, "
        f"{f.deltas[-1] / cal.tick:g}] ticks ({len(f.deltas)} points, ≥ {min(f.counts)} "
        f"orders each)",
        f"trades (executions, n={trades.count}): {trades.rate:.4g} /s (both sides), mean size "
        f"{trades.mean_size:.4g}, median {trades.median_size:.4g}",
        f"market orders: {cal.orders_per_side_per_s:.4g} /s per side, mean size "
        f"{cal.mean_order_size:.4g} (trades of one aggressor within 1 ms are one order)",
        "mean limit increment: " + ("none (no deltas)" if cal.mean_limit_increment is None
                                    else f"{cal.mean_limit_increment:.4g}"),
    ]
    return "\n".join(lines)
