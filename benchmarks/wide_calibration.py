"""The ``wide`` market beside the replay of the LOBSTER AMZN sample it is calibrated to.

    python benchmarks/wide_calibration.py                 # the facts, side by side
    python benchmarks/wide_calibration.py --search 200    # the Optuna search of the defaults

Reads ``../shared/data/lobster-amzn/`` (AMZN, NASDAQ, 2012-06-21, 09:30–12:00, level 1; not
shipped), imports it (:func:`mmgym.data.lobster.read_lobster`) and measures the same facts on
the replayed recording (``replay``, 0.1-s steps, 300-s windows) and on the simulated market
(``wide`` with its defaults, 300-s episodes), each on common seeded episodes:

* the spread (ticks; 10/25/50/75/90% of 0.1-s samples), the size at the best (shares;
  median and mean of both sides), market orders per second (both sides; trades of one
  aggressor side in one step are one order) and their mean size;
* the mid's returns over 0.1, 1, 10 and 60 s (std, ticks) and the lag-1 autocorrelation of
  1-s returns;
* the markout of a fixed quote's fills at 1, 10 and 60 s (ticks per share, signed so that
  negative is adverse: the mid moved against the fill) for quotes 5 ticks from the mid;
* the PnL per 300-s episode of quoting fixed symmetric offsets (100 shares a side, no
  position limit), mean and 95% interval, at 1 to 20 ticks from the mid.

What is calibrated, what is chosen (the model is :mod:`mmgym.markets.wide`):

* calibrated, matched to the sample by the search below: the spread distribution and the
  size at the best (limit order rate, placement band, cancellation rate, the share of
  two-sided quotes, which also sets the autocorrelation of the mid's returns; round lots of 100
  shares, the sample's median best size), the market-order rate and size (uninformed and
  informed rates; mean size 134 shares, the sample's mean market order, from 1-ms runs of
  trades), the mid's volatility over 1–60 s and the autocorrelation of its 1-s returns, and
  the markout of fills at 1–60 s (impact per order, information events' rate and size,
  informed rate);
* chosen: the lean of the liquidity providers toward the fundamental and its scale (the data
  cannot tell it apart from the other information channels), the informed traders' gap, the
  learning rate of the consensus (0: it learns only from the order flow), the step and
  episode lengths, the agent's 100-share quote.

``--search N`` runs ``N`` Optuna trials (TPE, seeded, the first at the current defaults) of
the calibrated parameters, each scoring the simulated facts against the sample's by a
weighted sum of squared relative errors (and the squared errors of the autocorrelation and
of the PnL curve at 3 to 12 ticks, in units of 100 USD), and prints the best; its result is
what ``WideParams`` defaults to. It takes a few seconds a trial.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mmgym.data.lobster import read_lobster
from mmgym.data.store import write_events
from mmgym.markets.wide import WideParams
from mmgym.vector import MarketMakingVectorEnv

SAMPLE = (Path(__file__).resolve().parents[2]
          / "shared/data/lobster-amzn/AMZN_2012-06-21_34200000_43200000_message_1.csv")
TICK = 0.01
QUOTE = 100.0
EPISODE_SECONDS = 300.0
OFFSETS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20)
MARKOUT_OFFSET = 5.0
SEARCH_OFFSETS = (3, 5, 8, 10, 12)
PNL_SCALE = 100.0  # USD per episode: the PnL curve's errors in the search's score
SEARCHED = {  # parameter: (low, high, log scale)
    "limit_rate": (0.5, 4.0, True),
    "cancel_rate": (0.05, 0.6, True),
    "placement_min_ticks": (2, 8, False),
    "placement_ticks": (12, 30, False),
    "market_rate": (0.02, 0.14, False),
    "informed_rate": (0.3, 3.0, True),
    "event_rate": (0.02, 0.2, True),
    "event_jump_ticks": (4.0, 20.0, True),
    "impact_ticks": (0.5, 8.0, True),
    "two_sided": (0.5, 1.0, False),
}


@dataclass
class Facts:
    """The facts of one market (see the module doc); units in the names."""

    spread_ticks: np.ndarray  # 10/25/50/75/90%
    best_size_median: float
    best_size_mean: float
    orders_per_s: float
    mean_order_size: float
    return_std_ticks: dict[float, float]  # by horizon, s
    ac1_1s: float
    markout: dict[float, float]  # by horizon, s: ticks per share
    pnl: dict[int, tuple[float, float]]  # by offset: mean, 95% half-width


def market_kwargs(market: str, data_path: str | None, **params: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"market": market, "features": ["inventory", "time_remaining"],
                              "max_inventory": 1e12, "episode_seconds": EPISODE_SECONDS}
    if market == "replay":
        kwargs |= {"data_path": data_path, "quote_size": QUOTE, "dt": 0.1}
    return kwargs | params


def book_facts(episodes: int, **kwargs: Any) -> dict[str, Any]:
    """Spread, best sizes, order flow and mid returns with the agent out of the market."""
    env = MarketMakingVectorEnv(episodes, **kwargs)
    env.reset(seed=0)
    rec = env.core.market.step_record
    steps = env.core.horizon_steps
    spread, size, mid = (np.empty((steps, episodes)) for _ in range(3))
    size = np.empty((steps, 2, episodes))
    orders = volume = 0.0
    quiet = np.full((episodes, 2), np.inf)
    for t in range(steps):
        env.step(quiet)
        spread[t] = (rec.best[1] - rec.best[0]) / TICK
        size[t] = rec.depth[:, 0]
        mid[t] = rec.mid / TICK
        # one order per aggressor side and step (trades of one side within 0.1 s)
        orders += np.count_nonzero(rec.buy_volume) + np.count_nonzero(rec.sell_volume)
        volume += rec.buy_volume.sum() + rec.sell_volume.sum()
    dt = env.core.market.dt
    returns = {}
    for horizon in (0.1, 1.0, 10.0, 60.0):
        k = round(horizon / dt)
        returns[horizon] = float(np.diff(mid[::k], axis=0).std())
    one = np.diff(mid[:: round(1.0 / dt)], axis=0)
    ac1 = float(np.mean([np.corrcoef(one[1:, i], one[:-1, i])[0, 1] for i in range(episodes)]))
    return {"spread_ticks": np.percentile(spread, [10, 25, 50, 75, 90]),
            "best_size_median": float(np.median(size)), "best_size_mean": float(size.mean()),
            "orders_per_s": orders / (episodes * steps * dt),
            "mean_order_size": volume / max(orders, 1.0), "return_std_ticks": returns,
            "ac1_1s": ac1}


def quoting_facts(episodes: int, offset: float, markout: bool,
                  **kwargs: Any) -> tuple[float, float, dict[float, float]]:
    """PnL per episode of a fixed symmetric quote (mean, 95% half-width) and, when asked,
    the markout of its fills at 1, 10 and 60 s (ticks per share)."""
    env = MarketMakingVectorEnv(episodes, **kwargs)
    env.reset(seed=0)
    steps = env.core.horizon_steps
    action = np.full((episodes, 2), float(offset))
    mids, signed = np.empty((steps, episodes)), np.empty((steps, episodes))
    for t in range(steps):
        info = env.step(action)[4]
        mids[t], signed[t] = info["mid"] / TICK, info["bid_fill"] - info["ask_fill"]
    pnl = info["pnl"]
    out: dict[float, float] = {}
    if markout:
        dt = env.core.market.dt
        for horizon in (1.0, 10.0, 60.0):
            h = round(horizon / dt)
            f = signed[:-h]
            out[horizon] = float(np.sum(f * (mids[h:] - mids[:-h])) / np.sum(np.abs(f)))
    return float(pnl.mean()), 1.96 * float(pnl.std(ddof=1)) / math.sqrt(episodes), out


def facts(episodes: int, offsets: tuple[int, ...], progress: str | None = None,
          **kwargs: Any) -> Facts:
    book = book_facts(episodes, **kwargs)
    pnl, markout = {}, {}
    for offset in tqdm(offsets, desc=progress, disable=progress is None, leave=False):
        mean, half, mk = quoting_facts(episodes, offset, offset == MARKOUT_OFFSET, **kwargs)
        pnl[offset] = (mean, half)
        markout |= mk
    return Facts(pnl=pnl, markout=markout, **book)


def distance(sim: Facts, data: Facts) -> float:
    """Weighted squared relative errors of the calibrated facts (module doc)."""
    terms = [((sim.spread_ticks - data.spread_ticks) / data.spread_ticks) ** 2,
             [((sim.best_size_median - data.best_size_median) / data.best_size_median) ** 2],
             [4 * ((sim.orders_per_s - data.orders_per_s) / data.orders_per_s) ** 2],
             [((sim.mean_order_size - data.mean_order_size) / data.mean_order_size) ** 2],
             [2 * ((sim.return_std_ticks[h] - data.return_std_ticks[h])
                   / data.return_std_ticks[h]) ** 2 for h in (1.0, 10.0, 60.0)],
             [2 * ((sim.markout[h] - data.markout[h]) / data.markout[h]) ** 2
              for h in (1.0, 10.0, 60.0)],
             [50 * (sim.ac1_1s - data.ac1_1s) ** 2],
             [((sim.pnl[o][0] - data.pnl[o][0]) / PNL_SCALE) ** 2 for o in SEARCH_OFFSETS
              if o in sim.pnl]]
    return float(sum(np.sum(t) for t in terms))


def search(trials: int, data: Facts, episodes: int) -> dict[str, Any]:
    import optuna

    def objective(trial: optuna.Trial) -> float:
        params = {}
        for name, (low, high, log) in SEARCHED.items():
            if isinstance(low, int):
                params[name] = trial.suggest_int(name, low, high)
            else:
                params[name] = trial.suggest_float(name, low, high, log=log)
        if params["placement_min_ticks"] >= params["placement_ticks"]:
            raise optuna.TrialPruned
        return distance(facts(episodes, SEARCH_OFFSETS, **market_kwargs("wide", None, **params)),
                        data)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    defaults = WideParams()
    study.enqueue_trial({name: getattr(defaults, name) for name in SEARCHED})
    study.optimize(objective, n_trials=trials, show_progress_bar=True)
    print(f"best distance {study.best_value:.4f} after {trials} trials")
    return study.best_params


def show(data: Facts, sim: Facts) -> None:
    print(f"{'fact':34s}{'AMZN replay':>24s}{'wide':>24s}")
    rows = [("spread, ticks (10/25/50/75/90%)",
             " ".join(f"{x:g}" for x in data.spread_ticks),
             " ".join(f"{x:g}" for x in sim.spread_ticks)),
            ("size at the best, median / mean", f"{data.best_size_median:g} / "
             f"{data.best_size_mean:.0f}", f"{sim.best_size_median:g} / {sim.best_size_mean:.0f}"),
            ("market orders per s", f"{data.orders_per_s:.3f}", f"{sim.orders_per_s:.3f}"),
            ("mean market order, shares", f"{data.mean_order_size:.0f}",
             f"{sim.mean_order_size:.0f}")]
    rows += [(f"mid return std over {h:g} s, ticks", f"{data.return_std_ticks[h]:.2f}",
              f"{sim.return_std_ticks[h]:.2f}") for h in data.return_std_ticks]
    rows += [("lag-1 autocorrelation, 1-s returns", f"{data.ac1_1s:+.3f}", f"{sim.ac1_1s:+.3f}")]
    rows += [(f"markout at {h:g} s, {MARKOUT_OFFSET:g}-tick quote", f"{data.markout[h]:+.2f}",
              f"{sim.markout[h]:+.2f}") for h in data.markout]
    for fact, a, b in rows:
        print(f"{fact:34s}{a:>24s}{b:>24s}")
    print(f"\nPnL per {EPISODE_SECONDS:g}-s episode of a fixed symmetric quote of {QUOTE:g} "
          "shares, USD [95% interval]")
    print(f"{'offset, ticks':34s}{'AMZN replay':>24s}{'wide':>24s}")
    for offset in data.pnl:
        (a, ha), (b, hb) = data.pnl[offset], sim.pnl[offset]
        print(f"{offset:<34d}{f'{a:.1f} ± {ha:.1f}':>24s}{f'{b:.1f} ± {hb:.1f}':>24s}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--search", type=int, default=0, help="Optuna trials (0: none)")
    parser.add_argument("--search-episodes", type=int, default=100)
    args = parser.parse_args()
    events, report = read_lobster(SAMPLE)
    path = Path(tempfile.mkdtemp()) / "amzn.parquet"
    write_events(events, path, report.metadata)
    data = facts(args.episodes, OFFSETS, "AMZN replay", **market_kwargs("replay", str(path)))
    if args.search:
        best = search(args.search, data, args.search_episodes)
        print("best parameters:", best)
        sim = facts(args.episodes, OFFSETS, "wide", **market_kwargs("wide", None, **best))
    else:
        sim = facts(args.episodes, OFFSETS, "wide", **market_kwargs("wide", None))
    print(f"{args.episodes} episodes of {EPISODE_SECONDS:g} s each (replay: windows of the "
          "recording drawn by the seeds, overlapping)\n")
    show(data, sim)
    print(f"\ndistance (the search's score): {distance(sim, data):.4f}")


if __name__ == "__main__":
    main()
