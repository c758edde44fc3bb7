"""A training run from a composed configuration (see ``conf/`` and :mod:`mmgym.kit.config`).

Builds the environment, trains the agent (tabular Q-learning or any Stable-Baselines3
algorithm) with a progress bar and the ``mmgym/*`` TensorBoard scalars, checkpoints it,
saves the final model, and compares it with Avellaneda–Stoikov on common seeded episodes.
Ctrl-C saves a checkpoint and stops cleanly.

The scalars are the statistics of each episode as it ends
(:class:`mmgym.evaluation.episodes.EpisodeStats`, the evaluation's own definitions), written
by the evaluation's writer (:class:`mmgym.evaluation.tensorboard.TensorBoardRun`) into
``tensorboard/``. The closing comparison is ``mmgym-evaluate``'s
(:func:`mmgym.kit.compare.compare`: the same lineup, metrics, report and files, without
plots or TensorBoard runs) on ``eval_episodes`` episodes from :data:`EVAL_SEED`, the trained
agent against :data:`REFERENCE`, into ``comparison/``.

On a multi-asset market (``multi_asset``) an SB3 agent quotes every asset (actions of a bid
and an ask offset per asset); the scalars are the portfolio's, with each asset's beside them
(``mmgym/episode_pnl_0``, ...: :mod:`mmgym.evaluation.tensorboard`), and the comparison's
reference is Avellaneda–Stoikov on every asset (:mod:`mmgym.kit.lineup`). Tabular Q-learning
quotes one asset and is refused there before anything is written.

On a ``replay`` market the agent trains on the market config's ``range`` (``train`` in
``conf/market/replay.yaml``) and the comparison plays :data:`COMPARE_RANGE`, the recording's
evaluation range; both ranges are printed, and checked before training.

Seeds (:mod:`mmgym.rng`, "Seed spaces"): the run with ``seed=k`` trains environment ``j`` on
the market streams of seed ``training_seed(k, j)`` = 2^63 + k·2^16 + j, in the space reserved
for training, so runs with different seeds share no stream (they are independent
replicates) and evaluations, whose seeds lie below 2^63, never replay a training episode.
``k`` also seeds the agent's own generators (exploration, network initialisation). A run
resumed from a checkpoint of ``S`` steps (summed over the environments) seeds every
environment at episode ``S`` of its stream (``options={"episode": S}``; a new run at 0): an
environment plays at most one episode per step of its own, so every episode the run played
before the checkpoint has an index below ``S``, and each resumed segment starts past the
previous ones.

Crash safety: every checkpoint, the final model and its companions included, is written
atomically (:mod:`mmgym.atomic`; an SB3 checkpoint's model last, :func:`mmgym.agents.sb3.save`),
so a run killed at any moment, SIGKILL included, leaves its last checkpoint loadable, and
``resume=<run directory>`` continues from the newest (:func:`latest_checkpoint`). A run holds
an exclusive lock on ``<run directory>/.lock`` (:func:`run_lock`) from before its first write
to its end: a second run pointed at the same directory is refused, naming it and the
holder's pid. The operating system releases the lock however the holder ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from mmgym.agents import QLearning
from mmgym.agents import sb3 as sb3_agents
from mmgym.agents.qlearning import HYPERPARAMETERS
from mmgym.atomic import replacing
from mmgym.evaluation import data_window
from mmgym.evaluation.episodes import EpisodeStats
from mmgym.evaluation.metrics import Bootstrap, earns, metrics, sharpe
from mmgym.evaluation.rollout import check_tables
from mmgym.evaluation.tensorboard import TensorBoardRun
from mmgym.kit.compare import compare as play_comparison
from mmgym.kit.compare import lineup
from mmgym.kit.config import EvalConfig, action_form, env_kwargs, validate, with_data_range
from mmgym.kit.lineup import Contender, market_layout
from mmgym.registry import import_plugins
from mmgym.rng import training_seed
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError, check_known_keys, placed
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import Bins, QuoteGrid

EVAL_SEED = 1_000_000
"""The closing comparison's first seed: its episodes are those of seeds ``EVAL_SEED`` on, apart
from ``evaluate.py``'s default (0–999) and below the training seeds (:func:`training_seed`)."""
COMPARE_RANGE = "eval"
"""The range of a replay recording the closing comparison plays (windows training never
saw when it trained on ``train``)."""
REFERENCE = "as_inventory"
"""The policy the closing comparison sets the trained agent against."""
LOCK_FILE = ".lock"
"""The file in a run directory a run locks (:func:`run_lock`)."""
CHECKPOINT = re.compile(r"(model|qtable)(_\d+(_interrupted)?)?\.(zip|npz)")
"""The name of a checkpoint (``checkpoints/model_<steps>.zip``, ``qtable_<steps>.npz``,
with ``_interrupted`` when Ctrl-C wrote it) or of a final model (``model.zip``,
``qtable.npz``)."""
RECENT_EPISODES = 100
"""The last episodes the progress bar's mean PnL, ``mmgym/sharpe`` and the final HParams
figures are taken over."""


class Progress:
    """The progress bar (steps/s, recent mean episode PnL) and the TensorBoard scalars:
    each step's episodes that ended, their mean at that step, and the Sharpe ratio of the
    last :data:`RECENT_EPISODES` episodes' PnL (the portfolio's on a market of several
    ``assets``, whose ``info`` arrays are ``(num_envs, assets)``)."""

    def __init__(self, cfg: DictConfig, out: Path, start: int, next_step_autoreset: bool,
                 assets: int = 1) -> None:
        self.stats = EpisodeStats(cfg.num_envs, next_step_autoreset=next_step_autoreset,
                                  assets=assets)
        self.recent: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.log = TensorBoardRun(out / "tensorboard")
        self.bar = tqdm(total=cfg.total_timesteps, initial=start, unit="step",
                        disable=not cfg.progress, dynamic_ncols=True)
        self.steps = start
        self.started = time.perf_counter()
        self.time_limit_s = cfg.time_limit_s
        self.checkpoints: list[dict[str, Any]] = []

    def saved(self, path: Path, steps: int) -> None:
        """Note a checkpoint written at ``steps`` env steps, with the wall-clock seconds
        since the run started (``training.json``'s ``checkpoints``: a learning curve in time)."""
        self.checkpoints.append({"path": str(path), "env_steps": steps,
                                 "seconds": time.perf_counter() - self.started})

    def in_time(self) -> bool:
        """False once the run's ``time_limit_s`` (if any) has passed."""
        return not self.time_limit_s or time.perf_counter() - self.started < self.time_limit_s

    def step(self, steps: int, rewards: np.ndarray, ended: np.ndarray,
             info: dict[str, np.ndarray]) -> None:
        """Take the vector environment's step that brought the run to ``steps`` env steps."""
        finished = self.stats.update(rewards, ended, info)
        self.bar.update(steps - self.steps)
        self.steps = steps
        if finished is None:
            return
        self.recent.extend(finished["pnl"])
        self.log.episodes(finished, steps)
        if len(self.recent) > 1:
            self.log.scalar("sharpe", self.sharpe(), steps)
        self.bar.set_postfix(pnl=f"{np.mean(self.recent):.3g}", refresh=False)

    def sharpe(self) -> float:
        """The Sharpe ratio of the recent episodes' PnL (:func:`mmgym.evaluation.metrics.
        sharpe`); NaN for fewer than two."""
        return float(sharpe(np.array(self.recent))) if len(self.recent) > 1 else np.nan

    def close(self) -> None:
        self.bar.close()


def train(cfg: DictConfig, out: Path) -> pd.DataFrame:
    """Train the configured agent into ``out``; return the closing comparison's summary
    (:func:`compare`; empty without ``eval_episodes``). Every value is checked before the
    first step and before anything is written (the run's, the market's, the comparison's
    reference, the agent's: :func:`check_comparison`, :func:`mmgym.agents.sb3.make`)."""
    import_plugins(cfg.plugins)
    validate(cfg)
    if cfg.agent.algo == "qlearning":
        assets = market_layout(cfg.market)[0]
        if assets > 1:
            raise ConfigError(
                f"agent.algo=qlearning: tabular Q-learning quotes one asset (its grid is a bid "
                f"and an ask offset); market {cfg.market.name!r} has {assets} assets: train an "
                "SB3 agent (agent=ppo)")
    torch.set_num_threads(cfg.torch_threads)
    kwargs = env_kwargs(cfg)
    print(OmegaConf.to_yaml(cfg))
    window = data_window(kwargs)
    if window is not None:
        print(f"training data: {window}")
        if cfg.eval_episodes:  # its range holds an episode: checked before training
            print(f"comparison data: {data_window(with_data_range(kwargs, COMPARE_RANGE))}")
    check_comparison(cfg, kwargs)
    with run_lock(out):
        save_config(cfg, out)
        with _interruptible():
            if cfg.agent.algo == "qlearning":
                policy = _train_qlearning(cfg, kwargs, out)
            else:
                policy = _train_sb3(cfg, kwargs, out)
        if cfg.eval_episodes:
            where = f" ({COMPARE_RANGE} range)" if window is not None else ""
            print(f"\n{cfg.agent.name} vs Avellaneda–Stoikov on {cfg.eval_episodes} common "
                  f"episodes of {cfg.market.name}{where}:")
        return compare(cfg, kwargs, policy, out / "comparison")


def save_config(cfg: DictConfig, out: Path) -> None:
    """Write the run's configuration to ``<out>/.hydra/config.yaml`` (what evaluation reads
    to load its checkpoints), and the command line's overrides to ``overrides.yaml`` when
    Hydra started the run, atomically. The run writes them itself, under its lock, instead of
    Hydra (``hydra.output_subdir: null`` in ``conf/config.yaml``): a second run refused at the
    lock has written nothing in the first one's directory."""
    hydra_dir = out / ".hydra"
    with replacing(hydra_dir / "config.yaml") as tmp:
        OmegaConf.save(cfg, tmp)
    if HydraConfig.initialized():
        overrides = OmegaConf.create(list(HydraConfig.get().overrides.task))
        with replacing(hydra_dir / "overrides.yaml") as tmp:
            OmegaConf.save(overrides, tmp)


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory ``out`` (``fcntl.flock`` on
    :data:`LOCK_FILE`, which records the holder's pid) for the block; if another process
    holds it, raise :class:`ConfigError` naming the directory and that pid. The lock is the
    open file's: the operating system releases it when the process ends, however it ends."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 20, 0).decode(errors="replace").strip()
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise ConfigError(f"run directory {str(out)!r} is in use by another training "
                              f"run{pid}; wait for it to end or choose another directory "
                              "(hydra.run.dir=...)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint of the run directory ``run``: of its final model and
    ``checkpoints/`` (names :data:`CHECKPOINT`), the last written (modification time, then
    step count), None if it has none. Every one is complete (module doc), so a run killed at
    any moment continues from this one."""
    found = [p for p in [*run.glob("*"), *run.glob("checkpoints/*")]
             if CHECKPOINT.fullmatch(p.name) and p.is_file()]

    def written(path: Path) -> tuple[int, int]:
        steps = re.findall(r"\d+", path.name)
        return path.stat().st_mtime_ns, int(steps[0]) if steps else -1

    return max(found, key=written, default=None)


def _resume_from(resume: str) -> str:
    """The checkpoint ``resume=`` names: a file as it is, a run directory's newest checkpoint
    (:func:`latest_checkpoint`)."""
    if not Path(resume).is_dir():
        return resume
    latest = latest_checkpoint(Path(resume))
    if latest is None:
        raise ConfigError(f"resume={resume!r}: no checkpoint in this run directory")
    print(f"resuming from {latest}")
    return str(latest)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT (Ctrl-C, ``kill -INT``) interrupts the training however the run was started: a
    process started in the background by a non-interactive shell inherits SIGINT ignored, and
    Python then never raises KeyboardInterrupt. Only the main thread can set it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def compare(cfg: DictConfig, kwargs: dict[str, Any], policy: Any, out: Path) -> pd.DataFrame:
    """The trained ``policy`` and :data:`REFERENCE` on the same ``eval_episodes`` seeded
    episodes from :data:`EVAL_SEED` (on a replay market, of :data:`COMPARE_RANGE`) of the
    environment ``kwargs``: ``mmgym-evaluate``'s comparison (:func:`mmgym.kit.compare.compare`)
    printed and written into ``out``. Returns its summary
    (:func:`mmgym.evaluation.metrics.summarize`), empty without ``eval_episodes``."""
    if not cfg.eval_episodes:
        return pd.DataFrame()
    evaluation = comparison_config(cfg)
    kwargs = with_data_range(kwargs, evaluation.data_range)
    trained = Contender(cfg.agent.name, policy, params={"algo": cfg.agent.algo})
    return play_comparison(evaluation, lineup(evaluation, kwargs, [trained]), kwargs, out,
                           data_window(kwargs))


def check_comparison(cfg: DictConfig, kwargs: dict[str, Any]) -> None:
    """Build the closing comparison's reference (:data:`REFERENCE`, its parameters from
    ``market.baseline`` and ``market.policies``) and check its rollouts' tables fit in memory
    (:func:`mmgym.evaluation.rollout.check_tables`), so that either fails before training;
    nothing without ``eval_episodes``."""
    if not cfg.eval_episodes:
        return
    evaluation = comparison_config(cfg)
    kwargs = with_data_range(kwargs, evaluation.data_range)
    env = MarketMakingVectorEnv(1, **kwargs)  # the market's own errors first, as its own
    check_tables("eval_episodes", cfg.eval_episodes, env.core.horizon_steps, env.core.assets)
    env.close()
    lineup(evaluation, kwargs)


def comparison_config(cfg: DictConfig) -> DictConfig:
    """The evaluation configuration (:class:`mmgym.kit.config.EvalConfig`) of the training
    run ``cfg``'s closing comparison: its market and reward, :data:`REFERENCE` alone,
    ``eval_episodes`` episodes from :data:`EVAL_SEED` of :data:`COMPARE_RANGE`, the
    evaluation's other defaults, no plots or TensorBoard runs."""
    return OmegaConf.merge(OmegaConf.structured(EvalConfig), {
        "market": cfg.market, "reward": cfg.reward, "plugins": cfg.plugins,
        "policies": [], "reference": REFERENCE, "data_range": COMPARE_RANGE,
        "episodes": cfg.eval_episodes, "seed": EVAL_SEED, "plots": False,
        "tensorboard": False, "progress": cfg.progress,
    })


def _train_qlearning(cfg: DictConfig, kwargs: dict[str, Any], out: Path) -> QLearning:
    env = MarketMakingVectorEnv(cfg.num_envs, **kwargs)
    if cfg.resume:
        resume = _resume_from(cfg.resume)
        agent = QLearning.load(resume)
        if agent.bins.feature_names != env.feature_names:
            raise ConfigError(
                f"resume={resume!r}: the checkpoint observes {list(agent.bins.feature_names)}, "
                f"this run {list(env.feature_names)}"
            )
    else:
        a = cfg.agent
        bins = Bins(env.feature_names, OmegaConf.to_container(a.bins))
        grid = QuoteGrid(list(a.grid["bid"]), list(a.grid["ask"]))
        given = OmegaConf.to_container(a.kwargs)
        check_known_keys("agent.kwargs", given, HYPERPARAMETERS)
        try:
            agent = QLearning(bins, grid, seed=cfg.seed, **given)
        except ConfigError as e:
            raise placed(e, dict.fromkeys(HYPERPARAMETERS, "agent.kwargs")) from None
    progress = Progress(cfg, out, agent.steps, next_step_autoreset=True)
    next_checkpoint = _next(agent.steps, cfg.checkpoint_every)

    def callback(agent: QLearning, rewards: np.ndarray, ended: np.ndarray, info: dict) -> bool:
        nonlocal next_checkpoint
        progress.step(agent.steps, rewards, ended, info)
        if next_checkpoint and agent.steps >= next_checkpoint:
            progress.saved(agent.save(out / "checkpoints" / f"qtable_{agent.steps}.npz"),
                           agent.steps)
            next_checkpoint = _next(agent.steps, cfg.checkpoint_every)
        return progress.in_time()

    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    # seeds the streams (env j: training_seed(k, j), at episode S on resume: module doc);
    # learn's reset, without a seed, starts the next episode of each
    env.reset(seed=training_seed(cfg.seed), options={"episode": agent.steps})
    started = _clock()
    try:
        agent.learn(env, cfg.total_timesteps, callback=callback)
    except KeyboardInterrupt:
        path = agent.save(out / "checkpoints" / f"qtable_{agent.steps}_interrupted.npz")
        print(f"\ninterrupted: checkpoint saved to {path}")
    finally:
        progress.close()
    spent = _since(started)
    agent.save(out / "qtable.npz")
    _finish(out, cfg, progress, agent.steps, spent)
    return agent


def _train_sb3(cfg: DictConfig, kwargs: dict[str, Any], out: Path) -> sb3_agents.SB3Policy:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    a = cfg.agent
    # SB3 reads every env's info dict each step; Progress reads the arrays (step_info)
    adapter = MarketMakingSB3VecEnv(cfg.num_envs, **kwargs, **action_form(a), info_dicts=False)
    venv = VecMonitor(adapter)
    if cfg.resume:
        model = sb3_agents.load(a.algo, _resume_from(cfg.resume), venv)
    else:
        if a.normalize:
            venv = VecNormalize(venv, norm_reward=False)
        model = sb3_agents.make(a.algo, a.policy, venv, cfg.seed,
                                OmegaConf.to_container(a.policy_kwargs),
                                OmegaConf.to_container(a.kwargs))
    # after SB3 seeded the env with the model's seed (building or loading it): env j plays
    # training_seed(k, j) from episode S on resume (module doc), from learn's first reset
    model.get_env().seed(training_seed(cfg.seed))
    model.get_env().set_options({"episode": model.num_timesteps})
    progress = Progress(cfg, out, model.num_timesteps, next_step_autoreset=False,
                        assets=adapter.core.assets)

    class Callback(BaseCallback):
        next_checkpoint = _next(model.num_timesteps, cfg.checkpoint_every)

        def _on_step(self) -> bool:
            progress.step(self.num_timesteps, np.asarray(self.locals["rewards"]),
                          np.asarray(self.locals["dones"]), adapter.step_info)
            if self.next_checkpoint and self.num_timesteps >= self.next_checkpoint:
                path = out / "checkpoints" / f"model_{self.num_timesteps}.zip"
                sb3_agents.save(self.model, path)
                progress.saved(path, self.num_timesteps)
                self.next_checkpoint = _next(self.num_timesteps, cfg.checkpoint_every)
            return progress.in_time()

    started = _clock()
    try:
        model.learn(cfg.total_timesteps - model.num_timesteps, callback=Callback(),
                    reset_num_timesteps=not cfg.resume)
    except KeyboardInterrupt:
        path = out / "checkpoints" / f"model_{model.num_timesteps}_interrupted.zip"
        sb3_agents.save(model, path)
        print(f"\ninterrupted: checkpoint saved to {path}")
    finally:
        progress.close()
    spent = _since(started)
    sb3_agents.save(model, out / "model.zip")
    _finish(out, cfg, progress, model.num_timesteps, spent)
    return sb3_agents.SB3Policy(model)


def _next(steps: int, every: int) -> int:
    return (steps // every + 1) * every if every else 0


def _clock() -> tuple[float, float]:
    """Wall-clock and this process's CPU time, seconds."""
    return time.perf_counter(), time.process_time()


def _since(started: tuple[float, float]) -> tuple[float, float]:
    """Wall-clock and CPU seconds since ``started``, a :func:`_clock` reading."""
    now = _clock()
    return now[0] - started[0], now[1] - started[1]


def _finish(out: Path, cfg: DictConfig, progress: Progress, steps: int,
            spent: tuple[float, float]) -> None:
    """The run's hyperparameters and final figures in TensorBoard, and ``training.json``
    (the training's ``seconds`` of wall-clock and ``cpu_seconds`` of this process's CPU
    time, ``spent``, and the ``checkpoints`` written: path, env steps, seconds since the run
    started). The final figures are the last episodes' mean PnL, their Sharpe ratio and the
    steps per second; the Sharpe ratio enters HParams, a table to rank runs by, only where
    they earn (:meth:`mmgym.evaluation.tensorboard.TensorBoardRun.hparams`)."""
    seconds, cpu_seconds = spent
    flat = pd.json_normalize(OmegaConf.to_container(cfg, resolve=True), sep=".").iloc[0]
    recent = np.array(progress.recent)
    rate = steps / max(seconds, 1e-9)
    final = {"episode_pnl": float(recent.mean()) if len(recent) else 0.0,
             "steps_per_second": rate, "sharpe": progress.sharpe()}
    ratios = {m.name for m in metrics(cfg.market.risk_aversion) if m.if_earning}
    progress.log.hparams(flat.to_dict(), final, earns=earns(recent, Bootstrap()),
                         ratios=ratios)
    progress.log.close()
    summary = {"env_steps": steps, "seconds": seconds, "cpu_seconds": cpu_seconds,
               "env_steps_per_second": rate, "checkpoints": progress.checkpoints}
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    print(f"trained {steps:,} env steps in {seconds:.1f} s ({rate:,.0f} steps/s)")
