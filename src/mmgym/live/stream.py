"""One symbol's order book and trades, streamed through ccxt's websocket API (ccxt.pro), as
event batches in the format of :mod:`mmgym.data.schema`.

:class:`OrderBookStream` runs ccxt's ``watch_order_book`` and ``watch_trades`` for one
exchange and symbol concurrently, and is an async iterator of what happened in the market
(:class:`EventBatch`) and to the stream (:class:`Notice`)::

    book = LiveBook()
    async with OrderBookStream("bybit", "BTC/USDT:USDT") as stream:
        async for item in stream:
            if isinstance(item, EventBatch):
                book.apply(item.rows)
            elif item.kind in (STALE, DISCONNECTED):
                ...  # stop quoting until the next CONNECTED
            if stream.live:
                ...  # the book is fresh: quoting on it is allowed

**Book rows.** ccxt keeps the order book of the websocket messages (Bybit V5: a snapshot on
subscribing, then deltas). Each time ccxt hands over a new state of it, the state is compared,
level by level over the best ``depth`` levels a side, with the previous one:

- the first state after a connection or a reconnection is a batch of ``SNAPSHOT`` rows (bids
  best first, then asks, one ``ts_ns``): it replaces the book;
- every later state is a batch of ``DELTA`` rows, one per level whose size changed, the new
  total size; size 0 when the level left the best ``depth`` (removed, or pushed beyond).

So a consumer that applies the batches in order (:class:`LiveBook`) holds, after each batch,
exactly ccxt's book cut to ``depth`` levels a side. Messages that arrive while a state is
being handed over come together as one batch (the book between them is not seen).

**Trade rows.** One ``TRADE`` row per trade not seen before (by the exchange's trade id,
across reconnections too), its side the taker's (``BUY``/``SELL``).

Every row's ``ts_ns`` is the local receive time (``clock``, ns since the epoch, never
decreasing along the stream); sizes are base units (the exchange's amount × the contract
size); ``update_id`` is the ccxt book's nonce where the exchange gives one (Bybit: ``NO_ID``),
``NO_ID`` for trades.

**Notices** (:class:`Notice`, ``kind``):

======================  ==================================================================
``CONNECTED``           the first book state of a connection arrived; the ``SNAPSHOT``
                        batch that follows holds it. From here the book is *live*.
``STALE``               no book update for ``stale_after_s`` (or no snapshot within
                        ``stale_after_s`` of subscribing), or a crossed book (best bid at or
                        above the best ask): the book is not live; a reconnection follows.
``DISCONNECTED``        the connection closed or failed (``reason``: ccxt's error); the
                        book is not live; a reconnection follows.
``RECONNECTING``        the stream subscribes again in ``delay_s`` seconds (the
                        ``attempt``-th consecutive attempt).
======================  ==================================================================

A stale book never becomes live again by itself: :attr:`OrderBookStream.live` is False from
``STALE`` or ``DISCONNECTED`` until the ``CONNECTED`` of a fresh snapshot.

A book that does not change sends nothing (Bybit's ``orderbook.50`` pushes a delta at most
every 20 ms, and only when the book changed): choose ``stale_after_s`` longer than the
symbol's quiet spells, or a quiet book is taken for a stalled stream and resubscribed.

**Reconnection.** On a ``ccxt.NetworkError`` (closed connection, failed dial, timeout) or a
stale book the stream closes the exchange's websockets (cutting a connection whose closing
handshake takes more than :data:`CLOSE_TIMEOUT_S`: a dead peer), forgets ccxt's book (the
next one is built from the exchange's fresh snapshot: Bybit sends one on every
subscription), waits ``min(backoff_initial_s · 2^(k−1), backoff_max_s)`` seconds for the
``k``-th attempt since the last snapshot (times a uniform factor in [0.5, 1] with
``jitter``), and subscribes again. Any other error (a refused subscription,
``ccxt.ExchangeError``) ends the iteration by raising it; a depth the exchange does not
stream (``ccxt.BadRequest``) raises :class:`~mmgym.validation.ConfigError` naming ``depth``.

**Stopping.** :meth:`OrderBookStream.close` (or leaving ``async with``) ends the iteration
and closes the exchange (websockets and HTTP session).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from mmgym.data.recorder import market_units
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.live.source import EVENT_DTYPE
from mmgym.validation import ConfigError, check_bool, check_number

CONNECTED, STALE, DISCONNECTED, RECONNECTING = "connected", "stale", "disconnected", "reconnecting"
"""``Notice.kind`` values."""

SEEN_TRADES = 100_000
"""How many of the latest trade ids are remembered to drop trades seen before."""

CLOSE_TIMEOUT_S = 1.0
"""Seconds a websocket's closing handshake may take before the connection is cut (a dead or
deaf peer would otherwise hold it for aiohttp's 10 s)."""

_STOP = object()
"""Put in the stream's queue by :meth:`OrderBookStream.close`: the iteration ends."""

Levels = list[tuple[float, float]]
"""A book side, best first: ``(price, size)`` pairs, quote currency and base units."""


@dataclass(frozen=True)
class EventBatch:
    """Rows of the event format received together (one book state, or one trade message).

    Attributes:
        rows: a record array of :data:`~mmgym.live.source.EVENT_DTYPE` (fields ``ts_ns``,
            ``kind``, ``side``, ``price``, ``size``, ``update_id``), all rows of one
            ``ts_ns``.
    """

    rows: np.ndarray

    @property
    def snapshot(self) -> bool:
        """Whether the batch is a snapshot (it replaces the whole book)."""
        return len(self.rows) > 0 and int(self.rows["kind"][0]) == SNAPSHOT

    def frame(self) -> pd.DataFrame:
        """The rows as an event table (columns and dtypes of the schema)."""
        return pd.DataFrame(self.rows)


@dataclass(frozen=True)
class Notice:
    """A change of the stream's state (kinds in the module docstring).

    Attributes:
        kind: ``CONNECTED``, ``STALE``, ``DISCONNECTED`` or ``RECONNECTING``.
        ts_ns: local time of the notice, ns since the epoch (the clock of the rows).
        reason: what happened, in words (ccxt's error for ``DISCONNECTED``).
        delay_s: ``RECONNECTING``: seconds until the next subscription.
        attempt: ``RECONNECTING``: consecutive attempts since the last snapshot (1, 2, ...);
            ``CONNECTED``: how many reconnections came before (0 for the first connection).
    """

    kind: str
    ts_ns: int
    reason: str = ""
    delay_s: float = 0.0
    attempt: int = 0


@dataclass(frozen=True)
class MarketInfo:
    """The streamed market's units (from ccxt's market structure).

    Attributes:
        symbol: ccxt's unified symbol; market_id: the exchange's id (``BTCUSDT``).
        tick_size: price step, quote currency. lot_size: size step, base units (None when
            the exchange gives none). contract_size: base units per contract (1 for spot).
    """

    symbol: str
    market_id: str
    tick_size: float
    lot_size: float | None
    contract_size: float


@dataclass
class StreamStats:
    """Counts since the stream started: book states received (one whose best ``depth``
    levels did not change emits no batch), trades emitted, trades dropped as seen before or
    malformed (no buy/sell side, price or amount not finite > 0), snapshots (connections that
    went live), disconnections and stale books."""

    book_updates: int = 0
    trades: int = 0
    duplicate_trades: int = 0
    skipped_trades: int = 0
    snapshots: int = 0
    disconnects: int = 0
    stale: int = 0


class LiveBook:
    """The order book rebuilt from event rows: ``bids`` and ``asks`` as ``{price: size}``.

    A run of ``SNAPSHOT`` rows sharing one ``ts_ns`` replaces both sides; a ``DELTA`` row
    sets its level's size (0 removes it); trades do not change the book.
    """

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._snapshot_ns: int | None = None

    def apply(self, rows: np.ndarray) -> None:
        """Apply rows of :data:`~mmgym.live.source.EVENT_DTYPE` in order."""
        for ts, kind, side, price, size in zip(rows["ts_ns"].tolist(), rows["kind"].tolist(),
                                               rows["side"].tolist(), rows["price"].tolist(),
                                               rows["size"].tolist(), strict=True):
            if kind == TRADE:
                self._snapshot_ns = None
                continue
            if kind == SNAPSHOT and self._snapshot_ns != ts:
                self.bids.clear()
                self.asks.clear()
            self._snapshot_ns = ts if kind == SNAPSHOT else None
            levels = self.bids if side == BID else self.asks
            if size > 0:
                levels[price] = size
            else:
                levels.pop(price, None)

    def levels(self, side: int, n: int | None = None) -> Levels:
        """The best ``n`` levels (all when None) of ``side`` (``BID``/``ASK``), best first."""
        levels = self.bids if side == BID else self.asks
        return sorted(levels.items(), reverse=side == BID)[:n]


def _levels(side: Any, depth: int, contract: float) -> Levels:
    """The best ``depth`` levels of a ccxt book side, sizes × ``contract`` (base units)."""
    return [(float(level[0]), float(level[1]) * contract) for level in side[:depth]]


def _changes(previous: dict[float, float], levels: Levels) -> Levels:
    """The levels of ``levels`` whose size differs from ``previous``'s, then the levels of
    ``previous`` missing from ``levels`` at size 0."""
    now = dict(levels)
    return ([(p, s) for p, s in levels if previous.get(p) != s]
            + [(p, 0.0) for p in previous if p not in now])


def _point_ws_urls(urls: Any, base: str) -> Any:
    """``urls`` (a URL or a nested mapping of URLs) with each URL's scheme and host replaced
    by ``base``'s, its path and query kept (so a spot URL still names ``spot``)."""
    if isinstance(urls, Mapping):
        return {k: _point_ws_urls(v, base) for k, v in urls.items()}
    if isinstance(urls, str):
        parts = urlsplit(urls)
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


class OrderBookStream:
    """Stream one symbol's book and trades through ccxt.pro (module docstring).

    Args:
        exchange: ccxt's exchange id (``bybit``); it must have ``watchOrderBook`` and
            ``watchTrades``.
        symbol: ccxt's unified symbol (``BTC/USDT:USDT``).
        depth: levels a side kept and compared (≥ 1); also the depth asked for when
            subscribing, so one the exchange streams (Bybit linear: 1, 50, 200, 1000).
        stale_after_s: seconds without a book update after which the book is stale (> 0).
        backoff_initial_s: delay before the first reconnection attempt, s (> 0).
        backoff_max_s: the longest delay between attempts, s (≥ ``backoff_initial_s``).
        jitter: multiply each delay by a uniform factor in [0.5, 1] (off for exact delays).
        seed: seed of the jitter's random numbers.
        ws_url: when given, every websocket URL of the exchange points at this
            ``ws://host:port`` (a local test server), keeping its path.
        markets: ccxt market structures to use instead of loading them over REST
            (``exchange.load_markets()``), e.g. for a test without network; the symbol is
            then checked at construction.
        config: more of ccxt's constructor options (``options``, ``urls``, ...).
        clock: the local clock of the rows, ns since the epoch.

    Raises:
        ConfigError: a bad argument, naming it (the symbol: at construction when ``markets``
            are given, else when the markets are loaded, :meth:`open`).
    """

    def __init__(
        self,
        exchange: str,
        symbol: str,
        *,
        depth: int = 50,
        stale_after_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        jitter: bool = True,
        seed: int | None = None,
        ws_url: str | None = None,
        markets: Sequence[Mapping[str, Any]] | None = None,
        config: Mapping[str, Any] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        import ccxt.pro

        if not isinstance(exchange, str) or exchange not in ccxt.pro.exchanges:
            raise ConfigError(f"exchange={exchange!r}: not a ccxt.pro exchange id "
                              f"(ccxt.pro.exchanges lists the {len(ccxt.pro.exchanges)})")
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(f"symbol={symbol!r}: expected a ccxt unified symbol "
                              "(BTC/USDT:USDT)")
        self.symbol = symbol
        self.depth = int(check_number("depth", depth, low=1, integer=True))
        self.stale_after_s = check_number("stale_after_s", stale_after_s, low=0, low_open=True)
        self.backoff_initial_s = check_number("backoff_initial_s", backoff_initial_s, low=0,
                                              low_open=True)
        self.backoff_max_s = check_number("backoff_max_s", backoff_max_s,
                                          low=self.backoff_initial_s)
        self.jitter = check_bool("jitter", jitter)
        if ws_url is not None and not (isinstance(ws_url, str)
                                       and ws_url.startswith(("ws://", "wss://"))):
            raise ConfigError(f"ws_url={ws_url!r}: expected a ws:// or wss:// URL")
        self._exchange = getattr(ccxt.pro, exchange)({"enableRateLimit": True, **(config or {})})
        if not (self._exchange.has.get("watchOrderBook") and self._exchange.has.get("watchTrades")):
            raise ConfigError(f"exchange={exchange!r}: ccxt.pro has no watchOrderBook and "
                              "watchTrades for it")
        if ws_url is not None:
            api = self._exchange.urls["api"]
            if "ws" not in api:
                raise ConfigError(f"ws_url={ws_url!r}: ccxt's {exchange} has no "
                                  "urls['api']['ws'] to point at it")
            api["ws"] = _point_ws_urls(api["ws"], ws_url)
        self._clock = clock
        self._rng = random.Random(seed)
        self.market: MarketInfo | None = None
        """The market's units, once the markets are known (:meth:`open`)."""
        self.stats = StreamStats()
        self._live = False
        self._closing = False
        self._last_ns = 0
        self._queue: asyncio.Queue | None = None
        self._iteration: AsyncGenerator[EventBatch | Notice, None] | None = None
        self._seen: OrderedDict[Any, None] = OrderedDict()
        self._previous: tuple[dict[float, float], dict[float, float]] | None = None
        if markets is not None:
            self._exchange.set_markets(list(markets))
            self._check_symbol()

    @property
    def exchange(self) -> Any:
        """The ccxt.pro exchange instance."""
        return self._exchange

    @property
    def live(self) -> bool:
        """Whether the book is fresh: from a ``CONNECTED`` notice until the next ``STALE`` or
        ``DISCONNECTED``. Quote only while it is."""
        return self._live

    def _check_symbol(self) -> None:
        markets = self._exchange.markets
        if self.symbol not in markets:
            examples = ", ".join(list(markets)[:3])
            raise ConfigError(f"symbol={self.symbol!r}: not a market of {self._exchange.id} "
                              f"({len(markets)} markets, e.g. {examples})")
        market = markets[self.symbol]
        tick, lot, contract = market_units(self._exchange, market)
        self.market = MarketInfo(self.symbol, str(market["id"]), tick, lot, contract)

    async def open(self) -> None:
        """Load the markets (over REST unless given) and check the symbol; the iteration
        opens the stream itself when this was not called."""
        if self.market is None:
            if self._exchange.markets is None:
                await self._exchange.load_markets()
            self._check_symbol()

    async def close(self) -> None:
        """End the iteration (at its next wait if it is running in another task) and close
        the exchange's websockets and HTTP session."""
        self._closing = True
        self._live = False
        iteration = self._iteration
        if iteration is not None and not iteration.ag_running:  # suspended at a yield
            await iteration.aclose()
        elif self._queue is not None:
            self._queue.put_nowait(_STOP)
        await self._close_websockets()
        await self._exchange.close()

    async def __aenter__(self) -> OrderBookStream:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncGenerator[EventBatch | Notice, None]:
        if self._iteration is not None:
            raise RuntimeError("an OrderBookStream is iterated once")
        self._iteration = self._run()
        return self._iteration

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before the ``attempt``-th consecutive reconnection (1, 2, ...):
        ``min(backoff_initial_s · 2^(attempt−1), backoff_max_s)``, times a uniform factor in
        [0.5, 1] with ``jitter``."""
        delay = min(self.backoff_initial_s * 2.0 ** min(attempt - 1, 60), self.backoff_max_s)
        return delay * self._rng.uniform(0.5, 1.0) if self.jitter else delay

    def _now_ns(self) -> int:
        """The clock, never going back along the stream (ns)."""
        self._last_ns = max(self._clock(), self._last_ns)
        return self._last_ns

    async def _watch_book(self, queue: asyncio.Queue) -> None:
        """Put each new state of ccxt's book in ``queue`` (its best levels, copied at once:
        ccxt updates the structure in place), or the error that ends the watch."""
        ex, contract = self._exchange, self.market.contract_size
        loop = asyncio.get_running_loop()
        try:
            while True:
                book = await ex.watch_order_book(self.symbol, self.depth)
                nonce = book.get("nonce")
                queue.put_nowait(("book", self._now_ns(), loop.time(),
                                  _levels(book["bids"], self.depth, contract),
                                  _levels(book["asks"], self.depth, contract),
                                  nonce if isinstance(nonce, int) else NO_ID))
        except Exception as e:  # handed to the iteration, which decides
            queue.put_nowait(("error", e))

    async def _watch_trades(self, queue: asyncio.Queue) -> None:
        """Put each list of new trades from ccxt in ``queue``, or the error that ends it."""
        ex = self._exchange
        try:
            while True:
                trades = await ex.watch_trades(self.symbol)
                queue.put_nowait(("trades", self._now_ns(), [
                    (t.get("id"), t.get("timestamp"), t.get("side"), t.get("price"),
                     t.get("amount")) for t in trades]))
        except Exception as e:  # handed to the iteration, which decides
            queue.put_nowait(("error", e))

    def _book_rows(self, ts: int, bids: Levels, asks: Levels, uid: int) -> np.ndarray:
        """The rows of a book state: a snapshot after a (re)connection, else the changes."""
        if self._previous is None:
            rows = ([(ts, SNAPSHOT, BID, p, s, uid) for p, s in bids]
                    + [(ts, SNAPSHOT, ASK, p, s, uid) for p, s in asks])
        else:
            rows = ([(ts, DELTA, BID, p, s, uid) for p, s in _changes(self._previous[0], bids)]
                    + [(ts, DELTA, ASK, p, s, uid)
                       for p, s in _changes(self._previous[1], asks)])
        self._previous = dict(bids), dict(asks)
        return np.array(rows, dtype=EVENT_DTYPE)

    def _trade_rows(self, ts: int, trades: list[tuple]) -> np.ndarray:
        """TRADE rows of the trades not seen before (ids remembered, :data:`SEEN_TRADES`)."""
        contract = self.market.contract_size
        rows = []
        for trade_id, ms, side, price, amount in trades:
            key = trade_id if trade_id is not None else (ms, side, price, amount)
            if key in self._seen:
                self.stats.duplicate_trades += 1
                continue
            self._seen[key] = None
            if len(self._seen) > SEEN_TRADES:
                self._seen.popitem(last=False)
            code = {"buy": BUY, "sell": SELL}.get(side)
            ok = (code is not None and isinstance(price, int | float) and math.isfinite(price)
                  and price > 0 and isinstance(amount, int | float) and math.isfinite(amount)
                  and amount > 0)
            if not ok:
                self.stats.skipped_trades += 1
                continue
            rows.append((ts, TRADE, code, float(price), float(amount) * contract, NO_ID))
        self.stats.trades += len(rows)
        return np.array(rows, dtype=EVENT_DTYPE)

    async def _close_websockets(self) -> None:
        """Close the exchange's websockets (ccxt's clients), each within
        :data:`CLOSE_TIMEOUT_S`, and drop them from the exchange."""
        ex = self._exchange
        clients = dict(ex.clients or {})
        await asyncio.gather(*(asyncio.wait_for(client.close(), CLOSE_TIMEOUT_S)
                               for client in clients.values()), return_exceptions=True)
        for url, client in clients.items():
            if ex.clients.get(url) is client:
                del ex.clients[url]

    async def _disconnect(self) -> None:
        """Close the exchange's websockets and forget ccxt's book of the old connection (and
        ccxt's own dial delay: this stream's backoff decides when to dial)."""
        ex = self._exchange
        await self._close_websockets()
        ex.orderbooks.pop(self.symbol, None)
        getattr(ex, "ws_dial_backoff", {}).clear()
        self._previous = None

    async def _run(self) -> AsyncGenerator[EventBatch | Notice, None]:
        """The iteration: connect, hand over batches until the connection fails or goes
        stale, say so, back off, reconnect; until :meth:`close`."""
        import ccxt

        await self.open()
        loop = asyncio.get_running_loop()
        attempt = 0
        tasks: list[asyncio.Task] = []
        try:
            while not self._closing:
                queue: asyncio.Queue = asyncio.Queue()
                self._queue = queue
                tasks = [asyncio.create_task(self._watch_book(queue)),
                         asyncio.create_task(self._watch_trades(queue))]
                deadline = loop.time() + self.stale_after_s
                while True:
                    try:
                        async with asyncio.timeout_at(deadline):
                            item = await queue.get()
                    except TimeoutError:
                        kind = STALE
                        reason = (f"no book snapshot {self.stale_after_s:g} s after subscribing"
                                  if self._previous is None else
                                  f"no book update for {self.stale_after_s:g} s")
                        break
                    if item is _STOP:
                        return
                    if item[0] == "error":
                        error = item[1]
                        if isinstance(error, ccxt.NetworkError | OSError):
                            kind, reason = DISCONNECTED, f"{type(error).__name__}: {error}"
                            break
                        if isinstance(error, ccxt.BadRequest):
                            raise ConfigError(f"depth={self.depth}: {self._exchange.id} refused "
                                              f"the subscription ({error})") from error
                        raise error
                    if item[0] == "trades":
                        rows = self._trade_rows(item[1], item[2])
                        if len(rows):
                            yield EventBatch(rows)
                        continue
                    _, ts, mono, bids, asks, uid = item
                    if not (bids or asks):
                        continue  # an empty book (a halted market) is no snapshot
                    if bids and asks and bids[0][0] >= asks[0][0]:
                        kind = STALE
                        reason = f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]}"
                        break
                    deadline = mono + self.stale_after_s
                    first = self._previous is None
                    rows = self._book_rows(ts, bids, asks, uid)
                    self.stats.book_updates += 1
                    if first:
                        self.stats.snapshots += 1
                        self._live = True
                        yield Notice(CONNECTED, ts, "snapshot" if self.stats.snapshots == 1
                                     else "resynchronized from a fresh snapshot",
                                     attempt=self.stats.snapshots - 1)
                        attempt = 0
                    if len(rows):
                        yield EventBatch(rows)
                self._live = False
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if kind == STALE:
                    self.stats.stale += 1
                else:
                    self.stats.disconnects += 1
                yield Notice(kind, self._now_ns(), reason)
                await self._disconnect()
                if self._closing:
                    return
                attempt += 1
                delay = self.backoff_delay(attempt)
                yield Notice(RECONNECTING, self._now_ns(), f"attempt {attempt} in {delay:.3g} s",
                             delay_s=delay, attempt=attempt)
                self._queue = asyncio.Queue()
                try:
                    async with asyncio.timeout(delay):
                        if await self._queue.get() is _STOP:
                            return
                except TimeoutError:
                    pass
        finally:
            self._live = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
