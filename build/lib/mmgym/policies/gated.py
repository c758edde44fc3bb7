"""A base policy gated by the adverse-selection detector (:mod:`mmgym.ml.detector`).

The detector gives, from the observation, the probability that a fill of each side would be
adverse; where a side's probability is above ``threshold`` the base policy's quote on that
side is moved ``widen`` further from the mid (``inf``: the side is withdrawn). This is the
market maker of the ML design that "widens spreads or temporarily withdraws from the market"
when flow turns toxic (Easley, López de Prado & O'Hara 2012), around any base policy; the
detector is fitted on that base policy's own fills (``mmgym-fit detector``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mmgym.models.detector import Detector
from mmgym.policies.base import Policy
from mmgym.validation import check_number


class DetectorGated:
    """``base``'s quotes, a side moved by ``widen`` (offset units; ``inf`` withdraws it)
    while the detector's P(adverse) of that side exceeds ``threshold``.

    Args:
        base: the base policy (in an evaluation, a policy name: ``policies.detector_gated.base``;
            its parameters are the market's for it).
        model: the detector file (JSON, ``mmgym-fit detector``).
        threshold: the probability above which a side is widened, in (0, 1).
        widen: how much further from the mid, offset units (≥ 0; ``inf``: withdraw).
        feature_names: the observation's features; the detector's must be among them.
        feature_params: the observation's feature parameters, checked against those the
            detector was fitted with (None: not checked).
    """

    name: ClassVar[str] = "detector_gated"

    def __init__(self, base: Policy, model: str, threshold: float = 0.5,
                 widen: float = math.inf, feature_names: tuple[str, ...] = (),
                 feature_params: dict[str, Any] | None = None) -> None:
        self.base = base
        self.detector = Detector.load(model, "detector_gated.model")
        self.threshold = check_number("detector_gated.threshold", threshold, low=0, high=1,
                                      low_open=True, high_open=True)
        self.widen = widen if widen == math.inf else check_number(
            "detector_gated.widen", widen, low=0)
        self.columns = self.detector.columns(tuple(feature_names), "detector_gated")
        if feature_params is not None:
            self.detector.check_feature_params(feature_params, "detector_gated")

    @staticmethod
    def reads(params: dict[str, Any]) -> tuple[str, ...]:
        """The features it reads besides its base's: the detector's (from ``model``)."""
        return Detector.load(params["model"], "detector_gated.model").feature_names

    def reset(self, mask: np.ndarray) -> None:
        if hasattr(self.base, "reset"):
            self.base.reset(mask)

    def bind(self, market: Any) -> None:
        if hasattr(self.base, "bind"):
            self.base.bind(market)

    def probability(self, obs: np.ndarray) -> np.ndarray:
        """``(n, 2)`` the detector's P(adverse) of a bid and an ask fill."""
        return self.detector.probability(obs[:, self.columns])

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        actions = np.array(self.base(obs, info), dtype=np.float64)
        gated = self.probability(obs) > self.threshold
        actions[gated] += self.widen
        return actions
