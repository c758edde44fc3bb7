"""The Tardis.dev CSV importer, on hand-made ``incremental_book_L2`` and ``trades`` files in
the documented schema."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference import PlainBook

from mmgym.data.book import rebuild_book
from mmgym.data.importers import main
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events
from mmgym.data.tardis import BOOK_COLUMNS, TRADE_COLUMNS, read_tardis

T0 = 1_700_000_000_000_000  # µs since the epoch
EX, SYM = "binance-futures", "BTCUSDT"


def t(ms: int) -> int:
    """A local_timestamp (µs), ``ms`` ms after T0."""
    return T0 + ms * 1000


def ns(ms: int) -> int:
    return t(ms) * 1000


def level(us: int, snapshot: bool, side: str, price: str, amount: str, exchange: str = EX,
          symbol: str = SYM) -> str:
    """A row of incremental_book_L2 (the exchange time a little before the arrival)."""
    return f"{exchange},{symbol},{us - 350},{us},{str(snapshot).lower()},{side},{price},{amount}"


def trade(us: int, side: str, price: str, amount: str, exchange: str = EX,
          symbol: str = SYM) -> str:
    """A row of trades."""
    return f"{exchange},{symbol},{us - 120},{us},{us % 977},{side},{price},{amount}"


def write(tmp_path: Path, rows: list[str], header: tuple[str, ...] = BOOK_COLUMNS,
          gz: bool = False, name: str = "book") -> Path:
    path = tmp_path / (f"{name}.csv.gz" if gz else f"{name}.csv")
    text = "\n".join([",".join(header), *rows]).encode() + b"\n"
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


BOOK = [  # lines 2..12 of the book file
    level(t(0), False, "bid", "99.0", "1"),  # before the first snapshot: dropped
    level(t(1), True, "bid", "100.0", "1.5"),
    level(t(1), True, "bid", "99.9", "2"),
    level(t(1) + 7, True, "ask", "100.1", "3"),  # later in the run: at the run's time
    level(t(1) + 7, True, "ask", "100.2", "1"),
    level(t(3), False, "ask", "100.1", "0"),
    level(t(3), False, "ask", "100.2", "2.5"),
    level(t(4), False, "bid", "99.8", "4"),
    level(t(6), True, "bid", "90.0", "1"),  # a new snapshot replaces the book
    level(t(6), True, "ask", "91.0", "2"),
    level(t(7), False, "bid", "90.5", "0.5"),
]
TRADES = [  # lines 2..6 of the trades file
    trade(t(1), "buy", "100.1", "0.5"),  # at the snapshot's time: after it
    trade(t(2), "sell", "100.0", "0.25"),
    trade(t(4), "buy", "100.2", "1.0"),  # at a delta's time: after it
    trade(t(5), "unknown", "100.0", "0.75"),  # no aggressor: skipped and counted
    trade(t(7), "sell", "90.5", "0.25"),
]
EXPECTED = pd.DataFrame({
    "ts_ns": [ns(1)] * 5 + [ns(2), ns(3), ns(3), ns(4), ns(4), ns(6), ns(6), ns(7), ns(7)],
    "kind": [SNAPSHOT] * 4 + [TRADE, TRADE, DELTA, DELTA, DELTA, TRADE, SNAPSHOT, SNAPSHOT,
                              DELTA, TRADE],
    "side": [BID, BID, ASK, ASK, BUY, SELL, ASK, ASK, BID, BUY, BID, ASK, BID, SELL],
    "price": [100.0, 99.9, 100.1, 100.2, 100.1, 100.0, 100.1, 100.2, 99.8, 100.2, 90.0, 91.0,
              90.5, 90.5],
    "size": [1.5, 2.0, 3.0, 1.0, 0.5, 0.25, 0.0, 2.5, 4.0, 1.0, 1.0, 2.0, 0.5, 0.25],
    "update_id": [NO_ID] * 14,
})
METADATA = {"mmgym.source": "tardis-binance-futures", "mmgym.symbol": "BTCUSDT",
            "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.25"}


def files(tmp_path: Path, book: list[str] = BOOK, trades: list[str] = TRADES,
          gz: tuple[bool, bool] = (False, False)) -> tuple[Path, Path]:
    return (write(tmp_path, book, gz=gz[0]),
            write(tmp_path, trades, TRADE_COLUMNS, gz=gz[1], name="trades"))


def same(events: pd.DataFrame, expected: pd.DataFrame = EXPECTED) -> None:
    pd.testing.assert_frame_equal(events, expected.astype(events.dtypes.to_dict()))
    assert events.dtypes.to_dict() == {"ts_ns": np.int64, "kind": np.int8, "side": np.int8,
                                       "price": np.float64, "size": np.float64,
                                       "update_id": np.int64}


@pytest.mark.parametrize("gz", [(False, False), (True, True), (True, False), (False, True)])
def test_rows_become_the_expected_table_gzip_or_plain(tmp_path: Path,
                                                      gz: tuple[bool, bool]) -> None:
    book, trades = files(tmp_path, gz=gz)
    events, report = read_tardis(book, second=trades)
    same(events)
    assert report.messages == {"delta_before_snapshot": 1, "snapshot": 2, "delta": 3,
                               "trade": 4}
    assert report.skipped == {"unknown_side": 1} and not report.repaired
    assert report.lines == 12 + 6 and report.events == 14
    assert report.metadata == METADATA
    assert report.units == "tick 0.1 (inferred), lot 0.25 (inferred)"


def test_the_book_after_each_message(tmp_path: Path) -> None:
    """The snapshot, the deltas and the second snapshot, which replaces the book."""
    events, _ = read_tardis(write(tmp_path, BOOK))
    same(events, EXPECTED[EXPECTED.kind != TRADE].reset_index(drop=True))
    history = rebuild_book(events)
    got = np.column_stack([history.ts_ns, history.bid_price, history.bid_size,
                           history.ask_price, history.ask_size])
    np.testing.assert_array_equal(got, [
        [ns(1), 100.0, 1.5, 100.1, 3.0],
        [ns(3), 100.0, 1.5, 100.2, 2.5],
        [ns(4), 100.0, 1.5, 100.2, 2.5],
        [ns(6), 90.0, 1.0, 91.0, 2.0],  # not 100.0: the old bids are gone
        [ns(7), 90.5, 0.5, 91.0, 2.0],
    ])
    assert history.kind.tolist() == [SNAPSHOT, DELTA, DELTA, SNAPSHOT, DELTA]


def test_snapshots_and_deltas_rebuild_the_book_of_a_plain_dict(tmp_path: Path) -> None:
    """Random snapshots (their rows spread over several local times) and deltas (several rows
    sharing one local time) against a dict book that is reset at each snapshot."""
    rng = np.random.default_rng(7)
    rows, tops, us = [], [], t(0)
    plain = PlainBook()

    def levels(base: float, sign: int, sizes: np.ndarray) -> list[tuple[str, str]]:
        ticks = rng.choice(20, len(sizes), replace=False)
        return [(f"{base + sign * k * 0.1:.1f}", f"{q:.3f}") for k, q in zip(ticks, sizes,
                                                                            strict=True)]

    for i in range(300):
        snapshot = i == 0 or rng.random() < 0.05
        sizes = [0.5, 1.25, 2.0] if snapshot else [0, 0.5, 1.25]
        count = 5 if snapshot else 3
        b = levels(100.0, -1, rng.choice(sizes, count))
        a = levels(100.1, 1, rng.choice(sizes, count))
        us += 1000
        for k, (side, (p, q)) in enumerate([("bid", x) for x in b] + [("ask", x) for x in a]):
            rows.append(level(us + (k if snapshot else 0), snapshot, side, p, q))
        if snapshot:
            plain = PlainBook()
        plain.apply(b, a)
        tops.append(plain.top())
    events, report = read_tardis(write(tmp_path, rows), strict=True)
    assert report.messages["snapshot"] >= 10 and not report.skipped and not report.repaired
    assert (events.groupby("ts_ns")["kind"].nunique() == 1).all()  # one snapshot, one time
    history = rebuild_book(events)
    got = np.column_stack([history.bid_price, history.bid_size, history.ask_price,
                           history.ask_size])
    np.testing.assert_array_equal(got, np.array(tops))


def test_trade_sides_are_the_aggressors_and_unknown_ones_are_counted(tmp_path: Path) -> None:
    book, trades = files(tmp_path)
    events, report = read_tardis(book, strict=True, second=trades)  # not a bad row
    got = events[events.kind == TRADE]
    assert got.side.tolist() == [BUY, SELL, BUY, SELL]
    assert got.price.tolist() == [100.1, 100.0, 100.2, 90.5]
    assert report.skipped == {"unknown_side": 1} and report.messages["trade"] == 4
    assert not report.examples


BAD_BOOK = [  # (row, reason, detail), inserted as line 9 of the book file, after t(3)'s
    (f"{EX},{SYM},1,{t(3)},false,bid,100.0", "corrupt", "7 fields, expected 8"),
    (level(t(3), False, "bid", "100.0", "1") + ",x", "corrupt", "9 fields, expected 8"),
    (f"{EX},{SYM},1,17e5,false,bid,100.0,1", "corrupt", "column 'local_timestamp'"),
    (f"{EX},{SYM},x,{t(3)},false,bid,100.0,1", "corrupt", "column 'timestamp'"),
    (level(t(3), False, "bid", "abc", "1"), "corrupt", "column 'price'"),
    (level(t(3), False, "bid", "100.0", ""), "corrupt", "column 'amount'"),
    (level(t(3), False, "buy", "100.0", "1"), "corrupt",
     "side 'buy', expected one of ('bid', 'ask')"),
    (level(t(3), False, "bid", "100.0", "-1"), "corrupt",
     "amount -1.0 is not a finite number >= 0"),
    (level(t(3), False, "bid", "0", "1"), "corrupt", "price 0.0 is not a finite number > 0"),
    (level(t(3), False, "bid", "-100.0", "1"), "corrupt", "price -100.0 is not a finite"),
    (level(t(3), False, "bid", "nan", "1"), "corrupt", "price nan is not a finite number"),
    (level(t(3), False, "bid", "100.0", "NaN"), "corrupt", "amount nan is not a finite"),
    (level(t(3), False, "bid", "100.0", "inf"), "corrupt", "amount inf is not a finite"),
    (level(t(3), False, "bid", "100.0", "1").replace("false", "yes"), "corrupt",
     "is_snapshot 'yes', expected 'true' or 'false'"),
    (level(t(3), False, "bid", "100.0", "1").replace("false", "True"), "corrupt",
     "is_snapshot 'True'"),
    (level(99_999_999_999_999_999, False, "bid", "100.0", "1"), "corrupt",
     "local_timestamp 99999999999999999 µs is out of range"),
    (level(t(2), False, "bid", "100.0", "1"), "out_of_order",
     f"local_timestamp {t(2)} µs is before the latest kept row's {t(3)} µs"),
]
BAD_TRADES = [  # inserted as line 4 of the trades file, after t(2)'s
    (trade(t(2), "bid", "100.0", "1"), "corrupt",
     "side 'bid', expected one of ('buy', 'sell', 'unknown')"),
    (trade(t(2), "buy", "100.0", "0"), "corrupt", "amount 0.0 is not a finite number > 0"),
    (trade(t(2), "buy", "x", "1"), "corrupt", "column 'price'"),
    (trade(t(2), "buy", "100.0", "1").rsplit(",", 1)[0], "corrupt", "7 fields, expected 8"),
    (trade(t(0), "buy", "100.0", "1"), "out_of_order",
     f"local_timestamp {t(0)} µs is before the latest kept row's {t(2)} µs"),
]


@pytest.mark.parametrize(("in_trades", "row", "reason", "detail"),
                         [(False, *b) for b in BAD_BOOK] + [(True, *b) for b in BAD_TRADES])
def test_a_bad_row_is_skipped_and_counted_or_fails_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, in_trades: bool, row: str, reason: str,
    detail: str,
) -> None:
    line = 4 if in_trades else 9
    rows = list(TRADES if in_trades else BOOK)
    rows.insert(line - 2, row)
    book, trades = files(tmp_path, trades=rows) if in_trades else files(tmp_path, book=rows)
    bad = trades if in_trades else book
    events, report = read_tardis(book, second=trades)
    same(events)
    assert report.skipped == {reason: 1, "unknown_side": 1}
    assert report.examples == [report.examples[0]]
    assert report.examples[0].startswith(f"{bad}:{line}: {reason}: ")
    assert detail in report.examples[0]
    out = tmp_path / "events.parquet"
    assert main(["tardis", str(book), str(trades), "-o", str(out), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mmgym-import: {bad}:{line}: {reason}: ") and detail in err
    assert not out.exists()


def test_several_bad_rows_are_each_named_and_strict_stops_at_the_first(tmp_path: Path) -> None:
    rows = list(BOOK)
    rows.insert(9, level(t(6), True, "ask", "91.0", "x"))  # line 14: the reader refuses it
    rows.insert(6, level(t(3), False, "ask", "100.2", "-2"))  # line 10: the checks' after it
    rows.insert(5, f"{EX},{SYM},1")  # line 8
    rows.insert(1, level(t(1), True, "bid", "100.0", "1").replace("true", "1"))  # line 3
    book = write(tmp_path, rows)
    events, report = read_tardis(book)
    same(events, EXPECTED[EXPECTED.kind != TRADE].reset_index(drop=True))
    assert report.skipped == {"corrupt": 4}
    assert [e.split(": ")[0] for e in report.examples] == [f"{book}:{k}" for k in (3, 8, 10, 14)]
    with pytest.raises(DataError, match=f"{book}:3: corrupt: is_snapshot '1'"):
        read_tardis(book, strict=True)


def test_a_row_is_out_of_order_when_before_any_kept_row(tmp_path: Path) -> None:
    """Each row against the latest kept time, not the previous row's: after a row before
    t(3), one between it and t(3) is out of order too."""
    rows = [*BOOK[:7], level(t(2), False, "bid", "99.7", "1"),
            level(t(2) + 500, False, "bid", "99.6", "1"), *BOOK[7:]]
    book = write(tmp_path, rows)
    events, report = read_tardis(book)
    same(events, EXPECTED[EXPECTED.kind != TRADE].reset_index(drop=True))
    assert report.skipped == {"out_of_order": 2}
    assert report.examples == [
        f"{book}:9: out_of_order: local_timestamp {t(2)} µs is before the latest kept row's "
        f"{t(3)} µs",
        f"{book}:10: out_of_order: local_timestamp {t(2) + 500} µs is before the latest kept "
        f"row's {t(3)} µs"]


def test_one_exchange_and_symbol(tmp_path: Path) -> None:
    other = [*BOOK[:3], level(t(1), True, "ask", "100.1", "3", symbol="ETHUSDT"), *BOOK[3:]]
    book = write(tmp_path, other)
    with pytest.raises(DataError, match=f"{book}:5: exchange 'binance-futures' symbol "
                                        "'ETHUSDT', not 'binance-futures' 'BTCUSDT': one file, "
                                        "one exchange and symbol"):
        read_tardis(book)
    # strict: a bad row before it is the first problem
    worse = write(tmp_path, [BOOK[0], level(t(1), True, "bid", "0", "1"), *other[1:]])
    with pytest.raises(DataError, match=f"{worse}:3: corrupt: price 0.0"):
        read_tardis(worse, strict=True)
    with pytest.raises(DataError, match=f"{worse}:6: exchange 'binance-futures' symbol "
                                        "'ETHUSDT'"):
        read_tardis(worse)
    # ... and one after it is not
    later = write(tmp_path, [*other, level(t(8), False, "bid", "0", "1")])
    with pytest.raises(DataError, match=f"{later}:5: exchange 'binance-futures' symbol "
                                        "'ETHUSDT'"):
        read_tardis(later, strict=True)
    book, trades = files(tmp_path, trades=[trade(t(1), "buy", "100.1", "0.5", exchange="okex")])
    with pytest.raises(DataError, match=f"{trades}:2: exchange 'okex' symbol 'BTCUSDT', not "
                                        f"'binance-futures' 'BTCUSDT': the trades must be of "
                                        f"the book's \\({book}\\)"):
        read_tardis(book, second=trades)
    out = tmp_path / "out.parquet"
    assert main(["tardis", str(book), str(trades), "-o", str(out)]) == 1
    assert not out.exists()


def test_a_file_without_tardis_header_or_rows(tmp_path: Path) -> None:
    book, trades = files(tmp_path)
    with pytest.raises(DataError, match=f"{trades}:1: the header .* is not Tardis's "
                                        "'exchange,symbol,timestamp,local_timestamp,"
                                        "is_snapshot,side,price,amount'"):
        read_tardis(trades)
    with pytest.raises(DataError, match=f"{book}:1: the header"):
        read_tardis(book, second=book)
    headless = tmp_path / "headless.csv"
    headless.write_text("\n".join(BOOK) + "\n")
    with pytest.raises(DataError, match=f"{headless}:1: the header"):
        read_tardis(headless)
    empty = write(tmp_path, [], name="empty")
    with pytest.raises(DataError, match=f"{empty}: no rows to import"):
        read_tardis(empty)
    events, report = read_tardis(book, second=write(tmp_path, [], TRADE_COLUMNS, name="none"))
    same(events, EXPECTED[EXPECTED.kind != TRADE].reset_index(drop=True))
    assert report.messages["trade"] == 0 and report.lines == 12 + 1


def test_crossed_book_removes_stale_levels(tmp_path: Path) -> None:
    # the ask at 100.1 is stale: the bid moves to 100.1 through it
    rows = [*BOOK[1:5], level(t(3), False, "bid", "100.1", "1")]
    book = write(tmp_path, rows)
    events, report = read_tardis(book)
    assert report.repaired == {"crossed": 1, "stale_levels_removed": 1}
    assert events.iloc[-1:].to_dict("records") == [
        {"ts_ns": ns(3), "kind": DELTA, "side": ASK, "price": 100.1, "size": 0.0,
         "update_id": NO_ID}]
    history = rebuild_book(events)
    assert not history.crossed.any()
    assert (history.bid_price[-1], history.ask_price[-1]) == (100.1, 100.2)
    with pytest.raises(DataError, match=f"{book}:6: crossed: best bid 100.1 >= best ask"):
        read_tardis(book, strict=True)


def test_units_inferred_or_given_and_checked_in_each_file(tmp_path: Path) -> None:
    book, trades = files(tmp_path)
    _, report = read_tardis(book, second=trades, tick_size=0.1, lot_size=0.05)
    assert report.units == "tick 0.1 (given), lot 0.05 (given)"
    assert (report.metadata["mmgym.tick_size"], report.metadata["mmgym.lot_size"]) == (
        "0.1", "0.05")
    # sizes on 0.25 but a trade of 0.1: the inferred lot is the whole table's grid
    book, trades = files(tmp_path, trades=[*TRADES, trade(t(8), "buy", "90.5", "0.1")])
    _, report = read_tardis(book, second=trades)
    assert report.units == "tick 0.1 (inferred), lot 0.05 (inferred)"
    with pytest.raises(DataError, match=f"{trades}: line 7: size 0.1 is not a multiple of "
                                        "the given lot size 0.25"):
        read_tardis(book, second=trades, lot_size=0.25)
    book, trades = files(tmp_path, book=[*BOOK, level(t(8), False, "ask", "91.05", "1")])
    with pytest.raises(DataError, match=f"{book}: line 13: price 91.05 is not a multiple of "
                                        "the given tick size 0.1"):
        read_tardis(book, second=trades, tick_size=0.1)


def test_command_line_imports_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    book, trades = files(tmp_path, gz=(True, True))
    out = tmp_path / "events.parquet"
    assert main(["tardis", str(book), str(trades), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (f"{book}: 18 lines, 14 events (delta 3, delta_before_snapshot 1, snapshot 2, "
            "trade 4)") in printed
    assert "skipped: 1 (unknown_side 1)" in printed
    events, meta = read_events(out)
    same(events)
    assert meta == METADATA
    assert main(["tardis", str(book), "-o", str(out), "--tick", "0.1", "--lot", "0.5",
                 "--force"]) == 0
    printed = capsys.readouterr().out
    assert f"{book}: 12 lines, 10 events (delta 3, delta_before_snapshot 1, snapshot 2)" in (
        printed)
    events, meta = read_events(out)
    same(events, EXPECTED[EXPECTED.kind != TRADE].reset_index(drop=True))
    assert meta == {**METADATA, "mmgym.lot_size": "0.5"}
