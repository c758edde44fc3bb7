"""The ``replay`` market on books that show a few levels (LOBSTER level 1): where the agent's
order stands, and depth past the last shown level treated as unknown."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from reference import LOBSTER_MESSAGE, needs_lobster, table

import mmgym  # noqa: F401  (registers the ids)
from mmgym.data.lobster import read_lobster
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import write_events
from mmgym.markets.replay import ReplayMarket

S = 10**9


# a level-1 book 100 / 110 (tick 1, mid 105); step 0 empties the bid at 100, which shows the
# next level, 99 (3 lots), then sells 2 at 99; step 1 sells through 99 at 98
THROUGH = table([
    (0, SNAPSHOT, BID, 100, 5, 0), (0, SNAPSHOT, ASK, 110, 5, 0),
    (S // 4, TRADE, SELL, 100, 5, NO_ID), (S // 4, DELTA, BID, 100, 0, 1),
    (S // 4, DELTA, BID, 99, 3, 1),
    (S // 2, TRADE, SELL, 99, 2, NO_ID), (S // 2, DELTA, BID, 99, 1, 2),
    (3 * S // 2, TRADE, SELL, 98, 1, NO_ID), (3 * S // 2, DELTA, BID, 99, 0, 3),
    (3 * S // 2, DELTA, BID, 98, 4, 3),
    (9 * S // 2, DELTA, ASK, 110, 4, 4),
])
# the same book; steps 0 and 1 each sell 3 at the best, 100, which then empties (99 shows)
AT_BEST = table([
    (0, SNAPSHOT, BID, 100, 5, 0), (0, SNAPSHOT, ASK, 110, 5, 0),
    (S // 2, TRADE, SELL, 100, 3, NO_ID), (S // 2, DELTA, BID, 100, 2, 1),
    (3 * S // 2, TRADE, SELL, 100, 3, NO_ID), (3 * S // 2, DELTA, BID, 100, 0, 2),
    (3 * S // 2, DELTA, BID, 99, 4, 2),
    (9 * S // 2, DELTA, ASK, 110, 4, 3),
])


def market(tmp_path: Path, events: pd.DataFrame, levels: int | None,
           queue_model: str = "conservative") -> ReplayMarket:
    path = tmp_path / f"l1-{levels}.parquet"
    meta = {"mmgym.tick_size": "1", "mmgym.lot_size": "1"}
    if levels is not None:
        meta["mmgym.levels"] = str(levels)
    write_events(events, path, meta)
    m = ReplayMarket(1, data_path=str(path), dt=1.0, episode_seconds=3.0, start=0.0,
                     quote_size=2.0, queue_model=queue_model)
    m.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    return m


def bid_fills(m: ReplayMarket, bid_offsets: list[float]) -> list[tuple[float, float, float]]:
    """(price, fill, size ahead after the step) of a bid at each offset in turn."""
    out = []
    for offset in bid_offsets:
        rec = m.step(np.array([[offset], [np.nan]]), np.zeros((1, 1)))
        out.append((rec.prices[0, 0], rec.fills[0, 0], m.order_ahead[0, 0]))
    return out


@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_a_bid_behind_the_shown_level_fills_only_through_its_price(
        tmp_path: Path, queue_model: str) -> None:
    # a bid at 99 (mid 105 − 6; then 104.5 − 5.5), behind the best 100: the full-depth
    # reading of the file has no volume at 99 at the start, the level-1 reading does not know
    full = bid_fills(market(tmp_path, THROUGH, None, queue_model), [6.0])
    shown = bid_fills(market(tmp_path, THROUGH, 1, queue_model), [6.0, 5.5])
    assert full == [(99.0, 2.0, 0.0)]  # nothing ahead: the 2 sold at 99 fill it
    # unknown ahead: the 2 sold at 99 fill nothing, and the order is then behind the 1 lot
    # shown at 99; the sell at 98 goes through it
    assert shown == [(99.0, 0.0, 1.0), (99.0, 2.0, 0.0)]


@pytest.mark.parametrize("levels", [None, 1])
def test_a_bid_inside_the_spread_stands_alone_in_front(tmp_path: Path,
                                                       levels: int | None) -> None:
    # 105 − 2 = 103, above the best bid: the sell at 100 trades through it
    assert bid_fills(market(tmp_path, THROUGH, levels), [2.0]) == [(103.0, 2.0, 0.0)]


@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_a_bid_at_the_best_joins_behind_the_shown_size(tmp_path: Path,
                                                        queue_model: str) -> None:
    # at the best, 100, behind its 5 lots: 3 sold there leave 2 ahead; 3 more fill 1
    got = bid_fills(market(tmp_path, AT_BEST, 1, queue_model), [5.0, 5.0])
    assert got[0] == (100.0, 0.0, 2.0)
    assert got[1][:2] == (100.0, 1.0)


def test_a_trade_between_ticks_reaches_the_ticks_it_crossed(tmp_path: Path) -> None:
    # a buy at 107.5 (a midpoint execution) reaches asks at 107 and below, not 108
    events = pd.concat([THROUGH.iloc[:2], table([(S // 2, TRADE, BUY, 107.5, 1, NO_ID)]),
                        THROUGH.iloc[-1:]], ignore_index=True)
    fills = {}
    for offset in (2.0, 3.0):  # asks at 107 and 108
        path = tmp_path / f"mid{offset}.parquet"
        write_events(events, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "1",
                                    "mmgym.levels": "1"})
        m = ReplayMarket(1, data_path=str(path), dt=1.0, episode_seconds=3.0, start=0.0,
                         quote_size=1.0)
        m.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
        rec = m.step(np.array([[np.nan], [offset]]), np.zeros((1, 1)))
        fills[rec.prices[1, 0]] = rec.fills[1, 0]
    assert fills == {107.0: 1.0, 108.0: 0.0}


@pytest.fixture(scope="module")
def amzn_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LOBSTER_MESSAGE.is_file():
        pytest.skip(f"{LOBSTER_MESSAGE} not present")
    from mmgym.data.store import write_events as write

    events, report = read_lobster(LOBSTER_MESSAGE)
    path = tmp_path_factory.mktemp("amzn") / "amzn.parquet"
    write(events, path, report.metadata)
    return path


@needs_lobster
def test_replay_of_the_lobster_sample_passes_the_checkers(amzn_file: Path) -> None:
    env = gym.make("mmgym/LOBReplay-v0", data_path=str(amzn_file), quote_size=100.0,
                   max_inventory=1000.0, episode_seconds=60.0)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    spreads, filled = [], 0.0
    for _ in range(600):
        obs, _, terminated, _, info = env.step(np.array([3.0, 3.0], dtype=np.float32))
        spreads.append(info["ask_price"] - info["bid_price"])
        filled += info["bid_fill"] + info["ask_fill"]
    assert terminated and filled > 0
    assert np.nanmin(spreads) >= 6 * 0.01 - 1e-9  # quoted at least 3 ticks from the mid


@needs_lobster
def test_replay_mid_of_the_lobster_sample_is_the_orderbook_files(amzn_file: Path) -> None:
    m = ReplayMarket(1, data_path=str(amzn_file), dt=1.0, episode_seconds=100.0, start=500.0,
                     quote_size=100.0)
    m.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    messages = pd.read_csv(LOBSTER_MESSAGE, header=None).to_numpy()
    book = pd.read_csv(str(LOBSTER_MESSAGE).replace("_message_", "_orderbook_"),
                       header=None).to_numpy()
    t0 = messages[0, 0]
    for k in range(100):
        last = np.searchsorted(messages[:, 0], t0 + 500 + k, side="right") - 1
        expected = (book[last, 0] + book[last, 2]) / 2 / 1e4
        assert m.mid[0] == pytest.approx(expected, abs=1e-9), k
        m.step(np.full((2, 1), np.nan), np.zeros((1, 1)))
