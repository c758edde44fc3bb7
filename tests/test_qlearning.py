"""Tabular Q-learning and its wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mmgym
from mmgym import ConfigError
from mmgym.agents import QLearning
from mmgym.evaluation import run_episodes
from mmgym.policies import make
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import (
    BinnedObservation,
    BinnedObservationVector,
    Bins,
    DiscreteQuotes,
    DiscreteQuotesVector,
    QuoteGrid,
)

OFFSETS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


def as2008_agent(seed: int = 0) -> QLearning:
    env = MarketMakingVectorEnv(64, max_inventory=10)
    bins = Bins(env.feature_names, {"inventory": np.linspace(-0.95, 0.95, 20),
                                    "time_remaining": [0.25, 0.5, 0.75]})
    agent = QLearning(bins, QuoteGrid(OFFSETS, OFFSETS), learning_rate=0.05, discount=1.0,
                      epsilon_decay_steps=200_000, seed=seed)
    return agent.learn(env, 400_000, seed=1)


def test_grid_and_bins() -> None:
    grid = QuoteGrid([0.5, 1.0], [0.25, 2.0])
    assert len(grid) == 4
    np.testing.assert_array_equal(grid.offsets(np.array([0, 3])), [[0.5, 0.25], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"action index out of range \[0, 3\]"):
        grid.offsets(np.array([4]))
    with pytest.raises(ConfigError, match="expected a non-empty list"):
        QuoteGrid([], [1.0])
    bins = Bins(("inventory", "time_remaining"), {"inventory": [-0.5, 0.5],
                                                  "time_remaining": [0.5]})
    assert bins.n_states == 6
    obs = np.array([[-0.9, 0.9], [0.0, 0.1], [0.7, 0.6]])
    assert bins(obs).tolist() == [0 * 2 + 1, 1 * 2 + 0, 2 * 2 + 1]
    with pytest.raises(ConfigError, match=r"bins: features \['vpin'\] not in the observation"):
        Bins(("inventory",), {"vpin": [0.5]})
    with pytest.raises(ConfigError, match=r"bins\['inventory'\]=\[0.5, 0.1\]: expected increasing"):
        Bins(("inventory",), {"inventory": [0.5, 0.1]})


def test_discrete_wrappers_drive_the_same_environments() -> None:
    grid = QuoteGrid([0.5, 1.0], [0.5, 1.0])
    env = DiscreteQuotes(gym.make("mmgym/AvellanedaStoikov-v0"), grid)
    assert env.action_space == gym.spaces.Discrete(4)
    env.reset(seed=0)
    info = env.step(3)[4]
    assert info["ask_price"] - info["bid_price"] == pytest.approx(2.0)
    venv = DiscreteQuotesVector(mmgym.MarketMakingVectorEnv(3), grid)
    venv.reset(seed=0)
    info = venv.step(np.array([0, 1, 3]))[4]
    np.testing.assert_allclose(info["ask_price"] - info["bid_price"], [1.0, 1.5, 2.0])
    bins = Bins(("inventory", "time_remaining"), {"time_remaining": [0.5]})
    single = BinnedObservation(env, bins)
    assert single.reset(seed=0)[0] == 1  # time remaining 1.0: the upper bin
    binned = BinnedObservationVector(DiscreteQuotesVector(mmgym.MarketMakingVectorEnv(2), grid),
                                     bins)
    obs, _ = binned.reset(seed=0)
    assert obs.tolist() == [1, 1] and binned.single_observation_space.n == 2


def test_qlearning_beats_random_and_a_far_too_wide_spread_on_common_seeds() -> None:
    agent = as2008_agent()
    results = {name: run_episodes(policy, 500, seed=10_000, max_inventory=10)["reward"]
               for name, policy in (("q", agent),
                                    ("random", make("random", low=0.0, high=3.0)),
                                    ("wide", make("fixed_spread", half_spread=5.0)))}
    for other in ("random", "wide"):
        diff = results["q"] - results[other]  # paired: the same market in episode i
        assert diff.mean() > 5 * diff.std(ddof=1) / np.sqrt(len(diff))


def test_save_and_load(tmp_path) -> None:
    agent = as2008_agent()
    path = agent.save(tmp_path / "qtable.npz")
    loaded = QLearning.load(path)
    np.testing.assert_array_equal(loaded.q, agent.q)
    assert loaded.steps == agent.steps and loaded.learning_rate == agent.learning_rate
    obs = np.random.default_rng(0).uniform([-1, 0], [1, 1], (50, 2))
    np.testing.assert_array_equal(loaded(obs, {}), agent(obs, {}))
    with pytest.raises(ConfigError, match=r"checkpoint '.*missing.npz': no such file"):
        QLearning.load(tmp_path / "missing.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match=r"checkpoint '.*corrupt.npz' is not readable"):
        QLearning.load(tmp_path / "corrupt.npz")
