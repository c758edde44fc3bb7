"""Parts shared by the exchange importers (:mod:`mmgym.data.binance`, :mod:`mmgym.data.bybit`,
:mod:`mmgym.data.tardis`).

* :func:`read_bytes`, :func:`open_lines`: the content or the raw lines of a recording, gzip
  or plain text;
* :func:`read_lines`: the pass over them: corrupt and out-of-order lines counted and skipped;
* :class:`EventRows`: the output table, built from one block of rows per message, with the
  raw line of each row (for the messages of the bad-data policy);
* :func:`ints`, :func:`as_levels`, :func:`check_levels`: fields of a message, checked;
* :func:`repair_crossed`: the crossed-book policy of :mod:`mmgym.data.report`'s importers:
  count each crossed book and remove the stale levels (rule of
  :func:`mmgym.data.book.rebuild_book`);
* :func:`grid_units`: the tick and lot sizes of the metadata, given or inferred, checked
  against every price and size;
* :class:`LineImporter`: what the exchange importers share: their state, the one-symbol
  check, the end of a pass (units, crossed books) and :meth:`LineImporter.import_file`.
"""

from __future__ import annotations

import gzip
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmgym.data.book import rebuild_book
from mmgym.data.report import ImportReport
from mmgym.data.schema import COLUMNS, DELTA
from mmgym.data.store import DataError


def read_bytes(path: Path) -> bytes:
    """The content of a file, gunzipped when it starts with the gzip magic bytes."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    try:
        return gzip.open(path, "rb").read() if gz else path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def open_lines(path: Path) -> list[bytes]:
    """The lines of a text file, gunzipped when it starts with the gzip magic bytes."""
    return read_bytes(path).split(b"\n")


def read_lines(
    lines: list[bytes],
    report: ImportReport,
    parse: Callable[[bytes], tuple[int, Any] | None],
    read: Callable[[int, int, Any], None],
) -> None:
    """Feed the lines of a recording to an importer, in order, under the bad-data policy.

    ``parse(line)`` gives the line's time (ns) and payload, None for a line to ignore
    (raising ValueError: corrupt); a time before the previous line's is out of order; then
    ``read(line_number, ts_ns, payload)`` (ValueError, KeyError, TypeError: corrupt;
    :class:`DataError` propagates). Each bad line goes to ``report.bad`` (which raises in
    strict mode) and is skipped; blank lines are ignored.
    """
    report.lines = len(lines) - (lines[-1] == b"") if lines else 0
    prev_ts = None
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed = parse(line)
        except ValueError as e:
            report.bad(no, "corrupt", str(e))
            continue
        if parsed is None:
            continue
        ts, payload = parsed
        if prev_ts is not None and ts < prev_ts:
            report.bad(no, "out_of_order", f"time {ts} ns is before the previous {prev_ts}")
            continue
        try:
            read(no, ts, payload)
        except DataError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            report.bad(no, "corrupt", str(e))
            continue
        prev_ts = ts


class EventRows:
    """The output table, built from numpy blocks (one per message) in order."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int, int]] = []
        self.n = 0

    def add(self, ts: int, kind: int, side: np.ndarray, price: np.ndarray, size: np.ndarray,
            update_id: int, line: int) -> None:
        """Append rows at time ``ts`` (ns) of one ``kind`` and ``update_id``, read from the
        raw ``line`` (1-based); ``side``, ``price`` and ``size`` have one entry per row."""
        self.blocks.append((ts, kind, side, price, size, update_id, line))
        self.n += len(price)

    def table(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The event table and the raw line of each row."""
        counts = np.array([len(b[3]) for b in self.blocks], dtype=np.int64)

        def per_row(i: int, dtype: type) -> np.ndarray:
            return np.repeat(np.array([b[i] for b in self.blocks], dtype=dtype), counts)

        def cat(i: int, dtype: type) -> np.ndarray:
            if not self.blocks:
                return np.zeros(0, dtype=dtype)
            return np.concatenate([b[i] for b in self.blocks]).astype(dtype, copy=False)

        events = pd.DataFrame({
            "ts_ns": per_row(0, np.int64),
            "kind": per_row(1, np.int8),
            "side": cat(2, np.int8),
            "price": cat(3, np.float64),
            "size": cat(4, np.float64),
            "update_id": per_row(5, np.int64),
        })
        return events, per_row(6, np.int64)


def ints(d: dict[str, Any], *keys: str) -> list[int]:
    """The values of ``keys`` in ``d``; ValueError naming the field unless each is an int."""
    out = []
    for k in keys:
        v = d.get(k)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"field {k!r} is {v!r}, expected an integer")
        out.append(v)
    return out


def as_levels(value: Any, field: str) -> np.ndarray:
    """A list of ``[price, qty]`` strings as an ``(k, 2)`` array; ValueError if malformed."""
    if not isinstance(value, list) or not all(
        isinstance(x, list) and len(x) == 2 and all(isinstance(v, str) for v in x) for x in value
    ):
        raise ValueError(f"{field} is not a list of [price, qty] strings")
    return np.array(value, dtype=np.float64).reshape(-1, 2)


def check_levels(levels: np.ndarray, field: str) -> None:
    """ValueError naming ``field`` unless every level has a finite price > 0 and size >= 0."""
    if len(levels) and not (np.isfinite(levels).all() and (levels[:, 0] > 0).all()
                            and (levels[:, 1] >= 0).all()):
        raise ValueError(f"{field} has a price <= 0, a negative size or a non-number")


def repair_crossed(events: pd.DataFrame, row_line: np.ndarray,
                   report: ImportReport) -> pd.DataFrame:
    """Count crossed books in ``report`` (strict: fail at the first, naming its line) and
    remove the stale levels by ``DELTA`` rows of size 0 right after the crossing message.

    Args:
        events: the event table built so far.
        row_line: the raw line of each row of ``events``.
        report: the import's report.

    Returns:
        ``events`` with the repair rows inserted.
    """
    history = rebuild_book(events)
    for m in np.flatnonzero(history.crossed):
        line = int(row_line[history.start[m]])
        report.bad(
            line, "crossed",
            f"best bid {history.bid_price[m]} >= best ask {history.ask_price[m]} "
            "before removing the stale levels", repaired=True,
        )
    if not history.removed:
        return events
    at = np.array([history.stop[m] for m, *_ in history.removed])
    src = at - 1  # the crossing message's last row: its time and update id
    fix = pd.DataFrame({
        "ts_ns": events["ts_ns"].to_numpy()[src],
        "kind": np.full(len(at), DELTA, dtype=np.int8),
        "side": np.array([s for _, s, _, _ in history.removed], dtype=np.int8),
        "price": np.array([p for _, _, p, _ in history.removed]),
        "size": np.zeros(len(at)),
        "update_id": events["update_id"].to_numpy()[src],
    })
    report.repaired["stale_levels_removed"] += len(at)
    order = np.argsort(np.concatenate([np.arange(len(events)), at - 0.5]), kind="stable")
    return pd.concat([events, fix], ignore_index=True).iloc[order].reset_index(drop=True)


GRID_RESOLUTION = 1e-9
"""The finest tick or lot size :func:`grid_units` infers (prices and sizes are read to it)."""


def grid_units(events: pd.DataFrame, row_line: np.ndarray | None, report: ImportReport,
               tick: float | None = None, lot: float | None = None,
               tick_rows: np.ndarray | None = None) -> None:
    """Put the tick size (quote currency) and lot size (base units) in ``report.metadata``.

    A size not given is inferred as the coarsest grid the data lie on: the greatest common
    divisor of every price (the tick) or positive size (the lot), in units of
    :data:`GRID_RESOLUTION`, to 6 significant digits. A short recording can lie on a multiple
    of the symbol's step (a few prices two ticks apart): give it then. Data on no grid
    coarser than the resolution fail, asking for the size. A size given is checked: every
    price must be a multiple of the tick and every size of the lot (to 10⁻⁶ of a step), else
    the import fails naming the raw line (``row_line``: each row's; None names the row).
    ``report.units`` says which sizes were inferred.

    ``tick_rows``: a mask of the rows whose prices define the tick (and are checked against
    it); None: every row. A source whose trades may print between ticks (NASDAQ's midpoint
    executions of hidden orders, at half a cent) passes its book rows.
    """
    found = []
    for name, column, given in (("tick", "price", tick), ("lot", "size", lot)):
        values = events[column].to_numpy()
        rows = np.arange(len(values))
        if name == "tick" and tick_rows is not None:
            rows = np.flatnonzero(tick_rows)
            values = values[rows]
        if given is None:
            grid = np.rint(pd.unique(values[values > 0]) / GRID_RESOLUTION).astype(np.int64)
            if grid.size == 0:
                raise DataError(f"{report.path}: no {column}s to infer the {name} size from; "
                                f"give --{name}")
            step = float(f"{np.gcd.reduce(grid) * GRID_RESOLUTION:.6g}")
            if step <= GRID_RESOLUTION:
                raise DataError(f"{report.path}: cannot infer the {name} size: the {column}s lie "
                                f"on no grid coarser than {GRID_RESOLUTION:g}; give --{name}")
            how = "inferred"
        else:
            step, how = float(given), "given"
            if not (np.isfinite(step) and step > 0):
                raise DataError(f"{name} size {given} (--{name}): expected a finite number > 0")
            ratio = values / step
            off = np.flatnonzero(np.abs(ratio - np.rint(ratio)) > 1e-6)
            if off.size:
                r, value = int(rows[off[0]]), float(values[off[0]])
                where = f"line {int(row_line[r])}" if row_line is not None else f"event row {r}"
                raise DataError(f"{report.path}: {where}: {column} {value!r} is not a multiple "
                                f"of the given {name} size {step:g}")
        report.metadata[f"mmgym.{name}_size"] = str(step)
        found.append(f"{name} {step:g} ({how})")
    report.units = ", ".join(found)


class LineImporter(ABC):
    """The part of an exchange importer that does not depend on the exchange.

    A subclass reads one recording's lines in :meth:`run` (``read_lines`` and its own
    ``parse``/``read``), adding rows to :attr:`rows` and problems to :attr:`report`, and ends
    with :meth:`finish`.

    Args:
        path: the recording.
        strict: fail at the first problem instead of skipping and counting.
        tick, lot: the symbol's tick and lot sizes, or None to infer them (:func:`grid_units`).
    """

    def __init__(self, path: Path, strict: bool, tick: float | None, lot: float | None) -> None:
        self.path = path
        self.units = tick, lot
        self.report = ImportReport(path=path, strict=strict)
        self.rows = EventRows()
        self.symbol: str | None = None
        self.source: str | None = None  # mmgym.source, when the run finds it in the data

    @abstractmethod
    def run(self, lines: list[bytes]) -> pd.DataFrame:
        """The event table of ``lines`` (ending with :meth:`finish`)."""

    def check_symbol(self, s: Any) -> None:
        """The message's symbol ``s``: ValueError (corrupt) unless a string; the first one
        fixes the file's, another is a :class:`DataError` (one file, one book)."""
        if not isinstance(s, str):
            raise ValueError(f"field 's' is {s!r}, expected the symbol")
        if self.symbol is None:
            self.symbol = s
        elif s != self.symbol:
            raise DataError(f"{self.path}: symbol {s!r} after {self.symbol!r}: one file, one book")

    def finish(self) -> pd.DataFrame:
        """The rows as the event table, the units in the metadata, crossed books repaired."""
        events, row_line = self.rows.table()
        grid_units(events, row_line, self.report, *self.units)
        return repair_crossed(events, row_line, self.report)

    def import_file(self, source: str | None = None) -> tuple[pd.DataFrame, ImportReport]:
        """Run over the file: the event table (schema columns) and the report, with the
        row count and the ``source`` and symbol metadata (``source`` None: the
        :attr:`source` that :meth:`run` set, for an importer that tells it from the data)."""
        events = self.run(open_lines(self.path))[list(COLUMNS)]
        self.report.events = len(events)
        self.report.metadata.update({"mmgym.source": source or self.source or "",
                                     "mmgym.symbol": self.symbol or ""})
        return events, self.report
