"""The Gymnasium vector environment: ``n`` environments on one batched core."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from mmgym.accounting import INFO_KEYS
from mmgym.core import MarketMakingCore
from mmgym.spaces import action_space, observation_space


class MarketMakingVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`mmgym.env.MarketMakingEnv` stepped as one numpy batch.

    Spaces, reward, episode end and arguments are those of the single environment (see its
    docstring); actions are ``(num_envs, 2)`` and observations ``(num_envs, n_features)``.
    ``info`` holds one array per key of the single environment's ``info`` (with Gymnasium's
    ``_key`` masks).

    Seeding follows Gymnasium: ``reset(seed=s)`` seeds env ``i`` with ``s + i``; a list seeds
    each env. ``options={"reset_mask": mask}`` resets only the masked envs;
    ``options={"episode": e}`` starts episode ``e`` of each reset env's stream instead of the
    next one (the single env's option, see its "Seeding").

    Autoreset (``autoreset_mode``):

    * ``NextStep`` (default, Gymnasium 1.x): the step after an env's episode ends resets it;
      that step ignores its action and returns its first observation, reward 0 and
      ``terminated=False``.
    * ``SameStep``: an env is reset in the step that ends its episode; the returned
      observation is the new episode's first, the last one is in ``info["final_obs"]`` and
      its info in ``info["final_info"]``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        market: str = "as2008",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: mmgym environments do not render")
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        if self.autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode='Disabled' is not supported; use NextStep or SameStep")
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.core = MarketMakingCore(market, num_envs, **kwargs)
        self.num_envs = self.core.n
        self.single_action_space = action_space(self.core)
        self.single_observation_space = observation_space(self.core)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._truncated = np.zeros(self.num_envs, dtype=bool)
        self._all = np.ones(self.num_envs, dtype=bool)
        self._all.flags.writeable = False

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the observation's columns, in order."""
        return self.core.feature_names

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        single = isinstance(seed, int | np.integer)
        super().reset(seed=int(seed) if single else None)
        mask = self._reset_mask(options)
        seeds = [int(seed) + i for i in range(self.num_envs)] if single else seed
        episode = (options or {}).get("episode")
        self.core.reset(seeds=None if seeds is None else list(seeds), mask=mask,
                        episodes=None if episode is None else [episode] * self.num_envs)
        self._autoreset[mask] = False
        return self.core.obs.copy(), self._infos()

    def _reset_mask(self, options: dict[str, Any] | None) -> np.ndarray:
        if not options or options.get("reset_mask") is None:
            return self._all.copy()
        mask = options["reset_mask"]
        if not (isinstance(mask, np.ndarray) and mask.dtype == bool
                and mask.shape == (self.num_envs,)):
            raise ValueError(
                f"options['reset_mask']: expected a bool array of shape ({self.num_envs},)"
            )
        return mask

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        core = self.core
        pending = self._autoreset
        if pending.any():
            actions = np.array(actions, dtype=np.float64)
            if actions.shape == (self.num_envs, 2 * core.assets):
                actions[pending] = 0.0
        rewards = core.step(actions).copy()
        terminated = core.terminated.copy()
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            if pending.any():
                core.reset(mask=pending)
                rewards[pending] = 0.0
                terminated[pending] = False
            np.copyto(self._autoreset, terminated)
            return core.obs.copy(), rewards, terminated, self._truncated.copy(), self._infos()
        infos = self._infos()
        if terminated.any():
            final = {
                "final_obs": core.obs.copy(),
                "final_info": infos,
                "_final_obs": terminated.copy(),
                "_final_info": terminated.copy(),
            }
            core.reset(mask=terminated)
            infos = {**self._infos(), **final}
        return core.obs.copy(), rewards, terminated, self._truncated.copy(), infos

    def _infos(self) -> dict[str, np.ndarray]:
        table = self.core.info_table()
        infos: dict[str, np.ndarray] = {}
        for key, row in zip(INFO_KEYS, table, strict=True):
            infos[key] = row
            infos["_" + key] = self._all
        return infos
