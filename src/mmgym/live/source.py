"""What the paper-trading engine (:mod:`mmgym.live.engine`) consumes: a stream of event
batches and status notices (:class:`EventSource`), and a scripted one (:class:`TableSource`)
that plays an event table on a :class:`~mmgym.live.clock.VirtualClock`.

**The protocol.** An :class:`EventSource` is an async iterator; each item is either

* an *event batch*: rows of the event format (:mod:`mmgym.data.schema`), a
  :class:`pandas.DataFrame` with its columns ``ts_ns, kind, side, price, size, update_id``,
  a numpy structured array with those fields, or an object holding such an array as
  ``rows`` (:class:`mmgym.live.stream.EventBatch`). ``ts_ns`` is best the local receive time on
  the engine's clock (``time.time_ns()`` for the wall clock); the engine never trusts it to
  be in order (see :mod:`mmgym.live.engine`, "Time"). A ``SNAPSHOT`` group (the rows of one
  ``ts_ns``) replaces the book, a ``DELTA`` row sets one level, a ``TRADE`` row is a trade
  with its aggressor side. A snapshot is yielded in one batch.
* a *notice*: any other object, with a string attribute ``kind`` (and optionally ``ts_ns``
  and ``detail`` or ``reason``), such as :class:`Notice` or
  :class:`mmgym.live.stream.Notice`. The kinds of :data:`INFORMATIVE` only inform (they
  are shown and counted); every other kind (:data:`UNSYNCHRONIZING` lists the expected
  ones) says the book may have missed updates: the engine withdraws its quotes until the
  stream's next snapshot. Such a notice must come before the snapshot that resynchronizes
  the book.

and the source has ``metadata``, a mapping of the event file's metadata keys
(:data:`~mmgym.data.schema.METADATA_KEYS`: ``mmgym.source``, ``mmgym.symbol``,
``mmgym.tick_size``, ``mmgym.lot_size``, and ``mmgym.levels`` for a stream that shows only
the best levels), complete when the first snapshot is yielded. An optional ``aclose()``
coroutine is awaited when the engine stops. The iterator ending ends the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mmgym.data.schema import COLUMNS
from mmgym.data.store import DataError, check_event_values
from mmgym.live.clock import VirtualClock

INFORMATIVE = frozenset({"connected", "subscribed", "snapshot", "synced", "heartbeat", "info"})
"""Notice kinds that do not put the book in doubt."""
UNSYNCHRONIZING = frozenset({"disconnected", "reconnecting", "stale", "resync", "gap", "error"})
"""The notice kinds expected to put the book in doubt (any kind not in :data:`INFORMATIVE`
does): quotes are withdrawn until the next snapshot."""


@dataclass(frozen=True)
class Notice:
    """A status notice of a stream.

    Attributes:
        kind: what happened (:data:`INFORMATIVE`, :data:`UNSYNCHRONIZING`).
        ts_ns: when, ns since the epoch (0: unknown).
        detail: a human-readable explanation.
    """

    kind: str
    ts_ns: int = 0
    detail: str = ""


EventBatch = pd.DataFrame | np.ndarray
"""Rows of the event format: a DataFrame or a structured array with its columns (an object
holding such an array as ``rows`` is one too)."""

EVENT_DTYPE = np.dtype(list(COLUMNS.items()))
"""The engine's rows: a structured array with the event format's columns and dtypes."""


@runtime_checkable
class EventSource(Protocol):
    """An async iterator of event batches and notices with the stream's ``metadata`` (module
    doc)."""

    metadata: Mapping[str, str]

    def __aiter__(self) -> AsyncIterator[Any]: ...


def is_batch(item: Any) -> bool:
    """Whether a source's item is an event batch (else it is a notice)."""
    return isinstance(item, pd.DataFrame | np.ndarray) or isinstance(
        getattr(item, "rows", None), np.ndarray)


def as_events(batch: Any, source: str = "event batch") -> np.ndarray:
    """``batch`` as rows of :data:`EVENT_DTYPE` (a copy), checked as
    :func:`mmgym.data.store.check_events` checks a table, but for the order of ``ts_ns``,
    which the engine repairs.

    Raises:
        DataError: naming ``source``, on a missing column, a value of the wrong kind (a
            float time, say) or a row that breaks the format.
    """
    if not isinstance(batch, pd.DataFrame | np.ndarray):
        batch = batch.rows
    names = batch.dtype.names if isinstance(batch, np.ndarray) else tuple(batch.columns)
    missing = [c for c in COLUMNS if c not in (names or ())]
    if missing:
        raise DataError(f"{source}: missing columns {missing}; the format has {list(COLUMNS)}")
    rows = np.empty(len(batch), dtype=EVENT_DTYPE)
    try:
        for c, dtype in COLUMNS.items():
            rows[c] = np.asarray(batch[c]).astype(dtype, casting="same_kind")
    except (TypeError, ValueError) as e:
        raise DataError(f"{source}: column {c!r}: {e}") from None
    check_event_values(rows, source, ordered=False)
    return rows


def events_table(rows: np.ndarray) -> pd.DataFrame:
    """Rows of :data:`EVENT_DTYPE` as an event table."""
    return pd.DataFrame({c: rows[c] for c in COLUMNS})


class TableSource:
    """A scripted stream: the rows of an event table, one batch per distinct ``ts_ns``, and
    notices at their ``ts_ns``, each yielded once ``clock`` has been moved to its time (a
    notice before the rows of its time); at the end the clock is moved to ``end_ns`` and the
    stream ends. The engine passes a step boundary once the clock has reached it, after the
    items of that time: on this stream every event falls in the step of its own time. For
    tests, and to play a recorded event file through the engine as fast as the machine goes.

    Args:
        events: the event table (:mod:`mmgym.data.schema`) in the order it arrives (sorted
            by ``ts_ns``, but for late events).
        metadata: its metadata (tick and lot size, ...).
        clock: the virtual clock the engine runs on.
        notices: notices to interleave, by their ``ts_ns``.
        end_ns: the time the clock reaches before the stream ends (default: the last
            event's or notice's).
    """

    def __init__(self, events: pd.DataFrame, metadata: Mapping[str, str], clock: VirtualClock,
                 notices: Sequence[Notice] = (), end_ns: int | None = None) -> None:
        self.rows = as_events(events, "TableSource")
        self.metadata = dict(metadata)
        self.clock = clock
        self.notices = sorted(notices, key=lambda n: n.ts_ns)
        ts = self.rows["ts_ns"]
        times = ([int(ts[-1])] if len(ts) else []) + [n.ts_ns for n in self.notices]
        self.end_ns = max(times, default=0) if end_ns is None else int(end_ns)

    async def __aiter__(self) -> AsyncIterator[Any]:
        ts = self.rows["ts_ns"]
        starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]]) if len(ts) else np.zeros(0, int)
        stops = np.r_[starts[1:], len(ts)].astype(int)
        pending = list(self.notices)
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            t = int(ts[a])
            while pending and pending[0].ts_ns <= t:
                notice = pending.pop(0)
                self.clock.advance_to(notice.ts_ns)
                yield notice
            self.clock.advance_to(t)
            yield self.rows[a:b]
        for notice in pending:
            self.clock.advance_to(notice.ts_ns)
            yield notice
        self.clock.advance_to(self.end_ns)
