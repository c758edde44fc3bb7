"""Fitting the neural spread predictor (:class:`mmgym.models.predictor.SpreadPredictor`)
to the ex-post best spread (:mod:`mmgym.ml.spread`), and its held-out report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmgym.ml.spread import SpreadSamples
from mmgym.models.predictor import SpreadPredictor
from mmgym.validation import ConfigError

OBJECTIVES = ("score", "mse")


def fit_predictor(train: SpreadSamples, objective: str = "score",
                  hidden: tuple[int, int] = (64, 64), epochs: int = 20, batch_size: int = 256,
                  learning_rate: float = 1e-3, seed: int = 0,
                  feature_params: dict[str, Any] | None = None,
                  progress: bool = False) -> SpreadPredictor:
    """Fit the network to the samples (torch; Adam on ``objective``, see the module doc;
    the standardization from the training features; the output's bias starts at the
    targets' mean; ``seed`` seeds torch's generators, so a fit is reproducible on one
    machine)."""
    import torch
    from torch import nn
    from tqdm.auto import tqdm

    if objective not in OBJECTIVES:
        raise ConfigError(f"objective={objective!r}: expected one of {OBJECTIVES}")
    x = train.features.astype(np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden[0]), nn.ReLU(),
                        nn.Linear(hidden[0], hidden[1]), nn.ReLU(),
                        nn.Linear(hidden[1], 1), nn.Softplus())
    with torch.no_grad():  # softplus(b) ≈ b for the spreads of interest (b ≫ 1 offset unit)
        net[4].bias.fill_(float(train.target.mean()))
    z = torch.as_tensor((x - mean) / scale, dtype=torch.float32)
    y = torch.as_tensor(train.target, dtype=torch.float32)
    scores = torch.as_tensor(train.scores / train.scores.std(), dtype=torch.float32)
    grid = torch.as_tensor(2 * train.half_spreads, dtype=torch.float32)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    for _ in tqdm(range(epochs), desc="spread predictor", unit="epoch", disable=not progress,
                  leave=False, dynamic_ncols=True):
        order = torch.randperm(len(z), generator=generator)
        for start in range(0, len(z), batch_size):
            idx = order[start:start + batch_size]
            spread = net(z[idx])[:, 0]
            if objective == "mse":
                loss = torch.mean((spread - y[idx]) ** 2)
            else:
                loss = -_interpolated(scores[idx], grid, spread).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    layers = [m for m in net if isinstance(m, nn.Linear)]
    weights = {}
    for i, layer in enumerate(layers, start=1):
        weights[f"w{i}"] = layer.weight.detach().double().numpy().copy()
        weights[f"b{i}"] = layer.bias.detach().double().numpy().copy()
    return SpreadPredictor(train.feature_names, mean, scale, weights, dict(feature_params or {}))


def _interpolated(scores: Any, grid: Any, spread: Any) -> Any:
    """Each sample's score at its spread, linear between the grid's spreads (torch; the
    spread clamped to the grid, where the gradient is then zero)."""
    import torch

    s = spread.clamp(grid[0], grid[-1])
    k = torch.searchsorted(grid, s.detach()).clamp(1, len(grid) - 1)
    low, high = grid[k - 1], grid[k]
    w = (s - low) / (high - low)
    rows = torch.arange(len(s))
    return scores[rows, k - 1] * (1 - w) + scores[rows, k] * w


def evaluate_predictor(predictor: SpreadPredictor, test: SpreadSamples) -> dict[str, Any]:
    """The held-out report: the error of the predicted spread against the ex-post best spread
    (RMSE and MAE, offset units), against the best constant (the training-free baseline that
    predicts the test targets' mean), and the mean window score of the predicted spread
    (interpolated on the grid, as the ``score`` objective sees it) against the best fixed
    grid spread's and the ex-post best's (price units). The window scores are those of the
    grid's fixed-spread runs: a policy that follows the prediction has its own inventory path,
    so its episodes are the test of record (``mmgym-evaluate``)."""
    predicted = predictor.predict(test.features[:, predictor.columns(test.feature_names,
                                                                     "held-out samples")])
    error = predicted - test.target
    grid = 2 * test.half_spreads
    s = np.clip(predicted, grid[0], grid[-1])
    k = np.clip(np.searchsorted(grid, s), 1, len(grid) - 1)
    w = (s - grid[k - 1]) / (grid[k] - grid[k - 1])
    rows = np.arange(len(s))
    interpolated = test.scores[rows, k - 1] * (1 - w) + test.scores[rows, k] * w
    by_grid = test.scores.mean(axis=0)
    return {
        "samples": len(error),
        "rmse": float(math.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "rmse_constant": float(test.target.std()),
        "mean_target": float(test.target.mean()),
        "mean_prediction": float(predicted.mean()),
        "score_predicted": float(interpolated.mean()),
        "score_best_fixed": float(by_grid.max()),
        "best_fixed_spread": float(2 * test.half_spreads[by_grid.argmax()]),
        "score_ex_post": float(test.scores.max(axis=1).mean()),
    }
