"""Learners that learn (slow): trained with the training kit on the ``as2008`` presets, scored
on 1,000 common seeded episodes (seeds 0–999, ``evaluate.py``'s default) of the paper's market
under the running inventory penalty, against Cartea–Jaimungal (the optimal policy for that
reward, with its φ and α) and the ``random`` and ``fixed_spread`` baselines.

Each test trains for a fixed number of steps (no wall-clock limit), so its result does not
depend on the machine's speed; ``benchmarks/learning.py`` measures the presets themselves
over three training seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from mmgym.agents import QLearning
from mmgym.cli import CONF_DIR
from mmgym.config import env_kwargs, register
from mmgym.evaluation import run_episodes
from mmgym.evaluation.lineup import baseline, checkpoint, reward_optimal
from mmgym.evaluation.metrics import Bootstrap, mean
from mmgym.policies.base import Policy
from mmgym.training import train

pytestmark = pytest.mark.slow

EPISODES = 1000
BASELINES = ("cartea_jaimungal", "random", "fixed_spread")


def config(experiment: str, *overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"experiment={experiment}", "progress=false",
                                            "time_limit_s=0", "checkpoint_every=0",
                                            "eval_episodes=0", *overrides])


def rewards(policy: Policy, kwargs: dict, observation: dict | None = None) -> np.ndarray:
    """Summed reward of each of the common episodes."""
    played = run_episodes(policy, EPISODES, seed=0, **(kwargs | (observation or {})))
    return played["reward"].to_numpy()


@pytest.fixture(scope="module")
def scored() -> dict[str, np.ndarray]:
    """The baselines' episode rewards (the same for both presets: market and reward)."""
    cfg = config("as2008_qlearning")
    kwargs = env_kwargs(cfg)
    out = {}
    for name in BASELINES:
        b = baseline(name, cfg.market, reward_optimal(kwargs))
        out[name] = rewards(b.policy, kwargs, b.observation)
    return out


def check(learned: np.ndarray, scored: dict[str, np.ndarray], share: float) -> None:
    """mean(learned) ≥ share × Cartea–Jaimungal's mean, and above random and fixed_spread:
    the paired 95% interval of the difference above 0."""
    optimum = scored["cartea_jaimungal"].mean()
    assert learned.mean() >= share * optimum, \
        f"{learned.mean():.3f} = {learned.mean() / optimum:.4f} × CJ's {optimum:.3f}"
    for other in ("random", "fixed_spread"):
        difference = Bootstrap().estimate(mean, learned, scored[other])
        assert difference[1] > 0, f"against {other}: {difference}"


def test_qlearning_reaches_cartea_jaimungal(tmp_path: Path, scored: dict) -> None:
    cfg = config("as2008_qlearning", "total_timesteps=100000000")
    train(cfg, tmp_path)
    agent = QLearning.load(tmp_path / "qtable.npz")
    check(rewards(agent, env_kwargs(cfg)), scored, 0.95)


def test_ppo_reaches_cartea_jaimungal(tmp_path: Path, scored: dict) -> None:
    cfg = config("as2008_ppo", "total_timesteps=2000000")
    train(cfg, tmp_path)
    kwargs = env_kwargs(cfg)
    agent = checkpoint(f"PPO:{tmp_path / 'model.zip'}", 0, cfg.market, kwargs)
    check(rewards(agent.policy, kwargs, agent.observation), scored, 0.99)
