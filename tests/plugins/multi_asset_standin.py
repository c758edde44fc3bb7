"""Stand-ins for the multi-asset baselines (``mmgym.policies.multi_asset``) in the tests of
the training kit on a multi-asset market: ``independent`` (registered only when the package
has none) and ``tiny_multi``, registered on import (the command line loads the module with
``plugins=[multi_asset_standin]``, ``PYTHONPATH`` on ``tests/plugins``) and by
:func:`register` (the tests, whose registries are restored after each)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from mmgym.policies.base import Policy
from mmgym.registry import POLICIES


class Independent:
    """A single-asset policy ``base`` applied to each of ``assets`` assets: asset ``a``'s block
    of the observation (``asset_feature_names``) and its ``info`` column, one copy of the base
    per asset."""

    name: ClassVar[str] = "independent"
    multi_asset: ClassVar[bool] = True

    def __init__(self, base: Policy, assets: int, asset_feature_names: tuple[str, ...]) -> None:
        self.bases = [copy.deepcopy(base) for _ in range(assets)]
        self.width = len(asset_feature_names)

    def reset(self, mask: np.ndarray) -> None:
        for base in self.bases:
            if hasattr(base, "reset"):
                base.reset(mask)

    def bind(self, market: Any) -> None:
        for base, leg in zip(self.bases, market.legs, strict=True):
            if hasattr(base, "bind"):
                base.bind(leg)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        F = self.width
        return np.concatenate([
            np.asarray(base(obs[:, a * F:(a + 1) * F],
                            {k: np.asarray(v)[:, a] for k, v in info.items()
                             if not k.startswith("_") and np.ndim(v) == 2}), dtype=float)
            for a, base in enumerate(self.bases)], axis=1)


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
    """Register the stand-ins: ``independent`` unless the package has one, ``tiny_multi``."""
    if "independent" not in POLICIES:
        POLICIES.add(Independent)
    POLICIES.add(TinyMulti)


register()
