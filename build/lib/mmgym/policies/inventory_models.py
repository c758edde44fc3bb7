"""The optimal market makers of the finite-inventory models, through the matrix exponential.

Both models quote one unit on each side of a Brownian mid, are filled at the intensity
A·exp(−k·δ) at a distance δ, and hold at most ``max_inventory`` units either way (at the
bound they withdraw the side that would pass it, :data:`~mmgym.policies.base.NO_QUOTE`, as
the models prescribe: no quote at q = Q on the bid, at q = −Q on the ask). Their value
functions reduce to a vector ω(τ) = exp(B·τ)·z over the inventories q = −Q, ..., Q, for a
tridiagonal matrix B with non-negative off-diagonal entries (τ = T − t); :class:`LogExpm`
computes ln ω by scaling and squaring in the log domain. ``unit`` converts the
environment's inventory (size units) into units of one order.
"""

from __future__ import annotations

import math

import numpy as np

from mmgym.policies.base import NO_QUOTE, TimeToGo
from mmgym.validation import check_number


class LogExpm:
    """``ln(exp(B·τ)·z)`` for a Metzler matrix ``B`` (off-diagonal entries ≥ 0) and z > 0,
    accurate to the last entries however many orders of magnitude they span.

    The entries of exp(B·τ)·z for inventories far from zero are exponentially small next to
    the others (exp(−α·q²·τ)); an eigendecomposition loses them in cancellation and a plain
    exponential underflows. Here B + c·I is non-negative (c the largest −B_qq), so
    exp(B·τ) = exp(−c·τ)·exp((B + cI)·τ) with a Taylor series of non-negative terms for a
    scaled step (no cancellation), then ``s`` squarings carried out in the log domain
    (log-sum-exp), exactly the scaling-and-squaring method with logarithms for entries.
    Results are cached per τ: the grid of times repeats from episode to episode.
    """

    def __init__(self, matrix: np.ndarray, z: np.ndarray) -> None:
        self.shift = -float(np.min(np.diag(matrix)))
        self.nonneg = matrix + self.shift * np.eye(len(matrix))
        self.norm = float(np.abs(self.nonneg).sum(axis=0).max())
        self.log_z = np.log(z)
        self._cache: dict[float, np.ndarray] = {}

    def __call__(self, tau: float) -> np.ndarray:
        """``ln(exp(B·τ)·z)``, shape ``(m,)``."""
        tau = float(tau)
        if tau not in self._cache:
            self._cache[tau] = self._compute(tau)
        return self._cache[tau]

    def _compute(self, tau: float) -> np.ndarray:
        m = len(self.log_z)
        squarings = max(0, math.ceil(math.log2(max(self.norm * tau, 1e-300) / 0.5)))
        step = self.nonneg * (tau / 2**squarings)  # norm ≤ 1/2
        # entry (i, j) of exp(step) starts with the term of order |i − j| (B is tridiagonal)
        # and has converged to the last bit a dozen orders later: m + 12 terms make every
        # entry exact in relative terms, however small
        term, total = np.eye(m), np.eye(m)
        for i in range(1, m + 12):
            term = term @ step / i
            total += term
        with np.errstate(divide="ignore"):  # an entry below 1e-308 is 0: its log is −inf
            log_p = np.log(total)
        for _ in range(squarings):
            log_p = _log_matmul(log_p, log_p)
        return _log_matvec(log_p, self.log_z) - self.shift * tau


def _log_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ln(exp(a) @ exp(b)) for matrices of logarithms (−inf for a zero)."""
    return _log_sum_exp(a[:, :, None] + b[None, :, :], axis=1)


def _log_matvec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ln(exp(a) @ exp(x)) for a matrix and a vector of logarithms."""
    return _log_sum_exp(a + x[None, :], axis=1)


def _log_sum_exp(s: np.ndarray, axis: int) -> np.ndarray:
    top = s.max(axis=axis, keepdims=True)
    top[~np.isfinite(top)] = 0.0  # a sum of zeros stays −inf
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis=axis) + np.log(np.exp(s - top).sum(axis=axis))


class _InventoryModel:
    """Shared by the models: the fill intensity A·exp(−k·δ), the inventory grid, the
    horizon, the lookup of the quotes at each environment's inventory, the bounds."""

    name: str

    def __init__(
        self,
        A: float,
        k: float,
        max_inventory: int,
        unit: float,
        T: float | None,
        horizon: float | None,
        feature_names: tuple[str, ...],
    ) -> None:
        self.A = check_number("A", A, low=0, low_open=True)
        self.k = check_number("k", k, low=0, low_open=True)
        self.Q = check_number("max_inventory", max_inventory, low=1, integer=True)
        self.unit = check_number("unit", unit, low=0, low_open=True)
        self.time_to_go = TimeToGo(self.name, T, horizon, feature_names)
        self.grid = np.arange(-self.Q, self.Q + 1)

    @staticmethod
    def _per_env(log_vector: LogExpm, tau: np.ndarray) -> np.ndarray:
        """The log vector at each environment's τ, ``(n, 2Q + 1)``: computed once per
        distinct τ (environments in step share it)."""
        times, where = np.unique(tau, return_inverse=True)
        return np.stack([log_vector(t) for t in times])[where]

    def _quotes(self, log_v: np.ndarray, info: dict[str, np.ndarray], scale: float,
                base: np.ndarray | float) -> np.ndarray:
        """Quotes ``base + scale·(log v_q − log v_{q±1})`` at each env's inventory, from
        ``log_v`` (``(n, 2Q + 1)``); no quote at the bounds."""
        q = np.rint(np.asarray(info["inventory"], dtype=np.float64) / self.unit)
        i = (np.clip(q, -self.Q, self.Q) + self.Q).astype(np.intp)
        rows = np.arange(len(i))
        here = log_v[rows, i]
        bid = base + scale * (here - log_v[rows, np.minimum(i + 1, 2 * self.Q)])
        ask = base + scale * (here - log_v[rows, np.maximum(i - 1, 0)])
        bid = np.where(q >= self.Q, NO_QUOTE, bid)
        ask = np.where(q <= -self.Q, NO_QUOTE, ask)
        return np.stack([bid, ask], axis=-1)


def _tridiagonal(diagonal: np.ndarray, off: float) -> np.ndarray:
    return np.diag(diagonal) + off * (np.eye(len(diagonal), k=1) + np.eye(len(diagonal), k=-1))


class GLFTExact(_InventoryModel):
    """Guéant, Lehalle & Fernandez-Tapia (2013), the exact optimal quotes; ``glft_exact``.

    O. Guéant, C.-A. Lehalle and J. Fernandez-Tapia, "Dealing with the inventory risk: a
    solution to the market making problem", Mathematics and Financial Economics 7, 477-507
    (2013), Theorem 1: for a CARA investor of risk aversion γ with inventory bounded by Q,

        v(t) = exp(−M·(T − t))·1,   M = tridiag(−η, α·q², −η),
        α = k·γ·σ²/2,   η = A·(1 + γ/k)^(−(1 + k/γ)),

        δ_b(t, q) = (1/k)·ln(v_q / v_{q+1}) + (1/γ)·ln(1 + γ/k),   q < Q,
        δ_a(t, q) = (1/k)·ln(v_q / v_{q−1}) + (1/γ)·ln(1 + γ/k),   q > −Q.

    At t = T, v = 1 and both quotes are (1/γ)·ln(1 + γ/k). Parameters: ``gamma`` (1/price),
    the market's ``sigma`` (price/√time), ``A`` (1/time) and ``k`` (1/price), the inventory
    bound ``max_inventory`` (units) and the horizon as for Avellaneda–Stoikov (``T`` read
    with ``time_remaining``, or a fixed ``horizon``).
    """

    name = "glft_exact"

    def __init__(
        self,
        *,
        sigma: float,
        A: float,
        k: float,
        gamma: float = 0.1,
        max_inventory: int = 30,
        unit: float = 1.0,
        T: float | None = None,
        horizon: float | None = None,
        feature_names: tuple[str, ...] = ("inventory", "time_remaining"),
    ) -> None:
        super().__init__(A, k, max_inventory, unit, T, horizon, feature_names)
        sigma = check_number("sigma", sigma, low=0)
        self.gamma = check_number("gamma", gamma, low=0, low_open=True)
        alpha = self.k * self.gamma * sigma**2 / 2
        eta = self.A * (1 + self.gamma / self.k) ** (-(1 + self.k / self.gamma))
        # v = exp(−M τ)·1: the exponential of B = −M
        self.log_v = LogExpm(_tridiagonal(-alpha * self.grid**2.0, eta), np.ones(len(self.grid)))
        self.myopic = math.log1p(self.gamma / self.k) / self.gamma

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        log_v = self._per_env(self.log_v, self.time_to_go(obs))
        return self._quotes(log_v, info, 1.0 / self.k, self.myopic)


class GLFTApprox:
    """Guéant, Lehalle & Fernandez-Tapia (2013), the closed-form asymptotic quotes; ``glft``.

    Far from the horizon (T − t → ∞) the exact quotes of :class:`GLFTExact` tend to

        δ_b(q) ≈ c₁ + (2q + 1)/2 · c₂,    δ_a(q) ≈ c₁ − (2q − 1)/2 · c₂,
        c₁ = (1/γ)·ln(1 + γ/k),   c₂ = √( σ²γ / (2kA) · (1 + γ/k)^(1 + k/γ) ),

    (equations (4.6)-(4.7) of the paper): a half-spread c₁ + c₂/2 and a skew of c₂ per unit of
    inventory. Parameters as :class:`GLFTExact` (no horizon: the quotes do not depend on t).
    """

    name = "glft"

    def __init__(self, *, sigma: float, A: float, k: float, gamma: float = 0.1,
                 unit: float = 1.0) -> None:
        sigma = check_number("sigma", sigma, low=0)
        A = check_number("A", A, low=0, low_open=True)
        k = check_number("k", k, low=0, low_open=True)
        gamma = check_number("gamma", gamma, low=0, low_open=True)
        self.unit = check_number("unit", unit, low=0, low_open=True)
        self.c1 = math.log1p(gamma / k) / gamma
        self.c2 = math.sqrt(sigma**2 * gamma / (2 * k * A) * (1 + gamma / k) ** (1 + k / gamma))

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        q = np.asarray(info["inventory"], dtype=np.float64) / self.unit
        half = self.c1 + self.c2 / 2
        return np.stack([half + q * self.c2, half - q * self.c2], axis=-1)


class CarteaJaimungal(_InventoryModel):
    """Cartea, Jaimungal & Penalva (2015), chapter 10.2, the optimal depths under a running
    inventory penalty; ``cartea_jaimungal``.

    Á. Cartea, S. Jaimungal and J. Penalva, *Algorithmic and High-Frequency Trading*,
    Cambridge University Press (2015), section 10.2: a risk-neutral market maker maximises
    E[X_T + q_T·S_T − α·q_T² − φ·∫ q_u² du] with fills at A·exp(−k·δ) and |q| ≤ Q. With
    H = x + q·s + h_q(t) and ω_q = exp(k·h_q),

        ω(t) = exp(B·(T − t))·z,   B = tridiag(A/e, −φ·k·q², A/e),   z_q = exp(−α·k·q²),

        δ_b(t, q) = 1/k − h_{q+1}(t) + h_q(t),   q < Q,
        δ_a(t, q) = 1/k − h_{q−1}(t) + h_q(t),   q > −Q.

    With φ = α = 0 and the inventory away from its bounds the depths are 1/k.
    :meth:`value` gives h_q(t), the value of the criterion from (t, q) above x + q·s — the
    expected sum of the ``running_inventory_penalty`` reward (same φ, α) from there.
    Parameters: ``phi`` (price per unit² per time), ``alpha`` (price per unit²), the
    market's ``A`` and ``k``, ``max_inventory`` (units) and the horizon.
    """

    name = "cartea_jaimungal"

    def __init__(
        self,
        *,
        A: float,
        k: float,
        phi: float = 0.01,
        alpha: float = 0.0,
        max_inventory: int = 30,
        unit: float = 1.0,
        T: float | None = None,
        horizon: float | None = None,
        feature_names: tuple[str, ...] = ("inventory", "time_remaining"),
    ) -> None:
        super().__init__(A, k, max_inventory, unit, T, horizon, feature_names)
        phi = check_number("phi", phi, low=0)
        alpha = check_number("alpha", alpha, low=0)
        self.log_omega = LogExpm(_tridiagonal(-phi * self.k * self.grid**2.0, self.A / math.e),
                                 np.exp(-alpha * self.k * self.grid**2.0))

    def value(self, tau: float) -> np.ndarray:
        """h_q(T − τ) for q = −Q..Q, shape ``(2Q + 1,)``, price units."""
        return self.log_omega(tau) / self.k

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        log_omega = self._per_env(self.log_omega, self.time_to_go(obs))
        # δ = 1/k + h_q − h_{q±1} = 1/k + (ln ω_q − ln ω_{q±1})/k
        return self._quotes(log_omega, info, 1.0 / self.k, 1.0 / self.k)
