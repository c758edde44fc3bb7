"""The Binance importer on spot recordings: hand-written messages in the documented spot format
(compact JSON, as the streams send it) and a small generated recording checked against a
plain dict book and its own bookTicker messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference import PlainBook

from mmgym.data.binance import _depth_texts, import_binance, read_binance, read_book_ticker
from mmgym.data.book import rebuild_book
from mmgym.data.importers import main
from mmgym.data.schema import ASK, BID, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events

LAST_ID = 1027024
"""``lastUpdateId`` of the hand-written snapshots."""


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def depth(ts: int, U: int, u: int, b=(), a=()) -> str:
    data = {"e": "depthUpdate", "E": ts // 10**6, "s": "BNBBTC", "U": U, "u": u,
            "b": [list(x) for x in b], "a": [list(x) for x in a]}
    return f"{ts} " + compact({"stream": "bnbbtc@depth@100ms", "data": data})


def trade(ts: int, p: str, q: str, m: bool) -> str:
    data = {"e": "trade", "E": ts // 10**6, "s": "BNBBTC", "t": 12345, "p": p, "q": q,
            "T": ts // 10**6, "m": m, "M": True}
    return f"{ts} " + compact({"stream": "bnbbtc@trade", "data": data})


def ticker(ts: int, u: int, b: str, bq: str, a: str, aq: str) -> str:
    data = {"u": u, "s": "BNBBTC", "b": b, "B": bq, "a": a, "A": aq}
    return f"{ts} " + compact({"stream": "bnbbtc@bookTicker", "data": data})


def snapshot(ts: int, last_id: int = LAST_ID, bids=(("4.00000000", "431.00000000"),),
             asks=(("4.00000200", "12.00000000"),)) -> str:
    return f"{ts} " + compact({"lastUpdateId": last_id, "bids": [list(x) for x in bids],
                               "asks": [list(x) for x in asks]})


def usdm_depth(ts: int, U: int, u: int, pu: int) -> str:
    data = {"e": "depthUpdate", "E": ts // 10**6, "T": ts // 10**6, "s": "BNBBTC", "U": U,
            "u": u, "pu": pu, "b": [["4.00000000", "1.00000000"]], "a": []}
    return f"{ts} " + compact({"stream": "bnbbtc@depth@0ms", "data": data})


def usdm_ticker(ts: int, u: int) -> str:
    data = {"e": "bookTicker", "u": u, "s": "BNBBTC", "b": "4.00000000", "B": "1.00000000",
            "a": "4.00000200", "A": "2.00000000", "T": ts // 10**6, "E": ts // 10**6}
    return f"{ts} " + compact({"stream": "bnbbtc@bookTicker", "data": data})


def write(tmp_path: Path, lines: list[str], name: str = "spot") -> Path:
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = [
    snapshot(1000),
    depth(1100, 1027017, LAST_ID, b=[("3.99999900", "5.00000000")]),  # u = lastUpdateId: stale
    depth(1200, 1027020, 1027027, b=[("4.00000000", "400.00000000")],  # straddles it: applied
          a=[("4.00000300", "7.00000000")]),
    trade(1300, "4.00000200", "1.50000000", True),
    ticker(1350, 1027027, "4.00000000", "400.00000000", "4.00000200", "12.00000000"),
    depth(1400, 1027028, 1027030, a=[("4.00000200", "0.00000000")]),
]


def test_spot_rows_report_and_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    events, report = read_binance(path)
    expected = pd.DataFrame({
        "ts_ns": [1000, 1000, 1200, 1200, 1300, 1400],
        "kind": [SNAPSHOT, SNAPSHOT, DELTA, DELTA, TRADE, DELTA],
        "side": [BID, ASK, BID, ASK, SELL, ASK],
        "price": [4.0, 4.000002, 4.0, 4.000003, 4.000002, 4.000002],
        "size": [431.0, 12.0, 400.0, 7.0, 1.5, 0.0],
        "update_id": [LAST_ID, LAST_ID, 1027027, 1027027, NO_ID, 1027030],
    }).astype(events.dtypes.to_dict())
    pd.testing.assert_frame_equal(events, expected)
    assert report.messages == {"snapshot": 1, "depth_before_snapshot": 1, "depthUpdate": 2,
                               "trade": 1}
    assert not report.skipped and not report.repaired
    assert report.metadata == {"mmgym.source": "binance-spot", "mmgym.symbol": "BNBBTC",
                               "mmgym.tick_size": "1e-06", "mmgym.lot_size": "0.5"}
    given, _ = read_binance(path, venue="spot")
    pd.testing.assert_frame_equal(given, events)
    out = tmp_path / "spot.parquet"
    import_binance(path, out)
    assert read_events(out)[1]["mmgym.source"] == "binance-spot"


def test_spot_book_ticker_has_no_exchange_time(tmp_path: Path) -> None:
    table = read_book_ticker(write(tmp_path, GOOD))
    assert table.values.tolist() == [[1350, 1027027, -1, 4.0, 400.0, 4.000002, 12.0]]
    assert table.dtypes["exchange_ms"] == np.int64


def test_usdm_book_ticker_without_exchange_time_is_bad(tmp_path: Path) -> None:
    path = write(tmp_path, [usdm_ticker(1000, 5), usdm_ticker(2000, 6).replace(',"E":0', "")])
    with pytest.raises(DataError, match=f"{path}:2: bad bookTicker line"):
        read_book_ticker(path)


def test_spot_line_takes_the_fast_path() -> None:
    payload = compact({"stream": "bnbbtc@depth", "data": {
        "e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
        "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}}).encode()
    header, bids, asks = _depth_texts(payload)
    assert header == {"stream": "bnbbtc@depth", "data": {
        "e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
        "b": [], "a": []}}
    assert (bids, asks) == (b'[["0.0024","10"]]', b'[["0.0026","100"]]')


def test_spot_gap_is_counted_with_its_line_and_fails_strict(tmp_path: Path) -> None:
    lines = [
        snapshot(1000),
        depth(1100, LAST_ID + 1, 1027026, b=[("3.99999900", "1.00000000")]),  # lastUpdateId + 1
        depth(1200, 1027028, 1027030, a=[("4.00000300", "2.00000000")]),  # 1027027 is lost
    ]
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    assert report.skipped == {"gap": 1}
    assert report.examples == [
        f"{path}:3: gap: U=1027028 but the previous update ended at u=1027026"]
    assert events.update_id.tolist() == [LAST_ID, LAST_ID, 1027026, 1027030]
    with pytest.raises(DataError, match=f"{path}:3: gap: U=1027028"):
        read_binance(path, strict=True)


def test_spot_first_update_starting_after_the_snapshot_is_a_gap(tmp_path: Path) -> None:
    lines = [snapshot(1000), depth(1100, LAST_ID + 2, 1027027, b=[("3.99999900", "1.00000000")])]
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    assert report.skipped == {"gap": 1}
    assert report.examples == [f"{path}:2: gap: first update after the snapshot starts at "
                               f"U=1027026, after lastUpdateId + 1 = 1027025"]
    assert events.update_id.tolist() == [LAST_ID, LAST_ID, 1027027]
    with pytest.raises(DataError, match=f"{path}:2: gap: first update after the snapshot"):
        read_binance(path, strict=True)


@pytest.mark.parametrize(
    ("last_id", "reapplied", "gaps"),
    [
        (LAST_ID, [1027027], 0),  # the second update starts at lastUpdateId + 1
        (1027016, [LAST_ID, 1027027], 0),  # the first starts at lastUpdateId + 1
        (1027015, [LAST_ID, 1027027], 1),  # 1027016 is in neither
    ],
)
def test_spot_snapshot_after_buffered_updates(tmp_path: Path, last_id: int,
                                              reapplied: list[int], gaps: int) -> None:
    lines = [
        depth(1000, 1027017, LAST_ID, b=[("3.99999900", "1.00000000")]),
        depth(1100, LAST_ID + 1, 1027027, a=[("4.00000300", "2.00000000")]),
        snapshot(1200, last_id),
        depth(1300, 1027028, 1027029, b=[("3.99999800", "3.00000000")]),
    ]
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    at_snapshot = events[events.ts_ns == 1200]
    assert at_snapshot.update_id.tolist() == [last_id, last_id, *reapplied]
    assert events.update_id.iloc[-1] == 1027029
    assert report.skipped == ({"gap": gaps} if gaps else {})
    if gaps:
        assert report.examples[0].startswith(f"{path}:3: gap: snapshot lastUpdateId=1027015")


@pytest.mark.parametrize(
    ("lines", "venue", "message"),
    [
        ([depth(1000, 1, 2), usdm_depth(1100, 3, 4, 2)], "auto",
         ":2: a depthUpdate with 'pu' is Binance USD-M futures, but line 1 (a depthUpdate "
         "without 'pu') made the file spot: one file, one venue"),
        ([ticker(1000, 1, "4.00000000", "1.00000000", "4.00000200", "1.00000000"),
          trade(1050, "4.00000000", "1.00000000", False), usdm_ticker(1100, 2)], "auto",
         ":3: a bookTicker with 'e' is Binance USD-M futures, but line 1 (a bookTicker "
         "without 'e') made the file spot: one file, one venue"),
        ([usdm_depth(1000, 1, 2, 0),
          ticker(1100, 3, "4.00000000", "1.00000000", "4.00000200", "1.00000000")], "auto",
         ":2: a bookTicker without 'e' is Binance spot, but line 1 (a depthUpdate with 'pu') "
         "made the file USD-M futures: one file, one venue"),
        (GOOD, "usdm", ":2: a depthUpdate without 'pu' is Binance spot, but the venue given "
         "made the file USD-M futures: one file, one venue"),
        ([usdm_depth(1000, 1, 2, 0)], "spot", ":1: a depthUpdate with 'pu' is Binance USD-M "
         "futures, but the venue given made the file spot: one file, one venue"),
    ],
)
def test_messages_of_two_venues_are_an_error(tmp_path: Path, lines: list[str], venue: str,
                                              message: str) -> None:
    path = write(tmp_path, lines)
    with pytest.raises(DataError) as error:
        read_binance(path, venue=venue)
    assert str(error.value) == f"{path}{message}"


def test_a_file_without_depth_or_book_ticker_needs_the_venue(tmp_path: Path) -> None:
    path = write(tmp_path, [trade(1000, "4.00000000", "1.00000000", False)])
    with pytest.raises(DataError, match="no depthUpdate or bookTicker message tells Binance "
                                        r"spot from USD-M futures; give the venue"):
        read_binance(path)
    assert read_binance(path, venue="spot")[1].metadata["mmgym.source"] == "binance-spot"
    assert read_binance(path, venue="usdm")[1].metadata["mmgym.source"] == "binance-usdm"
    with pytest.raises(ValueError, match="venue 'futures'"):
        read_binance(path, venue="futures")


def test_command_line_venue_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write(tmp_path, GOOD)
    out = tmp_path / "events.parquet"
    assert main(["binance", str(src), "-o", str(out), "--venue", "usdm"]) == 1
    assert f"{src}:2: a depthUpdate without 'pu' is Binance spot" in capsys.readouterr().err
    assert not out.exists()
    assert main(["binance", str(src), "-o", str(out), "--venue", "spot"]) == 0
    assert "6 lines, 6 events" in capsys.readouterr().out
    assert read_events(out)[1]["mmgym.source"] == "binance-spot"


BID_PRICES = [f"{4 - 1e-6 * k:.8f}" for k in range(4)]
ASK_PRICES = [f"{4 + 1e-6 * k:.8f}" for k in range(1, 5)]
SIZES = ["0.00000000", "2.50000000", "10.00000000", "431.00000000"]


def spot_recording(messages: int = 30, snapshot_after: int = 3
                   ) -> tuple[list[str], dict[int, tuple[float, float, float, float]], int]:
    """A spot recording of single book changes (one update id each) batched into depthUpdate
    messages of 1 to 4, a bookTicker whenever the best bid or ask (price or size) changes,
    and a REST snapshot of the book at the end of message ``snapshot_after - 1`` received
    after message ``snapshot_after + 1`` (so the stream is buffered across it).

    Returns the lines, the plain book's top after each message's final update id, and the
    number of bookTicker lines."""
    rng = np.random.default_rng(11)
    plain = PlainBook()
    plain.apply([(p, "1.00000000") for p in BID_PRICES], [(p, "1.00000000") for p in ASK_PRICES])
    lines, tops, uid, ts, top, tickers = [], {}, 1027000, 10**18, plain.top(), 0
    snap = ""
    for m in range(messages):
        U, batch = uid + 1, ({}, {})
        for _ in range(int(rng.integers(1, 5))):
            uid += 1
            s = int(rng.integers(2))
            price = str(rng.choice(BID_PRICES if s == 0 else ASK_PRICES))
            size = str(rng.choice(SIZES))
            side = plain.bids if s == 0 else plain.asks
            if size == SIZES[0] and list(side) == [float(price)]:
                size = SIZES[1]  # never empty a side: a bookTicker cannot show it
            batch[s][price] = size
            plain.apply(*(([(price, size)], []) if s == 0 else ([], [(price, size)])))
            if plain.top() != top:
                top = plain.top()
                ts += 1000
                lines.append(ticker(ts, uid, f"{top[0]:.8f}", f"{top[1]:.8f}", f"{top[2]:.8f}",
                                    f"{top[3]:.8f}"))
                tickers += 1
        ts += 1000
        lines.append(depth(ts, U, uid, b=list(batch[0].items()), a=list(batch[1].items())))
        tops[uid] = plain.top()
        if m == snapshot_after - 1:
            snap_id = uid
            bids = [(f"{p:.8f}", f"{q:.8f}") for p, q in sorted(plain.bids.items(), reverse=True)]
            asks = [(f"{p:.8f}", f"{q:.8f}") for p, q in sorted(plain.asks.items())]
        if m == snapshot_after + 1:
            ts += 1000
            snap = snapshot(ts, snap_id, bids, asks)
            lines.append(snap)
    assert snap  # the generator wrote its snapshot
    return lines, tops, tickers


def test_spot_book_agrees_with_plain_book_and_book_ticker(tmp_path: Path) -> None:
    """As on the USD-M sample (``test_data_binance``): at each depth update after the REST
    snapshot, the rebuilt best bid and ask equal those of the last bookTicker with ``u`` at
    or before the update's ``u``, and here also the plain dict book's at that id, exactly."""
    lines, tops, tickers = spot_recording()
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    assert report.messages == {"depthUpdate": 30, "snapshot": 1}
    assert not report.skipped and not report.repaired
    assert report.metadata["mmgym.source"] == "binance-spot"
    book = rebuild_book(events)
    warm = np.arange(len(book.kind)) > np.flatnonzero(book.kind == SNAPSHOT)[0]
    # the snapshot holds messages 0-2: 3 and 4 are re-applied, then 5-29 arrive
    assert book.update_id[warm].tolist() == sorted(tops)[3:]
    got = np.column_stack([book.bid_price, book.bid_size, book.ask_price, book.ask_size])[warm]
    np.testing.assert_array_equal(got, np.array([tops[u] for u in book.update_id[warm]]))
    ticker_ = read_book_ticker(path).sort_values("update_id")
    assert len(ticker_) == tickers == 26
    j = np.searchsorted(ticker_.update_id.to_numpy(), book.update_id[warm], side="right") - 1
    assert (j >= 0).all()
    t = ticker_.iloc[j][["bid_price", "bid_size", "ask_price", "ask_size"]].to_numpy()
    np.testing.assert_array_equal(got, t)
    assert not book.crossed.any()
