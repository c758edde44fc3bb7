"""The ``lob`` step's lookup of its lean-dependent rates is exact: the same episode as
computing them at every step."""

from __future__ import annotations

import numpy as np

from mmgym.markets import LOBMarket
from mmgym.markets.state import new_state
from mmgym.rng import RandomStreams


def _episode(market: LOBMarket, steps: int) -> list[np.ndarray]:
    n = market.n
    market.reset(np.ones(n, dtype=bool), np.zeros((market.n_uniforms, n)))
    streams = RandomStreams(n, market.n_uniforms)
    streams.seed(np.arange(7, 7 + n, dtype=np.uint64))
    streams.start_episodes()
    offsets = np.random.default_rng(0).uniform(-2.0, 8.0, size=(steps, 2, n))
    record = []
    for t in range(steps):
        rec = market.step(offsets[t], streams.step_uniforms())
        record += [rec.depth.copy(), rec.best.copy(), rec.fills.copy(), rec.notional.copy(),
                   market.order_ahead.copy(), market.fundamental.copy()]
    return record


def test_rate_table_gives_the_rates_computed_at_every_step() -> None:
    looked_up = LOBMarket(4)
    computed = LOBMarket(4)
    # a one-row table: only a zero gap is looked up, every other step computes its rates
    computed._rate_table = np.full((1, *computed._rate_table.shape[1:]), np.nan)
    consts, fixed, book, record = computed._kernel_args
    computed._state = new_state(consts, fixed, book._replace(rate_table=computed._rate_table),
                                record)
    a, b = _episode(looked_up, 1500), _episode(computed, 1500)
    assert (~np.isnan(looked_up._rate_table[:, 0, 0])).sum() > 20  # the table was used
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
