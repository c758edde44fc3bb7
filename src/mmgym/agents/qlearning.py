"""Tabular Q-learning and Double Q-learning on a discretised observation and a grid of quotes,
batched over a vector environment, with the per-transition loops compiled (numba).

**Q-learning** (C. J. C. H. Watkins and P. Dayan, "Q-learning", Machine Learning 8, 279-292,
1992): after a transition (s, a, r, s′),

    Q(s, a) ← Q(s, a) + α·(r + γ·max_a′ Q(s′, a′) − Q(s, a)),

with γ·max Q(s′) dropped when s′ ends the episode (``terminated``; a truncated episode is
bootstrapped).

**Double Q-learning** (H. van Hasselt, "Double Q-learning", Advances in Neural Information
Processing Systems 23, 2613-2621, 2010, Algorithm 1), ``double=True``: two tables Q^A and Q^B;
a fair coin picks the one each transition updates, the updated table chooses the next action
and the other one values it,

    a* = argmax_a′ Q^A(s′, a′),   Q^A(s, a) ← Q^A(s, a) + α·(r + γ·Q^B(s′, a*) − Q^A(s, a))

(or the same with A and B swapped). The maximum over noisy estimates in Q-learning's target
is biased upwards; this estimator is not (it may be biased downwards). The agent acts on
Q^A + Q^B.

**Step sizes** by visit count: α = ``learning_rate`` / n(s, a)^ω, with n(s, a) the number of
updates of that entry so far, this one included (of the table updated, under Double
Q-learning), and ω = ``learning_rate_exponent``. ω = 0 (the default) is a constant step size;
ω ∈ (1/2, 1] with ``learning_rate`` = 1 is the polynomial step size of E. Even-Dar and
Y. Mansour, "Learning rates for Q-learning", Journal of Machine Learning Research 5, 1-25
(2003), under which Q-learning converges in a time polynomial in 1/(1 − γ) for ω < 1
(exponential for ω = 1, where Q(s, a) is the mean of its targets); van Hasselt (2010) used
ω = 0.8 for both algorithms.

**Batches**: the transitions of one step of the vector environment are applied one after the
other in the environments' order: the online algorithm on the interleaved stream of
transitions. **Exploration** is ε-greedy, ε decaying linearly from ``epsilon_start`` to
``epsilon_end`` over ``epsilon_decay_steps`` agent steps; the greedy action of a tie is the
first of the grid.

Saved as ``.npz`` (no pickle) with the tables, their visit counts, the bin edges, the grid and
the hyperparameters; a loaded agent is a policy, ``agent(obs, info) -> offsets``, and resumes
training where it stopped (step sizes and ε included).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from mmgym.atomic import replacing
from mmgym.validation import ConfigError, check_number
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import Bins, QuoteGrid

HYPERPARAMETERS = ("learning_rate", "learning_rate_exponent", "discount", "epsilon_start",
                   "epsilon_end", "epsilon_decay_steps", "double")
"""The keyword arguments of :class:`QLearning` besides the bins, the grid and the seed: the
keys of a Q-learning config's ``agent.kwargs``."""


class QLearning:
    """Q-tables over ``bins.n_states`` states and ``len(grid)`` actions (see the module doc).

    Args:
        bins: the discretisation of the observation.
        grid: the quotes the agent chooses among (offsets in the market's unit).
        learning_rate: the step size's scale, α = learning_rate / n^ω, in (0, 1].
        learning_rate_exponent: ω, 0 (a constant step size) or in (1/2, 1] (polynomial).
        discount: γ in [0, 1], per step.
        epsilon_start, epsilon_end: exploration rate at the start and after the decay, in [0, 1].
        epsilon_decay_steps: agent steps (summed over environments) of ε's linear decay, ≥ 1.
        double: Double Q-learning (two tables) instead of Q-learning.
        seed: seed of the agent's own generator (exploration, Double Q's coin), never the
            market's.

    Attributes:
        tables: ``(1, n_states, n_actions)`` (``(2, ...)`` for Double Q-learning), the
            estimates of the expected return (reward units).
        visits: the updates of each entry of ``tables`` so far.
        steps: agent steps trained (summed over environments).
    """

    def __init__(
        self,
        bins: Bins,
        grid: QuoteGrid,
        *,
        learning_rate: float = 0.1,
        learning_rate_exponent: float = 0.0,
        discount: float = 0.99,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay_steps: int = 100_000,
        double: bool = False,
        seed: int = 0,
    ) -> None:
        self.bins, self.grid = bins, grid
        self.learning_rate = check_number("learning_rate", learning_rate, low=0, high=1,
                                          low_open=True)
        self.learning_rate_exponent = check_exponent(learning_rate_exponent)
        self.discount = check_number("discount", discount, low=0, high=1)
        self.epsilon_start = check_number("epsilon_start", epsilon_start, low=0, high=1)
        self.epsilon_end = check_number("epsilon_end", epsilon_end, low=0, high=1)
        self.epsilon_decay_steps = check_number("epsilon_decay_steps", epsilon_decay_steps,
                                                low=1, integer=True)
        if not isinstance(double, bool | np.bool_):
            raise ConfigError(f"double={double!r}: expected true or false")
        self.double = bool(double)
        shape = (2 if self.double else 1, bins.n_states, len(grid))
        self.tables = np.zeros(shape)
        self.visits = np.zeros(shape, dtype=np.int64)
        self.steps = 0
        self.rng = np.random.default_rng(seed)

    @property
    def q(self) -> np.ndarray:
        """The table the agent acts on, ``(n_states, n_actions)``: Q, or (Q^A + Q^B)/2."""
        return self.tables[0] if not self.double else self.tables.mean(axis=0)

    @property
    def epsilon(self) -> float:
        """The exploration rate after ``steps`` agent steps."""
        done = min(self.steps / self.epsilon_decay_steps, 1.0)
        return self.epsilon_start + done * (self.epsilon_end - self.epsilon_start)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action indices for a batch of observations: greedy, or ε-greedy to explore."""
        return self._act(self.bins(obs), explore)

    def _act(self, states: np.ndarray, explore: bool) -> np.ndarray:
        greedy = _greedy(self.tables, states)
        if not explore:
            return greedy
        random = self.rng.random(len(states)) < self.epsilon
        return np.where(random, self.rng.integers(len(self.grid), size=len(states)), greedy)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        """The greedy policy's offsets (the agent as a policy)."""
        return self.grid.offsets(self.act(obs, explore=False))

    def update(self, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
               next_states: np.ndarray, terminal: np.ndarray) -> None:
        """Apply a batch of transitions ``(s, a, r, s′, s′ terminal)``, in order (module doc)."""
        coins = self.rng.random(len(states)) if self.double else np.zeros(len(states))
        _update(self.tables, self.visits, np.asarray(states, dtype=np.int64),
                np.asarray(actions, dtype=np.int64), np.asarray(rewards, dtype=np.float64),
                np.asarray(next_states, dtype=np.int64), np.asarray(terminal, dtype=np.bool_),
                np.ones(len(states), dtype=np.bool_), coins, self.discount,
                self.learning_rate, self.learning_rate_exponent)

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
        states = self.bins(obs)
        resetting = np.zeros(env.num_envs, dtype=bool)
        no_coins = np.zeros(env.num_envs)
        while self.steps < total_steps:
            actions = self._act(states, explore=True)
            obs, rewards, terminated, truncated, info = env.step(self.grid.offsets(actions))
            next_states = self.bins(obs)
            live = ~resetting  # a step that only resets an environment is not a transition
            coins = self.rng.random(env.num_envs) if self.double else no_coins
            _update(self.tables, self.visits, states, actions, rewards, next_states,
                    terminated, live, coins, self.discount, self.learning_rate,
                    self.learning_rate_exponent)
            states = next_states
            resetting = terminated | truncated
            self.steps += int(live.sum())
            if callback is not None and callback(self, rewards, resetting, info) is False:
                break
        return self

    def save(self, path: str | Path) -> Path:
        """Write the agent to ``path`` (``.npz``, appended to a name without it) atomically
        (:func:`mmgym.atomic.replacing`) and return the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays: dict[str, Any] = {
            "q": self.q,
            "tables": self.tables,
            "visits": self.visits,
            "grid": self.grid.pairs,
            "feature_names": np.array(self.bins.feature_names),
            "binned": np.array(self.bins.names),
            "steps": np.array(self.steps),
        }
        arrays |= {f"edges_{name}": e for name, e in zip(self.bins.names, self.bins.edges,
                                                          strict=True)}
        arrays |= {name: np.array(getattr(self, name)) for name in HYPERPARAMETERS}
        with replacing(path) as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QLearning:
        """An agent saved by :meth:`save` (a table saved before the visit counts and Double
        Q-learning existed loads as Q-learning with no visits); a missing or corrupt file
        raises :class:`ConfigError` naming it."""
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
                        **{k: d[k].item() for k in HYPERPARAMETERS if k in d})
            tables = d.get("tables", d["q"][None])
            if tables.shape != agent.tables.shape:
                raise ConfigError(f"tables of shape {tables.shape}, expected "
                                  f"{agent.tables.shape}")
            agent.tables[...] = tables
            if "visits" in d:
                agent.visits[...] = d["visits"]
            agent.steps = int(d["steps"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ConfigError(f"Q-learning checkpoint {str(path)!r} is not readable: {e}") from None
        return agent


def check_exponent(value: Any) -> float:
    """``learning_rate_exponent`` ω: 0 (a constant step size) or in (1/2, 1] (Even-Dar &
    Mansour's polynomial step sizes, whose sum diverges and whose squares' sum converges)."""
    field = "learning_rate_exponent"
    allowed = "0 (a constant step size) or (0.5, 1] (polynomial)"
    try:
        omega = check_number(field, value)
    except ConfigError:
        raise ConfigError(f"{field}={value!r}: expected a number, {allowed}") from None
    if omega != 0 and not 0.5 < omega <= 1:
        raise ConfigError(f"{field}={value!r}: out of range, allowed {allowed}")
    return omega


@njit(cache=True)
def _greedy(tables: np.ndarray, states: np.ndarray) -> np.ndarray:
    """argmax_a Σ_k tables[k, s, a] for each state s of ``states``, the first on a tie."""
    actions = np.zeros(states.shape[0], dtype=np.int64)
    for i in range(states.shape[0]):
        best = -np.inf
        for a in range(tables.shape[2]):
            value = 0.0
            for k in range(tables.shape[0]):
                value += tables[k, states[i], a]
            if value > best:
                best = value
                actions[i] = a
    return actions


@njit(cache=True)
def _update(tables: np.ndarray, visits: np.ndarray, states: np.ndarray, actions: np.ndarray,
            rewards: np.ndarray, next_states: np.ndarray, terminal: np.ndarray,
            live: np.ndarray, coins: np.ndarray, discount: float, learning_rate: float,
            exponent: float) -> None:
    """The module doc's update for transitions i with ``live[i]``, in order: Q-learning with
    one table; Double Q-learning with two, table 0 (A) updated where ``coins[i] < 0.5``,
    table 1 (B) otherwise."""
    double = tables.shape[0] == 2
    for i in range(states.shape[0]):
        if not live[i]:
            continue
        k = 1 if double and coins[i] >= 0.5 else 0  # the table updated
        other = 1 - k if double else k  # the table that values the next action
        s, a = states[i], actions[i]
        visits[k, s, a] += 1
        alpha = learning_rate
        if exponent > 0.0:
            alpha = learning_rate / visits[k, s, a] ** exponent
        target = rewards[i]
        if not terminal[i]:
            s_next = next_states[i]
            best = 0
            for b in range(1, tables.shape[2]):
                if tables[k, s_next, b] > tables[k, s_next, best]:
                    best = b
            target += discount * tables[other, s_next, best]
        tables[k, s, a] += alpha * (target - tables[k, s, a])
