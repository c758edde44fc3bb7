"""The agent's place in a price level's queue under cancellations, shared by the book markets
(``lob``, ``wide``, ``replay``).

A market knows the volume ``ahead`` of the agent's order at its price when the order joins
(the displayed volume there) and how much trades take from the front. A cancellation of ``c``
lots from a level of ``queue`` lots (the agent's order not counted) may come from ahead of the
agent or from behind it; an L2 book does not say which. ``queue_model`` chooses the estimate
of the part ahead, with ``front = ahead`` and ``back = queue − ahead``:

* ``conservative``: every cancellation comes from behind, as long as there is volume behind;
  only the excess reaches the front: ``max(c − back, 0)``. The agent advances with trades only
  (hftbacktest's ``RiskAdverseQueueModel``).
* ``probabilistic``: each cancelled lot is ahead with probability ``front/queue`` (the
  proportional model), the expected advance ``c·front/queue``.
* ``power``: the part ahead is ``c·f(front)/(f(front) + f(back))`` with ``f(x) = x^n``,
  ``n = queue_power``; what the part behind, ``c·f(back)/(f(front) + f(back))``, exceeds of the
  volume behind comes from the front as well. ``n = 1`` is the proportional model; ``n > 1``
  puts cancellations behind an agent near the front (who then advances more slowly) and ahead
  of one near the back: orders near the front have waited long and are less likely to be
  cancelled.
* ``log``: the same with ``f(x) = log(1 + x)``.

The power and log forms are those of hftbacktest's ``ProbQueueModel`` with
``PowerProbQueueFunc`` and ``LogProbQueueFunc`` (N. Kim, hftbacktest, ``src/backtest/models/
queue.rs``, https://hftbacktest.readthedocs.io/en/latest/reference/queue_models.html), after
M. Rigtorp, "Estimating order queue position" (2013),
https://rigtorp.se/2013/06/08/estimating-order-queue-position.html.

The markets pass the model to their compiled step as an integer code (:data:`QUEUE_MODELS`)
and ``queue_power`` as a float.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CONSERVATIVE, PROBABILISTIC, POWER, LOG = 0, 1, 2, 3
QUEUE_MODELS: dict[str, int] = {"conservative": CONSERVATIVE, "probabilistic": PROBABILISTIC,
                                "power": POWER, "log": LOG}
"""``queue_model`` names and the codes the compiled steps take."""
QUEUE_POWER_RANGE = (0.0, 100.0)
"""Allowed ``queue_power``: ``(0, 100]``."""


@njit(cache=True)
def ahead_after_cancel(model: int, power: float, ahead: float, queue: float,
                       cancelled: float) -> float:
    """The volume still ahead of the agent's order after ``cancelled`` lots leave a level of
    ``queue`` lots of which ``ahead`` were ahead of it (any size unit; the order itself not
    counted), by ``model`` (a :data:`QUEUE_MODELS` code; ``power`` the exponent ``n`` of
    ``power``): see the module doc. Never below 0."""
    if model == CONSERVATIVE:
        advance = max(ahead - (queue - cancelled), 0.0)
    elif model == PROBABILISTIC:
        advance = cancelled * ahead / queue if queue > 0.0 else 0.0
    else:
        back = max(queue - ahead, 0.0)
        if ahead <= 0.0:
            share = 0.0
        elif model == POWER:  # f(front)/(f(front) + f(back)), without overflow for large n
            share = 1.0 / (1.0 + (back / ahead) ** power)
        else:
            share = np.log1p(ahead) / (np.log1p(ahead) + np.log1p(back))
        advance = cancelled * share + max(cancelled * (1.0 - share) - back, 0.0)
    return max(ahead - advance, 0.0)
