"""Wrappers for tabular agents: a discrete grid of quotes and a discretised observation.

They wrap the same environments (single or vector), not a second implementation:
:class:`QuoteGrid` maps an action index to (bid offset, ask offset), :class:`Bins` maps an
observation to one state index; :class:`DiscreteQuotes` / :class:`DiscreteQuotesVector`
expose the grid as a ``Discrete`` action space and :class:`BinnedObservation` /
:class:`BinnedObservationVector` the bins as a ``Discrete`` observation space.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorActionWrapper, VectorEnv, VectorObservationWrapper
from numba import njit

from mmgym.validation import ConfigError


class QuoteGrid:
    """The actions of a tabular agent: every (bid offset, ask offset) pair of two lists of
    offsets (the market's offset unit), in row-major order (bid slowest). An offset of
    ``inf`` (``.inf`` in YAML) withdraws that side."""

    def __init__(self, bid_offsets: Sequence[float], ask_offsets: Sequence[float]) -> None:
        self.pairs = np.array(list(itertools.product(bid_offsets, ask_offsets)), dtype=float)
        self._check()

    @classmethod
    def from_pairs(cls, pairs: np.ndarray) -> QuoteGrid:
        """A grid of the given ``(m, 2)`` (bid, ask) offset pairs."""
        grid = cls.__new__(cls)
        grid.pairs = np.asarray(pairs, dtype=float)
        grid._check()
        return grid

    def _check(self) -> None:
        if self.pairs.ndim != 2 or self.pairs.shape[1:] != (2,) or not len(self.pairs) \
                or np.isnan(self.pairs).any() or (self.pairs == -np.inf).any():
            raise ConfigError(
                f"quote grid {self.pairs.tolist()!r}: expected a non-empty list of "
                "(bid offset, ask offset) pairs of numbers (inf: no quote on that side)"
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def offsets(self, index: np.ndarray) -> np.ndarray:
        """``(n, 2)`` offsets of the action indices ``index`` (``(n,)``)."""
        index = np.asarray(index)
        if index.min(initial=0) < 0 or index.max(initial=0) >= len(self):
            raise ValueError(f"action index out of range [0, {len(self) - 1}]: {index!r}")
        return self.pairs[index]


class Bins:
    """One state index per observation: each named feature cut at its bin edges.

    A feature with edges e₁ < … < e_m falls in bin ``searchsorted(edges, x, 'right')``, one of
    m + 1 bins (the number of edges ≤ x; NaN falls in the last); the state index is the
    row-major index over the features' bins. The lookup is one compiled loop over the batch.

    Args:
        feature_names: the observation's feature names, in order.
        edges: the inner bin edges of each feature to use, by name; features not named are
            ignored.
    """

    def __init__(self, feature_names: Sequence[str], edges: Mapping[str, Sequence[float]]) -> None:
        self.feature_names = tuple(feature_names)
        unknown = sorted(set(edges) - set(self.feature_names))
        if unknown or not edges:
            raise ConfigError(
                f"bins: features {unknown or '(none)'} not in the observation "
                f"{list(self.feature_names)}; give edges for some of its features"
            )
        self.names = [n for n in self.feature_names if n in edges]
        self.columns = [self.feature_names.index(n) for n in self.names]
        self.edges = [np.asarray(edges[n], dtype=float) for n in self.names]
        for name, e in zip(self.names, self.edges, strict=True):
            if e.ndim != 1 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
                raise ConfigError(
                    f"bins[{name!r}]={e.tolist()!r}: expected increasing finite edges"
                )
        self.shape = tuple(len(e) + 1 for e in self.edges)
        self.n_states = int(np.prod(self.shape))
        # the kernel's form: edges padded into one array, each feature's count and stride
        self._columns = np.array(self.columns, dtype=np.int64)
        self._counts = np.array([len(e) for e in self.edges], dtype=np.int64)
        self._padded = np.zeros((len(self.edges), int(self._counts.max())))
        for f, e in enumerate(self.edges):
            self._padded[f, :len(e)] = e
        self._strides = np.array([int(np.prod(self.shape[f + 1:])) for f in range(len(self.shape))],
                                 dtype=np.int64)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """State indices of a batch of observations ``(n, n_features)``, ``(n,)`` int64."""
        return _bin_states(np.asarray(obs, dtype=np.float64), self._columns, self._padded,
                           self._counts, self._strides)


@njit(cache=True)
def _bin_states(obs: np.ndarray, columns: np.ndarray, edges: np.ndarray, counts: np.ndarray,
                strides: np.ndarray) -> np.ndarray:
    """:meth:`Bins.__call__`: for each row, Σ_f bin_f·stride_f with bin_f the number of the
    first ``counts[f]`` edges of feature f that are ≤ its value (NaN: all of them)."""
    states = np.zeros(obs.shape[0], dtype=np.int64)
    for i in range(obs.shape[0]):
        for f in range(columns.shape[0]):
            x = obs[i, columns[f]]
            b = 0
            while b < counts[f] and not x < edges[f, b]:
                b += 1
            states[i] += b * strides[f]
    return states


class DiscreteQuotes(gym.ActionWrapper):
    """A single mmgym environment with the actions of a :class:`QuoteGrid`."""

    def __init__(self, env: gym.Env, grid: QuoteGrid) -> None:
        super().__init__(env)
        self.grid = grid
        self.action_space = spaces.Discrete(len(grid))

    def action(self, action: Any) -> np.ndarray:
        return self.grid.offsets(np.array([action]))[0]


class DiscreteQuotesVector(VectorActionWrapper):
    """A vector mmgym environment with the actions of a :class:`QuoteGrid`."""

    def __init__(self, env: VectorEnv, grid: QuoteGrid) -> None:
        super().__init__(env)
        self.grid = grid
        self.single_action_space = spaces.Discrete(len(grid))
        self.action_space = spaces.MultiDiscrete([len(grid)] * env.num_envs)

    def actions(self, actions: Any) -> np.ndarray:
        return self.grid.offsets(actions)


class BinnedObservation(gym.ObservationWrapper):
    """A single mmgym environment observed through :class:`Bins`: one state index."""

    def __init__(self, env: gym.Env, bins: Bins) -> None:
        super().__init__(env)
        self.bins = bins
        self.observation_space = spaces.Discrete(bins.n_states)

    def observation(self, observation: np.ndarray) -> int:
        return int(self.bins(observation[None])[0])


class BinnedObservationVector(VectorObservationWrapper):
    """A vector mmgym environment observed through :class:`Bins`: one state index each."""

    def __init__(self, env: VectorEnv, bins: Bins) -> None:
        super().__init__(env)
        self.bins = bins
        self.single_observation_space = spaces.Discrete(bins.n_states)
        self.observation_space = spaces.MultiDiscrete([bins.n_states] * env.num_envs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return self.bins(observations)
