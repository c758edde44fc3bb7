"""Metrics of a policy over episodes, with bootstrap confidence intervals and paired
differences to a reference policy.

Each metric is a statistic of one per-episode column (:data:`mmgym.evaluation.rollout.
EPISODE_COLUMNS`) over the episodes. Its confidence interval is scipy's bootstrap (BCa by
default: Efron & Tibshirani 1993, ch. 14) resampling episodes. The paired difference to the
reference is the metric of the policy minus the metric of the reference on the same episodes
(common random numbers); its interval resamples the episodes jointly (``paired=True``), which
is what makes small differences between policies visible through the common market noise.

Every metric says how it is read (:class:`Metric`: ``better``), and a paired difference gets
a verdict only where a side is better (:func:`verdict`):

| metric | better | why |
|---|---|---|
| ``mean_pnl``, ``median_pnl`` | higher | profit, the business's purpose (the median: the typical episode) |
| ``mean_variance`` | higher | a utility, E − (γ/2)·Var: higher is better at any sign |
| ``spread_captured`` | higher | the quotes' edge earned on the fills (read with ``adverse_selection``) |
| ``reward`` | higher | the objective the agents maximise |
| ``sharpe``, ``sortino`` | higher, only where both policies earn | a mean per unit of risk is a ranking only for a positive mean: with a mean ≤ 0, a larger dispersion makes the ratio less negative |
| ``std_pnl``, ``max_drawdown`` | lower | risk of the PnL (other things equal; read with ``mean_pnl``) |
| ``mean_abs_inventory``, ``std_final_inventory`` | lower | inventory risk, held and left at the end |
| ``adverse_selection``, ``fees`` | lower | costs |
| ``mean_final_inventory``, ``spread``, ``fills`` | none (descriptive) | a bias, a choice of quotes, activity: none is good or bad in itself |

"Both earn" means that both policies' mean PnL intervals lie above 0 (the same intervals the
table shows), not only their point estimates: the direction in which a Sharpe ratio ranks
depends on the sign of the mean, so a verdict needs that sign at the confidence of the verdict
itself; a policy whose mean PnL could be 0 or less gets no Sharpe or Sortino verdict.

On a multi-asset market the metrics above are the portfolio's (their columns defined in
:data:`mmgym.evaluation.episodes.PORTFOLIO`: the PnL summed over the assets, the drawdown of
the summed path, the gross mean |inventory|, ...), and each asset ``a`` adds the metrics of
:data:`ASSET_METRICS` on its own columns, named ``{metric}_{a}`` (``mean_pnl_0``), read the
same way.
"""  # noqa: E501

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import DegenerateDataWarning, bootstrap

from mmgym.evaluation.episodes import PORTFOLIO, asset_column

Statistic = Callable[[np.ndarray, int], np.ndarray]


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over ``axis``."""
    return np.mean(x, axis=axis)


def std(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sample standard deviation (ddof = 1)."""
    return np.std(x, axis=axis, ddof=1)


def median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median over ``axis``."""
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


def mean_variance(gamma: float) -> Statistic:
    """E[PnL] − (γ/2)·Var[PnL] (ddof = 1), the mean–variance objective of risk aversion γ
    (1 / price unit)."""

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - gamma / 2 * np.var(x, axis=axis, ddof=1)

    return statistic


Better = Literal["higher", "lower"] | None
"""Which side of a metric is better: ``"higher"``, ``"lower"``, or None (descriptive)."""

VERDICTS = ("better", "worse", "differs", "inconclusive", "unranked")
"""The verdicts of a paired difference (:func:`verdict`)."""


@dataclass(frozen=True)
class Metric:
    """``statistic`` of the per-episode ``column`` over the episodes, and how to read it.

    Attributes:
        name: the metric's name in the tables.
        column: the per-episode column it is computed from
            (:data:`mmgym.evaluation.rollout.EPISODE_COLUMNS`, with its unit).
        statistic: the statistic over episodes, vectorized (``statistic(x, axis)``).
        description: what it is, with its unit.
        better: which side is better (None: descriptive, no side is).
        why: the reason for ``better``.
        if_earning: a ratio to risk: its direction holds only where both policies compared
            earn (mean PnL interval above 0), see :func:`verdict`.
    """

    name: str
    column: str
    statistic: Statistic
    description: str
    better: Better
    why: str
    if_earning: bool = False

    @property
    def reading(self) -> str:
        """How to read the metric, in a few words (the tables' column ``reading``)."""
        if self.better is None:
            return "descriptive"
        return f"{self.better} is better" + (" if both earn" if self.if_earning else "")


ASSET_METRICS = ("mean_pnl", "std_pnl", "max_drawdown", "mean_abs_inventory",
                 "mean_final_inventory", "std_final_inventory", "spread", "fills",
                 "spread_captured", "adverse_selection", "fees")
"""The metrics each asset of a multi-asset market has of its own (``{metric}_{a}``): the
portfolio's but the reward (the portfolio's only) and the ratios and quantiles of PnL (its
median, Sharpe, Sortino and mean–variance, which rank the whole book)."""


def metrics(risk_aversion: float, assets: int = 1) -> tuple[Metric, ...]:
    """The evaluation's metrics, in table order; the mean–variance one with γ =
    ``risk_aversion`` (1 / price unit). Money in the market's price unit, inventory in its
    size unit, per episode. With several ``assets`` the portfolio's (described as such), then
    each asset's :data:`ASSET_METRICS` in turn (module doc)."""
    table = _metrics(risk_aversion)
    if assets == 1:
        return table
    portfolio = tuple(replace(m, description=f"{m.description}; portfolio: {PORTFOLIO[m.column]}")
                      for m in table)
    by_name = {m.name: m for m in table}
    return portfolio + tuple(
        replace(by_name[name], name=asset_column(name, a),
                column=asset_column(by_name[name].column, a),
                description=f"asset {a}: {by_name[name].description}")
        for a in range(assets) for name in ASSET_METRICS)


def _metrics(risk_aversion: float) -> tuple[Metric, ...]:
    """The metrics of one asset (:func:`metrics`)."""
    risk = "risk: lower is better at the same mean PnL (never quoting has none)"
    ratio = ("a mean per unit of risk ranks policies only where both earn: with a mean ≤ 0, "
             "a larger dispersion makes the ratio less negative")
    return (
        Metric("mean_pnl", "pnl", mean, "mean final PnL, price units", "higher",
               "profit, the purpose of the business"),
        Metric("std_pnl", "pnl", std, "standard deviation of final PnL, price units",
               "lower", risk),
        Metric("median_pnl", "pnl", median, "median final PnL, price units", "higher",
               "the typical episode's profit"),
        Metric("sharpe", "pnl", sharpe, "mean / std of episode PnL (no unit)", "higher",
               ratio, if_earning=True),
        Metric("sortino", "pnl", sortino,
               "mean / downside deviation of episode PnL (no unit)", "higher", ratio,
               if_earning=True),
        Metric("mean_variance", "pnl", mean_variance(risk_aversion),
               f"E[PnL] − (γ/2)·Var[PnL], γ = {risk_aversion:g}, price units", "higher",
               "a utility: higher is better at any sign"),
        Metric("max_drawdown", "max_drawdown", mean,
               "mean max drawdown of the PnL path, price units", "lower", risk),
        Metric("mean_abs_inventory", "mean_abs_inventory", mean,
               "mean |inventory| over time, size units", "lower",
               "inventory held is price risk carried"),
        Metric("mean_final_inventory", "final_inventory", mean,
               "mean final inventory, size units", None,
               "signed: a long or short bias is neither good nor bad in itself; "
               "std_final_inventory is the risk"),
        Metric("std_final_inventory", "final_inventory", std,
               "std of final inventory, size units", "lower",
               "inventory left at the end, the risk Avellaneda & Stoikov measure"),
        Metric("spread", "spread", mean, "average quoted spread, price units", None,
               "a choice of the quotes (wider: fewer fills, more edge each), not an outcome"),
        Metric("fills", "fills", mean, "fills per episode", None,
               "activity, not profit: more fills can mean more adverse selection"),
        Metric("spread_captured", "spread_captured", mean,
               "spread captured per episode, price units", "higher",
               "the quotes' edge earned on the fills (read with adverse_selection)"),
        Metric("adverse_selection", "adverse_selection", mean,
               "adverse-selection cost per episode (spread captured − markout), price units",
               "lower", "a cost: the mid's moves against the fills"),
        Metric("fees", "fees", mean, "fees per episode, price units (negative: rebates)",
               "lower", "a cost"),
        Metric("reward", "reward", mean, "sum of rewards per episode", "higher",
               "the objective the agents maximise"),
    )


def verdict(metric: Metric, low: float, high: float, earning: bool = True) -> str:
    """The verdict on a paired difference (policy − reference) of ``metric`` with interval
    [``low``, ``high``], one of :data:`VERDICTS`:

    * ``unranked``: a ratio to risk (``metric.if_earning``) where not both policies earn
      (``earning`` False): no verdict, whatever the interval;
    * ``inconclusive``: the interval holds 0 (or is NaN);
    * ``differs``: it excludes 0 on a descriptive metric (``better`` None);
    * ``better`` / ``worse``: it excludes 0 on the metric's better / worse side.
    """
    if metric.if_earning and not earning:
        return "unranked"
    if not (low > 0 or high < 0):
        return "inconclusive"
    if metric.better is None:
        return "differs"
    return "better" if (low > 0) == (metric.better == "higher") else "worse"


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


def earns(pnl: np.ndarray, boot: Bootstrap) -> bool:
    """Whether a policy earns on episodes of final PnL ``pnl`` (price units): its mean PnL's
    interval lies above 0, what a ratio to risk needs to rank it (:func:`verdict`)."""
    return bool(boot.estimate(mean, np.asarray(pnl, dtype=float))[1] > 0)


SUMMARY_COLUMNS = ("value", "low", "high", "diff", "diff_low", "diff_high", "verdict")
"""Columns of :func:`summarize`: the metric and its interval; its paired difference to the
reference, that interval, and its :func:`verdict`."""


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
        A table indexed by (policy, metric), columns :data:`SUMMARY_COLUMNS`. A policy earns
        where its mean PnL interval lies above 0 (for the verdicts of ratios to risk).
    """
    ref = episodes[reference]
    for policy, table in episodes.items():
        if not table.index.equals(ref.index):
            raise ValueError(f"policy {policy!r} was played on other episodes than {reference!r}")
    earning = {}
    if any(m.if_earning for m in metric_list):
        earning = {p: earns(t["pnl"].to_numpy(float), boot) for p, t in episodes.items()}
    rows = {}
    for policy, table in episodes.items():
        for m in metric_list:
            x, y = table[m.column].to_numpy(float), ref[m.column].to_numpy(float)
            both = ~(np.isnan(x) | np.isnan(y))
            diff = boot.estimate(m.statistic, x[both], y[both])
            both_earn = bool(earning.get(policy) and earning.get(reference))
            rows[(policy, m.name)] = (
                boot.estimate(m.statistic, x[~np.isnan(x)]) + diff
                + (verdict(m, diff[1], diff[2], both_earn),)
            )
    index = pd.MultiIndex.from_tuples(rows, names=["policy", "metric"])
    return pd.DataFrame(list(rows.values()), index=index, columns=list(SUMMARY_COLUMNS))
