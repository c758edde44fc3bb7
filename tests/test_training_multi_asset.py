"""The training kit on a multi-asset market: the episode logging of ``(n, N)`` info, a short
PPO run with its closing comparison, the preset, and (slow) the command line end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mmgym.evaluation import rollout
from mmgym.evaluation.episodes import ASSET_STATISTICS, asset_column
from mmgym.evaluation.metrics import metrics
from mmgym.evaluation.tensorboard import EPISODE_TAGS, SCALARS
from mmgym.kit.config import CONF_MODULE, register
from mmgym.kit.training import Progress, train
from mmgym.policies import make
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))
import multi_asset_standin  # tiny_multi, a user's multi-asset policy

PLUGINS = Path(__file__).resolve().parent / "plugins"
ROOT = Path(__file__).resolve().parents[1]
SHORT = {"episode_seconds": 5.0}  # 50 steps of 0.1 s


@pytest.fixture(autouse=True)
def _standins() -> None:
    """``tiny_multi`` registered (the registries are restored after each test)."""
    multi_asset_standin.register()


def config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


def per_asset_tags(assets: int) -> dict[str, str]:
    """Each asset's per-episode tags and their columns."""
    return {asset_column(tag, a): asset_column(column, a) for a in range(assets)
            for tag, column in EPISODE_TAGS.items() if column in ASSET_STATISTICS}


@pytest.mark.parametrize("view", ["vector", "sb3"])
def test_training_logs_the_portfolio_and_each_asset(tmp_path: Path, view: str) -> None:
    """A fixed policy played through training's logging of ``(n, N)`` info (Q-learning's
    NextStep vector env, SB3's SameStep adapter) logs, episode for episode, the evaluation's
    portfolio and per-asset statistics."""
    n, seed = 3, 40
    policy = make("tiny_multi", assets=2, asset_feature_names=("inventory",), half_spread=4.0)
    progress = Progress(config("market=multi_wide", f"num_envs={n}"), tmp_path, 0,
                        next_step_autoreset=view == "vector", assets=2)
    if view == "vector":
        env = MarketMakingVectorEnv(n, market="multi_asset", **SHORT)
        obs, info = env.reset(seed=seed)
    else:
        env = MarketMakingSB3VecEnv(n, market="multi_asset", info_dicts=False, **SHORT)
        env.seed(seed)
        obs, info = env.reset(), env.step_info
    horizon = env.core.horizon_steps
    for t in range(1, horizon + 1):  # the first episode of each env
        if view == "vector":
            obs, rewards, ended, _, info = env.step(policy(obs, info))
            progress.step(t * n, rewards, ended, info)
        else:
            obs, rewards, ended, _ = env.step(policy(obs, info))
            progress.step(t * n, rewards, ended, env.step_info)
            info = env.step_info
    progress.log.close()
    first = rollout(policy, n, seed=seed, market="multi_asset", **SHORT).episodes
    np.testing.assert_array_equal(progress.recent, first["pnl"])
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    for tag, column in EPISODE_TAGS.items() | per_asset_tags(2).items():
        logged = acc.Scalars(f"mmgym/{tag}")
        assert [e.step for e in logged] == [horizon * n], tag
        assert logged[0].value == np.float32(first[column].mean()), tag


def test_ppo_trains_on_the_assets_and_compares_with_as_on_each(tmp_path: Path) -> None:
    cfg = config("agent=ppo", "market=multi_wide", "total_timesteps=1024", "num_envs=4",
                 "agent.kwargs.n_steps=256", "eval_episodes=6", "checkpoint_every=0",
                 "agent.action_bounds=[0,30]", "+market.params.episode_seconds=10")
    summary = train(cfg, tmp_path)
    assert list(summary.index.unique("policy")) == ["as_inventory", "ppo"]
    assert list(summary.loc["ppo"].index) == [m.name for m in metrics(0.001, 2)]
    episodes = pd.read_parquet(tmp_path / "comparison" / "episodes.parquet")
    np.testing.assert_array_equal(episodes["pnl"], episodes["pnl_0"] + episodes["pnl_1"])
    assert {"mmgym/" + k for k in [*SCALARS, *per_asset_tags(2)]} <= _scalars(tmp_path)


def test_the_multi_asset_preset_composes() -> None:
    cfg = config("experiment=multi_ppo")
    assert (cfg.market.name, cfg.market.params.assets, cfg.reward.reward_fn, cfg.agent.algo) == (
        "multi_asset", 2, "realized_spread", "PPO")
    assert cfg.agent.normalize_actions and list(cfg.agent.action_bounds) == [0.0, 30.0]
    assert cfg.num_envs * cfg.agent.kwargs.n_steps % cfg.agent.kwargs.batch_size == 0
    assert cfg.market.rewards.portfolio_inventory_penalty.inventory_penalty == 2.9e-8
    portfolio = config("market=multi_wide", "reward=portfolio_inventory_penalty")
    assert portfolio.reward.reward_fn == "portfolio_inventory_penalty"


def test_tabular_qlearning_is_refused_on_several_assets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent.algo=qlearning: tabular Q-learning quotes "
                                          r"one asset .* 'multi_asset' has 2 assets"):
        train(config("agent=qlearning", "market=multi_wide"), tmp_path)
    assert not tmp_path.joinpath(".hydra").exists()


@pytest.mark.slow  # a tiny PPO run and the evaluation's ten policies, each a subprocess
def test_train_and_evaluate_on_the_assets_from_the_command_line(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p)}
    common = ["plugins=[multi_asset_standin]", "progress=false",
              "+market.params.episode_seconds=20"]
    trained = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "experiment=multi_ppo", "num_envs=8",
         "total_timesteps=16384", "agent.kwargs.batch_size=1024", "checkpoint_every=8192",
         "eval_episodes=10", *common],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "runs/multi_ppo/multi_wide/ppo-seed0"
    assert "ppo vs Avellaneda–Stoikov on 10 common episodes of multi_asset" in trained.stdout
    assert {"model.zip", "model.vecnormalize.pkl", "training.json"} <= {
        p.name for p in run.iterdir()}
    assert {"mmgym/episode_pnl_0", "mmgym/episode_pnl_1"} <= _scalars(run)
    comparison = pd.read_csv(run / "comparison" / "summary.csv", index_col=[0, 1])
    assert {("ppo", "mean_pnl_1"), ("as_inventory", "mean_pnl_0")} <= set(comparison.index)
    evaluated = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "market=multi_wide",
         f"checkpoints=[{run / 'model.zip'},{run / 'checkpoints' / 'model_8192.zip'}]",
         "episodes=10", "bootstrap_resamples=200", "name=multi", *common],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    out = tmp_path / "runs/eval/multi/multi_wide"
    summary = pd.read_csv(out / "summary.csv", index_col=[0, 1])
    policies = list(summary.index.unique("policy"))
    assert policies[0] == "as_inventory" and policies[-2:] == ["ppo-seed0",
                                                               "ppo-seed0/model_8192"]
    assert ("ppo-seed0", "adverse_selection_1") in summary.index
    assert {f"{name}.png" for name in ("pnl_distribution", "pnl_over_time", "inventory_paths",
                                       "quotes")} <= {p.name for p in out.iterdir()}


def _scalars(run: Path) -> set[str]:
    tags = set()
    for events in (run / "tensorboard").glob("events.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags
