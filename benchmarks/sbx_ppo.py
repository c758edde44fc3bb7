"""PPO of SBX (Stable-Baselines3 in JAX, PyPI ``sbx-rl``) beside SB3's PPO: end-to-end
env-steps/s on the same environment and settings.

SBX is not a dependency of mmgym; run this in a separate virtual environment that has it
(torch stays the CPU build that ``constraints.txt`` pins):

    python3 -m venv /work/venv-sbx
    /work/venv-sbx/bin/pip install -c constraints.txt torch==2.13.0
    /work/venv-sbx/bin/pip install -c constraints.txt -e . sbx-rl
    /work/venv-sbx/bin/python benchmarks/sbx_ppo.py --market wide --num-envs 128 \\
        --n-steps 128 --batch-size 4096 --n-epochs 5 --threads 1

Both algorithms train on the training kit's environment chain (``VecNormalize(VecMonitor(
MarketMakingSB3VecEnv(..., info_dicts=False, normalize_actions=True)), norm_reward=False)``)
with the kit's per-step episode statistics (:class:`mmgym.tracking.EpisodeStats` fed with
``step_info``) as their callback. Each model is built once and warmed up by one iteration
(JAX compiles its functions then); a run is then ``--iterations`` whole PPO iterations
(``num_envs × n_steps`` steps collected, ``n_epochs`` passes of updates) of ``learn``, the two
algorithms alternated ``--repeats`` times. Prints each one's median env-steps per second of
wall-clock and per CPU-second of the process, against the 30,000 env-steps/s budget of
issue 14 for PPO end to end. ``--threads`` sets torch's threads and XLA's CPU threads alike
(1: ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

PPO_BUDGET = 30_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", default="wide")
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--n-epochs", type=int, default=5)
    parser.add_argument("--net", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads == 1:  # before jax is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                                   "=false intra_op_parallelism_threads=1").strip()

    import jax
    import sbx
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
    from mmgym.tracking import EpisodeStats

    torch.set_num_threads(args.threads)
    print(f"sbx {sbx.__version__}, jax {jax.__version__}, stable-baselines3 {sb3.__version__}, "
          f"torch {torch.__version__}, threads {args.threads}")

    class Stats(BaseCallback):
        """The training kit's per-step work: the episode statistics from the arrays."""

        def __init__(self, adapter: MarketMakingSB3VecEnv) -> None:
            super().__init__()
            self.adapter = adapter
            self.stats = EpisodeStats(adapter.num_envs)

        def _on_step(self) -> bool:
            self.stats.update(self.locals["rewards"], self.locals["dones"],
                              self.adapter.step_info)
            return True

    def model(cls: Any) -> tuple[Any, Stats]:
        adapter = MarketMakingSB3VecEnv(args.num_envs, market=args.market, info_dicts=False,
                                        normalize_actions=True)
        venv = VecNormalize(VecMonitor(adapter), norm_reward=False)
        venv.seed(0)
        m = cls("MlpPolicy", venv, n_steps=args.n_steps, batch_size=args.batch_size,
                n_epochs=args.n_epochs, gamma=0.999, seed=0, device="cpu",
                policy_kwargs={"net_arch": list(args.net)})
        return m, Stats(adapter)

    steps = args.num_envs * args.n_steps
    models = {"SB3 PPO": model(sb3.PPO), "SBX PPO": model(sbx.PPO)}
    for m, callback in models.values():
        m.learn(steps, callback=callback)  # warm-up: JAX compiles here
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, (m, callback) in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            m.learn(args.iterations * steps, callback=callback, reset_num_timesteps=False)
            n = args.iterations * steps
            rates[name].append((n / (time.perf_counter() - wall), n / (time.process_time() - cpu)))
    print(f"\nPPO on {args.market}: {args.num_envs} envs x {args.n_steps} steps, batch "
          f"{args.batch_size}, {args.n_epochs} epochs, net {args.net}; {args.iterations} "
          f"iterations a run, median of {args.repeats} alternated runs "
          f"(budget {PPO_BUDGET:,} env-steps/s)")
    print(f"{'':<10}{'steps/s':>10}  {'verdict':<12}{'per CPU-s':>10}  runs (steps/s)")
    for name, r in rates.items():
        wall = statistics.median(x[0] for x in r)
        cpu = statistics.median(x[1] for x in r)
        verdict = "ok" if wall >= PPO_BUDGET else "BELOW BUDGET"
        print(f"{name:<10}{wall:>10,.0f}  {verdict:<12}{cpu:>10,.0f}  "
              f"{', '.join(f'{x[0]:,.0f}' for x in r)}")


if __name__ == "__main__":
    main()
