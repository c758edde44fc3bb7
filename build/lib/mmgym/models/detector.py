"""The adverse-selection detector: the probability that a fill of each side would be adverse,
from the observation at the time of quoting.

P(adverse | x) = σ(wᵀz + b), z = (x − μ)/s the standardized features, one logistic regression
per side (bid fills are adverse when the mid then falls, ask fills when it rises, so the
signs of directional features such as imbalance or OFI differ between the sides). "Adverse"
is :mod:`mmgym.ml.fills`'s: the fill's markout ``horizon`` steps later is negative. The fit is
scikit-learn's (``StandardScaler`` and ``LogisticRegression``, L2-regularized maximum
likelihood; :func:`mmgym.ml.detector.fit_detector`); the fitted model is plain numbers,
saved as JSON with the feature names and the scaling it expects, and loaded without
scikit-learn or pickle.

Used by the ``detector_gated`` policy (:mod:`mmgym.policies.gated`), which widens or
withdraws a side whose probability is above a threshold (Easley, López de Prado & O'Hara
(2012) on market makers withdrawing under toxic flow), and by the ``adverse_bid`` /
``adverse_ask`` observation features (:mod:`mmgym.features.detector`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmgym.models.inputs import check_feature_params, columns
from mmgym.validation import ConfigError

SIDES = ("bid", "ask")
"""Row 0 of the per-side arrays is the agent's bid (it buys), row 1 its ask (it sells)."""
KIND = "mmgym.adverse_selection_detector"
"""The ``kind`` of a detector file."""
VERSION = 1


@dataclass
class Detector:
    """A fitted detector: per side (rows: bid, ask) the logistic coefficients on the
    standardized features.

    Attributes:
        feature_names: the features it reads, in order.
        mean, scale: ``(F,)`` the standardization of each feature (its training mean and
            standard deviation).
        coef: ``(2, F)`` the weights w per side; ``intercept``: ``(2,)`` the b per side.
        horizon: the markout horizon of its labels, steps.
        feature_params: the feature parameters the training observation was computed with.
        meta: what it was trained on and its held-out report (free-form, saved as is).
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    horizon: int
    feature_params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def columns(self, observed: tuple[str, ...] | list[str], reader: str) -> np.ndarray:
        """The column of each of its features in an observation of features ``observed``
        (:func:`mmgym.models.inputs.columns`)."""
        return columns("detector", self.feature_names, observed, reader)

    def check_feature_params(self, params: dict[str, Any], reader: str) -> None:
        """Raise if a feature it reads is computed with other parameters than in training."""
        check_feature_params("detector", self.feature_names, self.feature_params, params,
                             reader)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """``(n, 2)`` P(adverse) of a bid fill and an ask fill, for features ``x`` ``(n, F)``
        in :attr:`feature_names`' order."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        logit = z @ self.coef.T + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def save(self, path: str | Path) -> None:
        """Write the detector as JSON (atomically: a temporary file renamed)."""
        path = Path(path)
        data = {"kind": KIND, "version": VERSION, "feature_names": list(self.feature_names),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": {s: self.coef[i].tolist() for i, s in enumerate(SIDES)},
                "intercept": {s: float(self.intercept[i]) for i, s in enumerate(SIDES)},
                "horizon": self.horizon, "feature_params": self.feature_params,
                "meta": self.meta}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, field_name: str = "model") -> Detector:
        """Read a detector file written by :meth:`save`.

        Raises:
            ConfigError: a missing or unreadable file, or one that is not a detector, naming
                the file (and the key at fault).
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{field_name}={str(path)!r}: no such detector file")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: not a detector file ({e})") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ConfigError(f"{path}: not a detector file (kind "
                              f"{data.get('kind') if isinstance(data, dict) else None!r}, "
                              f"expected {KIND!r})")
        try:
            names = tuple(str(f) for f in data["feature_names"])
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale")}
            coef = np.array([data["coef"][s] for s in SIDES], dtype=np.float64)
            intercept = np.array([data["intercept"][s] for s in SIDES], dtype=np.float64)
            horizon = int(data["horizon"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: detector file without a valid {e}") from None
        for key, value in (*arrays.items(), ("coef", coef), ("intercept", intercept)):
            if not np.all(np.isfinite(value)):
                raise ConfigError(f"{path}: {key} holds a non-finite number")
        if not (arrays["mean"].shape == arrays["scale"].shape == (len(names),)
                and coef.shape == (2, len(names))):
            raise ConfigError(f"{path}: mean, scale and coef do not match the "
                              f"{len(names)} features {list(names)}")
        if np.any(arrays["scale"] <= 0):
            raise ConfigError(f"{path}: scale must be > 0")
        return cls(names, arrays["mean"], arrays["scale"], coef, intercept, horizon,
                   dict(data.get("feature_params", {})), dict(data.get("meta", {})))
