"""The classic production market-making bot: a base spread widened by volatility, an inventory
skew, guards against adverse selection and price shocks, and a hard position limit."""

from __future__ import annotations

import math

import numpy as np

from mmgym.policies.base import NO_QUOTE, feature_column
from mmgym.validation import check_number


class PriceShock:
    """The price-shock test of :class:`RuleBased` (its rule 4), per environment of a batch:
    whether the range of the last ``window`` mids (max − min) exceeds ``shock_bps`` of the
    current mid. The :mod:`mmgym.live` engine's kill switch applies it to every policy.

    Args:
        shock_bps: the threshold, basis points of the mid (> 0).
        window: the mids watched, the current one included (integer ≥ 2).
        n: the batch size.
    """

    def __init__(self, shock_bps: float, window: int, n: int = 0) -> None:
        self.shock = check_number("shock_bps", shock_bps, low=0, low_open=True) * 1e-4
        self.window = check_number("shock_window", window, low=2, integer=True)
        self.allocate(n)

    def allocate(self, n: int) -> None:
        """Watch ``n`` environments, none of which has a mid yet."""
        self.mids = np.full((n, self.window), np.nan)

    def reset(self, mask: np.ndarray) -> None:
        """Forget the masked environments' mids."""
        self.mids[mask] = np.nan

    def __call__(self, mid: np.ndarray) -> np.ndarray:
        """Take in each environment's current mid (price units, ``(n,)``); return whether its
        window holds a move beyond the threshold (``(n,)`` bool)."""
        self.mids = np.roll(self.mids, -1, axis=1)
        self.mids[:, -1] = mid
        with np.errstate(all="ignore"):
            move = (np.nanmax(self.mids, axis=1) - np.nanmin(self.mids, axis=1)) / mid
        return move > self.shock


class RuleBased:
    """Rule-based market maker; ``rule_based``. Per step and environment, with the mid m:

    1. half-spread h = (``base_spread_bps``/2)·(1 + ``vol_weight``·vol) bps of m, vol being
       the observation's ``volatility`` feature in percent per √s (bps/√s ÷ 100);
    2. inventory skew: both quotes move against the position by
       ``skew_bps``·q/``max_position`` bps of m (long: lower bid and ask);
    3. adverse-selection guard: when the last ``guard_fills`` fills were all on one side, or
       this step's filled size exceeds ``spike_ratio`` × its running average (an exponential
       average over ``spike_window`` steps, watched once that many steps have passed), the
       side that was hit (both for a spike) is widened by ``guard_widen`` for
       ``guard_steps`` steps; with ``guard_widen = inf`` (the default) it is withdrawn, the
       seeds' "cancel all orders" and "stop and reassess";
    4. price-shock pause: when the mid's range over the last ``shock_window`` steps exceeds
       ``shock_bps`` of m, neither side is quoted until the window holds no such move;
    5. hard position limit: no bid at q ≥ ``max_position``, no ask at q ≤ −``max_position``.

    "Not quoted" is :data:`~mmgym.policies.base.NO_QUOTE`: the environment sends no order on
    that side. Offsets are in the market's offset unit, ``offset_unit`` price units
    each (``lob``: the tick, 0.1; ``as2008``: 1). Sizes (q, ``max_position``) in size units.
    The policy keeps per-environment state; ``reset(mask)`` starts the masked environments
    afresh.
    """

    name = "rule_based"

    def __init__(
        self,
        *,
        base_spread_bps: float = 1.0,
        vol_weight: float = 10.0,
        skew_bps: float = 0.5,
        max_position: float = 1.0,
        guard_fills: int = 5,
        spike_ratio: float = 3.0,
        spike_window: int = 100,
        guard_widen: float = math.inf,
        guard_steps: int = 20,
        shock_bps: float = 20.0,
        shock_window: int = 50,
        offset_unit: float = 1.0,
        feature_names: tuple[str, ...] = ("inventory", "volatility"),
    ) -> None:
        self.base = check_number("base_spread_bps", base_spread_bps, low=0) / 2
        self.vol_weight = check_number("vol_weight", vol_weight, low=0)
        self.skew = check_number("skew_bps", skew_bps, low=0)
        self.max_position = check_number("max_position", max_position, low=0, low_open=True)
        self.guard_fills = check_number("guard_fills", guard_fills, low=1, integer=True)
        self.spike_ratio = check_number("spike_ratio", spike_ratio, low=1)
        self.spike_rate = 1.0 / check_number("spike_window", spike_window, low=1, integer=True)
        self.guard_widen = check_number("guard_widen", guard_widen, low=1, allow_inf=True)
        self.guard_steps = check_number("guard_steps", guard_steps, low=1, integer=True)
        self._shock = PriceShock(shock_bps, shock_window)
        self.offset_unit = check_number("offset_unit", offset_unit, low=0, low_open=True)
        self._volatility = feature_column(tuple(feature_names), "volatility", self.name)
        self._n = 0

    def reset(self, mask: np.ndarray) -> None:
        if len(mask) != self._n:
            self._allocate(len(mask))
        self._sides[mask] = 0.0
        self._fill_average[mask] = 0.0
        self._steps[mask] = 0
        self._guard[:, mask] = 0
        self._shock.reset(mask)

    def _allocate(self, n: int) -> None:
        self._n = n
        self._sides = np.zeros((n, self.guard_fills))  # +1 bid fill, −1 ask fill, 0 none yet
        self._fill_average = np.zeros(n)
        self._steps = np.zeros(n, dtype=np.int64)  # since the reset, for the average's warm-up
        self._guard = np.zeros((2, n), dtype=np.int64)  # steps of widening left per side
        self._shock.allocate(n)

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        if len(obs) != self._n:
            self.reset(np.ones(len(obs), dtype=bool))
        mid = np.asarray(info["mid"], dtype=np.float64)
        q = np.asarray(info["inventory"], dtype=np.float64)
        self._observe_fills(info)
        # 1-2: spread widened by volatility, skew against the inventory, in price units
        vol = obs[:, self._volatility].astype(np.float64) / 100.0
        half = self.base * (1 + self.vol_weight * vol) * 1e-4 * mid
        shift = self.skew * (q / self.max_position) * 1e-4 * mid
        offsets = np.stack([half + shift, half - shift])
        # 3: widen (or withdraw) the guarded sides
        widened = NO_QUOTE if math.isinf(self.guard_widen) else offsets * self.guard_widen
        offsets = np.where(self._guard > 0, widened, offsets)
        offsets /= self.offset_unit
        # 4: price shock: no quotes while the window holds a move beyond the threshold
        offsets[:, self._shock(mid)] = NO_QUOTE
        # 5: hard position limit
        offsets[0, q >= self.max_position] = NO_QUOTE
        offsets[1, q <= -self.max_position] = NO_QUOTE
        return offsets.T

    def _observe_fills(self, info: dict[str, np.ndarray]) -> None:
        bid, ask = (np.asarray(info[k], dtype=np.float64) for k in ("bid_fill", "ask_fill"))
        filled = bid + ask
        self._guard = np.maximum(self._guard - 1, 0)
        # one-sided fills: the last guard_fills fills all on the same side
        some = filled > 0
        self._sides[some] = np.roll(self._sides[some], -1, axis=1)
        self._sides[some, -1] = np.sign(bid - ask)[some]
        one_sided = np.abs(self._sides.sum(axis=1)) == self.guard_fills
        hit_bid = one_sided & (self._sides[:, -1] > 0) & some
        hit_ask = one_sided & (self._sides[:, -1] < 0) & some
        # a spike of filled size over its running average
        warm = self._steps * self.spike_rate >= 1
        spike = some & warm & (filled > self.spike_ratio * self._fill_average)
        self._fill_average += self.spike_rate * (filled - self._fill_average)
        self._steps += 1
        self._guard[0, hit_bid | spike] = self.guard_steps
        self._guard[1, hit_ask | spike] = self.guard_steps
