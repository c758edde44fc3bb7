"""The multi-asset market and the core's N legs: the lead–lag coupling, the action and
observation layout, the per-asset limits and accounts, the portfolio features and rewards,
and the errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mmgym
from mmgym.accounting import INFO_KEYS
from mmgym.vector import MarketMakingVectorEnv


def _fundamentals(env: MarketMakingVectorEnv, actions: np.ndarray, steps: int) -> np.ndarray:
    """``(steps + 1, N, n)`` the legs' fundamentals in USD, from the reset on."""
    legs = env.core.legs
    path = [np.array([m.value() for m in legs])]
    for _ in range(steps):
        env.step(actions)
        path.append(np.array([m.value() for m in legs]))
    return np.array(path)


@pytest.mark.parametrize(("beta", "lag"), [(0.7, 25), (-1.5, 0), (1.0, 1)])
def test_a_follower_moves_by_beta_times_the_leaders_move_lag_steps_later(beta, lag) -> None:
    """With no events of its own, follower 1's fundamental path is β times the leader's,
    shifted by the lag: ΔV_1(t) = β·ΔV_0(t − ℓ) step by step; the leader moves on its own
    events only (its path is that of a lone wide market on the same seed)."""
    n, steps = 4, 1500
    env = MarketMakingVectorEnv(n, market="multi_asset", beta=beta, lag_steps=lag,
                                event_rate=0.5, asset_params=[{}, {"event_rate": 0.0}])
    env.reset(seed=11)
    path = _fundamentals(env, np.full((n, 4), 8.0), steps)
    lead, follow = path[:, 0] - path[0, 0], path[:, 1] - path[0, 1]
    assert np.count_nonzero(np.diff(lead, axis=0)) > 10 * n  # the leader had events
    expected = np.zeros_like(lead)
    # the move of step t reaches the follower at the end of step t + lag: after k steps it
    # has the leader's moves of its first k − lag steps
    expected[lag:] = beta * lead[:steps + 1 - lag]
    np.testing.assert_allclose(follow, expected, atol=1e-9)


def test_the_assets_have_their_own_events_and_the_draws_ignore_the_quotes() -> None:
    """Common random numbers: the fundamentals (the legs' own events and the coupling) are
    the same whatever the agent quotes; with events of its own a follower departs from β
    times the leader."""
    paths = []
    for offset in (0.0, 6.0, np.inf):
        env = MarketMakingVectorEnv(3, market="multi_asset", beta=0.5, lag_steps=10,
                                    event_rate=0.5)
        env.reset(seed=5)
        paths.append(_fundamentals(env, np.full((3, 4), offset), 800))
    np.testing.assert_array_equal(paths[0], paths[1])
    np.testing.assert_array_equal(paths[0], paths[2])
    lead, follow = paths[0][:, 0] - paths[0][0, 0], paths[0][:, 1] - paths[0][0, 1]
    assert not np.allclose(follow[11:], 0.5 * lead[:-11])


def test_actions_quote_each_asset_and_limits_hold_per_asset() -> None:
    """Columns 2a, 2a + 1 of the action are asset a's bid and ask offsets; a withdrawn side
    of one asset leaves the other's quotes alone; each asset's inventory stays within
    max_inventory."""
    env = MarketMakingVectorEnv(2, market="multi_asset", max_inventory=300.0)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([[2.0, 2.0, np.inf, 3.0], [np.inf, np.inf, 1.0, 1.0]]))
    assert info["bid_price"].shape == (2, 2)
    assert np.isfinite(info["bid_price"][0, 0]) and np.isnan(info["bid_price"][0, 1])
    assert np.isfinite(info["ask_price"][0, 1]) and np.isnan(info["bid_price"][1, 0])
    q_max = 0.0
    for _ in range(3000):  # quoting at the touch on both assets
        _, _, _, _, info = env.step(np.zeros((2, 4)))
        q_max = max(q_max, float(np.abs(info["inventory"]).max()))
    assert 0 < q_max <= 300.0
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        env.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="env 1"):
        env.step(np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, np.nan, 1.0]]))


def test_observation_layout_names_and_portfolio_features() -> None:
    """Asset a's features sit in columns a·F .. a·F + F − 1 named {feature}_{a}, then hedge
    (−Σβq / max_inventory) and relative_volatility (each asset's volatility over the mean)."""
    env = gym.make("mmgym/MultiAsset-v0", beta=0.5, max_inventory=1000.0,
                   feature_params={"vpin": {"bucket_volume": 200.0}})
    core = env.unwrapped.core
    F = len(core.asset_feature_names)
    assert core.asset_feature_names[-1] == "mid_return"
    assert env.unwrapped.feature_names == (
        *(f"{f}_{a}" for a in (0, 1) for f in core.asset_feature_names),
        "hedge", "relative_volatility_0", "relative_volatility_1")
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    for _ in range(1500):
        obs, *_, info = env.step(np.array([1.0, 1.0, 1.0, 1.0], dtype=np.float32))
    q = info["inventory"]
    assert q.any()
    names = env.unwrapped.feature_names
    np.testing.assert_allclose(obs[names.index("inventory_1")], q[1] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(obs[names.index("hedge")], -(q[0] + 0.5 * q[1]) / 1000.0,
                               rtol=1e-5, atol=1e-7)
    vol = obs[[names.index("volatility_0"), names.index("volatility_1")]]
    np.testing.assert_allclose(obs[[names.index("relative_volatility_0"),
                                    names.index("relative_volatility_1")]],
                               vol / vol.mean(), rtol=1e-5)
    assert np.array_equal(obs[:F][core.asset_feature_names.index("time_remaining")],
                          obs[F:2 * F][core.asset_feature_names.index("time_remaining")])
    mid = info["mid"][0]
    first = env.unwrapped.core.legs[0]
    assert mid == first.mid[0]


def test_rewards_sum_the_assets_or_price_the_portfolio() -> None:
    """A single-asset reward is summed over the assets (one instance each); the portfolio
    reward's covariance term is (γ/2)·qᵀΣq·dt."""
    cov = [[4.0, 3.0], [3.0, 5.0]]
    envs = {
        "sum": MarketMakingVectorEnv(2, market="multi_asset",
                                     reward_fn="pnl_minus_inventory_penalty",
                                     reward_kwargs={"inventory_penalty": 1e-4}),
        "portfolio": MarketMakingVectorEnv(2, market="multi_asset",
                                           reward_fn="portfolio_inventory_penalty",
                                           reward_kwargs={"inventory_penalty": 1e-4,
                                                          "risk_aversion": 2e-4,
                                                          "covariance": cov}),
    }
    rewards = {}
    for name, env in envs.items():
        _, before = env.reset(seed=1)
        rewards[name] = []
        for _ in range(400):
            _, r, _, _, info = env.step(np.full((2, 4), 2.0))
            q = info["inventory"]
            hand = (info["pnl"] - before["pnl"]).sum(axis=1) - 1e-4 * (q**2).sum(axis=1)
            if name == "portfolio":
                hand -= 0.5 * 2e-4 * 0.1 * np.einsum("ia,ab,ib->i", q, np.array(cov), q)
            np.testing.assert_allclose(r, hand, rtol=1e-9, atol=1e-9)
            before = info
            rewards[name].append(r)
    assert np.abs(rewards["sum"]).sum() > 0


def test_info_views_agree() -> None:
    """The single env's info holds one (N,) array per key, the vector env's (n, N) ones and
    SB3's dicts one list per key, all the same numbers."""
    single = gym.make("mmgym/MultiAsset-v0")
    vec = MarketMakingVectorEnv(1, market="multi_asset")
    sb3 = mmgym.MarketMakingSB3VecEnv(1, market="multi_asset")
    _, a = single.reset(seed=4)
    vec.reset(seed=4)
    sb3.seed(4)
    sb3.reset()
    act = np.array([3.0, 3.0, 5.0, 5.0], dtype=np.float32)
    for _ in range(300):
        _, _, _, _, a = single.step(act)
        _, _, _, _, b = vec.step(act[None])
        infos = sb3.step(act[None])[3]
    for k in INFO_KEYS:
        assert a[k].shape == (2,)
        np.testing.assert_array_equal(a[k], b[k][0])
        np.testing.assert_array_equal(a[k], np.array(infos[0][k]))
        np.testing.assert_array_equal(a[k], infos.arrays[k][0])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"assets": 0}, r"assets=0.*\[1, 16\]"),
    ({"assets": 3, "beta": [1.0, 2.0, 3.0]}, r"beta=.*3 entries for 2 followers"),
    ({"lag_steps": -1}, r"lag_steps\[0\]=-1"),
    ({"beta": 50.0}, r"beta\[0\]=50"),
    ({"leg": "nope"}, r"leg='nope'"),
    ({"leg": "multi_asset"}, r"single-asset"),
    ({"asset_params": [{}]}, r"asset_params: 1 mappings given for assets=2"),
    ({"asset_params": [{}, {"dt": 0.2}]}, r"asset_params\[1\]: dt = 0.2 differs"),
    ({"asset_params": [{}, {"tick_size": 1}]}, r"asset_params\[1\].*tick_size"),
    ({"limit_rate": -1.0}, r"limit_rate=-1"),
    ({"portfolio_features": ["nope"]}, r"portfolio_features: 'nope'"),
    ({"feature_params": {"hedge": {"beta": [1.0]}}}, r"hedge.beta=\[1.0\]: expected 2"),
    ({"features": ["inventory", "spread"], "portfolio_features": ["relative_volatility"]},
     r"'relative_volatility' reads each asset's 'volatility'"),
    ({"reward_fn": "portfolio_inventory_penalty",
      "reward_kwargs": {"risk_aversion": 1.0}}, r"risk_aversion=1.0: needs a covariance"),
    ({"reward_fn": "portfolio_inventory_penalty",
      "reward_kwargs": {"covariance": [[1.0, 2.0], [0.0, 1.0]]}}, r"symmetric positive"),
])
def test_bad_arguments_fail_at_construction_naming_the_field(kwargs, match) -> None:
    with pytest.raises(mmgym.ConfigError, match=match):
        MarketMakingVectorEnv(2, market="multi_asset", **kwargs)


def test_one_asset_is_the_single_asset_env() -> None:
    """assets=1 with no portfolio features plays the leg's own episodes, bit for bit."""
    one = MarketMakingVectorEnv(3, market="multi_asset", assets=1, portfolio_features=[],
                                features=["inventory", "imbalance", "volatility"])
    wide = MarketMakingVectorEnv(3, market="wide",
                                 features=["inventory", "imbalance", "volatility"])
    a, _ = one.reset(seed=2)
    b, _ = wide.reset(seed=2)
    for t in range(500):
        act = np.full((3, 2), 1.0 + t % 5)
        a, ra, *_ , ia = one.step(act)
        b, rb, *_ , ib = wide.step(act)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(ia["pnl"], ib["pnl"])
