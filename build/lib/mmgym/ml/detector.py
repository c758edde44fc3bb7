"""Fitting the adverse-selection detector (:class:`mmgym.models.detector.Detector`) on
labelled fills, and its held-out report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmgym.ml.fills import Fills
from mmgym.models.detector import SIDES, Detector


def fit_detector(train: Fills, regularization: float = 1.0,
                 feature_params: dict[str, Any] | None = None) -> Detector:
    """Fit a detector on labelled fills (scikit-learn's ``StandardScaler`` then
    ``LogisticRegression(C=regularization)`` per side; the scaling is fitted on both sides'
    fills together, so both sides read the same standardized inputs).

    Raises:
        ValueError: a side without both adverse and other fills.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train.features.astype(np.float64))
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    coef = np.zeros((2, len(train.feature_names)))
    intercept = np.zeros(2)
    for s, side in enumerate(SIDES):
        part = train.of_side(s)
        if len(np.unique(part.adverse)) < 2:
            raise ValueError(f"{side} fills: {len(part.adverse)} fills, all "
                             f"{'adverse' if part.adverse.all() else 'not adverse'}: nothing "
                             "to fit")
        z = (part.features - scaler.mean_) / scale
        model = LogisticRegression(C=regularization, max_iter=1000).fit(z, part.adverse)
        coef[s], intercept[s] = model.coef_[0], model.intercept_[0]
    return Detector(train.feature_names, scaler.mean_.copy(), scale, coef, intercept,
                    train.horizon, dict(feature_params or {}))


def evaluate_detector(detector: Detector, test: Fills, bins: int = 10) -> dict[str, Any]:
    """The held-out report: per side and overall, the AUC (scikit-learn's
    ``roc_auc_score``), the base rate, and the calibration curve (mean predicted against
    observed frequency in ``bins`` quantile bins, ``sklearn.calibration.calibration_curve``)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import roc_auc_score

    where = detector.columns(test.feature_names, "held-out fills")
    p = detector.probability(test.features[:, where])[np.arange(len(test.side)), test.side]
    report: dict[str, Any] = {"fills": len(p), "horizon": detector.horizon}
    for name, keep in (("bid", test.side == 0), ("ask", test.side == 1),
                       ("all", np.ones(len(p), dtype=bool))):
        y = test.adverse[keep]
        auc = float(roc_auc_score(y, p[keep])) if len(np.unique(y)) == 2 else math.nan
        report[name] = {"fills": int(keep.sum()), "adverse_rate": float(y.mean()), "auc": auc}
    observed, predicted = calibration_curve(test.adverse, p, n_bins=bins, strategy="quantile")
    report["calibration"] = {"predicted": predicted.tolist(), "observed": observed.tolist()}
    return report
