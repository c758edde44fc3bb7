"""Reward functions: the interface, the built-ins and their registry.

``make_reward`` accepts a registered name (with keyword parameters) or any callable of a
:class:`Transition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmgym.registry import REWARDS
from mmgym.rewards.base import RewardFn, Transition
from mmgym.rewards.builtin import (
    AsymmetricDampenedPnL,
    CARAUtility,
    DifferentialSharpe,
    PnL,
    PnLMinusInventoryPenalty,
    RealizedSpread,
    RunningInventoryPenalty,
)
from mmgym.rewards.portfolio import PortfolioInventoryPenalty, PortfolioTransition
from mmgym.validation import ConfigError, make_registered

for _reward in (
        PnL,
        PnLMinusInventoryPenalty,
        RunningInventoryPenalty,
        CARAUtility,
        AsymmetricDampenedPnL,
        DifferentialSharpe,
        RealizedSpread,
        PortfolioInventoryPenalty,
):
    REWARDS.add(_reward)
DEFAULT_REWARD = PnLMinusInventoryPenalty.name


def make_reward(
    reward_fn: str | RewardFn | Mapping[str, Any] = DEFAULT_REWARD, **params: Any
) -> RewardFn:
    """A reward function from a registered name and its parameters, a Hydra-style mapping
    with ``_target_`` (the dotted path of a reward class or function, instantiated with
    ``hydra.utils.instantiate``), or a callable as is."""
    if isinstance(reward_fn, Mapping):
        if "_target_" not in reward_fn:
            raise ConfigError(f"reward_fn={dict(reward_fn)!r}: a mapping needs a '_target_'")
        from hydra.utils import instantiate

        try:
            reward_fn = instantiate(dict(reward_fn), **params)
        except Exception as e:
            raise ConfigError(f"reward_fn={dict(reward_fn)!r}: {e}") from None
        params = {}
    if callable(reward_fn):
        if params:
            raise ConfigError(
                f"reward_kwargs={params!r}: only for a reward given by name, not a callable"
            )
        return reward_fn
    return make_registered(
        "reward_fn", REWARDS, reward_fn, params, f"reward_kwargs for {reward_fn!r}"
    )


__all__ = [
    "DEFAULT_REWARD",
    "REWARDS",
    "AsymmetricDampenedPnL",
    "CARAUtility",
    "DifferentialSharpe",
    "PnL",
    "PnLMinusInventoryPenalty",
    "PortfolioInventoryPenalty",
    "PortfolioTransition",
    "RealizedSpread",
    "RewardFn",
    "RunningInventoryPenalty",
    "Transition",
    "make_reward",
]
