"""The ``replay`` market: a recorded order book and its trades, with the agent's orders in it.

The recording is an event table (:mod:`mmgym.data.schema`, written by ``mmgym-import``).
Once per file (and step length) the book is rebuilt (:func:`mmgym.data.book.rebuild_book`)
and cut into steps of ``dt`` seconds of recorded time: step ``k`` runs from boundary
``t_k = t_0 + k·dt`` to ``t_{k+1}`` (``t_0`` the first event, or the start of the span
replayed: "Several recordings at once" below); the book at a boundary is the book after every
event at or before it. Kept per step: the best prices and the sizes on a grid of ticks behind
each best at its end, and the recorded trades in it (volume by price and aggressor side).
Those are laid out once per file (cached) as a table with a column per boundary
(:class:`Recording`): a step reads the queue and traded volume at each order's price by index
arithmetic into flat segments of its environment's column, then copies the next column in.

A step, for every environment:

1. **The agent's orders.** The quotes (offsets in ticks from the mid at ``t_k``) become a bid
   at ``floor(mid − δ_b)`` and an ask at ``ceil(mid + δ_a)`` of ``quote_size``, post-only (a
   bid at or above the best ask is placed one tick below it, an ask likewise). An order whose
   price is unchanged keeps its place in the queue; a moved or fully filled one is replaced
   by a new order that joins the back of the displayed size at its price (none ahead when its
   price is better than the best). With latency (:mod:`mmgym.markets.latency`) a quote is
   priced at submission (against the mid at the boundary the agent saw) and in force
   ``entry_latency_steps`` steps later, a withdrawal ``cancel_latency_steps`` steps later; the
   latest submission that has arrived is in force, and until then the previous order stays.
   Without ``post_only`` (on by default) an order that crosses the opposite best takes the
   displayed volume it reaches at once: the opposite levels at or better than its price,
   best first, up to its size, at their prices (taker fills, charged ``taker_fee_bps``; the
   recording does not change: no impact), and the remainder rests one tick behind the
   opposite best (a new order there); a crossing quote is such an order anew each step.
2. **Trades.** A resting bid fills when recorded *sells* reach its price: all that is left of
   it when a sell trades below its price (the level was exhausted), else the sell volume at
   its price beyond the volume still ahead of it in the queue (which the trades consume
   first). Asks likewise with recorded buys.
3. **Queue.** The displayed size at the order's price falls, net of trades, by ``c`` lots
   between ``t_k`` and ``t_{k+1}`` (the smallest cancellation consistent with the two
   books). The part of it ahead of the agent is estimated by ``queue_model``
   (:mod:`mmgym.markets.queue`, as in the ``lob`` market): ``probabilistic``: a cancelled lot
   is ahead of the agent with probability ahead / queue (the expected advance is used);
   ``conservative``: cancellations come from behind, so only trades advance the agent;
   ``power`` and ``log``: the power-law and logarithmic forms of the literature. In all, no
   more can be ahead than the queue displayed at ``t_{k+1}``.
4. The mid becomes that of the book at ``t_{k+1}``.

**No market impact.** The agent's orders are not in the recorded book: its fills take
nothing from the recorded queues, its quotes move no one, and the recording plays on as if
the agent were absent. Fills are therefore optimistic for large orders (size above the
recorded volume at the price) and for quotes that would have changed others' behaviour.

**Books that show a few levels** (``mmgym.levels`` = ``L`` in the file's metadata: LOBSTER
level-``L`` files, down to level 1). The book is known up to the ``L``-th shown level of
each side and unknown behind it (when the side shows fewer than ``L`` levels it shows the
whole side). An order at a shown level joins behind its displayed size; an order inside the
spread stands alone at the front and fills when a recorded trade reaches its price; an order
behind the last shown level has an unknown queue ahead of it, so it fills only when a trade
goes through its price (all of it then), and once its level is shown it stands behind the
whole displayed size there. Not modelled: hidden (non-displayed) orders at the agent's price,
which a real order would queue behind or ahead of (the recording's hidden executions are
trades like the others), and anything behind level ``L``. A trade between two ticks (a
midpoint execution at half a cent) reaches the ticks it crossed: a buy the asks at or below
its price, a sell the bids at or above it.

Episodes are windows of the recording: ``start="random"`` draws the first step uniformly
among those where the whole window has a two-sided book (from the reset's uniform number, so
the seed fixes it), a number starts at that many seconds after ``t_0``.

**Held-out windows.** The recording's time span ``T`` (first to last event) is split at
``s = split_fraction·T`` seconds after ``t_0`` (or ``s = split_seconds``): the *training
range* is ``[0, s]``, the *evaluation range* ``[s, K·dt]`` (``K·dt`` the last boundary), in
seconds after ``t_0``. With ``range="train"`` (or ``"eval"``) every episode's window, its
first boundary and its last, lies in that range: a training window ends at the last boundary
at or before ``s``, an evaluation window starts at the first boundary at or after it, so a
training and an evaluation episode never share a step of recorded time (at most the
boundary ``s`` itself, when it is one). ``range="all"`` uses the whole recording.
:meth:`ReplayMarket.window_range` tells which range and which interval of recorded time
(seconds after ``t_0`` and UTC) the episodes come from. The training kit trains on
``train`` (``conf/market/replay.yaml``) and evaluates on ``eval`` (``evaluate.py``'s
``data_range``, the closing comparison of ``train.py``).

**Several recordings at once** (the ``multi_asset`` market with ``leg="replay"``,
:mod:`mmgym.markets.multi`). A market built with ``span_ns=(start, end)`` (ns since the
epoch, inside the recording) replays that span only: ``t_0 = start`` (the book there is the
one built from every event at or before it), boundaries every ``dt`` up to ``end``, trades outside
ignored; the span's time ``T = end − start`` is what the split divides, and every "seconds
after ``t_0``" above (``start``, ``split_seconds``, :meth:`ReplayMarket.window_range`,
:meth:`ReplayMarket.episode_start_s`) counts from ``start``. Given the same span and ``dt``,
several recordings share their boundaries: boundary ``k`` is the same instant of recorded
time in all (:meth:`ReplayMarket.episode_start_ns`), and a multi-asset market draws one
boundary for all of them among their common starts (:meth:`ReplayMarket.restrict_starts`).
Without a span (``span_ns=None``, the ``replay`` market) nothing of this applies.

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
import pandas as pd
from numba import njit

from mmgym.data.book import BookHistory, rebuild_book
from mmgym.data.schema import BUY, SELL, TRADE
from mmgym.data.store import DataError, read_events, read_time_span
from mmgym.markets import caching  # noqa: F401  (numba's cache keyed on the shared parts)
from mmgym.markets.base import LOBStep
from mmgym.markets.latency import Latency, check_latency
from mmgym.markets.queue import QUEUE_MODELS, QUEUE_POWER_RANGE, ahead_after_cancel
from mmgym.validation import (
    ConfigError,
    check_bool,
    check_choice,
    check_episode,
    check_number,
)

_BID, _ASK = 0, 1

RANGES = ("all", "train", "eval")
"""The values of :attr:`ReplayParams.range`: the whole recording, or the part before or after
its split (see the module doc)."""
_RANGE_NAMES = {"all": "whole recording", "train": "training range", "eval": "evaluation range"}


@dataclass(frozen=True)
class ReplayParams:
    """Parameters of the ``replay`` market.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``data_path`` | the event file (parquet, from ``mmgym-import``) | - | required | a file |
    | ``dt`` | step length, recorded time | s | 0.1 | (0, 60] |
    | ``episode_seconds`` | episode length (a multiple of ``dt``) | s | 60 | (dt, recording] |
    | ``start`` | ``"random"``, or the start after the first event | s | random | see below |
    | ``range`` | where the episodes lie: ``all``, ``train`` or ``eval`` (module doc) | - | all | |
    | ``split_fraction`` | the split, a fraction of the events' time span T | - | 0.7 | (0, 1) |
    | ``split_seconds`` | the split after the first event; None: by fraction | s | None | (0, T) |
    | ``levels`` | book levels a side in the step record (ticks from the best) | - | 10 | [1, 100] |
    | ``tick`` | tick size; None: the file's ``mmgym.tick_size`` | price | None | (0, inf) |
    | ``lot`` | lot size; None: the file's ``mmgym.lot_size`` | size | None | (0, inf) |
    | ``quote_size`` | size of each of the agent's orders | size | 0.01 | [lot, inf) |
    | ``queue_model`` | queue model (module doc, :mod:`mmgym.markets.queue`) | - | probabilistic | |
    | ``queue_power`` | exponent ``n`` of the ``power`` queue model | - | 2 | (0, 100] |
    | ``max_offset_ticks`` | action bound: offsets in [−max, max] | ticks | 20 | (0, 1000] |
    | ``entry_latency_steps`` | latency of a new or moved order | steps | 0 | [0, 1000] |
    | ``cancel_latency_steps`` | latency of a withdrawal | steps | 0 | [0, 1000] |
    | ``post_only`` | quotes never take liquidity (module doc, 1) | - | true | bool |

    The training range is ``[0, split]`` and the evaluation range ``[split, end]``, in
    seconds after the first event (``split`` = ``split_seconds`` when set, which overrides
    ``split_fraction``; ``end`` the recording's last step boundary): every window of
    ``range="train"`` ends at or before the split, every window of ``range="eval"`` starts at
    or after it. The chosen range must hold an episode (the error says how long it is), a
    fixed ``start`` must lie in it (the error gives the allowed interval) and leave a
    two-sided book at every step boundary of the episode (the error lists the allowed
    starts); ``data_path`` must be a readable event file
    (:class:`~mmgym.data.store.DataError` names it otherwise).
    """

    data_path: str | None = None
    dt: float = 0.1
    episode_seconds: float = 60.0
    start: str | float = "random"
    range: Literal["all", "train", "eval"] = "all"
    split_fraction: float = 0.7
    split_seconds: float | None = None
    levels: int = 10
    tick: float | None = None
    lot: float | None = None
    quote_size: float = 0.01
    queue_model: Literal["conservative", "probabilistic", "power", "log"] = "probabilistic"
    queue_power: float = 2.0
    max_offset_ticks: float = 20.0
    entry_latency_steps: int = 0
    cancel_latency_steps: int = 0
    post_only: bool = True

    def __post_init__(self) -> None:
        if self.data_path is None:
            raise ConfigError("data_path=None: the replay market needs an event file "
                              "(parquet written by mmgym-import)")
        if not isinstance(self.data_path, str | Path):
            raise ConfigError(f"data_path={self.data_path!r}: expected a file path")
        check_episode(self.dt, self.episode_seconds)
        if self.start != "random":
            if isinstance(self.start, str):
                raise ConfigError(f"start={self.start!r}: expected 'random' or a number of "
                                  "seconds >= 0")
            check_number("start", self.start, low=0)
        check_choice("range", self.range, RANGES)
        check_number("split_fraction", self.split_fraction, low=0, high=1, low_open=True,
                     high_open=True)
        if self.split_seconds is not None:
            check_number("split_seconds", self.split_seconds, low=0, low_open=True)
        check_number("levels", self.levels, low=1, high=100, integer=True)
        for name in ("tick", "lot"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), low=0, low_open=True)
        check_number("quote_size", self.quote_size, low=0, low_open=True)
        check_order_params(self)


def check_order_params(p: Any) -> None:
    """Check the parameters of the agent's orders that the ``replay`` and ``live`` markets
    share (their fills are the same code): ``queue_model``, ``queue_power``,
    ``max_offset_ticks``, the latencies and ``post_only``."""
    check_choice("queue_model", p.queue_model, QUEUE_MODELS)
    check_number("queue_power", p.queue_power, low=QUEUE_POWER_RANGE[0],
                 high=QUEUE_POWER_RANGE[1], low_open=True)
    check_number("max_offset_ticks", p.max_offset_ticks, low=0, high=1000, low_open=True)
    check_latency(p.entry_latency_steps, p.cancel_latency_steps)
    check_bool("post_only", p.post_only)


@dataclass(frozen=True)
class WindowRange:
    """Where a replay market's episodes come from: the range of the recording and its
    interval of recorded time (see the module doc).

    Attributes:
        name: the range, ``all``, ``train`` or ``eval`` (:attr:`ReplayParams.range`).
        source: the event file.
        start_s, end_s: the range's first and last step boundary, s after the recording's
            first event: every episode's window lies in ``[start_s, end_s]``.
        split_s: the split between the training and evaluation ranges, s after the first
            event.
        start_utc, end_utc: ``start_s`` and ``end_s`` as ISO 8601 UTC times (the event
            file's clock, ns since the epoch).
        windows: the number of possible episode starts in the range (step boundaries).
        origin: what the seconds count from, ``t_0``: the recording's first event, or the
            start of the span a multi-asset market replays (:class:`ReplayMarket`).
    """

    name: str
    source: str
    start_s: float
    end_s: float
    split_s: float
    start_utc: str
    end_utc: str
    windows: int
    origin: str = "its first event"

    def __str__(self) -> str:
        return (f"{self.name} range of {self.source}: [{self.start_s:g}, {self.end_s:g}] s "
                f"after {self.origin} ({self.start_utc} to {self.end_utc} UTC; split at "
                f"{self.split_s:g} s), {self.windows} window starts")


def _utc(ts_ns: int) -> str:
    """A time in ns since the epoch as ISO 8601 UTC, without the offset."""
    return pd.Timestamp(ts_ns, unit="ns").isoformat()


# Rows of the step table (column ``k``: boundary ``k``). Prices in ticks are stored *signed*
# per side, ``y = −price`` for the bid and ``y = price`` for the ask, so that both sides
# compare alike ("larger y": further from the touch); a ``(2, ·)`` group is (bid, ask).
_SIGNED_MID = slice(0, 2)  # [−mid, mid] at t_k, ticks
_LIMIT = slice(2, 4)  # post-only: y >= [−(best ask − 1), best bid + 1] at t_k
_REACH = slice(4, 6)  # [−lowest sell, highest buy] of step k (−inf: none)
_SHIFT = slice(6, 12)  # (3, 2) y + shift: the position of y in each lookup segment (below)
_FIRST = slice(12, 18)  # (3, 2) the position of the 0 before the segment
_LAST = slice(18, 24)  # (3, 2) the position of the 0 after it
_SHOWN = 24  # mid, best bid, best ask (price units), depth (2, levels) at t_k; then
# the recorded buy volume, sell volume, trade count, sell volume, buy volume of step k − 1


MID_ROW = _SHOWN
"""The row of a step table's column that holds the mid at its boundary (price units); the best
bid and ask follow it."""


def table_rows(levels: int) -> int:
    """The rows of a step table that shows ``levels`` levels a side."""
    return _SHOWN + 3 + 2 * levels + 5


@dataclass(frozen=True)
class Recording:
    """The step table of one file (see the module doc), so that a step is one gather.

    Attributes:
        table: ``(rows, K + 1)`` float table, column ``k`` the boundary ``t_k`` (rows: the
            ``_SIGNED_MID`` ... ``_SHOWN`` constants): what step ``k`` reads (its book at
            ``t_k`` and ``t_{k+1}``, its trades), the book shown at ``t_k`` and the recorded
            volumes of step ``k − 1``; column-major, so that a column is one contiguous read.
        values: the lookup segments, flat: for each boundary and side the displayed sizes
            ``j = 0 .. G − 1`` ticks behind the best (``inf`` where unknown, past the last
            level a level-limited source shows), between a 0 (what a price better than the
            best finds) and what lies past the grid (0, or ``inf`` where unknown); then for
            each step and side the recorded aggressor volume at each price between the step's
            extreme trades, each segment between two 0s.
        two_sided: ``(K + 1,)`` both sides non-empty at the boundary.
        tick, lot: price and size units.
        start_ns, end_ns: the replayed span, ns since the epoch: ``t_0`` (boundary 0) and the
            time the last boundary may reach; the first and last event's ``ts_ns`` unless a
            span was given (:func:`load_recording`).
    """

    table: np.ndarray
    values: np.ndarray
    two_sided: np.ndarray
    tick: float
    lot: float
    start_ns: int
    end_ns: int

    @property
    def n_rows_reset(self) -> int:
        """Rows a reset copies: all but the previous step's recorded volumes."""
        return len(self.table) - 5


@lru_cache(maxsize=4)
def load_recording(path: str, mtime_ns: int, dt: float, grid: int, levels: int,
                   tick: float | None, lot: float | None,
                   span_ns: tuple[int, int] | None = None) -> Recording:
    """The step table of ``path`` (cached by file, modification time, step, grid and span).

    ``span_ns``, ``(start, end)`` in ns since the epoch inside the recording's first and last
    event, replays that span only: boundary 0 at ``start`` (the book there the one built from
    every event at or before it), boundaries every ``dt`` up to ``end``, trades outside
    ignored; None: from the first to the last event.
    """
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
    start_ns, end_ns = (int(ts[0]), int(ts[-1])) if span_ns is None else span_ns
    if span_ns is not None and not ts[0] <= start_ns < end_ns <= ts[-1]:
        raise ConfigError(f"span_ns={span_ns!r}: expected start < end inside {path}'s events, "
                          f"[{int(ts[0])}, {int(ts[-1])}] ns since the epoch")
    n_steps = int((end_ns - start_ns) // dt_ns)
    cuts = start_ns + dt_ns * np.arange(n_steps + 1, dtype=np.int64)
    levels_shown = int(meta["mmgym.levels"]) if "mmgym.levels" in meta else None
    history = rebuild_book(events, cut_ns=cuts, tick=tick, grid_ticks=grid,
                           shown_levels=levels_shown)
    trades = events[events["kind"].to_numpy() == TRADE]
    step = np.searchsorted(cuts, trades["ts_ns"].to_numpy(), side="left") - 1
    keep = (step >= 0) & (step < n_steps)  # cut_k < ts <= cut_{k+1}
    table, values, two_sided = step_table(
        history, step[keep], trades["side"].to_numpy()[keep], trades["price"].to_numpy()[keep],
        trades["size"].to_numpy()[keep], n_steps, grid, levels, tick)
    return Recording(table=table, values=values, two_sided=two_sided, tick=tick, lot=lot,
                     start_ns=start_ns, end_ns=end_ns)


def step_table(history: BookHistory, step: np.ndarray, side: np.ndarray, price: np.ndarray,
               size: np.ndarray, n_steps: int, grid: int, levels: int, tick: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The step table of ``n_steps`` steps (:class:`Recording`'s ``table``, ``values`` and
    ``two_sided``) from the book at their ``n_steps + 1`` boundaries and their trades.

    Args:
        history: the book with its cuts at the boundaries (:func:`rebuild_book` with
            ``cut_ns`` the boundaries, ``grid_ticks=grid``).
        step, side, price, size: the trades, in recording order: the step each lies in
            (``cut_k < ts <= cut_{k+1}``: ``k`` in ``[0, n_steps)``), its aggressor side, price
            (price units) and size (size units).
        n_steps: the number of steps, ``K``.
        grid, levels: ticks behind each best kept for the queues and shown in the step record.
        tick: the tick size, price units.

    The ``replay`` market builds it for a whole file (:func:`load_recording`); the ``live``
    market (:mod:`mmgym.live.market`) for one step at a time, from a streamed book.
    """
    best = np.rint(history.cut_best / tick)  # (K + 1, 2) ticks

    buy, sell = side == BUY, side == SELL
    # a trade between two ticks (a midpoint execution) reaches the ticks it crossed: a buy the
    # asks at or below it, a sell the bids at or above it
    ticks = price / tick
    price = np.where(buy, np.floor(ticks + 1e-9), np.ceil(ticks - 1e-9))
    buy_volume = np.bincount(step[buy], size[buy], minlength=n_steps)
    sell_volume = np.bincount(step[sell], size[sell], minlength=n_steps)
    count = np.bincount(step, minlength=n_steps).astype(np.float64)

    K, G = n_steps, grid
    table = np.zeros((table_rows(levels), K + 1))
    sign = np.array([-1.0, 1.0])
    mid = best.mean(axis=1)
    table[_SIGNED_MID] = sign[:, None] * mid
    table[_LIMIT] = -(best[:, 1] - 1.0), best[:, 0] + 1.0
    # lookup segments, (3, 2) per column: the displayed sizes at t_k (row 0) and t_{k+1}
    # (row 2), slot j the size j ticks behind the best; the trades of step k (row 1) by price,
    # slot 0 at the extreme price
    queue_base = 1 + (G + 2) * np.arange(2 * (K + 1), dtype=np.float64).reshape(K + 1, 2)
    origin = np.zeros((3, 2, K + 1))  # the signed price of each segment's first slot
    width = np.zeros((3, 2, K + 1))  # its number of slots
    base = np.zeros((3, 2, K + 1))  # its position in ``values``
    origin[0] = (sign * best).T
    origin[2, :, :K] = origin[0, :, 1:]
    width[[0, 2]] = G
    base[0] = queue_base.T
    base[2, :, :K] = base[0, :, 1:]
    # no step K: its trades and next book find the leading 0
    origin[1:, :, K], width[1:, :, K], base[1:, :, K] = np.nan, 0, 1
    # the queue at each tick behind the best, between a 0 (a price better than the best has
    # none ahead) and what lies past the grid; unknown (inf: nothing fills there but a trade
    # through the price) past the last level a level-limited source shows
    known = history.cut_known[:, :, None]
    queue = np.where(np.arange(G) > known, np.inf, history.cut_depth)
    beyond = np.where(np.isfinite(known), np.inf, 0.0)
    segments = [np.concatenate([np.zeros((K + 1, 2, 1)), queue, beyond], axis=2).ravel(),
                np.zeros(1)]
    used = (K + 1) * 2 * (G + 2) + 1
    min_sell = np.full(K, np.inf)
    np.minimum.at(min_sell, step[sell], price[sell])
    max_buy = np.full(K, -np.inf)
    np.maximum.at(max_buy, step[buy], price[buy])
    table[_REACH, :K] = -min_sell, max_buy
    table[_REACH, K] = -np.inf
    for s, aggressor in ((0, sell), (1, buy)):
        y = sign[s] * price[aggressor]
        k = step[aggressor]
        lo = np.full(K, np.inf)
        np.minimum.at(lo, k, y)
        hi = np.full(K, -np.inf)
        np.maximum.at(hi, k, y)
        n_slots = np.where(np.isfinite(lo), hi - lo + 1, 0).astype(np.int64)
        start = used + np.concatenate([[0], np.cumsum(n_slots + 1)[:-1]])
        origin[1, s, :K] = np.where(np.isfinite(lo), lo, 0.0)
        width[1, s, :K] = n_slots
        base[1, s, :K] = start
        values = np.zeros(int((n_slots + 1).sum()))
        # the volume at each (step, price), added in recording order
        slot = (start[k] - used + (y - origin[1, s, k])).astype(np.int64)
        uniq, inverse = np.unique(slot, return_inverse=True)
        values[uniq] = np.bincount(inverse, size[aggressor], minlength=len(uniq))
        segments.append(values)
        used += len(values)
    table[_SHIFT] = (base - origin).reshape(6, K + 1)
    table[_FIRST] = (base - 1).reshape(6, K + 1)
    table[_LAST] = (base + width).reshape(6, K + 1)
    shown = table[_SHOWN:_SHOWN + 3 + 2 * levels]
    shown[0] = mid * tick
    shown[1:3] = best.T * tick
    shown[3:] = history.cut_depth[:, :, :levels].transpose(1, 2, 0).reshape(2 * levels, K + 1)
    recorded = table[_SHOWN + 3 + 2 * levels:]
    recorded[:, 1:] = [buy_volume, sell_volume, count, sell_volume, buy_volume]
    return (np.asfortranarray(table), np.concatenate(segments),
            np.isfinite(best).all(axis=1))


def queue_grid(levels: int, max_offset_ticks: float) -> int:
    """Ticks behind each best whose queues the step table keeps: the levels shown, and every
    price an order ``max_offset_ticks`` from the mid can take (with a tick to spare)."""
    return max(levels, math.ceil(max_offset_ticks) + 2)


def book_step_record(now: np.ndarray, levels: int) -> LOBStep:
    """The step record of a market whose environments' step-table columns are ``now``
    (``(rows, n)``): its book and recorded-volume arrays are views of the rows of ``now``."""
    n = now.shape[1]
    volumes = _SHOWN + 3 + 2 * levels
    return LOBStep(
        mid_before=np.empty(n), mid=now[_SHOWN], prices=np.full((2, n), np.nan),
        fills=np.zeros((2, n)), notional=np.zeros((2, n)),
        best=now[_SHOWN + 1:_SHOWN + 3],
        depth=now[_SHOWN + 3:volumes].reshape(2, levels, n),
        buy_volume=now[volumes], sell_volume=now[volumes + 1], trades=now[volumes + 2],
        book_traded=now[volumes + 3:volumes + 5], event=np.zeros(n, dtype=bool),
        taker_fills=np.zeros((2, n)), taker_notional=np.zeros((2, n)),
    )


class ReplayMarket:
    """``n`` replays of one recording; see the module doc.

    Prices are kept in ticks, signed per side (see ``_SIGNED_MID``); order arrays are
    ``(2, n)`` (bid row, ask row); :attr:`now` holds each environment's column of the step
    table (the step record's book and volume arrays are views of its rows). The step is one
    compiled loop over the environments (numba, ``_step_envs``), each taken through 1–4 of
    the module doc in turn, so an environment's arithmetic is the same whatever the batch.
    Stepping an environment already at the recording's last boundary raises ``IndexError``
    (naming it) before anything changes.

    Args:
        n: number of environments.
        span_ns: ``(start, end)``, ns since the epoch: replay only that span of the
            recording (inside its first and last event), ``t_0 = start`` (see the module doc,
            "Several recordings at once"); None: the whole recording. Not a market parameter:
            the ``multi_asset`` market sets it to align its recorded assets.
        params: the :class:`ReplayParams`.
    """

    name: ClassVar[str] = "replay"
    Params: ClassVar[type] = ReplayParams
    default_max_inventory: ClassVar[float] = 0.5
    has_book: ClassVar[bool] = True
    default_features: ClassVar[tuple[str, ...]] = (
        "inventory", "volatility", "ofi", "vpin", "imbalance", "time_remaining",
    )

    def __init__(self, n: int, *, span_ns: tuple[int, int] | None = None,
                 **params: Any) -> None:
        p = ReplayParams(**params)
        path = Path(p.data_path)
        if not path.is_file():
            raise DataError(f"{path}: no such file (data_path)")
        self.grid = queue_grid(p.levels, p.max_offset_ticks)
        rec = self.rec = load_recording(str(path.resolve()), path.stat().st_mtime_ns, p.dt,
                                        self.grid, p.levels, p.tick, p.lot,
                                        None if span_ns is None else
                                        (int(span_ns[0]), int(span_ns[1])))
        self.p = replace(p, tick=rec.tick, lot=rec.lot)
        check_number("quote_size", p.quote_size, low=rec.lot)
        self.n = n
        self.dt = p.dt
        self.horizon_steps = round(p.episode_seconds / p.dt)
        self.quote_size = p.quote_size
        self.offset_low, self.offset_high = -p.max_offset_ticks, p.max_offset_ticks
        self.n_uniforms = 1
        H = self.horizon_steps
        n_bounds = len(rec.two_sided)
        if n_bounds <= H:
            raise ConfigError(f"episode_seconds={p.episode_seconds!r}: the recording {path} "
                              f"holds {(n_bounds - 1) * p.dt:g} s")
        first_ns, last_ns = rec.start_ns, rec.end_ns
        dt_ns = round(p.dt * 1e9)
        lo, hi, split_ns = self._range_bounds(p, path, last_ns - first_ns, n_bounds - 1)

        def seconds(k: int) -> float:
            return k * dt_ns / 1e9

        # an episode may start at k when the book is two-sided at every boundary k..k+H and
        # they all lie in the range
        bad = np.concatenate([[0], np.cumsum(~rec.two_sided)])
        allowed = bad[H + 1:] - bad[: n_bounds - H] == 0
        allowed[:lo] = False
        allowed[hi - H + 1:] = False
        self.starts = np.flatnonzero(allowed)
        where = f"{_RANGE_NAMES[p.range]} [{seconds(lo):g}, {seconds(hi):g}] s"
        if len(self.starts) == 0:
            raise DataError(f"{path}: no window of {p.episode_seconds:g} s with a two-sided "
                            f"book in the {where}")
        self._window_range = WindowRange(
            name=p.range, source=str(path), start_s=seconds(lo), end_s=seconds(hi),
            split_s=split_ns / 1e9, start_utc=_utc(first_ns + lo * dt_ns),
            end_utc=_utc(first_ns + hi * dt_ns), windows=len(self.starts),
            origin=("its first event" if span_ns is None else
                    f"the replayed span's start ({_utc(first_ns)} UTC)"))
        if p.start != "random":
            k0 = round(p.start / p.dt)
            if not lo <= k0 <= hi - H:
                raise ConfigError(
                    f"start={p.start!r}: outside the {where} (range={p.range!r}); allowed "
                    f"starts (s): {seconds(lo):g} to {seconds(hi - H):g}")
            if k0 not in set(self.starts.tolist()):
                raise ConfigError(
                    f"start={p.start!r}: no two-sided book over [{p.start}, "
                    f"{p.start + p.episode_seconds}] s; allowed starts (s): "
                    f"{self.starts[0] * p.dt:g} to {self.starts[-1] * p.dt:g} (with gaps)")
            self.fixed_start: int | None = k0
        else:
            self.fixed_start = None
        self._dt_ns = dt_ns
        self.pos = np.zeros(n, dtype=np.int64)
        self.start_pos = np.zeros(n, dtype=np.int64)  # each env's episode's first boundary
        self.now = np.zeros((len(rec.table), n))  # the table's column at each env's boundary
        self.order_y = np.full((2, n), np.nan)  # signed ticks; NaN: no order
        self.order_left = np.zeros((2, n))  # size units
        self.order_ahead = np.zeros((2, n))  # size units
        self.latency = Latency(n, p.entry_latency_steps, p.cancel_latency_steps)
        self.step_record = book_step_record(self.now, p.levels)
        self.mid = self.step_record.mid

    @staticmethod
    def _range_bounds(p: ReplayParams, path: Path, span_ns: int,
                      last: int) -> tuple[int, int, int]:
        """The first and last step boundary of ``p.range`` and the split (ns after ``t_0``),
        for a recording spanning ``span_ns`` cut into boundaries ``0 .. last``.

        Raises:
            ConfigError: when ``split_seconds`` is not inside the recording's span, or the
                range is shorter than an episode (saying how long it is).
        """
        dt_ns = round(p.dt * 1e9)
        if p.split_seconds is None:
            split_ns = round(p.split_fraction * span_ns)
        else:
            try:
                check_number("split_seconds", p.split_seconds, low=0, high=span_ns / 1e9,
                             low_open=True, high_open=True)
            except ConfigError as e:
                raise ConfigError(f"{e} (the recording {path} spans {span_ns / 1e9:g} s)"
                                  ) from None
            split_ns = round(p.split_seconds * 1e9)
        lo, hi = {"all": (0, last), "train": (0, min(split_ns // dt_ns, last)),
                  "eval": (min(-(-split_ns // dt_ns), last), last)}[p.range]
        if hi - lo < round(p.episode_seconds / p.dt):
            raise ConfigError(
                f"range={p.range!r}: the {_RANGE_NAMES[p.range]} [{lo * dt_ns / 1e9:g}, "
                f"{hi * dt_ns / 1e9:g}] s of {path} (split at {split_ns / 1e9:g} s) holds "
                f"{(hi - lo) * dt_ns / 1e9:g} s, less than episode_seconds="
                f"{p.episode_seconds!r}")
        return lo, hi, split_ns

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def window_range(self) -> WindowRange:
        """The range of the recording the episodes are drawn from, and its interval of
        recorded time (seconds after ``t_0``, the first event unless a span is replayed, and
        UTC)."""
        return self._window_range

    def episode_start_s(self) -> np.ndarray:
        """``(n,)`` the first boundary of each environment's current episode, s after ``t_0``
        (the recording's first event unless a span is replayed)."""
        return self.start_pos * self._dt_ns / 1e9

    def episode_start_ns(self) -> np.ndarray:
        """``(n,)`` the first boundary of each environment's current episode, recorded time in
        ns since the epoch (the event file's clock)."""
        return self.rec.start_ns + self.start_pos * self._dt_ns

    @classmethod
    def recorded_span(cls, **params: Any) -> tuple[int, int]:
        """The first and last event time of the recording that ``params`` (checked first)
        replay, ns since the epoch, read without building the step table: what a multi-asset
        market aligns its recorded assets by (the ``span_ns`` it gives them).

        Raises:
            ConfigError, DataError: as the constructor, on a bad parameter or file.
        """
        return read_time_span(ReplayParams(**params).data_path)

    def restrict_starts(self, allowed: np.ndarray) -> None:
        """Draw the episodes' first boundaries (``start="random"``) from ``allowed`` only,
        sorted boundary indices among :attr:`starts`: a multi-asset market keeps those
        where every asset's window has a two-sided book and lies in its range.

        Raises:
            ValueError: when ``allowed`` is empty or not a subset of :attr:`starts`.
        """
        allowed = np.asarray(allowed, dtype=np.int64)
        if len(allowed) == 0 or not np.isin(allowed, self.starts).all():
            raise ValueError("restrict_starts: expected a non-empty subset of the starts")
        self.starts = allowed
        self._window_range = replace(self._window_range, windows=len(allowed))

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        if self.fixed_start is None:
            pick = np.minimum((uniforms[0] * len(self.starts)).astype(np.int64),
                              len(self.starts) - 1)
            self.pos[mask] = self.starts[pick]
        else:
            self.pos[mask] = self.fixed_start
        self.start_pos[mask] = self.pos[mask]
        rows = self.rec.n_rows_reset
        self.now[:rows, mask] = self.rec.table[:rows, self.pos[mask]]
        self.order_y[:, mask] = np.nan
        self.order_left[:, mask] = 0.0
        self.order_ahead[:, mask] = 0.0
        self.step_record.prices[:, mask] = np.nan
        self.latency.reset(mask)

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        return step_orders(self, offsets)


def step_orders(market: Any, offsets: np.ndarray) -> LOBStep:
    """One step of every environment of ``market`` (the module doc's 1–4) with the quotes
    ``offsets`` (``(2, n)``, ticks from the mid; NaN: no quote), against its step table
    ``market.rec`` from each environment's column ``market.pos``: the :class:`ReplayMarket`'s
    step, and the ``live`` market's (:mod:`mmgym.live.market`), whose table is one step of
    a stream. ``market`` has :class:`ReplayMarket`'s state: ``p``, ``rec``, ``now``, ``pos``,
    ``start_pos``, ``horizon_steps``, ``order_y``, ``order_left``, ``order_ahead``,
    ``latency``, ``quote_size``, ``dt`` and ``step_record``.

    Raises:
        ValueError: on offsets of another shape than ``(2, n)``.
        IndexError: when an environment is at the table's last boundary (nothing changes).
    """
    if not isinstance(offsets, np.ndarray) or offsets.dtype != np.float64:
        offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != market.order_y.shape:
        raise ValueError(f"offsets of shape {offsets.shape}: expected (2, n) = "
                         f"{market.order_y.shape}")
    out = market.step_record
    lat = market.latency
    if lat.active:  # the orders in force, priced against the signed mid at submission
        quotes, refs = lat.arrive(offsets, market.now[_SIGNED_MID])
    else:
        quotes, refs = offsets, offsets
    # an env stepped after its episode's last step (a vector env's NextStep autoreset
    # steps it once more before resetting it) holds: no order, no fill, the mid unchanged
    ended = market.pos - market.start_pos >= market.horizon_steps
    late = _step_envs(quotes, refs, lat.active, ended, market.now, market.pos, market.rec.table,
                      market.rec.values, market.order_y, market.order_left, market.order_ahead,
                      market.quote_size, market.rec.tick, QUEUE_MODELS[market.p.queue_model],
                      float(market.p.queue_power), bool(market.p.post_only), market.p.levels,
                      out.mid_before, out.prices, out.fills, out.notional, out.taker_fills,
                      out.taker_notional)
    if late >= 0:
        raise IndexError(f"env {late}: at step {market.pos[late]}, the last of the recording "
                         f"({market.rec.table.shape[1] - 1} steps of {market.dt:g} s); reset it")
    return out


# Rows of ``ReplayMarket.now`` (those of the step table) for the kernel; see ``_SIGNED_MID``.
_ROW_SIGNED_MID, _ROW_LIMIT, _ROW_REACH = _SIGNED_MID.start, _LIMIT.start, _REACH.start
_ROW_SHIFT, _ROW_FIRST, _ROW_LAST = _SHIFT.start, _FIRST.start, _LAST.start


@njit(cache=True, inline="always")
def _maximum(a: float, b: float) -> float:
    """``np.maximum``: NaN if either is NaN; ``b`` when they compare equal (signed zeros)."""
    return a if a > b or a != a else b


@njit(cache=True, inline="always")
def _minimum(a: float, b: float) -> float:
    """``np.minimum``: NaN if either is NaN; ``b`` when they compare equal (signed zeros)."""
    return a if a < b or a != a else b


@njit(cache=True)
def _step_envs(quotes, refs, delayed, ended, now, pos, table, values, order_y, left, ahead,
               quote_size, tick, queue_model, queue_power, post_only, levels, mid_before,
               prices, fills, notional, taker_fills, taker_notional):
    """One step of every environment (the module doc's 1–4), the orders in force ``quotes``
    (with latency, ``delayed``, priced against ``refs``, the signed mids they were sent
    against; without ``post_only`` a crossing order takes the ``levels`` displayed levels it
    reaches first); an ``ended`` environment (past its episode) holds; returns −1, or the
    first other environment already at the recording's last boundary (then nothing is
    changed)."""
    n, n_rows, last_column = now.shape[1], now.shape[0], table.shape[1] - 1
    top = values.shape[0] - 1
    for i in range(n):
        if pos[i] >= last_column and not ended[i]:
            return i
    looked = np.empty(3)  # queue at t_k, volume traded at y in step k, queue at t_{k+1}
    for i in range(n):
        mid_before[i] = now[_SHOWN, i]
        if ended[i]:  # past its episode: holds, without an order
            for s in range(2):
                prices[s, i] = np.nan
                fills[s, i] = notional[s, i] = taker_fills[s, i] = taker_notional[s, i] = 0.0
            continue
        for s in range(2):
            # 1. the order: signed, both sides are ceil(δ ± mid), post-only, or taking what
            # it crosses at the displayed levels' prices, the rest one tick behind them
            ref = refs[s, i] if delayed else now[_ROW_SIGNED_MID + s, i]
            y = np.ceil(quotes[s, i] + ref)
            limit = now[_ROW_LIMIT + s, i]
            taken = 0.0
            taken_value = 0.0  # Σ size × signed price (the order's side), ticks
            if post_only:
                y = _maximum(y, limit)
            elif y < limit:
                far = 1.0 - limit  # the opposite best, signed for its side
                depth = _SHOWN + 3 + (1 - s) * levels
                for j in range(levels):
                    if taken >= quote_size or y + far + j > 0:
                        break
                    take = min(quote_size - taken, now[depth + j, i])
                    taken += take
                    taken_value -= take * (far + j)
                y = limit
            unquoted = y != y
            new = y != order_y[s, i] or left[s, i] <= 0.0 or taken > 0.0
            # y's position in each lookup segment; beyond its bounds (NaN: no order) the 0
            # beside it
            for r in range(3):
                slot = y + now[_ROW_SHIFT + 2 * r + s, i]
                first = now[_ROW_FIRST + 2 * r + s, i]
                last = now[_ROW_LAST + 2 * r + s, i]
                if slot != slot or slot < first:
                    slot = first
                if slot > last:
                    slot = last
                looked[r] = values[min(max(int(slot), 0), top)]
            queue, at, after = looked[0], looked[1], looked[2]
            if new:
                ahead[s, i] = queue
                left[s, i] = quote_size - taken
            if unquoted:
                left[s, i] = 0.0
            order_y[s, i] = y
            price = y * (tick if s == 1 else -tick)
            prices[s, i] = price
            # 2. trades of step k: through the price (all filled), else at it (behind the
            # queue)
            fill = _minimum(left[s, i], _maximum(at - ahead[s, i], 0.0))
            if now[_ROW_REACH + s, i] > y:
                fill = left[s, i]
            fills[s, i] = fill
            a = _maximum(ahead[s, i] - at, 0.0)
            left[s, i] = left[s, i] - fill
            # 3. queue at t_{k+1}: the cancellations (queue_model), known queues only
            if queue < np.inf:
                traded_queue = _maximum(queue - at, 0.0)
                a = ahead_after_cancel(queue_model, queue_power, a, traded_queue,
                                       _maximum(traded_queue - after, 0.0))
            ahead[s, i] = _maximum(_minimum(a, after), 0.0)
            notional[s, i] = 0.0 if unquoted else fill * price
            taker_fills[s, i] = taken
            taker_notional[s, i] = taken_value * (tick if s == 1 else -tick)
            if taken > 0.0:
                fills[s, i] += taken
                notional[s, i] += taker_notional[s, i]
        # 4. the book at t_{k+1} and the step's recorded volumes
        pos[i] += 1
        for row in range(n_rows):
            now[row, i] = table[row, pos[i]]
    return -1
