"""Real-data throughput: Binance, Tardis and LOBSTER imports (rows/s, messages/s) and
``replay`` single-env steps/s.

    python benchmarks/data.py              # 5 repeats
    python benchmarks/data.py --repeats 3

Reads the sample recordings from ``../shared/data/binance-usdm/`` and
``../shared/data/lobster-amzn/`` (not shipped). Prints the median over repeats of:

* import: rows of the event table produced per second by ``read_binance`` (gunzip, parse,
  bad-data checks, crossed-book check), and with the parquet write (``import_binance``);
* import tardis: CSV rows read per second by ``read_tardis`` from a generated pair of Tardis
  files in the documented schema (``--tardis-rows`` rows: 90% ``incremental_book_L2``, two
  1,000-level snapshots and delta messages of about 8.5 rows, 10% ``trades``), plain and
  gzip-compressed (the parse, the checks, the merge, the units and crossed-book check);
* import lobster: messages per second read by ``read_lobster`` from the AMZN level-1 sample
  (22,552 messages and their orderbook rows: the parse, the checks, the book diff, the
  units); each measurement times ``--lobster-reads`` reads in a row (one takes some 20 ms);
* replay: single-env steps/s through ``gym.make("mmgym/LOBReplay-v0")`` (default wrappers),
  with the default book features and with only ``inventory`` and ``time_remaining`` (the
  market's own cost), and on the LOBSTER import (``quote_size=100``, ``max_inventory=1000``
  shares) with the default features, beside ``mmgym/AvellanedaStoikov-v0`` measured in the
  same run.

The cases are interleaved within each repeat, so a change in the machine's load touches them
all alike. Budgets: import >= 500,000 events/s (Tardis: rows/s), LOBSTER import >= 1,000,000
messages/s; replay single env >= 30,000 steps/s.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import mmgym  # noqa: F401
from mmgym.data.binance import import_binance, read_binance
from mmgym.data.lobster import read_lobster
from mmgym.data.store import write_events
from mmgym.data.tardis import read_tardis

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
LOBSTER = SAMPLE.parents[1] / "lobster-amzn/AMZN_2012-06-21_34200000_43200000_message_1.csv"
BUDGETS = {"import": 500_000, "import lobster": 1_000_000, "replay": 30_000}
"""Per second, by case name prefix (the longest matching prefix applies)."""


def budget(name: str) -> int | None:
    """The budget of a case: that of the longest prefix of ``name`` in :data:`BUDGETS`."""
    prefixes = [p for p in BUDGETS if name.startswith(p)]
    return BUDGETS[max(prefixes, key=len)] if prefixes else None


def steps_per_second(env_id: str, steps: int, **kwargs: object) -> float:
    env = gym.make(env_id, **kwargs)
    action = np.array([1.0, 1.0], dtype=np.float32)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def write_tardis(directory: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """An ``incremental_book_L2`` and a ``trades`` file of ``rows`` rows in all, BTCUSDT-like
    (tick 0.1 USDT, lot 0.001 BTC): a book around 60,000 with levels a geometric number of
    ticks behind the touch (20% of the deltas remove a level), a snapshot at the start and
    one mid-file, a message every 100 µs, trades at the touch."""
    rng = np.random.default_rng(seed)
    n_trades = rows // 10
    n = rows - n_trades
    depth = 1000  # levels per side of a snapshot
    behind = rng.geometric(0.15, n) - 1  # ticks behind the touch
    ask = rng.random(n) < 0.5
    lots = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 5000, n))
    snapshot = np.zeros(n, dtype=bool)
    new_message = rng.random(n) < 1 / 8.5
    for at in (0, n // 2):
        run = slice(at, at + 2 * depth)
        behind[run] = np.tile(np.arange(depth), 2)
        ask[run] = np.repeat([False, True], depth)
        lots[run] = rng.integers(1, 5000, 2 * depth)
        snapshot[run] = True
        new_message[run] = False
        new_message[at] = new_message[at + 2 * depth] = True
    local = 1_700_000_000_000_000 + np.cumsum(new_message) * 100  # µs
    book = pd.DataFrame({
        "exchange": "binance-futures", "symbol": "BTCUSDT", "timestamp": local - 5_000,
        "local_timestamp": local, "is_snapshot": np.where(snapshot, "true", "false"),
        "side": np.where(ask, "ask", "bid"),
        "price": np.where(ask, 600_001 + behind, 600_000 - behind) / 10,
        "amount": np.char.mod("%.3f", lots / 1000)})
    trade_local = np.sort(rng.choice(local, n_trades))
    buy = rng.random(n_trades) < 0.5
    trades = pd.DataFrame({
        "exchange": "binance-futures", "symbol": "BTCUSDT", "timestamp": trade_local - 3_000,
        "local_timestamp": trade_local, "id": 4_000_000_000 + np.arange(n_trades),
        "side": np.where(buy, "buy", "sell"), "price": np.where(buy, 60000.1, 60000.0),
        "amount": np.char.mod("%.3f", rng.integers(1, 100, n_trades) / 1000)})
    paths = directory / "book.csv", directory / "trades.csv"
    for frame, path in zip((book, trades), paths, strict=True):
        frame.to_csv(path, index=False, float_format="%.1f")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--tardis-rows", type=int, default=1_000_000)
    parser.add_argument("--lobster-reads", type=int, default=25,
                        help="reads of the LOBSTER sample per measurement")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "sample.parquet"
    amzn = out.with_name("amzn.parquet")
    lobster_events, lobster_report = read_lobster(LOBSTER)
    messages = lobster_report.lines
    write_events(lobster_events, amzn, lobster_report.metadata)
    tardis_dir = tempfile.TemporaryDirectory()
    tardis = {"plain": write_tardis(Path(tardis_dir.name), args.tardis_rows)}
    tardis["gzip"] = tuple(p.with_suffix(".csv.gz") for p in tardis["plain"])
    for plain, gz in zip(tardis["plain"], tardis["gzip"], strict=True):
        gz.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, (book, trades) in tardis.items():
            t0 = time.perf_counter()
            read_tardis(book, second=trades)
            results.setdefault(f"import tardis {name} (read)", []).append(
                args.tardis_rows / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(args.lobster_reads):
            read_lobster(LOBSTER)
        results.setdefault("import lobster (read)", []).append(
            args.lobster_reads * messages / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        events, _ = read_binance(SAMPLE)
        results.setdefault("import (read)", []).append(len(events) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        report = import_binance(SAMPLE, out)
        results.setdefault("import (+ parquet)", []).append(
            report.events / (time.perf_counter() - t0))
        for name, env_id, kwargs in (
            ("replay default features", "mmgym/LOBReplay-v0", {"data_path": str(out)}),
            ("replay inventory+time", "mmgym/LOBReplay-v0",
             {"data_path": str(out), "features": ["inventory", "time_remaining"]}),
            ("replay lobster default feat.", "mmgym/LOBReplay-v0",
             {"data_path": str(amzn), "quote_size": 100, "max_inventory": 1000}),
            ("as2008 (reference)", "mmgym/AvellanedaStoikov-v0", {}),
        ):
            results.setdefault(name, []).append(steps_per_second(env_id, args.steps, **kwargs))
    tardis_dir.cleanup()
    print(f"{report.events:,} events in the Binance sample, {args.tardis_rows:,} rows in the "
          f"Tardis files, {messages:,} messages in the LOBSTER sample ({args.lobster_reads} "
          f"reads a measurement); median of {args.repeats} interleaved runs")
    print(f"{'case':30s}{'per second':>14s}{'budget':>12s}  verdict")
    for name, values in results.items():
        limit = budget(name)
        value = statistics.median(values)
        verdict = "" if limit is None else ("ok" if value >= limit else "BELOW BUDGET")
        print(f"{name:30s}{value:>14,.0f}{limit or 0:>12,}  {verdict}")


if __name__ == "__main__":
    main()
