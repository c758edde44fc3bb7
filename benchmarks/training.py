"""Training throughput and quality: PPO and Q-learning on ``as2008`` and ``lob`` with fixed
wall-clock budgets, then the comparison with Avellaneda–Stoikov on common seeds.

    python benchmarks/training.py                       # 10 minutes per run, 4 runs
    python benchmarks/training.py --minutes 1 --markets as2008 --agents ppo
    python benchmarks/training.py --threads             # PPO steps/s with 1 and 2 torch threads

Prints, per run, the environment steps trained and the training steps/s (end to end: the
environment, the agent's updates, the logging; the evaluation excluded), and the comparison
table. Budget (issue 5):
PPO end to end at least 5,000 env-steps/s on 2 cores with the native vector env (aim).
Runs write under ``runs/benchmark/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hydra import compose, initialize_config_dir

from mmgym.cli import CONF_DIR
from mmgym.config import register
from mmgym.training import train

OUT = Path(__file__).resolve().parents[1] / "runs" / "benchmark"


def run(market: str, agent: str, seconds: float, *overrides: str) -> tuple[int, float]:
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[
            f"market={market}", f"agent={agent}", "total_timesteps=1000000000",
            f"time_limit_s={seconds}", "checkpoint_every=0", "progress=false",
            "experiment=benchmark", *overrides])
    out = OUT / market / f"{agent}-{'-'.join(o.replace('=', '') for o in overrides) or 'run'}"
    train(cfg, out)
    summary = json.loads((out / "training.json").read_text())
    return summary["env_steps"], summary["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--markets", nargs="+", default=["as2008", "lob"])
    parser.add_argument("--agents", nargs="+", default=["ppo", "qlearning"])
    parser.add_argument("--threads", action="store_true",
                        help="only compare PPO's steps/s with 1 and 2 torch threads")
    args = parser.parse_args()
    if args.threads:
        for threads in (1, 2, 1, 2):
            steps, seconds = run("as2008", "ppo", 60 * args.minutes,
                                 f"torch_threads={threads}", "eval_episodes=0")
            print(f"PPO, torch_threads={threads}: {steps / seconds:,.0f} env-steps/s")
        return
    for market in args.markets:
        for agent in args.agents:
            steps, seconds = run(market, agent, 60 * args.minutes)
            print(f"\n== {agent} on {market}: {steps:,} env-steps in {seconds:.0f} s of "
                  f"training: {steps / seconds:,.0f} env-steps/s\n")


if __name__ == "__main__":
    main()
