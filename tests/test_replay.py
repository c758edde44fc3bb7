"""The ``replay`` market: fills from recorded trades, the replayed book, seeding, env checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from reference import SAMPLE, needs_sample

import mmgym  # noqa: F401  (registers the ids)
from mmgym.data.binance import import_binance
from mmgym.data.book import rebuild_book
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events, write_events
from mmgym.markets.replay import ReplayMarket
from mmgym.validation import ConfigError

S = 10**9  # ns per second


def table(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ts_ns", "kind", "side", "price", "size", "update_id"])
    return frame.astype({"ts_ns": np.int64, "kind": np.int8, "side": np.int8,
                         "price": np.float64, "size": np.float64, "update_id": np.int64})


# tick 1, a book 99 / 101 (mid 100); the agent quotes bid 99 and ask 101 of size 1
HAND = table([
    (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, BID, 98, 1, 1),
    (0, SNAPSHOT, ASK, 101, 3, 1), (0, SNAPSHOT, ASK, 102, 1, 1),
    # step 0: sells at 100 (above the bid: no fill) and 1.5 at 99 (2 ahead: no fill);
    # buys 2 at 101 (3 ahead: no fill)
    (S // 4, TRADE, SELL, 100, 0.7, NO_ID),
    (S // 2, TRADE, SELL, 99, 1.5, NO_ID), (S // 2, DELTA, BID, 99, 0.5, 2),
    (S // 2 + 1, TRADE, BUY, 101, 2, NO_ID), (S // 2 + 1, DELTA, ASK, 101, 1, 3),
    # step 1: a sell of 1.0 at 99: 0.5 left ahead, the agent fills 0.5; the level refills
    (3 * S // 2, TRADE, SELL, 99, 1.0, NO_ID), (3 * S // 2, DELTA, BID, 99, 0, 4),
    (8 * S // 5, DELTA, BID, 99, 2, 5),
    # step 2: the level empties, a sell at 98 goes through 99: the rest (0.5) fills;
    # a buy at 102 goes through 101: the whole ask (1.0) fills
    (12 * S // 5, DELTA, BID, 99, 0, 6), (5 * S // 2, TRADE, SELL, 98, 0.2, NO_ID),
    (5 * S // 2, TRADE, BUY, 102, 0.3, NO_ID), (13 * S // 5, DELTA, BID, 99, 1, 7),
    # step 3: nothing trades
    (9 * S // 2, DELTA, BID, 98, 1.5, 8),
])


@pytest.fixture
def hand_file(tmp_path: Path) -> Path:
    path = tmp_path / "hand.parquet"
    write_events(HAND, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "0.001"})
    return path


@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_fills_only_when_trades_reach_the_price(hand_file: Path, queue_model: str) -> None:
    market = ReplayMarket(1, data_path=str(hand_file), dt=1.0, episode_seconds=3.0, start=0.0,
                          quote_size=1.0, queue_model=queue_model)
    market.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    assert market.mid[0] == 100.0
    fills, prices = [], []
    for _ in range(3):
        rec = market.step(np.array([[1.0], [1.0]]), np.zeros((1, 1)))
        fills.append(rec.fills[:, 0].tolist())
        prices.append(rec.prices[:, 0].tolist())
    assert prices == [[99.0, 101.0]] * 3
    assert fills == [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]
    # the new bid after its full fill joins behind the 1 lot shown at 99
    market.step(np.array([[1.0], [1.0]]), np.zeros((1, 1)))
    assert market.order_ahead[0, 0] == 1.0


def test_recorded_volumes_in_the_step_record(hand_file: Path) -> None:
    market = ReplayMarket(1, data_path=str(hand_file), dt=1.0, episode_seconds=3.0, start=0.0)
    market.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    got = []
    for _ in range(3):
        rec = market.step(np.full((2, 1), np.nan), np.zeros((1, 1)))
        got.append((rec.buy_volume[0], rec.sell_volume[0], rec.trades[0], rec.fills.sum()))
    assert got == [(2.0, 2.2, 3.0, 0.0), (0.0, 1.0, 1.0, 0.0), (0.3, 0.2, 2.0, 0.0)]


def test_bad_parameters_and_files(hand_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data_path=None"):
        gym.make("mmgym/LOBReplay-v0")
    with pytest.raises(DataError, match=re.escape("nope.parquet: no such file")):
        gym.make("mmgym/LOBReplay-v0", data_path=str(tmp_path / "nope.parquet"))
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=re.escape("corrupt.parquet: not a readable parquet")):
        gym.make("mmgym/LOBReplay-v0", data_path=str(corrupt))
    with pytest.raises(ConfigError, match="queue_model='fifo'"):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), queue_model="fifo")
    with pytest.raises(ConfigError, match=re.escape("episode_seconds=10.0: the recording")):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), dt=1.0, episode_seconds=10.0)
    with pytest.raises(ConfigError, match=re.escape("start=2.0: no two-sided book")):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), dt=1.0, episode_seconds=3.0,
                 start=2.0)
    with pytest.raises(ConfigError, match="dt=0"):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), dt=0)


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} not present")
    path = tmp_path_factory.mktemp("replay") / "btcusdt.parquet"
    import_binance(SAMPLE, path)
    return path


@needs_sample
def test_replayed_mid_is_the_rebuilt_books(sample_file: Path) -> None:
    env = gym.make("mmgym/LOBReplay-v0", data_path=str(sample_file), episode_seconds=30.0,
                   start=100.0)
    _, info = env.reset(seed=0)
    mids = [info["mid"]]
    for _ in range(300):
        _, _, terminated, _, info = env.step(np.array([2.0, 2.0], dtype=np.float32))
        mids.append(info["mid"])
    assert terminated
    events, _ = read_events(sample_file)
    t0 = int(events.ts_ns.iloc[0])
    top = rebuild_book(events).top_at(t0 + np.arange(1000, 1301) * (S // 10))
    np.testing.assert_allclose(mids, (top.bid_price + top.ask_price) / 2, rtol=0, atol=1e-9)


@needs_sample
def test_env_checkers(sample_file: Path) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("mmgym/LOBReplay-v0", data_path=str(sample_file), episode_seconds=10.0)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped)


@needs_sample
def test_same_seed_same_episode_single_and_vector(sample_file: Path) -> None:
    kwargs = {"data_path": str(sample_file), "episode_seconds": 5.0}
    vec = gym.make_vec("mmgym/LOBReplay-v0", num_envs=3,
                       vectorization_mode="vector_entry_point", **kwargs)
    obs_v, info_v = vec.reset(seed=7)
    actions = np.array([[1.0, 0.5], [0.5, 1.0], [3.0, 3.0]], dtype=np.float32)
    steps_v = [vec.step(actions) for _ in range(50)]
    starts = set()
    for i in range(3):
        env = gym.make("mmgym/LOBReplay-v0", **kwargs)
        obs, info = env.reset(seed=7 + i)
        assert np.array_equal(obs, obs_v[i]) and info["mid"] == info_v["mid"][i]
        starts.add(info["mid"])
        for t in range(50):
            obs, reward, *_, info = env.step(actions[i])
            assert np.array_equal(obs, steps_v[t][0][i])
            assert reward == steps_v[t][1][i]
            assert info["bid_fill"] == steps_v[t][4]["bid_fill"][i]
    assert len(starts) == 3  # random starts differ between seeds


def reference_steps(path: Path, k0: int, offsets: np.ndarray, queue_model: str,
                    quote_size: float, dt: float = 0.1,
                    grid: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """Prices and fills of one environment from ``k0``, a plain loop over the module doc's
    rules; the trades of each step summed by pandas, the book from ``rebuild_book``."""
    events, meta = read_events(path)
    tick = float(meta["mmgym.tick_size"])
    ts = events.ts_ns.to_numpy()
    cuts = ts[0] + round(dt * S) * np.arange((ts[-1] - ts[0]) // round(dt * S) + 1)
    book = rebuild_book(events, cut_ns=cuts, tick=tick, grid_ticks=grid)
    best = np.rint(book.cut_best / tick)
    trades = events[events.kind == TRADE].assign(
        step=lambda t: np.searchsorted(cuts, t.ts_ns, side="left") - 1,
        ticks=lambda t: np.rint(t.price / tick))
    volume = trades.groupby(["step", "side", "ticks"])["size"].sum().to_dict()
    lowest_sell = trades[trades.side == SELL].groupby("step")["ticks"].min().to_dict()
    highest_buy = trades[trades.side == BUY].groupby("step")["ticks"].max().to_dict()

    def queue(k: int, side: int, px: float) -> float:
        level = best[k, 0] - px if side == 0 else px - best[k, 1]
        return book.cut_depth[k, side, int(level)] if 0 <= level < grid else 0.0

    order_px, left, ahead = [np.nan, np.nan], [0.0, 0.0], [0.0, 0.0]
    prices, fills = [], []
    for t, (bid_offset, ask_offset) in enumerate(offsets):
        k = k0 + t
        bid, ask = best[k]
        mid = (bid + ask) / 2
        px = [np.nan if math.isnan(bid_offset) else min(math.floor(mid - bid_offset), ask - 1),
              np.nan if math.isnan(ask_offset) else max(math.ceil(mid + ask_offset), bid + 1)]
        fill = [0.0, 0.0]
        for side in (0, 1):
            if math.isnan(px[side]):
                order_px[side], left[side], ahead[side] = np.nan, 0.0, 0.0
                continue
            q = queue(k, side, px[side])
            if px[side] != order_px[side] or left[side] <= 0:
                order_px[side], left[side], ahead[side] = px[side], quote_size, q
            aggressor = SELL if side == 0 else BUY
            at = volume.get((k, aggressor, px[side]), 0.0)
            through = (lowest_sell.get(k, np.inf) < px[side] if side == 0
                       else highest_buy.get(k, -np.inf) > px[side])
            fill[side] = left[side] if through else min(left[side], max(at - ahead[side], 0.0))
            left[side] -= fill[side]
            ahead[side] = max(ahead[side] - at, 0.0)
            after = queue(k + 1, side, px[side])
            traded_queue = max(q - at, 0.0)
            if queue_model == "probabilistic" and traded_queue > 0:
                ahead[side] -= max(traded_queue - after, 0.0) * ahead[side] / traded_queue
            ahead[side] = max(min(ahead[side], after), 0.0)
        prices.append([p * tick for p in px])
        fills.append(fill)
    return np.array(prices), np.array(fills)


@needs_sample
@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_batched_steps_match_a_plain_loop(sample_file: Path, queue_model: str) -> None:
    """Three environments stepped together, against the plain loop per environment: random
    offsets (some far beyond the book grid, some inside the spread, some NaN: no order), then
    offsets held for 25 steps (orders resting in the queue)."""
    n, steps = 3, 600
    market = ReplayMarket(n, data_path=str(sample_file), episode_seconds=60.0,
                          queue_model=queue_model, quote_size=1.0)
    market.reset(np.ones(n, dtype=bool), np.array([[0.1, 0.5, 0.9]]))
    k0 = market.pos.copy()
    rng = np.random.default_rng(3)
    offsets = np.where(rng.uniform(size=(steps, 2, n)) < 0.2,
                       rng.uniform(-30.0, 30.0, size=(steps, 2, n)),
                       rng.integers(-2, 4, size=(steps, 2, n)).astype(float))
    offsets[rng.uniform(size=(steps, 2, n)) < 0.05] = np.nan
    offsets[steps // 2:] = np.repeat(offsets[steps // 2::25], 25, axis=0)  # orders that rest
    prices, fills = np.empty((steps, 2, n)), np.empty((steps, 2, n))
    for t in range(steps):
        record = market.step(offsets[t], np.zeros((1, n)))
        prices[t], fills[t] = record.prices, record.fills
    assert (fills > 0).sum() > 20 and ((fills > 0) & (fills < 1.0)).sum() > 5  # partial too
    for i in range(n):
        want_prices, want_fills = reference_steps(sample_file, int(k0[i]), offsets[:, :, i],
                                                  queue_model, quote_size=1.0)
        np.testing.assert_array_equal(prices[:, :, i], want_prices)
        np.testing.assert_allclose(fills[:, :, i], want_fills, rtol=0, atol=1e-12)
