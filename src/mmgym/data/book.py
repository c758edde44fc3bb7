"""Rebuilding the L2 order book from an event table (:mod:`mmgym.data.schema`).

:func:`rebuild_book` applies the events in table order and records the top of the book after
every *message* (a run of consecutive book rows sharing ``ts_ns``, ``kind`` and
``update_id``), and, when asked, the book around the touch at given times. The importers use
it to find crossed books, the tests to compare the book with the exchange's own best quotes,
and the ``replay`` market to precompute its steps.

Rules:

* A ``SNAPSHOT`` message empties both sides, then sets its levels; a ``DELTA`` row sets its
  level's total size (0 removes it). Trades do not change the book (a diff stream reports
  the levels a trade consumed as deltas).
* A book is *crossed* when its best bid is at or above its best ask. A delta stream crosses
  only when levels are stale (messages were lost, or levels outlived a move the recording
  missed), and the side the message just updated is the fresh one: the levels of the other
  side at or through the new best are removed and listed in :attr:`BookHistory.removed`
  (a message whose own bids cross its own asks has no fresh side: the bids at or above the
  best ask are removed). Each crossed message is counted in :attr:`BookHistory.crossed`.

Sides are stored on the sorted distinct prices of the table, so memory is the number of
distinct prices, whatever their range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmgym.data.schema import ASK, BID, SNAPSHOT, TRADE


@dataclass
class BookHistory:
    """The book after each message, and around the touch at the requested times.

    Per book message ``m`` (arrays of length ``n_messages``):

    Attributes:
        start, stop: the table rows of the message, ``[start, stop)``.
        ts_ns, update_id, kind: the message's time (ns), exchange update id and kind.
        bid_price, bid_size, ask_price, ask_size: best levels after the message (and after
            any repair), price and size units; NaN price and 0 size for an empty side.
        crossed: whether the message crossed the book (before the repair).
        removed: ``(message, side, price, size)`` of each stale level removed by a repair.
        cut_ns: the requested times (ns), if any.
        cut_best: ``(len(cut_ns), 2)`` best bid and ask prices after every message with
            ``ts_ns <= cut`` (NaN: empty side).
        cut_depth: ``(len(cut_ns), 2, grid_ticks)`` sizes at ``j`` ticks behind the best
            (bid side, ask side; 0 where no level rests), size units.
        cut_known: ``(len(cut_ns), 2)`` ticks behind the best up to which the depth is known:
            for a source that shows ``shown_levels`` levels a side, the distance of the last
            shown level when the side shows that many (its depth beyond is unknown), else
            ``inf`` (the whole side is shown).
        final_side, final_price, final_size: with ``final=True``, the levels of the book
            after the last message, bids then asks, each best first: side (``BID``/``ASK``),
            price (as the events gave it) and size; a snapshot of them continues the book.
    """

    start: np.ndarray
    stop: np.ndarray
    ts_ns: np.ndarray
    update_id: np.ndarray
    kind: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    crossed: np.ndarray
    removed: list[tuple[int, int, float, float]]
    cut_ns: np.ndarray | None = None
    cut_best: np.ndarray | None = None
    cut_depth: np.ndarray | None = None
    cut_known: np.ndarray | None = None
    final_side: np.ndarray | None = None
    final_price: np.ndarray | None = None
    final_size: np.ndarray | None = None

    def top_at(self, times_ns: np.ndarray) -> pd.DataFrame:
        """The best levels after every message with ``ts_ns <= t``, for each time ``t``
        (ns); NaN prices before the first message."""
        m = np.searchsorted(self.ts_ns, np.asarray(times_ns), side="right") - 1
        ok = m >= 0
        m = np.maximum(m, 0)
        out = {}
        for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
            col = getattr(self, name)[m].astype(np.float64)
            col[~ok] = np.nan if name.endswith("price") else 0.0
            out[name] = col
        return pd.DataFrame(out)


def message_bounds(events: pd.DataFrame) -> np.ndarray:
    """Start rows of the messages of ``events`` (runs of equal ts_ns, kind, update_id),
    followed by ``len(events)``."""
    n = len(events)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for col in ("ts_ns", "kind", "update_id"):
        v = events[col].to_numpy()
        change[1:] |= v[1:] != v[:-1]
    return np.append(np.flatnonzero(change), n)


def rebuild_book(
    events: pd.DataFrame,
    cut_ns: np.ndarray | None = None,
    tick: float | None = None,
    grid_ticks: int = 0,
    shown_levels: int | None = None,
    final: bool = False,
) -> BookHistory:
    """Apply the book rows of ``events`` in order; see the module doc.

    Args:
        events: an event table (checked by :func:`mmgym.data.store.check_events`).
        cut_ns: sorted times (ns) at which to record the book around the touch.
        tick: the tick size, price units (needed with ``cut_ns``).
        grid_ticks: ticks per side recorded at each cut.
        shown_levels: the levels a side the source shows (the metadata's ``mmgym.levels``),
            for :attr:`BookHistory.cut_known`; None: the whole book.
        final: also return the book after the last message (:attr:`BookHistory.final_side`,
            ...).
    """
    bounds = message_bounds(events)
    kind_rows = events["kind"].to_numpy()
    starts = bounds[:-1]
    book_msg = kind_rows[starts] != TRADE
    starts, stops = starts[book_msg], bounds[1:][book_msg]
    n_msg = len(starts)
    price = events["price"].to_numpy()
    size = events["size"].to_numpy()
    side = events["side"].to_numpy()
    ts = events["ts_ns"].to_numpy()
    is_book = kind_rows != TRADE
    if tick is not None:
        keys = np.rint(price / tick).astype(np.int64)
    else:
        keys = price
    uniq = np.unique(keys[is_book])
    N = len(uniq)
    idx = np.searchsorted(uniq, keys)
    # one array for both sides: bids at [0, N), asks at [N, 2N)
    flat = np.where(side == ASK, idx + N, idx)
    sizes = np.zeros(2 * N)
    # per message, the highest bid and lowest ask it sets to a positive size
    if n_msg:
        pos_bid = np.where(is_book & (side == BID) & (size > 0), idx, -1)
        pos_ask = np.where(is_book & (side == ASK) & (size > 0), idx, N)
        msg_max_bid = np.maximum.reduceat(pos_bid, starts)
        msg_min_ask = np.minimum.reduceat(pos_ask, starts)
    else:
        msg_max_bid = msg_min_ask = np.zeros(0, dtype=np.int64)
    msg_kind = kind_rows[starts]

    out_bb = np.full(n_msg, -1, dtype=np.int64)
    out_ba = np.full(n_msg, N, dtype=np.int64)
    bid_size = np.zeros(n_msg)
    ask_size = np.zeros(n_msg)
    crossed = np.zeros(n_msg, dtype=bool)
    removed: list[tuple[int, int, float, float]] = []
    price_of = np.empty(N)
    if N:
        price_of[idx[is_book]] = price[is_book]

    cuts = np.asarray(cut_ns if cut_ns is not None else [], dtype=np.int64)
    n_cut = len(cuts)
    if n_cut and tick is None:
        raise ValueError("rebuild_book: cut_ns needs the tick size")
    cut_best = np.full((n_cut, 2), np.nan)
    cut_depth = np.zeros((n_cut, 2, grid_ticks))
    cut_known = np.full((n_cut, 2), np.inf)
    behind = np.arange(grid_ticks)
    c = 0
    msg_ts = ts[starts]

    bb, ba = -1, N
    bids, asks = sizes[:N], sizes[N:]
    for m in range(n_msg):
        t_m = msg_ts[m]
        while c < n_cut and cuts[c] < t_m:
            _record(c, bb, ba, N, uniq, bids, asks, behind, cut_best, cut_depth, tick,
                    shown_levels, cut_known)
            c += 1
        a, b = starts[m], stops[m]
        if msg_kind[m] == SNAPSHOT:
            sizes[:] = 0.0
            bb, ba = -1, N
        sizes[flat[a:b]] = size[a:b]
        new_bb, new_ba = msg_max_bid[m], msg_min_ask[m]
        bb = max(bb, new_bb)
        ba = min(ba, new_ba)
        if bb >= 0 and bids[bb] <= 0:
            bb = _next_bid(bids, bb)
        if ba < N and asks[ba] <= 0:
            ba = _next_ask(asks, ba, N)
        if bb >= 0 and ba < N and bb >= ba:
            crossed[m] = True
            fresh_bid = new_bb == bb and new_ba != ba
            if fresh_bid:  # asks at or below the new best bid are stale
                for j in np.flatnonzero(asks[ba : bb + 1]) + ba:
                    removed.append((m, ASK, float(price_of[j]), float(asks[j])))
                asks[ba : bb + 1] = 0.0
                ba = _next_ask(asks, bb + 1, N)
            else:  # bids at or above the best ask are stale
                for j in np.flatnonzero(bids[ba : bb + 1]) + ba:
                    removed.append((m, BID, float(price_of[j]), float(bids[j])))
                bids[ba : bb + 1] = 0.0
                bb = _next_bid(bids, ba - 1)
        out_bb[m], out_ba[m] = bb, ba
        bid_size[m] = bids[bb] if bb >= 0 else 0.0
        ask_size[m] = asks[ba] if ba < N else 0.0
    while c < n_cut:
        _record(c, bb, ba, N, uniq, bids, asks, behind, cut_best, cut_depth, tick, shown_levels,
                cut_known)
        c += 1

    if final:
        b, a = np.flatnonzero(bids)[::-1], np.flatnonzero(asks)
        final_side = np.repeat(np.array([BID, ASK], dtype=np.int8), [len(b), len(a)])
        final_price = np.concatenate([price_of[b], price_of[a]])
        final_size = np.concatenate([bids[b], asks[a]])
    else:
        final_side = final_price = final_size = None
    has_bid = out_bb >= 0
    price_of = np.append(price_of, np.nan)  # index N (and −1): an empty side
    bid_price = price_of[np.where(has_bid, out_bb, N)]
    ask_price = price_of[out_ba]
    return BookHistory(
        start=starts, stop=stops, ts_ns=msg_ts, update_id=events["update_id"].to_numpy()[starts],
        kind=msg_kind, bid_price=bid_price, bid_size=bid_size,
        ask_price=ask_price, ask_size=ask_size, crossed=crossed, removed=removed,
        cut_ns=cuts if cut_ns is not None else None,
        cut_best=cut_best if cut_ns is not None else None,
        cut_depth=cut_depth if cut_ns is not None else None,
        cut_known=cut_known if cut_ns is not None else None,
        final_side=final_side, final_price=final_price, final_size=final_size,
    )


def _next_bid(bids: np.ndarray, i: int) -> int:
    """The highest index ``<= i`` with a positive size, or −1."""
    while i >= 0:
        lo = max(0, i - 63)
        nz = np.flatnonzero(bids[lo : i + 1])
        if nz.size:
            return int(lo + nz[-1])
        i = lo - 1
    return -1


def _next_ask(asks: np.ndarray, i: int, n: int) -> int:
    """The lowest index ``>= i`` with a positive size, or ``n``."""
    while i < n:
        hi = min(n, i + 64)
        nz = np.flatnonzero(asks[i:hi])
        if nz.size:
            return int(i + nz[0])
        i = hi
    return n


def _record(c, bb, ba, N, uniq, bids, asks, behind, cut_best, cut_depth, tick, shown_levels,
            cut_known) -> None:
    """Write cut ``c``: best prices, the sizes ``j`` ticks behind each best, and how far
    behind it the depth is known."""
    for s, best, sizes, sign in ((0, bb, bids, -1), (1, ba, asks, 1)):
        if not 0 <= best < N:
            continue
        best_key = uniq[best]
        cut_best[c, s] = best_key * tick
        if shown_levels is not None:
            shown = np.flatnonzero(sizes[: best + 1])[::-1] if s == 0 else (
                np.flatnonzero(sizes[best:]) + best)
            if len(shown) >= shown_levels:
                cut_known[c, s] = abs(uniq[shown[shown_levels - 1]] - best_key)
        if len(behind) == 0:
            continue
        want = best_key + sign * behind
        j = np.minimum(np.searchsorted(uniq, want), N - 1)
        cut_depth[c, s] = np.where(uniq[j] == want, sizes[j], 0.0)
