"""mmgym: market-making reinforcement learning on Gymnasium.

Importing the package registers the environment ids, and nothing heavier (no simulator, no
torch; the env classes load on first use):

| id | market |
|---|---|
| ``mmgym/WideSpread-v0`` | ``wide``: a small-tick equity's sparse book, informed flow |
| ``mmgym/MarketMaking-v0`` | ``lob``: L2 order book with informed flow, BTCUSDT's one-tick spread |
| ``mmgym/AvellanedaStoikov-v0`` | ``as2008``: Avellaneda & Stoikov (2008), section 3.3 |
| ``mmgym/LOBReplay-v0`` | ``replay``: a recorded order book (``data_path=...``) |
| ``mmgym/MultiAsset-v0`` | ``multi_asset``: N lead–lag correlated books (``wide`` legs) |

each with an entry point (``gym.make``) and a vector entry point
(``gym.make_vec(..., vectorization_mode="vector_entry_point")``).

Extension: :func:`register_market`, :func:`register_feature`, :func:`register_reward` and
:func:`register_policy` add a user's own by name (see :mod:`mmgym.registry`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gymnasium.envs import registration

from mmgym.registry import register_feature, register_market, register_policy, register_reward
from mmgym.validation import ConfigError

if TYPE_CHECKING:
    from mmgym.env import MarketMakingEnv
    from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
    from mmgym.vector import MarketMakingVectorEnv

__version__ = "0.1.0"

ENV_IDS: dict[str, str] = {
    "mmgym/WideSpread-v0": "wide",
    "mmgym/MarketMaking-v0": "lob",
    "mmgym/AvellanedaStoikov-v0": "as2008",
    "mmgym/LOBReplay-v0": "replay",
    "mmgym/MultiAsset-v0": "multi_asset",
}
"""Registered environment ids and the market each one runs."""

for _env_id, _market in ENV_IDS.items():
    if _env_id not in registration.registry:
        registration.register(
            id=_env_id,
            entry_point="mmgym.env:MarketMakingEnv",
            vector_entry_point="mmgym.vector:MarketMakingVectorEnv",
            kwargs={"market": _market},
        )

_LAZY = {
    "MarketMakingEnv": "mmgym.env",
    "MarketMakingVectorEnv": "mmgym.vector",
    "MarketMakingSB3VecEnv": "mmgym.sb3_vec_env",
}


def __getattr__(name: str) -> Any:
    """The env classes, imported on first use (the SB3 adapter imports Stable-Baselines3)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmgym' has no attribute {name!r}")


__all__ = [
    "ENV_IDS",
    "ConfigError",
    "MarketMakingEnv",
    "MarketMakingSB3VecEnv",
    "MarketMakingVectorEnv",
    "register_feature",
    "register_market",
    "register_policy",
    "register_reward",
]
