"""Importer of Binance spot and USD-M futures combined-stream recordings into the event format.

**Input.** A text file, gzip-compressed or not (by its first bytes), one message per line::

    <local receive time, ns since the epoch> <raw JSON>

the JSON being either a combined-stream envelope ``{"stream": ..., "data": {...}}`` whose
``data`` is a ``depthUpdate`` (``<symbol>@depth...``), ``trade`` or ``bookTicker`` event, or a
REST depth snapshot ``{"lastUpdateId": ..., "bids": ..., "asks": ...}`` (USD-M's also has
``E`` and ``T``; how hftbacktest records them; ``../shared/data/binance-usdm/`` holds a
USD-M sample). One file holds one venue, spot or USD-M futures, told from its messages
(or given: ``venue``, ``mmgym-import binance --venue``):

* a ``depthUpdate`` with ``pu`` (the previous message's final update id) is USD-M, one
  without is spot;
* a ``bookTicker`` whose ``data`` has an event type ``e`` is USD-M, one without is spot (the
  spot ``bookTicker`` has no ``e`` nor ``E``: ``{"u": ..., "s": ..., "b": ..., "B": ...,
  "a": ..., "A": ...}``).

Trades and snapshots read the same on both. The output's ``mmgym.source`` is
``binance-spot`` or ``binance-usdm``.

**Output rows** (:mod:`mmgym.data.schema`), at the line's local time ``ts_ns``:

* ``depthUpdate``: one ``DELTA`` row per level of ``b`` (bids) and ``a`` (asks), its
  ``update_id`` the message's final update id ``u``;
* REST snapshot: ``SNAPSHOT`` rows (``update_id`` = ``lastUpdateId``), then, synchronised
  the way Binance documents for each venue ("How to manage a local order book correctly"),
  the depth updates already received whose ``u`` is after ``lastUpdateId``, re-emitted as
  ``DELTA`` rows at the snapshot's time (their ids unchanged); later depth updates already
  in the snapshot are dropped (counted under ``messages["depth_before_snapshot"]``): USD-M
  those with ``u < lastUpdateId``, spot those with ``u <= lastUpdateId``;
* ``trade``: one ``TRADE`` row, ``side`` the aggressor: ``m`` true (the buyer is the maker)
  is a ``SELL``, false a ``BUY``; ``update_id`` is ``NO_ID``.
* ``bookTicker`` is not an event of the format: the importer passes over it (only its
  timestamp is checked); :func:`read_book_ticker` reads it.

**Bad data.** With ``strict=True`` the first problem raises
:class:`~mmgym.data.store.DataError` naming the file and line, and nothing is written.
Otherwise (the default) each problem is counted in the :class:`~mmgym.data.report.ImportReport`
by reason, the first few with their line:

* ``corrupt``: no ns prefix, not JSON, an unknown message, a missing or malformed field,
  a price <= 0 or a negative size. The line is skipped.
* ``out_of_order``: the line's local time is before the previous kept line's. The line is
  skipped.
* ``gap``: messages were lost: a depth update that does not follow the previous one (USD-M:
  its ``pu`` is not the previous ``u``; spot: its ``U`` is not the previous ``u`` + 1), a
  first update after a snapshot that starts after it (USD-M: ``U > lastUpdateId``; spot:
  ``U > lastUpdateId + 1``), or a snapshot older than the buffered updates (the same rule
  on the oldest buffered update after it). Counted; the update is applied: the
  levels the lost messages changed stay stale until touched again (as at the start of a
  recording without a snapshot), and a stale level that the book crosses is removed (next).
* ``crossed``: after a message the best bid is at or above the best ask. The stale levels of
  the side the message did not update are removed by ``DELTA`` rows of size 0 added right
  after the message (rule of :func:`mmgym.data.book.rebuild_book`); counted under
  ``repaired``, so the output never holds a crossed book.
* a message for another symbol than the file's first is always an error (one file, one
  book), and so is a message of the other venue than the file's first (or than the one
  given), naming its line and the one that fixed the venue (one file, one venue); a file
  with no ``depthUpdate`` or ``bookTicker`` to tell its venue from needs it given.

**Units.** The streams carry no tick or lot size: give the symbol's exchange filters
(``tick_size``, ``lot_size``; ``mmgym-import binance --tick --lot``) or they are inferred from
the data and checked against every price and size (:func:`~mmgym.data.importing.grid_units`;
the sample gives 0.1 USDT and 0.001 BTC, BTCUSDT's filters); the ``replay`` market and
``mmgym-calibrate`` read them from the metadata.

Speed: depth updates carry long level arrays, and building a Python object per price string
dominated the run time, so the level arrays are cut out of the line and parsed straight into
numpy (``np.fromstring``), the rest of the message by ``orjson`` (a fast, well-kept JSON
library, 3-4x ``json.loads`` on these lines), for both venues' lines. A line that the fast
path cannot read in full is parsed again with ``orjson`` alone to name its problem. The
``bookTicker`` lines are not parsed: their venue is read from the raw text (a key ``"e"``).
"""

from __future__ import annotations

import io
from collections import deque
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
    open_lines,
    read_lines,
)
from mmgym.data.report import ImportReport
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, check_output, write_events

_SIDE = {True: np.array([SELL], dtype=np.int8), False: np.array([BUY], dtype=np.int8)}
SNAPSHOT_BUFFER = 1000
"""Depth updates kept to synchronise a later REST snapshot."""
SPOT, USDM = "spot", "usdm"
VENUES = {SPOT: "binance-spot", USDM: "binance-usdm"}
"""The venues of :func:`read_binance`, with the ``mmgym.source`` of each."""
_VENUE_NAME = {SPOT: "spot", USDM: "USD-M futures"}


def _pairs(text: bytes) -> int:
    """Number of ``["p","q"]`` pairs in a level array's text (checked again when parsed)."""
    return 0 if text == b"[]" else text.count(b"],[") + 1


def _cut_array(payload: bytes, key: bytes) -> tuple[bytes, bytes] | None:
    """Cut the level array ``"key":[[...]]`` out of ``payload``: (array text, rest)."""
    i = payload.find(key)
    if i < 0:
        return None
    start = i + len(key)
    while payload[start : start + 1] == b" ":
        start += 1
    if payload.startswith(b"[]", start):
        end = start + 2
    else:
        j = payload.find(b"]]", start)
        if j < 0:
            return None
        end = j + 2
    return payload[start:end], payload[:start] + b"[]" + payload[end:]


def _depth_texts(payload: bytes) -> tuple[dict[str, Any], bytes, bytes] | None:
    """A depthUpdate line's header (orjson) and the texts of its bid and ask arrays."""
    cut_b = _cut_array(payload, b'"b":')
    if cut_b is None:
        return None
    bids_text, rest = cut_b
    cut_a = _cut_array(rest, b'"a":')
    if cut_a is None:
        return None
    asks_text, rest = cut_a
    try:
        header = orjson.loads(rest)
    except orjson.JSONDecodeError:
        return None
    return header, bids_text.replace(b" ", b""), asks_text.replace(b" ", b"")


def _parse_levels(texts: list[bytes], pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All level arrays at once: ``(sum(pairs), 2)`` floats and whether each text was read
    in full (a text that was not is parsed alone, and its rows are NaN)."""
    total = int(pairs.sum())
    body = b"\n".join(t[2:-2].replace(b'"],["', b"\n") for t in texts if t != b"[]")
    values = None
    if total:
        try:
            frame = pd.read_csv(io.BytesIO(body.replace(b'"', b"")), header=None,
                                names=["p", "q"], dtype=np.float64, engine="c",
                                skip_blank_lines=False)
            if len(frame) == total:
                values = frame.to_numpy()
        except (ValueError, pd.errors.ParserError):
            values = None
    ok = np.ones(len(texts), dtype=bool)
    if values is None:  # find the bad texts one by one
        parts = []
        for i, (text, k) in enumerate(zip(texts, pairs, strict=True)):
            try:
                levels = as_levels(orjson.loads(text), "levels")
                if len(levels) != k:
                    raise ValueError
            except (ValueError, orjson.JSONDecodeError):
                ok[i] = False
                levels = np.full((k, 2), np.nan)
            parts.append(levels)
        values = np.concatenate(parts) if parts else np.zeros((0, 2))
    return values, ok


def _as_levels_raw(value: Any, field: str) -> list[list[str]]:
    """A list of ``[price, qty]`` strings, checked for shape (for re-serialising)."""
    as_levels(value, field)
    return value


class _Importer(LineImporter):
    """Three passes: read the lines (headers, trades, snapshots; depth level arrays kept as
    text), parse every level array at once, then build the rows in line order."""

    def __init__(self, path: Path, strict: bool, tick: float | None, lot: float | None,
                 venue: str | None) -> None:
        super().__init__(path, strict, tick, lot)
        self.venue = venue  # SPOT or USDM; None: not known yet
        self.venue_from = "the venue given"  # what fixed the venue, for the messages
        self.bridge = 0  # the first update after a snapshot holds lastUpdateId + bridge
        self.last_u: int | None = None  # update id of the book state
        self.sync_id: int | None = None  # lastUpdateId of a snapshot not yet bridged
        self.recent: deque[tuple[int, int, int]] = deque(maxlen=SNAPSHOT_BUFFER)
        self.records: list[tuple[Any, ...]] = []  # (kind, line, ts, ...) in line order
        self.texts: list[bytes] = []  # depth level arrays: bids, asks, bids, asks, ...

    def run(self, lines: list[bytes]) -> pd.DataFrame:
        read_lines(lines, self.report, self.parse, self.read)
        if self.venue is None:
            raise DataError(f"{self.path}: no depthUpdate or bookTicker message tells Binance "
                            "spot from USD-M futures; give the venue (--venue spot|usdm)")
        self.source = VENUES[self.venue]
        self.bridge = 1 if self.venue == SPOT else 0
        pairs = np.array([_pairs(t) for t in self.texts], dtype=np.int64)
        self.levels, ok = _parse_levels(self.texts, pairs)
        self.offsets = np.concatenate([[0], np.cumsum(pairs)])
        bad = ~ok[0::2] | ~ok[1::2]
        values = self.levels
        row_bad = ~(np.isfinite(values).all(axis=1) & (values[:, 0] > 0) & (values[:, 1] >= 0))
        if row_bad.any():  # a price <= 0, a negative size or a non-number
            text_of_row = np.repeat(np.arange(len(self.texts)), pairs)
            bad[text_of_row[row_bad] // 2] = True
        self.side = np.repeat(np.tile(np.array([BID, ASK], dtype=np.int8), len(pairs) // 2),
                              pairs)
        for record in self.records:
            if record[0] == "depth":
                _, no, ts, k, U, u, pu = record
                if bad[k]:
                    self.report.bad(no, "corrupt", "a level of b or a is not a [price, qty] pair "
                               "of numbers with price > 0 and qty >= 0")
                else:
                    self.depth(no, ts, k, U, u, pu)
            elif record[0] == "snapshot":
                self.snapshot(*record[1:])
            else:
                self.rows.add(*record[1:])
        return self.finish()

    @staticmethod
    def parse(line: bytes) -> tuple[int, bytes]:
        """The line's local time (ns) and its JSON payload."""
        head, _, payload = line.partition(b" ")
        try:
            return int(head), payload
        except ValueError:
            raise ValueError(f"no ns timestamp prefix: {line[:40]!r}") from None

    def set_venue(self, no: int, venue: str, evidence: str) -> None:
        """Line ``no``'s message (``evidence``: what shows it) is of ``venue``, not the file's
        (or the file's is not known yet): the first fixes it, a second is a DataError."""
        if self.venue is not None:
            raise DataError(f"{self.path}:{no}: {evidence} is Binance {_VENUE_NAME[venue]}, but "
                            f"{self.venue_from} made the file {_VENUE_NAME[self.venue]}: one "
                            "file, one venue")
        self.venue, self.venue_from = venue, f"line {no} ({evidence})"

    def read(self, no: int, ts: int, payload: bytes) -> None:
        """First pass over one line (bookTicker lines are not events of the format: only
        their venue is read)."""
        if b"@bookTicker" in payload[:64]:
            if b'"e":' in payload:
                if self.venue != USDM:
                    self.set_venue(no, USDM, "a bookTicker with 'e'")
            elif self.venue != SPOT:
                self.set_venue(no, SPOT, "a bookTicker without 'e'")
            return
        fast = None
        if payload.startswith(b'{"stream":') and b"depthUpdate" in payload[:120]:
            fast = _depth_texts(payload)
        if fast is not None:
            header, bids_text, asks_text = fast
            data = header.get("data")
        else:
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"not JSON ({e})") from None
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
            if "lastUpdateId" in msg:
                (last_id,) = ints(msg, "lastUpdateId")
                bids = as_levels(msg.get("bids"), "bids")
                asks = as_levels(msg.get("asks"), "asks")
                check_levels(bids, "bids")
                check_levels(asks, "asks")
                self.records.append(("snapshot", no, ts, last_id, bids, asks))
                return
            data = msg.get("data")
            if isinstance(data, dict) and data.get("e") == "depthUpdate":
                bids_text, asks_text = (orjson.dumps(_as_levels_raw(data.get(k), k))
                                        for k in ("b", "a"))
        if not isinstance(data, dict):
            raise ValueError("no 'data' object")
        event = data.get("e")
        if event == "depthUpdate":
            self.check_symbol(data.get("s"))
            if "pu" in data:
                U, u, pu = ints(data, "U", "u", "pu")
                if self.venue != USDM:
                    self.set_venue(no, USDM, "a depthUpdate with 'pu'")
            else:
                U, u = ints(data, "U", "u")
                pu = U - 1  # spot: the update follows the one that ended at U - 1
                if self.venue != SPOT:
                    self.set_venue(no, SPOT, "a depthUpdate without 'pu'")
            self.records.append(("depth", no, ts, len(self.texts) // 2, U, u, pu))
            self.texts += (bids_text, asks_text)
        elif event == "trade":
            self.records.append(("trade", *self.trade(no, ts, data)))
        elif event != "bookTicker":
            raise ValueError(f"unknown event type {event!r}")

    def depth(self, no: int, ts: int, k: int, U: int, u: int, pu: int) -> None:
        """Third pass over depth update ``k`` (line ``no``, time ``ts`` ns, update ids ``U``
        to ``u``, ``pu`` the final id of the update it follows: spot's is ``U - 1``)."""
        report = self.report
        if self.sync_id is not None:
            first = self.sync_id + self.bridge  # the id the first update must hold
            if u < first:
                report.messages["depth_before_snapshot"] += 1
                return
            if U > first:
                after = f"lastUpdateId + 1 = {first}" if self.bridge else f"lastUpdateId={first}"
                report.bad(no, "gap", f"first update after the snapshot starts at U={U}, after "
                           f"{after}")
            self.sync_id = None
        elif self.last_u is not None and pu != self.last_u:
            follows = f"U={U}" if self.venue == SPOT else f"pu={pu}"
            report.bad(no, "gap", f"{follows} but the previous update ended at u={self.last_u}")
        self.last_u = u
        a, b = self.offsets[2 * k], self.offsets[2 * k + 2]
        self.recent.append((U, u, len(self.rows.blocks)))
        self.rows.add(ts, DELTA, self.side[a:b], self.levels[a:b, 0], self.levels[a:b, 1], u, no)
        report.messages["depthUpdate"] += 1

    def snapshot(self, no: int, ts: int, last_id: int, bids: np.ndarray,
                 asks: np.ndarray) -> None:
        side = np.repeat(np.array([BID, ASK], dtype=np.int8), [len(bids), len(asks)])
        levels = np.concatenate([bids, asks])
        self.rows.add(ts, SNAPSHOT, side, levels[:, 0], levels[:, 1], last_id, no)
        self.report.messages["snapshot"] += 1
        later = [r for r in self.recent if r[1] > last_id]
        if not later:  # the snapshot is ahead of the stream: bridge it with the next update
            self.sync_id = last_id
            self.last_u = last_id
            return
        if later[0][0] > last_id + self.bridge:
            self.report.bad(no, "gap", f"snapshot lastUpdateId={last_id} is older than the "
                            f"buffered updates (the oldest after it starts at U={later[0][0]})")
        for _, u, block in later:  # re-apply what the snapshot does not hold yet
            _, _, b_side, b_price, b_size, _, _ = self.rows.blocks[block]
            self.rows.add(ts, DELTA, b_side, b_price, b_size, u, no)
        self.sync_id = None
        self.last_u = later[-1][1]

    def trade(self, no: int, ts: int, data: dict[str, Any]) -> tuple[Any, ...]:
        """The arguments of the trade's row."""
        self.check_symbol(data.get("s"))
        p, q, m = data.get("p"), data.get("q"), data.get("m")
        if not isinstance(p, str) or not isinstance(q, str) or not isinstance(m, bool):
            raise ValueError(f"trade fields p={p!r}, q={q!r}, m={m!r}: expected strings and a bool")
        price, size = float(p), float(q)
        if not (np.isfinite(price) and price > 0 and np.isfinite(size) and size > 0):
            raise ValueError(f"trade price {p!r} or qty {q!r} is not a positive number")
        self.report.messages["trade"] += 1
        return (ts, TRADE, _SIDE[m], np.array([price]), np.array([size]), NO_ID, no)


def read_binance(path: str | Path, strict: bool = False, tick_size: float | None = None,
                 lot_size: float | None = None,
                 venue: str = "auto") -> tuple[pd.DataFrame, ImportReport]:
    """Read a Binance spot or USD-M futures combined-stream recording (see the module doc).

    Args:
        path: the recording.
        strict: fail at the first problem instead of skipping and counting.
        tick_size: the symbol's price step (quote currency); None: inferred from the data
            (:func:`~mmgym.data.importing.grid_units`).
        lot_size: the symbol's size step (base units); None: inferred likewise.
        venue: ``"spot"``, ``"usdm"`` (USD-M futures), or ``"auto"``: told from the
            messages. A message of the other venue is a DataError.

    Returns:
        The event table and the report of what was read and skipped; the metadata's
        ``mmgym.source`` is the venue's (:data:`VENUES`).
    """
    if venue != "auto" and venue not in VENUES:
        raise ValueError(f"venue {venue!r}: expected 'auto', {SPOT!r} or {USDM!r}")
    given = None if venue == "auto" else venue
    return _Importer(Path(path), strict, tick_size, lot_size, given).import_file()


def import_binance(path: str | Path, out: str | Path, strict: bool = False,
                   tick_size: float | None = None, lot_size: float | None = None,
                   venue: str = "auto", force: bool = False) -> ImportReport:
    """Import a Binance recording into the parquet file ``out`` (written atomically); the
    other arguments are :func:`read_binance`'s. ``out`` is checked before reading
    (:func:`~mmgym.data.store.check_output`): never ``path``, replaced only with ``force``."""
    check_output(Path(out), [Path(path)], force)
    events, report = read_binance(path, strict, tick_size, lot_size, venue)
    write_events(events, out, report.metadata, force=force, inputs=[Path(path)])
    return report


BOOK_TICKER_COLUMNS = ("ts_ns", "update_id", "exchange_ms", "bid_price", "bid_size",
                       "ask_price", "ask_size")
"""Columns of :func:`read_book_ticker`'s table."""


def read_book_ticker(path: str | Path) -> pd.DataFrame:
    """The ``bookTicker`` messages of a Binance recording: local time (ns), update id ``u``,
    exchange time ``E`` (ms; -1 for spot, whose bookTicker has no ``E`` nor ``e``), best bid
    and ask price and size. Any bad bookTicker line (a USD-M one without ``E``) raises
    :class:`~mmgym.data.store.DataError` naming the file and line."""
    path = Path(path)
    rows = []
    for no, line in enumerate(open_lines(path), start=1):
        head, _, payload = line.partition(b" ")
        if b"@bookTicker" not in payload[:64]:
            continue
        try:
            d = orjson.loads(payload)["data"]
            exchange_ms = int(d["E"]) if "e" in d else -1
            rows.append((int(head), int(d["u"]), exchange_ms, float(d["b"]), float(d["B"]),
                         float(d["a"]), float(d["A"])))
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}:{no}: bad bookTicker line ({e!r})") from None
    return pd.DataFrame(rows, columns=list(BOOK_TICKER_COLUMNS))
