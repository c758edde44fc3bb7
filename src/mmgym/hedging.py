"""Hedge ratios: each asset's loading β on the leader's (asset 0's) price moves, estimated
from mid paths, and the hedge quantity q_hedge = −Σ_a β_a·q_a.

A portfolio of inventories ``q`` (size units, one per asset) moves with the leader by
Σ_a β_a·q_a per unit of the leader's price; trading q_hedge = −Σ_a β_a·q_a of the leader
flattens that exposure. :func:`hedge_quantity` computes it (the ``hedge`` feature of
:mod:`mmgym.features.portfolio` is it divided by the position limit), and
:func:`estimate_betas` estimates β from mids sampled every ``dt`` seconds: simulated ones
(:func:`simulate_mids`, the multi-asset market played without quoting) or recorded ones
(:func:`recorded_mids`, books rebuilt from event files on a common time grid).

**The estimator** (:func:`estimate_betas`), for each follower ``a``:

1. **Lead–lag** ℓ_a: the shift maximizing the absolute cross-covariance of the leader's and
   the follower's price changes, ℓ̂ = argmax_θ |Σ_t ΔM_0(t)·ΔM_a(t + θ)| over
   |θ| ≤ ``max_lag_seconds`` (the contrast of Hoffmann, Rosenbaum & Yoshida, "Estimation of
   the lead-lag parameter from non-synchronous data", Bernoulli 19(2), 2013, on a regular
   grid), the changes taken over ``lag_window_seconds`` rather than one step. The change of
   one step is mostly zero and the follower's response to a leader move is spread over many
   steps (a book absorbs a value move through its informed flow over seconds), so the
   one-step contrast is flat and its argmax noisy; over a window ``w`` the contrast is the
   one-step contrast smoothed by a triangle of half-width ``w`` and, when the two books
   absorb news alike, it stays symmetric about the lag, so the peak stays in place and is
   found with far fewer samples (on the default ``multi_asset`` market the one-step argmax
   scatters with a standard deviation of 28 steps over groups of 64 episodes, 11 over 256;
   the 5-s window's by 3 and 1.4). A simulated follower's mid lags the leader's by
   ``lag_steps + 1`` (its book acts on the coupled move the step after); the estimate is
   within 2 steps of it on the markets of ``benchmarks/hedging.py``.
2. **β**: the slope of the ordinary least-squares regression (with an intercept) of the
   follower's price change over a horizon ``h`` on the leader's over the same horizon,
   the follower's window shifted by the lag,

       M_a(t + ℓ + h) − M_a(t + ℓ) = α + β_a·(M_0(t + h) − M_0(t)) + ε(t),

   on the overlapping windows starting at every step: the market-model beta of the hedging
   literature (the minimum-variance hedge ratio of Ederington, "The hedging performance of
   the new futures markets", Journal of Finance 34(1), 1979) on horizon-``h`` returns,
   aligned by the lead–lag. The overlapping-window regression is the ratio of Bartlett
   long-run covariances of the one-step changes (Newey & West, Econometrica 55(3), 1987), so
   a long horizon estimates the long-run loading whatever the short-run dynamics.
3. **Standard error**: heteroskedasticity- and autocorrelation-consistent (Newey & West
   1987, Bartlett kernel) on the regression's scores x̃(t)·ε̂(t), their autocovariances
   summed within each episode up to ``2h`` steps (overlapping windows make the scores an
   MA(h − 1) before the prices' own persistence; Hansen & Hodrick, Journal of Political
   Economy 88(5), 1980). Episodes are independent. The lag is taken as known (its own
   uncertainty is not in the error). On the default ``multi_asset`` market, over 16 groups
   of 64 episodes, the spread of β̂ (0.100) matches the mean standard error (0.105).

**Why a long horizon** (errors in variables): a mid is not the asset's value. It moves by
spread changes and uninformed flow, and takes in a value move over seconds to minutes (the
default ``wide`` leg: 65 % of a 40-s value move within the 40 s). The leader's measured change
is the regressor measured with error, which attenuates an OLS slope toward 0 by the error's
share of the regressor's variance (Fuller, *Measurement Error Models*, 1987, §1.1). The gap
between mid and value is stationary, so over a horizon ``h`` the error's variance stays
bounded while the value's grows like ``h``: β_h = β·(1 − c/h) + o(1/h), ``c`` of the order of
the book's price-discovery time. On the default ``multi_asset`` market (β 1, lag 100 steps;
1,024 episodes of 300 s, ``benchmarks/hedging.py``) the lag-aligned slope is 0.007 over one
step (0.1 s), 0.07 over 1 s, 0.37 over 5 s, 0.58 over 10 s, 0.76 over 20 s, 0.87 over 40 s,
0.93 over 80 s, 0.95 over 120 s, 0.98 ± 0.03 over 200 s and 1.00 ± 0.03 over 280 s: ``c`` ≈ 5 s
from 10 to 80 s, about 2.5 % left at 200 s. Hence the default horizon of 200 s (on the
benchmark's four markets the slope on the mids there is 1–3 % nearer 0 than the slope on the
latent values of the same episodes, less than a thousand episodes' standard error, about
0.03) and :attr:`HedgeRatios.beta_half`, the slope at ``h/2``: under the 1/h law, β − β_half
estimates the attenuation left in β, and a large gap says the horizon is too short for the
market.

**Covariance** (:attr:`HedgeRatios.covariance`): of the assets' simultaneous mid changes over
``h``, divided by ``h·dt`` (price units² per second), the risk of inventories held over ``h``
(the ``covariance`` of :class:`mmgym.rewards.portfolio.PortfolioInventoryPenalty`); its
correlation matrix is :attr:`HedgeRatios.correlation`. Over horizons much longer than the
lags, cov[a, 0]/cov[0, 0] approaches β_a.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
from scipy import fft

from mmgym.data.book import rebuild_book
from mmgym.data.store import read_events
from mmgym.features.portfolio import hedge_quantity
from mmgym.validation import ConfigError, check_bool, check_number
from mmgym.vector import MarketMakingVectorEnv

__all__ = ["HedgeRatios", "MidPaths", "estimate_betas", "hedge_quantity", "recorded_mids",
           "simulate_mids"]

MIN_WINDOWS = 10
"""The fewest independent horizon windows (samples × steps / horizon) an estimate needs."""
DEFAULT_HORIZON_SECONDS = 200.0
"""The default regression horizon, s (the module doc's "Why a long horizon": the slope's
attenuation on the ``multi_asset`` markets of ``benchmarks/hedging.py`` is 1–3 % there)."""


@dataclass(frozen=True, eq=False)
class MidPaths:
    """Mid prices of ``N`` assets on a common grid of ``dt_seconds``.

    Attributes:
        mids: ``(episodes, samples, N)`` mid prices, price units (asset 0 the leader).
        dt_seconds: the grid's step, s.
        names: the assets' names (symbols of recordings, ``asset a`` in a simulation).
        values: the simulated markets' latent values (the fundamentals of book markets) at
            the same times, price units, if asked for (:func:`simulate_mids`), else None: what
            the mids would show without the books' noise and delay.
    """

    mids: np.ndarray
    dt_seconds: float
    names: tuple[str, ...]
    values: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class HedgeRatios:
    """The estimate of :func:`estimate_betas` (see the module doc); arrays of ``N`` entries,
    one per asset, the leader's first (β 1, standard error 0, lag 0).

    Attributes:
        beta: β_a, the loading on the leader's price moves, price units of ``a`` per price
            unit of the leader.
        beta_se: β's standard error (HAC).
        beta_half: the same slope at half the horizon (the attenuation check).
        lag_steps: ℓ_a, steps the follower's moves come after the leader's (negative: before).
        lag_seconds: ℓ_a in seconds.
        correlation: ``(N, N)`` correlation of simultaneous mid changes over the horizon.
        covariance: ``(N, N)`` covariance of simultaneous mid changes over the horizon, per
            second, price units² / s.
        dt_seconds: the mids' sampling step, s.
        horizon_steps: the regression horizon ``h``, steps.
        windows: the number of independent horizon windows (samples of all episodes / h).
    """

    beta: np.ndarray
    beta_se: np.ndarray
    beta_half: np.ndarray
    lag_steps: np.ndarray
    lag_seconds: np.ndarray
    correlation: np.ndarray
    covariance: np.ndarray
    dt_seconds: float
    horizon_steps: int
    windows: float

    @property
    def horizon_seconds(self) -> float:
        """The regression horizon, s."""
        return self.horizon_steps * self.dt_seconds

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The two-sided normal confidence interval of β at ``level``: ``(low, high)``."""
        level = check_number("level", level, low=0, high=1, low_open=True, high_open=True)
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return self.beta - z * self.beta_se, self.beta + z * self.beta_se


def estimate_betas(
    mids: np.ndarray,
    dt_seconds: float,
    *,
    horizon_seconds: float = DEFAULT_HORIZON_SECONDS,
    max_lag_seconds: float = 30.0,
    lag_window_seconds: float = 5.0,
    lag_steps: Sequence[int] | None = None,
) -> HedgeRatios:
    """Estimate each asset's loading on the leader (asset 0) from mid paths (module doc).

    Args:
        mids: mid prices, price units: ``(samples, N)`` (one series) or
            ``(episodes, samples, N)`` (independent episodes on the same grid), ``N ≥ 2``.
        dt_seconds: the sampling step, s.
        horizon_seconds: the regression horizon ``h``, s (at least one step; at least
            :data:`MIN_WINDOWS` independent windows must fit in the data).
        max_lag_seconds: the largest lead–lag searched, either way, s.
        lag_window_seconds: the span of the price changes whose cross-covariance locates the
            lag, s (at least one step).
        lag_steps: the followers' lags (``N − 1`` numbers, steps) when known; None: estimated.

    Returns:
        The :class:`HedgeRatios`.
    """
    dt = check_number("dt_seconds", dt_seconds, low=0, low_open=True)
    m = _check_mids(mids)
    E, T, N = m.shape
    steps = T - 1
    if lag_steps is None:
        max_lag = _steps("max_lag_seconds", max_lag_seconds, dt, low=0)
        window = _steps("lag_window_seconds", lag_window_seconds, dt, low=1)
        if max_lag + window > steps:
            raise ConfigError(
                f"max_lag_seconds={max_lag_seconds!r}, lag_window_seconds={lag_window_seconds!r}:"
                f" {max_lag} + {window} steps exceed the mids' {steps} steps per series; "
                f"allowed max_lag_seconds + lag_window_seconds ≤ {steps * dt:g} s")
        lags = np.concatenate([[0], _lead_lags(m, window, max_lag)])
        for a in np.flatnonzero((np.abs(lags) == max_lag) & (lags != 0)):
            warnings.warn(f"asset {a}: the lead–lag estimate is at the search bound "
                          f"max_lag_seconds={max_lag_seconds!r}; the lag may be longer",
                          stacklevel=2)
    else:
        given = np.atleast_1d(lag_steps).tolist()
        if len(given) != N - 1:
            raise ConfigError(f"lag_steps={given!r}: {len(given)} entries for {N - 1} followers"
                              " (assets − 1)")
        lags = np.array([0] + [check_number(f"lag_steps[{i}]", x, low=-(steps - 1),
                                            high=steps - 1, integer=True)
                               for i, x in enumerate(given)])
    longest = int(np.abs(lags).max())
    h_max = min((steps - longest) * E // MIN_WINDOWS, steps - longest)
    h = round(check_number("horizon_seconds", horizon_seconds, low=0, low_open=True) / dt)
    if not 1 <= h <= h_max:
        raise ConfigError(
            f"horizon_seconds={horizon_seconds!r}: {h} steps of {dt:g} s; the mids ({E} "
            f"series of {steps} steps, lags up to {longest}) fit {MIN_WINDOWS} independent "
            f"windows of at most {h_max} steps: allowed [{dt:g}, {h_max * dt:g}] s, or give "
            "more data")
    beta, se, half = np.ones(N), np.zeros(N), np.ones(N)
    for a in range(1, N):
        beta[a], se[a] = _slope(m[..., 0], m[..., a], h, int(lags[a]), with_se=True)
        half[a], _ = _slope(m[..., 0], m[..., a], max(h // 2, 1), int(lags[a]), with_se=False)
    changes = (m[:, h:] - m[:, :-h]).reshape(-1, N)
    cov = np.atleast_2d(np.cov(changes, rowvar=False)) / (h * dt)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), 0.0)
    np.fill_diagonal(corr, 1.0)
    return HedgeRatios(beta=beta, beta_se=se, beta_half=half, lag_steps=lags.astype(np.int64),
                       lag_seconds=lags * dt, correlation=corr, covariance=cov,
                       dt_seconds=dt, horizon_steps=h, windows=E * (steps - longest) / h)


def _steps(name: str, seconds: float, dt: float, low: int) -> int:
    """``seconds`` checked (≥ ``low`` steps of ``dt``) and in whole steps."""
    check_number(name, seconds, low=low * dt)
    return round(seconds / dt)


def _check_mids(mids: np.ndarray) -> np.ndarray:
    """``mids`` as a float array ``(episodes, samples, N)``, checked: shape, finite, N ≥ 2,
    a leader that moves."""
    m = np.asarray(mids, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[2] < 2 or m.shape[1] < 3:
        raise ConfigError(f"mids: shape {np.shape(mids)}; expected (samples, N) or (episodes, "
                          "samples, N) with N ≥ 2 assets (asset 0 the leader) and samples ≥ 3")
    bad = np.argwhere(~np.isfinite(m))
    if len(bad):
        e, t, a = bad[0]
        raise ConfigError(f"mids[{e}, {t}, {a}] = {m[e, t, a]}: expected finite prices "
                          f"({len(bad)} are not; episode {e}, sample {t}, asset {a} first)")
    if np.all(m[:, :, 0] == m[:, :1, 0]):
        raise ConfigError("mids[..., 0]: the leader's mid never moves; nothing to regress on")
    return m


def _lead_lags(m: np.ndarray, window: int, max_lag: int) -> np.ndarray:
    """Each follower's lag (steps): argmax over |θ| ≤ ``max_lag`` of the absolute mean
    product of the leader's and the follower's ``window``-step changes, the follower's
    ``θ`` steps later (computed for all θ at once with FFTs, summed over episodes)."""
    d = m[:, window:] - m[:, :-window]
    d = d - d.mean(axis=(0, 1))
    E, n, N = d.shape
    size = fft.next_fast_len(n + max_lag)
    lead = np.conj(fft.rfft(d[..., 0], size, axis=1))
    theta = np.arange(-max_lag, max_lag + 1)
    pairs = E * (n - np.abs(theta))
    lags = np.zeros(N - 1, dtype=np.int64)
    for a in range(1, N):
        # c[k] = Σ_e Σ_t x_e(t)·y_e(t + k), k < 0 wrapping to the end
        c = fft.irfft((lead * fft.rfft(d[..., a], size, axis=1)).sum(axis=0), size)
        contrast = np.abs(c[theta % size]) / pairs
        lags[a - 1] = theta[np.argmax(contrast)]
    return lags


def _slope(leader: np.ndarray, follower: np.ndarray, h: int, lag: int,
           with_se: bool) -> tuple[float, float]:
    """OLS slope (with an intercept) of the follower's ``h``-step changes on the leader's,
    the follower's windows ``lag`` steps later, over all windows inside each episode; and its
    HAC standard error (Bartlett kernel, bandwidth ``2h``, within episodes) if ``with_se``
    (else NaN)."""
    T = leader.shape[1]
    start, stop = max(0, -lag), T - h - max(0, lag)  # window starts t: [start, stop)
    x = leader[:, start + h:stop + h] - leader[:, start:stop]
    y = follower[:, start + lag + h:stop + lag + h] - follower[:, start + lag:stop + lag]
    design = np.column_stack([np.ones(x.size), x.ravel()])
    (alpha, beta), *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    if not with_se:
        return float(beta), math.nan
    xc = x - x.mean()
    scores = xc * (y - alpha - beta * x)
    return float(beta), math.sqrt(_long_run_sum(scores, 2 * h)) / float((xc * xc).sum())


def _long_run_sum(s: np.ndarray, bandwidth: int) -> float:
    """Σ_episodes Σ_|k|<B (1 − |k|/B)·Σ_t s(t)·s(t + k): the Newey–West (Bartlett) long-run
    variance of the sum of the scores ``s`` (``(episodes, windows)``), bandwidth ``B``."""
    n = s.shape[1]
    K = min(bandwidth, n)  # lags 0..K−1: beyond the episode's windows there are none
    size = fft.next_fast_len(n + K)
    spectrum = fft.rfft(s, size, axis=1)
    auto = fft.irfft((spectrum * np.conj(spectrum)).real.sum(axis=0), size)[:K]
    weights = 1.0 - np.arange(K) / bandwidth
    return float(auto[0] + 2.0 * (weights[1:] * auto[1:]).sum())


def simulate_mids(n_episodes: int, seed: int = 0, market: str = "multi_asset",
                  latent: bool = False, **env_kwargs: object) -> MidPaths:
    """Play ``n_episodes`` episodes of ``market`` without quoting (both sides withdrawn every
    step, so the market runs undisturbed) and collect the mids.

    Args:
        n_episodes: episodes, one environment each (environment ``i`` seeded ``seed + i``).
        seed: the first episode's seed.
        market: the market's name (a multi-asset one to estimate loadings from).
        latent: collect the assets' latent values too (:attr:`MidPaths.values`).
        env_kwargs: the environment's arguments (:class:`mmgym.vector.MarketMakingVectorEnv`):
            the market's parameters (``beta``, ``lag_steps``, ``assets``, ...).

    Returns:
        The :class:`MidPaths`: ``(n_episodes, steps + 1, N)``, from the first observation to
        the last, every ``dt`` of the market.
    """
    n = check_number("n_episodes", n_episodes, low=1, integer=True)
    latent = check_bool("latent", latent)
    env = MarketMakingVectorEnv(n, market=market, **env_kwargs)
    legs = env.core.legs
    N, steps = env.core.assets, env.core.market.horizon_steps
    if latent and not all(hasattr(m, "value") for m in legs):
        raise ConfigError(f"latent=True: market {market!r} has no latent value (value())")
    mids = np.empty((n, steps + 1, N))
    values = np.empty((n, steps + 1, N)) if latent else None
    _, info = env.reset(seed=seed)
    withdraw = np.full((n, 2 * N), np.inf)
    for k in range(steps + 1):
        if k:
            _, _, terminated, truncated, info = env.step(withdraw)
        mids[:, k] = info["mid"].reshape(n, N)
        if values is not None:
            values[:, k] = np.stack([m.value() for m in legs], axis=-1)
    if not (terminated | truncated).all():
        raise RuntimeError(f"market {market!r}: episodes did not end after {steps} steps")
    env.close()
    return MidPaths(mids, float(env.core.market.dt), tuple(f"asset {a}" for a in range(N)),
                    values)


def recorded_mids(paths: Sequence[str | Path], dt_seconds: float) -> MidPaths:
    """Mid prices of recorded books on a common grid.

    Each event file (:mod:`mmgym.data.schema`, written by ``mmgym-import``) is rebuilt
    (:func:`mmgym.data.book.rebuild_book`); an asset's mid at grid time ``t`` is that of its
    last two-sided book at or before ``t``. The grid runs every ``dt_seconds`` from the first
    time every recording has a two-sided book to the last time all are still recording.
    The recordings' clocks must agree (``ts_ns``, ns since the epoch): aligned recordings of
    the same period.

    Args:
        paths: the event files, the leader's first.
        dt_seconds: the grid's step, s.

    Returns:
        The :class:`MidPaths`, one series: ``(1, samples, N)``, names the files' symbols.
    """
    dt = check_number("dt_seconds", dt_seconds, low=0, low_open=True)
    if len(paths) < 2:
        raise ConfigError(f"paths: {len(paths)} file(s); give the leader's and at least one "
                          "follower's recording")
    times, mids, names, spans = [], [], [], []
    for path in paths:
        events, metadata = read_events(path)
        book = rebuild_book(events)
        mid = (book.bid_price + book.ask_price) / 2
        two_sided = np.isfinite(mid)
        if not two_sided.any():
            raise ConfigError(f"paths: {path} never has a two-sided book")
        times.append(book.ts_ns[two_sided])
        mids.append(mid[two_sided])
        names.append(metadata.get("mmgym.symbol", Path(path).stem))
        ts = events["ts_ns"].to_numpy()
        spans.append((int(book.ts_ns[two_sided][0]), int(ts[-1])))
    start = max(s for s, _ in spans)
    stop = min(s for _, s in spans)
    step_ns = round(dt * 1e9)
    if stop - start < 2 * step_ns:
        raise ConfigError(f"paths: the recordings overlap (with two-sided books) for "
                          f"{max(stop - start, 0) / 1e9:g} s, less than two steps of "
                          f"dt_seconds={dt_seconds!r}; they must cover a common period")
    grid = np.arange(start, stop + 1, step_ns, dtype=np.int64)
    out = np.column_stack([m[np.searchsorted(t, grid, side="right") - 1]
                           for t, m in zip(times, mids, strict=True)])
    return MidPaths(out[None], dt, tuple(names))
