"""Built-in reward functions, each a function of a batched :class:`Transition` record.

Money in the market's price unit (price × size), inventory in its size unit, time in its
time unit. Stateful rewards define ``reset(mask)``, called at the start of the masked
environments' episodes.
"""

from __future__ import annotations

import numpy as np

from mmgym.rewards.base import Transition
from mmgym.validation import check_number

_MIN_VARIANCE = 1e-12


class PnL:
    """r_t = ΔPnL_t, the change of mark-to-market PnL (price units); risk neutral."""

    name = "pnl"

    def __call__(self, tr: Transition) -> np.ndarray:
        return tr.pnl_change.copy()


class PnLMinusInventoryPenalty:
    """r_t = ΔPnL_t − φ·q_t², with q_t the inventory after the step.

    The quadratic penalty is the per-step cost of holding inventory in the mean-variance
    approximation of Avellaneda & Stoikov's (2008) exponential utility: over a step of length
    dt, holding q exposes the PnL to variance σ²·q²·dt, and a CARA agent of risk aversion γ
    pays γ/2 of it, so φ = γ·σ²·dt/2. The default φ = 0.001 is that value for γ = 0.1 on the
    ``as2008`` market (σ = 2, dt = 0.005), the paper's middle case.

    Args:
        inventory_penalty: φ, in price units per size unit squared per step, ≥ 0.
    """

    name = "pnl_minus_inventory_penalty"

    def __init__(self, inventory_penalty: float = 0.001) -> None:
        self.inventory_penalty = check_number("inventory_penalty", inventory_penalty, low=0)

    def __call__(self, tr: Transition) -> np.ndarray:
        r = np.square(tr.inventory)
        r *= -self.inventory_penalty
        r += tr.pnl_change
        return r


class RunningInventoryPenalty:
    """r_t = ΔPnL_t − φ·q_t²·dt, and at the episode's last step also − α·q_T².

    The criterion of Cartea, Jaimungal & Penalva, *Algorithmic and High-Frequency Trading*
    (Cambridge University Press, 2015), chapter 10: maximise
    E[X_T + q_T·S_T − α·q_T² − φ·∫₀ᵀ q_u² du], the terminal wealth marked to the mid, less a
    terminal liquidation penalty α·q_T² and a running inventory penalty; summed over an
    episode the rewards are exactly that criterion's integrand. The inventory in the running
    term is the one held during the step (``inventory_before``: fills land at its end).

    Args:
        phi: φ, running penalty, price units per size unit² per time unit, ≥ 0.
        alpha: α, terminal penalty, price units per size unit², ≥ 0.
    """

    name = "running_inventory_penalty"

    def __init__(self, phi: float = 0.01, alpha: float = 0.0) -> None:
        self.phi = check_number("phi", phi, low=0)
        self.alpha = check_number("alpha", alpha, low=0)

    def __call__(self, tr: Transition) -> np.ndarray:
        r = np.square(tr.inventory_before)
        r *= -self.phi * tr.dt
        r += tr.pnl_change
        if self.alpha:
            r -= self.alpha * np.square(tr.inventory) * tr.terminated
        return r


class RealizedSpread:
    """r_t = S_t + q^H_t·(m_t − m_{t−1}) − F_t − φ·q_t²: the realized spread of the fills at
    horizon H, less fees and a quadratic inventory penalty.

    S_t is the spread the step's fills captured against the mid ``m_{t−1}`` at which the quotes
    were set, F_t the fees, q_t the inventory after the step, and q^H_t the signed size of the
    fills of the last H steps (this one included): the mid's moves are charged to a fill for H
    steps after it, then no more. Summed over an episode the first two terms are the
    fills' realized spreads, each fill marked to the mid H steps after it (the episode's last
    mid for fills closer to its end): the measure of what a liquidity provider earns net of
    adverse selection (Huang & Stoll, "Dealer versus auction markets: a paired comparison of
    execution costs on NASDAQ and the NYSE", J. Financial Economics 41, 1996; the SEC's Rule 605
    reports it at five minutes), the markout of the trading desk. The position's risk past
    the horizon is priced by the penalty φ·q_t² (as in ``pnl_minus_inventory_penalty``)
    instead of by the mid's moves on the whole inventory, whose noise (|q|·σ·√dt a step)
    dominates the PnL of a market maker holding inventory; the two rewards are equal when
    H spans the episode. The estimate's bias: the mid's drift more than H after a fill (the
    last of an informed trader's impact) is not charged to the fill.

    Args:
        horizon: H in the market's time unit (s on ``wide``, ``lob`` and ``replay``), > 0;
            ``round(horizon / dt)`` steps, at least 1.
        inventory_penalty: φ, price units per size unit squared per step, ≥ 0.
    """

    name = "realized_spread"

    def __init__(self, horizon: float = 10.0, inventory_penalty: float = 0.001) -> None:
        self.horizon = check_number("horizon", horizon, low=0, low_open=True)
        self.inventory_penalty = check_number("inventory_penalty", inventory_penalty, low=0)
        self._fills: np.ndarray | None = None  # (H, n): signed fill size of each step of H
        self._recent = np.zeros(0)  # q^H, the sum of _fills' columns
        self._columns = np.zeros(0, dtype=np.intp)

    def reset(self, mask: np.ndarray) -> None:
        if self._fills is not None:
            self._fills[:, mask] = 0.0
            self._recent[mask] = 0.0

    def __call__(self, tr: Transition) -> np.ndarray:
        n = len(tr.pnl_change)
        if self._fills is None:
            self._fills = np.zeros((max(1, round(self.horizon / tr.dt)), n))
            self._recent = np.zeros(n)
            self._columns = np.arange(n)
        slot = (tr.step_index - 1) % len(self._fills)
        filled = tr.bid_fill - tr.ask_fill
        self._recent += filled - self._fills[slot, self._columns]
        self._fills[slot, self._columns] = filled
        r = np.square(tr.inventory)
        r *= -self.inventory_penalty
        r += tr.spread_change
        r -= tr.fees_change
        r += self._recent * tr.mid_change
        return r


class CARAUtility:
    """r = 0 until the episode's last step, then u(W_T) = (1 − exp(−γ·W_T))/γ, with W_T the
    episode's mark-to-market PnL.

    Avellaneda & Stoikov (2008) maximise the exponential (CARA) utility of terminal wealth,
    −E[exp(−γ(X_T + q_T·S_T))]. The reward is that utility transformed affinely, which keeps
    the same preferences (the same optimal policy) while giving W_T's units and scale:
    u(W) → W as γ → 0, and u'(0) = 1.

    Args:
        gamma: γ, absolute risk aversion, per price unit, > 0.
    """

    name = "cara_utility"

    def __init__(self, gamma: float = 0.1) -> None:
        self.gamma = check_number("gamma", gamma, low=0, low_open=True)

    def __call__(self, tr: Transition) -> np.ndarray:
        u = -np.expm1(-self.gamma * tr.pnl) / self.gamma
        return np.where(tr.terminated, u, 0.0)


class AsymmetricDampenedPnL:
    """r_t = ΔPnL_t − max(0, η·ΔΨ_t), with ΔΨ_t = q_t·(S_t − S_{t−1}) the step's inventory PnL.

    Spooner, Fearnley, Savani & Koukorinis, "Market making via reinforcement learning",
    AAMAS 2018: the asymmetrically dampened PnL removes the fraction η of the
    gains from speculation (positive inventory PnL) and keeps the losses whole, which
    discourages trend-following inventory without rewarding idleness.

    Args:
        eta: η, the dampening of speculative gains, in [0, 1].
    """

    name = "asymmetric_dampened_pnl"

    def __init__(self, eta: float = 0.5) -> None:
        self.eta = check_number("eta", eta, low=0, high=1)

    def __call__(self, tr: Transition) -> np.ndarray:
        r = np.maximum(tr.inventory_pnl_change, 0.0)
        r *= -self.eta
        r += tr.pnl_change
        return r


class DifferentialSharpe:
    """The differential Sharpe ratio of the PnL changes R_t = ΔPnL_t.

    Moody, Wu, Liao & Saffell, "Performance functions and reinforcement learning for trading
    systems and portfolios", Journal of Forecasting 17 (1998), and Moody & Saffell (2001):
    with exponential moving estimates of the first and second moments of R,
    A_t = A_{t−1} + η·(R_t − A_{t−1}) and B_t = B_{t−1} + η·(R_t² − B_{t−1}),

        D_t = (B_{t−1}·ΔA_t − ½·A_{t−1}·ΔB_t) / (B_{t−1} − A_{t−1}²)^{3/2},

    ΔA_t = R_t − A_{t−1}, ΔB_t = R_t² − B_{t−1}: the first-order effect of R_t on the Sharpe
    ratio of the moving estimates. A and B start at 0 each episode; while the variance
    estimate B − A² is not positive (the first step) D is 0. Dimensionless.

    Args:
        eta: η, the adaptation rate of the moving moments, in (0, 1).
    """

    name = "differential_sharpe"

    def __init__(self, eta: float = 0.01) -> None:
        self.eta = check_number("eta", eta, low=0, high=1, low_open=True, high_open=True)
        self._a: np.ndarray | None = None
        self._b: np.ndarray | None = None

    def reset(self, mask: np.ndarray) -> None:
        if self._a is None:
            self._a = np.zeros(len(mask))
            self._b = np.zeros(len(mask))
        self._a[mask] = 0.0
        self._b[mask] = 0.0

    def __call__(self, tr: Transition) -> np.ndarray:
        a, b, x = self._a, self._b, tr.pnl_change
        da = x - a
        db = np.square(x) - b
        variance = b - np.square(a)
        d = np.zeros_like(x)
        ok = variance > _MIN_VARIANCE
        np.divide(b * da - 0.5 * a * db, variance**1.5, out=d, where=ok)
        a += self.eta * da
        b += self.eta * db
        return d
