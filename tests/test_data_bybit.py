"""The Bybit V5 importer, on hand-written WebSocket messages in the recorded line format."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference import PlainBook

from mmgym.data.book import rebuild_book
from mmgym.data.bybit import read_bybit
from mmgym.data.importers import main
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events

MS = 1_000_000  # ns per ms: times on whole ms, so both clocks give the same table
T0 = 1_700_000_000_000 * MS


def t(ms: int) -> int:
    return T0 + ms * MS


def book(ts: int, kind: str, u: int, b=(), a=(), local: bool = True, symbol: str = "BTCUSDT",
         depth: int = 50) -> str:
    msg = {"topic": f"orderbook.{depth}.{symbol}", "type": kind, "ts": ts // MS,
           "data": {"s": symbol, "b": [list(x) for x in b], "a": [list(x) for x in a],
                    "u": u, "seq": 7_000 + u},
           "cts": ts // MS - 2}
    return f"{ts} {json.dumps(msg)}" if local else json.dumps(msg)


def trades(ts: int, *items: tuple[str, str, str], local: bool = True) -> str:
    data = [{"T": ts // MS - 1, "s": "BTCUSDT", "S": s, "v": v, "p": p, "L": "PlusTick",
             "i": f"5f1e-{k}", "BT": False} for k, (s, v, p) in enumerate(items)]
    msg = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ts // MS, "data": data}
    return f"{ts} {json.dumps(msg)}" if local else json.dumps(msg)


ACK = json.dumps({"success": True, "ret_msg": "", "conn_id": "c1", "req_id": "",
                  "op": "subscribe"})


def write(tmp_path: Path, lines: list[str], gz: bool = False, name: str = "rec") -> Path:
    path = tmp_path / (f"{name}.jsonl.gz" if gz else f"{name}.jsonl")
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def good(local: bool = True) -> list[str]:
    return [
        f"{t(0)} {ACK}" if local else ACK,
        book(t(1), "snapshot", 100, b=[("100.0", "1.5"), ("99.9", "2")],
             a=[("100.1", "3"), ("100.2", "1")], local=local),
        trades(t(2), ("Buy", "0.5", "100.1"), ("Sell", "0.25", "100.0"), local=local),
        book(t(3), "delta", 101, b=[("100.0", "0")], a=[("100.1", "2.5")], local=local),
        book(t(4), "delta", 102, b=[("99.8", "4")], local=local),
        trades(t(5), ("Buy", "1.000", "100.1"), local=local),
    ]


EXPECTED = pd.DataFrame({
    "ts_ns": [t(1)] * 4 + [t(2)] * 2 + [t(3)] * 2 + [t(4), t(5)],
    "kind": [SNAPSHOT] * 4 + [TRADE] * 2 + [DELTA] * 3 + [TRADE],
    "side": [BID, BID, ASK, ASK, BUY, SELL, BID, ASK, BID, BUY],
    "price": [100.0, 99.9, 100.1, 100.2, 100.1, 100.0, 100.0, 100.1, 99.8, 100.1],
    "size": [1.5, 2.0, 3.0, 1.0, 0.5, 0.25, 0.0, 2.5, 4.0, 1.0],
    "update_id": [100] * 4 + [NO_ID] * 2 + [101, 101, 102, NO_ID],
})


@pytest.mark.parametrize("local", [True, False])
@pytest.mark.parametrize("gz", [True, False])
def test_rows_match_the_messages(tmp_path: Path, local: bool, gz: bool) -> None:
    events, report = read_bybit(write(tmp_path, good(local), gz=gz))
    pd.testing.assert_frame_equal(events, EXPECTED.astype(events.dtypes.to_dict()))
    assert report.messages == {"snapshot": 1, "delta": 2, "trade": 3}
    assert not report.skipped and not report.repaired
    assert report.lines == 6 and report.events == 10
    # no tick or lot in Bybit's messages: the coarsest grid of these few prices and sizes
    assert report.metadata == {"mmgym.source": "bybit-v5", "mmgym.symbol": "BTCUSDT",
                               "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.25"}
    assert report.units == "tick 0.1 (inferred), lot 0.25 (inferred)"


def test_snapshot_and_deltas_rebuild_the_book_of_a_plain_dict(tmp_path: Path) -> None:
    """Random snapshots, deltas and restarts (a delta with u = 1) against a dict book."""
    rng = np.random.default_rng(3)
    lines, tops, u = [], [], 0
    plain = PlainBook()

    def levels(base: float, sign: int, sizes: list[float]) -> list[tuple[str, str]]:
        ticks = rng.choice(20, len(sizes), replace=False)
        return [(f"{base + sign * k * 0.1:.1f}", f"{q:.3f}") for k, q in zip(ticks, sizes,
                                                                            strict=True)]

    for i in range(400):
        r = rng.random()
        if i == 0 or r < 0.03 or r > 0.99:  # a snapshot, or a restart: the book is replaced
            kind, u = ("snapshot", u + 1) if r <= 0.99 else ("delta", 1)
            b = levels(100.0, -1, list(rng.choice([0.5, 1.25, 2.0], 5)))
            a = levels(100.1, 1, list(rng.choice([0.5, 1.25, 2.0], 5)))
            plain = PlainBook()
        else:
            kind, u = "delta", u + 1
            b = levels(100.0, -1, list(rng.choice([0, 0.5, 1.25], 3)))
            a = levels(100.1, 1, list(rng.choice([0, 0.5, 1.25], 3)))
        lines.append(book(t(i), kind, u, b=b, a=a))
        plain.apply(b, a)
        tops.append(plain.top())
    events, report = read_bybit(write(tmp_path, lines), strict=True)
    assert report.messages["snapshot"] >= 10 and not report.skipped
    assert (events.groupby("ts_ns")["kind"].nunique() == 1).all()
    history = rebuild_book(events)
    got = np.column_stack([history.bid_price, history.bid_size, history.ask_price,
                           history.ask_size])
    np.testing.assert_array_equal(got, np.array(tops))


def test_a_delta_with_u_1_resets_the_book(tmp_path: Path) -> None:
    lines = [*good()[:4], book(t(4), "delta", 1, b=[("90.0", "1")], a=[("91.0", "2")])]
    events, report = read_bybit(write(tmp_path, lines), strict=True)
    last = events[events.ts_ns == t(4)]
    assert last.kind.tolist() == [SNAPSHOT, SNAPSHOT] and last.update_id.tolist() == [1, 1]
    history = rebuild_book(events)
    assert (history.bid_price[-1], history.ask_price[-1]) == (90.0, 91.0)
    assert report.messages["snapshot"] == 2


BAD = [
    (f"{t(2) + 1} {{not json", "corrupt"),
    (trades(t(2) + 1, ("Up", "1", "100.0")), "corrupt"),
    (trades(t(2) + 1, ("Buy", "-1", "100.0")), "corrupt"),
    (trades(t(2) + 1, ("Buy", "1", "abc")), "corrupt"),
    (book(t(2) + 1, "delta", 101, b=[("100.0", "x")]), "corrupt"),
    (book(t(2) + 1, "delta", 101, b=[("-100.0", "1")]), "corrupt"),
    (book(t(2) + 1, "delta", 101, b=[("100.0",)]), "corrupt"),
    (book(t(2) + 1, "delta", 101).replace('"u": 101, ', ""), "corrupt"),
    (book(t(2) + 1, "update", 101), "corrupt"),
    (book(t(2) + 1, "delta", 101).replace("orderbook.50", "tickers"), "corrupt"),
    (book(t(2) + 1, "delta", 101, local=False), "corrupt"),  # no prefix in a prefixed file
    ("abc " + book(t(2) + 1, "delta", 101).split(" ", 1)[1], "corrupt"),
    (trades(t(1) - 1, ("Buy", "1", "100.0")), "out_of_order"),
    (book(t(2) + 1, "delta", 100, a=[("100.1", "9")]), "gap"),  # repeats u: skipped
]


@pytest.mark.parametrize(("bad_line", "reason"), BAD)
def test_bad_lines_are_skipped_and_counted_or_fail_with_file_and_line(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    lines = good()
    path = write(tmp_path, [*lines[:3], bad_line, *lines[3:]])
    events, report = read_bybit(path)
    pd.testing.assert_frame_equal(events, EXPECTED.astype(events.dtypes.to_dict()))
    assert report.skipped == {reason: 1}
    assert report.examples[0].startswith(f"{path}:4: {reason}")
    with pytest.raises(DataError, match=f"{path}:4: {reason}"):
        read_bybit(path, strict=True)


def test_lost_deltas_are_counted_and_applied(tmp_path: Path) -> None:
    lines = good()
    lines[4] = book(t(4), "delta", 105, b=[("99.8", "4")])  # 102, 103, 104 lost
    path = write(tmp_path, lines)
    events, report = read_bybit(path)
    pd.testing.assert_frame_equal(
        events, EXPECTED.assign(update_id=EXPECTED.update_id.replace(102, 105))
        .astype(events.dtypes.to_dict()))
    assert report.skipped == {"gap": 1}
    with pytest.raises(DataError, match=f"{path}:5: gap: delta u=105 after u=101: 3 updates"):
        read_bybit(path, strict=True)
    path = write(tmp_path, good()[3:], name="nosnap")  # starts inside a stream
    events, report = read_bybit(path)
    assert report.skipped == {"gap": 1} and len(events) == 4
    with pytest.raises(DataError, match=f"{path}:1: gap: delta u=101 before any snapshot"):
        read_bybit(path, strict=True)


def test_crossed_book_removes_stale_levels(tmp_path: Path) -> None:
    # the ask at 100.1 is stale (an update was lost); the bid moves to 100.15 through it
    lines = [*good()[:2], book(t(3), "delta", 103, b=[("100.15", "1")])]
    path = write(tmp_path, lines)
    events, report = read_bybit(path)
    assert report.skipped == {"gap": 1}
    assert report.repaired == {"crossed": 1, "stale_levels_removed": 1}
    last = events.iloc[-1]
    assert tuple(last[c] for c in events.columns) == (t(3), DELTA, ASK, 100.1, 0.0, 103)
    history = rebuild_book(events)
    assert not history.crossed.any()
    assert (history.bid_price[-1], history.ask_price[-1]) == (100.15, 100.2)
    with pytest.raises(DataError, match=f"{path}:3: gap"):
        read_bybit(path, strict=True)


def test_empty_snapshot_is_counted(tmp_path: Path) -> None:
    lines = [*good()[:4], book(t(4), "snapshot", 500), book(t(5), "delta", 501,
                                                             b=[("99.0", "1")])]
    path = write(tmp_path, lines)
    events, report = read_bybit(path)
    assert report.skipped == {"empty_snapshot": 1}  # and no gap: the check restarts at 500
    assert events.update_id.iloc[-1] == 501
    with pytest.raises(DataError, match=f"{path}:5: empty_snapshot"):
        read_bybit(path, strict=True)


def test_one_file_one_book(tmp_path: Path) -> None:
    other = book(t(3), "delta", 101, b=[("1.0", "1")], symbol="ETHUSDT")
    with pytest.raises(DataError, match="symbol 'ETHUSDT' after 'BTCUSDT'"):
        read_bybit(write(tmp_path, [*good()[:3], other]))
    depth1 = book(t(3), "delta", 101, b=[("100.0", "1")], depth=1)
    with pytest.raises(DataError, match=re.escape("book topic 'orderbook.1.BTCUSDT' after")):
        read_bybit(write(tmp_path, [*good()[:3], depth1]))


def test_command_line_imports_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = good()
    src = write(tmp_path, [*lines[:2], f"{t(1)} {{broken", *lines[2:]], gz=True)
    out = tmp_path / "events.parquet"
    assert main(["bybit", str(src), "-o", str(out), "--tick", "0.1", "--lot", "0.001"]) == 0
    printed = capsys.readouterr().out
    assert "7 lines, 10 events (delta 2, snapshot 1, trade 3)" in printed
    assert "tick 0.1 (given), lot 0.001 (given)" in printed
    assert "skipped: 1 (corrupt 1)" in printed and f"{src}:3: corrupt" in printed
    events, meta = read_events(out)
    pd.testing.assert_frame_equal(events, EXPECTED.astype(events.dtypes.to_dict()))
    assert meta == {"mmgym.source": "bybit-v5", "mmgym.symbol": "BTCUSDT",
                    "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"}
    before = out.read_bytes()
    assert main(["bybit", str(src), "-o", str(out), "--strict", "--force"]) == 1
    assert f"{src}:3: corrupt" in capsys.readouterr().err
    # a tick the prices contradict (100.1 is not a multiple of 0.2) names the line
    assert main(["bybit", str(src), "-o", str(out), "--tick", "0.2", "--force"]) == 1
    err = capsys.readouterr().err
    assert f"{src}: line 2: price 99.9 is not a multiple of the given tick size 0.2" in err
    assert out.read_bytes() == before
