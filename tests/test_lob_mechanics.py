"""The ``lob`` market's order mechanics on hand-built books with controlled randomness.

Each step's uniforms are built so that nothing random happens (no limit order, no
cancellation, no event, no refill) except the market orders asked for: one-lot market orders
(``market_size_lots=1``), their number per side set through the Poisson inversion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmgym.markets import LOBMarket
from mmgym.validation import ConfigError

BID, ASK = 0, 1
BELOW_ONE = 1.0 - 2.0**-32
RATE = 10.0  # market orders per side per step: room for up to max_orders


def quiet_market(**overrides) -> LOBMarket:
    params = {
        "levels": 5, "dt": 1.0, "episode_seconds": 100.0, "limit_rate": 1.0, "cancel_rate": 0.0,
        "market_rate": RATE, "informed_rate": 0.0, "market_size_lots": 1, "max_orders": 20,
        "event_rate": 0.0, "requote_rate": 0.0, "refill_rate": 0.0, "lean": 0.0,
        "quote_size": 0.005, "s0": 100.0, "tick": 1.0,
    } | overrides
    m = LOBMarket(1, **params)
    m.reset(np.ones(1, dtype=bool), np.zeros((m.n_uniforms, 0)))
    m.depth[:] = 10.0  # 10 lots at every level of both sides
    return m


def uniforms(m: LOBMarket, sells: int = 0, buys: int = 0, cancel: float = 0.0) -> np.ndarray:
    """Uniforms of a step in which exactly ``sells`` and ``buys`` one-lot orders arrive."""
    s = m.uniform_slices
    u = np.zeros((m.n_uniforms, 1))
    u[s["event"]] = BELOW_ONE
    u[s["arrive"]] = BELOW_ONE
    u[s["cancel"]] = cancel
    u[s["refill"]] = BELOW_ONE
    cdf = np.cumsum([math.exp(-RATE) * RATE**k / math.factorial(k) for k in range(21)])
    for row, k in zip(range(s["count"].start, s["count"].stop), (sells, buys), strict=True):
        u[row] = (cdf[k - 1] + cdf[k]) / 2 if k else cdf[0] / 2
    return u


def offsets(bid: float = np.nan, ask: float = np.nan) -> np.ndarray:
    return np.array([[bid], [ask]])


def best(m: LOBMarket) -> tuple[float, float]:
    return -m.best[BID, 0], m.best[ASK, 0]


def test_initial_book_and_mid() -> None:
    m = quiet_market()
    assert best(m) == (100.0, 101.0)
    assert m.mid[0] == 100.5


def test_market_orders_walk_the_book_and_move_the_best() -> None:
    m = quiet_market()
    rec = m.step(offsets(), uniforms(m, buys=15))
    assert rec.buy_volume[0] == pytest.approx(0.015)
    assert best(m) == (100.0, 102.0)  # level 101 emptied, 102 half taken
    assert m.depth[ASK, 0, 0] == 5.0
    assert rec.book_traded[ASK, 0] == pytest.approx(0.015)


def test_joining_a_level_queues_behind_its_volume_and_fills_partially() -> None:
    m = quiet_market()
    # ask at mid + 0.5 = 101, the best ask: 10 lots ahead, our 5 lots behind
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=6))
    assert rec.fills[ASK, 0] == 0.0 and m.order_ahead[ASK, 0, 0] == 4.0
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=6))  # unchanged quote keeps its place
    assert rec.fills[ASK, 0] == pytest.approx(0.002)  # 4 ahead, then 2 of our 5 lots
    assert rec.notional[ASK, 0] == pytest.approx(0.002 * 101.0)
    assert m.order_lots[ASK, 0, 0] == 3.0
    assert rec.book_traded[ASK, 0] == pytest.approx(0.004)
    assert rec.buy_volume[0] == pytest.approx(rec.book_traded[ASK, 0] + rec.fills[ASK, 0])


def test_a_moved_quote_loses_its_place() -> None:
    m = quiet_market()
    m.step(offsets(ask=0.5), uniforms(m, buys=6))
    assert m.order_ahead[ASK, 0, 0] == 4.0
    m.step(offsets(ask=1.5), uniforms(m))  # moved to 102
    m.step(offsets(ask=0.5), uniforms(m))  # back at 101: behind the 4 lots shown there
    assert m.order_ahead[ASK, 0, 0] == 4.0
    m.step(offsets(ask=1.5), uniforms(m, buys=4))
    m.step(offsets(ask=0.5), uniforms(m))  # level 101 emptied: the best ask is now 102
    assert best(m)[1] == 102.0


def test_a_quote_better_than_the_best_stands_alone_at_the_front() -> None:
    m = quiet_market()
    m.best[ASK, 0] = 103.0  # spread of three ticks: 100 / 103
    rec = m.step(offsets(ask=0.0), uniforms(m, buys=3))  # ask at ceil(101.5) = 102
    assert rec.prices[ASK, 0] == 102.0
    assert rec.fills[ASK, 0] == pytest.approx(0.003)
    assert m.depth[ASK, 0, 0] == 10.0  # the book behind it untouched


def test_post_only_quotes_are_placed_one_tick_behind_the_opposite_best() -> None:
    m = quiet_market()
    rec = m.step(offsets(bid=-3.0, ask=-3.0), uniforms(m))
    assert rec.prices[BID, 0] == 100.0  # would cross the ask at 101
    assert rec.prices[ASK, 0] == 101.0


@pytest.mark.parametrize(("model", "ahead_after"), [("probabilistic", 5.0), ("conservative", 10.0)])
def test_queue_models_under_cancellations(model: str, ahead_after: float) -> None:
    m = quiet_market(queue_model=model, cancel_rate=math.log(2))  # cancels half of a level
    m.step(offsets(ask=0.5), uniforms(m))
    # our order at 101 with 10 lots ahead and 10 behind
    m.order_ahead[ASK, 0, 0] = 10.0
    m.depth[ASK, 0, 0] = 20.0
    m.step(offsets(ask=0.5), uniforms(m))  # 10 of the 20 lots cancel
    assert m.depth[ASK, 0, 0] == 10.0
    # proportional: half the cancelled lots were ahead of us; conservative: none
    assert m.order_ahead[ASK, 0, 0] == ahead_after


def test_the_power_queue_model_advances_slower_near_the_front() -> None:
    ahead = {}
    for model in ("probabilistic", "power"):
        m = quiet_market(queue_model=model, queue_power=2.0, cancel_rate=math.log(2))
        m.step(offsets(ask=0.5), uniforms(m))
        m.order_ahead[ASK, 0, 0] = 2.0  # near the front: 2 lots ahead, 18 behind
        m.depth[ASK, 0, 0] = 20.0
        m.step(offsets(ask=0.5), uniforms(m))  # 10 of the 20 lots cancel
        ahead[model] = m.order_ahead[ASK, 0, 0]
    assert ahead["probabilistic"] == 1.0  # 10·2/20
    assert ahead["power"] == pytest.approx(2.0 - 10.0 / 82.0)  # 10·2²/(2² + 18²)
    assert ahead["power"] > ahead["probabilistic"]


def test_latency_delays_new_quotes() -> None:
    m = quiet_market(entry_latency_steps=2, cancel_latency_steps=2)
    seen = [m.step(offsets(bid=0.5, ask=0.5), uniforms(m)).prices[:, 0].copy()
            for _ in range(3)]
    assert np.isnan(seen[0]).all() and np.isnan(seen[1]).all()
    assert seen[2].tolist() == [100.0, 101.0]


def test_ladder_orders_fill_in_price_order() -> None:
    m = quiet_market(quote_levels=3, quote_spacing_ticks=1, quote_sizes=[0.001, 0.002, 0.003])
    assert m.quote_size == pytest.approx(0.006)
    m.step(offsets(ask=0.5), uniforms(m))  # asks at 101, 102, 103, each behind 10 lots
    assert m.order_y[ASK, :, 0].tolist() == [101.0, 102.0, 103.0]
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=20))
    # 10 book + our 1 at 101, then 9 of the 10 lots at 102: our 2 lots there not reached
    assert rec.fills[ASK, 0] == pytest.approx(0.001)
    assert best(m) == (100.0, 102.0)
    # the mid moved up half a tick, so the ladder moved up a tick and lost its places:
    # 102 holds 1 book lot then our 1, 103 10 lots then our 2, and 6 lots reach into 104
    rec = m.step(offsets(ask=0.5), uniforms(m, buys=20))
    assert m.order_y[ASK, :, 0].tolist() == [102.0, 103.0, 104.0]
    assert rec.fills[ASK, 0] == pytest.approx(0.003)
    assert rec.notional[ASK, 0] == pytest.approx(0.001 * 102 + 0.002 * 103)
    assert m.order_ahead[ASK, 2, 0] == 4.0


def test_parameters_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"quote_sizes=\(0.001,\): expected 3 sizes"):
        LOBMarket(1, quote_levels=3, quote_sizes=[0.001])
    with pytest.raises(ConfigError, match=r"quote_size=0.0015: must be a multiple of lot"):
        LOBMarket(1, quote_size=0.0015)
    with pytest.raises(ConfigError, match=r"lean=1.0: out of range, allowed \[0, 1\)"):
        LOBMarket(1, lean=1.0)
    with pytest.raises(ConfigError, match=r"queue_model='fifo'"):
        LOBMarket(1, queue_model="fifo")
    with pytest.raises(ConfigError, match=r"episode_seconds=1.05: must be a whole number"):
        LOBMarket(1, episode_seconds=1.05)
