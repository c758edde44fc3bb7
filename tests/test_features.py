"""The observation features on the markets: names, bounds, units and errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mmgym  # noqa: F401
from mmgym import ConfigError
from mmgym.features import FEATURES
from mmgym.features.book import book_imbalance

LOB_ID = "mmgym/MarketMaking-v0"


def test_default_lob_observation() -> None:
    env = gym.make(LOB_ID)
    assert env.unwrapped.feature_names == (
        "inventory", "volatility", "ofi", "vpin", "imbalance", "time_remaining"
    )


def test_every_feature_on_the_lob_market() -> None:
    # the detector's features need its model file: tests/test_detector.py
    names = tuple(f for f in FEATURES if f not in ("adverse_bid", "adverse_ask"))
    env = gym.make(LOB_ID, features=list(names), max_inventory=5.0)
    obs, _ = env.reset(seed=1)
    rec = env.unwrapped.core.market.step_record
    col = {n: i for i, n in enumerate(names)}
    assert obs[col["spread"]] == pytest.approx(1.0)  # the initial book: one tick
    rows, trades, mids = [], [], []
    for _ in range(1000):
        obs, *_ = env.step(np.array([1.0, 1.0]))
        assert env.observation_space.contains(obs)
        tick_spread = (rec.best[1] - rec.best[0]) / 0.1
        assert obs[col["spread"]] == pytest.approx(tick_spread[0], rel=1e-5)
        rows.append(obs)
        trades.append(rec.trades[0])
        mids.append(rec.mid[0])
    x = np.array(rows)
    # market orders per second over the last 50 steps of 0.1 s
    assert x[-1, col["trade_rate"]] == pytest.approx(np.mean(trades[-50:]) / 0.1, rel=1e-6)
    assert np.isfinite(x).all()
    assert (np.abs(x[:, col["microprice"]]) <= 0.5 * x[:, col["spread"]] + 1e-6).all()
    assert 0 < x[500:, col["vpin"]].mean() < 1
    # realized volatility: std of the last 50 log returns, in bps per √s (dt = 0.1 s)
    returns = np.diff(np.log(mids))[-50:]
    expected = returns.std(ddof=1) * 1e4 / np.sqrt(0.1)
    assert x[-1, col["volatility"]] == pytest.approx(expected, rel=1e-5)
    assert (x[:, col["garman_klass"]] >= 0).all() and x[:, col["garman_klass"]].max() > 0


def test_imbalance_feature_matches_book_imbalance() -> None:
    env = gym.make(LOB_ID, features=["imbalance"], feature_params={"imbalance": {"levels": 4}})
    env.reset(seed=0)
    rec = env.unwrapped.core.market.step_record
    for _ in range(200):
        obs = env.step(np.array([1.0, 1.0]))[0]
        ref = book_imbalance(rec.depth[0].T, rec.depth[1].T, 4)
        assert obs[0] == pytest.approx(ref[0], rel=1e-6, abs=1e-7)


def test_mid_features_work_without_a_book() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0", features=["volatility", "inventory"])
    env.reset(seed=0)
    vols = [env.step(np.array([1.0, 1.0]))[0][0] for _ in range(100)]
    # σ√dt = 0.1414 per step on a mid of 100: 14 bps per step, 200 bps per √time unit
    assert vols[-1] == pytest.approx(200, rel=0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["ofi"]}, r"features: 'ofi' reads an order book, which market 'as2008'"),
        ({"feature_params": {"ofi": {}}}, r"feature_params: 'ofi' not among the features"),
        ({"features": ["volatility"], "feature_params": {"volatility": {"windw": 3}}},
         r"feature_params\['volatility'\]: .*windw"),
        ({"features": ["volatility"], "feature_params": {"volatility": {"window": 1}}},
         r"volatility.window=1: out of range, allowed \[2, inf\]"),
    ],
)
def test_feature_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make("mmgym/AvellanedaStoikov-v0", **kwargs)
