"""The neural spread predictor: its target (the ex-post best spread of a window), the
network, the saved model, the policy; on the wide market its policy beats the best fixed
spread."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from mmgym import ConfigError
from mmgym.evaluation import run_episodes
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.fit import fit
from mmgym.kit.lineup import baseline
from mmgym.ml.predictor import fit_predictor
from mmgym.ml.spread import spread_samples
from mmgym.models.predictor import SpreadPredictor
from mmgym.policies.predicted import PredictedSpread
from mmgym.vector import MarketMakingVectorEnv

KWARGS = {"market": "wide", "features": ["inventory", "imbalance", "spread"],
          "episode_seconds": 30.0}


def config(name: str, *overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose(name, overrides=["progress=false", *overrides])


def test_the_window_scores_and_the_ex_post_best_spread() -> None:
    """Each grid spread's window score against a plain replay of its episodes: fills marked
    to the mid ``horizon`` steps later, minus φ·q²·dt, summed over the window."""
    grid, skew, window, horizon, phi, stride = [4.0, 9.0], 300.0, 50, 20, 1e-3, 10
    samples = spread_samples(KWARGS, grid, skew, 3, 21, window, horizon, phi, stride,
                             ["imbalance", "spread"])
    for k, delta in enumerate(grid):
        env = MarketMakingVectorEnv(3, **KWARGS)
        obs, info = env.reset(seed=21)
        value, seen = [], []
        mids, fills, prices, q2 = [], [], [], []
        for _ in range(env.core.horizon_steps):
            seen.append(obs[:, 1:].copy())
            shift = skew * obs[:, 0].astype(np.float64)
            obs, _, _, _, info = env.step(np.stack([delta + shift, delta - shift], axis=1))
            mids.append(info["mid"].copy())
            fills.append((info["bid_fill"].copy(), info["ask_fill"].copy()))
            prices.append((info["bid_price"].copy(), info["ask_price"].copy()))
            q2.append(info["inventory"] ** 2)
        steps = len(mids)
        for t in range(steps - horizon):
            v = np.zeros(3)
            for s, sign in ((0, 1.0), (1, -1.0)):
                filled = fills[t][s] > 0
                v += np.where(filled, fills[t][s] * sign * (mids[t + horizon] - prices[t][s]),
                              0.0)
            value.append(v - phi * q2[t] * env.core.market.dt)
        value = np.array(value)
        starts = np.arange(0, steps - horizon - window + 1, stride)
        expected = np.stack([value[s:s + window].sum(axis=0) for s in starts])  # (m, 3)
        np.testing.assert_allclose(samples.scores[:, k], expected.reshape(-1), atol=1e-9)
        if k == len(grid) // 2:
            np.testing.assert_array_equal(samples.features,
                                          np.stack([seen[s] for s in starts]).reshape(-1, 2))
    np.testing.assert_array_equal(samples.target,
                                  2 * np.array(grid)[samples.scores.argmax(axis=1)])
    assert len(np.unique(samples.target)) == 2


def handmade() -> SpreadPredictor:
    rng = np.random.default_rng(3)
    weights = {"w1": rng.normal(size=(4, 2)), "b1": rng.normal(size=4),
               "w2": rng.normal(size=(3, 4)), "b2": rng.normal(size=3),
               "w3": rng.normal(size=(1, 3)), "b3": np.array([2.0])}
    return SpreadPredictor(("imbalance", "spread"), np.array([0.1, 20.0]),
                           np.array([0.5, 4.0]), weights, {"spread": {}}, {"skew": 5.0})


def test_the_network_is_relu_relu_softplus_and_positive(tmp_path: Path) -> None:
    p = handmade()
    x = np.array([[0.3, 18.0], [-0.9, 40.0], [5.0, -100.0]])
    z = (x - p.mean) / p.scale
    w = p.weights
    h = np.maximum(np.maximum(z @ w["w1"].T + w["b1"], 0) @ w["w2"].T + w["b2"], 0)
    expected = np.log1p(np.exp(h @ w["w3"].T + w["b3"]))[:, 0]
    np.testing.assert_allclose(p.predict(x), expected, rtol=1e-14)
    assert (p.predict(x) > 0).all()
    p.save(tmp_path / "p.safetensors")
    loaded = SpreadPredictor.load(tmp_path / "p.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), p.predict(x))
    assert loaded.feature_names == p.feature_names and loaded.meta == {"skew": 5.0}


def test_the_policy_quotes_half_the_predicted_spread_skewed(tmp_path: Path) -> None:
    handmade().save(tmp_path / "p.safetensors")
    names = ("inventory", "spread", "imbalance")
    policy = PredictedSpread(str(tmp_path / "p.safetensors"), feature_names=names)
    obs = np.array([[0.5, 20.0, 0.1], [-1.0, 30.0, -0.4]], dtype=np.float32)
    half = handmade().predict(obs[:, [2, 1]].astype(np.float64)) / 2
    shift = 5.0 * obs[:, 0].astype(np.float64)  # the skew it was fitted with
    np.testing.assert_array_equal(policy(obs, {}), np.stack([half + shift, half - shift], 1))


def test_a_predictor_on_other_features_or_a_bad_file_fails_clearly(tmp_path: Path) -> None:
    handmade().save(tmp_path / "p.safetensors")
    with pytest.raises(ConfigError, match=r"spread_predictor: the spread predictor reads the "
                                          r"feature 'imbalance', which the observation"):
        PredictedSpread(str(tmp_path / "p.safetensors"), feature_names=("inventory", "spread"))
    with pytest.raises(ConfigError, match=r"feature 'spread' is computed with \{'window': 5\}"):
        PredictedSpread(str(tmp_path / "p.safetensors"),
                        feature_names=("inventory", "spread", "imbalance"),
                        feature_params={"spread": {"window": 5}})
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match=r"bad\.safetensors: not a spread predictor file"):
        SpreadPredictor.load(tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match=r"model='none\.safetensors': no such spread"):
        SpreadPredictor.load("none.safetensors")


@pytest.mark.parametrize("objective", ["score", "mse"])
def test_a_fit_is_reproducible(objective: str) -> None:
    samples = spread_samples(KWARGS, [4.0, 9.0, 14.0], 100.0, 4, 5, 40, 20, 1e-4, 10,
                             ["imbalance", "spread"])
    a = fit_predictor(samples, objective, (8, 8), epochs=2, seed=1)
    b = fit_predictor(samples, objective, (8, 8), epochs=2, seed=1)
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])
    with pytest.raises(ConfigError, match="objective='mae': expected one of"):
        fit_predictor(samples, "mae")


@pytest.mark.slow
def test_on_wide_the_predicted_spread_beats_the_best_fixed_spread(tmp_path: Path) -> None:
    """The issue's claim on 1,000 common episodes, paired 95% interval above 0 (measured
    +4.89 [3.14, 6.57] against skewed_spread, the best fixed spread with the same skew)."""
    fit(config("fit", "market=wide", "model=spread"), tmp_path)
    model = str(tmp_path / "spread_predictor.safetensors")
    cfg = config("evaluate", "market=wide")
    kwargs = env_kwargs(cfg)
    pnl = {}
    for name, params in (("spread_predictor", {"model": model}), ("skewed_spread", {})):
        c = baseline(name, cfg.market, {name: params})
        pnl[name] = run_episodes(c.policy, 1000, 0, **(kwargs | c.observation))["pnl"]
    d = (pnl["spread_predictor"] - pnl["skewed_spread"]).to_numpy()
    low = d.mean() - 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    assert low > 0, f"predicted − best fixed: {d.mean():.2f}, 95% low {low:.2f}"
