"""Importer of Tardis.dev downloadable CSV files (``incremental_book_L2``, ``trades``) into the
event format.

**Input.** One ``incremental_book_L2`` file and, optionally, the ``trades`` file of the same
exchange and symbol, each gzip-compressed (``.csv.gz``, as Tardis ships them) or plain (told
by the first bytes), comma-separated, LF line ends, with Tardis's header line::

    exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
    exchange,symbol,timestamp,local_timestamp,id,side,price,amount

``timestamp`` is the exchange's time and ``local_timestamp`` the message's arrival time at
Tardis's collector, both integers, µs since the epoch (UTC). Book rows: ``is_snapshot``
``true`` or ``false``, ``side`` ``bid`` or ``ask``, ``price`` (quote currency), ``amount``
the level's new total size (0 removes it; not a delta). Trades: ``side`` the liquidity
taker's (the aggressor), ``buy``, ``sell`` or ``unknown``; ``price``; ``amount`` the traded
size. A file holds one exchange and one symbol.

**Clock.** ``ts_ns`` is ``local_timestamp`` × 1000: the local receive time, as in
:mod:`mmgym.data.binance`, so the stream is in arrival order and book and trades merge on one
clock. The exchange ``timestamp`` is checked to be an integer, not used.

**Output rows** (:mod:`mmgym.data.schema`), ``update_id`` ``NO_ID`` throughout (the CSV files
carry no sequence numbers):

* a run of ``is_snapshot=true`` rows (at the start, or after ``false`` rows) is one book image
  that replaces the book: ``SNAPSHOT`` rows, all at the run's first time (one snapshot, one
  ``ts_ns``); zero amounts are kept (the level is absent either way);
* ``false`` rows: ``DELTA`` rows; the rows of one exchange message share ``local_timestamp``,
  so they form one message of the table;
* ``false`` rows before the file's first snapshot are updates buffered before the exchange
  sent it (Tardis documents them: the snapshot holds them): dropped, counted under
  ``messages["delta_before_snapshot"]``;
* trades: one ``TRADE`` row each, ``buy`` a ``BUY``, ``sell`` a ``SELL``. An ``unknown`` side
  has no code in the format: the trade is dropped and counted under
  ``skipped["unknown_side"]`` (not a bad row: ``strict`` does not fail on it);
* the two files merged in time order, stable, book rows first at equal times.

``messages`` counts the snapshots, the delta messages and the trades imported;
``report.lines`` the lines of both files, headers included.

**Bad data.** With ``strict=True`` the first problem raises
:class:`~mmgym.data.store.DataError` naming the file and line (1-based, the header is line 1),
and nothing is written. Otherwise each problem is counted in the
:class:`~mmgym.data.report.ImportReport` by reason, the first few with their ``file:line``:

* ``corrupt``: not 8 fields, a timestamp that is not an integer (or a ``local_timestamp``
  out of the ns range), a price or amount that is not a number, an ``is_snapshot`` other than
  ``true``/``false``, a side other than the file's values, a price that is not finite and
  > 0, an amount that is not finite and >= 0 (trades: > 0). The row is skipped.
* ``out_of_order``: a ``local_timestamp`` before the latest kept row's of the same file.
  The row is skipped.
* ``crossed``: after a message the best bid is at or above the best ask; the stale levels are
  removed (:func:`mmgym.data.importing.repair_crossed`), counted under ``repaired``.
* a header other than Tardis's, a row of another exchange or symbol than the book file's first
  row, in either file, is always an error (one import, one book).

Blank lines are ignored.

**Units.** The files carry no tick or lot size: give the symbol's (``tick_size``,
``lot_size``; ``mmgym-import tardis --tick --lot``) or they are inferred from the data and
checked against every price and size (:func:`~mmgym.data.importing.grid_units`). Amounts are
taken as Tardis gives them, the exchange's own size unit: base units for spot and linear
contracts, contracts for inverse ones (BitMEX ``XBTUSD``: USD), not converted.

**Not read.** The other Tardis data types (``book_snapshot_*``, ``quotes``, ``book_ticker``,
``derivative_ticker``: funding, open interest, index and mark prices, ``liquidations``,
``options_chain``), the trade ``id``, and files of several symbols (Tardis's grouped
``FUTURES``/``OPTIONS`` files): import one symbol's files.

**Speed.** A file is parsed by ``pyarrow.csv`` in one pass into typed columns (the string
columns dictionary-encoded) and checked with numpy. When that reader refuses the file (a
malformed row), the lines with a wrong field count are found in Python and the rest is
parsed again by the same reader in halves, down to the single lines it refuses, which are
named; the rows it accepts are checked as on the fast path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from mmgym.data.importing import grid_units, read_bytes, repair_crossed
from mmgym.data.report import ImportReport
from mmgym.data.schema import ASK, BID, BUY, COLUMNS, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError

BOOK_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side",
                "price", "amount")
"""The columns of an ``incremental_book_L2`` file, in order (its header)."""
TRADE_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price",
                 "amount")
"""The columns of a ``trades`` file, in order (its header)."""
MAX_US = np.iinfo(np.int64).max // 1000
"""The latest ``local_timestamp`` (µs) whose ns fit ``ts_ns``."""

_LABEL = pa.dictionary(pa.int32(), pa.string())
_TYPES = {"exchange": _LABEL, "symbol": _LABEL, "timestamp": pa.int64(),
          "local_timestamp": pa.int64(), "is_snapshot": _LABEL, "side": _LABEL,
          "price": pa.float64(), "amount": pa.float64()}
_TRUE, _FALSE = "true", "false"


def _parse(body: pa.Buffer, columns: tuple[str, ...]) -> pa.Table:
    """The rows of ``body`` (CSV lines without the header) as typed columns (``id`` not read);
    ``pa.ArrowInvalid`` when a row is malformed."""
    read = [c for c in columns if c in _TYPES]
    if body.size == 0:
        return pa.table({c: pa.array([], _TYPES[c]) for c in read})
    return pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(column_names=list(columns)),
        parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: _TYPES[c] for c in read}, include_columns=read, null_values=[],
            strings_can_be_null=False),
    )


def _why(error: pa.ArrowInvalid, columns: tuple[str, ...]) -> str:
    """The reader's message for one refused line, its column named."""
    text = re.sub(r"Row #\d+: ", "", str(error))
    return re.sub(r"In CSV column #(\d+)", lambda m: f"column {columns[int(m[1])]!r}", text)


def _halves(lines: list[bytes], rows: list[int], columns: tuple[str, ...],
            parts: list[tuple[list[int], pa.Table]], problems: list[tuple[int, str, str]]) -> None:
    """Parse ``lines[k]`` for ``k`` in ``rows`` (lines of 8 fields, so a run the reader
    accepts has a row per line: a carriage return inside a line would leave a row short, which
    it refuses): the runs it accepts go to ``parts`` (their rows, their table), each single
    line it refuses to ``problems``."""
    try:
        parts.append((rows, _parse(pa.py_buffer(b"\n".join(lines[k] for k in rows)), columns)))
        return
    except pa.ArrowInvalid as e:
        why = _why(e, columns)
    if len(rows) == 1:
        problems.append((rows[0] + 2, "corrupt", why))
        return
    mid = len(rows) // 2
    _halves(lines, rows[:mid], columns, parts, problems)
    _halves(lines, rows[mid:], columns, parts, problems)


def _labels(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A dictionary-encoded column as a code per row into the array of its distinct strings."""
    index: dict[str, int] = {}
    codes = []
    for chunk in column.chunks:
        lut = np.array([index.setdefault(v, len(index)) for v in chunk.dictionary.to_pylist()],
                       dtype=np.int64)
        codes.append(lut[chunk.indices.to_numpy(zero_copy_only=False)])
    return (np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64),
            np.array(list(index), dtype=object))


class _File:
    """One Tardis CSV file: the rows that parsed, as columns, their raw lines, which rows pass
    the checks so far (:attr:`ok`) and the problems found, ``(line, reason, detail)``.

    Args:
        path: the file.
        columns: its documented columns (:data:`BOOK_COLUMNS` or :data:`TRADE_COLUMNS`).
    """

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        data = read_bytes(path)
        end = data.find(b"\n")
        header = (data if end < 0 else data[:end]).rstrip(b"\r")
        if header != ",".join(columns).encode():
            raise DataError(f"{path}:1: the header {header[:120]!r} is not Tardis's "
                            f"{','.join(columns)!r}")
        self.lines = data.count(b"\n") + (not data.endswith(b"\n"))
        body = pa.py_buffer(data).slice(len(data) if end < 0 else end + 1)
        self.problems: list[tuple[int, str, str]] = []
        try:
            table = _parse(body, columns)
        except pa.ArrowInvalid:
            table = None
        if table is not None and table.num_rows == self.lines - 1:
            self.line = np.arange(2, self.lines + 1)
        else:
            table = self._slow(body.to_pybytes(), columns)
        self.exchange, self.exchanges = _labels(table["exchange"])
        self.symbol, self.symbols = _labels(table["symbol"])
        self.side, self.sides = _labels(table["side"])
        self.table = table
        self.us = table["local_timestamp"].to_numpy()
        self.price = table["price"].to_numpy()
        self.amount = table["amount"].to_numpy()
        self.ok = np.ones(len(self.line), dtype=bool)
        self.fatal: tuple[int, str] | None = None

    def _slow(self, body: bytes, columns: tuple[str, ...]) -> pa.Table:
        """The rows of a body the reader refused in one piece, and the problems of the lines
        it refuses alone (sets :attr:`line`)."""
        lines = body.split(b"\n")
        rows = []
        for k, text in enumerate(lines):
            if not text.strip():
                continue
            fields = text.count(b",") + 1
            if fields != len(columns):
                self.problems.append((k + 2, "corrupt", f"{fields} fields, expected "
                                      f"{len(columns)}"))
            else:
                rows.append(k)
        parts: list[tuple[list[int], pa.Table]] = []
        if rows:
            _halves(lines, rows, columns, parts, self.problems)
        self.line = np.array([k + 2 for part, _ in parts for k in part], dtype=np.int64)
        if not parts:
            return _parse(pa.py_buffer(b""), columns)
        return pa.concat_tables([t for _, t in parts])

    def identity(self, expected: tuple[str, str] | None, what: str) -> tuple[str, str] | None:
        """The file's exchange and symbol: ``expected``, or the first row's when None (None
        without rows). The first row of another is the file's fatal problem (``what`` says
        why it must not)."""
        if expected is None:
            if not len(self.line):
                return None
            expected = self.exchanges[self.exchange[0]], self.symbols[self.symbol[0]]
        other = ((self.exchanges != expected[0])[self.exchange]
                 | (self.symbols != expected[1])[self.symbol])
        if other.any():
            r = int(np.argmax(other))
            line = int(self.line[r])
            self.fatal = (line, f"{self.path}:{line}: exchange "
                          f"{self.exchanges[self.exchange[r]]!r} symbol "
                          f"{self.symbols[self.symbol[r]]!r}, not {expected[0]!r} "
                          f"{expected[1]!r}: {what}")
        return expected

    def flag(self, bad: np.ndarray, reason: str, detail: Callable[[int], str]) -> None:
        """Rows where ``bad`` (and not flagged yet) fail: ``detail(row)`` says why."""
        rows = np.flatnonzero(bad & self.ok)
        self.ok[rows] = False
        self.problems += [(int(self.line[r]), reason, detail(r)) for r in rows]

    def check_values(self, sides: tuple[str, ...], trades: bool) -> None:
        """Flag a side not in ``sides``, a price that is not finite and > 0, an amount not
        finite and >= 0 (``trades``: > 0) and a ``local_timestamp`` out of range."""
        self.flag(~np.isin(self.sides, sides)[self.side], "corrupt",
                  lambda r: f"side {self.sides[self.side[r]]!r}, expected one of {sides}")
        self.flag(~(np.isfinite(self.price) & (self.price > 0)), "corrupt",
                  lambda r: f"price {float(self.price[r])!r} is not a finite number > 0")
        a = self.amount
        self.flag(~(np.isfinite(a) & ((a > 0) if trades else (a >= 0))), "corrupt",
                  lambda r: f"amount {float(a[r])!r} is not a finite number "
                  f"{'> 0' if trades else '>= 0'}")
        self.flag((self.us < 0) | (self.us > MAX_US), "corrupt",
                  lambda r: f"local_timestamp {int(self.us[r])} µs is out of range")

    def check_order(self) -> None:
        """Flag a row whose ``local_timestamp`` is before a kept row's (so before the latest
        kept one's: a flagged row does not move it)."""
        rows = np.flatnonzero(self.ok)
        us = self.us[rows]
        latest = np.maximum.accumulate(us)
        late = np.flatnonzero(us[1:] < latest[:-1]) + 1
        self.ok[rows[late]] = False
        self.problems += [(int(self.line[rows[i]]), "out_of_order",
                           f"local_timestamp {int(us[i])} µs is before the latest kept "
                           f"row's {int(latest[i - 1])} µs") for i in late]

    def report_to(self, report: ImportReport) -> None:
        """Pass the problems to ``report`` in line order (strict: it raises at the first);
        the fatal problem raises where it is."""
        stop = self.fatal[0] if self.fatal else None
        for line, reason, detail in sorted(self.problems):
            if stop is not None and line >= stop:
                break
            report.bad(line, reason, detail, path=self.path)
        if self.fatal:
            raise DataError(self.fatal[1])


def _book(book: _File, report: ImportReport) -> dict[str, np.ndarray]:
    """The book file's rows of the event table (with ``line``, each row's raw line)."""
    flags, values = _labels(book.table["is_snapshot"])
    book.flag(~np.isin(values, (_TRUE, _FALSE))[flags], "corrupt",
              lambda r: f"is_snapshot {values[flags[r]]!r}, expected 'true' or 'false'")
    book.check_values(("bid", "ask"), trades=False)
    book.check_order()
    book.report_to(report)
    rows = np.flatnonzero(book.ok)
    snap = (values == _TRUE)[flags[rows]]
    first = int(np.argmax(snap)) if snap.any() else len(rows)
    if first:
        report.messages["delta_before_snapshot"] += first
    rows, snap = rows[first:], snap[first:]
    us = book.us[rows]
    start = snap & ~np.r_[False, snap[:-1]]
    run_start = np.maximum.accumulate(np.where(start, np.arange(len(rows)), 0))
    us = np.where(snap, us[run_start], us)
    new_delta = ~snap & np.r_[True, (us[1:] != us[:-1]) | snap[:-1]]
    report.messages.update({"snapshot": int(start.sum()), "delta": int(new_delta.sum())})
    return {"ts_ns": us * 1000, "kind": np.where(snap, SNAPSHOT, DELTA),
            "side": np.where((book.sides == "bid")[book.side[rows]], BID, ASK),
            "price": book.price[rows], "size": book.amount[rows], "line": book.line[rows]}


def _trades(trades: _File, report: ImportReport) -> dict[str, np.ndarray]:
    """The trades file's rows of the event table (with ``line``)."""
    trades.check_values(("buy", "sell", "unknown"), trades=True)
    trades.check_order()
    trades.report_to(report)
    unknown = (trades.sides == "unknown")[trades.side]
    if (trades.ok & unknown).any():
        report.skipped["unknown_side"] += int((trades.ok & unknown).sum())
    rows = np.flatnonzero(trades.ok & ~unknown)
    report.messages["trade"] = len(rows)
    return {"ts_ns": trades.us[rows] * 1000, "kind": np.full(len(rows), TRADE),
            "side": np.where((trades.sides == "buy")[trades.side[rows]], BUY, SELL),
            "price": trades.price[rows], "size": trades.amount[rows],
            "line": trades.line[rows]}


def _merge(book: dict[str, np.ndarray], trades: dict[str, np.ndarray]) -> pd.DataFrame:
    """The two parts in time order, stable, book rows first at equal times; the event
    table's columns and ``line``."""
    b, t = book["ts_ns"], trades["ts_ns"]
    at_b = np.searchsorted(t, b, side="left") + np.arange(len(b))
    at_t = np.searchsorted(b, t, side="right") + np.arange(len(t))
    out = {}
    for name, dtype in {**COLUMNS, "line": np.dtype(np.int64)}.items():
        if name == "update_id":
            out[name] = np.full(len(b) + len(t), NO_ID, dtype=dtype)
            continue
        column = np.empty(len(b) + len(t), dtype=dtype)
        column[at_b], column[at_t] = book[name], trades[name]
        out[name] = column
    return pd.DataFrame(out)


def read_tardis(book_path: str | Path, strict: bool = False, tick_size: float | None = None,
                lot_size: float | None = None, second: str | Path | None = None
                ) -> tuple[pd.DataFrame, ImportReport]:
    """Read a Tardis ``incremental_book_L2`` CSV file and, optionally, its ``trades`` file
    (see the module doc).

    Args:
        book_path: the ``incremental_book_L2`` file (``.csv`` or ``.csv.gz``).
        strict: fail at the first problem instead of skipping and counting.
        tick_size: the symbol's price step (quote currency); None: inferred from the data
            (:func:`~mmgym.data.importing.grid_units`).
        lot_size: the symbol's size step (the amounts' unit); None: inferred likewise.
        second: the ``trades`` file of the same exchange and symbol, or None.

    Returns:
        The event table (ns clock: ``local_timestamp`` × 1000) and the report of what was
        read and skipped; metadata source ``tardis-<exchange>`` and the symbol.
    """
    report = ImportReport(path=Path(book_path), strict=strict)
    book = _File(report.path, BOOK_COLUMNS)
    identity = book.identity(None, "one file, one exchange and symbol")
    book_rows = _book(book, report)
    if identity is None:
        raise DataError(f"{report.path}: no rows to import")
    report.lines = book.lines
    trade_rows = {name: a[:0] for name, a in book_rows.items()}
    if second is not None:
        trades = _File(Path(second), TRADE_COLUMNS)
        trades.identity(identity, f"the trades must be of the book's ({report.path})")
        trade_rows = _trades(trades, report)
        report.lines += trades.lines
        if (tick_size is not None or lot_size is not None) and len(trade_rows["price"]):
            # the given sizes checked on the trades alone, so that an off-grid trade is
            # named in its own file (the check of the whole table names the book file)
            part = pd.DataFrame({"price": trade_rows["price"], "size": trade_rows["size"]})
            grid_units(part, trade_rows["line"], ImportReport(path=trades.path),
                       tick_size, lot_size)
    table = _merge(book_rows, trade_rows)
    row_line = table.pop("line").to_numpy()
    grid_units(table, row_line, report, tick_size, lot_size)
    events = repair_crossed(table, row_line, report)
    report.events = len(events)
    report.metadata.update({"mmgym.source": f"tardis-{identity[0]}",
                            "mmgym.symbol": identity[1]})
    return events, report
