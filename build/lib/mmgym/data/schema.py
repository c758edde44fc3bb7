"""The normalized market-data event format: one table, one row per event, stored as parquet.

Every importer (Binance, Bybit, the ccxt recorder's output) writes this table and every
consumer (the ``replay`` market, calibration) reads it, so a new exchange needs only an
importer.

Columns, in order:

- ``ts_ns`` (int64): event time, nanoseconds since the Unix epoch (the local receive time
  when the source has one, so the stream is in arrival order); non-decreasing.
- ``kind`` (int8): ``SNAPSHOT`` (0), one level of a full book image; ``DELTA`` (1), a
  level's new total size; ``TRADE`` (2), an executed trade.
- ``side`` (int8): book rows, the side of the level, ``BID`` (+1) or ``ASK`` (−1); trades,
  the aggressor, ``BUY`` (+1) or ``SELL`` (−1).
- ``price`` (float64): quote currency per unit of the base asset (USDT per BTC).
- ``size`` (float64): base-asset units (BTC); book rows, the level's total resting size
  after the event (0 removes the level); trades, the traded size (> 0).
- ``update_id`` (int64): the exchange's book sequence number of the message (``NO_ID`` = −1
  where it has none, and for trades); the rows of one message share it.

A snapshot is the group of ``SNAPSHOT`` rows sharing one ``ts_ns``: it replaces both sides of
the book. Deltas set one level's size. Rows with the same ``ts_ns`` are applied in table
order. The file carries its source and symbol in the parquet metadata (``mmgym.source``,
``mmgym.symbol``, ``mmgym.tick_size``, ``mmgym.lot_size``, and ``mmgym.levels`` for a source
that shows only the best levels).
"""

from __future__ import annotations

import numpy as np

SNAPSHOT, DELTA, TRADE = 0, 1, 2
"""``kind`` codes."""
KINDS: dict[int, str] = {SNAPSHOT: "snapshot", DELTA: "delta", TRADE: "trade"}
BID, ASK = 1, -1
"""``side`` of a book row."""
BUY, SELL = 1, -1
"""``side`` of a trade: its aggressor."""
NO_ID = -1
"""``update_id`` of a row without an exchange sequence number."""

COLUMNS: dict[str, np.dtype] = {
    "ts_ns": np.dtype(np.int64),
    "kind": np.dtype(np.int8),
    "side": np.dtype(np.int8),
    "price": np.dtype(np.float64),
    "size": np.dtype(np.float64),
    "update_id": np.dtype(np.int64),
}
"""The columns, in order, with their dtypes."""

METADATA_KEYS = ("mmgym.source", "mmgym.symbol", "mmgym.tick_size", "mmgym.lot_size",
                 "mmgym.levels")
"""Keys of the parquet file's key-value metadata. ``mmgym.levels``: the number of price levels
a side the source shows (LOBSTER's ``L``): depth past the ``L``-th level is unknown, not
empty; absent for sources that show the whole book."""
