"""TensorBoard runs of training and evaluation: the same ``mmgym/*`` tags, written by one
writer (:class:`TensorBoardRun`; torch's ``SummaryWriter`` is imported only when a run is
opened).

The per-episode tags (:data:`EPISODE_TAGS`) show the statistics of
:class:`mmgym.evaluation.episodes.EpisodeStats`, the one definition both sides compute:
a training run writes the mean of the episodes that ended at an environment step against
that step, an evaluation one point per episode (step = episode index), so ``tensorboard
--logdir runs`` sets evaluations beside training runs. ``mmgym/sharpe`` is the Sharpe ratio
of :func:`mmgym.evaluation.metrics.sharpe` (training: of its last episodes). On a multi-asset
market the tags are the portfolio's, and each asset ``a`` has its own of every per-episode tag
but the reward, ``mmgym/<tag>_<a>`` (``mmgym/episode_pnl_0``), from its columns
(:func:`mmgym.evaluation.episodes.asset_column`).

An evaluation (:func:`write`) has one run per policy (``<dir>/<policy>``) with those tags,
the final-PnL histogram and an HParams entry (the policy's parameters against its summary
metrics), and the figures in the run ``<dir>/figures``.

HParams is a table to sort runs by, so it holds only metrics that rank: a ratio to risk
(Sharpe, Sortino: :attr:`~mmgym.evaluation.metrics.Metric.if_earning`) enters an entry only
where the run earns (mean PnL interval above 0), as in the printed table, where it gets a
verdict only then; a loser's ratio, which a larger dispersion raises, would otherwise sort
above a smaller loser's. Its ``mmgym/sharpe`` scalar is written all the same, a value beside
training's curve.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mmgym.evaluation.episodes import ASSET_STATISTICS, asset_column, assets_of
from mmgym.evaluation.metrics import Metric
from mmgym.evaluation.rollout import Rollout

EPISODE_TAGS: dict[str, str] = {
    "episode_pnl": "pnl",
    "mean_abs_inventory": "mean_abs_inventory",
    "fills": "fills",
    "spread_captured": "spread_captured",
    "reward": "reward",
}
"""The per-episode tags, ``mmgym/<tag>``, and the statistic
(:data:`mmgym.evaluation.episodes.STATISTICS`) each shows."""

SCALARS = ("episode_pnl", "sharpe", "mean_abs_inventory", "fills", "spread_captured", "reward")
"""The scalar tags every training and evaluation run writes, each as ``mmgym/<name>``."""


class TensorBoardRun:
    """A TensorBoard run in ``directory``: the ``mmgym/*`` scalars, histograms, an HParams
    entry and figures."""

    def __init__(self, directory: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(directory))

    def episodes(self, episodes: pd.DataFrame, step: int | None = None) -> None:
        """The per-episode tags of ``episodes`` (one row per episode, columns
        :func:`~mmgym.evaluation.episodes.columns`; with several assets, each asset's tags
        too): with ``step``, their mean over the rows at that step; without, each row at its
        position (0, 1, ...)."""
        assets = assets_of(episodes)
        tags = dict(EPISODE_TAGS)
        if assets > 1:
            tags |= {asset_column(tag, a): asset_column(column, a) for a in range(assets)
                     for tag, column in EPISODE_TAGS.items() if column in ASSET_STATISTICS}
        for tag, column in tags.items():
            values = episodes[column].to_numpy(float)
            if step is not None:
                self.writer.add_scalar(f"mmgym/{tag}", values.mean(), step)
                continue
            for i, value in enumerate(values):
                self.writer.add_scalar(f"mmgym/{tag}", value, i)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """``mmgym/<tag>`` at ``step``, if ``value`` is finite (a ratio of fewer than two
        episodes, or of equal ones, is not)."""
        if np.isfinite(value):
            self.writer.add_scalar(f"mmgym/{tag}", float(value), step)

    def histogram(self, tag: str, values: np.ndarray) -> None:
        """The distribution of ``values`` as ``mmgym/<tag>``."""
        self.writer.add_histogram(f"mmgym/{tag}", np.asarray(values))

    def hparams(self, params: dict[str, Any], results: dict[str, float], earns: bool,
                ratios: Collection[str]) -> None:
        """The run's HParams entry: ``params`` (other than numbers, strings and booleans as
        text) against ``results`` as ``hparam/<name>``, leaving out those not finite and the
        ratios to risk (``ratios``) unless the run ``earns`` (module doc)."""
        self.writer.add_hparams(
            {k: _scalar(v) for k, v in params.items()},
            {f"hparam/{k}": float(v) for k, v in results.items()
             if np.isfinite(v) and (earns or k not in ratios)},
            run_name=".",
        )

    def figures(self, figures: dict[str, Figure]) -> None:
        """Each figure as the image ``evaluation/<name>``."""
        for name, fig in figures.items():
            self.writer.add_figure(f"evaluation/{name}", fig, close=False)

    def close(self) -> None:
        self.writer.close()


def write(
    directory: Path,
    rollouts: dict[str, Rollout],
    summary: pd.DataFrame,
    metric_list: tuple[Metric, ...],
    params: dict[str, dict[str, Any]],
    figures: dict[str, Figure],
) -> None:
    """Write an evaluation's runs under ``directory``: ``summary`` of
    :func:`~mmgym.evaluation.metrics.summarize` on ``metric_list``, each policy's ``params``,
    the ``figures``."""
    ratios = {m.name for m in metric_list if m.if_earning}
    for name, r in rollouts.items():
        run = TensorBoardRun(directory / name)
        run.episodes(r.episodes)
        values = summary.loc[name, "value"]
        run.scalar("sharpe", values["sharpe"], len(r.episodes) - 1)
        run.histogram("episode_pnl_distribution", r.episodes["pnl"].to_numpy())
        run.hparams({"policy": name} | params[name], values.to_dict(),
                    earns=bool(summary.loc[(name, "mean_pnl"), "low"] > 0), ratios=ratios)
        run.close()
    if figures:
        run = TensorBoardRun(directory / "figures")
        run.figures(figures)
        run.close()


def _scalar(value: Any) -> int | float | str | bool:
    return value if isinstance(value, int | float | str | bool) else str(value)
