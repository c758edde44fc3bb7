"""A Stable-Baselines3 ``VecEnv`` over the batched core, so SB3 trains on it directly.

SB3 resets an environment in the step that ends its episode and returns the last
observation in ``infos[i]["terminal_observation"]``; this adapter does the same on the core,
without Python-level sub-environments. Seeding follows SB3: ``venv.seed(s)`` makes the next
``reset()`` seed env ``i`` with ``s + i``, which gives env ``i`` the episodes of
``gym.make(id).reset(seed=s + i)``; ``venv.set_options({"episode": e})`` makes it start
episode ``e`` of that stream (the single env's ``options``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from mmgym.core import MarketMakingCore
from mmgym.spaces import action_space, observation_space


class MarketMakingSB3VecEnv(VecEnv):
    """``num_envs`` mmgym environments as an SB3 ``VecEnv``.

    Args:
        num_envs: number of environments.
        market: the market model's name.
        kwargs: the arguments of :class:`mmgym.env.MarketMakingEnv`.

    Each ``infos[i]`` holds the single environment's ``info`` keys, plus
    ``terminal_observation`` and ``TimeLimit.truncated`` (always False) when env ``i`` ended.
    Wrap with ``VecMonitor`` for SB3's episode statistics.
    """

    def __init__(self, num_envs: int = 1, market: str = "as2008", **kwargs: Any) -> None:
        self.core = MarketMakingCore(market, num_envs, **kwargs)
        self.render_mode = None
        super().__init__(self.core.n, observation_space(self.core), action_space(self.core))
        self._actions: np.ndarray | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the observation's columns, in order."""
        return self.core.feature_names

    def reset(self) -> np.ndarray:
        self.core.reset(seeds=self._seeds,
                        episodes=[options.get("episode") for options in self._options])
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [self.core.info_row(i) for i in range(self.num_envs)]
        return self.core.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        core = self.core
        rewards = core.step(self._actions).copy()
        dones = core.terminated.copy()
        infos = [core.info_row(i) for i in range(self.num_envs)]
        if dones.any():
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = core.obs[i].copy()
                infos[i]["TimeLimit.truncated"] = False
            core.reset(mask=dones)
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = core.info_row(i)
        return core.obs.copy(), rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(
            f"set_attr({attr_name!r}): the environments share one core; "
            "build a new MarketMakingSB3VecEnv with the new arguments"
        )

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
