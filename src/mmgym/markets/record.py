"""The book part of a book market's step record, written once for ``lob`` and ``wide``: the
best prices, the aggressor volumes, the mid and the depth, from the books' state in ticks and
lots (the fills' part differs between them: ``lob`` quotes several levels)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def record_book(rec: Any, best: np.ndarray, depth: np.ndarray, volume: np.ndarray,
                mid: np.ndarray, lot: float, tick: float) -> None:
    """Write into the step record ``rec`` (a :class:`~mmgym.markets.base.BookRecord`) the best
    prices (price units; ``best`` is ``(2, n)`` signed, ``(−best bid, best ask)`` in ticks),
    the sell and buy aggressor volumes (size units; ``volume`` ``(2, n)`` in lots, row 0 the
    bids hit), the depth (``(2, L, n)`` lots to size units), and into ``mid`` the mid (price
    units)."""
    n, L = depth.shape[2], depth.shape[1]
    for i in range(n):
        for s in range(2):
            rec.best[s, i] = (2.0 * s - 1.0) * best[s, i] * tick
        rec.sell_volume[i] = volume[0, i] * lot
        rec.buy_volume[i] = volume[1, i] * lot
        mid[i] = (best[1, i] - best[0, i]) * 0.5 * tick
    for s in range(2):
        for j in range(L):
            for i in range(n):
                rec.depth[s, j, i] = depth[s, j, i] * lot
