"""Record an exchange's public market data through ccxt, and read the recording back as events.

``mmgym-record --exchange bybit --symbol BTC/USDT:USDT --seconds 600 -o btc.jsonl.gz`` polls,
every ``--interval`` seconds, ccxt's unified REST calls (https://docs.ccxt.com):

- ``fetch_order_book(symbol, depth)``: a snapshot of the top ``depth`` levels a side;
- ``fetch_trades(symbol, since)``: the public trades since the newest one already recorded,
  de-duplicated by trade id;
- ``fetch_ohlcv(symbol, "1m")`` every ``--kline-every`` seconds: one-minute klines (OHLCV),
  for volatility.

**The recording format** (``mmgym-ccxt-recording``, version 1): gzip text, one JSON object
per line, appended and flushed as it goes, so an interrupted run (Ctrl-C, a crash, a lost
connection) keeps everything up to its last complete line; Ctrl-C closes the file properly.
Every line has ``type`` and ``ts_ns`` (local receive time, ns since the Unix epoch):

- ``header`` (the first line): ``format``, ``version``, ``exchange`` (ccxt id), ``symbol``
  (ccxt unified), ``tick_size`` (quote currency), ``lot_size`` (base units, or null when the
  exchange gives none), ``contract_size`` (base units per contract, 1 for spot), ``depth``,
  ``interval_s``; optionally ``shown_levels``, the levels a side the source shows (the event
  file's ``mmgym.levels``: the depth behind the last shown level is unknown, not empty;
  absent or null: the whole book).
- ``book``: ``book``, ccxt's order-book structure without ``symbol``: ``bids`` and ``asks``
  (lists of ``[price, amount]``, best first), ``timestamp`` (exchange ms or null), ``nonce``
  (the exchange's update id or null).
- ``trade``: ``trade``, ccxt's trade structure without ``info`` and ``fee(s)``: ``id``,
  ``timestamp`` (exchange ms, or null where unknown), ``side`` (the taker's side), ``price``,
  ``amount``, ...
- ``ohlcv``: ``timeframe`` and ``candles``, ccxt's ``[open time ms, open, high, low, close,
  volume]`` lists; a candle appears again, updated, until it closes (the last one counts).
- ``gap``: a ``fetch_trades`` reply that may have missed trades (as many as ``limit``, the
  oldest newer than ``since``): ``since`` and ``first`` (exchange ms).
- ``error``: a network error of one poll (``call``, ``error``); the recording goes on.

Amounts are the exchange's (contracts for derivatives); :func:`read_recording` multiplies by
``contract_size`` to give base units.

``mmgym-paper`` writes its stream in this format too (:mod:`mmgym.live.jsonl`: every book
line the whole local book, timestamps null), with :class:`RecordingWriter` and the line
shapes of :func:`header_line`, :func:`book_line` and :func:`trade_line`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import signal
import sys
import threading
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from mmgym.data.schema import ASK, BID, BUY, COLUMNS, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import (
    DataError,
    OutputError,
    check_events,
    check_output,
    write_failure,
)

FORMAT, VERSION = "mmgym-ccxt-recording", 1
KLINE_COLUMNS = ("ts_ns", "open", "high", "low", "close", "volume")
"""Columns of :func:`read_klines`: open time (ns), prices (quote currency), volume (base)."""


class DataWarning(UserWarning):
    """Rows of a data file were skipped under the documented policy (counts in the message)."""


@dataclass
class RecordingStats:
    """What a recording run wrote: lines by type, network errors, trade gaps, its end."""

    books: int = 0
    trades: int = 0
    klines: int = 0
    gaps: int = 0
    errors: int = 0
    seconds: float = 0.0
    interrupted: bool = False


def make_exchange(exchange: str, api_url: str | None = None, **config: Any) -> Any:
    """A ccxt exchange instance (rate-limited) by its ccxt id.

    Args:
        exchange: ccxt's id (``bybit``, ``binanceusdm``, ...).
        api_url: when given, every REST base URL of the exchange points at it (a local test
            server or a proxy) instead of the exchange's hosts.
        config: more of ccxt's constructor options (``options``, ``timeout`` in ms, ...).
    """
    import ccxt

    if exchange not in ccxt.exchanges:
        raise ValueError(f"exchange: {exchange!r} is not a ccxt exchange id")
    ex = getattr(ccxt, exchange)({"enableRateLimit": True, **config})
    if api_url is not None:
        api = ex.urls["api"]
        ex.urls["api"] = (
            {k: api_url.rstrip("/") for k in api} if isinstance(api, dict) else api_url
        )
    return ex


def market_units(exchange: Any, market: dict[str, Any]) -> tuple[float, float | None, float]:
    """(tick size, lot size, contract size) of a ccxt market: the tick in quote currency, the
    lot in base units (None when the exchange gives none), base units per contract (1 for
    spot). Raises ValueError when the market has no tick size."""
    from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

    def step(p: float | None) -> float | None:
        if p is None:
            return None
        if exchange.precisionMode == TICK_SIZE:
            return float(p)
        if exchange.precisionMode == DECIMAL_PLACES:
            return 10.0 ** -float(p)
        return None

    tick = step(market["precision"].get("price"))
    if tick is None or not tick > 0:
        raise ValueError(f"{exchange.id} {market['symbol']}: no tick size in the market data")
    contract = float(market.get("contractSize") or 1.0)
    lot = step(market["precision"].get("amount"))
    return tick, None if lot is None else lot * contract, contract


NEVER_OVERWRITTEN = "a recording is never overwritten: remove it or choose another path"
"""Why ``mmgym-record`` refuses an existing file (it has no ``--force``: a recording cannot be
made again)."""


class RecordingWriter:
    """Appends JSON lines to a new gzip file (missing parent directories are created),
    flushing each (unless told not to) so that a crash loses at most the lines written since
    the last flush; an OSError of the file is an :class:`~mmgym.data.store.OutputError`
    naming it. ``compresslevel``: gzip's, 1 (fastest) to 9 (smallest)."""

    def __init__(self, path: Path, compresslevel: int = 9) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = gzip.open(path, "xt", compresslevel, encoding="utf-8")
        except FileExistsError:
            raise OutputError(f"{path}: exists ({NEVER_OVERWRITTEN})") from None
        except OSError as e:
            raise write_failure(path, e) from None

    def write(self, record: dict[str, Any], flush: bool = True) -> None:
        """Append ``record`` as one line; flush the file unless ``flush`` is False."""
        try:
            self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
            if flush:
                self._f.flush()
        except OSError as e:
            raise write_failure(self.path, e) from None

    def flush(self) -> None:
        """Write out the lines written so far (a gzip sync flush: readable up to here)."""
        try:
            self._f.flush()
        except OSError as e:
            raise write_failure(self.path, e) from None

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as e:
            raise write_failure(self.path, e) from None


BOOK_KEYS = ("bids", "asks", "timestamp", "nonce")
"""The keys of ccxt's order-book structure a ``book`` line keeps."""
TRADE_DROPPED = ("info", "fee", "fees")
"""The keys of ccxt's trade structure a ``trade`` line drops."""


def header_line(ts_ns: int, exchange: str | None, symbol: str | None, tick_size: float,
                lot_size: float | None, contract_size: float, depth: int | None,
                interval_s: float | None, shown_levels: int | None = None) -> dict[str, Any]:
    """The ``header`` line (module doc): ``ts_ns`` ns since the epoch, the tick size in quote
    currency, lot and contract sizes in base units, ``depth`` levels a side asked for,
    ``interval_s`` s between polls (None: not polled); ``shown_levels`` only when given."""
    line = {"type": "header", "ts_ns": ts_ns, "format": FORMAT, "version": VERSION,
            "exchange": exchange, "symbol": symbol, "tick_size": tick_size,
            "lot_size": lot_size, "contract_size": contract_size, "depth": depth,
            "interval_s": interval_s}
    if shown_levels is not None:
        line["shown_levels"] = shown_levels
    return line


def book_line(ts_ns: int, book: dict[str, Any]) -> dict[str, Any]:
    """A ``book`` line: ccxt's order book ``book`` (its :data:`BOOK_KEYS`), received at
    ``ts_ns`` (ns since the epoch)."""
    return {"type": "book", "ts_ns": ts_ns, "book": {k: book[k] for k in BOOK_KEYS}}


def trade_line(ts_ns: int, trade: dict[str, Any]) -> dict[str, Any]:
    """A ``trade`` line: ccxt's trade ``trade`` without :data:`TRADE_DROPPED`, received at
    ``ts_ns`` (ns since the epoch)."""
    return {"type": "trade", "ts_ns": ts_ns,
            "trade": {k: v for k, v in trade.items() if k not in TRADE_DROPPED}}


def record(
    exchange: Any,
    symbol: str,
    path: str | Path,
    seconds: float,
    interval: float = 1.0,
    depth: int = 25,
    kline_every: float = 60.0,
    trades_limit: int = 1000,
    progress: bool = True,
    clock: Callable[[], int] = time.time_ns,
) -> RecordingStats:
    """Poll ``exchange`` for ``seconds`` and append what it returns to ``path``.

    Each poll (every ``interval`` s) fetches the order book and the trades since the newest
    recorded one; klines are fetched at the start and then every ``kline_every`` s. Ctrl-C
    (SIGINT) ends the run early, after the line being written: the file is closed and keeps
    everything fetched so far.
    ``ccxt.NetworkError`` (timeouts, rate limits, ...) of a poll is written as an ``error``
    line and the run goes on; any other error ends it (the file keeps what came before).

    Args:
        exchange: a ccxt exchange instance (:func:`make_exchange`).
        symbol: ccxt's unified symbol (``BTC/USDT:USDT``).
        path: the recording (``.jsonl.gz``; missing parent directories are created); an
            existing file, a directory or an unwritable path is refused before the exchange
            is asked anything (:class:`~mmgym.data.store.OutputError`).
        seconds: length of the run (s, > 0).
        interval: time between polls (s, > 0).
        depth: levels a side of each snapshot (≥ 1).
        kline_every: time between kline fetches (s, > 0).
        trades_limit: trades asked for per poll (≥ 1; the exchange's maximum is best).
        progress: show a progress bar.
        clock: the local clock, ns since the epoch.
    """
    import ccxt

    for name, value in (("seconds", seconds), ("interval", interval),
                        ("kline_every", kline_every)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}: {value} is not a finite number > 0 (s)")
    for name, value in (("depth", depth), ("trades_limit", trades_limit)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name}: {value!r} is not an integer >= 1")
    path = Path(path)
    check_output(path, hint=NEVER_OVERWRITTEN)
    exchange.load_markets()
    market = exchange.market(symbol)
    tick, lot, contract = market_units(exchange, market)
    stats = RecordingStats()
    writer = RecordingWriter(path)
    start = time.monotonic()
    writer.write(header_line(clock(), exchange.id, market["symbol"], tick, lot, contract,
                             depth, interval))
    seen: dict[str, int] = {}  # trade id -> exchange ms, for the trades at or after `since`
    since: int | None = None
    next_kline = start
    stop = threading.Event()
    previous_handler = None
    if threading.current_thread() is threading.main_thread():  # Ctrl-C ends the loop, not a write
        previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.set())
    bar = tqdm(total=round(seconds), unit="s", disable=not progress, dynamic_ncols=True,
               desc=f"{exchange.id} {symbol}")

    def guarded(call: str, *args: Any) -> Any:
        try:
            return getattr(exchange, call)(symbol, *args)
        except ccxt.NetworkError as e:
            stats.errors += 1
            writer.write({"type": "error", "ts_ns": clock(), "call": call, "error": repr(e)})
            return None

    try:
        while not stop.is_set():
            poll_start = time.monotonic()
            book = guarded("fetch_order_book", depth)
            if book is not None:
                writer.write(book_line(clock(), book))
                stats.books += 1
            trades = guarded("fetch_trades", since, trades_limit)
            if trades:
                now = clock()
                if (since is not None and len(trades) >= trades_limit
                        and trades[0]["timestamp"] > since):
                    writer.write({"type": "gap", "ts_ns": now, "since": since,
                                  "first": trades[0]["timestamp"]})
                    stats.gaps += 1
                for t in trades:
                    if t["id"] in seen:
                        continue
                    seen[t["id"]] = t["timestamp"]
                    writer.write(trade_line(now, t))
                    stats.trades += 1
                since = max(seen.values())
                seen = {i: ts for i, ts in seen.items() if ts >= since}
            if poll_start >= next_kline:
                candles = guarded("fetch_ohlcv", "1m")
                if candles:
                    writer.write({"type": "ohlcv", "ts_ns": clock(), "timeframe": "1m",
                                  "candles": candles})
                    stats.klines += 1
                next_kline += kline_every
            elapsed = time.monotonic() - start
            bar.update(min(round(elapsed), round(seconds)) - bar.n)
            bar.set_postfix(books=stats.books, trades=stats.trades, errors=stats.errors)
            if elapsed + interval > seconds:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - poll_start)))
    except KeyboardInterrupt:
        stop.set()
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        stats.interrupted = stop.is_set()
        stats.seconds = time.monotonic() - start
        bar.close()
        writer.close()
    return stats


# ----------------------------------------------------------------------------- reading


_PROBLEMS = {
    "corrupt_line": "a line that is not a JSON object of the format (bad JSON, missing field)",
    "truncated_tail": "an incomplete last line or gzip stream (an interrupted write)",
    "out_of_order_line": "a line whose local ts_ns is before the previous line's",
    "out_of_order_snapshot": "a snapshot whose exchange time is before the previous one's",
    "crossed_book": "a snapshot whose best bid is at or above its best ask",
    "bad_value": "a price that is not finite > 0 or a size not finite >= 0 (> 0 for trades)",
    "no_exchange_time": "a book or trade without an exchange timestamp (clock='exchange')",
}
"""Problems :func:`read_recording` skips and counts with ``strict=False`` (and raises on
with ``strict=True``, except ``truncated_tail``, which is always skipped and counted)."""


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of a gzip text file; text None where the gzip stream ends early.

    Raises :class:`DataError` for a file that is not gzip and for a damaged stream."""
    number = 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        try:
            for number, text in enumerate(f, 1):
                yield number, text
        except EOFError:
            yield number + 1, None
        except (OSError, zlib.error, UnicodeDecodeError) as e:
            what = "not a readable gzip text file" if number == 0 else "damaged gzip data"
            raise DataError(f"{path}: line {number + 1}: {what} ({e})") from None


def _read_lines(path: Path, strict: bool) -> tuple[dict[str, Any], list[tuple[int, dict]],
                                                      Counter, int]:
    """Header, the other lines as (line number, record), the skipped problems and the number
    of lines read."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    skipped: Counter = Counter()
    records: list[tuple[int, dict]] = []
    header: dict[str, Any] | None = None
    last_ts = -1
    number = 0

    def problem(kind: str, number: int, detail: str) -> None:
        if strict and kind != "truncated_tail":
            raise DataError(f"{path}: line {number}: {_PROBLEMS[kind]}: {detail}")
        skipped[kind] += 1

    for number, text in _lines(path):
        if text is None or not text.endswith("\n"):  # only the last line can lack one
            problem("truncated_tail", number, "the stream ends inside this line")
            break
        try:
            rec = json.loads(text)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
            ts = rec["ts_ns"]
            if not isinstance(ts, int):
                raise ValueError(f"ts_ns {ts!r} is not an integer")
            kind = rec["type"]
        except (ValueError, KeyError) as e:
            if number == 1:
                raise DataError(f"{path}: line 1: not a {FORMAT} header ({e})") from None
            problem("corrupt_line", number, f"{e!s}: {text[:80]!r}")
            continue
        if number == 1:
            if kind != "header" or rec.get("format") != FORMAT:
                raise DataError(f"{path}: line 1: not a {FORMAT} header: {text[:80]!r}")
            if rec.get("version") != VERSION:
                raise DataError(f"{path}: line 1: version {rec.get('version')!r}, "
                                f"this reader reads version {VERSION}")
            header = rec
            last_ts = ts
            continue
        if ts < last_ts:
            problem("out_of_order_line", number, f"ts_ns {ts} < {last_ts}")
            continue
        last_ts = ts
        records.append((number, rec))
    if header is None:
        raise DataError(f"{path}: empty: no {FORMAT} header")
    return header, records, skipped, number


def _exchange_ns(ms: Any) -> int | None:
    return int(ms) * 1_000_000 if isinstance(ms, int | float) and math.isfinite(ms) else None


def read_recording(
    path: str | Path, strict: bool = True, clock: Literal["exchange", "local"] = "exchange"
) -> pd.DataFrame:
    """Read a recording (:mod:`mmgym.data.recorder`) as a table in the event format.

    Each snapshot becomes ``SNAPSHOT`` rows (bids, then asks, best first) sharing one
    ``ts_ns``, ``update_id`` the exchange's nonce or ``NO_ID``; each trade a ``TRADE`` row, its
    side the taker's (``BUY``/``SELL``). Amounts are converted to base units (× contract size).
    Klines are read by :func:`read_klines`; ``gap`` and ``error`` lines are counted.

    Time: with ``clock="exchange"`` (the default) ``ts_ns`` is the exchange's timestamp of the
    snapshot or trade and the rows are sorted by it (stably): polled trades arrive up to one
    interval after they happen, so the local receive time would put them after later books.
    A snapshot with the same exchange time as the previous one (the exchange served the same
    book again) is dropped (counted as ``repeated_snapshot``, not a problem). With
    ``clock="local"`` ``ts_ns`` is the local receive time of the line, in file order (the
    only clock of a ``mmgym-paper`` recording, whose timestamps are null).

    Bad data: with ``strict=True`` a problem of :data:`_PROBLEMS` raises :class:`DataError`
    naming the file and line; an incomplete last line or gzip stream (an interrupted write)
    is skipped. With ``strict=False`` every problem is skipped. Skipped lines are counted by
    problem in ``attrs["skipped"]`` and announced by a :class:`DataWarning`.

    Returns:
        The events; ``attrs["metadata"]`` holds the parquet metadata (``mmgym.source`` =
        ``ccxt:<exchange>``, symbol, tick and lot size, and ``mmgym.levels`` when the header
        has ``shown_levels``), ``attrs["skipped"]`` the counts,
        ``attrs["lines"]`` the lines read, ``attrs["gaps"]`` and ``attrs["errors"]`` the trade
        gaps and network errors recorded.
    """
    path = Path(path)
    if clock not in ("exchange", "local"):
        raise ValueError(f"clock: {clock!r} is not 'exchange' or 'local'")
    header, records, skipped, n_lines = _read_lines(path, strict)
    contract = float(header.get("contract_size") or 1.0)
    rows: list[tuple[int, int, int, float, float, int]] = []
    counts: Counter = Counter()
    last_book_ns: int | None = None
    seen_trades: set[str] = set()

    def problem(kind: str, number: int, detail: str) -> None:
        if strict:
            raise DataError(f"{path}: line {number}: {_PROBLEMS[kind]}: {detail}")
        skipped[kind] += 1

    for number, rec in records:
        kind = rec["type"]
        try:
            if kind == "book":
                book = rec["book"]
                bids = [(float(p), float(a) * contract) for p, a, *_ in book["bids"]]
                asks = [(float(p), float(a) * contract) for p, a, *_ in book["asks"]]
                ts = _exchange_ns(book["timestamp"]) if clock == "exchange" else rec["ts_ns"]
                nonce = book.get("nonce")
                uid = int(nonce) if isinstance(nonce, int) else NO_ID
            elif kind == "trade":
                t = rec["trade"]
                price, size = float(t["price"]), float(t["amount"]) * contract
                side = {"buy": BUY, "sell": SELL}.get(t["side"])
                if side is None:
                    raise ValueError(f"side {t['side']!r} is not 'buy' or 'sell'")
                ts = _exchange_ns(t["timestamp"]) if clock == "exchange" else rec["ts_ns"]
                trade_id = str(t["id"])
            elif kind in ("gap", "error", "ohlcv"):
                counts[kind] += 1
                continue
            else:
                raise ValueError(f"unknown type {kind!r}")
        except (KeyError, TypeError, ValueError) as e:
            problem("corrupt_line", number, f"{type(e).__name__}: {e}")
            continue
        if ts is None:
            problem("no_exchange_time", number, f"{kind} without timestamp")
            continue
        levels = bids + asks if kind == "book" else [(price, size)]
        bad = [(p, a) for p, a in levels if not (math.isfinite(p) and p > 0 and math.isfinite(a)
                                                   and (a > 0 if kind == "trade" else a >= 0))]
        if bad:
            problem("bad_value", number, f"{kind} price, size {bad[0]}")
            continue
        if kind == "book":
            if bids and asks and bids[0][0] >= asks[0][0]:
                problem("crossed_book", number, f"best bid {bids[0][0]} >= ask {asks[0][0]}")
                continue
            if clock == "exchange" and last_book_ns is not None and ts <= last_book_ns:
                if ts < last_book_ns:
                    problem("out_of_order_snapshot", number,
                            f"exchange time {ts} ns < previous {last_book_ns} ns")
                else:
                    counts["repeated_snapshot"] += 1
                continue
            last_book_ns = ts
            rows += [(ts, SNAPSHOT, BID, p, a, uid) for p, a in bids]
            rows += [(ts, SNAPSHOT, ASK, p, a, uid) for p, a in asks]
        else:
            if trade_id in seen_trades:
                counts["duplicate_trade"] += 1
                continue
            seen_trades.add(trade_id)
            rows.append((ts, TRADE, side, price, size, NO_ID))
    events = pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)
    if clock == "exchange":
        events = events.sort_values("ts_ns", kind="stable", ignore_index=True)
    check_events(events, str(path))
    if skipped:
        warnings.warn(f"{path}: skipped {dict(skipped)}", DataWarning, stacklevel=2)
    events.attrs["metadata"] = {
        "mmgym.source": f"ccxt:{header.get('exchange')}",
        "mmgym.symbol": str(header.get("symbol")),
        "mmgym.tick_size": str(header.get("tick_size")),
        **({"mmgym.lot_size": str(header["lot_size"])} if header.get("lot_size") else {}),
        **({"mmgym.levels": str(header["shown_levels"])}
           if isinstance(header.get("shown_levels"), int) else {}),
    }
    events.attrs["skipped"] = dict(skipped)
    events.attrs["lines"] = n_lines
    events.attrs["gaps"] = counts["gap"]
    events.attrs["errors"] = counts["error"]
    events.attrs["repeated_snapshots"] = counts["repeated_snapshot"]
    events.attrs["duplicate_trades"] = counts["duplicate_trade"]
    return events


def read_klines(path: str | Path, strict: bool = True) -> pd.DataFrame:
    """The one-minute klines of a recording, one row per candle (its last version).

    Columns :data:`KLINE_COLUMNS`: ``ts_ns`` the candle's open time (exchange clock, ns),
    open/high/low/close (quote currency), volume (base units, × contract size); sorted by
    time. The bad-data policy is :func:`read_recording`'s.
    """
    path = Path(path)
    header, records, skipped, _ = _read_lines(path, strict)
    contract = float(header.get("contract_size") or 1.0)
    candles: dict[int, tuple[float, ...]] = {}
    for number, rec in records:
        if rec["type"] != "ohlcv":
            continue
        try:
            for c in rec["candles"]:
                t, o, h, lo, cl, v = c[:6]
                candles[int(t)] = (float(o), float(h), float(lo), float(cl),
                                   float(v) * contract)
        except (KeyError, TypeError, ValueError) as e:
            if strict:
                raise DataError(f"{path}: line {number}: {_PROBLEMS['corrupt_line']}: "
                                f"{type(e).__name__}: {e}") from None
            skipped["corrupt_line"] += 1
    if skipped:
        warnings.warn(f"{path}: skipped {dict(skipped)}", DataWarning, stacklevel=2)
    times = sorted(candles)
    klines = pd.DataFrame([candles[t] for t in times], columns=list(KLINE_COLUMNS[1:]),
                          dtype=np.float64)
    klines.insert(0, "ts_ns", np.array(times, dtype=np.int64) * 1_000_000)
    return klines


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``mmgym-record``: record an exchange's order book, trades and klines through ccxt."""
    parser = argparse.ArgumentParser(
        prog="mmgym-record",
        description="Poll an exchange's public order book, trades and 1m klines through ccxt "
                    "into a gzip JSON-lines recording (mmgym.data.recorder documents it).")
    parser.add_argument("--exchange", required=True, help="ccxt exchange id (bybit, ...)")
    parser.add_argument("--symbol", required=True, help="ccxt unified symbol (BTC/USDT:USDT)")
    parser.add_argument("--seconds", type=float, required=True, help="length of the run (s)")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="the recording to create (.jsonl.gz; missing parent directories "
                             "are created); an existing file is never overwritten (no --force)")
    parser.add_argument("--interval", type=float, default=1.0, help="s between polls (1)")
    parser.add_argument("--depth", type=int, default=25, help="book levels a side (25)")
    parser.add_argument("--kline-every", type=float, default=60.0,
                        help="s between 1m kline fetches (60)")
    parser.add_argument("--trades-limit", type=int, default=1000,
                        help="trades asked for per poll (1000)")
    parser.add_argument("--market-types", default=None,
                        help="comma-separated market types ccxt loads (bybit: spot,linear,"
                             "inverse,option; fewer is faster)")
    parser.add_argument("--api-url", default=None,
                        help="send every REST request to this base URL (a test server)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config: dict[str, Any] = {}
    if args.market_types:
        config["options"] = {"fetchMarkets": {"types": args.market_types.split(",")}}
    try:
        check_output(args.output, hint=NEVER_OVERWRITTEN)
        exchange = make_exchange(args.exchange, args.api_url, **config)
        stats = record(exchange, args.symbol, args.output, args.seconds, args.interval,
                       args.depth, args.kline_every, args.trades_limit,
                       progress=not args.no_progress)
    except ValueError as e:  # OutputError included
        print(f"mmgym-record: {e}", file=sys.stderr)
        return 2
    print(f"{args.output}: {stats.books} snapshots, {stats.trades} trades, {stats.klines} "
          f"kline fetches, {stats.gaps} trade gaps, {stats.errors} network errors in "
          f"{stats.seconds:.1f} s" + (" (interrupted)" if stats.interrupted else ""))
    return 130 if stats.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
