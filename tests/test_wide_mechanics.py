"""The ``wide`` market's order mechanics on hand-built books with controlled randomness.

Prices are in ticks of 1 and volumes in lots of 1 (``tick = lot = 1``). Each step's uniforms
are built so that only the events asked for happen: every Poisson count at 0 (none) unless
a count is wanted (then the uniform in the middle of that count's CDF interval), no
information event (the event uniform at 1 − 2⁻³²). Limit orders are round lots of
``limit_size_lots = 10`` (``fixed``); market orders one lot each (``market_size_lots = 1``)
unless their sizes are given (then inverted from their size uniforms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from mmgym.markets.wide import WideMarket
from mmgym.validation import ConfigError

BID, ASK = 0, 1
BELOW_ONE = 1.0 - 2.0**-32
RATE = 10.0  # market and limit orders per side per step: room for up to max_orders
NAN = float("nan")

both_kinds = pytest.mark.parametrize("two_sided", [False, True], ids=["one_sided", "two_sided"])


def quiet_market(two_sided: bool = False, **overrides) -> WideMarket:
    """A market of 8 levels stepping 1 s at a time, every random event off unless its
    uniforms ask for it; the book ``bid 99 / ask 101``, 10 lots at every level, the anchor,
    consensus and fundamental at the mid."""
    params = {
        "levels": 8, "dt": 1.0, "episode_seconds": 100.0, "s0": 100.0, "tick": 1.0, "lot": 1.0,
        "limit_rate": RATE, "placement_ticks": 10, "placement_min_ticks": 1,
        "limit_size_lots": 10.0, "limit_sizes": "fixed", "two_sided": float(two_sided),
        "cancel_rate": 0.0, "market_rate": RATE, "informed_rate": 0.0,
        "market_size_lots": 1.0, "max_orders": 20, "max_limit_orders": 6, "max_cancels": 6,
        "event_rate": 0.0, "requote_rate": 0.0, "impact_ticks": 0.0, "lean": 0.0,
        "initial_spread_ticks": 2, "quote_size": 5.0, "max_offset_ticks": 8.0,
    } | overrides
    m = WideMarket(1, **params)
    m.reset(np.ones(1, dtype=bool), np.zeros((m.n_uniforms, 1)))
    set_book(m, 99, 101, [10.0] * 8, [10.0] * 8)
    return m


def set_book(m: WideMarket, bid: int, ask: int, bids: Sequence[float], asks: Sequence[float],
             anchor: float | None = None, fundamental: float | None = None) -> None:
    """Best bid and ask (ticks), the volume of each level from the best (lots, the rest
    empty), the anchor and consensus (the mid by default) and the fundamental (the anchor)."""
    L = m.p.levels
    m.best[BID, 0], m.best[ASK, 0] = -bid, ask
    m.depth[:, :, 0] = 0.0
    m.depth[BID, : len(bids), 0] = bids
    m.depth[ASK, : len(asks), 0] = asks
    assert len(bids) <= L and len(asks) <= L
    c = (bid + ask) / 2 if anchor is None else anchor
    m.anchor[0] = m.consensus[0] = c
    m.fundamental[0] = c if fundamental is None else fundamental
    m.mid[0] = (bid + ask) / 2 * m.p.tick


def poisson_uniform(mean: float, k: int) -> float:
    """The uniform in the middle of the CDF interval of a Poisson count ``k``."""
    if k == 0:
        return 0.0
    cdf = np.cumsum([math.exp(-mean) * mean**j / math.factorial(j) for j in range(k + 1)])
    return float(cdf[k - 1] + cdf[k]) / 2


def size_uniform(mean: float, k: int) -> float:
    """A uniform that inverts to a geometric size of ``k`` lots of the given mean."""
    return 1.0 - (1.0 - 1.0 / mean) ** (k - 0.5)


def uniforms(m: WideMarket, sells: Sequence[int] | int = 0, buys: Sequence[int] | int = 0,
             bid_limits: Sequence[int] = (), ask_limits: Sequence[int] = (),
             pairs: Sequence[int] = (), cancels: Sequence[tuple[int, float]] = (),
             market_mean: float | None = None) -> np.ndarray:
    """Uniforms of one step in which exactly the given events happen.

    Args:
        sells, buys: market orders: their sizes in lots, or a count of one-lot orders.
        bid_limits, ask_limits: one-sided limit orders, by distance from the anchor (ticks).
        pairs: two-sided limit orders, by distance from the anchor (ticks).
        cancels: (side, lot index from that side's best) of each cancellation, on the volumes
            as they stand before the step (no limit order in the same step); with
            ``two_sided`` they share one count.
        market_mean: the mean count of market orders the count uniforms invert (the
            uninformed ``market_rate·dt`` by default).
    """
    p, s = m.p, m.uniform_slices
    u = np.zeros((m.n_uniforms, 1))
    u[s["event"]] = BELOW_ONE
    width = p.placement_width()
    share = p.two_sided
    limit_mean = p.limit_rate * p.dt
    r = s["limit"].start
    # rows: the pairs' count, then each side's; slots of 6 per order: the pair's 2, then 2
    # per side
    u[s["limit_count"].start] = poisson_uniform(limit_mean * share, len(pairs))
    for k, d in enumerate(pairs):
        u[r + 6 * k] = (d - p.placement_min_ticks + 0.5) / width
    for side, ds in ((BID, bid_limits), (ASK, ask_limits)):
        u[s["limit_count"].start + 1 + side] = poisson_uniform(limit_mean * (1 - share), len(ds))
        for k, d in enumerate(ds):
            u[r + 6 * k + 2 + 2 * side] = (d - p.placement_min_ticks + 0.5) / width
    volume = m.depth[:, :, 0].sum(axis=1)
    per_lot = p.cancel_rate * p.dt / p.limit_size_lots
    r = s["cancel"].start
    if share == 1:
        u[s["cancel_count"].start] = poisson_uniform(per_lot * volume.sum() / 2, len(cancels))
        for k, (side, lot) in enumerate(cancels):
            u[r + 6 * k] = (lot + side * volume[BID]) / volume.sum()
    else:
        for side in (BID, ASK):
            mine = [lot for sd, lot in cancels if sd == side]
            u[s["cancel_count"].start + 1 + side] = poisson_uniform(
                per_lot * (1 - share) * volume[side], len(mine))
            for k, lot in enumerate(mine):
                u[r + 6 * k + 2 + 2 * side] = lot / volume[side]
    for side, orders in ((BID, sells), (ASK, buys)):
        sizes = [1] * orders if isinstance(orders, int) else list(orders)
        mean = p.market_rate * p.dt if market_mean is None else market_mean
        u[s["count"].start + side] = poisson_uniform(mean, len(sizes))
        for k, size in enumerate(sizes):
            if p.market_size_lots > 1:
                u[s["size"].start + side * p.max_orders + k] = size_uniform(p.market_size_lots,
                                                                            size)
            else:
                assert size == 1
    return u


def offsets(bid: float = NAN, ask: float = NAN) -> np.ndarray:
    return np.array([[bid], [ask]])


def best(m: WideMarket) -> tuple[float, float]:
    return -m.best[BID, 0], m.best[ASK, 0]


def depth(m: WideMarket, side: int) -> list[float]:
    return m.depth[side, :, 0].tolist()


# the reset book


@pytest.mark.parametrize("spread", [14, 3])
def test_the_reset_book(spread: int) -> None:
    m = WideMarket(1, initial_spread_ticks=spread)
    p, L = m.p, m.p.levels
    occupancy = p.tick_occupancy()
    assert 0 < occupancy < 1
    u = np.zeros((m.n_uniforms, 1))
    for side in (BID, ASK):
        u[side * L] = BELOW_ONE  # the best level holds an order even above the occupancy
        for j in range(1, L):
            u[side * L + j] = occupancy / 2 if j % 3 == side else BELOW_ONE
    m.reset(np.ones(1, dtype=bool), u)
    for side in (BID, ASK):
        expected = [p.limit_size_lots if j == 0 or j % 3 == side else 0.0 for j in range(L)]
        assert depth(m, side) == expected
    bid = math.floor(p.s0 / p.tick) - spread // 2
    assert best(m) == (bid, bid + spread)
    assert m.fundamental[0] == m.consensus[0] == m.anchor[0] == bid + spread / 2
    assert m.mid[0] == (bid + spread / 2) * p.tick
    h = m.hidden_state()
    assert h["best_bid"][0] == bid * p.tick and h["best_ask"][0] == (bid + spread) * p.tick
    assert not h["event"][0] and h["direction"][0] == 0.0


def test_reset_geometric_sizes_come_from_the_same_uniforms() -> None:
    m = WideMarket(1, limit_sizes="geometric")
    L, occupancy, mean = m.p.levels, m.p.tick_occupancy(), m.p.limit_size_lots
    u = np.full((m.n_uniforms, 1), BELOW_ONE)
    u[0] = size_uniform(mean, 7)  # best bid: 7 lots
    u[L] = size_uniform(mean, 1)  # best ask: 1 lot
    u[3] = occupancy * size_uniform(mean, 250)  # bid level 3: 250 lots
    m.reset(np.ones(1, dtype=bool), u)
    assert depth(m, BID) == [7.0, 0.0, 0.0, 250.0] + [0.0] * (L - 4)
    assert depth(m, ASK) == [1.0] + [0.0] * (L - 1)


def test_reset_is_deterministic_from_its_uniforms() -> None:
    m = WideMarket(2)
    rng = np.random.default_rng(0)
    u = rng.random((m.n_uniforms, 2))
    state = ("depth", "best", "fundamental", "consensus", "anchor", "order_lots", "mid")
    m.reset(np.ones(2, dtype=bool), u)
    first = {k: getattr(m, k).copy() for k in state}
    assert not np.array_equal(m.depth[:, :, 0], m.depth[:, :, 1])  # the uniforms decide
    for _ in range(50):
        m.step(np.full((2, 2), 1.0), rng.random((m.n_uniforms, 2)))
    assert not np.array_equal(m.depth, first["depth"])
    m.reset(np.ones(2, dtype=bool), u)
    for k in state:
        assert np.array_equal(getattr(m, k), first[k]), k
    assert np.isnan(m.latency.quote).all() and not m.event.any()


# market orders and the agent's queue


@both_kinds
def test_market_orders_walk_the_sparse_book_and_the_best_skips_empty_ticks(
        two_sided: bool) -> None:
    m = quiet_market(two_sided)
    set_book(m, 99, 101, [10, 0, 0, 10, 0, 10], [10, 0, 0, 10, 0, 10])
    rec = m.step(offsets(), uniforms(m, sells=12, buys=15))
    assert best(m) == (96.0, 104.0)  # the best levels emptied, the next volume 3 ticks out
    assert depth(m, BID) == [8.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert depth(m, ASK) == [5.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert rec.sell_volume[0] == 12.0 and rec.buy_volume[0] == 15.0
    assert rec.book_traded[:, 0].tolist() == [12.0, 15.0]
    assert rec.trades[0] == 27.0
    assert rec.mid[0] == 100.0 and rec.best[:, 0].tolist() == [96.0, 104.0]


@both_kinds
def test_joining_a_level_queues_behind_its_volume_and_fills_partially(two_sided: bool) -> None:
    m = quiet_market(two_sided)
    # ask at ceil(mid + 0.5) = 101, the best ask: 10 lots ahead, our 5 behind
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=6))
    assert rec.prices[ASK, 0] == 101.0
    assert rec.fills[ASK, 0] == 0.0 and m.order_ahead[ASK, 0] == 4.0
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=6))  # unchanged quote keeps its place
    assert rec.fills[ASK, 0] == 2.0  # 4 ahead, then 2 of our 5 lots
    assert rec.notional[ASK, 0] == 2.0 * 101.0
    assert m.order_lots[ASK, 0] == 3.0 and m.order_ahead[ASK, 0] == 0.0
    assert rec.book_traded[ASK, 0] == 4.0
    # 101 holds only our 3 lots: the book's best (and the mid) moved to the next level
    assert best(m) == (99.0, 102.0) and depth(m, ASK) == [10.0] * 7 + [0.0]
    assert rec.mid[0] == 100.5
    assert rec.buy_volume[0] == rec.book_traded[ASK, 0] + rec.fills[ASK, 0]


@both_kinds
def test_a_quote_better_than_the_best_stands_alone_at_the_front(two_sided: bool) -> None:
    m = quiet_market(two_sided)
    set_book(m, 99, 104, [10] * 8, [10] * 8)  # mid 101.5
    rec = m.step(offsets(ask=0.0), uniforms(m, buys=3))  # ask at ceil(101.5) = 102
    assert rec.prices[ASK, 0] == 102.0 and m.order_ahead[ASK, 0] == 0.0
    assert rec.fills[ASK, 0] == 3.0
    assert m.depth[ASK, 0, 0] == 10.0 and rec.book_traded[ASK, 0] == 0.0
    rec = m.step(offsets(ask=0.0), uniforms(m, buys=4))  # our last 2 lots, then the book's
    assert rec.fills[ASK, 0] == 2.0 and m.order_lots[ASK, 0] == 0.0
    assert m.depth[ASK, 0, 0] == 8.0 and best(m) == (99.0, 104.0)


def test_a_quote_on_an_empty_tick_behind_the_best_has_nothing_ahead() -> None:
    m = quiet_market()
    set_book(m, 99, 101, [10] * 8, [10, 0, 10] + [10] * 5)
    rec = m.step(offsets(ask=1.5), uniforms(m, buys=11))  # ask at 102: the empty level 1
    assert m.order_ahead[ASK, 0] == 0.0
    assert rec.fills[ASK, 0] == 1.0  # 10 lots at 101, then ours
    assert best(m) == (99.0, 103.0) and m.depth[ASK, 0, 0] == 10.0


def test_a_moved_quote_loses_its_place() -> None:
    m = quiet_market()
    m.step(offsets(ask=0.5), uniforms(m, buys=6))
    assert m.order_ahead[ASK, 0] == 4.0
    m.step(offsets(ask=1.5), uniforms(m))  # moved to 102: behind its 10 lots
    assert m.order_ahead[ASK, 0] == 10.0
    m.step(offsets(ask=0.5), uniforms(m))  # back at 101: behind the 4 lots shown there
    assert m.order_ahead[ASK, 0] == 4.0 and m.order_lots[ASK, 0] == 5.0


@both_kinds
def test_post_only_quotes_are_placed_one_tick_behind_the_opposite_best(two_sided: bool) -> None:
    m = quiet_market(two_sided)
    set_book(m, 95, 105, [10] * 8, [10] * 8)
    rec = m.step(offsets(bid=-8.0, ask=-8.0), uniforms(m))
    assert rec.prices[:, 0].tolist() == [104.0, 96.0]  # would cross 105 and 95
    assert m.order_ahead[:, 0].tolist() == [0.0, 0.0]
    assert rec.fills[:, 0].tolist() == [0.0, 0.0]


@both_kinds
@pytest.mark.parametrize(("model", "ahead_after"), [("probabilistic", 7.5), ("conservative", 10.0)])
def test_queue_models_under_cancellations(two_sided: bool, model: str,
                                          ahead_after: float) -> None:
    m = quiet_market(two_sided, queue_model=model, cancel_rate=0.1)
    set_book(m, 99, 101, [10, 10], [20])
    m.step(offsets(ask=0.5), uniforms(m))
    assert m.order_ahead[ASK, 0] == 20.0
    m.order_ahead[ASK, 0] = 15.0  # our order at 101 with 15 lots ahead and 5 behind
    m.step(offsets(ask=0.5), uniforms(m, cancels=[(ASK, 3.0)]))  # one order of 10 lots
    assert m.depth[ASK, 0, 0] == 10.0
    # proportional: 3/4 of the cancelled lots were ahead of us; conservative: the 5 behind
    # us first, then 5 ahead
    assert m.order_ahead[ASK, 0] == ahead_after
    if two_sided:  # with its mirror about the anchor 100: the bid at 99, emptied
        assert best(m)[0] == 98.0 and depth(m, BID)[:2] == [10.0, 0.0]
    else:
        assert best(m)[0] == 99.0 and depth(m, BID)[:2] == [10.0, 10.0]


def test_the_power_queue_model_advances_slower_near_the_front() -> None:
    ahead = {}
    for model in ("probabilistic", "power"):
        m = quiet_market(False, queue_model=model, queue_power=3.0, cancel_rate=0.1)
        set_book(m, 99, 101, [10, 10], [20])
        m.step(offsets(ask=0.5), uniforms(m))
        m.order_ahead[ASK, 0] = 4.0  # near the front: 4 lots ahead, 16 behind
        m.step(offsets(ask=0.5), uniforms(m, cancels=[(ASK, 3.0)]))  # one order of 10 lots
        ahead[model] = m.order_ahead[ASK, 0]
    assert ahead["probabilistic"] == 2.0  # 10·4/20
    assert ahead["power"] == pytest.approx(4.0 - 10.0 / 65.0)  # 10·4³/(4³ + 16³)
    assert ahead["power"] > ahead["probabilistic"]


def test_latency_delays_new_quotes() -> None:
    m = quiet_market(entry_latency_steps=2, cancel_latency_steps=2)
    seen = [m.step(offsets(bid=0.5, ask=0.5), uniforms(m)).prices[:, 0].copy()
            for _ in range(3)]
    assert np.isnan(seen[0]).all() and np.isnan(seen[1]).all()
    assert seen[2].tolist() == [99.0, 101.0]
    rec = m.step(offsets(), uniforms(m))  # the withdrawal arrives two steps late too
    assert rec.prices[:, 0].tolist() == [99.0, 101.0]


# limit orders


@both_kinds
def test_a_limit_order_inside_the_spread_becomes_the_new_best(two_sided: bool) -> None:
    m = quiet_market(two_sided)
    set_book(m, 95, 105, [8, 7, 6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6, 7, 8])  # anchor 100
    u = uniforms(m, pairs=[2]) if two_sided else uniforms(m, ask_limits=[2])
    m.step(offsets(), u)
    # at ceil(100 + 2) = 102, 3 ticks inside 105: the levels move 3 out, the last 3 leave
    assert best(m)[1] == 102.0
    assert depth(m, ASK) == [10.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    if two_sided:  # its other side at floor(100 − 2) = 98
        assert best(m)[0] == 98.0
        assert depth(m, BID) == [10.0, 0.0, 0.0, 8.0, 7.0, 6.0, 5.0, 4.0]
    else:
        assert best(m)[0] == 95.0 and depth(m, BID) == [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


@both_kinds
def test_limit_orders_join_their_level_and_one_behind_the_window_is_not_kept(
        two_sided: bool) -> None:
    m = quiet_market(two_sided)
    set_book(m, 96, 104, [10] * 8, [10] * 8)  # anchor 100
    # at 100 ± 6 (level 2 of each side), then at 100 ± 10 (level 6) and the window is 8
    # levels: both kept; the post-only clip does not apply
    u = (uniforms(m, pairs=[6, 10]) if two_sided
         else uniforms(m, bid_limits=[6, 10], ask_limits=[6, 10]))
    m.step(offsets(), u)
    for side in (BID, ASK):
        assert depth(m, side) == [10.0, 10.0, 20.0, 10.0, 10.0, 10.0, 20.0, 10.0]
    m = quiet_market(two_sided)
    set_book(m, 99, 101, [10] * 8, [10] * 8)
    u = uniforms(m, pairs=[9]) if two_sided else uniforms(m, bid_limits=[9], ask_limits=[9])
    m.step(offsets(), u)  # 91 and 109: level 8, behind the window
    assert depth(m, BID) == depth(m, ASK) == [10.0] * 8


@both_kinds
@pytest.mark.parametrize(("anchor", "price"), [(102, 101), (103, 102)], ids=["at", "through"])
@pytest.mark.parametrize("size", [8.0, 3.0])
def test_a_limit_order_reaching_the_agents_quote_trades_with_it_first(
        two_sided: bool, anchor: float, price: float, size: float) -> None:
    m = quiet_market(two_sided, limit_size_lots=size)
    set_book(m, 95, 105, [10] * 8, [10] * 8, anchor=anchor)  # mid 100
    m.step(offsets(ask=1.0), uniforms(m))  # our 5 lots at 101, in front of the best 105
    u = uniforms(m, pairs=[1]) if two_sided else uniforms(m, bid_limits=[1])
    rec = m.step(offsets(ask=1.0), u)  # a bid at floor(anchor − 1): at or through our 101
    take = min(size, 5.0)
    assert rec.fills[ASK, 0] == take and rec.notional[ASK, 0] == take * 101.0
    assert m.order_lots[ASK, 0] == 5.0 - take
    assert rec.buy_volume[0] == take and rec.book_traded[ASK, 0] == 0.0
    if size > 5.0:  # the rest rests at its price: the new best bid
        assert best(m)[0] == price and depth(m, BID)[0] == size - 5.0
        assert depth(m, BID)[price - 95] == 10.0
    else:
        assert best(m)[0] == 95.0 and depth(m, BID)[0] == 10.0
    if two_sided:  # the pair's ask at ceil(anchor + 1), inside 105
        assert best(m)[1] == anchor + 1 and depth(m, ASK)[0] == size
    else:
        assert best(m)[1] == 105.0 and depth(m, ASK)[0] == 10.0


@pytest.mark.parametrize(("fundamental", "center"), [(110.0, 101.0), (90.0, 99.0), (100.0, 100.0)])
def test_two_sided_quotes_are_skewed_toward_the_fundamental(fundamental: float,
                                                            center: float) -> None:
    # skew = round(tanh((v − c)/lean_scale)·lean·lean_scale) = ±1 at v − c = ±10
    m = quiet_market(True, lean=0.5, lean_scale_ticks=2.0)
    set_book(m, 90, 110, [10] * 8, [10] * 8, anchor=100.0, fundamental=fundamental)
    m.step(offsets(), uniforms(m, pairs=[3]))
    assert best(m) == (center - 3, center + 3)
    assert m.depth[BID, 0, 0] == m.depth[ASK, 0, 0] == 10.0


# cancellations


@both_kinds
@pytest.mark.parametrize(("lot", "bids_left", "best_bid"), [(15.0, [10.0, 0.0], 96.0),
                                                           (5.0, [10.0, 0.0], 94.0)],
                         ids=["behind_the_best", "the_best"])
def test_a_two_sided_cancellation_removes_the_mirror_order(
        two_sided: bool, lot: float, bids_left: list[float], best_bid: float) -> None:
    m = quiet_market(two_sided, cancel_rate=0.05)
    set_book(m, 96, 104, [10, 0, 10], [10, 0, 10])  # anchor 100: 96/104 and 94/106 mirror
    m.step(offsets(), uniforms(m, cancels=[(BID, lot)]))  # the bid at 94 or 96
    assert best(m)[0] == best_bid and depth(m, BID)[:2] == bids_left
    asks = depth(m, ASK)
    if not two_sided:
        assert best(m)[1] == 104.0 and asks[:3] == [10.0, 0.0, 10.0]
    elif best_bid == 96.0:  # 94 cancelled: its mirror 106 with it
        assert best(m)[1] == 104.0 and asks[:3] == [10.0, 0.0, 0.0]
    else:  # 96 cancelled: its mirror 104 with it, though the best bid moved
        assert best(m)[1] == 106.0 and asks[:3] == [10.0, 0.0, 0.0]


@both_kinds
def test_the_mirror_of_a_cancellation_is_about_the_anchor_with_half_ticks(
        two_sided: bool) -> None:
    m = quiet_market(two_sided, cancel_rate=0.05)
    set_book(m, 97, 104, [10, 10], [10, 10, 10])  # anchor 100.5: 97/104 and 96/105 mirror
    m.step(offsets(), uniforms(m, cancels=[(ASK, 15.0)]))  # the ask at 105
    assert depth(m, ASK)[:3] == [10.0, 0.0, 10.0]
    assert depth(m, BID)[:2] == ([10.0, 0.0] if two_sided else [10.0, 10.0])


# a side's last lot


@both_kinds
def test_a_side_never_loses_its_last_lot(two_sided: bool) -> None:
    m = quiet_market(two_sided, cancel_rate=0.05)
    set_book(m, 99, 101, [10, 10], [3, 0, 2])
    rec = m.step(offsets(), uniforms(m, buys=20))  # 20 lots against 5: 4 traded
    assert rec.buy_volume[0] == 4.0 and rec.book_traded[ASK, 0] == 4.0
    assert best(m)[1] == 103.0 and depth(m, ASK) == [1.0] + [0.0] * 7
    m = quiet_market(two_sided, cancel_rate=0.05)
    set_book(m, 99, 101, [10, 10], [5])
    m.step(offsets(ask=0.5), uniforms(m))  # our ask at 101, behind the 5 lots
    m.step(offsets(ask=0.5), uniforms(m, cancels=[(ASK, 2.0)]))  # an order of 10 lots
    assert best(m)[1] == 101.0 and depth(m, ASK) == [1.0] + [0.0] * 7
    assert m.order_ahead[ASK, 0] == 1.0  # 4 lots cancelled, all of them ahead of ours


def test_the_last_lot_stays_when_the_agents_order_stands_behind_it() -> None:
    m = quiet_market()
    set_book(m, 99, 101, [10, 10], [5])
    m.step(offsets(ask=0.5), uniforms(m))  # our 5 lots at 101, behind the book's 5
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=20))
    # the order takes 4 of the 5 lots ahead of ours and stops: the book keeps its last lot
    # (no lot appears from nowhere), ours is not reached
    assert rec.buy_volume[0] == 4.0 and rec.book_traded[ASK, 0] == 4.0
    assert rec.fills[ASK, 0] == 0.0 and m.order_lots[ASK, 0] == 5.0
    assert best(m)[1] == 101.0 and depth(m, ASK) == [1.0] + [0.0] * 7
    assert m.order_ahead[ASK, 0] == 1.0


def test_the_last_lot_stays_when_the_agents_order_stands_in_front() -> None:
    m = quiet_market()
    set_book(m, 99, 102, [10, 10], [5])  # mid 100.5
    m.step(offsets(ask=0.0), uniforms(m))  # our 5 lots at 101, in front of the best 102
    rec = m.step(offsets(ask=0.0), uniforms(m, buys=20))
    assert rec.fills[ASK, 0] == 5.0 and rec.book_traded[ASK, 0] == 4.0
    assert rec.buy_volume[0] == 9.0 and depth(m, ASK) == [1.0] + [0.0] * 7


# price discovery and information


@both_kinds
def test_the_consensus_moves_with_the_order_flow_and_the_book_follows_in_whole_ticks(
        two_sided: bool) -> None:
    # impact_ticks·√(size/4) per order of the geometric sizes of mean 4: 2·(√(2/4) + 1) up
    # for the buys, 2·√(1/4) down for the sell
    m = quiet_market(two_sided, impact_ticks=2.0, market_size_lots=4.0)
    quotes = offsets(bid=1.0, ask=0.5)  # bid at 99 (level 0), ask at 101 (level 0)
    rec = m.step(quotes, uniforms(m, sells=[1], buys=[2, 4]))
    assert rec.buy_volume[0] == 6.0 and rec.sell_volume[0] == 1.0
    up = 2.0 * (math.sqrt(0.5) + 1.0) - 2.0 * 0.5
    assert m.consensus[0] == pytest.approx(100.0 + up, abs=1e-12)  # 102.41
    assert m.anchor[0] == 100.0 and best(m) == (99.0, 101.0)  # the book follows next step
    assert m.order_ahead[:, 0].tolist() == [9.0, 4.0]
    rec = m.step(quotes, uniforms(m))
    # the book moves up trunc(2.41) = 2 ticks: the bid at 101 crosses our ask at 101, picked
    # off at its price; our bid at 99 stands at the front of its level, now level 2
    assert m.anchor[0] == 102.0 and best(m) == (101.0, 103.0)
    assert rec.fills[:, 0].tolist() == [0.0, 5.0] and rec.notional[ASK, 0] == 5.0 * 101.0
    assert m.order_lots[:, 0].tolist() == [5.0, 0.0]
    assert m.order_ahead[BID, 0] == 0.0 and m.order_y[BID, 0] - m.best[BID, 0] == 2.0
    assert depth(m, BID) == [9.0] + [10.0] * 7 and depth(m, ASK) == [4.0] + [10.0] * 7
    # the arbitrageur's purchase is volume, not a market order: the consensus stays
    assert rec.buy_volume[0] == 5.0
    assert m.consensus[0] == pytest.approx(100.0 + up, abs=1e-12)


def test_sells_move_the_consensus_down_and_the_book_with_it() -> None:
    m = quiet_market(impact_ticks=2.0, market_size_lots=4.0)
    m.step(offsets(), uniforms(m, sells=[3]))
    down = 100.0 - 2.0 * math.sqrt(3 / 4)
    assert m.consensus[0] == pytest.approx(down, abs=1e-12)  # 98.27
    m.step(offsets(), uniforms(m))
    assert m.anchor[0] == 99.0 and best(m) == (98.0, 100.0)
    assert m.consensus[0] == pytest.approx(down, abs=1e-12)


def test_the_consensus_learns_the_fundamental_at_the_requote_rate() -> None:
    m = quiet_market(requote_rate=math.log(2))  # half the gap a step
    set_book(m, 99, 101, [10] * 8, [10] * 8, fundamental=106.5)
    m.step(offsets(), uniforms(m))
    assert m.consensus[0] == pytest.approx(103.25) and m.anchor[0] == 103.0
    assert best(m) == (102.0, 104.0)


@pytest.mark.parametrize(
    ("fundamental", "event", "direction", "sells", "buys"),
    [(103.0, True, 1.0, 0.0, 3.0), (102.5, False, 0.0, 0.0, 0.0),
     (97.0, True, -1.0, 3.0, 0.0), (97.5, False, 0.0, 0.0, 0.0)],
)
def test_informed_traders_trade_only_while_the_fundamental_is_beyond_the_quotes(
        fundamental: float, event: bool, direction: float, sells: float, buys: float) -> None:
    m = quiet_market(market_rate=0.0, informed_rate=RATE, informed_gap_ticks=2.0)
    set_book(m, 99, 101, [10] * 8, [10] * 8, anchor=100.0, fundamental=fundamental)
    # three orders on each side if each side's traders are active: only the informed side is
    rec = m.step(offsets(), uniforms(m, sells=3, buys=3, market_mean=RATE))
    h = m.hidden_state()
    assert bool(h["event"][0]) == event and h["direction"][0] == direction
    assert bool(rec.event[0]) == event
    assert rec.sell_volume[0] == sells and rec.buy_volume[0] == buys
    assert h["fundamental"][0] == fundamental and h["consensus"][0] == 100.0


def test_an_information_event_moves_the_fundamental_by_a_geometric_jump() -> None:
    m = quiet_market(event_rate=1.0, event_jump_ticks=4.0)
    for half, sign in ((0.0, 1.0), (0.5, -1.0)):
        before = m.fundamental[0]
        u = uniforms(m)
        s = m.uniform_slices["event"].start
        u[s] = 0.5  # below 1 − e⁻¹: an event
        u[s + 1] = half + size_uniform(4.0, 3) / 2  # a jump of 3 ticks, up then down
        m.step(offsets(), u)
        assert m.fundamental[0] == before + sign * 3.0
    assert m.consensus[0] == 100.0


# parameters


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lean": 1.0}, r"lean=1.0: out of range, allowed \[0, 1\)"),
        ({"levels": 3}, r"levels=3: out of range, allowed \[4, 200\]"),
        ({"placement_min_ticks": 25}, r"placement_min_ticks=25: out of range, allowed \[1, 12\]"),
        ({"initial_spread_ticks": 41},
         r"initial_spread_ticks=41: out of range, allowed \[1, 40\]"),
        ({"max_offset_ticks": 41.0}, r"max_offset_ticks=41.0: out of range, allowed \(0, 40\]"),
        ({"max_orders": 21}, r"max_orders=21: out of range, allowed \[1, 20\]"),
        ({"informed_gap_ticks": 0.0},
         r"informed_gap_ticks=0.0: out of range, allowed \(0, inf\]"),
        ({"market_size_lots": 0.5}, r"market_size_lots=0.5: out of range, allowed \[1, inf\]"),
        ({"quote_size": 150.0, "lot": 100.0}, r"quote_size=150.0: must be a multiple of lot"),
        ({"episode_seconds": 1.05}, r"episode_seconds=1.05: must be a whole number of steps"),
        ({"two_sided": "yes"}, r"two_sided='yes': expected a number in \[0, 1\]"),
        ({"two_sided": 1.5}, r"two_sided=1.5: out of range, allowed \[0, 1\]"),
        ({"limit_sizes": "poisson"}, r"limit_sizes='poisson': expected one of"),
        ({"queue_model": "fifo"}, r"queue_model='fifo': expected one of"),
    ],
)
def test_parameters_are_validated(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WideMarket(1, **params)
