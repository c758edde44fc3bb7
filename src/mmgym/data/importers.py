"""``mmgym-import``: raw exchange recordings into the event format (parquet).

    mmgym-import binance recording.gz -o events.parquet [--force] [--strict]
                         [--tick T --lot L] [--venue auto|spot|usdm]
    mmgym-import bybit recording.jsonl -o events.parquet [--strict] [--tick T --lot L]
    mmgym-import ccxt recording.jsonl.gz -o events.parquet [--strict] [--tick T --lot L]
                      [--clock exchange|local]
    mmgym-import lobster TICKER_DAY_start_end_message_L.csv [orderbook.csv] -o events.parquet
        [--date YYYY-MM-DD --symbol S --timezone America/New_York] [--strict] [--tick --lot]
    mmgym-import tardis incremental_book_L2.csv.gz [trades.csv.gz] -o events.parquet
                 [--strict] [--tick T --lot L]

Prints what was imported, the tick and lot sizes (given, recorded by the recorder, or
inferred from the data: :func:`mmgym.data.importing.grid_units`, which checks every price and
size against them) and what was skipped or repaired (by reason, with the first few
file:line examples). ``--strict`` fails at the first bad line instead (exit status 1, the
file and line in the message). The output is written atomically: a failed import never
leaves a partial or damaged file. It is never one of the inputs; an existing file is replaced
only with ``--force``; missing parent directories are created; any output problem (those
refusals, a directory, no permission) is a one-line message naming the path, exit status 2,
checked before the input is read (:func:`mmgym.data.store.check_output`).

``binance`` reads spot and USD-M futures recordings, with each venue's synchronisation
rules (:mod:`mmgym.data.binance`); ``--venue`` gives the venue, by default it is told from
the messages (a message of the other venue fails the import, naming its line) and written
to the metadata (``mmgym.source``: ``binance-spot`` or ``binance-usdm``).

``ccxt`` reads ``mmgym-record``'s recordings, and ``mmgym-paper``'s ``recording.jsonl.gz``
with ``--clock local`` (its events have no exchange time: :mod:`mmgym.live.jsonl`).

``tardis`` reads a Tardis.dev ``incremental_book_L2`` file and, when given, the ``trades``
file of the same exchange and symbol, merged in time order (:mod:`mmgym.data.tardis`).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from mmgym.data.binance import VENUES, read_binance
from mmgym.data.bybit import read_bybit
from mmgym.data.importing import grid_units
from mmgym.data.lobster import orderbook_path, read_lobster
from mmgym.data.recorder import DataWarning, read_recording
from mmgym.data.report import ImportReport
from mmgym.data.schema import SNAPSHOT, TRADE
from mmgym.data.store import DataError, OutputError, check_output, write_events
from mmgym.data.tardis import read_tardis


def read_ccxt(path: Path, strict: bool = False, tick_size: float | None = None,
              lot_size: float | None = None, clock: Literal["exchange", "local"] = "exchange",
              ) -> tuple[pd.DataFrame, ImportReport]:
    """:func:`mmgym.data.recorder.read_recording` (on ``clock``: the exchange's time, or the
    local receive time of each line) as an importer: the events and an :class:`ImportReport`
    built from the table's ``attrs``.

    The tick and lot sizes are ``tick_size`` and ``lot_size`` when given, else the ones the
    recorder read from the exchange's market data, else inferred; all are checked against the
    data (:func:`mmgym.data.importing.grid_units`).

    The report's ``messages`` count the snapshots and trades read, and, when any, the
    snapshots served again (``repeated_snapshot``) and trades polled twice
    (``duplicate_trade``), dropped as the reader documents, and the ``trade_gap`` and
    ``network_error`` lines of the recording; ``skipped`` holds the reader's skipped problems
    (its :class:`~mmgym.data.recorder.DataWarning` is not repeated: the summary prints them).
    A recording without an exchange time on the exchange clock fails (:class:`DataError`),
    asking for the local one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        events = read_recording(path, strict=strict, clock=clock)
    if len(events) == 0 and events.attrs["skipped"].get("no_exchange_time"):
        raise DataError(f"{path}: no book or trade has an exchange time (an mmgym-paper "
                        "recording?): import it with --clock local")
    report = ImportReport(path=Path(path), strict=strict, lines=events.attrs["lines"],
                          events=len(events), metadata=dict(events.attrs["metadata"]))
    snapshots = events.loc[events["kind"] == SNAPSHOT, "ts_ns"]
    report.messages.update({
        "snapshot": snapshots.nunique(), "trade": int((events["kind"] == TRADE).sum()),
        "repeated_snapshot": events.attrs["repeated_snapshots"],
        "duplicate_trade": events.attrs["duplicate_trades"],
        "trade_gap": events.attrs["gaps"], "network_error": events.attrs["errors"],
    })
    report.messages = +report.messages  # drop the zero counts
    report.skipped.update(events.attrs["skipped"])
    recorded = [_positive(report.metadata.get(k)) for k in ("mmgym.tick_size", "mmgym.lot_size")]
    grid_units(events, None, report, tick_size if tick_size is not None else recorded[0],
               lot_size if lot_size is not None else recorded[1])
    return events, report


def _positive(text: str | None) -> float | None:
    """A metadata value as a finite number > 0, or None (missing, ``"None"``, not a number)."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None

def _lobster_orderbook(message: Path) -> Path | None:
    """The orderbook file :func:`~mmgym.data.lobster.read_lobster` reads beside ``message``
    when none is given, or None when ``message`` is not named by LOBSTER's convention."""
    try:
        return orderbook_path(message)
    except DataError:
        return None


def _lobster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", default=None,
                        help="the trading day, YYYY-MM-DD (default: from the file name)")
    parser.add_argument("--symbol", default=None, help="the ticker (default: from the file name)")
    parser.add_argument("--timezone", default="America/New_York",
                        help="the exchange's time zone of the times (America/New_York)")


@dataclass(frozen=True)
class Importer:
    """One ``mmgym-import`` subcommand.

    Attributes:
        read: ``read(file, strict, tick_size, lot_size, **options) -> (events, report)``;
            ``options`` are the parsed values of :attr:`arguments` (and ``second`` when set).
        help: the subcommand's help line.
        second: help of an optional second positional file (passed to ``read`` as
            ``second``), or None for importers of one file.
        arguments: ``add(parser)`` adding the importer's own options, or None.
        default_second: ``default_second(file)``: the second file read when none is given
            (an input the output must not overwrite), or None.
    """

    read: Callable[..., tuple[pd.DataFrame, ImportReport]]
    help: str
    second: str | None = None
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    default_second: Callable[[Path], Path | None] | None = None


def _ccxt_arguments(parser: argparse.ArgumentParser) -> None:
    """``--clock``: the ``clock`` of :func:`read_ccxt`."""
    parser.add_argument("--clock", choices=("exchange", "local"), default="exchange",
                        help="the events' times: the exchange's (default; polled trades "
                        "sorted into place) or the local receive times, in file order (an "
                        "mmgym-paper recording has only these)")


def _binance_arguments(parser: argparse.ArgumentParser) -> None:
    """``--venue``: the ``venue`` of :func:`~mmgym.data.binance.read_binance`."""
    parser.add_argument("--venue", choices=("auto", *VENUES), default="auto",
                        help="spot or usdm (USD-M futures); default auto: told from the "
                        "messages (depthUpdate 'pu', bookTicker 'e')")


IMPORTERS: dict[str, Importer] = {
    "binance": Importer(read_binance, "Binance spot or USD-M futures combined streams: "
                        "'<local ns> <json>' lines", arguments=_binance_arguments),
    "bybit": Importer(read_bybit, "Bybit V5 public orderbook and publicTrade streams: "
                      "'[<local ns> ]<json>' lines"),
    "ccxt": Importer(read_ccxt, "mmgym-record's ccxt recordings and mmgym-paper's (mmgym-ccxt-"
                     "recording, gzip)", arguments=_ccxt_arguments),
    "lobster": Importer(read_lobster, "LOBSTER message and orderbook files (NASDAQ equities)",
                        second="the orderbook file (default: beside the message file, by "
                               "LOBSTER's naming)", arguments=_lobster_arguments,
                        default_second=_lobster_orderbook),
    "tardis": Importer(read_tardis, "Tardis.dev CSV files: incremental_book_L2 and optionally "
                       "trades (.csv or .csv.gz)",
                       second="the Tardis trades file of the same exchange and symbol "
                       "(optional)"),
}
"""Importers by subcommand name."""

_COMMON = {"file", "second", "out", "force", "strict", "tick", "lot", "source"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mmgym-import``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mmgym-import", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="source", required=True)
    for name, importer in IMPORTERS.items():
        p = sub.add_parser(name, help=importer.help)
        p.add_argument("file", type=Path, help="the raw recording (gzip or plain text)")
        if importer.second is not None:
            p.add_argument("second", type=Path, nargs="?", default=None, help=importer.second)
        p.add_argument("-o", "--out", type=Path, required=True,
                       help="output parquet file (missing parent directories are created; "
                            "never one of the inputs)")
        p.add_argument("--force", action="store_true", help="replace an existing output file")
        p.add_argument("--strict", action="store_true",
                       help="fail at the first bad line instead of skipping and counting")
        p.add_argument("--tick", type=float, default=None,
                       help="the symbol's tick size, quote currency (default: inferred)")
        p.add_argument("--lot", type=float, default=None,
                       help="the symbol's lot size, base units (default: inferred)")
        if importer.arguments is not None:
            importer.arguments(p)
    args = parser.parse_args(argv)
    importer = IMPORTERS[args.source]
    options = {k: v for k, v in vars(args).items() if k not in _COMMON}
    if importer.second is not None:
        options["second"] = args.second
    inputs = [args.file, options.get("second")]
    if inputs[1] is None and importer.default_second is not None:
        inputs.append(importer.default_second(args.file))
    try:
        check_output(args.out, inputs, args.force)
        events, report = importer.read(args.file, args.strict, args.tick, args.lot, **options)
        write_events(events, args.out, report.metadata, force=args.force, inputs=inputs)
    except OutputError as e:
        print(f"mmgym-import: {e}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"mmgym-import: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


def cli() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
