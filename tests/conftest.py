"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

import mmgym  # noqa: F401  (registers the environment ids)
from mmgym.registry import FEATURES, MARKETS, POLICIES, REWARDS

AS_ID = "mmgym/AvellanedaStoikov-v0"


@pytest.fixture
def action_rng() -> np.random.Generator:
    """A generator for test actions (never for the market, which draws its own numbers)."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _registries():
    """The registries as they were before each test: what a test (or a README example)
    registers does not leak into the next."""
    registries = (MARKETS, FEATURES, REWARDS, POLICIES)
    before = [dict(r) for r in registries]
    yield
    for r, entries in zip(registries, before, strict=True):
        r._entries = entries
