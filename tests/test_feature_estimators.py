"""The streaming, batched microstructure estimators against plain references.

Each estimator runs over random data for several environments, with resets of random subsets
mid-stream, and is compared with a per-environment Python loop and/or pandas on each
environment's segments between resets.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mmgym.features.book import book_imbalance, microprice, safe_ratio, spread
from mmgym.features.flow import (
    VPIN,
    CumulativeDelta,
    OrderFlowImbalance,
    RollingSum,
    TradeRate,
    erf,
)
from mmgym.features.volatility import GarmanKlassVolatility, RealizedVolatility

N_ENVS, N_STEPS = 6, 1200
Steps = list[tuple[np.ndarray, ...]]


def reset_schedule(rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Resets of random subsets at random steps; env 0 resets twice, the last env never."""
    steps = np.sort(rng.choice(np.arange(1, N_STEPS), size=8, replace=False))
    schedule = {}
    for t in steps:
        mask = rng.random(N_ENVS) < 0.4
        mask[-1] = False
        schedule[int(t)] = mask
    schedule[int(steps[1])][0] = True
    schedule[int(steps[5])][0] = True
    return schedule


def run(est, steps: Steps, resets: dict[int, np.ndarray]) -> np.ndarray:
    """Stream ``steps`` through ``est``, resetting per ``resets``; outputs, shape (T, n)."""
    out = np.full((len(steps), N_ENVS), np.nan)
    for t, args in enumerate(steps):
        if t in resets:
            est.reset(resets[t])
        row = out[t]
        assert est.update(*args, out=row) is row
    return out


def segments(env: int, resets: dict[int, np.ndarray], n_steps: int) -> list[slice]:
    """The stretches of steps between ``env``'s resets."""
    starts = [0, *sorted(t for t, mask in resets.items() if mask[env]), n_steps]
    return [slice(a, b) for a, b in itertools.pairwise(starts)]


def reference(
    steps: Steps, resets: dict[int, np.ndarray], fn: Callable[..., np.ndarray]
) -> np.ndarray:
    """Apply ``fn`` (one env's segment arrays -> its outputs) to every env's segments."""
    cols = [
        np.stack([a[:, env] for a in map(np.asarray, zip(*steps, strict=True))], 0)
        for env in range(N_ENVS)
    ]
    out = np.empty((len(steps), N_ENVS))
    for env, data in enumerate(cols):
        for seg in segments(env, resets, len(steps)):
            out[seg, env] = fn(*data[:, seg])
    return out


# ---------------------------------------------------------------- data


def book_steps(rng: np.random.Generator) -> Steps:
    """Best quotes on an integer tick grid (equal prices are frequent), sizes 0..5, 5% empty
    sides."""
    mid = 1000 + np.cumsum(rng.integers(-1, 2, size=(N_STEPS, N_ENVS)), axis=0)
    bid = (mid - rng.integers(0, 2, size=mid.shape)).astype(float)
    ask = (mid + rng.integers(1, 3, size=mid.shape)).astype(float)
    bid_sz = rng.integers(0, 6, size=mid.shape).astype(float)
    ask_sz = rng.integers(0, 6, size=mid.shape).astype(float)
    bid[rng.random(mid.shape) < 0.05] = np.nan
    ask[rng.random(mid.shape) < 0.05] = np.nan
    return list(zip(bid, bid_sz, ask, ask_sz, strict=True))


def mid_steps(rng: np.random.Generator) -> Steps:
    """A log-normal mid walk with a constant stretch."""
    r = 1e-3 * rng.standard_normal((N_STEPS, N_ENVS))
    r[300:340] = 0.0
    return [(m,) for m in 100.0 * np.exp(np.cumsum(r, axis=0))]


def trade_steps(rng: np.random.Generator) -> Steps:
    """Price on a tick grid, volumes: mostly small, 10% zero, 3% spanning several buckets."""
    price = 100 + np.cumsum(rng.integers(-2, 3, size=(N_STEPS, N_ENVS)), axis=0).astype(float)
    volume = rng.exponential(3.0, size=price.shape)
    volume[rng.random(price.shape) < 0.1] = 0.0
    big = rng.random(price.shape) < 0.03
    volume[big] = rng.uniform(25.0, 70.0, size=big.sum())
    return list(zip(price, volume, strict=True))


def count_steps(rng: np.random.Generator) -> Steps:
    n_trades = rng.poisson(2.0, size=(N_STEPS, N_ENVS)).astype(float)
    volume = n_trades * rng.exponential(1.5, size=n_trades.shape)
    return list(zip(n_trades, volume, strict=True))


def delta_steps(rng: np.random.Generator) -> Steps:
    buy = rng.exponential(2.0, size=(N_STEPS, N_ENVS))
    sell = rng.exponential(2.0, size=(N_STEPS, N_ENVS))
    return list(zip(buy, sell, strict=True))


# ---------------------------------------------------------------- book


def test_book_functions_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    n, levels = 50, 4
    bid_px = 100.0 - np.cumsum(rng.integers(1, 3, size=(n, levels)), axis=1)
    ask_px = 100.0 + np.cumsum(rng.integers(0, 2, size=(n, levels)), axis=1)
    bid_sz = rng.integers(0, 4, size=(n, levels)).astype(float)
    ask_sz = rng.integers(0, 4, size=(n, levels)).astype(float)
    bid_sz[:5] = 0.0  # envs 0-4: both sides empty of size in the first k levels
    ask_sz[:5] = 0.0
    for k in (1, 2, 10):
        got = book_imbalance(bid_sz, ask_sz, k)
        for i in range(n):
            b, a = bid_sz[i, :k].sum(), ask_sz[i, :k].sum()
            assert got[i] == pytest.approx((b - a) / (b + a) if b + a > 0 else 0.0, abs=1e-15)
        assert np.all(np.abs(got) <= 1.0)
    mp = microprice(bid_px, bid_sz, ask_px, ask_sz)
    for i in range(n):
        pb, qb, pa, qa = bid_px[i, 0], bid_sz[i, 0], ask_px[i, 0], ask_sz[i, 0]
        expected = (pb * qa + pa * qb) / (qa + qb) if qa + qb > 0 else (pb + pa) / 2
        assert mp[i] == pytest.approx(expected, rel=1e-15)
        assert min(pb, pa) <= mp[i] <= max(pb, pa)
    np.testing.assert_array_equal(spread(bid_px, ask_px), ask_px[:, 0] - bid_px[:, 0])


def test_book_edge_cases() -> None:
    bid_px = np.array([[99.0, 98.0], [np.nan, np.nan], [99.0, 98.0], [99.0, np.nan]])
    ask_px = np.array([[101.0, 102.0], [101.0, 102.0], [101.0, 102.0], [100.0, np.nan]])
    bid_sz = np.array([[3.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, np.nan]])
    ask_sz = np.array([[1.0, 5.0], [2.0, 2.0], [0.0, 0.0], [3.0, np.nan]])
    np.testing.assert_allclose(book_imbalance(bid_sz, ask_sz, 1), [0.5, -1.0, 0.0, -0.5])
    np.testing.assert_allclose(book_imbalance(bid_sz, ask_sz, 2), [-0.2, -1.0, 0.0, -0.5])
    out = np.full(4, 7.0)
    assert microprice(bid_px, bid_sz, ask_px, ask_sz, out=out) is out
    # weighted towards the thin side; empty bid side: NaN; both sizes 0: the mid
    np.testing.assert_allclose(out, [100.5, np.nan, 100.0, 99.25])
    np.testing.assert_allclose(spread(bid_px, ask_px), [2.0, np.nan, 2.0, 1.0])
    with pytest.raises(ValueError):
        book_imbalance(bid_sz, ask_sz, 0)


def test_safe_ratio() -> None:
    np.testing.assert_array_equal(
        safe_ratio(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, -1.0])), [0.5, 0.0, 0.0]
    )


# ---------------------------------------------------------------- rolling sums


def test_rolling_sum_drift_is_bounded_by_the_recomputation() -> None:
    """Huge values that have left the window leave no rounding residue once the window has
    turned over (a pure ``+ new − old`` sum would keep an error of ~1e-4 here)."""
    rng = np.random.default_rng(1)
    window = 10
    rs = RollingSum(2, window)
    values = rng.uniform(0, 1e12, size=(3 * window, 2))
    values[window:] = rng.uniform(0, 1e-2, size=(2 * window, 2))
    for v in values:
        rs.push(v[None])
    np.testing.assert_allclose(rs.sums[0], values[-window:].sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(rs.count, [window, window])


# ---------------------------------------------------------------- order flow imbalance


def ofi_reference(window: int, normalize: bool) -> Callable[..., np.ndarray]:
    def fn(bp, bq, ap, aq) -> np.ndarray:
        bq = np.where(np.isnan(bp), 0.0, bq)
        aq = np.where(np.isnan(ap), 0.0, aq)
        bp = np.where(np.isnan(bp), -np.inf, bp)
        ap = np.where(np.isnan(ap), np.inf, ap)
        e = np.zeros(len(bp))
        for t in range(1, len(bp)):
            e[t] = (
                (bq[t] if bp[t] >= bp[t - 1] else 0.0)
                - (bq[t - 1] if bp[t] <= bp[t - 1] else 0.0)
                - (aq[t] if ap[t] <= ap[t - 1] else 0.0)
                + (aq[t - 1] if ap[t] >= ap[t - 1] else 0.0)
            )
        ofi = pd.Series(e).rolling(window, min_periods=1).sum().to_numpy()
        if not normalize:
            return ofi
        depth = pd.Series((bq + aq) / 2).rolling(window, min_periods=1).mean().to_numpy()
        return np.where(depth > 0, ofi / np.where(depth > 0, depth, 1.0), 0.0)

    return fn


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("window", [1, 7, 50])
def test_ofi_against_pandas(window: int, normalize: bool) -> None:
    rng = np.random.default_rng(2)
    steps, resets = book_steps(rng), reset_schedule(rng)
    got = run(OrderFlowImbalance(N_ENVS, window, normalize), steps, resets)
    expected = reference(steps, resets, ofi_reference(window, normalize))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert np.abs(expected).max() > 1.0


def test_ofi_by_hand() -> None:
    """The CKS cases: same price (queue change), bid up / ask down (new queue counts), bid
    down / ask up (old queue leaves), an emptied and a refilled side."""
    nan = np.nan
    book = [  # bid px, bid size, ask px, ask size
        (10.0, 5.0, 11.0, 4.0),  # first step: e = 0
        (10.0, 7.0, 11.0, 4.0),  # bid queue +2: e = 2
        (10.5, 3.0, 11.0, 6.0),  # bid improves +3, ask queue +2 -> -2: e = 1
        (nan, 0.0, 12.0, 1.0),  # bid side empties -3, ask moves up +6: e = 3
        (10.0, 2.0, 11.5, 2.0),  # bid reappears +2, ask improves -2: e = 0
    ]
    ofi = OrderFlowImbalance(2, 3)
    got = [ofi.update(*(np.array([x, x]) for x in row))[0] for row in book]
    np.testing.assert_array_equal(got, [0.0, 2.0, 3.0, 6.0, 4.0])
    ofi.reset(np.array([True, False]))
    first = ofi.update(*(np.array([x, x]) for x in book[1]))
    # env 0 starts afresh; env 1: bid queue 2 -> 7 at 10, ask improves to 11 with 4: e = 1
    np.testing.assert_array_equal(first, [0.0, 3.0 + 0.0 + 1.0])


# ---------------------------------------------------------------- VPIN


def test_erf_error_bound() -> None:
    x = np.linspace(-9.0, 9.0, 20_001)
    err = np.abs(erf(x) - np.array([math.erf(v) for v in x]))
    assert err.max() <= 1.5e-7
    assert err.max() > 1e-9  # it is the approximation, not an exact routine
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_array_equal(erf(np.array([-np.inf, 0.0, 1e200, np.inf])), [-1, 0, 1, 1])


def exact_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def vpin_reference(size: float, n_buckets: int, sigma_window: int) -> Callable[..., np.ndarray]:
    """Bucket by bucket, with the exact Φ."""

    def fn(price, volume) -> np.ndarray:
        out = np.zeros(len(price))
        buckets: list[float] = []
        cur_vol = cur_net = 0.0
        for t in range(len(price)):
            dp = price[t] - price[t - 1] if t else 0.0
            changes = [price[u] - price[u - 1] for u in range(max(1, t - sigma_window + 1), t + 1)]
            sigma = statistics.stdev(changes) if len(changes) >= 2 else 0.0
            if sigma > 0:
                buy = exact_cdf(dp / sigma)
            else:
                buy = 1.0 if dp > 0 else 0.0 if dp < 0 else 0.5
            rest = volume[t]
            while rest > 0:
                if rest >= size - cur_vol:  # fills the bucket
                    cur_net += (size - cur_vol) * (2 * buy - 1)
                    rest -= size - cur_vol
                    buckets.append(abs(cur_net))
                    cur_vol = cur_net = 0.0
                else:
                    cur_net += rest * (2 * buy - 1)
                    cur_vol += rest
                    rest = 0.0
            last = buckets[-n_buckets:]
            out[t] = sum(last) / (len(last) * size) if last else 0.0
        return out

    return fn


@pytest.mark.parametrize(("size", "n_buckets", "sigma_window"), [(10.0, 5, 20), (4.0, 30, 2)])
def test_vpin_against_a_loop(size: float, n_buckets: int, sigma_window: int) -> None:
    """Agreement to the Φ approximation's bound: each bucket's |V^B − V^S| is off by at most
    2·V·7.5e-8, so VPIN by at most 1.5e-7."""
    rng = np.random.default_rng(3)
    steps, resets = trade_steps(rng), reset_schedule(rng)
    got = run(VPIN(N_ENVS, size, n_buckets, sigma_window), steps, resets)
    expected = reference(steps, resets, vpin_reference(size, n_buckets, sigma_window))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1.6e-7)
    assert 0.05 < expected[-1].mean() < 0.95
    assert np.all((got >= 0) & (got <= 1))


def test_vpin_by_hand_across_several_buckets() -> None:
    vp = VPIN(2, bucket_volume=10.0, n_buckets=3, sigma_window=10)
    one = np.ones(2)
    # first step: no price change, 4 split half and half
    np.testing.assert_array_equal(vp.update(100 * one, 4 * one), [0.0, 0.0])
    # one price change: σ undefined, tick rule, 35 all buy: fills 3 buckets (6, 10, 10 net)
    # and leaves 9 in the fourth
    np.testing.assert_allclose(vp.update(101 * one, 35 * one), 26 / 30, rtol=1e-15)
    # changes +1, -1: σ = √2, buy fraction Φ(-1/√2); 1 more completes the fourth bucket
    phi = exact_cdf(-1 / math.sqrt(2))
    np.testing.assert_allclose(
        vp.update(100 * one, one), (20 + 9 + (2 * phi - 1)) / 30, rtol=0, atol=2e-7
    )
    # a step of 45 >= 3 buckets replaces env 0's whole window: VPIN = |2Φ(z) − 1| of that
    # step, z = 2/σ with σ the std of the changes +1, −1, +2; env 1, just reset, has no
    # price change: 4 balanced buckets, VPIN 0
    vp.reset(np.array([False, True]))
    z = 2 / statistics.stdev([1.0, -1.0, 2.0])
    got = vp.update(np.array([102.0, 102.0]), 45 * one)
    np.testing.assert_allclose(got, [abs(2 * exact_cdf(z) - 1), 0.0], rtol=0, atol=2e-7)
    assert got[0] > 0.5


# ---------------------------------------------------------------- trades


@pytest.mark.parametrize("measure", ["count", "volume"])
def test_trade_rate_against_pandas(measure: str) -> None:
    rng = np.random.default_rng(4)
    steps, resets = count_steps(rng), reset_schedule(rng)
    window = 25
    got = run(TradeRate(N_ENVS, window, measure), steps, resets)
    col = 0 if measure == "count" else 1

    def fn(n_trades, volume) -> np.ndarray:
        x = (n_trades, volume)[col]
        return pd.Series(x).rolling(window, min_periods=1).mean().to_numpy()

    np.testing.assert_allclose(got, reference(steps, resets, fn), rtol=1e-9, atol=1e-12)


def test_trade_rate_first_step_after_reset_is_that_step() -> None:
    tr = TradeRate(2, 10)
    tr.update(np.array([5.0, 5.0]), np.zeros(2))
    tr.reset(np.array([True, False]))
    np.testing.assert_array_equal(tr.update(np.array([1.0, 1.0]), np.zeros(2)), [1.0, 3.0])


def test_cumulative_delta_against_cumsum() -> None:
    rng = np.random.default_rng(5)
    steps, resets = delta_steps(rng), reset_schedule(rng)
    got = run(CumulativeDelta(N_ENVS), steps, resets)
    expected = reference(steps, resets, lambda b, s: np.cumsum(b - s))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_cumulative_delta_is_compensated() -> None:
    """+1e16, +1, −1e16 repeated: a plain float sum loses every 1."""
    cd = CumulativeDelta(1)
    for x in [1e16, 1.0, -1e16] * 1000:
        got = cd.update(np.array([max(x, 0.0)]), np.array([max(-x, 0.0)]))
    assert got[0] == 1000.0


# ---------------------------------------------------------------- volatility


@pytest.mark.parametrize("window", [2, 30])
def test_realized_volatility_against_pandas(window: int) -> None:
    rng = np.random.default_rng(6)
    steps, resets = mid_steps(rng), reset_schedule(rng)
    got = run(RealizedVolatility(N_ENVS, window), steps, resets)

    def fn(mid) -> np.ndarray:
        r = np.log(pd.Series(mid)).diff()
        return r.rolling(window, min_periods=2).std().fillna(0.0).to_numpy()

    expected = reference(steps, resets, fn)
    # compared as variances (~1e-6 per step): where the true value is 0 (the constant
    # stretch) both sides keep rounding residues of ~1e-22
    np.testing.assert_allclose(got**2, expected**2, rtol=1e-9, atol=1e-15)
    assert np.median(expected[window + 1 :]) > 5e-4


def test_realized_volatility_first_steps() -> None:
    rv = RealizedVolatility(2, 5)
    mids = [100.0, 101.0, 100.0, 102.0]
    got = [rv.update(np.full(2, m)).copy() for m in mids]
    r = np.diff(np.log(mids))
    np.testing.assert_array_equal(got[0], 0.0)
    np.testing.assert_array_equal(got[1], 0.0)  # one return: no sample std yet
    np.testing.assert_allclose(got[2], abs(r[0] - r[1]) / math.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(got[3], np.std(r, ddof=1), rtol=1e-12)


def gk_reference(bar_steps: int, n_bars: int) -> Callable[..., np.ndarray]:
    """Bars of mids [b·B, (b+1)·B] (shared boundary), mean over the last n_bars with pandas."""

    def fn(mid) -> np.ndarray:
        bars = (len(mid) - 1) // bar_steps
        var = np.empty(bars)
        for b in range(bars):
            m = mid[b * bar_steps : (b + 1) * bar_steps + 1]
            var[b] = (
                0.5 * math.log(m.max() / m.min()) ** 2
                - (2 * math.log(2) - 1) * math.log(m[-1] / m[0]) ** 2
            )
        per_bar = np.sqrt(pd.Series(var).rolling(n_bars, min_periods=1).mean().to_numpy())
        out = np.zeros(len(mid))
        for t in range(bar_steps, len(mid)):
            out[t] = per_bar[t // bar_steps - 1]
        return out

    return fn


@pytest.mark.parametrize(("bar_steps", "n_bars"), [(1, 3), (10, 4), (37, 1)])
def test_garman_klass_against_bars(bar_steps: int, n_bars: int) -> None:
    rng = np.random.default_rng(7)
    steps, resets = mid_steps(rng), reset_schedule(rng)
    got = run(GarmanKlassVolatility(N_ENVS, bar_steps, n_bars), steps, resets)
    expected = reference(steps, resets, gk_reference(bar_steps, n_bars))
    np.testing.assert_allclose(got**2, expected**2, rtol=1e-9, atol=1e-15)  # as above
    assert np.median(expected[-100:]) > 1e-4


def test_garman_klass_one_bar_by_hand() -> None:
    gk = GarmanKlassVolatility(1, bar_steps=3, n_bars=2)
    outs = [gk.update(np.array([m]))[0] for m in [100.0, 103.0, 98.0, 101.0]]
    assert outs[:3] == [0.0, 0.0, 0.0]
    var = 0.5 * math.log(103 / 98) ** 2 - (2 * math.log(2) - 1) * math.log(101 / 100) ** 2
    assert outs[3] == pytest.approx(math.sqrt(var), rel=1e-14)


# ---------------------------------------------------------------- isolation between envs

ESTIMATORS: dict[str, tuple[Callable[[], object], Callable[[np.random.Generator], Steps]]] = {
    "ofi": (lambda: OrderFlowImbalance(N_ENVS, 20), book_steps),
    "ofi_normalized": (lambda: OrderFlowImbalance(N_ENVS, 20, normalize=True), book_steps),
    "vpin": (lambda: VPIN(N_ENVS, 10.0, 5, 20), trade_steps),
    "trade_rate": (lambda: TradeRate(N_ENVS, 20, "volume"), count_steps),
    "cumulative_delta": (lambda: CumulativeDelta(N_ENVS), delta_steps),
    "realized_volatility": (lambda: RealizedVolatility(N_ENVS, 20), mid_steps),
    "garman_klass": (lambda: GarmanKlassVolatility(N_ENVS, 5, 4), mid_steps),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_resetting_env_0_leaves_the_others_unchanged(name: str) -> None:
    make, data = ESTIMATORS[name]
    steps = data(np.random.default_rng(8))[:300]
    t0 = 150
    plain = run(make(), steps, {})
    mask = np.zeros(N_ENVS, dtype=bool)
    mask[0] = True
    reset = run(make(), steps, {t0: mask})
    np.testing.assert_array_equal(reset[:, 1:], plain[:, 1:])
    np.testing.assert_array_equal(reset[:t0, 0], plain[:t0, 0])
    assert not np.array_equal(reset[t0:, 0], plain[t0:, 0])

