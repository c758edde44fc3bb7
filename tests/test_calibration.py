"""Calibration: the mid rebuilt from book events, σ (realized, Garman–Klass), λ(δ) = A·e^(−kδ)
recovered from events drawn from the model, the lob parameters, and the config it writes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mmgym.cli import CONF_DIR
from mmgym.config import register, validate
from mmgym.data import calibration
from mmgym.data.binance import read_binance
from mmgym.data.schema import ASK, BID, BUY, COLUMNS, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, write_events
from mmgym.evaluation.lineup import baseline
from mmgym.training import env_kwargs
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


def test_recovers_sigma_A_k_from_the_model():
    """20 independent 30-minute samples: the estimators' means sit within 3 standard errors
    of the truth (Garman–Klass: of the truth less the known discrete-monitoring bias)."""
    est = np.array([[c.sigma_rv, c.sigma_gk, c.intensity.A, c.intensity.k, c.intensity.r2]
                    for c in (calibration.calibrate(synthetic(seed), 0.1, 0.001,
                                                    max_delta_ticks=20)
                              for seed in range(20))])
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(len(est))
    # the high-low range of a path seen every DT s is short by 2·0.5826·σ·√DT on average
    # (Broadie, Glasserman & Kou 1997) against a continuous range of √(8B/π)·σ
    gk_bias = 1 - 2 * 0.5826 * math.sqrt(DT) / math.sqrt(8 * 60.0 / math.pi)
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
    assert calibration.main([str(data), "--name", "t", "-o", str(conf / "market")]) == 0
    out = capsys.readouterr().out
    assert "R² = " in out and "wrote" in out
    path = conf / "market" / "calibrated_t.yaml"
    text = path.read_text()
    assert text.startswith("# Calibrated by mmgym-calibrate")
    # never overwritten without --force; the file is unchanged
    assert calibration.main([str(data), "--name", "t", "-o", str(conf / "market")]) == 2
    assert "exists" in capsys.readouterr().err and path.read_text() == text
    assert calibration.main([str(data), "--name", "t", "-o", str(conf / "market"),
                             "--force", "--bar-seconds", "2"]) == 0
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["market=calibrated_t", "experiment=quick",
                                           f"hydra.searchpath=[file://{conf}]"],
                      return_hydra_config=False)
    validate(cfg)
    m = OmegaConf.to_container(cfg.market)
    assert m["name"] == "lob" and m["params"]["tick"] == 0.1
    assert m["baseline"]["k"] > 0 and m["baseline"]["sigma"] > 0
    kwargs = env_kwargs(cfg)
    env = MarketMakingVectorEnv(2, **kwargs)
    assert env.core.market.p.market_rate == m["params"]["market_rate"]
    assert m["baseline"]["A"] > 0 and m["policies"]  # every baseline of an evaluation runs
    for name in ("as_inventory", "glft", "obi_skew", "rule_based"):
        policy = baseline(name, cfg.market).policy
        obs, info = env.reset(seed=0)
        for _ in range(20):
            obs, reward, _, _, info = env.step(policy(obs, info))
        assert np.isfinite(reward).all()


def test_command_refuses_missing_units(tmp_path, capsys):
    data = tmp_path / "nometa.parquet"
    write_events(synthetic(0, seconds=300.0), data)
    assert calibration.main([str(data), "-o", str(tmp_path)]) == 2
    assert "no tick_size in the metadata (None); give --tick" in capsys.readouterr().err
    assert calibration.main([str(data), "-o", str(tmp_path), "--tick", "0.1", "--lot",
                             "0.001", "--gk-bar-seconds", "400"]) == 2
    assert "gk_bar_seconds = 400.0 s needs" in capsys.readouterr().err


SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"


@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} not present")
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
