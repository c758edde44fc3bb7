"""The policy interface shared by analytic baselines and trained agents.

A policy maps a batch of observations ``(n, n_features)`` and the step's ``info`` (a dict of
``(n,)`` arrays, as the vector environment returns it) to a batch of actions ``(n, 2)``:
bid and ask offsets from the mid in the market's offset unit. Policies that need the
market's parameters (σ, A, k, T, ...) take them as constructor arguments; :func:`market_params`
reads them from an environment, which is what a policy built for that market may know.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from mmgym.validation import check_number


class Policy(Protocol):
    """``policy(obs, info) -> actions`` for a batch. A policy that keeps state across steps
    (fill history, say) also defines ``reset(mask)``, called when the masked environments
    start an episode; a diagnostic policy that reads the market's hidden state (the
    ``oracle``) defines ``bind(market)``, called with the batched market it plays."""

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray: ...


NO_QUOTE = math.inf
"""The offset of a side a policy does not quote: the environment sends no order there (any
offset at or above its action's upper bound withdraws the side)."""


def market_params(env: gym.Env | gym.vector.VectorEnv) -> dict[str, Any]:
    """The market parameters of an mmgym environment (single or vector), by name."""
    return env.unwrapped.core.market.params()


class TimeToGo:
    """τ = T − t for each environment of a batch (time units): ``T`` times the observation's
    ``time_remaining``, or a fixed ``horizon`` for markets with no end (the infinite-horizon
    variants of the analytic policies). Exactly one of ``T`` and ``horizon`` is given."""

    def __init__(
        self,
        policy: str,
        T: float | None,
        horizon: float | None,
        feature_names: tuple[str, ...],
    ) -> None:
        if (T is None) == (horizon is None):
            raise ValueError(
                f"policy {policy!r}: give exactly one of T (finite horizon, read with the "
                "time_remaining feature) and horizon (a fixed T − t)"
            )
        self.T = None if T is None else check_number("T", T, low=0, low_open=True)
        self.horizon = None if horizon is None else check_number(
            "horizon", horizon, low=0, low_open=True
        )
        self._column = None if T is None else feature_column(
            tuple(feature_names), "time_remaining", policy
        )

    @property
    def total(self) -> float:
        """The horizon of the episode (T), or the fixed time to go."""
        return self.T if self.T is not None else self.horizon

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.T is None:
            return np.full(len(obs), self.horizon)
        return self.T * obs[:, self._column].astype(np.float64)


def feature_column(feature_names: tuple[str, ...], name: str, policy: str) -> int:
    """Index of feature ``name`` in the observation, or a clear error for ``policy``."""
    if name not in feature_names:
        raise ValueError(
            f"policy {policy!r} reads the feature {name!r}, which the observation "
            f"{list(feature_names)} lacks: add it to the env's features"
        )
    return feature_names.index(name)
