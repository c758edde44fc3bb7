"""A Bybit V5 public websocket server on loopback, for the tests of :mod:`mmgym.live.stream`.

:class:`BybitPublicServer` (aiohttp, 127.0.0.1, a free port) answers what ccxt's bybit class
sends on ``/v5/public/linear`` (any path) as Bybit documents it (https://bybit-exchange.github.io/
docs/v5/ws/connect, .../v5/websocket/public/orderbook, .../v5/websocket/public/trade):

- ``{"op": "subscribe", "req_id": ..., "args": [topic, ...]}``: an acknowledgement
  ``{"success": true, "ret_msg": "", "conn_id": ..., "req_id": ..., "op": "subscribe"}``
  (``success`` false with ``"error:handler not found,topic:..."`` for another topic than
  ``orderbook.{depth}.{symbol}`` and ``publicTrade.{symbol}``); subscribing to the book sends
  its snapshot at once (the server's current book);
- ``{"op": "ping", "req_id": ...}``: ``{"success": true, "ret_msg": "pong", ..., "op": "ping"}``.

Once a connection has subscribed to both topics it plays the **script** from where the
previous connection left it, one step after the other (:class:`Delta`, :class:`Snapshot`,
:class:`Trades`, :class:`Sleep`, :class:`Wait`, :class:`Drop`, :class:`Stall`); :attr:`done`
is set when the script has run out. Messages are Bybit's: the book ``{"topic":
"orderbook.50.BTCUSDT", "type": "snapshot" | "delta", "ts": ms, "data": {"s", "b", "a", "u",
"seq"}, "cts": ms}`` (prices and sizes strings, a size ``"0"`` deletes the level), the
trades ``{"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ms, "data": [{"T", "s",
"S", "v", "p", "L", "i", "BT", "RPI", "seq"}]}``.

:attr:`BybitPublicServer.books` lists the book the topic showed (the best ``depth`` levels a
side) after every book message sent (a snapshot on subscribing included), so a test can
compare a client's book with it. Prices are kept rounded to 2 decimals and sizes to 3, as the
messages print them.
:func:`bybit_markets` gives ccxt's market structures of the instrument, parsed by ccxt's own
code from a static ``/v5/market/instruments-info`` reply, so that no REST call is made.

The same port answers REST's ``GET /v5/market/instruments-info`` with :data:`INSTRUMENT`
(``category=linear``), so that a process of its own (``mmgym-paper``) can load ccxt's
markets from it: point ccxt's ``urls['api']['public']`` at ``http://127.0.0.1:<port>`` and
set ``options={"fetchMarkets": {"types": ["linear"]}}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from reference import INSTRUMENT

Side = dict[float, float]
"""A book side: price → size."""



def instruments_info(params: dict[str, Any]) -> dict[str, Any]:
    """Bybit's ``/v5/market/instruments-info`` reply to ``params``: :data:`INSTRUMENT` for
    ``category=linear`` (nothing pre-launch), an empty list for another category."""
    listed = ([INSTRUMENT] if params.get("category") == "linear"
              and params.get("status") != "PreLaunch" else [])
    return {"retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": 1,
            "result": {"category": params.get("category"), "list": listed,
                       "nextPageCursor": ""}}


async def bybit_markets() -> list[dict[str, Any]]:
    """ccxt's market structure of :data:`INSTRUMENT` (``BTC/USDT:USDT``), parsed by ccxt's
    bybit class from a static instruments-info reply (no request leaves the process)."""
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.bybit()

    async def reply(params: dict[str, Any]) -> dict[str, Any]:
        return instruments_info(params)

    exchange.publicGetV5MarketInstrumentsInfo = reply
    try:
        return await exchange.fetch_future_markets({"category": "linear"})
    finally:
        await exchange.close()


@dataclass
class Delta:
    """Change levels (``(price, size)``, size 0 deletes) and send what changed in the best
    ``depth`` levels a side as a delta message, as Bybit's ``orderbook.{depth}`` topic does
    (a level pushed out is deleted, one moving in is sent; no message when the view did not
    change)."""

    bids: list[tuple[float, float]] = field(default_factory=list)
    asks: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Snapshot:
    """Replace the book and send it as a snapshot (as Bybit does after a service restart)."""

    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


@dataclass
class Trades:
    """Send one trade message: ``(trade id, "Buy" | "Sell", price, size)`` per trade."""

    trades: list[tuple[str, str, float, float]]


@dataclass
class Sleep:
    """Send nothing for ``seconds``."""

    seconds: float


@dataclass
class Wait:
    """Send nothing until ``until()`` returns (a coroutine function): a test holding the
    script until its client has reached a point, such as a paper-trading engine passing a
    step boundary."""

    until: Callable[[], Awaitable[Any]]


@dataclass
class Drop:
    """Close the connection (a close frame, code 1001; with ``abort`` the TCP connection is
    cut without one), the book making the ``meanwhile`` changes unseen (the market moving
    while the client is away); the script goes on on the next connection."""

    abort: bool = False
    meanwhile: list[Delta] = field(default_factory=list)


@dataclass
class Stall:
    """Send nothing more on this connection (it stays open and answers pings) until the
    client closes it, while the book makes the ``meanwhile`` changes unseen; the script goes
    on on the next connection. With ``deaf`` the server also stops answering anything, the
    client's closing handshake included (a dead peer: the client has to cut the
    connection)."""

    meanwhile: list[Delta] = field(default_factory=list)
    deaf: bool = False


Step = Delta | Snapshot | Trades | Sleep | Wait | Drop | Stall


def _changes(before: Side, after: Side) -> list[tuple[float, float]]:
    """The levels of ``after`` that differ from ``before``, and those gone (size 0)."""
    return ([(p, s) for p, s in after.items() if before.get(p) != s]
            + [(p, 0.0) for p in before if p not in after])


class BybitPublicServer:
    """Bybit V5's public linear stream of one symbol on 127.0.0.1 (module docstring).

    Args:
        script: the steps to play, in order, across connections.
        bids, asks: the book before the script, ``(price, size)`` levels.
        symbol: Bybit's symbol; depth: the book topic's depth (``orderbook.{depth}.{symbol}``).

    Attributes:
        refuse: answer new connections with HTTP 503 (a failed dial) while True.
        connections: connections accepted (upgraded to websocket).
        subscriptions: the topics of each subscribe request, in order.
        books: the server's book ``(bids, asks)`` after each book message sent.
        trade_ids: the ids of the trades sent, in order (repeats included).
        done: set once every step of the script has run.
    """

    def __init__(self, script: list[Step], bids: list[tuple[float, float]],
                 asks: list[tuple[float, float]], symbol: str = "BTCUSDT",
                 depth: int = 50) -> None:
        self.script = list(script)
        self.symbol, self.depth = symbol, depth
        self.bids: Side = {}
        self.asks: Side = {}
        self._set(self.bids, bids)
        self._set(self.asks, asks)
        self.refuse = False
        self.connections = 0
        self.subscriptions: list[list[str]] = []
        self.books: list[tuple[Side, Side]] = []
        self.trade_ids: list[str] = []
        self.done = asyncio.Event()
        self._position = 0
        self._update_id = itertools.count(1)
        self._seq = itertools.count(7_961_638_724)
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.url = ""

    @property
    def book_topic(self) -> str:
        return f"orderbook.{self.depth}.{self.symbol}"

    @property
    def trade_topic(self) -> str:
        return f"publicTrade.{self.symbol}"

    async def start(self) -> str:
        """Listen on 127.0.0.1 at a free port; returns (and sets) :attr:`url`,
        ``ws://127.0.0.1:<port>``."""
        app = web.Application()
        app.router.add_get("/v5/market/instruments-info", self._instruments)
        app.router.add_get("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Close the open connections and stop listening."""
        self._stopping.set()
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BybitPublicServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ messages

    @staticmethod
    def _ms() -> int:
        return time.time_ns() // 1_000_000

    @staticmethod
    def _levels(levels: list[tuple[float, float]]) -> list[list[str]]:
        return [[f"{p:.2f}", f"{s:.3f}"] for p, s in levels]

    def _book_message(self, kind: str, bids: list[tuple[float, float]],
                      asks: list[tuple[float, float]]) -> dict[str, Any]:
        ms = self._ms()
        return {"topic": self.book_topic, "type": kind, "ts": ms,
                "data": {"s": self.symbol, "b": self._levels(bids), "a": self._levels(asks),
                         "u": next(self._update_id), "seq": next(self._seq)},
                "cts": ms - 1}

    def _view(self) -> tuple[Side, Side]:
        """The book as the topic shows it: the best ``depth`` levels a side."""
        return (dict(sorted(self.bids.items(), reverse=True)[:self.depth]),
                dict(sorted(self.asks.items())[:self.depth]))

    def _snapshot_message(self) -> dict[str, Any]:
        bids, asks = self._view()
        return self._book_message("snapshot", sorted(bids.items(), reverse=True),
                                  sorted(asks.items()))

    def _trade_message(self, trades: list[tuple[str, str, float, float]]) -> dict[str, Any]:
        ms = self._ms()
        return {"topic": self.trade_topic, "type": "snapshot", "ts": ms, "data": [
            {"T": ms - 1, "s": self.symbol, "S": side, "v": f"{size:.3f}", "p": f"{price:.2f}",
             "L": "PlusTick" if side == "Buy" else "MinusTick", "i": trade_id, "BT": False,
             "RPI": False, "seq": next(self._seq)}
            for trade_id, side, price, size in trades]}

    def _record_book(self) -> None:
        self.books.append(self._view())

    def _apply(self, delta: Delta) -> None:
        self._set(self.bids, delta.bids)
        self._set(self.asks, delta.asks)

    @staticmethod
    def _set(side: Side, levels: list[tuple[float, float]]) -> None:
        """Set levels, rounded as the messages print them (so that the book equals what a
        client parses); size 0 deletes."""
        for price, size in levels:
            if round(size, 3) > 0:
                side[round(price, 2)] = round(size, 3)
            else:
                side.pop(round(price, 2), None)

    # ------------------------------------------------------------------ connections

    async def _instruments(self, request: web.Request) -> web.Response:
        return web.json_response(instruments_info(dict(request.query)))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            return web.Response(status=503, text="service unavailable")
        ws = web.WebSocketResponse(autoclose=False)  # a deaf server does not answer a close
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        conn_id = f"conn-{self.connections}"
        subscribed: set[str] = set()
        player: asyncio.Task | None = None
        deaf = asyncio.Event()
        try:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.CLOSE and deaf.is_set():
                    await self._stopping.wait()  # holds the connection, answering nothing
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                    await ws.close()
                    break
                if msg.type != WSMsgType.TEXT or deaf.is_set():
                    continue
                request_msg = json.loads(msg.data)
                op, req_id = request_msg.get("op"), request_msg.get("req_id")
                if op == "ping":
                    await ws.send_json({"success": True, "ret_msg": "pong", "conn_id": conn_id,
                                        "req_id": str(req_id), "op": "ping"})
                    continue
                if op != "subscribe":
                    await ws.send_json({"success": False, "ret_msg": f"error:invalid op {op}",
                                        "conn_id": conn_id, "req_id": str(req_id), "op": op})
                    continue
                topics = list(request_msg.get("args", []))
                self.subscriptions.append(topics)
                unknown = [t for t in topics if t not in (self.book_topic, self.trade_topic)]
                await ws.send_json({
                    "success": not unknown,
                    "ret_msg": f"error:handler not found,topic:{unknown[0]}" if unknown else "",
                    "conn_id": conn_id, "req_id": str(req_id), "op": "subscribe"})
                if unknown:
                    continue
                subscribed.update(topics)
                if self.book_topic in topics:
                    await ws.send_json(self._snapshot_message())
                    self._record_book()
                if player is None and subscribed == {self.book_topic, self.trade_topic}:
                    player = asyncio.create_task(self._play(ws, request, deaf))
        finally:
            self._sockets.discard(ws)
            if player is not None:
                player.cancel()
        return ws

    async def _play(self, ws: web.WebSocketResponse, request: web.Request,
                    deaf: asyncio.Event) -> None:
        """Run the script's steps from the current position on this connection (``deaf``
        set: the connection stops answering)."""
        while self._position < len(self.script):
            step = self.script[self._position]
            self._position += 1
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Wait):
                await step.until()
            elif isinstance(step, Delta):
                before = self._view()
                self._apply(step)
                after = self._view()
                bids, asks = _changes(before[0], after[0]), _changes(before[1], after[1])
                if bids or asks:
                    await ws.send_json(self._book_message("delta", bids, asks))
                    self._record_book()
            elif isinstance(step, Snapshot):
                self.bids, self.asks = {}, {}
                self._set(self.bids, step.bids)
                self._set(self.asks, step.asks)
                await ws.send_json(self._snapshot_message())
                self._record_book()
            elif isinstance(step, Trades):
                await ws.send_json(self._trade_message(step.trades))
                self.trade_ids += [t[0] for t in step.trades]
            elif isinstance(step, Drop):
                for delta in step.meanwhile:  # before the client can be back
                    self._apply(delta)
                if step.abort:
                    request.transport.abort()
                else:
                    await ws.close(code=1001, message=b"going away")
                break
            elif isinstance(step, Stall):
                for delta in step.meanwhile:
                    self._apply(delta)
                if step.deaf:
                    deaf.set()
                await asyncio.Event().wait()  # until the connection closes
        if self._position >= len(self.script):
            self.done.set()
