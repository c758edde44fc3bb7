"""The neural spread predictor: a feed-forward network from the features to the spread.

ŝ(x) = softplus(W₃·relu(W₂·relu(W₁·z + b₁) + b₂) + b₃), z = (x − μ)/s the standardized
features: two ReLU layers and a softplus output, so the predicted spread is positive, in the
market's offset unit. It is fitted (torch, Adam, mini-batches;
:func:`mmgym.ml.predictor.fit_predictor`) to the ex-post best spread of
:mod:`mmgym.ml.spread` with one of two objectives:

- ``score`` (the default): maximize the mean risk-adjusted window score R(ŝ(x)) of the
  predicted spread, R interpolated linearly between the grid's spreads (clamped to the
  grid). The ex-post best spread maximizes each sample's score; the network, a function of
  what was observable, maximizes its expectation given x: decision-focused learning
  (Donti, Amos & Kolter 2017; Elmachtoub & Grigas 2022, "smart predict-then-optimize").
- ``mse``: the mean squared error to the ex-post best spread, a plain regression. On
  ``wide`` it learns little beyond the mean (the argmax of a window's score is mostly
  noise: held-out RMSE 6.90 ticks against 7.02 for a constant) and its policy loses to the
  best fixed spread; the ``score`` objective's beats it (README, "The supervised side").

Saved as safetensors (the weights and the standardization as tensors; the feature names,
the feature parameters and what it was fitted on as the file's metadata): loaded without
pickle.

Used by the ``spread_predictor`` policy (:mod:`mmgym.policies.predicted`), which quotes
mid ± ŝ/2 with an inventory skew.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmgym.models.inputs import check_feature_params, columns
from mmgym.validation import ConfigError

KIND = "mmgym.spread_predictor"
"""The ``kind`` in a predictor file's metadata."""
LAYERS = ("w1", "b1", "w2", "b2", "w3", "b3")


@dataclass
class SpreadPredictor:
    """A fitted predictor: the network's weights as numpy arrays (evaluated in numpy, so a
    policy does not need torch), the standardization, and the features it reads.

    Attributes:
        feature_names: its inputs, in order.
        mean, scale: ``(F,)`` the standardization (training mean and standard deviation).
        weights: ``w1 (H₁, F)``, ``b1 (H₁,)``, ``w2 (H₂, H₁)``, ``b2``, ``w3 (1, H₂)``, ``b3``.
        feature_params: the feature parameters of the training observation.
        meta: what it was fitted on and its held-out report.
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: dict[str, np.ndarray]
    feature_params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def columns(self, observed: tuple[str, ...] | list[str], reader: str) -> np.ndarray:
        """The column of each of its features in an observation of features ``observed``
        (:func:`mmgym.models.inputs.columns`)."""
        return columns("spread predictor", self.feature_names, observed, reader)

    def check_feature_params(self, params: dict[str, Any], reader: str) -> None:
        """Raise if a feature it reads is computed with other parameters than in training."""
        check_feature_params("spread predictor", self.feature_names, self.feature_params,
                             params, reader)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` the predicted spread (offset units) for features ``x`` ``(n, F)``."""
        w = self.weights
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        h = np.maximum(z @ w["w1"].T + w["b1"], 0.0)
        h = np.maximum(h @ w["w2"].T + w["b2"], 0.0)
        out = (h @ w["w3"].T + w["b3"])[:, 0]
        return np.logaddexp(0.0, out)  # softplus

    def save(self, path: str | Path) -> None:
        """Write the predictor as safetensors (atomically: a temporary file renamed)."""
        from safetensors.numpy import save_file

        path = Path(path)
        tensors = {"mean": self.mean, "scale": self.scale, **self.weights}
        metadata = {"kind": KIND, "version": "1",
                    "feature_names": json.dumps(list(self.feature_names)),
                    "feature_params": json.dumps(self.feature_params),
                    "meta": json.dumps(self.meta)}
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()},
                  str(tmp), metadata=metadata)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, field_name: str = "model") -> SpreadPredictor:
        """Read a predictor file written by :meth:`save`.

        Raises:
            ConfigError: a missing file or one that is not a predictor, naming the file.
        """
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{field_name}={str(path)!r}: no such spread predictor file")
        try:
            with safe_open(str(path), framework="numpy") as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as e:
            raise ConfigError(f"{path}: not a spread predictor file ({e})") from None
        if metadata.get("kind") != KIND:
            raise ConfigError(f"{path}: not a spread predictor file (kind "
                              f"{metadata.get('kind')!r}, expected {KIND!r})")
        missing = [k for k in ("mean", "scale", *LAYERS) if k not in tensors]
        if missing:
            raise ConfigError(f"{path}: spread predictor file without the tensor {missing[0]!r}")
        names = tuple(json.loads(metadata["feature_names"]))
        if tensors["w1"].shape[1:] != (len(names),) or tensors["mean"].shape != (len(names),):
            raise ConfigError(f"{path}: its tensors do not match the {len(names)} features "
                              f"{list(names)}")
        return cls(names, tensors["mean"], tensors["scale"], {k: tensors[k] for k in LAYERS},
                   json.loads(metadata.get("feature_params", "{}")),
                   json.loads(metadata.get("meta", "{}")))
