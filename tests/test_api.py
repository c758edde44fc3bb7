"""Gymnasium and Stable-Baselines3 API conformance of every registered environment."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import VecMonitor

import mmgym
from mmgym.accounting import INFO_KEYS

# the replay market needs a recording (data_path): tests/test_replay.py runs these checks on it
ENV_IDS = [e for e, market in mmgym.ENV_IDS.items() if market != "replay"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id: str) -> None:
    gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id: str) -> None:
    with warnings.catch_warnings():
        # SB3 recommends a [-1, 1] action box; ours is in market units, by design
        warnings.filterwarnings("ignore", message="We recommend you to use a symmetric")
        sb3_check_env(gym.make(env_id).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_entry_point(env_id: str) -> None:
    env = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(env.unwrapped, mmgym.MarketMakingVectorEnv)
    obs, info = env.reset(seed=0)
    assert obs.shape == (4, len(env.unwrapped.feature_names))
    assert env.observation_space.contains(obs)
    obs, rew, term, trunc, info = env.step(env.action_space.sample())
    assert rew.shape == term.shape == trunc.shape == (4,)
    assert rew.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
    assert set(INFO_KEYS) <= set(info)
    assets = env.unwrapped.core.assets  # a multi-asset env's info: one column per asset
    shape = (4,) if assets == 1 else (4, assets)
    assert all(info[k].shape == shape and info["_" + k].all() for k in INFO_KEYS)


def test_single_env_info_and_spaces() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0")
    obs, info = env.reset(seed=1)
    assert env.unwrapped.feature_names == ("inventory", "time_remaining")
    assert obs.dtype == np.float32 and obs.tolist() == [0.0, 1.0]
    assert list(info) == list(INFO_KEYS)
    assert all(type(v) is float for v in info.values())
    assert np.isnan(info["bid_price"]) and info["mid"] == 100.0
    assert env.action_space.low.tolist() == [-10.0, -10.0]
    assert env.action_space.high.tolist() == [10.0, 10.0]


def test_as2008_episode_length_and_termination() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0")
    env.reset(seed=0)
    for t in range(1, 201):
        obs, _, terminated, truncated, _ = env.step(np.array([1.0, 1.0]))
        assert not truncated
        assert terminated == (t == 200)
        assert obs[1] == pytest.approx(1 - t / 200)
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(np.array([1.0, 1.0]))


def test_vector_next_step_autoreset() -> None:
    env = gym.make_vec("mmgym/AvellanedaStoikov-v0", num_envs=3, dt=0.25,
                       vectorization_mode="vector_entry_point")
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    env.reset(seed=0)
    a = np.ones((3, 2))
    for _ in range(3):
        assert not env.step(a)[2].any()
    obs, rew, term, _, info = env.step(a)
    assert term.all()
    # the next step resets, ignoring the actions (even invalid ones): first observation,
    # zero reward, not terminated, fresh accounts
    obs, rew, term, _, info = env.step(np.full((3, 2), np.nan))
    assert (obs == [[0.0, 1.0]] * 3).all() and (rew == 0).all() and not term.any()
    assert (info["pnl"] == 0).all() and np.isnan(info["bid_price"]).all()


def test_vector_same_step_autoreset() -> None:
    env = mmgym.MarketMakingVectorEnv(2, dt=0.5, autoreset_mode="SameStep")
    env.reset(seed=0)
    env.step(np.ones((2, 2)))
    obs, _, term, _, info = env.step(np.ones((2, 2)))
    assert term.all()
    assert (obs[:, 1] == 1.0).all()
    assert (info["final_obs"][:, 1] == 0.0).all()
    assert set(INFO_KEYS) <= set(info["final_info"])


def test_vector_reset_mask() -> None:
    env = mmgym.MarketMakingVectorEnv(3)
    env.reset(seed=0)
    env.step(np.ones((3, 2)))
    obs, _ = env.reset(options={"reset_mask": np.array([True, False, True])})
    assert obs[0, 1] == obs[2, 1] == 1.0 and obs[1, 1] == pytest.approx(1 - 1 / 200)


def mean_episode_reward(model, episodes: int = 64) -> float:
    """The model's deterministic mean episode reward on as2008 episodes of seeds 1000, ...."""
    env = mmgym.MarketMakingVectorEnv(episodes)
    obs, _ = env.reset(seed=1000)
    total, done = np.zeros(episodes), np.zeros(episodes, dtype=bool)
    while not done.all():
        obs, reward, done, _, _ = env.step(model.predict(obs, deterministic=True)[0])
        total += reward
    return float(total.mean())


def test_sb3_ppo_learns_on_adapter() -> None:
    """SB3 trains directly on the adapter, and learns: 4,096 steps of PPO lift its mean
    episode reward on 64 common episodes far above its untrained self's (measured with
    seeds 0-3: from -7.9 to -9.3 before, 38 to 48 after)."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    venv = VecMonitor(mmgym.MarketMakingSB3VecEnv(8))
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=4,
                learning_rate=3e-3, seed=0, device="cpu")
    before = mean_episode_reward(model)
    model.learn(4096)
    assert model.num_timesteps == 4096
    assert len(model.ep_info_buffer) == 16  # two 200-step episodes per env, through VecMonitor
    after = mean_episode_reward(model)
    assert after > before + 20, (before, after)
