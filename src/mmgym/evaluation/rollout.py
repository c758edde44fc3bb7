"""Play a policy on seeded episodes of a market, all episodes as one vector batch.

Episode ``i`` is the episode of seed ``seed + i`` whatever the policy: the market's random
streams never depend on the agent's actions (:mod:`mmgym.rng`), so every policy faces the
same market randomness in episode ``i`` (common random numbers) and differences between
policies are paired. On a ``replay`` market the episodes are windows of a recording, drawn
from the range its ``range`` parameter names (:func:`data_window` tells which).

On a multi-asset market the episode table has the portfolio's statistics and each asset's
(:mod:`mmgym.evaluation.episodes`), the PnL path is the portfolio's, and the inventory paths
and the first episode's quotes are kept per asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmgym.evaluation.episodes import STATISTICS, EpisodeStats
from mmgym.markets.replay import WindowRange
from mmgym.policies.base import Policy
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

TABLE_BYTES = 2**30
"""The most memory a rollout's per-step tables (PnL and inventory of every episode, the first
episode's quotes) may take: :func:`check_tables`."""

EPISODE_COLUMNS: dict[str, str] = STATISTICS | {
    "window_start_s": "replay markets only: the episode window's first step boundary, s after "
    "the recording's first event",
}
"""The per-episode results of :func:`rollout`, with their units (on a multi-asset market the
portfolio's, followed by each asset's: :func:`mmgym.evaluation.episodes.columns`)."""


@dataclass
class Rollout:
    """The results of one policy on ``episodes`` seeded episodes.

    Attributes:
        episodes: one row per episode (index ``seed``), columns :data:`EPISODE_COLUMNS`.
        time: ``(steps,)`` time at the end of each step, in the market's time unit.
        pnl: ``(steps, episodes)`` mark-to-market PnL after each step (the portfolio's: the
            assets' summed).
        inventory: ``(steps, episodes)`` inventory after each step (float32); with ``N``
            assets ``(steps, episodes, N)``.
        mid, bid, ask: ``(steps,)`` the first episode's mid after each step and the quotes in
            force during it (NaN: no quote); with ``N`` assets ``(steps, N)``.
        bid_fill, ask_fill: ``(steps,)`` the first episode's fills in each step, size units;
            with ``N`` assets ``(steps, N)``.
        asset_pnl: with ``N`` > 1 assets, ``(steps, episodes, N)`` each asset's PnL after each
            step (float32); None for one.
    """

    episodes: pd.DataFrame
    time: np.ndarray
    pnl: np.ndarray
    inventory: np.ndarray
    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_fill: np.ndarray
    ask_fill: np.ndarray
    asset_pnl: np.ndarray | None = None

    @property
    def assets(self) -> int:
        """The market's number of assets."""
        return 1 if self.asset_pnl is None else self.asset_pnl.shape[2]


def check_tables(field: str, episodes: int, steps: int, assets: int = 1) -> None:
    """Raise unless a rollout of ``episodes`` episodes of ``steps`` steps on a market of
    ``assets`` assets keeps its per-step tables (12 bytes a step and episode and 40 a step for
    one asset; 8 + 8·N and 40·N for ``N``) within :data:`TABLE_BYTES`; ``field`` is the
    configuration's name of ``episodes``."""
    per_episode = 12 if assets == 1 else 8 + 8 * assets
    need = steps * (per_episode * episodes + 40 * assets)
    if need > TABLE_BYTES:
        most = max((TABLE_BYTES // steps - 40 * assets) // per_episode, 0)
        raise ConfigError(
            f"{field}={episodes}: {episodes} episodes of {steps:,} steps keep "
            f"{need / 2**30:.3g} GiB of per-step tables; allowed {TABLE_BYTES / 2**30:g} GiB, "
            f"at most {most:,} episodes of this length (or shorter episodes)"
        )


def rollout(
    policy: Policy,
    episodes: int,
    seed: int = 0,
    market: str = "as2008",
    markout_steps: int = 10,
    progress: str | None = None,
    **env_kwargs: Any,
) -> Rollout:
    """Play one episode per seed ``seed, seed + 1, ...`` with ``policy``.

    Args:
        policy: ``policy(obs, info) -> actions`` for a batch; a stateful one (with
            ``reset(mask)``) is reset first, one that reads the hidden state (``bind``) is
            bound to the market.
        episodes: number of episodes, played as one batch.
        seed: the first episode's seed.
        market: the market id.
        markout_steps: the horizon of the fills' markout, in steps.
        progress: a label to show a progress bar with, or None for none.
        env_kwargs: the environment's other arguments (features, reward_fn, market
            parameters, ...).
    """
    env = MarketMakingVectorEnv(episodes, market=market, **env_kwargs)
    if hasattr(policy, "bind"):
        policy.bind(env.core.market)
    obs, info = env.reset(seed=seed)
    starts = getattr(env.core.market, "episode_start_s", None)
    window_start = None if starts is None else starts()
    if hasattr(policy, "reset"):
        policy.reset(np.ones(episodes, dtype=bool))
    steps, assets = env.core.horizon_steps, env.core.assets
    check_tables("episodes", episodes, steps, assets)
    stats = EpisodeStats(episodes, markout_steps, assets=assets)
    pnl = np.empty((steps, episodes))
    per_asset = () if assets == 1 else (assets,)
    inventory = np.empty((steps, episodes, *per_asset), dtype=np.float32)
    asset_pnl = None if assets == 1 else np.empty((steps, episodes, assets), dtype=np.float32)
    first = np.empty((5, steps, *per_asset))
    for t in tqdm(range(steps), desc=progress, unit="step", disable=progress is None,
                  leave=False, dynamic_ncols=True):
        obs, r, terminated, _, info = env.step(policy(obs, info))
        finished = stats.update(r, terminated, info)
        if asset_pnl is None:
            pnl[t] = info["pnl"]
        else:
            asset_pnl[t] = info["pnl"]
            pnl[t] = info["pnl"].sum(axis=1)
        inventory[t] = info["inventory"]
        first[:, t] = (info["mid"][0], info["bid_price"][0], info["ask_price"][0],
                       info["bid_fill"][0], info["ask_fill"][0])
    if len(finished) < episodes:
        raise RuntimeError(f"{episodes - len(finished)} episodes did not end after {steps} steps")
    if window_start is not None:
        finished["window_start_s"] = window_start
    table = finished.set_axis(pd.RangeIndex(seed, seed + episodes, name="seed"))
    dt = env.core.market.dt
    return Rollout(table, dt * np.arange(1, steps + 1), pnl, inventory, *first,
                   asset_pnl=asset_pnl)


def data_window(env_kwargs: dict[str, Any]) -> WindowRange | None:
    """The range of the recording and its interval of recorded time that episodes with these
    environment arguments (``market`` included) are drawn from; None on a market that is not
    a replay."""
    if env_kwargs["market"] != "replay":
        return None
    env = MarketMakingVectorEnv(1, **env_kwargs)
    try:
        return env.core.market.window_range()
    finally:
        env.close()


def run_episodes(
    policy: Policy, episodes: int, seed: int = 0, market: str = "as2008", **env_kwargs: Any
) -> pd.DataFrame:
    """The per-episode results of :func:`rollout` (one row per seed; columns
    :data:`EPISODE_COLUMNS`)."""
    return rollout(policy, episodes, seed, market, **env_kwargs).episodes
