"""Cash, inventory, fees and mark-to-market PnL with its split, shared by every market.

For each step, with mid ``s`` when the quotes were set, mid ``s'`` after the step, inventory
``q`` before and ``q' = q + b − a`` after the bid fills ``b`` and ask fills ``a`` (notionals
``N_b``, ``N_a``: price × size summed over the fills), the change in mark-to-market PnL
(cash + q·mid) splits exactly into

    spread capture   (b·s − N_b) + (N_a − a·s)   what the fills earned against the mid
    inventory PnL    q'·(s' − s)                 the position marked to the mid's move
    fees             f_m·(N − N_t) + f_t·N_t     N = N_b + N_a, N_t its taker part

    ΔPnL = spread capture + inventory PnL − fees,

with the maker fee ``f_m = maker_fee_bps / 10,000`` on the notional of the fills that made
liquidity (the agent's resting orders) and the taker fee ``f_t = taker_fee_bps / 10,000`` on
the notional ``N_t`` of those that took it (a crossing order in a market that lets it trade at
once, :attr:`~mmgym.markets.base.MarketStep.taker_notional`). A negative fee is a rebate
(negative fees); exchanges commonly pay makers a rebate and charge takers. All quantities
start at zero at the beginning of an episode; ``pnl`` is therefore the PnL since the episode
start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mmgym.markets.base import MarketStep

INFO_KEYS: tuple[str, ...] = (
    "inventory",
    "cash",
    "mid",
    "pnl",
    "pnl_spread",
    "pnl_inventory",
    "fees",
    "bid_fill",
    "ask_fill",
    "bid_price",
    "ask_price",
)
"""The per-environment ``info`` keys of every mmgym environment, in this order."""

# rows of Accounts.table and Accounts.changes
_INVENTORY, _CASH, _MID, _PNL, _SPREAD, _INV_PNL, _FEES, _BID_FILL, _ASK_FILL, _BID, _ASK = (
    range(len(INFO_KEYS))
)
_BEFORE, _PNL_CHANGE, _SPREAD_CHANGE, _INV_PNL_CHANGE, _FEES_CHANGE = range(5)


class Accounts:
    """Accounting state of ``n`` environments.

    The state lives in one ``(len(INFO_KEYS), n)`` float array, ``table``, whose rows are the
    ``info`` quantities by name (``inventory`` in size units, the others in price units,
    cumulative since the episode start except the fills and quotes, which are this step's).
    The per-step changes of the last :meth:`settle` are kept as attributes ending ``_change``.

    Args:
        n: number of environments.
        maker_fee_bps: fee on the notional of the agent's maker fills, in basis points;
            negative is a rebate.
        taker_fee_bps: fee on the notional of its taker fills, in basis points; negative is a
            rebate.
        table, changes: zeroed arrays of shape ``(len(INFO_KEYS), n)`` and ``(5, n)`` to keep
            the state in (views of a multi-asset core's arrays), or None for new ones.
    """

    def __init__(self, n: int, maker_fee_bps: float, taker_fee_bps: float = 0.0,
                 table: np.ndarray | None = None, changes: np.ndarray | None = None) -> None:
        self.fee_rate = maker_fee_bps * 1e-4
        self.taker_fee_rate = taker_fee_bps * 1e-4
        self.table = np.zeros((len(INFO_KEYS), n)) if table is None else table
        (
            self.inventory, self.cash, self.mid, self.pnl, self.pnl_spread, self.pnl_inventory,
            self.fees, self.bid_fill, self.ask_fill, self.bid_price, self.ask_price,
        ) = self.table
        self.changes = np.zeros((5, n)) if changes is None else changes
        (
            self.inventory_before, self.pnl_change, self.spread_change,
            self.inventory_pnl_change, self.fees_change,
        ) = self.changes

    def reset(self, mask: np.ndarray, mid: np.ndarray) -> None:
        """Zero the masked environments' accounts; their mid is ``mid[mask]``."""
        self.table[:, mask] = 0.0
        self.table[_BID : _ASK + 1, mask] = np.nan
        self.changes[:, mask] = 0.0
        self.mid[mask] = mid[mask]

    def settle(self, step: MarketStep) -> None:
        """Book one market step: fills into cash and inventory, then the PnL split."""
        _settle(
            self.table, self.changes, step.mid_before, step.mid, step.prices, step.fills,
            step.notional, step.taker_notional, self.fee_rate, self.taker_fee_rate,
        )


@njit(cache=True)
def _settle(
    table: np.ndarray,
    changes: np.ndarray,
    s: np.ndarray,
    s_after: np.ndarray,
    prices: np.ndarray,
    fills: np.ndarray,
    notional: np.ndarray,
    taker_notional: np.ndarray,
    fee_rate: float,
    taker_fee_rate: float,
) -> None:
    """The step's bookings of :meth:`Accounts.settle`, one environment at a time: ``table``
    and ``changes`` as in :class:`Accounts`, the other arrays those of the
    :class:`~mmgym.markets.base.MarketStep`."""
    for i in range(table.shape[1]):
        q = table[_INVENTORY, i]
        changes[_BEFORE, i] = q
        b, a = fills[0, i], fills[1, i]
        table[_BID_FILL, i] = b
        table[_ASK_FILL, i] = a
        table[_BID, i] = prices[0, i]
        table[_ASK, i] = prices[1, i]
        table[_MID, i] = s_after[i]
        flow = b - a
        q += flow
        table[_INVENTORY, i] = q
        # net notional N_a − N_b: the cash from the fills, before fees
        net = notional[1, i] - notional[0, i]
        cash = table[_CASH, i] + net
        # spread capture (b − a)·s + N_a − N_b; inventory PnL q'·(s' − s)
        spread = flow * s[i] + net
        inventory_pnl = (s_after[i] - s[i]) * q
        change = spread + inventory_pnl
        if fee_rate or taker_fee_rate:
            taken = taker_notional[0, i] + taker_notional[1, i]
            fees = (notional[0, i] + notional[1, i] - taken) * fee_rate
            if taker_fee_rate:
                fees += taken * taker_fee_rate
            cash -= fees
            change -= fees
            changes[_FEES_CHANGE, i] = fees
            table[_FEES, i] += fees
        changes[_PNL_CHANGE, i] = change
        changes[_SPREAD_CHANGE, i] = spread
        changes[_INV_PNL_CHANGE, i] = inventory_pnl
        table[_SPREAD, i] += spread
        table[_INV_PNL, i] += inventory_pnl
        table[_CASH, i] = cash
        # mark to market, cash + q·mid (the sum of the parts, up to rounding)
        table[_PNL, i] = q * s_after[i] + cash
