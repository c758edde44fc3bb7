"""Soak: 10⁷ agent-steps of random actions on every market, every step checked.

    python benchmarks/soak.py                          # every market, 10^7 agent-steps each
    python benchmarks/soak.py --market lob --steps 1e6 --n 500
    python benchmarks/soak.py --market replay-lobster --market wide
    python benchmarks/soak.py --market replay-binance --autoreset SameStep

Runs ``MarketMakingVectorEnv(n, market=...)`` (NextStep autoreset, so many episodes end and
restart) on ``as2008``, ``lob``, ``wide`` and ``replay`` on the two samples of
``../shared/data/`` (the Binance BTCUSDT recording and LOBSTER's AMZN level-1 morning, not
shipped; imported into a temporary directory first, as ``benchmarks/data.py`` does), each book
market also with ``post_only=False`` (the ``:taker`` cases, where crossing quotes trade at
once). The actions are seeded random offsets: mostly uniform over the action bounds (negative
ones quote through the mid), and also deep crossing quotes near the lower bound, offsets below
it (clipped), withdrawals (``+inf``, the upper bound itself or beyond it; both sides at once
sometimes).

Every step is checked, vectorized: no NaN or ±inf in the observations, the rewards and every
``info`` array, except a NaN ``bid_price``/``ask_price`` on a side without an order (withdrawn,
blocked by ``max_inventory``, or the first step of a new episode); for the book markets a
finite, uncrossed book in the step record (``best`` bid < ``best`` ask); the inventory within
±``max_inventory``. The first of each kind of failure is printed with its step, array and
environment. Memory: the process's RSS (psutil if installed, else ``/proc/self/status``
``VmRSS``) and tracemalloc's traced size (tracing from the first reset on) after the warm-up
(the first 1% of the steps, excluded from the wall time) and at the end, and the peak RSS
(``resource``).

Prints a table per case: agent-steps, episodes ended, wall time and agent-steps/s (checks,
action draws and tracemalloc included: this is no speed benchmark), RSS at start and end,
peak RSS, traced memory at start and end (MiB), non-finite count, crossed-book count,
inventory breaches, and a verdict line; an exception stops its case and is reported with its
step. ``--autoreset SameStep`` runs the vector env with SameStep autoreset instead.

Budget: on every market 0 non-finite, 0 crossed, 0 inventory breaches, no exception and RSS
growth < 50 MiB.
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mmgym.accounting import INFO_KEYS
from mmgym.vector import MarketMakingVectorEnv

DATA = Path(__file__).resolve().parents[2] / "shared/data"
BINANCE = DATA / "binance-usdm/btcusdt_20240808.gz"
LOBSTER = DATA / "lobster-amzn/AMZN_2012-06-21_34200000_43200000_message_1.csv"
MARKETS = ("as2008", "lob", "wide", "replay-binance", "replay-lobster")
RSS_GROWTH_BUDGET = 50.0
"""MiB of RSS growth allowed between the warm-up and the end of a case."""
MiB = 2.0**20

# the action mix, per side: shares of withdrawals, offsets below the lower bound, deep
# crossing quotes; and the share of environments withdrawing both sides at once
WITHDRAW, BELOW, CROSS, BOTH = 0.08, 0.08, 0.10, 0.03


def cases(markets: list[str], data_dir: Path | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """The cases of ``markets`` by name: (market, keyword arguments). The replay cases need
    ``data_dir``, where :func:`import_samples` wrote the event files."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in markets:
        if name == "as2008":
            out[name] = ("as2008", {})
            continue
        if name in ("lob", "wide"):
            market, kwargs = name, {}
        elif name == "replay-binance":
            market, kwargs = "replay", {"data_path": str(data_dir / "binance.parquet")}
        elif name == "replay-lobster":
            market, kwargs = "replay", {"data_path": str(data_dir / "lobster.parquet"),
                                        "quote_size": 100, "max_inventory": 1000}
        else:
            raise ValueError(f"market {name!r}: expected one of {', '.join(MARKETS)}")
        out[name] = (market, kwargs)
        out[f"{name}:taker"] = (market, {**kwargs, "post_only": False})
    return out


def import_samples(markets: list[str], directory: Path) -> None:
    """Import the recordings the replay cases of ``markets`` need into ``directory``."""
    if "replay-binance" in markets:
        from mmgym.data.binance import import_binance

        import_binance(BINANCE, directory / "binance.parquet")
    if "replay-lobster" in markets:
        from mmgym.data.lobster import read_lobster
        from mmgym.data.store import write_events

        events, report = read_lobster(LOBSTER)
        write_events(events, directory / "lobster.parquet", report.metadata)


def rss_mib() -> float:
    """The process's resident set size now, MiB."""
    try:
        import psutil
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MiB
        return math.nan
    return psutil.Process().memory_info().rss / MiB


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MiB


class RandomActions:
    """Seeded random actions for an ``(n, 2)`` batch within bounds ``[low, high]``."""

    def __init__(self, n: int, low: float, high: float, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.n, self.low, self.high = n, low, high
        self.span = high - low

    def __call__(self) -> np.ndarray:
        rng, n, low, high, span = self.rng, self.n, self.low, self.high, self.span
        a = low + span * rng.random((n, 2))
        kind = rng.random((n, 2))
        withdrawn = np.array([math.inf, high, high + span])[rng.integers(0, 3, (n, 2))]
        below = low - span * rng.random((n, 2)) ** 4 * 1e3  # now and then far below
        cross = low + 0.25 * span * rng.random((n, 2))
        a = np.where(kind < WITHDRAW, withdrawn, a)
        a = np.where((kind >= WITHDRAW) & (kind < WITHDRAW + BELOW), below, a)
        a = np.where((kind >= WITHDRAW + BELOW) & (kind < WITHDRAW + BELOW + CROSS), cross, a)
        a[rng.random(n) < BOTH] = math.inf
        return a


@dataclass
class SoakResult:
    """What :func:`soak` found on one case."""

    case: str
    agent_steps: int = 0
    episodes: int = 0
    wall_s: float = 0.0
    timed_steps: int = 0
    rss_start: float = math.nan
    rss_end: float = math.nan
    peak_rss: float = math.nan
    traced_start: float = math.nan
    traced_end: float = math.nan
    non_finite: int = 0
    crossed: int = 0
    inventory_breaches: int = 0
    first: dict[str, str] = field(default_factory=dict)
    """The first failure of each kind: where (step, array, environment) and the value."""
    error: str | None = None
    """The exception that stopped the run, and its step; None if it ran to the end."""

    @property
    def steps_per_s(self) -> float:
        return self.timed_steps / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def rss_growth(self) -> float:
        return self.rss_end - self.rss_start

    @property
    def ok(self) -> bool:
        return (self.error is None and self.non_finite == 0 and self.crossed == 0
                and self.inventory_breaches == 0 and self.rss_growth < RSS_GROWTH_BUDGET)

    def verdict(self) -> str:
        if self.ok:
            return (f"{self.case}: ok (0 non-finite, 0 crossed, 0 inventory breaches, RSS "
                    f"growth {self.rss_growth:+.1f} MiB < {RSS_GROWTH_BUDGET:g})")
        found = "; ".join(f"{kind}: {where}" for kind, where in self.first.items())
        stopped = f"stopped at {self.error}; " if self.error else ""
        return (f"{self.case}: FAILED ({stopped}{self.non_finite} non-finite, "
                f"{self.crossed} crossed, "
                f"{self.inventory_breaches} inventory breaches, RSS growth "
                f"{self.rss_growth:+.1f} MiB){'; first ' + found if found else ''}")


def _note(result: SoakResult, kind: str, step: int, array: str, bad: np.ndarray,
          values: np.ndarray) -> int:
    """Count the failures ``bad`` (a bool mask over environments, ``(rows, n)`` or, for an
    observation, ``(n, features)``), remembering the first of ``kind``; return their
    number."""
    count = int(bad.sum())
    if count and kind not in result.first:
        at = np.argwhere(bad)[0]
        if bad.ndim == 1:
            where = f"env {int(at[0])}"
        elif array.endswith("obs"):
            where = f"env {int(at[0])}, feature {int(at[1])}"
        else:
            where = f"row {int(at[0])}, env {int(at[1])}"
        result.first[kind] = (f"step {step} (0-based, after reset), {array} {where} = "
                              f"{values[tuple(at)]!r}")
    return count


PRICE_KEYS = {"bid_price": 0, "ask_price": 1}
"""The ``info`` keys NaN on a side without an order, and their side."""


def check_step(result: SoakResult, step: int, obs: np.ndarray, rewards: np.ndarray,
               infos: dict[str, np.ndarray], unquoted: np.ndarray, best: np.ndarray | None,
               limit: float) -> None:
    """Count one step's failures into ``result``: non-finite entries of ``obs``, ``rewards``,
    the ``info`` arrays (a NaN price allowed where ``unquoted``, ``(2, n)``) and ``best``;
    crossed books (``best``, ``(2, n)`` bid and ask, or None: no book); inventories beyond
    ``limit``."""
    bad = _note(result, "non-finite", step, "obs", ~np.isfinite(obs), obs)
    bad += _note(result, "non-finite", step, "reward", ~np.isfinite(rewards), rewards)
    for key in INFO_KEYS:
        v = infos[key]
        wrong = ~np.isfinite(v)
        if key in PRICE_KEYS:
            wrong &= ~(np.isnan(v) & unquoted[PRICE_KEYS[key]])
        bad += _note(result, "non-finite", step, f"info[{key!r}]", wrong, v)
    if best is not None:
        bad += _note(result, "non-finite", step, "step_record.best", ~np.isfinite(best), best)
        result.crossed += _note(result, "crossed", step, "step_record.best (bid >= ask)",
                                ~(best[0] < best[1]), best[0] - best[1])
    result.non_finite += bad
    inv = infos["inventory"]
    result.inventory_breaches += _note(result, "inventory", step, "info['inventory']",
                                       ~(np.abs(inv) <= limit), inv)


def soak(case: str, market: str, steps: int, n: int, seed: int = 0, progress: bool = True,
         autoreset: str = "NextStep", **kwargs: Any) -> SoakResult:
    """Step ``MarketMakingVectorEnv(n, market=market, **kwargs)`` for about ``steps``
    agent-steps (``ceil(steps / n)`` vector steps) with :class:`RandomActions` seeded by
    ``seed``, checking every step; the first 1% of the vector steps (at least one) warm up,
    excluded from the wall time and before the memory's start figures. ``autoreset``: the
    vector env's ``autoreset_mode``. An exception ends the run, recorded in
    :attr:`SoakResult.error` with its step (the figures cover the steps before it)."""
    result = SoakResult(case)
    iterations = max(2, math.ceil(steps / n))
    warmup = max(1, iterations // 100)
    env = MarketMakingVectorEnv(n, market=market, autoreset_mode=autoreset, **kwargs)
    same_step = env.autoreset_mode.value == "SameStep"
    core = env.core
    record = core.market.step_record
    has_book = core.market.has_book
    actions = RandomActions(n, core.action_low, core.action_high, seed)
    limit = core.max_inventory * (1 + 1e-12)
    quote_limit = core.max_inventory - core.market.quote_size
    obs, infos = env.reset(seed=seed)
    tracemalloc.start()  # after the build (a replay recording's takes 3x as long traced)
    result.non_finite += _note(result, "non-finite", -1, "reset obs", ~np.isfinite(obs), obs)
    pending = np.zeros(n, dtype=bool)
    t0 = time.perf_counter()
    done = 0
    try:
        for i in tqdm(range(iterations), desc=case, disable=not progress, mininterval=2,
                      unit="step", leave=False):
            if i == warmup:
                gc.collect()
                result.rss_start = rss_mib()
                result.traced_start = tracemalloc.get_traced_memory()[0] / MiB
                t0 = time.perf_counter()
            a = actions()
            inventory_before = infos["inventory"]
            obs, rewards, terminated, truncated, infos = env.step(a)
            # a side has no order when withdrawn, blocked by max_inventory, or in a reset
            unquoted = a.T >= core.action_high
            unquoted[0] |= inventory_before > quote_limit
            unquoted[1] |= inventory_before < -quote_limit
            unquoted |= terminated | truncated if same_step else pending
            check_step(result, i, obs, rewards, infos, unquoted,
                       record.best if has_book else None, limit)
            result.episodes += int(terminated.sum() + truncated.sum())
            pending = terminated | truncated
            done = i + 1
    except Exception as e:  # recorded, reported, not hidden
        result.error = f"step {done} (0-based, after reset): {type(e).__name__}: {e}"
    result.wall_s = time.perf_counter() - t0
    result.agent_steps = done * n
    result.timed_steps = max(done - warmup, 0) * n
    gc.collect()
    result.rss_end = rss_mib()
    result.traced_end = tracemalloc.get_traced_memory()[0] / MiB
    result.peak_rss = max(peak_rss_mib(), result.rss_end)
    tracemalloc.stop()
    env.close()
    return result


def table(results: list[SoakResult]) -> str:
    """The results as a text table, one line per case."""
    head = (f"{'case':22s}{'agent-steps':>13s}{'episodes':>10s}{'wall s':>8s}{'steps/s':>11s}"
            f"{'RSS start':>11s}{'RSS end':>9s}{'peak RSS':>10s}{'traced':>15s}"
            f"{'non-finite':>12s}{'crossed':>9s}{'inv.':>6s}")
    lines = [head]
    for r in results:
        lines.append(
            f"{r.case:22s}{r.agent_steps:>13,}{r.episodes:>10,}{r.wall_s:>8.1f}"
            f"{r.steps_per_s:>11,.0f}{r.rss_start:>11.1f}{r.rss_end:>9.1f}{r.peak_rss:>10.1f}"
            f"{f'{r.traced_start:.2f}→{r.traced_end:.2f}':>15s}{r.non_finite:>12,}"
            f"{r.crossed:>9,}{r.inventory_breaches:>6,}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=float, default=1e7, help="agent-steps per case")
    parser.add_argument("--n", type=int, default=1_000, help="environments in the batch")
    parser.add_argument("--market", action="append", choices=MARKETS,
                        help="a market to soak (repeatable; default: all); the book markets "
                             "run with and without post_only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--autoreset", choices=("NextStep", "SameStep"), default="NextStep",
                        help="the vector env's autoreset_mode")
    args = parser.parse_args()
    markets = args.market or list(MARKETS)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        import_samples(markets, Path(tmp))
        for case, (market, kwargs) in cases(markets, Path(tmp)).items():
            results.append(soak(case, market, int(args.steps), args.n, args.seed,
                                autoreset=args.autoreset, **kwargs))
            print(results[-1].verdict(), flush=True)
    print(f"\n{int(args.steps):,} agent-steps a case at n = {args.n:,}, seed {args.seed}, "
          f"{args.autoreset} autoreset; memory in MiB (RSS and tracemalloc's traced size "
          "after the warm-up → at the end)")
    print(table(results))
    for r in results:
        print(r.verdict())
    failed = [r.case for r in results if not r.ok]
    print(f"verdict: {'all ok' if not failed else 'FAILED: ' + ', '.join(failed)} (budget: 0 "
          f"non-finite, 0 crossed, 0 inventory breaches, RSS growth < "
          f"{RSS_GROWTH_BUDGET:g} MiB)")


if __name__ == "__main__":
    main()
