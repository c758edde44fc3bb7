"""The analytic market makers against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmgym import ConfigError
from mmgym.evaluation import run_episodes
from mmgym.policies import POLICIES, make
from mmgym.policies.base import NO_QUOTE
from mmgym.vector import MarketMakingVectorEnv

AS = {"sigma": 2.0, "A": 140.0, "k": 1.5}  # the as2008 defaults
MYOPIC = math.log1p(0.1 / 1.5) / 0.1  # (1/γ)·ln(1 + γ/k) for γ = 0.1


def batch(time_remaining: float, inventory: list[float]) -> tuple[np.ndarray, dict]:
    obs = np.array([[0.0, time_remaining]] * len(inventory), dtype=np.float32)
    return obs, {"inventory": np.array(inventory, dtype=float)}


def test_public_names() -> None:
    assert {"as_inventory", "as_symmetric", "glft", "glft_exact", "cartea_jaimungal",
            "fixed_spread", "random"} <= set(POLICIES)
    with pytest.raises(ConfigError, match="policy='glf': expected one of"):
        make("glf")
    with pytest.raises(ConfigError, match=r"policy 'glft': .*unexpected keyword argument 'T'"):
        make("glft", T=1.0, **AS)


def test_avellaneda_stoikov_formulas() -> None:
    obs, info = batch(0.5, [-2.0, 0.0, 3.0])
    a = make("as_inventory", sigma=2.0, k=1.5, gamma=0.1, T=1.0)(obs, info)
    risk = 0.1 * 4.0 * 0.5  # γσ²(T − t)
    half = risk / 2 + MYOPIC
    np.testing.assert_allclose(a[:, 0], half + np.array([-2, 0, 3]) * risk)
    np.testing.assert_allclose(a[:, 1], half - np.array([-2, 0, 3]) * risk)
    s = make("as_symmetric", sigma=2.0, k=1.5, gamma=0.1, T=1.0)(obs, info)
    np.testing.assert_allclose(s, 0.1 * 4.0 * 1.0 / 4 + MYOPIC)  # average spread / 2


def test_as_inventory_strategy_tames_profit_and_inventory_variance() -> None:
    """As in the paper's table: over 1,000 common paths the inventory strategy's profit and
    final inventory are much less dispersed than the symmetric strategy's."""
    rows = {name: run_episodes(make(name, sigma=2.0, k=1.5, gamma=0.1, T=1.0), 1000,
                               reward_fn="pnl")
            for name in ("as_inventory", "as_symmetric")}
    inv, sym = rows["as_inventory"], rows["as_symmetric"]
    assert inv["pnl"].std() < 0.6 * sym["pnl"].std()
    assert inv["final_inventory"].std() < 0.5 * sym["final_inventory"].std()


def test_glft_exact_and_asymptotic_quotes_agree_near_zero_inventory_far_from_the_end() -> None:
    exact = make("glft_exact", gamma=0.1, max_inventory=30, T=20.0, **AS)
    approx = make("glft", gamma=0.1, **AS)
    obs, info = batch(1.0, [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(exact(obs, info), approx(obs, info), atol=3e-3)
    # the agreement fades near the inventory bound
    obs, info = batch(1.0, [-25.0, 25.0])
    assert np.abs(exact(obs, info) - approx(obs, info)).max() > 0.05


def test_glft_exact_quotes_at_the_horizon_and_at_the_bounds() -> None:
    exact = make("glft_exact", gamma=0.1, max_inventory=10, T=1.0, **AS)
    obs, info = batch(0.0, [-3.0, 0.0, 7.0])
    np.testing.assert_allclose(exact(obs, info), MYOPIC, rtol=1e-12)  # v(T) = 1
    obs, info = batch(0.5, [-10.0, 10.0])
    quotes = exact(obs, info)
    assert quotes[0, 1] == NO_QUOTE and quotes[1, 0] == NO_QUOTE
    assert np.isfinite(quotes[[0, 1], [0, 1]]).all()
    # long position: a wider bid and a tighter ask, symmetric in q
    obs, info = batch(0.5, [-4.0, 4.0])
    quotes = exact(obs, info)
    assert quotes[1, 0] > quotes[1, 1] and quotes[0, 1] > quotes[0, 0]
    np.testing.assert_allclose(quotes[0], quotes[1][::-1], rtol=1e-12)


def test_cartea_jaimungal_depths_are_one_over_k_without_penalties() -> None:
    cj = make("cartea_jaimungal", A=140.0, k=1.5, phi=0.0, alpha=0.0, max_inventory=50, T=1.0)
    obs, info = batch(1.0, [-3.0, 0.0, 3.0])
    np.testing.assert_allclose(cj(obs, info), 1 / 1.5, atol=1e-6)


@pytest.mark.slow
def test_cartea_jaimungal_mean_reward_equals_its_value_function() -> None:
    """On the matching market (fills A·e^(−kδ)·dt, martingale mid, |q| ≤ Q), the mean sum
    of the running-inventory-penalty rewards equals h_0(0) of the closed form.

    The inventory PnL Σ q·ΔS has mean zero exactly (the mid is a martingale and q is known
    before the move), so it is subtracted as a control variate. With dt = 0.001 the
    discretisation bias (quotes held for a step instead of updated at each fill) is about
    0.1, below the 4-standard-error tolerance (standard error about 0.1 on 4,000 paths)."""
    phi, alpha, q_max, n = 0.01, 0.1, 20, 4000
    cj = make("cartea_jaimungal", A=140.0, k=1.5, phi=phi, alpha=alpha, max_inventory=q_max,
              T=1.0)
    env = MarketMakingVectorEnv(n, dt=0.001, max_inventory=q_max,
                                reward_fn="running_inventory_penalty",
                                reward_kwargs={"phi": phi, "alpha": alpha})
    obs, info = env.reset(seed=11)
    total = np.zeros(n)
    done = np.zeros(n, dtype=bool)
    while not done.all():
        obs, reward, done, _, info = env.step(cj(obs, info))
        total += reward - env.core.transition.inventory_pnl_change
    se = total.std(ddof=1) / math.sqrt(n)
    assert abs(total.mean() - cj.value(1.0)[q_max]) < 4 * se


def test_obi_skew_formulas() -> None:
    names = ("inventory", "volatility", "imbalance")
    obs = np.array([[0.0, 0.5, 0.4], [0.0, 3.0, 0.4], [0.0, 0.5, -1.0]], dtype=np.float32)
    skew = make("obi_skew", half_spread=2.0, alpha=1.5, vol_threshold=1.0, feature_names=names)
    a = skew(obs, {})
    # bids heavier (I > 0): both quotes up by α·I; α halved when volatility > threshold
    np.testing.assert_allclose(a, [[2 - 0.6, 2 + 0.6], [2 - 0.3, 2 + 0.3], [2 + 1.5, 2 - 1.5]],
                               rtol=1e-6)
    inv = make("obi_skew_inventory", half_spread=2.0, kappa=0.5, phi=0.1, feature_names=names)
    b = inv(obs[:1], {"inventory": np.array([3.0])})
    np.testing.assert_allclose(b, [[2 * (1 - 0.2) + 0.3, 2 * (1 + 0.2) - 0.3]], rtol=1e-6)
    with pytest.raises(ValueError, match="reads the feature 'imbalance'"):
        make("obi_skew", feature_names=("inventory", "time_remaining"))



def rule_info(n: int = 1, mid: float = 100.0, q: float = 0.0, bid: float = 0.0,
              ask: float = 0.0) -> dict[str, np.ndarray]:
    return {"mid": np.full(n, mid), "inventory": np.full(n, q), "bid_fill": np.full(n, bid),
            "ask_fill": np.full(n, ask)}


def rule_bot(**kwargs):
    params = {"base_spread_bps": 100.0, "vol_weight": 10.0, "skew_bps": 50.0,
              "max_position": 4.0, "guard_fills": 3, "guard_steps": 2, "shock_bps": 200.0,
              "shock_window": 3, "feature_names": ("inventory", "volatility")} | kwargs
    return make("rule_based", **params)


def test_rule_based_spread_skew_and_position_limit() -> None:
    bot = rule_bot()
    obs = np.array([[0.0, 1.5]], dtype=np.float32)  # volatility 1.5 bps/√s
    a = bot(obs, rule_info(q=2.0))
    half = 50e-4 * 100 * (1 + 10 * 0.015)  # bps of the mid, widened by volatility
    shift = 50e-4 * 100 * 2.0 / 4.0  # skew against a long position
    np.testing.assert_allclose(a, [[half + shift, half - shift]], rtol=1e-6)
    assert bot(obs, rule_info(q=4.0))[0, 0] == NO_QUOTE
    assert bot(obs, rule_info(q=-4.0))[0, 1] == NO_QUOTE


@pytest.mark.parametrize("widen", [2.0, np.inf])
def test_rule_based_guards(widen: float) -> None:
    """The guards widen the hit side by ``guard_widen``, or withdraw it (inf, the default:
    "cancel all orders")."""
    obs = np.zeros((1, 2), dtype=np.float32)
    bot = rule_bot(guard_widen=widen)
    calm = bot(obs, rule_info())[0]
    for _ in range(3):  # three bid fills in a row: the bid side is being picked off
        a = bot(obs, rule_info(bid=1.0))[0]
    assert a[0] == (NO_QUOTE if np.isinf(widen) else pytest.approx(2 * calm[0]))
    assert a[1] == pytest.approx(calm[1])
    bot(obs, rule_info())
    assert bot(obs, rule_info())[0] == pytest.approx(calm)  # the guard lasts guard_steps
    # a spike of filled size over its average widens both sides
    bot = rule_bot(spike_window=10, guard_widen=widen)
    for _ in range(20):
        bot(obs, rule_info(bid=1.0, ask=1.0))
    a = bot(obs, rule_info(bid=10.0))[0]
    np.testing.assert_allclose(a, NO_QUOTE if np.isinf(widen) else 2 * calm)
    # a price shock stops quoting until the window holds no such move
    bot = rule_bot()
    bot(obs, rule_info(mid=100.0))
    assert (bot(obs, rule_info(mid=103.0))[0] == NO_QUOTE).all()
    bot(obs, rule_info(mid=103.0))
    bot(obs, rule_info(mid=103.0))
    assert (bot(obs, rule_info(mid=103.0))[0] < NO_QUOTE).all()


def test_rule_based_runs_on_the_lob_market() -> None:
    bot = make("rule_based", base_spread_bps=0.1, skew_bps=0.05, max_position=0.3,
               offset_unit=0.1, feature_names=("inventory", "volatility", "ofi", "vpin",
                                               "imbalance", "time_remaining"))
    out = run_episodes(bot, 8, market="lob", episode_seconds=30.0)
    assert np.isfinite(out["pnl"]).all() and (out["fills"] > 0).all()
    assert (out["final_inventory"].abs() <= 0.31).all()


def test_as_symmetric_strategy_earns_its_exact_expected_profit() -> None:
    """Its half-spread Δ = γσ²T/4 + (1/γ)·ln(1 + γ/k) is constant, so on ``as2008`` (linear
    fills, λ(Δ)·dt = 0.23 < 1) E[profit] = 2·A·Δ·e^(−kΔ)·T exactly; 20,000 paths, 4 s.e."""
    policy = make("as_symmetric", sigma=2.0, k=1.5, gamma=0.1, T=1.0)
    delta = 0.1 * 4.0 / 4 + MYOPIC
    expected = 2 * 140.0 * delta * math.exp(-1.5 * delta)
    pnl = run_episodes(policy, 20_000, reward_fn="pnl", max_inventory=10_000)["pnl"]
    assert abs(pnl.mean() - expected) < 4 * pnl.std(ddof=1) / math.sqrt(len(pnl))
