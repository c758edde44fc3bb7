"""Tabular Q-learning on a discretised observation and a grid of quotes, batched.

C. J. C. H. Watkins and P. Dayan, "Q-learning", Machine Learning 8, 279-292 (1992):

    Q(s, a) ← Q(s, a) + α·(r + γ·max_a' Q(s', a') − Q(s, a)),

with γ·max Q(s') dropped at the end of an episode. The transitions of all environments of
a vector environment are applied together: the temporal-difference errors of the same
(s, a) in one step are averaged, so a batch moves an entry as far as one transition would.
Exploration is ε-greedy with ε decaying linearly over ``epsilon_decay_steps`` agent steps.

Saved as ``.npz`` (no pickle) with the table, the bin edges, the grid and the
hyperparameters; a loaded agent is a policy, ``agent(obs, info) -> offsets``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmgym.validation import ConfigError, check_number
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import Bins, QuoteGrid

_HYPER = ("learning_rate", "discount", "epsilon_start", "epsilon_end", "epsilon_decay_steps")


class QLearning:
    """A Q-table over ``bins.n_states`` states and ``len(grid)`` actions.

    Args:
        bins: the discretisation of the observation.
        grid: the quotes the agent chooses among.
        learning_rate: α in (0, 1].
        discount: γ in [0, 1].
        epsilon_start, epsilon_end: exploration rate at the start and after the decay.
        epsilon_decay_steps: agent steps (summed over environments) of the linear decay.
        seed: seed of the agent's own generator (exploration), never the market's.
    """

    def __init__(
        self,
        bins: Bins,
        grid: QuoteGrid,
        *,
        learning_rate: float = 0.1,
        discount: float = 0.99,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay_steps: int = 100_000,
        seed: int = 0,
    ) -> None:
        self.bins, self.grid = bins, grid
        self.learning_rate = check_number("learning_rate", learning_rate, low=0, high=1,
                                          low_open=True)
        self.discount = check_number("discount", discount, low=0, high=1)
        self.epsilon_start = check_number("epsilon_start", epsilon_start, low=0, high=1)
        self.epsilon_end = check_number("epsilon_end", epsilon_end, low=0, high=1)
        self.epsilon_decay_steps = check_number("epsilon_decay_steps", epsilon_decay_steps,
                                                low=1, integer=True)
        self.q = np.zeros((bins.n_states, len(grid)))
        self.steps = 0
        self.rng = np.random.default_rng(seed)

    @property
    def epsilon(self) -> float:
        done = min(self.steps / self.epsilon_decay_steps, 1.0)
        return self.epsilon_start + done * (self.epsilon_end - self.epsilon_start)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action indices for a batch of observations: greedy, or ε-greedy to explore."""
        greedy = self.q[self.bins(obs)].argmax(axis=1)
        if not explore:
            return greedy
        random = self.rng.random(len(obs)) < self.epsilon
        return np.where(random, self.rng.integers(len(self.grid), size=len(obs)), greedy)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        """The greedy policy's offsets (the agent as a policy)."""
        return self.grid.offsets(self.act(obs, explore=False))

    def update(self, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
               next_states: np.ndarray, terminal: np.ndarray) -> None:
        """One batched Q-learning update (see the module doc)."""
        bootstrap = self.q[next_states].max(axis=1) * ~terminal
        td = rewards + self.discount * bootstrap - self.q[states, actions]
        cells = states * self.q.shape[1] + actions
        total = np.bincount(cells, weights=td, minlength=self.q.size)
        count = np.bincount(cells, minlength=self.q.size)
        hit = count > 0
        self.q.ravel()[hit] += self.learning_rate * total[hit] / count[hit]

    def learn(
        self,
        env: MarketMakingVectorEnv,
        total_steps: int,
        seed: int | None = None,
        callback: Callable[[QLearning, np.ndarray, np.ndarray, dict[str, np.ndarray]], bool]
        | None = None,
    ) -> QLearning:
        """Train until ``total_steps`` agent steps (summed over the environments, counted
        from the agent's own ``steps``, so a loaded agent resumes) on a vector environment
        with NextStep autoreset; ``callback(agent, rewards, ended, info)`` after every step,
        ``ended`` marking the environments whose episode ended; a callback returning False
        stops the training."""
        obs, info = env.reset(seed=seed)
        resetting = np.zeros(env.num_envs, dtype=bool)
        while self.steps < total_steps:
            states = self.bins(obs)
            actions = self.act(obs)
            obs, rewards, terminated, truncated, info = env.step(self.grid.offsets(actions))
            live = ~resetting  # a step that only resets an environment is not a transition
            self.update(states[live], actions[live], rewards[live], self.bins(obs)[live],
                        terminated[live])
            resetting = terminated | truncated
            self.steps += int(live.sum())
            if callback is not None and callback(self, rewards, resetting, info) is False:
                break
        return self

    def save(self, path: str | Path) -> Path:
        """Write the agent to ``path`` (``.npz``) and return the path."""
        path = Path(path)
        arrays: dict[str, Any] = {
            "q": self.q,
            "grid": self.grid.pairs,
            "feature_names": np.array(self.bins.feature_names),
            "binned": np.array(self.bins.names),
            "steps": np.array(self.steps),
        }
        arrays |= {f"edges_{name}": e for name, e in zip(self.bins.names, self.bins.edges,
                                                          strict=True)}
        arrays |= {name: np.array(getattr(self, name)) for name in _HYPER}
        np.savez(path, **arrays)
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> QLearning:
        """An agent saved by :meth:`save`; a missing or corrupt file raises
        :class:`ConfigError` naming it."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Q-learning checkpoint {str(path)!r}: no such file")
        try:
            with np.load(path, allow_pickle=False) as data:
                d = {k: data[k] for k in data.files}
            names = [str(n) for n in d["binned"]]
            bins = Bins([str(n) for n in d["feature_names"]],
                        {n: d[f"edges_{n}"] for n in names})
            agent = cls(bins, QuoteGrid.from_pairs(d["grid"]),
                        **{k: d[k].item() for k in _HYPER})
            if d["q"].shape != agent.q.shape:
                raise ConfigError(f"table of shape {d['q'].shape}, expected {agent.q.shape}")
            agent.q[...] = d["q"]
            agent.steps = int(d["steps"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ConfigError(f"Q-learning checkpoint {str(path)!r} is not readable: {e}") from None
        return agent
