"""The economics of the simulated markets, measured on common seeded episodes with paired
intervals (:mod:`mmgym.kit.facts`): the facts ``benchmarks/economics.py`` prints."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from mmgym.evaluation.rollout import run_episodes
from mmgym.kit.config import CONF_MODULE, register
from mmgym.kit.facts import Fact, market_facts, play
from mmgym.kit.lineup import baseline

SEED = 10_000  # disjoint from the seeds the policies' parameters were chosen on (0-399)


def config(market: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("evaluate", overrides=[f"market={market}"])


@pytest.mark.parametrize("market", ["wide", "lob", "as2008"])
def test_never_quoting_earns_exactly_zero(market: str) -> None:
    from mmgym.kit.config import env_kwargs

    cfg = config(market)
    c = baseline("no_quote", cfg.market)
    r = run_episodes(c.policy, 20, seed=SEED, **(env_kwargs(cfg) | c.observation))
    assert (r["pnl"] == 0).all() and (r["fills"] == 0).all() and (r["volume"] == 0).all()


def test_a_fact_that_fails_says_so() -> None:
    pnl = {name: np.full(50, 1.0) for name in
           ("as_inventory", "as_symmetric", "glft", "glft_exact", "cartea_jaimungal",
            "fixed_spread", "as_signals", "obi_skew", "rule_based", "oracle", "no_quote")}
    pnl["no_quote"] = np.zeros(50)
    pnl["oracle"] = np.linspace(0.0, 1.8, 50)  # no better than the baselines on average
    facts = {f.statement.split(":")[0]: f for f in market_facts(pnl, "wide")}
    assert facts["no_quote"].holds
    oracle = next(f for name, f in facts.items() if name.startswith("oracle"))
    assert oracle.holds is False and abs(oracle.value - (0.9 - 1.0)) < 1e-12
    assert "DOES NOT HOLD" in str(oracle)


def _holding(facts: list[Fact]) -> None:
    for fact in facts:
        assert fact.holds is not False, str(fact)


@pytest.mark.slow
def test_wide_market_facts_on_a_thousand_episodes() -> None:
    facts = market_facts(play(config("wide"), 1000, SEED), "wide")
    _holding(facts)
    assert sum(f.holds is True for f in facts) == 4


@pytest.mark.slow
def test_lob_market_nobody_beats_never_quoting() -> None:
    facts = market_facts(play(config("lob"), 1000, SEED), "lob")
    _holding(facts)
