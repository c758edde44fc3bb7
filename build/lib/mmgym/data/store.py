"""Reading and writing event tables (:mod:`mmgym.data.schema`) as parquet, checked.

:func:`write_events` writes to a temporary file beside the target and renames it into place,
so an interrupted or failed write never leaves a half-written file or damages an existing
one. :func:`read_events` checks the schema and the content and names the file and the first
bad row of any violation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmgym.data.schema import BID, COLUMNS, KINDS, METADATA_KEYS, TRADE


class DataError(ValueError):
    """A data file or table that breaks the event format; the message names file and row."""


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
    ts = events["ts_ns"].to_numpy()
    kind = events["kind"].to_numpy()
    side = events["side"].to_numpy()
    price = events["price"].to_numpy()
    size = events["size"].to_numpy()
    checks = [
        (np.r_[False, ts[1:] < ts[:-1]], "ts_ns decreases (out-of-order timestamp)"),
        (~np.isin(kind, list(KINDS)), f"kind is not one of {dict(KINDS)}"),
        (np.abs(side) != BID, "side is not +1 or -1"),
        (~(np.isfinite(price) & (price > 0)), "price is not a finite positive number"),
        (~np.isfinite(size) | (size < 0), "size is not a finite number >= 0"),
        ((kind == TRADE) & (size <= 0), "trade size is not > 0"),
    ]
    for bad, what in checks:
        if bad.any():
            row = int(np.argmax(bad))
            values = {c: events[c].iat[row].item() for c in COLUMNS}
            raise DataError(f"{source}: row {row}: {what}: {values}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write into; renamed onto ``path`` when the block
    ends without an error, removed otherwise, so ``path`` is never left half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_events(
    events: pd.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Check ``events`` and write it to ``path`` as parquet, atomically.

    Args:
        events: a table in the event format.
        path: the parquet file to create or replace.
        metadata: values for :data:`~mmgym.data.schema.METADATA_KEYS` (source, symbol, tick
            and lot size); other keys are refused.
    """
    path = Path(path)
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
