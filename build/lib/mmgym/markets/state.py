"""The persistent inputs of a market's compiled step in one numba object, shared by the book
markets (``lob``, ``wide``).

A compiled step reads and writes a few dozen arrays: the books' state, the step record, fixed
tables, and a tuple of constants. Passed from Python at every step, each is unboxed by numba's
dispatcher again (about 75 ns an array and 1 µs for a tuple of a dozen numbers on the
development machine): several microseconds a step, as much as a single book's step costs.
:class:`KernelState` holds them instead (numba's ``StructRef``), unboxed once when it is built;
a step then passes it and the few arrays that change every step (the quotes and the uniforms).
The arrays are shared, not copied: the market's own numpy arrays stay its state.
"""

from __future__ import annotations

from typing import Any

from numba import njit
from numba.core import types
from numba.experimental import structref


@structref.register
class KernelStateType(types.StructRef):
    """numba's type of :class:`KernelState`: its fields' types, unliteral."""

    def preprocess_fields(self, fields: Any) -> tuple:
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class KernelState(structref.StructRefProxy):
    """A compiled step's persistent inputs: ``consts`` (a NamedTuple of numbers), ``fixed``,
    ``book`` and ``record`` (NamedTuples of arrays), read as attributes in compiled code."""


structref.define_proxy(KernelState, KernelStateType, ["consts", "fixed", "book", "record"])


@njit(cache=True)
def new_state(consts: Any, fixed: Any, book: Any, record: Any) -> KernelState:
    """A :class:`KernelState` of the four tuples (compiled and cached, so that building one
    costs no compilation after the first run)."""
    return KernelState(consts, fixed, book, record)
