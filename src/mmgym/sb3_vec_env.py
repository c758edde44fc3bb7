"""A Stable-Baselines3 ``VecEnv`` over the batched core, so SB3 trains on it directly.

SB3 resets an environment in the step that ends its episode and returns the last
observation in ``infos[i]["terminal_observation"]``; this adapter does the same on the core,
without Python-level sub-environments. Seeding follows SB3: ``venv.seed(s)`` makes the next
``reset()`` seed env ``i`` with ``s + i``, which gives env ``i`` the episodes of
``gym.make(id).reset(seed=s + i)``; ``venv.set_options({"episode": e})`` makes it start
episode ``e`` of that stream (the single env's ``options``).

A step's ``infos`` is a :class:`StepInfos`: a read-only sequence of per-environment dicts
over one copy of the step's ``info`` table, which builds each dict only when it is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from mmgym.accounting import INFO_KEYS
from mmgym.core import MarketMakingCore
from mmgym.spaces import action_space, observation_space


class StepInfos(Sequence[dict[str, Any]]):
    """One step's ``infos`` of ``n`` environments: ``infos[i]`` is env ``i``'s ``info`` dict.

    It reads like SB3's list of dicts (index, slice, iterate, ``len``); env ``i``'s dict is
    built on first access and then kept, so changes to it (``VecNormalize`` normalising
    ``terminal_observation``, say) stick. A slice is a list of those same dicts. The
    quantities are also there as arrays, :attr:`arrays`, for code that wants the batch.

    Args:
        table: the step's ``info`` quantities, shape ``(len(INFO_KEYS), n)``, rows in the
            order of :data:`mmgym.accounting.INFO_KEYS` (units as in
            :class:`mmgym.accounting.Accounts`); owned by the infos and made read-only.
        dones: which environments ended this step, shape ``(n,)``; None if none did.
        terminal_obs: the observations of the step before the ended environments were reset,
            shape ``(n, n_features)``; row ``i`` is ``terminal_observation`` of an env ``i``
            in ``dones``.
        full: False leaves the dict of an environment that did not end empty (its quantities
            only in :attr:`arrays`), for a trainer that reads the arrays: SB3's own code reads
            every dict each step but needs only those of the environments that ended.

    Each dict holds the ``INFO_KEYS`` as Python floats, plus ``terminal_observation`` and
    ``TimeLimit.truncated`` (always False: episodes end by their horizon, a termination) for
    an environment that ended.
    """

    def __init__(
        self,
        table: np.ndarray,
        dones: np.ndarray | None = None,
        terminal_obs: np.ndarray | None = None,
        full: bool = True,
    ) -> None:
        table.flags.writeable = False
        self.table = table
        self._ended = frozenset(() if dones is None else np.flatnonzero(dones).tolist())
        self._terminal_obs = terminal_obs
        self._full = full
        self._dicts: list[dict[str, Any] | None] = [None] * table.shape[1]
        self._built = 0  # dicts built so far

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The ``info`` quantities by key, each an array of shape ``(n,)`` (read-only views
        of :attr:`table`)."""
        return dict(zip(INFO_KEYS, self.table, strict=True))

    def __len__(self) -> int:
        return len(self._dicts)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return self._all()[i]
        info = self._dicts[i]
        if info is None:
            k = range(len(self._dicts))[i]
            info = self._dicts[k] = self._build(k)
        return info

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._all())

    def _all(self) -> list[dict[str, Any]]:
        """Every environment's dict, building those not yet read (all in one pass over the
        table when none was)."""
        dicts = self._dicts
        if not self._built:
            dicts[:] = ([dict(zip(INFO_KEYS, row, strict=True))
                         for row in np.moveaxis(self.table, 1, 0).tolist()]
                        if self._full else [{} for _ in dicts])
            for i in self._ended:
                dicts[i] = self._build(i)
            self._built = len(dicts)
        elif self._built < len(dicts):
            for k, info in enumerate(dicts):
                if info is None:
                    dicts[k] = self._build(k)
        return dicts  # type: ignore[return-value]

    def _build(self, i: int) -> dict[str, Any]:
        ended = i in self._ended
        info: dict[str, Any] = (
            dict(zip(INFO_KEYS, self.table[:, i].tolist(), strict=True))
            if self._full or ended else {}
        )
        if ended:
            info["terminal_observation"] = self._terminal_obs[i]
            info["TimeLimit.truncated"] = False
        self._built += 1
        return info


class MarketMakingSB3VecEnv(VecEnv):
    """``num_envs`` mmgym environments as an SB3 ``VecEnv``.

    Args:
        num_envs: number of environments.
        market: the market model's name.
        info_dicts: False leaves ``infos[i]`` empty for an env that did not end in the step
            (its ``info`` quantities only in :attr:`step_info`): SB3 then spends no time
            building dicts nobody reads (see :class:`StepInfos`).
        kwargs: the arguments of :class:`mmgym.env.MarketMakingEnv`.

    ``step`` returns its ``infos`` as a :class:`StepInfos`: ``infos[i]`` holds the single
    environment's ``info`` keys, plus ``terminal_observation`` and ``TimeLimit.truncated``
    (always False) when env ``i`` ended; the same quantities as arrays are in
    :attr:`step_info`. ``reset_infos`` is a :class:`StepInfos` too (each env's ``info`` at
    the start of its current episode). Wrap with ``VecMonitor`` for SB3's episode statistics.
    """

    def __init__(
        self, num_envs: int = 1, market: str = "as2008", *, info_dicts: bool = True,
        **kwargs: Any,
    ) -> None:
        self.core = MarketMakingCore(market, num_envs, **kwargs)
        self._info_dicts = info_dicts
        self.render_mode = None
        super().__init__(self.core.n, observation_space(self.core), action_space(self.core))
        self._actions: np.ndarray | None = None
        self._infos = self.reset_infos = StepInfos(self.core.info_table())

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the observation's columns, in order."""
        return self.core.feature_names

    @property
    def step_info(self) -> dict[str, np.ndarray]:
        """The last step's (before any step: the last reset's) ``info`` quantities by key,
        arrays of shape ``(num_envs,)``: ``infos.arrays`` of that step."""
        return self._infos.arrays

    def reset(self) -> np.ndarray:
        self.core.reset(seeds=self._seeds,
                        episodes=[options.get("episode") for options in self._options])
        self._reset_seeds()
        self._reset_options()
        self._infos = self.reset_infos = StepInfos(self.core.info_table())
        return self.core.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, StepInfos]:
        core = self.core
        rewards = core.step(self._actions).copy()
        dones = core.terminated.copy()
        table = core.info_table()
        if dones.any():
            self._infos = StepInfos(table, dones, core.obs.copy(), full=self._info_dicts)
            core.reset(mask=dones)
            starts = self.reset_infos.table.copy()
            starts[:, dones] = core.info_table()[:, dones]
            self.reset_infos = StepInfos(starts)
        else:
            self._infos = StepInfos(table, full=self._info_dicts)
        return core.obs.copy(), rewards, dones, self._infos

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
