"""Paper trading on a streamed book (:mod:`mmgym.live`): quotes, fills by the replay queue rules,
withdrawals (resync, stale, one-sided book, price shock, position limit), a clean stop, and
both recordings (the event file and the recorder's JSON lines) replayed to the same fills; all
on scripted streams and a virtual clock."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from reference import HAND, SAMPLE, S, needs_sample, table

from mmgym.accounting import INFO_KEYS
from mmgym.core import MarketMakingCore
from mmgym.data.importers import main as import_main
from mmgym.data.recorder import DataWarning, read_recording
from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE
from mmgym.data.store import DataError, OutputError, read_events, write_events
from mmgym.live.clock import VirtualClock
from mmgym.live.engine import KillSwitch, PaperEngine, StepReport, run_until_stopped
from mmgym.live.market import LiveMarket
from mmgym.live.source import Notice, TableSource
from mmgym.markets.replay import ReplayMarket
from mmgym.policies import make
from mmgym.validation import ConfigError

META = {"mmgym.source": "scripted", "mmgym.symbol": "TEST", "mmgym.tick_size": "1",
        "mmgym.lot_size": "0.001"}
MARKET = {"dt": 1.0, "quote_size": 1.0}
NO_SHOCK = KillSwitch(shock_bps=None)


def paper(events: pd.DataFrame, policy: Any, *, notices: tuple[Notice, ...] = (),
          end_ns: int | None = None, **kwargs: Any) -> PaperEngine:
    """Run the engine on ``events`` (a scripted stream on a virtual clock) to its end."""
    clock = VirtualClock()
    source = TableSource(events, META, clock, notices, end_ns)
    defaults = {"market": MARKET, "env": {"max_inventory": 10.0}, "duration_seconds": 4.0,
                "stale_after_seconds": 0.0, "kill_switch": NO_SHOCK}
    engine = PaperEngine(source, policy, clock=clock, **(defaults | kwargs))
    asyncio.run(engine.run())
    return engine


def steps(engine: PaperEngine) -> pd.DataFrame:
    return engine.steps_table().set_index("step")


class Scripted:
    """A policy quoting the given offsets in turn, remembering the mids it saw."""

    def __init__(self, offsets: list[tuple[float, float]]) -> None:
        self.offsets = list(offsets)
        self.mids: list[float] = []
        self.feature_count = 0

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        self.mids.append(float(info["mid"][0]))
        self.feature_count = obs.shape[1]
        return np.array([self.offsets.pop(0) if self.offsets else (1.0, 1.0)])


def test_quotes_follow_the_policy() -> None:
    events = table([
        (0, SNAPSHOT, BID, 98, 5, 1), (0, SNAPSHOT, BID, 97, 5, 1),
        (0, SNAPSHOT, ASK, 102, 5, 1), (0, SNAPSHOT, ASK, 103, 5, 1),
        # the book moves to 100 / 103 (mid 101.5)
        (3 * S // 2, DELTA, BID, 100, 5, 2), (3 * S // 2, DELTA, ASK, 102, 0, 2),
    ])
    policy = Scripted([(1.0, 2.0), (3.0, 0.5), (1.5, 1.5), (math.inf, 2.0)])
    engine = paper(events, policy, end_ns=4 * S)
    got = steps(engine)
    assert policy.feature_count == len(ReplayMarket.default_features)
    assert policy.mids == [100.0, 100.0, 101.5, 101.5, 101.5]
    # the policy's offsets are the actions of the next step, the quotes in force floor(mid − δ)
    # and ceil(mid + δ) from the mid at the step's start
    assert got["next_bid_offset"].tolist()[:4] == [1.0, 3.0, 1.5, math.inf]
    assert got["next_ask_offset"].tolist()[:4] == [2.0, 0.5, 1.5, 2.0]
    assert got.loc[1:, "bid_offset"].tolist() == [1.0, 3.0, 1.5, math.inf]
    assert got.loc[1:, "bid_price"].tolist()[:3] == [99.0, 97.0, 100.0]
    assert math.isnan(got.loc[4, "bid_price"])
    assert got.loc[1:, "ask_price"].tolist() == [102.0, 101.0, 103.0, 104.0]
    for k in range(1, 4):
        mid, (bid, ask) = got.loc[k - 1, "mid"], got.loc[k, ["bid_offset", "ask_offset"]]
        assert got.loc[k, "bid_price"] == math.floor(mid - bid)
        assert got.loc[k, "ask_price"] == math.ceil(mid + ask)
    assert (got["status"] == "quoting").all()
    assert got.loc[0, "played"] == False  # noqa: E712  (the start: no step yet)
    assert got.loc[1:, "played"].all()




@pytest.mark.parametrize("queue_model", ["conservative", "probabilistic"])
def test_fills_follow_the_replay_queue_rules(queue_model: str) -> None:
    engine = paper(HAND, make("fixed_spread", half_spread=1.0),
                   market=MARKET | {"queue_model": queue_model})
    got = steps(engine).loc[1:]
    assert got[["bid_price", "ask_price"]].to_numpy().tolist() == [[99.0, 101.0]] * 4
    assert got[["bid_fill", "ask_fill"]].to_numpy().tolist() == [
        [0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 0.0]]
    # the new bid after its full fill joins behind the 1 lot shown at 99
    assert engine.market.order_ahead[0, 0] == 1.0
    assert got["inventory"].tolist() == [0.0, 0.5, 0.0, 0.0]
    assert got["cash"].tolist() == [0.0, -49.5, 2.0, 2.0]  # bought 1 at 99, sold 1 at 101


@pytest.mark.parametrize(("queue_model", "ahead"), [("probabilistic", 1.0),
                                                     ("power", 2.0 - 10.0 / 82.0)])
def test_the_queue_advances_by_the_replay_queue_model(queue_model: str, ahead: float) -> None:
    # the agent's bid joins 2 lots at 99; 18 lots join behind it, then 10 lots cancel
    events = table([
        (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1),
        (S // 2, DELTA, BID, 99, 20, 2), (3 * S // 2, DELTA, BID, 99, 10, 3),
        (3 * S, DELTA, ASK, 101, 4, 4),
    ])
    engine = paper(events, Scripted([(1.0, math.inf)] * 2), duration_seconds=2.0,
                   market=MARKET | {"queue_model": queue_model, "queue_power": 2.0})
    assert engine.market.order_ahead[0, 0] == pytest.approx(ahead)


def resync_stream() -> tuple[pd.DataFrame, tuple[Notice, ...]]:
    """A book 99 / 101, a sell through the bid's queue every step, the connection lost at
    2.2 s and resynchronized by a snapshot at 4.6 s (book 95 / 97)."""
    rows = [(0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1)]
    rows += [(k * S + S // 2, TRADE, SELL, 99, 5, NO_ID) for k in range(2)]
    rows += [(5 * S // 2, TRADE, SELL, 99, 5, NO_ID), (16 * S // 5, DELTA, BID, 99, 3, 2)]
    rows += [(46 * S // 10, SNAPSHOT, BID, 95, 2, 9), (46 * S // 10, SNAPSHOT, ASK, 97, 3, 9)]
    rows += [(k * S + S // 2, TRADE, SELL, 95, 5, NO_ID) for k in range(5, 7)]
    notices = (Notice("connected", S // 5), Notice("disconnected", 22 * S // 10, "timeout"),
               Notice("reconnecting", 27 * S // 10))
    return table(rows), notices


def test_a_lost_connection_withdraws_the_quotes_until_the_next_snapshot() -> None:
    events, notices = resync_stream()
    engine = paper(events, make("fixed_spread", half_spread=1.0), notices=notices,
                   duration_seconds=7.0, end_ns=7 * S)
    got = steps(engine)
    assert got["status"].tolist() == ["quoting"] * 3 + ["resync"] * 2 + ["quoting"] * 3
    assert got.loc[3:4, ["next_bid_offset", "next_ask_offset"]].to_numpy().tolist() == [
        [math.inf, math.inf]] * 2
    # steps 4 and 5 play without an order; each other step fills 1 of the bid (5 sold
    # through the 2 lots ahead)
    assert got.loc[4:5, ["bid_price", "ask_price"]].isna().all().all()
    assert got.loc[1:, "bid_fill"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    # the snapshot replaced the book: quotes around its mid 96
    assert got.loc[5, "mid"] == 96.0
    assert got.loc[6, "bid_price"] == 95.0
    assert got.loc[3, "notices"] == "disconnected (timeout); reconnecting"
    assert engine.summary.notices == {"connected": 1, "disconnected": 1, "reconnecting": 1}
    assert engine.summary.status_steps["resync"] == 2


def test_a_silent_book_is_stale_until_it_speaks() -> None:
    events = table([(0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1)]
                   + [(k * S + S // 2, TRADE, SELL, 99, 5, NO_ID) for k in range(1, 4)]
                   + [(9 * S // 2, DELTA, BID, 98, 1, 2)])
    engine = paper(events, make("fixed_spread", half_spread=1.0), stale_after_seconds=2.0,
                   duration_seconds=6.0, end_ns=6 * S)
    got = steps(engine)
    # no book row after 0 s: stale from 3 s (more than 2 s of silence) until the row at 4.5 s
    assert got["status"].tolist() == ["quoting"] * 3 + ["stale"] * 2 + ["quoting"] * 2
    assert got.loc[4:5, "bid_price"].isna().all()
    assert got.loc[1:3, "bid_fill"].tolist() == [0.0, 1.0, 1.0]


def test_a_one_sided_book_skips_its_steps() -> None:
    events = table([
        (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1),
        (3 * S // 2, DELTA, ASK, 101, 0, 2), (5 * S // 2, DELTA, ASK, 102, 1, 3),
    ])
    engine = paper(events, make("fixed_spread", half_spread=1.0), end_ns=4 * S)
    got = steps(engine)
    assert got["played"].tolist() == [False, True, False, False, True]
    assert got["status"].tolist() == ["quoting", "quoting", "one_sided", "quoting", "quoting"]
    assert math.isnan(got.loc[2, "mid"])
    assert np.isfinite(got[["pnl", "inventory"]].to_numpy()).all()
    assert engine.summary.steps_skipped == 2


def shock_stream() -> pd.DataFrame:
    """Mid 100 until the book jumps to 104 / 106 (mid 105, 500 bps) at 2.5 s."""
    return table([
        (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1),
        (5 * S // 2, SNAPSHOT, BID, 104, 2, 2), (5 * S // 2, SNAPSHOT, ASK, 106, 3, 2),
        (15 * S // 2, DELTA, BID, 103, 1, 3),
    ])


def test_a_price_shock_pauses_quoting() -> None:
    kill = KillSwitch(shock_bps=50.0, shock_window_seconds=3.0, pause_seconds=3.0)
    engine = paper(shock_stream(), make("fixed_spread", half_spread=1.0), kill_switch=kill,
                   duration_seconds=7.0)
    got = steps(engine)
    # the window of 3 boundaries holds 100 and 105 at 3 s: paused 3 s, quoting again at 6 s
    assert got["status"].tolist() == ["quoting"] * 3 + ["shock"] * 3 + ["quoting"] * 2
    assert got.loc[4:6, ["bid_price", "ask_price"]].isna().all().all()
    assert got.loc[7, ["bid_price", "ask_price"]].tolist() == [104.0, 106.0]
    # without the switch the quotes stand
    calm = steps(paper(shock_stream(), make("fixed_spread", half_spread=1.0),
                       duration_seconds=7.0))
    assert (calm["status"] == "quoting").all()


def test_the_position_limit_holds() -> None:
    # a sell through the bid every step: each fills the whole bid (1)
    events = table([(0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, 101, 3, 1)]
                   + [(k * S + S // 2, TRADE, SELL, 97, 10, NO_ID) for k in range(6)])
    engine = paper(events, make("fixed_spread", half_spread=1.0), duration_seconds=6.0,
                   kill_switch=KillSwitch(shock_bps=None, max_inventory=2.0), end_ns=6 * S)
    got = steps(engine)
    assert got["inventory"].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert got.loc[3:, "bid_price"].isna().all()  # no bid at the limit
    assert (got.loc[1:, "ask_price"] == 101.0).all()  # the ask stands


def test_the_engine_compiles_before_the_stream_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step on a stand-in book runs before the first item is asked of the stream: compiled
    inside the event loop at the first boundary (seconds on a cold numba cache), the loops
    would hold a live stream's messages unread, the boundaries passing late and at once
    (``tests/test_paper_loopback.py``, the command on a cold cache)."""
    calls: list[str] = []
    step = MarketMakingCore.step
    monkeypatch.setattr(MarketMakingCore, "step",
                        lambda core, actions: calls.append("step") or step(core, actions))

    class Watched(TableSource):
        async def __aiter__(self):
            calls.append("stream")
            async for item in super().__aiter__():
                yield item

    clock = VirtualClock()
    engine = PaperEngine(Watched(HAND, META, clock, end_ns=4 * S),
                         make("fixed_spread", half_spread=1.0), market=MARKET,
                         env={"max_inventory": 10.0}, duration_seconds=4.0,
                         stale_after_seconds=0.0, kill_switch=NO_SHOCK, clock=clock)
    asyncio.run(engine.run())
    assert calls == ["step", "stream"] + ["step"] * 4
    # the stand-in leaves no trace: the run is the hand-made one
    assert steps(engine).loc[1:, "bid_fill"].tolist() == [0.0, 0.5, 0.5, 0.0]
    assert engine.summary.steps_played == 4 and engine.summary.pnl == 2.0


class Endless(TableSource):
    """A scripted stream that sends SIGTERM to this process once played, then waits
    forever, as a live stream would."""

    async def __aiter__(self):
        async for item in super().__aiter__():
            yield item
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.Event().wait()


def test_sigterm_writes_the_recording_and_the_summary(tmp_path: Path) -> None:
    clock = VirtualClock()
    seen: list[StepReport] = []
    engine = PaperEngine(Endless(HAND, META, clock, end_ns=4 * S),
                         make("fixed_spread", half_spread=1.0), market=MARKET,
                         env={"max_inventory": 10.0}, duration_seconds=60.0,
                         stale_after_seconds=0.0, kill_switch=NO_SHOCK, clock=clock,
                         observers=[seen.append], output=tmp_path / "run")
    before = signal.getsignal(signal.SIGTERM)
    summary = run_until_stopped(engine)
    assert summary.ended_by == "stop"
    assert [r.step for r in seen] == [0, 1, 2, 3, 4]
    recorded, meta = read_events(tmp_path / "run" / "recording.parquet")
    pd.testing.assert_frame_equal(recorded, HAND)
    assert meta["mmgym.symbol"] == "TEST" and float(meta["mmgym.tick_size"]) == 1.0
    lines = read_recording(tmp_path / "run" / "recording.jsonl.gz", clock="local")
    assert lines.attrs["skipped"] == {}  # closed: a whole gzip stream
    pd.testing.assert_frame_equal(lines[lines["kind"] == TRADE].reset_index(drop=True),
                                  HAND[HAND["kind"] == TRADE].reset_index(drop=True))
    assert len(pd.read_parquet(tmp_path / "run" / "steps.parquet")) == 5
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["ended_by"] == "stop" and written["steps_played"] == 4
    assert written["bid_volume"] == 1.0 and written["ask_volume"] == 1.0
    text = str(summary)
    assert "ended (stop)" in text and "4 steps played" in text and "PnL 2" in text
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is restored


def replayed(engine: PaperEngine, path: Path, market: dict[str, Any],
             env: dict[str, Any]) -> None:
    """Replay the engine's recording ``path`` through the ``replay`` market with the actions
    of its steps; check every step's accounts and observation, bit for bit."""
    got = steps(engine)
    features = [c for c in got.columns if c.startswith("feature.")]
    played = int(got["played"].sum())
    assert played == len(got) - 1  # a two-sided run
    core = MarketMakingCore("replay", 1, data_path=str(path), start=0.0,
                            episode_seconds=played * market["dt"], **market, **env)
    core.reset(seeds=[0])
    np.testing.assert_array_equal(core.obs[0], got.loc[0, features].to_numpy(np.float32))
    for k in range(1, len(got)):
        core.step(got.loc[k, ["bid_offset", "ask_offset"]].to_numpy(np.float64)[None])
        info = dict(zip(INFO_KEYS, core.info_table()[:, 0].tolist(), strict=True))
        for key in ("bid_fill", "ask_fill", "inventory", "cash", "pnl", "fees"):
            assert info[key] == got.loc[k, key], (k, key)
        for key in ("bid_price", "ask_price"):
            assert info[key] == got.loc[k, key] or math.isnan(got.loc[k, key]), (k, key)
        np.testing.assert_array_equal(core.obs[0], got.loc[k, features].to_numpy(np.float32))


def imported(lines: Path) -> Path:
    """``mmgym-import ccxt --clock local`` of a run's ``recording.jsonl.gz``, beside it."""
    out = lines.with_name("imported.parquet")
    assert import_main(["ccxt", str(lines), "--clock", "local", "-o", str(out)]) == 0
    return out


def test_the_json_lines_import_on_the_local_clock_only(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    paper(HAND, make("no_quote"), output=tmp_path / "run")
    out = tmp_path / "exchange.parquet"
    assert import_main(["ccxt", str(tmp_path / "run" / "recording.jsonl.gz"), "-o",
                        str(out)]) == 1
    assert "no book or trade has an exchange time" in capsys.readouterr().err
    assert not out.exists()


def test_the_recording_replays_to_the_same_fills(tmp_path: Path) -> None:
    # the resync stream, with a row that arrives late (stamped 1.2 s, received at 2.5 s)
    events, notices = resync_stream()
    late = table([(6 * S // 5, TRADE, SELL, 99, 4, NO_ID)])
    at = int(np.searchsorted(events["ts_ns"].to_numpy(), 5 * S // 2, side="right"))
    events = pd.concat([events.iloc[:at], late, events.iloc[at:]], ignore_index=True)
    events = pd.concat([events, table([(8 * S, DELTA, BID, 94, 1, 10)])], ignore_index=True)
    env = {"max_inventory": 10.0}
    engine = paper(events, make("random", low=0.0, high=3.0, seed=3), notices=notices,
                   duration_seconds=7.0, env=env, output=tmp_path / "run")
    assert engine.summary.late_rows == 1
    recorded, _ = read_events(tmp_path / "run" / "recording.parquet")
    assert recorded["ts_ns"].iloc[at] == 5 * S // 2  # applied as received, in the next step
    replayed(engine, tmp_path / "run" / "recording.parquet", MARKET, env)
    # the recorder's JSON lines, imported on their local clock: the same events (the book as
    # snapshots), the same fills
    lines = imported(tmp_path / "run" / "recording.jsonl.gz")
    got, meta = read_events(lines)
    trades = got["kind"] == TRADE
    pd.testing.assert_frame_equal(got[trades].reset_index(drop=True),
                                  recorded[recorded["kind"] == TRADE].reset_index(drop=True))
    assert (got.loc[~trades, "kind"] == SNAPSHOT).all()
    assert got["ts_ns"].iloc[-1] == 8 * S  # received after the last boundary: written at the end
    assert meta == {"mmgym.source": "ccxt:scripted", "mmgym.symbol": "TEST",
                    "mmgym.tick_size": "1.0", "mmgym.lot_size": "0.001"}
    replayed(engine, lines, MARKET, env)


def test_the_json_lines_hold_the_whole_book_at_every_change(tmp_path: Path) -> None:
    events = table([
        (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, BID, 98, 1, 1), (0, SNAPSHOT, BID, 97, 1, 1),
        (0, SNAPSHOT, ASK, 101, 3, 1), (0, SNAPSHOT, ASK, 102, 1, 1), (0, SNAPSHOT, ASK, 103, 2, 1),
        # two book changes at one time, a trade between them
        (S // 2, DELTA, BID, 99, 1, 2), (S // 2, TRADE, SELL, 99, 1, NO_ID),
        (S // 2, DELTA, BID, 100, 1, 3),
        # a sell at 96, where the agent bids behind the two levels shown: no fill
        (4 * S // 5, TRADE, SELL, 96, 0.5, NO_ID),
        # a bid through the ask at 101: the stale ask is removed (mmgym.data.book)
        (6 * S // 5, DELTA, BID, 101, 2, 4), (3 * S // 2, TRADE, SELL, 100, 2.5, NO_ID),
        # a delta, then a snapshot without update ids, at one time: one change
        (23 * S // 10, DELTA, ASK, 102, 0, NO_ID), (23 * S // 10, SNAPSHOT, BID, 100, 1, NO_ID),
        (23 * S // 10, SNAPSHOT, BID, 99, 2, NO_ID), (23 * S // 10, SNAPSHOT, ASK, 102, 2, NO_ID),
        (23 * S // 10, SNAPSHOT, ASK, 104, 1, NO_ID),
        (13 * S // 5, TRADE, BUY, 102, 0.5, NO_ID), (13 * S // 5, DELTA, ASK, 102, 1.5, 7),
        (7 * S // 2, TRADE, BUY, 104, 3, NO_ID), (9 * S // 2, DELTA, BID, 98, 3, 8),
    ])
    env = {"max_inventory": 10.0}
    engine = paper(events, Scripted([(4.0, 1.0)]), env=env,
                   market=MARKET | {"shown_levels": 2}, output=tmp_path / "run")
    got = steps(engine)
    assert (got.loc[1, "bid_price"], got.loc[1, "bid_fill"]) == (96.0, 0.0)
    assert got["bid_fill"].sum() + got["ask_fill"].sum() > 0
    path = tmp_path / "run" / "recording.jsonl.gz"
    lines = [json.loads(x) for x in gzip.open(path, "rt")]
    assert lines[0]["shown_levels"] == 2 and lines[0]["contract_size"] == 1.0
    assert [(x["type"], x["ts_ns"]) for x in lines[1:]] == [
        ("book", 0), ("book", S // 2), ("trade", S // 2), ("book", S // 2),
        ("trade", 4 * S // 5), ("book", 6 * S // 5), ("trade", 3 * S // 2), ("book", 23 * S // 10),
        ("trade", 13 * S // 5), ("book", 13 * S // 5), ("trade", 7 * S // 2),
        ("book", 9 * S // 2)]
    books = [x["book"] for x in lines if x["type"] == "book"]
    assert books[1] == {"bids": [[99.0, 1.0], [98.0, 1.0], [97.0, 1.0]],
                        "asks": [[101.0, 3.0], [102.0, 1.0], [103.0, 2.0]], "timestamp": None,
                        "nonce": 2}
    assert books[3]["bids"][0] == [101.0, 2.0] and books[3]["asks"][0] == [102.0, 1.0]
    assert books[4] == {"bids": [[100.0, 1.0], [99.0, 2.0]], "asks": [[102.0, 2.0], [104.0, 1.0]],
                        "timestamp": None, "nonce": None}
    assert [x["trade"]["id"] for x in lines if x["type"] == "trade"] == ["1", "2", "3", "4", "5"]
    _, meta = read_events(imported(path))
    assert meta["mmgym.levels"] == "2"
    replayed(engine, tmp_path / "run" / "recording.parquet", MARKET, env)
    replayed(engine, tmp_path / "run" / "imported.parquet", MARKET, env)


def test_the_json_lines_are_written_as_the_run_goes(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def kill_at_step_2(report: StepReport) -> None:  # the file a run killed here leaves
        if report.step == 2:
            shutil.copy(run / "recording.jsonl.gz", tmp_path / "killed.jsonl.gz")

    paper(HAND, make("fixed_spread", half_spread=1.0), observers=[kill_at_step_2], output=run)
    full = read_recording(run / "recording.jsonl.gz", clock="local")
    assert full.attrs["skipped"] == {}
    with pytest.warns(DataWarning, match="truncated_tail"):
        killed = read_recording(tmp_path / "killed.jsonl.gz", clock="local")
    assert killed.attrs["skipped"] == {"truncated_tail": 1}  # no gzip end: it was not closed
    pd.testing.assert_frame_equal(killed, full[full["ts_ns"] <= 2 * S])


@pytest.fixture(scope="module")
def sample_events(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} not present")
    from mmgym.data.binance import import_binance

    path = tmp_path_factory.mktemp("paper") / "btcusdt.parquet"
    import_binance(SAMPLE, path)
    events, meta = read_events(path)
    first = int(events["ts_ns"].iloc[np.flatnonzero(events["kind"] == SNAPSHOT)[0]])
    return events[events["ts_ns"] <= first + 32 * S], meta


@needs_sample
@pytest.mark.parametrize("market", [
    {"queue_model": "probabilistic"},
    {"queue_model": "conservative", "entry_latency_steps": 2, "cancel_latency_steps": 1},
])
def test_a_real_stream_replays_to_the_same_fills(sample_events: tuple[pd.DataFrame, dict],
                                                 tmp_path: Path, market: dict) -> None:
    events, meta = sample_events
    market = {"dt": 0.1, "quote_size": 0.01} | market
    env = {"max_inventory": 0.5}
    clock = VirtualClock()
    engine = PaperEngine(TableSource(events, meta, clock), make("random", low=0.0, high=6.0),
                         market=market, env=env, duration_seconds=30.0,
                         stale_after_seconds=0.0, clock=clock, output=tmp_path / "run")
    summary = asyncio.run(engine.run())
    assert summary.ended_by == "duration" and summary.steps_played == 300
    assert summary.bid_fills + summary.ask_fills > 10
    assert summary.dropped_rows > 0  # the rows before the sample's first snapshot
    replayed(engine, tmp_path / "run" / "recording.parquet", market, env)
    # the recorder's JSON lines, read on their local clock: every book change a snapshot of
    # the whole local book
    lines = read_recording(tmp_path / "run" / "recording.jsonl.gz", clock="local")
    recorded, _ = read_events(tmp_path / "run" / "recording.parquet")
    trades = lines["kind"] == TRADE
    pd.testing.assert_frame_equal(lines[trades].reset_index(drop=True),
                                  recorded[recorded["kind"] == TRADE].reset_index(drop=True))
    write_events(lines, tmp_path / "lines.parquet", lines.attrs["metadata"])
    replayed(engine, tmp_path / "lines.parquet", market, env)


def test_bad_values_fail_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="queue_model='fifo'"):
        LiveMarket(1, tick=1.0, lot=0.001, queue_model="fifo")
    with pytest.raises(ConfigError, match=r"num_envs=2"):
        LiveMarket(2, tick=1.0, lot=0.001)
    with pytest.raises(ConfigError, match=r"kill_switch.shock_bps=-1"):
        KillSwitch(shock_bps=-1)
    with pytest.raises(ConfigError, match=r"kill_switch.shock_window_seconds=1.0: shorter"):
        PaperEngine(TableSource(HAND, META, VirtualClock()), make("no_quote"), market=MARKET,
                    kill_switch=KillSwitch(shock_window_seconds=1.0))
    with pytest.raises(ConfigError, match=r"duration_seconds=0"):
        PaperEngine(TableSource(HAND, META, VirtualClock()), make("no_quote"),
                    duration_seconds=0)
    (tmp_path / "recording.parquet").write_bytes(b"")
    with pytest.raises(OutputError, match=r"recording\.parquet: exists"):
        PaperEngine(TableSource(HAND, META, VirtualClock()), make("no_quote"), output=tmp_path)
    # no tick from the stream nor the config: named when the first snapshot arrives
    clock = VirtualClock()
    engine = PaperEngine(TableSource(HAND, {"mmgym.lot_size": "1"}, clock), make("no_quote"),
                         market=MARKET, clock=clock)
    with pytest.raises(ConfigError, match="tick=None"):
        asyncio.run(engine.run())
    with pytest.raises(DataError, match=r"row 1: price is not a finite positive number"):
        paper(table([(0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, ASK, -1, 3, 1)]),
              make("no_quote"))


def test_rows_before_the_first_snapshot_are_dropped(tmp_path: Path) -> None:
    events = pd.concat([table([(S // 10, TRADE, BUY, 100, 1, NO_ID),
                               (S // 5, DELTA, BID, 98, 1, 0)]),
                        HAND.assign(ts_ns=HAND["ts_ns"] + S // 2)], ignore_index=True)
    engine = paper(events, make("fixed_spread", half_spread=1.0), output=tmp_path / "run",
                   end_ns=5 * S)
    assert engine.summary.dropped_rows == 2
    assert engine.summary.start_ns == S // 2
    recorded, _ = read_events(tmp_path / "run" / "recording.parquet")
    assert len(recorded) == len(HAND) and recorded["ts_ns"].iloc[0] == S // 2
    assert steps(engine).loc[1:, "bid_fill"].tolist() == [0.0, 0.5, 0.5, 0.0]


# ----------------------------------------------------------------------------- mmgym-paper


def compose_paper(*overrides: str) -> Any:
    """A composed ``conf/paper.yaml``."""
    from hydra import compose, initialize_config_module

    from mmgym.kit.config import CONF_MODULE, register

    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("paper", overrides=list(overrides))


@pytest.fixture
def hand_file(tmp_path: Path) -> Path:
    from mmgym.data.store import write_events

    path = tmp_path / "hand.parquet"
    write_events(HAND, path, META)
    return path


def hand_config(hand_file: Path, *overrides: str) -> Any:
    """``mmgym-paper`` on the hand-made stream (a file played on a virtual clock), the bid
    and ask 1 tick from the mid, size 1."""
    return compose_paper("source.kind=file", f"source.path={hand_file}", "dt=1.0",
                         "duration_seconds=4", "+market.params.quote_size=1.0",
                         "market.max_inventory=10", "policy=fixed_spread",
                         "+policy_params.half_spread=1.0", "kill_switch.shock_bps=null",
                         "stale_after_seconds=0", *overrides)


def test_the_command_trades_on_paper_and_writes_its_outputs(
        hand_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmgym.kit.paper import paper as run_paper

    summary = run_paper(hand_config(hand_file), tmp_path / "run")
    printed = capsys.readouterr().out
    assert summary.ended_by == "duration"
    assert (summary.bid_volume, summary.ask_volume, summary.pnl) == (1.0, 1.0, 2.0)
    assert "paper trading ended (duration) after 4.0 s: 4 steps played" in printed
    assert "book      bid 99  ask 101  mid 100" in printed  # the view (not a terminal)
    assert "account   inventory 0  cash 2  PnL 2" in printed
    for name in ("recording.parquet", "recording.jsonl.gz", "steps.parquet", "summary.json"):
        assert (tmp_path / "run" / name).is_file()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_the_terminal_view_redraws_in_place(hand_file: Path, tmp_path: Path) -> None:
    import io

    from mmgym.kit.paper import build

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    engine, closers = build(hand_config(hand_file, "tensorboard=false",
                                        "view_every_seconds=1e-9"), tmp_path / "run",
                            view_out=screen)
    run_until_stopped(engine)
    for close in closers:
        close()
    drawn = screen.getvalue()
    assert drawn.count("\x1b[7F") == 5  # 6 drawings of 7 lines, each over the last
    assert drawn.count("\x1b[2Kbook ") == 6


def test_sigterm_stops_the_command_cleanly(hand_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from mmgym.kit import paper as kit

    clock = VirtualClock()
    monkeypatch.setattr(kit, "make_source",
                        lambda cfg: (Endless(HAND, META, clock, end_ns=4 * S), clock))
    summary = kit.paper(hand_config(hand_file, "duration_seconds=60"), tmp_path / "run")
    assert summary.ended_by == "stop" and summary.steps_played == 4
    assert "paper trading ended (stop) after 4.0 s" in capsys.readouterr().out
    recorded, _ = read_events(tmp_path / "run" / "recording.parquet")
    assert len(recorded) == len(HAND)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_a_checkpoint_quotes_on_paper(hand_file: Path, tmp_path: Path) -> None:
    from mmgym.agents.qlearning import QLearning
    from mmgym.kit.paper import build
    from mmgym.wrappers import Bins, QuoteGrid

    agent = QLearning(Bins(ReplayMarket.default_features, {"inventory": [0.0]}),
                      QuoteGrid([2.0], [3.0]))  # one action: bid 2, ask 3 ticks out
    path = agent.save(tmp_path / "qtable.npz")
    engine, _ = build(hand_config(hand_file, f"checkpoint={path}", "view=false",
                                  "tensorboard=false"), tmp_path / "run")
    run_until_stopped(engine)
    got = steps(engine).loc[1:]
    assert got[["bid_price", "ask_price"]].to_numpy().tolist() == [[98.0, 103.0]] * 4


@pytest.mark.parametrize(("overrides", "message"), [
    (["checkpoint=runs/nowhere/model.zip"],
     r"checkpoint='runs/nowhere/model.zip': no such checkpoint file"),
    (["checkpoint=PPO:runs/nowhere/model.zip"], r"checkpoint='PPO:runs/nowhere/model.zip'"),
    (["policy=nope"], r"policy='nope': expected one of"),
    (["+policy_params.halfspread=2"], r"policy 'fixed_spread'.*halfspread"),
    (["dt=-1"], r"dt=-1(\.0)?: out of range, allowed \(0, 60\]"),
    (["duration_seconds=2.5"], r"duration_seconds=2\.5: must be a whole number of steps"),
    (["+market.params.queue_model=fifo"], r"market\.params\.queue_model='fifo'"),
    (["+market.params.queue_modle=fifo"], r"market\.params\.queue_modle: not a parameter"),
    (["kill_switch.shock_bps=-5"], r"kill_switch\.shock_bps=-5(\.0)?: out of range"),
    (["kill_switch.shock_bps=20", "kill_switch.shock_window_seconds=1"],
     r"kill_switch\.shock_window_seconds=1(\.0)?: shorter than two steps"),
    (["source.kind=websocket"], r"source\.kind='websocket': expected one of"),
    (["source.path=nowhere.parquet"], r"source\.path='nowhere\.parquet': no such event file"),
    (["market.features=[inventory,nope]"], r"features='nope'"),
])
def test_bad_config_values_fail_at_once_naming_them(hand_file: Path, tmp_path: Path,
                                                    overrides: list[str], message: str) -> None:
    from mmgym.kit.paper import build

    with pytest.raises(ConfigError, match=message):
        build(hand_config(hand_file, "tensorboard=false", *overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written


class Rows:
    """A batch in the live stream's shape (:class:`mmgym.live.stream.EventBatch`)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.rows = frame.to_records(index=False)


class StreamNotice:
    """A notice in the live stream's shape: ``reason`` for the detail."""

    def __init__(self, kind: str, reason: str = "") -> None:
        self.kind, self.ts_ns, self.reason = kind, 0, reason


class FakeStream:
    """A stream in :class:`mmgym.live.stream.OrderBookStream`'s shape: ``market`` (units),
    ``depth``, async iteration of batches and notices, ``close()``."""

    def __init__(self, items: list[Any], clock: VirtualClock) -> None:
        self.items, self.clock = items, clock
        self.market = None
        self.depth = 50
        self.closed = False

    async def __aiter__(self):
        from types import SimpleNamespace

        self.market = SimpleNamespace(symbol="TEST/USDT", tick_size=1.0, lot_size=0.001)
        for t_ns, item in self.items:
            self.clock.advance_to(t_ns)
            yield item

    async def close(self) -> None:
        self.closed = True


def test_the_live_streams_batches_notices_and_units(tmp_path: Path) -> None:
    from mmgym.kit.paper import CcxtSource

    events, _ = resync_stream()
    ts = events["ts_ns"].to_numpy()
    items: list[tuple[int, Any]] = [(S // 5, StreamNotice("connected"))]
    for t in np.unique(ts):
        items.append((int(t), Rows(events[ts == t])))
    items += [(22 * S // 10, StreamNotice("disconnected", "timeout")),
              (27 * S // 10, StreamNotice("reconnecting"))]
    items.sort(key=lambda item: item[0])
    clock = VirtualClock()
    stream = FakeStream([*items, (7 * S, StreamNotice("heartbeat"))], clock)
    engine = PaperEngine(CcxtSource(stream, "bybit"), make("fixed_spread", half_spread=1.0),
                         market={"dt": 1.0, "quote_size": 1.0}, env={"max_inventory": 10.0},
                         duration_seconds=7.0, stale_after_seconds=0.0, kill_switch=NO_SHOCK,
                         clock=clock, output=tmp_path / "run")
    asyncio.run(engine.run())
    got = steps(engine)
    assert got["status"].tolist() == ["quoting"] * 3 + ["resync"] * 2 + ["quoting"] * 3
    assert got.loc[3, "notices"] == "disconnected (timeout); reconnecting"
    assert stream.closed
    _, meta = read_events(tmp_path / "run" / "recording.parquet")
    assert meta == {"mmgym.source": "ccxt:bybit", "mmgym.symbol": "TEST/USDT",
                    "mmgym.tick_size": "1.0", "mmgym.lot_size": "0.001", "mmgym.levels": "50"}
