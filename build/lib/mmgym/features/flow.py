"""Streaming, batched order-flow estimators: order flow imbalance, VPIN, trade rate, delta.

Every estimator holds the state of ``n`` independent environments in fixed-size arrays and
costs O(1) per step per environment (amortised; no growing history); the rolling sums, OFI
and VPIN update in one compiled loop over the environments (:mod:`mmgym.features.kernels`).
``reset(mask)`` forgets the history of the masked environments only; ``update(...)``
takes one step's ``(n,)`` arrays for all environments and returns the current value of each,
shape ``(n,)``, written into ``out`` when one is given.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mmgym.features.book import safe_ratio
from mmgym.features.kernels import erf as erf
from mmgym.features.kernels import order_flow_imbalance, rolling_push, vpin


class RollingSum:
    """Sums of ``width`` per-step streams over each environment's last ``window`` steps.

    A ring buffer of shape ``(window, width, n)`` written at one position shared by all
    environments, with running sums updated by ``+ new − old``. A reset zeroes the
    environment's slots, so each running sum equals (in exact arithmetic) the sum of its
    slots. An environment's sums are recomputed from its slots every ``window`` steps of its
    own (counted from its reset), adding the slots in chronological order: the float drift
    stays bounded by the rounding of about ``2·window`` additions however long the stream
    runs, and the rounding depends only on the environment's own history, so its values are
    the same, to the bit, whatever the batch it runs in. O(width) per step per environment,
    amortised.

    Attributes:
        sums: ``(width, n)``, the sums over the steps since the reset, at most ``window`` of
            them.
        count: ``(n,)`` int, the number of those steps, ``min(steps since reset, window)``.
    """

    def __init__(self, n: int, window: int, width: int = 1) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.sums = np.zeros((width, n))
        self.count = np.zeros(n, dtype=np.int64)
        self._buf = np.zeros((window, width, n))
        self._pos = 0
        self._age = np.zeros(n, dtype=np.int64)  # steps since the reset, modulo window

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._buf[:, :, mask] = 0.0
        self.sums[:, mask] = 0.0
        self.count[mask] = 0
        self._age[mask] = 0

    def push(self, values: np.ndarray) -> None:
        """Add one step's values, shape ``(width, n)``, dropping the step ``window`` ago."""
        rolling_push(*self.state(), values)
        self.advance()

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """The ring, the sums, the counts, the ages and the write position: what a compiled
        push (:mod:`mmgym.features.kernels`) updates, followed by :meth:`advance`."""
        return self._buf, self.sums, self.count, self._age, self._pos

    def advance(self) -> None:
        """Move the write position on by one step (after a compiled push of every env)."""
        self._pos = (self._pos + 1) % self.window


class OrderFlowImbalance:
    """Order flow imbalance (OFI) of the best quotes over the last ``window`` steps.

    Cont, Kukanov & Stoikov (2014), "The price impact of order book events", Journal of
    Financial Econometrics 12(1), 47–88, section 2: with ``P^b, q^b`` (``P^a, q^a``) the best
    bid (ask) price and size after step ``t``,

        e_t = 1{P^b_t >= P^b_{t−1}}·q^b_t − 1{P^b_t <= P^b_{t−1}}·q^b_{t−1}
              − 1{P^a_t <= P^a_{t−1}}·q^a_t + 1{P^a_t >= P^a_{t−1}}·q^a_{t−1},

    the net size added to the bid queue minus that added to the ask queue, and
    ``OFI_t = Σ_{s = t−window+1..t} e_s``, in size units. ``e = 0`` on the first step after a
    reset (no previous book); until ``window`` steps have passed since the reset the sum runs
    over the steps since the reset. An empty side (NaN best price) counts as price −inf (bid)
    or +inf (ask) with size 0, so a queue that empties contributes −q_{t−1} on its side and
    one that reappears +q_t.

    With ``normalize=True`` the output is ``OFI_t / D_t``, dimensionless, where
    ``D_t = mean over the same steps of (q^b + q^a)/2`` is the average best-level depth: CKS
    find the price impact of OFI inversely proportional to this depth, so the ratio is the
    imbalance in units of "queues" and is comparable across books of different size. 0 when
    ``D_t = 0``.

    Args:
        n: number of environments.
        window: number of steps summed, ``>= 1``.
        normalize: divide by the average best-level depth over the window.
    """

    def __init__(self, n: int, window: int, normalize: bool = False) -> None:
        self.normalize = normalize
        self._sums = RollingSum(n, window, 2 if normalize else 1)
        self._values = np.zeros((2 if normalize else 1, n))
        self._has_prev = np.zeros(n, dtype=bool)
        self._prev = np.zeros((4, n))  # P^b, q^b, P^a, q^a of the last step

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._sums.reset(mask)
        self._has_prev[mask] = False

    def update(
        self,
        bid_px: np.ndarray,
        bid_sz: np.ndarray,
        ask_px: np.ndarray,
        ask_sz: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Take in the best quotes after this step and return OFI (size units, or
        dimensionless if ``normalize``), shape ``(n,)``.

        Args:
            bid_px, ask_px: best bid and ask prices, ``(n,)``, price units, NaN if empty.
            bid_sz, ask_sz: best bid and ask sizes, ``(n,)``, size units, ``>= 0``.
            out: optional ``(n,)`` array to write into.
        """
        if out is None:
            out = np.empty(len(bid_px))
        order_flow_imbalance(bid_px, bid_sz, ask_px, ask_sz, self._prev, self._has_prev,
                             self._values, *self._sums.state(), self.normalize, out)
        self._sums.advance()
        return out


class VPIN:
    """Volume-synchronised probability of informed trading, dimensionless, in [0, 1].

    Easley, López de Prado & O'Hara (2012), "Flow toxicity and liquidity in a high-frequency
    world", Review of Financial Studies 25(5), 1457–1493:

    * Bulk volume classification, with one step as the time bar: a step with traded volume
      ``v`` and price change ``Δp`` has buy volume ``v·Φ(Δp/σ_Δp)`` and sell volume
      ``v·(1 − Φ(Δp/σ_Δp))``, ``Φ(z) = (1 + erf(z/√2))/2`` the standard normal distribution
      function; the net ``buy − sell = v·erf(z/√2)`` is computed with :func:`erf` (absolute
      error ≤ 1.5e-7, hence ≤ 1.5e-7 in VPIN; exactly balanced at ``Δp = 0``).
    * ``σ_Δp`` is the sample standard deviation (ddof = 1) of the price changes of the last
      ``sigma_window`` steps, the current one included (a step's own change enters its
      classification). While it is undefined (fewer than two changes since the reset) or 0,
      the classification takes its limit, the tick rule: all buy if ``Δp > 0``, all sell if
      ``Δp < 0``, half each if ``Δp = 0``. The first step after a reset has no price change:
      its volume is split half and half.
    * Volume buckets of exactly ``V = bucket_volume``: a step's volume fills the current
      bucket and, when it is larger than what the bucket lacks, is split exactly across the
      boundaries; one step may fill several buckets. All of a step's volume has the step's
      buy fraction.
    * ``VPIN = Σ_τ |V^B_τ − V^S_τ| / (N·V)`` over the last ``N = n_buckets`` complete buckets.
      Until ``N`` buckets have completed since the reset, the sum runs over the completed ones
      and ``N`` is their number; 0 before the first one completes.

    The price may be the last trade price (as in the paper) or the mid; any price unit.

    Cost: O(1) per step per environment, plus O(min(k, n_buckets)) for a step that completes
    ``k`` buckets (amortised O(1) per completed bucket). The running sum of each ring is
    recomputed from the ring whenever it wraps, which bounds float drift.

    Args:
        n: number of environments.
        bucket_volume: ``V``, size units, ``> 0``.
        n_buckets: ``N``, number of buckets averaged, ``>= 1``.
        sigma_window: number of steps of price changes for ``σ_Δp``, ``>= 2``.
    """

    def __init__(self, n: int, bucket_volume: float, n_buckets: int, sigma_window: int) -> None:
        if bucket_volume <= 0 or n_buckets < 1 or sigma_window < 2:
            raise ValueError("need bucket_volume > 0, n_buckets >= 1 and sigma_window >= 2")
        self.bucket_volume = float(bucket_volume)
        self.n_buckets = n_buckets
        self._dp = RollingSum(n, sigma_window, 3)
        self._values = np.zeros((3, n))
        self._prev = np.zeros(n)
        self._has_prev = np.zeros(n, dtype=bool)
        self._buf = np.zeros((n, n_buckets))  # |V^B − V^S| of the completed buckets
        self._pos = np.zeros(n, dtype=np.int64)  # next slot of each ring
        self._full = np.zeros(n, dtype=np.int64)  # completed buckets held, <= n_buckets
        self._sum = np.zeros(n)  # running sum of the ring
        self._vol = np.zeros(n)  # volume in the current, incomplete bucket
        self._net = np.zeros(n)  # buy − sell volume in the current bucket

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._dp.reset(mask)
        self._has_prev[mask] = False
        self._buf[mask] = 0.0
        self._pos[mask] = 0
        self._full[mask] = 0
        self._sum[mask] = 0.0
        self._vol[mask] = 0.0
        self._net[mask] = 0.0

    def update(
        self, price: np.ndarray, volume: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Take in this step's price and traded volume and return VPIN, shape ``(n,)``.

        Args:
            price: price after the step, ``(n,)``, price units, finite.
            volume: volume traded during the step, ``(n,)``, size units, ``>= 0``.
            out: optional ``(n,)`` array to write into.
        """
        if out is None:
            out = np.empty(len(price))
        vpin(price, volume, self.bucket_volume, self._prev, self._has_prev, self._values,
             *self._dp.state(), self._buf, self._pos, self._full, self._sum, self._vol,
             self._net, out)
        self._dp.advance()
        return out


class TradeRate:
    """Trades per step, averaged over the last ``window`` steps.

    ``(1/W)·Σ_{s = t−W+1..t} x_s`` with ``x`` the number of trades of a step
    (``measure="count"``, trades per step) or its traded volume (``measure="volume"``, size
    units per step), and ``W = min(steps since reset, window)``: the current step counts,
    so the first step after a reset gives that step's own value.

    Args:
        n: number of environments.
        window: number of steps averaged, ``>= 1``.
        measure: ``"count"`` or ``"volume"``.
    """

    def __init__(self, n: int, window: int, measure: Literal["count", "volume"] = "count") -> None:
        if measure not in ("count", "volume"):
            raise ValueError(f"measure must be 'count' or 'volume', got {measure!r}")
        self.measure = measure
        self._sums = RollingSum(n, window, 1)

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._sums.reset(mask)

    def update(
        self, n_trades: np.ndarray, volume: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Take in this step's trades and return the rate, shape ``(n,)``.

        Args:
            n_trades: number of trades during the step, ``(n,)``.
            volume: volume traded during the step, ``(n,)``, size units.
            out: optional ``(n,)`` array to write into.
        """
        self._sums.push((n_trades if self.measure == "count" else volume)[None])
        return safe_ratio(self._sums.sums[0], self._sums.count, out)


class CumulativeDelta:
    """Cumulative volume delta: ``Σ (V^buy − V^sell)`` over the steps since the reset, in size
    units, where ``V^buy`` (``V^sell``) is the volume of the trades whose aggressor bought
    (sold), i.e. market buys lifting the ask (market sells hitting the bid).

    The sum is compensated (Neumaier's variant of Kahan summation), so its error stays at a
    few ulps of the result however many steps it runs.

    Args:
        n: number of environments.
    """

    def __init__(self, n: int) -> None:
        self._sum = np.zeros(n)
        self._comp = np.zeros(n)

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' history (``mask``: bool ``(n,)``)."""
        self._sum[mask] = 0.0
        self._comp[mask] = 0.0

    def update(
        self, buy_volume: np.ndarray, sell_volume: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Take in this step's aggressor-signed volumes and return the delta, shape ``(n,)``.

        Args:
            buy_volume: volume of buyer-initiated trades during the step, ``(n,)``, size units.
            sell_volume: volume of seller-initiated trades during the step, ``(n,)``.
            out: optional ``(n,)`` array to write into.
        """
        x = buy_volume - sell_volume
        total = self._sum + x
        self._comp += np.where(
            np.abs(self._sum) >= np.abs(x), (self._sum - total) + x, (x - total) + self._sum
        )
        self._sum = total
        return np.add(self._sum, self._comp, out=out)
