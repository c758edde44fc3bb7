"""The compiled per-step updates of the streaming estimators (numba).

Each kernel loops over the environments and updates one environment at a time, so its
rounding depends only on that environment's history, whatever the batch. The formulas, their
sources and the state they update are documented on the estimator classes that call them:
:class:`~mmgym.features.flow.RollingSum`, :class:`~mmgym.features.flow.OrderFlowImbalance`,
:class:`~mmgym.features.flow.VPIN`, :func:`~mmgym.features.flow.erf`,
:class:`~mmgym.features.volatility.RealizedVolatility` and the book features of
:mod:`mmgym.features.market` (``Imbalance``, ``DepthRatio``, ``QueuePressure``,
``SpreadZScore``).

The kernels call each other only within this module (numba's cache checks only the file of
the function it loads).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize

# Abramowitz & Stegun (1964), Handbook of Mathematical Functions, formula 7.1.26.
_AS_P = 0.3275911
_AS_A1, _AS_A2, _AS_A3, _AS_A4, _AS_A5 = (
    0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429
)
_SQRT_HALF = 1.0 / math.sqrt(2.0)


@vectorize(["float64(float64)"], cache=True)
def erf(x: float) -> float:
    """The error function, elementwise, absolute error ≤ 1.5e-7; odd, with ``erf(0) = 0``.

    ``erf(x) ≈ sign(x)·(1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^{−x²})``, ``t = 1/(1 + p·|x|)``:
    Abramowitz & Stegun (1964), Handbook of Mathematical Functions, formula 7.1.26 (error
    ≤ 1.5e-7 for ``x >= 0``), extended to ``x < 0`` by oddness. ``|x|`` is capped at 10, where
    erf is 1 to double precision, so large or infinite arguments give ``±1`` without overflow.
    A numpy ufunc (scalars and arrays), also callable from compiled code; exported as
    :func:`mmgym.features.flow.erf`.
    """
    a = min(abs(x), 10.0)
    t = 1.0 / (1.0 + _AS_P * a)
    poly = ((((_AS_A5 * t + _AS_A4) * t + _AS_A3) * t + _AS_A2) * t + _AS_A1) * t
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


@njit(cache=True, inline="always")
def _safe_ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


@njit(cache=True, inline="always")
def _push_env(buf, sums, count, age, pos, values, i):
    """:meth:`RollingSum.push` for environment ``i``: ``values[:, i]`` into slot ``pos``,
    the running sums recomputed from the ring (oldest slot first) every ``window`` steps of
    the environment's own."""
    window, width = buf.shape[0], buf.shape[1]
    for w in range(width):
        sums[w, i] -= buf[pos, w, i]
        sums[w, i] += values[w, i]
        buf[pos, w, i] = values[w, i]
    age[i] += 1
    if age[i] == window:
        age[i] = 0
        oldest = pos + 1 if pos + 1 < window else 0
        for w in range(width):
            total = buf[oldest, w, i]
            slot = oldest
            for _ in range(1, window):
                slot = slot + 1 if slot + 1 < window else 0
                total += buf[slot, w, i]
            sums[w, i] = total
    count[i] = min(count[i] + 1, window)


@njit(cache=True)
def rolling_push(buf: np.ndarray, sums: np.ndarray, count: np.ndarray, age: np.ndarray,
                 pos: int, values: np.ndarray) -> None:
    """:meth:`RollingSum.push` for every environment."""
    for i in range(sums.shape[1]):
        _push_env(buf, sums, count, age, pos, values, i)


@njit(cache=True, inline="always")
def _sample_std(sums, i):
    """Sample standard deviation (ddof = 1) from the sums ``Σx``, ``Σx²`` and ``c`` (rows
    0–2 of ``sums``): ``sqrt((Σx² − (Σx)²/c) / (c − 1))``, 0 while undefined."""
    s1, s2, c = sums[0, i], sums[1, i], sums[2, i]
    var = _safe_ratio(s2 - s1 * _safe_ratio(s1, c), c - 1.0)
    return math.sqrt(max(var, 0.0))


@njit(cache=True, inline="always")
def _changes(x, prev, has_prev, values, i, log):
    """Row 0: the change of ``x`` since the last step (log return if ``log``; 0 on the first
    step after a reset), row 1 its square, row 2 whether there was a previous step."""
    seen = 1.0 if has_prev[i] else 0.0
    change = (math.log(x / prev[i]) if log else x - prev[i]) * seen
    values[0, i] = change
    values[1, i] = change * change
    values[2, i] = seen
    prev[i] = x
    has_prev[i] = True


@njit(cache=True)
def realized_volatility(mid: np.ndarray, prev: np.ndarray, has_prev: np.ndarray,
                        values: np.ndarray, buf: np.ndarray, sums: np.ndarray,
                        count: np.ndarray, age: np.ndarray, pos: int, out: np.ndarray) -> None:
    """:meth:`RealizedVolatility.update`."""
    for i in range(mid.shape[0]):
        _changes(mid[i], prev, has_prev, values, i, True)
        _push_env(buf, sums, count, age, pos, values, i)
        out[i] = _sample_std(sums, i)


@njit(cache=True)
def order_flow_imbalance(bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray,
                         ask_sz: np.ndarray, prev: np.ndarray, has_prev: np.ndarray,
                         values: np.ndarray, buf: np.ndarray, sums: np.ndarray,
                         count: np.ndarray, age: np.ndarray, pos: int, normalize: bool,
                         out: np.ndarray) -> None:
    """:meth:`OrderFlowImbalance.update`; ``prev`` holds the last ``(P^b, q^b, P^a, q^a)``."""
    for i in range(bid_px.shape[0]):
        bid_empty, ask_empty = np.isnan(bid_px[i]), np.isnan(ask_px[i])
        pb = -np.inf if bid_empty else bid_px[i]
        qb = 0.0 if bid_empty else bid_sz[i]
        pa = np.inf if ask_empty else ask_px[i]
        qa = 0.0 if ask_empty else ask_sz[i]
        e = (1.0 if pb >= prev[0, i] else 0.0) * qb
        e -= (1.0 if pb <= prev[0, i] else 0.0) * prev[1, i]
        e -= (1.0 if pa <= prev[2, i] else 0.0) * qa
        e += (1.0 if pa >= prev[2, i] else 0.0) * prev[3, i]
        values[0, i] = e * (1.0 if has_prev[i] else 0.0)
        if normalize:
            values[1, i] = (qb + qa) * 0.5
        _push_env(buf, sums, count, age, pos, values, i)
        prev[0, i], prev[1, i], prev[2, i], prev[3, i] = pb, qb, pa, qa
        has_prev[i] = True
        if normalize:
            out[i] = _safe_ratio(sums[0, i] * count[i], sums[1, i])
        else:
            out[i] = sums[0, i]


@njit(cache=True)
def vpin(price: np.ndarray, volume: np.ndarray, bucket_volume: float, prev: np.ndarray,
         has_prev: np.ndarray, values: np.ndarray, buf: np.ndarray, sums: np.ndarray,
         count: np.ndarray, age: np.ndarray, pos: int, ring: np.ndarray, ring_pos: np.ndarray,
         full: np.ndarray, ring_sum: np.ndarray, bucket_vol: np.ndarray,
         bucket_net: np.ndarray, out: np.ndarray) -> None:
    """:meth:`VPIN.update`: bulk classification of the step's volume, poured into buckets."""
    nb = ring.shape[1]
    for i in range(price.shape[0]):
        _changes(price[i], prev, has_prev, values, i, False)
        _push_env(buf, sums, count, age, pos, values, i)
        sigma = _sample_std(sums, i)
        dp = values[0, i]
        imb = erf(_safe_ratio(dp, sigma) * _SQRT_HALF) if sigma > 0 else np.sign(dp)
        left = volume[i]
        while True:  # one round per bucket completed (almost always zero or one)
            take = bucket_volume - bucket_vol[i]  # what the current bucket lacks
            if not (left >= take and left > 0):
                break
            closed = abs(bucket_net[i] + take * imb)
            p = ring_pos[i]
            ring_sum[i] += closed - ring[i, p]
            ring[i, p] = closed
            ring_pos[i] = p + 1 if p + 1 < nb else 0
            full[i] = min(full[i] + 1, nb)
            if p + 1 == nb:  # the ring wrapped: recompute its sum, which bounds float drift
                total = 0.0
                for k in range(nb):
                    total += ring[i, k]
                ring_sum[i] = total
            bucket_vol[i] = 0.0
            bucket_net[i] = 0.0
            left -= take
        bucket_vol[i] += left
        bucket_net[i] += left * imb
        # the running sum of |V^B − V^S| may round a hair below 0 or above N·V
        out[i] = min(max(_safe_ratio(ring_sum[i], full[i] * bucket_volume), 0.0), 1.0)


@njit(cache=True)
def depth_imbalance(depth: np.ndarray, levels: int, out: np.ndarray) -> None:
    """:class:`~mmgym.features.market.Imbalance` from a ``(2, L, n)`` depth: (B − A)/(B + A)
    of the best ``levels`` levels, added level by level, 0 for an empty book."""
    for i in range(depth.shape[2]):
        bid, ask = depth[0, 0, i], depth[1, 0, i]
        for j in range(1, min(levels, depth.shape[1])):
            bid += depth[0, j, i]
            ask += depth[1, j, i]
        out[i] = (bid - ask) / (bid + ask) if bid + ask > 0 else 0.0


@njit(cache=True)
def depth_ratio(depth: np.ndarray, levels: int, out: np.ndarray) -> None:
    """:class:`~mmgym.features.market.DepthRatio` from a ``(2, L, n)`` depth: the volume of
    both sides within the best ``levels`` levels over that within all ``L``, 0 for an empty
    book. The near volume is a prefix of the same sum as the total, so the ratio is in
    [0, 1] after rounding too."""
    for i in range(depth.shape[2]):
        near, total = 0.0, 0.0
        for j in range(depth.shape[1]):
            total += depth[0, j, i] + depth[1, j, i]
            if j < levels:
                near = total
        out[i] = near / total if total > 0 else 0.0


@njit(cache=True)
def queue_pressure(depth: np.ndarray, ring: np.ndarray, start: np.ndarray,
                   values: np.ndarray, buf: np.ndarray, sums: np.ndarray, count: np.ndarray,
                   age: np.ndarray, pos: int, dt: float, out: np.ndarray) -> None:
    """:class:`~mmgym.features.market.QueuePressure`: ``ring[pos]`` holds each environment's
    ``q^b − q^a`` of ``window`` steps ago once ``window`` steps have passed since its reset
    (``start``, the reset book's, before), the rolling sum the best-level depth
    ``(q^b + q^a)/2`` of the window's steps."""
    window = ring.shape[0]
    for i in range(depth.shape[2]):
        qb, qa = depth[0, 0, i], depth[1, 0, i]
        q = qb - qa
        old = ring[pos, i] if count[i] == window else start[i]
        ring[pos, i] = q
        values[0, i] = (qb + qa) * 0.5
        _push_env(buf, sums, count, age, pos, values, i)
        out[i] = _safe_ratio(q - old, dt * sums[0, i])


@njit(cache=True)
def spread_zscore(best: np.ndarray, tick: float, values: np.ndarray, buf: np.ndarray,
                  sums: np.ndarray, count: np.ndarray, age: np.ndarray, pos: int,
                  out: np.ndarray) -> None:
    """:class:`~mmgym.features.market.SpreadZScore`: the spread in whole ticks ``s`` and
    ``s²`` into the rolling sums, then ``(c·s − Σs) / sqrt(c·(c·Σs² − (Σs)²)/(c − 1))``, the
    z-score with the sample deviation (ddof = 1); ``c·Σs² − (Σs)²`` is computed exactly (whole
    numbers below 2⁵³), so a constant spread gives exactly 0."""
    for i in range(best.shape[1]):
        s = np.rint((best[1, i] - best[0, i]) / tick)
        values[0, i] = s
        values[1, i] = s * s
        _push_env(buf, sums, count, age, pos, values, i)
        c = float(count[i])
        num = c * sums[1, i] - sums[0, i] * sums[0, i]
        if c < 2.0 or num <= 0.0:
            out[i] = 0.0
        else:
            out[i] = (c * s - sums[0, i]) / math.sqrt(c * num / (c - 1.0))


@njit(cache=True)
def window_log_return(mid: np.ndarray, ring: np.ndarray, age: np.ndarray,
                      out: np.ndarray) -> None:
    """:class:`~mmgym.features.market.MidReturn`'s update: for each environment, its log mid
    into its ring of the last ``window + 1`` (``ring.shape[0]``) and ``out`` the log return
    over the last ``window`` steps (since the reset while fewer), in basis points; ``age``
    counts its steps since the reset (its mid at the reset is slot 0)."""
    depth = ring.shape[0]
    for i in range(mid.shape[0]):
        k = age[i] + 1
        x = math.log(mid[i])
        ring[k % depth, i] = x
        out[i] = (x - ring[max(k - depth + 1, 0) % depth, i]) * 1e4
        age[i] = k
