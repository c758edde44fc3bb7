"""The paper-trading engine's clocks: the wall clock, and a virtual one that scripted streams
move forward (tests, playing a file as fast as the machine goes).

A clock tells the time in ns since the Unix epoch (``now_ns``) and lets a coroutine wait for
a time (``sleep_until``). The engine steps its market at every step boundary of the clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """The time, ns since the epoch, and a wait for a time."""

    def now_ns(self) -> int: ...

    async def sleep_until(self, t_ns: int) -> None: ...


class WallClock:
    """The machine's clock: :func:`time.time_ns`, the clock the streams stamp their events
    with."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep_until(self, t_ns: int) -> None:
        await asyncio.sleep(max(0.0, (t_ns - time.time_ns()) / 1e9))


class VirtualClock:
    """A clock that stands still until :meth:`advance_to` moves it: the time of a scripted
    stream (:class:`~mmgym.live.source.TableSource`), which moves it to each item's time
    before yielding the item.

    Args:
        start_ns: the time at first, ns since the epoch.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ns(self) -> int:
        return self._now

    async def sleep_until(self, t_ns: int) -> None:
        if t_ns <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (int(t_ns), next(self._order), future))
        await future

    def advance_to(self, t_ns: int) -> None:
        """Move the clock to ``t_ns`` (never back), waking the sleepers due strictly
        before it (those due at ``t_ns`` itself wake when the clock moves past it: what
        arrives at ``t_ns`` comes first)."""
        self._now = max(self._now, int(t_ns))
        while self._sleepers and self._sleepers[0][0] < self._now:
            future = heapq.heappop(self._sleepers)[2]
            if not future.done():
                future.set_result(None)
