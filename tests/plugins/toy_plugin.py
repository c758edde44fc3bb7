"""A user's own market, feature, reward and policy, registered with mmgym by name: what a
researcher writes to extend mmgym without editing it (tests/test_registry.py imports it, and
the command line loads it with ``plugins=[toy_plugin]``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

import mmgym
from mmgym.features.base import Feature, FeatureInputs
from mmgym.markets.base import MarketStep
from mmgym.rewards import Transition


@dataclass(frozen=True)
class ToyParams:
    """``s0`` initial mid (price), ``sigma`` volatility (price/√s), ``fill_rate`` fills per
    second of a quote at the mid, decaying as exp(−δ/``depth``) with its offset δ (price),
    ``dt`` step (s), ``T`` episode (s), ``max_offset`` the action bound (price)."""

    s0: float = 100.0
    sigma: float = 1.0
    fill_rate: float = 5.0
    depth: float = 0.5
    dt: float = 0.1
    T: float = 5.0
    max_offset: float = 5.0


@mmgym.register_market
class ToyMarket:
    """The mid moves ±σ√dt each step; a quote at offset δ fills one unit with probability
    ``fill_rate·exp(−δ/depth)·dt``. Uniforms per step: bid fill, ask fill, mid move."""

    name: ClassVar[str] = "toy"
    Params: ClassVar[type] = ToyParams
    default_features: ClassVar[tuple[str, ...]] = ("inventory", "time_remaining")
    default_max_inventory: ClassVar[float] = 10.0
    has_book: ClassVar[bool] = False
    n_uniforms: ClassVar[int] = 3
    quote_size: ClassVar[float] = 1.0

    def __init__(self, n: int, **params: Any) -> None:
        self.p = ToyParams(**params)
        self.n = n
        self.dt = self.p.dt
        self.horizon_steps = round(self.p.T / self.p.dt)
        self.offset_low, self.offset_high = -self.p.max_offset, self.p.max_offset
        self.mid = np.full(n, self.p.s0)
        self.step_record = MarketStep.empty(self.mid)

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        self.mid[mask] = self.p.s0

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> MarketStep:
        rec, p = self.step_record, self.p
        rec.mid_before[...] = self.mid
        prob = p.fill_rate * p.dt * np.exp(-offsets / p.depth)
        rec.fills[...] = uniforms[:2] < prob  # NaN (no quote): never
        rec.prices[...] = self.mid + np.array([[-1.0], [1.0]]) * offsets
        rec.notional[...] = np.where(rec.fills > 0, rec.prices, 0.0)
        self.mid += np.where(uniforms[2] < 0.5, -1.0, 1.0) * p.sigma * math.sqrt(p.dt)
        return rec


@mmgym.register_feature
class LastMove(Feature):
    """The mid's last change, in units of σ√dt (±1 in the toy market, 0 at the start)."""

    name: ClassVar[str] = "toy_last_move"
    low: ClassVar[float] = -np.inf
    high: ClassVar[float] = np.inf

    def __init__(self, out: np.ndarray, market: Any, scale: float = 1.0) -> None:
        super().__init__(out, market)
        self.scale = scale * market.p.sigma * math.sqrt(market.dt)

    def reset(self, mask: np.ndarray, inputs: FeatureInputs) -> None:
        self.out[mask] = 0.0

    def update(self, inputs: FeatureInputs) -> None:
        rec = inputs.market.step_record
        self.out[:] = (rec.mid - rec.mid_before) / self.scale


def spread_only(weight: float = 1.0):
    """A reward of the step's spread capture alone, times ``weight``."""

    def reward(t: Transition) -> np.ndarray:
        return weight * t.spread_change

    return reward


mmgym.register_reward(spread_only, name="toy_spread_only")


@mmgym.register_policy
class InventorySkew:
    """Quotes ``half_spread`` from the mid, both moved by −``skew``·(inventory feature)."""

    name: ClassVar[str] = "toy_skew"

    def __init__(self, half_spread: float = 0.5, skew: float = 0.5,
                 feature_names: tuple[str, ...] = ("inventory",)) -> None:
        self.half_spread, self.skew = half_spread, skew
        self.column = list(feature_names).index("inventory")

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        shift = self.skew * obs[:, self.column].astype(np.float64)
        return np.stack([self.half_spread + shift, self.half_spread - shift], axis=1)
