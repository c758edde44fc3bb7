"""Features of the agent's own state: inventory and time remaining."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mmgym.features.base import Feature, FeatureInputs


class Inventory(Feature):
    """Inventory divided by the position limit, q / max_inventory, in [-1, 1]."""

    name: ClassVar[str] = "inventory"
    low: ClassVar[float] = -1.0
    high: ClassVar[float] = 1.0

    def update(self, inputs: FeatureInputs) -> None:
        np.divide(inputs.accounts.inventory, inputs.max_inventory, out=self.out)


class TimeRemaining(Feature):
    """Fraction of the episode remaining, (T − t)/T, from 1 at the start to 0 at the end."""

    name: ClassVar[str] = "time_remaining"
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def update(self, inputs: FeatureInputs) -> None:
        self.out[:] = inputs.time_remaining
