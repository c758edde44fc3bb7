"""The agent's fills with what it observed when it quoted, and whether each was adverse: the
training data of the supervised models (:mod:`mmgym.ml.detector`).

A fill is **adverse** when it lost money marked to the mid ``horizon`` steps later: a bid
filled at ``p`` (the agent bought) is adverse when ``mid_{t+h} < p``, an ask filled at ``p``
when ``mid_{t+h} > p`` (t the step of the fill, h = ``horizon``). For a fill at the touch,
half a spread from the mid, this is the mid moving against the fill by more than the half
spread within h steps, the adverse-selection event of Glosten & Milgrom (1985) and of the
markout analyses of market makers (e.g. Cartea, Jaimungal & Penalva 2015, ch. 4). Fills
whose horizon runs past the episode's end are left out.

The observation of a fill is the one the policy quoted on at the start of its step (the
features of the end of the previous step), so a model of it can act before the fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from mmgym.validation import check_number
from mmgym.vector import MarketMakingVectorEnv

if TYPE_CHECKING:
    from mmgym.policies.base import Policy

@dataclass
class Fills:
    """Fills of one side or both, one row per fill.

    Attributes:
        features: ``(m, F)`` the observation the policy quoted on (``feature_names``).
        side: ``(m,)`` 0 for a bid fill, 1 for an ask fill.
        adverse: ``(m,)`` whether the fill's markout at ``horizon`` steps is negative.
        markout: ``(m,)`` the fill's PnL per unit marked to the mid ``horizon`` steps later
            (price units; negative: adverse).
        episode: ``(m,)`` the episode's seed, for splits by episode.
        step: ``(m,)`` the step of the fill in its episode.
        feature_names: the observation's features, in column order.
        horizon: the markout horizon, steps.
    """

    features: np.ndarray
    side: np.ndarray
    adverse: np.ndarray
    markout: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    feature_names: tuple[str, ...]
    horizon: int

    def select(self, names: list[str] | tuple[str, ...]) -> Fills:
        """The same fills with the features ``names`` only, in that order."""
        columns = [self.feature_names.index(f) for f in names]
        return Fills(self.features[:, columns], self.side, self.adverse, self.markout,
                     self.episode, self.step, tuple(names), self.horizon)

    def of_side(self, side: int) -> Fills:
        """The fills of one side (0 bid, 1 ask)."""
        keep = self.side == side
        return Fills(self.features[keep], self.side[keep], self.adverse[keep],
                     self.markout[keep], self.episode[keep], self.step[keep],
                     self.feature_names, self.horizon)


def collect_fills(policy: Policy, episodes: int, seed: int, horizon: int,
                  env_kwargs: dict[str, Any], batch: int = 200,
                  progress: bool = False) -> Fills:
    """Play ``policy`` on the episodes of seeds ``seed .. seed + episodes − 1`` and return
    its fills, labelled at ``horizon`` steps.

    Args:
        policy: the policy that quotes (its fills are the data).
        episodes, seed: the seeded episodes, played ``batch`` at a time.
        horizon: the markout horizon, steps (≥ 1).
        env_kwargs: the environment's arguments (``market``, ``features``, ...); the
            observation's features are the model's inputs.
        progress: show a progress bar over the episodes.
    """
    check_number("horizon", horizon, low=1, integer=True)
    check_number("episodes", episodes, low=1, integer=True)
    parts: list[Fills] = []
    bar = tqdm(total=episodes, desc="fills", unit="episode", disable=not progress,
               leave=False, dynamic_ncols=True)
    for first in range(seed, seed + episodes, batch):
        n = min(batch, seed + episodes - first)
        parts.append(_play(policy, n, first, horizon, env_kwargs))
        bar.update(n)
    bar.close()
    return Fills(*(np.concatenate([getattr(p, f) for p in parts])
                   for f in ("features", "side", "adverse", "markout", "episode", "step")),
                 parts[0].feature_names, horizon)


def _play(policy: Policy, n: int, seed: int, horizon: int,
          env_kwargs: dict[str, Any]) -> Fills:
    env = MarketMakingVectorEnv(n, **env_kwargs)
    if hasattr(policy, "bind"):
        policy.bind(env.core.market)
    obs, info = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset(np.ones(n, dtype=bool))
    steps = env.core.horizon_steps
    seen = np.empty((steps, n, obs.shape[1]), dtype=np.float32)
    filled = np.empty((steps, 2, n), dtype=bool)
    price = np.empty((steps, 2, n))
    mid = np.empty((steps, n))
    for t in range(steps):
        seen[t] = obs
        obs, _, _, _, info = env.step(policy(obs, info))
        filled[t, 0], filled[t, 1] = info["bid_fill"] > 0, info["ask_fill"] > 0
        price[t, 0], price[t, 1] = info["bid_price"], info["ask_price"]
        mid[t] = info["mid"]
    t, side, i = np.nonzero(filled[: steps - horizon])
    sign = np.where(side == 0, 1.0, -1.0)
    markout = sign * (mid[t + horizon, i] - price[t, side, i])
    return Fills(seen[t, i], side.astype(np.int8), markout < 0, markout,
                 seed + i.astype(np.int64), t.astype(np.int64), env.core.feature_names,
                 horizon)
