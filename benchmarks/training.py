"""Training throughput and quality: PPO and Q-learning on ``as2008`` and ``lob`` with fixed
wall-clock budgets, then the comparison with Avellaneda–Stoikov on common seeds; and PPO's
end-to-end env-steps/s for given settings, measured side by side.

    python benchmarks/training.py                       # 10 minutes per run, 4 runs
    python benchmarks/training.py --minutes 1 --markets as2008 --agents ppo
    python benchmarks/training.py --threads             # PPO steps/s with 1 and 2 torch threads
    python benchmarks/training.py --ppo-speed --markets wide as2008   # the default settings
    python benchmarks/training.py --ppo-speed --markets wide lob --repeats 5 --iterations 6 \\
        --case "agent=ppo_fast num_envs=128"        # the market presets' PPO
    python benchmarks/training.py --ppo-speed --markets wide --repeats 3 --iterations 4 \\
        --case "num_envs=64 agent.kwargs.n_steps=256 agent.kwargs.batch_size=2048" \\
        --case "num_envs=128 agent.kwargs.n_steps=128 agent.kwargs.batch_size=4096"

Prints, per run, the environment steps trained and the training steps/s (end to end: the
environment, the agent's updates, the logging; the evaluation excluded), and the comparison
table. Budget (issue 5):
PPO end to end at least 5,000 env-steps/s on 2 cores with the native vector env (aim).

``--ppo-speed`` trains the ``ppo`` agent config with each ``--case``'s Hydra overrides (on top
of the market's) for ``--iterations`` whole PPO iterations (``num_envs × n_steps`` steps
collected, then ``n_epochs`` passes of updates; the logging and VecNormalize of a normal run,
no checkpoints, no evaluation; more iterations if they hold fewer than 49,152 steps), the
cases interleaved ``--repeats`` times, and prints each case's median env-steps/s against the
budget of issue 14: PPO end to end at least 30,000 env-steps/s on this 2-core machine, on
``wide`` (default features) and on ``as2008``; and beside it the median env-steps per
CPU-second of the process, which, with one torch thread, is what an otherwise idle machine
gives when other work shares the cores.
Runs write under ``runs/benchmark/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from mmgym.kit.config import CONF_MODULE, register
from mmgym.kit.training import train

OUT = Path(__file__).resolve().parents[1] / "runs" / "benchmark"
PPO_BUDGET = 30_000
"""PPO end-to-end env-steps/s (issue 14)."""
MIN_STEPS = 49_152
"""Env steps of one ``--ppo-speed`` run at least (3 iterations of 128 envs x 128 steps)."""
_K = "agent.kwargs"
_BASE = f"num_envs=128 {_K}.n_steps=128 {_K}.batch_size=4096"
PPO_CASES = (
    "",  # the ppo config as it is
    f"num_envs=16 {_K}.n_steps=1024 {_K}.batch_size=2048",
    f"num_envs=64 {_K}.n_steps=256 {_K}.batch_size=2048",
    f"num_envs=128 {_K}.n_steps=128 {_K}.batch_size=2048",
    f"num_envs=256 {_K}.n_steps=64 {_K}.batch_size=2048",
    f"num_envs=128 {_K}.n_steps=128 {_K}.batch_size=512",
    _BASE,
    f"num_envs=128 {_K}.n_steps=128 {_K}.batch_size=8192",
    f"{_BASE} {_K}.n_epochs=1",
    f"{_BASE} {_K}.n_epochs=3",
    f"{_BASE} {_K}.n_epochs=10",
    f"{_BASE} +agent.policy_kwargs.net_arch=[32,32]",
    f"{_BASE} +agent.policy_kwargs.net_arch=[128,128]",
    f"{_BASE} torch_threads=2",
    f"num_envs=256 {_K}.n_steps=64 {_K}.batch_size=8192",
    f"num_envs=256 {_K}.n_steps=64 {_K}.batch_size=8192 {_K}.n_epochs=3",
)
"""``--ppo-speed``'s default cases, Hydra overrides over the ``ppo`` agent config (5 epochs,
a [64, 64] network, 1 torch thread unless they say otherwise): its number of envs, batch
size, epochs, network and threads varied one at a time around 128 envs x 128 steps, batch
4,096, and two larger batches."""


def config(market: str, agent: str, *overrides: str) -> DictConfig:
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=[
            f"market={market}", f"agent={agent}", "total_timesteps=1000000000",
            "checkpoint_every=0", "progress=false", "experiment=benchmark", *overrides])


def run(market: str, agent: str, seconds: float, *overrides: str) -> tuple[int, float]:
    cfg = config(market, agent, f"time_limit_s={seconds}", *overrides)
    out = OUT / market / f"{agent}-{'-'.join(o.replace('=', '') for o in overrides) or 'run'}"
    train(cfg, out)
    summary = json.loads((out / "training.json").read_text())
    return summary["env_steps"], summary["seconds"]


def ppo_rate(market: str, case: str, iterations: int) -> tuple[float, float]:
    """PPO's end-to-end env-steps per second of wall-clock and per CPU-second of this
    process over ``iterations`` whole iterations (more if they hold fewer than
    :data:`MIN_STEPS`) with the overrides ``case`` (space-separated); the run's own printing
    is swallowed. An ``agent=<config>`` in ``case`` trains that agent config instead of
    ``ppo`` (e.g. ``agent=ppo_fast``, the market presets' agent)."""
    overrides = case.split()
    agent = next((o.split("=", 1)[1] for o in overrides if o.startswith("agent=")), "ppo")
    cfg = config(market, agent, "eval_episodes=0",
                 *(o for o in overrides if not o.startswith("agent=")))
    rollout = cfg.num_envs * cfg.agent.kwargs.n_steps
    cfg.total_timesteps = max(iterations, math.ceil(MIN_STEPS / rollout)) * rollout
    out = OUT / market / "ppo-speed"
    with contextlib.redirect_stdout(io.StringIO()):
        train(cfg, out)
    summary = json.loads((out / "training.json").read_text())
    return summary["env_steps"] / summary["seconds"], summary["env_steps"] / summary[
        "cpu_seconds"]


def ppo_speed(markets: list[str], cases: list[str], iterations: int, repeats: int) -> None:
    """Each case's median env-steps/s, the cases interleaved, against :data:`PPO_BUDGET`;
    beside it the median per CPU-second (what one torch thread gives on an idle machine,
    when other work shares the cores)."""
    for market in markets:
        rates: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
        for _ in range(repeats):
            for case in cases:
                rates[case].append(ppo_rate(market, case, iterations))
        print(f"\nPPO on {market}, {iterations} iterations a run: median of {repeats} "
              f"interleaved runs (budget {PPO_BUDGET:,} env-steps/s)")
        print(f"{'steps/s':>10}  {'verdict':<12}  {'per CPU-s':>10}  case (runs, steps/s)")
        for case, r in rates.items():
            wall = statistics.median(x[0] for x in r)
            cpu = statistics.median(x[1] for x in r)
            verdict = "ok" if wall >= PPO_BUDGET else "BELOW BUDGET"
            print(f"{wall:>10,.0f}  {verdict:<12}  {cpu:>10,.0f}  {case or '(the ppo config)'} "
                  f"({', '.join(f'{x[0]:,.0f}' for x in r)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--markets", nargs="+", default=None,
                        help="default: as2008 lob (--ppo-speed: wide as2008)")
    parser.add_argument("--agents", nargs="+", default=["ppo", "qlearning"])
    parser.add_argument("--threads", action="store_true",
                        help="only compare PPO's steps/s with 1 and 2 torch threads")
    parser.add_argument("--ppo-speed", action="store_true",
                        help="only PPO's env-steps/s for each --case")
    parser.add_argument("--case", action="append",
                        help="Hydra overrides of one --ppo-speed case (default: PPO_CASES)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.ppo_speed:
        ppo_speed(args.markets or ["wide", "as2008"], args.case or list(PPO_CASES),
                  args.iterations, args.repeats)
        return
    if args.threads:
        for threads in (1, 2, 1, 2):
            steps, seconds = run("as2008", "ppo", 60 * args.minutes,
                                 f"torch_threads={threads}", "eval_episodes=0")
            print(f"PPO, torch_threads={threads}: {steps / seconds:,.0f} env-steps/s")
        return
    for market in args.markets or ["as2008", "lob"]:
        for agent in args.agents:
            steps, seconds = run(market, agent, 60 * args.minutes)
            print(f"\n== {agent} on {market}: {steps:,} env-steps in {seconds:.0f} s of "
                  f"training: {steps / seconds:,.0f} env-steps/s\n")


if __name__ == "__main__":
    main()
