"""Environment throughput: single env through ``gym.make``, the vector env and the SB3
adapter at large n.

    python benchmarks/throughput.py            # all markets, 7 repeats
    python benchmarks/throughput.py --market as2008 --repeats 5
    python benchmarks/throughput.py --market wide --market lob --repeats 5

Prints, for each market, the median over repeats (runs interleaved, so the figures are
measured side by side on a noisy machine) of:

* single-env steps/s through ``gym.make`` with its default wrappers (order enforcing and
  the passive env checker);
* agent-steps/s of the vector env (``gym.make_vec(..., vectorization_mode=
  "vector_entry_point")``, NextStep autoreset) at each n;
* agent-steps/s of the SB3 adapter (``MarketMakingSB3VecEnv``, same market, n and actions)
  at each n: its ``step`` alone; with every env's ``info`` dict read (``list(infos)``, as
  SB3's ``VecMonitor`` and rollout collection do); the same with ``info_dicts=False`` (the
  training kit's form: only the dicts of envs that ended are filled); and each one's cost
  per step as a multiple of the vector env's;
* the cost of just drawing one step's random numbers at each n (``RandomStreams``, the
  counter-based generator every step uses) and the whole step's cost as a multiple of it.

Budgets on this 2-core machine: ``as2008`` single env >= 25,000 steps/s, n = 1,000 >= 12
million agent-steps/s, n = 10,000 >= 15 million; ``lob`` (default features) single env >=
10,000 steps/s, n = 1,000 >= 1 million; ``wide`` (default features) single env >= 30,000
steps/s, n = 1,000 >= 1.5 million; ``multi_asset`` (two ``wide`` assets, default features)
single env >= 10,000 steps/s, n = 1,000 >= 0.7 million env-steps/s (an env-step steps both
assets). In every market the SB3 adapter's step costs at most 1.5x
the vector env's at n = 1,000 (``cost/vector`` of ``sb3 n=1000``). The ``replay`` market needs
a recording and is measured by ``benchmarks/data.py``.

The step/draw ratio is printed for reference only: the foundation issue aimed at a step <= 5x
the draw at n = 10,000 when the draw was numpy code (84 µs); the compiled generator of the
``lob`` issue draws the same numbers in ~12 µs, so the ratio no longer measures the step.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import mmgym
from mmgym.rng import RandomStreams
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv

BUDGETS: dict[str, dict[str, float]] = {
    "as2008": {"single": 25_000, "n=1000": 12e6, "n=10000": 15e6},
    "lob": {"single": 10_000, "n=1000": 1e6},
    "wide": {"single": 30_000, "n=1000": 1.5e6},
    "multi_asset": {"single": 10_000, "n=1000": 0.7e6},
}
SB3_COST_BUDGET = 1.5
"""The SB3 adapter's step at n = 1,000 costs at most this multiple of the vector env's."""
SIZES: dict[str, list[int]] = {"as2008": [1_000, 10_000], "lob": [1_000], "wide": [1_000],
                               "multi_asset": [1_000]}


def _time(fn: Callable[[], int]) -> float:
    """Units of work per second of one call of ``fn`` (which returns its unit count)."""
    t0 = time.perf_counter()
    units = fn()
    return units / (time.perf_counter() - t0)


def single_env(env_id: str, steps: int) -> Callable[[], int]:
    env = gym.make(env_id)
    action = (env.action_space.low + env.action_space.high) / 2 + 0.7
    env.reset(seed=0)

    def run() -> int:
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return run


def vector_env(env_id: str, n: int, steps: int) -> Callable[[], int]:
    env = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    low, high = env.single_action_space.low, env.single_action_space.high
    actions = np.tile((low + high) / 2 + 0.7, (n, 1)).astype(np.float32)
    env.reset(seed=0)

    def run() -> int:
        for _ in range(steps):
            env.step(actions)
        return n * steps

    return run


def sb3_adapter(
    market: str, n: int, steps: int, read_infos: bool, info_dicts: bool = True
) -> Callable[[], int]:
    """The SB3 adapter's steps with the vector env's actions; ``read_infos`` builds every
    env's ``info`` dict each step."""
    venv = MarketMakingSB3VecEnv(n, market=market, info_dicts=info_dicts)
    low, high = venv.action_space.low, venv.action_space.high
    actions = np.tile((low + high) / 2 + 0.7, (n, 1)).astype(np.float32)
    venv.seed(0)
    venv.reset()

    def run() -> int:
        for _ in range(steps):
            infos = venv.step(actions)[3]
            if read_infos:
                list(infos)
        return n * steps

    return run


def draws(n: int, m: int, steps: int) -> Callable[[], int]:
    streams = RandomStreams(n, m)
    streams.seed(np.arange(n, dtype=np.uint64))
    streams.start_episodes()

    def run() -> int:
        for _ in range(steps):
            streams.step_uniforms()
        return n * steps

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", choices=sorted(BUDGETS), action="append")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", help="vector sizes (default: per market)")
    args = parser.parse_args()
    markets = args.market or sorted(BUDGETS)
    for env_id, market in mmgym.ENV_IDS.items():
        if market not in markets:
            continue
        m = gym.make(env_id).unwrapped.core.market.n_uniforms
        sizes = args.sizes or SIZES[market]
        budget = BUDGETS.get(market, {})
        work = 2_000_000 if budget.get("n=1000", 0) > 2e6 else 200_000
        cases: dict[str, Callable[[], int]] = {"single": single_env(env_id, work // 100)}
        for n in sizes:
            steps = max(20, work // n)
            cases[f"n={n}"] = vector_env(env_id, n, steps)
            cases[f"sb3 n={n}"] = sb3_adapter(market, n, steps, read_infos=False)
            cases[f"sb3+infos n={n}"] = sb3_adapter(market, n, steps, read_infos=True)
            cases[f"sb3 lean+infos n={n}"] = sb3_adapter(market, n, steps, read_infos=True,
                                                         info_dicts=False)
            cases[f"draw n={n}"] = draws(n, m, steps)
        rates: dict[str, list[float]] = {k: [] for k in cases}
        for fn in cases.values():
            fn()  # warm up
        for _ in range(args.repeats):
            for name, fn in cases.items():
                rates[name].append(_time(fn))
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"\n{env_id} ({market}): median of {args.repeats} interleaved runs")
        print(f"{'case':<14}{'per second':>16}{'budget':>14}  verdict")
        for name in ("single", *(f"n={n}" for n in sizes)):
            unit = "steps" if name == "single" else "agent-steps"
            b = budget.get(name)
            verdict = "" if b is None else ("ok" if med[name] >= b else "BELOW BUDGET")
            print(f"{name:<14}{med[name]:>16,.0f}{'' if b is None else f'{b:,.0f}':>14}  "
                  f"{verdict} ({unit})")
        print(f"{'SB3 adapter':<14}{'agent-steps/s':>16}{'cost/vector':>14}  verdict")
        for n in sizes:
            for case in (f"sb3 n={n}", f"sb3+infos n={n}", f"sb3 lean+infos n={n}"):
                ratio = med[f"n={n}"] / med[case]
                verdict = ("ok" if ratio <= SB3_COST_BUDGET else "OVER BUDGET") if (
                    case == "sb3 n=1000") else ""
                print(f"{case:<22}{med[case]:>8,.0f}{ratio:>13.2f}x  {verdict}")
        print(f"{'random draws':<14}{'per step (µs)':>16}{'step (µs)':>14}  step / draw")
        for n in sizes:
            draw_us = n / med[f"draw n={n}"] * 1e6
            step_us = n / med[f"n={n}"] * 1e6
            print(f"{f'n={n}':<14}{draw_us:>16,.1f}{step_us:>14,.1f}  {step_us / draw_us:.1f}x")


if __name__ == "__main__":
    main()
