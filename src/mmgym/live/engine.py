"""Paper trading on a streamed order book: a policy quotes every ``dt`` against the live
book, its fills simulated by the ``replay`` market's queue rules; no order is ever sent.

:class:`PaperEngine` reads an :class:`~mmgym.live.source.EventSource` (event batches and
notices) and runs :class:`mmgym.core.MarketMakingCore` on the ``live`` market
(:mod:`mmgym.live.market`): the environments' own accounting, features (same code, same
scaling) and reward, and the ``replay`` market's fills.

**Time.** The run starts at the stream's first snapshot, ``t_0`` its ``ts_ns``; the step
boundaries are ``t_k = t_0 + k·dt``, on the engine's clock (:mod:`mmgym.live.clock`). At
each boundary, once the clock reaches it, the events received with ``ts_ns <= t_k`` are
applied (the market steps through them with the quotes set at ``t_{k−1}``), the features
are updated, and the policy sets the quotes of the next step from the observation and
``info``, as in an environment. An event is applied, and recorded, at the time
``max(its ts_ns, the previous event's, the last boundary passed + 1 ns)``: an event that
arrives after the boundary of its time (late, counted in :attr:`PaperSummary.late_rows`)
joins the next step, and the recording is in the order the engine applied it. Rows before
the first snapshot are dropped (no book yet).

**Withdrawn quotes.** Every policy's quotes pass a gate; both sides are withdrawn (offset
``+inf``: no order) for the next step when, at the boundary, with this priority:

| status | when | until |
|---|---|---|
| ``resync`` | a notice put the book in doubt (disconnection, gap, stale: :mod:`mmgym.live.source`) | a snapshot received after it is applied |
| ``stale`` | no book row has arrived in the last ``stale_after_seconds`` (the clock's time of arrival) | the next book row |
| ``one_sided`` | the book at the boundary lacks a side | both sides are back |
| ``shock`` | the kill switch's price-shock pause (:class:`KillSwitch`) | ``pause_seconds`` after it began |
| ``quoting`` | none of these: the policy's quotes stand | |

and the kill switch's position limit withdraws a side whose full fill would take
``|inventory|`` past ``max_inventory`` (the environments' own rule, in the core). A step
whose book is one-sided at either end is not played (no fills, no accounting, the orders
withdrawn): the mid is undefined there.

**Outputs** (in ``output``, written when the run ends however it ends, an error included;
held in memory until then: 34 bytes an event, about 200 a step):

| file | content |
|---|---|
| ``recording.parquet`` | every event applied or received, from the first snapshot on, as an event table (:mod:`mmgym.data.store`) with the stream's metadata; see below |
| ``steps.parquet`` | one row per boundary (:class:`StepReport`'s fields; features as ``feature.<name>``) |
| ``summary.json`` | :class:`PaperSummary` |
| ``recording.jsonl.gz`` | the same events in ``mmgym-record``'s JSON lines (:mod:`mmgym.live.jsonl`: the whole local book after every book change, each trade), written at each boundary as the run goes (a killed run keeps them) |

**The recording** (``recording.parquet``) is an event file. Replayed by the ``replay`` market
(``data_path`` the recording, ``start=0``, the same ``dt`` and market parameters,
``episode_seconds`` a whole number of steps) with the offsets of ``steps.parquet`` as
actions, it gives the same fills, inventory, PnL and features, bit for bit: the
recording's first event is the first snapshot, at ``t_0``, so the replay's boundaries are
the run's, and its book and trades at each are those the engine applied. The replay covers
the steps up to the recording's last event; a run with a one-sided boundary replays only in
windows that avoid it (``replay`` needs a two-sided book at every boundary).
``recording.jsonl.gz``, imported on its local clock (``mmgym-import ccxt --clock local``),
replays the same way to the same fills: its books are snapshots of the engine's book at the
times it changed.
"""  # noqa: E501

from __future__ import annotations

import asyncio
import json
import math
import signal
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmgym.accounting import INFO_KEYS
from mmgym.core import MarketMakingCore
from mmgym.data.schema import ASK, BID, DELTA, METADATA_KEYS, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, OutputError, check_output, write_events
from mmgym.live.clock import Clock, WallClock
from mmgym.live.jsonl import JsonLinesRecording
from mmgym.live.market import LIVE_MARKET, LiveMarket, LiveParams
from mmgym.live.source import (
    EVENT_DTYPE,
    INFORMATIVE,
    EventSource,
    as_events,
    events_table,
    is_batch,
)
from mmgym.policies.base import Policy
from mmgym.policies.rule_based import PriceShock
from mmgym.validation import ConfigError, check_number

STATUSES = ("quoting", "resync", "stale", "one_sided", "shock")
"""The engine's statuses at a boundary (module doc): ``quoting``, or why the quotes are
withdrawn."""
OUTPUT_FILES = ("recording.parquet", "steps.parquet", "summary.json", "recording.jsonl.gz")
"""The files a run writes into its output directory."""

@dataclass(frozen=True)
class KillSwitch:
    """Risk limits applied to every policy's quotes.

    | name | meaning | unit | default | allowed |
    |---|---|---|---|---|
    | ``shock_bps`` | a mid range beyond this within ``shock_window_seconds`` pauses quoting; None: never | bps of the mid | 20 | (0, inf) |
    | ``shock_window_seconds`` | the window of boundaries watched (the current one included) | s | 5 | [2·dt, inf) |
    | ``pause_seconds`` | the pause: no quotes at the boundaries before its end | s | 30 | [0, inf) |
    | ``max_inventory`` | position limit (the side whose fill would pass it is withdrawn); None: the market's | size | None | [quote_size, inf) |

    The shock test is the ``rule_based`` policy's (:class:`~mmgym.policies.rule_based.
    PriceShock`), on the mid at each boundary with a synchronized two-sided book (a move
    across a disconnection counts). A pause begins at the boundary whose window holds the
    move and lasts ``pause_seconds``; the window then starts afresh from the mid where
    quoting resumes.
    """  # noqa: E501

    shock_bps: float | None = 20.0
    shock_window_seconds: float = 5.0
    pause_seconds: float = 30.0
    max_inventory: float | None = None

    def __post_init__(self) -> None:
        if self.shock_bps is not None:
            check_number("kill_switch.shock_bps", self.shock_bps, low=0, low_open=True)
        check_number("kill_switch.shock_window_seconds", self.shock_window_seconds, low=0,
                     low_open=True)
        check_number("kill_switch.pause_seconds", self.pause_seconds, low=0)
        if self.max_inventory is not None:
            check_number("kill_switch.max_inventory", self.max_inventory, low=0, low_open=True)

    def window_steps(self, dt: float) -> int:
        """The boundaries of the shock window at steps of ``dt`` s.

        Raises:
            ConfigError: when the window holds fewer than two boundaries.
        """
        steps = math.floor(self.shock_window_seconds / dt + 1e-9)
        if steps < 2:
            raise ConfigError(f"kill_switch.shock_window_seconds={self.shock_window_seconds!r}:"
                              f" shorter than two steps of dt={dt!r} s; allowed [{2 * dt:g}, "
                              "inf)")
        return steps


@dataclass
class StepReport:
    """What happened at one boundary: the step that ended there and the quotes set for the
    next.

    Attributes:
        step: the boundary's index ``k`` (``t_k = t_0 + k·dt``; 0: the start).
        ts_ns: ``t_k``, ns since the epoch.
        played: whether the step ending at ``t_k`` was played (False at the start and for a
            step with a one-sided book).
        bid_offset, ask_offset: the actions the step was played with (ticks from the mid at
            its start; ``inf``: withdrawn by the engine); NaN at the start.
        bid_price, ask_price: the quotes in force during the step (NaN: none).
        bid_fill, ask_fill: the sizes filled in the step.
        mid, best_bid, best_ask: the book at ``t_k`` (price units; NaN: empty side).
        inventory, cash, pnl, pnl_spread, pnl_inventory, fees: the accounts at ``t_k``
            (:data:`~mmgym.accounting.INFO_KEYS`; PnL since ``t_0``).
        reward: the step's reward (0 when not played).
        status: the status at ``t_k`` (:data:`STATUSES`), which sets the next quotes.
        next_bid_offset, next_ask_offset: the actions for the next step (``inf``: withdrawn).
        features: the observation at ``t_k`` by feature name.
        notices: the notices received since the previous boundary, ``(kind, detail)``.
    """

    step: int
    ts_ns: int
    played: bool
    bid_offset: float
    ask_offset: float
    bid_price: float
    ask_price: float
    bid_fill: float
    ask_fill: float
    mid: float
    best_bid: float
    best_ask: float
    inventory: float
    cash: float
    pnl: float
    pnl_spread: float
    pnl_inventory: float
    fees: float
    reward: float
    status: str
    next_bid_offset: float
    next_ask_offset: float
    features: dict[str, float]
    notices: list[tuple[str, str]] = field(default_factory=list)


NUMBERS = ("bid_offset", "ask_offset", "bid_price", "ask_price", "bid_fill", "ask_fill", "mid",
           "best_bid", "best_ask", "inventory", "cash", "pnl", "pnl_spread", "pnl_inventory",
           "fees", "reward", "next_bid_offset", "next_ask_offset")
"""The float fields of a :class:`StepReport`, in the order of ``steps.parquet``'s columns."""


class StepLog:
    """The reports of a run, held as arrays (``8·(20 + features)`` bytes a step, and the
    notices' text), as the rows of ``steps.parquet``: :class:`StepReport`'s fields, the
    features as ``feature.<name>``, the notices as one string.

    Args:
        capacity: the most reports (the run's steps + 1).
        feature_names: the observation's features, in order.
    """

    def __init__(self, capacity: int, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.ts_ns = np.zeros(capacity, dtype=np.int64)
        self.played = np.zeros(capacity, dtype=bool)
        self.status = np.zeros(capacity, dtype=np.int8)
        self.values = np.zeros((capacity, len(NUMBERS) + len(self.feature_names)))
        self.notices: dict[int, str] = {}
        self.n = 0

    def add(self, r: StepReport) -> None:
        i = self.n
        self.steps[i], self.ts_ns[i], self.played[i] = r.step, r.ts_ns, r.played
        self.status[i] = STATUSES.index(r.status)
        self.values[i, :len(NUMBERS)] = [getattr(r, name) for name in NUMBERS]
        self.values[i, len(NUMBERS):] = list(r.features.values())
        if r.notices:
            self.notices[i] = "; ".join(k + (f" ({d})" if d else "") for k, d in r.notices)
        self.n += 1

    def table(self) -> pd.DataFrame:
        """The reports so far, one row each."""
        n = self.n
        columns = {"step": self.steps[:n], "ts_ns": self.ts_ns[:n], "played": self.played[:n],
                   "status": np.array(STATUSES)[self.status[:n]]}
        names = [*NUMBERS, *(f"feature.{f}" for f in self.feature_names)]
        columns |= {name: self.values[:n, j] for j, name in enumerate(names)}
        columns["notices"] = [self.notices.get(i, "") for i in range(n)]
        return pd.DataFrame(columns)


@dataclass
class PaperSummary:
    """The run's totals.

    Attributes:
        ended_by: ``duration``, ``stop`` (Ctrl-C, SIGTERM, :meth:`PaperEngine.stop`), ``end
            of stream`` or ``error: ...``.
        start_ns, end_ns: ``t_0`` and the last boundary passed (ns since the epoch; None
            before the first snapshot).
        steps_played, steps_skipped: steps played, and not played (one-sided book).
        status_steps: boundaries by status (:data:`STATUSES`).
        bid_fills, ask_fills: steps with a fill on each side; bid_volume, ask_volume: the
            sizes filled (size units).
        inventory, cash, pnl, pnl_spread, pnl_inventory, fees: the final accounts.
        notices: notices by kind.
        rows_recorded: events in the recording; late_rows: events applied after the
            boundary of their time; dropped_rows: events before the first snapshot;
            crossed: book messages that crossed the book (stale levels repaired).
        output: the output directory (None: nothing written).
    """

    ended_by: str = ""
    start_ns: int | None = None
    end_ns: int | None = None
    steps_played: int = 0
    steps_skipped: int = 0
    status_steps: dict[str, int] = field(default_factory=dict)
    bid_fills: int = 0
    ask_fills: int = 0
    bid_volume: float = 0.0
    ask_volume: float = 0.0
    inventory: float = 0.0
    cash: float = 0.0
    pnl: float = 0.0
    pnl_spread: float = 0.0
    pnl_inventory: float = 0.0
    fees: float = 0.0
    notices: dict[str, int] = field(default_factory=dict)
    rows_recorded: int = 0
    late_rows: int = 0
    dropped_rows: int = 0
    crossed: int = 0
    output: str | None = None

    def __str__(self) -> str:
        seconds = 0.0 if self.start_ns is None else (self.end_ns - self.start_ns) / 1e9
        status = ", ".join(f"{k} {v}" for k, v in self.status_steps.items() if v)
        notices = ", ".join(f"{k} {v}" for k, v in self.notices.items()) or "none"
        lines = [
            f"paper trading ended ({self.ended_by}) after {seconds:.1f} s: "
            f"{self.steps_played} steps played, {self.steps_skipped} skipped",
            f"  boundaries by status: {status or 'none'}",
            f"  fills: {self.bid_fills} bid ({self.bid_volume:g}), {self.ask_fills} ask "
            f"({self.ask_volume:g}); inventory {self.inventory:g}",
            f"  PnL {self.pnl:.6g} = spread {self.pnl_spread:.6g} + inventory "
            f"{self.pnl_inventory:.6g} - fees {self.fees:.6g}",
            f"  stream: {self.rows_recorded} events recorded, {self.late_rows} late, "
            f"{self.dropped_rows} before the first snapshot, {self.crossed} crossed; "
            f"notices: {notices}",
        ]
        if self.output is not None:
            lines.append(f"  written to {self.output}: {', '.join(OUTPUT_FILES)}")
        return "\n".join(lines)


class PaperEngine:
    """Paper-trade one symbol's stream; see the module doc.

    Args:
        source: the stream (:class:`~mmgym.live.source.EventSource`).
        policy: ``policy(obs, info) -> actions`` (offsets in ticks, ``(1, 2)``; a baseline
            of :mod:`mmgym.policies`, or a trained agent's); a ``reset(mask)`` is called at
            ``t_0``.
        observation: the observation it reads (``features``, ``feature_params``: keyword
            arguments of the environment); default the market's.
        market: the ``live`` market's parameters (:class:`~mmgym.live.market.LiveParams`;
            ``tick`` and ``lot`` default to the stream's metadata, ``episode_seconds`` is
            ``duration_seconds``).
        env: the environment's other keyword arguments (``max_inventory``, fees, reward;
            :data:`mmgym.core.COMMON_PARAMS`).
        duration_seconds: the run's length after ``t_0`` (a whole number of steps).
        stale_after_seconds: silence of the book after which quotes are withdrawn (0: never).
        kill_switch: the risk limits.
        clock: the clock (default the wall clock).
        observers: called with each :class:`StepReport` (a terminal view, a TensorBoard
            writer).
        output: the directory of the outputs (None: none written); files already there are
            refused at once (:class:`~mmgym.data.store.OutputError`).

    Raises:
        ConfigError: on a bad value, naming it (the market's at the first snapshot).
    """

    def __init__(
        self,
        source: EventSource,
        policy: Policy,
        *,
        observation: Mapping[str, Any] | None = None,
        market: Mapping[str, Any] | None = None,
        env: Mapping[str, Any] | None = None,
        duration_seconds: float = 3600.0,
        stale_after_seconds: float = 10.0,
        kill_switch: KillSwitch | None = None,
        clock: Clock | None = None,
        observers: Sequence[Callable[[StepReport], None]] = (),
        output: str | Path | None = None,
    ) -> None:
        self.source = source
        self.policy = policy
        self._observation = dict(observation or {})
        self._market_params = dict(market or {})
        self._env = dict(env or {})
        self.duration_seconds = check_number("duration_seconds", duration_seconds, low=0,
                                             low_open=True)
        self.stale_after_seconds = check_number("stale_after_seconds", stale_after_seconds,
                                                low=0)
        self.kill_switch = kill_switch or KillSwitch()
        if self.kill_switch.max_inventory is not None:
            self._env["max_inventory"] = self.kill_switch.max_inventory
        dt = check_number("market.dt", self._market_params.get("dt", 0.1), low=0, high=60,
                          low_open=True)
        self._shock = (None if self.kill_switch.shock_bps is None else
                       PriceShock(self.kill_switch.shock_bps, self.kill_switch.window_steps(dt),
                                  n=1))
        self.clock = clock or WallClock()
        self.observers = list(observers)
        self.output = None if output is None else Path(output)
        if self.output is not None:
            for name in OUTPUT_FILES:
                check_output(self.output / name, hint="choose another output directory")
        self.core: MarketMakingCore | None = None
        self._built: MarketMakingCore | None = None  # the core, until its book opens
        self.market: LiveMarket | None = None
        self.metadata: dict[str, str] = {}
        self.log: StepLog | None = None  # the reports, from the first snapshot on
        self.summary = PaperSummary(status_steps=dict.fromkeys(STATUSES, 0),
                                    output=None if self.output is None else str(self.output))
        self._recorded: list[np.ndarray] = []  # rows applied, in order
        self._lines: JsonLinesRecording | None = None  # recording.jsonl.gz, from t_0 on
        self._pending: list[np.ndarray] = []  # rows received, not yet applied
        self._pending_first = 0  # the global index of the first pending row
        self._received = 0  # rows received since the first snapshot
        self._last_ts: int | None = None
        self._last_book_ns: int | None = None  # clock time of the last book row received
        self._resync_mark: int | None = None  # rows received when the book was put in doubt
        self._paused_until: int | None = None
        self._notices: list[tuple[str, str]] = []
        self.notice_counts: Counter[str] = Counter()  # notices received, by kind
        self._actions = np.full((1, 2), np.nan)
        self._policy_actions = np.full((1, 2), np.inf)
        self._dt_ns = 0
        self._steps = 0
        self._k = 0
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ the async driver

    async def run(self) -> PaperSummary:
        """Run until ``duration_seconds`` after ``t_0``, :meth:`stop`, the end of the stream
        or an error (raised after the outputs are written); return the summary.

        One loop takes in the stream's items as they come and passes every step boundary
        the clock has reached: those before an item's arrival before it, one at the time of
        its arrival after it. Before it starts, :meth:`warm_up` compiles the steps' code."""
        try:
            self.warm_up()
            await self._drive()
        except BaseException as e:
            if not self.summary.ended_by:
                self.summary.ended_by = f"error: {type(e).__name__}: {e}"
            raise
        finally:
            close = getattr(self.source, "aclose", None)
            try:
                if close is not None:
                    await close()
            finally:
                self.finish()
        return self.summary

    def stop(self) -> None:
        """End the run at once (Ctrl-C, SIGTERM): the step under way is not played; the
        outputs are written."""
        if not self.summary.ended_by:
            self.summary.ended_by = "stop"
        self._stopping.set()

    async def _drive(self) -> None:
        items = aiter(self.source)
        stopping = asyncio.ensure_future(self._stopping.wait())
        item: asyncio.Future[Any] | None = None
        sleeper: asyncio.Future[None] | None = None
        waiting_for: int | None = None
        try:
            while not self._stopping.is_set():
                if item is None:
                    item = asyncio.ensure_future(anext(items))
                boundary = self._next_boundary()
                if boundary != waiting_for and sleeper is not None:
                    sleeper.cancel()
                    sleeper = None
                if boundary is not None and sleeper is None:
                    sleeper = asyncio.ensure_future(self.clock.sleep_until(boundary))
                    waiting_for = boundary
                await asyncio.wait({f for f in (item, sleeper, stopping) if f is not None},
                                   return_when=asyncio.FIRST_COMPLETED)
                if self._stopping.is_set():
                    return
                if sleeper is not None and sleeper.done():
                    sleeper = None
                now = self.clock.now_ns()
                if item.done():
                    try:
                        received = item.result()
                    except StopAsyncIteration:
                        self._pass(now)
                        self._ended("end of stream")
                        return
                    item = None
                    self._pass(now - 1)  # the boundaries the clock passed before it came
                    self.feed(received)
                self._pass(now)
                if self.market is not None and self._k >= self._steps:
                    self._ended("duration")
                    return
        finally:
            pending = [f for f in (item, sleeper, stopping) if f is not None]
            for f in pending:
                f.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def warm_up(self) -> None:
        """Compile the market's and the core's loops (numba; seconds when the cache is cold)
        by playing one step on a stand-in book, before the stream is opened: compiled at the
        first snapshot or the first boundary, they would block the event loop while the
        stream's messages queue up unread, so that the boundaries pass late and all at once
        and the stream may take itself for stale. The stand-in has the run's parameters but
        for the tick and lot the stream has not given yet (the compiled code does not depend
        on them); it is then dropped. A bad value is left for the market's build at the
        first snapshot to report, with the stream's tick and lot.
        """
        params = dict(self._market_params)
        quote_size = params.get("quote_size", LiveParams.quote_size)
        params["tick"] = tick = params.get("tick") or 1.0
        params["lot"] = params.get("lot") or quote_size
        params["episode_seconds"] = self.duration_seconds
        try:
            core = MarketMakingCore(LIVE_MARKET, 1, **(self._env | params | self._observation))
        except ConfigError:
            return
        market = core.market
        dt_ns = round(market.dt * 1e9)
        rows = np.zeros(4, dtype=EVENT_DTYPE)
        rows["kind"] = [SNAPSHOT, SNAPSHOT, TRADE, DELTA]
        rows["side"] = [BID, ASK, SELL, BID]
        rows["price"] = np.array([100.0, 101.0, 100.0, 100.0]) * tick
        rows["size"] = [4 * quote_size, 4 * quote_size, quote_size, 3 * quote_size]
        rows["update_id"] = NO_ID
        rows["ts_ns"] = [0, 0, dt_ns // 2, dt_ns // 2]
        market.open(rows[:2], 0)
        core.reset(seeds=[0])
        market.advance(rows[2:], dt_ns)
        core.step(np.ones((1, 2)))
        core.info_table()

    def _ended(self, why: str) -> None:
        if not self.summary.ended_by:
            self.summary.ended_by = why

    def _next_boundary(self) -> int | None:
        """The next step boundary (ns since the epoch), or None (not started, or done)."""
        if self.market is None or self._k >= self._steps:
            return None
        return self.market.boundary_ns + self._dt_ns

    def _pass(self, now_ns: int) -> None:
        """Pass every boundary up to ``now_ns``."""
        while (boundary := self._next_boundary()) is not None and boundary <= now_ns:
            self.boundary(boundary)

    # ------------------------------------------------------------------ the steps

    def feed(self, item: Any) -> None:
        """Take in one item of the stream: a notice at once, an event batch into the
        rows to apply at the next boundary (module doc, "Time").

        Raises:
            DataError: on a batch that breaks the event format (naming the row).
        """
        if not is_batch(item):
            self._notice(item)
            return
        rows = as_events(item)
        if self.market is None:
            snapshots = np.flatnonzero(rows["kind"] == SNAPSHOT)
            skip = int(snapshots[0]) if len(snapshots) else len(rows)
            self.summary.dropped_rows += skip
            rows = rows[skip:]
        if len(rows) == 0:
            return
        ts = rows["ts_ns"].copy()
        floor = ts[0] if self._last_ts is None else self._last_ts
        if self.market is not None:
            floor = max(floor, self.market.boundary_ns + 1)
            self.summary.late_rows += int((ts < floor).sum())
        rows["ts_ns"] = np.maximum.accumulate(np.maximum(ts, floor))
        self._last_ts = int(rows["ts_ns"][-1])
        if (rows["kind"] != TRADE).any():
            self._last_book_ns = self.clock.now_ns()
        self._pending.append(rows)
        self._received += len(rows)
        if self.market is None:
            self._open(int(rows["ts_ns"][0]))

    def _notice(self, notice: Any) -> None:
        kind = str(getattr(notice, "kind", notice))
        self.notice_counts[kind] += 1
        detail = getattr(notice, "detail", None) or getattr(notice, "reason", "")
        self._notices.append((kind, str(detail)))
        if kind not in INFORMATIVE:
            self._resync_mark = self._received

    def _take(self, until_ns: int) -> np.ndarray:
        """The pending rows with ``ts_ns <= until_ns`` (a prefix: they are in order), now
        applied; marks the book synchronized when a snapshot received after the last doubt
        is among them."""
        rows = (np.concatenate(self._pending) if len(self._pending) > 1 else
                self._pending[0] if self._pending else np.empty(0, dtype=EVENT_DTYPE))
        n = int(np.searchsorted(rows["ts_ns"], until_ns, side="right"))
        taken = rows[:n]
        if self._resync_mark is not None:
            fresh = taken["kind"][max(0, self._resync_mark - self._pending_first):]
            if (fresh == SNAPSHOT).any():
                self._resync_mark = None
        self._pending = [rows[n:]] if n < len(rows) else []
        self._pending_first += n
        if n:
            self._recorded.append(taken)
        return taken

    def _open(self, t0_ns: int) -> None:
        """Build the market, the core and the policy at the first snapshot ``t0_ns``."""
        meta = {k: str(v) for k, v in dict(getattr(self.source, "metadata", {})).items()
                if k in METADATA_KEYS}
        params = dict(self._market_params)
        for name, key in (("tick", "mmgym.tick_size"), ("lot", "mmgym.lot_size")):
            if params.get(name) is None and key in meta:
                params[name] = float(meta[key])
        if params.get("shown_levels") is None and "mmgym.levels" in meta:
            params["shown_levels"] = int(meta["mmgym.levels"])
        params["episode_seconds"] = self.duration_seconds
        if self._built is None:
            self._built = MarketMakingCore(LIVE_MARKET, 1,
                                           **(self._env | params | self._observation))
        core = self._built
        market = core.market
        events = self._take(t0_ns)
        if not market.open(events, t0_ns):  # no mid yet: wait for a two-sided snapshot
            self.summary.dropped_rows += self._received
            self._recorded.clear()
            self._pending.clear()
            self._pending_first = self._received = 0
            self._last_ts = None
            return
        self.core, self.market = core, market
        self.metadata = meta | {"mmgym.tick_size": repr(market.p.tick),
                                "mmgym.lot_size": repr(market.p.lot)}
        if market.p.shown_levels is not None:
            self.metadata["mmgym.levels"] = str(market.p.shown_levels)
        if self.output is not None:
            self._lines = JsonLinesRecording(self.output / OUTPUT_FILES[3], self.metadata,
                                             market.p.tick, market.p.lot,
                                             market.p.shown_levels, t0_ns)
            self._lines.write(events)
        self._dt_ns = round(market.dt * 1e9)
        self._steps = market.horizon_steps
        self.log = StepLog(self._steps + 1, core.feature_names)
        self.summary.start_ns = self.summary.end_ns = t0_ns
        core.reset(seeds=[0])
        if hasattr(self.policy, "reset"):
            self.policy.reset(np.ones(1, dtype=bool))
        self._resync_mark = None
        self._report(0, t0_ns, played=False, reward=0.0)

    def boundary(self, t_ns: int) -> StepReport:
        """Pass the next step boundary ``t_ns``: apply the events up to it, play the step
        (unless its book is one-sided), set the next quotes; return the report."""
        core, market = self.core, self.market
        if core is None or t_ns != market.boundary_ns + self._dt_ns:
            raise ValueError(f"boundary {t_ns}: expected the next one after the first snapshot")
        events = self._take(t_ns)
        if self._lines is not None:
            self._lines.write(events)
        played = market.advance(events, t_ns)
        reward = 0.0
        if played:
            reward = float(core.step(self._actions)[0])
            self.summary.steps_played += 1
        else:
            market.skip()
            self.summary.steps_skipped += 1
        self._k += 1
        self.summary.end_ns = t_ns
        return self._report(self._k, t_ns, played, reward)

    def _status(self, t_ns: int) -> str:
        """The status at boundary ``t_ns`` (module doc); updates the kill switch."""
        if self._resync_mark is not None:
            return "resync"
        stale_ns = self.stale_after_seconds * 1e9
        if stale_ns and t_ns - self._last_book_ns > stale_ns:
            return "stale"
        if not self.market.two_sided:
            return "one_sided"
        if self._shock is None:
            return "quoting"
        if self._paused_until is not None:
            if t_ns < self._paused_until:
                return "shock"
            self._paused_until = None
            self._shock.reset(np.ones(1, dtype=bool))
        mid = self.market.boundary_book[0]
        if self._shock(np.array([mid]))[0]:
            self._paused_until = t_ns + round(self.kill_switch.pause_seconds * 1e9)
            return "shock"
        return "quoting"

    def _report(self, k: int, t_ns: int, played: bool, reward: float) -> StepReport:
        """Set the next step's actions at boundary ``k`` and report."""
        core = self.core
        info = dict(zip(INFO_KEYS, core.info_table(), strict=True))
        if played or k == 0:
            self._policy_actions = np.asarray(self.policy(core.obs, info), dtype=np.float64)
        status = self._status(t_ns)
        self.summary.status_steps[status] += 1
        actions = self._actions
        self._actions = (self._policy_actions.copy() if status == "quoting" else
                         np.full((1, 2), np.inf))
        row = {key: float(v[0]) for key, v in info.items()}
        mid, best_bid, best_ask = self.market.boundary_book
        report = StepReport(
            step=k, ts_ns=t_ns, played=played,
            bid_offset=float(actions[0, 0]), ask_offset=float(actions[0, 1]),
            bid_price=row["bid_price"] if played else math.nan,
            ask_price=row["ask_price"] if played else math.nan,
            bid_fill=row["bid_fill"] if played else 0.0,
            ask_fill=row["ask_fill"] if played else 0.0,
            mid=mid, best_bid=best_bid, best_ask=best_ask,
            inventory=row["inventory"], cash=row["cash"], pnl=row["pnl"],
            pnl_spread=row["pnl_spread"], pnl_inventory=row["pnl_inventory"],
            fees=row["fees"], reward=reward, status=status,
            next_bid_offset=float(self._actions[0, 0]),
            next_ask_offset=float(self._actions[0, 1]),
            features=dict(zip(core.feature_names, core.obs[0].tolist(), strict=True)),
            notices=self._notices,
        )
        self._notices = []
        s = self.summary
        s.bid_fills += report.bid_fill > 0
        s.ask_fills += report.ask_fill > 0
        s.bid_volume += report.bid_fill
        s.ask_volume += report.ask_fill
        for name in ("inventory", "cash", "pnl", "pnl_spread", "pnl_inventory", "fees"):
            setattr(s, name, getattr(report, name))
        self.log.add(report)
        for observe in self.observers:
            observe(report)
        return report

    # ------------------------------------------------------------------ outputs

    def recording(self) -> pd.DataFrame:
        """The events applied or received so far, from the first snapshot on, at the times
        the engine applied them (module doc)."""
        frames = [*self._recorded, *self._pending] if self.market is not None else []
        return events_table(np.concatenate(frames) if frames else
                            np.empty(0, dtype=EVENT_DTYPE))

    def steps_table(self) -> pd.DataFrame:
        """The reports so far, one row each (``steps.parquet``)."""
        return self.log.table() if self.log is not None else pd.DataFrame()

    def finish(self) -> None:
        """Complete the summary and write the outputs (when an output directory is set)."""
        s = self.summary
        s.notices = dict(self.notice_counts)
        s.crossed = 0 if self.market is None else self.market.crossed
        events = self.recording()
        s.rows_recorded = len(events)
        if self.output is None:
            return
        self.output.mkdir(parents=True, exist_ok=True)
        if len(events):
            try:
                write_events(events, self.output / OUTPUT_FILES[0], self.metadata, force=True)
            except (DataError, OutputError) as e:
                s.ended_by += f"; recording not written: {e}"
        if self._lines is not None:
            lines, self._lines = self._lines, None
            try:
                for rows in self._pending:  # received, not yet applied
                    lines.write(rows)
                lines.close()
            except OutputError as e:
                s.ended_by += f"; {OUTPUT_FILES[3]} incomplete: {e}"
        if self.log is not None and self.log.n:
            self.steps_table().to_parquet(self.output / OUTPUT_FILES[1], index=False)
        (self.output / OUTPUT_FILES[2]).write_text(json.dumps(asdict(s), indent=2) + "\n")


def run_until_stopped(engine: PaperEngine,
                      signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM)
                      ) -> PaperSummary:
    """Run ``engine`` in a new event loop to its end; each of ``signals`` (Ctrl-C's SIGINT and
    SIGTERM) stops it cleanly (:meth:`PaperEngine.stop`: the outputs written, the summary
    returned). The process's handlers of those signals are restored afterwards."""

    async def main() -> PaperSummary:
        loop = asyncio.get_running_loop()
        previous = {s: signal.getsignal(s) for s in signals}
        for s in signals:
            loop.add_signal_handler(s, engine.stop)
        try:
            return await engine.run()
        finally:
            for s, handler in previous.items():
                loop.remove_signal_handler(s)
                signal.signal(s, handler)

    return asyncio.run(main())
