"""Observation features by name.

| name | value | unit / normalisation | markets |
|---|---|---|---|
| ``inventory`` | q / max_inventory | [−1, 1] | all |
| ``time_remaining`` | (T − t)/T | [0, 1] | all |
| ``volatility`` | realized volatility of the mid | bps/√s | all |
| ``garman_klass`` | Garman–Klass volatility of mid bars | bps/√s | all |
| ``imbalance`` | depth imbalance of the top levels | [−1, 1] | with a book |
| ``ofi`` | order-flow imbalance (Cont–Kukanov–Stoikov) | best-level queues | with a book |
| ``vpin`` | VPIN (Easley–López de Prado–O'Hara) | [0, 1] | with a book |
| ``microprice`` | weighted mid − mid | ticks | with a book |
| ``mid_return`` | log return of the mid over a window | bps | all |
| ``spread`` | best ask − best bid | ticks | with a book |
| ``trade_rate`` | market orders per second | 1/s | with a book |
| ``cumulative_delta`` | buy − sell volume since the start | max_inventory | with a book |
| ``depth_ratio`` | volume within the best k levels / all visible levels | [0, 1] | with a book |
| ``queue_pressure`` | change of best bid − best ask volume over a window | queues/s | with a book |
| ``avg_trade_size`` | volume per market order over a window | quote_size | with a book |
| ``spread_zscore`` | (spread − rolling mean) / rolling std | dimensionless | with a book |
| ``adverse_bid``, ``adverse_ask`` | detector P(adverse) of a bid, ask fill | [0, 1] | its inputs' |

Parameters go through the environment's ``feature_params`` argument, e.g.
``feature_params={"ofi": {"window": 100}}``.
"""

from __future__ import annotations

from mmgym.features.base import Feature, FeatureInputs
from mmgym.features.detector import AdverseAsk, AdverseBid
from mmgym.features.market import (
    OFI,
    AvgTradeSize,
    CumulativeDeltaFeature,
    DepthRatio,
    GarmanKlass,
    Imbalance,
    Microprice,
    MidReturn,
    QueuePressure,
    Spread,
    SpreadZScore,
    TradeArrivalRate,
    Volatility,
    VPINFeature,
)
from mmgym.features.state import Inventory, TimeRemaining
from mmgym.registry import FEATURES

for _feature in (
        Inventory,
        TimeRemaining,
        Volatility,
        GarmanKlass,
        Imbalance,
        OFI,
        VPINFeature,
        Microprice,
        MidReturn,
        Spread,
        TradeArrivalRate,
        CumulativeDeltaFeature,
        DepthRatio,
        QueuePressure,
        AvgTradeSize,
        SpreadZScore,
        AdverseBid,
        AdverseAsk,
):
    FEATURES.add(_feature)

__all__ = ["FEATURES", "Feature", "FeatureInputs"]
