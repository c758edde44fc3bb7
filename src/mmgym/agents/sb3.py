"""Stable-Baselines3 agents on the native vector environment, by algorithm name.

Any SB3 algorithm class (``PPO``, ``SAC``, ``A2C``, ``TD3``, ``DDPG``, ``DQN`` for discrete
wrappers ...) trains on :class:`mmgym.MarketMakingSB3VecEnv`, optionally under
``VecNormalize`` (whose statistics are saved next to the model), and is used afterwards as
a policy, ``SB3Policy(model, normalize)(obs, info) -> offsets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from mmgym.spaces import offsets_of
from mmgym.validation import ConfigError

NORMALIZE_FILE = "vecnormalize.pkl"
BUFFER_FILE = "replay_buffer.pkl"


def algorithm(name: str) -> type[BaseAlgorithm]:
    """The SB3 algorithm class called ``name``."""
    cls = getattr(stable_baselines3, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseAlgorithm)):
        names = sorted(n for n in dir(stable_baselines3)
                       if isinstance(getattr(stable_baselines3, n), type)
                       and issubclass(getattr(stable_baselines3, n), BaseAlgorithm))
        raise ConfigError(f"agent.algo={name!r}: expected qlearning or one of {', '.join(names)}")
    return cls


def save(model: BaseAlgorithm, path: Path) -> None:
    """The model at ``path`` (.zip), with its VecNormalize statistics and replay buffer next
    to it when it has them (``<stem>.vecnormalize.pkl``, ``<stem>.replay_buffer.pkl``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    env = model.get_env()
    if isinstance(env, VecNormalize):
        env.save(str(path.with_suffix("." + NORMALIZE_FILE)))
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(path.with_suffix("." + BUFFER_FILE))


def load(
    name: str, path: str | Path, venv: VecEnv, field: str = "resume", **kwargs: Any
) -> BaseAlgorithm:
    """Continue from a checkpoint written by :func:`save`: its weights, optimiser state,
    step count, normalisation statistics and replay buffer. A missing or unreadable file, or
    one whose spaces differ from ``venv``'s, raises :class:`ConfigError` naming it as the
    config ``field`` it came from."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field}={str(path)!r}: no such checkpoint")
    stats = path.with_suffix("." + NORMALIZE_FILE)
    if stats.is_file():
        venv = VecNormalize.load(str(stats), venv)
    try:
        model = algorithm(name).load(path, env=venv, **kwargs)
    except Exception as e:  # SB3 raises many kinds on a corrupt zip
        raise ConfigError(
            f"{field}={str(path)!r}: not a readable {name} checkpoint for this environment: {e}"
        ) from None
    buffer = path.with_suffix("." + BUFFER_FILE)
    if isinstance(model, OffPolicyAlgorithm) and buffer.is_file():
        model.load_replay_buffer(buffer)
    return model


def normalized_actions(path: Path) -> bool:
    """Whether the SB3 model saved at ``path`` acts in [−1, 1] (``normalize_actions``): its
    saved action space, read from the zip without building the model."""
    try:
        data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    except Exception as e:  # a corrupt or foreign zip
        raise ConfigError(f"{path}: not a readable SB3 checkpoint: {e}") from None
    space = (data or {}).get("action_space")
    return bool(space is not None and np.all(space.low == -1) and np.all(space.high == 1))


class SB3Policy:
    """A trained SB3 model as a policy (deterministic actions; observations normalised with
    the training statistics when it was trained under VecNormalize). Its actions are offsets
    in the market's unit, as every policy's: a model trained on normalized actions
    (``normalize_actions``) has them mapped back (:func:`mmgym.spaces.offsets_of`)."""

    def __init__(self, model: BaseAlgorithm) -> None:
        self.model = model
        env = model.get_env()
        self.normalize = env if isinstance(env, VecNormalize) else None
        core = env.unwrapped.core
        self.bounds = (core.action_low, core.action_high) if core.normalize_actions else None

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        if self.normalize is not None:
            obs = self.normalize.normalize_obs(obs)
        actions = self.model.predict(obs, deterministic=True)[0]
        return actions if self.bounds is None else offsets_of(actions, *self.bounds)
