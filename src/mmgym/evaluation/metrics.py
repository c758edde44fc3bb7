"""Metrics of a policy over episodes, with bootstrap confidence intervals and paired
differences to a reference policy.

Each metric is a statistic of one per-episode column (:data:`mmgym.evaluation.rollout.
EPISODE_COLUMNS`) over the episodes. Its confidence interval is scipy's bootstrap (BCa by
default: Efron & Tibshirani 1993, ch. 14) resampling episodes. The paired difference to the
reference is the metric of the policy minus the metric of the reference on the same episodes
(common random numbers); its interval resamples the episodes jointly (``paired=True``), which
is what makes small differences between policies visible through the common market noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import DegenerateDataWarning, bootstrap

Statistic = Callable[[np.ndarray, int], np.ndarray]


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def std(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sample standard deviation (ddof = 1)."""
    return np.std(x, axis=axis, ddof=1)


def median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def sharpe(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over standard deviation (ddof = 1) of the episodes' PnL: a per-episode Sharpe
    ratio with a zero benchmark, not annualised."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(x, axis=axis) / np.std(x, axis=axis, ddof=1)


def sortino(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over downside deviation √E[min(x, 0)²] of the episodes' PnL (Sortino & Price
    1994, target return 0)."""
    downside = np.sqrt(np.mean(np.minimum(x, 0.0) ** 2, axis=axis))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(x, axis=axis) / downside


def max_drawdown(pnl: np.ndarray) -> np.ndarray:
    """The largest fall from a running peak of each path (last axis = time), the peak
    starting at 0 (the PnL at the episode start)."""
    peak = np.maximum.accumulate(np.maximum(pnl, 0.0), axis=-1)
    return np.max(peak - pnl, axis=-1)


def mean_variance(gamma: float) -> Statistic:
    """E[PnL] − (γ/2)·Var[PnL] (ddof = 1), the mean–variance objective of risk aversion γ
    (1 / price unit)."""

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - gamma / 2 * np.var(x, axis=axis, ddof=1)

    return statistic


@dataclass(frozen=True)
class Metric:
    """``statistic`` of the per-episode ``column`` over the episodes."""

    name: str
    column: str
    statistic: Statistic
    description: str


def metrics(risk_aversion: float) -> tuple[Metric, ...]:
    """The evaluation's metrics, in table order; the mean–variance one with γ =
    ``risk_aversion``."""
    return (
        Metric("mean_pnl", "pnl", mean, "mean final PnL"),
        Metric("std_pnl", "pnl", std, "standard deviation of final PnL"),
        Metric("median_pnl", "pnl", median, "median final PnL"),
        Metric("sharpe", "pnl", sharpe, "mean / std of episode PnL"),
        Metric("sortino", "pnl", sortino, "mean / downside deviation of episode PnL"),
        Metric("mean_variance", "pnl", mean_variance(risk_aversion),
               f"E[PnL] − (γ/2)·Var[PnL], γ = {risk_aversion:g}"),
        Metric("max_drawdown", "max_drawdown", mean, "mean max drawdown of the PnL path"),
        Metric("mean_abs_inventory", "mean_abs_inventory", mean, "mean |inventory| over time"),
        Metric("mean_final_inventory", "final_inventory", mean, "mean final inventory"),
        Metric("std_final_inventory", "final_inventory", std, "std of final inventory"),
        Metric("spread", "spread", mean, "average quoted spread"),
        Metric("fills", "fills", mean, "fills per episode"),
        Metric("spread_captured", "spread_captured", mean, "spread captured per episode"),
        Metric("adverse_selection", "adverse_selection", mean,
               "adverse-selection cost per episode (spread captured − markout)"),
        Metric("fees", "fees", mean, "fees per episode"),
        Metric("reward", "reward", mean, "sum of rewards per episode"),
    )


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are computed: ``confidence`` level, ``resamples``, scipy's ``method``
    (``BCa``, ``percentile`` or ``basic``) and the resampling ``seed``."""

    confidence: float = 0.95
    resamples: int = 2000
    method: str = "BCa"
    seed: int = 0

    def estimate(self, statistic: Statistic, *samples: np.ndarray) -> tuple[float, float, float]:
        """``statistic(samples[0])`` (one sample) or the paired difference
        ``statistic(samples[0]) − statistic(samples[1])`` (two), with its interval: (point,
        low, high). Degenerate data (all values equal, or a policy compared with itself) give
        the point as its own interval; fewer than two episodes give NaN."""
        if len(samples[0]) < 2:
            return np.nan, np.nan, np.nan
        if len(samples) == 2 and np.array_equal(*samples):
            return 0.0, 0.0, 0.0
        if len(samples) == 2:

            def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
                return statistic(x, axis) - statistic(y, axis)
        else:
            stat = statistic
        with np.errstate(divide="ignore", invalid="ignore"):
            point = float(stat(*samples, axis=-1))
        if all(np.ptp(s) == 0 for s in samples):
            return point, point, point
        for method in dict.fromkeys((self.method, "percentile")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateDataWarning)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ci = bootstrap(samples, stat, n_resamples=self.resamples, vectorized=True,
                                   paired=len(samples) == 2, confidence_level=self.confidence,
                                   method=method, rng=np.random.default_rng(self.seed),
                                   ).confidence_interval
            if np.isfinite(ci.low) and np.isfinite(ci.high):
                break
        return point, float(ci.low), float(ci.high)


SUMMARY_COLUMNS = ("value", "low", "high", "diff", "diff_low", "diff_high")
"""Columns of :func:`summarize`: the metric and its interval; its paired difference to the
reference and that interval."""


def summarize(
    episodes: dict[str, pd.DataFrame],
    reference: str,
    metric_list: tuple[Metric, ...],
    boot: Bootstrap,
) -> pd.DataFrame:
    """The metrics of each policy with their intervals and paired differences.

    Args:
        episodes: per-episode results of each policy on the same seeds (same index).
        reference: the policy the differences are taken to.
        metric_list: the metrics, see :func:`metrics`.
        boot: the interval settings.

    Returns:
        A table indexed by (policy, metric), columns :data:`SUMMARY_COLUMNS`.
    """
    ref = episodes[reference]
    rows = {}
    for policy, table in episodes.items():
        if not table.index.equals(ref.index):
            raise ValueError(f"policy {policy!r} was played on other episodes than {reference!r}")
        for m in metric_list:
            x, y = table[m.column].to_numpy(float), ref[m.column].to_numpy(float)
            both = ~(np.isnan(x) | np.isnan(y))
            rows[(policy, m.name)] = (
                boot.estimate(m.statistic, x[~np.isnan(x)])
                + boot.estimate(m.statistic, x[both], y[both])
            )
    index = pd.MultiIndex.from_tuples(rows, names=["policy", "metric"])
    return pd.DataFrame(list(rows.values()), index=index, columns=list(SUMMARY_COLUMNS))
