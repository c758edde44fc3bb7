"""The features depth_ratio, queue_pressure, avg_trade_size and spread_zscore against plain
Python loops over the env's own step records (the book after each step or reset, the trades),
on seeded episodes of ``lob`` and ``wide`` with resets mid-run (Gymnasium's autoreset and
``reset(mask)``); their parameter errors, bounds, and the single and vector envs agreeing."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest

import mmgym  # noqa: F401
from mmgym import ConfigError

NAMES = ("depth_ratio", "queue_pressure", "avg_trade_size", "spread_zscore")
IDS = {"lob": "mmgym/MarketMaking-v0", "wide": "mmgym/WideSpread-v0"}
N_ENVS = 3
DEFAULTS = {"depth_ratio": {"levels": 5}, "queue_pressure": {"window": 10},
            "avg_trade_size": {"window": 50}, "spread_zscore": {"window": 100}}
SMALL = {"depth_ratio": {"levels": 2}, "queue_pressure": {"window": 3},
         "avg_trade_size": {"window": 7}, "spread_zscore": {"window": 5}}


@dataclass
class Snapshot:
    """One environment's step record after a step (or a reset), copied."""

    depth: np.ndarray  # (2, L), size units
    best: np.ndarray  # (2,), price units
    volume: float  # buy + sell aggressor volume of the step
    trades: float  # market orders of the step


def snapshot(rec, i: int) -> Snapshot:
    return Snapshot(rec.depth[:, :, i].copy(), rec.best[:, i].copy(),
                    float(rec.buy_volume[i] + rec.sell_volume[i]), float(rec.trades[i]))


def reference(name: str, params: dict, seg: list[Snapshot], dt: float, tick: float,
              quote_size: float) -> float:
    """The feature's value after the last snapshot of ``seg``, whose first snapshot is the
    reset book of the episode and the others the records of its steps, in order."""
    t, now = len(seg) - 1, seg[-1]
    if name == "depth_ratio":
        k = params["levels"]
        total = float(now.depth.sum())
        return float(now.depth[:, :k].sum()) / total if total > 0 else 0.0
    if t == 0:
        return 0.0
    window = params["window"]
    steps = seg[max(1, t - window + 1):]  # the steps in the window
    if name == "queue_pressure":
        c = len(steps)

        def q(s: Snapshot) -> float:
            return float(s.depth[0, 0] - s.depth[1, 0])

        scale = dt * sum((s.depth[0, 0] + s.depth[1, 0]) / 2 for s in steps)
        return (q(now) - q(seg[t - c])) / scale if scale > 0 else 0.0
    if name == "avg_trade_size":
        orders = sum(s.trades for s in steps)
        return sum(s.volume for s in steps) / orders / quote_size if orders > 0 else 0.0
    spreads = [round((s.best[1] - s.best[0]) / tick) for s in steps]
    if len(spreads) < 2 or statistics.stdev(spreads) == 0:
        return 0.0
    return (spreads[-1] - statistics.mean(spreads)) / statistics.stdev(spreads)


def close(value: float, ref: float) -> bool:
    return abs(value - ref) <= 1e-12 * max(1.0, abs(ref))


@pytest.mark.parametrize("params", [DEFAULTS, SMALL], ids=["defaults", "small"])
@pytest.mark.parametrize("market", ["lob", "wide"])
def test_features_against_a_loop_over_the_step_records(market: str, params: dict,
                                                       action_rng: np.random.Generator) -> None:
    env = gym.make_vec(IDS[market], num_envs=N_ENVS, vectorization_mode="vector_entry_point",
                       features=list(NAMES), feature_params=params, episode_seconds=20.0)
    core = env.unwrapped.core
    market_ = core.market
    rec, dt, tick, quote_size = market_.step_record, market_.dt, market_.p.tick, market_.quote_size
    assert core.feature_names == NAMES
    # the float64 value behind each float32 observation column
    values = [f._value for f in core.features]
    obs, _ = env.reset(seed=7)
    segments = [[snapshot(rec, i)] for i in range(N_ENVS)]
    pending = np.zeros(N_ENVS, dtype=bool)
    checked = {name: 0 for name in NAMES}  # nonzero values checked
    lengths = []
    for step in range(500):
        if step == 120:  # env 1 starts over mid-episode
            mask = np.array([False, True, False])
            obs, _ = env.reset(options={"reset_mask": mask})
            lengths.append(len(segments[1]))
            segments[1] = [snapshot(rec, 1)]
            pending[mask] = False
        else:
            actions = action_rng.uniform(-2.0, 6.0, size=(N_ENVS, 2))
            obs, _, terminated, _, _ = env.step(actions)
            for i in range(N_ENVS):
                if pending[i]:  # NextStep autoreset: this step reset env i
                    lengths.append(len(segments[i]))
                    segments[i] = [snapshot(rec, i)]
                else:
                    segments[i].append(snapshot(rec, i))
            pending = terminated.copy()
        for i in range(N_ENVS):
            assert env.single_observation_space.contains(obs[i])
            for j, name in enumerate(NAMES):
                ref = reference(name, params[name], segments[i], dt, tick, quote_size)
                assert close(values[j][i], ref), (name, step, i, values[j][i], ref)
                assert obs[i, j] == np.float32(values[j][i])
                checked[name] += ref != 0.0
    assert lengths.count(201) >= N_ENVS and 121 in lengths  # autoresets and the masked reset
    assert min(checked.values()) >= 10, checked  # each feature checked off 0 too


def test_spread_zscore_bound_and_queue_pressure_at_the_reset() -> None:
    window = 4
    env = gym.make(IDS["wide"], features=["spread_zscore", "queue_pressure"],
                   feature_params={"spread_zscore": {"window": window}})
    obs, _ = env.reset(seed=3)
    assert obs.tolist() == [0.0, 0.0]
    bound = (window - 1) / math.sqrt(window)  # |z| of one of c samples is at most (c − 1)/√c
    z = [env.step(np.array([3.0, 3.0]))[0][0] for _ in range(2000)]
    assert max(abs(v) for v in z) <= bound * (1 + 1e-6)
    assert max(abs(v) for v in z) > 0.5 * bound


def test_observation_space_bounds() -> None:
    env = gym.make(IDS["lob"], features=list(NAMES))
    space = env.observation_space
    assert space.low.tolist() == [0.0, -np.inf, 0.0, -np.inf]
    assert space.high.tolist() == [1.0, np.inf, np.inf, np.inf]


@pytest.mark.parametrize("env_id", list(IDS.values()))
def test_single_and_vector_env_agree(env_id: str, action_rng: np.random.Generator) -> None:
    single = gym.make(env_id, features=list(NAMES), feature_params=SMALL)
    vector = gym.make_vec(env_id, num_envs=N_ENVS, vectorization_mode="vector_entry_point",
                          features=list(NAMES), feature_params=SMALL)
    a, _ = single.reset(seed=11)
    b, _ = vector.reset(seed=11)  # env 0 seeded 11
    assert np.array_equal(a, b[0])
    for _ in range(400):
        actions = action_rng.uniform(-2.0, 6.0, size=(N_ENVS, 2))
        a = single.step(actions[0])[0]
        b = vector.step(actions)[0]
        assert np.array_equal(a, b[0])


@pytest.mark.parametrize(
    ("market", "params", "message"),
    [
        ("lob", {"depth_ratio": {"levels": 0}},
         r"depth_ratio.levels=0: out of range, allowed \[1, 9\]"),
        ("lob", {"depth_ratio": {"levels": 10}},
         r"depth_ratio.levels=10: out of range, allowed \[1, 9\]"),
        ("wide", {"depth_ratio": {"levels": 40}},
         r"depth_ratio.levels=40: out of range, allowed \[1, 39\]"),
        ("lob", {"queue_pressure": {"window": 0}},
         r"queue_pressure.window=0: out of range, allowed \[1, inf\]"),
        ("lob", {"avg_trade_size": {"window": 2.5}},
         r"avg_trade_size.window=2.5: expected an integer in \[1, inf\]"),
        ("wide", {"spread_zscore": {"window": 1}},
         r"spread_zscore.window=1: out of range, allowed \[2, 10000\]"),
        ("wide", {"spread_zscore": {"window": 10_001}},
         r"spread_zscore.window=10001: out of range, allowed \[2, 10000\]"),
    ],
)
def test_parameter_errors(market: str, params: dict, message: str) -> None:
    name = next(iter(params))
    with pytest.raises(ConfigError, match=f"^{message}"):
        gym.make(IDS[market], features=[name], feature_params=params)


@pytest.mark.parametrize("name", NAMES)
def test_markets_without_a_book_reject_them(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"features: '{name}' reads an order book"):
        gym.make("mmgym/AvellanedaStoikov-v0", features=[name])
