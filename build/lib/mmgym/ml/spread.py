"""The ex-post best spread: the training target of the neural spread predictor
(:mod:`mmgym.ml.predictor`).

For a grid of half-spreads δ₁ < … < δ_K (offset units), the episodes are played once per δ_k
by the policy quoting mid ± δ_k with an inventory skew (``skewed_spread``,
:class:`mmgym.policies.simple.SkewedSpread`: bid at δ_k + κ·ι, ask at δ_k − κ·ι, ι = q /
max_inventory), on the same seeded episodes (common random numbers: the market's draws do
not depend on the quotes). The **risk-adjusted PnL of a window** of W steps from step t for δ_k is

    R_k(t) = Σ_{fills f in [t, t + W)} size_f · side_f · (mid_{t_f + h} − p_f)
             − φ · Σ_{s = t}^{t + W − 1} q_k(s)² · dt,

the fills' markouts at ``horizon`` h steps (spread earned net of the adverse move: the value
of a fill to a market maker who then lays the risk off, as in the markout analyses of
Cartea, Jaimungal & Penalva 2015, ch. 4) minus the running inventory penalty of
Cartea–Jaimungal with φ the ``inventory_penalty`` (price units per size² per time unit).
The **ex-post best spread** at t is 2·δ_{k*}, k* = argmax_k R_k(t) (the smallest δ among
ties): the spread that, in hindsight, would have earned most over the next W steps. The
features of a sample are those observed at t in the run of the middle δ (the market's
features differ little between the runs; inventory, which does, is not an input: the policy
skews for it itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mmgym.validation import ConfigError, check_number
from mmgym.vector import MarketMakingVectorEnv


@dataclass
class SpreadSamples:
    """Samples of the spread predictor: ``features`` ``(m, F)`` (``feature_names``) and the
    ex-post best spread ``target`` ``(m,)`` (offset units), with each sample's episode seed and
    step, and the window scores ``scores`` ``(m, K)`` of every half-spread of ``half_spreads``
    (price units)."""

    features: np.ndarray
    target: np.ndarray
    scores: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    feature_names: tuple[str, ...]
    half_spreads: np.ndarray


def spread_samples(env_kwargs: dict[str, Any], half_spreads: list[float], skew: float,
                   episodes: int, seed: int, window: int, horizon: int,
                   inventory_penalty: float, stride: int, inputs: list[str],
                   batch: int = 200, progress: bool = False) -> SpreadSamples:
    """The samples of the episodes of seeds ``seed .. seed + episodes − 1`` (see the module
    doc): one every ``stride`` steps, from step 0 to the last whose window and markout fit in
    the episode; ``inputs`` the predictor's features (the observation of ``env_kwargs`` must
    hold them and ``inventory``)."""
    grid = np.array(sorted(float(d) for d in half_spreads))
    if len(grid) < 2:
        raise ConfigError(f"half_spreads={half_spreads!r}: expected at least two")
    for name, value in (("window", window), ("horizon", horizon), ("stride", stride)):
        check_number(name, value, low=1, integer=True)
    parts = []
    bar = tqdm(total=episodes * len(grid), desc="spread samples", unit="episode",
               disable=not progress, leave=False, dynamic_ncols=True)
    for first in range(seed, seed + episodes, batch):
        n = min(batch, seed + episodes - first)
        parts.append(_batch(env_kwargs, grid, skew, n, first, window, horizon,
                            inventory_penalty, stride, inputs, bar))
    bar.close()
    return SpreadSamples(*(np.concatenate([p[k] for p in parts]) for k in range(5)),
                         tuple(inputs), grid)


def _batch(env_kwargs, grid, skew, n, seed, window, horizon, penalty, stride, inputs, bar):
    scores, seen = [], None
    for k, delta in enumerate(grid):
        env = MarketMakingVectorEnv(n, **env_kwargs)
        names = env.core.feature_names
        missing = [f for f in inputs if f not in names]
        if missing:
            raise ConfigError(f"features: the predictor's input {missing[0]!r} is not in the "
                              f"observation {list(names)}")
        if "inventory" not in names:
            raise ConfigError(f"features: the observation {list(names)} lacks 'inventory', "
                              "which the grid's inventory skew reads")
        inventory = names.index("inventory")
        obs, info = env.reset(seed=seed)
        steps = env.core.horizon_steps
        dt = env.core.market.dt
        q2 = np.empty((steps, n))
        fills = np.empty((steps, 2, n))
        price = np.empty((steps, 2, n))
        mid = np.empty((steps, n))
        record = k == len(grid) // 2
        if record:
            seen = np.empty((steps, n, len(inputs)), dtype=np.float32)
            columns = [names.index(f) for f in inputs]
        for t in range(steps):
            if record:
                seen[t] = obs[:, columns]
            shift = skew * obs[:, inventory].astype(np.float64)
            obs, _, _, _, info = env.step(np.stack([delta + shift, delta - shift], axis=1))
            fills[t, 0], fills[t, 1] = info["bid_fill"], info["ask_fill"]
            price[t, 0], price[t, 1] = info["bid_price"], info["ask_price"]
            mid[t], q2[t] = info["mid"], info["inventory"] ** 2
        last = steps - horizon
        ahead = mid[horizon:][:, None, :]
        sign = np.array([1.0, -1.0])[None, :, None]
        markout = np.where(fills[:last] > 0, fills[:last] * sign * (ahead - price[:last]), 0.0)
        value = markout.sum(axis=1) - penalty * q2[:last] * dt
        cumulative = np.concatenate([np.zeros((1, n)), np.cumsum(value, axis=0)])
        starts = np.arange(0, last - window + 1, stride)
        scores.append(cumulative[starts + window] - cumulative[starts])  # (m_t, n)
        bar.update(n)
    score = np.stack(scores, axis=-1)  # (m_t, n, K)
    best = np.argmax(score, axis=-1)
    t_index = np.repeat(starts, n)
    e_index = np.tile(np.arange(n), len(starts))
    return (seen[starts].reshape(-1, len(inputs)), 2 * grid[best].reshape(-1),
            score.reshape(-1, len(grid)), seed + e_index, t_index)
