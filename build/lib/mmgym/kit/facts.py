"""The economics of a simulated market, measured: who earns, what information is worth and
what the observation's signals add, on common seeded episodes with paired intervals.

Every simulated market states these facts (``benchmarks/economics.py`` prints them, a test
asserts them); each is a number with its 95% bootstrap interval (BCa, resampling episodes;
paired differences resample the episodes jointly, :class:`~mmgym.evaluation.metrics.Bootstrap`):

* ``no_quote`` earns exactly 0 (a policy that never trades);
* the best analytic baseline (``as_inventory``, ``as_symmetric``, ``glft``, ``glft_exact``,
  ``cartea_jaimungal``, with the market config's σ, A, k and γ; the best being the one whose
  interval's lower end is highest: the surest earner) earns more than 0 where market making
  is a business (``wide``), and on ``lob`` no baseline beats never quoting;
* the oracle (:class:`~mmgym.policies.Oracle`, the AS strategy around the hidden
  fundamental) earns more than the best signal-blind baseline (the analytic ones and
  ``fixed_spread``, which read only inventory and time): what perfect information is worth;
* ``as_signals`` (the AS strategy with the observation's imbalance skew and flow gate) earns
  more than ``as_inventory``: what the signals recover of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mmgym.evaluation.metrics import Bootstrap, mean
from mmgym.evaluation.rollout import run_episodes
from mmgym.kit.config import env_kwargs
from mmgym.kit.lineup import baseline

ANALYTIC = ("as_inventory", "as_symmetric", "glft", "glft_exact", "cartea_jaimungal")
"""The analytic baselines, with the market's model parameters."""
SIGNAL_BLIND = (*ANALYTIC, "fixed_spread")
"""The baselines that read only inventory and time."""
LINEUP = (*SIGNAL_BLIND, "as_signals", "obi_skew", "rule_based", "oracle", "no_quote")
"""Every policy a market's facts play."""
SLOW = {"lob": ("glft_exact", "cartea_jaimungal")}
"""Policies left out of a market's facts: the exact solutions at ``lob``'s inventory bound (50
orders) take minutes per episode batch (a matrix exponential per step of 3,000)."""


@dataclass(frozen=True)
class Fact:
    """One measured statement: ``value`` [``low``, ``high``] (95%), and whether it holds
    (None: a measurement the market makes no claim about)."""

    statement: str
    value: float
    low: float
    high: float
    holds: bool | None

    def __str__(self) -> str:
        mark = {True: "holds", False: "DOES NOT HOLD", None: "(measured)"}[self.holds]
        return f"{self.statement}: {self.value:.4g} [{self.low:.4g}, {self.high:.4g}]  {mark}"


def play(cfg: Any, episodes: int, seed: int = 0,
         progress: bool = False) -> dict[str, np.ndarray]:
    """The PnL per episode (price units) of every policy of :data:`LINEUP` on the episodes of
    seeds ``seed .. seed + episodes − 1`` of the market of ``cfg`` (an evaluation config:
    its ``market`` and ``reward``)."""
    kwargs = env_kwargs(cfg)
    pnl = {}
    names = [n for n in LINEUP if n not in SLOW.get(cfg.market.name, ())]
    for name in tqdm(names, desc=cfg.market.name, disable=not progress, leave=False):
        c = baseline(name, cfg.market)
        pnl[name] = run_episodes(c.policy, episodes, seed=seed,
                                 **(kwargs | c.observation))["pnl"].to_numpy()
    return pnl


def market_facts(pnl: dict[str, np.ndarray], market: str,
                 boot: Bootstrap | None = None) -> list[Fact]:
    """The facts (module doc) of ``market`` from the PnL of :func:`play`."""
    boot = boot or Bootstrap()
    levels = {name: boot.estimate(mean, x) for name, x in pnl.items()}  # each bootstrapped once

    def level(name: str) -> tuple[float, float, float]:
        return levels[name]

    def paired(a: str, b: str) -> tuple[float, float, float]:
        return boot.estimate(mean, pnl[a], pnl[b])

    never = pnl["no_quote"]
    out = [Fact("no_quote: largest |PnL| of an episode (exactly 0)",
                float(np.abs(never).max()), 0.0, 0.0, bool(np.all(never == 0.0)))]
    best = max((n for n in ANALYTIC if n in pnl), key=lambda n: level(n)[1])
    blind = max((n for n in SIGNAL_BLIND if n in pnl), key=lambda n: pnl[n].mean())
    if market == "lob":
        for name in (n for n in LINEUP if n in pnl and n not in ("no_quote", "oracle")):
            v, lo, hi = level(name)
            out.append(Fact(f"{name}: mean PnL, not above never quoting's 0", v, lo, hi,
                            v <= 0.0))
        least = max((n for n in pnl if n not in ("no_quote", "oracle")),
                    key=lambda n: pnl[n].mean())
        v, lo, hi = level(least)
        out.append(Fact(f"the baseline that loses least: {least}", v, lo, hi, v <= 0.0))
    else:
        v, lo, hi = level(best)
        out.append(Fact(f"best analytic baseline ({best}): mean PnL above 0", v, lo, hi,
                        lo > 0.0))
    claims = market != "lob"  # on lob nobody earns: the differences are measured only
    v, lo, hi = paired("oracle", blind)
    out.append(Fact(f"oracle − best signal-blind baseline ({blind}): mean PnL difference",
                    v, lo, hi, lo > 0.0 if claims else None))
    v, lo, hi = paired("as_signals", "as_inventory")
    out.append(Fact("as_signals − as_inventory: mean PnL difference", v, lo, hi,
                    lo > 0.0 if claims else None))
    return out


def table(pnl: dict[str, np.ndarray], boot: Bootstrap | None = None) -> list[str]:
    """One line per policy: its mean PnL per episode with the 95% interval."""
    boot = boot or Bootstrap()
    lines = []
    for name in sorted(pnl, key=lambda n: -pnl[n].mean()):
        v, lo, hi = boot.estimate(mean, pnl[name])
        lines.append(f"  {name:18s}{v:12.4g}  [{lo:.4g}, {hi:.4g}]")
    return lines
