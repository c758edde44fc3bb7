"""The inputs of a fitted model: where its features are in an observation, and whether they
are computed as they were when it was fitted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmgym.validation import ConfigError


def columns(model: str, feature_names: Sequence[str], observed: Sequence[str],
            reader: str) -> np.ndarray:
    """The column of each of a model's ``feature_names`` in an observation of features
    ``observed``.

    Raises:
        ConfigError: a feature the model reads is not observed, named with ``reader``.
    """
    missing = [f for f in feature_names if f not in observed]
    if missing:
        raise ConfigError(f"{reader}: the {model} reads the feature {missing[0]!r}, which the "
                          f"observation {list(observed)} lacks (it was fitted on "
                          f"{list(feature_names)})")
    return np.array([list(observed).index(f) for f in feature_names])


def check_feature_params(model: str, feature_names: Sequence[str],
                         trained: Mapping[str, Any], given: Mapping[str, Any],
                         reader: str) -> None:
    """Raise if a feature the model reads is computed with other parameters (``given``)
    than when it was fitted (``trained``)."""
    for name in feature_names:
        was, now = dict(trained.get(name, {})), dict(given.get(name, {}))
        if was != now:
            raise ConfigError(f"{reader}: feature {name!r} is computed with {now}, the {model} "
                              f"was fitted on it computed with {was}")
