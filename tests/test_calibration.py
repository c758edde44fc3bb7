"""Calibration: the mid rebuilt from book events, σ (realized, Garman–Klass), λ(δ) = A·e^(−kδ)
recovered from events drawn from the model, the lob parameters, the touch, trades and mid
returns of a hand-made level-1 book, the configs it writes, and the real BTCUSDT and AMZN
(LOBSTER level 1) samples."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from reference import LOBSTER_MESSAGE, SAMPLE, needs_lobster, needs_sample

from mmgym.data import calibration, recorder
from mmgym.data.binance import read_binance
from mmgym.data.lobster import read_lobster
from mmgym.data.schema import ASK, BID, BUY, COLUMNS, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, write_events
from mmgym.kit import calibrate
from mmgym.kit.config import CONF_MODULE, register, validate
from mmgym.kit.lineup import baseline
from mmgym.kit.training import env_kwargs
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

SIGMA, A, K = 2.0, 1.5, 4.0  # price/√s, 1/s per side, 1/price
DT = 0.05  # s between mid updates


def events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)


def synthetic(seed: int, seconds: float = 1800.0) -> pd.DataFrame:
    """A Brownian mid (σ = SIGMA) as one-level snapshots every DT s, half-spread 0.05, and
    market orders per side Poisson of rate A, each reaching Exp(K) beyond the prevailing mid:
    orders reach at least δ at the rate A·e^(−Kδ)."""
    rng = np.random.default_rng(seed)
    n = int(seconds / DT)
    t = np.arange(n, dtype=np.int64) * round(DT * 1e9) + 10**18
    mid = 60_000.0 + np.r_[0.0, np.cumsum(rng.normal(0.0, SIGMA * math.sqrt(DT), n - 1))]
    parts = [pd.DataFrame({"ts_ns": np.repeat(t, 2), "kind": SNAPSHOT,
                           "side": np.tile([BID, ASK], n),
                           "price": np.repeat(mid, 2) + np.tile([-0.05, 0.05], n),
                           "size": 1.0, "update_id": NO_ID})]
    for side in (BUY, SELL):
        tt = np.sort(rng.integers(t[0] + 1, t[-1], rng.poisson(A * (seconds - DT))))
        before = np.searchsorted(t, tt, side="left") - 1
        parts.append(pd.DataFrame({"ts_ns": tt, "kind": TRADE, "side": side,
                                   "price": mid[before] + side * rng.exponential(1 / K, tt.size),
                                   "size": 0.002, "update_id": NO_ID}))
    table = pd.concat(parts).sort_values("ts_ns", kind="stable", ignore_index=True)
    return table.astype(COLUMNS)


def test_mid_series_applies_snapshots_and_deltas():
    e = events([
        (1, SNAPSHOT, BID, 99.0, 1.0, 7), (1, SNAPSHOT, BID, 98.0, 1.0, 7),
        (1, SNAPSHOT, ASK, 101.0, 1.0, 7),
        (2, DELTA, ASK, 100.0, 2.0, 8),            # a better ask: mid 99.5
        (3, TRADE, BUY, 100.0, 0.5, NO_ID),        # trades do not move the rebuilt book
        (4, DELTA, BID, 99.0, 0.0, 9),             # best bid removed: 98
        (4, DELTA, ASK, 100.0, 0.0, 9),            # same message: ask back to 101 -> 99.5
        (5, DELTA, BID, 101.5, 1.0, 10),           # crossed: no point
        (6, SNAPSHOT, BID, 90.0, 1.0, 11), (6, SNAPSHOT, ASK, 92.0, 1.0, 11),  # replaces all
        (7, DELTA, BID, 101.5, 0.0, 12),           # gone already: nothing changes
    ])
    ts, mid = calibration.mid_series(e)
    assert ts.tolist() == [1, 2, 4, 6, 7]
    assert mid.tolist() == [100.0, 99.5, 99.5, 91.0, 91.0]


def test_realized_and_garman_klass_against_plain_references():
    # a hand-made mid path, updates at irregular times (s)
    times = np.array([0.0, 0.4, 1.2, 1.9, 2.5, 3.1, 3.3, 4.0, 4.7, 5.5, 6.0])
    mids = np.array([100.0, 100.5, 99.0, 99.5, 101.0, 100.0, 102.0, 101.5, 100.5, 100.0, 99.0])
    ts = (times * 1e9).astype(np.int64)
    # realized: the previous-tick mid (the last update at or before) at 0, 1, ..., 6 s
    grid = [mids[max(i for i in range(len(times)) if times[i] <= g)] for g in range(7)]
    r = np.diff(grid)
    sigma, n = calibration.realized_vol(ts, mids, 1.0)
    assert n == 6 and sigma == pytest.approx(math.sqrt((r**2).sum() / 6.0))
    # OHLC on 2-s bars by hand: [0,2): O 100 H 100.5 L 99 C 99.5; [2,4): O 99.5 (at 2 s),
    # H 102 L 99.5 C 101.5 (the update at 4.0 s is the mid at the bar's end); [4,6): O 101.5
    # H 101.5 L 99 C 99 (at 6.0 s)
    bars = calibration.ohlc_bars(ts, mids, 2.0)
    expected = pd.DataFrame({"open": [100.0, 99.5, 101.5], "high": [100.5, 102.0, 101.5],
                             "low": [99.0, 99.5, 99.0], "close": [99.5, 101.5, 99.0]})
    pd.testing.assert_frame_equal(bars, expected)
    gk = np.mean([0.5 * math.log(h / lo) ** 2 - (2 * math.log(2) - 1) * math.log(c / o) ** 2
                  for o, h, lo, c in expected.itertuples(index=False)])
    assert calibration.garman_klass_vol(bars, 2.0) == pytest.approx(math.sqrt(gk / 2.0))


def test_intensity_fit_on_exact_rates():
    # reaches built so that exactly round(10⁶·e^(−δ)) orders reach δ = 0, 1, ..., 5
    counts = np.round(1e6 * np.exp(-np.arange(6.0))).astype(int)
    reach = np.repeat(np.arange(6.0), -np.diff(np.r_[counts, 0]))
    fit = calibration.fit_intensity(reach, 100.0, np.arange(6.0), min_count=5)
    assert fit.counts == counts.tolist()
    assert fit.A == pytest.approx(1e6 / 200, rel=1e-4) and fit.k == pytest.approx(1, rel=1e-4)
    assert fit.r2 > 0.9999
    with pytest.raises(DataError, match="fewer than 2 distances reached by 500000 "):
        calibration.fit_intensity(reach, 100.0, np.arange(6.0), min_count=500_000)


def gk_sampling_factor(dt: float, bar_seconds: float) -> float:
    """E[σ̂]/σ of Garman–Klass on bars of a Brownian path seen every ``dt`` s: the maximum of
    the path seen every Δt is short of the continuous one by βσ√Δt, β = −ζ(½)/√(2π) ≈ 0.5826
    (Broadie, Glasserman & Kou 1997), the minimum likewise, so the range R falls by 2βσ√Δt,
    ½E[R²] by 2βσ√Δt·E[R] with E[R] = σ√(8B/π) (Feller 1951), and σ̂ by the factor
    1 − β√(8Δt/(πB))."""
    return 1 - 0.5826 * math.sqrt(8 * dt / (math.pi * bar_seconds))


@pytest.mark.slow
def test_recovers_sigma_A_k_from_the_model():
    """20 independent 30-minute samples: the estimators' means sit within 3 standard errors
    of the truth (Garman–Klass: of the truth less the known discrete-monitoring bias)."""
    est = np.array([[c.sigma_rv, c.sigma_gk, c.intensity.A, c.intensity.k, c.intensity.r2]
                    for c in (calibration.calibrate(synthetic(seed), 0.1, 0.001,
                                                    max_delta_ticks=20)
                              for seed in range(20))])
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(len(est))
    gk_bias = gk_sampling_factor(DT, 60.0)
    for name, value, truth in [("sigma_rv", mean[0], SIGMA), ("sigma_gk", mean[1],
                                                              SIGMA * gk_bias),
                               ("A", mean[2], A), ("k", mean[3], K)]:
        i = ["sigma_rv", "sigma_gk", "A", "k"].index(name)
        assert abs(value - truth) < 3 * se[i], (name, value, truth, se[i])
    assert se[0] / SIGMA < 0.005 and se[2] / A < 0.02 and se[3] / K < 0.02  # they are tight
    assert est[:, 4].min() > 0.99  # the log-linear model fits its own data


def test_lob_params_from_orders_and_deltas():
    tick, lot = 0.1, 0.001
    e = events([
        (0, SNAPSHOT, BID, 99.9, 1.0, NO_ID), (0, SNAPSHOT, ASK, 100.1, 1.0, NO_ID),
        (1_000_000_000, DELTA, BID, 99.9, 1.5, 1),     # +0.5 on an existing level
        (1_000_000_000, DELTA, ASK, 100.2, 3.0, 1),    # a new level: not counted
        (2_000_000_000, TRADE, BUY, 100.1, 0.2, NO_ID),
        (2_000_000_000, TRADE, BUY, 100.2, 0.1, NO_ID),  # same order (ts, side): 0.3
        (3_000_000_000, DELTA, BID, 99.9, 1.7, 2),     # +0.2
        (3_000_000_000, DELTA, ASK, 100.2, 2.0, 2),    # a decrease: not counted
        (4_000_000_000, TRADE, SELL, 99.9, 0.1, NO_ID),
    ])
    ts, mid = calibration.mid_series(e)
    orders = calibration.market_orders(e, ts, mid)
    assert orders["size"].tolist() == pytest.approx([0.3, 0.1])
    assert orders["reach"].tolist() == pytest.approx([0.2, 0.1])  # 100.2 − 100, 100 − 99.9
    params, rate, size, increment = calibration.lob_params(e, orders, 4.0, tick, lot, 100.0)
    assert rate == pytest.approx(2 / 8) and size == pytest.approx(0.2)
    assert increment == pytest.approx(0.35)
    assert params == pytest.approx({"s0": 100.0, "tick": 0.1, "lot": 0.001,
                                    "market_rate": 0.25, "market_size_lots": 200.0,
                                    "quote_size": 0.01, "limit_size_lots": 350.0})


def test_command_writes_a_config_that_trains(tmp_path, capsys):
    data = tmp_path / "synthetic.parquet"
    write_events(synthetic(0, seconds=600.0), data,
                 {"mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"})
    conf = tmp_path / "conf"
    assert calibrate.main([str(data), "--name", "t", "-o", str(conf / "market")]) == 0
    out = capsys.readouterr().out
    assert "R² = " in out and "wrote" in out
    path = conf / "market" / "calibrated_t.yaml"
    text = path.read_text()
    assert text.startswith("# Calibrated by mmgym-calibrate")
    # never overwritten without --force; the file is unchanged
    assert calibrate.main([str(data), "--name", "t", "-o", str(conf / "market")]) == 2
    assert "exists" in capsys.readouterr().err and path.read_text() == text
    assert calibrate.main([str(data), "--name", "t", "-o", str(conf / "market"),
                             "--force", "--bar-seconds", "2"]) == 0
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=["market=calibrated_t", "experiment=quick",
                                           f"hydra.searchpath=[file://{conf}]"],
                      return_hydra_config=False)
    validate(cfg)
    m = OmegaConf.to_container(cfg.market)
    assert m["name"] == "lob" and m["params"]["tick"] == 0.1
    # the model the events were drawn from, in the config's units (σ in ticks/√s, A per s
    # per side, k per tick), within 4-5 standard deviations of a 600-s estimate (measured on
    # 16 seeds: 3.2%, 5.7% and 4.7%; seed 0 gives 21.03, 1.619, 0.4403)
    assert m["baseline"]["sigma"] == pytest.approx(SIGMA / 0.1, rel=0.15)
    assert m["baseline"]["A"] == pytest.approx(A, rel=0.25)
    assert m["baseline"]["k"] == pytest.approx(K * 0.1, rel=0.25)
    kwargs = env_kwargs(cfg)
    env = MarketMakingVectorEnv(2, **kwargs)
    assert env.core.market.p.market_rate == m["params"]["market_rate"]
    assert env.core.reward_fn.inventory_penalty == (
        m["rewards"]["pnl_minus_inventory_penalty"]["inventory_penalty"])
    run_baselines(env, cfg.market)

    # the replay config: the event file itself, the same model, T the replay episode
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=["market=replay_t", "experiment=quick",
                                           f"hydra.searchpath=[file://{conf}]"])
    r = OmegaConf.to_container(cfg.market)
    assert r["name"] == "replay" and r["params"]["data_path"] == str(data.resolve())
    assert r["params"]["tick"] == 0.1 and r["params"]["episode_seconds"] == 60.0
    # training sees the first 70% of the recording; evaluate.py the rest
    assert (r["params"]["range"], r["params"]["split_fraction"],
            r["params"]["split_seconds"]) == ("train", 0.7, None)
    b, lb = r["baseline"], m["baseline"]
    assert (b["sigma"], b["A"], b["k"], b["T"]) == (lb["sigma"], lb["A"], lb["k"], 60.0)
    # the same inventory skew γσ²T as the lob config's
    assert b["gamma"] * b["T"] == pytest.approx(lb["gamma"] * lb["T"], rel=1e-3)
    env = MarketMakingVectorEnv(2, **env_kwargs(cfg))
    assert env.core.market.name == "replay"
    assert (env.core.market.window_range().name, env.core.market.window_range().end_s) == (
        "train", 419.9)  # the last 0.1-s boundary before 0.7 × the events' span, 599.95 s
    run_baselines(env, cfg.market)


def run_baselines(env: MarketMakingVectorEnv, market) -> None:
    """Every baseline of an evaluation runs on the calibrated config: it quotes at least one
    side at every step, each quote strictly inside the action bounds (neither clipped nor
    withdrawn by a parameter in the wrong unit), and it is paid the config's reward: its
    rewards sum to the PnL less the config's inventory penalty on the inventory held."""
    phi = market.rewards.pnl_minus_inventory_penalty.inventory_penalty
    low, high = env.core.action_low, env.core.action_high
    for name in ("as_inventory", "glft", "obi_skew", "rule_based"):
        policy = baseline(name, market).policy
        obs, info = env.reset(seed=0)
        total, penalty = np.zeros(env.num_envs), np.zeros(env.num_envs)
        for _ in range(20):
            offsets = np.asarray(policy(obs, info))
            quoted = offsets < np.inf
            assert quoted.any(axis=1).all(), name
            assert ((offsets[quoted] > low) & (offsets[quoted] < high)).all(), (name, offsets)
            obs, reward, _, _, info = env.step(offsets)
            total += reward
            penalty += phi * info["inventory"] ** 2
        np.testing.assert_allclose(total, info["pnl"] - penalty, rtol=1e-9, atol=1e-12)


def test_command_replaces_neither_config_without_force(tmp_path, capsys):
    data = tmp_path / "synthetic.parquet"
    write_events(synthetic(0, seconds=300.0), data,
                 {"mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"})
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "replay_t.yaml").write_text("mine\n")
    assert calibrate.main([str(data), "--name", "t", "-o", str(conf)]) == 2
    assert "replay_t.yaml: exists (use --force" in capsys.readouterr().err
    assert sorted(p.name for p in conf.iterdir()) == ["replay_t.yaml"]
    assert (conf / "replay_t.yaml").read_text() == "mine\n"


def test_replay_config_needs_its_event_file(tmp_path):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=["market=replay"])
    with pytest.raises(ConfigError, match=r"market.params.data_path: no value given; market "
                                          r"'replay' needs it"):
        env_kwargs(cfg)


def test_command_refuses_missing_units(tmp_path, capsys):
    data = tmp_path / "nometa.parquet"
    write_events(synthetic(0, seconds=300.0), data)
    assert calibrate.main([str(data), "-o", str(tmp_path)]) == 2
    assert "no tick_size in the metadata (None); give --tick" in capsys.readouterr().err
    assert calibrate.main([str(data), "-o", str(tmp_path), "--tick", "0.1", "--lot",
                             "0.001", "--gk-bar-seconds", "400"]) == 2
    assert "gk_bar_seconds = 400.0 s needs" in capsys.readouterr().err




@needs_sample
def test_calibration_of_the_real_binance_sample():
    """Finite positive estimates on the real sample (345 s of BTCUSDT), each within what the
    data allow: the mid stays between the lowest and highest trade price, the two σ
    estimators agree within a factor of 2, and there are at most as many market orders as
    trades (an order is one or more trades)."""
    events, report = read_binance(SAMPLE)
    cal = calibration.calibrate(events, float(report.metadata["mmgym.tick_size"]),
                                float(report.metadata["mmgym.lot_size"]), str(SAMPLE))
    fit = cal.intensity
    assert all(math.isfinite(x) and x > 0 for x in (fit.A, fit.k, cal.sigma_rv, cal.sigma_gk))
    assert 0 < fit.r2 <= 1
    trades = events[events["kind"] == TRADE]
    assert trades["price"].min() < cal.mean_mid < trades["price"].max()
    assert 0.5 < cal.sigma_gk / cal.sigma_rv < 2.0
    assert 0.1 < cal.bps(cal.sigma_rv) < 10.0  # bps/√s: 6-600 bps an hour
    assert 0.5 < cal.orders_per_side_per_s <= len(trades) / (2 * cal.seconds)
    assert 0 < cal.mean_order_size and cal.mean_order_size * cal.orders_per_side_per_s * 2 \
        * cal.seconds == pytest.approx(trades["size"].sum(), rel=1e-9)


S = 1_000_000_000  # ns per second


def level1_book() -> pd.DataFrame:
    """A level-1 book (only the best level a side, as a LOBSTER ``_1`` file shows it: a level
    that stops being the best is removed) on a 0.01 tick over 10 s, and its trades.

    Sampled every second (the book after every message at or before each time), the spread
    is 10, 10, 10, 5, 4, 4, 4, 7, 7, 14, 14 ticks at 0, 1, ..., 10 s; the best bid holds
    100 ×4, 300 ×3, 80 ×3, 90; the best ask 200 ×3, 50 ×6, 10 ×2; the mid's 1-s increments
    are 0, 0, −2.5, 0.5, 0, 0, −1.5, 0, 3.5, 0 ticks. Trades: one at 0 s (with the first
    book: not after the first mid), then 30 + 20 (one buy order, 0.3 ms apart), a sell of 40
    and a sell of 15."""
    return events([
        (0, TRADE, SELL, 100.00, 5.0, NO_ID),
        (0, SNAPSHOT, BID, 100.00, 100.0, 0), (0, SNAPSHOT, ASK, 100.10, 200.0, 0),
        (int(1.5 * S), TRADE, BUY, 100.10, 30.0, NO_ID),
        (int(1.5 * S) + 300_000, TRADE, BUY, 100.10, 20.0, NO_ID),
        (int(2.5 * S), DELTA, ASK, 100.10, 0.0, 1), (int(2.5 * S), DELTA, ASK, 100.05, 50.0, 1),
        (4 * S, DELTA, BID, 100.00, 0.0, 2), (4 * S, DELTA, BID, 100.01, 300.0, 2),  # at 4 s
        (5 * S, TRADE, SELL, 100.01, 40.0, NO_ID),
        (int(6.2 * S), DELTA, BID, 100.01, 0.0, 3), (int(6.2 * S), DELTA, BID, 99.98, 80.0, 3),
        (int(7.5 * S), TRADE, SELL, 99.98, 15.0, NO_ID),
        (int(8.7 * S), DELTA, ASK, 100.05, 0.0, 4), (int(8.7 * S), DELTA, ASK, 100.12, 10.0, 4),
        (10 * S, DELTA, BID, 99.98, 90.0, 5),
    ])


def calibrate_level1() -> calibration.Calibration:
    return calibration.calibrate(level1_book(), 0.01, 1.0, gk_bar_seconds=5.0,
                                 max_delta_ticks=3, min_count=1)


def test_touch_trades_and_returns_of_a_level1_book_by_hand():
    cal = calibrate_level1()
    touch = cal.touch
    assert touch.samples == 11
    # sorted spreads 4 4 4 5 7 7 10 10 10 14 14: the q-quantile at position 10q, interpolated
    assert touch.spread_mean == pytest.approx(89 / 11)
    assert touch.spread_quantiles == pytest.approx({0.1: 4.0, 0.25: 4.5, 0.5: 7.0, 0.75: 10.0,
                                                    0.9: 14.0})
    assert (touch.bid_size_median, touch.ask_size_median) == (100.0, 50.0)
    assert touch.bid_size_mean == pytest.approx(1630 / 11)
    assert touch.ask_size_mean == pytest.approx(920 / 11)
    trades = cal.trades
    assert (trades.count, trades.mean_size, trades.median_size) == (4, 26.25, 25.0)
    assert cal.seconds == 10.0 and trades.rate == pytest.approx(0.4)
    # the market orders beside them: 50, 40 and 15 over 2 sides × 10 s
    assert cal.orders_per_side_per_s == pytest.approx(0.15)
    assert cal.mean_order_size == pytest.approx(35.0)
    # increments: mean 0, Σr² = 21, Σ r_i·r_{i+1} = −2.5 × 0.5
    ret = cal.returns
    assert ret.count == 10 and ret.std_ticks == pytest.approx(math.sqrt(2.1))
    assert ret.autocorr == pytest.approx(-1.25 / 21)
    assert cal.ticks(cal.sigma_rv) == pytest.approx(ret.std_ticks)  # the mean increment is 0
    # the only increase of a level while it stays shown: 80 → 90 at 10 s
    assert cal.mean_limit_increment == pytest.approx(10.0)
    text = calibration.summary(cal)
    assert ("spread (sampled every 1 s, n=11): mean 8.091 ticks, 10/25/50/75/90%: "
            "4/4.5/7/10/14 ticks (median 6.997 bps of the mean mid)") in text
    assert ("size at the best (sampled every 1 s): bid median 100, mean 148.2; ask median "
            "50, mean 83.64 (size units)") in text
    assert "= 1.449 ticks/√s" in text
    assert "mid returns over 1 s (n=10): std 1.449 ticks, lag-1 autocorrelation -0.060" in text
    assert "trades (executions, n=4): 0.4 /s (both sides), mean size 26.25, median 25" in text


def test_touch_is_sampled_in_time_not_per_message():
    """49 messages in the first millisecond at a 20-tick spread, then 5 ticks for 4 s: the
    samples weigh the states by their duration; a one-sided book at a sample time (3 s) is
    left out."""
    rows = [(0, SNAPSHOT, BID, 99.0, 1.0, 0), (0, SNAPSHOT, ASK, 101.0, 1.0, 0)]
    rows += [(i * 1000, DELTA, BID, 99.0, 1.0 + i, i) for i in range(1, 50)]
    rows += [(S // 2, DELTA, ASK, 101.0, 0.0, 50), (S // 2, DELTA, ASK, 99.5, 3.0, 50),
             (int(2.5 * S), DELTA, ASK, 99.5, 0.0, 51),
             (int(3.5 * S), DELTA, ASK, 99.5, 4.0, 52), (4 * S, DELTA, BID, 99.0, 2.0, 53)]
    history = calibration.rebuild_book(events(rows))
    touch = calibration.touch_stats(history, np.arange(5) * S, 0.1)
    # at 0, 1, 2, 4 s: spreads 20, 5, 5, 5 ticks; bids 1, 50, 50, 2; asks 1, 3, 3, 4
    assert touch.samples == 4 and touch.spread_mean == pytest.approx(35 / 4)
    assert touch.spread_quantiles[0.5] == pytest.approx(5.0)
    assert (touch.bid_size_median, touch.bid_size_mean) == (26.0, 25.75)
    assert (touch.ask_size_median, touch.ask_size_mean) == (3.0, 2.75)


def test_market_config_in_the_datas_units():
    """The policies' parameters of a 0.01-tick book sized in whole shares (median spread 7
    ticks, quote size 10, position limit 500), each as market_config documents it."""
    cal = calibrate_level1()
    config = calibrate.market_config(cal)
    h, limit = 3.5, 500.0
    assert config["max_inventory"] == limit and config["baseline"]["unit"] == 10.0
    base_bps = 2 * h * 0.01 / cal.mean_mid * 1e4
    expected = {
        "glft_exact": {"max_inventory": 50},
        "cartea_jaimungal": {"phi": 0.018, "alpha": 0.0, "max_inventory": 50},
        "obi_skew": {"half_spread": h, "alpha": h / 2},
        "obi_skew_inventory": {"half_spread": h, "kappa": 0.5, "phi": 0.1 / 8 * h / limit},
        "rule_based": {"base_spread_bps": base_bps, "skew_bps": base_bps / 3,
                       "max_position": limit, "shock_bps": 2.0, "offset_unit": 0.01},
        "fixed_spread": {"half_spread": h},
        "random": {"low": 0.0, "high": 20.0},
        "as_signals": {"alpha": 4.0},
        "oracle": {"tick": 0.01},
    }
    assert config["policies"].keys() == expected.keys()
    for name, params in expected.items():
        assert config["policies"][name] == pytest.approx(params, rel=1e-3), name
    # the default reward's penalty in the data's units: γσ²dt/2 with the config's γ
    assert config["rewards"]["pnl_minus_inventory_penalty"]["inventory_penalty"] == (
        pytest.approx(config["risk_aversion"] * cal.sigma_rv**2 * 0.1 / 2, rel=1e-3))
    # γ: lob.yaml's 0.1 /USDT for 0.1 USDT × 0.5 BTC, here for 0.01 × 500
    assert config["risk_aversion"] == pytest.approx(0.1 * 0.05 / 5.0)
    # the rule-based bot's base half-spread is fixed_spread's h ticks, and the skew at the
    # position limit two thirds of it, in price units
    bot = baseline("rule_based", OmegaConf.create(config))
    info = {"mid": np.full(2, cal.mean_mid), "inventory": np.array([0.0, 250.0]),
            "bid_fill": np.zeros(2), "ask_fill": np.zeros(2)}
    offsets = bot.policy(np.zeros((2, len(bot.observation["features"]))), info)  # vol 0
    assert offsets[0] == pytest.approx([h, h], rel=1e-3)
    assert offsets[1] == pytest.approx([h + h / 3, h - h / 3], rel=1e-3)


@needs_sample
def test_the_binance_configs_keep_btcusdts_units():
    """On BTCUSDT (tick 0.1 USDT, lot 0.001 BTC, a one-tick spread at every sample) the
    estimates are those calibration gave before the touch and trade statistics were added,
    and the written units are lob.yaml's: offset_unit 0.1, max_position 0.5 BTC, γ 0.1
    /USDT; the half-spreads are the median touch, half a tick."""
    events, _ = read_binance(SAMPLE)
    cal = calibration.calibrate(events, 0.1, 0.001, str(SAMPLE))
    before = {"sigma_rv": 7.779719834137955, "sigma_gk": 7.011601079252545,
              "orders_per_side_per_s": 7.528932928294823,
              "mean_order_size": 0.46790562403697994,
              "mean_limit_increment": 0.7341986980385484}
    assert {k: getattr(cal, k) for k in before} == pytest.approx(before, rel=1e-12)
    assert (cal.intensity.A, cal.intensity.k, cal.intensity.r2) == pytest.approx(
        (2.029873946035251, 0.5541192015024099, 0.4405850709346346), rel=1e-12)
    assert cal.touch.spread_quantiles == pytest.approx(dict.fromkeys(
        calibration.SPREAD_QUANTILES, 1.0))
    config = calibrate.market_config(cal)
    rule = config["policies"]["rule_based"]
    assert (rule["offset_unit"], rule["max_position"], config["max_inventory"]) == (
        0.1, 0.5, 0.5)
    assert config["risk_aversion"] == 0.1
    assert config["policies"]["fixed_spread"] == {"half_spread": 0.5}
    assert config["policies"]["obi_skew_inventory"]["phi"] == pytest.approx(0.0125)


@pytest.fixture(scope="module")
def lobster_sample(tmp_path_factory) -> dict:
    """The AMZN level-1 sample imported, calibrated, and its configs written by the command."""
    folder = tmp_path_factory.mktemp("amzn")
    events, report = read_lobster(LOBSTER_MESSAGE)
    data = folder / "amzn.parquet"
    write_events(events, data, report.metadata)
    conf = folder / "conf"
    assert calibrate.main([str(data), "--name", "amzn", "-o", str(conf / "market")]) == 0
    return {"data": data, "conf": conf, "events": events,
            "cal": calibration.calibrate(events, float(report.metadata["mmgym.tick_size"]),
                                         float(report.metadata["mmgym.lot_size"]), str(data))}


def lobster_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sample's message times (ns after midnight), types and sizes, and its orderbook
    rows (ask price, ask size, bid price, bid size; prices × 10,000), read with the csv
    module."""
    with open(LOBSTER_MESSAGE, newline="") as f:
        messages = np.array([[float(x) for x in row] for row in csv.reader(f)])
    book = Path(str(LOBSTER_MESSAGE).replace("_message_", "_orderbook_"))
    with open(book, newline="") as f:
        rows = np.array([[float(x) for x in row] for row in csv.reader(f)])
    return np.rint(messages[:, 0] * 1e9).astype(np.int64), messages[:, 1], messages[:, 3], rows


@needs_lobster
def test_calibration_of_the_lobster_sample(lobster_sample):
    """Finite positive σ, A, k; the spread's median 10-18 ticks; 0.4-0.6 trades a second;
    and the touch and trades equal those read straight from LOBSTER's files: the orderbook
    file's level 1 after the last message at or before each second, from the first message
    to the last one that changed the book, and the executions (types 4, 5) after the first
    message."""
    cal = lobster_sample["cal"]
    fit = cal.intensity
    assert all(math.isfinite(x) and x > 0 for x in (fit.A, fit.k, cal.sigma_rv, cal.sigma_gk))
    assert 0 < fit.r2 <= 1 and cal.tick == 0.01 and cal.lot == 1.0
    assert 10 <= cal.touch.spread_median <= 18
    assert 0.4 <= cal.trades.rate <= 0.6
    t, kind, size, book = lobster_rows()
    assert len(t) == 22_552
    changed = np.r_[True, (book[1:] != book[:-1]).any(axis=1)]
    grid = np.arange(t[0], t[changed][-1] + 1, S)
    row = book[np.searchsorted(t, grid, side="right") - 1]
    ask_price, ask_size, bid_price, bid_size = row.T
    assert (np.abs(row[:, [0, 2]]) < 9_999_999_999).all()  # two-sided at every second
    spread = (ask_price - bid_price) / 100  # ticks of 0.01 USD = 100 × 10⁻⁴
    touch = cal.touch
    assert touch.samples == len(grid) == 8999
    assert touch.spread_mean == pytest.approx(spread.mean(), rel=1e-9)
    for q in calibration.SPREAD_QUANTILES:
        assert touch.spread_quantiles[q] == pytest.approx(np.quantile(spread, q), rel=1e-9)
    assert (touch.bid_size_median, touch.ask_size_median) == (np.median(bid_size),
                                                              np.median(ask_size))
    assert touch.bid_size_mean == pytest.approx(bid_size.mean(), rel=1e-12)
    assert touch.ask_size_mean == pytest.approx(ask_size.mean(), rel=1e-12)
    executed = np.isin(kind, [4, 5]) & (t > t[0])
    assert cal.trades.count == executed.sum()
    assert cal.trades.rate == pytest.approx(executed.sum() / cal.seconds, rel=1e-12)
    assert cal.trades.mean_size == pytest.approx(size[executed].mean(), rel=1e-12)
    assert cal.trades.median_size == np.median(size[executed])
    # the 1-s returns: at 1-s bars their std is the realized σ up to the mean increment
    assert cal.returns.count == cal.rv_increments == 8998
    assert cal.returns.std_ticks == pytest.approx(cal.ticks(cal.sigma_rv), rel=1e-3)
    assert -1 < cal.returns.autocorr < 1
    # one order is one or more trades
    assert 2 * cal.orders_per_side_per_s <= cal.trades.rate


@needs_lobster
def test_the_lobster_configs_have_the_equitys_units(lobster_sample):
    """Both configs load with OmegaConf: tick 0.01 USD, sizes in shares (offset_unit 0.01,
    max_position = max_inventory), half-spreads the median half-spread in ticks; and every
    analytic baseline runs on the replay of the sample."""
    cal, conf = lobster_sample["cal"], lobster_sample["conf"]
    h = cal.touch.spread_median / 2
    for stem in ("calibrated_amzn", "replay_amzn"):
        m = OmegaConf.load(conf / "market" / f"{stem}.yaml")
        assert m.params.tick == 0.01 and m.params.quote_size == 10.0
        rule = m.policies.rule_based
        assert rule.offset_unit == 0.01
        assert rule.max_position == m.max_inventory == 500.0
        assert m.policies.fixed_spread.half_spread == pytest.approx(h)
        assert m.policies.obi_skew.half_spread == pytest.approx(h)
        assert rule.base_spread_bps == pytest.approx(2 * h * 0.01 / cal.mean_mid * 1e4,
                                                     rel=1e-3)
        assert m.risk_aversion == pytest.approx(0.001)
        assert m.baseline.sigma == pytest.approx(cal.ticks(cal.sigma_rv), rel=1e-4)
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=["market=replay_amzn", "experiment=quick",
                                           f"hydra.searchpath=[file://{conf}]"])
    validate(cfg)
    assert cfg.market.params.data_path == str(lobster_sample["data"].resolve())
    env = MarketMakingVectorEnv(2, **env_kwargs(cfg))
    assert env.core.market.name == "replay"
    run_baselines(env, cfg.market)


# ----------------------------------------------------------------------------- klines


T0_MS = 1_722_000_000_000  # a minute's start, ms (2024-07-26T13:20:00Z)
MINUTE_MS = 60_000


def recording(path: Path, candle_lines: list[tuple[int, list[list]]],
              books: list[tuple[int, int]] = ()) -> Path:
    """A recording as :mod:`mmgym.data.recorder` writes it (its own writer): the header, then
    ``book`` lines (local ns, exchange ms) and ``ohlcv`` lines (local ns, ccxt candles
    ``[open ms, o, h, l, c, volume]``) in local-time order."""
    lines = [{"type": "book", "ts_ns": ts, "book": {"bids": [[99.9, 1.0]], "asks": [[100.1, 1.0]],
                                                    "timestamp": ms, "nonce": None}}
             for ts, ms in books]
    lines += [{"type": "ohlcv", "ts_ns": ts, "timeframe": "1m", "candles": candles}
              for ts, candles in candle_lines]
    writer = recorder.RecordingWriter(path)
    writer.write({"type": "header", "ts_ns": 0, "format": recorder.FORMAT,
                  "version": recorder.VERSION, "exchange": "bybit", "symbol": "BTC/USDT:USDT",
                  "tick_size": 0.1, "lot_size": 0.001, "contract_size": 1.0, "depth": 1,
                  "interval_s": 1.0})
    for line in sorted(lines, key=lambda x: x["ts_ns"]):
        writer.write(line)
    writer.close()
    return path


def gk_by_hand(candles: list[tuple[float, float, float, float]], bar: float = 60.0) -> float:
    """Garman & Klass (1980) σ̂ (1/√s) of (open, high, low, close) bars, in a plain loop."""
    terms = [0.5 * math.log(h / lo) ** 2 - (2 * math.log(2) - 1) * math.log(c / o) ** 2
             for o, h, lo, c in candles]
    return math.sqrt(sum(terms) / len(terms) / bar)


def test_garman_klass_of_a_recordings_klines_by_hand(tmp_path):
    """Events from T0 + 30 s to T0 + 310 s; klines fetched every minute, each reply the last
    two candles, the newest one in progress. Used: the candles opened at T0 + 1, 2, 3 min, in
    their last (closed) version. Not used: T0 − 1 min and T0 (open before the first event),
    and T0 + 4 min, inside the span but the newest candle, still open at the last fetch."""
    m = MINUTE_MS
    c1, c2, c3 = (100.0, 102.0, 99.0, 101.0), (101.0, 101.5, 100.0, 100.5), \
        (100.5, 103.0, 100.5, 102.5)
    fetches = [
        (30, [[T0_MS - m, 99.0, 100.0, 98.5, 99.5, 3.0], [T0_MS, 99.5, 100.0, 99.0, 100.0, 1.0]]),
        (90, [[T0_MS, 99.5, 100.5, 99.0, 100.0, 2.0], [T0_MS + m, 100.0, 100.5, 99.8, 100.2, 0.5]]),
        (150, [[T0_MS + m, *c1, 4.0], [T0_MS + 2 * m, 101.0, 101.2, 100.9, 101.1, 0.2]]),
        (210, [[T0_MS + 2 * m, *c2, 3.0], [T0_MS + 3 * m, 100.5, 101.0, 100.5, 100.8, 0.1]]),
        (270, [[T0_MS + 3 * m, *c3, 5.0], [T0_MS + 4 * m, 102.5, 102.6, 102.4, 102.5, 0.3]]),
    ]
    ns = 1_000_000
    path = recording(tmp_path / "rec.jsonl.gz",
                     [((T0_MS + s * 1000) * ns + 5, c) for s, c in fetches],
                     books=[((T0_MS + s * 1000) * ns + 9, T0_MS + s * 1000) for s in (30, 310)])
    first, last = (T0_MS + 30_000) * ns, (T0_MS + 310_000) * ns
    assert recorder.read_recording(path)["ts_ns"].iloc[[0, -1]].tolist() == [first, last]
    candles = calibration.complete_klines(recorder.read_klines(path), first, last, str(path))
    assert candles["ts_ns"].tolist() == [(T0_MS + i * m) * ns for i in (1, 2, 3)]
    assert candles[["open", "high", "low", "close"]].to_numpy().tolist() == [
        list(c1), list(c2), list(c3)]
    sigma = calibration.garman_klass_vol(candles, calibration.KLINE_SECONDS)
    assert sigma == pytest.approx(gk_by_hand([c1, c2, c3]), rel=1e-12)
    # by hand: the terms are 4.0735e-4, 1.0132e-4, 1.5187e-4; √(mean / 60 s) in 1/√s
    assert sigma == pytest.approx(1.9157e-3, rel=1e-4)


def test_klines_of_a_geometric_brownian_path_recover_sigma(tmp_path):
    """3,000 one-minute candles of a GBM, ln S = ln S0 + σW, observed every Δt = 0.1 s (the
    close of a candle is the next one's open), written as a recording and read back:
    Garman–Klass σ̂ sits within 3 standard errors (from the bars' own spread) of σ less its
    discrete-monitoring bias (:func:`gk_sampling_factor`, 0.962 here)."""
    sigma, bars, steps, s0 = 2e-4, 3000, 600, 60_000.0  # 1/√s (2 bps/√s), Δt = 60 s / 600
    dt = calibration.KLINE_SECONDS / steps
    rng = np.random.default_rng(2024)
    log_s = math.log(s0) + np.r_[0.0, np.cumsum(rng.normal(0.0, sigma * math.sqrt(dt),
                                                            bars * steps))]
    price = np.exp(log_s)
    within = price[:-1].reshape(bars, steps)  # each candle's points but its close
    o, c = within[:, 0], price[steps::steps]
    h, lo = np.maximum(within.max(1), c), np.minimum(within.min(1), c)
    candles = [[T0_MS + j * MINUTE_MS, *map(float, row), 1.0]
               for j, row in enumerate(zip(o, h, lo, c, strict=True))]
    candles.append([T0_MS + bars * MINUTE_MS, float(c[-1]), float(c[-1]), float(c[-1]),
                    float(c[-1]), 0.0])  # the minute in progress at the last fetch
    path = recording(tmp_path / "gbm.jsonl.gz", [(1, candles[:1500]), (2, candles[1499:])])
    first, last = T0_MS * 1_000_000, (T0_MS + (bars + 1) * MINUTE_MS) * 1_000_000
    used = calibration.complete_klines(recorder.read_klines(path), first, last, str(path))
    assert len(used) == bars
    estimate = calibration.garman_klass_vol(used, calibration.KLINE_SECONDS)
    terms = 0.5 * np.log(h / lo) ** 2 - (2 * math.log(2) - 1) * np.log(c / o) ** 2
    assert estimate == pytest.approx(math.sqrt(terms.mean() / 60.0), rel=1e-12)
    se = estimate * terms.std(ddof=1) / math.sqrt(bars) / (2 * terms.mean())
    truth = sigma * gk_sampling_factor(dt, calibration.KLINE_SECONDS)
    assert abs(estimate - truth) < 3 * se, (estimate, truth, se)
    assert se / sigma < 0.01  # many bars: a tight check


def bad_recordings(path: Path) -> dict[str, tuple[Path, str]]:
    """Recordings that ``--klines`` refuses, with the message each gives (after the file
    name), for the events of :func:`synthetic` (10¹⁸ ns to 10¹⁸ + 599.95 s)."""
    start = 10**18 // 1_000_000 + 20_000  # ms: the first minute inside the events

    def candles(first: int, n: int, bad: dict[int, list[float]] | None = None) -> list[list]:
        return [[first + i * MINUTE_MS, *(bad or {}).get(i, [100.0, 101.0, 99.0, 100.5]), 1.0]
                for i in range(n)]

    def rec(name: str, lines: list[tuple[int, list[list]]]) -> Path:
        return recording(path / f"{name}.jsonl.gz", lines)

    corrupt = rec("corrupt", [(1, candles(start, 5))])
    with gzip.open(corrupt, "at") as f:
        f.write('{"type":"ohlcv","ts_ns":2,"timeframe":"1m","candles":[[1,"x",2,3,4,5]]}\n')
    plain = path / "plain.txt"
    plain.write_text("not a recording\n")
    opened = f"candle opened 2024-01-01T00:02:00+00:00 ({1_704_067_320 * 10**9} ns)"
    jan = 1_704_067_200_000  # 2024-01-01T00:00:00Z, ms
    return {
        "missing": (path / "missing.jsonl.gz", "no such file"),
        "not gzip": (plain, "line 1: not a readable gzip text file"),
        "corrupt": (corrupt, "line 3: a line that is not a JSON object of the format"),
        "no ohlcv": (rec("none", []), "no klines (no ohlcv lines with candles)"),
        "before the events": (rec("before", [(1, candles(start - 60 * MINUTE_MS, 30))]),
                              "0 complete 1-min candles inside the event file's span"),
        "one inside": (rec("one", [(1, candles(start - 5 * MINUTE_MS, 7))]),
                       "1 complete 1-min candles inside the event file's span"),
        "high": (rec("high", [(1, candles(jan, 4, {2: [100.0, 100.2, 99.0, 100.5]}))]),
                 f"{opened}: high below max(open, close)"),
        "low": (rec("low", [(1, candles(jan, 4, {2: [100.0, 101.0, 100.1, 100.5]}))]),
                f"{opened}: low above min(open, close)"),
        "price": (rec("price", [(1, candles(jan, 4, {2: [100.0, 101.0, 0.0, 100.5]}))]),
                  f"{opened}: a price is not finite > 0"),
    }


def test_command_reports_the_klines_sigma(tmp_path, capsys):
    """``--klines``: the candles built from the synthetic trades minute by minute (as an
    exchange builds them) give a line of the report and of the config's comments, equal to
    Garman–Klass of the complete candles by hand; the config is otherwise the same."""
    events = synthetic(0, seconds=600.0)
    data = tmp_path / "synthetic.parquet"
    write_events(events, data, {"mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"})
    trades = events[events["kind"] == TRADE]
    minute = trades["ts_ns"] // (MINUTE_MS * 1_000_000)
    ohlc = trades.groupby(minute)["price"].agg(["first", "max", "min", "last"])
    candles = [[int(t) * MINUTE_MS, *row, 1.0] for t, row in zip(ohlc.index, ohlc.to_numpy(),
                                                                  strict=True)]
    rec = recording(tmp_path / "rec.jsonl.gz", [(i + 1, candles[max(0, i - 1):i + 1])
                                                 for i in range(len(candles))])
    # minutes opening at 10¹⁸ ns + 20 s, 80 s, ..., 500 s are inside [10¹⁸, 10¹⁸ + 599.95 s]
    inside = ohlc.loc[(10**18 // 10**9 + 20) // 60:(10**18 // 10**9 + 500) // 60]
    assert len(inside) == 9 and len(ohlc) == 11
    expected = gk_by_hand(list(inside.itertuples(index=False))) * calibration.mid_series(
        events)[1].mean()
    conf = tmp_path / "conf"
    assert calibrate.main([str(data), "--name", "plain", "-o", str(conf)]) == 0
    assert calibrate.main([str(data), "--name", "k", "-o", str(conf), "--klines",
                             str(rec)]) == 0
    out = capsys.readouterr().out
    line = (f"sigma Garman-Klass (trade-price 1m klines of {rec}, n=9 bars): {expected:.4g} "
            f"price/√s")
    assert line in out
    text = (conf / "calibrated_k.yaml").read_text()
    assert f"# {line}" in text
    body = [x for x in text.splitlines() if not x.startswith("#")]
    plain = (conf / "calibrated_plain.yaml").read_text()
    assert body == [x for x in plain.splitlines() if not x.startswith("#")]
    assert "klines" not in plain
    cal = calibration.calibrate(events, 0.1, 0.001, klines=recorder.read_klines(rec))
    assert cal.kline_bars == 9 and cal.sigma_klines == pytest.approx(expected, rel=1e-12)
    assert calibration.calibrate(events, 0.1, 0.001).sigma_klines is None


@pytest.mark.parametrize("case", ["missing", "not gzip", "corrupt", "no ohlcv",
                                  "before the events", "one inside", "high", "low", "price"])
def test_command_refuses_bad_klines(tmp_path, capsys, case):
    data = tmp_path / "synthetic.parquet"
    write_events(synthetic(0, seconds=600.0), data,
                 {"mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"})
    path, message = bad_recordings(tmp_path)[case]
    conf = tmp_path / "conf"
    assert calibrate.main([str(data), "-o", str(conf), "--klines", str(path)]) == 2
    assert f"mmgym-calibrate: {path}: {message}" in capsys.readouterr().err
    assert not conf.exists()
