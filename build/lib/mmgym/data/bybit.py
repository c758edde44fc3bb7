"""Importer of Bybit V5 public WebSocket recordings into the event format.

**Input.** A text file, gzip-compressed or not (by its first bytes), one raw WebSocket message
per line, either alone or after the local receive time and a space::

    <local receive time, ns since the epoch> <raw JSON>
    <raw JSON>

(the first form is the Binance sample's, :mod:`mmgym.data.binance`). The first message line
fixes the clock of the file: with the prefix the rows are at the local receive time (ns),
without it at the message's ``ts`` (ms, the time Bybit's service generated the message)
× 10⁶; a line of the other form is ``corrupt``. The messages (Bybit V5 API, "WebSocket
Stream / Public / Orderbook" and "Trade"):

* ``{"topic": "orderbook.{depth}.{symbol}", "type": "snapshot" | "delta", "ts": ms,
  "data": {"s": symbol, "b": [[price, size], ...], "a": [...], "u": update id, "seq": ...},
  "cts": ms}``: prices and sizes are strings; in a delta a size of ``"0"`` deletes the level.
  Bybit sends a snapshot on subscribing, then deltas whose ``u`` goes up by one per message;
  a new snapshot, or a message with ``u == 1`` (the service restarted), replaces the book.
* ``{"topic": "publicTrade.{symbol}", "type": "snapshot", "ts": ms, "data": [{"T": ms,
  "s": symbol, "S": "Buy" | "Sell", "v": size, "p": price, "i": trade id, ...}, ...]}``:
  ``S`` is the taker's side, ``v`` and ``p`` strings.
* messages without a topic (``op`` replies to subscribe and ping) are passed over.

**Output rows** (:mod:`mmgym.data.schema`), all rows of a line at the line's time:

* a snapshot, or a delta with ``u == 1``: ``SNAPSHOT`` rows, bids then asks
  (``update_id`` = ``u``), which replace the book;
* any other delta: one ``DELTA`` row per level of ``b`` and ``a`` (``update_id`` = ``u``);
* a trade message: one ``TRADE`` row per trade, ``side`` ``BUY`` for ``"Buy"`` and ``SELL``
  for ``"Sell"``, ``update_id`` ``NO_ID``.

``report.messages`` counts ``snapshot`` (including deltas with ``u == 1``), ``delta`` and
``trade`` (trades, not trade messages).

**Bad data** (the policy of :mod:`mmgym.data.report`; ``strict=True`` fails at the first
problem naming the file and line, otherwise each problem is counted by reason):

* ``corrupt``: not JSON, a missing or malformed field, an unknown topic, a price <= 0 or a
  negative size, a trade size <= 0 or side other than Buy/Sell, a line of the other clock
  form. The line is skipped.
* ``out_of_order``: the line's time is before the previous kept line's. Skipped.
* ``gap``: a delta whose ``u`` is not the previous ``u`` + 1 (since the last snapshot), or a
  delta before any snapshot. When ``u`` is ahead (messages were lost) the delta is applied:
  the levels the lost messages changed stay stale until touched again, and a stale level that
  the book crosses is removed (next). When ``u`` is at or before the previous one (a repeat
  or an older message) it is skipped: applying it would undo newer levels.
* ``crossed``: after a message the best bid is at or above the best ask; the stale levels of
  the side the message did not update are removed (:func:`mmgym.data.importing.repair_crossed`),
  counted under ``repaired``.
* ``empty_snapshot``: a snapshot without levels (Bybit sends one when a symbol is delisted or
  before an auction) has no rows in the event format, which cannot express an empty book;
  it is skipped, and the gap check restarts from its ``u``.
* a message for another symbol than the file's first, or for a second book topic (two
  depths), is always an error (one file, one book).

The messages carry no tick or lot size: give the symbol's (``tick_size``, ``lot_size``;
``mmgym-import bybit --tick --lot``) or they are inferred from the data and checked against
every price and size (:func:`~mmgym.data.importing.grid_units`); the ``replay`` market and
``mmgym-calibrate`` read them from the metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mmgym.data.importing import (
    LineImporter,
    as_levels,
    check_levels,
    ints,
    read_lines,
)
from mmgym.data.report import ImportReport
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError

SOURCE = "bybit-v5"
"""``mmgym.source`` of the output."""
_TAKER = {"Buy": BUY, "Sell": SELL}
_BOOK_TOPIC, _TRADE_TOPIC = "orderbook.", "publicTrade."


class _Importer(LineImporter):
    """One pass over the lines: checks each message in full, then adds its rows."""

    def __init__(self, path: Path, strict: bool, tick: float | None, lot: float | None) -> None:
        super().__init__(path, strict, tick, lot)
        self.book_topic: str | None = None
        self.local_clock: bool | None = None  # fixed by the first message line
        self.last_u: int | None = None  # u of the book state; None before any snapshot

    def run(self, lines: list[bytes]) -> pd.DataFrame:
        read_lines(lines, self.report, self.parse, self.read)
        return self.finish()

    def parse(self, line: bytes) -> tuple[int, dict[str, Any]] | None:
        """The line's time (ns) and message; None for a message without a topic."""
        line = line.strip()
        local = not line.startswith(b"{")
        head, payload = line.split(b" ", 1) if local and b" " in line else (b"", line)
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError as e:
            raise ValueError(f"not JSON or '<ns> <JSON>' ({e})") from None
        if not isinstance(msg, dict):
            raise ValueError("not a JSON object")
        if "topic" not in msg and "op" in msg:
            return None
        (exchange_ms,) = ints(msg, "ts")
        try:
            ts = int(head) if local else exchange_ms * 1_000_000
        except ValueError:
            raise ValueError(f"the prefix {head[:40]!r} is not a time in ns") from None
        if self.local_clock is None:
            self.local_clock = local
        elif local != self.local_clock:
            raise ValueError("a line without the ns prefix in a file whose lines have one"
                             if self.local_clock else
                             "an ns prefix in a file whose lines have none")
        return ts, msg

    def read(self, no: int, ts: int, msg: dict[str, Any]) -> None:
        topic = msg.get("topic")
        if not isinstance(topic, str):
            raise ValueError(f"field 'topic' is {topic!r}, expected a string")
        if topic.startswith(_BOOK_TOPIC):
            self.book(no, ts, topic, msg)
        elif topic.startswith(_TRADE_TOPIC):
            self.trades(no, ts, msg)
        else:
            raise ValueError(f"unknown topic {topic!r}: expected orderbook.{{depth}}.{{symbol}} "
                             "or publicTrade.{symbol}")

    def book(self, no: int, ts: int, topic: str, msg: dict[str, Any]) -> None:
        kind, data = msg.get("type"), msg.get("data")
        if kind not in ("snapshot", "delta"):
            raise ValueError(f"field 'type' is {kind!r}, expected 'snapshot' or 'delta'")
        if not isinstance(data, dict):
            raise ValueError(f"field 'data' is {type(data).__name__}, expected an object")
        (u,) = ints(data, "u")
        bids, asks = as_levels(data.get("b"), "b"), as_levels(data.get("a"), "a")
        check_levels(bids, "b")
        check_levels(asks, "a")
        self.check_symbol(data.get("s"))
        if self.book_topic is None:
            self.book_topic = topic
        elif topic != self.book_topic:
            raise DataError(f"{self.path}:{no}: book topic {topic!r} after "
                            f"{self.book_topic!r}: one file, one book")
        report = self.report
        reset = kind == "snapshot" or u == 1
        if reset:
            self.last_u = u
            if not len(bids) + len(asks):
                report.bad(no, "empty_snapshot", f"a snapshot without levels (u={u})")
                return
        elif self.last_u is None:
            report.bad(no, "gap", f"delta u={u} before any snapshot: applied")
        elif u <= self.last_u:
            report.bad(no, "gap", f"delta u={u} at or before the previous u={self.last_u}: "
                       "skipped")
            return
        elif u != self.last_u + 1:
            report.bad(no, "gap", f"delta u={u} after u={self.last_u}: "
                       f"{u - self.last_u - 1} updates lost; applied")
        self.last_u = u
        side = np.repeat(np.array([BID, ASK], dtype=np.int8), [len(bids), len(asks)])
        levels = np.concatenate([bids, asks])
        self.rows.add(ts, SNAPSHOT if reset else DELTA, side, levels[:, 0], levels[:, 1], u, no)
        report.messages["snapshot" if reset else "delta"] += 1

    def trades(self, no: int, ts: int, msg: dict[str, Any]) -> None:
        data = msg.get("data")
        if not isinstance(data, list):
            raise ValueError(f"field 'data' is {type(data).__name__}, expected a list of trades")
        side, price, size = [], [], []
        for t in data:
            if not isinstance(t, dict):
                raise ValueError(f"a trade is {type(t).__name__}, expected an object")
            ints(t, "T")
            S, v, p, i = t.get("S"), t.get("v"), t.get("p"), t.get("i")
            if S not in _TAKER:
                raise ValueError(f"trade field 'S' is {S!r}, expected 'Buy' or 'Sell'")
            if not (isinstance(v, str) and isinstance(p, str) and isinstance(i, str)):
                raise ValueError(f"trade fields v={v!r}, p={p!r}, i={i!r}: expected strings")
            q, x = float(v), float(p)
            if not (np.isfinite(x) and x > 0 and np.isfinite(q) and q > 0):
                raise ValueError(f"trade price p={p!r} or size v={v!r} is not a positive number")
            self.check_symbol(t.get("s"))
            side.append(_TAKER[S])
            price.append(x)
            size.append(q)
        self.rows.add(ts, TRADE, np.array(side, dtype=np.int8), np.array(price),
                      np.array(size), NO_ID, no)
        self.report.messages["trade"] += len(side)


def read_bybit(path: str | Path, strict: bool = False, tick_size: float | None = None,
               lot_size: float | None = None) -> tuple[pd.DataFrame, ImportReport]:
    """Read a Bybit V5 public WebSocket recording (see the module doc).

    Args:
        path: the recording.
        strict: fail at the first problem instead of skipping and counting.
        tick_size: the symbol's price step (quote currency); None: inferred from the data
            (:func:`~mmgym.data.importing.grid_units`).
        lot_size: the symbol's size step (base units); None: inferred likewise.

    Returns:
        The event table and the report of what was read and skipped.
    """
    return _Importer(Path(path), strict, tick_size, lot_size).import_file(SOURCE)

