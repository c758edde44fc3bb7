"""Hedge ratios (:mod:`mmgym.hedging`): the estimator on synthetic lead–lag paths with known
loadings and lags, on the simulated multi-asset market against its configured ones, on
recorded books, the hedge quantity and the ``hedge`` feature, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference import LOBSTER_MESSAGE, needs_lobster, table

from mmgym.data.lobster import read_lobster
from mmgym.data.schema import ASK, BID, SNAPSHOT, TRADE
from mmgym.data.store import write_events
from mmgym.hedging import (
    HedgeRatios,
    estimate_betas,
    hedge_quantity,
    recorded_mids,
    simulate_mids,
)
from mmgym.markets.multi import DEFAULT_LAG_STEPS
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv


def lead_lag_paths(rng: np.random.Generator, episodes: int, samples: int,
                   betas: list[float], lags: list[int], own_sd: float = 0.0,
                   noise_sd: float = 0.0) -> np.ndarray:
    """``(episodes, samples, 1 + len(betas))`` paths: a Gaussian random walk leader (sd 1 a
    step), followers β_a·V_0(t − ℓ_a) plus their own random walk (sd ``own_sd``), every
    asset observed with i.i.d. noise of sd ``noise_sd``."""
    pad = max(abs(x) for x in lags)
    leader = np.cumsum(rng.standard_normal((episodes, samples + 2 * pad)), axis=1)
    paths = [leader[:, pad:pad + samples]]
    for beta, lag in zip(betas, lags, strict=True):
        own = np.cumsum(own_sd * rng.standard_normal((episodes, samples)), axis=1)
        paths.append(beta * leader[:, pad - lag:pad - lag + samples] + own)
    mids = np.stack(paths, axis=-1)
    return mids + noise_sd * rng.standard_normal(mids.shape)


# the estimator on synthetic paths

def test_exact_lead_lag_is_recovered_exactly() -> None:
    mids = lead_lag_paths(np.random.default_rng(0), 4, 2000, [0.7, -1.5], [12, -5])
    est = estimate_betas(mids, 0.5, horizon_seconds=10.0, max_lag_seconds=10.0,
                         lag_window_seconds=2.0)
    assert isinstance(est, HedgeRatios)
    assert est.lag_steps.tolist() == [0, 12, -5]
    np.testing.assert_allclose(est.lag_seconds, [0.0, 6.0, -2.5])
    np.testing.assert_allclose(est.beta, [1.0, 0.7, -1.5], atol=1e-12)
    np.testing.assert_allclose(est.beta_se, 0.0, atol=1e-10)
    np.testing.assert_allclose(est.beta_half, est.beta, atol=1e-12)
    assert est.horizon_steps == 20 and est.horizon_seconds == 10.0
    assert est.windows == pytest.approx(4 * (1999 - 12) / 20)


def test_beta_within_its_standard_error_and_the_errors_calibrated() -> None:
    """200 replications: β̂ scatters about β by its standard error."""
    rng = np.random.default_rng(1)
    beta, se, lags = [], [], []
    for _ in range(200):
        mids = lead_lag_paths(rng, 10, 400, [0.8], [6], own_sd=1.5)
        est = estimate_betas(mids, 1.0, horizon_seconds=20.0, max_lag_seconds=15.0,
                             lag_window_seconds=5.0)
        beta.append(est.beta[1])
        se.append(est.beta_se[1])
        lags.append(est.lag_steps[1])
    beta, se = np.array(beta), np.array(se)
    assert abs(beta.mean() - 0.8) < 3 * beta.std() / np.sqrt(len(beta))
    assert 0.85 < beta.std() / se.mean() < 1.2
    assert np.mean(np.abs(beta - 0.8) < 1.96 * se) > 0.9
    assert np.median(lags) == 6


def test_noisy_leader_attenuates_short_horizons_only() -> None:
    """i.i.d. noise of sd σ_n on the leader's mid (random walk of sd σ a step): the slope at
    horizon h is β·σ²h / (σ²h + 2σ_n²) (errors in variables)."""
    mids = lead_lag_paths(np.random.default_rng(2), 40, 3000, [1.0], [0], noise_sd=2.0)
    for h, expected in ((1, 1 / 9), (10, 10 / 18), (400, 400 / 408)):
        est = estimate_betas(mids, 1.0, horizon_seconds=h, lag_steps=[0])
        assert est.beta[1] == pytest.approx(expected, abs=4 * est.beta_se[1])


def test_covariance_per_second_and_correlation() -> None:
    """Simultaneous changes over h of a leader (variance 1 a step of 0.5 s: 2 per second)
    and a follower 0.6·V_0(t − 10) + its own walk (sd 1): cov = [[2, 1.2·(1 − 10/h)],
    [., 0.72 + 2]] per second."""
    mids = lead_lag_paths(np.random.default_rng(3), 200, 1000, [0.6], [10], own_sd=1.0)
    est = estimate_betas(mids, 0.5, horizon_seconds=20.0, max_lag_seconds=10.0,
                         lag_window_seconds=2.0)
    h = est.horizon_steps
    expected = np.array([[2.0, 1.2 * (1 - 10 / h)], [1.2 * (1 - 10 / h), 0.72 + 2.0]])
    np.testing.assert_allclose(est.covariance, expected, rtol=0.06)
    sd = np.sqrt(np.diag(expected))
    assert est.correlation[0, 1] == pytest.approx(expected[0, 1] / sd[0] / sd[1], abs=0.03)
    np.testing.assert_allclose(np.diag(est.correlation), 1.0)


def test_interval() -> None:
    mids = lead_lag_paths(np.random.default_rng(4), 20, 500, [0.8], [3], own_sd=1.0)
    est = estimate_betas(mids, 1.0, horizon_seconds=20.0)
    low, high = est.interval(0.95)
    np.testing.assert_allclose(high - low, 2 * 1.959964 * est.beta_se, rtol=1e-6)
    assert low[0] == high[0] == 1.0
    with pytest.raises(ConfigError, match=r"level=1\.5: out of range, allowed \(0, 1\)"):
        est.interval(1.5)


def test_lag_at_the_search_bound_warns() -> None:
    mids = lead_lag_paths(np.random.default_rng(5), 4, 2000, [1.0], [30])
    with pytest.warns(UserWarning, match="asset 1: the lead–lag estimate is at the search "
                                         "bound max_lag_seconds=10.0"):
        estimate_betas(mids, 1.0, horizon_seconds=50.0, max_lag_seconds=10.0,
                       lag_window_seconds=25.0)


# bad input

@pytest.mark.parametrize(("mids", "message"), [
    (np.zeros(100), r"mids: shape \(100,\); expected \(samples, N\) or \(episodes, samples, "
                    r"N\) with N ≥ 2 assets"),
    (np.zeros((100, 1)), r"mids: shape \(100, 1\)"),
    (np.zeros((2, 2, 100, 2)), r"mids: shape \(2, 2, 100, 2\)"),
    (np.zeros((2, 2)), r"samples ≥ 3"),
])
def test_bad_shapes(mids: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        estimate_betas(mids, 0.1)


def test_nan_mids_named() -> None:
    mids = lead_lag_paths(np.random.default_rng(6), 3, 500, [1.0], [2])
    mids[1, 17, 1] = np.nan
    mids[2, 3, 0] = np.inf
    with pytest.raises(ConfigError, match=r"mids\[1, 17, 1\] = nan: expected finite prices "
                                          r"\(2 are not; episode 1, sample 17, asset 1 first\)"):
        estimate_betas(mids, 1.0, horizon_seconds=10.0)


def test_too_few_samples() -> None:
    mids = lead_lag_paths(np.random.default_rng(7), 1, 600, [1.0], [0])
    with pytest.raises(ConfigError, match=r"horizon_seconds=200\.0: 2000 steps of 0\.1 s; the "
                                          r"mids \(1 series of 599 steps, lags up to \d+\) fit "
                                          r"10 independent windows of at most 59 steps: "
                                          r"allowed \[0\.1, 5\.9\] s, or give more data"):
        estimate_betas(mids, 0.1)
    with pytest.raises(ConfigError, match=r"max_lag_seconds=100, lag_window_seconds=5\.0: "
                                          r"100 \+ 5 steps exceed the mids' 99 steps"):
        estimate_betas(mids[:, :100], 1.0, max_lag_seconds=100)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dt_seconds": 0.0}, r"dt_seconds=0\.0: out of range, allowed \(0, inf\]"),
    ({"horizon_seconds": -1.0}, r"horizon_seconds=-1\.0: out of range, allowed \(0, inf\]"),
    ({"max_lag_seconds": -1.0}, r"max_lag_seconds=-1\.0: out of range, allowed \[0, inf\]"),
    ({"lag_window_seconds": 0.5}, r"lag_window_seconds=0\.5: out of range, allowed \[1, inf\]"),
    ({"lag_steps": [1, 2]}, r"lag_steps=\[1, 2\]: 2 entries for 1 followers"),
    ({"lag_steps": [5000]}, r"lag_steps\[0\]=5000: out of range, allowed \[-1999, 1999\]"),
])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    mids = lead_lag_paths(np.random.default_rng(8), 2, 2001, [1.0], [0])
    with pytest.raises(ConfigError, match=message):
        estimate_betas(mids, **{"dt_seconds": 1.0, "horizon_seconds": 10.0} | kwargs)


def test_leader_that_never_moves() -> None:
    mids = np.ones((2, 500, 2))
    mids[..., 1] += np.cumsum(np.ones(500))
    with pytest.raises(ConfigError, match=r"the leader's mid never moves"):
        estimate_betas(mids, 1.0, horizon_seconds=10.0)


# the hedge quantity and the hedge feature

def test_hedge_quantity() -> None:
    assert hedge_quantity(np.array([100.0, -50.0, 20.0]), [1.0, 0.8, -0.5]) == -(100 - 40 - 10)
    q = np.arange(12.0).reshape(2, 3, 2)
    np.testing.assert_allclose(hedge_quantity(q, [1.0, 2.0]), -(q[..., 0] + 2 * q[..., 1]))
    with pytest.raises(ConfigError, match=r"beta: shape \(3,\) for inventories of shape "
                                          r"\(4, 2\); expected one loading per asset"):
        hedge_quantity(np.zeros((4, 2)), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("beta", [None, [1.0, -0.4, 2.0]])
def test_hedge_feature_is_the_hedge_quantity(beta: list[float] | None) -> None:
    params = {} if beta is None else {"feature_params": {"hedge": {"beta": beta}}}
    env = MarketMakingVectorEnv(8, market="multi_asset", assets=3, beta=[0.5, -1.0],
                                episode_seconds=10.0, **params)
    b = env.core.market.betas() if beta is None else np.array(beta)
    column = env.feature_names.index("hedge")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    moved = False
    for _ in range(60):
        obs, _, _, _, info = env.step(rng.uniform(0, 3, (8, 6)))
        expected = hedge_quantity(info["inventory"], b) / env.core.max_inventory
        np.testing.assert_allclose(obs[:, column], expected, rtol=1e-6, atol=1e-7)
        moved |= bool(np.any(expected != 0))
    assert moved


# simulated markets

def check_recovers(est: HedgeRatios, beta: np.ndarray, lags: np.ndarray) -> None:
    """The stated error: β within 3 standard errors, the lag within 3 steps of the mids' lag
    (the follower's book acts on a value move the step after the coupling: lag + 1)."""
    err = np.abs(est.beta - beta)
    assert np.all(err <= 3 * est.beta_se), (est.beta, est.beta_se, beta)
    assert np.all(np.abs(est.lag_steps[1:] - (lags[1:] + 1)) <= 3), est.lag_steps


def test_default_market_loading_recovered() -> None:
    """The must-show: on the default ``multi_asset`` market (β 1, lag 100 steps) β̂ from
    1,024 episodes is within 3 standard errors of β and its 95 % interval covers it."""
    paths = simulate_mids(1024, seed=0)
    assert paths.mids.shape == (1024, 3001, 2) and paths.dt_seconds == 0.1
    est = estimate_betas(paths.mids, paths.dt_seconds)
    check_recovers(est, np.array([1.0, 1.0]), np.array([0, DEFAULT_LAG_STEPS]))
    low, high = est.interval()
    assert low[1] <= 1.0 <= high[1]
    assert est.beta_se[1] < 0.04
    assert 0.5 < est.correlation[0, 1] < 0.8


@pytest.mark.slow
@pytest.mark.parametrize("params", [
    {"beta": 0.5, "lag_steps": 50},
    {"beta": -0.8, "lag_steps": 0},
    {"assets": 3, "beta": [0.8, -0.5], "lag_steps": [10, 40]},
], ids=["beta0.5-lag50", "beta-0.8-lag0", "three-assets"])
def test_other_markets_loadings_recovered(params: dict) -> None:
    paths = simulate_mids(1024, seed=0, **params)
    env = MarketMakingVectorEnv(1, market="multi_asset", **params)
    lags = np.array([0, *env.core.market.p.lag_steps])
    check_recovers(estimate_betas(paths.mids, paths.dt_seconds), env.core.market.betas(), lags)


def test_simulate_mids_undisturbed_and_reproducible() -> None:
    a = simulate_mids(3, seed=5, episode_seconds=20.0)
    b = simulate_mids(2, seed=6, episode_seconds=20.0)
    assert a.mids.shape == (3, 201, 2) and a.names == ("asset 0", "asset 1")
    assert a.values is None
    np.testing.assert_array_equal(a.mids[1:], b.mids)  # episode i seeded seed + i
    c = simulate_mids(2, seed=6, episode_seconds=20.0, latent=True)
    np.testing.assert_array_equal(c.mids, b.mids)
    assert c.values is not None and c.values.shape == (2, 201, 2)
    np.testing.assert_allclose(c.values[:, 0], c.mids[:, 0])  # the value starts at the mid
    assert np.abs(c.values - c.mids).max() > 0.01
    with pytest.raises(ConfigError, match=r"n_episodes=0: out of range, allowed \[1, inf\]"):
        simulate_mids(0)


# recordings

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def snapshot(ts: float, bid: float | None, ask: float | None) -> list[tuple]:
    """The rows of a snapshot at ``ts`` seconds after T0 (a side None: empty)."""
    rows = []
    if bid is not None:
        rows.append((T0 + round(ts * NS), SNAPSHOT, BID, bid, 1.0, -1))
    if ask is not None:
        rows.append((T0 + round(ts * NS), SNAPSHOT, ASK, ask, 1.0, -1))
    return rows


def test_recorded_mids_on_a_common_grid(tmp_path: Path) -> None:
    lead = snapshot(0.0, 99, 101) + snapshot(1.5, 101, 103) + snapshot(3.0, 100, 102) + [
        (T0 + 4 * NS, TRADE, 1, 101.0, 1.0, -1)]
    follow = snapshot(0.5, 49, None) + snapshot(1.0, 49, 51) + snapshot(2.2, 50, 52) + \
        snapshot(3.5, 51, 53)
    write_events(table(lead), tmp_path / "lead.parquet", {"mmgym.symbol": "LEAD"})
    write_events(table(follow), tmp_path / "follow.parquet", {"mmgym.symbol": "FOLLOW"})
    paths = recorded_mids([tmp_path / "lead.parquet", tmp_path / "follow.parquet"], 1.0)
    # grid 1, 2, 3 s: from the follower's first two-sided book to its last event (3.5 s)
    np.testing.assert_array_equal(paths.mids[0], [[100, 50], [102, 50], [101, 51]])
    assert paths.names == ("LEAD", "FOLLOW") and paths.dt_seconds == 1.0
    with pytest.raises(ConfigError, match=r"paths: 1 file\(s\); give the leader's and at "
                                          r"least one follower's recording"):
        recorded_mids([tmp_path / "lead.parquet"], 1.0)
    late = table(snapshot(100.0, 1, 2) + snapshot(101.0, 1, 2))
    write_events(late, tmp_path / "late.parquet")
    with pytest.raises(ConfigError, match=r"the recordings overlap \(with two-sided books\) "
                                          r"for 0 s, less than two steps"):
        recorded_mids([tmp_path / "lead.parquet", tmp_path / "late.parquet"], 1.0)


@needs_lobster
def test_recording_and_its_lagged_copy(tmp_path: Path) -> None:
    """The AMZN sample against itself 5 s later: β 1, lag 5 s, correlation 1."""
    events, report = read_lobster(LOBSTER_MESSAGE)
    write_events(events, tmp_path / "amzn.parquet", report.metadata)
    later = events.assign(ts_ns=events.ts_ns + 5 * NS)
    write_events(later, tmp_path / "amzn_later.parquet", report.metadata)
    paths = recorded_mids([tmp_path / "amzn.parquet", tmp_path / "amzn_later.parquet"], 1.0)
    assert paths.names == ("AMZN", "AMZN") and paths.mids.shape[1] > 8000
    est = estimate_betas(paths.mids, paths.dt_seconds)
    assert est.lag_steps.tolist() == [0, 5] and est.lag_seconds[1] == 5.0
    assert est.beta[1] == pytest.approx(1.0, abs=1e-9)
    assert est.correlation[0, 1] == pytest.approx(1.0, abs=0.05)
