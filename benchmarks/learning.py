"""Learners that win, measured: each training preset, three independent training seeds, against
the baselines on common evaluation episodes disjoint from training, with paired 95% intervals.

    python benchmarks/learning.py                         # every case, seeds 0 1 2
    python benchmarks/learning.py --cases wide-ppo --seeds 0 --jobs 2
    python benchmarks/learning.py --cases wide-ppo --evaluate-only   # re-score trained runs

Cases (each an experiment preset of ``conf/experiment/``, trained with ``train.py``):

| case | preset | scored by | claim |
|---|---|---|---|
| ``as2008-ppo`` | ``as2008_ppo`` | reward (running penalty) | PPO/Cartea–Jaimungal ≥ 0.99 |
| ``as2008-qlearning`` | ``as2008_qlearning`` | reward (running penalty) | Q/CJ ≥ 0.95 |
| ``wide-ppo`` | ``wide_ppo`` | PnL | beats AS and every signal-blind baseline |
| ``lob-ppo`` | ``lob_ppo`` | PnL | loses less than AS (never quoting earns 0 here) |
| ``amzn-ppo`` | ``amzn_ppo``, ``wide_ppo`` | PnL | the sample's evaluation range: vs AS |

Every run trains with ``train.py experiment=<preset> seed=<k>`` (the training kit seeds its
environments in a space of their own: runs of different seeds never share a market episode,
and no evaluation episode is a training one) into ``runs/learning/<case>/seed<k>/``, at most
``--jobs`` at a time (one torch thread each). Each trained model then plays ``--episodes``
common episodes (seeds ``--seed`` onwards, ``evaluate.py``'s defaults; on the replay, windows of
the recording's evaluation range) beside the case's baselines: mean score with its 95% BCa
interval, and the paired difference to each baseline (resampling episodes jointly); under the
running inventory penalty Cartea–Jaimungal plays with the reward's φ and α, its optimum
(``mmgym.kit.lineup.reward_optimal``). On
``wide`` also: the fraction of the oracle's advantage captured, (PPO − AS)/(oracle − AS), and
the wall-clock training time of the first checkpoint that beats AS (paired interval above 0).
The report is printed and written to ``runs/learning/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_module
from scipy.stats import bootstrap

from mmgym.data import importers
from mmgym.evaluation import run_episodes
from mmgym.evaluation.metrics import Bootstrap, mean
from mmgym.kit.config import CONF_MODULE, env_kwargs, register, with_data_range
from mmgym.kit.facts import SIGNAL_BLIND
from mmgym.kit.lineup import baseline, checkpoint, reward_optimal

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "learning"
SAMPLE = ROOT.parent / "shared" / "data" / "lobster-amzn" / (
    "AMZN_2012-06-21_34200000_43200000_message_1.csv")
AMZN = OUT / "amzn.parquet"


@dataclass(frozen=True)
class Case:
    """A training preset and how its models are scored.

    Attributes:
        preset: the experiment preset trained.
        market: the market config the models are evaluated on.
        score: the per-episode column compared (``pnl`` or ``reward``).
        reward: the reward group the episodes are played with.
        baselines: the policies compared with.
        reference: the baseline a ratio is taken to (``ratio``), or the one the learning
            curve is measured against.
        ratio: the claimed lower bound of learner / reference, if the case claims one.
        also: other cases whose models play this market too (sim-to-real).
    """

    preset: str
    market: str
    score: str
    reward: str
    baselines: tuple[str, ...]
    reference: str
    ratio: float | None = None
    also: tuple[str, ...] = field(default_factory=tuple)


WIDE_LINEUP = (*[b for b in SIGNAL_BLIND if b != "cartea_jaimungal"], "as_signals", "obi_skew",
               "rule_based", "oracle", "no_quote")
CASES: dict[str, Case] = {
    "as2008-ppo": Case("as2008_ppo", "as2008", "reward", "running_inventory_penalty",
                       ("cartea_jaimungal", "as_inventory", "fixed_spread", "random"),
                       "cartea_jaimungal", ratio=0.99),
    "as2008-qlearning": Case("as2008_qlearning", "as2008", "reward", "running_inventory_penalty",
                             ("cartea_jaimungal", "as_inventory", "fixed_spread", "random"),
                             "cartea_jaimungal", ratio=0.95),
    "wide-ppo": Case("wide_ppo", "wide", "pnl", "default", WIDE_LINEUP, "as_inventory"),
    "lob-ppo": Case("lob_ppo", "lob", "pnl", "default",
                    ("as_inventory", "as_symmetric", "glft", "fixed_spread", "as_signals",
                     "obi_skew", "rule_based", "no_quote"), "as_inventory"),
    "amzn-ppo": Case("amzn_ppo", "lobster_amzn", "pnl", "default",
                     ("as_inventory", "as_symmetric", "glft", "fixed_spread", "as_signals",
                      "obi_skew", "rule_based", "no_quote"), "as_inventory", also=("wide-ppo",)),
}


def run_dir(case: str, seed: int) -> Path:
    return OUT / case / f"seed{seed}"


def train(case: str, seed: int, overrides: list[str]) -> tuple[str, int, float]:
    """Train one seed of a case with ``train.py`` (a process of its own, logging to
    ``train.log`` beside the run); return the case, seed and wall-clock seconds."""
    out = run_dir(case, seed)
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(ROOT / "train.py"), f"experiment={CASES[case].preset}",
               f"seed={seed}", f"hydra.run.dir={out}", "progress=false", *overrides]
    if CASES[case].market == "lobster_amzn":
        command.append(f"market.params.data_path={AMZN}")
    started = time.perf_counter()
    with open(out / "train.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return case, seed, time.perf_counter() - started


def import_sample() -> None:
    """The LOBSTER AMZN sample as an event file (``runs/learning/amzn.parquet``)."""
    if AMZN.is_file():
        return
    AMZN.parent.mkdir(parents=True, exist_ok=True)
    if importers.main(["lobster", str(SAMPLE), "-o", str(AMZN)]) != 0:
        sys.exit(f"could not import {SAMPLE}")


def evaluation_config(case: Case) -> Any:
    register()
    overrides = [f"market={case.market}", f"reward={case.reward}"]
    if case.market == "lobster_amzn":
        overrides.append(f"market.params.data_path={AMZN}")
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("evaluate", overrides=overrides)


def ratio(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """mean(x)/mean(y) with its paired BCa interval (episodes resampled jointly)."""

    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(a, axis=axis) / np.mean(b, axis=axis)

    ci = bootstrap((x, y), statistic, paired=True, vectorized=True, n_resamples=2000,
                   confidence_level=confidence, rng=np.random.default_rng(0)).confidence_interval
    return float(x.mean() / y.mean()), float(ci.low), float(ci.high)


def advantage_fraction(ppo: np.ndarray, ref: np.ndarray,
                       oracle: np.ndarray) -> tuple[float, float, float]:
    """(PPO − AS)/(oracle − AS) of the means, with its paired BCa interval."""

    def statistic(a: np.ndarray, b: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        base = np.mean(b, axis=axis)
        return (np.mean(a, axis=axis) - base) / (np.mean(c, axis=axis) - base)

    ci = bootstrap((ppo, ref, oracle), statistic, paired=True, vectorized=True,
                   n_resamples=2000, rng=np.random.default_rng(0)).confidence_interval
    return float(statistic(ppo, ref, oracle)), float(ci.low), float(ci.high)


def fmt(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.4g} [{v[1]:.4g}, {v[2]:.4g}]"


class Report:
    """Lines printed as they come and kept for ``summary.md``."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def evaluate(name: str, seeds: list[int], episodes: int, first: int, say: Report) -> None:
    """Score every trained seed of case ``name`` (and the models of its ``also`` cases)."""
    case = CASES[name]
    cfg = evaluation_config(case)
    kwargs = with_data_range(env_kwargs(cfg), "eval")
    played: dict[str, np.ndarray] = {}
    say(f"\n## {name}: {episodes} common episodes of {cfg.market.name} (seeds {first}–"
        f"{first + episodes - 1}{', evaluation range' if cfg.market.name == 'replay' else ''})"
        f", mean {case.score} per episode [95% interval]\n")
    for b in case.baselines:
        c = baseline(b, cfg.market, reward_optimal(kwargs))
        played[b] = run_episodes(c.policy, episodes, seed=first,
                                 **(kwargs | c.observation))[case.score].to_numpy()
    boot = Bootstrap()
    learners = {f"{name}/seed{k}": run_dir(name, k) for k in seeds}
    for other in case.also:
        learners |= {f"{other}/seed{k}": run_dir(other, k) for k in seeds}
    for label, directory in learners.items():
        model = next((directory / f for f in ("model.zip", "qtable.npz")
                      if (directory / f).is_file()), None)
        if model is None:
            say(f"  {label}: not trained")
            continue
        agent = checkpoint(str(model), 0, cfg.market, kwargs)
        played[label] = run_episodes(agent.policy, episodes, seed=first,
                                     **(kwargs | agent.observation))[case.score].to_numpy()
    say("| policy | mean | " + " | ".join(f"− {b}" for b in case.baselines) + " |")
    say("|---|---|" + "---|" * len(case.baselines))
    for label, x in played.items():
        cells = [fmt(boot.estimate(mean, x))]
        for b in case.baselines:
            if label == b:
                cells.append("")
                continue
            d = boot.estimate(mean, x, played[b])
            mark = "*" if d[1] > 0 or d[2] < 0 else ""
            cells.append(fmt(d) + mark)
        say(f"| {label} | " + " | ".join(cells) + " |")
    learned = [k for k in played if k not in case.baselines]
    if case.ratio is not None:
        for label in learned:
            r = ratio(played[label], played[case.reference])
            verdict = "holds" if r[1] >= case.ratio else "DOES NOT HOLD"
            say(f"- {label} / {case.reference}: {fmt(r)}; claim ≥ {case.ratio}: {verdict}")
    if "oracle" in played:
        for label in learned:
            f = advantage_fraction(played[label], played[case.reference], played["oracle"])
            say(f"- {label}: fraction of the oracle's advantage over {case.reference} "
                f"captured: {fmt(f)}")
    say("\n(* : the paired 95% interval excludes 0)")


def learning_curve(name: str, seeds: list[int], episodes: int, first: int, say: Report) -> None:
    """The first checkpoint of each seed whose paired interval against the case's reference
    lies above 0, with its wall-clock training time (``training.json``'s checkpoints)."""
    case = CASES[name]
    cfg = evaluation_config(case)
    kwargs = with_data_range(env_kwargs(cfg), "eval")
    ref = baseline(case.reference, cfg.market, reward_optimal(kwargs))
    y = run_episodes(ref.policy, episodes, seed=first, **(kwargs | ref.observation))
    boot = Bootstrap()
    for k in seeds:
        summary = run_dir(name, k) / "training.json"
        if not summary.is_file():
            continue
        found = None
        for point in json.loads(summary.read_text()).get("checkpoints", []):
            agent = checkpoint(point["path"], 0, cfg.market, kwargs)
            x = run_episodes(agent.policy, episodes, seed=first, **(kwargs | agent.observation))
            d = boot.estimate(mean, x[case.score].to_numpy(), y[case.score].to_numpy())
            if d[1] > 0:
                found = (point, d)
                break
        if found is None:
            say(f"- {name}/seed{k}: no checkpoint beats {case.reference}")
        else:
            point, d = found
            say(f"- {name}/seed{k}: first beats {case.reference} after {point['seconds']:.0f} s "
                f"of training ({point['env_steps']:,} env steps): {fmt(d)} on {episodes} "
                "episodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the first evaluation episode")
    parser.add_argument("--curve-episodes", type=int, default=500,
                        help="episodes a checkpoint of the learning curve is scored on")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="score the runs already trained")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every training")
    args = parser.parse_args()
    if any(CASES[c].market == "lobster_amzn" for c in args.cases):
        import_sample()
    if not args.evaluate_only:
        jobs = [(c, k) for c in args.cases for k in args.seeds]
        with ThreadPoolExecutor(args.jobs) as pool:
            for case, seed, seconds in pool.map(lambda j: train(*j, args.overrides), jobs):
                print(f"trained {case} seed {seed} in {seconds:.0f} s", flush=True)
    say = Report()
    for name in args.cases:
        evaluate(name, args.seeds, args.episodes, args.seed, say)
        for k in args.seeds:
            summary = run_dir(name, k) / "training.json"
            if summary.is_file():
                s = json.loads(summary.read_text())
                say(f"- {name}/seed{k}: {s['env_steps']:,} env steps in {s['seconds']:.0f} s "
                    f"of training ({s['env_steps_per_second']:,.0f}/s)")
        if name == "wide-ppo":
            learning_curve(name, args.seeds, args.curve_episodes, args.seed, say)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.md").write_text("\n".join(say.lines) + "\n")
    print(f"\nwritten to {OUT / 'summary.md'}")


if __name__ == "__main__":
    main()
