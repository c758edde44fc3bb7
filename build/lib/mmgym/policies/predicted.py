"""Quotes around the mid at the spread the neural predictor gives (:mod:`mmgym.ml.predictor`),
skewed by inventory: the ML design's "spread predictor" market maker."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mmgym.models.predictor import SpreadPredictor
from mmgym.policies.base import feature_column
from mmgym.validation import check_number


class PredictedSpread:
    """Bid at ``ŝ/2 + skew·ι``, ask at ``ŝ/2 − skew·ι`` (offset units), ŝ the predictor's
    spread for the observation and ι = q / max_inventory the ``inventory`` feature; with
    ``skew`` the predictor's own training skew it plays as the grid did
    (:mod:`mmgym.ml.spread`).

    Args:
        model: the predictor file (safetensors, ``mmgym-fit model=spread``).
        skew: offset shift at the position limit, offset units (None: the one the predictor
            was fitted with).
        feature_names: the observation's features; ``inventory`` and the predictor's must be
            among them.
        feature_params: the observation's feature parameters, checked against the
            predictor's (None: not checked).
    """

    name: ClassVar[str] = "spread_predictor"

    def __init__(self, model: str, skew: float | None = None,
                 feature_names: tuple[str, ...] = ("inventory",),
                 feature_params: dict[str, Any] | None = None) -> None:
        self.predictor = SpreadPredictor.load(model, "spread_predictor.model")
        trained = self.predictor.meta.get("skew", 0.0)
        self.skew = check_number("spread_predictor.skew", trained if skew is None else skew)
        self.columns = self.predictor.columns(tuple(feature_names), self.name)
        self.inventory = feature_column(tuple(feature_names), "inventory", self.name)
        if feature_params is not None:
            self.predictor.check_feature_params(feature_params, self.name)

    @staticmethod
    def reads(params: dict[str, Any]) -> tuple[str, ...]:
        """The features it reads: ``inventory`` and the predictor's (from ``model``)."""
        model = SpreadPredictor.load(params["model"], "spread_predictor.model")
        return ("inventory", *model.feature_names)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        half = self.predictor.predict(obs[:, self.columns]) / 2
        shift = self.skew * obs[:, self.inventory].astype(np.float64)
        return np.stack([half + shift, half - shift], axis=1)
