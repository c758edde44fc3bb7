"""The ``replay`` market's step: the market alone (µs/step) and the env around it (steps/s).

    python benchmarks/replay_step.py                       # 5 interleaved repeats
    git show 4a31f5e:src/mmgym/markets/replay.py > /tmp/replay_old.py  # numpy step
    python benchmarks/replay_step.py --reference /tmp/replay_old.py   # old and new side by side

Imports the sample recording ``../shared/data/binance-usdm/btcusdt_20240808.gz`` (not shipped)
into a temporary parquet file, then prints the median over repeats of:

* market: µs per ``ReplayMarket.step`` called directly, ``n = 1`` and ``n = 1000``
  environments (random offsets in [−2, 5] ticks, a reset every episode, the reset not timed);
* env: single-env steps/s through ``gym.make("mmgym/LOBReplay-v0")`` with only ``inventory``
  and ``time_remaining`` (the market plus the env/core overhead) and with the default book
  features, beside ``mmgym/AvellanedaStoikov-v0`` (the env/core overhead with a trivial
  market) measured in the same run.

``--reference FILE`` loads another version of ``mmgym/markets/replay.py`` (e.g. an older
commit's) and measures it in the same runs, interleaved, so the ratio is not skewed by the
machine's load. Budget (the issue's): replay single env >= 30,000 steps/s, as in
``benchmarks/data.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from data import steps_per_second  # benchmarks/data.py, beside this script

import mmgym  # registers the ids
import mmgym.markets
from mmgym.data.binance import import_binance
from mmgym.markets.replay import ReplayMarket

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
BUDGET = 30_000


def load_reference(path: Path) -> type:
    """The ``ReplayMarket`` class of another copy of ``replay.py``."""
    spec = importlib.util.spec_from_file_location("replay_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["replay_reference"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.ReplayMarket


def market_us_per_step(cls: type, data: Path, n: int, steps: int) -> float:
    market = cls(n, data_path=str(data))
    rng = np.random.default_rng(0)
    offsets = rng.uniform(-2.0, 5.0, size=(64, 2, n))
    uniforms = np.zeros((1, n))
    mask = np.ones(n, dtype=bool)
    elapsed, done = 0.0, 0
    while done < steps:
        market.reset(mask, rng.uniform(size=(1, n)))
        t0 = time.perf_counter()
        for i in range(market.horizon_steps):
            market.step(offsets[i % 64], uniforms)
        elapsed += time.perf_counter() - t0
        done += market.horizon_steps
    return elapsed / done * 1e6


def measure(cls: type, data: Path, steps: int) -> dict[str, float]:
    """One repeat of every case for the market class ``cls`` (registered as ``replay``)."""
    mmgym.markets.MARKETS.add(cls, "replay", replace=True)
    try:
        return {
            "market us/step, n=1": market_us_per_step(cls, data, 1, steps),
            "market us/step, n=1000": market_us_per_step(cls, data, 1000, steps // 10),
            "env steps/s, inventory+time": steps_per_second(
                "mmgym/LOBReplay-v0", steps, data_path=str(data),
                features=["inventory", "time_remaining"]),
            "env steps/s, default features": steps_per_second(
                "mmgym/LOBReplay-v0", steps // 2, data_path=str(data)),
        }
    finally:
        mmgym.markets.MARKETS.add(ReplayMarket, "replay", replace=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--reference", type=Path, default=None,
                        help="another replay.py to measure side by side")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp()) / "sample.parquet"
    import_binance(SAMPLE, data)
    versions = {"this": ReplayMarket}
    if args.reference is not None:
        versions = {"reference": load_reference(args.reference), **versions}
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for version, cls in versions.items():
            for case, value in measure(cls, data, args.steps).items():
                results.setdefault((case, version), []).append(value)
        results.setdefault(("as2008 env steps/s (env/core only)", "this"), []).append(
            steps_per_second("mmgym/AvellanedaStoikov-v0", args.steps))
    print(f"median of {args.repeats} interleaved runs; budget: replay env >= {BUDGET:,} steps/s")
    cases = list(dict.fromkeys(case for case, _ in results))
    print(f"{'case':38s}" + "".join(f"{v:>12s}" for v in versions) + (
        f"{'ratio':>8s}" if len(versions) > 1 else ""))
    for case in cases:
        values = [statistics.median(results[(case, v)]) if (case, v) in results else None
                  for v in versions]
        row = "".join(f"{x:>12,.1f}" if x is not None else f"{'':>12s}" for x in values)
        if len(versions) > 1 and None not in values:
            row += f"{values[-1] / values[0]:>8.2f}"
        print(f"{case:38s}{row}")


if __name__ == "__main__":
    main()
