"""Market models, batched over ``n`` environments, by config name."""

from __future__ import annotations

from typing import Any

from mmgym.markets.as2008 import AS2008Market, AS2008Params
from mmgym.markets.base import LOBStep, Market, MarketStep
from mmgym.markets.lob import LOBMarket, LOBParams
from mmgym.markets.replay import ReplayMarket, ReplayParams
from mmgym.markets.wide import WideMarket, WideParams
from mmgym.validation import check_choice

MARKETS: dict[str, type] = {m.name: m for m in (AS2008Market, LOBMarket, ReplayMarket,
                                                 WideMarket)}


def make_market(name: str, n: int, **params: Any) -> Market:
    """Build ``n`` copies of the market ``name`` with the given parameters."""
    check_choice("market", name, MARKETS)
    return MARKETS[name](n, **params)


__all__ = [
    "MARKETS",
    "AS2008Market",
    "AS2008Params",
    "LOBMarket",
    "LOBParams",
    "LOBStep",
    "Market",
    "MarketStep",
    "ReplayMarket",
    "ReplayParams",
    "WideMarket",
    "WideParams",
    "make_market",
]
