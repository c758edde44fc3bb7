"""Run a policy on seeded episodes of a market, all episodes as one vector batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmgym.policies.base import Policy
from mmgym.vector import MarketMakingVectorEnv


def run_episodes(
    policy: Policy, episodes: int, seed: int = 0, market: str = "as2008", **env_kwargs: Any
) -> pd.DataFrame:
    """Play one episode per seed ``seed, seed + 1, ...`` with ``policy``; one row per episode.

    Columns: ``pnl`` (final mark-to-market PnL, price units), ``inventory`` (final, size
    units), ``spread`` (average quoted spread ask − bid over steps where both sides were
    quoted, price units), ``fills`` (number of fills), ``reward`` (sum of rewards). Episode
    ``i`` faces the same market randomness whatever the policy (common random numbers).
    """
    env = MarketMakingVectorEnv(episodes, market=market, **env_kwargs)
    obs, info = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset(np.ones(episodes, dtype=bool))
    reward = np.zeros(episodes)
    spread_sum = np.zeros(episodes)
    spread_count = np.zeros(episodes)
    fills = np.zeros(episodes)
    done = np.zeros(episodes, dtype=bool)
    while not done.all():
        obs, r, done, _, info = env.step(policy(obs, info))
        reward += r
        quoted = ~(np.isnan(info["bid_price"]) | np.isnan(info["ask_price"]))
        spread_sum[quoted] += (info["ask_price"] - info["bid_price"])[quoted]
        spread_count += quoted
        fills += info["bid_fill"] + info["ask_fill"]
    return pd.DataFrame(
        {
            "pnl": info["pnl"],
            "inventory": info["inventory"],
            "spread": spread_sum / np.maximum(spread_count, 1),
            "fills": fills,
            "reward": reward,
        },
        index=pd.RangeIndex(seed, seed + episodes, name="seed"),
    )
