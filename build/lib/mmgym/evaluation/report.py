"""The evaluation's tables: printed, Markdown and CSV, and Avellaneda–Stoikov's layout.

The summary (:func:`mmgym.evaluation.metrics.summarize`) is shown as two tables with the
metrics as rows and the policies as columns, each with a column ``reading`` that says how
the metric is read (:attr:`mmgym.evaluation.metrics.Metric.reading`): each metric with its
confidence interval; and its paired difference to the reference policy with that interval
and its verdict (:func:`mmgym.evaluation.metrics.verdict`), marked after the interval:

| mark | verdict |
|---|---|
| ``better`` / ``worse`` | the interval excludes 0 on the metric's better / worse side |
| ``*`` | the interval excludes 0 on a descriptive metric (a difference, no verdict) |
| ``n/a`` | a ratio to risk (Sharpe, Sortino) where not both policies earn: no verdict (footnote †) |
| (none) | the interval holds 0 |

A legend under the second table's title and the footnote say so in the table itself.
"""  # noqa: E501

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from mmgym.evaluation.metrics import Metric

PAPER_COLUMNS: dict[str, str] = {
    "spread": "Average spread",
    "mean_pnl": "Profit",
    "std_pnl": "Std(Profit)",
    "mean_final_inventory": "Final q",
    "std_final_inventory": "Std(Final q)",
}
"""Avellaneda & Stoikov (2008), Tables 1–3: their columns and the metrics they show."""


MARKS: dict[str, str] = {"better": "better", "worse": "worse", "differs": "*",
                         "inconclusive": "", "unranked": "n/a"}
"""The mark of each verdict in the difference table."""

LEGEND = ("better / worse: the interval excludes 0 on the metric's better / worse side "
          "(column reading); *: it excludes 0 on a descriptive metric; n/a: no verdict (†); "
          "unmarked: the interval holds 0")
"""The difference table's legend."""


def _num(x: float, digits: int = 4, sign: bool = False) -> str:
    """``x`` to ``digits`` significant digits; with ``sign``, a + before a positive one."""
    return "nan" if math.isnan(x) else f"{x:{'+' if sign and x != 0 else ''}.{digits}g}"


def _cell(value: float, low: float, high: float, mark: str | None = None) -> str:
    """``value [low, high]``; a difference (``mark`` not None) signed and followed by its
    mark."""
    text = _num(value, sign=mark is not None)
    if not math.isnan(low):
        text += f" [{_num(low, 3)}, {_num(high, 3)}]"
    return f"{text} {mark}" if mark else text


def wide(summary: pd.DataFrame, metric_list: tuple[Metric, ...], difference: bool,
         reference: str) -> pd.DataFrame:
    """Metrics × policies after a column ``reading``, each cell ``value [low, high]`` (or,
    with ``difference``, the paired difference to ``reference``, its interval and the mark
    of its verdict, :data:`MARKS`; the reference's own column is then left out)."""
    cols = ("diff", "diff_low", "diff_high") if difference else ("value", "low", "high")
    names = list(summary.loc[summary.index.unique("policy")[0]].index)
    reading = {m.name: m.reading + ("†" if difference and m.if_earning else "")
               for m in metric_list}
    table = {"reading": [reading[name] for name in names]}
    for policy in summary.index.unique("policy"):
        if difference and policy == reference:
            continue
        rows = summary.loc[policy]
        table[policy] = [
            _cell(*rows.loc[name, list(cols)],
                  mark=MARKS[rows.loc[name, "verdict"]] if difference else None)
            for name in names
        ]
    return pd.DataFrame(table, index=pd.Index(names, name="metric"))


def text(summary: pd.DataFrame, metric_list: tuple[Metric, ...], reference: str,
         confidence: float, fmt: str = "simple") -> str:
    """Both tables, with their titles, the legend and the footnote, in a tabulate format
    (``simple`` to print, ``github`` for Markdown)."""
    pct = f"{confidence:.0%}"
    parts = [
        f"Metrics over episodes [{pct} bootstrap interval]",
        tabulate(wide(summary, metric_list, False, reference), headers="keys", tablefmt=fmt,
                 disable_numparse=True),
    ]
    if summary.index.unique("policy").size > 1:
        parts += [
            f"Paired difference to {reference} on the same episodes [{pct} interval]",
            LEGEND,
            tabulate(wide(summary, metric_list, True, reference), headers="keys",
                     tablefmt=fmt, disable_numparse=True),
        ]
        ratios = [m.name for m in metric_list if m.if_earning]
        if ratios:
            parts.append(f"† {', '.join(ratios)}: ranked only where both policies earn (mean "
                         "PnL interval above 0): with a mean ≤ 0 a larger dispersion makes "
                         "mean / risk less negative, so a larger ratio is not better. "
                         + _unranked(summary, reference))
    return "\n\n".join(parts)


def _unranked(summary: pd.DataFrame, reference: str) -> str:
    """Which policies the footnote † leaves without a verdict (the reference's comparison
    with itself is unranked exactly when the reference does not earn)."""
    marked = summary.index[summary["verdict"] == "unranked"].unique("policy")
    if reference in marked:
        return f"The reference {reference} does not earn: no verdict (n/a) for any policy."
    left = [p for p in summary.index.unique("policy") if p in marked]
    return f"No verdict (n/a) for: {', '.join(left)}." if left else "Every policy earns here."


def paper_layout(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary in the layout of Avellaneda & Stoikov (2008), Tables 1–3: one row per
    policy, columns average spread, profit, std(profit), final q, std(final q)."""
    values = summary["value"].unstack("metric")
    return values[list(PAPER_COLUMNS)].rename(columns=PAPER_COLUMNS)
