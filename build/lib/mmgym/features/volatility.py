"""Streaming, batched volatility estimators from the mid price.

Same conventions as :mod:`mmgym.features.flow`: state for ``n`` environments in fixed-size
arrays, O(1) per step per environment (amortised), ``reset(mask)`` forgets the masked
environments only, ``update(mid)`` returns one value per environment, shape ``(n,)``, written
into ``out`` when one is given. The mid must be finite and positive (when a side of the book
is empty, pass the last valid mid).
"""

from __future__ import annotations

import math

import numpy as np

from mmgym.features.book import safe_ratio
from mmgym.features.flow import RollingSum
from mmgym.features.kernels import realized_volatility

_GK_C = 2.0 * math.log(2.0) - 1.0


class RealizedVolatility:
    """Sample standard deviation (ddof = 1) of the log mid returns of the last ``window``
    steps, in log-price units per √step (multiply by √(steps per year) to annualise).

    ``r_t = ln(m_t / m_{t−1})`` and ``σ_t = sqrt( (Σr² − (Σr)²/c) / (c − 1) )`` over the ``c``
    returns of the last ``window`` steps, the mean return being subtracted (as in
    ``pandas.Series.rolling(window).std()``). The first step after a reset has no return, so
    ``c = min(steps since reset − 1, window)`` until ``window + 1`` steps have passed; the
    output is 0 while ``c < 2``. The sums come from :class:`RollingSum` (ring buffer, running
    sums recomputed from the buffer every ``window`` steps, so float drift stays bounded).

    Args:
        n: number of environments.
        window: number of steps (returns), ``>= 2``.
    """

    def __init__(self, n: int, window: int) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self._sums = RollingSum(n, window, 3)
        self._values = np.zeros((3, n))
        self._prev = np.ones(n)
        self._has_prev = np.zeros(n, dtype=bool)

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._sums.reset(mask)
        self._has_prev[mask] = False

    def update(self, mid: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Take in the mid after this step and return σ, shape ``(n,)``.

        Args:
            mid: mid price, ``(n,)``, price units, finite and > 0.
            out: optional ``(n,)`` array to write into.
        """
        if out is None:
            out = np.empty(len(mid))
        realized_volatility(mid, self._prev, self._has_prev, self._values, *self._sums.state(),
                            out)
        self._sums.advance()
        return out


class GarmanKlassVolatility:
    """Garman–Klass volatility of bars of ``bar_steps`` steps, in log-price units per bar.

    Garman & Klass (1980), "On the estimation of security price volatilities from historical
    data", Journal of Business 53(1), 67–78, in its usual practical form: for a bar with open
    ``O``, high ``H``, low ``L`` and close ``C`` of the mid,

        σ²_bar = ½·ln(H/L)² − (2·ln 2 − 1)·ln(C/O)²,

    which is ``>= 0`` since ``|ln(C/O)| <= ln(H/L)``. The output is
    ``sqrt(mean of σ²_bar over the last n_bars complete bars)`` (over the completed ones
    before ``n_bars`` have completed; 0 until the first bar completes), the standard deviation
    of a bar's log return; divide by ``√bar_steps`` for log-price units per √step. Each
    environment's ring of the last ``n_bars`` bar variances keeps a running sum, recomputed
    from the ring whenever it wraps, which bounds float drift.

    Bars are contiguous: a bar's open is the previous bar's close, so a bar spans exactly
    ``bar_steps`` step returns (no return is lost between bars and the per-step scaling above
    is exact) and its high and low run over its ``bar_steps + 1`` mids, open included. The
    first mid after a reset is the first bar's open; each further ``bar_steps`` mids complete
    a bar.

    Args:
        n: number of environments.
        bar_steps: steps per bar, ``>= 1``.
        n_bars: number of complete bars averaged, ``>= 1``.
    """

    def __init__(self, n: int, bar_steps: int, n_bars: int) -> None:
        if bar_steps < 1 or n_bars < 1:
            raise ValueError("need bar_steps >= 1 and n_bars >= 1")
        self.bar_steps = bar_steps
        self.n_bars = n_bars
        self._open = np.ones(n)
        self._high = np.ones(n)
        self._low = np.ones(n)
        self._k = np.full(n, -1, dtype=np.int64)  # steps into the bar; −1 before the open
        self._buf = np.zeros((n, n_bars))  # σ²_bar of the completed bars
        self._pos = np.zeros(n, dtype=np.int64)
        self._bars = np.zeros(n, dtype=np.int64)  # completed bars held, <= n_bars
        self._sum = np.zeros(n)  # running sum of the ring

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._k[mask] = -1
        self._buf[mask] = 0.0
        self._pos[mask] = 0
        self._bars[mask] = 0
        self._sum[mask] = 0.0

    def update(self, mid: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Take in the mid after this step and return σ per bar, shape ``(n,)``.

        Args:
            mid: mid price, ``(n,)``, price units, finite and > 0.
            out: optional ``(n,)`` array to write into.
        """
        opening = self._k < 0
        np.copyto(self._open, mid, where=opening)
        np.copyto(self._high, mid, where=opening)
        np.copyto(self._low, mid, where=opening)
        np.maximum(self._high, mid, out=self._high)
        np.minimum(self._low, mid, out=self._low)
        self._k += 1
        i = np.flatnonzero(self._k == self.bar_steps)
        if i.size:
            close = mid[i]
            var = 0.5 * np.log(self._high[i] / self._low[i]) ** 2
            var -= _GK_C * np.log(close / self._open[i]) ** 2
            pos = self._pos[i]
            self._sum[i] += var - self._buf[i, pos]
            self._buf[i, pos] = var
            self._pos[i] = (pos + 1) % self.n_bars
            # recompute the sum of each ring that wrapped (every n_bars bars, per environment)
            wrapped = i[pos + 1 == self.n_bars]
            self._sum[wrapped] = self._buf[wrapped].sum(axis=1)
            self._bars[i] = np.minimum(self._bars[i] + 1, self.n_bars)
            self._open[i] = close
            self._high[i] = close
            self._low[i] = close
            self._k[i] = 0
        var = safe_ratio(self._sum, self._bars)
        return np.sqrt(np.maximum(var, 0.0, out=var), out=out)
