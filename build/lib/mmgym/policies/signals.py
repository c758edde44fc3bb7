"""Avellaneda–Stoikov with the observation's signals: a signal-aware baseline that reads only
the observation.

The quotes are the AS inventory strategy's (:class:`~mmgym.policies.ASInventory`), both moved
by ``alpha·I + beta·OFI`` toward the side the book's imbalance ``I`` (the ``imbalance``
feature, in [−1, 1]) and the order-flow imbalance (``ofi``) point to, the skew halved while
the ``volatility`` feature exceeds ``vol_threshold`` (the seeds' imbalance skew and its
volatility filter, :class:`~mmgym.policies.OBISkew`, on AS's reservation price); and a gate
withdraws the side that the order flow says is being traded against by informed traders.
Order-flow imbalance (Cont, Kukanov & Stoikov, "The price impact of order book events", J.
Financial Econometrics 12(1), 2014) measures the net pressure at the best quotes and predicts
the next price moves; VPIN (Easley, López de Prado & O'Hara, "Flow toxicity and liquidity in a
high-frequency world", Review of Financial Studies 25(5), 2012) measures the share of
one-sided volume, the "toxicity" their paper proposes market makers withdraw liquidity on.
With OFI the observation's ``ofi`` (positive: buying pressure) and VPIN its ``vpin``:

* the ask is withdrawn while ``OFI ≥ ofi_threshold``, or ``VPIN ≥ vpin_threshold`` and
  ``OFI > 0`` (informed buyers lift the asks before the price rises);
* the bid is withdrawn while ``OFI ≤ −ofi_threshold``, or ``VPIN ≥ vpin_threshold`` and
  ``OFI < 0``.

``inf`` switches a threshold off. Offsets are in the market's offset unit (ticks on ``lob`` and
``wide``).
"""

from __future__ import annotations

import math

import numpy as np

from mmgym.policies.avellaneda_stoikov import ASInventory
from mmgym.policies.base import NO_QUOTE, feature_column
from mmgym.validation import check_number


class SignalAS:
    """AS inventory quotes with the imbalance skew and the OFI/VPIN gate (see the module
    doc); ``as_signals``.

    Args:
        sigma, k, gamma, T, horizon, unit: the AS inventory strategy's parameters.
        alpha: the skew per unit of imbalance, offset units (0: none).
        beta: the skew per unit of OFI, offset units (0: none).
        vol_threshold: the ``volatility`` (bps/√s) above which the skew is halved (inf:
            never).
        ofi_threshold: |OFI| (the feature's unit) at which the side against it is withdrawn
            (inf: never).
        vpin_threshold: VPIN in [0, 1] from which the side against the OFI is withdrawn (inf:
            never).
        feature_names: the observation's feature names (``imbalance``, ``volatility``,
            ``ofi``, ``vpin``, ``time_remaining`` as used).
    """

    name = "as_signals"

    def __init__(
        self,
        *,
        sigma: float,
        k: float,
        gamma: float = 0.1,
        T: float | None = None,
        horizon: float | None = None,
        unit: float = 1.0,
        alpha: float = 0.0,
        beta: float = 0.0,
        vol_threshold: float = math.inf,
        ofi_threshold: float = math.inf,
        vpin_threshold: float = math.inf,
        feature_names: tuple[str, ...] = ("imbalance", "volatility", "ofi", "vpin",
                                          "time_remaining"),
    ) -> None:
        self.quotes = ASInventory(sigma=sigma, k=k, gamma=gamma, T=T, horizon=horizon,
                                  unit=unit, feature_names=feature_names)
        self.alpha = check_number("alpha", alpha)
        self.beta = check_number("beta", beta)
        self.vol_threshold = check_number("vol_threshold", vol_threshold, low=0,
                                          allow_inf=True)
        names = tuple(feature_names)
        self._imbalance = None if self.alpha == 0 else feature_column(names, "imbalance",
                                                                       self.name)
        skewed = self.alpha != 0 or self.beta != 0
        self._volatility = (None if not skewed or math.isinf(self.vol_threshold)
                            else feature_column(names, "volatility", self.name))
        self.ofi_threshold = check_number("ofi_threshold", ofi_threshold, low=0, low_open=True,
                                          allow_inf=True)
        self.vpin_threshold = check_number("vpin_threshold", vpin_threshold, low=0,
                                           allow_inf=True)
        self._gated = not (math.isinf(self.ofi_threshold) and math.isinf(self.vpin_threshold))
        self._ofi = (feature_column(names, "ofi", self.name) if self._gated or self.beta != 0
                     else None)
        self._vpin = (None if math.isinf(self.vpin_threshold)
                      else feature_column(names, "vpin", self.name))

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        quotes = self.quotes(obs, info)
        ofi = None if self._ofi is None else obs[:, self._ofi].astype(np.float64)
        skew = np.zeros(len(obs))
        if self._imbalance is not None:
            skew += self.alpha * obs[:, self._imbalance].astype(np.float64)
        if self.beta != 0:
            skew += self.beta * ofi
        if self._volatility is not None:
            skew = np.where(obs[:, self._volatility] > self.vol_threshold, skew / 2, skew)
        quotes[:, 0] -= skew
        quotes[:, 1] += skew
        if not self._gated:
            return quotes
        toxic = (np.zeros(len(obs), dtype=bool) if self._vpin is None
                 else obs[:, self._vpin] >= self.vpin_threshold)
        buying = (ofi >= self.ofi_threshold) | (toxic & (ofi > 0))
        selling = (ofi <= -self.ofi_threshold) | (toxic & (ofi < 0))
        quotes[buying, 1] = NO_QUOTE
        quotes[selling, 0] = NO_QUOTE
        return quotes
