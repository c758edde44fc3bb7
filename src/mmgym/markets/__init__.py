"""Market models, batched over ``n`` environments, by config name."""

from __future__ import annotations

from typing import Any

from mmgym.markets.as2008 import AS2008Market, AS2008Params
from mmgym.markets.base import Market, MarketStep
from mmgym.validation import check_choice

MARKETS: dict[str, type] = {AS2008Market.name: AS2008Market}


def make_market(name: str, n: int, **params: Any) -> Market:
    """Build ``n`` copies of the market ``name`` with the given parameters."""
    check_choice("market", name, MARKETS)
    return MARKETS[name](n, **params)


__all__ = ["MARKETS", "AS2008Market", "AS2008Params", "Market", "MarketStep", "make_market"]
