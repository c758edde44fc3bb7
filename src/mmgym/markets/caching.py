"""numba's on-disk cache for the market modules that call the shared market parts.

numba keys a function's cached machine code on its own source file only: a kernel of
``lob.py`` that calls a function of ``queue.py`` would keep running the old compiled code after
``queue.py`` changed. The locators here (numba's own, registered ahead of them) add the hash
of the shared parts' sources (:data:`SHARED`) to the source stamp of every function defined in
a market module (:data:`DEPENDENT`), so a change to a shared part recompiles its callers.

They also keep each version of a market module's sources in a directory of its own
(``__pycache__/mmgym-<hash>/``, the hash of the module's and the shared parts' sources): numba
unpickles a cache index before it compares its source stamp, and an index written by another
version whose argument types name a class that no longer exists (a NamedTuple renamed, say)
would fail to load instead of being recompiled. A new version starts an empty directory; the
old ones are left (a few hundred KiB each). Importing this module registers the locators; every
market module imports it before compiling.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from numba.core.caching import (
    CacheImpl,
    InTreeCacheLocator,
    UserProvidedCacheLocator,
    UserWideCacheLocator,
)

_HERE = Path(__file__).resolve().parent
SHARED: tuple[str, ...] = ("queue.py", "latency.py", "state.py", "record.py")
"""The shared market parts (files of this package) whose compiled functions other files call."""
DEPENDENT: frozenset[str] = frozenset(("as2008.py", "lob.py", "replay.py", "wide.py", *SHARED))
"""The files whose functions' cache is keyed on the shared parts as well."""


def _digest() -> str:
    h = hashlib.sha256()
    for name in SHARED:
        path = _HERE / name
        h.update(path.read_bytes() if path.is_file() else b"")
    return h.hexdigest()


_SHARED_DIGEST = _digest()


@cache
def _version(py_file: str) -> str:
    """A short hash of a market module's source and the shared parts' (its cache directory)."""
    return hashlib.sha256(Path(py_file).read_bytes()
                          + _SHARED_DIGEST.encode()).hexdigest()[:16]


class _SharedPartsStamp:
    """A locator of the market modules: numba's source stamp plus the shared parts' hash, in a
    directory of the sources' version."""

    _py_file: str

    def get_source_stamp(self) -> Any:
        return (super().get_source_stamp(), _SHARED_DIGEST)  # type: ignore[misc]

    def get_cache_path(self) -> str:
        return os.path.join(super().get_cache_path(),  # type: ignore[misc]
                            f"mmgym-{_version(self._py_file)}")

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        path = Path(py_file).resolve()
        if path.parent != _HERE or path.name not in DEPENDENT:
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]


class _UserProvided(_SharedPartsStamp, UserProvidedCacheLocator):
    pass


class _InTree(_SharedPartsStamp, InTreeCacheLocator):
    pass


class _UserWide(_SharedPartsStamp, UserWideCacheLocator):
    pass


if not any(issubclass(c, _SharedPartsStamp) for c in CacheImpl._locator_classes):
    CacheImpl._locator_classes[:0] = [_UserProvided, _InTree, _UserWide]
