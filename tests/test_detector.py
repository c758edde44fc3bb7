"""The adverse-selection detector: labels, fit, saved model, the gated policy and the
command line; on the wide market it separates adverse fills and its gating beats AS."""

from __future__ import annotations

import json
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
from mmgym.ml.detector import evaluate_detector, fit_detector
from mmgym.ml.fills import collect_fills
from mmgym.models.detector import Detector
from mmgym.policies.gated import DetectorGated
from mmgym.policies.simple import FixedSpread

FEATURES = ["inventory", "time_remaining", "volatility", "imbalance", "ofi", "vpin",
            "microprice", "spread", "trade_rate", "cumulative_delta"]


def config(name: str, *overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose(name, overrides=["progress=false", *overrides])


def test_a_fill_is_adverse_when_its_markout_is_negative() -> None:
    """The labels against the episode's own mid path, fill by fill."""
    kwargs = {"market": "wide", "features": ["inventory", "spread"], "episode_seconds": 30.0}
    fills = collect_fills(FixedSpread(half_spread=3.0), 4, 11, 20, kwargs)
    assert len(fills.side) > 20 and 0 < fills.adverse.mean() < 1
    from mmgym.vector import MarketMakingVectorEnv

    env = MarketMakingVectorEnv(4, **kwargs)
    obs, info = env.reset(seed=11)
    mids, prices, seen = [], [], []
    for _ in range(env.core.horizon_steps):
        seen.append(obs.copy())
        obs, _, _, _, info = env.step(np.full((4, 2), 3.0))
        mids.append(info["mid"].copy())
        prices.append(np.stack([info["bid_price"], info["ask_price"]]))
    mids, prices = np.array(mids), np.array(prices)
    for k in range(len(fills.side)):
        t, s, i = fills.step[k], fills.side[k], fills.episode[k] - 11
        sign = 1.0 if s == 0 else -1.0
        assert fills.markout[k] == sign * (mids[t + 20, i] - prices[t, s, i])
        assert fills.adverse[k] == (fills.markout[k] < 0)
        np.testing.assert_array_equal(fills.features[k], seen[t][i])


def handmade(tmp_path: Path, **changes) -> Path:
    data = {"kind": "mmgym.adverse_selection_detector", "version": 1,
            "feature_names": ["imbalance", "inventory"], "mean": [0.0, 0.5],
            "scale": [0.5, 1.0], "coef": {"bid": [-2.0, 0.0], "ask": [2.0, 1.0]},
            "intercept": {"bid": 0.0, "ask": -1.0}, "horizon": 10,
            "feature_params": {}, "meta": {}} | changes
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(data))
    return path


def test_the_probability_is_the_logistic_of_the_standardized_features(tmp_path: Path) -> None:
    d = Detector.load(handmade(tmp_path))
    x = np.array([[0.25, 1.5], [-0.5, 0.5]])
    z = (x - [0.0, 0.5]) / [0.5, 1.0]
    expected = 1 / (1 + np.exp(-np.stack([z @ [-2.0, 0.0], z @ [2.0, 1.0] - 1.0], axis=1)))
    np.testing.assert_allclose(d.probability(x), expected, rtol=1e-15)


def test_the_gated_policy_widens_exactly_the_sides_above_threshold(tmp_path: Path) -> None:
    names = ("inventory", "time_remaining", "imbalance")
    gated = DetectorGated(FixedSpread(half_spread=4.0), str(handmade(tmp_path)),
                          threshold=0.6, widen=3.0, feature_names=names)
    obs = np.array([[0.5, 1.0, -0.5], [0.5, 1.0, 0.5], [0.5, 1.0, 0.0]], dtype=np.float32)
    p = gated.probability(obs)
    actions = gated(obs, {})
    np.testing.assert_array_equal(actions, 4.0 + 3.0 * (p > 0.6))
    assert (p > 0.6).any() and not (p > 0.6).all()
    withdraw = DetectorGated(FixedSpread(half_spread=4.0), str(handmade(tmp_path)),
                             threshold=0.6, widen=math.inf, feature_names=names)
    assert np.isinf(withdraw(obs, {})[p > 0.6]).all()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "other"}, r"not a detector file \(kind 'other'"),
        ({"coef": {"bid": [1.0]}}, "without a valid 'ask'"),
        ({"scale": [0.0, 1.0]}, "scale must be > 0"),
        ({"mean": [float("nan"), 0.0]}, "mean holds a non-finite number"),
        ({"feature_names": ["imbalance"]}, "do not match the 1 features"),
    ],
)
def test_a_bad_detector_file_is_named(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Detector.load(handmade(tmp_path, **changes))


def test_a_detector_on_other_features_fails_naming_the_feature(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"detector_gated: the detector reads the feature "
                                          r"'imbalance', which the observation"):
        DetectorGated(FixedSpread(), str(handmade(tmp_path)), feature_names=("inventory",))
    with pytest.raises(ConfigError, match=r"model='nowhere.json': no such detector file"):
        DetectorGated(FixedSpread(), "nowhere.json")
    d = Detector.load(handmade(tmp_path, feature_params={"imbalance": {"levels": 3}}))
    with pytest.raises(ConfigError, match=r"feature 'imbalance' is computed with \{'levels': "
                                          r"5\}, the detector was fitted on it computed with"):
        d.check_feature_params({"imbalance": {"levels": 5}}, "detector_gated")


def test_fit_save_load_gives_the_same_probabilities(tmp_path: Path) -> None:
    cfg = config("evaluate", "market=wide", f"market.features=[{','.join(FEATURES)}]",
                 "+market.params.episode_seconds=60")
    base = baseline("as_inventory", cfg.market)
    kwargs = env_kwargs(cfg) | base.observation
    train = collect_fills(base.policy, 100, 5_000, 10, kwargs)
    test = collect_fills(base.policy, 60, 6_000, 10, kwargs)
    detector = fit_detector(train)
    detector.save(tmp_path / "d.json")
    loaded = Detector.load(tmp_path / "d.json")
    np.testing.assert_array_equal(loaded.probability(test.features),
                                  detector.probability(test.features))
    report = evaluate_detector(loaded, test)
    assert report["all"]["auc"] > 0.6  # 0.75 measured: the features carry the toxicity


@pytest.mark.slow
def test_on_wide_the_detector_separates_and_its_gating_beats_as(tmp_path: Path) -> None:
    """The issue's claims: held-out AUC ≥ 0.6 (0.787 measured) and detector-gated AS above
    AS on 1,000 common episodes, paired 95% interval above 0 (+13.6 [11.9, 15.5]), and above
    AS widened at every step."""
    report = fit(config("fit", "market=wide"), tmp_path)
    assert report["all"]["auc"] >= 0.6 and report["bid"]["auc"] >= 0.6
    assert report["ask"]["auc"] >= 0.6
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
    cfg = config("evaluate", "market=wide",
                 f"+policy_params.detector_gated.model={tmp_path / 'detector.json'}")
    gated = baseline("detector_gated", cfg.market, {"detector_gated": {
        "model": str(tmp_path / "detector.json")}})
    plain = baseline("as_inventory", cfg.market)
    # the control: AS widened by the same 5 ticks at every step (a threshold of ~0), so that
    # what the gating adds is the detector's information, not the wider quotes (+5.80 ± 1.97)
    always = baseline("detector_gated", cfg.market, {"detector_gated": {
        "model": str(tmp_path / "detector.json"), "threshold": 1e-9}})
    kwargs = env_kwargs(cfg)
    pnl = {name: run_episodes(c.policy, 1000, 0, **(kwargs | c.observation))["pnl"].to_numpy()
           for name, c in (("gated", gated), ("as", plain), ("always", always))}
    for other in ("as", "always"):
        d = pnl["gated"] - pnl[other]
        low = d.mean() - 1.96 * d.std(ddof=1) / math.sqrt(len(d))
        assert low > 0, f"gated − {other}: {d.mean():.2f}, 95% low {low:.2f}"


def test_the_detector_features_are_its_probabilities_of_the_observation(tmp_path: Path) -> None:
    """``adverse_bid`` / ``adverse_ask`` equal the detector applied to the observation of its
    own features, step by step, through the vector env and gym.make alike."""
    import gymnasium as gym

    from mmgym.vector import MarketMakingVectorEnv

    path = str(handmade(tmp_path))
    features = ["imbalance", "inventory", "adverse_bid", "adverse_ask"]
    params = {"adverse_bid": {"model": path}, "adverse_ask": {"model": path}}
    detector = Detector.load(path)
    env = MarketMakingVectorEnv(3, market="wide", features=features, feature_params=params,
                                episode_seconds=20.0)
    single = gym.make("mmgym/WideSpread-v0", features=features, feature_params=params,
                      episode_seconds=20.0)
    obs, _ = env.reset(seed=4)
    one, _ = single.reset(seed=4)
    np.testing.assert_array_equal(one, obs[0])
    for t in range(250):  # past an episode's end (200 steps): autoreset included
        expected = detector.probability(obs[:, :2].astype(np.float64))
        np.testing.assert_allclose(obs[:, 2:], expected, rtol=1e-6)
        obs, *_ = env.step(np.full((3, 2), 6.0))
        if t < 199:  # the single env's episode (it does not reset itself)
            one, *_ = single.step(np.array([6.0, 6.0]))
            np.testing.assert_array_equal(one, obs[0])
    assert 0.05 < obs[:, 2:].std()


def test_the_detector_features_need_a_model(tmp_path: Path) -> None:
    from mmgym.vector import MarketMakingVectorEnv

    with pytest.raises(ConfigError, match=r"feature_params\.adverse_bid\.model='x\.json': no "
                                          r"such detector file"):
        MarketMakingVectorEnv(1, market="wide", features=["adverse_bid"],
                              feature_params={"adverse_bid": {"model": "x.json"}})
    with pytest.raises(ConfigError, match=r"feature_params\['adverse_ask'\]: .*model"):
        MarketMakingVectorEnv(1, market="wide", features=["adverse_ask"])
