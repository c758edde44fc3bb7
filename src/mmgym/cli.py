"""Console entry points ``mmgym-train`` and ``mmgym-evaluate`` (also ``train.py`` and
``evaluate.py`` at the repository root)."""

from __future__ import annotations

import argparse

import pandas as pd

from mmgym import policies
from mmgym.evaluation import run_episodes
from mmgym.markets import AS2008Params


def as2008_table(gamma: float = 0.1, episodes: int = 1_000, seed: int = 0) -> pd.DataFrame:
    """Avellaneda–Stoikov's inventory and symmetric strategies on ``as2008`` (defaults of the
    paper's section 3.3), in the layout of the paper's tables: average spread, profit and its
    std, final inventory and its std, over ``episodes`` common seeded paths."""
    market = AS2008Params()
    rows = {}
    for name in ("as_inventory", "as_symmetric"):
        policy = policies.make(name, gamma=gamma, sigma=market.sigma, k=market.k, T=market.T)
        r = run_episodes(policy, episodes, seed=seed, reward_fn="pnl")
        rows[name] = {
            "average spread": r["spread"].mean(),
            "profit": r["pnl"].mean(),
            "std(profit)": r["pnl"].std(),
            "final q": r["inventory"].mean(),
            "std(final q)": r["inventory"].std(),
        }
    return pd.DataFrame(rows).T


def train(argv: list[str] | None = None) -> None:
    """The main job. Training lands with the training-kit issue; until then it runs the
    Avellaneda–Stoikov baselines on ``as2008`` and prints their table."""
    parser = argparse.ArgumentParser(prog="mmgym-train", description=train.__doc__)
    parser.add_argument("--gamma", type=float, default=0.1)
    parser.add_argument("--episodes", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("mmgym-train: agent training is not yet available (training-kit issue); running the "
          "Avellaneda-Stoikov baselines on as2008 instead.\n")
    print(f"as2008 (Avellaneda & Stoikov 2008, section 3.3), gamma={args.gamma}, "
          f"{args.episodes} paths, seeds {args.seed}..{args.seed + args.episodes - 1}")
    table = as2008_table(args.gamma, args.episodes, args.seed)
    print(table.to_string(float_format="{:.2f}".format))


def evaluate(argv: list[str] | None = None) -> None:
    """Policy comparison: not yet available (evaluation-kit issue)."""
    argparse.ArgumentParser(prog="mmgym-evaluate", description=evaluate.__doc__).parse_args(argv)
    print("mmgym-evaluate: not yet available (evaluation-kit issue).")
