"""Withdrawing a quote and the normalized action, in every market and every view."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mmgym
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.spaces import offsets_of
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import DiscreteQuotes, QuoteGrid


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pandas as pd

    from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
    from mmgym.data.store import write_events

    S = 10**9
    rows = [(0, SNAPSHOT, BID, 99, 5, 1), (0, SNAPSHOT, ASK, 101, 5, 1)]
    for k in range(1, 200):  # a trade through both sides every second
        rows += [(k * S, TRADE, SELL, 95, 1, NO_ID), (k * S, TRADE, BUY, 105, 1, NO_ID),
                 (k * S, DELTA, BID, 99, 5, k + 1)]
    events = pd.DataFrame(rows, columns=["ts_ns", "kind", "side", "price", "size", "update_id"])
    events = events.astype({"ts_ns": np.int64, "kind": np.int8, "side": np.int8,
                            "price": np.float64, "size": np.float64, "update_id": np.int64})
    path = tmp_path_factory.mktemp("withdraw") / "trades.parquet"
    write_events(events, path, {"mmgym.tick_size": "1", "mmgym.lot_size": "1"})
    return path


def markets(replay_file: Path) -> list[tuple[str, dict]]:
    return [("as2008", {"max_inventory": 1e6}), ("lob", {"max_inventory": 1e6}),
            ("wide", {"max_inventory": 1e6}),
            ("replay", {"data_path": str(replay_file), "dt": 1.0, "episode_seconds": 100.0,
                        "quote_size": 1.0, "max_inventory": 1000.0})]


@pytest.mark.parametrize("market", ["as2008", "lob", "wide", "replay"])
def test_a_withdrawn_side_never_fills_and_never_quoting_earns_exactly_zero(
        market: str, replay_file: Path) -> None:
    kwargs = dict(markets(replay_file))[market]
    env = MarketMakingVectorEnv(6, market=market, **kwargs)
    env.reset(seed=11)
    high = env.core.action_high
    # env 0 never quotes, 1 withdraws its bid (+inf), 2 its ask (at the bound), 3 quotes both
    # sides at the mid, 4 and 5 the same with bids and asks in the other order
    actions = np.array([[np.inf, np.inf], [np.inf, 0.0], [0.0, high], [0.0, 0.0],
                        [high, high + 1], [-high, 0.0]])
    bid_fills, ask_fills = np.zeros(6), np.zeros(6)
    for _ in range(env.core.horizon_steps):
        info = env.step(actions)[4]
        bid_fills += info["bid_fill"]
        ask_fills += info["ask_fill"]
        assert np.isnan(info["bid_price"][[0, 1, 4]]).all()
        assert np.isnan(info["ask_price"][[0, 2, 4]]).all()
        assert not np.isnan(info["bid_price"][[2, 3, 5]]).any()
    assert bid_fills[[0, 1, 4]].tolist() == [0.0] * 3 and ask_fills[[0, 2, 4]].tolist() == [0.0] * 3
    assert bid_fills[3] > 0 and ask_fills[3] > 0
    assert info["pnl"][0] == 0.0 and info["pnl"][4] == 0.0  # exactly: no fill, no inventory
    assert info["cash"][0] == 0.0 and info["inventory"][0] == 0.0


@pytest.mark.parametrize("market", ["as2008", "lob", "wide", "replay"])
def test_normalized_actions_quote_what_their_offsets_quote(market: str,
                                                           replay_file: Path) -> None:
    kwargs = dict(markets(replay_file))[market]
    raw = MarketMakingVectorEnv(5, market=market, **kwargs)
    norm = MarketMakingVectorEnv(5, market=market, normalize_actions=True, **kwargs)
    assert norm.single_action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    low, high = raw.core.action_low, raw.core.action_high
    raw.reset(seed=3)
    norm.reset(seed=3)
    rng = np.random.default_rng(0)
    withdrawn = 0
    for _ in range(300):
        a = rng.uniform(-1.2, 1.2, (5, 2)).astype(np.float32)
        a[rng.random((5, 2)) < 0.1] = 1.0
        o1, r1, _, _, i1 = raw.step(offsets_of(a, low, high))
        o2, r2, _, _, i2 = norm.step(a)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        for key in ("pnl", "inventory", "bid_price", "ask_price"):
            np.testing.assert_array_equal(i1[key], i2[key])
        withdrawn += int(np.isnan(i2["bid_price"]).sum())
    assert withdrawn > 0


def test_offsets_of_maps_the_interval_onto_the_bounds() -> None:
    got = offsets_of(np.array([-2.0, -1.0, 0.0, 0.5, 0.9999, 1.0, 3.0]), -20.0, 20.0)
    np.testing.assert_allclose(got[:5], [-20.0, -20.0, 0.0, 10.0, 19.998])
    assert np.isinf(got[5:]).all()


@pytest.mark.parametrize("env_id", ["mmgym/AvellanedaStoikov-v0", "mmgym/MarketMaking-v0",
                                    "mmgym/WideSpread-v0"])
def test_a_newcomer_withdraws_through_the_checkers(env_id: str) -> None:
    env = gym.make(env_id, normalize_actions=True)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, 0.2], dtype=np.float32))
    assert np.isnan(info["bid_price"]) and np.isfinite(info["ask_price"])


def test_the_three_views_withdraw_alike() -> None:
    seeds = 4
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (400, seeds, 2)).astype(np.float32)
    actions[rng.random((400, seeds, 2)) < 0.2] = 1.0
    vec = MarketMakingVectorEnv(seeds, market="lob", normalize_actions=True)
    vec.reset(seed=5)
    sb3 = MarketMakingSB3VecEnv(seeds, market="lob", normalize_actions=True)
    sb3.seed(5)
    sb3.reset()
    singles = [gym.make("mmgym/MarketMaking-v0", normalize_actions=True) for _ in range(seeds)]
    for i, env in enumerate(singles):
        env.reset(seed=5 + i)
    for a in actions:
        obs_v, r_v, *_ = vec.step(a)
        obs_s, r_s, _, _ = sb3.step(a)
        np.testing.assert_array_equal(obs_v, obs_s)
        np.testing.assert_array_equal(r_v, r_s)
        for i, env in enumerate(singles):
            obs, r, *_, info = env.step(a[i])
            np.testing.assert_array_equal(obs, obs_v[i])
            assert r == r_v[i]
            assert np.isnan(info["bid_price"]) == (a[i, 0] >= 1.0)


def test_the_tabular_grid_withdraws_with_inf() -> None:
    grid = QuoteGrid([1.0, np.inf], [2.0, np.inf])
    env = DiscreteQuotes(gym.make("mmgym/AvellanedaStoikov-v0"), grid)
    env.reset(seed=0)
    prices = [env.step(k)[4] for k in range(4)]
    assert [(np.isnan(p["bid_price"]), np.isnan(p["ask_price"])) for p in prices] == [
        (False, False), (False, True), (True, False), (True, True)]
    with pytest.raises(mmgym.ConfigError, match="pairs of numbers"):
        QuoteGrid([np.nan], [1.0])


def test_action_bounds_narrow_the_offsets_and_what_the_normalized_form_covers() -> None:
    bounded = MarketMakingVectorEnv(3, market="wide", action_bounds=(0.0, 30.0))
    norm = MarketMakingVectorEnv(3, market="wide", action_bounds=(0.0, 30.0),
                                 normalize_actions=True)
    assert bounded.single_action_space == gym.spaces.Box(0.0, 30.0, (2,), np.float32)
    # [-1, 1] onto [0, 30]: the centre quotes 15 ticks out; -1 at the mid, 1 withdraws
    np.testing.assert_array_equal(
        norm.core.offsets(np.array([[0.0, -1.0], [1.0, 0.5], [-3.0, 0.0]])),
        [[15.0, np.nan, 0.0], [0.0, 22.5, 15.0]])
    # offsets below the new lower bound are clipped to it, the new upper bound withdraws
    np.testing.assert_array_equal(
        bounded.core.offsets(np.array([[-5.0, 30.0], [7.0, 29.0], [0.0, np.inf]])),
        [[0.0, 7.0, 0.0], [np.nan, 29.0, np.nan]])
    bounded.reset(seed=2)
    norm.reset(seed=2)
    rng = np.random.default_rng(4)
    for _ in range(200):
        a = rng.uniform(-1.0, 1.0, (3, 2)).astype(np.float32)
        o1, r1, _, _, i1 = bounded.step(offsets_of(a, 0.0, 30.0))
        o2, r2, _, _, i2 = norm.step(a)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(i1["bid_price"], i2["bid_price"])
