"""The LOBSTER importer on hand-written files and on the AMZN level-1 sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference import LOBSTER_MESSAGE, needs_lobster

from mmgym.data.book import rebuild_book
from mmgym.data.importers import main
from mmgym.data.lobster import read_lobster
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events

PAD = 9999999999
DAY_NS = pd.Timestamp("2012-06-21", tz="America/New_York").value


def write_pair(tmp_path: Path, messages: list[str], books: list[str], levels: int,
               header: bool = False, crlf: bool = False) -> Path:
    """Write a LOBSTER pair named as LOBSTER names them; return the message file."""
    end = "\r\n" if crlf else "\n"
    stem = f"TEST_2012-06-21_34200000_57600000_{{}}_{levels}.csv"
    head_m = ["Time,Type,OrderID,Size,Price,Direction"] if header else []
    head_b = [",".join(f"{c} {j}" for j in range(1, levels + 1)
                       for c in ("AskPrice", "AskSize", "BidPrice", "BidSize"))] if header else []
    message = tmp_path / stem.format("message")
    message.write_bytes(end.join(head_m + messages).encode() + end.encode())
    (tmp_path / stem.format("orderbook")).write_bytes(
        end.join(head_b + books).encode() + end.encode())
    return message


# level 2: a book 100.00 / 100.05 (level 2: 99.99 / 100.06) in dollars × 10,000
L2_MESSAGES = [
    "34200.000000001,1,1,100,1000000,1",      # 0: the first book row (a snapshot)
    "34200.5,1,2,50,1000100,1",               # 1: a bid inside the spread: 99.99 leaves L2
    "34201.25,4,2,20,1000100,1",              # 2: a sell hits it: 30 left
    "34201.5,5,0,7,1000250,-1",               # 3: a hidden sell order executed: a buy
    "34202,3,2,30,1000100,1",                 # 4: the bid leaves, 99.99 comes back
    "34203,7,0,0,-1,-1",                      # 5: trading halt: the book is shown empty
    "34203.5,4,9,5,1000500,-1",               # 6: an execution inside the halt: skipped
    "34204,7,0,0,1,-1",                       # 7: trading resumes
]
L2_BOOKS = [
    "1000500,300,1000000,100,1000600,200,999900,400",
    "1000500,300,1000100,50,1000600,200,1000000,100",
    "1000500,300,1000100,30,1000600,200,1000000,100",
    "1000500,300,1000100,30,1000600,200,1000000,100",
    "1000500,300,1000000,100,1000600,200,999900,400",
    "1000500,300,1000000,100,1000600,200,999900,400",
    "1000500,295,1000000,100,1000600,200,999900,400",
    "1000500,295,1000000,100,1000600,200,999900,400",
]


def ns(seconds: float) -> int:
    return DAY_NS + round(seconds * 1e9)


EXPECTED = pd.DataFrame(
    [
        (ns(34200.000000001), SNAPSHOT, BID, 100.00, 100, 0),
        (ns(34200.000000001), SNAPSHOT, BID, 99.99, 400, 0),
        (ns(34200.000000001), SNAPSHOT, ASK, 100.05, 300, 0),
        (ns(34200.000000001), SNAPSHOT, ASK, 100.06, 200, 0),
        (ns(34200.5), DELTA, BID, 99.99, 0, 1),
        (ns(34200.5), DELTA, BID, 100.01, 50, 1),
        (ns(34201.25), TRADE, SELL, 100.01, 20, NO_ID),
        (ns(34201.25), DELTA, BID, 100.01, 30, 2),
        (ns(34201.5), TRADE, BUY, 100.025, 7, NO_ID),
        (ns(34202), DELTA, BID, 100.01, 0, 4),
        (ns(34202), DELTA, BID, 99.99, 400, 4),
        (ns(34203), DELTA, BID, 100.00, 0, 5),
        (ns(34203), DELTA, BID, 99.99, 0, 5),
        (ns(34203), DELTA, ASK, 100.05, 0, 5),
        (ns(34203), DELTA, ASK, 100.06, 0, 5),
        (ns(34204), DELTA, BID, 100.00, 100, 7),
        (ns(34204), DELTA, BID, 99.99, 400, 7),
        (ns(34204), DELTA, ASK, 100.05, 295, 7),
        (ns(34204), DELTA, ASK, 100.06, 200, 7),
    ],
    columns=["ts_ns", "kind", "side", "price", "size", "update_id"],
).astype({"ts_ns": np.int64, "kind": np.int8, "side": np.int8, "price": np.float64,
          "size": np.float64, "update_id": np.int64})


def test_rows_match_the_messages(tmp_path: Path) -> None:
    events, report = read_lobster(write_pair(tmp_path, L2_MESSAGES, L2_BOOKS, 2))
    pd.testing.assert_frame_equal(events, EXPECTED, check_exact=False, rtol=0, atol=1e-9)
    assert report.messages == {"submission": 2, "execution": 2, "hidden_execution": 1,
                               "deletion": 1, "halt": 2, "book_update": 6}
    assert report.skipped == {"trade_in_halt": 1}
    assert report.metadata == {"mmgym.source": "lobster", "mmgym.symbol": "TEST",
                               "mmgym.levels": "2", "mmgym.tick_size": "0.01",
                               "mmgym.lot_size": "1.0"}
    assert report.lines == 8 and report.events == len(EXPECTED)
    # the half-cent hidden execution is off the tick grid, which the book defines
    assert report.units == "tick 0.01 (inferred), lot 1 (inferred)"


@pytest.mark.parametrize(("header", "crlf", "gz"), [(True, True, False), (True, False, False),
                                                    (False, False, True)])
def test_header_line_endings_and_gzip_give_the_same_table(tmp_path: Path, header: bool,
                                                          crlf: bool, gz: bool) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = read_lobster(write_pair(tmp_path / "a", L2_MESSAGES, L2_BOOKS, 2))[0]
    message = write_pair(tmp_path / "b", L2_MESSAGES, L2_BOOKS, 2, header=header, crlf=crlf)
    if gz:
        for f in (message, Path(str(message).replace("_message_", "_orderbook_"))):
            f.write_bytes(gzip.compress(f.read_bytes()))
    events, report = read_lobster(message)
    pd.testing.assert_frame_equal(events, plain)
    assert report.lines == 8 + header


def test_halted_book_is_empty_and_restored(tmp_path: Path) -> None:
    events, _ = read_lobster(write_pair(tmp_path, L2_MESSAGES, L2_BOOKS, 2))
    history = rebuild_book(events)
    after = dict(zip(history.update_id.tolist(), zip(history.bid_price.tolist(),
                                                      history.ask_price.tolist(),
                                                      strict=True), strict=True))
    assert np.isnan(after[5]).all()
    assert after[7] == (100.00, 100.05)


@pytest.mark.parametrize(
    ("message", "book", "file", "reason"),
    [
        ("34200.5,1,2,50,x,1", None, "message", "corrupt"),
        ("34200.5,1,2,50,1000100", None, "message", "corrupt"),
        ("34200.5,9,2,50,1000100,1", None, "message", "corrupt"),
        ("34200.5,1,2,-50,1000100,1", None, "message", "corrupt"),
        ("34200.5,1,2,50,1000100,0", None, "message", "corrupt"),
        ("34199.5,1,2,50,1000100,1", None, "message", "out_of_order"),
        ("34200.5,7,0,0,5,-1", None, "message", "corrupt"),
        (None, "1000500,300,1000100,-50,1000600,200,1000000,100", "orderbook", "corrupt"),
        (None, "1000500,300,1000100,50,1000600,200", "orderbook", "corrupt"),
        (None, "1000500,300,1000600,50,1000600,200,1000000,100", "orderbook", "crossed"),
        (None, "1000500,300,1000000,50,1000600,200,1000100,100", "orderbook", "corrupt"),
        (None, f"1000500,300,-{PAD},0,1000600,200,1000000,100", "orderbook", "corrupt"),
        ("34200.5,6,0,50,1000100,-1", None, "message", "cross_trade"),
    ],
)
def test_bad_lines_are_counted_or_fail_in_strict_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture, message: str | None, book: str | None,
    file: str, reason: str,
) -> None:
    messages, books = list(L2_MESSAGES), list(L2_BOOKS)
    if message is not None:
        messages[1] = message
    if book is not None:
        books[1] = book
    path = write_pair(tmp_path, messages, books, 2, header=True)
    named = path if file == "message" else Path(str(path).replace("_message_", "_orderbook_"))
    events, report = read_lobster(path)
    assert report.skipped[reason] == 1 and sum(report.skipped.values()) == 2  # + trade_in_halt
    assert report.examples[0].startswith(f"{named}:3: {reason}: ")
    # the book catches up at the next good row; the trades of messages 2 and 3 are kept
    history = rebuild_book(events)
    at2 = np.flatnonzero(history.update_id == 2)
    assert len(at2) == 1 and history.bid_price[at2[0]] == 100.01
    assert history.bid_size[at2[0]] == 30
    assert (events["kind"] == TRADE).sum() == 2
    out = tmp_path / "x.parquet"
    assert main(["lobster", str(path), "-o", str(out), "--strict"]) == 1
    assert f"{named}:3: {reason}" in capsys.readouterr().err
    assert not out.exists()


def test_pairing_and_naming_errors(tmp_path: Path) -> None:
    path = write_pair(tmp_path, L2_MESSAGES, L2_BOOKS[:-1], 2)
    with pytest.raises(DataError, match="7 book rows: they must pair"):
        read_lobster(path)
    odd = tmp_path / "odd.csv"
    odd.write_text("34200,1,1,1,1000000,1\n")
    with pytest.raises(DataError, match="not a LOBSTER message file name"):
        read_lobster(odd)
    with pytest.raises(DataError, match="give the date and symbol"):
        read_lobster(odd, second=odd)
    missing = tmp_path / "AMZN_2012-06-21_1_2_message_1.csv"
    missing.write_text("34200,1,1,1,1000000,1\n")
    with pytest.raises(DataError, match=r"orderbook_1\.csv: no such file"):
        read_lobster(missing)
    book = tmp_path / "book.csv"
    book.write_text("1000500,300,1000000,100\n")
    events, report = read_lobster(odd, second=book, date="2020-03-02", symbol="XYZ",
                                  timezone="UTC")
    assert events["ts_ns"].iat[0] == pd.Timestamp("2020-03-02T09:30:00Z").value
    assert report.metadata["mmgym.symbol"] == "XYZ"


@needs_lobster
def test_amzn_sample_rebuilds_the_orderbook_file_after_every_message() -> None:
    events, report = read_lobster(LOBSTER_MESSAGE)
    book = pd.read_csv(str(LOBSTER_MESSAGE).replace("_message_", "_orderbook_"),
                       header=None).to_numpy()
    messages = pd.read_csv(LOBSTER_MESSAGE, header=None).to_numpy()
    history = rebuild_book(events)
    last = np.searchsorted(history.update_id, np.arange(len(book)), side="right") - 1
    assert (last >= 0).all()
    agree = ((np.rint(history.ask_price[last] * 1e4) == book[:, 0])
             & (history.ask_size[last] == book[:, 1])
             & (np.rint(history.bid_price[last] * 1e4) == book[:, 2])
             & (history.bid_size[last] == book[:, 3]))
    assert agree.all(), f"{agree.mean():.4%} of the {len(book)} messages agree"
    executions = np.isin(messages[:, 1], [4, 5])
    trades = events[events["kind"] == TRADE]
    assert len(trades) == executions.sum() == 4350
    assert trades["size"].sum() == messages[executions, 3].sum()
    assert (trades["side"].to_numpy() == -messages[executions, 5]).all()
    assert report.metadata["mmgym.tick_size"] == "0.01"
    assert report.metadata["mmgym.levels"] == "1"
    assert not report.skipped and not report.repaired
    assert pd.Timestamp(int(events["ts_ns"].iat[0]), tz="UTC").isoformat() == (
        "2012-06-21T13:30:00.017460+00:00")


@needs_lobster
def test_amzn_sample_with_a_header_and_lf_endings_imports_to_the_same_table(
        tmp_path: Path) -> None:
    official = read_lobster(LOBSTER_MESSAGE)[0]
    for kind, header in (("message", "Time,Type,OrderID,Size,Price,Direction"),
                         ("orderbook", "AskPrice1,AskSize1,BidPrice1,BidSize1")):
        source = Path(str(LOBSTER_MESSAGE).replace("_message_", f"_{kind}_"))
        text = source.read_bytes().replace(b"\r\n", b"\n")
        (tmp_path / source.name).write_bytes(header.encode() + b"\n" + text)
    pd.testing.assert_frame_equal(read_lobster(tmp_path / LOBSTER_MESSAGE.name)[0], official)


@needs_lobster
def test_command_line_writes_the_event_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "amzn.parquet"
    assert main(["lobster", str(LOBSTER_MESSAGE), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "22,552 lines, 37,489 events" in printed and "tick 0.01 (inferred)" in printed
    events, metadata = read_events(out)
    assert len(events) == 37_489 and metadata["mmgym.symbol"] == "AMZN"
