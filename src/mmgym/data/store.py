"""Reading and writing event tables (:mod:`mmgym.data.schema`) as parquet, checked.

:func:`write_events` writes to a temporary file beside the target and renames it into place,
so an interrupted or failed write never leaves a half-written file or damages an existing
one. :func:`read_events` checks the schema and the content and names the file and the first
bad row of any violation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmgym import atomic
from mmgym.data.schema import BID, COLUMNS, KINDS, METADATA_KEYS, TRADE


class DataError(ValueError):
    """A data file or table that breaks the event format; the message names file and row."""


class OutputError(ValueError):
    """An output file that must not or cannot be written; the one-line message names it (and
    the input it would overwrite, or the flag that allows replacing it)."""


FORCE_HINT = "use --force to replace it"
"""How :func:`check_output` tells the way to replace an existing file."""


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are the same file: :func:`os.path.samefile` when both exist,
    else the same absolute path with symbolic links resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def write_failure(path: Path, e: OSError) -> OutputError:
    """The :class:`OutputError` of an OSError ``e`` writing ``path``: one line, naming the path
    and the system's reason (``Permission denied``, ``No space left on device``, ...)."""
    reason = os.strerror(e.errno) if e.errno else str(e).splitlines()[0]
    return OutputError(f"{path}: cannot write it: {reason}")


def check_output(path: Path, inputs: Iterable[Path | None] = (), force: bool = False,
                 hint: str = FORCE_HINT) -> None:
    """Raise :class:`OutputError` unless ``path`` may be written as an output file.

    Refused: one of ``inputs`` (the same path, or the same file through another path or a
    symbolic link), an existing directory, an existing file unless ``force``, and a path whose
    nearest existing ancestor directory is a file or not writable. Missing parent directories
    are allowed: the writers create them.

    Args:
        path: the output file.
        inputs: the files the command reads (None entries are ignored).
        force: allow replacing an existing file.
        hint: how to replace an existing file, for its message (:data:`FORCE_HINT`).
    """
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise OutputError(f"{path}: is the input {source}; refusing to overwrite it "
                              "(choose another output path)")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file path")
    if path.exists() and not force:
        raise OutputError(f"{path}: exists ({hint})")
    parent = next(p for p in (path.absolute().parent, *path.absolute().parents) if p.exists())
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot create it: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot create it: no permission to write in {parent}")


def check_events(events: pd.DataFrame, source: str = "events") -> None:
    """Raise :class:`DataError` unless ``events`` follows the event format.

    Checks the columns and dtypes, a non-decreasing ``ts_ns``, known ``kind`` and ``side``
    codes, finite positive prices, finite sizes (> 0 for trades, ≥ 0 for book rows).

    Args:
        events: the table.
        source: the name shown in messages (a file path).
    """
    missing = [c for c in COLUMNS if c not in events.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing}; the format has {list(COLUMNS)}")
    for column, dtype in COLUMNS.items():
        if events[column].dtype != dtype:
            raise DataError(
                f"{source}: column {column!r} has dtype {events[column].dtype}, expected {dtype}"
            )
    check_event_values({c: events[c].to_numpy() for c in COLUMNS}, source)


def check_event_values(rows: Mapping[str, np.ndarray] | np.ndarray, source: str = "events",
                       ordered: bool = True) -> None:
    """Raise :class:`DataError` unless the values of ``rows`` follow the event format: the
    checks of :func:`check_events` after its columns and dtypes (a non-decreasing ``ts_ns``
    only when ``ordered``).

    Args:
        rows: the columns by name (a mapping of arrays, or a structured array).
        source: the name shown in messages.
        ordered: check that ``ts_ns`` never decreases.
    """
    ts = rows["ts_ns"]
    kind = rows["kind"]
    side = rows["side"]
    price = rows["price"]
    size = rows["size"]
    checks = [
        (np.r_[False, ts[1:] < ts[:-1]] if ordered else np.zeros(len(ts), dtype=bool),
         "ts_ns decreases (out-of-order timestamp)"),
        (~np.isin(kind, list(KINDS)), f"kind is not one of {dict(KINDS)}"),
        (np.abs(side) != BID, "side is not +1 or -1"),
        (~(np.isfinite(price) & (price > 0)), "price is not a finite positive number"),
        (~np.isfinite(size) | (size < 0), "size is not a finite number >= 0"),
        ((kind == TRADE) & (size <= 0), "trade size is not > 0"),
    ]
    for bad, what in checks:
        if bad.any():
            row = int(np.argmax(bad))
            values = {c: rows[c][row].item() for c in COLUMNS}
            raise DataError(f"{source}: row {row}: {what}: {values}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """:func:`mmgym.atomic.replacing` (a temporary file beside ``path``, flushed and renamed
    onto it when the block ends without an error: ``path`` is never left half-written and an
    existing one stays as it was), with an OSError of the block or the rename (no permission,
    no space, a directory in the way) raised as an :class:`OutputError` naming ``path``."""
    try:
        with atomic.replacing(path) as tmp:
            yield tmp
    except OSError as e:
        raise write_failure(path, e) from None


def write_events(
    events: pd.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None,
    *, force: bool = False, inputs: Iterable[Path | None] = (),
) -> None:
    """Check ``events`` and write it to ``path`` as parquet, atomically.

    Args:
        events: a table in the event format.
        path: the parquet file to create (missing parent directories too).
        metadata: values for :data:`~mmgym.data.schema.METADATA_KEYS` (source, symbol, tick
            and lot size); other keys are refused.
        force: replace an existing ``path`` (else :class:`OutputError`).
        inputs: the files ``events`` came from, never overwritten (:func:`check_output`).
    """
    path = Path(path)
    check_output(path, inputs, force)
    check_events(events, str(path))
    metadata = dict(metadata or {})
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if unknown:
        raise DataError(f"{path}: unknown metadata keys {unknown}; allowed {list(METADATA_KEYS)}")
    table = pa.Table.from_pandas(events[list(COLUMNS)], preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **{k: str(v) for k, v in metadata.items()}}
    )
    with replacing(path) as tmp:
        pq.write_table(table, tmp)


def read_events(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read and check an event file written by :func:`write_events`.

    Returns:
        The table and its metadata (the keys of :data:`~mmgym.data.schema.METADATA_KEYS`
        that the file has).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable parquet file ({e})") from None
    events = table.to_pandas()
    check_events(events, str(path))
    raw = table.schema.metadata or {}
    metadata = {k: raw[k.encode()].decode() for k in METADATA_KEYS if k.encode() in raw}
    return events[list(COLUMNS)], metadata


def read_time_span(path: str | Path) -> tuple[int, int]:
    """The first and last ``ts_ns`` (ns since the epoch) of an event file, reading that column
    only (the file is checked in full when it is read with :func:`read_events`).

    Raises:
        DataError: naming the file when it is missing, not parquet, has no ``ts_ns`` column
            or no events.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        ts = pq.read_table(path, columns=["ts_ns"]).column("ts_ns").to_numpy()
    except (pa.ArrowInvalid, OSError, KeyError) as e:
        raise DataError(f"{path}: not a readable event file ({e})") from None
    if len(ts) == 0:
        raise DataError(f"{path}: no events")
    return int(ts.min()), int(ts.max())
