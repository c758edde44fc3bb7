"""The hyperparameter search behind the training presets: Optuna's TPE over the agent's
hyperparameters, the reward and the observation, each trial a fixed training budget scored on
common validation episodes.

    python benchmarks/tune.py wide --trials 40 --minutes 3              # PPO on wide
    python benchmarks/tune.py wide --trials 12 --steps 8000000 --episodes 300 \\
        --enqueue num_envs=128 n_steps=128 ...       # a preset's parameters as the first trial
    python benchmarks/tune.py as2008 --trials 20 --minutes 3 --score reward \\
        --score-reward running_inventory_penalty
    python benchmarks/tune.py wide --trials 40 -- agent.kwargs.n_epochs=5   # fixed overrides

Each trial trains the agent (``train.py``'s own training, the preset ``experiment=benchmark``)
for ``--steps`` env steps or ``--minutes`` of wall-clock time, then plays its final model on
``--episodes`` common episodes of the market (seeds from :data:`VALIDATION_SEED`: disjoint
from the training seeds, from ``evaluate.py``'s default episodes 0–999 and from the closing
comparison's, so the search never selects on the episodes the results are reported on) and
scores it by
``--score``: ``mean_variance`` (the default), the evaluation's mean–variance score of the final
PnL, E[PnL] − (γ/2)·Var[PnL] with the market's ``risk_aversion`` γ (a policy that earns by
holding large inventories pays for its variance, and a trial's score is not a lucky draw of a
high-variance policy); ``pnl``: the mean final PnL; ``reward``: the mean sum of the rewards of
``--score-reward``, a reward group of ``conf/reward/``. Avellaneda–Stoikov inventory is
played on the same episodes once, for reference.

The study is kept in ``runs/tune/<name>/study.log`` (Optuna's journal file: a second process
running the same command adds trials to the same study, one per core), each trial's run under
``runs/tune/<name>/trial-<k>/``; at the end the best trials are printed with their overrides,
and the best one's are written to ``runs/tune/<name>/best.yaml``. Optuna (T. Akiba et al.,
"Optuna: a next-generation hyperparameter optimization framework", KDD 2019) is in the
``dev`` extra.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from mmgym.evaluation import run_episodes
from mmgym.evaluation.metrics import mean_variance
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.lineup import baseline, checkpoint
from mmgym.kit.training import train

OUT = Path(__file__).resolve().parents[1] / "runs" / "tune"
VALIDATION_SEED = 3_000_000
"""The first seed of the validation episodes the trials are scored on."""

FEATURES = {
    "book": ["inventory", "volatility", "ofi", "vpin", "imbalance", "spread", "time_remaining"],
    "book+micro": ["inventory", "volatility", "ofi", "vpin", "imbalance", "spread",
                   "microprice", "trade_rate", "time_remaining"],
}
"""The observations a search may choose among on markets with a book (``features``)."""


def ppo_space(trial: optuna.Trial, market: Any) -> list[str]:
    """PPO's hyperparameters, its action range, reward and observation, as Hydra overrides.

    The batch settings are those that keep PPO at or above 30,000 env-steps/s end to end on
    a 2-core machine (``benchmarks/training.py --ppo-speed``: many environments, minibatches
    of thousands, few epochs, a small network), so that whatever the search finds trains fast.
    """
    envs = trial.suggest_categorical("num_envs", [64, 128, 256])
    n_steps = trial.suggest_categorical("n_steps", [64, 128, 256])
    batch = trial.suggest_categorical("batch_size", [2048, 4096, 8192])
    kwargs = {
        "n_steps": n_steps,
        "batch_size": min(batch, envs * n_steps),
        "n_epochs": trial.suggest_categorical("n_epochs", [1, 2, 3]),
        "learning_rate": _schedule(trial.suggest_categorical("lr_schedule", ["constant", "lin"]),
                                   trial.suggest_float("learning_rate", 3e-5, 3e-3, log=True)),
        "gamma": trial.suggest_categorical("gamma", [0.99, 0.995, 0.999, 0.9995]),
        "gae_lambda": trial.suggest_categorical("gae_lambda", [0.8, 0.9, 0.95, 0.98]),
        "clip_range": trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-7, 1e-2, log=True),
    }
    net = {"tiny": [32, 32], "small": [64, 64]}[
        trial.suggest_categorical("net_arch", ["tiny", "small"])]
    policy = {"net_arch": net, "log_std_init": trial.suggest_float("log_std_init", -2.0, 0.5)}
    overrides = [f"num_envs={envs}", f"++agent.kwargs={_hydra(kwargs)}",
                 f"++agent.policy_kwargs={_hydra(policy)}"]
    if market.name != "as2008":
        high = trial.suggest_categorical("action_high", [15, 20, 30])
        overrides.append(f"agent.action_bounds=[0,{high}]")
        features = trial.suggest_categorical("features", list(FEATURES))
        overrides.append(f"market.features=[{','.join(FEATURES[features])}]")
        overrides += _reward_space(trial, market)
    return overrides


def _schedule(kind: str, value: float) -> float | str:
    """A constant learning rate, or RL Zoo's ``lin_<v>`` (decayed to 0 over the steps)."""
    return value if kind == "constant" else f"lin_{value:.6g}"


def _hydra(values: dict[str, Any]) -> str:
    """A mapping as a Hydra override value, ``{a:1,b:[2,3]}``."""
    return "{" + ",".join(f"{k}:{json.dumps(v).replace(' ', '')}" for k, v in values.items()) + "}"


def _reward_space(trial: optuna.Trial, market: Any) -> list[str]:
    """The training reward: the market's default or the realized spread, each with the
    market's inventory penalty scaled, the plain PnL, or the asymmetrically dampened PnL."""
    reward = trial.suggest_categorical(
        "reward", ["default", "realized_spread", "pnl", "asymmetric_dampened_pnl"])
    overrides = [f"reward={reward}"]
    if reward in ("default", "realized_spread"):
        phi = OmegaConf.select(market, "rewards.pnl_minus_inventory_penalty.inventory_penalty")
        scale = trial.suggest_categorical("penalty_scale", [0.3, 1.0, 3.0, 10.0, 30.0])
        overrides.append(f"+reward.reward_kwargs.inventory_penalty={phi * scale:.6g}")
    if reward == "realized_spread":
        horizon = trial.suggest_categorical("horizon_s", [3.0, 10.0, 30.0, 60.0])
        overrides.append(f"+reward.reward_kwargs.horizon={horizon}")
    elif reward == "asymmetric_dampened_pnl":
        overrides.append(f"+reward.reward_kwargs.eta={trial.suggest_float('eta', 0.05, 1.0)}")
    return overrides


SPACES = {"ppo": ppo_space}


def _value(text: str) -> Any:
    """A parameter's value from the command line: a number if it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def budget(args: argparse.Namespace) -> list[str]:
    """A trial's training budget: ``--steps`` env steps (the same work for every trial
    whatever the machine's load, and what a ``lin_`` schedule decays over), else ``--minutes``
    of wall-clock time."""
    if args.steps:
        return [f"total_timesteps={args.steps}", "time_limit_s=0"]
    return ["total_timesteps=1000000000000", f"time_limit_s={60 * args.minutes}"]


def objective(args: argparse.Namespace, trial: optuna.Trial) -> float:
    """Train one trial's configuration and score it on the validation episodes."""
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        market = compose("config", overrides=[f"market={args.market}"]).market
        space = SPACES[args.agent](trial, market)
        cfg = compose("config", overrides=[
            f"market={args.market}", f"agent={args.agent}", "experiment=benchmark",
            *budget(args),
            "eval_episodes=0", f"seed={args.seed}", *space, *args.overrides])
    out = OUT / args.name / f"trial-{trial.number}"
    train(cfg, out)  # with its .hydra/config.yaml, which checkpoint() reads
    kwargs = score_kwargs(args)
    agent = checkpoint(str(out / "model.zip"), 0, cfg.market, kwargs)
    played = run_episodes(agent.policy, args.episodes, seed=VALIDATION_SEED,
                          **(kwargs | agent.observation))
    summary = json.loads((out / "training.json").read_text())
    trial.set_user_attr("overrides", space)
    trial.set_user_attr("env_steps", summary["env_steps"])
    trial.set_user_attr("mean_pnl", float(played["pnl"].mean()))
    trial.set_user_attr("std_pnl", float(played["pnl"].std()))
    trial.set_user_attr("mean_abs_inventory", float(played["mean_abs_inventory"].mean()))
    trial.set_user_attr("fills", float(played["fills"].mean()))
    score = SCORES[args.score](played, cfg.market.risk_aversion)
    return score if math.isfinite(score) else -math.inf


SCORES: dict[str, Callable[[pd.DataFrame, float], float]] = {
    "mean_variance": lambda e, gamma: float(mean_variance(gamma)(e["pnl"].to_numpy())),
    "pnl": lambda e, gamma: float(e["pnl"].mean()),
    "reward": lambda e, gamma: float(e["reward"].mean()),
}
"""Scores of a trial's validation episodes, by ``--score``."""


def score_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The environment the trials are scored in: the market with the scoring reward."""
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=[f"market={args.market}",
                                           f"reward={args.score_reward}"])
    return env_kwargs(cfg)


def reference(args: argparse.Namespace) -> float:
    """AS inventory's score on the validation episodes."""
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        market = compose("config", overrides=[f"market={args.market}"]).market
    c = baseline("as_inventory", market)
    played = run_episodes(c.policy, args.episodes, seed=VALIDATION_SEED,
                          **(score_kwargs(args) | c.observation))
    return SCORES[args.score](played, market.risk_aversion)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("market", help="a market config of conf/market/ (wide, lob, as2008)")
    parser.add_argument("--agent", default="ppo", choices=sorted(SPACES))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="training budget per trial, wall clock")
    parser.add_argument("--steps", type=int, default=0,
                        help="training budget per trial in env steps (instead of --minutes)")
    parser.add_argument("--enqueue", nargs="*", default=[], metavar="PARAM=VALUE",
                        help="a first trial's parameters (e.g. a preset's), the rest sampled")
    parser.add_argument("--episodes", type=int, default=1000, help="validation episodes")
    parser.add_argument("--score", default="mean_variance", choices=list(SCORES))
    parser.add_argument("--score-reward", default="default",
                        help="the reward group the episodes are scored with")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every trial")
    parser.add_argument("--sampler-seed", type=int, default=0,
                        help="seed of the TPE sampler (give a second process another one)")
    parser.add_argument("--name", help="the study's name (default <market>-<agent>)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every trial")
    args = parser.parse_args()
    args.name = args.name or f"{args.market}-{args.agent}"
    (OUT / args.name).mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(OUT / args.name / "study.log")))
    study = optuna.create_study(
        study_name=args.name, storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=args.sampler_seed, n_startup_trials=10))
    if args.enqueue:
        study.enqueue_trial({k: _value(v) for k, v in (p.split("=", 1) for p in args.enqueue)},
                            skip_if_exists=True)
    print(f"as_inventory on the {args.episodes} validation episodes: mean {args.score} "
          f"{reference(args):.4g}")
    study.optimize(lambda t: objective(args, t), n_trials=args.trials)
    done = [t for t in study.trials if t.value is not None]
    for t in sorted(done, key=lambda t: -t.value)[:5]:
        print(f"trial {t.number}: {args.score} {t.value:.4g} (PnL {t.user_attrs['mean_pnl']:.4g} "
              f"± {t.user_attrs['std_pnl']:.4g}, {t.user_attrs['env_steps']:,} steps)\n  "
              + " ".join(t.user_attrs["overrides"]))
    best = study.best_trial
    (OUT / args.name / "best.yaml").write_text(OmegaConf.to_yaml(
        {"value": best.value, "overrides": best.user_attrs["overrides"], **best.user_attrs}))


if __name__ == "__main__":
    main()
