"""Learners that win, measured (slow): the presets train agents that beat the baselines on
common evaluation episodes disjoint from their training, by paired 95% intervals.

On ``as2008`` under the running inventory penalty the optimal policy is known,
Cartea–Jaimungal's with the reward's φ and α: Q-learning and PPO, trained with the training
kit on the ``as2008_*`` presets for a fixed number of steps (no wall-clock limit, so the
result does not depend on the machine's speed), reach a share of its mean reward on 1,000
common seeded episodes (seeds 0–999, ``evaluate.py``'s default) and beat the ``random`` and
``fixed_spread`` baselines. ``benchmarks/learning.py`` measures the presets themselves over
three training seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_training import config

from mmgym.agents import QLearning
from mmgym.evaluation import run_episodes
from mmgym.evaluation.metrics import Bootstrap, mean
from mmgym.kit.config import env_kwargs
from mmgym.kit.lineup import baseline, checkpoint, reward_optimal
from mmgym.kit.training import train
from mmgym.policies.base import Policy

EPISODES = 500
AS2008_EPISODES = 1000


def _pnl(contender, kwargs: dict) -> np.ndarray:
    played = run_episodes(contender.policy, EPISODES, seed=0, **(kwargs | contender.observation))
    return played["pnl"].to_numpy()


def _train(tmp_path: Path, *overrides: str):
    """Train a configuration into ``tmp_path`` (with its ``.hydra/config.yaml``, which an
    evaluation reads the agent's observation and actions from)."""
    cfg = config(*overrides, "checkpoint_every=0", "eval_episodes=0")
    train(cfg, tmp_path)
    return cfg


@pytest.mark.slow
def test_ppo_on_wide_beats_avellaneda_stoikov_and_the_book_reading_baselines(
        tmp_path: Path) -> None:
    # wide_ppo's recipe on a quarter of its steps (about 1.5 minutes on one idle core)
    _train(tmp_path, "experiment=wide_ppo", "total_timesteps=5000000")
    evaluation = config("market=wide")  # evaluated on PnL, the market's own observation
    kwargs = env_kwargs(evaluation)
    ppo = _pnl(checkpoint(str(tmp_path / "model.zip"), 0, evaluation.market, kwargs), kwargs)
    boot = Bootstrap()
    for name in ("as_inventory", "as_signals", "glft"):
        low = boot.estimate(mean, ppo, _pnl(baseline(name, evaluation.market), kwargs))[1]
        assert low > 0, f"PPO − {name}: paired interval's low end {low:.2f} ≤ 0"


def _rewards(policy: Policy, kwargs: dict, observation: dict) -> np.ndarray:
    """Summed reward of each of the common ``as2008`` episodes."""
    played = run_episodes(policy, AS2008_EPISODES, seed=0, **(kwargs | observation))
    return played["reward"].to_numpy()


@pytest.fixture(scope="module")
def as2008_baselines() -> dict[str, np.ndarray]:
    """Cartea–Jaimungal's (the optimum), random's and fixed_spread's episode rewards."""
    cfg = config("experiment=as2008_qlearning")
    kwargs = env_kwargs(cfg)
    out = {}
    for name in ("cartea_jaimungal", "random", "fixed_spread"):
        b = baseline(name, cfg.market, reward_optimal(kwargs))
        out[name] = _rewards(b.policy, kwargs, b.observation)
    return out


def _check(learned: np.ndarray, scored: dict[str, np.ndarray], share: float) -> None:
    """mean(learned) ≥ share × Cartea–Jaimungal's mean, and above random and fixed_spread:
    the paired 95% interval of the difference above 0."""
    optimum = scored["cartea_jaimungal"].mean()
    assert learned.mean() >= share * optimum, \
        f"{learned.mean():.3f} = {learned.mean() / optimum:.4f} × CJ's {optimum:.3f}"
    for other in ("random", "fixed_spread"):
        difference = Bootstrap().estimate(mean, learned, scored[other])
        assert difference[1] > 0, f"against {other}: {difference}"


@pytest.mark.slow
def test_qlearning_on_as2008_reaches_cartea_jaimungal(tmp_path: Path,
                                                      as2008_baselines: dict) -> None:
    # as2008_qlearning's recipe on a fifth of its steps (about 30 s on one idle core)
    cfg = _train(tmp_path, "experiment=as2008_qlearning", "total_timesteps=100000000",
                 "time_limit_s=0")
    agent = checkpoint(str(tmp_path / "qtable.npz"), 0, cfg.market, env_kwargs(cfg))
    assert isinstance(agent.policy, QLearning)
    _check(_rewards(agent.policy, env_kwargs(cfg), agent.observation), as2008_baselines, 0.95)


@pytest.mark.slow
def test_ppo_on_as2008_reaches_cartea_jaimungal(tmp_path: Path, as2008_baselines: dict) -> None:
    # as2008_ppo's recipe: 3e7 steps, about 3.5 minutes on one idle core
    cfg = _train(tmp_path, "experiment=as2008_ppo", "total_timesteps=30000000",
                 "time_limit_s=0")
    kwargs = env_kwargs(cfg)
    agent = checkpoint(str(tmp_path / "model.zip"), 0, cfg.market, kwargs)
    _check(_rewards(agent.policy, kwargs, agent.observation), as2008_baselines, 0.99)
