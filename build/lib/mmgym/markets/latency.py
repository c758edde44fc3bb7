"""Order-entry and cancellation latency, shared by every market (``as2008``, ``lob``, ``wide``,
``replay``).

Each step the agent submits one order per side: an offset from the mid it sees (the market's
offset unit; NaN: no order on that side, a withdrawal). A submission is **priced at
submission**: the market turns the offset into a price against the mid the agent saw (rounded
to the tick as without latency), not against the mid when it arrives. It **reaches the market
after its latency**: a new or moved order after ``entry_latency_steps`` steps, a withdrawal
after ``cancel_latency_steps`` steps. The order in force on a side is that of the latest
submission that has arrived (exchange sequence semantics: a late-arriving older message never
overrides a newer one); until the first arrives the side keeps its previous order (none at
the start of an episode). So with ``cancel_latency_steps < entry_latency_steps`` a withdrawal
overtakes the quotes sent before it, and a quote sent after a withdrawal brings the order back
once it arrives. Order sizes are the market's; what happens at arrival (queue priority of an
unchanged price, post-only placement against the book of the moment) is the market's too.

Latency in steps, as the exchange's round trip rounded to the step: a submission at step ``t``
with latency ``k`` is in force from step ``t + k`` on (``k = 0``: in the step it is sent, as
without latency). With both 0 the markets take their quotes directly (no buffers).

The markets keep the last ``max(entry, cancel) + 1`` submissions per environment in a ring
(:class:`Latency`) and take the order in force from it each step with the compiled
:func:`arrive`. Delayed order entry and cancellation are the latency models of backtesting
tools such as hftbacktest (``ConstantLatency``: entry and response latency per order, N. Kim,
https://hftbacktest.readthedocs.io/en/latest/latency_models.html); the exchange sequence rule is
that of a FIFO order gateway (messages of one session are processed in the order sent).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mmgym.validation import check_number

LATENCY_RANGE = (0, 1000)
"""Allowed ``entry_latency_steps`` and ``cancel_latency_steps``: ``[0, 1000]``, integers."""

def check_latency(entry_latency_steps: int, cancel_latency_steps: int) -> None:
    """Validate the latency parameters (a :class:`~mmgym.validation.ConfigError` naming the
    field, the value and the allowed range)."""
    for name, value in (("entry_latency_steps", entry_latency_steps),
                        ("cancel_latency_steps", cancel_latency_steps)):
        check_number(name, value, low=LATENCY_RANGE[0], high=LATENCY_RANGE[1], integer=True)


class Latency:
    """The submissions in flight of ``n`` environments and the order in force per side.

    Attributes:
        active: whether either latency is positive (else :meth:`arrive` is not needed: the
            submission is the order in force).
        quote: ``(2, n)`` the offset of the order in force per side (NaN: none).
        ref: ``(2, n)`` the reference price it was submitted against (the market's unit and
            sign convention: whatever the market passed to :meth:`arrive`).
    """

    def __init__(self, n: int, entry_latency_steps: int, cancel_latency_steps: int) -> None:
        self.entry = int(entry_latency_steps)
        self.cancel = int(cancel_latency_steps)
        self.active = self.entry > 0 or self.cancel > 0
        size = max(self.entry, self.cancel) + 1 if self.active else 1
        self.sent = np.full((size, 2, n), np.nan)  # submitted offsets, by step % size
        self.sent_ref = np.zeros((size, 2, n))  # their reference prices
        self.quote = np.full((2, n), np.nan)
        self.ref = np.zeros((2, n))
        self.quote_step = np.full((2, n), -1, dtype=np.int64)  # submission step in force
        self.steps = 0  # submissions so far (the step counter of the ring)

    def reset(self, mask: np.ndarray) -> None:
        """New episodes where ``mask``: no order in force, nothing in flight (submissions
        before now never arrive)."""
        self.quote[:, mask] = np.nan
        self.quote_step[:, mask] = self.steps - 1

    def arrive(self, offsets: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Submit this step's ``offsets`` (``(2, n)``, NaN: withdraw) against ``refs``
        (``(2, n)``) and return the order in force per side: ``(quote, ref)``, arrays of this
        object updated in place."""
        arrive(offsets, refs, self.steps, self.entry, self.cancel, self.sent, self.sent_ref,
               self.quote, self.ref, self.quote_step)
        self.steps += 1
        return self.quote, self.ref


@njit(cache=True)
def arrive(offsets, refs, step, entry, cancel, sent, sent_ref, quote, ref, quote_step):
    """Record the submissions of ``step`` (``offsets``, ``refs``: ``(2, n)``) in the ring
    (``sent``, ``sent_ref``: ``(S, 2, n)``, slot ``step % S``) and apply the ones that arrive
    now: the quote sent ``entry`` steps ago (if it was a quote) and the withdrawal sent
    ``cancel`` steps ago (if it was one), each only if sent after the one in force
    (``quote_step``): ``quote``, ``ref``, ``quote_step`` updated in place."""
    size = sent.shape[0]
    n = offsets.shape[1]
    w = step % size
    for s in range(2):
        for i in range(n):
            sent[w, s, i] = offsets[s, i]
            sent_ref[w, s, i] = refs[s, i]
    for s in range(2):
        for i in range(n):
            # the quote sent `entry` steps ago, then the withdrawal sent `cancel` steps ago:
            # each replaces the order in force if sent after it
            t = step - entry
            if t > quote_step[s, i] and sent[t % size, s, i] == sent[t % size, s, i]:
                quote[s, i] = sent[t % size, s, i]
                ref[s, i] = sent_ref[t % size, s, i]
                quote_step[s, i] = t
            t = step - cancel
            if t > quote_step[s, i] and sent[t % size, s, i] != sent[t % size, s, i]:
                quote[s, i] = np.nan
                ref[s, i] = sent_ref[t % size, s, i]
                quote_step[s, i] = t
