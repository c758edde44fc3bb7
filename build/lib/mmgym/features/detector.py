"""The adverse-selection detector's probabilities as observation features: what an RL agent
reads to learn when to widen or withdraw (:mod:`mmgym.models.detector`).

``adverse_bid`` and ``adverse_ask`` are P(adverse) of a fill of that side given the current
observation of the detector's own features, which each computes from the market with the
parameters the detector was fitted with (its ``feature_params``), whether or not the
observation also holds them. Both take ``model``, the detector file (``mmgym-fit
model=detector``): ``feature_params={"adverse_bid": {"model": path}, "adverse_ask": {"model":
path}}``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mmgym.features.base import Feature, FeatureInputs, make_features
from mmgym.markets.base import Market
from mmgym.models.detector import Detector


class AdverseProbability(Feature):
    """P(adverse) of a fill of side ``side`` (0 bid, 1 ask), in [0, 1]."""

    side: ClassVar[int]
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def __init__(self, out: np.ndarray, market: Market, model: str) -> None:
        super().__init__(out, market)
        self.detector = Detector.load(model, f"feature_params.{self.name}.model")
        names = self.detector.feature_names
        self._inputs = np.zeros((len(out), len(names)), dtype=np.float32)
        self._features = make_features(names, self.detector.feature_params, self._inputs,
                                       market)

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        for feature in self._features:
            feature.reset(mask, inputs)
        self._write()

    def update(self, inputs: FeatureInputs) -> None:
        for feature in self._features:
            feature.update(inputs)
        self._write()

    def _write(self) -> None:
        self.out[:] = self.detector.probability(self._inputs)[:, self.side]


class AdverseBid(AdverseProbability):
    """P(adverse) of a bid fill (the agent buys): ``adverse_bid``."""

    name: ClassVar[str] = "adverse_bid"
    side: ClassVar[int] = 0


class AdverseAsk(AdverseProbability):
    """P(adverse) of an ask fill (the agent sells): ``adverse_ask``."""

    name: ClassVar[str] = "adverse_ask"
    side: ClassVar[int] = 1
