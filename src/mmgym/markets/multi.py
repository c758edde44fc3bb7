"""The ``multi_asset`` market: ``N`` single-asset books (legs) whose values move together,
one leader and followers that load on its moves with a lag, or ``N`` recordings of the same
day replayed side by side (``leg="replay"``, below).

Each asset is a full single-asset market (``wide`` by default; ``lob`` or ``as2008`` too) with
its own book, order flow and idiosyncratic information events, batched over the same ``n``
environments. They are tied by a one-factor lead–lag structure on their latent values (the
``fundamental`` of a book market, the mid of ``as2008``): after every step, follower ``a``'s
value moves by

    ΔV_a(t) += β_a · ΔV_0(t − ℓ_a)

where ΔV_0(t) is the leader's (asset 0's) value change during step ``t`` (its information
events), ``β_a`` the follower's loading (price units of ``a`` per price unit of the leader)
and ``ℓ_a`` its lag in steps. This is the discrete form of the lead–lag model of Hoffmann,
Rosenbaum & Yoshida ("Estimation of the lead-lag parameter from non-synchronous data",
Bernoulli 19(2), 2013), where one price is the other's lagged by ``θ`` plus an independent
part, and of the one-factor (market-model) return structure ΔS_a = β_a·ΔS_0 + ε_a of the
hedging literature. The leader's jumps reach a follower's book the way its own events do:
its informed traders trade on the gap between the moved value and the quotes, and its
liquidity providers lean toward it. So over horizons longer than the lag, price changes of a
follower regress on the leader's with slope ``β_a`` and correlation

    ρ_a = β_a·σ_0 / √(β_a²·σ_0² + σ_ε,a²)

(σ_0² the leader's value variance per unit time, σ_ε,a² the follower's own); before the lag
has passed, the leader's book (its returns, imbalance, OFI) announces the follower's coming
move: the cross-asset signal. With ``lag_steps`` 0 the assets move in the same step
(correlation without lead).

The coupling moves only the latent values, by the leader's draws, never by the agents'
quotes: common random numbers hold across policies as in every market.

Randomness: each leg draws its own uniforms, in consecutive blocks of rows (leg ``a``'s
block starts after legs ``0..a−1``'s), from the environment's one stream; an environment's
seed gives all its assets.

**Recorded assets** (``leg="replay"``, each asset's event file in ``asset_params``:
``[{"data_path": A}, {"data_path": B}, ...]``). The assets are recordings of the same period
(the same day, different symbols), and their co-movement is the recorded one: there is no
synthetic coupling (``beta`` and ``lag_steps`` are refused) and no configured loadings
(:meth:`MultiAssetMarket.betas` is None, so the portfolio feature ``hedge`` is left out of
the defaults and needs ``feature_params={"hedge": {"beta": [1, β_1, ...]}}``). The books are
simultaneous: every asset replays the recordings' common span, from the latest first event
to the earliest last event (recordings that do not share an episode's length are refused,
naming the files and their spans), cut into the same boundaries ``t_0 + k·dt``
(:mod:`mmgym.markets.replay`, "Several recordings at once"); each asset's training and
evaluation ranges are those of that span, and an episode's first boundary is drawn once, from
the leader's reset uniform, among the boundaries where every asset's window lies in its range
with a two-sided book, so that every asset's episode covers the same interval of recorded
time. A fixed ``start`` counts from the span's start and must be the same for all assets.

Observation: by default each asset's leg's default features plus ``mid_return`` (so that
every asset's imbalance, OFI and returns are in the observation of all; its window the
longest lag unless ``feature_params`` sets it), and the portfolio features of
:mod:`mmgym.features.portfolio`.

Arguments: ``leg`` (the single-asset model), ``assets`` (``N``), ``beta`` and ``lag_steps``
(one entry per follower, or one number for all; not with recorded legs), ``asset_params``
(per-asset overrides of the leg's parameters, a list of ``N`` mappings) and, by name, any
parameter of the leg's model, given to every asset (``episode_seconds=60``). Every asset must
have the same step length, episode length and offset bounds (the env's clock and action
space are common).

```python
from mmgym.vector import MarketMakingVectorEnv

env = MarketMakingVectorEnv(8, market="multi_asset", leg="replay", episode_seconds=60,
                            asset_params=[{"data_path": "a.parquet"},
                                          {"data_path": "b.parquet"}])
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from mmgym.markets.base import Market, MarketStep
from mmgym.registry import MARKETS
from mmgym.validation import ConfigError, check_known_keys, check_number

MAX_ASSETS = 16
"""The most assets a multi-asset market holds."""
MAX_LAG_STEPS = 100_000
"""The longest lead–lag, steps."""
DEFAULT_LAG_STEPS = 100
"""The default lead–lag, steps (10 s of the ``wide`` legs): about the time the leader's own
book takes to show a value jump (its mid has moved 20% of the jump 2 s after it, 57% after
10 s; measured, ``benchmarks/multi_asset.py``), so that the leader's book announces a
follower's coming move; at 2 s it barely does (R² 0.02 against 0.27 at 10 s)."""


@dataclass(frozen=True)
class MultiAssetParams:
    """Parameters of the ``multi_asset`` market (the legs' own: their market's ``Params``).

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``leg`` | the single-asset market of every asset | - | wide | wide, lob, as2008, replay |
    | ``assets`` | number of assets ``N`` (asset 0 the leader) | - | 2 | [1, 16] |
    | ``beta`` | loading of follower ``a`` on leader moves | price/price | 1 | [−10, 10] |
    | ``lag_steps`` | steps between a leader's move and a follower's | steps | 100 | [0, 100,000] |
    | ``asset_params`` | per-asset overrides of the leg's parameters | - | none | ``N`` mappings |
    | ``leg_params`` | the leg's parameters for every asset | - | the leg's defaults | |

    ``beta`` and ``lag_steps`` hold one entry per follower (``N − 1``), or one number for all;
    both None for recorded legs (``replay``: no synthetic coupling, see the module doc).
    """

    leg: str = "wide"
    assets: int = 2
    beta: tuple[float, ...] | None = (1.0,)
    lag_steps: tuple[int, ...] | None = (100,)
    asset_params: tuple[dict[str, Any], ...] = ()
    leg_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_number("assets", self.assets, low=1, high=MAX_ASSETS, integer=True)
        followers = self.assets - 1
        if self.beta is not None:
            beta = _per_follower("beta", self.beta, followers)
            for a, b in enumerate(beta, 1):
                check_number(f"beta[{a - 1}]", b, low=-10, high=10)
            object.__setattr__(self, "beta", tuple(float(b) for b in beta))
        if self.lag_steps is not None:
            lags = _per_follower("lag_steps", self.lag_steps, followers)
            for a, lag in enumerate(lags, 1):
                check_number(f"lag_steps[{a - 1}]", lag, low=0, high=MAX_LAG_STEPS,
                             integer=True)
            object.__setattr__(self, "lag_steps", tuple(int(x) for x in lags))
        own = tuple(dict(p or {}) for p in (self.asset_params or ()))
        if own and len(own) != self.assets:
            raise ConfigError(f"asset_params: {len(own)} mappings given for assets={self.assets}; "
                              "expected one per asset (or none)")
        object.__setattr__(self, "asset_params", own)

    def leg_kwargs(self, a: int) -> dict[str, Any]:
        """The parameters of asset ``a``'s market."""
        return dict(self.leg_params) | (self.asset_params[a] if self.asset_params else {})


def _per_follower(name: str, value: Any, followers: int) -> list[Any]:
    """``value`` (one number, or one per follower) as a list of ``followers`` entries."""
    if isinstance(value, int | float | np.integer | np.floating):
        return [value] * followers
    values = list(value)
    if len(values) == 1:
        return values * followers
    if len(values) != followers:
        raise ConfigError(f"{name}={values!r}: {len(values)} entries for {followers} followers "
                          "(assets − 1); give one per follower or one for all")
    return values


class MultiAssetMarket:
    """``N`` single-asset markets over the same ``n`` environments, their latent values tied by
    the lead–lag factor of the module doc, or, recorded (a leg with ``recorded_span``: the
    ``replay`` market), replaying the same interval of recorded time.

    Attributes:
        legs: the assets' markets (each a :class:`~mmgym.markets.base.Market` of ``n``
            environments), asset 0 the leader.
        assets: ``N``.
        recorded: whether the legs replay recordings (aligned in recorded time, not coupled).
        span_ns: the recordings' common span, ``(start, end)`` in ns since the epoch, that
            every recorded asset replays (None for simulated legs).
        step_record: the legs' step records, a tuple (what :meth:`step` returns).
    """

    name: ClassVar[str] = "multi_asset"
    Params: ClassVar[type] = MultiAssetParams

    @classmethod
    def param_names(cls, params: Mapping[str, Any]) -> list[str]:
        """The parameter names it accepts given ``params``: its own and its leg's."""
        leg = MARKETS.lookup("leg", params.get("leg", "wide"))
        own = [f.name for f in fields(cls.Params) if f.name != "leg_params"]
        return own + [f.name for f in fields(leg.Params)]

    def __init__(self, n: int, *, leg: str = "wide", assets: int = 2,
                 beta: float | Sequence[float] | None = None,
                 lag_steps: int | Sequence[int] | None = None,
                 asset_params: Sequence[Mapping[str, Any]] | None = None,
                 **leg_params: Any) -> None:
        cls = MARKETS.lookup("leg", leg)
        if getattr(cls, "legs", None) is not None or cls is MultiAssetMarket:
            raise ConfigError(f"leg={leg!r}: a leg is a single-asset market")
        check_known_keys(f"leg {leg!r}", leg_params, [f.name for f in fields(cls.Params)])
        for a, own in enumerate(asset_params or ()):
            check_known_keys(f"asset_params[{a}] of leg {leg!r}", dict(own or {}),
                             [f.name for f in fields(cls.Params)])
        self.recorded = hasattr(cls, "recorded_span")
        if self.recorded:
            for name, value in (("beta", beta), ("lag_steps", lag_steps)):
                if value is not None:
                    raise ConfigError(
                        f"{name}={value!r}: leg={leg!r} replays recordings, whose co-movement "
                        "is in the data; the synthetic lead–lag coupling (beta, lag_steps) "
                        "does not apply: leave both out")
        else:
            beta = (1.0,) if beta is None else beta
            lag_steps = (DEFAULT_LAG_STEPS,) if lag_steps is None else lag_steps
        p = self.p = MultiAssetParams(leg, assets, _tuple(beta), _tuple(lag_steps),
                                      tuple(asset_params or ()), dict(leg_params))
        self.n = n
        self.assets = p.assets
        self.span_ns = _common_span(cls, p) if self.recorded else None
        extra = {} if self.span_ns is None else {"span_ns": self.span_ns}
        self.legs: tuple[Market, ...] = tuple(cls(n, **p.leg_kwargs(a), **extra)
                                              for a in range(p.assets))
        first = self.legs[0]
        for a, m in enumerate(self.legs[1:], 1):
            for attr in ("dt", "horizon_steps", "offset_low", "offset_high"):
                if getattr(m, attr) != getattr(first, attr):
                    raise ConfigError(
                        f"asset_params[{a}]: {attr} = {getattr(m, attr)!r} differs from asset "
                        f"0's {getattr(first, attr)!r}; the assets share the clock and the "
                        "action bounds")
        if self.recorded:
            _align_starts(self.legs)
        elif p.assets > 1 and not all(hasattr(m, "shift_value") for m in self.legs):
            raise ConfigError(f"leg={leg!r}: its market has no latent value to tie the assets "
                              "by (shift_value); use wide, lob or as2008, or a recorded leg "
                              "(replay)")
        self.has_book = all(m.has_book for m in self.legs)
        self.default_features = (*first.default_features, "mid_return")
        lags = p.lag_steps or ()
        self.default_feature_params = {"mid_return": {"window": max(*lags, 1)}} if lags else {}
        self.default_max_inventory = first.default_max_inventory
        self.dt = first.dt
        self.horizon_steps = first.horizon_steps
        self.offset_low, self.offset_high = first.offset_low, first.offset_high
        self.quote_size = max(m.quote_size for m in self.legs)
        self._rows: list[slice] = []
        start = 0
        for m in self.legs:
            self._rows.append(slice(start, start + m.n_uniforms))
            start += m.n_uniforms
        self.n_uniforms = start
        self.step_record: tuple[MarketStep, ...] = tuple(m.step_record for m in self.legs)
        self._coupled = p.assets > 1 and not self.recorded
        self._beta = np.array(p.beta or ())
        self._lags = np.array(p.lag_steps or (), dtype=np.int64)
        depth = (max(p.lag_steps) + 1) if p.lag_steps else 1
        self._moves = np.zeros((depth, n))  # the leader's value change of recent steps
        self._leader_value = np.zeros(n)
        self._t = 0

    def params(self) -> dict[str, Any]:
        """The market's parameters, with each asset's own under ``asset_params``."""
        p = asdict(self.p)
        p["asset_params"] = [m.params() for m in self.legs]
        return p

    def betas(self) -> np.ndarray | None:
        """``(N,)`` the configured loadings on the leader's moves, 1 for the leader; None for
        recorded assets (their co-movement is in the data, not configured)."""
        if self.recorded:
            return None
        return np.concatenate([[1.0], self._beta])

    def hidden_state(self) -> tuple[dict[str, np.ndarray], ...]:
        """Each asset's hidden state (its market's ``hidden_state``), for diagnostics."""
        return tuple(m.hidden_state() for m in self.legs)

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        """Start the masked environments' episodes on every asset (each from its own rows of
        ``uniforms``; recorded assets all from the leader's, which draw the same first
        boundary from the same starts); the lead–lag pipeline of those environments is
        emptied."""
        for m, rows in zip(self.legs, self._rows, strict=True):
            m.reset(mask, uniforms[self._rows[0] if self.recorded else rows])
        if self._coupled:
            self._moves[:, mask] = 0.0
            self._leader_value[mask] = self.legs[0].value()[mask]

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> tuple[MarketStep, ...]:
        """Step every asset with its offsets (``offsets[a]``, shape ``(2, n)``) and its rows of
        ``uniforms``, then move the followers' values by their share of the leader's lagged
        moves."""
        for a, (m, rows) in enumerate(zip(self.legs, self._rows, strict=True)):
            m.step(offsets[a], uniforms[rows])
        if self._coupled:
            self._couple()
        return self.step_record

    def _couple(self) -> None:
        value = self.legs[0].value()
        depth = len(self._moves)
        row = self._t % depth
        np.subtract(value, self._leader_value, out=self._moves[row])
        self._leader_value[...] = value
        for a in range(1, self.assets):
            move = self._moves[(self._t - self._lags[a - 1]) % depth]
            self.legs[a].shift_value(self._beta[a - 1] * move)
        self._t += 1


def _common_span(cls: type, p: MultiAssetParams) -> tuple[int, int]:
    """The span of recorded time every asset of a recorded leg ``cls`` replays: from the
    latest first event to the earliest last event of their recordings, ns since the epoch.

    Raises:
        ConfigError: when the recordings share less than an episode (``episode_seconds``),
            naming each file and its span.
    """
    kwargs = [p.leg_kwargs(a) for a in range(p.assets)]
    spans = [cls.recorded_span(**kw) for kw in kwargs]
    start, end = max(s for s, _ in spans), min(e for _, e in spans)
    episode_s = max(cls.Params(**kw).episode_seconds for kw in kwargs)
    if end - start < episode_s * 1e9:
        shared = f"share {(end - start) / 1e9:g} s" if end > start else "do not overlap"
        files = "; ".join(f"asset {a}: {kw.get('data_path')} from {_utc(s)} to {_utc(e)}"
                          for a, (kw, (s, e)) in enumerate(zip(kwargs, spans, strict=True)))
        raise ConfigError(
            f"asset_params: the recordings {shared}, less than an episode (episode_seconds="
            f"{episode_s:g}); recorded assets replay the same interval of recorded time, so "
            f"their recordings must overlap by at least that (UTC, the files' clock): {files}")
    return start, end


def _align_starts(legs: Sequence[Any]) -> None:
    """Let every recorded leg draw its episodes' first boundary from the boundaries allowed
    in all of them (they share the boundaries: same span and step), and check that a fixed
    ``start`` is the same for all.

    Raises:
        ConfigError: when the assets' fixed starts differ, or no boundary starts a window
            allowed in every asset (naming each asset's range).
    """
    first = legs[0]
    for a, m in enumerate(legs[1:], 1):
        if m.fixed_start != first.fixed_start:
            raise ConfigError(
                f"asset_params[{a}]: start={m.p.start!r} differs from asset 0's "
                f"{first.p.start!r}; recorded assets start their episodes at the same time")
    common = legs[0].starts
    for m in legs[1:]:
        common = np.intersect1d(common, m.starts)
    if len(common) == 0:
        ranges = "; ".join(f"asset {a}: {m.window_range()}" for a, m in enumerate(legs))
        raise ConfigError(
            f"asset_params: no window of {first.horizon_steps * first.dt:g} s has a two-sided "
            f"book in every recording inside every asset's range ({ranges})")
    for m in legs:
        m.restrict_starts(common)


def _utc(ts_ns: int) -> str:
    """A time in ns since the epoch as ISO 8601 UTC, without the offset."""
    return str(np.datetime64(ts_ns, "ns"))


def _tuple(value: Any) -> Any:
    """A sequence argument as a tuple (a number is kept: one value for every follower; None:
    none given)."""
    if value is None or isinstance(value, int | float | np.integer | np.floating):
        return value
    return tuple(value)
