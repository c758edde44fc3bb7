"""Bad input fails at once, naming the field, the value and the allowed range."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mmgym
from mmgym import ConfigError

AS_ID = "mmgym/AvellanedaStoikov-v0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": -1.0}, r"sigma=-1.0: out of range, allowed \[0, inf\]"),
        ({"dt": 1.0}, r"dt=1.0: out of range, allowed \(0, 1\)"),
        ({"dt": 2.0, "T": 1.0}, r"dt=2.0: out of range"),
        ({"dt": 0.003}, r"dt=0.003: T/dt = .* must be an integer"),
        ({"A": 0}, r"A=0: out of range, allowed \(0, inf\]"),
        ({"k": float("nan")}, r"k=nan: expected a finite number"),
        ({"s0": "100"}, r"s0='100': expected a number"),
        ({"fill_rule": "exact"}, r"fill_rule='exact': expected one of 'linear', 'poisson'"),
        ({"max_offset": -1}, r"max_offset=-1: out of range"),
        ({"max_inventory": 0.5}, r"max_inventory=0.5: out of range, allowed \[1, inf\]"),
        ({"maker_fee_bps": 1000}, r"maker_fee_bps=1000: out of range, allowed \[-100, 100\]"),
        ({"taker_fee_bps": -101}, r"taker_fee_bps=-101: out of range, allowed \[-100, 100\]"),
        ({"sigmaa": 2.0},
         r"unknown argument\(s\) 'sigmaa'; allowed: A, T, action_bounds, .*dt, .*sigma"),
        ({"action_bounds": [2.0, 1.0]}, r"action_bounds=\[2.0, 1.0\]: expected two numbers low "
                                        r"< high within the market's offset bounds \[-10, 10\]"),
        ({"action_bounds": [0.0, 11.0]}, r"action_bounds=\[0.0, 11.0\]: expected two numbers"),
        ({"action_bounds": [float("nan"), 1.0]}, r"action_bounds=\[nan, 1.0\]: expected"),
        ({"action_bounds": [0.0]}, r"action_bounds=\[0.0\]: expected two numbers"),
        ({"action_bounds": "wide"}, r"action_bounds='wide': expected two numbers"),
        ({"reward_fn": "sharpe!"}, r"reward_fn='sharpe!': expected one of"),
        ({"reward_kwargs": {"phi": 1}}, r"reward_kwargs for 'pnl_minus_inventory_penalty'"),
        ({"reward_kwargs": {"inventory_penalty": -1}}, r"inventory_penalty=-1: out of range"),
        ({"features": ["inventory", "vpin!"]}, r"features='vpin!': expected one of"),
        ({"features": []}, r"features=\[\]: expected at least one"),
        ({"features": ["inventory", "inventory"]}, r"named twice"),
    ],
)
def test_bad_config_fails_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make(AS_ID, **kwargs)
    with pytest.raises(ConfigError, match=message):
        gym.make_vec(AS_ID, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)


def test_bad_num_envs() -> None:
    with pytest.raises(ConfigError, match=r"num_envs=0: out of range, allowed \[1, inf\]"):
        mmgym.MarketMakingVectorEnv(0)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([np.nan, 1.0], r"action of env 0 = \[nan, 1.0\]: offsets must be numbers in "
                        r"\[-10, 10\] \(lower ones are clipped; 10 or more, \+inf included, "
                        r"withdraws the side\); NaN and -inf are not allowed"),
        ([1.0, -np.inf], r"action of env 0 = \[1.0, -inf\]: offsets must be numbers"),
        ([1.0, 1.0, 1.0], r"action: shape \(3,\), expected \(2,\)"),
        ([[1.0, 1.0]], r"action: shape \(1, 2\), expected \(2,\)"),
    ],
)
def test_bad_action_single_env(action: list, message: str) -> None:
    env = gym.make(AS_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(np.array(action))


def test_bad_action_vector_env_names_the_env() -> None:
    env = mmgym.MarketMakingVectorEnv(4)
    env.reset(seed=0)
    a = np.ones((4, 2))
    a[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"action of env 2 = \[1.0, nan\]"):
        env.step(a)
    with pytest.raises(ValueError, match=r"expected numbers of shape \(4, 2\)"):
        env.step(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"expected numbers of shape"):
        env.step(np.array([["a", "b"]] * 4))
    # a huge finite offset is beyond the bound: it withdraws the side, as +inf does
    info = env.step(np.array([[1e308, 1.0], [np.inf, 1.0], [1.0, 10.0], [1.0, 9.5]]))[4]
    assert np.isnan(info["bid_price"][:2]).all() and np.isnan(info["ask_price"][2])
    assert not np.isnan(info["ask_price"][[0, 1, 3]]).any()


def test_failed_step_changes_nothing() -> None:
    env = mmgym.MarketMakingVectorEnv(2)
    env.reset(seed=0)
    env.step(np.zeros((2, 2)))
    before = env.core.accounts.table.copy(), env.core.streams.steps.copy()
    with pytest.raises(ValueError):
        env.step(np.array([[0.0, 0.0], [-np.inf, 0.0]]))
    np.testing.assert_array_equal(env.core.accounts.table, before[0])
    np.testing.assert_array_equal(env.core.streams.steps, before[1])


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (lambda tr: np.zeros(3), TypeError, r"returned an array of shape \(3,\).*shape \(1,\)"),
        (lambda tr: 0.0, TypeError, r"returned float 0.0; expected a float numpy array"),
        (lambda tr: np.zeros(1, dtype=int), TypeError, r"dtype int64"),
        (lambda tr: np.full(1, np.nan), ValueError, r"returned nan for env 0; .* finite"),
    ],
)
def test_bad_reward_fails_at_first_step(fn, error: type, message: str) -> None:
    env = gym.make(AS_ID, reward_fn=fn)
    env.reset(seed=0)
    with pytest.raises(error, match=r"reward_fn .*<lambda>.*" + message):
        env.step(np.ones(2))


def test_bad_seed_and_render_mode() -> None:
    env = gym.make(AS_ID)
    with pytest.raises(ValueError, match=r"seed=-1: expected an integer in \[0, 2\*\*64 - 1\]"):
        env.reset(seed=-1)
    with pytest.raises(ValueError, match="render_mode='human'"):
        mmgym.MarketMakingEnv(render_mode="human")
