"""The ``replay`` market: a recorded order book and its trades, with the agent's orders in it.

The recording is an event table (:mod:`mmgym.data.schema`, written by ``mmgym-import``).
Once per file (and step length) the book is rebuilt (:func:`mmgym.data.book.rebuild_book`)
and cut into steps of ``dt`` seconds of recorded time: step ``k`` runs from boundary
``t_k = t_0 + k·dt`` to ``t_{k+1}`` (``t_0`` the first event); the book at a boundary is the
book after every event at or before it. Kept per step: the best prices and the sizes on a
grid of ticks behind each best at its end, and the recorded trades in it (volume by price and
aggressor side). Those arrays are cached per file, so a step is mostly indexing.

A step, for every environment:

1. **The agent's orders.** The quotes (offsets in ticks from the mid at ``t_k``) become a bid
   at ``floor(mid − δ_b)`` and an ask at ``ceil(mid + δ_a)`` of ``quote_size``, post-only (a
   bid at or above the best ask is placed one tick below it, an ask likewise). An order whose
   price is unchanged keeps its place in the queue; a moved or fully filled one is replaced
   by a new order that joins the back of the displayed size at its price (none ahead when its
   price is better than the best).
2. **Trades.** A resting bid fills when recorded *sells* reach its price: all that is left of
   it when a sell trades below its price (the level was exhausted), else the sell volume at
   its price beyond the volume still ahead of it in the queue (which the trades consume
   first). Asks likewise with recorded buys.
3. **Queue.** The displayed size at the order's price falls, net of trades, by ``c`` lots
   between ``t_k`` and ``t_{k+1}`` (the smallest cancellation consistent with the two
   books). ``queue_model`` ``probabilistic``: a cancelled lot is ahead of the agent with
   probability ahead / queue (the expected advance is used, as in the ``lob`` market);
   ``conservative``: cancellations come from behind, so only trades advance the agent. In
   both, no more can be ahead than the queue displayed at ``t_{k+1}``.
4. The mid becomes that of the book at ``t_{k+1}``.

**No market impact.** The agent's orders are not in the recorded book: its fills take
nothing from the recorded queues, its quotes move no one, and the recording plays on as if
the agent were absent. Fills are therefore optimistic for large orders (size above the
recorded volume at the price) and for quotes that would have changed others' behaviour.

Episodes are windows of the recording: ``start="random"`` draws the first step uniformly
among those where the whole window has a two-sided book (from the reset's uniform number, so
the seed fixes it), a number starts at that many seconds after ``t_0``.

Randomness: one uniform per reset (the start); none during steps (the recording is the
market), so episodes from the same seed are identical in any batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mmgym.data.book import rebuild_book
from mmgym.data.schema import BUY, SELL, TRADE
from mmgym.data.store import DataError, read_events
from mmgym.markets.lob import LOBStep
from mmgym.validation import ConfigError, check_choice, check_number

_BID, _ASK = 0, 1


@dataclass(frozen=True)
class ReplayParams:
    """Parameters of the ``replay`` market.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``data_path`` | the event file (parquet, from ``mmgym-import``) | - | required | a file |
    | ``dt`` | step length, recorded time | s | 0.1 | (0, 60] |
    | ``episode_seconds`` | episode length (a multiple of ``dt``) | s | 60 | (dt, recording] |
    | ``start`` | ``"random"``, or the start after the first event | s | random | see below |
    | ``levels`` | book levels a side in the step record (ticks from the best) | - | 10 | [1, 100] |
    | ``tick`` | tick size; None: the file's ``mmgym.tick_size`` | price | None | (0, inf) |
    | ``lot`` | lot size; None: the file's ``mmgym.lot_size`` | size | None | (0, inf) |
    | ``quote_size`` | size of each of the agent's orders | size | 0.01 | [lot, inf) |
    | ``queue_model`` | ``conservative`` or ``probabilistic`` (module doc) | - | probabilistic | |
    | ``max_offset_ticks`` | action bound: offsets in [−max, max] | ticks | 20 | (0, 1000] |

    A fixed ``start`` must leave a two-sided book at every step boundary of the episode
    (the error lists the allowed range); ``data_path`` must be a readable event file
    (:class:`~mmgym.data.store.DataError` names it otherwise).
    """

    data_path: str | None = None
    dt: float = 0.1
    episode_seconds: float = 60.0
    start: str | float = "random"
    levels: int = 10
    tick: float | None = None
    lot: float | None = None
    quote_size: float = 0.01
    queue_model: Literal["conservative", "probabilistic"] = "probabilistic"
    max_offset_ticks: float = 20.0

    def __post_init__(self) -> None:
        if self.data_path is None:
            raise ConfigError("data_path=None: the replay market needs an event file "
                              "(parquet written by mmgym-import)")
        if not isinstance(self.data_path, str | Path):
            raise ConfigError(f"data_path={self.data_path!r}: expected a file path")
        check_number("dt", self.dt, low=0, high=60, low_open=True)
        check_number("episode_seconds", self.episode_seconds, low=self.dt, low_open=True)
        steps = self.episode_seconds / self.dt
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ConfigError(f"episode_seconds={self.episode_seconds!r}: must be a whole "
                              f"number of steps of dt={self.dt!r}")
        if self.start != "random":
            if isinstance(self.start, str):
                raise ConfigError(f"start={self.start!r}: expected 'random' or a number of "
                                  "seconds >= 0")
            check_number("start", self.start, low=0)
        check_number("levels", self.levels, low=1, high=100, integer=True)
        for name in ("tick", "lot"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), low=0, low_open=True)
        check_number("quote_size", self.quote_size, low=0, low_open=True)
        check_choice("queue_model", self.queue_model, ("conservative", "probabilistic"))
        check_number("max_offset_ticks", self.max_offset_ticks, low=0, high=1000, low_open=True)


@dataclass(frozen=True)
class Recording:
    """The per-step arrays of one file (see the module doc); prices in ticks.

    Attributes:
        best: ``(K + 1, 2)`` best bid and ask at each boundary, ticks (NaN: empty side).
        depth: ``(K + 1, 2, G)`` sizes ``j`` ticks behind each best at each boundary.
        buy_volume, sell_volume, trades: ``(K,)`` aggressor volume per side and trade count
            of each step.
        max_buy, min_sell: ``(K,)`` highest buy / lowest sell price of each step, ticks
            (−inf / inf when none).
        keys, volume: sorted ``step·R + (price − low)`` of each (step, price, side) with
            trades, and its volume; sells in ``sell_*``, buys in ``buy_*``.
        two_sided: ``(K + 1,)`` both sides non-empty at the boundary.
    """

    best: np.ndarray
    depth: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    trades: np.ndarray
    max_buy: np.ndarray
    min_sell: np.ndarray
    low: float
    span: int
    buy_keys: np.ndarray
    buy_vol: np.ndarray
    sell_keys: np.ndarray
    sell_vol: np.ndarray
    two_sided: np.ndarray
    tick: float
    lot: float


@lru_cache(maxsize=4)
def load_recording(path: str, mtime_ns: int, dt: float, grid: int,
                   tick: float | None, lot: float | None) -> Recording:
    """The per-step arrays of ``path`` (cached by file, modification time and step)."""
    events, meta = read_events(path)
    try:
        tick = tick if tick is not None else float(meta["mmgym.tick_size"])
        lot = lot if lot is not None else float(meta["mmgym.lot_size"])
    except KeyError as e:
        raise ConfigError(f"{path}: no {e.args[0]} in its metadata; pass tick and lot") from None
    if len(events) == 0:
        raise DataError(f"{path}: no events")
    ts = events["ts_ns"].to_numpy()
    dt_ns = round(dt * 1e9)
    n_steps = int((ts[-1] - ts[0]) // dt_ns)
    cuts = ts[0] + dt_ns * np.arange(n_steps + 1, dtype=np.int64)
    history = rebuild_book(events, cut_ns=cuts, tick=tick, grid_ticks=grid)
    best = np.rint(history.cut_best / tick)

    trades = events[events["kind"].to_numpy() == TRADE]
    t_ts = trades["ts_ns"].to_numpy()
    step = np.searchsorted(cuts, t_ts, side="left") - 1  # cut_k < ts <= cut_{k+1}
    keep = (step >= 0) & (step < n_steps)
    step = step[keep]
    side = trades["side"].to_numpy()[keep]
    price = np.rint(trades["price"].to_numpy()[keep] / tick)
    size = trades["size"].to_numpy()[keep]
    buy, sell = side == BUY, side == SELL
    buy_volume = np.bincount(step[buy], size[buy], minlength=n_steps)
    sell_volume = np.bincount(step[sell], size[sell], minlength=n_steps)
    count = np.bincount(step, minlength=n_steps).astype(np.float64)
    max_buy = np.full(n_steps, -np.inf)
    np.maximum.at(max_buy, step[buy], price[buy])
    min_sell = np.full(n_steps, np.inf)
    np.minimum.at(min_sell, step[sell], price[sell])
    low = float(price.min()) if len(price) else 0.0
    span = int(price.max() - low) + 1 if len(price) else 1

    def by_key(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = step[mask].astype(np.int64) * span + (price[mask] - low).astype(np.int64)
        uniq, inverse = np.unique(keys, return_inverse=True)
        return uniq, np.bincount(inverse, size[mask], minlength=len(uniq))

    buy_keys, buy_vol = by_key(buy)
    sell_keys, sell_vol = by_key(sell)
    return Recording(
        best=best, depth=history.cut_depth, buy_volume=buy_volume, sell_volume=sell_volume,
        trades=count, max_buy=max_buy, min_sell=min_sell, low=low, span=span,
        buy_keys=buy_keys, buy_vol=buy_vol, sell_keys=sell_keys, sell_vol=sell_vol,
        two_sided=np.isfinite(best).all(axis=1), tick=tick, lot=lot,
    )


class ReplayMarket:
    """``n`` replays of one recording; see the module doc.

    Prices are kept in ticks; order arrays are ``(2, n)`` (bid row, ask row).
    """

    name: ClassVar[str] = "replay"
    Params: ClassVar[type] = ReplayParams
    default_max_inventory: ClassVar[float] = 0.5
    has_book: ClassVar[bool] = True
    default_features: ClassVar[tuple[str, ...]] = (
        "inventory", "volatility", "ofi", "vpin", "imbalance", "time_remaining",
    )

    def __init__(self, n: int, **params: Any) -> None:
        p = ReplayParams(**params)
        path = Path(p.data_path)
        if not path.is_file():
            raise DataError(f"{path}: no such file (data_path)")
        self.grid = max(p.levels, math.ceil(p.max_offset_ticks) + 2)
        rec = self.rec = load_recording(str(path.resolve()), path.stat().st_mtime_ns, p.dt,
                                        self.grid, p.tick, p.lot)
        self.p = replace(p, tick=rec.tick, lot=rec.lot)
        check_number("quote_size", p.quote_size, low=rec.lot)
        self.n = n
        self.dt = p.dt
        self.horizon_steps = round(p.episode_seconds / p.dt)
        self.quote_size = p.quote_size
        self.offset_low, self.offset_high = -p.max_offset_ticks, p.max_offset_ticks
        self.n_uniforms = 1
        H = self.horizon_steps
        n_bounds = len(rec.best)
        if n_bounds <= H:
            raise ConfigError(f"episode_seconds={p.episode_seconds!r}: the recording {path} "
                              f"holds {(n_bounds - 1) * p.dt:g} s")
        # an episode may start at k when the book is two-sided at every boundary k..k+H
        bad = np.concatenate([[0], np.cumsum(~rec.two_sided)])
        self.starts = np.flatnonzero(bad[H + 1:] - bad[: n_bounds - H] == 0)
        if len(self.starts) == 0:
            raise DataError(f"{path}: no window of {p.episode_seconds:g} s with a two-sided "
                            "book")
        if p.start != "random":
            k0 = round(p.start / p.dt)
            if k0 not in set(self.starts.tolist()):
                raise ConfigError(
                    f"start={p.start!r}: no two-sided book over [{p.start}, "
                    f"{p.start + p.episode_seconds}] s; allowed starts (s): "
                    f"{self.starts[0] * p.dt:g} to {self.starts[-1] * p.dt:g} (with gaps)")
            self.fixed_start: int | None = k0
        else:
            self.fixed_start = None
        self.pos = np.zeros(n, dtype=np.int64)
        self.order_px = np.full((2, n), np.nan)  # ticks; NaN: no order
        self.order_left = np.zeros((2, n))  # size units
        self.order_ahead = np.zeros((2, n))
        self.mid = np.zeros(n)
        self._sign = np.array([[-1.0], [1.0]])
        self._cols = np.arange(n)
        self.step_record = LOBStep(
            mid_before=np.empty(n), mid=self.mid, prices=np.full((2, n), np.nan),
            fills=np.zeros((2, n)), notional=np.zeros((2, n)), best=np.zeros((2, n)),
            depth=np.zeros((2, p.levels, n)), buy_volume=np.zeros(n), sell_volume=np.zeros(n),
            trades=np.zeros(n), book_traded=np.zeros((2, n)), event=np.zeros(n, dtype=bool),
        )

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def _show(self, mask: np.ndarray | slice) -> None:
        """Write the book at each environment's boundary into the step record and the mid."""
        rec, k = self.step_record, self.pos[mask]
        best = self.rec.best[k].T  # (2, m) ticks
        self.mid[mask] = best.mean(axis=0) * self.p.tick
        rec.best[:, mask] = best * self.p.tick
        rec.depth[:, :, mask] = np.transpose(self.rec.depth[k, :, : self.p.levels], (1, 2, 0))

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        if self.fixed_start is None:
            pick = np.minimum((uniforms[0] * len(self.starts)).astype(np.int64),
                              len(self.starts) - 1)
            self.pos[mask] = self.starts[pick]
        else:
            self.pos[mask] = self.fixed_start
        self.order_px[:, mask] = np.nan
        self.order_left[:, mask] = 0.0
        self.order_ahead[:, mask] = 0.0
        self.step_record.prices[:, mask] = np.nan
        self._show(mask)

    def _queue(self, k: np.ndarray, px: np.ndarray) -> np.ndarray:
        """Displayed size at the order prices ``px`` (``(2, n)`` ticks) at boundaries ``k``;
        0 for a price better than the best (or no order)."""
        best = self.rec.best[k].T
        level = self._sign * (px - best)  # ticks behind the best
        inside = (level >= 0) & (level < self.grid)
        j = np.where(inside, level, 0).astype(np.intp)
        q = self.rec.depth[k[None, :], np.arange(2)[:, None], j]
        return np.where(inside, q, 0.0)

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        p, r, out = self.p, self.rec, self.step_record
        k = self.pos
        out.mid_before[...] = self.mid
        best = r.best[k].T  # (2, n) ticks
        mid = best.mean(axis=0)
        # 1. orders: bid floor(mid − δ_b), ask ceil(mid + δ_a), post-only
        px = self._sign * np.ceil(offsets + self._sign * mid)
        np.minimum(px[_BID], best[_ASK] - 1.0, out=px[_BID])
        np.maximum(px[_ASK], best[_BID] + 1.0, out=px[_ASK])
        new = (px != self.order_px) | (self.order_left <= 0)
        quoted = px == px
        queue = self._queue(k, px)
        np.copyto(self.order_ahead, queue, where=new)
        np.copyto(self.order_left, quoted * p.quote_size, where=new)
        self.order_px = px
        out.prices[...] = np.where(quoted, px * p.tick, np.nan)
        # 2. trades of step k: through the price (all filled), else at it (behind the queue)
        through = np.stack([r.min_sell[k] < px[_BID], r.max_buy[k] > px[_ASK]])
        at = np.stack([
            _lookup(r.sell_keys, r.sell_vol, k, px[_BID], r.low, r.span),
            _lookup(r.buy_keys, r.buy_vol, k, px[_ASK], r.low, r.span),
        ])
        left, ahead = self.order_left, self.order_ahead
        fill = np.where(through, left, np.minimum(left, np.maximum(at - ahead, 0.0)))
        fill *= quoted
        np.maximum(ahead - at, 0.0, out=ahead)
        left -= fill
        # 3. queue at t_{k+1}
        after = self._queue(k + 1, px)
        if p.queue_model == "probabilistic":
            traded_queue = np.maximum(queue - at, 0.0)
            cancelled = np.maximum(traded_queue - after, 0.0)
            share = np.divide(ahead, traded_queue, out=np.zeros_like(ahead),
                              where=traded_queue > 0)
            np.subtract(ahead, cancelled * share, out=ahead)
        np.minimum(ahead, after, out=ahead)
        np.maximum(ahead, 0.0, out=ahead)
        # 4. the record
        out.fills[...] = fill
        np.multiply(fill, np.where(quoted, px, 0.0) * p.tick, out=out.notional)
        out.buy_volume[...] = r.buy_volume[k]
        out.sell_volume[...] = r.sell_volume[k]
        out.trades[...] = r.trades[k]
        out.book_traded[_BID] = out.sell_volume
        out.book_traded[_ASK] = out.buy_volume
        self.pos += 1
        self._show(slice(None))
        return out


def _lookup(keys: np.ndarray, vol: np.ndarray, k: np.ndarray, px: np.ndarray, low: float,
            span: int) -> np.ndarray:
    """Volume traded in step ``k`` at price ``px`` (ticks; NaN or outside: 0)."""
    rel = px - low
    ok = (rel >= 0) & (rel < span)
    q = k * span + np.where(ok, rel, 0).astype(np.int64)
    i = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.zeros(len(k))
    return np.where(ok & (keys[i] == q), vol[i], 0.0)
