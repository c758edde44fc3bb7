"""References shared by the test modules: the real samples' paths (read from the team's shared
folder, never copied into the project) and an order book kept in plain dicts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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
