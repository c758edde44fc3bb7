"""The evaluation's tables: printed, Markdown and CSV, and Avellaneda–Stoikov's layout.

The summary (:func:`mmgym.evaluation.metrics.summarize`) is shown as two tables with the
metrics as rows and the policies as columns: each metric with its confidence interval, and
its paired difference to the reference policy with that interval (marked ``*`` when the
interval excludes 0).
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

PAPER_COLUMNS: dict[str, str] = {
    "spread": "Average spread",
    "mean_pnl": "Profit",
    "std_pnl": "Std(Profit)",
    "mean_final_inventory": "Final q",
    "std_final_inventory": "Std(Final q)",
}
"""Avellaneda & Stoikov (2008), Tables 1–3: their columns and the metrics they show."""


def _num(x: float, digits: int = 4) -> str:
    return "nan" if math.isnan(x) else f"{x:.{digits}g}"


def _cell(value: float, low: float, high: float, star: bool = False) -> str:
    mark = "*" if star and not (math.isnan(low) or low <= 0 <= high) else ""
    if math.isnan(low):
        return _num(value)
    return f"{_num(value)}{mark} [{_num(low, 3)}, {_num(high, 3)}]"


def wide(summary: pd.DataFrame, difference: bool, reference: str) -> pd.DataFrame:
    """Metrics × policies, each cell ``value [low, high]`` (or the paired difference to
    ``reference`` with ``difference``; the reference's own column is then left out)."""
    cols = ("diff", "diff_low", "diff_high") if difference else ("value", "low", "high")
    table = {}
    for policy in summary.index.unique("policy"):
        if difference and policy == reference:
            continue
        rows = summary.loc[policy]
        table[policy] = [_cell(*rows.loc[m, list(cols)], star=difference) for m in rows.index]
    metrics = summary.loc[summary.index.unique("policy")[0]].index
    return pd.DataFrame(table, index=metrics)


def text(summary: pd.DataFrame, reference: str, confidence: float, fmt: str = "simple") -> str:
    """Both tables, with their titles, in a tabulate format (``simple`` to print,
    ``github`` for Markdown)."""
    pct = f"{confidence:.0%}"
    parts = [
        f"Metrics over episodes [{pct} bootstrap interval]",
        tabulate(wide(summary, False, reference), headers="keys", tablefmt=fmt,
                 disable_numparse=True),
    ]
    if summary.index.unique("policy").size > 1:
        parts += [
            f"Paired difference to {reference} on the same episodes [{pct} interval; "
            "* excludes 0]",
            tabulate(wide(summary, True, reference), headers="keys", tablefmt=fmt,
                     disable_numparse=True),
        ]
    return "\n\n".join(parts)


def paper_layout(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary in the layout of Avellaneda & Stoikov (2008), Tables 1–3: one row per
    policy, columns average spread, profit, std(profit), final q, std(final q)."""
    values = summary["value"].unstack("metric")
    return values[list(PAPER_COLUMNS)].rename(columns=PAPER_COLUMNS)
