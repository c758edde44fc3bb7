"""Each built-in reward on hand-computed transitions, and rewards inside the environments."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import mmgym
from mmgym.rewards import REWARDS, Transition, make_reward


def transition(**fields) -> Transition:
    """A transition of two environments; every array defaults to zeros."""
    n = 2
    arrays = {name: np.zeros(n) for name in (
        "pnl_change", "spread_change", "inventory_pnl_change", "fees_change", "pnl", "cash",
        "inventory_before", "inventory", "mid_before", "mid", "bid_fill", "ask_fill",
        "bid_price", "ask_price", "time_remaining")}
    arrays |= {k: np.asarray(v, dtype=float) for k, v in fields.items()
               if k not in ("terminated", "dt")}
    return Transition(
        **arrays,
        step_index=np.zeros(n, dtype=np.int64),
        terminated=np.asarray(fields.get("terminated", [False, False])),
        features=np.zeros((n, 1), dtype=np.float32),
        feature_names=("inventory",),
        dt=fields.get("dt", 0.5),
        horizon_steps=10,
        max_inventory=5.0,
    )


def test_registry_holds_the_public_names() -> None:
    assert set(REWARDS) == {"pnl", "pnl_minus_inventory_penalty", "running_inventory_penalty",
                            "cara_utility", "asymmetric_dampened_pnl", "differential_sharpe",
                            "realized_spread", "portfolio_inventory_penalty"}


def test_pnl_and_quadratic_penalty() -> None:
    tr = transition(pnl_change=[1.5, -2.0], inventory=[2.0, -3.0])
    assert make_reward("pnl")(tr).tolist() == [1.5, -2.0]
    r = make_reward("pnl_minus_inventory_penalty", inventory_penalty=0.1)(tr)
    np.testing.assert_allclose(r, [1.5 - 0.4, -2.0 - 0.9])


def test_running_inventory_penalty_cartea_jaimungal() -> None:
    tr = transition(pnl_change=[1.0, 1.0], inventory_before=[2.0, 2.0], inventory=[3.0, 3.0],
                    terminated=[False, True], dt=0.5)
    r = make_reward("running_inventory_penalty", phi=0.2, alpha=0.7)(tr)
    # running: φ·q²·dt with the inventory held during the step; terminal: α·q_T²
    np.testing.assert_allclose(r, [1.0 - 0.2 * 4 * 0.5, 1.0 - 0.2 * 4 * 0.5 - 0.7 * 9])


def test_cara_utility_of_terminal_wealth() -> None:
    tr = transition(pnl=[10.0, -4.0], terminated=[False, True])
    r = make_reward("cara_utility", gamma=0.1)(tr)
    assert r[0] == 0.0
    assert r[1] == pytest.approx((1 - math.exp(0.4)) / 0.1)
    small = make_reward("cara_utility", gamma=1e-9)(transition(pnl=[3.0, 3.0],
                                                              terminated=[True, True]))
    np.testing.assert_allclose(small, 3.0, rtol=1e-6)


def test_asymmetric_dampened_pnl_spooner() -> None:
    tr = transition(pnl_change=[5.0, 5.0], inventory_pnl_change=[2.0, -2.0])
    r = make_reward("asymmetric_dampened_pnl", eta=0.5)(tr)
    # speculative gains dampened by η, losses kept whole
    np.testing.assert_allclose(r, [5.0 - 1.0, 5.0])


def test_differential_sharpe_moody_saffell() -> None:
    eta, returns = 0.5, [[1.0, 0.0], [3.0, 2.0], [-1.0, 2.0], [2.0, -4.0]]
    fn = make_reward("differential_sharpe", eta=eta)
    fn.reset(np.ones(2, dtype=bool))
    got = [fn(transition(pnl_change=x)).copy() for x in returns]
    # a plain loop of the recursions
    for env in range(2):
        a = b = 0.0
        for t, x in enumerate(r[env] for r in returns):
            da, db = x - a, x * x - b
            var = b - a * a
            expected = (b * da - 0.5 * a * db) / var**1.5 if var > 1e-12 else 0.0
            assert got[t][env] == pytest.approx(expected, rel=1e-12)
            a, b = a + eta * da, b + eta * db
    fn.reset(np.array([True, False]))
    again = fn(transition(pnl_change=[1.0, 1.0]))
    assert again[0] == 0.0 and again[1] != 0.0


@pytest.mark.parametrize("market", ["wide", "as2008"])
def test_realized_spread_sums_to_each_fills_markout_at_the_horizon(market: str) -> None:
    n, horizon_steps, phi = 4, 7, 0.01
    dt = {"wide": 0.1, "as2008": 0.005}[market]
    env = mmgym.MarketMakingVectorEnv(n, market=market, reward_fn="realized_spread",
                                      reward_kwargs={"horizon": horizon_steps * dt,
                                                     "inventory_penalty": phi})
    rng = np.random.default_rng(3)
    low, high = env.core.action_low, env.core.action_high
    _, info = env.reset(seed=11)
    steps = env.core.horizon_steps
    rewards, mids, cash, sizes, inventory = [], [info["mid"].copy()], [], [], []
    for _ in range(steps):
        offsets = rng.uniform(low if market == "as2008" else 0.0, high / 3, (n, 2))
        _, r, done, _, info = env.step(offsets)
        rewards.append(r)
        mids.append(info["mid"].copy())
        cash.append(info["cash"].copy())
        sizes.append(info["bid_fill"] - info["ask_fill"])
        inventory.append(info["inventory"].copy())
    assert done.all()
    flows = np.diff(np.vstack([np.zeros(n), cash]), axis=0)  # each step's fills' cash
    # a plain loop: each step's fills (signed size, cash) marked to the mid H steps later
    expected = np.zeros(n)
    for t in range(steps):
        later = mids[min(t + horizon_steps, steps)]
        expected += sizes[t] * later + flows[t]
    expected -= phi * np.sum(np.square(inventory), axis=0)
    np.testing.assert_allclose(np.sum(rewards, axis=0), expected, rtol=1e-9, atol=1e-9)
    assert np.abs(sizes).sum() > 0


def test_realized_spread_over_the_whole_episode_is_the_default_reward() -> None:
    kwargs = {"market": "wide", "reward_kwargs": {"inventory_penalty": 3e-8}}
    long = mmgym.MarketMakingVectorEnv(3, reward_fn="realized_spread", **kwargs | {
        "reward_kwargs": {"inventory_penalty": 3e-8, "horizon": 1e6}})
    default = mmgym.MarketMakingVectorEnv(3, **kwargs)
    long.reset(seed=2)
    default.reset(seed=2)
    actions = np.full((3, 2), 5.0)
    for _ in range(3000):
        r1 = long.step(actions)[1]
        r2 = default.step(actions)[1]
        np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-9)


PARAMS = {
    "pnl": {},
    "pnl_minus_inventory_penalty": {"inventory_penalty": 0.3},
    "running_inventory_penalty": {"phi": 0.2, "alpha": 0.7},
    "cara_utility": {"gamma": 0.002},
    "asymmetric_dampened_pnl": {"eta": 0.4},
    "differential_sharpe": {"eta": 0.1},
    "realized_spread": {"horizon": 0.03, "inventory_penalty": 0.05},  # 6 steps on as2008
    # one asset: φ·q² and (γ/2)·c·q²·dt
    "portfolio_inventory_penalty": {"inventory_penalty": 0.02, "risk_aversion": 0.5,
                                    "covariance": [[0.3]]},
}


class HandReward:
    """``name``'s formula from the ``info`` of each step and of the step before (the
    accounts' changes), with its state (moving moments, recent fills) kept by hand."""

    def __init__(self, name: str, params: dict, dt: float, n: int) -> None:
        self.name, self.p, self.dt, self.n = name, params, dt, n
        self.recent: list[list[float]] = [[] for _ in range(n)]
        self.a, self.b = np.zeros(n), np.zeros(n)

    def start(self, i: int) -> None:
        self.recent[i], self.a[i], self.b[i] = [], 0.0, 0.0

    def __call__(self, i: int, before: dict, info: dict, terminated: bool) -> float:
        p = self.p
        d = {k: info[k][i] - before[k][i] for k in ("pnl", "pnl_spread", "pnl_inventory",
                                                      "fees", "mid")}
        q0, q = before["inventory"][i], info["inventory"][i]
        if self.name == "pnl":
            return d["pnl"]
        if self.name == "pnl_minus_inventory_penalty":
            return d["pnl"] - p["inventory_penalty"] * q**2
        if self.name == "portfolio_inventory_penalty":
            c = p["covariance"][0][0]
            return (d["pnl"] - p["inventory_penalty"] * q**2
                    - 0.5 * p["risk_aversion"] * c * q**2 * self.dt)
        if self.name == "running_inventory_penalty":
            return d["pnl"] - p["phi"] * q0**2 * self.dt - p["alpha"] * q**2 * terminated
        if self.name == "cara_utility":
            w = info["pnl"][i]
            return (1 - math.exp(-p["gamma"] * w)) / p["gamma"] if terminated else 0.0
        if self.name == "asymmetric_dampened_pnl":
            return d["pnl"] - p["eta"] * max(d["pnl_inventory"], 0.0)
        if self.name == "differential_sharpe":
            a, b, x = self.a[i], self.b[i], d["pnl"]
            var = b - a * a
            r = (b * (x - a) - 0.5 * a * (x * x - b)) / var**1.5 if var > 1e-12 else 0.0
            self.a[i], self.b[i] = a + p["eta"] * (x - a), b + p["eta"] * (x * x - b)
            return r
        assert self.name == "realized_spread"
        horizon = max(1, round(p["horizon"] / self.dt))
        self.recent[i] = [*self.recent[i], info["bid_fill"][i] - info["ask_fill"][i]]
        held = sum(self.recent[i][-horizon:])  # the fills of the last H steps, this one's too
        return (d["pnl_spread"] - d["fees"] + held * d["mid"]
                - p["inventory_penalty"] * q**2)


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_reward_in_every_simulated_market_is_its_formula_of_the_steps_info(
        name: str) -> None:
    """Through the registered ids, each step's reward is the reward's formula computed by
    hand from that step's ``info`` and the previous one's (the changes of PnL, its spread and
    inventory parts and fees, the mid's move, the inventories and fills), with the
    parameters given; the NextStep autoreset step after an as2008 episode end pays 0 and
    the stateful rewards start afresh."""
    n, ended = 3, 0
    for env_id in ("mmgym/AvellanedaStoikov-v0", "mmgym/MarketMaking-v0",
                   "mmgym/WideSpread-v0"):
        env = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                           reward_fn=name, reward_kwargs=PARAMS[name])
        core = env.unwrapped.core
        hand = HandReward(name, PARAMS[name], core.market.dt, n)
        rng = np.random.default_rng(0)
        _, before = env.reset(seed=0)
        done = np.zeros(n, dtype=bool)
        for _ in range(300):  # crosses an as2008 episode end (autoreset)
            actions = rng.uniform(0.0, core.action_high / 4, (n, 2))
            _, reward, terminated, _, info = env.step(actions)
            for i in range(n):
                if done[i]:  # the autoreset step
                    assert reward[i] == 0.0 and info["pnl"][i] == 0.0
                    hand.start(i)
                    continue
                expected = hand(i, before, info, terminated[i])
                assert reward[i] == pytest.approx(expected, rel=1e-9, abs=1e-9), (env_id, i)
            ended += terminated.sum()
            before, done = info, terminated
    assert ended == n  # the as2008 episodes ended once each (200 steps)


def test_stateful_reward_restarts_each_episode() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0", reward_fn="differential_sharpe")
    runs = []
    for _ in range(2):
        env.reset(seed=5)
        runs.append([env.step(np.array([0.8, 0.8]))[1] for _ in range(200)])
    assert runs[0] == runs[1]


@pytest.mark.slow
@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_a_custom_reward_changes_what_ppo_learns(side: float) -> None:
    """PPO paid for holding short (long) inventory ends short (long), on the same seeds."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from mmgym import MarketMakingSB3VecEnv, MarketMakingVectorEnv

    def pays_for_inventory(tr: Transition) -> np.ndarray:
        return side * tr.inventory / tr.max_inventory

    torch.set_num_threads(1)
    venv = VecMonitor(MarketMakingSB3VecEnv(8, market="as2008", max_inventory=20,
                                            reward_fn=pays_for_inventory))
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=4,
                learning_rate=3e-3, seed=0, device="cpu")
    model.learn(16_000)
    env = MarketMakingVectorEnv(64, max_inventory=20)
    obs, _ = env.reset(seed=100)
    inventory, done = [], np.zeros(64, dtype=bool)
    while not done.all():
        obs, _, done, _, info = env.step(model.predict(obs, deterministic=True)[0])
        inventory.append(info["inventory"])
    assert side * np.mean(inventory) > 5


def test_reward_from_a_hydra_target() -> None:
    spec = {"_target_": "mmgym.rewards.PnLMinusInventoryPenalty", "inventory_penalty": 0.5}
    env = gym.make("mmgym/AvellanedaStoikov-v0", reward_fn=spec)
    env.reset(seed=0)
    _, r, *_, info = env.step(np.array([-1.0, 5.0]))  # the bid fills: q = 1
    assert r == pytest.approx(info["pnl"] - 0.5 * info["inventory"] ** 2)
    with pytest.raises(mmgym.ConfigError, match="needs a '_target_'"):
        gym.make("mmgym/AvellanedaStoikov-v0", reward_fn={"inventory_penalty": 0.5})
    with pytest.raises(mmgym.ConfigError, match=r"mmgym\.rewards\.Nope"):
        gym.make("mmgym/AvellanedaStoikov-v0", reward_fn={"_target_": "mmgym.rewards.Nope"})
