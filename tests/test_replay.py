"""The ``replay`` market: fills from recorded trades, the replayed book, seeding, env checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from reference import HAND, SAMPLE, S, needs_sample, table

import mmgym  # noqa: F401  (registers the ids)
from mmgym.data.binance import import_binance
from mmgym.data.book import rebuild_book
from mmgym.data.schema import ASK, BID, BUY, DELTA, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events, write_events
from mmgym.evaluation import run_episodes
from mmgym.kit.compare import evaluate
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.lineup import baseline
from mmgym.kit.training import EVAL_SEED, compare, train
from mmgym.markets.replay import ReplayMarket, WindowRange
from mmgym.validation import ConfigError


@pytest.fixture
def hand_file(tmp_path: Path) -> Path:
    path = tmp_path / "hand.parquet"
    write_events(HAND, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "0.001"})
    return path


@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_fills_only_when_trades_reach_the_price(hand_file: Path, queue_model: str) -> None:
    market = ReplayMarket(1, data_path=str(hand_file), dt=1.0, episode_seconds=4.0, start=0.0,
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


def test_the_power_queue_model_advances_slower_near_the_front(tmp_path: Path) -> None:
    # the agent's bid joins 2 lots at 99; 18 lots join behind it, then 10 lots cancel
    events = table([
        (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1),
        (S // 2, DELTA, BID, 99, 20, 2), (3 * S // 2, DELTA, BID, 99, 10, 3),
        (3 * S, DELTA, ASK, 101, 4, 4),
    ])
    path = tmp_path / "queue.parquet"
    write_events(events, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "1"})
    ahead = {}
    for model in ("probabilistic", "power"):
        market = ReplayMarket(1, data_path=str(path), dt=1.0, episode_seconds=2.0, start=0.0,
                              quote_size=1.0, queue_model=model, queue_power=2.0)
        market.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
        for _ in range(2):
            market.step(np.array([[1.0], [np.nan]]), np.zeros((1, 1)))
        ahead[model] = market.order_ahead[0, 0]
    assert ahead["probabilistic"] == 1.0  # 10·2/20
    assert ahead["power"] == pytest.approx(2.0 - 10.0 / 82.0)  # 10·2²/(2² + 18²)


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
    with pytest.raises(ConfigError, match=re.escape(
            "start=2.0: outside the whole recording [0, 4] s (range='all'); allowed starts "
            "(s): 0 to 1")):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), dt=1.0, episode_seconds=3.0,
                 start=2.0)
    with pytest.raises(ConfigError, match="dt=0"):
        gym.make("mmgym/LOBReplay-v0", data_path=str(hand_file), dt=0)


T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20 UTC, the long file's first event
# tick 1, 20 s of a book 99 / 101 changing every second, one-sided (no ask) at boundary 13:
# with dt = 1 s and 3-s windows, a window may start at 0..9 or 14..17 of 0..20
LONG = table([
    (T0, SNAPSHOT, BID, 99, 2, 1), (T0, SNAPSHOT, BID, 98, 1, 1),
    (T0, SNAPSHOT, ASK, 101, 3, 1), (T0, SNAPSHOT, ASK, 102, 1, 1),
    *[(T0 + k * S, DELTA, BID, 98, 1 + k, 1 + k) for k in range(1, 13)],
    (T0 + 25 * S // 2, DELTA, ASK, 101, 0, 13), (T0 + 25 * S // 2, DELTA, ASK, 102, 0, 13),
    (T0 + 27 * S // 2, DELTA, ASK, 101, 3, 14),
    *[(T0 + k * S, DELTA, BID, 98, 1 + k, 1 + k) for k in range(14, 21)],
])
LONG_KW = {"dt": 1.0, "episode_seconds": 3.0}


@pytest.fixture
def long_file(tmp_path: Path) -> Path:
    path = tmp_path / "long.parquet"
    write_events(LONG, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "0.001"})
    return path


def drawn_starts(market: ReplayMarket, draws: int = 2000) -> set[int]:
    """The first boundaries of ``draws`` resets, from uniforms spread over [0, 1)."""
    n = market.n
    got = set()
    for u in np.array_split((np.arange(draws) + 0.5) / draws, draws // n):
        mask = np.zeros(n, dtype=bool)
        mask[: len(u)] = True
        uniforms = np.zeros((1, n))
        uniforms[0, : len(u)] = u
        market.reset(mask, uniforms)
        got |= set(market.start_pos[mask].tolist())
    return got


@pytest.mark.parametrize(
    ("params", "train", "evaluation"),
    [
        ({}, [*range(10)], [14, 15, 16, 17]),  # split at 0.7 · 20 = 14 s, on a boundary
        ({"split_fraction": 0.5}, [*range(8)], [14, 15, 16, 17]),  # 10 s: 10..13 one-sided
        ({"split_fraction": 0.5, "split_seconds": 6.5}, [0, 1, 2, 3],
         [7, 8, 9, 14, 15, 16, 17]),  # seconds override the fraction: train to 6, eval from 7
    ],
)
def test_train_and_eval_windows_on_a_hand_made_file(long_file: Path, params: dict,
                                                     train: list[int],
                                                     evaluation: list[int]) -> None:
    kwargs = {"data_path": str(long_file), **LONG_KW, **params}
    everything = ReplayMarket(4, **kwargs)
    assert everything.starts.tolist() == [*range(10), 14, 15, 16, 17]
    for name, want in (("train", train), ("eval", evaluation)):
        market = ReplayMarket(4, range=name, **kwargs)
        assert market.starts.tolist() == want
        assert drawn_starts(market) == set(want)  # every start drawn, none outside
    split = params.get("split_seconds", 20 * params.get("split_fraction", 0.7))
    market = ReplayMarket(1, range="train", **kwargs)
    assert market.starts.max() + 3 <= split <= ReplayMarket(1, range="eval", **kwargs).starts.min()


def test_window_range_names_the_range_and_its_recorded_time(long_file: Path) -> None:
    kwargs = {"data_path": str(long_file), **LONG_KW, "split_seconds": 6.5}
    ranges = {name: ReplayMarket(1, range=name, **kwargs).window_range()
              for name in ("all", "train", "eval")}
    assert ranges["train"] == WindowRange(
        name="train", source=str(long_file), start_s=0.0, end_s=6.0, split_s=6.5,
        start_utc="2023-11-14T22:13:20", end_utc="2023-11-14T22:13:26", windows=4)
    assert ranges["eval"] == WindowRange(
        name="eval", source=str(long_file), start_s=7.0, end_s=20.0, split_s=6.5,
        start_utc="2023-11-14T22:13:27", end_utc="2023-11-14T22:13:40", windows=7)
    assert (ranges["all"].start_s, ranges["all"].end_s, ranges["all"].windows) == (0.0, 20.0, 14)
    assert str(ranges["eval"]) == (
        f"eval range of {long_file}: [7, 20] s after its first event (2023-11-14T22:13:27 to "
        "2023-11-14T22:13:40 UTC; split at 6.5 s), 7 window starts")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "test"}, "range='test': expected one of 'all', 'train', 'eval'"),
        ({"split_fraction": 1.0}, "split_fraction=1.0: out of range, allowed (0, 1)"),
        ({"split_fraction": 0}, "split_fraction=0: out of range, allowed (0, 1)"),
        ({"split_fraction": "half"}, "split_fraction='half': expected a number in (0, 1)"),
        ({"split_seconds": -1.0}, "split_seconds=-1.0: out of range, allowed (0, inf]"),
        ({"split_seconds": 20.0},
         "split_seconds=20.0: out of range, allowed (0, 20) (the recording {path} spans 20 s)"),
        ({"range": "eval", "episode_seconds": 7.0},
         "range='eval': the evaluation range [14, 20] s of {path} (split at 14 s) holds 6 s, "
         "less than episode_seconds=7.0"),
        ({"range": "train", "split_seconds": 2.5},
         "range='train': the training range [0, 2] s of {path} (split at 2.5 s) holds 2 s, "
         "less than episode_seconds=3.0"),
        ({"range": "eval", "split_seconds": 19.5},
         "range='eval': the evaluation range [20, 20] s of {path} (split at 19.5 s) holds 0 s, "
         "less than episode_seconds=3.0"),
        ({"range": "train", "start": 12.0},
         "start=12.0: outside the training range [0, 14] s (range='train'); allowed starts "
         "(s): 0 to 11"),
        ({"range": "eval", "start": 3.0},
         "start=3.0: outside the evaluation range [14, 20] s (range='eval'); allowed starts "
         "(s): 14 to 17"),
        ({"range": "train", "start": 11.0},  # in the range, but the window holds boundary 13
         "start=11.0: no two-sided book over [11.0, 14.0] s; allowed starts (s): 0 to 9 "
         "(with gaps)"),
    ],
)
def test_bad_split_and_range_values_fail_clearly(long_file: Path, params: dict,
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message.format(path=long_file)) + "$"):
        ReplayMarket(1, data_path=str(long_file), **{**LONG_KW, **params})


def test_fixed_start_inside_its_range(long_file: Path) -> None:
    market = ReplayMarket(2, data_path=str(long_file), **LONG_KW, range="eval", start=15.0)
    market.reset(np.ones(2, dtype=bool), np.array([[0.0, 0.9]]))
    assert market.start_pos.tolist() == [15, 15]
    assert market.episode_start_s().tolist() == [15.0, 15.0]


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
def test_sample_train_and_eval_windows_never_overlap(sample_file: Path) -> None:
    """Every possible start of each range, against the split computed from the events."""
    events, _ = read_events(sample_file)
    ts = events.ts_ns.to_numpy()
    dt_ns, H = S // 10, 600  # the defaults: 0.1-s steps, 60-s episodes
    span_ns = int(ts[-1] - ts[0])
    split_ns = round(0.7 * span_ns)
    last, train_end, eval_start = span_ns // dt_ns, split_ns // dt_ns, -(-split_ns // dt_ns)
    assert (span_ns, split_ns, last, train_end, eval_start) == (
        344_803_177_917, 241_362_224_542, 3448, 2413, 2414)
    train = ReplayMarket(8, data_path=str(sample_file), range="train")
    evaluation = ReplayMarket(8, data_path=str(sample_file), range="eval")
    everything = ReplayMarket(8, data_path=str(sample_file))
    assert everything.rec.two_sided.all()  # the sample's book is two-sided throughout
    np.testing.assert_array_equal(train.starts, np.arange(0, train_end - H + 1))
    np.testing.assert_array_equal(evaluation.starts, np.arange(eval_start, last - H + 1))
    np.testing.assert_array_equal(everything.starts, np.arange(0, last - H + 1))
    # windows as boundaries k..k+H: a train window ends at or before the split, an eval
    # window starts at or after it; no step (k, k+1] is in both
    assert (train.starts.max() + H) * dt_ns <= split_ns <= evaluation.starts.min() * dt_ns
    steps = [set((starts[:, None] + np.arange(H)).ravel().tolist())
             for starts in (train.starts, evaluation.starts)]
    assert not steps[0] & steps[1]
    assert drawn_starts(train, 4000) == set(train.starts.tolist())
    assert drawn_starts(evaluation, 4000) == set(evaluation.starts.tolist())
    assert (evaluation.window_range().start_s, evaluation.window_range().end_s) == (241.4, 344.8)
    assert evaluation.window_range().start_utc == "2024-08-08T23:58:16.430314667"


@needs_sample
@pytest.mark.parametrize("data_range", ["all", "train", "eval"])
def test_same_seed_same_episode_single_and_vector(sample_file: Path, data_range: str) -> None:
    kwargs = {"data_path": str(sample_file), "episode_seconds": 5.0, "range": data_range}
    allowed = set(ReplayMarket(1, **kwargs).starts.tolist())
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
        start = int(env.unwrapped.core.market.start_pos[0])
        assert start == vec.unwrapped.core.market.start_pos[i] and start in allowed
        starts.add(start)
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


def compose_config(name: str, *overrides: str):
    """A composed ``conf/<name>.yaml`` (``evaluate`` or ``config``), progress bars off."""
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose(name, overrides=["progress=false", *overrides])


EVAL_SAMPLE = ["market=replay", "policies=[as_inventory]", "episodes=40", "plots=false",
               "tensorboard=false", "bootstrap_resamples=100"]


@needs_sample
@pytest.mark.parametrize(("overrides", "played"), [
    ([], "eval"),  # evaluate.yaml's data_range
    (["data_range=train"], "train"),
    (["data_range=all"], "all"),
    (["data_range=null"], "train"),  # the market config's range (replay.yaml: train)
])
def test_evaluation_plays_and_reports_its_range(sample_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture,
                                                overrides: list[str], played: str) -> None:
    cfg = compose_config("evaluate", *EVAL_SAMPLE, f"market.params.data_path={sample_file}",
                         *overrides)
    evaluate(cfg, tmp_path)
    want = ReplayMarket(1, data_path=str(sample_file), range=played)
    window = want.window_range()
    assert window.name == played
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"data: {window}"  # before the first episode
    header = (tmp_path / "summary.md").read_text().splitlines()[:3]
    assert header == ["replay: 40 common episodes (seeds 0–39); mean–variance γ = 0.1", "",
                      f"data: {window}"]
    # episode i is the window of seed i in that range, and lies in it
    episodes = pd.read_parquet(tmp_path / "episodes.parquet")
    starts = episodes["window_start_s"].to_numpy()
    env = gym.make("mmgym/LOBReplay-v0", data_path=str(sample_file), range=played)
    seeded = []
    for seed in range(40):
        env.reset(seed=seed)
        seeded.append(env.unwrapped.core.market.episode_start_s()[0])
    np.testing.assert_array_equal(starts, seeded)
    assert set(np.rint(starts * 10).astype(int).tolist()) <= set(want.starts.tolist())
    assert window.start_s <= starts.min() and starts.max() + 60.0 <= window.end_s


@needs_sample
def test_evaluation_reports_the_sample_eval_range(sample_file: Path, tmp_path: Path) -> None:
    evaluate(compose_config("evaluate", *EVAL_SAMPLE, f"market.params.data_path={sample_file}"),
             tmp_path)
    assert (tmp_path / "summary.md").read_text().splitlines()[2] == (
        f"data: eval range of {sample_file}: [241.4, 344.8] s after its first event "
        "(2024-08-08T23:58:16.430314667 to 2024-08-08T23:59:59.830314667 UTC; split at "
        "241.362 s), 435 window starts")


@needs_sample
@pytest.mark.parametrize(("overrides", "message"), [
    (["data_range=holdout"], "data_range='holdout': expected one of 'all', 'train', 'eval'"),
    (["market.params.episode_seconds=120"],
     "range='eval': the evaluation range [241.4, 344.8] s of {path} (split at 241.362 s) "
     "holds 103.4 s, less than episode_seconds=120"),
    (["+market.params.start=200.0"],
     "start=200.0: outside the evaluation range [241.4, 344.8] s (range='eval'); allowed "
     "starts (s): 241.4 to 284.8"),
])
def test_evaluation_range_errors_come_before_anything_is_written(
        sample_file: Path, tmp_path: Path, overrides: list[str], message: str) -> None:
    cfg = compose_config("evaluate", *EVAL_SAMPLE, f"market.params.data_path={sample_file}",
                         *overrides)
    with pytest.raises(ConfigError, match=re.escape(message.format(path=sample_file))):
        evaluate(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_sample
def test_training_compares_on_the_eval_range(sample_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    cfg = compose_config("config", "market=replay", f"market.params.data_path={sample_file}",
                         "agent=qlearning", "total_timesteps=1200", "num_envs=2",
                         "eval_episodes=6")
    train(cfg, tmp_path)
    out = capsys.readouterr().out
    ranges = {name: ReplayMarket(1, data_path=str(sample_file), range=name).window_range()
              for name in ("train", "eval")}
    assert f"training data: {ranges['train']}\ncomparison data: {ranges['eval']}\n" in out
    assert "qlearning vs Avellaneda–Stoikov on 6 common episodes of replay (eval range):" in out
    # the comparison's numbers are those of the eval range's episodes, not the train range's
    policy = baseline("as_symmetric", cfg.market).policy
    kwargs = env_kwargs(cfg)
    summary = compare(cfg, kwargs, policy, tmp_path / "again")
    for name, want in (("eval", True), ("train", False)):
        episodes = run_episodes(policy, 6, seed=EVAL_SEED, **(kwargs | {"range": name}))
        mean_pnl = summary.loc[("qlearning", "mean_pnl"), "value"]
        assert bool(mean_pnl == episodes["pnl"].mean()) is want


@needs_sample
def test_training_checks_the_comparison_range_first(sample_file: Path, tmp_path: Path) -> None:
    # 200 s episodes fit the training range (241.3 s), not the evaluation range (103.4 s)
    cfg = compose_config("config", "market=replay", f"market.params.data_path={sample_file}",
                         "agent=qlearning", "market.params.episode_seconds=200",
                         "market.baseline.T=200")
    with pytest.raises(ConfigError, match=re.escape(
            "range='eval': the evaluation range [241.4, 344.8] s")):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
