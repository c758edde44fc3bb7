"""Observation features by name."""

from __future__ import annotations

from mmgym.features.base import Feature, FeatureInputs
from mmgym.features.state import Inventory, TimeRemaining

FEATURES: dict[str, type[Feature]] = {f.name: f for f in (Inventory, TimeRemaining)}

__all__ = ["FEATURES", "Feature", "FeatureInputs", "Inventory", "TimeRemaining"]
