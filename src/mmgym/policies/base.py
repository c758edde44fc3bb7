"""The policy interface shared by analytic baselines and trained agents.

A policy maps a batch of observations ``(n, n_features)`` and the step's ``info`` (a dict of
``(n,)`` arrays, as the vector environment returns it) to a batch of actions ``(n, 2)``:
bid and ask offsets from the mid in the market's offset unit. Policies that need the
market's parameters (σ, A, k, T, ...) take them as constructor arguments; :func:`market_params`
reads them from an environment, which is what a policy built for that market may know.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np


class Policy(Protocol):
    """``policy(obs, info) -> actions`` for a batch."""

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray: ...


def market_params(env: gym.Env | gym.vector.VectorEnv) -> dict[str, Any]:
    """The market parameters of an mmgym environment (single or vector), by name."""
    return env.unwrapped.core.market.params()


def feature_column(feature_names: tuple[str, ...], name: str, policy: str) -> int:
    """Index of feature ``name`` in the observation, or a clear error for ``policy``."""
    if name not in feature_names:
        raise ValueError(
            f"policy {policy!r} reads the feature {name!r}, which the observation "
            f"{list(feature_names)} lacks: add it to the env's features"
        )
    return feature_names.index(name)
