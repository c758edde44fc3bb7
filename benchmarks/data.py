"""Real-data throughput: Binance import (events/s) and ``replay`` single-env steps/s.

    python benchmarks/data.py              # 5 repeats
    python benchmarks/data.py --repeats 3

Reads the sample recording from ``../shared/data/binance-usdm/`` (not shipped). Prints the
median over repeats of:

* import: rows of the event table produced per second by ``read_binance`` (gunzip, parse,
  bad-data checks, crossed-book check), and with the parquet write (``import_binance``);
* replay: single-env steps/s through ``gym.make("mmgym/LOBReplay-v0")`` (default wrappers),
  with the default book features and with only ``inventory`` and ``time_remaining`` (the
  market's own cost), beside ``mmgym/AvellanedaStoikov-v0`` measured in the same run.

Budgets: import >= 500,000 events/s; replay single env >= 30,000 steps/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import mmgym  # noqa: F401
from mmgym.data.binance import import_binance, read_binance

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
BUDGETS = {"import": 500_000, "replay": 30_000}


def steps_per_second(env_id: str, steps: int, **kwargs: object) -> float:
    env = gym.make(env_id, **kwargs)
    action = np.array([1.0, 1.0], dtype=np.float32)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "sample.parquet"
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        events, _ = read_binance(SAMPLE)
        results.setdefault("import (read)", []).append(len(events) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        report = import_binance(SAMPLE, out)
        results.setdefault("import (+ parquet)", []).append(
            report.events / (time.perf_counter() - t0))
        for name, env_id, kwargs in (
            ("replay default features", "mmgym/LOBReplay-v0", {"data_path": str(out)}),
            ("replay inventory+time", "mmgym/LOBReplay-v0",
             {"data_path": str(out), "features": ["inventory", "time_remaining"]}),
            ("as2008 (reference)", "mmgym/AvellanedaStoikov-v0", {}),
        ):
            results.setdefault(name, []).append(steps_per_second(env_id, args.steps, **kwargs))
    print(f"{report.events:,} events in the sample; median of {args.repeats} interleaved runs")
    print(f"{'case':28s}{'per second':>14s}{'budget':>12s}  verdict")
    for name, values in results.items():
        budget = BUDGETS["import"] if name.startswith("import") else (
            BUDGETS["replay"] if name.startswith("replay") else None)
        value = statistics.median(values)
        verdict = "" if budget is None else ("ok" if value >= budget else "BELOW BUDGET")
        print(f"{name:28s}{value:>14,.0f}{budget or 0:>12,}  {verdict}")


if __name__ == "__main__":
    main()
