"""Crash safety under SIGKILL: training runs killed at random moments leave their newest
checkpoint loadable and resumable.

    python benchmarks/kill_resume.py                    # 10 kills of each agent, seed 0
    python benchmarks/kill_resume.py --kills 3 --agents qlearning --seed 7

For each agent (Q-learning and PPO on ``as2008``, a checkpoint every fraction of a second),
each round starts ``train.py`` in one run directory (from the second round on continuing it,
``resume=<run directory>``), waits for its next checkpoint, sleeps a seeded random delay
spanning several checkpoint writes and kills it with SIGKILL. Then the newest checkpoint
(:func:`mmgym.kit.training.latest_checkpoint`) must load with the agent's own load, and a
run resumed from it (``resume=<checkpoint>``) must train one more stretch to completion.
Prints each round (the delay, the checkpoint, its step count, whether the kill landed
inside a write, i.e. left a temporary file); the first round that fails stops it with its
error.
``tests/test_crash_safety.py`` runs it (10 kills of each).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from mmgym.agents import QLearning
from mmgym.agents import sb3 as sb3_agents
from mmgym.kit.config import CONF_MODULE, action_form, env_kwargs, register
from mmgym.kit.training import latest_checkpoint, train
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["market=as2008", "eval_episodes=0", "progress=false"]
AGENTS = {  # overrides, the span of the random delays (s), the steps a resumed run adds
    "qlearning": (["agent=qlearning", "checkpoint_every=5000"], 1.0, 2000),
    "ppo": (["agent=ppo", "num_envs=2", "agent.kwargs.n_steps=128",
             "agent.kwargs.batch_size=128", "checkpoint_every=512"], 2.0, 256),
}
"""Q-learning checkpoints about every 0.1 s, PPO every 0.4 s on a 2-core machine."""


@dataclass
class Round:
    """One kill and its checks."""

    agent: str
    delay: float
    checkpoint: str
    steps: int
    in_write: bool
    resumed_to: int


def config(*overrides: str):
    """The training config with ``overrides``."""
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=[*COMMON, *overrides])


def _written(run: Path) -> tuple[str, int] | None:
    latest = latest_checkpoint(run)
    return None if latest is None else (str(latest), latest.stat().st_mtime_ns)


def kill(agent: str, run: Path, delay: float, timeout: float = 300) -> bool:
    """Start (or continue) a long training run of ``agent`` in ``run``, wait for its next
    checkpoint, sleep ``delay`` seconds and SIGKILL it. Returns whether the kill landed
    inside a write (it left a temporary file, then removed)."""
    before = _written(run)
    resume = [f"resume={run}"] if before else []
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    run.mkdir(parents=True, exist_ok=True)
    with (run.parent / f"{run.name}.stderr").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "train.py", *COMMON, *AGENTS[agent][0], "total_timesteps=1000000000",
             f"hydra.run.dir={run}", *resume],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while _written(run) == before:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{agent}: no checkpoint written; see {err.name}")
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    leftovers = list(run.rglob(".*.tmp"))
    for tmp in leftovers:
        tmp.unlink()
    return bool(leftovers)


def check(agent: str, run: Path, out: Path) -> tuple[Path, int, int]:
    """Load the newest checkpoint of ``run`` with the agent's own load, resume from it into
    ``out`` for a short stretch; return the checkpoint, its steps and the resumed run's."""
    overrides, _, extra = AGENTS[agent]
    latest = latest_checkpoint(run)
    assert latest is not None, f"{run}: no checkpoint"
    cfg = config(*overrides)
    if cfg.agent.algo == "qlearning":
        steps = QLearning.load(latest).steps
    else:
        venv = MarketMakingSB3VecEnv(cfg.num_envs, **env_kwargs(cfg), **action_form(cfg.agent),
                                     info_dicts=False)
        steps = sb3_agents.load(cfg.agent.algo, latest, venv).num_timesteps
    resumed = config(*overrides, f"resume={latest}", f"total_timesteps={steps + extra}")
    with contextlib.redirect_stdout(io.StringIO()):
        train(resumed, out)
    if cfg.agent.algo == "qlearning":
        final = QLearning.load(out / "qtable.npz").steps
    else:
        final = sb3_agents.algorithm(cfg.agent.algo).load(out / "model.zip").num_timesteps
    assert final >= steps + extra, (final, steps + extra)
    return latest, steps, final


def kill_and_resume(agents: list[str], kills: int, seed: int, root: Path) -> list[Round]:
    """``kills`` rounds of :func:`kill` and :func:`check` for each of ``agents``, the delays
    drawn from ``seed``, under ``root``."""
    rng = np.random.default_rng(seed)
    rounds = []
    for agent in agents:
        run = root / agent / "run"
        for i in range(kills):
            delay = float(rng.uniform(0, AGENTS[agent][1]))
            in_write = kill(agent, run, delay)
            latest, steps, final = check(agent, run, root / agent / f"resumed_{i}")
            rounds.append(Round(agent, delay, latest.name, steps, in_write, final))
            print(f"{agent} kill {i + 1}/{kills}: after {delay:.2f} s, newest {latest.name} "
                  f"({steps:,} steps){' [inside a write]' if in_write else ''}, resumed to "
                  f"{final:,}", flush=True)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per agent")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--seed", type=int, default=0, help="seeds the delays")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        rounds = kill_and_resume(args.agents, args.kills, args.seed, Path(root))
    inside = sum(r.in_write for r in rounds)
    print(f"{len(rounds)}/{args.kills * len(args.agents)} kills: the newest checkpoint loaded and "
          f"resumed ({inside} inside a write)")


if __name__ == "__main__":
    main()
