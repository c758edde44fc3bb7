"""A paper-trading run's stream in ``mmgym-record``'s JSON-lines format
(:mod:`mmgym.data.recorder`), written as the run goes: :class:`JsonLinesRecording`.

The lines, each with ``ts_ns`` the time the engine applied the event (ns since the epoch,
as in ``recording.parquet``: :mod:`mmgym.live.engine`, "Time"):

- ``header``: ``exchange`` the stream's ``mmgym.source`` (without a ``ccxt:`` prefix),
  ``symbol``, the run's ``tick_size`` and ``lot_size``, ``contract_size`` 1 (amounts are in
  base units), ``depth`` and ``interval_s`` null (a stream, not polled snapshots),
  ``shown_levels`` the stream's levels a side when it shows only the best ones; its
  ``ts_ns`` is ``t_0``, the first snapshot's.
- ``book``: after every *book change*, a run of book rows sharing one ``ts_ns`` (not broken
  by a trade), the whole local book: every level it holds, rebuilt from the previous line's
  book and the run's rows as the ``live`` market rebuilds it (:func:`mmgym.data.book.
  rebuild_book`: a crossing repaired); ``nonce`` the run's last update id (null: none),
  ``timestamp`` null (the rows carry no exchange time).
- ``trade``: one per trade row: ``id`` its number in the file (from 1), ``timestamp`` null,
  ``side`` the aggressor's (``buy``/``sell``), ``price``, ``amount``.

Read back with the local clock (:func:`mmgym.data.recorder.read_recording` with
``clock="local"``, or ``mmgym-import ccxt --clock local``), each book line is a snapshot at
its time, so the book at every time is the one the engine held: replayed through ``replay``,
it gives the run's fills, bit for bit, as ``recording.parquet`` does (``tests/
test_paper.py``). One difference, in a window the run could not play: a book emptied on
both sides is a line without levels, which the event format cannot hold (a snapshot is its
rows); the replayed book keeps the previous one until the next line, where the run's book
was empty (its steps skipped, one-sided).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmgym.data.book import rebuild_book
from mmgym.data.recorder import RecordingWriter, book_line, header_line, trade_line
from mmgym.data.schema import BID, BUY, NO_ID, TRADE
from mmgym.live.market import snapshot_rows
from mmgym.live.source import events_table

COMPRESSLEVEL = 1
"""gzip's level for the file: whole books at every change are large (30 s of the Binance
sample's full-depth book, some 2,800 levels a line: 26 MB), and level 1 compresses them to
8.8 MB about 30 times faster than level 9 (7.1 MB, over a quarter of a core on that
stream)."""


class JsonLinesRecording:
    """Writes the rows the engine applies as recorder lines (module doc), flushed after each
    call of :meth:`write` (the engine calls it at every boundary): a run that is killed keeps
    the lines of every boundary it passed.

    Args:
        path: the file to create (``.jsonl.gz``; never overwritten:
            :class:`~mmgym.data.store.OutputError`).
        metadata: the stream's (:data:`~mmgym.data.schema.METADATA_KEYS`).
        tick: the tick size, price units (a book level per tick, as the market keys it).
        lot: the lot size, size units.
        shown_levels: the levels a side the stream shows (None: the whole book).
        t0_ns: the first snapshot's time, ns since the epoch.
    """

    def __init__(self, path: Path, metadata: Mapping[str, str], tick: float, lot: float,
                 shown_levels: int | None, t0_ns: int) -> None:
        self.tick = tick
        self.writer = RecordingWriter(path, COMPRESSLEVEL)
        source = metadata.get("mmgym.source")
        self.writer.write(header_line(
            t0_ns, None if source is None else source.removeprefix("ccxt:"),
            metadata.get("mmgym.symbol"), tick, lot, 1.0, None, None, shown_levels))
        self._levels = (np.zeros(0, np.int8), np.zeros(0), np.zeros(0))  # side, price, size
        self._trades = 0

    def write(self, rows: np.ndarray) -> None:
        """Append the lines of ``rows`` (of :data:`~mmgym.live.source.EVENT_DTYPE`, applied in
        this order, at their ``ts_ns``), then flush."""
        if len(rows) == 0:
            return
        ts, trade = rows["ts_ns"], rows["kind"] == TRADE
        new = np.r_[True, trade[1:] | trade[:-1] | (ts[1:] != ts[:-1])]
        starts = np.flatnonzero(new)
        for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(rows)], strict=True):
            t = int(ts[a])
            if trade[a]:
                self._trades += 1
                row = rows[a]
                self.writer.write(trade_line(t, {
                    "id": str(self._trades), "timestamp": None,
                    "side": "buy" if row["side"] == BUY else "sell",
                    "price": float(row["price"]), "amount": float(row["size"])}), flush=False)
            else:
                self.writer.write(book_line(t, self._apply(rows[a:b])), flush=False)
        self.writer.flush()

    def close(self) -> None:
        """Close the file (a complete gzip stream)."""
        self.writer.close()

    def _apply(self, run: np.ndarray) -> dict[str, Any]:
        """Apply one book change (rows of one ``ts_ns``); return the book after it as ccxt's
        structure."""
        t = int(run["ts_ns"][0])
        # the previous book as a snapshot just before the run: a message of its own
        history = rebuild_book(events_table(np.concatenate([snapshot_rows(*self._levels, t - 1),
                                                            run])),
                               tick=self.tick, final=True)
        self._levels = side, price, size = (history.final_side, history.final_price,
                                            history.final_size)
        levels = np.column_stack([price, size]).tolist()
        n_bids = int((side == BID).sum())
        nonce = int(run["update_id"][-1])
        return {"bids": levels[:n_bids], "asks": levels[n_bids:], "timestamp": None,
                "nonce": None if nonce == NO_ID else nonce}
