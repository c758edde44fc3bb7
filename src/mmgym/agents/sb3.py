"""Stable-Baselines3 agents on the native vector environment, by algorithm name.

Any SB3 algorithm class (``PPO``, ``SAC``, ``A2C``, ``TD3``, ``DDPG``, ``DQN`` for discrete
wrappers ...), or one of SB3-Contrib's when it is installed (``RecurrentPPO``, ``TQC``,
``CrossQ``, ``TRPO``, ``ARS``: ``pip install 'mmgym[contrib]'``), trains on
:class:`mmgym.MarketMakingSB3VecEnv`, optionally under ``VecNormalize`` (whose statistics are
saved next to the model), and is used afterwards as a policy, ``SB3Policy(model)(obs, info)
-> offsets`` (a recurrent one carrying its LSTM state from step to step).
"""

from __future__ import annotations

import inspect
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from mmgym.atomic import replacing
from mmgym.spaces import offsets_of
from mmgym.validation import ConfigError, check_finite, check_number

NORMALIZE_FILE = "vecnormalize.pkl"
BUFFER_FILE = "replay_buffer.pkl"
SET_BY_RUN = {"policy": "agent.policy", "env": "the environment",
              "policy_kwargs": "agent.policy_kwargs", "seed": "seed", "device": "cpu",
              "verbose": "0", "_init_setup_model": "true"}
"""An algorithm's arguments the training run sets itself, and from what: not ``agent.kwargs``."""


def _algorithms() -> dict[str, type[BaseAlgorithm]]:
    """The algorithm classes of SB3 and, when installed, of SB3-Contrib, by name."""
    modules: list[Any] = [stable_baselines3]
    try:
        import sb3_contrib
    except ImportError:
        pass
    else:
        modules.append(sb3_contrib)
    return {n: getattr(m, n) for m in modules for n in dir(m)
            if isinstance(getattr(m, n), type) and issubclass(getattr(m, n), BaseAlgorithm)}


def algorithm(name: str) -> type[BaseAlgorithm]:
    """The SB3 (or SB3-Contrib) algorithm class called ``name``."""
    classes = _algorithms()
    if name not in classes:
        raise ConfigError(f"agent.algo={name!r}: expected qlearning or one of "
                          f"{', '.join(sorted(classes))} (SB3-Contrib's: "
                          "pip install 'mmgym[contrib]')")
    return classes[name]


def hyperparameters(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An algorithm's arguments with RL Baselines3 Zoo's schedule strings resolved:
    ``"lin_<v>"`` (for ``learning_rate``, ``clip_range`` or any argument SB3 takes as a
    schedule) is ``v`` decayed linearly to 0 over the run (SB3's ``LinearSchedule`` of the
    progress remaining, so the decay spans ``total_timesteps``, not a ``time_limit_s``)."""
    from stable_baselines3.common.utils import LinearSchedule

    resolved = dict(kwargs)
    for name, value in kwargs.items():
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                start = float(value.removeprefix("lin_"))
            except ValueError:
                start = float("nan")
            if not np.isfinite(start) or start <= 0:
                raise ConfigError(f"agent.kwargs.{name}={value!r}: a linear schedule is "
                                  "lin_<v> with v a number > 0 (e.g. lin_1e-3)")
            resolved[name] = LinearSchedule(start, 0.0, 1.0)
    return resolved


def check_arguments(cls: type[BaseAlgorithm], kwargs: dict[str, Any],
                    policy_kwargs: dict[str, Any]) -> None:
    """Check an algorithm's arguments before it is built: every key of ``kwargs``
    (``agent.kwargs``) one of ``cls``'s, every number in them and in ``policy_kwargs``
    (``agent.policy_kwargs``) finite, and the layer sizes of ``net_arch`` integers ≥ 1."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # after self
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    allowed = [n for n in named if n not in SET_BY_RUN]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)  # takes any keyword
    for key, value in kwargs.items():
        if key in SET_BY_RUN:
            raise ConfigError(f"agent.kwargs.{key}={value!r}: set by the run (from "
                              f"{SET_BY_RUN[key]}), not in agent.kwargs")
        if key not in allowed and not open_ended:
            raise ConfigError(f"agent.kwargs.{key}={value!r}: not an argument of "
                              f"{cls.__name__}; allowed: {', '.join(allowed)}")
    check_finite("agent.kwargs", kwargs)
    check_finite("agent.policy_kwargs", policy_kwargs)
    _check_layers("agent.policy_kwargs.net_arch", policy_kwargs.get("net_arch", []))


def _check_layers(field: str, net_arch: Any) -> None:
    """Every layer size in ``net_arch`` (a list, or a mapping of lists by network) an
    integer ≥ 1."""
    if isinstance(net_arch, dict):
        for name, layers in net_arch.items():
            _check_layers(f"{field}.{name}", layers)
        return
    if not isinstance(net_arch, list | tuple):
        raise ConfigError(f"{field}={net_arch!r}: expected a list of layer sizes, or a "
                          "mapping of them by network (pi, vf, qf)")
    for i, size in enumerate(net_arch):
        check_number(f"{field}[{i}]", size, low=1, integer=True)


def make(name: str, policy: str, venv: VecEnv, seed: int, policy_kwargs: dict[str, Any],
         kwargs: dict[str, Any]) -> BaseAlgorithm:
    """A new model of the algorithm ``name`` (``agent.algo``) with ``policy``
    (``agent.policy``) on ``venv``, checked first: the algorithm acts in ``venv``'s action
    space (:func:`check_action_space`) and takes these arguments (:func:`check_arguments`;
    schedules resolved, :func:`hyperparameters`). An argument the algorithm still rejects
    raises a :class:`ConfigError` naming ``agent.kwargs`` and ``agent.policy_kwargs``."""
    cls = algorithm(name)
    check_action_space(cls, policy, venv)
    check_arguments(cls, kwargs, policy_kwargs)
    try:
        return cls(policy, venv, seed=seed, device="cpu", verbose=0,
                   policy_kwargs=policy_kwargs, **hyperparameters(kwargs))
    except (AssertionError, ValueError, TypeError) as e:  # SB3's own checks of its arguments
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"agent.kwargs, agent.policy_kwargs: {name} rejects them: "
                          f"{first}") from None


def check_action_space(cls: type[BaseAlgorithm], policy: str, venv: VecEnv) -> None:
    """Raise unless the algorithm ``cls`` acts in ``venv``'s action space and knows the
    policy ``policy``: the algorithm is set up without its networks (SB3 declares its
    ``supported_action_spaces`` to its base class, which asserts them)."""
    if "_init_setup_model" not in inspect.signature(cls.__init__).parameters:
        return
    try:
        cls(policy, venv, _init_setup_model=False)
    except AssertionError as e:
        message = str(e).splitlines()[0] if str(e) else "an assertion failed"
        kinds = re.findall(r"spaces\.\w+\.(\w+)'", message) or [message]
        space = type(venv.action_space).__name__
        raise ConfigError(
            f"agent.algo={cls.__name__!r}: supports {' or '.join(kinds)} action spaces only; "
            f"this environment's is {space} (bid and ask offsets): choose an algorithm for "
            f"{space} actions (PPO, SAC, TD3, A2C, DDPG, ...)"
        ) from None
    except ValueError as e:  # an unknown policy name
        raise ConfigError(f"agent.policy={policy!r}: {e}") from None


def save(model: BaseAlgorithm, path: Path) -> None:
    """The model at ``path`` (.zip), with its VecNormalize statistics and replay buffer next
    to it when it has them (``<stem>.vecnormalize.pkl``, ``<stem>.replay_buffer.pkl``).

    The rule of a checkpoint of several files: each is written to a temporary file first
    (:func:`mmgym.atomic.replacing`); once all are written, any model already at ``path`` is
    removed (with any companion this model lacks), the companions are renamed into place and
    the model last. So a model file that exists is complete and its companions are those of
    the same save; a write that fails changes nothing; a process killed at any moment leaves
    the earlier files or the new ones (killed between the renames, no model of that name),
    never a mix."""
    env = model.get_env()
    stats = path.with_suffix("." + NORMALIZE_FILE)
    buffer = path.with_suffix("." + BUFFER_FILE)
    with ExitStack() as renames:  # on leaving, in reverse: buffer, stats, the model last
        with renames.enter_context(replacing(path)).open("wb") as f:
            model.save(f)
        normalized = isinstance(env, VecNormalize)
        if normalized:
            env.save(str(renames.enter_context(replacing(stats))))
        off_policy = isinstance(model, OffPolicyAlgorithm)
        if off_policy:
            model.save_replay_buffer(renames.enter_context(replacing(buffer)))
        path.unlink(missing_ok=True)
        for companion, kept in ((stats, normalized), (buffer, off_policy)):
            if not kept:
                companion.unlink(missing_ok=True)


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
    (``normalize_actions``) has them mapped back (:func:`mmgym.spaces.offsets_of`).

    A recurrent model (SB3-Contrib's ``RecurrentPPO``) keeps its LSTM state per environment
    between calls; ``reset(mask)`` starts the masked environments' episodes afresh."""

    def __init__(self, model: BaseAlgorithm) -> None:
        self.model = model
        env = model.get_env()
        self.normalize = env if isinstance(env, VecNormalize) else None
        core = env.unwrapped.core
        self.bounds = (core.action_low, core.action_high) if core.normalize_actions else None
        self.recurrent = hasattr(model.policy, "lstm_actor")
        self._state: Any = None
        self._starts = np.ones(0, dtype=bool)

    def reset(self, mask: np.ndarray) -> None:
        """Start new episodes for the masked environments (a recurrent model's state)."""
        if len(self._starts) != len(mask):
            self._starts = np.ones(len(mask), dtype=bool)
            self._state = None
        self._starts |= np.asarray(mask, dtype=bool)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        if self.normalize is not None:
            obs = self.normalize.normalize_obs(obs)
        if self.recurrent:
            if len(self._starts) != len(obs):
                self.reset(np.ones(len(obs), dtype=bool))
            actions, self._state = self.model.predict(obs, state=self._state,
                                                      episode_start=self._starts,
                                                      deterministic=True)
            self._starts[:] = False
        else:
            actions = self.model.predict(obs, deterministic=True)[0]
        return actions if self.bounds is None else offsets_of(actions, *self.bounds)
