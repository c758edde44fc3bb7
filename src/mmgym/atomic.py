"""Files written whole or not at all.

A checkpoint is written to a temporary file beside its destination (same directory, so the
same file system), flushed to disk and renamed onto it (``os.replace``, atomic on POSIX): a
process killed at any moment, SIGKILL included, leaves either the previous file or the new
one, never a half-written one. A killed writer may leave its temporary file behind
(``.<name>.<pid>.tmp``, hidden); nothing reads those.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write into; flushed to disk and renamed onto
    ``path`` when the block ends without an error, removed otherwise. Missing parent
    directories are created."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
        _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)  # the rename itself
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # its directory is missing or not a directory: no file was left
            pass


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
