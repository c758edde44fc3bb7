"""Typed training configuration: the schema Hydra checks ``conf/`` against.

Every group has a dataclass schema registered in Hydra's ConfigStore, so a key that does not
exist (a typo) fails when the configuration is composed, naming the key; values are then
checked by :func:`validate` (and by the environment, the reward and the agent when they are
built) before any training step, each error naming the field, the value and the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from mmgym.validation import ConfigError, check_number


@dataclass
class MarketConfig:
    """The environment: market model, its parameters, observation, position limit, fees.

    ``baseline`` holds the parameters of the Avellaneda–Stoikov inventory strategy on this
    market, in its offset unit, for the comparison that ends a training run."""

    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] | None = None
    feature_params: dict[str, Any] = field(default_factory=dict)
    max_inventory: float | None = None
    maker_fee_bps: float = 0.0
    baseline: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardConfig:
    """``reward_fn``: a registered name or a ``{_target_: ...}`` mapping."""

    reward_fn: Any = "pnl_minus_inventory_penalty"
    reward_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentConfig:
    """``algo``: ``qlearning`` or the name of any Stable-Baselines3 algorithm class (PPO, SAC,
    A2C, TD3, DDPG, ...). SB3 agents take ``policy``, ``kwargs`` (the algorithm's arguments)
    and ``policy_kwargs``; ``normalize`` wraps the environment in VecNormalize. Q-learning
    takes ``bins`` (inner bin edges by feature), ``grid`` (``bid``/``ask`` offset lists) and
    ``kwargs`` (its hyperparameters)."""

    name: str = MISSING
    algo: str = MISSING
    policy: str = "MlpPolicy"
    kwargs: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    bins: dict[str, list[float]] = field(default_factory=dict)
    grid: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """A training run: ``python train.py market=... agent=... seed=... total_timesteps=...``."""

    market: MarketConfig = MISSING
    agent: AgentConfig = MISSING
    reward: RewardConfig = MISSING
    experiment: str = "default"
    seed: int = 0
    total_timesteps: int = 100_000
    num_envs: int = 8
    checkpoint_every: int = 0
    resume: str | None = None
    eval_episodes: int = 200
    torch_threads: int = 1
    progress: bool = True
    time_limit_s: float = 0.0


def register() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="market", name="market_schema", node=MarketConfig)
    cs.store(group="agent", name="agent_schema", node=AgentConfig)
    cs.store(group="reward", name="reward_schema", node=RewardConfig)


def validate(cfg: Any) -> None:
    """Check the run's own values (ranges the schema's types cannot express)."""
    check_number("total_timesteps", cfg.total_timesteps, low=1, integer=True)
    check_number("num_envs", cfg.num_envs, low=1, high=4096, integer=True)
    check_number("checkpoint_every", cfg.checkpoint_every, low=0, integer=True)
    check_number("eval_episodes", cfg.eval_episodes, low=0, integer=True)
    check_number("torch_threads", cfg.torch_threads, low=1, integer=True)
    check_number("time_limit_s", cfg.time_limit_s, low=0)
    check_number("seed", cfg.seed, low=0, integer=True)
    if cfg.agent.algo == "qlearning" and not (cfg.agent.bins and cfg.agent.grid):
        raise ConfigError("agent.bins and agent.grid: Q-learning needs both")
