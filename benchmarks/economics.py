"""The economics of the simulated markets, measured (:mod:`mmgym.kit.facts`).

    python benchmarks/economics.py                    # wide and lob, 1,000 episodes each
    python benchmarks/economics.py --markets wide --episodes 2000

For each market: every policy of the lineup on the same seeded episodes (seeds 0 ..
episodes − 1, the market configs of ``conf/market/``), its mean PnL per episode with the 95%
BCa interval, then the facts with their paired intervals and whether each holds.
"""

from __future__ import annotations

import argparse
import time

from hydra import compose, initialize_config_module

from mmgym.kit.config import CONF_MODULE, register
from mmgym.kit.facts import market_facts, play, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", nargs="+", default=["wide", "lob"])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=10_000)
    args = parser.parse_args()
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        for market in args.markets:
            cfg = compose("evaluate", overrides=[f"market={market}"])
            started = time.perf_counter()
            pnl = play(cfg, args.episodes, args.seed, progress=True)
            print(f"\n{market}: {args.episodes} common episodes (seeds {args.seed}–"
                  f"{args.seed + args.episodes - 1}), mean PnL per episode [95% interval], "
                  f"{time.perf_counter() - started:.0f} s")
            print("\n".join(table(pnl)))
            for fact in market_facts(pnl, market):
                print(f"  {fact}")


if __name__ == "__main__":
    main()
