"""Market makers of a multi-asset market (:mod:`mmgym.markets.multi`): ``N`` assets quoted at
once, asset 0 the leader.

A multi-asset policy maps the observation ``(n, N·F + P)`` (asset ``a``'s ``F`` features in
columns ``a·F .. a·F + F − 1``, named ``{feature}_{a}``, then the ``P`` portfolio features) and
the ``info`` of the vector environment (each key an ``(n, N)`` array, column ``a`` asset
``a``'s) to the actions ``(n, 2N)``: asset ``a``'s bid and ask offsets, in ticks from its mid,
in columns ``2a`` and ``2a + 1``. Every one takes ``assets`` (``N``) and
``asset_feature_names`` (the ``F`` per-asset feature names, in order) besides its model's
parameters, and says ``multi_asset = True``.

| name | quotes |
|---|---|
| ``independent`` | a single-asset policy on each asset, blind to the others |
| ``multi_glft`` | Guéant's multi-asset closed form: skews from the whole inventory vector |
| ``lead_lag`` | AS, each follower's reservation price moved by the leader's recent return |
| ``cross_imbalance`` | the imbalance skew, each follower leaning on the leader's imbalance |

Offsets are in ticks (the ``wide`` legs' unit), inventories counted in orders of ``unit``
size units (shares).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from mmgym.policies.avellaneda_stoikov import ASInventory
from mmgym.policies.base import Policy, feature_column
from mmgym.validation import ConfigError, check_number


def _check_layout(policy: str, assets: int, asset_feature_names: Sequence[str]
                  ) -> tuple[int, tuple[str, ...]]:
    """``assets`` checked to be a count in [1, 16] and the per-asset feature names a
    non-empty tuple."""
    n_assets = check_number(f"{policy}.assets", assets, low=1, high=16, integer=True)
    names = tuple(asset_feature_names)
    if not names:
        raise ConfigError(f"{policy}.asset_feature_names=(): expected the per-asset feature "
                          "names of the observation")
    return n_assets, names


def _per_asset(field: str, value: float | Sequence[float], assets: int, **bounds: Any
               ) -> np.ndarray:
    """``value`` (one number for every asset, or one per asset) as an ``(assets,)`` array,
    each entry checked with ``bounds`` (:func:`check_number`)."""
    values = [value] * assets if np.ndim(value) == 0 else list(value)
    if len(values) != assets:
        raise ConfigError(f"{field}={list(values)!r}: {len(values)} entries for {assets} "
                          "assets; give one per asset or one for all")
    return np.array([check_number(f"{field}[{a}]", v, **bounds) for a, v in enumerate(values)],
                    dtype=np.float64)


def _per_follower(field: str, value: float | Sequence[float], assets: int, **bounds: Any
                  ) -> np.ndarray:
    """``(assets,)``: 1 for the leader, then ``value`` (one number for every follower, or one
    per follower), each checked with ``bounds``."""
    if assets == 1:
        return np.ones(1)
    values = [value] * (assets - 1) if np.ndim(value) == 0 else list(value)
    if len(values) != assets - 1:
        raise ConfigError(f"{field}={list(values)!r}: {len(values)} entries for "
                          f"{assets - 1} followers (assets − 1); give one per follower or one "
                          "for all")
    return np.array([1.0] + [check_number(f"{field}[{a}]", v, **bounds)
                             for a, v in enumerate(values)])


def _columns(info_value: np.ndarray, n: int) -> np.ndarray:
    """An ``info`` quantity as ``(n, N)`` (a single-asset environment gives ``(n,)``)."""
    a = np.asarray(info_value, dtype=np.float64)
    return a.reshape(n, -1)


def _interleave(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """``(n, 2N)`` actions from ``(n, N)`` bid and ask offsets: asset ``a``'s in columns
    ``2a`` and ``2a + 1``."""
    return np.stack([bid, ask], axis=-1).reshape(len(bid), -1)


class _StackedLegs:
    """The legs of a multi-asset market seen as one market of ``N·n`` environments, asset
    major (rows ``a·n .. a·n + n − 1`` asset ``a``'s): what a single-asset policy that reads
    the hidden state (the ``oracle``) is bound to inside :class:`Independent`."""

    def __init__(self, market: Any) -> None:
        self.name = market.name
        self.legs = tuple(getattr(market, "legs", (market,)))

    def hidden_state(self) -> dict[str, np.ndarray]:
        """Each leg's hidden state, concatenated asset after asset."""
        states = [leg.hidden_state() for leg in self.legs]
        return {key: np.concatenate([s[key] for s in states]) for key in states[0]}


class Independent:
    """``base`` applied to every asset on its own; ``independent``.

    The assets' observation blocks are stacked asset-major into ``(N·n, F)`` rows (row
    ``a·n + i``: asset ``a`` of environment ``i``), each ``info`` array's columns likewise into
    ``(N·n,)``, and ``base`` is called once on that batch; its ``(N·n, 2)`` offsets become the
    ``(n, 2N)`` actions. So each asset is quoted exactly as ``base`` quotes a single-asset
    market, whatever the others hold: the portfolio-blind benchmark of the multi-asset
    baselines. ``reset(mask)`` is forwarded (the mask tiled over the assets), and so is
    ``bind(market)``, to the legs' stacked hidden state (an ``independent`` ``oracle`` reads
    each asset's fundamental).

    Args:
        base: a single-asset policy whose ``feature_names`` are the per-asset ones.
        assets: ``N``.
        asset_feature_names: the per-asset feature names, the observation's layout.
    """

    name: ClassVar[str] = "independent"
    multi_asset: ClassVar[bool] = True

    def __init__(self, base: Policy, *, assets: int,
                 asset_feature_names: tuple[str, ...]) -> None:
        self.base = base
        self.assets, self.asset_feature_names = _check_layout(self.name, assets,
                                                              asset_feature_names)

    def reset(self, mask: np.ndarray) -> None:
        if hasattr(self.base, "reset"):
            self.base.reset(np.tile(mask, self.assets))

    def bind(self, market: Any) -> None:
        if hasattr(self.base, "bind"):
            self.base.bind(_StackedLegs(market))

    def stack(self, obs: np.ndarray, info: dict[str, np.ndarray]
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The batch ``base`` sees: the observation blocks ``(N·n, F)`` and the ``info``
        arrays ``(N·n,)`` (an ``(n,)`` array, a Gymnasium mask, tiled)."""
        n, N, F = len(obs), self.assets, len(self.asset_feature_names)
        if obs.shape[1] < N * F:
            raise ValueError(f"policy {self.name!r}: observation of {obs.shape[1]} columns, "
                             f"expected at least {N} assets × {F} features")
        blocks = obs[:, :N * F].reshape(n, N, F).swapaxes(0, 1).reshape(N * n, F)
        stacked = {}
        for key, value in info.items():
            a = np.asarray(value)
            if a.shape == (n, N):
                stacked[key] = a.T.reshape(N * n)
            elif a.shape == (n,):
                stacked[key] = np.tile(a, N)
        return blocks, stacked

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        n = len(obs)
        quotes = np.asarray(self.base(*self.stack(obs, info)), dtype=np.float64)
        return quotes.reshape(self.assets, n, 2).swapaxes(0, 1).reshape(n, 2 * self.assets)


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (rounding's
    negative eigenvalues taken as 0)."""
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def covariance_matrix(assets: int, sigma: float | Sequence[float] | None = None,
                      correlation: float | Sequence[Sequence[float]] = 0.0,
                      covariance: Sequence[Sequence[float]] | None = None) -> np.ndarray:
    """The ``(N, N)`` covariance Σ of the assets' mid changes per unit time: ``covariance``
    as given, or Σ_ij = ρ_ij·σ_i·σ_j from ``sigma`` (one per asset, or one for all) and
    ``correlation`` (one number for every pair, or an ``N × N`` matrix with a unit diagonal).
    Exactly one of ``sigma`` and ``covariance`` is given.

    Raises:
        ConfigError: naming the field, when a matrix is not of shape ``(N, N)``, not
            symmetric, not positive semi-definite, or a correlation is outside [−1, 1].
    """
    if (sigma is None) == (covariance is None):
        raise ConfigError("multi_glft: give exactly one of sigma (with correlation) and "
                          "covariance")
    if covariance is None:
        s = _per_asset("sigma", sigma, assets, low=0)
        if np.ndim(correlation) == 0:
            rho = check_number("correlation", correlation, low=-1, high=1)
            corr = np.full((assets, assets), rho)
            np.fill_diagonal(corr, 1.0)
        else:
            corr = _square("correlation", correlation, assets)
            if not np.allclose(np.diag(corr), 1.0) or np.abs(corr).max() > 1.0:
                raise ConfigError(f"correlation={corr.tolist()!r}: expected entries in [−1, 1] "
                                  "and a unit diagonal")
        matrix = corr * np.outer(s, s)
        field = "correlation"
    else:
        matrix = _square("covariance", covariance, assets)
        field = "covariance"
    scale = max(1.0, float(np.abs(matrix).max()))
    if np.linalg.eigvalsh(matrix).min() < -1e-12 * scale:
        raise ConfigError(f"{field}: the covariance {matrix.tolist()!r} is not positive "
                          "semi-definite")
    return matrix


def _square(field: str, value: Any, assets: int) -> np.ndarray:
    """``value`` as a finite symmetric ``(assets, assets)`` matrix."""
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{field}={value!r}: expected an {assets} × {assets} matrix of "
                          "numbers") from None
    if m.shape != (assets, assets) or not np.isfinite(m).all() or not np.allclose(m, m.T):
        raise ConfigError(f"{field}={value!r}: expected a symmetric {assets} × {assets} matrix "
                          "of finite numbers")
    return m


class MultiGLFT:
    """Guéant's closed-form approximation of the optimal quotes of a multi-asset market
    maker; ``multi_glft``.

    O. Guéant, "Optimal market making", Applied Mathematical Finance 24(2), 112–154 (2017),
    the closed-form approximations of its multi-asset extension, in the ergodic (T − t → ∞)
    form of Bergault, Evangelista, Guéant & Vieira, "Closed-form approximations in
    multi-asset market making", Applied Mathematical Finance 28(2), 101–142 (2021); the
    steps below are the papers' (quadratic Hamiltonian, quadratic value function), and the
    tests check the Riccati equation and the reduction to GLFT for one asset. A CARA
    market maker of risk aversion γ quotes ``N`` assets with mids dS = Σ^{1/2}·dW (Σ the
    covariance of the mids per unit time), is filled for one unit (Δ_i = 1 order) at the
    intensity A_i·exp(−k_i·δ) at a distance δ, and its value function
    −exp(−γ(x + qᵀS + θ(q))) solves, for θ,

        0 = −(γ/2)·qᵀΣq + Σ_i [H_i(θ(q) − θ(q + e_i)) + H_i(θ(q) − θ(q − e_i))] + const,
        H_i(p) = sup_δ A_i·e^{−k_i δ}·(1 − e^{−γ(δ − p)})/γ = (A_i/k_i)·C_i·e^{−k_i p},
        C_i = (1 + γ/k_i)^{−(1 + k_i/γ)},

    the supremum reached at δ = p + (1/γ)·ln(1 + γ/k_i). Replacing each H_i by its
    second-order expansion at 0 (the Hamiltonian's curvature H_i''(0) = A_i·k_i·C_i) and θ by
    the quadratic −qᵀΓq turns the equation into the algebraic Riccati equation
    4·ΓDΓ = (γ/2)·Σ, D = diag(A_i·k_i·C_i), whose positive solution is

        Γ = ½·√(γ/2) · D^{−1/2} (D^{1/2} Σ D^{1/2})^{1/2} D^{−1/2},

    and the quotes at p = θ(q) − θ(q ± e_i) = (2q ± e_i)ᵀΓe_i are

        δ^b_i(q) = δ_static,i + (2q + e_i)ᵀ Γ e_i,
        δ^a_i(q) = δ_static,i − (2q − e_i)ᵀ Γ e_i,      δ_static,i = (1/γ)·ln(1 + γ/k_i).

    A long position in one asset lowers the quotes of every asset j with Γ_ij > 0 (with two
    assets: positively correlated), so the book sheds the portfolio's risk, not each
    asset's. With one asset
    Γ = ½·√(σ²γ/(2kA)·(1 + γ/k)^{1 + k/γ}) = c₂/2 and the quotes are GLFT's asymptotic
    ones (:class:`~mmgym.policies.GLFTApprox`); with zero correlation Γ is diagonal and each
    asset is quoted by its own GLFT.

    Args:
        assets: ``N``.
        asset_feature_names: the per-asset feature names (none is read).
        A: fill intensity at the mid, fills per unit time (one number, or one per asset).
        k: its decay, 1/price (ticks; one, or one per asset).
        gamma: risk aversion γ, 1/(price·unit).
        sigma: each asset's mid volatility, price/√time (ticks/√s; one, or one per asset),
            with ``correlation`` (one number for every pair, or an ``N × N`` matrix).
        covariance: Σ itself, price²/time (ticks²/s), instead of ``sigma`` and
            ``correlation``.
        unit: the size of one order, size units: q counts orders (the inventory divided by
            it).
    """

    name: ClassVar[str] = "multi_glft"
    multi_asset: ClassVar[bool] = True

    def __init__(
        self,
        *,
        assets: int,
        asset_feature_names: tuple[str, ...],
        A: float | Sequence[float],
        k: float | Sequence[float],
        gamma: float = 0.1,
        sigma: float | Sequence[float] | None = None,
        correlation: float | Sequence[Sequence[float]] = 0.0,
        covariance: Sequence[Sequence[float]] | None = None,
        unit: float = 1.0,
    ) -> None:
        self.assets, self.asset_feature_names = _check_layout(self.name, assets,
                                                              asset_feature_names)
        N = self.assets
        A_ = _per_asset("A", A, N, low=0, low_open=True)
        k_ = _per_asset("k", k, N, low=0, low_open=True)
        self.gamma = check_number("gamma", gamma, low=0, low_open=True)
        self.unit = check_number("unit", unit, low=0, low_open=True)
        self.covariance = covariance_matrix(N, sigma, correlation, covariance)
        g = self.gamma
        curvature = A_ * k_ * (1 + g / k_) ** (-(1 + k_ / g))  # H_i''(0)
        root = np.sqrt(curvature)
        inner = _sqrtm_psd(root[:, None] * self.covariance * root[None, :])
        self.Gamma = 0.5 * math.sqrt(g / 2) * inner / np.outer(root, root)
        self.static = np.log1p(g / k_) / g

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        q = _columns(info["inventory"], len(obs)) / self.unit
        skew = 2 * q @ self.Gamma  # (2qᵀΓ)_i
        own = np.diag(self.Gamma)  # e_iᵀΓe_i
        return _interleave(self.static + own + skew, self.static + own - skew)


class LeadLag:
    """Avellaneda–Stoikov on every asset, each follower's reservation price moved by the
    leader's recent move that has not yet reached it; ``lead_lag``.

    The market (:mod:`mmgym.markets.multi`) moves follower ``a``'s value by β_a times the
    leader's value change of ``lag_steps`` earlier, so the leader's recent return announces
    the follower's coming one. The observation's ``mid_return`` (R, bps over its window)
    gives the leader's mid change ΔS_0 = S_0·(exp(R_0·10⁻⁴) − 1) and the follower's own ΔS_a
    over the same window (S the mids of ``info["mid"]``), and the policy expects the follower
    to catch up by

        m_a = (β_a·ΔS_0 − w·ΔS_a) / tick   (ticks of asset a),

    the leader's move carried over by the loading, less the share ``w``
    (``follower_weight``) of the follower's own move taken as the leader's already passed
    on. Each follower's quotes are the :class:`~mmgym.policies.ASInventory` quotes around
    the reservation price r_a = S_a − q_a·γσ²τ + κ·m_a (Avellaneda & Stoikov 2008, equation
    (29), with a predicted drift κ·m_a added to the mid; κ = ``scale``): as offsets
    δ^b_a − κ·m_a and δ^a_a + κ·m_a. The leader is quoted by AS alone; with κ = 0, or while
    the leader has not moved and w·ΔS_a = 0, so is every asset.

    Measured (``benchmarks/multi_asset.py``, two ``wide`` legs, β = 1, the ``mid_return``
    window equal to the lag, seeds 0–199): of κ = 0.25, 0.5, 1, 1.5, 2, κ = 0.5 earns most at
    lags of 100 and 300 steps (κ = 1 over-reacts: the leader's mid change overstates what
    reaches the follower's book), and at 20 steps, where the leader's book has revealed
    little of a move by the time it reaches the follower, only 0.25 and 0.5 earn more than
    AS (4 and 3 USD per episode). w = 0 is the default because the follower's own window
    return is momentum of its own informed flow (it correlates positively with its next
    moves beyond 100 steps); with κ = 1, w = 1 leans against that flow and earns 25–108 USD
    per episode less than AS at those lags.

    Args:
        assets: ``N``.
        asset_feature_names: the per-asset feature names (``mid_return`` among them, and
            ``time_remaining`` when ``T`` is given).
        sigma, k, gamma, T, horizon, unit: the AS inventory strategy's parameters, common to
            every asset (ticks, seconds, size units per order).
        beta: the followers' loadings β_a on the leader (one, or one per follower), price of
            ``a`` per price of the leader.
        scale: κ, the share of the expected move the reservation price takes (0: AS).
        follower_weight: w in [0, 1], the share of the follower's own window move taken as
            already caught up.
        tick: the price of one tick, price units (USD).
    """

    name: ClassVar[str] = "lead_lag"
    multi_asset: ClassVar[bool] = True

    def __init__(
        self,
        *,
        assets: int,
        asset_feature_names: tuple[str, ...],
        sigma: float,
        k: float,
        gamma: float = 0.1,
        T: float | None = None,
        horizon: float | None = None,
        unit: float = 1.0,
        beta: float | Sequence[float] = 1.0,
        scale: float = 0.5,
        follower_weight: float = 0.0,
        tick: float = 0.01,
    ) -> None:
        self.assets, names = _check_layout(self.name, assets, asset_feature_names)
        self.asset_feature_names = names
        self.quotes = Independent(
            ASInventory(sigma=sigma, k=k, gamma=gamma, T=T, horizon=horizon, unit=unit,
                        feature_names=names),
            assets=self.assets, asset_feature_names=names)
        self.beta = _per_follower("beta", beta, self.assets, low=-10, high=10)
        self.scale = check_number("scale", scale)
        self.follower_weight = check_number("follower_weight", follower_weight, low=0, high=1)
        self.tick = check_number("tick", tick, low=0, low_open=True)
        j = feature_column(names, "mid_return", self.name)
        self._returns = np.arange(self.assets) * len(names) + j

    def expected_move(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        """``(n, N)`` m_a of the class doc, ticks (0 for the leader)."""
        mid = _columns(info["mid"], len(obs))
        change = mid * np.expm1(obs[:, self._returns].astype(np.float64) * 1e-4)  # price
        move = self.beta * change[:, :1] - self.follower_weight * change
        move[:, 0] = 0.0
        return move / self.tick

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        quotes = self.quotes(obs, info)
        if self.assets > 1 and self.scale != 0:
            shift = self.scale * self.expected_move(obs, info)
            quotes[:, 0::2] -= shift
            quotes[:, 1::2] += shift
        return quotes


class CrossImbalance:
    """The order-book-imbalance skew, each follower also leaning on the leader's book;
    ``cross_imbalance``.

    As :class:`~mmgym.policies.OBISkew`, both quotes of an asset move by its skew toward the
    side the imbalance points to, the spread 2·``half_spread`` kept: δ^b_a = s/2 − k_a,
    δ^a_a = s/2 + k_a, with I_a the observation's ``imbalance_a`` (in [−1, 1], positive when
    the bids are heavier: the price tends to rise) and

        k_0 = α·I_0,    k_a = α·I_a + α_x·β_a·I_0   (followers),

    so a follower leans on the leader's imbalance, which announces the leader's move and,
    through the loading β_a, its own coming one, besides its own book's. With α_x = 0 each
    asset is quoted by ``obi_skew`` (no volatility filter) on its own.

    Args:
        assets: ``N``.
        asset_feature_names: the per-asset feature names (``imbalance`` among them).
        half_spread: s/2, ticks.
        alpha: α, ticks per unit of an asset's own imbalance.
        cross_alpha: α_x, ticks per unit of the leader's imbalance (times β_a), followers only.
        beta: the followers' loadings β_a (one, or one per follower), price of ``a`` per
            price of the leader.
    """

    name: ClassVar[str] = "cross_imbalance"
    multi_asset: ClassVar[bool] = True

    def __init__(
        self,
        *,
        assets: int,
        asset_feature_names: tuple[str, ...],
        half_spread: float = 1.0,
        alpha: float = 1.0,
        cross_alpha: float = 1.0,
        beta: float | Sequence[float] = 1.0,
    ) -> None:
        self.assets, names = _check_layout(self.name, assets, asset_feature_names)
        self.asset_feature_names = names
        self.half_spread = check_number("half_spread", half_spread)
        self.alpha = check_number("alpha", alpha)
        self.cross_alpha = check_number("cross_alpha", cross_alpha)
        self.beta = _per_follower("beta", beta, self.assets, low=-10, high=10)
        j = feature_column(names, "imbalance", self.name)
        self._imbalance = np.arange(self.assets) * len(names) + j

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        imbalance = obs[:, self._imbalance].astype(np.float64)
        skew = self.alpha * imbalance
        skew[:, 1:] += self.cross_alpha * self.beta[1:] * imbalance[:, :1]
        return _interleave(self.half_spread - skew, self.half_spread + skew)
