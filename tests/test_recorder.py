"""The ccxt recorder against a local server answering in Bybit V5's REST format.

The server (127.0.0.1, a random port) serves ``/v5/market/instruments-info``, ``orderbook``,
``recent-trade`` and ``kline`` as Bybit documents them (https://bybit-exchange.github.io/docs/v5/
market/...), and logs what it served; ccxt's bybit class is pointed at it, so ccxt's own
request building and parsing run, with no network. The tests compare the recording and
:func:`read_recording` with the served payloads.
"""

from __future__ import annotations

import _thread
import gzip
import json
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from reference import INSTRUMENT

from mmgym.data import recorder
from mmgym.data.schema import ASK, BID, BUY, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, read_events

T0 = 1_722_000_000_000  # ms


class BybitState:
    """What the fake exchange serves: book n, trades up to 3·(n+1), and what it served."""

    def __init__(self, trades_per_poll: int = 3, window: int = 6) -> None:
        self.books = 0
        self.trade_polls = 0
        self.per_poll, self.window = trades_per_poll, window
        self.served_books: list[dict[str, Any]] = []
        self.served_trades: dict[str, dict[str, Any]] = {}
        self.served_klines: list[list[str]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @staticmethod
    def trade(i: int) -> dict[str, Any]:
        return {"execId": f"e{i}", "symbol": "BTCUSDT", "price": f"{60000 + 0.1 * (i % 7):.1f}",
                "size": f"0.00{i % 9 + 1}", "side": "Sell" if i % 3 == 0 else "Buy",
                "time": str(T0 + 40 * (i // 2)), "isBlockTrade": False}

    def orderbook(self, limit: int) -> dict[str, Any]:
        n = self.books
        self.books += 1
        bid = 60000.0 + 0.1 * n
        result = {"s": "BTCUSDT",
                  "b": [[f"{bid - 0.1 * j:.1f}", f"{0.5 + 0.001 * (j + n):.3f}"]
                        for j in range(limit)],
                  "a": [[f"{bid + 0.1 * (j + 1):.1f}", f"{0.7 + 0.002 * (j + n):.3f}"]
                        for j in range(limit)],
                  "ts": T0 + 100 * n + 7, "u": 1000 + n, "seq": 5000 + n, "cts": T0 + 100 * n}
        self.served_books.append(result)
        return result

    def recent_trades(self, limit: int) -> dict[str, Any]:
        self.trade_polls += 1
        end = self.per_poll * self.trade_polls
        newest_first = [self.trade(i) for i in range(end - 1, max(-1, end - 1 - self.window), -1)]
        out = newest_first[:limit]
        self.served_trades.update({t["execId"]: t for t in out})
        return {"category": "linear", "list": out}

    def klines(self, limit: int) -> dict[str, Any]:
        rows = [[str(T0 + 60_000 * m), f"{60000 + m:.1f}", f"{60003 + m:.1f}",
                 f"{59998 + m:.1f}", f"{60001 + m:.1f}", f"{10 + m:.3f}", "123.4"]
                for m in range(3)][::-1]  # newest first, as Bybit returns them
        self.served_klines = rows
        return {"category": "linear", "symbol": "BTCUSDT", "list": rows}


def serve(state: BybitState) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            with state.lock:
                state.paths.append(url.path)
                limit = int(q.get("limit", 25))
                if url.path == "/v5/market/instruments-info":
                    found = q.get("category") == "linear" and "status" not in q
                    result = {"category": q.get("category"),
                              "list": [INSTRUMENT] if found else [], "nextPageCursor": ""}
                elif url.path == "/v5/market/orderbook":
                    result = state.orderbook(limit)
                elif url.path == "/v5/market/recent-trade":
                    result = state.recent_trades(limit)
                elif url.path == "/v5/market/kline":
                    result = state.klines(limit)
                else:
                    self.send_error(404)
                    return
            body = json.dumps({"retCode": 0, "retMsg": "OK", "result": result,
                               "retExtInfo": {}, "time": T0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def bybit():
    state = BybitState()
    server, url = serve(state)
    yield state, url
    server.shutdown()
    server.server_close()


def exchange(url: str) -> Any:
    return recorder.make_exchange("bybit", url, timeout=5000,
                                  options={"fetchMarkets": {"types": ["linear"]}})


def expected_events(state: BybitState) -> pd.DataFrame:
    """The served books and trades as event rows, built from the raw Bybit payloads."""
    rows = []
    for b in state.served_books:
        ts = b["ts"] * 1_000_000
        rows += [(ts, SNAPSHOT, BID, float(p), float(s), NO_ID) for p, s in b["b"]]
        rows += [(ts, SNAPSHOT, ASK, float(p), float(s), NO_ID) for p, s in b["a"]]
    for t in sorted(state.served_trades.values(), key=lambda t: int(t["execId"][1:])):
        rows.append((int(t["time"]) * 1_000_000, TRADE, BUY if t["side"] == "Buy" else SELL,
                     float(t["price"]), float(t["size"]), NO_ID))
    df = pd.DataFrame(rows, columns=["ts_ns", "kind", "side", "price", "size", "update_id"])
    return df.sort_values("ts_ns", kind="stable", ignore_index=True)


def test_recording_matches_what_the_server_served(bybit, tmp_path):
    state, url = bybit
    out = tmp_path / "rec.jsonl.gz"
    stats = recorder.record(exchange(url), "BTC/USDT:USDT", out, seconds=1.0, interval=0.2,
                            depth=5, progress=False)
    assert state.paths[:2] == ["/v5/market/instruments-info"] * 2  # linear + PreLaunch
    assert stats.books == len(state.served_books) >= 3
    assert stats.trades == len(state.served_trades) == 3 * state.trade_polls
    assert stats.klines == 1 and not stats.interrupted and stats.errors == 0
    lines = [json.loads(x) for x in gzip.open(out, "rt")]
    header = lines[0]
    assert (header["exchange"], header["symbol"], header["tick_size"], header["lot_size"]) == (
        "bybit", "BTC/USDT:USDT", 0.1, 0.001)
    ts = [x["ts_ns"] for x in lines]
    assert ts == sorted(ts)
    events = recorder.read_recording(out)
    expected = expected_events(state)
    pd.testing.assert_frame_equal(events, expected, check_dtype=False)
    assert events.attrs["skipped"] == {} and events.attrs["repeated_snapshots"] == 0
    assert events.attrs["metadata"] == {"mmgym.source": "ccxt:bybit",
                                        "mmgym.symbol": "BTC/USDT:USDT",
                                        "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"}
    # one snapshot per served book, each sharing its ts_ns, 5 levels a side
    snaps = events[events["kind"] == SNAPSHOT]
    assert snaps.groupby("ts_ns").size().tolist() == [10] * len(state.served_books)
    klines = recorder.read_klines(out)
    served = sorted(state.served_klines)
    assert klines["ts_ns"].tolist() == [int(k[0]) * 1_000_000 for k in served]
    np.testing.assert_array_equal(klines[["open", "high", "low", "close", "volume"]].to_numpy(),
                                  np.array([[float(v) for v in k[1:6]] for k in served]))


def test_local_clock_keeps_file_order(bybit, tmp_path):
    _, url = bybit
    out = tmp_path / "rec.jsonl.gz"
    recorder.record(exchange(url), "BTC/USDT:USDT", out, seconds=0.5, interval=0.2, depth=2,
                    progress=False)
    local = recorder.read_recording(out, clock="local")
    lines = [json.loads(x) for x in gzip.open(out, "rt")]
    per_line = {"book": 4, "trade": 1}
    expected_ts = [x["ts_ns"] for x in lines for _ in range(per_line.get(x["type"], 0))]
    assert local["ts_ns"].tolist() == expected_ts
    assert sorted(local["price"]) == sorted(recorder.read_recording(out)["price"])


def test_trade_gaps_are_recorded(tmp_path):
    state = BybitState(trades_per_poll=5, window=5)
    server, url = serve(state)
    try:
        out = tmp_path / "rec.jsonl.gz"
        stats = recorder.record(exchange(url), "BTC/USDT:USDT", out, seconds=0.6,
                                interval=0.2, depth=1, trades_limit=2, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    # each poll after the first returns the 2 newest of 5 new trades: 3 missed, a gap
    assert stats.gaps == state.trade_polls - 1 >= 1
    assert recorder.read_recording(out).attrs["gaps"] == stats.gaps


def test_ctrl_c_keeps_a_readable_recording(bybit, tmp_path):
    _, url = bybit
    out = tmp_path / "rec.jsonl.gz"
    timer = threading.Timer(0.8, _thread.interrupt_main)
    timer.start()
    stats = recorder.record(exchange(url), "BTC/USDT:USDT", out, seconds=30, interval=0.1,
                            depth=3, progress=False)
    timer.cancel()
    assert stats.interrupted and stats.seconds < 5
    events = recorder.read_recording(out)
    assert (events["kind"] == SNAPSHOT).sum() == 6 * stats.books >= 6
    assert (events["kind"] == TRADE).sum() == stats.trades


def test_command_line(bybit, tmp_path, capsys):
    state, url = bybit
    out = tmp_path / "cli.jsonl.gz"
    argv = ["--exchange", "bybit", "--symbol", "BTC/USDT:USDT", "--seconds", "0.4",
            "--interval", "0.2", "--depth", "3", "-o", str(out), "--api-url", url,
            "--market-types", "linear", "--no-progress"]
    assert recorder.main(argv) == 0
    assert f"{out}: {len(state.served_books)} snapshots" in capsys.readouterr().out
    assert recorder.main(argv) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    bad = [*argv, "-o", str(tmp_path / "x.jsonl.gz"), "--interval", "0"]
    assert recorder.main(bad) == 2
    assert "interval: 0.0 is not a finite number > 0" in capsys.readouterr().err


def test_ctrl_c_on_the_command(bybit, tmp_path):
    """SIGINT to a running ``mmgym-record``: exit 130, the file closed and complete."""
    _, url = bybit
    out = tmp_path / "sigint.jsonl.gz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmgym.data.recorder", "--exchange", "bybit", "--symbol",
         "BTC/USDT:USDT", "--seconds", "60", "--interval", "0.05", "--depth", "2", "-o",
         str(out), "--api-url", url, "--market-types", "linear", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.exists() and out.stat().st_size > 200):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "(interrupted)" in stdout
    with gzip.open(out, "rt") as f:  # a complete gzip stream: reads to its end marker
        lines = f.read().splitlines()
    events = recorder.read_recording(out)
    assert events.attrs["skipped"] == {}
    assert (events["kind"] == SNAPSHOT).sum() == 4 * sum('"type":"book"' in x for x in lines)


# ----------------------------------------------------------------------------- bad data


def write_lines(path: Path, lines: list[str], tail: str = "") -> Path:
    with gzip.open(path, "wt") as f:
        f.write("".join(x + "\n" for x in lines) + tail)
    return path


def header() -> str:
    return json.dumps({"type": "header", "ts_ns": 1, "format": recorder.FORMAT, "version": 1,
                       "exchange": "bybit", "symbol": "BTC/USDT:USDT", "tick_size": 0.1,
                       "lot_size": 0.001, "contract_size": 1.0, "depth": 1, "interval_s": 1})


def book(ts_ns: int, ms: int, bid: float, ask: float) -> str:
    return json.dumps({"type": "book", "ts_ns": ts_ns, "book": {
        "bids": [[bid, 1.0]], "asks": [[ask, 2.0]], "timestamp": ms, "nonce": None}})


def trade(ts_ns: int, ms: int, i: int, side: str = "buy") -> str:
    return json.dumps({"type": "trade", "ts_ns": ts_ns, "trade": {
        "id": str(i), "timestamp": ms, "side": side, "price": 100.0, "amount": 0.5}})


@pytest.mark.parametrize(("line", "problem"), [
    ('{"type": "book", "ts_ns": 5, "book"', "corrupt_line"),
    ("not json", "corrupt_line"),
    (json.dumps({"type": "book", "ts_ns": 5, "book": {"bids": []}}), "corrupt_line"),
    (book(5, 5, 100.0, 99.0), "crossed_book"),
    (book(0, 5, 99.0, 100.0), "out_of_order_line"),
    (book(5, 1, 99.0, 100.0), "out_of_order_snapshot"),
    (book(5, None, 99.0, 100.0), "no_exchange_time"),
    (trade(5, 5, 9, side="up"), "corrupt_line"),
    (json.dumps({"type": "trade", "ts_ns": 5, "trade": {
        "id": "9", "timestamp": 5, "side": "buy", "price": -1.0, "amount": 0.5}}), "bad_value"),
])
def test_bad_lines_fail_with_file_and_line_or_are_skipped_and_counted(tmp_path, line, problem):
    good = [header(), book(1, 2, 99.0, 100.0), trade(2, 3, 1)]
    path = write_lines(tmp_path / "bad.jsonl.gz", [*good, line, trade(6, 6, 2)])
    message = f"{path}: line 4: {recorder._PROBLEMS[problem]}"
    with pytest.raises(DataError, match=re.escape(message)):
        recorder.read_recording(path)
    with pytest.warns(recorder.DataWarning, match=rf"skipped {{'{problem}': 1}}"):
        events = recorder.read_recording(path, strict=False)
    assert events.attrs["skipped"] == {problem: 1}
    assert events["ts_ns"].tolist() == [2_000_000, 2_000_000, 3_000_000, 6_000_000]
    assert events["kind"].tolist() == [SNAPSHOT, SNAPSHOT, TRADE, TRADE]


def test_a_torn_last_line_is_tolerated_and_counted(tmp_path):
    lines = [header(), book(1, 2, 99.0, 100.0), trade(2, 3, 1)]
    path = write_lines(tmp_path / "torn.jsonl.gz", lines, tail=trade(3, 4, 2)[:20])
    with pytest.warns(recorder.DataWarning, match="truncated_tail"):
        events = recorder.read_recording(path)
    assert len(events) == 3 and events.attrs["skipped"] == {"truncated_tail": 1}


def test_a_cut_gzip_stream_is_tolerated_and_counted(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    with gzip.open(path, "wt") as f:  # written and flushed line by line, as the recorder does
        for x in [header(), book(1, 2, 99.0, 100.0), trade(2, 3, 1)]:
            f.write(x + "\n")
            f.flush()
        data = path.read_bytes()
    path.write_bytes(data)  # the stream as a crash would leave it: no end marker
    with pytest.warns(recorder.DataWarning, match="truncated_tail"):
        events = recorder.read_recording(path)
    assert events["kind"].tolist() == [SNAPSHOT, SNAPSHOT, TRADE]


def test_repeated_books_and_trades_are_dropped_not_doubled(tmp_path):
    lines = [header(), book(1, 2, 99.0, 100.0), book(2, 2, 99.0, 100.0), trade(3, 3, 1),
             trade(4, 3, 1)]
    events = recorder.read_recording(write_lines(tmp_path / "r.jsonl.gz", lines))
    assert len(events) == 3
    assert events.attrs["repeated_snapshots"] == 1 and events.attrs["duplicate_trades"] == 1


def test_not_a_recording(tmp_path):
    with pytest.raises(DataError, match="line 1: not a mmgym-ccxt-recording header"):
        recorder.read_recording(write_lines(tmp_path / "x.gz", ['{"a": 1}']))
    plain = tmp_path / "plain.txt"
    plain.write_text("hello\n")
    with pytest.raises(DataError, match="not a readable gzip text file"):
        recorder.read_recording(plain)
    with pytest.raises(DataError, match="no such file"):
        recorder.read_recording(tmp_path / "missing.gz")


# ----------------------------------------------------------------------------- mmgym-import


def test_import_command_reads_a_recording(bybit, tmp_path, capsys):
    from mmgym.data.importers import main

    state, url = bybit
    rec = tmp_path / "rec.jsonl.gz"
    recorder.record(exchange(url), "BTC/USDT:USDT", rec, seconds=0.6, interval=0.2, depth=3,
                    progress=False)
    out = tmp_path / "events.parquet"
    assert main(["ccxt", str(rec), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    n_lines = len(gzip.open(rec, "rt").read().splitlines())
    books, trades = len(state.served_books), len(state.served_trades)
    events, meta = read_events(out)
    assert f"{n_lines} lines, {6 * books + trades} events (snapshot {books}, trade {trades})" \
        in printed and "skipped: 0" in printed
    pd.testing.assert_frame_equal(events, expected_events(state), check_dtype=False)
    assert meta == {"mmgym.source": "ccxt:bybit", "mmgym.symbol": "BTC/USDT:USDT",
                    "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"}
    # --clock local: the lines' local receive times, in file order
    local = tmp_path / "local.parquet"
    assert main(["ccxt", str(rec), "-o", str(local), "--clock", "local"]) == 0
    pd.testing.assert_frame_equal(read_events(local)[0],
                                  recorder.read_recording(rec, clock="local"))


def test_import_command_skips_and_counts_or_fails(tmp_path, capsys):
    from mmgym.data.importers import main

    lines = [header(), book(1, 2, 99.0, 100.0), trade(2, 3, 1), "not json", trade(4, 3, 1),
             book(5, 5, 99.5, 100.0)]
    rec = write_lines(tmp_path / "bad.jsonl.gz", lines)
    out = tmp_path / "events.parquet"
    assert main(["ccxt", str(rec), "-o", str(out), "--strict"]) == 1
    assert f"{rec}: line 4: " in capsys.readouterr().err and not out.exists()
    assert main(["ccxt", str(rec), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 lines, 5 events (duplicate_trade 1, snapshot 2, trade 1)" in printed
    assert "skipped: 1 (corrupt_line 1)" in printed
    events, _ = read_events(out)
    assert events["kind"].tolist() == [SNAPSHOT, SNAPSHOT, TRADE, SNAPSHOT, SNAPSHOT]


def test_import_command_units_recorded_inferred_or_given(tmp_path, capsys):
    from mmgym.data.importers import main

    no_lot = json.loads(header()) | {"lot_size": None}
    lines = [json.dumps(no_lot), book(1, 2, 99.0, 100.0), trade(2, 3, 1), book(5, 5, 99.5, 100.0)]
    rec = write_lines(tmp_path / "rec.jsonl.gz", lines)
    out = tmp_path / "events.parquet"
    assert main(["ccxt", str(rec), "-o", str(out)]) == 0
    # the recorded tick, checked; the lot inferred from sizes 1.0, 2.0 and 0.5
    assert "tick 0.1 (given), lot 0.5 (inferred)" in capsys.readouterr().out
    assert read_events(out)[1]["mmgym.lot_size"] == "0.5"
    before = out.read_bytes()
    assert main(["ccxt", str(rec), "-o", str(out), "--tick", "1", "--force"]) == 1
    assert (f"{rec}: event row 3: price 99.5 is not a multiple of the given tick size 1"
            in capsys.readouterr().err)
    assert out.read_bytes() == before
