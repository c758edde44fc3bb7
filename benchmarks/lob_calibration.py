"""The default ``lob`` market next to a real BTCUSDT recording: the statistics its defaults
are set from.

    python benchmarks/lob_calibration.py [--data ../shared/data/binance-usdm/btcusdt_20240808.gz]

Reads the recording's ``bookTicker`` and ``trade`` messages (Binance USD-M combined stream,
``<local ns> <json>`` per line; see ``shared/data/README.md``), simulates 32 books of the
default market for 600 s with an agent quoting one tick from the mid, and prints, for both:
the mid's volatility (bps per √s, from mid changes over 1 s), the share of 0.1-s steps in
which the mid moves, the median spread in ticks, the median size at the best bid, and the
market orders per second and their mean size (trades of the same millisecond and aggressor
side counted as one order).
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from mmgym.vector import MarketMakingVectorEnv

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
TICK = 0.1


def recording(path: Path) -> dict[str, float]:
    quotes, trades = [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            data = json.loads(line.split(" ", 1)[1]).get("data", {})
            if data.get("e") == "bookTicker":
                quotes.append((data["T"] / 1e3, float(data["b"]), float(data["B"]),
                               float(data["a"])))
            elif data.get("e") == "trade":
                trades.append((data["T"], float(data["q"]), data["m"]))
    q = np.array(quotes)
    t, mid = q[:, 0], (q[:, 1] + q[:, 3]) / 2
    seconds = t[-1] - t[0]

    def sampled(step: float) -> np.ndarray:
        grid = np.arange(t[0], t[-1], step)
        return mid[np.maximum(np.searchsorted(t, grid, side="right") - 1, 0)]

    tr = np.array(trades, dtype=float)
    _, order = np.unique(tr[:, 0] * 2 + tr[:, 2], return_inverse=True)
    sizes = np.bincount(order, weights=tr[:, 1])
    return {
        "mid volatility, bps/√s": np.diff(sampled(1.0)).std() / mid.mean() * 1e4,
        "0.1-s steps with a mid move": (np.diff(sampled(0.1)) != 0).mean(),
        "median spread, ticks": np.median((q[:, 3] - q[:, 1]) / TICK),
        "median size at the best bid, BTC": np.median(q[:, 2]),
        "market orders per second": sizes.size / seconds,
        "mean market order, BTC": sizes.mean(),
    }


def simulation(n: int = 32, seconds: float = 600.0) -> dict[str, float]:
    env = MarketMakingVectorEnv(n, market="lob", episode_seconds=seconds, max_inventory=100.0)
    env.reset(seed=0)
    market = env.core.market
    rec, dt = market.step_record, market.dt
    mids, spreads, best_bid_size, orders, volume = [], [], [], 0.0, 0.0
    for _ in range(round(seconds / dt)):
        env.step(np.ones((n, 2)))
        mids.append(rec.mid.copy())
        spreads.append((rec.best[1] - rec.best[0]) / market.p.tick)
        best_bid_size.append(rec.depth[0, 0].copy())
        orders += rec.trades.sum()
        volume += (rec.buy_volume + rec.sell_volume).sum()
    mid = np.array(mids)
    per_second = round(1.0 / dt)
    return {
        "mid volatility, bps/√s": np.diff(mid[::per_second], axis=0).std() / mid.mean() * 1e4,
        "0.1-s steps with a mid move": (np.diff(mid, axis=0) != 0).mean(),
        "median spread, ticks": float(np.median(spreads)),
        "median size at the best bid, BTC": float(np.median(best_bid_size)),
        "market orders per second": orders / (n * seconds),
        "mean market order, BTC": volume / orders,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    real, sim = recording(args.data), simulation()
    print(f"{'':36}{'recording':>12}{'lob defaults':>14}")
    for key in real:
        print(f"{key:36}{real[key]:>12.3f}{sim[key]:>14.3f}")


if __name__ == "__main__":
    main()
