"""Stateless features of an L2 order book, batched over ``n`` environments.

The book arrives as four arrays of shape ``(n, L)``: ``bid_px``, ``bid_sz``, ``ask_px`` and
``ask_sz``, level 0 being the best quote on each side. Prices are in price units, sizes in size
units and ``>= 0``. An empty level has price NaN and size 0 (a NaN size counts as 0).
Every function returns one value per environment, shape ``(n,)``, written into ``out`` when one
is given.
"""

from __future__ import annotations

import numpy as np


def safe_ratio(num: np.ndarray, den: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``num / den`` where ``den > 0``, 0 elsewhere (no division warning), elementwise."""
    if out is None:
        out = np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den)))
    else:
        out.fill(0.0)
    np.divide(num, den, out=out, where=den > 0)
    return out


def book_imbalance(
    bid_sz: np.ndarray, ask_sz: np.ndarray, k: int = 1, out: np.ndarray | None = None
) -> np.ndarray:
    """Depth imbalance of the best ``k`` levels, dimensionless, in [−1, 1].

    ``(B − A) / (B + A)`` with ``B = Σ_{l<k} bid_sz[:, l]`` and ``A = Σ_{l<k} ask_sz[:, l]``;
    +1 when only bids rest in the ``k`` levels, −1 when only asks do, 0 when both are empty.
    With ``k = 1`` this is the queue imbalance of the best quotes (Stoikov 2018's
    ``I = Q^b / (Q^b + Q^a)`` maps to it as ``2·I − 1``). ``k`` larger than ``L`` uses every
    level.

    Args:
        bid_sz, ask_sz: sizes per level, shape ``(n, L)``, size units; NaN counts as 0.
        k: number of levels from the best, ``k >= 1``.
        out: optional ``(n,)`` array to write into.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    bid = np.nansum(bid_sz[:, :k], axis=1)
    ask = np.nansum(ask_sz[:, :k], axis=1)
    return safe_ratio(bid - ask, bid + ask, out)


def microprice(
    bid_px: np.ndarray,
    bid_sz: np.ndarray,
    ask_px: np.ndarray,
    ask_sz: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Size-weighted mid of the best quotes, in price units.

    ``(P^b·Q^a + P^a·Q^b) / (Q^b + Q^a) = I·P^a + (1 − I)·P^b`` with ``I = Q^b / (Q^b + Q^a)``
    the queue imbalance: the price leans towards the side with the thinner queue. Stoikov
    (2018), "The micro-price: a high-frequency estimator of future prices", Quantitative Finance
    18(12), 1959–1966, calls this the *weighted mid* and defines his micro-price as a
    different quantity (the limit of expected future mids given imbalance and spread, which
    needs a fitted Markov model); this function is the weighted mid under its common name.

    The mid ``(P^b + P^a)/2`` when both best sizes are 0. NaN when either best level is empty
    (a one-sided book has no mid); the caller picks the fallback.

    Args:
        bid_px, bid_sz, ask_px, ask_sz: the book, shape ``(n, L)``; only level 0 is read.
        out: optional ``(n,)`` array to write into.
    """
    pb, pa = bid_px[:, 0], ask_px[:, 0]
    qb, qa = np.nan_to_num(bid_sz[:, 0]), np.nan_to_num(ask_sz[:, 0])
    depth = qb + qa
    if out is None:
        out = np.empty(len(pb))
    np.multiply(pb + pa, 0.5, out=out)
    np.divide(pb * qa + pa * qb, depth, out=out, where=depth > 0)
    return out


def spread(bid_px: np.ndarray, ask_px: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Quoted spread ``P^a − P^b`` of the best levels, in price units; NaN if a side is empty.

    Args:
        bid_px, ask_px: prices per level, shape ``(n, L)``; only level 0 is read.
        out: optional ``(n,)`` array to write into.
    """
    return np.subtract(ask_px[:, 0], bid_px[:, 0], out=out)
