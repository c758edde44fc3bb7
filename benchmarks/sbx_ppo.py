"""Where PPO's time goes, SB3's (torch) beside SBX's (JAX; not a dependency of mmgym): CPU
milliseconds per iteration in the rollout (``collect_rollouts``: the policy's forward pass and
the environment's steps) and in the update (``train``: ``n_epochs`` passes of minibatches).

    pip install sbx-rl==0.28.0     # in a venv of its own: it brings JAX (about 540 MB)
    python benchmarks/sbx_ppo.py --market as2008 --n-epochs 3

Both algorithms train on the training kit's environment chain
(``VecNormalize(VecMonitor(MarketMakingSB3VecEnv(..., info_dicts=False,
normalize_actions=True)), norm_reward=False)``), one thread each (XLA's
by ``--xla_cpu_multi_thread_eigen=false``, set before JAX is imported). Each model is built
once and warmed up by two iterations (JAX compiles its functions then); a run is then
``--iterations`` whole iterations of ``learn``, the two algorithms alternated ``--repeats``
times. Prints the medians, per iteration, of the rollout's and the update's CPU
milliseconds and of the whole iteration's wall-clock milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", default="wide")
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--n-epochs", type=int, default=3)
    parser.add_argument("--net", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"  # before JAX is imported
    import sbx
    import stable_baselines3
    import torch
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from mmgym.sb3_vec_env import MarketMakingSB3VecEnv

    torch.set_num_threads(1)

    def model(algo: Any) -> Any:
        adapter = MarketMakingSB3VecEnv(args.num_envs, market=args.market, info_dicts=False,
                                        normalize_actions=True)
        venv = VecNormalize(VecMonitor(adapter), norm_reward=False)
        venv.seed(0)
        return algo.PPO(
            "MlpPolicy", venv, n_steps=args.n_steps, batch_size=args.batch_size,
            n_epochs=args.n_epochs, gamma=0.999, seed=0, device="cpu",
            policy_kwargs={"net_arch": list(args.net)})

    def timed(f: Callable[..., Any], spent: dict[str, float], key: str) -> Callable[..., Any]:
        def run(*a: Any, **kw: Any) -> Any:
            started = time.process_time()
            result = f(*a, **kw)
            spent[key] += time.process_time() - started
            return result
        return run

    steps = args.num_envs * args.n_steps
    models = {"SB3 PPO": model(stable_baselines3), "SBX PPO": model(sbx)}
    for m in models.values():
        m.learn(2 * steps)  # warm-up: JAX compiles here
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, m in models.items():
            spent = {"rollout": 0.0, "update": 0.0}
            m.collect_rollouts = timed(type(m).collect_rollouts.__get__(m), spent, "rollout")
            m.train = timed(type(m).train.__get__(m), spent, "update")
            wall = time.perf_counter()
            m.learn(args.iterations * steps, reset_num_timesteps=False)
            wall = time.perf_counter() - wall
            runs[name].append((1000 * spent["rollout"] / args.iterations,
                               1000 * spent["update"] / args.iterations,
                               1000 * wall / args.iterations))
    print(f"\nPPO on {args.market}: {args.num_envs} envs x {args.n_steps} steps, batch "
          f"{args.batch_size}, {args.n_epochs} epochs, net {args.net}; {args.iterations} "
          f"iterations a run, medians of {args.repeats} alternated runs, per iteration")
    print(f"{'':<10}{'rollout CPU ms':>16}{'update CPU ms':>16}{'wall ms':>10}")
    for name, r in runs.items():
        rollout, update, wall = (statistics.median(x[i] for x in r) for i in range(3))
        print(f"{name:<10}{rollout:>16.0f}{update:>16.0f}{wall:>10.0f}")


if __name__ == "__main__":
    main()
