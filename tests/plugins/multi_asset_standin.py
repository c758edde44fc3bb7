"""A user's multi-asset policy, ``tiny_multi``, for the tests of the training kit on a
multi-asset market: registered on import (the command line loads the module with
``plugins=[multi_asset_standin]``, ``PYTHONPATH`` on ``tests/plugins``) and by
:func:`register` (the tests, whose registries are restored after each)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mmgym.registry import POLICIES


class TinyMulti:
    """Quotes ``half_spread`` ticks a side on every asset, skewed against the asset's
    inventory by ``skew`` ticks per ``unit`` shares (reads each asset's ``inventory`` from
    ``info``)."""

    name: ClassVar[str] = "tiny_multi"
    multi_asset: ClassVar[bool] = True

    def __init__(self, assets: int, asset_feature_names: tuple[str, ...],
                 half_spread: float = 9.0, skew: float = 1.0, unit: float = 100.0) -> None:
        if "inventory" not in asset_feature_names:
            raise ValueError(f"tiny_multi: no inventory in {asset_feature_names}")
        self.assets, self.half_spread, self.skew, self.unit = assets, half_spread, skew, unit

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        lean = self.skew * np.asarray(info["inventory"]).reshape(len(obs), self.assets) / self.unit
        actions = np.empty((len(obs), 2 * self.assets))
        actions[:, 0::2] = self.half_spread + lean
        actions[:, 1::2] = self.half_spread - lean
        return np.maximum(actions, 0.0)


def register() -> None:
    """Register ``tiny_multi``."""
    POLICIES.add(TinyMulti)


register()
