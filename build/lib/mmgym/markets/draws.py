"""Set-up of the random draws the simulated markets (``lob``, ``wide``) share: each market's
compiled step turns a uniform into a count or a size by inversion, with the tables and scales
computed here once per market.

The compiled inversions themselves (``_geometric``, ``_poisson``) stay in each market's module:
numba's cache does not notice a change to a kernel defined in another file, so a kernel called
across modules could run stale compiled code (the shared market parts, ``queue.py`` and
``latency.py``, are called across modules with the cache keyed on their sources, see
:mod:`mmgym.markets.caching`).
"""

from __future__ import annotations

import math

import numpy as np


def poisson_cdf(mean: float, k_max: int) -> np.ndarray:
    """``P(N <= k)`` for ``k < k_max`` of a Poisson variable of the given mean; a uniform
    ``u`` inverts to ``N = #{k : cdf[k] <= u}``, truncated at ``k_max``."""
    terms = [math.exp(-mean)]
    for k in range(1, k_max):
        terms.append(terms[-1] * mean / k)
    return np.cumsum(terms)


def geometric_scale(mean: float) -> float:
    """``−1 / ln(1 − 1/mean) > 0``: a uniform ``u`` inverts to ``ceil(−ln(1 − u)·scale)``,
    a geometric size ≥ 1 of the given mean, lots or ticks; 0 when ``mean <= 1`` (size 1)."""
    return 0.0 if mean <= 1 else -1.0 / math.log1p(-1.0 / mean)
