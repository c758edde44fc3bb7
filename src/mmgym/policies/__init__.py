"""Analytic and rule-based market makers behind one interface, by name.

``make(name, **params)`` builds a policy; ``policy(obs, info) -> actions`` for a batch.
"""

from __future__ import annotations

from typing import Any

from mmgym.policies.avellaneda_stoikov import ASInventory, ASSymmetric
from mmgym.policies.base import Policy, market_params
from mmgym.policies.gated import DetectorGated
from mmgym.policies.inventory_models import CarteaJaimungal, GLFTApprox, GLFTExact
from mmgym.policies.multi_asset import CrossImbalance, Independent, LeadLag, MultiGLFT
from mmgym.policies.oracle import Oracle
from mmgym.policies.order_book_imbalance import OBISkew, OBISkewInventory
from mmgym.policies.predicted import PredictedSpread
from mmgym.policies.rule_based import RuleBased
from mmgym.policies.signals import SignalAS
from mmgym.policies.simple import FixedSpread, NoQuote, RandomQuotes, SkewedSpread
from mmgym.registry import POLICIES
from mmgym.validation import make_registered

for _policy in (
        ASInventory,
        ASSymmetric,
        GLFTApprox,
        GLFTExact,
        CarteaJaimungal,
        OBISkew,
        OBISkewInventory,
        RuleBased,
        FixedSpread,
        RandomQuotes,
        NoQuote,
        SignalAS,
        Oracle,
        DetectorGated,
        PredictedSpread,
        SkewedSpread,
        Independent,
        MultiGLFT,
        LeadLag,
        CrossImbalance,
):
    POLICIES.add(_policy)


def make(name: str, **params: Any) -> Policy:
    """The policy ``name`` with its parameters."""
    return make_registered("policy", POLICIES, name, params, f"policy {name!r}")


__all__ = [
    "POLICIES",
    "ASInventory",
    "ASSymmetric",
    "CarteaJaimungal",
    "CrossImbalance",
    "DetectorGated",
    "FixedSpread",
    "GLFTApprox",
    "GLFTExact",
    "Independent",
    "LeadLag",
    "MultiGLFT",
    "NoQuote",
    "OBISkew",
    "OBISkewInventory",
    "Oracle",
    "Policy",
    "PredictedSpread",
    "RandomQuotes",
    "RuleBased",
    "SignalAS",
    "SkewedSpread",
    "make",
    "market_params",
]
