"""Cash, inventory, fees and mark-to-market PnL with its split, shared by every market.

For each step, with mid ``s`` when the quotes were set, mid ``s'`` after the step, inventory
``q`` before and ``q' = q + b − a`` after the bid fills ``b`` and ask fills ``a`` (notionals
``N_b``, ``N_a``: price × size summed over the fills), the change in mark-to-market PnL
(cash + q·mid) splits exactly into

    spread capture   (b·s − N_b) + (N_a − a·s)   what the fills earned against the mid
    inventory PnL    q'·(s' − s)                 the position marked to the mid's move
    fees             f·(N_b + N_a)               maker fee, f = maker_fee_bps / 10,000

    ΔPnL = spread capture + inventory PnL − fees.

A negative ``maker_fee_bps`` is a rebate (negative fees). All quantities start at zero at the
beginning of an episode; ``pnl`` is therefore the PnL since the episode start.
"""

from __future__ import annotations

import numpy as np

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


class Accounts:
    """Accounting state of ``n`` environments.

    The state lives in one ``(len(INFO_KEYS), n)`` float array, ``table``, whose rows are the
    ``info`` quantities by name (``inventory`` in size units, the others in price units,
    cumulative since the episode start except the fills and quotes, which are this step's).
    The per-step changes of the last :meth:`settle` are kept as attributes ending ``_change``.

    Args:
        n: number of environments.
        maker_fee_bps: fee on the notional of the agent's fills, in basis points; negative is a
            rebate.
    """

    def __init__(self, n: int, maker_fee_bps: float) -> None:
        self.fee_rate = maker_fee_bps * 1e-4
        self.table = np.zeros((len(INFO_KEYS), n))
        row = {k: i for i, k in enumerate(INFO_KEYS)}
        t = self.table
        self.inventory, self.cash, self.mid, self.pnl = (
            t[row[k]] for k in ("inventory", "cash", "mid", "pnl")
        )
        self.parts = t[row["pnl_spread"] : row["fees"] + 1]
        self.pnl_spread, self.pnl_inventory, self.fees = self.parts
        self.fills = t[row["bid_fill"] : row["ask_fill"] + 1]
        self.bid_fill, self.ask_fill = self.fills
        self.prices = t[row["bid_price"] : row["ask_price"] + 1]
        self.bid_price, self.ask_price = self.prices
        self.changes = np.zeros((5, n))
        self.inventory_before, self.pnl_change = self.changes[:2]
        self.part_changes = self.changes[2:]
        self.spread_change, self.inventory_pnl_change, self.fees_change = self.part_changes
        self._flow = np.empty(n)
        self._net = np.empty(n)

    def reset(self, mask: np.ndarray, mid: np.ndarray) -> None:
        """Zero the masked environments' accounts; their mid is ``mid[mask]``."""
        self.table[:, mask] = 0.0
        self.prices[:, mask] = np.nan
        self.changes[:, mask] = 0.0
        self.mid[mask] = mid[mask]

    def settle(self, step: MarketStep) -> None:
        """Book one market step: fills into cash and inventory, then the PnL split."""
        s, flow, notional = step.mid_before, self._flow, step.notional
        self.inventory_before[...] = self.inventory
        self.fills[...] = step.fills
        self.prices[...] = step.prices
        self.mid[...] = step.mid
        np.subtract(step.fills[0], step.fills[1], out=flow)
        self.inventory += flow
        # net notional N_a − N_b: the cash from the fills, before fees
        net = self._net
        np.subtract(notional[1], notional[0], out=net)
        self.cash += net
        # spread capture: (b − a)·s + N_a − N_b
        d = self.spread_change
        np.multiply(flow, s, out=d)
        d += net
        # inventory PnL: q'·(s' − s)
        i = self.inventory_pnl_change
        np.subtract(step.mid, s, out=i)
        i *= self.inventory
        np.add(d, i, out=self.pnl_change)
        if self.fee_rate:
            f = self.fees_change
            np.add(notional[0], notional[1], out=f)
            f *= self.fee_rate
            self.cash -= f
            self.pnl_change -= f
        self.parts += self.part_changes
        # mark to market, cash + q·mid (the sum of the parts, up to rounding)
        np.multiply(self.inventory, self.mid, out=self.pnl)
        self.pnl += self.cash
