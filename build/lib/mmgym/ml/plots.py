"""Figures of the supervised models' held-out reports (matplotlib's object-oriented API)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mmgym.ml.fills import Fills
from mmgym.ml.spread import SpreadSamples
from mmgym.models.detector import SIDES, Detector
from mmgym.models.predictor import SpreadPredictor


def calibration(detector: Detector, test: Fills, bins: int = 10) -> Figure:
    """The detector's calibration on held-out fills: per side, the observed frequency of
    adverse fills against the mean predicted probability in quantile bins (on the diagonal
    when calibrated), with the AUC; and the distribution of the predicted probability of
    adverse and other fills."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import roc_auc_score

    where = detector.columns(test.feature_names, "held-out fills")
    p = detector.probability(test.features[:, where])[np.arange(len(test.side)), test.side]
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="calibrated")
    for s, side in enumerate(SIDES):
        keep = test.side == s
        observed, predicted = calibration_curve(test.adverse[keep], p[keep], n_bins=bins,
                                                strategy="quantile")
        auc = roc_auc_score(test.adverse[keep], p[keep])
        left.plot(predicted, observed, marker="o", label=f"{side} fills (AUC {auc:.3f}, "
                                                         f"n={keep.sum()})")
    top = float(max(p.max(), test.adverse.mean() * 2, 0.05))
    left.set_xlim(0, min(1.0, top * 1.05))
    left.set_ylim(0, min(1.0, top * 1.05))
    left.set_xlabel("predicted P(adverse)")
    left.set_ylabel("observed frequency of adverse fills")
    left.set_title(f"Calibration on held-out fills (markout at {detector.horizon} steps)")
    left.legend(loc="upper left", fontsize=8)
    edges = np.linspace(0, float(p.max()), 41)
    right.hist(p[~test.adverse], bins=edges, alpha=0.6, density=True, label="not adverse")
    right.hist(p[test.adverse], bins=edges, alpha=0.6, density=True, label="adverse")
    right.set_xlabel("predicted P(adverse)")
    right.set_ylabel("density")
    right.set_title("Predicted probability by outcome")
    right.legend(fontsize=8)
    return fig


def spread_prediction(predictor: SpreadPredictor, test: SpreadSamples,
                      report: dict[str, Any], unit: str = "ticks") -> Figure:
    """The predictor on held-out samples: the ex-post best spread against the predicted one
    (binned means, with the diagonal), and the mean window score of each fixed grid spread
    beside the predictor's and the ex-post best's."""
    where = predictor.columns(test.feature_names, "held-out samples")
    predicted = predictor.predict(test.features[:, where])
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, 11)))
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, len(edges) - 2)
    centers = [predicted[which == b].mean() for b in range(len(edges) - 1)]
    means = [test.target[which == b].mean() for b in range(len(edges) - 1)]
    grid = 2 * test.half_spreads
    left.plot([grid[0], grid[-1]], [grid[0], grid[-1]], color="0.6", lw=0.8, ls="--",
              label="predicted = ex-post best")
    left.plot(centers, means, marker="o", label="mean ex-post best spread (decile bins)")
    left.set_xlabel(f"predicted spread ({unit})")
    left.set_ylabel(f"ex-post best spread ({unit})")
    left.set_title(f"Held-out samples (RMSE {report['rmse']:.2f}, constant "
                   f"{report['rmse_constant']:.2f} {unit})")
    left.legend(fontsize=8)
    right.plot(grid, test.scores.mean(axis=0), marker="o", label="fixed spread")
    right.axhline(report["score_predicted"], color="tab:green",
                  label="predicted spread (score interpolated)")
    right.axhline(report["score_ex_post"], color="tab:red", ls=":", label="ex-post best")
    right.set_xlabel(f"spread ({unit})")
    right.set_ylabel("mean risk-adjusted window score (price units)")
    right.set_title("Window score: fixed spreads, the predictor, hindsight")
    right.legend(fontsize=8)
    return fig
