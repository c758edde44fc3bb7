"""Episode statistics and the TensorBoard scalars every agent writes.

Every agent, tabular or Stable-Baselines3, feeds the same :class:`EpisodeStats` with each
step's rewards and ``info`` arrays and writes the same ``mmgym/*`` scalars against the
number of environment steps, so ``tensorboard --logdir runs`` overlays them.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

SCALARS = ("episode_pnl", "sharpe", "mean_abs_inventory", "fills", "spread_captured", "reward")
"""The scalar tags, each logged as ``mmgym/<name>``."""


class EpisodeStats:
    """Running sums of the current episode of each environment; finished episodes are
    returned by :meth:`update` and remembered (the last ``window``) for the Sharpe ratio.

    Per episode: ``episode_pnl`` (final mark-to-market PnL), ``mean_abs_inventory``,
    ``fills`` (count of fills), ``spread_captured`` (the PnL's spread part), ``reward``
    (sum). ``sharpe`` is mean / std of the last ``window`` episodes' PnL.
    """

    def __init__(self, n: int, window: int = 100) -> None:
        self.n = n
        self.abs_inventory = np.zeros(n)
        self.steps = np.zeros(n)
        self.fills = np.zeros(n)
        self.reward = np.zeros(n)
        self.recent: deque[float] = deque(maxlen=window)

    def update(self, rewards: np.ndarray, ended: np.ndarray,
               info: dict[str, np.ndarray]) -> list[dict[str, float]]:
        """Take one step of all environments; return the episodes that ended with it."""
        self.abs_inventory += np.abs(info["inventory"])
        self.steps += 1
        self.fills += (info["bid_fill"] > 0).astype(float) + (info["ask_fill"] > 0)
        self.reward += rewards
        finished = []
        for i in np.flatnonzero(ended):
            finished.append({
                "episode_pnl": float(info["pnl"][i]),
                "mean_abs_inventory": float(self.abs_inventory[i] / self.steps[i]),
                "fills": float(self.fills[i]),
                "spread_captured": float(info["pnl_spread"][i]),
                "reward": float(self.reward[i]),
            })
            self.recent.append(float(info["pnl"][i]))
            self.abs_inventory[i] = self.steps[i] = self.fills[i] = self.reward[i] = 0.0
        return finished

    def sharpe(self) -> float:
        pnl = np.array(self.recent)
        return float(pnl.mean() / pnl.std()) if len(pnl) > 1 and pnl.std() > 0 else 0.0


class TensorBoardLog:
    """``mmgym/*`` scalars and the run's hyperparameters, in ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))

    def episodes(self, finished: list[dict[str, float]], stats: EpisodeStats, step: int) -> None:
        """Log the mean of the episodes that ended at environment step ``step``."""
        if not finished:
            return
        for key in finished[0]:
            self.writer.add_scalar(f"mmgym/{key}", np.mean([e[key] for e in finished]), step)
        self.writer.add_scalar("mmgym/sharpe", stats.sharpe(), step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        clean = {k: v if isinstance(v, int | float | str | bool) else str(v)
                 for k, v in hparams.items()}
        self.writer.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()},
                                run_name=".")

    def close(self) -> None:
        self.writer.close()
