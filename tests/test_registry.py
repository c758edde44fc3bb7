"""A user's own market, feature, reward and policy (tests/plugins/toy_plugin.py), registered
by name and used like the built-ins: from Python, by import path, and from the command line
(``plugins=[toy_plugin]`` with the user's market config on Hydra's search path)."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import mmgym
from mmgym import ConfigError, policies
from mmgym.evaluation import run_episodes
from mmgym.registry import FEATURES, MARKETS, POLICIES, REWARDS
from mmgym.vector import MarketMakingVectorEnv

PLUGINS = Path(__file__).resolve().parent / "plugins"
BIN = Path(sys.executable).parent

TOY_CONFIG = """\
defaults:
  - market_schema
name: toy
params: {T: 5.0}
features: [inventory, time_remaining, toy_last_move]
max_inventory: 10
baseline: {sigma: 1.0, A: 5.0, k: 2.0, gamma: 0.1, T: 5.0}
"""


@pytest.fixture
def toy():
    """The plugin imported afresh, so that it registers its objects (conftest restores the
    registries after each test)."""
    sys.modules.pop("toy_plugin", None)
    sys.path.insert(0, str(PLUGINS))
    try:
        return importlib.import_module("toy_plugin")
    finally:
        sys.path.remove(str(PLUGINS))


def test_a_users_objects_are_registered_by_name(toy) -> None:
    assert MARKETS["toy"] is toy.ToyMarket
    assert FEATURES["toy_last_move"] is toy.LastMove
    assert REWARDS["toy_spread_only"] is toy.spread_only
    assert POLICIES["toy_skew"] is toy.InventorySkew


def test_the_users_market_feature_and_reward_make_an_env(toy) -> None:
    env = MarketMakingVectorEnv(
        4, market="toy", features=["inventory", "toy_last_move"],
        feature_params={"toy_last_move": {"scale": 2.0}},
        reward_fn="toy_spread_only", reward_kwargs={"weight": 3.0}, T=2.0)
    obs, info = env.reset(seed=7)
    np.testing.assert_array_equal(obs[:, 1], 0.0)
    policy = policies.make("toy_skew", half_spread=0.2)
    for _ in range(10):
        mid = info["mid"].copy()
        obs, reward, _, _, info = env.step(policy(obs, info))
        # the feature: the mid's move in units of 2·σ√dt (σ = 1, dt = 0.1)
        np.testing.assert_allclose(obs[:, 1], (info["mid"] - mid) / (2 * math.sqrt(0.1)),
                                   rtol=1e-6)
        # the reward: 3 × the step's spread capture, which the info's PnL split reports
        spread = env.core.accounts.spread_change
        np.testing.assert_array_equal(reward, 3.0 * spread)
    assert env.core.accounts.inventory.any()  # the toy market filled the policy's quotes


def test_the_same_episodes_through_gym_make(toy) -> None:
    single = gym.make("mmgym/AvellanedaStoikov-v0", market="toy")
    vector = MarketMakingVectorEnv(1, market="toy")
    a, _ = single.reset(seed=3)
    b, _ = vector.reset(seed=3)
    for _ in range(20):
        step = np.array([0.3, 0.4], dtype=np.float32)
        a, ra, *_ = single.step(step)
        b, rb, *_ = vector.step(step[None])
        np.testing.assert_array_equal(a, b[0])
        assert ra == rb[0]


def test_an_import_path_works_without_registering() -> None:
    env = MarketMakingVectorEnv(2, market="mmgym.markets.as2008:AS2008Market",
                                reward_fn="mmgym.rewards.builtin.PnL")
    env.reset(seed=0)
    assert env.core.market.name == "as2008"


def test_registration_errors_name_the_value(toy) -> None:
    with pytest.raises(ConfigError, match="'toy' is already registered"):
        mmgym.register_market(type("Other", (), {"name": "toy"}))
    with pytest.raises(ConfigError, match="name=None: expected a non-empty string"):
        mmgym.register_policy(object)
    with pytest.raises(ConfigError, match=r"market='toyy': expected one of .*'toy'.*"
                                          r"register_market"):
        MarketMakingVectorEnv(1, market="toyy")
    with pytest.raises(ConfigError, match=r"features='mmgym\.nothing:Here': cannot import"):
        MarketMakingVectorEnv(1, market="as2008", features=["mmgym.nothing:Here"])


def run(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(PLUGINS)}
    return subprocess.run([str(BIN / command), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_the_users_objects_from_the_command_line(tmp_path: Path) -> None:
    """``mmgym-train`` on the user's market (its config in the user's directory), feature and
    reward, then ``mmgym-evaluate`` of the trained agent beside the user's policy."""
    (tmp_path / "conf" / "market").mkdir(parents=True)
    (tmp_path / "conf" / "market" / "toy.yaml").write_text(TOY_CONFIG)
    common = [f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "plugins=[toy_plugin]",
              "market=toy", "reward.reward_fn=toy_spread_only", "progress=false"]
    train = run("mmgym-train", *common, "experiment=quick", "total_timesteps=2048",
                "num_envs=4", "eval_episodes=10", "hydra.run.dir=run", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "run" / "model.zip").exists()
    evaluate = run("mmgym-evaluate", *common, "policies=[toy_skew]", "reference=toy_skew",
                   "checkpoints=[run/model.zip]", "episodes=20", "plots=false",
                   "tensorboard=false", "hydra.run.dir=eval", cwd=tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "eval" / "summary.csv")
    assert set(summary["policy"]) == {"toy_skew", "ppo-seed0"}
    assert "name: toy" in (tmp_path / "run" / ".hydra" / "config.yaml").read_text()


def test_a_plugin_that_cannot_be_imported_is_named(tmp_path: Path) -> None:
    result = run("mmgym-evaluate", "plugins=[no_such_plugin]", "episodes=2", cwd=tmp_path)
    assert result.returncode != 0
    assert "plugins: cannot import 'no_such_plugin': ModuleNotFoundError" in result.stderr


def test_run_episodes_plays_the_users_policy(toy) -> None:
    table = run_episodes(policies.make("toy_skew"), 4, 0, "toy",
                         features=["inventory", "time_remaining"])
    assert len(table) == 4 and table["fills"].gt(0).all()
