"""The batched simulator core: one market model, accounting, features and reward over ``n``
environments.

Every Gymnasium and Stable-Baselines3 view in mmgym is a thin layer on
:class:`MarketMakingCore`; the single environment is the core with ``n = 1``. A step runs, in
order: action checks and clipping, position limits, the market step, accounting, the clock,
the features (the next observation), the reward.

A multi-asset market (:mod:`mmgym.markets.multi`) is ``N`` single-asset markets, its *legs*;
the core then keeps one set of accounts and features per leg, the action holds a bid and an
ask offset per asset, the observation every asset's features side by side followed by the
portfolio features (:mod:`mmgym.features.portfolio`), and the reward is the portfolio's. A
single-asset market is the case ``N = 1``, with the same arrays and arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from numba import njit

from mmgym.accounting import INFO_KEYS, Accounts
from mmgym.features import FEATURES, FeatureInputs
from mmgym.features.base import make_features
from mmgym.features.portfolio import (
    make_portfolio_features,
    market_betas,
    split_portfolio_params,
)
from mmgym.markets import MARKETS, Market, make_market
from mmgym.rewards import (
    DEFAULT_REWARD,
    PortfolioTransition,
    RewardFn,
    Transition,
    make_reward,
)
from mmgym.rng import RandomStreams, check_seed, fresh_seeds
from mmgym.validation import ConfigError, check_known_keys, check_number

COMMON_PARAMS = (
    "features",
    "feature_params",
    "reward_fn",
    "reward_kwargs",
    "max_inventory",
    "maker_fee_bps",
    "taker_fee_bps",
    "normalize_actions",
    "action_bounds",
    "portfolio_features",
)
"""Keyword arguments every mmgym environment takes besides its market's own parameters."""


class MarketMakingCore:
    """``n`` market-making environments on one market model, stepped together.

    Args:
        market: the market model's name (``as2008``, ...).
        n: number of environments.
        features: names of the observation's features, in order; the market's default if None.
            In a multi-asset market, every asset's (each asset's features in turn, named
            ``{feature}_{asset}``).
        feature_params: parameters of features by feature name, e.g. ``{"ofi": {"window": 100}}``
            (portfolio features' too).
        reward_fn: a registered reward name or a callable of a :class:`~mmgym.rewards.Transition`.
            In a multi-asset market, a portfolio reward (``portfolio = True``: a callable of a
            :class:`~mmgym.rewards.PortfolioTransition`) or a single-asset one, then summed over
            the assets (one instance per asset when given by name).
        reward_kwargs: parameters of a reward given by name.
        max_inventory: position limit, size units: a side whose fill would take ``|q|`` above it
            is not quoted; the market's default if None. Per asset in a multi-asset market.
        maker_fee_bps: fee on the agent's maker fills (its resting orders filled), basis points
            of notional (negative: rebate).
        taker_fee_bps: fee on its taker fills (a crossing order traded at once, in a market
            that allows it: ``post_only=False``), basis points of notional (negative: rebate).
        normalize_actions: actions in [−1, 1], mapped linearly onto the offset bounds (the
            form Stable-Baselines3 recommends for continuous actions), instead of offsets in
            the market's unit.
        action_bounds: ``(low, high)``, the offsets' bounds in the market's unit, inside the
            market's own ``[offset_low, offset_high]`` (its default): lower offsets are
            clipped to ``low``, ``high`` withdraws a side, and ``normalize_actions`` maps
            [−1, 1] onto them. A narrower range puts the centre of the normalized action,
            where a new Gaussian policy starts, on sensible quotes (``wide``: ``(0, 30)``
            ticks starts at 15, behind the touch, instead of at the mid).
        portfolio_features: the features of the whole portfolio after the assets' (a
            multi-asset market's default: ``hedge``, unless the market has no loadings and
            ``feature_params`` gives none, and ``relative_volatility``; none for one asset),
            :mod:`mmgym.features.portfolio`.
        market_params: the market's own parameters by name.

    Withdrawing a side: an offset at or above the upper bound ``action_high`` (``+inf``
    included; with ``normalize_actions``, an action of 1 or more) sends no order on that side.
    Offsets below the lower bound are clipped to it; NaN and −inf are errors.

    Attributes:
        legs: the single-asset markets (the market itself when it has one asset).
        assets: their number, ``N``.
        leg_accounts: each asset's :class:`~mmgym.accounting.Accounts`.
        accounts: the one asset's accounts (None in a multi-asset market).
        obs: the observation, ``(n, N·F + P)``: asset ``a``'s ``F`` features in columns
            ``a·F .. a·F + F − 1``, then the ``P`` portfolio feature columns.
    """

    def __init__(
        self,
        market: str,
        n: int = 1,
        *,
        features: Sequence[str] | None = None,
        feature_params: dict[str, dict[str, Any]] | None = None,
        reward_fn: str | RewardFn = DEFAULT_REWARD,
        reward_kwargs: dict[str, Any] | None = None,
        max_inventory: float | None = None,
        maker_fee_bps: float = 0.0,
        taker_fee_bps: float = 0.0,
        normalize_actions: bool = False,
        action_bounds: Sequence[float] | None = None,
        portfolio_features: Sequence[str] | None = None,
        **market_params: Any,
    ) -> None:
        self.n = check_number("num_envs", n, low=1, integer=True)
        market_cls = MARKETS.lookup("market", market)
        known = getattr(market_cls, "param_names", None)
        check_known_keys(
            f"market {market!r}",
            market_params,
            (known(market_params) if known else [f.name for f in fields(market_cls.Params)])
            + list(COMMON_PARAMS),
        )
        self.market = make_market(market, self.n, **market_params)
        self._multi = hasattr(self.market, "legs")
        self.legs: tuple[Market, ...] = tuple(getattr(self.market, "legs", (self.market,)))
        self.assets = N = len(self.legs)
        if max_inventory is None:
            max_inventory = self.market.default_max_inventory
        self.max_inventory = check_number(
            "max_inventory", max_inventory, low=max(m.quote_size for m in self.legs)
        )
        maker_fee_bps = check_number("maker_fee_bps", maker_fee_bps, low=-100, high=100)
        taker_fee_bps = check_number("taker_fee_bps", taker_fee_bps, low=-100, high=100)
        if not isinstance(normalize_actions, bool | np.bool_):
            raise ConfigError(f"normalize_actions={normalize_actions!r}: expected true or false")
        self.normalize_actions = bool(normalize_actions)
        self.asset_feature_names = check_features(features, self.market.default_features)
        own_params, portfolio_params = split_portfolio_params(feature_params)
        for name, defaults in getattr(self.market, "default_feature_params", {}).items():
            if name in self.asset_feature_names:
                own_params[name] = defaults | own_params.get(name, {})
        self.horizon_steps = self.market.horizon_steps

        self.streams = RandomStreams(self.n, self.market.n_uniforms)
        self._tables = np.zeros((N, len(INFO_KEYS), self.n))
        self.leg_inventories = self._tables[:, 0, :]
        """``(N, n)`` the assets' inventories (a view)."""
        self._changes = np.zeros((N, 5, self.n))
        self.leg_accounts = tuple(
            Accounts(self.n, maker_fee_bps, taker_fee_bps, self._tables[a], self._changes[a])
            for a in range(N))
        self.accounts = self.leg_accounts[0] if N == 1 else None
        F = len(self.asset_feature_names)
        portfolio_cls = make_portfolio_features(
            (() if N == 1 else None) if portfolio_features is None else portfolio_features,
            portfolio_params, N, self.asset_feature_names,
            loadings=market_betas(self.market) is not None)
        width = sum(cls.width(N) for cls, _ in portfolio_cls)
        self.obs = np.zeros((self.n, N * F + width), dtype=np.float32)
        self.time_remaining = np.ones(self.n)
        self.terminated = np.zeros(self.n, dtype=bool)
        self.action_low, self.action_high = check_action_bounds(action_bounds, self.market)
        self._inputs = tuple(
            FeatureInputs(m, acc, self.time_remaining, self.max_inventory)
            for m, acc in zip(self.legs, self.leg_accounts, strict=True))
        self.leg_features = tuple(
            make_features(self.asset_feature_names, own_params, self.obs[:, a * F:(a + 1) * F], m)
            for a, m in enumerate(self.legs))
        self.portfolio_features = []
        col = N * F
        for cls, params in portfolio_cls:
            w = cls.width(N)
            self.portfolio_features.append(cls(self.obs[:, col:col + w], self, **params))
            col += w
        self.features = [f for fs in self.leg_features for f in fs] + self.portfolio_features
        self.feature_names = (
            self.asset_feature_names if N == 1 else
            tuple(f"{name}_{a}" for a in range(N) for name in self.asset_feature_names)
        ) + tuple(name for f in self.portfolio_features for name in f.names(N))
        self._seeded = np.zeros(self.n, dtype=bool)
        self._offsets = np.empty((N, 2, self.n))
        # by step index: the fraction of the episode remaining, and whether it has ended
        at = np.arange(self.horizon_steps + 2)
        self._remaining_at = np.maximum(self.horizon_steps - at, 0) / self.horizon_steps
        self._ended_at = at >= self.horizon_steps
        # a side is not quoted when its full fill would take |q| past max_inventory
        self._quote_limit = np.array([self.max_inventory - m.quote_size for m in self.legs])
        records = self.market.step_record if self._multi else (self.market.step_record,)
        self.leg_transitions = tuple(
            Transition(
                pnl_change=acc.pnl_change,
                spread_change=acc.spread_change,
                inventory_pnl_change=acc.inventory_pnl_change,
                fees_change=acc.fees_change,
                pnl=acc.pnl,
                cash=acc.cash,
                inventory_before=acc.inventory_before,
                inventory=acc.inventory,
                mid_before=rec.mid_before,
                mid=acc.mid,
                bid_fill=acc.bid_fill,
                ask_fill=acc.ask_fill,
                bid_price=acc.bid_price,
                ask_price=acc.ask_price,
                step_index=self.streams.steps,
                time_remaining=self.time_remaining,
                terminated=self.terminated,
                features=self.obs[:, a * F:(a + 1) * F],
                feature_names=self.asset_feature_names,
                dt=self.market.dt,
                horizon_steps=self.horizon_steps,
                max_inventory=self.max_inventory,
            )
            for a, (acc, rec) in enumerate(zip(self.leg_accounts, records, strict=True)))
        self.transition = self.leg_transitions[0]
        self.portfolio_transition = PortfolioTransition(
            legs=self.leg_transitions, features=self.obs, feature_names=self.feature_names)
        self.reward_fn, self._leg_rewards = _rewards(reward_fn, reward_kwargs or {}, N)
        self._reward_input = (self.portfolio_transition if getattr(self.reward_fn, "portfolio",
                                                                   False) else self.transition)

    def reset(
        self, seeds: Sequence[int | None] | None = None, mask: np.ndarray | None = None,
        episodes: Sequence[int | None] | None = None,
    ) -> None:
        """Start new episodes for the masked environments (all if ``mask`` is None).

        ``seeds`` holds one entry per environment (those of unmasked environments are
        ignored): an integer reseeds the environment; None, like no ``seeds`` at all, lets it
        continue its seeded sequence of episodes (or seeds it from OS entropy the first time).
        ``episodes``, likewise one entry per environment, makes the episode started episode
        ``e`` of the (new or continued) seed's stream instead of the next one (0 after a
        seed); None keeps the next one.
        """
        mask = np.ones(self.n, dtype=bool) if mask is None else mask
        if seeds is not None:
            given, chosen = self._entries("seed", seeds, mask)
            self.streams.seed(chosen, given)
            self._seeded[given] = True
        fresh = mask & ~self._seeded
        if fresh.any():
            self.streams.seed(fresh_seeds(int(fresh.sum())), fresh)
            self._seeded[fresh] = True
        if episodes is not None:
            given, chosen = self._entries("episode", episodes, mask)
            self.streams.set_episodes(chosen, given)
        uniforms = self.streams.start_episodes(mask)
        self.market.reset(mask, uniforms)
        for m, acc in zip(self.legs, self.leg_accounts, strict=True):
            acc.reset(mask, m.mid)
        self.time_remaining[mask] = 1.0
        self.terminated[mask] = False
        for features, inputs in zip(self.leg_features, self._inputs, strict=True):
            for f in features:
                f.reset(mask, inputs)
        for f in self.portfolio_features:
            f.reset(mask)
        for fn in self._leg_rewards:
            if hasattr(fn, "reset"):
                fn.reset(mask)

    def _entries(self, field: str, values: Sequence[int | None],
                 mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The masked environments with an integer entry in ``values`` (one per
        environment) and those entries, checked to be in [0, 2**64 − 1], as uint64."""
        if len(values) != self.n:
            raise ValueError(f"{field}: {len(values)} {field}s given for {self.n} envs")
        given = mask & np.array([v is not None for v in values])
        chosen = [check_seed(v, field) for v, g in zip(values, given, strict=True) if g]
        return given, np.array(chosen, dtype=np.uint64)

    def offsets(self, actions: Any) -> np.ndarray:
        """The offsets to quote for ``actions`` (shape ``(n, 2·N)``: per asset a bid and an
        ask offset) as a ``(2, n)`` float array (row 0 bid, row 1 ask), or with ``N > 1``
        assets ``(N, 2, n)`` (``[a, 0]`` asset ``a``'s bids, ``[a, 1]`` its asks): mapped
        from [−1, 1] with ``normalize_actions``, clipped to the action bounds, NaN (not
        quoted) on a withdrawn side (an offset at or above the upper bound) and on a side
        whose fill would take the asset's inventory past ``max_inventory``. The array is
        reused.

        Raises:
            ValueError: on a wrong shape or a NaN or −inf entry, naming the environment.
        """
        a = np.asarray(actions)
        width = 2 * self.assets
        if a.shape != (self.n, width) or a.dtype.kind not in "fiu":
            what = ("bid offset, ask offset per environment" if self.assets == 1 else
                    "bid offset, ask offset of each asset in turn, per environment")
            raise ValueError(
                f"action: {_describe(a)}, expected numbers of shape {(self.n, width)} ({what})"
            )
        i = _quote_offsets(
            _compiled_float(a), self.action_low, self.action_high, self.normalize_actions,
            self.leg_inventories, self._quote_limit, self._offsets,
        )
        if i >= 0:
            low, high = (-1.0, 1.0) if self.normalize_actions else (self.action_low,
                                                                    self.action_high)
            raise ValueError(
                f"action of env {i} = {a[i].tolist()}: offsets must be numbers in "
                f"[{low:g}, {high:g}] (lower ones are clipped; {high:g} or more, +inf "
                "included, withdraws the side); NaN and -inf are not allowed"
            )
        return self._offsets[0] if self.assets == 1 else self._offsets

    def step(self, actions: Any) -> np.ndarray:
        """Advance every environment by one step; return the rewards, shape ``(n,)``.

        The new observation is in :attr:`obs`, episode ends in :attr:`terminated` and the
        per-environment ``info`` quantities in :meth:`info_table`.
        """
        offsets = self.offsets(actions)
        uniforms = self.streams.step_uniforms()
        if self._multi:
            records = self.market.step(self._offsets, uniforms)
            for acc, rec in zip(self.leg_accounts, records, strict=True):
                acc.settle(rec)
        else:
            self.accounts.settle(self.market.step(offsets, uniforms))
        _advance_clock(
            self.streams.steps, self._remaining_at, self._ended_at, self.time_remaining,
            self.terminated,
        )
        for features, inputs in zip(self.leg_features, self._inputs, strict=True):
            for f in features:
                f.update(inputs)
        for f in self.portfolio_features:
            f.update()
        return self._reward()

    def _reward(self) -> np.ndarray:
        if self.reward_fn is not None:
            return self._checked(self.reward_fn, self.reward_fn(self._reward_input))
        total = np.zeros(self.n)
        for fn, tr in zip(self._leg_rewards, self.leg_transitions, strict=True):
            total += self._checked(fn, fn(tr))
        return total

    def _checked(self, fn: RewardFn, r: Any) -> np.ndarray:
        if not isinstance(r, np.ndarray) or r.shape != (self.n,) or r.dtype.kind != "f":
            raise TypeError(
                f"reward_fn {_name(fn)} returned {_describe(r)}; "
                f"expected a float numpy array of shape ({self.n},)"
            )
        i = _first_nonfinite(_compiled_float(r))
        if i >= 0:
            raise ValueError(
                f"reward_fn {_name(fn)} returned {float(r[i])} for env {i}; "
                "rewards must be finite"
            )
        return r

    def info_table(self) -> np.ndarray:
        """A copy of the ``info`` quantities: ``(len(INFO_KEYS), n)``, rows in the order of
        :data:`~mmgym.accounting.INFO_KEYS`; with ``N > 1`` assets ``(len(INFO_KEYS), n, N)``,
        ``[k, i, a]`` asset ``a``'s quantity ``k`` in environment ``i``."""
        if self.assets == 1:
            return self._tables[0].copy()
        return np.moveaxis(self._tables, 0, -1).copy()

    def info_row(self, i: int) -> dict[str, Any]:
        """The ``info`` of environment ``i``: Python floats, or with ``N > 1`` assets one
        ``(N,)`` array per key."""
        if self.assets == 1:
            return dict(zip(INFO_KEYS, self._tables[0, :, i].tolist(), strict=True))
        return dict(zip(INFO_KEYS, self._tables[:, :, i].T.copy(), strict=True))


def _rewards(reward_fn: str | RewardFn, kwargs: dict[str, Any], assets: int
             ) -> tuple[RewardFn | None, tuple[RewardFn, ...]]:
    """The core's reward: ``(fn, (fn,))`` when one call gives the reward (one asset, or a
    portfolio reward), else ``(None, per-asset rewards)`` to sum, one instance per asset for
    a reward given by name or mapping."""
    fn = make_reward(reward_fn, **kwargs)
    if assets == 1 or getattr(fn, "portfolio", False):
        return fn, (fn,)
    if callable(reward_fn) and not isinstance(reward_fn, type) and hasattr(fn, "reset"):
        raise ConfigError(
            f"reward_fn={_name(reward_fn)}: a reward object with state (reset) cannot serve "
            f"{assets} assets; give it by name, or write a portfolio reward (portfolio = True)")
    legs = (fn, *(make_reward(reward_fn, **kwargs) for _ in range(assets - 1)))
    return None, legs


def _compiled_float(a: np.ndarray) -> np.ndarray:
    """``a`` if the kernels take its dtype (float32, float64), else ``a`` as float64, the
    same numbers for integer and float16 arrays."""
    return a if a.dtype == np.float64 or a.dtype == np.float32 else a.astype(np.float64)


@njit(cache=True)
def _quote_offsets(
    actions: np.ndarray,
    low: float,
    high: float,
    normalized: bool,
    inventory: np.ndarray,
    quote_limit: np.ndarray,
    out: np.ndarray,
) -> int:
    """Write the offsets of :meth:`MarketMakingCore.offsets` into ``out`` (``(N, 2, n)``,
    from ``actions`` ``(n, 2·N)``, the assets' inventories ``(N, n)`` and quote limits
    ``(N,)``); return the first environment with a NaN or −inf action (``out`` is then
    incomplete), or -1."""
    for i in range(actions.shape[0]):
        for a in range(out.shape[0]):
            for side in range(2):
                x = float(actions[i, 2 * a + side])
                if x != x or x == -math.inf:
                    return i
                if normalized:
                    if x >= 1.0:
                        out[a, side, i] = np.nan
                        continue
                    x = low + (max(x, -1.0) + 1.0) * 0.5 * (high - low)
                if x >= high:
                    out[a, side, i] = np.nan
                else:
                    out[a, side, i] = max(x, low)
            if inventory[a, i] > quote_limit[a]:
                out[a, 0, i] = np.nan
            if inventory[a, i] < -quote_limit[a]:
                out[a, 1, i] = np.nan
    return -1


@njit(cache=True)
def _advance_clock(
    steps: np.ndarray,
    remaining_at: np.ndarray,
    ended_at: np.ndarray,
    time_remaining: np.ndarray,
    terminated: np.ndarray,
) -> None:
    """Set each environment's time remaining and episode end from its step count."""
    last = len(remaining_at) - 1
    for i in range(len(steps)):
        k = min(steps[i], last)
        time_remaining[i] = remaining_at[k]
        terminated[i] = ended_at[k]


@njit(cache=True)
def _first_nonfinite(r: np.ndarray) -> int:
    """Index of the first NaN or infinite entry of ``r``, or -1."""
    for i in range(len(r)):
        if not math.isfinite(r[i]):
            return i
    return -1


def _name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def _describe(r: object) -> str:
    if isinstance(r, np.ndarray):
        return f"an array of shape {r.shape} and dtype {r.dtype}"
    return f"{type(r).__name__} {r!r}"


def check_action_bounds(bounds: Sequence[float] | None, market: Market) -> tuple[float, float]:
    """``(low, high)`` of the actions' offsets: ``bounds`` checked to lie inside the market's
    ``[offset_low, offset_high]`` with ``low < high``, or the market's own when None."""
    low, high = float(market.offset_low), float(market.offset_high)
    if bounds is None:
        return low, high
    allowed = f"two numbers low < high within the market's offset bounds [{low:g}, {high:g}]"
    try:
        given = [float(b) for b in bounds]
    except (TypeError, ValueError):
        raise ConfigError(f"action_bounds={bounds!r}: expected {allowed}") from None
    if len(given) != 2 or not (low <= given[0] < given[1] <= high):
        raise ConfigError(f"action_bounds={list(bounds)!r}: expected {allowed}")
    return given[0], given[1]


def check_features(names: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    """Feature names checked against the registry (``default`` when ``names`` is None)."""
    names = tuple(default if names is None else names)
    if not names:
        raise ConfigError("features=[]: expected at least one feature name")
    for name in names:
        FEATURES.lookup("features", name)
    if len(set(names)) != len(names):
        raise ConfigError(f"features={list(names)!r}: a feature is named twice")
    return names
