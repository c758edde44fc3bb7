"""The ``lob`` market: an L2 limit order book with informed flow, batched over environments.

A book of ``levels`` price levels a side on a tick grid. Level ``j`` of the bid side is the
price ``best_bid − j`` ticks, level ``j`` of the ask side ``best_ask + j`` ticks; volumes are
integer numbers of lots. Each step of ``dt`` seconds runs, in order:

1. **The agent's orders.** The quotes in force become limit orders: bid at
   ``floor(mid − δ_b)``, ask at ``ceil(mid + δ_a)`` (offsets in ticks from the mid the agent
   saw), and with ``quote_levels > 1`` a ladder of orders ``i·quote_spacing_ticks`` further
   out, of sizes ``quote_sizes``. With latency (:mod:`mmgym.markets.latency`) a quote is
   priced at submission and in force ``entry_latency_steps`` steps later, a withdrawal
   ``cancel_latency_steps`` steps later; the latest submission that has arrived is in force,
   and until then the previous order stays. With ``post_only`` (the default) quotes never take
   liquidity: a bid at or above the best ask is placed one tick below it (an ask likewise one
   tick above the best bid). Without it an order that crosses the opposite best takes
   liquidity at once: it walks the opposite side's levels at or better than its price, up to
   its size (leaving the side one lot), trading at their prices (taker fills, charged
   ``taker_fee_bps``; not against the agent's own orders), and the remainder rests at its
   price (one tick behind the opposite best if the visible book ran out first). An order whose
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
   size. The agent's queue position advances with cancellations by ``queue_model``
   (:mod:`mmgym.markets.queue`): ``conservative`` (cancellations come from behind the agent:
   only trades advance it), ``probabilistic`` (a cancelled lot is ahead of the agent with
   probability ahead / queue, the proportional model of the queue-position literature; the
   expected advance is used), ``power`` (the part ahead ``c·f(ahead)/(f(ahead) + f(behind))``,
   ``f(x) = x^queue_power``: slower near the front for ``queue_power > 1``) or ``log``
   (``f(x) = log(1 + x)``).
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

Implementation: the step is compiled (numba, ``_step_books``): a driver calling one function
per phase of 1–6 (and one for the step record), each phase looping over all the books. Books
are independent, so a book's arithmetic is the same whatever the batch; what a phase leaves for
a later one (the agent's fills, its orders' levels, the step's rates) is kept per book in
scratch arrays. The phases are inlined into the driver (a call per phase and book, passing the
state arrays, costs more than the phase itself), and the persistent arrays and constants reach
it in one :class:`~mmgym.markets.state.KernelState`, unboxed once. The lean-dependent rates
are a function of the fundamental–mid gap, which moves on a half-tick grid: they are computed
once per gap and looked up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from numba import njit

from mmgym.markets import caching  # noqa: F401  (numba's cache keyed on the shared parts)
from mmgym.markets.base import BookRecord, LatentFundamental, LOBStep
from mmgym.markets.draws import geometric_scale, poisson_cdf
from mmgym.markets.latency import Latency, check_latency
from mmgym.markets.queue import QUEUE_MODELS, QUEUE_POWER_RANGE, ahead_after_cancel
from mmgym.markets.record import record_book
from mmgym.markets.state import new_state
from mmgym.validation import (
    ConfigError,
    check_bool,
    check_choice,
    check_episode,
    check_number,
)

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
    | ``episode_seconds`` | episode length (a multiple of ``dt``) | s | 300 | (dt, 10⁷·dt] |
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
    | ``entry_latency_steps`` | latency of a new or moved order | steps | 0 | [0, 1000] |
    | ``cancel_latency_steps`` | latency of a withdrawal | steps | 0 | [0, 1000] |
    | ``post_only`` | quotes never take liquidity (module doc, 1) | - | true | bool |
    | ``queue_model`` | queue model (module doc, :mod:`mmgym.markets.queue`) | - | probabilistic | |
    | ``queue_power`` | exponent ``n`` of the ``power`` queue model | - | 2 | (0, 100] |
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
    entry_latency_steps: int = 0
    cancel_latency_steps: int = 0
    post_only: bool = True
    queue_model: Literal["conservative", "probabilistic", "power", "log"] = "probabilistic"
    queue_power: float = 2.0
    max_offset_ticks: float = 20.0

    def __post_init__(self) -> None:
        pos = {"low": 0, "low_open": True}
        nonneg = {"low": 0}
        check_number("s0", self.s0, **pos)
        check_number("tick", self.tick, **pos)
        check_number("lot", self.lot, **pos)
        check_number("levels", self.levels, low=2, high=100, integer=True)
        check_episode(self.dt, self.episode_seconds)
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
        check_latency(self.entry_latency_steps, self.cancel_latency_steps)
        check_bool("post_only", self.post_only)
        check_choice("queue_model", self.queue_model, QUEUE_MODELS)
        check_number("queue_power", self.queue_power, low=QUEUE_POWER_RANGE[0],
                     high=QUEUE_POWER_RANGE[1], low_open=True)
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


class LOBMarket(LatentFundamental):
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
        self.mean_depth = p.mean_depth_lots()[None, :, None]  # (1, L, 1), lots
        # constants of the step kernel
        self._rows = np.array([s.start for s in self.uniform_slices.values()], dtype=np.int64)
        self._consts = _Constants(
            tick=p.tick,
            lot=p.lot,
            far=float(L + 1000),  # signed distance of "no order" behind the best
            requote_frac=-math.expm1(-p.requote_rate * p.dt),
            informed_gap=p.informed_gap_ticks,
            inv_lean_scale=1.0 / p.lean_scale_ticks,
            lean=p.lean,
            neg_cancel_dt=-p.cancel_rate * p.dt,
            neg_refill_dt=-p.refill_rate * p.dt,
            event_start=-math.expm1(-p.event_rate * p.dt),
            limit_size=geometric_scale(p.limit_size_lots),
            market_size=geometric_scale(p.market_size_lots),
            event_jump=geometric_scale(p.event_jump_ticks),
            queue_model=QUEUE_MODELS[p.queue_model],
            queue_power=float(p.queue_power),
            post_only=bool(p.post_only),
        )
        self._neg_arrival_dt = -p.limit_rate * np.exp(-p.limit_decay * np.arange(L)) * p.dt
        self._mean_depth = self.mean_depth[0, :, 0].copy()
        self._quote_lots = self.quote_lots[0, :, 0].copy()
        self._ladder = np.arange(Q) * float(p.quote_spacing_ticks)
        # CDF of the number of market orders per side per step, without and with informed flow
        self._count_cdf = np.array([poisson_cdf(r * p.dt, K) for r in
                                    (p.market_rate, p.market_rate + p.informed_rate)])
        self._sign = np.array([[-1.0], [1.0]])  # (2, 1): y = sign·price
        # state
        self.depth = np.zeros((2, L, n))  # lots
        self.best = np.zeros((2, n))  # signed best: (−best bid, best ask), ticks
        self.fundamental = np.zeros(n)  # ticks
        self.event = np.zeros(n, dtype=bool)
        self.event_dir = np.zeros(n)
        self.order_y = np.zeros((2, Q, n))  # signed order prices, ticks
        self.order_lots = np.zeros((2, Q, n))
        self.order_ahead = np.zeros((2, Q, n))
        self.latency = Latency(n, p.entry_latency_steps, p.cancel_latency_steps)
        # the lean-dependent rates of each side by fundamental–mid gap, filled on first use:
        # the gap moves on a half-tick grid, so most steps look them up (see _rates)
        self._rate_table = np.full((4 * _TABLE_GAP_TICKS + 1, 2, L + 2), np.nan)
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
            taker_fills=np.zeros((2, n)),
            taker_notional=np.zeros((2, n)),
        )
        rec = self.step_record
        self._kernel_args = (
            self._consts,
            _Fixed(self._rows, self._neg_arrival_dt, self._mean_depth, self._quote_lots,
                   self._ladder, self._count_cdf),
            _Book(self.depth, self.best, self.fundamental, self.event, self.event_dir,
                  self.order_y, self.order_lots, self.order_ahead, self._rate_table,
                  np.zeros((n, 2, L + 2)), self.mid),
            BookRecord.of(rec),
        )
        self._state = new_state(*self._kernel_args)

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def hidden_state(self) -> dict[str, np.ndarray]:
        """What the market knows and the agents do not, for diagnostics (the ``oracle``
        policy): the fundamental, the mid and the best quotes in price units, whether an
        information event is under way and its direction (+1 informed buying, −1 selling, 0
        none). Never part of the observation."""
        tick = self.p.tick
        return {"fundamental": self.fundamental * tick, "event": self.event.copy(),
                "direction": self.event_dir * self.event,
                "mid": self.mid.copy(), "best_bid": -self.best[_BID] * tick,
                "best_ask": self.best[_ASK] * tick}

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
        self.latency.reset(mask)
        self.mid[mask] = (best_bid + 0.5) * p.tick
        rec = self.step_record
        rec.prices[:, mask] = np.nan
        rec.best[:, mask] = (self._sign * self.best[:, mask]) * p.tick
        rec.depth[:, :, mask] = self.depth[:, :, mask] * p.lot

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        rec = self.step_record
        lat = self.latency
        if lat.active:  # the orders in force, priced against the signed mid at submission
            quotes, refs = lat.arrive(offsets, self._sign * self.mid_ticks())
        else:
            quotes, refs = offsets, offsets
        _step_books(self._state, quotes, refs, lat.active, uniforms)
        return rec


class _Constants(NamedTuple):
    """Scalar constants of :func:`_step_books` (rates turned into per-step numbers)."""

    tick: float
    lot: float
    far: float
    requote_frac: float  # 1 − exp(−requote_rate·dt)
    informed_gap: float
    inv_lean_scale: float
    lean: float
    neg_cancel_dt: float  # −cancel_rate·dt
    neg_refill_dt: float  # −refill_rate·dt
    event_start: float  # 1 − exp(−event_rate·dt)
    limit_size: float  # −1 / ln(1 − 1/mean) of the geometric sizes (0: all sizes 1)
    market_size: float
    event_jump: float
    queue_model: int  # a code of mmgym.markets.queue.QUEUE_MODELS
    queue_power: float
    post_only: bool


# The step, compiled: a driver (:func:`_step_books`) calling one function per phase of the
# module doc, each looping over all the books (books are independent, so the order of the
# loops changes nothing). What a phase leaves for a later one lives in the scratch arrays,
# one entry per book. Indices: s side, j level, q ladder order, k market order, i book.


class _Fixed(NamedTuple):
    """The step's fixed arrays: rows of the uniforms and per-level and per-order constants."""

    rows: np.ndarray  # the first row of each part of the step's uniforms (uniform_slices)
    neg_arrival_dt: np.ndarray  # (L,) −λ_j·dt
    mean_depth: np.ndarray  # (L,) lots
    quote_lots: np.ndarray  # (Q,) the agent's order sizes, lots
    ladder: np.ndarray  # (Q,) the ladder's offsets, ticks
    count_cdf: np.ndarray  # (2, K) CDF of the market orders per side, without/with informed


class _Book(NamedTuple):
    """The state arrays of the books (see :class:`LOBMarket`)."""

    depth: np.ndarray  # (2, L, n) lots
    best: np.ndarray  # (2, n) signed best, ticks
    fundamental: np.ndarray  # (n,) ticks
    event: np.ndarray  # (n,) bool
    event_dir: np.ndarray  # (n,)
    order_y: np.ndarray  # (2, Q, n) signed order prices, ticks
    order_lots: np.ndarray  # (2, Q, n)
    order_ahead: np.ndarray  # (2, Q, n) lots ahead in the queue
    rate_table: np.ndarray  # (rows, 2, L + 2) the rates by fundamental–mid gap (see _rates)
    own_rates: np.ndarray  # (n, 2, L + 2) the rates of a gap the table does not hold
    mid: np.ndarray  # (n,) price units


class _Scratch(NamedTuple):
    """Per-book values one phase leaves for a later one, and one book's working arrays."""

    filled: np.ndarray  # (2, Q, n) the agent's maker fills of the step, lots
    taken: np.ndarray  # (2, n) the agent's taker fills of the step, lots
    taken_value: np.ndarray  # (2, n) their Σ lots × signed price (the order's side), ticks
    volume: np.ndarray  # (2, n) aggressor volume of the step per side hit, lots
    index: np.ndarray  # (2, Q, n) int: level of each order, clipped into the book
    inside: np.ndarray  # (2, Q, n) bool: live and inside the visible book
    front: np.ndarray  # (2, Q, n) bool: better than the best
    rate_row: np.ndarray  # (n,) int: the book's row of the rate table, −1: own_rates
    gone: np.ndarray  # (L,) cancelled lots per level
    agent_at: np.ndarray  # (L,) the agent's lots per level, then its fills per level
    walked: np.ndarray  # (L,) lots taken per level by the market orders
    fill: np.ndarray  # (Q,) the agent's fills per order


@njit(cache=True)
def _geometric(u: float, scale: float) -> float:
    """A geometric size ≥ 1 from a uniform by inversion, ``ceil(−ln(1 − u)·scale)`` with
    the scale from :func:`mmgym.markets.draws.geometric_scale` (size 1 when it is 0)."""
    if scale == 0.0:
        return 1.0
    return max(np.ceil(-np.log1p(-u) * scale), 1.0)


_TABLE_GAP_TICKS = 100  # the rate table covers gaps of up to this many ticks
_CANCEL, _REFILL, _ARRIVE = 0, 1, 2  # columns of a side's rates


@njit(cache=True)
def _rates(c, neg_arrival_dt, gap, out):
    """The rates of both sides given the fundamental–mid gap (ticks), into ``out``
    (``(2, L + 2)``), with the lean factor ``b = 1 ± lean·tanh(gap/lean_scale_ticks)`` (bid +,
    ask −): the fraction of a level cancelled in the step, ``1 − exp(−cancel_rate·dt·(2 − b))``,
    the probability of a refill, ``1 − exp(−refill_rate·dt·b)``, and the probability of a
    limit-order arrival at each level, ``1 − exp(−λ_j·dt·b)``."""
    lean = np.tanh(gap * c.inv_lean_scale) * c.lean
    for s in range(2):
        b = 1.0 + lean if s == 0 else 1.0 - lean
        out[s, _CANCEL] = -np.expm1(c.neg_cancel_dt * (2.0 - b))
        out[s, _REFILL] = -np.expm1(c.neg_refill_dt * b)
        for j in range(neg_arrival_dt.shape[0]):
            out[s, _ARRIVE + j] = -np.expm1(neg_arrival_dt[j] * b)


@njit(cache=True, inline="always")
def _book_rates(b, sc, i):
    """Book ``i``'s rates of the step (``(2, L + 2)``), as :func:`_price_discovery` chose."""
    row = sc.rate_row[i]
    return b.rate_table[row] if row >= 0 else b.own_rates[i]


@njit(cache=True, inline="always")
def _drop_empty_levels(f, depth, best, s, i):
    """Emptied best levels of side ``s`` of book ``i`` leave (the best moves to the first level
    with volume); new levels enter at the back with the mean depth of their level."""
    L = depth.shape[1]
    if depth[s, 0, i] <= 0:
        shift = 0
        while shift < L and depth[s, shift, i] <= 0:
            shift += 1
        if shift < L:
            for j in range(L):
                src = j + shift
                depth[s, j, i] = depth[s, src, i] if src < L else f.mean_depth[j]
            best[s, i] += shift


@njit(cache=True)
def _take(c, f, b, rec, sc, s, q, i):
    """Order ``q`` of side ``s`` of book ``i`` (``post_only`` off) takes what it crosses: the
    opposite side's levels at or better than its price, best first, up to its size and
    leaving the side one lot, at their prices (taker fills, in ``sc.taken``); emptied levels
    leave. The remainder rests at the front, one tick behind the opposite best if it still
    crosses it."""
    depth, best, order_y = b.depth, b.best, b.order_y
    L = depth.shape[1]
    o = 1 - s
    y = order_y[s, q, i]
    if y + best[o, i] > 0:  # does not cross
        return
    lots = b.order_lots[s, q, i]
    room = -1.0
    for j in range(L):
        room += depth[o, j, i]
    taken = 0.0
    j = 0
    while j < L and lots > 0 and room > 0 and y + best[o, i] + j <= 0:
        take = min(lots, depth[o, j, i], room)
        depth[o, j, i] -= take
        lots -= take
        room -= take
        taken += take
        sc.taken_value[s, i] -= take * (best[o, i] + j)  # the level's price, signed as y
        j += 1
    if taken > 0:
        sc.taken[s, i] += taken
        sc.volume[o, i] += taken
        rec.trades[i] += 1.0
        rec.book_traded[o, i] += taken * c.lot
        b.order_lots[s, q, i] = lots
        _drop_empty_levels(f, depth, best, o, i)
    if lots > 0 and y + best[o, i] <= 0:
        order_y[s, q, i] = 1.0 - best[o, i]
    b.order_ahead[s, q, i] = 0.0


@njit(cache=True, inline="always")
def _agent_orders(c, f, b, rec, sc, quotes, refs, delayed):
    """1. The agent's orders in force (``quotes``, offsets in ticks; with latency, ``delayed``,
    priced against ``refs``, the signed mid they were sent against, else against the mid
    now): signed price bid −floor(mid − δ), ask ceil(mid + δ), the ladder further out,
    post-only (at least one tick behind the opposite best) or, without, taking what they
    cross (:func:`_take`); a replaced order
    queues behind the volume shown at its price (none in front of the best; beyond the
    visible book, the mean depth of the last level). Also clears the step's counters."""
    best, depth, order_y, order_lots, order_ahead = (b.best, b.depth, b.order_y, b.order_lots,
                                                     b.order_ahead)
    n, L, Q = depth.shape[2], depth.shape[1], order_y.shape[1]
    for i in range(n):
        rec.mid_before[i] = b.mid[i]
        rec.trades[i] = 0.0
        for s in range(2):
            sc.volume[s, i] = 0.0
            sc.taken[s, i] = 0.0
            sc.taken_value[s, i] = 0.0
            rec.book_traded[s, i] = 0.0
            for q in range(Q):
                sc.filled[s, q, i] = 0.0
        m = (best[1, i] - best[0, i]) * 0.5  # mid, ticks
        for s in range(2):
            sign = 2.0 * s - 1.0
            delta = quotes[s, i]
            quoted = delta == delta  # NaN: no quote
            ref = refs[s, i] if delayed else sign * m  # the signed mid it was sent against
            for q in range(Q):
                if quoted:
                    y = np.ceil(delta + f.ladder[q] + ref)
                    if c.post_only:
                        y = max(y, 1.0 - best[1 - s, i])
                    y = min(y, best[s, i] + c.far)
                else:
                    y = best[s, i] + c.far
                if y != order_y[s, q, i] or order_lots[s, q, i] <= 0:
                    order_y[s, q, i] = y
                    order_lots[s, q, i] = f.quote_lots[q] if quoted else 0.0
                    level = y - best[s, i]
                    if level < 0:
                        order_ahead[s, q, i] = 0.0
                    elif level >= L:
                        order_ahead[s, q, i] = f.mean_depth[L - 1]
                    else:
                        order_ahead[s, q, i] = depth[s, int(level), i]
                if not c.post_only and order_lots[s, q, i] > 0:
                    _take(c, f, b, rec, sc, s, q, i)
            live = order_lots[s, 0, i] > 0 or sc.taken[s, i] > 0
            rec.prices[s, i] = sign * order_y[s, 0, i] * c.tick if live else np.nan


@njit(cache=True, inline="always")
def _price_discovery(c, f, b, rec, sc, uniforms):
    """2. Price discovery: the book moves toward the fundamental in whole ticks; an agent
    order it crosses is picked off at its price, the others lose their place. Then the
    orders' levels, the information state and the lean-dependent rates of the step (the row
    of the rate table for the fundamental–mid gap, filled on first use; computed when the
    table does not hold the gap)."""
    best, order_y, order_lots, order_ahead = b.best, b.order_y, b.order_lots, b.order_ahead
    n, L, Q = b.depth.shape[2], b.depth.shape[1], order_y.shape[1]
    r_requote = f.rows[1]
    mid_table = (b.rate_table.shape[0] - 1) // 2
    for i in range(n):
        m = (best[1, i] - best[0, i]) * 0.5
        gap = b.fundamental[i] - m
        move = np.floor(abs(gap) * c.requote_frac + uniforms[r_requote, i])
        if move > 0:
            move *= np.sign(gap)
            best[0, i] -= move
            best[1, i] += move
            for s in range(2):
                for q in range(Q):
                    lots = order_lots[s, q, i]
                    if lots > 0 and order_y[s, q, i] + best[1 - s, i] <= 0:
                        sc.filled[s, q, i] += lots
                        sc.volume[s, i] += lots
                        rec.trades[i] += 1.0
                        order_lots[s, q, i] = 0.0
                    order_ahead[s, q, i] = 0.0
            m = (best[1, i] - best[0, i]) * 0.5
        for s in range(2):
            for q in range(Q):
                level = order_y[s, q, i] - best[s, i]
                sc.index[s, q, i] = int(min(max(level, 0.0), L - 1.0))
                sc.front[s, q, i] = level < 0
                sc.inside[s, q, i] = level >= 0 and level < L and order_lots[s, q, i] > 0
        gap = b.fundamental[i] - m
        b.event[i] = abs(gap) >= c.informed_gap
        b.event_dir[i] = np.sign(gap)
        half_ticks = 2.0 * gap + mid_table
        if half_ticks == np.floor(half_ticks) and 0 <= half_ticks < b.rate_table.shape[0]:
            row = int(half_ticks)
            sc.rate_row[i] = row
            if np.isnan(b.rate_table[row, 0, 0]):
                _rates(c, f.neg_arrival_dt, gap, b.rate_table[row])
        else:
            sc.rate_row[i] = -1
            _rates(c, f.neg_arrival_dt, gap, b.own_rates[i])


@njit(cache=True, inline="always")
def _limits_and_cancels(c, f, b, sc, uniforms):
    """3. Limit orders and cancellations per level; the agent's place under cancellations
    (``queue_model``)."""
    depth, order_ahead = b.depth, b.order_ahead
    n, L, Q = depth.shape[2], depth.shape[1], b.order_y.shape[1]
    r_arrive, r_cancel = f.rows[4], f.rows[5]
    gone = sc.gone
    for i in range(n):
        rates = _book_rates(b, sc, i)
        for s in range(2):
            cancel_frac = rates[s, _CANCEL]
            for j in range(L):
                d = depth[s, j, i]
                gone[j] = min(np.floor(d * cancel_frac + uniforms[r_cancel + s * L + j, i]), d)
            for q in range(Q):
                if sc.inside[s, q, i]:
                    j = sc.index[s, q, i]
                    order_ahead[s, q, i] = ahead_after_cancel(
                        c.queue_model, c.queue_power, order_ahead[s, q, i], depth[s, j, i],
                        gone[j])
            for j in range(L):
                prob = rates[s, _ARRIVE + j]
                u = uniforms[r_arrive + s * L + j, i]
                added = 0.0
                if u < prob:
                    added = _geometric(min(u / prob, _BELOW_ONE), c.limit_size)
                depth[s, j, i] = depth[s, j, i] + added - gone[j]


@njit(cache=True, inline="always")
def _market_orders(c, f, b, rec, sc, uniforms):
    """4. Market orders: Poisson counts by inversion (sells hit the bids, side 0), informed
    traders on the side of the event's direction; each side's volume walks the book, the
    agent's orders better than the best first, then level by level, the agent's order at its
    level after the volume ahead of it."""
    depth, order_lots, order_ahead = b.depth, b.order_lots, b.order_ahead
    n, L, Q = depth.shape[2], depth.shape[1], b.order_y.shape[1]
    r_count, r_size = f.rows[2], f.rows[3]
    count_cdf = f.count_cdf
    K = count_cdf.shape[1]
    index, inside, front = sc.index, sc.inside, sc.front
    agent_at, taken, fill = sc.agent_at, sc.walked, sc.fill
    for i in range(n):
        for s in range(2):
            u = uniforms[r_count + s, i]
            cdf = 1 if b.event[i] and (2.0 * s - 1.0) * b.event_dir[i] > 0 else 0
            count = 0
            while count < K and count_cdf[cdf, count] <= u:
                count += 1
            if count == 0:
                continue
            rec.trades[i] += count
            total = 0.0
            for k in range(count):
                total += _geometric(uniforms[r_size + s * K + k, i], c.market_size)
            book_before = 0.0
            for j in range(L):
                book_before += depth[s, j, i]
                agent_at[j] = 0.0
            front_lots = 0.0
            for q in range(Q):
                if inside[s, q, i]:
                    agent_at[index[s, q, i]] = order_lots[s, q, i]
                if front[s, q, i]:
                    front_lots += order_lots[s, q, i]
            agent_lots = 0.0
            for j in range(L):
                agent_lots += agent_at[j]
            total = min(total, max(book_before + agent_lots + front_lots - 1.0, 0.0))
            # orders better than the best first, the most aggressive (q = 0) first
            before = 0.0
            front_fill = 0.0
            for q in range(Q):
                lots = order_lots[s, q, i] if front[s, q, i] else 0.0
                fill[q] = min(max(total - before, 0.0), lots)
                before += lots
                front_fill += fill[q]
            left = total - front_fill
            # then level by level; at its level the agent's order comes after the volume ahead
            before = 0.0
            for j in range(L):
                effective = depth[s, j, i] + agent_at[j]
                taken[j] = min(max(left - before, 0.0), effective)
                before += effective
            # agent_at becomes the agent's fills per level
            for q in range(Q):
                if inside[s, q, i]:
                    at = taken[index[s, q, i]]
                    ahead = order_ahead[s, q, i]
                    in_book = min(max(at - ahead, 0.0), order_lots[s, q, i])
                    fill[q] += in_book
                    order_ahead[s, q, i] = max(ahead - at, 0.0)
                    agent_at[index[s, q, i]] = in_book
            for j in range(L):
                depth[s, j, i] = depth[s, j, i] - taken[j] + agent_at[j]
            for q in range(Q):
                order_lots[s, q, i] -= fill[q]
                sc.filled[s, q, i] += fill[q]
            sc.volume[s, i] += total
            book_after = 0.0
            for j in range(L):
                book_after += depth[s, j, i]
            rec.book_traded[s, i] += (book_before - book_after) * c.lot


@njit(cache=True, inline="always")
def _maintenance(c, f, b, sc, uniforms):
    """5. Book maintenance: emptied best levels leave (new levels enter at the back with the
    mean depth of their level); an open spread refills by a tick per side (the bid first
    when one tick is left)."""
    depth, best = b.depth, b.best
    n, L = depth.shape[2], depth.shape[1]
    r_refill = f.rows[6]
    for i in range(n):
        for s in range(2):
            _drop_empty_levels(f, depth, best, s, i)
        spread = best[1, i] + best[0, i]
        if spread > 1:
            rates = _book_rates(b, sc, i)
            for s in range(2):
                prob = rates[s, _REFILL]
                u = uniforms[r_refill + s, i]
                if u < prob and spread > 1:
                    for j in range(L - 1, 0, -1):
                        depth[s, j, i] = depth[s, j - 1, i]
                    depth[s, 0, i] = _geometric(min(u / prob, _BELOW_ONE), c.limit_size)
                    best[s, i] -= 1.0
                    spread -= 1.0


@njit(cache=True, inline="always")
def _information_events(c, f, b, uniforms):
    """6. Information events: a geometric jump of the fundamental, up or down."""
    r_event = f.rows[0]
    for i in range(b.fundamental.shape[0]):
        if uniforms[r_event, i] < c.event_start:
            u = uniforms[r_event + 1, i]
            if u < 0.5:
                b.fundamental[i] += _geometric(2.0 * u, c.event_jump)
            else:
                b.fundamental[i] -= _geometric(2.0 * u - 1.0, c.event_jump)


@njit(cache=True, inline="always")
def _record(c, b, rec, sc):
    """The step record: the agent's fills and their notional (maker and taker), the book, the
    volumes, the mid."""
    order_y = b.order_y
    n, Q = order_y.shape[2], order_y.shape[1]
    for i in range(n):
        for s in range(2):
            sign = 2.0 * s - 1.0
            size = sc.taken[s, i]
            value = sc.taken_value[s, i]
            for q in range(Q):
                size += sc.filled[s, q, i]
                value += sc.filled[s, q, i] * order_y[s, q, i]
            rec.fills[s, i] = size * c.lot
            rec.notional[s, i] = value * (sign * (c.lot * c.tick))
            rec.taker_fills[s, i] = sc.taken[s, i] * c.lot
            rec.taker_notional[s, i] = sc.taken_value[s, i] * (sign * (c.lot * c.tick))
    record_book(rec, b.best, b.depth, sc.volume, b.mid, c.lot, c.tick)


@njit(cache=True)
def _step_books(state, quotes, refs, delayed, uniforms):
    """One step of every book: the phases of the module doc in turn, each over all books.
    ``state`` (:class:`~mmgym.markets.state.KernelState`) holds the constants and the
    persistent arrays."""
    c, f, b, rec = state.consts, state.fixed, state.book, state.record
    n, L, Q = b.depth.shape[2], b.depth.shape[1], b.order_y.shape[1]
    sc = _Scratch(
        filled=np.empty((2, Q, n)), taken=np.empty((2, n)), taken_value=np.empty((2, n)),
        volume=np.empty((2, n)), index=np.empty((2, Q, n), dtype=np.int64),
        inside=np.empty((2, Q, n), dtype=np.bool_), front=np.empty((2, Q, n), dtype=np.bool_),
        rate_row=np.empty(n, dtype=np.int64), gone=np.empty(L), agent_at=np.empty(L),
        walked=np.empty(L), fill=np.empty(Q))
    _agent_orders(c, f, b, rec, sc, quotes, refs, delayed)
    _price_discovery(c, f, b, rec, sc, uniforms)
    _limits_and_cancels(c, f, b, sc, uniforms)
    _market_orders(c, f, b, rec, sc, uniforms)
    _maintenance(c, f, b, sc, uniforms)
    _information_events(c, f, b, uniforms)
    _record(c, b, rec, sc)
