"""Paper trading end to end: the live stream (:mod:`mmgym.live.stream`, ccxt's own Bybit V5
parsing) from a websocket server on loopback (:mod:`bybit_ws_server`) into the engine
(:class:`~mmgym.live.engine.PaperEngine` through :class:`~mmgym.kit.paper.CcxtSource`), on
the wall clock. One scripted scenario per claim of paper trading: the quotes follow the
policy, the fills follow the replay market's queue rules, a dropped connection withdraws the
quotes until the book is resynchronized, a price shock pauses quoting, and the recording
replays to the same fills; then ``mmgym-paper`` itself, as a process, on the same server.

**Timing.** The engine steps every :data:`DT` of wall time from the first snapshot's arrival.
The scripts hold each step's messages until the engine has passed a boundary
(:class:`Boundaries`, the server's :class:`~bybit_ws_server.Wait` step), so the messages
sent after boundary ``k`` arrive in step ``k + 1`` unless loopback takes longer than a step
(0.5 s); where the timing is the stream's own (its reconnection), the assertions derive the
boundaries from the recorded times instead.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bybit_ws_server import (
    BybitPublicServer,
    Delta,
    Drop,
    Side,
    Sleep,
    Snapshot,
    Step,
    Trades,
    Wait,
    bybit_markets,
)

from mmgym.accounting import INFO_KEYS
from mmgym.core import MarketMakingCore
from mmgym.data.schema import SNAPSHOT, TRADE
from mmgym.data.store import read_events
from mmgym.kit.paper import CcxtSource
from mmgym.live.engine import KillSwitch, PaperEngine, StepReport
from mmgym.live.stream import LiveBook, OrderBookStream
from mmgym.markets.replay import ReplayMarket
from mmgym.policies import make

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "BTC/USDT:USDT"
TICK = 0.1  # the instrument's (reference.INSTRUMENT)
DT = 0.5  # s per step
BIDS = [(65000.0, 0.5), (64999.9, 1.0), (64999.8, 2.0)]
ASKS = [(65000.1, 0.4), (65000.2, 1.0), (65000.3, 2.0)]
MARKET = {"dt": DT, "quote_size": 0.1, "queue_model": "conservative"}
ENV = {"max_inventory": 1.0, "maker_fee_bps": 0.0}
STREAM = {"jitter": False, "backoff_initial_s": 0.05, "backoff_max_s": 0.05,
          "stale_after_s": 30.0}
"""The stream's settings: never stale in a test (a quiet book is no stalled stream)."""
NO_SHOCK = KillSwitch(shock_bps=None)
FEATURES = [f"feature.{name}" for name in ReplayMarket.default_features]


@pytest.fixture(scope="module")
def markets() -> list[dict[str, Any]]:
    """ccxt's markets of the server's instrument (no REST call)."""
    return asyncio.run(bybit_markets())


class Boundaries:
    """An engine observer: the reports so far, and a script step waiting for a boundary."""

    def __init__(self) -> None:
        self.reports: list[StepReport] = []
        self._new = asyncio.Event()

    def __call__(self, report: StepReport) -> None:
        self.reports.append(report)
        self._new.set()

    async def until(self, holds: Callable[[list[StepReport]], bool]) -> None:
        """Return once ``holds(reports)``."""
        while not holds(self.reports):
            self._new.clear()
            await self._new.wait()

    def passed(self, k: int) -> Wait:
        """Hold the script until the engine has passed boundary ``k``."""
        return Wait(lambda: self.until(lambda reports: bool(reports) and
                                       reports[-1].step >= k))

    def resumed(self) -> Wait:
        """Hold the script until the engine quotes again after a withdrawal."""
        def holds(reports: list[StepReport]) -> bool:
            statuses = [r.status for r in reports]
            return "quoting" in statuses[next((i for i, s in enumerate(statuses)
                                               if s != "quoting"), len(statuses)):]
        return Wait(lambda: self.until(holds))


@dataclass
class Paper:
    """A run: the engine, its steps (indexed by step), the server it streamed from."""

    engine: PaperEngine
    steps: pd.DataFrame
    server: BybitPublicServer


def paper(markets: list[dict[str, Any]], script: Callable[[Boundaries], list[Step]],
          policy: Any, steps: int, **kwargs: Any) -> Paper:
    """Run the engine for ``steps`` steps on the stream of a server playing
    ``script(boundaries)``; ``kwargs`` override :func:`run_paper`'s."""
    return asyncio.run(asyncio.wait_for(run_paper(markets, script, policy, steps, **kwargs),
                                        60.0))


async def run_paper(markets: list[dict[str, Any]], script: Callable[[Boundaries], list[Step]],
                    policy: Any, steps: int, *, market: dict[str, Any] | None = None,
                    kill_switch: KillSwitch = NO_SHOCK, stream: dict[str, Any] | None = None,
                    output: Path | None = None) -> Paper:
    boundaries = Boundaries()
    async with BybitPublicServer(script(boundaries), BIDS, ASKS) as server:
        source = OrderBookStream("bybit", SYMBOL, ws_url=server.url, markets=markets,
                                 **(STREAM | (stream or {})))
        engine = PaperEngine(CcxtSource(source, "bybit"), policy, market=MARKET | (market or {}),
                             env=ENV, duration_seconds=steps * DT, stale_after_seconds=0.0,
                             kill_switch=kill_switch, observers=[boundaries], output=output)
        summary = await engine.run()
    assert summary.ended_by == "duration", summary
    return Paper(engine, engine.steps_table().set_index("step"), server)


def ticks(price: float) -> int:
    """A price in ticks (prices are ticks × tick: 65000.1 comes as 65000.100000000006)."""
    return round(price / TICK)


def in_ticks(frame: pd.DataFrame) -> list[list[int]]:
    """The prices of ``frame`` in ticks, row by row."""
    return np.rint(frame.to_numpy(np.float64) / TICK).astype(int).tolist()


def assert_quotes_follow(got: pd.DataFrame, policy: Callable[..., np.ndarray]) -> None:
    """At every boundary the next offsets are ``policy``'s on the logged observation (inf:
    withdrawn, when not quoting), and in the next step they are the quotes in force: bid
    ``floor(mid − δ_b)``, ask ``ceil(mid + δ_a)`` ticks from the mid at the step's start."""
    for k in got.index:
        offsets = got.loc[k, ["next_bid_offset", "next_ask_offset"]].to_numpy(np.float64)
        if got.loc[k, "status"] != "quoting":
            assert np.isinf(offsets).all(), k
            continue
        obs = got.loc[k, FEATURES].to_numpy(np.float32)[None]
        info = {key: np.array([got.loc[k, key]]) for key in INFO_KEYS if key in got}
        np.testing.assert_array_equal(offsets, policy(obs, info)[0], err_msg=f"boundary {k}")
        if k + 1 not in got.index:
            continue
        step = got.loc[k + 1]
        assert (step["bid_offset"], step["ask_offset"]) == tuple(offsets), k + 1
        mid = round(2 * got.loc[k, "mid"] / TICK) / 2  # ticks, on the half-tick grid
        assert ticks(step["bid_price"]) == math.floor(mid - offsets[0] + 1e-9), k + 1
        assert ticks(step["ask_price"]) == math.ceil(mid + offsets[1] - 1e-9), k + 1


def book_of(rows: pd.DataFrame) -> tuple[Side, Side]:
    """The book after the event rows (the stream's own rebuild, :class:`LiveBook`)."""
    book = LiveBook()
    book.apply(rows.to_records(index=False))
    return book.bids, book.asks


def levels(bids: list[tuple[float, float]], asks: list[tuple[float, float]]
           ) -> tuple[Side, Side]:
    return dict(bids), dict(asks)


# ----------------------------------------------------------------------------- 1. quotes


def quote_script(b: Boundaries) -> list[Step]:
    """One change a step: the imbalance swings, the spread widens to two ticks and the mid
    moves by half ticks."""
    return [b.passed(0), Delta(bids=[(65000.0, 2.5)]),
            b.passed(1), Delta(asks=[(65000.1, 3.0)]),
            b.passed(2), Delta(asks=[(65000.1, 0.0)]),
            b.passed(3), Delta(bids=[(65000.1, 0.3)]),
            b.passed(4), Delta(bids=[(65000.1, 0.0), (65000.0, 0.2)], asks=[(65000.2, 4.0)])]


def test_quotes_follow_the_policy(markets: list[dict[str, Any]]) -> None:
    params = {"half_spread": 1.3, "alpha": 0.9,
              "feature_names": tuple(ReplayMarket.default_features)}
    run = paper(markets, quote_script, make("obi_skew", **params), steps=6)
    got = run.steps
    assert (got["status"] == "quoting").all() and got.loc[1:, "played"].all()
    # the book at each boundary is the server's after the step's message
    assert got["mid"].tolist() == pytest.approx(
        [65000.05, 65000.05, 65000.05, 65000.1, 65000.15, 65000.1, 65000.1], abs=1e-6)
    assert in_ticks(got.loc[[3], ["best_bid", "best_ask"]]) == [[650000, 650002]]
    # a fresh policy on the logged observations gives the engine's offsets, and those are
    # the quotes in force from the step's mid
    assert_quotes_follow(got, make("obi_skew", **params))
    skews = got["next_ask_offset"] - got["next_bid_offset"]
    assert skews.round(9).nunique() >= 4  # the imbalance moved the quotes
    assert skews.iloc[1] > 0 > skews.iloc[2]  # bids heavier, then asks heavier
    assert got.loc[1:, ["bid_price", "ask_price"]].notna().all().all()
    assert got.loc[1:, "bid_price"].nunique() >= 2  # and the quotes followed the mid


# ----------------------------------------------------------------------------- 2. fills


def fill_script(b: Boundaries) -> list[Step]:
    """The agent's bid joins 0.5 at 65000.0 and its ask 0.4 at 65000.1 (size 0.1 each).

    1. 0.5 joins behind the bid, 0.2 behind the ask.
    2. A sell of 0.2 at the bid and 0.3 cancelled there (1.0 → 0.5); a buy of 0.45 at the
       ask, 0.05 beyond the 0.4 ahead: the ask fills 0.05.
    3. A sell of 0.35 at the bid: conservative, 0.3 was still ahead (the cancellation came
       from behind): the bid fills 0.05; probabilistic, 0.3·0.3/0.8 of it came from ahead
       (0.1875 left): the bid fills 0.1.
    4. The bid's level trades away and a sell goes through to 64999.9: what is left of the
       bid fills (conservative: 0.05; probabilistic: the new bid's 0.1).
    """
    return [b.passed(0), Delta(bids=[(65000.0, 1.0)], asks=[(65000.1, 0.6)]),
            b.passed(1), Trades([("f1", "Sell", 65000.0, 0.2), ("f2", "Buy", 65000.1, 0.45)]),
            Delta(bids=[(65000.0, 0.5)], asks=[(65000.1, 0.15)]),
            b.passed(2), Trades([("f3", "Sell", 65000.0, 0.35)]), Delta(bids=[(65000.0, 0.15)]),
            b.passed(3), Trades([("f4", "Sell", 65000.0, 0.15), ("f5", "Sell", 64999.9, 0.3)]),
            Delta(bids=[(65000.0, 0.0), (64999.9, 0.7)])]


def test_fills_follow_the_replay_queue_rules(markets: list[dict[str, Any]]) -> None:
    async def both() -> list[Paper]:
        return await asyncio.gather(*(
            run_paper(markets, fill_script, make("fixed_spread", half_spread=0.5), 4,
                      market={"queue_model": model})
            for model in ("conservative", "probabilistic")))

    conservative, probabilistic = (run.steps.loc[1:] for run in asyncio.run(
        asyncio.wait_for(both(), 60.0)))
    for got in (conservative, probabilistic):
        assert in_ticks(got[["bid_price", "ask_price"]]) == [[650000, 650001]] * 4
        assert got["ask_fill"].tolist() == pytest.approx([0.0, 0.05, 0.0, 0.0], abs=1e-12)
    assert conservative["bid_fill"].tolist() == pytest.approx([0.0, 0.0, 0.05, 0.05],
                                                             abs=1e-12)
    assert conservative["inventory"].tolist() == pytest.approx([0.0, -0.05, 0.0, 0.05],
                                                              abs=1e-12)
    # sold 0.05 at 65000.1, bought 0.1 at 65000.0
    assert conservative["cash"].tolist() == pytest.approx(
        [0.0, 3250.005, 0.005, -3249.995], abs=1e-6)
    assert probabilistic["bid_fill"].tolist() == pytest.approx([0.0, 0.0, 0.1, 0.1],
                                                              abs=1e-12)
    assert probabilistic["inventory"].iloc[-1] == pytest.approx(0.15, abs=1e-12)


# ----------------------------------------------------------------------------- 3. resync

MOVED_BIDS = [(65000.2, 0.8), (65000.1, 0.5), (65000.0, 0.8), (64999.9, 1.0), (64999.8, 2.0)]
MOVED_ASKS = [(65000.3, 2.0), (65000.4, 0.9)]
"""The book after the disconnection: up three ticks, the ask at 65000.1 gone unseen."""


def drop_script(b: Boundaries) -> list[Step]:
    return [b.passed(0), Delta(bids=[(65000.0, 0.8)]),
            b.passed(1), Drop(meanwhile=[Delta(bids=MOVED_BIDS[:2], asks=[
                (65000.1, 0.0), (65000.2, 0.0), (65000.4, 0.9)])]),
            b.resumed(), Delta(asks=[(65000.3, 1.5)])]


def test_a_dropped_connection_is_resynchronized(markets: list[dict[str, Any]]) -> None:
    # the stream resubscribes 0.75 s (1.5 steps) after the drop: at least one boundary
    # falls between the disconnection and the fresh snapshot
    run = paper(markets, drop_script, make("fixed_spread", half_spread=0.5), steps=7,
                stream={"backoff_initial_s": 1.5 * DT, "backoff_max_s": 1.5 * DT})
    got, engine, server = run.steps, run.engine, run.server
    assert server.connections == 2 and server.done.is_set()
    status = "".join(s[0] for s in got["status"])  # q: quoting, r: resync
    assert re.fullmatch("qq+r+q+", status), got["status"].tolist()
    doubt, back = status.index("r"), status.index("q", status.index("r"))
    assert got.loc[doubt, "notices"].startswith("disconnected (")
    assert "reconnecting" in " ".join(got.loc[doubt:back, "notices"])
    assert "connected (resynchronized from a fresh snapshot)" in got.loc[back, "notices"]
    # withdrawn from the notice until the fresh snapshot is applied, not a step longer
    recording = engine.recording()
    snapshots = np.unique(recording.loc[recording["kind"] == SNAPSHOT, "ts_ns"])
    assert len(snapshots) == 2
    assert got.loc[back - 1, "ts_ns"] < snapshots[1] <= got.loc[back, "ts_ns"]
    assert got.loc[doubt + 1:back, ["bid_price", "ask_price"]].isna().all().all()
    assert np.isinf(got.loc[doubt:back - 1, ["next_bid_offset", "next_ask_offset"]]).all().all()
    # the fresh snapshot is the server's book, the changes made meanwhile included and the
    # levels gone meanwhile dropped
    assert 65000.1 in book_of(recording[recording["ts_ns"] < snapshots[1]])[1]
    assert book_of(recording[recording["ts_ns"] <= snapshots[1]]) == levels(MOVED_BIDS,
                                                                          MOVED_ASKS)
    assert in_ticks(got.loc[[back], ["best_bid", "best_ask"]]) == [[650002, 650003]]
    assert got.loc[back, "mid"] == pytest.approx(65000.25, abs=1e-6)
    # the local book is the server's to the end, and quoting resumed around the new mid
    assert book_of(recording) == server.books[-1] == levels(MOVED_BIDS, [(65000.3, 1.5),
                                                                         (65000.4, 0.9)])
    assert [ticks(p) for p in engine.market.boundary_book[1:]] == [650002, 650003]
    assert in_ticks(got.loc[[back + 1], ["bid_price", "ask_price"]]) == [[650002, 650003]]
    assert_quotes_follow(got, make("fixed_spread", half_spread=0.5))
    assert engine.summary.notices == {"connected": 2, "disconnected": 1, "reconnecting": 1}


# ----------------------------------------------------------------------------- 4. shock


def shock_script(b: Boundaries) -> list[Step]:
    """A one-tick widening (0.008 bps), then the book jumps 9.95 USDT (1.53 bps)."""
    return [b.passed(0), Delta(asks=[(65000.1, 0.0)]),
            b.passed(1), Snapshot(bids=[(65010.0, 0.5), (65009.9, 1.0)],
                                  asks=[(65010.1, 0.4), (65010.2, 1.0)])]


def test_a_price_shock_pauses_quoting(markets: list[dict[str, Any]]) -> None:
    kill = KillSwitch(shock_bps=1.0, shock_window_seconds=3 * DT, pause_seconds=2 * DT)
    run = paper(markets, shock_script, make("fixed_spread", half_spread=0.5), steps=6,
                kill_switch=kill)
    got = run.steps
    assert got["mid"].tolist() == pytest.approx([65000.05, 65000.1] + [65010.05] * 5, abs=1e-6)
    # the jump is seen at boundary 2: no quotes for two steps, then quoting again
    assert got["status"].tolist() == ["quoting"] * 2 + ["shock"] * 2 + ["quoting"] * 3
    assert in_ticks(got.loc[1:2, ["bid_price", "ask_price"]]) == [[650000, 650001],
                                                                  [650000, 650002]]
    assert got.loc[3:4, ["bid_price", "ask_price"]].isna().all().all()
    assert in_ticks(got.loc[5:6, ["bid_price", "ask_price"]]) == [[650100, 650101]] * 2
    assert_quotes_follow(got, make("fixed_spread", half_spread=0.5))
    assert run.engine.summary.status_steps["shock"] == 2


# ----------------------------------------------------------------------------- 5. replay


def assert_replays(got: pd.DataFrame, path: Path, market: dict[str, Any],
                   env: dict[str, Any] = ENV, observation: bool = True) -> int:
    """Replay the recording ``path`` through the ``replay`` market with the run's actions;
    check every step it covers (those up to its last event) bit for bit: fills, quotes,
    accounts and (with ``observation``: the run's were the default features) the
    observation, but for ``time_remaining`` when the replay is shorter than the run (its
    horizon is the replay's). Returns the steps checked."""
    recorded, _ = read_events(path)
    dt_ns = round(market["dt"] * 1e9)
    covered = min(int((recorded["ts_ns"].iloc[-1] - got.loc[0, "ts_ns"]) // dt_ns),
                  len(got) - 1)
    core = MarketMakingCore("replay", 1, data_path=str(path), start=0.0,
                            episode_seconds=covered * market["dt"], **market, **env)
    core.reset(seeds=[0])
    same = [i for i, name in enumerate(ReplayMarket.default_features)
            if covered == len(got) - 1 or name != "time_remaining"] if observation else []
    columns = [FEATURES[i] for i in same]
    np.testing.assert_array_equal(core.obs[0, same], got.loc[0, columns].to_numpy(np.float32))
    for k in range(1, covered + 1):
        core.step(got.loc[k, ["bid_offset", "ask_offset"]].to_numpy(np.float64)[None])
        info = dict(zip(INFO_KEYS, core.info_table()[:, 0].tolist(), strict=True))
        for key in ("bid_fill", "ask_fill", "inventory", "cash", "pnl", "pnl_spread",
                    "pnl_inventory", "fees"):
            assert info[key] == got.loc[k, key], (k, key)
        for key in ("bid_price", "ask_price"):
            assert info[key] == got.loc[k, key] or math.isnan(got.loc[k, key]), (k, key)
        np.testing.assert_array_equal(core.obs[0, same],
                                      got.loc[k, columns].to_numpy(np.float32), err_msg=str(k))
    return covered


def replay_script(b: Boundaries) -> list[Step]:
    """Trades at the best levels (behind the queues) and through every level the quotes can
    be at (a sell through 64999.8, a buy through 65000.3, in turn), queues that grow and
    shrink, a dropped connection, and a last change in the last step."""
    script: list[Step] = []
    for k in range(7):
        bid, ask = 0.3 + 0.2 * (k % 3), 0.2 + 0.3 * (k % 2)
        trades = [(f"r{k}a", "Sell", 65000.0, 0.2 + 0.2 * (k % 3)),
                  (f"r{k}b", "Buy", 65000.1, 0.15 + 0.25 * (k % 2)),
                  (f"r{k}c", "Sell", 64999.7, 1.0) if k % 2 else
                  (f"r{k}c", "Buy", 65000.4, 1.0)]
        script += [b.passed(k), Trades(trades),
                   Delta(bids=[(65000.0, bid), (64999.9, 1.0 + 0.1 * k)],
                         asks=[(65000.1, ask), (65000.2, 1.0 - 0.1 * k)])]
        if k == 3:
            script += [Drop(meanwhile=[Delta(bids=[(64999.9, 0.4)])]), b.resumed()]
    return [*script, b.passed(9), Delta(bids=[(64999.7, 0.5)])]


def test_the_recording_replays_to_the_same_fills(markets: list[dict[str, Any]],
                                                 tmp_path: Path) -> None:
    market = MARKET | {"queue_model": "probabilistic"}
    run = paper(markets, replay_script, make("random", low=0.0, high=1.5, seed=7), steps=10,
                market=market, stream={"backoff_initial_s": 1.5 * DT, "backoff_max_s": 1.5 * DT},
                output=tmp_path / "run")
    got, summary = run.steps, run.engine.summary
    assert summary.bid_fills >= 3 and summary.ask_fills >= 3, summary
    assert "r" in "".join(s[0] for s in got["status"])  # withdrawn quotes are replayed too
    assert got.loc[1:, "played"].all()
    covered = assert_replays(got, tmp_path / "run" / "recording.parquet", market)
    # every step but the last (which ends after the last event), and that one was quiet
    assert covered == len(got) - 2
    assert got.loc[covered + 1:, ["bid_fill", "ask_fill"]].eq(0).all().all()
    written = pd.read_parquet(tmp_path / "run" / "steps.parquet").set_index("step")
    pd.testing.assert_frame_equal(written, got)


# ----------------------------------------------------------------------------- mmgym-paper


async def serve_command(script: list[Step], args: Callable[[str], list[str]],
                        env: dict[str, str], cwd: Path) -> tuple[BybitPublicServer, str, str]:
    """Run ``mmgym-paper *args(port)`` as a process against a server playing ``script`` on
    127.0.0.1:port; returns the server and the process's stdout and stderr."""
    async with BybitPublicServer(script, BIDS, ASKS) as server:
        port = server.url.rsplit(":", 1)[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from mmgym.kit.cli import paper; paper()", *args(port),
            env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 240.0)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    return server, out.decode(), err.decode()


@pytest.mark.slow
def test_the_command_trades_the_loopback_stream(tmp_path: Path) -> None:
    """``mmgym-paper`` in a fresh process with numba's cache cold (the engine compiles before
    it subscribes), its markets loaded over REST and its stream from the server: a sell
    through the bid every 0.25 s, the bid's queue changing as often."""
    script: list[Step] = []
    for k in range(24):
        script += [Sleep(0.25), Trades([(f"c{k}", "Sell", 64999.9, 0.2)]),
                   Delta(bids=[(65000.0, 0.5 + 0.01 * k)])]
    run = tmp_path / "run"

    def args(port: str) -> list[str]:
        return [f"+source.options.ws_url=ws://127.0.0.1:{port}", "+source.options.jitter=false",
                f"+source.options.config={{urls:{{api:{{public:'http://127.0.0.1:{port}'}}}},"
                "options:{fetchMarkets:{types:[linear]}}}",
                "policy=fixed_spread", "+policy_params.half_spread=0.5", "dt=0.5",
                "duration_seconds=3", "+market.params.quote_size=0.1",
                "+market.params.queue_model=conservative", "market.max_inventory=10",
                "market.maker_fee_bps=0", "market.taker_fee_bps=0",
                "kill_switch.shock_bps=null", "stale_after_seconds=0", "tensorboard=false",
                f"hydra.run.dir={run}"]

    env = os.environ | {"PYTHONPATH": str(ROOT / "src"),
                        "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    server, out, err = asyncio.run(serve_command(script, args, env, tmp_path))
    assert "Traceback" not in err
    assert "paper trading ended (duration) after 3.0 s: 6 steps played, 0 skipped" in out
    assert "paper bybit BTC/USDT:USDT · fixed_spread  step 6/6" in out  # the view
    summary = json.loads((run / "summary.json").read_text())
    assert summary["ended_by"] == "duration" and summary["steps_played"] == 6
    assert summary["status_steps"]["quoting"] == 7 and summary["notices"] == {"connected": 1}
    # a sell through the bid in every step (two nominally): the bid fills in (nearly) each
    assert summary["bid_fills"] >= 4 and summary["ask_fills"] == 0
    assert summary["inventory"] == pytest.approx(summary["bid_volume"])
    recorded, meta = read_events(run / "recording.parquet")
    assert meta == {"mmgym.source": "ccxt:bybit", "mmgym.symbol": SYMBOL,
                    "mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001", "mmgym.levels": "50"}
    first = recorded[recorded["ts_ns"] == recorded["ts_ns"].iloc[0]]
    assert (first["kind"] == SNAPSHOT).all() and book_of(first) == server.books[0]
    # the stream came in as it was sent (every 0.25 s over the run), not in a lump after a
    # blocked start
    trades = recorded.loc[recorded["kind"] == TRADE, "ts_ns"].to_numpy()
    assert len(trades) >= 10 and trades[-1] - trades[0] >= 2e9
    steps = pd.read_parquet(run / "steps.parquet").set_index("step")
    market = {"dt": 0.5, "quote_size": 0.1, "queue_model": "conservative"}
    env_kwargs = {"max_inventory": 10.0, "maker_fee_bps": 0.0, "taker_fee_bps": 0.0}
    assert assert_replays(steps, run / "recording.parquet", market, env_kwargs,
                          observation=False) >= 5
