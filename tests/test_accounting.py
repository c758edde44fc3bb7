"""The compiled bookkeeping of :class:`mmgym.accounting.Accounts` against the module's formulas
written out in numpy, on random steps with maker and taker fees and rebates."""

import numpy as np
import pytest

from mmgym.accounting import INFO_KEYS, Accounts
from mmgym.markets.base import MarketStep


@pytest.mark.parametrize(("fee_bps", "taker_bps"), [(0.0, 0.0), (2.5, 0.0), (-1.0, 0.0),
                                                   (0.0, 4.0), (-1.0, 5.0), (2.0, -0.5)])
def test_settle_follows_the_pnl_split(fee_bps: float, taker_bps: float) -> None:
    n, rng = 6, np.random.default_rng(7)
    acc = Accounts(n, fee_bps, taker_bps)
    mid = rng.uniform(90, 110, n)
    acc.reset(np.ones(n, dtype=bool), mid)
    cash, q, parts = np.zeros(n), np.zeros(n), np.zeros((3, n))
    for _ in range(200):
        s, s_after = mid, mid + rng.normal(0, 0.5, n)
        prices = np.stack([s - rng.uniform(0, 2, n), s + rng.uniform(0, 2, n)])
        prices[rng.random((2, n)) < 0.1] = np.nan
        fills = np.where(rng.random((2, n)) < 0.4, rng.uniform(0.1, 3, (2, n)), 0.0)
        fills[np.isnan(prices)] = 0.0
        notional = np.where(fills > 0, np.nan_to_num(prices) * fills, 0.0)
        # a random part of each side's fills took liquidity
        share = np.where(rng.random((2, n)) < 0.5, rng.uniform(0, 1, (2, n)), 0.0)
        taker_fills, taker_notional = share * fills, share * notional
        acc.settle(MarketStep(s, s_after, prices, fills, notional, taker_fills, taker_notional))

        b, a = fills
        q_after = q + b - a
        # maker fee on the maker notional, taker fee on the taker notional
        taken = taker_notional[0] + taker_notional[1]
        fees = fee_bps * 1e-4 * (notional[0] + notional[1] - taken) + taker_bps * 1e-4 * taken
        spread = (b - a) * s + notional[1] - notional[0]
        inventory_pnl = q_after * (s_after - s)
        cash = cash + notional[1] - notional[0] - fees
        parts += np.stack([spread, inventory_pnl, fees])
        np.testing.assert_allclose(acc.inventory_before, q, rtol=0, atol=1e-12)
        np.testing.assert_allclose(acc.inventory, q_after, rtol=0, atol=1e-12)
        np.testing.assert_allclose(acc.cash, cash, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(acc.pnl_change, spread + inventory_pnl - fees, atol=1e-9)
        np.testing.assert_allclose(
            np.stack([acc.spread_change, acc.inventory_pnl_change, acc.fees_change]),
            np.stack([spread, inventory_pnl, fees]), atol=1e-9,
        )
        np.testing.assert_allclose(
            np.stack([acc.pnl_spread, acc.pnl_inventory, acc.fees]), parts, atol=1e-8
        )
        np.testing.assert_allclose(acc.pnl, cash + q_after * s_after, rtol=1e-12, atol=1e-8)
        np.testing.assert_allclose(acc.pnl, parts[0] + parts[1] - parts[2], atol=1e-8)
        np.testing.assert_array_equal(acc.bid_price, prices[0])
        np.testing.assert_array_equal(acc.ask_fill, a)
        np.testing.assert_array_equal(acc.mid, s_after)
        q, mid = q_after, s_after
    assert acc.table.shape == (len(INFO_KEYS), n)
    if fee_bps == taker_bps == 0:
        assert not acc.fees.any()
