"""Market models, batched over ``n`` environments, by config name."""

from __future__ import annotations

from typing import Any

from mmgym.markets.as2008 import AS2008Market, AS2008Params
from mmgym.markets.base import LOBStep, Market, MarketStep
from mmgym.markets.lob import LOBMarket, LOBParams
from mmgym.markets.multi import MultiAssetMarket, MultiAssetParams
from mmgym.markets.replay import ReplayMarket, ReplayParams
from mmgym.markets.wide import WideMarket, WideParams
from mmgym.registry import MARKETS

for _market in (AS2008Market, LOBMarket, ReplayMarket, WideMarket, MultiAssetMarket):
    MARKETS.add(_market)


def make_market(name: str, n: int, **params: Any) -> Market:
    """Build ``n`` copies of the market ``name`` (registered, or an import path) with the
    given parameters."""
    return MARKETS.lookup("market", name)(n, **params)


__all__ = [
    "MARKETS",
    "AS2008Market",
    "AS2008Params",
    "LOBMarket",
    "LOBParams",
    "LOBStep",
    "Market",
    "MarketStep",
    "MultiAssetMarket",
    "MultiAssetParams",
    "ReplayMarket",
    "ReplayParams",
    "WideMarket",
    "WideParams",
    "make_market",
]
