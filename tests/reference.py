"""References shared by the test modules: the real samples' paths (read from the team's shared
folder, never copied into the project), an order book kept in plain dicts, and the replay
market's hand-made event table."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmgym.data.schema import ASK, BID, BUY, DELTA, NO_ID, SELL, SNAPSHOT, TRADE

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
"""The Binance USD-M BTCUSDT recording of ``../shared/data/``."""
needs_sample = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} not present")
"""Marks a test that reads :data:`SAMPLE`."""
LOBSTER_MESSAGE = SAMPLE.parents[1] / (
    "lobster-amzn/AMZN_2012-06-21_34200000_43200000_message_1.csv")
"""The LOBSTER level-1 AMZN sample's message file (its orderbook file lies beside it)."""
needs_lobster = pytest.mark.skipif(not LOBSTER_MESSAGE.is_file(),
                                   reason=f"{LOBSTER_MESSAGE} not present")
"""Marks a test that reads :data:`LOBSTER_MESSAGE`."""


class PlainBook:
    """An L2 book as two dicts price → size, the reference of the book rebuilders."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply(self, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]]) -> None:
        """Set each level's size (price and size strings); size 0 removes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q in levels:
                side[float(p)] = float(q)
                if float(q) == 0:
                    del side[float(p)]

    def top(self) -> tuple[float, float, float, float]:
        """Best bid price and size, best ask price and size (NaN price, 0 size: empty)."""
        bb = max(self.bids) if self.bids else np.nan
        ba = min(self.asks) if self.asks else np.nan
        return bb, self.bids.get(bb, 0.0), ba, self.asks.get(ba, 0.0)


def table(rows: list[tuple]) -> pd.DataFrame:
    """An event table (:mod:`mmgym.data.schema`) of ``(ts_ns, kind, side, price, size,
    update_id)`` rows, with the format's dtypes."""
    frame = pd.DataFrame(rows, columns=["ts_ns", "kind", "side", "price", "size", "update_id"])
    return frame.astype({"ts_ns": np.int64, "kind": np.int8, "side": np.int8,
                         "price": np.float64, "size": np.float64, "update_id": np.int64})


INSTRUMENT = {
    "symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
    "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
    "deliveryFeeRate": "", "priceScale": "2",
    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
    "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
    "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                      "postOnlyMaxOrderQty": "1000.000"},
    "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
}
"""BTCUSDT's entry of Bybit's ``/v5/market/instruments-info?category=linear`` reply."""

S = 10**9
"""Nanoseconds per second."""

# tick 1, a book 99 / 101 (mid 100); the agent quotes bid 99 and ask 101 of size 1: the
# replay market's fills on it are worked out by hand (tests/test_replay.py, tests/test_paper.py)
HAND = table([
    (0, SNAPSHOT, BID, 99, 2, 1), (0, SNAPSHOT, BID, 98, 1, 1),
    (0, SNAPSHOT, ASK, 101, 3, 1), (0, SNAPSHOT, ASK, 102, 1, 1),
    # step 0: sells at 100 (above the bid: no fill) and 1.5 at 99 (2 ahead: no fill);
    # buys 2 at 101 (3 ahead: no fill)
    (S // 4, TRADE, SELL, 100, 0.7, NO_ID),
    (S // 2, TRADE, SELL, 99, 1.5, NO_ID), (S // 2, DELTA, BID, 99, 0.5, 2),
    (S // 2 + 1, TRADE, BUY, 101, 2, NO_ID), (S // 2 + 1, DELTA, ASK, 101, 1, 3),
    # step 1: a sell of 1.0 at 99: 0.5 left ahead, the agent fills 0.5; the level refills
    (3 * S // 2, TRADE, SELL, 99, 1.0, NO_ID), (3 * S // 2, DELTA, BID, 99, 0, 4),
    (8 * S // 5, DELTA, BID, 99, 2, 5),
    # step 2: the level empties, a sell at 98 goes through 99: the rest (0.5) fills;
    # a buy at 102 goes through 101: the whole ask (1.0) fills
    (12 * S // 5, DELTA, BID, 99, 0, 6), (5 * S // 2, TRADE, SELL, 98, 0.2, NO_ID),
    (5 * S // 2, TRADE, BUY, 102, 0.3, NO_ID), (13 * S // 5, DELTA, BID, 99, 1, 7),
    # step 3: nothing trades
    (9 * S // 2, DELTA, BID, 98, 1.5, 8),
])
"""The hand-made event table of the replay market's queue rules, one step a second."""
