"""Per-episode statistics of environments stepped together: the one definition that the
evaluation's episode table (:func:`mmgym.evaluation.rollout.rollout`) and the training's
``mmgym/*`` curves both come from.

:class:`EpisodeStats` takes a vector environment's steps one at a time (rewards, episode
ends, ``info`` arrays) and returns the statistics of each episode as it ends, so a training
run's ``mmgym/episode_pnl`` and an evaluation's ``pnl`` of the same episode played by the
same policy are the same number. It reads the ``info`` keys of :data:`READ_KEYS`; a step's
sums are one compiled loop over the environments, a few microseconds at 8 of them.

On a multi-asset market (:mod:`mmgym.markets.multi`, ``N`` assets, ``info`` arrays of shape
``(n, N)``) the columns :data:`STATISTICS` are the portfolio's, each defined in
:data:`PORTFOLIO`, and every asset ``a`` has the columns :data:`ASSET_STATISTICS` of its own
account, named ``{statistic}_{a}`` (:func:`asset_column`): ``pnl_0``, ``fills_1``, ... The
portfolio's additive statistics are the sums of the assets' columns. With one asset the table
is the single-asset one, with no per-asset columns.
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

PORTFOLIO: dict[str, str] = {
    "pnl": "the assets' final PnL summed",
    "reward": "the rewards summed (the environment's reward is the portfolio's)",
    "final_inventory": "the assets' final inventories summed (net, signed), size units",
    "mean_abs_inventory": "the assets' mean |inventory| summed (gross: a long and a short do "
    "not cancel), size units",
    "max_drawdown": "of the portfolio's PnL path (the assets' PnL summed at each step)",
    "spread": "the quoted spreads averaged over every asset's steps with both sides quoted",
    "fills": "the assets' fills summed",
    "volume": "the assets' volume summed, size units",
    "spread_captured": "the assets' spread captured summed",
    "markout": "the assets' markouts summed",
    "adverse_selection": "the assets' adverse selection summed",
    "fees": "the assets' fees summed",
}
"""How each statistic of :data:`STATISTICS` is defined for the portfolio of a multi-asset
market, from its assets' accounts."""

ASSET_STATISTICS: tuple[str, ...] = tuple(k for k in STATISTICS if k != "reward")
"""The statistics each asset of a multi-asset market has of its own (columns
``{statistic}_{a}``): every one but the reward, which is the portfolio's."""


def asset_column(statistic: str, asset: int) -> str:
    """The column of asset ``asset``'s ``statistic`` (``pnl_0``)."""
    return f"{statistic}_{asset}"


def columns(assets: int = 1) -> list[str]:
    """The columns of the episode table of a market of ``assets`` assets: :data:`STATISTICS`,
    then with several assets each asset's :data:`ASSET_STATISTICS` in turn."""
    per_asset = [asset_column(s, a) for a in range(assets) for s in ASSET_STATISTICS]
    return list(STATISTICS) + (per_asset if assets > 1 else [])


def assets_of(table: pd.DataFrame) -> int:
    """The number of assets of an episode table (1 when it has no per-asset columns)."""
    assets = 0
    while asset_column("pnl", assets) in table.columns:
        assets += 1
    return max(assets, 1)


READ_KEYS = ("pnl", "inventory", "mid", "bid_price", "ask_price", "bid_fill", "ask_fill",
             "cash", "fees", "pnl_spread")
"""The ``info`` arrays a step must carry."""


class EpisodeStats:
    """Running sums of the current episode of each of ``n`` environments, and the statistics
    (:func:`columns`) of each episode when it ends.

    Args:
        n: number of environments.
        markout_steps: the horizon of the fills' markout, in steps (0: the mid of the fill's
            own step).
        next_step_autoreset: the environments reset an ended episode in the next step
            (Gymnasium's ``NextStep``, :class:`mmgym.vector.MarketMakingVectorEnv`): that
            step only resets, and is not part of any episode. False: they reset in the step
            that ends it (``SameStep``, :class:`mmgym.sb3_vec_env.MarketMakingSB3VecEnv`),
            whose ``info`` is then the ended episode's last.
        assets: the market's number of assets ``N``: ``info`` arrays of shape ``(n,)`` for
            one, ``(n, N)`` for several (module doc).
    """

    def __init__(self, n: int, markout_steps: int = 10, next_step_autoreset: bool = True,
                 assets: int = 1) -> None:
        if markout_steps < 0:
            raise ValueError(f"markout_steps={markout_steps}: out of range, allowed [0, inf)")
        if assets < 1:
            raise ValueError(f"assets={assets}: out of range, allowed [1, inf)")
        self.n = n
        self.assets = assets
        self.markout_steps = markout_steps
        self.next_step_autoreset = next_step_autoreset
        # one account per environment and asset: entry i·N + a is env i's asset a
        accounts = n * assets
        self._steps = np.zeros(accounts, dtype=np.int64)
        self._sums = np.zeros((len(_SUMS), accounts))
        self._cash = np.zeros(accounts)  # the fills' cash flow so far, price units
        # signed size and cash flow of each account's fills of its last markout_steps steps,
        # kept until their markout is due (row t % markout_steps for the fills of step t)
        self._pending = np.zeros((2, markout_steps, accounts))
        # several assets: the portfolio's rewards, PnL peak and largest fall from it, by env
        self._portfolio = np.zeros((3, n if assets > 1 else 0))
        self._no_rewards = np.zeros(accounts if assets > 1 else 0)
        self._resetting = np.zeros(n, dtype=bool)

    @property
    def steps(self) -> np.ndarray:
        """Steps of each environment's current episode, ``(n,)``."""
        return self._steps[::self.assets]

    def update(self, rewards: np.ndarray, ended: np.ndarray, info: dict[str, np.ndarray]
               ) -> pd.DataFrame | None:
        """Take one step of all environments: ``rewards`` and ``ended`` of shape ``(n,)``,
        ``info`` arrays of the keys :data:`READ_KEYS` (shape ``(n,)``, or ``(n, N)`` with
        ``N`` assets). Return the statistics of the episodes that ended with it, one row per
        ended environment (index ``env``, ascending), columns :func:`columns`; None when none
        did."""
        if self.assets == 1:
            flat, leg_rewards = info, rewards
        else:
            shape = (self.n, self.assets)
            for k in READ_KEYS:
                if np.shape(info[k]) != shape:
                    raise ValueError(f"info[{k!r}]: shape {np.shape(info[k])}, expected {shape} "
                                     f"({self.assets} assets)")
            flat = {k: np.reshape(info[k], -1) for k in READ_KEYS}
            leg_rewards = self._no_rewards
            total = info["pnl"].sum(axis=1)
            reward, peak, drawdown = self._portfolio
            reward += rewards
            np.maximum(peak, total, out=peak)
            np.maximum(drawdown, peak - total, out=drawdown)
        _add(self._sums, self._steps, self._pending, self._cash, leg_rewards, flat["pnl"],
             flat["inventory"], flat["mid"], flat["bid_price"], flat["ask_price"],
             flat["bid_fill"], flat["ask_fill"], flat["cash"], flat["fees"])
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

    def _accounts(self, envs: np.ndarray) -> np.ndarray:
        """The accounts (entries of the running sums) of the environments ``envs``, each
        environment's assets in turn."""
        return (envs[:, None] * self.assets + np.arange(self.assets)).ravel()

    def _finished(self, done: np.ndarray, info: dict[str, np.ndarray]) -> pd.DataFrame:
        """The statistics of the episodes of the environments ``done``, ``info`` of their
        last step."""
        N = self.assets
        accounts = self._accounts(done)
        shape = (len(done),) if N == 1 else (len(done), N)
        sums = {k: v.reshape(shape) for k, v in
                zip(_SUMS, self._sums[:, accounts], strict=True)}
        size, cash = (p.sum(axis=0)[accounts].reshape(shape) for p in self._pending)
        steps = self._steps[accounts].reshape(shape)
        markout = sums["markout"] + (size * info["mid"] + cash)  # not yet marked out: now
        quoted = sums["quoted"]
        legs = {
            "pnl": info["pnl"],
            "final_inventory": info["inventory"],
            "mean_abs_inventory": sums["abs_inventory"] / steps,
            "max_drawdown": sums["drawdown"],
            "spread": np.where(quoted > 0, sums["spread"] / np.maximum(quoted, 1), np.nan),
            "fills": sums["fills"],
            "volume": sums["volume"],
            "spread_captured": info["pnl_spread"],
            "markout": markout,
            "adverse_selection": info["pnl_spread"] - markout,
            "fees": info["fees"],
        }
        index = pd.Index(done, name="env")
        if N == 1:
            table = legs | {"reward": sums["reward"]}
            return pd.DataFrame({k: table[k] for k in STATISTICS}, index=index)
        reward, _, drawdown = self._portfolio[:, done]
        both = quoted.sum(axis=1)
        portfolio = {k: v.sum(axis=1) for k, v in legs.items()} | {
            "reward": reward,
            "max_drawdown": drawdown,
            "spread": np.where(both > 0, sums["spread"].sum(axis=1) / np.maximum(both, 1),
                               np.nan),
        }
        table = {k: portfolio[k] for k in STATISTICS}
        for a in range(N):
            table |= {asset_column(k, a): legs[k][:, a] for k in ASSET_STATISTICS}
        return pd.DataFrame(table, index=index)

    def _clear(self, envs: np.ndarray) -> None:
        """Start a new episode in the environments ``envs``."""
        accounts = self._accounts(envs)
        self._sums[:, accounts] = 0.0
        self._pending[:, :, accounts] = 0.0
        self._cash[accounts] = 0.0
        self._steps[accounts] = 0
        if self.assets > 1:
            self._portfolio[:, envs] = 0.0


_SUMS = ("reward", "abs_inventory", "spread", "quoted", "fills", "volume", "peak", "drawdown",
         "markout")
"""The rows of :class:`EpisodeStats`' running sums, by account (an environment's asset): the
rewards (one asset's only), |inventory|, the quoted spread and the steps quoted on both sides,
fills, volume, the PnL's running peak (from 0) and largest fall from it, and the markout of
the fills already due."""


@njit(cache=True)
def _add(sums: np.ndarray, steps: np.ndarray, pending: np.ndarray, cash_so_far: np.ndarray,
         rewards: np.ndarray, pnl: np.ndarray, inventory: np.ndarray, mid: np.ndarray,
         bid_price: np.ndarray, ask_price: np.ndarray, bid_fill: np.ndarray,
         ask_fill: np.ndarray, cash: np.ndarray, fees: np.ndarray) -> None:
    """Add a step of every account (an environment's asset) to its episode's sums (rows
    :data:`_SUMS`)."""
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
