"""The ``wide`` market: a sparse limit order book with a wide, fluctuating spread and informed
flow, the regime of a small-tick equity (defaults calibrated to the LOBSTER AMZN sample).

Three layers, each from the literature:

* **The book** is a zero-intelligence order book (Smith, Farmer, Gillemot & Krishnamurthy,
  "Statistical theory of the continuous double auction", Quantitative Finance 3, 2003;
  Farmer, Patelli & Zovko, "The predictive power of zero intelligence in financial
  markets", PNAS 102(6), 2005): limit orders of one round lot arrive at a constant rate at
  prices uniform over a band of ticks around the liquidity providers' consensus price,
  resting orders are cancelled at a constant rate, market orders consume the book. Where
  the tick is small against the price most ticks near the touch are empty, and the spread is
  several ticks wide and changes all the time.
* **The consensus** ``c``, the price around which liquidity providers place their orders,
  moves with each market order in its direction, by ``impact_ticks·√(size/mean size)``: the
  impact of dealers who cannot tell informed from uninformed orders (Kyle, "Continuous
  auctions and insider trading", Econometrica 53(6), 1985), concave in the order's size as
  measured across markets (the square-root law: Tóth, Lempérière, Deremble, de Lataillade,
  Kockelkoren & Bouchaud, "Anomalous price impact and the critical nature of liquidity in
  financial markets", Physical Review X 1, 2011); it also learns the fundamental at
  ``requote_rate``; the whole book is requoted to follow it in whole ticks.
* **Information** (Easley & O'Hara's PIN model, as in the ``lob`` market): a latent
  fundamental ``v`` jumps at information events; informed traders buy with market orders
  while ``v`` is at least ``informed_gap_ticks`` above the best ask and sell while it is that
  far below the best bid (they trade against stale quotes until the price has moved), and
  the liquidity providers' order flow leans toward ``v``. So uninformed market orders pay the
  spread, informed ones take from the quotes in their way and move the price for good, and
  the observation tells them partly: the book's imbalance (the lean), OFI and VPIN (the
  one-sided informed flow).

Prices are in ticks; the book holds ``L = levels`` ticks a side from each side's best (level
``j`` of the bids is the price ``best_bid − j``, of the asks ``best_ask + j``), volumes in lots.
Each step of ``dt`` seconds runs, in order:

1. **The agent's orders** (the quotes in force, in ticks from the mid the agent saw): a bid
   at ``floor(mid − δ_b)``, an ask at ``ceil(mid + δ_a)`` of ``quote_size``, post-only by
   default (an order that would cross is placed one tick behind the opposite best). An
   order whose price is unchanged keeps its place in the queue; a new or moved one joins the
   back of the volume at its price (alone at the front when its price is better than the
   best; behind the window, the book's mean depth per tick). With latency
   (:mod:`mmgym.markets.latency`) a quote is priced at submission and in force
   ``entry_latency_steps`` steps later, a withdrawal ``cancel_latency_steps`` steps later;
   the latest submission that has arrived is in force, and until then the previous order
   stays. Without ``post_only`` an order that
   crosses the opposite best takes liquidity at once, as in ``lob``: it walks the opposite
   levels at or better than its price up to its size (leaving the side one lot), at their
   prices (taker fills, charged ``taker_fee_bps``), moves the consensus like a market order
   of that size, and the remainder rests at its price (one tick behind the opposite best if
   the window ran out first).
2. **Price discovery**: the consensus moves toward ``v`` by the fraction
   ``1 − exp(−requote_rate·dt)`` of the gap; when it has moved a whole tick or more from the
   anchor the book was placed around, the whole book moves by the whole ticks (the anchor
   with it). An agent order the moved book crosses is picked off at its price by arbitrageurs
   (Budish, Cramton & Shim 2015); the others stand at the front of their level, the requoted
   volume queued behind them (as in ``lob``).
3. **Limit orders** arrive at ``limit_rate`` per side per s, each ``d`` ticks from a center,
   ``d`` uniform on ``placement_min_ticks .. placement_ticks`` (a bid at
   ``floor(center − d)``, an ask at ``ceil(center + d)``, post-only), of ``limit_size_lots``
   (``limit_sizes="fixed"``, round lots) or a geometric size of that mean. A share
   ``two_sided`` of them are **two-sided quotes** (one Poisson count of pairs, a bid and an
   ask at the same ``d`` around the anchor skewed toward the fundamental by
   ``round(lean·lean_scale_ticks·tanh((v − c)/lean_scale_ticks))`` ticks: market makers
   quoting both sides), the rest one-sided orders around the anchor, each side its own
   Poisson count (rates leaning, below). One inside the spread becomes the new best; one at
   or through the agent's opposite quote trades with it first; one behind the window is not
   kept. Two-sided quotes keep the mid still when liquidity comes and goes (the sample's mid
   returns are not autocorrelated); one-sided orders carry the lean into the book's depth.
4. **Cancellations**: each resting order is cancelled at rate ``cancel_rate``: a Poisson
   number of two-sided cancellations of mean ``two_sided·cancel_rate·dt·D/(2·size)``
   (``D`` both sides' volume, ``size`` = ``limit_size_lots``), each at a level drawn in
   proportion to the volume with the order at the mirror price about the pairs' current
   center, the anchor skewed as in 3 (when there is one), and per side one-sided ones of mean
   ``(1 − two_sided)·cancel_rate·dt·D_side/size``, each of one order's size (at most the
   level's volume; a side keeps at least one lot). The agent's place in the queue advances
   with the cancellations at its level (``queue_model`` as in ``lob``, see
   :mod:`mmgym.markets.queue`).
5. **Market orders**: uninformed buys and sells at rate ``market_rate`` each, informed ones at
   ``informed_rate`` on the side of an event under way, at most ``max_orders`` per side per
   step; sizes geometric with mean ``market_size_lots``. A side's orders walk the book in
   price-time order, the agent's orders included (better than the best first; at its level
   after the volume ahead of it); an order larger than the window is truncated to leave the
   book one lot. An emptied best level leaves: the best moves to the next level holding
   volume. The consensus then moves by ``impact_ticks·√(size/market_size_lots)`` per buy
   order of ``size`` lots, down as much per sell.
6. **Information events** at rate ``event_rate``: the fundamental jumps up or down with equal
   probability by a geometric number of ticks of mean ``event_jump_ticks``.

**Lean**: with ``ℓ = lean·tanh((v − c)/lean_scale_ticks)``, the bid side's one-sided
limit-order rate is multiplied by ``1 + ℓ`` and its cancellation rate by ``1 − ℓ``, the ask
side's the other way round, and two-sided quotes are skewed by ``ℓ·lean_scale_ticks`` ticks
(rounded): when the fundamental is above the consensus, bids arrive faster, rest longer and
sit closer, so the book's imbalance predicts the price.

The mid is the book's without the agent's orders. Randomness: ``n_uniforms`` uniforms per
step (events 2, limit orders 3 + 6·``max_limit_orders``, cancellations 3 + 6·``max_cancels``,
market orders 2 + 2·``max_orders``; at least ``2·levels`` for the reset), none depending on the
agent's quotes. At reset the spread is ``initial_spread_ticks`` around ``s0``, the best level
of each side holds an order and every other tick one with probability
``1 − exp(−limit_rate/(W·cancel_rate))`` (``W`` the ticks an order may land on: the stationary
occupancy of a tick away from the touch), drawn from the reset's uniforms; the fundamental
and the consensus are the mid.

Implementation: the step is compiled (numba, ``_step_books``): a driver calling one function
per phase of 1–6 (and one for the step record), each looping over all the books and inlined
into the driver; what a phase leaves for a later one (the agent's fills, the aggressor volume
and impact, the lean) is kept per book in scratch arrays. The persistent arrays and constants
reach it in one :class:`~mmgym.markets.state.KernelState`, unboxed once; the per-order helpers
(:func:`_place`, :func:`_cancel`) take the few arrays they need one by one (a call passing the
state tuples costs more than the order). Books are independent, so a book's
arithmetic is the same whatever the batch. A step's order-flow events are few, so its cost
barely depends on the window.
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
class WideParams:
    """Parameters of the ``wide`` market; defaults calibrated to the LOBSTER AMZN sample
    (NASDAQ, 2012-06-21, 09:30–12:00): ``python benchmarks/wide_calibration.py`` prints the
    facts side by side with the replay of the sample and says which are calibrated and which
    are chosen.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``s0`` | initial mid | USD | 224 | (0, inf) |
    | ``tick`` | tick size | USD | 0.01 | (0, inf) |
    | ``lot`` | lot size | shares | 1 | (0, inf) |
    | ``levels`` | ticks per side in the book's window | - | 40 | [4, 200] |
    | ``dt`` | step length | s | 0.1 | (0, 60] |
    | ``episode_seconds`` | episode length (a multiple of ``dt``) | s | 300 | (dt, 10⁷·dt] |
    | ``limit_rate`` | limit orders per side | 1/s | 1.05 | [0, inf) |
    | ``placement_ticks`` | limit orders land at most this far from the center | ticks | 12 | |
    | ``placement_min_ticks`` | and at least this far | ticks | 6 | [1, placement_ticks] |
    | ``limit_size_lots`` | limit order size (its mean if geometric) | lots | 100 | [1, inf) |
    | ``limit_sizes`` | ``fixed`` or ``geometric`` | - | fixed | |
    | ``two_sided`` | share of the limit orders posted as two-sided quotes | - | 0.6 | [0, 1] |
    | ``cancel_rate`` | cancellation rate per resting order | 1/s | 0.16 | [0, inf) |
    | ``market_rate`` | uninformed market orders per side (ε) | 1/s | 0.046 | [0, inf) |
    | ``informed_rate`` | informed market orders during an event (μ) | 1/s | 0.77 | [0, inf) |
    | ``market_size_lots`` | mean market order size | lots | 134 | [1, inf) |
    | ``max_orders`` | market orders per side per step, at most | - | 6 | [1, 20] |
    | ``max_limit_orders`` | limit orders per side per step, at most | - | 6 | [1, 20] |
    | ``max_cancels`` | cancellations per side per step, at most | - | 6 | [1, 20] |
    | ``event_rate`` | information events per second (α) | 1/s | 0.16 | [0, inf) |
    | ``event_jump_ticks`` | mean move of the fundamental at an event | ticks | 4.8 | [1, inf) |
    | ``informed_gap_ticks`` | informed trade while ``v`` is this beyond the quotes | ticks | 1 | |
    | ``requote_rate`` | rate at which the consensus learns ``v`` | 1/s | 0 | [0, inf) |
    | ``impact_ticks`` | consensus move of a market order of mean size | ticks | 1.8 | [0, inf) |
    | ``lean`` | lean of the liquidity providers' flow toward ``v`` | - | 0.95 | [0, 1) |
    | ``lean_scale_ticks`` | ``v − c`` of full lean (tanh scale) | ticks | 3 | (0, inf) |
    | ``initial_spread_ticks`` | the spread at reset | ticks | 14 | [1, levels] |
    | ``quote_size`` | size of the agent's order | shares | 100 | lot multiple |
    | ``entry_latency_steps`` | latency of a new or moved order | steps | 0 | [0, 1000] |
    | ``cancel_latency_steps`` | latency of a withdrawal | steps | 0 | [0, 1000] |
    | ``post_only`` | quotes never take liquidity (module doc, 1) | - | true | bool |
    | ``queue_model`` | queue model (as ``lob``, :mod:`mmgym.markets.queue`) | - | probabilistic | |
    | ``queue_power`` | exponent ``n`` of the ``power`` queue model | - | 2 | (0, 100] |
    | ``max_offset_ticks`` | action bound: offsets in [−max, max] | ticks | 30 | (0, levels] |

    ``placement_ticks`` is in [1, 1000]; ``informed_gap_ticks`` in (0, inf). The Poisson counts
    are truncated at their ``max_*``: with the defaults the largest mean per step is
    (0.046 + 0.77)·0.1 = 0.08 market orders, or 1.95·1.05·0.1 = 0.2 limit orders (the
    lean's largest factor 1 + 0.95), whose probability of more than 6 is below 10⁻⁸.
    """

    s0: float = 224.0
    tick: float = 0.01
    lot: float = 1.0
    levels: int = 40
    dt: float = 0.1
    episode_seconds: float = 300.0
    limit_rate: float = 1.05
    placement_ticks: int = 12
    placement_min_ticks: int = 6
    limit_size_lots: float = 100.0
    limit_sizes: Literal["geometric", "fixed"] = "fixed"
    two_sided: float = 0.6
    cancel_rate: float = 0.16
    market_rate: float = 0.046
    informed_rate: float = 0.77
    market_size_lots: float = 134.0
    max_orders: int = 6
    max_limit_orders: int = 6
    max_cancels: int = 6
    event_rate: float = 0.16
    event_jump_ticks: float = 4.8
    informed_gap_ticks: float = 1.0
    requote_rate: float = 0.0
    impact_ticks: float = 1.8
    lean: float = 0.95
    lean_scale_ticks: float = 3.0
    initial_spread_ticks: int = 14
    quote_size: float = 100.0
    entry_latency_steps: int = 0
    cancel_latency_steps: int = 0
    post_only: bool = True
    queue_model: Literal["conservative", "probabilistic", "power", "log"] = "probabilistic"
    queue_power: float = 2.0
    max_offset_ticks: float = 30.0

    def __post_init__(self) -> None:
        pos = {"low": 0, "low_open": True}
        nonneg = {"low": 0}
        check_number("s0", self.s0, **pos)
        check_number("tick", self.tick, **pos)
        check_number("lot", self.lot, **pos)
        check_number("levels", self.levels, low=4, high=200, integer=True)
        check_episode(self.dt, self.episode_seconds)
        check_number("limit_rate", self.limit_rate, **nonneg)
        check_number("placement_ticks", self.placement_ticks, low=1, high=1000, integer=True)
        check_number("placement_min_ticks", self.placement_min_ticks, low=1,
                     high=self.placement_ticks, integer=True)
        check_number("limit_size_lots", self.limit_size_lots, low=1)
        check_choice("limit_sizes", self.limit_sizes, ("geometric", "fixed"))
        check_number("two_sided", self.two_sided, low=0, high=1)
        check_number("cancel_rate", self.cancel_rate, **nonneg)
        check_number("market_rate", self.market_rate, **nonneg)
        check_number("informed_rate", self.informed_rate, **nonneg)
        check_number("market_size_lots", self.market_size_lots, low=1)
        for name in ("max_orders", "max_limit_orders", "max_cancels"):
            check_number(name, getattr(self, name), low=1, high=20, integer=True)
        check_number("event_rate", self.event_rate, **nonneg)
        check_number("event_jump_ticks", self.event_jump_ticks, low=1)
        check_number("informed_gap_ticks", self.informed_gap_ticks, **pos)
        check_number("requote_rate", self.requote_rate, **nonneg)
        check_number("impact_ticks", self.impact_ticks, **nonneg)
        check_number("lean", self.lean, low=0, high=1, high_open=True)
        check_number("lean_scale_ticks", self.lean_scale_ticks, **pos)
        check_number("initial_spread_ticks", self.initial_spread_ticks, low=1,
                     high=self.levels, integer=True)
        check_number("quote_size", self.quote_size, low=self.lot)
        lots = self.quote_size / self.lot
        if abs(lots - round(lots)) > 1e-9 * lots:
            raise ConfigError(f"quote_size={self.quote_size!r}: must be a multiple of "
                              f"lot={self.lot!r}")
        check_latency(self.entry_latency_steps, self.cancel_latency_steps)
        check_bool("post_only", self.post_only)
        check_choice("queue_model", self.queue_model, QUEUE_MODELS)
        check_number("queue_power", self.queue_power, low=QUEUE_POWER_RANGE[0],
                     high=QUEUE_POWER_RANGE[1], low_open=True)
        check_number("max_offset_ticks", self.max_offset_ticks, low=0, high=self.levels,
                     low_open=True)

    def placement_width(self) -> int:
        """The number of ticks a limit order may land on, ``W = placement_ticks −
        placement_min_ticks + 1``."""
        return self.placement_ticks - self.placement_min_ticks + 1

    def tick_occupancy(self) -> float:
        """The stationary probability that a tick far from the touch holds an order:
        ``1 − exp(−λ/(W·θ))``, orders arriving at ``λ/W`` per tick and living ``1/θ``."""
        if self.cancel_rate == 0:
            return 1.0
        return -math.expm1(-self.limit_rate / (self.placement_width() * self.cancel_rate))

    def mean_tick_depth_lots(self) -> float:
        """The mean volume of a tick far from the touch, ``λ·limit_size_lots/(W·θ)`` lots (with
        no cancellations, what arrives in an episode)."""
        theta = max(self.cancel_rate, 1.0 / self.episode_seconds)
        return self.limit_rate * self.limit_size_lots / (self.placement_width() * theta)


class _Constants(NamedTuple):
    """Scalar constants of :func:`_step_books` (rates turned into per-step numbers)."""

    tick: float
    lot: float
    quote_lots: float
    far_depth: float  # the queue ahead of an order behind the window, lots
    requote_frac: float  # 1 − exp(−requote_rate·dt)
    impact: float  # consensus move of a market order of mean size, ticks
    inv_market_size: float  # 1 / market_size_lots
    informed_gap: float
    inv_lean_scale: float
    lean: float
    limit_dt: float  # limit_rate·dt
    placement_min: float  # placement_min_ticks
    placement: float  # placement_width()
    cancel_dt: float  # cancel_rate·dt / limit_size_lots: cancellations per lot per step
    event_start: float  # 1 − exp(−event_rate·dt)
    limit_size: float  # −1 / ln(1 − 1/mean) of geometric sizes (0: size 1); −size: fixed
    market_size: float
    event_jump: float
    queue_model: int  # a code of mmgym.markets.queue.QUEUE_MODELS
    queue_power: float
    two_sided: float  # the share of the limit-order flow posted as two-sided quotes
    skew_ticks: float  # lean·lean_scale_ticks: the largest skew of a two-sided quote
    post_only: bool


class _Fixed(NamedTuple):
    """The step's fixed arrays."""

    rows: np.ndarray  # the first row of each part of the step's uniforms (uniform_slices)
    limits: np.ndarray  # max_limit_orders, max_cancels
    count_cdf: np.ndarray  # (2, K) CDF of the market orders per side, without/with informed


class _Book(NamedTuple):
    """The state arrays of the books, for :func:`_step_books` (see :class:`WideMarket`)."""

    depth: np.ndarray  # (2, L, n) lots
    best: np.ndarray  # (2, n) signed best: (−best bid, best ask), ticks
    fundamental: np.ndarray  # (n,) ticks
    consensus: np.ndarray  # (n,) the liquidity providers' value, ticks
    anchor: np.ndarray  # (n,) the consensus the book is placed around, ticks
    event: np.ndarray  # (n,) bool
    event_dir: np.ndarray  # (n,)
    order_y: np.ndarray  # (2, n) signed prices of the agent's orders, ticks
    order_lots: np.ndarray  # (2, n)
    order_ahead: np.ndarray  # (2, n) lots ahead in the queue
    mid: np.ndarray  # (n,) price units


class _Scratch(NamedTuple):
    """Per-book values one phase of the step leaves for a later one."""

    filled: np.ndarray  # (2, n) the agent's maker fills of the step, lots
    taken: np.ndarray  # (2, n) its taker fills, lots
    taken_value: np.ndarray  # (2, n) their Σ lots × signed price (the order's side), ticks
    volume: np.ndarray  # (2, n) aggressor volume of the step per side hit, lots
    push: np.ndarray  # (2, n) the market orders' impact units, Σ √(size/mean), per side hit
    tilt: np.ndarray  # (n,) tanh((v − c)/lean_scale_ticks) after price discovery


class WideMarket(LatentFundamental):
    """``n`` independent sparse order books; see the module doc.

    Prices are kept in ticks and stored *signed* per side, ``y = −price`` on the bid side and
    ``y = price`` on the ask side, so that "further from the touch" is "larger y" on both
    sides: the level of a price is ``y − y_best`` and the book's arrays are ``(2, levels, n)``.
    """

    name: ClassVar[str] = "wide"
    Params: ClassVar[type] = WideParams
    default_max_inventory: ClassVar[float] = 1000.0
    has_book: ClassVar[bool] = True
    default_features: ClassVar[tuple[str, ...]] = (
        "inventory", "volatility", "ofi", "vpin", "imbalance", "time_remaining",
    )

    def __init__(self, n: int, **params: Any) -> None:
        p = self.p = self.Params(**params)
        self.n = n
        L = p.levels
        self.horizon_steps = round(p.episode_seconds / p.dt)
        self.dt = p.dt
        self.quote_size = float(round(p.quote_size / p.lot) * p.lot)
        self.offset_low, self.offset_high = -p.max_offset_ticks, p.max_offset_ticks
        self.uniform_slices: dict[str, slice] = {}
        start = 0
        for part, size in (("event", 2), ("limit_count", 3),
                           ("limit", 6 * p.max_limit_orders), ("cancel_count", 3),
                           ("cancel", 6 * p.max_cancels), ("count", 2),
                           ("size", 2 * p.max_orders)):
            self.uniform_slices[part] = slice(start, start + size)
            start += size
        self.n_uniforms = max(start, 2 * L)
        self._rows = np.array([s.start for s in self.uniform_slices.values()], dtype=np.int64)
        self._limits = np.array([p.max_limit_orders, p.max_cancels], dtype=np.int64)
        self._consts = _Constants(
            tick=p.tick,
            lot=p.lot,
            quote_lots=float(round(p.quote_size / p.lot)),
            far_depth=p.mean_tick_depth_lots(),
            requote_frac=-math.expm1(-p.requote_rate * p.dt),
            impact=p.impact_ticks,
            inv_market_size=1.0 / p.market_size_lots,
            informed_gap=p.informed_gap_ticks,
            inv_lean_scale=1.0 / p.lean_scale_ticks,
            lean=p.lean,
            limit_dt=p.limit_rate * p.dt,
            placement_min=float(p.placement_min_ticks),
            placement=float(p.placement_width()),
            cancel_dt=p.cancel_rate * p.dt / p.limit_size_lots,
            event_start=-math.expm1(-p.event_rate * p.dt),
            limit_size=(geometric_scale(p.limit_size_lots) if p.limit_sizes == "geometric"
                        else -p.limit_size_lots),
            market_size=geometric_scale(p.market_size_lots),
            event_jump=geometric_scale(p.event_jump_ticks),
            queue_model=QUEUE_MODELS[p.queue_model],
            queue_power=float(p.queue_power),
            two_sided=float(p.two_sided),
            skew_ticks=p.lean * p.lean_scale_ticks,
            post_only=bool(p.post_only),
        )
        K = p.max_orders
        self._count_cdf = np.array([poisson_cdf(r * p.dt, K) for r in
                                    (p.market_rate, p.market_rate + p.informed_rate)])
        # state
        self.depth = np.zeros((2, L, n))  # lots
        self.best = np.zeros((2, n))  # signed best: (−best bid, best ask), ticks
        self.fundamental = np.zeros(n)  # ticks
        self.consensus = np.zeros(n)  # ticks
        self.anchor = np.zeros(n)  # ticks
        self.event = np.zeros(n, dtype=bool)
        self.event_dir = np.zeros(n)
        self.order_y = np.zeros((2, n))  # signed order prices, ticks
        self.order_lots = np.zeros((2, n))
        self.order_ahead = np.zeros((2, n))
        self.latency = Latency(n, p.entry_latency_steps, p.cancel_latency_steps)
        self._sign = np.array([[-1.0], [1.0]])  # (2, 1): y = sign·price
        self.mid = np.zeros(n)
        rec = self.step_record = LOBStep(
            mid_before=np.empty(n), mid=self.mid, prices=np.full((2, n), np.nan),
            fills=np.zeros((2, n)), notional=np.zeros((2, n)), best=np.zeros((2, n)),
            depth=np.zeros((2, L, n)), buy_volume=np.zeros(n), sell_volume=np.zeros(n),
            trades=np.zeros(n), book_traded=np.zeros((2, n)), event=self.event,
            taker_fills=np.zeros((2, n)), taker_notional=np.zeros((2, n)),
        )
        self._state = new_state(
            self._consts,
            _Fixed(self._rows, self._limits, self._count_cdf),
            _Book(self.depth, self.best, self.fundamental, self.consensus, self.anchor,
                  self.event, self.event_dir, self.order_y, self.order_lots, self.order_ahead,
                  self.mid),
            BookRecord.of(rec),
        )

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def hidden_state(self) -> dict[str, np.ndarray]:
        """What the market knows and the agents do not, for diagnostics (the ``oracle``
        policy): the fundamental, the liquidity providers' consensus, the mid and the best
        quotes in price units, whether an information event is under way and its direction
        (+1 informed buying, −1 selling, 0 none). Never part of the observation."""
        tick = self.p.tick
        return {"fundamental": self.fundamental * tick, "consensus": self.consensus * tick,
                "event": self.event.copy(), "direction": self.event_dir * self.event,
                "mid": self.mid.copy(),
                "best_bid": -self.best[_BID] * tick, "best_ask": self.best[_ASK] * tick}

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        p = self.p
        L = p.levels
        best_bid = math.floor(p.s0 / p.tick) - p.initial_spread_ticks // 2
        idx = np.flatnonzero(mask)
        _reset_books(idx, uniforms, L, p.tick_occupancy(), self._consts.limit_size, self.depth)
        self.best[_BID, idx] = -best_bid
        self.best[_ASK, idx] = best_bid + p.initial_spread_ticks
        self.fundamental[idx] = best_bid + 0.5 * p.initial_spread_ticks
        self.consensus[idx] = self.fundamental[idx]
        self.anchor[idx] = self.fundamental[idx]
        self.event[idx] = False
        self.event_dir[idx] = 0.0
        self.order_lots[:, idx] = 0.0
        self.order_ahead[:, idx] = 0.0
        self.order_y[:, idx] = 0.0
        self.latency.reset(mask)
        self.mid[idx] = (best_bid + 0.5 * p.initial_spread_ticks) * p.tick
        rec = self.step_record
        rec.prices[:, idx] = np.nan
        rec.best[_BID, idx] = best_bid * p.tick
        rec.best[_ASK, idx] = (best_bid + p.initial_spread_ticks) * p.tick
        rec.depth[:, :, idx] = self.depth[:, :, idx] * p.lot

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        rec = self.step_record
        lat = self.latency
        if lat.active:  # the orders in force, priced against the signed mid at submission
            mid = (self.best[_ASK] - self.best[_BID]) * 0.5
            quotes, refs = lat.arrive(offsets, self._sign * mid)
        else:
            quotes, refs = offsets, offsets
        _step_books(self._state, quotes, refs, lat.active, uniforms)
        return rec


@njit(cache=True)
def _geometric(u: float, scale: float) -> float:
    """A geometric size ≥ 1 from a uniform by inversion, ``ceil(−ln(1 − u)·scale)`` (size 1
    when ``scale`` is 0); a negative ``scale`` is a fixed size, ``−scale``."""
    if scale <= 0.0:
        return 1.0 if scale == 0.0 else -scale
    return max(np.ceil(-np.log1p(-u) * scale), 1.0)


@njit(cache=True)
def _poisson(u: float, mean: float, k_max: int) -> int:
    """A Poisson count of the given mean from a uniform by inversion, truncated at
    ``k_max``."""
    if mean <= 0.0:
        return 0
    term = np.exp(-mean)
    cdf = term
    k = 0
    while k < k_max and cdf <= u:
        k += 1
        term *= mean / k
        cdf += term
    return k


@njit(cache=True)
def _reset_books(idx, uniforms, L, occupancy, size_scale, depth):
    """The book at reset (module doc), from the reset uniforms ``(m, len(idx))``: row
    ``s·L + j`` decides level ``j`` of side ``s`` (an order when below the occupancy, its
    geometric size from the same uniform); the best levels always hold an order."""
    for k in range(len(idx)):
        i = idx[k]
        for s in range(2):
            for j in range(L):
                u = uniforms[s * L + j, k]
                if j == 0:
                    depth[s, j, i] = _geometric(u, size_scale)
                elif u < occupancy:
                    depth[s, j, i] = _geometric(min(u / occupancy, _BELOW_ONE), size_scale)
                else:
                    depth[s, j, i] = 0.0


@njit(cache=True)
def _shift_in(depth, s, i, shift):
    """Move side ``s`` of book ``i`` ``shift`` ticks away from the touch (a new best level
    ``shift`` ticks inside it): level ``j`` becomes ``j + shift``, those past the window
    leave, the new levels are empty."""
    L = depth.shape[1]
    for j in range(L - 1, -1, -1):
        src = j - shift
        depth[s, j, i] = depth[s, src, i] if src >= 0 else 0.0


@njit(cache=True)
def _drop_empty_best(depth, best, s, i):
    """An emptied best level leaves: the best moves to the next level with volume (the
    side keeps at least one lot, so there is one); the levels entering at the back are
    empty."""
    L = depth.shape[1]
    if depth[s, 0, i] > 0.0:
        return
    shift = 1
    while shift < L and depth[s, shift, i] <= 0.0:
        shift += 1
    if shift == L:
        depth[s, 0, i] = 1.0  # unreachable: a side never loses its last lot
        return
    for j in range(L):
        src = j + shift
        depth[s, j, i] = depth[s, src, i] if src < L else 0.0
    best[s, i] += shift


@njit(cache=True)
def _side_volume(depth, s, i):
    """The volume of side ``s`` of book ``i``, lots."""
    total = 0.0
    for j in range(depth.shape[1]):
        total += depth[s, j, i]
    return total


@njit(cache=True)
def _level_at(depth, s, i, target):
    """The level holding the ``target``-th lot of side ``s`` counted from the best."""
    j = 0
    acc = depth[s, 0, i]
    while acc <= target and j < depth.shape[1] - 1:
        j += 1
        acc += depth[s, j, i]
    return j


@njit(cache=True)
def _place(depth, best, order_y, order_lots, filled, volume, trades, s, i, d, center, size):
    """A limit order of ``size`` lots on side ``s`` ``d`` ticks from ``center``, post-only:
    it trades first with the agent's opposite order when it reaches it (the agent is the best
    there: its ``filled``, the ``volume`` and ``trades`` of book ``i``), then rests (a new best
    inside the spread; not kept behind the window). The arrays come one by one: a call with
    the state tuples costs more than the order."""
    sign = 2.0 * s - 1.0
    y = max(np.ceil(d + sign * center), 1.0 - best[1 - s, i])
    o = 1 - s
    if order_lots[o, i] > 0 and order_y[o, i] + y <= 0:
        take = min(size, order_lots[o, i])
        filled[o, i] += take
        volume[o, i] += take
        trades[i] += 1.0
        order_lots[o, i] -= take
        size -= take
        if size <= 0.0:
            return
    j = y - best[s, i]
    if j < 0:
        _shift_in(depth, s, i, int(-j))
        depth[s, 0, i] = size
        best[s, i] = y
    elif j < depth.shape[1]:
        depth[s, int(j), i] += size


@njit(cache=True)
def _cancel(c, depth, best, order_y, order_lots, order_ahead, s, i, j, size):
    """Cancel one order of ``size`` lots at level ``j`` of side ``s`` (at most the level's
    volume; the side keeps one lot), advancing the agent's place there (``queue_model``)."""
    queue = depth[s, j, i]
    gone = min(size, queue, _side_volume(depth, s, i) - 1.0)
    if gone <= 0.0:
        return
    if order_lots[s, i] > 0 and order_y[s, i] - best[s, i] == j:
        order_ahead[s, i] = ahead_after_cancel(c.queue_model, c.queue_power, order_ahead[s, i],
                                               queue, gone)
    depth[s, j, i] = queue - gone
    if j == 0:
        _drop_empty_best(depth, best, s, i)


@njit(cache=True)
def _take(c, book, rec, sc, s, i):
    """The agent's order on side ``s`` of book ``i`` (``post_only`` off) takes what it crosses:
    the opposite side's levels at or better than its price, best first, up to its size and
    leaving the side one lot, at their prices (``sc.taken``, ``sc.taken_value``, the aggressor
    volume and the impact of the side hit); an emptied best level leaves. The remainder rests
    at the front, one tick behind the opposite best if it still crosses it."""
    depth, best, order_y = book.depth, book.best, book.order_y
    L = depth.shape[1]
    o = 1 - s
    y = order_y[s, i]
    if y + best[o, i] > 0:  # does not cross
        return
    lots = book.order_lots[s, i]
    room = _side_volume(depth, o, i) - 1.0
    took = 0.0
    j = 0
    while j < L and lots > 0 and room > 0 and y + best[o, i] + j <= 0:
        take = min(lots, depth[o, j, i], room)
        depth[o, j, i] -= take
        lots -= take
        room -= take
        took += take
        sc.taken_value[s, i] -= take * (best[o, i] + j)  # the level's price, signed as y
        j += 1
    if took > 0:
        sc.taken[s, i] += took
        sc.volume[o, i] += took
        sc.push[o, i] += np.sqrt(took * c.inv_market_size)
        rec.trades[i] += 1.0
        rec.book_traded[o, i] += took * c.lot
        book.order_lots[s, i] = lots
        _drop_empty_best(depth, best, o, i)
    if lots > 0 and y + best[o, i] <= 0:
        order_y[s, i] = 1.0 - best[o, i]
    book.order_ahead[s, i] = 0.0


@njit(cache=True, inline="always")
def _agent_orders(c, book, rec, sc, quotes, refs, delayed):
    """1. The agent's orders in force (``quotes``, offsets in ticks; with latency,
    ``delayed``, priced against ``refs``, the signed mid they were sent against, else against
    the mid now), post-only or taking what they cross (:func:`_take`). Also clears the step's
    counters."""
    depth, best = book.depth, book.best
    order_y, order_lots, order_ahead = book.order_y, book.order_lots, book.order_ahead
    n, L = depth.shape[2], depth.shape[1]
    for i in range(n):
        rec.mid_before[i] = book.mid[i]
        rec.trades[i] = 0.0
        for s in range(2):
            sc.filled[s, i] = 0.0
            sc.taken[s, i] = 0.0
            sc.taken_value[s, i] = 0.0
            sc.volume[s, i] = 0.0
            sc.push[s, i] = 0.0
            rec.book_traded[s, i] = 0.0
        m = (best[1, i] - best[0, i]) * 0.5  # mid, ticks
        for s in range(2):
            sign = 2.0 * s - 1.0
            delta = quotes[s, i]
            if delta == delta:
                ref = refs[s, i] if delayed else sign * m  # the signed mid it was sent against
                y = np.ceil(delta + ref)
                if c.post_only:
                    y = max(y, 1.0 - best[1 - s, i])
                if y != order_y[s, i] or order_lots[s, i] <= 0.0:
                    order_y[s, i] = y
                    order_lots[s, i] = c.quote_lots
                    level = y - best[s, i]
                    if level < 0:
                        order_ahead[s, i] = 0.0
                    elif level >= L:
                        order_ahead[s, i] = c.far_depth
                    else:
                        order_ahead[s, i] = depth[s, int(level), i]
            else:
                order_lots[s, i] = 0.0
            if not c.post_only and order_lots[s, i] > 0:
                _take(c, book, rec, sc, s, i)
            live = order_lots[s, i] > 0 or sc.taken[s, i] > 0
            rec.prices[s, i] = sign * order_y[s, i] * c.tick if live else np.nan


@njit(cache=True, inline="always")
def _price_discovery(c, book, rec, sc):
    """2. Price discovery: the consensus learns the fundamental; the book follows the
    consensus in whole ticks; an agent order it crosses is picked off at its price, the others
    stand at the front. Then the information state and the lean's tilt (``sc.tilt``)."""
    best, fundamental, consensus, anchor = (book.best, book.fundamental, book.consensus,
                                            book.anchor)
    order_y, order_lots, order_ahead = book.order_y, book.order_lots, book.order_ahead
    for i in range(best.shape[1]):
        consensus[i] += (fundamental[i] - consensus[i]) * c.requote_frac
        move = np.trunc(consensus[i] - anchor[i])
        if move != 0.0:
            anchor[i] += move
            best[0, i] -= move
            best[1, i] += move
            for s in range(2):
                lots = order_lots[s, i]
                if lots > 0 and order_y[s, i] + best[1 - s, i] <= 0:
                    sc.filled[s, i] += lots
                    sc.volume[s, i] += lots
                    rec.trades[i] += 1.0
                    order_lots[s, i] = 0.0
                order_ahead[s, i] = 0.0
        if fundamental[i] - best[1, i] >= c.informed_gap:
            book.event[i], book.event_dir[i] = True, 1.0
        elif -best[0, i] - fundamental[i] >= c.informed_gap:
            book.event[i], book.event_dir[i] = True, -1.0
        else:
            book.event[i], book.event_dir[i] = False, 0.0
        sc.tilt[i] = np.tanh((fundamental[i] - consensus[i]) * c.inv_lean_scale)


@njit(cache=True, inline="always")
def _limit_orders(c, f, book, rec, sc, uniforms):
    """3. Limit orders, uniform over the placement ticks from the anchor: two-sided quotes
    (both sides at one distance, skewed toward the fundamental) and one-sided orders (their
    rates leaning toward it)."""
    r_lcount, r_limit = f.rows[1], f.rows[2]
    max_limit = f.limits[0]
    depth, best, order_y, order_lots = book.depth, book.best, book.order_y, book.order_lots
    anchor, filled, volume, trades = book.anchor, sc.filled, sc.volume, rec.trades
    for i in range(anchor.shape[0]):
        lean = sc.tilt[i] * c.lean
        skew = np.round(sc.tilt[i] * c.skew_ticks)
        pairs = _poisson(uniforms[r_lcount, i], c.limit_dt * c.two_sided, max_limit)
        for k in range(pairs):
            base = r_limit + 6 * k
            d = c.placement_min + np.floor(uniforms[base, i] * c.placement)
            size = _geometric(uniforms[base + 1, i], c.limit_size)
            for s in range(2):
                _place(depth, best, order_y, order_lots, filled, volume, trades, s, i, d,
                       anchor[i] + skew, size)
        for s in range(2):
            b = 1.0 + lean if s == 0 else 1.0 - lean
            count = _poisson(uniforms[r_lcount + 1 + s, i],
                             c.limit_dt * (1.0 - c.two_sided) * b, max_limit)
            for k in range(count):
                base = r_limit + 6 * k + 2 + 2 * s
                d = c.placement_min + np.floor(uniforms[base, i] * c.placement)
                _place(depth, best, order_y, order_lots, filled, volume, trades, s, i, d,
                       anchor[i], _geometric(uniforms[base + 1, i], c.limit_size))


@njit(cache=True, inline="always")
def _cancellations(c, f, book, sc, uniforms):
    """4. Cancellations in proportion to the volume, the agent's queue advancing: of
    two-sided quotes with their other side (the order at the mirror price about the pairs'
    current center, when it is still there), and of one-sided orders."""
    depth, best, anchor = book.depth, book.best, book.anchor
    order_y, order_lots, order_ahead = book.order_y, book.order_lots, book.order_ahead
    n, L = depth.shape[2], depth.shape[1]
    r_ccount, r_cancel = f.rows[3], f.rows[4]
    max_cancel = f.limits[1]
    for i in range(n):
        lean = sc.tilt[i] * c.lean
        skew = np.round(sc.tilt[i] * c.skew_ticks)
        both = _side_volume(depth, 0, i) + _side_volume(depth, 1, i)
        count = _poisson(uniforms[r_ccount, i], c.cancel_dt * c.two_sided * both * 0.5,
                         max_cancel)
        for k in range(count):
            base = r_cancel + 6 * k
            bids = _side_volume(depth, 0, i)
            target = uniforms[base, i] * (bids + _side_volume(depth, 1, i))
            s = 0 if target < bids else 1
            j = _level_at(depth, s, i, target if s == 0 else target - bids)
            size = _geometric(uniforms[base + 1, i], c.limit_size)
            # the mirror price about the pairs' center, before the cancellation can move the
            # best
            mirror = best[s, i] + j + 2.0 * (anchor[i] + skew) * (1.0 - 2.0 * s)
            _cancel(c, depth, best, order_y, order_lots, order_ahead, s, i, j, size)
            o = 1 - s
            jm = mirror - best[o, i]
            if 0 <= jm < L and depth[o, int(jm), i] > 0:
                _cancel(c, depth, best, order_y, order_lots, order_ahead, o, i, int(jm), size)
        for s in range(2):
            b = 1.0 + lean if s == 0 else 1.0 - lean
            count = _poisson(uniforms[r_ccount + 1 + s, i],
                             c.cancel_dt * (1.0 - c.two_sided) * (2.0 - b)
                             * _side_volume(depth, s, i), max_cancel)
            for k in range(count):
                base = r_cancel + 6 * k + 2 + 2 * s
                j = _level_at(depth, s, i, uniforms[base, i] * _side_volume(depth, s, i))
                size = _geometric(uniforms[base + 1, i], c.limit_size)
                _cancel(c, depth, best, order_y, order_lots, order_ahead, s, i, j, size)


@njit(cache=True, inline="always")
def _market_orders(c, f, book, rec, sc, uniforms):
    """5. Market orders: sells hit the bids (side 0), buys the asks; informed traders on the
    side of the event's direction; each side's orders walk the book (the agent's order in
    price-time order); then the consensus moves with them (square-root impact)."""
    depth, best = book.depth, book.best
    order_y, order_lots, order_ahead = book.order_y, book.order_lots, book.order_ahead
    n, L = depth.shape[2], depth.shape[1]
    r_count, r_size = f.rows[5], f.rows[6]
    count_cdf = f.count_cdf
    max_orders = count_cdf.shape[1]
    for i in range(n):
        for s in range(2):
            u = uniforms[r_count + s, i]
            cdf = 1 if book.event[i] and (2.0 * s - 1.0) * book.event_dir[i] > 0 else 0
            count = 0
            while count < max_orders and count_cdf[cdf, count] <= u:
                count += 1
            if count == 0:
                continue
            rec.trades[i] += count
            want = 0.0
            for k in range(count):
                size = _geometric(uniforms[r_size + s * max_orders + k, i], c.market_size)
                want += size
                sc.push[s, i] += np.sqrt(size * c.inv_market_size)
            resting = 0.0
            for j in range(L):
                resting += depth[s, j, i]
            level = order_y[s, i] - best[s, i]
            lots = order_lots[s, i] if level < L else 0.0  # behind the window: not reached
            # the book keeps its last lot: the agent's order counts only with a lot of the
            # book behind it (else the walk stops in the volume ahead of it)
            behind = resting
            if lots > 0 and level >= 0:
                behind = max(depth[s, int(level), i] - order_ahead[s, i], 0.0)
                for j in range(int(level) + 1, L):
                    behind += depth[s, j, i]
            want = min(want, max(resting + (lots if behind >= 1.0 else 0.0) - 1.0, 0.0))
            left = want
            if lots > 0 and level < 0:  # in front of the best
                take = min(left, lots)
                sc.filled[s, i] += take
                order_lots[s, i] -= take
                left -= take
                lots = 0.0
            j = 0
            while left > 0.0 and j < L:
                here = depth[s, j, i]
                if lots > 0 and level == j:
                    ahead = min(order_ahead[s, i], here)
                    before = min(left, ahead)
                    left -= before
                    take = min(left, lots)
                    sc.filled[s, i] += take
                    order_lots[s, i] -= take
                    left -= take
                    after = min(left, here - before)
                    left -= after
                    depth[s, j, i] = here - before - after
                    order_ahead[s, i] = ahead - before
                else:
                    hit = min(left, here)
                    depth[s, j, i] = here - hit
                    left -= hit
                j += 1
            sc.volume[s, i] += want
            after_book = 0.0
            for j in range(L):
                after_book += depth[s, j, i]
            rec.book_traded[s, i] += (resting - after_book) * c.lot
            _drop_empty_best(depth, best, s, i)
        book.consensus[i] += (sc.push[1, i] - sc.push[0, i]) * c.impact


@njit(cache=True, inline="always")
def _information_events(c, f, book, uniforms):
    """6. Information events: a geometric jump of the fundamental, up or down."""
    r_event = f.rows[0]
    fundamental = book.fundamental
    for i in range(fundamental.shape[0]):
        if uniforms[r_event, i] < c.event_start:
            u = uniforms[r_event + 1, i]
            if u < 0.5:
                fundamental[i] += _geometric(2.0 * u, c.event_jump)
            else:
                fundamental[i] -= _geometric(2.0 * u - 1.0, c.event_jump)


@njit(cache=True, inline="always")
def _record(c, book, rec, sc):
    """The step record: the agent's fills and their notional (maker and taker), the book, the
    volumes, the mid."""
    order_y = book.order_y
    for i in range(order_y.shape[1]):
        for s in range(2):
            sign = 2.0 * s - 1.0
            filled, taken = sc.filled[s, i], sc.taken[s, i]
            rec.fills[s, i] = (filled + taken) * c.lot
            value = filled * order_y[s, i]
            if taken > 0:
                value += sc.taken_value[s, i]
            rec.notional[s, i] = value * sign * (c.lot * c.tick)
            rec.taker_fills[s, i] = taken * c.lot
            rec.taker_notional[s, i] = sc.taken_value[s, i] * sign * (c.lot * c.tick)
    record_book(rec, book.best, book.depth, sc.volume, book.mid, c.lot, c.tick)


@njit(cache=True)
def _step_books(state, quotes, refs, delayed, uniforms):
    """One step of every book: the phases of the module doc in turn, each over all books.
    ``state`` (:class:`~mmgym.markets.state.KernelState`) holds the constants and the
    persistent arrays."""
    c, f, book, rec = state.consts, state.fixed, state.book, state.record
    n = book.depth.shape[2]
    sc = _Scratch(filled=np.empty((2, n)), taken=np.empty((2, n)),
                  taken_value=np.empty((2, n)), volume=np.empty((2, n)),
                  push=np.empty((2, n)), tilt=np.empty(n))
    _agent_orders(c, book, rec, sc, quotes, refs, delayed)
    _price_discovery(c, book, rec, sc)
    _limit_orders(c, f, book, rec, sc, uniforms)
    _cancellations(c, f, book, sc, uniforms)
    _market_orders(c, f, book, rec, sc, uniforms)
    _information_events(c, f, book, uniforms)
    _record(c, book, rec, sc)
