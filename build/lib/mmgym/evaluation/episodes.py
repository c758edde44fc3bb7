"""Per-episode statistics of environments stepped together: the one definition that the
evaluation's episode table (:func:`mmgym.evaluation.rollout.rollout`) and the training's
``mmgym/*`` curves both come from.

:class:`EpisodeStats` takes a vector environment's steps one at a time (rewards, episode
ends, ``info`` arrays) and returns the statistics of each episode as it ends, so a training
run's ``mmgym/episode_pnl`` and an evaluation's ``pnl`` of the same episode played by the
same policy are the same number. It reads the ``info`` keys of :data:`READ_KEYS`; a step's
sums are one compiled loop over the environments, a few microseconds at 8 of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

STATISTICS: dict[str, str] = {
    "pnl": "final mark-to-market PnL, price units",
    "reward": "sum of the rewards",
    "final_inventory": "inventory at the end, size units",
    "mean_abs_inventory": "|inventory| averaged over the steps, size units",
    "max_drawdown": "largest fall of the PnL from its running peak (from 0 at the start), "
    "price units",
    "spread": "average quoted spread ask − bid over the steps with both sides quoted, price units",
    "fills": "number of fills (a side filled in a step counts one)",
    "volume": "size filled, size units",
    "spread_captured": "the PnL's spread part: what the fills earned against the mid",
    "markout": "the fills marked to the mid markout_steps later (the episode's last mid for "
    "fills closer to the end), price units",
    "adverse_selection": "spread_captured − markout: what the mid's moves after the fills "
    "cost, price units (positive: adverse)",
    "fees": "fees paid, price units (negative: rebates)",
}
"""The statistics of an episode, with their units, in the columns :meth:`EpisodeStats.update`
returns."""

READ_KEYS = ("pnl", "inventory", "mid", "bid_price", "ask_price", "bid_fill", "ask_fill",
             "cash", "fees", "pnl_spread")
"""The ``info`` arrays a step must carry."""


class EpisodeStats:
    """Running sums of the current episode of each of ``n`` environments, and the statistics
    (:data:`STATISTICS`) of each episode when it ends.

    Args:
        n: number of environments.
        markout_steps: the horizon of the fills' markout, in steps (0: the mid of the fill's
            own step).
        next_step_autoreset: the environments reset an ended episode in the next step
            (Gymnasium's ``NextStep``, :class:`mmgym.vector.MarketMakingVectorEnv`): that
            step only resets, and is not part of any episode. False: they reset in the step
            that ends it (``SameStep``, :class:`mmgym.sb3_vec_env.MarketMakingSB3VecEnv`),
            whose ``info`` is then the ended episode's last.
    """

    def __init__(self, n: int, markout_steps: int = 10, next_step_autoreset: bool = True
                 ) -> None:
        if markout_steps < 0:
            raise ValueError(f"markout_steps={markout_steps}: out of range, allowed [0, inf)")
        self.n = n
        self.markout_steps = markout_steps
        self.next_step_autoreset = next_step_autoreset
        self.steps = np.zeros(n, dtype=np.int64)
        """Steps of each environment's current episode."""
        self._sums = np.zeros((len(_SUMS), n))
        self._cash = np.zeros(n)  # the fills' cash flow so far, price units
        # signed size and cash flow of each env's fills of its last markout_steps steps,
        # kept until their markout is due (row t % markout_steps for the fills of step t)
        self._pending = np.zeros((2, markout_steps, n))
        self._resetting = np.zeros(n, dtype=bool)

    def update(self, rewards: np.ndarray, ended: np.ndarray, info: dict[str, np.ndarray]
               ) -> pd.DataFrame | None:
        """Take one step of all environments: ``rewards`` and ``ended`` of shape ``(n,)``,
        ``info`` arrays of the keys :data:`READ_KEYS`. Return the statistics of the episodes
        that ended with it, one row per ended environment (index ``env``, ascending), columns
        :data:`STATISTICS`; None when none did."""
        _add(self._sums, self.steps, self._pending, self._cash, rewards, info["pnl"],
             info["inventory"], info["mid"], info["bid_price"], info["ask_price"],
             info["bid_fill"], info["ask_fill"], info["cash"], info["fees"])
        if self.next_step_autoreset and self._resetting.any():
            self._clear(np.flatnonzero(self._resetting))  # that step was no episode's
        if self.next_step_autoreset:
            np.copyto(self._resetting, ended)
        if not ended.any():
            return None
        done = np.flatnonzero(ended)
        finished = self._finished(done, {k: info[k][done] for k in READ_KEYS})
        self._clear(done)
        return finished

    def _finished(self, done: np.ndarray, info: dict[str, np.ndarray]) -> pd.DataFrame:
        """The statistics of the episodes of the environments ``done``, ``info`` of their
        last step."""
        sums = dict(zip(_SUMS, self._sums[:, done], strict=True))
        size, cash = (p.sum(axis=0)[done] for p in self._pending)  # not yet marked out
        markout = sums["markout"] + (size * info["mid"] + cash)
        quoted = sums["quoted"]
        return pd.DataFrame({
            "pnl": info["pnl"],
            "reward": sums["reward"],
            "final_inventory": info["inventory"],
            "mean_abs_inventory": sums["abs_inventory"] / self.steps[done],
            "max_drawdown": sums["drawdown"],
            "spread": np.where(quoted > 0, sums["spread"] / np.maximum(quoted, 1), np.nan),
            "fills": sums["fills"],
            "volume": sums["volume"],
            "spread_captured": info["pnl_spread"],
            "markout": markout,
            "adverse_selection": info["pnl_spread"] - markout,
            "fees": info["fees"],
        }, index=pd.Index(done, name="env"))

    def _clear(self, envs: np.ndarray) -> None:
        """Start a new episode in the environments ``envs``."""
        self._sums[:, envs] = 0.0
        self._pending[:, :, envs] = 0.0
        self._cash[envs] = 0.0
        self.steps[envs] = 0


_SUMS = ("reward", "abs_inventory", "spread", "quoted", "fills", "volume", "peak", "drawdown",
         "markout")
"""The rows of :class:`EpisodeStats`' running sums: the rewards, |inventory|, the quoted
spread and the steps quoted on both sides, fills, volume, the PnL's running peak (from 0) and
largest fall from it, and the markout of the fills already due."""


@njit(cache=True)
def _add(sums: np.ndarray, steps: np.ndarray, pending: np.ndarray, cash_so_far: np.ndarray,
         rewards: np.ndarray, pnl: np.ndarray, inventory: np.ndarray, mid: np.ndarray,
         bid_price: np.ndarray, ask_price: np.ndarray, bid_fill: np.ndarray,
         ask_fill: np.ndarray, cash: np.ndarray, fees: np.ndarray) -> None:
    """Add a step of every environment to its episode's sums (rows :data:`_SUMS`)."""
    h = pending.shape[1]
    for i in range(steps.size):
        sums[0, i] += rewards[i]
        sums[1, i] += abs(inventory[i])
        if not (np.isnan(bid_price[i]) or np.isnan(ask_price[i])):
            sums[2, i] += ask_price[i] - bid_price[i]
            sums[3, i] += 1.0
        sums[4, i] += (1.0 if bid_fill[i] > 0 else 0.0) + (1.0 if ask_fill[i] > 0 else 0.0)
        sums[5, i] += bid_fill[i] + ask_fill[i]
        sums[6, i] = max(sums[6, i], pnl[i])
        sums[7, i] = max(sums[7, i], sums[6, i] - pnl[i])
        size = bid_fill[i] - ask_fill[i]
        flow = cash[i] + fees[i]  # the fills' cash flow before fees, so far
        if h:
            slot = steps[i] % h
            if steps[i] >= h:
                sums[8, i] += pending[0, slot, i] * mid[i] + pending[1, slot, i]
            pending[0, slot, i] = size
            pending[1, slot, i] = flow - cash_so_far[i]
        else:
            sums[8, i] += size * mid[i] + flow - cash_so_far[i]
        cash_so_far[i] = flow
        steps[i] += 1
