"""What an importer read, wrote and skipped: the bad-data policy shared by the importers.

Every importer reads a raw recording line by line and, on bad data, does one of two things:

* ``strict=True``: raises :class:`~mmgym.data.store.DataError` at the first problem, naming
  the file, the line (1-based) and what is wrong; nothing is written.
* ``strict=False`` (the default): skips what is bad under the importer's documented policy,
  counts each skip by reason in an :class:`ImportReport`, keeps the first few examples
  (file, line, reason), and the command line prints the counts. Nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mmgym.data.store import DataError

MAX_EXAMPLES = 5
"""Examples of skipped lines kept per report."""


@dataclass
class ImportReport:
    """The outcome of one import.

    Attributes:
        path: the raw file read.
        lines: lines read (blank lines included).
        events: rows of the event table produced.
        messages: messages turned into events, by message type.
        skipped: lines or messages skipped, by reason (see the importer's policy).
        repaired: book levels the importer added or removed to keep the book consistent,
            by reason (e.g. stale levels removed when a message crossed the book).
        examples: the first :data:`MAX_EXAMPLES` problems, ``"file:line: reason"``.
        metadata: the parquet metadata of the output (:data:`~mmgym.data.schema.METADATA_KEYS`).
        units: the tick and lot sizes and whether they were given or inferred
            (:func:`mmgym.data.importing.grid_units`).
    """

    path: Path
    strict: bool = False
    lines: int = 0
    events: int = 0
    messages: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    units: str = ""

    def bad(self, line: int, reason: str, detail: str, repaired: bool = False,
            path: Path | None = None) -> None:
        """Record a problem at ``line`` (1-based) of kind ``reason``; raise in strict mode.

        Args:
            line: the line of the raw file.
            reason: the counter key (``corrupt``, ``out_of_order``, ``gap``, ``crossed``...).
            detail: what is wrong, for the message.
            repaired: count it under :attr:`repaired` (the data were kept and fixed) rather
                than :attr:`skipped`.
            path: the file of the line, when an import reads several (default :attr:`path`).
        """
        message = f"{path or self.path}:{line}: {reason}: {detail}"
        if self.strict:
            raise DataError(message)
        (self.repaired if repaired else self.skipped)[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def summary(self) -> str:
        """A few lines for the command line: what was imported, skipped and repaired."""
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.messages.items())) or "none"
        out = [f"{self.path}: {self.lines:,} lines, {self.events:,} events ({kinds})"]
        if self.units:
            out.append(self.units)
        for title, counts in (("skipped", self.skipped), ("repaired", self.repaired)):
            total = sum(counts.values())
            parts = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            out.append(f"{title}: {total:,}" + (f" ({parts})" if parts else ""))
        out.extend(f"  e.g. {e}" for e in self.examples)
        return "\n".join(out)
