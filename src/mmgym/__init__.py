"""mmgym: market-making reinforcement learning on Gymnasium.

Importing the package registers the environment ids:

| id | market |
|---|---|
| ``mmgym/WideSpread-v0`` | ``wide``: a small-tick equity's sparse book, informed flow |
| ``mmgym/MarketMaking-v0`` | ``lob``: L2 order book with informed flow, BTCUSDT's one-tick spread |
| ``mmgym/AvellanedaStoikov-v0`` | ``as2008``: Avellaneda & Stoikov (2008), section 3.3 |
| ``mmgym/LOBReplay-v0`` | ``replay``: a recorded order book (``data_path=...``) |

each with an entry point (``gym.make``) and a vector entry point
(``gym.make_vec(..., vectorization_mode="vector_entry_point")``).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from mmgym.env import MarketMakingEnv
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

__version__ = "0.1.0"

ENV_IDS: dict[str, str] = {
    "mmgym/WideSpread-v0": "wide",
    "mmgym/MarketMaking-v0": "lob",
    "mmgym/AvellanedaStoikov-v0": "as2008",
    "mmgym/LOBReplay-v0": "replay",
}
"""Registered environment ids and the market each one runs."""

for _env_id, _market in ENV_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="mmgym.env:MarketMakingEnv",
            vector_entry_point="mmgym.vector:MarketMakingVectorEnv",
            kwargs={"market": _market},
        )

__all__ = [
    "ENV_IDS",
    "ConfigError",
    "MarketMakingEnv",
    "MarketMakingSB3VecEnv",
    "MarketMakingVectorEnv",
]
