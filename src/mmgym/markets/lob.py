"""The ``lob`` market: an L2 limit order book with informed flow, batched over environments.

A book of ``levels`` price levels a side on a tick grid. Level ``j`` of the bid side is the
price ``best_bid − j`` ticks, level ``j`` of the ask side ``best_ask + j`` ticks; volumes are
integer numbers of lots. Each step of ``dt`` seconds runs, in order:

1. **The agent's orders.** The quotes (offsets in ticks from the mid, after
   ``latency_steps`` steps of latency) become limit orders: bid at ``floor(mid − δ_b)``, ask at
   ``ceil(mid + δ_a)``, and with ``quote_levels > 1`` a ladder of orders ``i·quote_spacing_ticks``
   further out, of sizes ``quote_sizes``. Quotes are post-only: a bid at or above the best ask
   is placed one tick below it (an ask likewise one tick above the best bid). An order whose
   price is unchanged keeps its place in the queue; a moved (or fully filled) one is replaced
   by a new order, which joins the back of the displayed volume at its price, or stands alone
   at the front when its price is better than the best.
2. **Price discovery.** Liquidity providers learn the fundamental ``v`` and requote the
   whole background book toward it, keeping its shape: each step the book moves by the
   fraction ``1 − exp(−requote_rate·dt)`` of the gap ``v − mid``, in whole ticks (rounded
   stochastically). The agent's orders stay where they are: one that the moved book now
   crosses (an ask at or below the new best bid, a bid at or above the new best ask) is picked
   off at its price by arbitrageurs (stale-quote sniping, as in Budish, Cramton & Shim 2015);
   the others stand at the front of their level, the requoted volume queued behind them.
3. **Limit orders and cancellations.** At each level a limit order arrives with probability
   ``1 − exp(−λ_j·dt)``, ``λ_j = limit_rate·exp(−limit_decay·j)`` (more near the touch), its
   size geometric with mean ``limit_size_lots``. Each level loses ``B_j·(1 − exp(−θ·dt))``
   lots to cancellations (``θ = cancel_rate``, rounded stochastically), in proportion to its
   size. The agent's queue position advances with cancellations by ``queue_model``:
   ``conservative`` (cancellations come from behind the agent: only trades advance it) or
   ``probabilistic`` (a cancelled lot is ahead of the agent with probability ahead / queue,
   the proportional model of the queue-position literature; the expected advance is used).
4. **Market orders.** Uninformed buys and sells arrive as Poisson processes of rate
   ``market_rate`` each; during an information event informed traders add orders in the
   event's direction at rate ``informed_rate`` (Easley & O'Hara's PIN model: ε and μ). At
   most ``max_orders`` per side per step (the truncation is documented in the parameters).
   Sizes are geometric with mean ``market_size_lots``. A side's orders walk the book from the
   best level in price-time order, the agent's orders included (an order better than the
   best is hit first; at its level the agent is filled after the volume ahead of it); partial
   fills are kept. An order larger than the visible book is truncated to leave one lot.
5. **Book maintenance.** Emptied best levels are removed (the best price moves); new levels
   enter at the back with the mean depth of that level, ``λ_j·limit_size_lots/θ``. When the
   spread is wider than one tick, each side places a new level one tick inside it with
   probability ``1 − exp(−refill_rate·dt)`` (the spread refills).
6. **Information events** (PIN): an event starts with probability ``1 − exp(−event_rate·dt)``
   per step and moves the fundamental up or down with equal probability by a geometric number
   of ticks (mean ``event_jump_ticks``). While the fundamental stands at least
   ``informed_gap_ticks`` from the mid, informed traders, who know it, send market orders
   toward it (an event is "under way"); price discovery ends it. Events give the mid its
   volatility: with the defaults about 1 bp per √s, as BTCUSDT's on the sample recording.

**Background liquidity leans toward the fundamental** ``v``: with ``ℓ = tanh((v − mid) /
lean_scale_ticks)``, the bid side's arrival and refill rates are multiplied by ``1 + lean·ℓ``
and its cancellation rate by ``1 − lean·ℓ``, and the ask side the other way round. So when
the fundamental is above the mid the bid side is deeper than the ask side (book imbalance
is positive) and the mid drifts up: imbalance predicts the mid, and fills against informed
flow are followed by adverse moves.

The mid is ``(best_bid + best_ask)/2`` of the book without the agent's own orders. The
agent never takes liquidity (post-only), so only the maker fee applies.

Randomness: 7 + 2·max_orders + 4·levels uniforms per step (events, requote rounding, order
counts, order sizes, limit arrivals, cancellations, refills); none at reset, none depending on
the agent's quotes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from mmgym.markets.base import MarketStep
from mmgym.validation import ConfigError, check_choice, check_number

_BID, _ASK = 0, 1
_BELOW_ONE = 1.0 - 2.0**-32  # the largest uniform the random streams produce


@dataclass(frozen=True)
class LOBParams:
    """Parameters of the ``lob`` market; defaults resemble Binance's BTCUSDT perpetual.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``s0`` | initial mid | USDT | 60,000 | (0, inf) |
    | ``tick`` | tick size | USDT | 0.1 | (0, inf) |
    | ``lot`` | lot size | BTC | 0.001 | (0, inf) |
    | ``levels`` | price levels per side | - | 10 | [2, 100] |
    | ``dt`` | step length | s | 0.1 | (0, 60] |
    | ``episode_seconds`` | episode length (a multiple of ``dt``) | s | 300 | (dt, inf) |
    | ``limit_rate`` | limit order arrivals at the touch, per side | 1/s | 10 | (0, inf) |
    | ``limit_decay`` | decay of the arrival rate per level | 1/level | 0.15 | [0, inf) |
    | ``limit_size_lots`` | mean limit order size | lots | 300 | [1, inf) |
    | ``cancel_rate`` | cancellation rate per resting lot | 1/s | 0.5 | [0, inf) |
    | ``market_rate`` | uninformed market orders per side (ε) | 1/s | 6 | [0, inf) |
    | ``informed_rate`` | informed market orders during an event (μ) | 1/s | 6 | [0, inf) |
    | ``market_size_lots`` | mean market order size | lots | 150 | [1, inf) |
    | ``max_orders`` | market orders per side per step, at most | - | 8 | [1, 20] |
    | ``event_rate`` | information events per second (α) | 1/s | 0.5 | [0, inf) |
    | ``event_jump_ticks`` | mean move of the fundamental at an event | ticks | 70 | [1, inf) |
    | ``informed_gap_ticks`` | informed trade while ``|v − mid|`` ≥ this | ticks | 2 | (0, inf) |
    | ``requote_rate`` | rate of price discovery (gap closed per s) | 1/s | 5 | [0, inf) |
    | ``lean`` | lean of background liquidity toward the fundamental | - | 0.6 | [0, 1) |
    | ``lean_scale_ticks`` | fundamental-mid gap of full lean (tanh scale) | ticks | 5 | (0, inf) |
    | ``refill_rate`` | rate of a new level inside an open spread, per side | 1/s | 20 | [0, inf) |
    | ``quote_size`` | size of the agent's order (per ladder level) | BTC | 0.01 | lot multiple |
    | ``quote_levels`` | orders per side (a ladder) | - | 1 | [1, 10] |
    | ``quote_spacing_ticks`` | ladder spacing | ticks | 1 | [1, inf) |
    | ``quote_sizes`` | sizes per ladder level (overrides quote_size) | BTC | None | lots |
    | ``latency_steps`` | steps before a new quote takes effect | steps | 0 | [0, 1000] |
    | ``queue_model`` | queue model (see the module doc) | - | probabilistic | see the doc |
    | ``max_offset_ticks`` | action bound: offsets in [−max, max] | ticks | 20 | (0, inf) |

    ``max_orders`` truncates the Poisson number of market orders per side per step: with
    the defaults the largest rate per step is (6 + 6)·0.1 = 1.2, whose probability of more
    than 8 orders is 5·10⁻⁶.

    Calibration (``python benchmarks/lob_calibration.py`` prints both columns): on the
    BTCUSDT recording in the team's shared data (Binance USD-M, 2024-08-08, 345 s) the mid
    moves 1.2 bps/√s, the median spread is one tick, the best bid holds 2.7 BTC (median), and
    15.6 market orders arrive per second (trades of the same millisecond and side taken as
    one order), of mean size 0.45 BTC but median 0.03 (heavy tailed). The defaults give
    1.0 bps/√s, a one-tick spread, 1.7 BTC, and 15.8 market orders per second of mean size
    0.13 BTC (geometric sizes have no heavy tail); the mid moves in a third of the 0.1-s
    steps against a tenth in the recording, by smaller steps.
    """

    s0: float = 60_000.0
    tick: float = 0.1
    lot: float = 0.001
    levels: int = 10
    dt: float = 0.1
    episode_seconds: float = 300.0
    limit_rate: float = 10.0
    limit_decay: float = 0.15
    limit_size_lots: float = 300.0
    cancel_rate: float = 0.5
    market_rate: float = 6.0
    informed_rate: float = 6.0
    market_size_lots: float = 150.0
    max_orders: int = 8
    event_rate: float = 0.5
    event_jump_ticks: float = 70.0
    informed_gap_ticks: float = 2.0
    requote_rate: float = 5.0
    lean: float = 0.6
    lean_scale_ticks: float = 5.0
    refill_rate: float = 20.0
    quote_size: float = 0.01
    quote_levels: int = 1
    quote_spacing_ticks: int = 1
    quote_sizes: tuple[float, ...] | None = None
    latency_steps: int = 0
    queue_model: Literal["conservative", "probabilistic"] = "probabilistic"
    max_offset_ticks: float = 20.0

    def __post_init__(self) -> None:
        pos = {"low": 0, "low_open": True}
        nonneg = {"low": 0}
        check_number("s0", self.s0, **pos)
        check_number("tick", self.tick, **pos)
        check_number("lot", self.lot, **pos)
        check_number("levels", self.levels, low=2, high=100, integer=True)
        check_number("dt", self.dt, low=0, high=60, low_open=True)
        check_number("episode_seconds", self.episode_seconds, low=self.dt, low_open=True)
        steps = self.episode_seconds / self.dt
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ConfigError(
                f"episode_seconds={self.episode_seconds!r}: must be a whole number of steps "
                f"of dt={self.dt!r}"
            )
        check_number("limit_rate", self.limit_rate, **pos)
        check_number("limit_decay", self.limit_decay, **nonneg)
        check_number("limit_size_lots", self.limit_size_lots, low=1)
        check_number("cancel_rate", self.cancel_rate, **nonneg)
        check_number("market_rate", self.market_rate, **nonneg)
        check_number("informed_rate", self.informed_rate, **nonneg)
        check_number("market_size_lots", self.market_size_lots, low=1)
        check_number("max_orders", self.max_orders, low=1, high=20, integer=True)
        check_number("event_rate", self.event_rate, **nonneg)
        check_number("event_jump_ticks", self.event_jump_ticks, low=1)
        check_number("informed_gap_ticks", self.informed_gap_ticks, **pos)
        check_number("requote_rate", self.requote_rate, **nonneg)
        check_number("lean", self.lean, low=0, high=1, high_open=True)
        check_number("lean_scale_ticks", self.lean_scale_ticks, **pos)
        check_number("refill_rate", self.refill_rate, **nonneg)
        check_number("quote_levels", self.quote_levels, low=1, high=10, integer=True)
        check_number("quote_spacing_ticks", self.quote_spacing_ticks, low=1, integer=True)
        check_number("latency_steps", self.latency_steps, low=0, high=1000, integer=True)
        check_choice("queue_model", self.queue_model, ("conservative", "probabilistic"))
        check_number("max_offset_ticks", self.max_offset_ticks, **pos)
        sizes = self.sizes()
        if len(sizes) != self.quote_levels:
            raise ConfigError(
                f"quote_sizes={self.quote_sizes!r}: expected {self.quote_levels} sizes "
                f"(quote_levels={self.quote_levels})"
            )
        for i, size in enumerate(sizes):
            name = "quote_size" if self.quote_sizes is None else f"quote_sizes[{i}]"
            check_number(name, size, low=self.lot)
            lots = size / self.lot
            if abs(lots - round(lots)) > 1e-9 * lots:
                raise ConfigError(f"{name}={size!r}: must be a multiple of lot={self.lot!r}")

    def sizes(self) -> tuple[float, ...]:
        """The agent's order size per ladder level, BTC."""
        if self.quote_sizes is None:
            return (self.quote_size,) * self.quote_levels
        return tuple(self.quote_sizes)

    def mean_depth_lots(self) -> np.ndarray:
        """Mean depth per level without trades, ``λ_j·limit_size_lots/θ`` (lots), used for
        the initial book and for levels entering at the back (with no cancellations,
        ``θ = 1/episode_seconds``: what arrives in an episode)."""
        j = np.arange(self.levels)
        rate = self.limit_rate * np.exp(-self.limit_decay * j)
        theta = max(self.cancel_rate, 1.0 / self.episode_seconds)
        return np.maximum(np.round(rate * self.limit_size_lots / theta), 1.0)


@dataclass(slots=True)
class LOBStep(MarketStep):
    """:class:`MarketStep` plus the book and the trades of the ``lob`` market.

    Attributes:
        best: ``(2, n)`` best bid and ask after the step, price units.
        depth: ``(2, levels, n)`` volume per level after the step (bid side, ask side; level 0
            is the best), size units; the agent's orders excluded.
        buy_volume, sell_volume: ``(n,)`` volume of market buys / sells executed this step
            (aggressor side), size units, the agent's fills included.
        trades: ``(n,)`` number of market orders this step.
        book_traded: ``(2, n)`` decrease of each side's book volume (the agent's orders
            excluded) during the market-order phase of the step, size units: what trades
            took from the background queues (a bookkeeping check: a side's aggressor volume
            equals this plus the agent's fills on that side).
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


class LOBMarket:
    """``n`` independent order books; see the module doc.

    Internally prices are in ticks and stored *signed* per side, ``y = −price`` on the bid
    side and ``y = price`` on the ask side, so that "further from the touch" is "larger y" on
    both sides: the level of a price is ``y − y_best`` and the book's arrays are
    ``(2, levels, n)`` (side, level, env).
    """

    name: ClassVar[str] = "lob"
    Params: ClassVar[type] = LOBParams
    default_max_inventory: ClassVar[float] = 0.5
    has_book: ClassVar[bool] = True
    default_features: ClassVar[tuple[str, ...]] = (
        "inventory",
        "volatility",
        "ofi",
        "vpin",
        "imbalance",
        "time_remaining",
    )

    def __init__(self, n: int, **params: Any) -> None:
        if isinstance(params.get("quote_sizes"), list):
            params["quote_sizes"] = tuple(params["quote_sizes"])
        p = self.p = self.Params(**params)
        self.n = n
        L, Q, K = p.levels, p.quote_levels, p.max_orders
        self.horizon_steps = round(p.episode_seconds / p.dt)
        self.dt = p.dt
        self.quote_lots = np.round(np.array(p.sizes()) / p.lot)[None, :, None]  # (1, Q, 1)
        self.quote_size = float(self.quote_lots.sum() * p.lot)
        self.offset_low = -p.max_offset_ticks
        self.offset_high = p.max_offset_ticks
        # which of the step's uniforms each random decision uses (rows of ``uniforms``)
        self.uniform_slices: dict[str, slice] = {}
        start = 0
        for part, size in (("event", 2), ("requote", 1), ("count", 2), ("size", 2 * K),
                           ("arrive", 2 * L), ("cancel", 2 * L), ("refill", 2)):
            self.uniform_slices[part] = slice(start, start + size)
            start += size
        self.n_uniforms = start
        # constants
        j = np.arange(L)[None, :, None]
        self._level = j  # (1, L, 1)
        self.mean_depth = p.mean_depth_lots()[None, :, None]  # (1, L, 1), lots
        self._arrival_dt = p.limit_rate * np.exp(-p.limit_decay * j) * p.dt  # (1, L, 1)
        self._sign = np.array([[-1.0], [1.0]])  # (2, 1): y = sign·price
        self._ladder = (np.arange(Q) * p.quote_spacing_ticks)[None, :, None]  # (1, Q, 1)
        self._far = float(L + 1000)  # signed distance of "no order"
        self._gather_base = (np.arange(2)[:, None, None] * L * n + np.arange(n)[None, None, :])
        # "sum of the entries before": strictly lower-triangular matrices over levels and
        # ladder orders (a BLAS product is much faster than cumsum across the middle axis)
        self._before_level = np.tril(np.ones((L, L)), -1)
        self._before_order = np.tril(np.ones((Q, Q)), -1)
        self._scatter_base = np.arange(2)[:, None, None] * (L + 1) * n + np.arange(n)[None, None, :]
        self._agent_at = np.zeros((2, L + 1, n))
        self._agent_filled_at = np.zeros((2, L + 1, n))
        self._k = np.arange(K)[None, :, None]  # (1, K, 1)
        # CDF of the number of market orders per side per step, without and with informed flow
        self._count_cdf = [_poisson_cdf(r * p.dt, K) for r in
                           (p.market_rate, p.market_rate + p.informed_rate)]
        self._event_start = -math.expm1(-p.event_rate * p.dt)
        self._requote_frac = -math.expm1(-p.requote_rate * p.dt)
        # state
        self.depth = np.zeros((2, L, n))  # lots
        self.best = np.zeros((2, n))  # signed best: (−best bid, best ask), ticks
        self.fundamental = np.zeros(n)  # ticks
        self.event = np.zeros(n, dtype=bool)
        self.event_dir = np.zeros(n)
        self.order_y = np.zeros((2, Q, n))  # signed order prices, ticks
        self.order_lots = np.zeros((2, Q, n))
        self.order_ahead = np.zeros((2, Q, n))
        self._filled = np.zeros((2, Q, n))  # the agent's fills of the step, lots
        self._volume = np.zeros((2, n))  # aggressor volume of the step per side hit, lots
        self.pending = np.full((p.latency_steps + 1, 2, n), np.nan)  # quotes in flight
        self._slot = 0
        self._bias = np.ones((2, n))
        self.mid = np.zeros(n)
        self.step_record = LOBStep(
            mid_before=np.empty(n),
            mid=self.mid,
            prices=np.full((2, n), np.nan),
            fills=np.zeros((2, n)),
            notional=np.zeros((2, n)),
            best=np.zeros((2, n)),
            depth=np.zeros((2, L, n)),
            buy_volume=np.zeros(n),
            sell_volume=np.zeros(n),
            trades=np.zeros(n),
            book_traded=np.zeros((2, n)),
            event=self.event,
        )

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def mid_ticks(self) -> np.ndarray:
        """Mid price of each book, ticks."""
        return (self.best[_ASK] - self.best[_BID]) * 0.5

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        p = self.p
        best_bid = math.floor(p.s0 / p.tick)
        self.depth[:, :, mask] = self.mean_depth
        self.best[_BID, mask] = -best_bid
        self.best[_ASK, mask] = best_bid + 1
        self.fundamental[mask] = best_bid + 0.5
        self.event[mask] = False
        self.event_dir[mask] = 0.0
        self.order_lots[:, :, mask] = 0.0
        self.order_ahead[:, :, mask] = 0.0
        self.pending[:, :, mask] = np.nan
        self.mid[mask] = (best_bid + 0.5) * p.tick
        rec = self.step_record
        rec.prices[:, mask] = np.nan
        rec.best[:, mask] = (self._sign * self.best[:, mask]) * p.tick
        rec.depth[:, :, mask] = self.depth[:, :, mask] * p.lot

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        p, rec = self.p, self.step_record
        rec.mid_before[...] = self.mid
        self._filled[...] = 0.0
        self._volume[...] = 0.0
        rec.trades[...] = 0.0
        rec.book_traded[...] = 0.0
        self._place_orders(offsets, self.mid_ticks())
        self._requote(uniforms)
        gap = self.fundamental - self.mid_ticks()
        np.greater_equal(np.abs(gap), p.informed_gap_ticks, out=self.event)
        np.sign(gap, out=self.event_dir)
        lean = np.tanh(gap * (1.0 / p.lean_scale_ticks))
        lean *= p.lean
        np.add(1.0, lean, out=self._bias[_BID])
        np.subtract(1.0, lean, out=self._bias[_ASK])
        self._limit_flow(uniforms)
        self._market_orders(uniforms)
        self._maintain(uniforms)
        self._events(uniforms)
        np.multiply(self._filled.sum(axis=1), p.lot, out=rec.fills)
        np.multiply((self._filled * self.order_y).sum(axis=1), self._sign * (p.lot * p.tick),
                    out=rec.notional)
        np.multiply(self._volume[_BID], p.lot, out=rec.sell_volume)
        np.multiply(self._volume[_ASK], p.lot, out=rec.buy_volume)
        np.multiply(self.mid_ticks(), p.tick, out=self.mid)
        np.multiply(self._sign, self.best, out=rec.best)
        rec.best *= p.tick
        np.multiply(self.depth, p.lot, out=rec.depth)
        return rec

    def _gather(self, arr: np.ndarray, level: np.ndarray) -> np.ndarray:
        """``arr[side, level[side, i, env], env]`` for a C-contiguous ``(2, L, m)`` array and
        ``(2, j, m)`` integer levels (``m`` is ``n`` or a subset of the books)."""
        m = arr.shape[2]
        if m == self.n:
            return np.take(arr, self._gather_base + level * m)
        base = np.arange(2)[:, None, None] * arr.shape[1] * m + np.arange(m)
        return np.take(arr, base + level * m)

    def _scatter(self, values: np.ndarray, index: np.ndarray, inside: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        """``out`` (``(2, L + 1, n)``) zero but for ``values`` (``(2, Q, n)``) of the orders
        inside the book at their levels (the agent's orders sit at distinct levels; the others
        go to the spare last level), returned as a ``(2, L, n)`` view."""
        out[...] = 0.0
        level = np.where(inside, index, self.p.levels)
        out.put(self._scatter_base + level * self.n, values)
        return out[:, : self.p.levels]

    def _locate_orders(self) -> None:
        """Locate the agent's orders in the book (valid until the best prices move): their
        level (ticks behind the side's best; negative: better than the best), the flat index
        of that level (clipped into the book) in a ``(2, L, n)`` array, and whether the order
        is live and inside the visible book; all ``(2, Q, n)``."""
        level = self.order_y - self.best[:, None, :]
        index = np.minimum(np.maximum(level, 0.0), self.p.levels - 1).astype(np.intp)
        self._order_level = level
        self._order_index = index
        self._order_flat = self._gather_base + index * self.n
        self._order_inside = (level >= 0) & (level < self.p.levels) & (self.order_lots > 0)

    # 1. the agent's orders -------------------------------------------------------------
    def _place_orders(self, offsets: np.ndarray, mid: np.ndarray) -> None:
        p, rec = self.p, self.step_record
        self.pending[self._slot] = offsets
        self._slot = (self._slot + 1) % len(self.pending)
        active = self.pending[self._slot]  # (2, n) offsets in force, ticks; NaN: no quote
        quoted = (active == active)[:, None, :]
        # signed price: bid −floor(mid − δ), ask ceil(mid + δ), ladder further out
        y = np.ceil(active[:, None, :] + self._ladder + self._sign[:, :, None] * mid)
        # post-only: at least one tick behind the opposite best; NaN (no quote) goes far away
        np.maximum(y, 1.0 - self.best[::-1, None, :], out=y)
        y = np.fmin(y, self.best[:, None, :] + self._far)
        replace = (y != self.order_y) | (self.order_lots <= 0)
        np.copyto(self.order_y, y, where=replace)
        np.copyto(self.order_lots, quoted * self.quote_lots, where=replace)
        self._locate_orders()
        # a new order queues behind the volume shown at its price (none in front of the
        # best; beyond the visible book, the mean depth of its last level)
        level = self._order_level
        ahead = np.where(level >= p.levels, self.mean_depth[0, -1, 0],
                         np.take(self.depth, self._order_flat))
        ahead *= level >= 0
        np.copyto(self.order_ahead, ahead, where=replace)
        prices = self._sign * self.order_y[:, 0] * p.tick
        rec.prices[...] = np.where(self.order_lots[:, 0] > 0, prices, np.nan)

    # 2. price discovery ----------------------------------------------------------------
    def _requote(self, uniforms: np.ndarray) -> None:
        rec = self.step_record
        gap = self.fundamental - self.mid_ticks()
        u = uniforms[self.uniform_slices["requote"]][0]
        move = np.floor(np.abs(gap) * self._requote_frac + u)  # whole ticks, rounded at random
        moved = move > 0
        if not moved.any():
            return
        move *= np.sign(gap)
        # the whole background book moves toward the fundamental, keeping its shape
        self.best += self._sign * move  # signed bests: (−bid, ask)
        # the agent's orders stay: one that the moved book crosses is picked off at its price
        # by arbitrageurs; the others now stand at the front of their level
        crossed = (self.order_lots > 0) & (self.order_y + self.best[::-1, None, :] <= 0)
        picked = self.order_lots * crossed
        self._filled += picked
        self._volume += picked.sum(axis=1)
        rec.trades += crossed.sum(axis=(0, 1))
        self.order_lots -= picked
        self.order_ahead *= ~moved
        self._locate_orders()

    # 3. limit orders and cancellations -------------------------------------------------
    def _limit_flow(self, uniforms: np.ndarray) -> None:
        p, L, s = self.p, self.p.levels, self.uniform_slices
        u_arrive = uniforms[s["arrive"]].reshape(2, L, self.n)
        u_cancel = uniforms[s["cancel"]].reshape(2, L, self.n)
        bias = self._bias[:, None, :]
        prob = -np.expm1(-self._arrival_dt * bias)
        arrived = u_arrive < prob
        given = np.minimum(u_arrive / prob, _BELOW_ONE)  # uniform given an arrival
        added = _geometric(given, p.limit_size_lots) * arrived
        cancel_frac = -np.expm1(-p.cancel_rate * p.dt * (2.0 - bias))
        cancelled = np.minimum(np.floor(self.depth * cancel_frac + u_cancel), self.depth)
        # the agent's queue position under cancellations at its level
        queue = np.take(self.depth, self._order_flat)
        gone = np.take(cancelled, self._order_flat)
        ahead = self.order_ahead
        if p.queue_model == "probabilistic":  # ahead <= queue, in whole lots
            advance = gone * ahead / np.maximum(queue, 1.0)
        else:  # only cancellations beyond the volume behind the agent reach its place
            advance = np.maximum(ahead - (queue - gone), 0.0)
        np.subtract(ahead, advance * self._order_inside, out=ahead)
        np.maximum(ahead, 0.0, out=ahead)
        self.depth += added
        self.depth -= cancelled

    # 4. market orders --------------------------------------------------------------------
    def _market_orders(self, uniforms: np.ndarray) -> None:
        p, rec, s = self.p, self.step_record, self.uniform_slices
        K = p.max_orders
        # Poisson counts by inversion (at most K); sells (aggressor) hit the bid side (row 0),
        # buys the ask side; informed traders add to the side of the event's direction
        u_count = uniforms[s["count"]]
        count = np.searchsorted(self._count_cdf[0], u_count, side="right")
        if self.event.any():
            # informed sellers hit the bids when v is below the mid, buyers the asks above it
            informed = self.event & (self._sign * self.event_dir > 0)  # (2, n)
            boosted = np.searchsorted(self._count_cdf[1], u_count, side="right")
            count = np.where(informed, boosted, count)
        trades = count.sum(axis=0)
        if not trades.any():  # nothing trades (most steps of a single env)
            return
        rec.trades += trades
        sizes = _geometric(uniforms[s["size"]].reshape(2, K, self.n), p.market_size_lots)
        sizes *= self._k < count[:, None, :]
        volume = sizes.sum(axis=1)  # (2, n) lots

        lots, ahead = self.order_lots, self.order_ahead
        level, index, inside = self._order_level, self._order_index, self._order_inside
        book_before = self.depth.sum(axis=1)
        front_lots = lots * (level < 0)
        agent_at = self._scatter(lots, index, inside, self._agent_at)
        total = book_before + agent_at.sum(axis=1) + front_lots.sum(axis=1)
        np.minimum(volume, np.maximum(total - 1.0, 0.0), out=volume)
        # orders better than the best first, the most aggressive (q = 0) first
        before = np.matmul(self._before_order, front_lots)
        fill = np.minimum(np.maximum(volume[:, None, :] - before, 0.0), front_lots)
        left = volume - fill.sum(axis=1)
        # then level by level; at its level the agent's order comes after the volume ahead
        effective = self.depth + agent_at
        before = np.matmul(self._before_level, effective)
        taken = np.subtract(left[:, None, :], before, out=before)  # (2, L, n)
        np.maximum(taken, 0.0, out=taken)
        np.minimum(taken, effective, out=taken)
        taken_at_order = np.take(taken, self._order_flat)
        in_book = np.minimum(np.maximum(taken_at_order - ahead, 0.0), lots) * inside
        fill += in_book
        self.depth -= taken
        self.depth += self._scatter(in_book, index, inside, self._agent_filled_at)
        np.maximum(ahead - taken_at_order * inside, 0.0, out=ahead)
        lots -= fill
        self._filled += fill
        self._volume += volume
        np.subtract(book_before, self.depth.sum(axis=1), out=rec.book_traded)
        rec.book_traded *= p.lot

    # 5. book maintenance ---------------------------------------------------------------
    def _maintain(self, uniforms: np.ndarray) -> None:
        p = self.p
        # remove emptied best levels: shift each side to its first non-empty level (a side
        # never empties entirely); only the few books where a best level emptied are touched
        emptied = self.depth[:, 0] <= 0
        if emptied.any():
            envs = np.flatnonzero(emptied.any(axis=0))
            self._shift((self.depth[:, :, envs] > 0).argmax(axis=1), envs)
        # refill an open spread by one tick per side (the bid first when one tick is left)
        spread = self.best[_ASK] + self.best[_BID]
        if not (spread > 1).any():
            return
        envs = np.flatnonzero(spread > 1)
        u = uniforms[self.uniform_slices["refill"]][:, envs]
        prob = -np.expm1(-p.refill_rate * p.dt * self._bias[:, envs])
        refill = u < prob
        refill[_ASK] &= spread[envs] - refill[_BID] > 1
        if refill.any():
            given = np.minimum(u / prob, _BELOW_ONE)  # uniform given a refill
            self._shift(-refill.astype(np.intp), envs)
            top = self.depth[:, 0, envs]
            self.depth[:, 0, envs] = np.where(refill, _geometric(given, p.limit_size_lots), top)

    def _shift(self, shift: np.ndarray, envs: np.ndarray) -> None:
        """In the books ``envs``, make each side's level ``shift`` (``(2, len(envs))``;
        negative: new empty levels in front) its new level 0; levels entering at the back get
        the mean depth of their level."""
        src = self._level + shift[:, None, :]
        index = np.minimum(np.maximum(src, 0), self.p.levels - 1)
        moved = self._gather(self.depth[:, :, envs], index)
        moved *= src >= 0
        self.depth[:, :, envs] = np.where(src >= self.p.levels, self.mean_depth, moved)
        self.best[:, envs] += shift

    # 6. information events -----------------------------------------------------------
    def _events(self, uniforms: np.ndarray) -> None:
        u_start, u_jump = uniforms[self.uniform_slices["event"]]
        start = u_start < self._event_start
        if not start.any():
            return
        # direction from the uniform's first half, size (geometric) from the rest of it
        up = u_jump < 0.5
        size = _geometric(np.where(up, 2.0 * u_jump, 2.0 * u_jump - 1.0), self.p.event_jump_ticks)
        self.fundamental += np.where(up, size, -size) * start

def _poisson_cdf(mean: float, k_max: int) -> np.ndarray:
    """``P(N <= k)`` for ``k < k_max`` of a Poisson variable of the given mean; a uniform
    ``u`` inverts to ``N = #{k : cdf[k] <= u}``, truncated at ``k_max``."""
    terms = [math.exp(-mean)]
    for k in range(1, k_max):
        terms.append(terms[-1] * mean / k)
    return np.cumsum(terms)


def _geometric(u: np.ndarray, mean: float) -> np.ndarray:
    """Geometric sizes ≥ 1 with the given mean (lots) from uniforms, by inversion:
    ``ceil(ln(1 − u) / ln(1 − 1/mean))``."""
    if mean <= 1:
        return np.ones_like(u)
    return np.maximum(np.ceil(np.log1p(-u) * (1.0 / math.log1p(-1.0 / mean))), 1.0)
