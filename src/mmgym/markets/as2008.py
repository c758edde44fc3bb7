"""The market of Avellaneda & Stoikov (2008), section 3.3.

M. Avellaneda and S. Stoikov, "High-frequency trading in a limit order book",
Quantitative Finance 8(3), 217-224 (2008).

The mid price is a binomial random walk, s(t + dt) = s(t) ± σ·√dt with equal probability. The
agent quotes a bid s − δ_b and an ask s + δ_a at time t; at t + dt the ask is lifted (q −= 1,
cash += s + δ_a) with probability P(δ_a) and the bid is hit (q += 1, cash −= s − δ_b) with
probability P(δ_b), independently, at most one unit per side per step; then the mid moves.
Market orders reach a quote at distance δ from the mid at the Poisson intensity

    λ(δ) = A·exp(−k·δ)

and the probability of a fill in one step is, by ``fill_rule``:

* ``linear`` (the paper's simulation, the default): P(δ) = min(1, λ(δ)·dt). A quote through
  the mid (δ < 0) is allowed and simply fills with probability capped at 1.
* ``poisson``: P(δ) = 1 − exp(−λ(δ)·dt), the probability that a Poisson clock of intensity
  λ(δ) rings at least once in dt; always below 1, and equal to the linear rule to first order
  in λ·dt.

Units: prices in the paper's currency unit (s0 = 100), time in the paper's unit (T = 1), so σ
is in price per √time, A in fills per time and k per price unit. Offsets (the action) are in
price units.

**Latency** (:mod:`mmgym.markets.latency`; both 0 by default, the paper's model): a quote is
priced at submission, ``s − δ_b`` and ``s + δ_a`` with the mid ``s`` the agent saw, and is in
force ``entry_latency_steps`` steps later, a withdrawal (NaN offset) ``cancel_latency_steps``
steps later; the latest submission that has arrived is in force, and until then the previous
quote stays. A quote in force fills by its distance from the mid of the step, δ = s − bid
(s − bid may have changed since it was sent), with the probabilities below.

With the linear rule, the symmetric constant half-spread Δ earns
E[profit] = 2·A·Δ·exp(−k·Δ)·T exactly (inventory PnL has zero mean), as long as λ(Δ)·dt ≤ 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from mmgym.markets.base import MarketStep
from mmgym.markets.latency import Latency, check_latency
from mmgym.validation import MAX_EPISODE_STEPS, ConfigError, check_choice, check_number

_SIDE = np.array([[-1.0], [1.0]])
"""Sign of each side's offset in its price: bid = mid − δ_b, ask = mid + δ_a."""


@dataclass(frozen=True)
class AS2008Params:
    """Parameters of the ``as2008`` market (defaults: the paper's section 3.3).

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``s0`` | initial mid price | price | 100 | (0, inf) |
    | ``T`` | episode horizon (at most 10⁷ steps of ``dt``) | time | 1 | (0, 10⁷·dt] |
    | ``sigma`` | mid volatility | price/√time | 2 | [0, inf) |
    | ``dt`` | step length; ``T/dt`` must be an integer | time | 0.005 | (0, T) |
    | ``A`` | fill intensity at zero distance | fills/time | 140 | (0, inf) |
    | ``k`` | decay of the intensity with distance | 1/price | 1.5 | (0, inf) |
    | ``fill_rule`` | per-step fill probability | - | ``linear`` | ``linear``, ``poisson`` |
    | ``max_offset`` | action bound: offsets in [-max_offset, max_offset] | price | 10 | (0, inf) |
    | ``entry_latency_steps`` | latency of a new or moved quote | steps | 0 | [0, 1000] |
    | ``cancel_latency_steps`` | latency of a withdrawal | steps | 0 | [0, 1000] |
    """

    s0: float = 100.0
    T: float = 1.0
    sigma: float = 2.0
    dt: float = 0.005
    A: float = 140.0
    k: float = 1.5
    fill_rule: Literal["linear", "poisson"] = "linear"
    max_offset: float = 10.0
    entry_latency_steps: int = 0
    cancel_latency_steps: int = 0

    def __post_init__(self) -> None:
        check_number("s0", self.s0, low=0, low_open=True)
        check_number("T", self.T, low=0, low_open=True)
        check_number("sigma", self.sigma, low=0)
        check_number("dt", self.dt, low=0, high=self.T, low_open=True, high_open=True)
        check_number("A", self.A, low=0, low_open=True)
        check_number("k", self.k, low=0, low_open=True)
        check_choice("fill_rule", self.fill_rule, ("linear", "poisson"))
        check_number("max_offset", self.max_offset, low=0, low_open=True)
        check_latency(self.entry_latency_steps, self.cancel_latency_steps)
        steps = self.T / self.dt
        if steps > MAX_EPISODE_STEPS:
            raise ConfigError(
                f"T={self.T!r}: T/dt = {steps:.3g} steps of dt={self.dt!r}; allowed at most "
                f"{MAX_EPISODE_STEPS:,} steps an episode (T ≤ {MAX_EPISODE_STEPS * self.dt:g})"
            )
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ConfigError(
                f"dt={self.dt!r}: T/dt = {steps!r} must be an integer number of steps "
                f"(T={self.T!r})"
            )


class AS2008Market:
    """``n`` independent copies of the Avellaneda–Stoikov (2008) market; see the module doc.

    Uniforms per step: bid fill, ask fill, mid direction (rows 0, 1, 2). Nothing is random
    at reset.
    """

    name: ClassVar[str] = "as2008"
    Params: ClassVar[type] = AS2008Params
    default_features: ClassVar[tuple[str, ...]] = ("inventory", "time_remaining")
    default_max_inventory: ClassVar[float] = 50.0
    has_book: ClassVar[bool] = False
    n_uniforms: ClassVar[int] = 3
    quote_size: ClassVar[float] = 1.0

    def __init__(self, n: int, **params: Any) -> None:
        self.p = self.Params(**params)
        self.n = n
        self.horizon_steps = round(self.p.T / self.p.dt)
        self.dt = self.p.dt
        self.offset_low = -self.p.max_offset
        self.offset_high = self.p.max_offset
        self._jump = self.p.sigma * math.sqrt(self.p.dt)
        self._rate_dt = self.p.A * self.p.dt
        self.mid = np.full(n, self.p.s0)
        self.step_record = MarketStep.empty(self.mid)
        self._prob = np.empty((2, n))
        self._move = np.empty(n)
        self.latency = Latency(n, self.p.entry_latency_steps, self.p.cancel_latency_steps)
        self._refs = np.empty((2, n))  # the mid each side's submission is priced against

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def value(self) -> np.ndarray:
        """The latent value of each environment, the mid, price units (a new array)."""
        return self.mid.copy()

    def shift_value(self, delta: np.ndarray) -> None:
        """Move each environment's mid by ``delta`` (price units), as part of the step just
        taken (:mod:`mmgym.markets.multi`)."""
        self.mid += delta

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        self.mid[mask] = self.p.s0
        self.latency.reset(mask)

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> MarketStep:
        rec, prob, s = self.step_record, self._prob, self.mid
        rec.mid_before[...] = s
        if self.latency.active:  # the quotes in force: their prices, and offsets from s now
            self._refs[...] = s
            quotes, refs = self.latency.arrive(offsets, self._refs)
            np.multiply(quotes, _SIDE, out=rec.prices)
            rec.prices += refs
            offsets = (rec.prices - s) * _SIDE
        else:
            np.multiply(offsets, _SIDE, out=rec.prices)
            rec.prices += s
        # fill probability per side: λ(δ)·dt = A·dt·exp(−k·δ); the linear rule's cap at 1 is
        # implicit, as a uniform in [0, 1) is below any probability >= 1
        np.multiply(offsets, -self.p.k, out=prob)
        np.exp(prob, out=prob)
        prob *= self._rate_dt
        if self.p.fill_rule == "poisson":
            np.negative(prob, out=prob)
            np.expm1(prob, out=prob)
            np.negative(prob, out=prob)
        # a NaN probability (side not quoted) never fills; unit size
        np.less(uniforms[:2], prob, out=rec.fills)
        rec.notional[...] = 0.0
        np.copyto(rec.notional, rec.prices, where=rec.fills > 0)
        # then the mid moves by ±σ·√dt
        np.subtract(uniforms[2], 0.5, out=self._move)
        np.copysign(self._jump, self._move, out=self._move)
        s += self._move
        return rec
