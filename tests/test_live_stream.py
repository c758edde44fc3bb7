"""The live stream (:mod:`mmgym.live.stream`) against a Bybit V5 public websocket on loopback.

Every message goes through ccxt's own bybit websocket client and parsing
(:mod:`tests.bybit_ws_server` speaks Bybit's format); markets come from ccxt's parsing of a
static instruments reply, so nothing leaves 127.0.0.1. The tests rebuild the book from the
emitted batches (:class:`LiveBook`) and compare it with the book the server showed.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from bybit_ws_server import (
    BybitPublicServer,
    Delta,
    Drop,
    Side,
    Sleep,
    Snapshot,
    Stall,
    Trades,
    bybit_markets,
)

from mmgym.data.schema import ASK, BID, BUY, DELTA, SELL, SNAPSHOT, TRADE
from mmgym.live.stream import (
    CLOSE_TIMEOUT_S,
    CONNECTED,
    DISCONNECTED,
    RECONNECTING,
    STALE,
    EventBatch,
    LiveBook,
    Notice,
    OrderBookStream,
)
from mmgym.validation import ConfigError

SYMBOL = "BTC/USDT:USDT"
BIDS = [(65000.0, 1.0), (64999.5, 2.5), (64998.0, 0.4)]
ASKS = [(65000.1, 0.7), (65001.0, 3.0), (65003.2, 1.1)]
FAST = {"jitter": False, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "stale_after_s": 2.0}
"""Stream settings of the tests: exact, short reconnection delays."""


@dataclass
class Seen:
    """An item the stream yielded, the rebuilt book after it, the stream's ``live`` flag and
    the monotonic time (s) it arrived."""

    item: EventBatch | Notice
    book: tuple[Side, Side]
    live: bool
    t: float


async def _play(server: BybitPublicServer, until: Callable[[list[Seen]], bool],
                on_item: Callable[[Seen], None] | None = None,
                **settings: Any) -> tuple[list[Seen], OrderBookStream]:
    """Stream from ``server`` until ``until(seen)`` holds; the items with the book after each."""
    stream = OrderBookStream("bybit", SYMBOL, ws_url=server.url,
                             markets=await bybit_markets(), **{**FAST, **settings})
    book, seen = LiveBook(), []
    async with stream:
        async for item in stream:
            if isinstance(item, EventBatch):
                book.apply(item.rows)
            seen.append(Seen(item, (dict(book.bids), dict(book.asks)), stream.live,
                             time.monotonic()))
            if on_item is not None:
                on_item(seen[-1])
            if until(seen):
                break
    return seen, stream


def _run(scenario: Callable[..., Any], *args: Any, timeout_s: float = 10.0) -> Any:
    """Run ``scenario(*args)`` in a fresh event loop, failing after ``timeout_s``."""
    return asyncio.run(asyncio.wait_for(scenario(*args), timeout_s))


def _caught_up(server: BybitPublicServer) -> Callable[[list[Seen]], bool]:
    """Stop once the script has run and the rebuilt book is the server's last one."""
    return lambda seen: (server.done.is_set() and bool(server.books)
                         and seen[-1].book == server.books[-1])


def _notices(seen: list[Seen]) -> list[Notice]:
    return [s.item for s in seen if isinstance(s.item, Notice)]


def _books_follow_the_server(seen: list[Seen], books: list[tuple[Side, Side]]) -> int:
    """Assert that the book after each book batch is one the server showed, in the server's
    order (batches may merge messages, never reorder them); returns the batches checked."""
    j, checked = 0, 0
    for s in seen:
        if isinstance(s.item, EventBatch) and s.item.rows["kind"][0] != TRADE:
            while j < len(books) and books[j] != s.book:
                j += 1
            assert j < len(books), f"batch {checked}: a book the server never showed"
            checked += 1
    return checked


# ----------------------------------------------------------------------------- the book


def _random_script(rng: random.Random, steps: int) -> tuple[list, list, list]:
    """A book of 55 levels a side on a 0.1 grid (more than the topic's 50) and ``steps``
    random level changes that never cross it, some sent together, a service restart
    (snapshot) halfway, trades in between."""
    bids = [(round(65000.0 - 0.1 * i, 2), round(rng.uniform(0.001, 5.0), 3)) for i in range(55)]
    asks = [(round(65000.1 + 0.1 * i, 2), round(rng.uniform(0.001, 5.0), 3)) for i in range(55)]
    script: list = []
    for k in range(steps):
        side = rng.choice(("bids", "asks"))
        offset = rng.randrange(60)
        price = round(65000.0 - 0.1 * offset if side == "bids" else 65000.1 + 0.1 * offset, 2)
        size = 0.0 if rng.random() < 0.3 else round(rng.uniform(0.001, 5.0), 3)
        script.append(Delta(**{side: [(price, size)]}))
        if k % 7 == 0:
            script.append(Trades([(f"id-{k}", rng.choice(("Buy", "Sell")), 65000.0, 0.01)]))
        if k % 3 == 0:
            script.append(Sleep(0.002))
        if k == steps // 2:
            script.append(Snapshot(bids[:30], asks[:30]))
    return script, bids, asks


def test_batches_rebuild_the_served_book_exactly():
    """Snapshot, then deltas of the changed levels: after every batch the rebuilt book is
    one the server showed (best 50 levels a side), in order, ending at its last one."""

    async def scenario():
        script, bids, asks = _random_script(random.Random(0), 300)
        async with BybitPublicServer(script, bids, asks) as server:
            seen, stream = await _play(server, _caught_up(server))
            return seen, stream, server

    seen, stream, server = _run(scenario)
    first, snapshot = seen[0].item, seen[1].item
    assert isinstance(first, Notice) and first.kind == CONNECTED and first.attempt == 0
    assert isinstance(snapshot, EventBatch) and snapshot.snapshot
    assert len(snapshot.rows) == 100 and seen[1].book == server.books[0]
    assert _notices(seen) == [first], "no reconnection on a healthy stream"
    batches = [s.item for s in seen if isinstance(s.item, EventBatch)]
    for batch in batches:
        kinds = set(batch.rows["kind"].tolist())
        assert len(set(batch.rows["ts_ns"].tolist())) == 1
        assert kinds in ({SNAPSHOT}, {DELTA}, {TRADE})
    assert sum(b.snapshot for b in batches) == 1, "a service restart is a change, not a resync"
    ts = np.concatenate([b.rows["ts_ns"] for b in batches])
    assert np.all(np.diff(ts) >= 0)
    checked = _books_follow_the_server(seen, server.books)
    assert seen[-1].book == server.books[-1]
    assert all(len(s.book[0]) <= 50 and len(s.book[1]) <= 50 for s in seen)
    assert checked <= stream.stats.book_updates <= len(server.books)
    assert stream.stats.snapshots == 1 and stream.stats.disconnects == stream.stats.stale == 0


def test_levels_are_in_base_units_and_sides_are_the_schemas():
    async def scenario():
        script = [Delta(bids=[(64999.5, 0.0)], asks=[(65000.5, 0.25)]),
                  Trades([("a", "Buy", 65000.1, 0.002), ("b", "Sell", 65000.0, 0.5)])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, _ = await _play(server, lambda seen: sum(
                isinstance(s.item, EventBatch) for s in seen) == 3)
            return [s.item for s in seen if isinstance(s.item, EventBatch)]

    snapshot, delta, trades = _run(scenario)
    assert snapshot.frame()[["kind", "side", "price", "size"]].values.tolist() == (
        [[SNAPSHOT, BID, p, s] for p, s in BIDS] + [[SNAPSHOT, ASK, p, s] for p, s in ASKS])
    assert sorted(delta.rows[["side", "price", "size"]].tolist()) == [
        (ASK, 65000.5, 0.25), (BID, 64999.5, 0.0)]
    assert trades.rows[["kind", "side", "price", "size"]].tolist() == [
        (TRADE, BUY, 65000.1, 0.002), (TRADE, SELL, 65000.0, 0.5)]
    assert list(trades.frame().dtypes.astype(str)) == [
        "int64", "int8", "int8", "float64", "float64", "int64"]


# ----------------------------------------------------------------------------- trades


def test_trades_come_once_each_across_a_reconnection():
    """The server replays trades after a reconnection: each comes through once, in order."""
    first = [("t1", "Buy", 65000.1, 0.01), ("t2", "Sell", 65000.0, 0.02),
             ("t3", "Buy", 65000.1, 0.03)]
    again = [("t2", "Sell", 65000.0, 0.02), ("t3", "Buy", 65000.1, 0.03),
             ("t4", "Sell", 64999.5, 0.04)]

    async def scenario():
        script = [Trades(first[:2]), Trades(first[2:]), Sleep(0.05), Drop(), Trades(again),
                  Trades([("t5", "Buy", 65001.0, 0.05), ("t1", "Buy", 65000.1, 0.01)])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, stream = await _play(server, lambda seen: stream_trades(seen) == 5)
            return seen, stream, server

    def stream_trades(seen: list[Seen]) -> int:
        return sum(int(np.sum(s.item.rows["kind"] == TRADE)) for s in seen
                   if isinstance(s.item, EventBatch))

    seen, stream, server = _run(scenario)
    rows = np.concatenate([s.item.rows for s in seen if isinstance(s.item, EventBatch)
                           and s.item.rows["kind"][0] == TRADE])
    side = {"Buy": BUY, "Sell": SELL}
    expected = [*first, again[2], ("t5", "Buy", 65001.0, 0.05)]
    assert rows[["side", "price", "size"]].tolist() == [
        (side[s], p, v) for _, s, p, v in expected]
    assert server.connections == 2 and len(server.trade_ids) == 8
    assert stream.stats.trades == 5 and stream.stats.duplicate_trades == 3


# ----------------------------------------------------------------------------- failures


@pytest.mark.parametrize("abort", [False, True], ids=["close-frame", "cut"])
def test_a_dropped_connection_is_recovered_and_the_book_resynchronized(abort):
    """Disconnected → reconnecting → connected with a fresh snapshot that holds the changes
    made while the connection was down; the book follows the server again after it."""

    async def scenario():
        away = [Delta(asks=[(65000.1, 0.0), (65000.4, 0.9)]), Delta(bids=[(64998.0, 0.0)])]
        script = [Delta(bids=[(65000.0, 1.5)]), Sleep(0.05), Drop(abort, away), Sleep(0.05),
                  Delta(bids=[(64999.9, 0.3)]), Delta(asks=[(65000.4, 1.9)])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, stream = await _play(server, _caught_up(server))
            return seen, stream, server

    seen, stream, server = _run(scenario)
    notices = _notices(seen)
    assert [n.kind for n in notices] == [CONNECTED, DISCONNECTED, RECONNECTING, CONNECTED]
    assert notices[1].reason and notices[2].delay_s == 0.02 and notices[2].attempt == 1
    assert notices[3].attempt == 1 and "resynchronized" in notices[3].reason
    i = next(k for k, s in enumerate(seen) if s.item is notices[3])
    resync = seen[i + 1]
    assert isinstance(resync.item, EventBatch) and resync.item.snapshot
    assert resync.book == server.books[2] == (
        {65000.0: 1.5, 64999.5: 2.5}, {65000.4: 0.9, 65001.0: 3.0, 65003.2: 1.1})
    live = {s.item.kind: s.live for s in seen if isinstance(s.item, Notice)}
    assert live == {CONNECTED: True, DISCONNECTED: False, RECONNECTING: False}
    assert seen[-1].book == server.books[-1] and seen[-1].live
    _books_follow_the_server(seen, server.books)
    assert server.connections == 2
    assert server.subscriptions[2:] == [["orderbook.50.BTCUSDT"], ["publicTrade.BTCUSDT"]]
    assert stream.stats.disconnects == 1 and stream.stats.snapshots == 2


def test_a_stalled_stream_is_declared_stale_then_resynchronized():
    """A connection that stays open but sends nothing: STALE after ``stale_after_s`` and
    before any further book event, then a new connection and a fresh snapshot."""
    stale_after_s = 0.3

    async def scenario():
        script = [Delta(bids=[(65000.0, 1.2)]), Sleep(0.02),
                  Stall(meanwhile=[Delta(asks=[(65000.1, 0.0)])]), Sleep(0.05),
                  Delta(bids=[(64999.9, 0.6)])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, stream = await _play(server, _caught_up(server), stale_after_s=stale_after_s)
            return seen, stream, server

    seen, stream, server = _run(scenario)
    kinds = [s.item.kind if isinstance(s.item, Notice)
             else "snapshot" if s.item.snapshot else "delta" for s in seen]
    assert kinds == [CONNECTED, "snapshot", "delta", STALE, RECONNECTING, CONNECTED,
                     "snapshot", "delta"]
    last_book, stale = seen[2], seen[3]
    waited = stale.t - last_book.t
    assert stale_after_s - 0.02 <= waited <= stale_after_s + 0.5, waited
    assert (stale.item.ts_ns - last_book.item.rows["ts_ns"][0]) / 1e9 >= stale_after_s - 0.02
    assert not stale.live and "no book update for 0.3 s" in stale.item.reason
    assert seen[6].book == server.books[2] == (
        {65000.0: 1.2, 64999.5: 2.5, 64998.0: 0.4}, {65001.0: 3.0, 65003.2: 1.1})
    assert seen[-1].book == server.books[-1]
    assert server.connections == 2 and stream.stats.stale == 1


def test_a_dead_peer_is_cut_after_the_close_timeout():
    """A stalled server that does not even answer the closing handshake: the stream cuts the
    connection after CLOSE_TIMEOUT_S (not aiohttp's 10 s) and resynchronizes."""

    async def scenario():
        script = [Delta(bids=[(65000.0, 1.2)]), Stall(deaf=True), Delta(bids=[(64999.9, 0.6)])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, _ = await _play(server, _caught_up(server), stale_after_s=0.3)
            return seen, server

    seen, server = _run(scenario)
    notices = _notices(seen)
    assert [n.kind for n in notices] == [CONNECTED, STALE, RECONNECTING, CONNECTED]
    t = {s.item.kind: s.t for s in seen if isinstance(s.item, Notice)}
    assert CLOSE_TIMEOUT_S - 0.05 <= t[RECONNECTING] - t[STALE] <= CLOSE_TIMEOUT_S + 1.0
    assert seen[-1].book == server.books[-1] and server.connections == 2


def test_a_crossed_book_is_stale_and_resynchronized():
    async def scenario():
        script = [Delta(bids=[(65000.2, 1.0)]), Stall([Delta(bids=[(65000.2, 0.0)])])]
        async with BybitPublicServer(script, BIDS, ASKS) as server:
            seen, _ = await _play(server, lambda seen: len(_notices(seen)) == 4)
            return seen, server

    seen, server = _run(scenario)
    notices = _notices(seen)
    assert [n.kind for n in notices] == [CONNECTED, STALE, RECONNECTING, CONNECTED]
    assert "crossed book: best bid 65000.2 >= best ask 65000.1" in notices[1].reason
    assert not any(isinstance(s.item, EventBatch) and s.book[0].get(65000.2) for s in seen)
    assert seen[-1].book == server.books[0]


def test_backoff_delays_grow_are_capped_and_reset_after_a_snapshot():
    """While the server refuses connections (HTTP 503) the delays double up to the cap;
    after a snapshot the next failure starts again from the first delay."""

    async def scenario():
        async with BybitPublicServer([Sleep(0.05), Drop()], BIDS, ASKS) as server:
            server.refuse = True

            def on_item(s: Seen) -> None:
                if isinstance(s.item, Notice) and s.item.kind == RECONNECTING \
                        and s.item.attempt == 5:
                    server.refuse = False

            seen, _ = await _play(server, lambda seen: len(_notices(seen)) == 13,
                                  on_item=on_item, backoff_initial_s=0.02, backoff_max_s=0.1)
            return seen

    seen = _run(scenario)
    notices = _notices(seen)
    assert [n.kind for n in notices] == [DISCONNECTED, RECONNECTING] * 5 + [
        CONNECTED, DISCONNECTED, RECONNECTING]
    delays = [n.delay_s for n in notices if n.kind == RECONNECTING]
    assert delays == [0.02, 0.04, 0.08, 0.1, 0.1, 0.02]
    assert [n.attempt for n in notices if n.kind == RECONNECTING] == [1, 2, 3, 4, 5, 1]
    assert all("503" in n.reason for n in notices[:10:2])
    waits = [b.t - a.t for a, b in itertools.pairwise(seen)
             if isinstance(a.item, Notice) and a.item.kind == RECONNECTING]
    assert all(w >= d - 0.005 for w, d in zip(waits, delays, strict=False)), (waits, delays)


def test_backoff_jitter_stays_within_half_to_full_delay_and_is_seeded():
    def delays(seed: int) -> list[float]:
        stream = OrderBookStream("bybit", SYMBOL, backoff_initial_s=0.5, backoff_max_s=4.0,
                                 seed=seed)
        return [stream.backoff_delay(k) for k in range(1, 9)]

    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    got = delays(7)
    assert all(0.5 * n <= d <= n for d, n in zip(got, nominal, strict=True))
    assert got == delays(7) != delays(8)


# ----------------------------------------------------------------------------- config, stop


@pytest.mark.parametrize(("field", "kwargs"), [
    ("exchange", {"exchange": "no-such-exchange"}),
    ("exchange", {"exchange": "bitso"}),  # ccxt without websockets
    ("exchange", {"exchange": "mudrex"}),  # ccxt.pro without watchTrades
    ("symbol", {"symbol": ""}),
    ("symbol", {"symbol": "DOGE/USDT:USDT", "markets": True}),
    ("stale_after_s", {"stale_after_s": 0}),
    ("stale_after_s", {"stale_after_s": -1.0}),
    ("stale_after_s", {"stale_after_s": math.nan}),
    ("depth", {"depth": 0}),
    ("depth", {"depth": 2.5}),
    ("backoff_initial_s", {"backoff_initial_s": 0.0}),
    ("backoff_max_s", {"backoff_initial_s": 2.0, "backoff_max_s": 1.0}),
    ("jitter", {"jitter": "no"}),
    ("ws_url", {"ws_url": "http://127.0.0.1:1"}),
])
def test_bad_config_fails_at_construction_naming_the_field(field, kwargs):
    kwargs = {"exchange": "bybit", "symbol": SYMBOL, **kwargs}
    if kwargs.pop("markets", False):
        kwargs["markets"] = asyncio.run(bybit_markets())
    with pytest.raises(ConfigError, match=f"^{field}="):
        OrderBookStream(**kwargs)


def test_a_depth_the_exchange_does_not_stream_fails_naming_it():
    async def scenario():
        async with BybitPublicServer([], BIDS, ASKS) as server:
            await _play(server, lambda seen: True, depth=25)

    with pytest.raises(ConfigError, match=r"^depth=25: bybit refused"):
        _run(scenario)


def test_a_refused_subscription_ends_the_iteration_with_the_exchanges_error():
    """Not a network failure: no reconnection, ccxt's error is raised."""
    import ccxt

    async def scenario():
        async with BybitPublicServer([], BIDS, ASKS) as server:  # streams orderbook.50 only
            await _play(server, lambda seen: False, depth=200)

    with pytest.raises(ccxt.ExchangeError, match=r"handler not found,topic:orderbook\.200"):
        _run(scenario)


def test_the_market_units_come_from_ccxt():
    stream = OrderBookStream("bybit", SYMBOL, markets=asyncio.run(bybit_markets()))
    assert (stream.market.market_id, stream.market.tick_size, stream.market.lot_size,
            stream.market.contract_size) == ("BTCUSDT", 0.1, 0.001, 1.0)


def test_close_from_another_task_ends_the_iteration_and_closes_the_exchange():
    async def scenario():
        async with BybitPublicServer([Sleep(5.0)], BIDS, ASKS) as server:
            stream = OrderBookStream("bybit", SYMBOL, ws_url=server.url,
                                     markets=await bybit_markets(), **FAST)
            items = []

            async def consume() -> None:
                async for item in stream:
                    items.append(item)

            consumer = asyncio.create_task(consume())
            while not stream.live:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the consumer now waits inside the iteration
            start = time.monotonic()
            await stream.close()
            await asyncio.wait_for(consumer, 1.0)
            return items, stream, time.monotonic() - start

    items, stream, took = _run(scenario)
    assert isinstance(items[0], Notice) and items[0].kind == CONNECTED
    assert not stream.live and not stream.exchange.clients and stream.exchange.session is None
    assert took < 1.0
