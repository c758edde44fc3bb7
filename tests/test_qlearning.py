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


@pytest.fixture(scope="module")
def as2008_agent() -> QLearning:
    """A Q-learning agent trained on as2008 (400,000 steps), once for the module."""
    env = MarketMakingVectorEnv(64, max_inventory=10)
    bins = Bins(env.feature_names, {"inventory": np.linspace(-0.95, 0.95, 20),
                                    "time_remaining": [0.25, 0.5, 0.75]})
    agent = QLearning(bins, QuoteGrid(OFFSETS, OFFSETS), learning_rate=0.05, discount=1.0,
                      epsilon_decay_steps=200_000, seed=0)
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


def test_qlearning_beats_random_and_a_far_too_wide_spread_on_common_seeds(
        as2008_agent: QLearning) -> None:
    agent = as2008_agent
    results = {name: run_episodes(policy, 500, seed=10_000, max_inventory=10)["reward"]
               for name, policy in (("q", agent),
                                    ("random", make("random", low=0.0, high=3.0)),
                                    ("wide", make("fixed_spread", half_spread=5.0)))}
    for other in ("random", "wide"):
        diff = results["q"] - results[other]  # paired: the same market in episode i
        assert diff.mean() > 5 * diff.std(ddof=1) / np.sqrt(len(diff))


def test_save_and_load(tmp_path, as2008_agent: QLearning) -> None:
    agent = as2008_agent
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


def plain_update(tables: list, visits: list, transitions: list, coins: list[float],
                 discount: float, learning_rate: float, exponent: float) -> None:
    """Watkins & Dayan's Q-learning (one table) or van Hasselt's Double Q-learning (two), in
    plain Python on nested lists, one transition after the other."""
    for (s, a, r, s_next, terminal), coin in zip(transitions, coins, strict=True):
        k = 1 if len(tables) == 2 and coin >= 0.5 else 0
        other = 1 - k if len(tables) == 2 else k
        visits[k][s][a] += 1
        alpha = learning_rate / visits[k][s][a] ** exponent
        target = r
        if not terminal:
            row = tables[k][s_next]
            best = row.index(max(row))  # the first of a tie
            target += discount * tables[other][s_next][best]
        tables[k][s][a] += alpha * (target - tables[k][s][a])


# (s, a, r, s', terminal): a pair repeated in one batch, a self-loop, a terminal transition
HAND = [(0, 1, 1.0, 1, False), (1, 0, -0.5, 2, False), (0, 1, 2.0, 0, False),
        (2, 2, 0.3, 0, True), (1, 2, 0.7, 1, False), (0, 1, 1.5, 2, False),
        (2, 0, -1.0, 1, False)]


def hand_agent(**kwargs) -> QLearning:
    bins = Bins(("inventory",), {"inventory": [-0.5, 0.5]})
    return QLearning(bins, QuoteGrid([0.5], [0.5, 1.0, 1.5]), **kwargs)


@pytest.mark.parametrize(("learning_rate", "exponent"), [(0.3, 0.0), (1.0, 0.8), (0.5, 1.0)])
def test_compiled_q_learning_update_is_watkins_and_dayans(learning_rate: float,
                                                          exponent: float) -> None:
    agent = hand_agent(learning_rate=learning_rate, learning_rate_exponent=exponent,
                       discount=0.9)
    tables, visits = [[[0.0] * 3 for _ in range(3)]], [[[0] * 3 for _ in range(3)]]
    for _ in range(4):  # batches of the same transitions: the table non-zero where it bootstraps
        agent.update(*map(np.array, zip(*HAND, strict=True)))
        plain_update(tables, visits, HAND, [0.0] * len(HAND), 0.9, learning_rate, exponent)
    np.testing.assert_allclose(agent.tables, tables, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(agent.visits, visits)
    np.testing.assert_array_equal(agent.q, tables[0])


def test_compiled_double_q_learning_update_is_van_hasselts() -> None:
    from mmgym.agents.qlearning import _update

    agent = hand_agent(learning_rate=1.0, learning_rate_exponent=0.8, discount=0.9, double=True)
    coins = np.random.default_rng(3).random((6, len(HAND)))
    tables = [[[0.0] * 3 for _ in range(3)] for _ in range(2)]
    visits = [[[0] * 3 for _ in range(3)] for _ in range(2)]
    s, a, r, s_next, terminal = map(np.array, zip(*HAND, strict=True))
    for batch in coins:
        _update(agent.tables, agent.visits, s, a, r, s_next, terminal,
                np.ones(len(HAND), dtype=bool), batch, 0.9, 1.0, 0.8)
        plain_update(tables, visits, HAND, batch.tolist(), 0.9, 1.0, 0.8)
    assert (agent.visits[0] > 0).any() and (agent.visits[1] > 0).any()
    np.testing.assert_allclose(agent.tables, tables, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(agent.visits, visits)
    # the agent acts on Q^A + Q^B: here the sum's argmax, the first of a tie
    states = np.arange(3)
    expected = (agent.tables[0] + agent.tables[1]).argmax(axis=1)
    np.testing.assert_array_equal(agent.act(np.array([[-1.0], [0.0], [1.0]]), explore=False),
                                  expected[states])


def test_step_sizes_by_visit_count() -> None:
    rewards = np.random.default_rng(0).normal(3.0, 2.0, 50)
    n = len(rewards)

    def estimate(**kwargs) -> float:  # one state, one action, every transition terminal
        bins = Bins(("inventory",), {"inventory": [0.0]})
        agent = QLearning(bins, QuoteGrid([0.5], [0.5]), **kwargs)
        agent.update(np.zeros(n, int), np.zeros(n, int), rewards, np.zeros(n, int),
                     np.ones(n, bool))
        assert agent.visits[0, 0, 0] == n
        return float(agent.q[0, 0])

    # α = 1/n: Q is the mean of its targets (Even-Dar & Mansour's linear rate)
    assert estimate(learning_rate=1.0, learning_rate_exponent=1.0) == pytest.approx(
        rewards.mean(), rel=1e-12)
    # constant α: the exponentially weighted sum Σ α(1 − α)^(n − i) r_i
    weights = 0.1 * 0.9 ** np.arange(n - 1, -1, -1)
    assert estimate(learning_rate=0.1) == pytest.approx(weights @ rewards, rel=1e-12)
    # α_i = 1/i^0.8: the recursion written out
    q = 0.0
    for i, r in enumerate(rewards, start=1):
        q += (r - q) / i**0.8
    assert estimate(learning_rate=1.0, learning_rate_exponent=0.8) == pytest.approx(q, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate_exponent": 0.3},
         r"learning_rate_exponent=0.3: out of range, allowed 0 \(a constant step size\) or "
         r"\(0.5, 1\] \(polynomial\)"),
        ({"learning_rate_exponent": 1.5}, r"learning_rate_exponent=1.5: out of range"),
        ({"learning_rate_exponent": "fast"},
         r"learning_rate_exponent='fast': expected a number, 0 \(a constant"),
        ({"double": "yes"}, r"double='yes': expected true or false"),
        ({"learning_rate": 0.0}, r"learning_rate=0.0: out of range, allowed \(0, 1\]"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        hand_agent(**kwargs)


def test_double_q_learning_saves_and_resumes_its_tables_and_visits(tmp_path) -> None:
    env = MarketMakingVectorEnv(16, max_inventory=10)
    bins = Bins(env.feature_names, {"inventory": [-0.25, 0.25]})
    agent = QLearning(bins, QuoteGrid(OFFSETS, OFFSETS), learning_rate=1.0,
                      learning_rate_exponent=0.8, discount=1.0, double=True, seed=1)
    agent.learn(env, 5_000, seed=2)
    loaded = QLearning.load(agent.save(tmp_path / "double.npz"))
    assert loaded.double and loaded.learning_rate_exponent == 0.8
    np.testing.assert_array_equal(loaded.tables, agent.tables)
    np.testing.assert_array_equal(loaded.visits, agent.visits)
    assert loaded.visits.sum() == loaded.steps == agent.steps
    # a table saved before the visit counts and Double Q-learning loads as Q-learning
    old = {k: v for k, v in np.load(tmp_path / "double.npz").items()
           if k not in ("tables", "visits", "learning_rate_exponent", "double")}
    np.savez(tmp_path / "old.npz", **old)
    single = QLearning.load(tmp_path / "old.npz")
    assert not single.double and single.learning_rate_exponent == 0.0
    np.testing.assert_array_equal(single.q, agent.q)
    assert single.visits.sum() == 0


def test_compiled_bins_equal_searchsorted() -> None:
    bins = Bins(("inventory", "vpin", "time_remaining"),
                {"inventory": np.linspace(-0.9, 0.9, 10), "time_remaining": [0.25, 0.5]})
    obs = np.random.default_rng(0).uniform(-1.2, 1.2, (5_000, 3))
    obs[:10, 0] = np.linspace(-0.9, 0.9, 10)  # on an edge: the bin above it
    obs[10, 0], obs[11, 2] = np.nan, np.inf
    cells = [np.searchsorted(e, obs[:, c], side="right")
             for c, e in zip(bins.columns, bins.edges, strict=True)]
    np.testing.assert_array_equal(bins(obs), np.ravel_multi_index(cells, bins.shape))
