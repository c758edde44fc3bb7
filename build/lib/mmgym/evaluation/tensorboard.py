"""The evaluation in TensorBoard: one run per policy with the training scalars, an HParams
comparison, and the figures.

Each policy's run (``<dir>/<policy>``) holds the ``mmgym/*`` tags that training writes
(:data:`mmgym.kit.tracking.SCALARS`), here one point per evaluation episode (step = episode
index), the final-PnL histogram, and an HParams entry (the policy's parameters against its
summary metrics), so ``tensorboard --logdir runs`` sets evaluations beside training runs.
The figures go to the run ``<dir>/figures``.

HParams is a table to sort runs by, so it holds only metrics that rank: a ratio to risk
(Sharpe, Sortino: :attr:`~mmgym.evaluation.metrics.Metric.if_earning`) enters a policy's
entry only where the policy earns (mean PnL interval above 0), as in the printed table,
where it gets a verdict only then; a loser's ratio, which a larger dispersion raises, would
otherwise sort above a smaller loser's. Its ``mmgym/sharpe`` scalar is written all the same,
a value beside training's curve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mmgym.evaluation.metrics import Metric
from mmgym.evaluation.rollout import Rollout

EPISODE_TAGS: dict[str, str] = {
    "episode_pnl": "pnl",
    "mean_abs_inventory": "mean_abs_inventory",
    "fills": "fills",
    "spread_captured": "spread_captured",
    "reward": "reward",
}
"""Training's per-episode tags and the per-episode column each shows."""


def write(
    directory: Path,
    rollouts: dict[str, Rollout],
    summary: pd.DataFrame,
    metric_list: tuple[Metric, ...],
    params: dict[str, dict[str, Any]],
    figures: dict[str, Figure],
) -> None:
    """Write the runs under ``directory``: ``summary`` of :func:`~mmgym.evaluation.metrics.
    summarize` on ``metric_list``, each policy's ``params``, the ``figures``."""
    ratios = {m.name for m in metric_list if m.if_earning}
    from torch.utils.tensorboard import SummaryWriter

    for name, r in rollouts.items():
        writer = SummaryWriter(str(directory / name))
        for tag, column in EPISODE_TAGS.items():
            for i, value in enumerate(r.episodes[column].to_numpy()):
                writer.add_scalar(f"mmgym/{tag}", value, i)
        values = summary.loc[name, "value"]
        writer.add_scalar("mmgym/sharpe", values["sharpe"], len(r.episodes) - 1)
        writer.add_histogram("mmgym/episode_pnl_distribution", r.episodes["pnl"].to_numpy())
        hparams = {"policy": name} | {k: _scalar(v) for k, v in params[name].items()}
        earns = summary.loc[(name, "mean_pnl"), "low"] > 0
        writer.add_hparams(hparams, {f"hparam/{m}": float(v) for m, v in values.items()
                                     if np.isfinite(v) and (earns or m not in ratios)},
                           run_name=".")
        writer.close()
    if figures:
        writer = SummaryWriter(str(directory / "figures"))
        for name, fig in figures.items():
            writer.add_figure(f"evaluation/{name}", fig, close=False)
        writer.close()


def _scalar(value: Any) -> int | float | str | bool:
    return value if isinstance(value, int | float | str | bool) else str(value)
