"""The ``live`` market: the ``replay`` market's fills on a book streamed step by step.

The ``replay`` market (:mod:`mmgym.markets.replay`) rebuilds a recorded book
(:func:`mmgym.data.book.rebuild_book`), cuts it into steps of ``dt`` with a step table
(:func:`mmgym.markets.replay.step_table`) and fills the agent's orders against the recorded
trades behind the displayed queues (:func:`mmgym.markets.replay.step_orders`). This market
does the same with the same three functions, one step at a time, as the stream arrives:
before each step it is handed the events of the step (:meth:`LiveMarket.advance`), applies
them to its local book and builds that step's table; the step then fills the quotes in force
exactly as ``replay`` would on a recording of those events (module doc of
:mod:`mmgym.markets.replay`: the orders, the trades, the queue model, no market impact).
A recording of the stream, replayed by ``replay`` with the same quotes, gives the same fills,
bit for bit.

**The local book** between steps is the list of its levels after the last boundary; a step
rebuilds it from a snapshot of those levels at the boundary ``t_k`` followed by the step's
events (every one with ``t_k < ts_ns <= t_{k+1}``), with the cuts at ``t_k`` and ``t_{k+1}``:
the same book, level for level, as the whole recording's rebuild at those times (the rebuild
depends only on the levels and the events that follow).

It is one environment (``n = 1``), run by :class:`mmgym.core.MarketMakingCore` (built by the
import path :data:`LIVE_MARKET`), so accounting, features and reward are the environments'
own. Its steps never end an episode: ``episode_seconds`` is the horizon of the
``time_remaining`` feature only (the paper-trading run's length). Randomness: none.

Parameters (:class:`LiveParams`): those of ``replay`` that do not concern a file, and the
tick and lot size, which come from the stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from mmgym.data.book import BookHistory, rebuild_book
from mmgym.data.schema import NO_ID, SNAPSHOT, TRADE
from mmgym.live.source import EVENT_DTYPE, events_table
from mmgym.markets.base import LOBStep
from mmgym.markets.latency import Latency
from mmgym.markets.replay import (
    MID_ROW,
    Recording,
    ReplayMarket,
    book_step_record,
    check_order_params,
    queue_grid,
    step_orders,
    step_table,
    table_rows,
)
from mmgym.validation import ConfigError, check_episode, check_number

LIVE_MARKET = "mmgym.live.market:LiveMarket"
"""The ``market`` argument that builds this market (an import path: it is not registered)."""


@dataclass(frozen=True)
class LiveParams:
    """Parameters of the ``live`` market.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``tick`` | tick size (the stream's ``mmgym.tick_size``) | price | required | (0, inf) |
    | ``lot`` | lot size (the stream's ``mmgym.lot_size``) | size | required | (0, inf) |
    | ``dt`` | step length: quotes are set every ``dt`` | s | 0.1 | (0, 60] |
    | ``episode_seconds`` | the run's length, the horizon of ``time_remaining`` | s | 3600 | [dt, 10⁷·dt] |
    | ``levels`` | book levels a side in the step record (ticks from the best) | - | 10 | [1, 100] |
    | ``shown_levels`` | levels a side the stream shows (``mmgym.levels``); None: all | - | None | [1, inf) |
    | ``quote_size`` | size of each of the agent's orders | size | 0.01 | [lot, inf) |
    | ``queue_model`` | queue model (:mod:`mmgym.markets.queue`) | - | probabilistic | |
    | ``queue_power`` | exponent ``n`` of the ``power`` queue model | - | 2 | (0, 100] |
    | ``max_offset_ticks`` | action bound: offsets in [−max, max] | ticks | 20 | (0, 1000] |
    | ``entry_latency_steps`` | latency of a new or moved order | steps | 0 | [0, 1000] |
    | ``cancel_latency_steps`` | latency of a withdrawal | steps | 0 | [0, 1000] |
    | ``post_only`` | quotes never take liquidity | - | true | bool |

    Those shared with :class:`~mmgym.markets.replay.ReplayParams` mean the same there.
    """  # noqa: E501

    tick: float | None = None
    lot: float | None = None
    dt: float = 0.1
    episode_seconds: float = 3600.0
    levels: int = 10
    shown_levels: int | None = None
    quote_size: float = 0.01
    queue_model: Literal["conservative", "probabilistic", "power", "log"] = "probabilistic"
    queue_power: float = 2.0
    max_offset_ticks: float = 20.0
    entry_latency_steps: int = 0
    cancel_latency_steps: int = 0
    post_only: bool = True

    def __post_init__(self) -> None:
        for name, key in (("tick", "mmgym.tick_size"), ("lot", "mmgym.lot_size")):
            if getattr(self, name) is None:
                raise ConfigError(f"{name}=None: the live market needs the {name} size (the "
                                  f"stream's {key}, or the config's {name})")
            check_number(name, getattr(self, name), low=0, low_open=True)
        check_episode(self.dt, self.episode_seconds)
        check_number("levels", self.levels, low=1, high=100, integer=True)
        if self.shown_levels is not None:
            check_number("shown_levels", self.shown_levels, low=1, integer=True)
        check_number("quote_size", self.quote_size, low=self.lot)
        check_order_params(self)


class LiveMarket:
    """One environment on a streamed book; see the module doc.

    The stream enters through :meth:`open` (the events up to the first boundary ``t_0``)
    and :meth:`advance` (the events of the next step); :meth:`step` plays the step last
    advanced to, :meth:`skip` drops it unplayed. The state mirrors
    :class:`~mmgym.markets.replay.ReplayMarket`'s for one environment: :attr:`now` holds the
    step table's column at the current boundary, :attr:`rec` the step to play (two columns).

    Attributes:
        boundary_ns: the current step boundary, ns since the epoch (None before
            :meth:`open`).
        two_sided: whether the book at :attr:`boundary_ns` has both sides.
        crossed: the book messages that crossed the book so far (stale levels repaired:
            :mod:`mmgym.data.book`).
    """

    name: ClassVar[str] = "live"
    Params: ClassVar[type] = LiveParams
    default_max_inventory: ClassVar[float] = ReplayMarket.default_max_inventory
    has_book: ClassVar[bool] = True
    default_features: ClassVar[tuple[str, ...]] = ReplayMarket.default_features

    def __init__(self, n: int, **params: Any) -> None:
        if n != 1:
            raise ConfigError(f"num_envs={n!r}: the live market streams one book (1)")
        p = self.p = LiveParams(**params)
        self.n = 1
        self.dt = p.dt
        self.horizon_steps = round(p.episode_seconds / p.dt)
        self.quote_size = p.quote_size
        self.offset_low, self.offset_high = -p.max_offset_ticks, p.max_offset_ticks
        self.n_uniforms = 1
        self.grid = queue_grid(p.levels, p.max_offset_ticks)
        self.pos = np.zeros(1, dtype=np.int64)
        self.start_pos = np.zeros(1, dtype=np.int64)
        self.now = np.zeros((table_rows(p.levels), 1))
        self.order_y = np.full((2, 1), np.nan)
        self.order_left = np.zeros((2, 1))
        self.order_ahead = np.zeros((2, 1))
        self.latency = Latency(1, p.entry_latency_steps, p.cancel_latency_steps)
        self.step_record: LOBStep = book_step_record(self.now, p.levels)
        self.mid = self.step_record.mid
        self.rec: Recording | None = None
        self.boundary_ns: int | None = None
        self.two_sided = False
        self.crossed = 0
        self._levels = (np.zeros(0, np.int8), np.zeros(0), np.zeros(0))  # side, price, size
        self._column = np.zeros(table_rows(p.levels))

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    @property
    def boundary_book(self) -> tuple[float, float, float]:
        """The mid, best bid and best ask at the current boundary (price units; NaN: an
        empty side), whether or not the step that led there was played."""
        mid, bid, ask = self._column[MID_ROW:MID_ROW + 3].tolist()
        return mid, bid, ask

    def open(self, events: np.ndarray, t0_ns: int) -> bool:
        """Start the book at ``t0_ns`` (ns since the epoch) from ``events`` (rows of
        :data:`~mmgym.live.source.EVENT_DTYPE`), the stream up to then (its first snapshot
        included); return whether it is two-sided there."""
        history = self._rebuild(events, [t0_ns])
        table, _, two_sided = step_table(history, *_no_trades(), 0, self.grid, self.p.levels,
                                         self.p.tick)
        self._column = table[:, 0].copy()
        self.boundary_ns = int(t0_ns)
        self.two_sided = bool(two_sided[0])
        self.rec = None
        return self.two_sided

    def advance(self, events: np.ndarray, end_ns: int) -> bool:
        """Take in the events of the step from the current boundary to ``end_ns`` (rows of
        :data:`~mmgym.live.source.EVENT_DTYPE`, every ``ts_ns`` in ``(boundary_ns, end_ns]``,
        in arrival order) and build its table; return whether the book is two-sided at both
        ends (the step can be played).

        Raises:
            ValueError: before :meth:`open`, when ``end_ns`` is not after the boundary, or on
                an event outside the step.
        """
        start = self.boundary_ns
        if start is None or end_ns <= start:
            raise ValueError(f"advance to {end_ns}: the market is at boundary {start}")
        ts = events["ts_ns"]
        if len(ts) and not (ts.min() > start and ts.max() <= end_ns):
            raise ValueError(f"advance to {end_ns}: events outside ({start}, {end_ns}] ns")
        history = self._rebuild(np.concatenate([snapshot_rows(*self._levels, start), events]),
                                [start, end_ns])
        trades = events[events["kind"] == TRADE]
        table, values, two_sided = step_table(
            history, np.zeros(len(trades), dtype=np.int64), trades["side"], trades["price"],
            trades["size"], 1, self.grid, self.p.levels, self.p.tick)
        self.rec = Recording(table=table, values=values, two_sided=two_sided, tick=self.p.tick,
                             lot=self.p.lot, start_ns=start, end_ns=int(end_ns))
        self._column = table[:, 1].copy()
        self.boundary_ns = int(end_ns)
        self.two_sided = bool(two_sided[1])
        return bool(two_sided.all())

    def reset(self, mask: np.ndarray, uniforms: np.ndarray) -> None:
        """Start at the current boundary, without an order."""
        if self.boundary_ns is None:
            raise ValueError("reset: the live market has no book yet (open it first)")
        rows = len(self._column) - 5
        self.now[:rows, 0] = self._column[:rows]
        self._withdraw()

    def step(self, offsets: np.ndarray, uniforms: np.ndarray) -> LOBStep:
        """Play the step last advanced to with the quotes ``offsets`` (``(2, 1)``, ticks from
        the mid at its start; NaN: none): the ``replay`` market's step on its table.

        Raises:
            ValueError: when no step has been advanced to since the last one.
        """
        if self.rec is None:
            raise ValueError("step: no step to play (advance the market first)")
        rows = self.rec.n_rows_reset
        self.now[:rows, 0] = self.rec.table[:rows, 0]
        self.pos[:] = 0
        self.start_pos[:] = 0
        out = step_orders(self, offsets)
        self.rec = None
        return out

    def skip(self) -> None:
        """Drop the step last advanced to unplayed (its book is one-sided at an end): the
        orders are withdrawn, the step record keeps the last step played."""
        self.rec = None
        self._withdraw()

    def _withdraw(self) -> None:
        self.order_y[:] = np.nan
        self.order_left[:] = 0.0
        self.order_ahead[:] = 0.0
        self.step_record.prices[:] = np.nan
        self.latency.reset(np.ones(1, dtype=bool))

    def _rebuild(self, events: np.ndarray, cuts: list[int]) -> BookHistory:
        history = rebuild_book(events_table(events), cut_ns=np.array(cuts, dtype=np.int64),
                               tick=self.p.tick, grid_ticks=self.grid,
                               shown_levels=self.p.shown_levels, final=True)
        self._levels = (history.final_side, history.final_price, history.final_size)
        self.crossed += int(history.crossed.sum())
        return history


def snapshot_rows(side: np.ndarray, price: np.ndarray, size: np.ndarray,
                  ts_ns: int) -> np.ndarray:
    """Book levels (``BID``/``ASK``, price units, size units; a rebuilt book's
    :attr:`~mmgym.data.book.BookHistory.final_side`, ...) as the rows of one snapshot at
    ``ts_ns`` (ns since the epoch; rows of :data:`~mmgym.live.source.EVENT_DTYPE`, no update
    id): replayed, they continue the book."""
    rows = np.empty(len(side), dtype=EVENT_DTYPE)
    rows["ts_ns"] = ts_ns
    rows["kind"] = SNAPSHOT
    rows["side"] = side
    rows["price"] = price
    rows["size"] = size
    rows["update_id"] = NO_ID
    return rows


def _no_trades() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The trade arrays of :func:`~mmgym.markets.replay.step_table` when there are none."""
    return np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), np.zeros(0)
