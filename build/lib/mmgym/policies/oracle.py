"""The oracle: a diagnostic market maker that reads the market's hidden state.

It is the reference for what perfect information is worth in a simulated market: it sees
what the informed traders trade on, the fundamental and whether an information event is
under way (never part of any observation; markets expose it through ``hidden_state()`` for
this purpose). Its quotes are those of the Avellaneda–Stoikov inventory strategy
(:class:`~mmgym.policies.ASInventory`, the same parameters as the ``as_inventory``
baseline) around the fundamental instead of the mid: the reservation price is
``v − q·γ·σ²·τ``, so that it sells only above what the stock is worth and buys only below,
whatever the book says (a quote through the book is placed one tick behind the opposite best
by the market's post-only rule). So the difference between the oracle and ``as_inventory`` on
common episodes is what knowing the fundamental is worth to that baseline, and its
difference to a signal-aware policy (``as_signals``, which reads the informed flow from the
observation's imbalance, OFI and VPIN) what the observation's signals recover of it. Offsets are in
the market's offset unit (ticks), ``tick`` price units each.

The oracle must be bound to the market it plays (:meth:`Oracle.bind`, which the evaluation's
rollout calls); a market without hidden state (``as2008``, ``replay``) cannot host it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmgym.policies.avellaneda_stoikov import ASInventory
from mmgym.validation import ConfigError, check_number


class Oracle:
    """AS inventory quotes around the fundamental; ``oracle``.

    Args:
        sigma, k, gamma, T, horizon, unit, feature_names: the AS inventory strategy's.
        tick: the price of one offset unit (the market's tick), price units.
    """

    name = "oracle"

    def __init__(
        self,
        *,
        sigma: float,
        k: float,
        gamma: float = 0.1,
        T: float | None = None,
        horizon: float | None = None,
        unit: float = 1.0,
        tick: float = 1.0,
        feature_names: tuple[str, ...] = ("time_remaining",),
    ) -> None:
        self.quotes = ASInventory(sigma=sigma, k=k, gamma=gamma, T=T, horizon=horizon,
                                  unit=unit, feature_names=feature_names)
        self.tick = check_number("tick", tick, low=0, low_open=True)
        self._market: Any = None

    def bind(self, market: Any) -> None:
        """Read the hidden state of ``market`` (a batched market with ``hidden_state()``)."""
        if not hasattr(market, "hidden_state"):
            raise ConfigError(f"policy 'oracle': market {market.name!r} has no hidden state "
                              "to read (it needs a simulated market with a fundamental: lob, "
                              "wide)")
        self._market = market

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        if self._market is None:
            raise RuntimeError("policy 'oracle': bind(market) it to the market it plays first")
        hidden = self._market.hidden_state()
        gap = (hidden["fundamental"] - hidden["mid"]) / self.tick  # offset units
        quotes = self.quotes(obs, info)
        quotes[:, 0] -= gap
        quotes[:, 1] += gap
        return quotes
