"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

import mmgym  # noqa: F401  (registers the environment ids)

AS_ID = "mmgym/AvellanedaStoikov-v0"


@pytest.fixture
def action_rng() -> np.random.Generator:
    """A generator for test actions (never for the market, which draws its own numbers)."""
    return np.random.default_rng(12345)
