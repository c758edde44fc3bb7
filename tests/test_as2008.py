"""The ``as2008`` market against Avellaneda & Stoikov (2008), section 3.3, and the shared
accounting."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import mmgym
from mmgym.rewards import Transition

A, K, T, DT, SIGMA = 140.0, 1.5, 1.0, 0.005, 2.0


def run_constant(n: int, delta: float, seed: int = 0, **kwargs) -> dict[str, np.ndarray]:
    """Quote mid ± delta for one episode on n paths; per-step info arrays, shape (steps, n)."""
    env = mmgym.MarketMakingVectorEnv(n, reward_fn="pnl", **kwargs)
    env.reset(seed=seed)
    rows = []
    terminated = np.zeros(n, dtype=bool)
    while not terminated.all():
        _, reward, terminated, _, info = env.step(np.full((n, 2), delta))
        rows.append(info | {"reward": reward})
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("fill_rule", ["linear", "poisson"])
def test_symmetric_constant_spread_earns_its_exact_expectation(fill_rule: str) -> None:
    """E[profit] = 2·Δ·P(Δ)·T/dt, with P(Δ) = λ(Δ)·dt (linear: 2·A·Δ·e^(−kΔ)·T) or
    1 − e^(−λ(Δ)·dt) (poisson): inventory PnL is a martingale with zero mean.

    20,000 paths; the final PnL's std is about 14, so the standard error is about 0.1 on an
    expectation of 62.5 (linear); the test allows 4 standard errors."""
    delta, n = 1.0, 20_000
    lam_dt = A * math.exp(-K * delta) * DT
    assert lam_dt < 1
    p = lam_dt if fill_rule == "linear" else -math.expm1(-lam_dt)
    expected = 2 * delta * p * T / DT
    if fill_rule == "linear":
        assert expected == pytest.approx(2 * A * delta * math.exp(-K * delta) * T)
    out = run_constant(n, delta, fill_rule=fill_rule, max_inventory=10_000)
    pnl = out["pnl"][-1]
    se = pnl.std(ddof=1) / math.sqrt(n)
    assert 0.05 < se < 0.2
    assert abs(pnl.mean() - expected) < 4 * se
    # the per-step fill frequency is P(Δ) on each side
    for side in ("bid_fill", "ask_fill"):
        freq = out[side].mean()
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / out[side].size)
    # the reward "pnl" sums to the final PnL
    np.testing.assert_allclose(out["reward"].sum(axis=0), pnl, rtol=1e-9, atol=1e-9)


def test_mid_is_a_binomial_walk_and_fills_are_unit_at_quoted_prices() -> None:
    out = run_constant(2_000, 0.8)
    mids = np.vstack([np.full(2_000, 100.0), out["mid"]])
    jumps = np.diff(mids, axis=0)
    np.testing.assert_allclose(np.abs(jumps), SIGMA * math.sqrt(DT), rtol=1e-9)
    up = (jumps > 0).mean()
    assert abs(up - 0.5) < 4 * math.sqrt(0.25 / jumps.size)
    assert set(np.unique(out["bid_fill"])) == set(np.unique(out["ask_fill"])) == {0.0, 1.0}
    np.testing.assert_allclose(out["bid_price"], mids[:-1] - 0.8, rtol=1e-12)
    np.testing.assert_allclose(out["ask_price"], mids[:-1] + 0.8, rtol=1e-12)
    np.testing.assert_allclose(out["inventory"][-1],
                               (out["bid_fill"] - out["ask_fill"]).sum(axis=0))


def test_pnl_split_and_fees() -> None:
    out = run_constant(500, 0.5, maker_fee_bps=2.0)
    notional = (out["bid_fill"] * np.nan_to_num(out["bid_price"])
                + out["ask_fill"] * np.nan_to_num(out["ask_price"])).sum(axis=0)
    np.testing.assert_allclose(out["fees"][-1], 2e-4 * notional, rtol=1e-9)
    np.testing.assert_allclose(out["pnl"], out["pnl_spread"] + out["pnl_inventory"] - out["fees"],
                               atol=1e-9)
    np.testing.assert_allclose(out["pnl"], out["cash"] + out["inventory"] * out["mid"], atol=1e-9)
    # each fill captures exactly its half-spread against the mid it was quoted on
    fills = (out["bid_fill"] + out["ask_fill"]).sum(axis=0)
    np.testing.assert_allclose(out["pnl_spread"][-1], 0.5 * fills, rtol=1e-9)
    # a rebate (negative fee) adds to PnL
    rebate = run_constant(500, 0.5, maker_fee_bps=-1.0)
    assert (rebate["fees"][-1] <= 0).all() and (rebate["fees"][-1] < 0).any()


def test_quotes_through_the_mid_fill_with_probability_one() -> None:
    out = run_constant(100, -1.0)  # λ(−1)·dt = 3.1 > 1: capped at 1
    assert (out["bid_fill"] == 1).all() and (out["ask_fill"] == 1).all()
    assert (out["pnl_spread"][-1] == pytest.approx(-1.0 * 2 * 200))


def test_position_limit_stops_quoting_the_side_that_would_breach_it() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0", max_inventory=2)
    env.reset(seed=0)
    infos = [env.step(np.array([-1.0, 9.0]))[4] for _ in range(10)]  # bid fills every step
    q = [i["inventory"] for i in infos]
    assert q[:2] == [1.0, 2.0] and max(q) == 2.0
    assert all(math.isnan(i["bid_price"]) for i in infos[2:])
    assert all(not math.isnan(i["ask_price"]) for i in infos)


def test_offsets_below_the_bound_are_clipped_and_above_it_withdraw() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0")
    _, info0 = env.reset(seed=0)
    info = env.step(np.array([50.0, -50.0]))[4]
    assert math.isnan(info["bid_price"])
    assert info["ask_price"] == info0["mid"] - 10.0


def test_default_reward_is_pnl_change_minus_quadratic_inventory_penalty() -> None:
    env = gym.make("mmgym/AvellanedaStoikov-v0", reward_kwargs={"inventory_penalty": 0.3})
    env.reset(seed=0)
    prev = 0.0
    for _ in range(20):
        _, r, *_, info = env.step(np.array([0.3, 1.5]))
        assert r == pytest.approx(info["pnl"] - prev - 0.3 * info["inventory"] ** 2, abs=1e-12)
        prev = info["pnl"]


def test_custom_reward_callable() -> None:
    def short_only(tr: Transition) -> np.ndarray:
        return -tr.inventory.astype(float)

    env = gym.make("mmgym/AvellanedaStoikov-v0", reward_fn=short_only)
    env.reset(seed=0)
    _, r, *_, info = env.step(np.array([-1.0, 5.0]))
    assert r == -info["inventory"] == -1.0
