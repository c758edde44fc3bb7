"""Taking liquidity (``post_only=False``) in the book markets and the maker/taker fees: a
crossing quote walks the opposite levels at their prices, its fills are reported as taker
fills and charged the taker fee; with ``post_only`` (the default) nothing changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import test_lob_mechanics as lobm
import test_wide_mechanics as widem
from test_replay import HAND

from mmgym.accounting import Accounts
from mmgym.data.store import write_events
from mmgym.markets import ReplayMarket
from mmgym.validation import ConfigError

BID, ASK = 0, 1


def fees_of(rec, maker_bps: float, taker_bps: float) -> float:
    """The fees the accounts charge for one step record (environment 0)."""
    acc = Accounts(rec.fills.shape[1], maker_bps, taker_bps)
    acc.reset(np.ones(rec.fills.shape[1], dtype=bool), rec.mid_before)
    acc.settle(rec)
    return float(acc.fees_change[0])


def test_lob_crossing_bid_walks_the_asks_and_rests_the_rest() -> None:
    # book 100 / 101, 10 lots at every level; a bid of 25 lots at floor(100.5 + 2) = 102
    m = lobm.quiet_market(post_only=False, quote_size=0.025)
    rec = m.step(lobm.offsets(bid=-2.0), lobm.uniforms(m))
    assert rec.fills[BID, 0] == pytest.approx(0.020)  # 10 at 101, 10 at 102
    assert rec.taker_fills[BID, 0] == pytest.approx(0.020)
    assert rec.notional[BID, 0] == pytest.approx(0.010 * 101 + 0.010 * 102)
    assert rec.taker_notional[BID, 0] == pytest.approx(rec.notional[BID, 0])
    assert rec.buy_volume[0] == pytest.approx(0.020)
    assert rec.book_traded[ASK, 0] == pytest.approx(0.020)
    assert lobm.best(m) == (100.0, 103.0)  # 101 and 102 emptied
    assert rec.prices[BID, 0] == 102.0
    assert m.order_lots[BID, 0, 0] == 5.0 and m.order_ahead[BID, 0, 0] == 0.0  # the rest
    assert fees_of(rec, 1.0, 5.0) == pytest.approx(5e-4 * rec.taker_notional[BID, 0])


def test_lob_resting_rest_fills_as_maker() -> None:
    m = lobm.quiet_market(post_only=False, quote_size=0.025)
    m.step(lobm.offsets(bid=-2.0), lobm.uniforms(m))  # 5 lots rest at 102; book 100 / 103
    # the same price again, floor(101.5 − (−0.5)) = 102: the order keeps its place
    rec = m.step(lobm.offsets(bid=-0.5), lobm.uniforms(m, sells=3))
    assert rec.fills[BID, 0] == pytest.approx(0.003)
    assert rec.taker_fills[BID, 0] == 0.0
    assert rec.notional[BID, 0] == pytest.approx(0.003 * 102)
    assert fees_of(rec, 1.0, 5.0) == pytest.approx(1e-4 * rec.notional[BID, 0])


def test_lob_post_only_places_a_crossing_quote_behind_the_best() -> None:
    m = lobm.quiet_market(quote_size=0.025)
    rec = m.step(lobm.offsets(bid=-2.0, ask=-2.0), lobm.uniforms(m))
    assert rec.prices[:, 0].tolist() == [100.0, 101.0]
    assert not rec.fills.any() and not rec.taker_fills.any() and not rec.taker_notional.any()


def test_lob_crossing_ask_walks_the_bids() -> None:
    m = lobm.quiet_market(post_only=False, quote_size=0.015)
    rec = m.step(lobm.offsets(ask=-2.0), lobm.uniforms(m))  # ceil(100.5 − 2) = 99
    assert rec.taker_fills[ASK, 0] == pytest.approx(0.015)
    assert rec.notional[ASK, 0] == pytest.approx(0.010 * 100 + 0.005 * 99)
    assert rec.sell_volume[0] == pytest.approx(0.015)
    assert lobm.best(m) == (99.0, 101.0)
    assert m.order_lots[ASK, 0, 0] == 0.0  # all taken


def test_wide_crossing_bid_walks_the_asks_and_rests_the_rest() -> None:
    # book 99 / 101, 10 lots at every level, mid 100; a bid of 25 at floor(100 + 2) = 102
    m = widem.quiet_market(post_only=False, quote_size=25.0)
    rec = m.step(widem.offsets(bid=-2.0), widem.uniforms(m))
    assert rec.taker_fills[BID, 0] == 20.0 and rec.fills[BID, 0] == 20.0
    assert rec.notional[BID, 0] == pytest.approx(10 * 101 + 10 * 102)
    assert rec.taker_notional[BID, 0] == pytest.approx(rec.notional[BID, 0])
    assert rec.buy_volume[0] == 20.0 and rec.book_traded[ASK, 0] == 20.0
    assert (-m.best[BID, 0], m.best[ASK, 0]) == (99.0, 103.0)
    assert m.order_lots[BID, 0] == 5.0 and m.order_y[BID, 0] == -102.0
    assert fees_of(rec, -0.5, 3.0) == pytest.approx(3e-4 * rec.taker_notional[BID, 0])


def test_wide_post_only_unchanged() -> None:
    m = widem.quiet_market(quote_size=25.0)
    rec = m.step(widem.offsets(bid=-2.0), widem.uniforms(m))
    assert rec.prices[BID, 0] == 100.0  # one tick behind the ask
    assert not rec.fills.any() and not rec.taker_fills.any()


def test_replay_crossing_bid_takes_the_displayed_asks(tmp_path: Path) -> None:
    path = tmp_path / "hand.parquet"
    write_events(HAND, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "0.001"})
    # asks 3 at 101, 1 at 102; a bid of 5 at floor(100 + 2) = 102: takes 3 + 1 at their
    # prices, the last 1 rests at 100 (one tick behind the ask), where the step's sells (down
    # to 99) fill it as a maker order
    m = ReplayMarket(1, data_path=str(path), dt=1.0, episode_seconds=3.0, start=0.0,
                     quote_size=5.0, post_only=False)
    m.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    rec = m.step(np.array([[-2.0], [np.nan]]), np.zeros((1, 1)))
    assert rec.taker_fills[BID, 0] == 4.0
    assert rec.taker_notional[BID, 0] == 3 * 101 + 1 * 102
    assert rec.fills[BID, 0] == 5.0
    assert rec.notional[BID, 0] == pytest.approx(3 * 101 + 1 * 102 + 1 * 100)
    assert rec.prices[BID, 0] == 100.0
    assert fees_of(rec, 1.0, 4.0) == pytest.approx(1e-4 * 100 + 4e-4 * 405)
    # no impact: the recorded book is unchanged
    assert m.step_record.best[:, 0].tolist() == [99.0, 101.0]


@pytest.mark.parametrize("make", [lobm.quiet_market, widem.quiet_market])
def test_post_only_must_be_a_boolean(make) -> None:
    with pytest.raises(ConfigError, match="post_only='no': expected true or false"):
        make(post_only="no")
