"""The Binance importer and the book rebuilder, on hand-written lines and the real sample."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference import SAMPLE, PlainBook, needs_sample

from mmgym.data.binance import import_binance, read_binance, read_book_ticker
from mmgym.data.book import rebuild_book
from mmgym.data.importing import grid_units
from mmgym.data.report import ImportReport
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events


def depth(ts: int, U: int, u: int, pu: int, b=(), a=()) -> str:
    data = {"e": "depthUpdate", "E": ts // 10**6, "T": ts // 10**6, "s": "BTCUSDT",
            "U": U, "u": u, "pu": pu, "b": [list(x) for x in b], "a": [list(x) for x in a]}
    return f"{ts} " + json.dumps({"stream": "btcusdt@depth@0ms", "data": data})


def trade(ts: int, p: str, q: str, m: bool) -> str:
    data = {"e": "trade", "E": ts // 10**6, "T": ts // 10**6, "s": "BTCUSDT", "t": 1,
            "p": p, "q": q, "X": "MARKET", "m": m}
    return f"{ts} " + json.dumps({"stream": "btcusdt@trade", "data": data})


def ticker(ts: int, u: int, b: str, a: str) -> str:
    data = {"e": "bookTicker", "u": u, "s": "BTCUSDT", "b": b, "B": "1.000", "a": a,
            "A": "2.000", "T": ts // 10**6, "E": ts // 10**6}
    return f"{ts} " + json.dumps({"stream": "btcusdt@bookTicker", "data": data})


def write(tmp_path: Path, lines: list[str], gz: bool = False, name: str = "rec") -> Path:
    path = tmp_path / (f"{name}.gz" if gz else f"{name}.txt")
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


GOOD = [
    depth(1000, 1, 5, 0, b=[("100.0", "1.5"), ("99.9", "2")], a=[("100.1", "3")]),
    trade(1100, "100.1", "0.5", False),
    ticker(1150, 6, "100.0", "100.1"),
    depth(1200, 6, 9, 5, b=[("100.0", "0")], a=[("100.1", "2.5"), ("100.2", "1")]),
    trade(1300, "99.9", "0.25", True),
]


def test_rows_match_the_messages(tmp_path: Path) -> None:
    events, report = read_binance(write(tmp_path, GOOD, gz=True))
    expected = pd.DataFrame({
        "ts_ns": [1000, 1000, 1000, 1100, 1200, 1200, 1200, 1300],
        "kind": [DELTA, DELTA, DELTA, TRADE, DELTA, DELTA, DELTA, TRADE],
        "side": [BID, BID, ASK, BUY, BID, ASK, ASK, SELL],
        "price": [100.0, 99.9, 100.1, 100.1, 100.0, 100.1, 100.2, 99.9],
        "size": [1.5, 2.0, 3.0, 0.5, 0.0, 2.5, 1.0, 0.25],
        "update_id": [5, 5, 5, NO_ID, 9, 9, 9, NO_ID],
    }).astype(events.dtypes.to_dict())
    pd.testing.assert_frame_equal(events, expected)
    assert report.messages == {"depthUpdate": 2, "trade": 2}
    assert not report.skipped and not report.repaired
    assert report.lines == 5 and report.events == 8


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("1150 {not json", "corrupt"),
        ("no-timestamp " + json.dumps({"data": {}}), "corrupt"),
        (trade(1150, "abc", "1", False), "corrupt"),
        (trade(1150, "100.0", "-1", False), "corrupt"),
        (depth(1150, 6, 6, 5, b=[("100.0", "x")]).replace('"u": 6', '"u": 5'), "corrupt"),
        (depth(1150, 6, 6, 5, b=[("100.0",)]), "corrupt"),
        (depth(1150, 6, 6, 5).replace('"pu": 5', '"pu": "5"'), "corrupt"),
        (trade(900, "100.0", "1", True), "out_of_order"),
    ],
)
def test_bad_lines_are_skipped_and_counted_or_fail_with_file_and_line(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    lines = [*GOOD[:2], bad_line, *GOOD[2:]]
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    clean, _ = read_binance(write(tmp_path, GOOD, name="clean"))
    pd.testing.assert_frame_equal(events, clean)
    assert report.skipped == {reason: 1}
    assert report.examples[0].startswith(f"{path}:3: {reason}")
    with pytest.raises(DataError, match=f"{path}:3: {reason}"):
        read_binance(path, strict=True)


def test_update_id_gap_is_counted_and_kept(tmp_path: Path) -> None:
    lines = [GOOD[0], depth(1200, 7, 9, 6, b=[("100.0", "0.5")])]  # pu 6 != previous u 5
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    assert report.skipped == {"gap": 1} and len(events) == 4
    with pytest.raises(DataError, match=f"{path}:2: gap: pu=6"):
        read_binance(path, strict=True)


def test_crossed_book_removes_stale_levels(tmp_path: Path) -> None:
    # an ask at 100.1 is left stale by a lost update; the bid moves to 100.2 through it
    lines = [GOOD[0], depth(1200, 6, 9, 5, b=[("100.2", "1")])]
    path = write(tmp_path, lines)
    events, report = read_binance(path)
    assert report.repaired == {"crossed": 1, "stale_levels_removed": 1}
    last = events.iloc[-1]
    assert tuple(last[c] for c in events.columns) == (
        1200, DELTA, ASK, 100.1, 0.0, 9)
    book = rebuild_book(events)
    assert not book.crossed.any()
    assert book.bid_price[-1] == 100.2 and np.isnan(book.ask_price[-1])
    with pytest.raises(DataError, match=f"{path}:2: crossed"):
        read_binance(path, strict=True)


def test_snapshot_is_synchronised_with_buffered_updates(tmp_path: Path) -> None:
    snap = json.dumps({"lastUpdateId": 7, "E": 1, "T": 1, "bids": [["99.5", "4"]],
                       "asks": [["100.5", "6"]]})
    lines = [
        depth(1000, 1, 5, 0, b=[("99.0", "1")]),   # before the snapshot: in it already
        depth(1100, 6, 9, 5, a=[("100.3", "2")]),  # straddles lastUpdateId: re-applied
        f"1200 {snap}",
        depth(1300, 10, 12, 9, b=[("99.6", "1")]),
    ]
    events, report = read_binance(write(tmp_path, lines))
    after = events[events.ts_ns >= 1200]
    assert after.kind.tolist() == [SNAPSHOT, SNAPSHOT, DELTA, DELTA]
    assert after.update_id.tolist() == [7, 7, 9, 12]
    book = rebuild_book(events)
    assert (book.bid_price[-1], book.bid_size[-1]) == (99.6, 1.0)
    assert (book.ask_price[-1], book.ask_size[-1]) == (100.3, 2.0)
    assert not report.skipped


def test_rebuilt_book_against_a_plain_dict_book(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines, plain, tops = [], PlainBook(), []
    for i in range(300):
        b = [(f"{p:.1f}", f"{q:.3f}") for p, q in zip(
            100 - rng.integers(0, 20, 3) * 0.1, rng.choice([0, 0.5, 1.25], 3), strict=True)]
        a = [(f"{p:.1f}", f"{q:.3f}") for p, q in zip(
            100.1 + rng.integers(0, 20, 3) * 0.1, rng.choice([0, 0.5, 1.25], 3), strict=True)]
        lines.append(depth(1000 + i, 2 * i, 2 * i + 1, 2 * i - 1, b=b, a=a))
        plain.apply(b, a)
        tops.append(plain.top())
    events, _ = read_binance(write(tmp_path, lines))
    book = rebuild_book(events)
    got = np.column_stack([book.bid_price, book.bid_size, book.ask_price, book.ask_size])
    np.testing.assert_array_equal(got, np.array(tops))


def test_import_writes_atomically_and_never_a_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    report = import_binance(write(tmp_path, GOOD), out)
    events, meta = read_events(out)
    assert len(events) == report.events == 8
    assert meta["mmgym.source"] == "binance-usdm" and meta["mmgym.symbol"] == "BTCUSDT"
    before = out.read_bytes()
    bad = write(tmp_path, [*GOOD, "9 {oops"], name="bad")
    with pytest.raises(DataError):
        import_binance(bad, out, strict=True, force=True)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@needs_sample
def test_sample_imports_cleanly_and_matches_the_raw_file() -> None:
    events, report = read_binance(SAMPLE)
    assert not report.skipped and not report.repaired
    assert report.messages == {"depthUpdate": 6551, "snapshot": 1, "trade": 21313}
    # the grid of the data is BTCUSDT's price filter and lot size in August 2024
    assert report.metadata["mmgym.tick_size"] == "0.1"
    assert report.metadata["mmgym.lot_size"] == "0.001"
    # trade count and volume against a plain json reading of the file
    count, volume, buys = 0, 0.0, 0.0
    with gzip.open(SAMPLE, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            d = msg.get("data", {})
            if d.get("e") == "trade":
                count += 1
                volume += float(d["q"])
                buys += 0.0 if d["m"] else float(d["q"])
    trades = events[events.kind == TRADE]
    assert len(trades) == count == 21313
    assert trades["size"].sum() == pytest.approx(volume, rel=1e-12)
    assert trades["size"][trades.side == BUY].sum() == pytest.approx(buys, rel=1e-12)


def test_grid_units_infer_the_coarsest_grid_or_check_the_given_one(tmp_path: Path) -> None:
    def units(price: list[float], size: list[float], tick=None, lot=None) -> dict[str, str]:
        report = ImportReport(path=tmp_path / "rec")
        table = pd.DataFrame({"price": price, "size": size})
        grid_units(table, np.arange(len(price)) + 10, report, tick, lot)
        return {k: report.metadata[f"mmgym.{k}_size"] for k in ("tick", "lot")}

    # prices 0.05 apart somewhere; sizes 0.5 and 1.25 lie on 0.25, not on their 0.75 gap
    assert units([60000.1, 60000.15, 60010.0], [0.5, 1.25, 0.0]) == {"tick": "0.05",
                                                                     "lot": "0.25"}
    assert units([3.0e4 + 0.1 * k for k in range(50)], [0.001 * k for k in range(1, 51)]) == {
        "tick": "0.1", "lot": "0.001"}
    assert units([2.5, 7.5], [3.0, 9.0], tick=0.5, lot=1.5) == {"tick": "0.5", "lot": "1.5"}
    with pytest.raises(DataError, match=r"rec: line 11: price 7.25 is not a multiple of the "
                                        r"given tick size 0.5"):
        units([2.5, 7.25], [3.0, 9.0], tick=0.5)
    with pytest.raises(DataError, match=r"rec: line 10: size 3.0 is not a multiple of the "
                                        r"given lot size 2"):
        units([2.5, 7.5], [3.0, 9.0], lot=2.0)
    with pytest.raises(DataError, match=r"cannot infer the tick size: the prices lie on no grid "
                                        r"coarser than 1e-09; give --tick"):
        units([1 / 3, 2.5], [1.0, 2.0])
    with pytest.raises(DataError, match=r"rec: no prices to infer the tick size from; give --tick"):
        units([], [])
    with pytest.raises(DataError, match=r"lot size -1.0 \(--lot\): expected a finite number > 0"):
        units([2.5], [1.0], lot=-1.0)


@needs_sample
def test_sample_book_agrees_with_book_ticker() -> None:
    """At each depth update after the REST snapshot (the book is complete from there: the
    "warm" book), the rebuilt best bid and ask, prices and sizes, equal those of the last
    bookTicker with ``u`` at or before the update's ``u``: both describe the book at that
    update id. Matching by update id, not time: the depth stream comes in batches of about
    50 ms while the best quotes change about 190 times a second, so matching by exchange
    time agrees only where the top did not move within the batch (about 62% here)."""
    events, _ = read_binance(SAMPLE)
    book = rebuild_book(events)
    ticker_ = read_book_ticker(SAMPLE).sort_values("update_id")
    assert len(ticker_) == 66089
    warm = np.arange(len(book.kind)) > np.flatnonzero(book.kind == SNAPSHOT)[0]
    j = np.searchsorted(ticker_.update_id.to_numpy(), book.update_id[warm], side="right") - 1
    assert (j >= 0).all()
    t = ticker_.iloc[j]
    same = ((book.bid_price[warm] == t.bid_price.to_numpy())
            & (book.ask_price[warm] == t.ask_price.to_numpy())
            & (book.bid_size[warm] == t.bid_size.to_numpy())
            & (book.ask_size[warm] == t.ask_size.to_numpy()))
    assert warm.sum() == 6547  # 2 re-applied updates + the 6,545 received after it
    assert same.mean() >= 0.999, same.mean()
    assert not book.crossed.any()


def test_command_line_imports_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmgym.data.importers import main

    src = write(tmp_path, [GOOD[0], "1050 {broken", *GOOD[1:]])
    out = tmp_path / "events.parquet"
    assert main(["binance", str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 lines, 8 events" in printed and "skipped: 1 (corrupt 1)" in printed
    assert f"{src}:2: corrupt" in printed
    assert len(read_events(out)[0]) == 8
    out.unlink()
    assert main(["binance", str(src), "-o", str(out), "--strict"]) == 1
    assert f"{src}:2: corrupt" in capsys.readouterr().err
    assert not out.exists()
