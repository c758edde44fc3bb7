"""Importer of LOBSTER order-book files (NASDAQ equities, https://lobsterdata.com) into the
event format.

**Input.** LOBSTER's pair of CSV files for one ticker and day ("LOBSTER_SampleFiles_ReadMe"):

* ``TICKER_YYYY-MM-DD_StartMs_EndMs_message_L.csv``: one message per line, six columns:
  Time (seconds after midnight, exchange local time, decimals down to the nanosecond),
  Type (1 new limit order, 2 partial cancellation, 3 deletion, 4 execution of a visible
  order, 5 execution of a hidden order, 6 cross trade, 7 trading halt), Order ID, Size
  (shares), Price (dollars × 10,000), Direction (1 buy limit order, −1 sell limit order; the
  execution of a sell order is a buyer-initiated trade);
* ``TICKER_YYYY-MM-DD_StartMs_EndMs_orderbook_L.csv``: the book after each message, line by
  line with the message file, ``L`` levels of Ask Price, Ask Size, Bid Price, Bid Size
  (prices × 10,000). A level is an *occupied* price: neighbouring levels need not be a tick
  apart. Levels beyond the book are padded with price 9999999999 (ask) or −9999999999 (bid)
  and size 0.

Official files have no header line and CRLF line endings; a header line (any first line that
does not start with a number) and LF endings are accepted too, and gzip-compressed files (by
their first bytes). The orderbook file is found beside the message file by LOBSTER's naming
(``_message_`` → ``_orderbook_``) unless given. The day and ticker come from the message
file's name, or ``date``/``symbol``; the times are converted from the exchange's time zone
(``timezone``, default ``America/New_York``, NASDAQ's) to ns since the Unix epoch (UTC).

**Output rows** (:mod:`mmgym.data.schema`), at each message's time:

* the book: the orderbook file's first row as ``SNAPSHOT`` rows; then, after every message
  whose orderbook row differs from the previous one, ``DELTA`` rows that turn the previous
  top-``L`` book into the new one (a level that left the shown ``L`` levels gets size 0, a
  new or resized level its size). So the rebuilt book is exactly the orderbook file's top
  ``L`` levels after every message; depth beyond level ``L`` is unknown (the metadata's
  ``mmgym.levels`` says ``L``, and the ``replay`` market treats depth past the ``L``-th level
  as unknown). ``update_id`` is the message's index in the file (0-based, header excluded),
  so the book after message ``m`` is the book after the last book message with
  ``update_id <= m``.
* trades: one ``TRADE`` row per execution (types 4 and 5), before the message's book rows,
  ``side`` the aggressor, the opposite of the executed order's direction, size and price as
  executed, ``update_id`` ``NO_ID``. A hidden execution (5) changes no visible level.
* submissions, cancellations and deletions (1-3) produce only their book rows; cross trades
  (6, auction crosses, which have no aggressor) are not trades of the format: counted under
  ``skipped["cross_trade"]``.

**Trading halts** (type 7; price −1 halt, 0 quoting resumes, 1 trading resumes): from a halt
to the message that resumes trading the book is shown empty (every level removed at the halt
message; no trade and no quote can fill, so no ``replay`` episode spans a halt, and no mid is
calibrated inside it), and the resuming message restores the orderbook file's book. An
execution inside a halt is skipped and counted (``trade_in_halt``).

**Bad data** (the policy of :mod:`mmgym.data.report`; ``strict=True`` fails at the first
problem naming the file and line, otherwise each is counted by reason with file:line
examples):

* ``corrupt`` message line: not six numbers, an unknown type, a size <= 0, a price <= 0 or a
  direction other than ±1 (types 1-6), a halt with another price than −1, 0, 1. Skipped, and
  its orderbook row with it (its time is not known).
* ``out_of_order``: a message before the previous kept one. Skipped with its orderbook row.
* ``corrupt`` orderbook line: not ``4L`` numbers, a negative size, a price <= 0 that is not
  the padding, padding before a real level, levels not strictly ordered (asks increasing,
  bids decreasing). ``crossed``: best bid >= best ask. The row is skipped; the message's
  trade is kept, and the book catches up at the next good row.
* files of different line counts, or an orderbook file whose column count is not a multiple
  of 4 (or contradicts the ``_L`` of the name), are errors (the pairing is lost).

**Units.** Prices in dollars, sizes in shares. The tick and lot sizes are given or inferred
from the data (:func:`~mmgym.data.importing.grid_units`; the AMZN sample gives 0.01 USD and
1 share), the tick from the book's prices only: executions of hidden midpoint orders print
at half a cent (32 of the sample's 1,008 hidden executions), between the ticks.

Speed: both files are parsed by pandas' C reader in one call each and every step after it is
vectorised (the diff of consecutive orderbook rows compares all level pairs at once), so a
malformed file is parsed again line by line only to name its bad lines.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mmgym.data.importing import grid_units, read_bytes
from mmgym.data.report import ImportReport
from mmgym.data.schema import ASK, BID, COLUMNS, DELTA, NO_ID, SNAPSHOT, TRADE
from mmgym.data.store import DataError

NAME = re.compile(r"^(?P<ticker>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                  r"message_(?P<levels>\d+)\.csv(\.gz)?$")
"""LOBSTER's message file name: ticker, day, start and end (ms after midnight), levels."""
PRICE_SCALE = 10_000
"""LOBSTER prices are dollars times this."""
PADDING = 9_999_999_999
"""The price of an empty level (+ on the ask side, − on the bid side)."""
SUBMIT, CANCEL, DELETE, EXECUTE, HIDDEN, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7
"""Message types."""
TYPE_NAMES = {SUBMIT: "submission", CANCEL: "cancellation", DELETE: "deletion",
              EXECUTE: "execution", HIDDEN: "hidden_execution", CROSS: "cross_trade",
              HALT: "halt"}
"""Message types by name (the report's counts)."""
MESSAGE_COLUMNS = 6


def orderbook_path(message: Path) -> Path:
    """The orderbook file LOBSTER ships beside ``message`` (``_message_`` → ``_orderbook_``)."""
    name = message.name
    if "_message_" not in name:
        raise DataError(f"{message}: not a LOBSTER message file name (…_message_L.csv); "
                        "give the orderbook file")
    return message.with_name(name.replace("_message_", "_orderbook_"))


def _has_header(data: bytes) -> bool:
    """Whether the first line is a header: its first field is not a number."""
    first = data.split(b"\n", 1)[0].split(b",", 1)[0].strip().lstrip(b"\xef\xbb\xbf")
    try:
        float(first)
    except ValueError:
        return bool(first) or data.split(b"\n", 1)[0].strip() != b""
    return False


def read_numeric(path: Path, columns: int | None) -> tuple[np.ndarray, int]:
    """A LOBSTER file as a float array, one row per data line (header excluded), and the
    number of header lines (0 or 1).

    ``columns``: the expected number of fields, or None to take the first data line's. A
    line that is not that many numbers is a row of NaN (the rows stay paired with the other
    file's lines); a trailing empty line is not a row.
    """
    data = read_bytes(path)
    header = int(_has_header(data))
    if columns is None:
        lines = data.split(b"\n", header + 1)
        columns = len(lines[header].split(b",")) if len(lines) > header else 0
        if columns == 0:
            raise DataError(f"{path}: no data lines")
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, skiprows=header, dtype=np.float64,
                            engine="c", skip_blank_lines=False, names=range(columns))
        values = frame.to_numpy()
    except (ValueError, pd.errors.ParserError):
        values = _read_slowly(data, header, columns)
    return values, header


def _read_slowly(data: bytes, header: int, columns: int) -> np.ndarray:
    """:func:`read_numeric`'s rows line by line: NaN rows for lines that are not numbers."""
    lines = data.split(b"\n")[header:]
    if lines and not lines[-1].strip():
        lines.pop()
    values = np.full((len(lines), columns), np.nan)
    for i, line in enumerate(lines):
        fields = line.strip().split(b",")
        if len(fields) != columns:
            continue
        try:
            values[i] = [float(f) for f in fields]
        except ValueError:
            continue
    return values


class _Problems:
    """Bad rows found by vectorised checks, reported in line order (strict: the first)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str, str, Path]] = []  # line, order, reason, what, file

    def add(self, bad: np.ndarray, lines: np.ndarray, reason: str, detail: str,
            path: Path) -> None:
        for i in np.flatnonzero(bad):
            self.rows.append((int(lines[i]), len(self.rows), reason, detail, path))

    def report(self, report: ImportReport) -> None:
        for line, _, reason, detail, path in sorted(self.rows):
            report.bad(line, reason, detail, path=path)


def _check_messages(msg: np.ndarray, lines: np.ndarray, problems: _Problems,
                    path: Path) -> np.ndarray:
    """Rows of valid messages (every field consistent with its type)."""
    t, kind, order_id, size, price, direction = msg.T
    finite = np.isfinite(msg).all(axis=1)
    problems.add(~finite, lines, "corrupt", f"not {MESSAGE_COLUMNS} numbers", path)
    with np.errstate(invalid="ignore"):
        known = np.isin(kind, list(TYPE_NAMES))
        order = (kind >= SUBMIT) & (kind <= CROSS)
        checks = [
            (~known, "unknown message type (LOBSTER's are 1-7)"),
            ((t < 0) | (t > 86_400 * 2), "time is not seconds after midnight"),
            (order & ~((size > 0) & (size == np.round(size))), "size is not a whole number > 0"),
            (order & ~(price > 0), "price is not > 0"),
            (order & (np.abs(direction) != 1), "direction is not 1 or -1"),
            (order & (order_id < 0), "order id < 0"),
            ((kind == HALT) & ~np.isin(price, [-1, 0, 1]), "halt price is not -1, 0 or 1"),
        ]
    ok = finite
    for bad, what in checks:
        bad = bad & ok
        problems.add(bad, lines, "corrupt", what, path)
        ok = ok & ~bad
    return ok


def _check_book(ob: np.ndarray, lines: np.ndarray, problems: _Problems, path: Path,
                levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of valid orderbook lines and the book of each row: ``(ok, price, size)`` with
    ``price``/``size`` of shape ``(rows, 2, L)`` (side 0 bids, 1 asks; NaN price and size 0
    for an empty level), dollars and shares."""
    n = len(ob)
    book = ob.reshape(n, levels, 4)
    price = np.stack([book[:, :, 2], book[:, :, 0]], axis=1)  # (n, 2, L): bids, asks
    size = np.stack([book[:, :, 3], book[:, :, 1]], axis=1)
    finite = np.isfinite(ob).all(axis=1)
    problems.add(~finite, lines, "corrupt", f"not {4 * levels} numbers", path)
    pad = np.abs(price) == PADDING
    empty_ok = pad & (size == 0)
    with np.errstate(invalid="ignore"):
        real = ~pad & (price > 0) & (size >= 0)
        sign = np.array([-1.0, 1.0])[None, :, None]
        y = np.where(real, price * sign, np.inf)  # increasing away from the touch
        ordered = (np.diff(y, axis=2) > 0) | ~real[:, :, 1:]
        padded_in_order = ~(pad[:, :, :-1] & real[:, :, 1:])
        crossed = real[:, 0, 0] & real[:, 1, 0] & (price[:, 0, 0] >= price[:, 1, 0])
    checks = [
        ("corrupt", ~(real | empty_ok).all(axis=(1, 2)),
         "a level is not a price > 0 with a size >= 0, nor the padding ±9999999999 with size 0"),
        ("corrupt", ~padded_in_order.all(axis=(1, 2)), "a padded level before a real one"),
        ("corrupt", ~ordered.all(axis=(1, 2)), "levels not ordered away from the touch"),
        ("crossed", crossed, "best bid >= best ask"),
    ]
    ok = finite
    for reason, bad, what in checks:
        bad = bad & ok
        problems.add(bad, lines, reason, what, path)
        ok = ok & ~bad
    price = np.where(real, price / PRICE_SCALE, np.nan)
    size = np.where(real, size, 0.0)
    return ok, price, size


def _halted(kind: np.ndarray, price: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Whether each message falls inside a halt: from a halt message (price −1) to the
    message resuming trading (price 1), excluded."""
    n = len(kind)
    halt = ok & (kind == HALT)
    last = np.where(halt, np.arange(n), -1)
    last = np.maximum.accumulate(last) if n else last
    state = np.where(last >= 0, price[np.maximum(last, 0)], 1.0)
    return state < 1


def _book_rows(price: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows turning each book state into the next: ``(state, side, price, size,
    is_removal, level)`` for consecutive states of ``price``/``size`` (``(k, 2, L)``), the
    first state against an empty book."""
    prev_price = np.concatenate([np.full((1, *price.shape[1:]), np.nan), price[:-1]])
    prev_size = np.concatenate([np.zeros((1, *size.shape[1:])), size[:-1]])
    changed = ((price != prev_price) & ~(np.isnan(price) & np.isnan(prev_price))
               | (size != prev_size)).any(axis=(1, 2))
    rows = np.flatnonzero(changed)
    p, q, pp, pq = price[rows], size[rows], prev_price[rows], prev_size[rows]
    eq = p[:, :, :, None] == pp[:, :, None, :]  # (k, 2, L new, L previous)
    matched = np.where(eq, pq[:, :, None, :], 0.0).sum(axis=3)
    was = eq.any(axis=3)
    new_level = ~np.isnan(p) & (~was | (q != matched))
    gone = ~np.isnan(pp) & ~eq.any(axis=2)
    out = []
    for mask, prices, sizes, removal in ((gone, pp, np.zeros_like(pq), True),
                                         (new_level, p, q, False)):
        k, s, j = np.nonzero(mask)
        out.append((rows[k], s, prices[k, s, j], sizes[k, s, j], np.full(len(k), removal), j))
    return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))


def read_lobster(
    path: str | Path,
    strict: bool = False,
    tick_size: float | None = None,
    lot_size: float | None = None,
    second: str | Path | None = None,
    date: str | None = None,
    symbol: str | None = None,
    timezone: str = "America/New_York",
) -> tuple[pd.DataFrame, ImportReport]:
    """Read a LOBSTER message file and its orderbook file (see the module doc).

    Args:
        path: the message file.
        strict: fail at the first problem instead of skipping and counting.
        tick_size: the tick (dollars); None: inferred (:func:`~mmgym.data.importing.grid_units`).
        lot_size: the lot (shares); None: inferred.
        second: the orderbook file; None: beside ``path`` by LOBSTER's naming.
        date: the trading day ``YYYY-MM-DD``; None: from the file name.
        symbol: the ticker; None: from the file name.
        timezone: the exchange's time zone of the times (an IANA name).

    Returns:
        The event table and the report of what was read and skipped.
    """
    path = Path(path)
    book_path = Path(second) if second is not None else orderbook_path(path)
    named = NAME.match(path.name)
    if (date is None or symbol is None) and named is None:
        raise DataError(f"{path}: the name is not LOBSTER's TICKER_YYYY-MM-DD_start_end_"
                        "message_L.csv; give the date and symbol (--date, --symbol)")
    date = date or named["date"]
    symbol = symbol or named["ticker"]
    try:
        midnight = pd.Timestamp(date).tz_localize(timezone)
    except (ValueError, TypeError, KeyError) as e:
        raise DataError(f"date {date!r} in time zone {timezone!r}: {e}") from None
    if midnight != midnight.normalize():
        raise DataError(f"date {date!r}: expected a day, YYYY-MM-DD")

    report = ImportReport(path=path, strict=strict)
    msg, msg_header = read_numeric(path, MESSAGE_COLUMNS)
    ob, ob_header = read_numeric(book_path, None)
    if ob.shape[1] % 4:
        raise DataError(f"{book_path}: {ob.shape[1]} columns, expected 4 per level (ask price, "
                        "ask size, bid price, bid size)")
    levels = ob.shape[1] // 4
    if named is not None and int(named["levels"]) != levels and second is None:
        raise DataError(f"{book_path}: {levels} levels, but {path.name} says "
                        f"{named['levels']}")
    if len(msg) != len(ob):
        raise DataError(f"{path} has {len(msg)} messages but {book_path} {len(ob)} book rows: "
                        "they must pair line by line")
    n = len(msg)
    report.lines = n + msg_header
    msg_lines = np.arange(n) + 1 + msg_header
    ob_lines = np.arange(n) + 1 + ob_header
    problems = _Problems()
    msg_ok = _check_messages(msg, msg_lines, problems, path)
    t, kind, _, size, price, direction = msg.T
    # out of order: before the latest time of the valid messages above it
    with np.errstate(invalid="ignore"):
        running = np.maximum.accumulate(np.where(msg_ok, t, -np.inf)) if n else t
        late = msg_ok & (t < np.r_[-np.inf, running[:-1]])
    problems.add(late, msg_lines, "out_of_order", "time before the previous message's", path)
    msg_ok &= ~late
    book_ok, book_price, book_size = _check_book(ob, ob_lines, problems, book_path, levels)
    halted = _halted(kind, price, msg_ok)
    trade = msg_ok & np.isin(kind, [EXECUTE, HIDDEN])
    in_halt = trade & halted
    problems.add(in_halt, msg_lines, "trade_in_halt", "an execution during a trading halt",
                 path)
    cross = msg_ok & (kind == CROSS)
    problems.rows += [(int(msg_lines[i]), -1, "cross_trade", "a cross trade has no aggressor",
                       path) for i in np.flatnonzero(cross)]
    problems.report(report)
    trade &= ~halted

    # the book states: each kept message's orderbook row, empty inside a halt
    state = msg_ok & (book_ok | halted)
    book_price = np.where(halted[:, None, None], np.nan, book_price)
    book_size = np.where(halted[:, None, None], 0.0, book_size)
    kept = np.flatnonzero(state)
    state_row, side, level_price, level_size, removal, level = _book_rows(
        book_price[kept], book_size[kept])
    message = kept[state_row]
    kinds = np.where(message == (kept[0] if len(kept) else -1), SNAPSHOT, DELTA)
    # trades: the aggressor is the opposite of the executed order's direction
    tr = np.flatnonzero(trade)
    none = np.zeros(len(tr), dtype=np.int64)
    # per message: its trade, then the levels removed, then those new or resized (bids, then
    # asks, each from the touch)
    rank = np.lexsort((np.concatenate([none, level]), np.concatenate([none, side]),
                       np.concatenate([none, np.where(removal, 1, 2)]),
                       np.concatenate([tr, message])))
    rows_msg = np.concatenate([tr, message])[rank]
    events = pd.DataFrame({
        "ts_ns": midnight.value + np.rint(t[rows_msg] * 1e9).astype(np.int64),
        "kind": np.concatenate([np.full(len(tr), TRADE), kinds])[rank].astype(np.int8),
        "side": np.concatenate([-direction[tr], np.where(side == 0, BID, ASK)])[rank].astype(
            np.int8),
        "price": np.concatenate([price[tr] / PRICE_SCALE, level_price])[rank],
        "size": np.concatenate([size[tr], level_size])[rank],
        "update_id": np.concatenate([np.full(len(tr), NO_ID), message])[rank].astype(np.int64),
    })[list(COLUMNS)]
    counts = np.bincount(kind[msg_ok].astype(np.int64), minlength=HALT + 1)
    report.messages.update({name: int(counts[k]) for k, name in TYPE_NAMES.items() if counts[k]})
    updated = np.zeros(n, dtype=bool)
    updated[message] = True
    report.messages["book_update"] = int(updated.sum())
    report.events = len(events)
    report.metadata.update({"mmgym.source": "lobster", "mmgym.symbol": symbol,
                            "mmgym.levels": str(levels)})
    grid_units(events, msg_lines[rows_msg], report, tick_size, lot_size,
               tick_rows=events["kind"].to_numpy() != TRADE)
    return events, report
