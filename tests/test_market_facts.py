"""Stylized facts of the simulated order-book markets, ``lob`` and ``wide``, over long runs
with their default parameters: imbalance predicts the mid, fills during information events
are adversely selected, VPIN rises during information events (measured not to on ``wide``),
and a long run stays sane and stationary and conserves volume."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pytest

from mmgym.vector import MarketMakingVectorEnv

N_ENVS, STEPS = 64, 3000  # one 300-second episode per env


def at_the_touch(env: MarketMakingVectorEnv) -> np.ndarray:
    """Offsets (ticks from the mid) that quote at the best bid and the best ask: half the
    spread of the book the step starts from (exact, as the spread is whole ticks)."""
    rec, tick = env.core.market.step_record, env.core.market.p.tick
    half = np.round((rec.best[1] - rec.best[0]) / tick) / 2
    return np.stack([half, half], axis=1)


@dataclass(frozen=True)
class Facts:
    """How a market's facts are measured.

    Args:
        env: the env's arguments besides the market's name.
        quotes: the agent's offsets at the touch for the step about to be taken.
        markout_from: the price a fill's markout is measured from: the fill's own price, or
            the mid the quotes were set against (in ``wide``'s 13-tick spread a markout from
            the fill price would hold the half-spread captured).
        offsets: the long run's random offsets are uniform on this range, ticks (some
            through the mid: post-only).
        keeps_last_lot: the market keeps at least one lot on each side.
    """

    env: dict[str, Any]
    quotes: Callable[[MarketMakingVectorEnv], np.ndarray]
    markout_from: Literal["fill_price", "quote_mid"]
    offsets: tuple[float, float]
    keeps_last_lot: bool = False


MARKETS = {
    # lob's spread is one tick: half a tick from the mid is the touch
    "lob": Facts(env={"max_inventory": 10.0}, quotes=lambda env: np.full((env.num_envs, 2), 0.5),
                 markout_from="fill_price", offsets=(-1.0, 3.0)),
    # VPIN buckets of 200 shares, as conf/market/wide.yaml
    "wide": Facts(env={"feature_params": {"vpin": {"bucket_volume": 200.0}}},
                  quotes=at_the_touch, markout_from="quote_mid", offsets=(-3.0, 12.0),
                  keeps_last_lot=True),
}


@functools.cache
def simulated(market: str) -> dict[str, np.ndarray]:
    """The market's defaults with an agent quoting at the touch over ``N_ENVS`` episodes
    (seed 2024); arrays of shape ``(STEPS, N_ENVS)``."""
    facts = MARKETS[market]
    env = MarketMakingVectorEnv(N_ENVS, market=market, **facts.env)
    obs, _ = env.reset(seed=2024)
    names = env.feature_names
    rec = env.core.market.step_record
    out: dict[str, list] = {k: [] for k in ("imbalance", "vpin", "mid", "event", "bid_fill",
                                            "ask_fill", "bid_price", "ask_price")}
    for _ in range(STEPS):
        out["imbalance"].append(obs[:, names.index("imbalance")].copy())
        obs, _, term, _, info = env.step(facts.quotes(env))
        out["vpin"].append(obs[:, names.index("vpin")].copy())
        out["event"].append(rec.event.copy())
        for k in ("mid", "bid_fill", "ask_fill", "bid_price", "ask_price"):
            out[k].append(info[k])
    assert term.all()
    return {k: np.array(v) for k, v in out.items()}


def _t_stat(r: float, n: int) -> float:
    return r * math.sqrt(n - 2) / math.sqrt(1 - r * r)


@pytest.mark.parametrize("market", MARKETS)
def test_the_agent_quotes_at_the_touch(market: str) -> None:
    run = simulated(market)
    quoted = ~np.isnan(run["bid_price"])
    assert quoted.mean() > 0.75  # withdrawn only at the position limit
    assert (run["bid_fill"] > 0).sum() > 500 and (run["ask_fill"] > 0).sum() > 500


@pytest.mark.parametrize("h", [1, 10])
@pytest.mark.parametrize("market", MARKETS)
def test_imbalance_predicts_the_mid(market: str, h: int) -> None:
    run = simulated(market)
    # imbalance before step t against the mid change over steps t..t+h−1, sampled every h
    # steps so that the samples do not overlap
    mid = np.vstack([run["mid"][:1], run["mid"]])
    start = np.arange(0, STEPS - h, h)
    imb = run["imbalance"][start].ravel()
    move = (mid[start + h] - mid[start]).ravel()
    r = np.corrcoef(imb, move)[0, 1]
    assert r > 0
    assert _t_stat(r, imb.size) > 5


@pytest.mark.parametrize("market", MARKETS)
def test_fills_during_information_events_are_adversely_selected(market: str) -> None:
    run = simulated(market)
    h = 50  # markout horizon: 5 seconds
    mid_later = run["mid"][h:]
    mid_at_quote = np.vstack([run["mid"][:1], run["mid"][:-1]])[:-h]
    markouts = {True: [], False: []}
    for side, sign in (("bid", 1.0), ("ask", -1.0)):
        filled = run[f"{side}_fill"][:-h] > 0
        start = (run[f"{side}_price"][:-h] if MARKETS[market].markout_from == "fill_price"
                 else mid_at_quote)
        per_unit = sign * (mid_later - start)  # price units per unit of size
        for during in (True, False):
            sel = filled & (run["event"][:-h] == during)
            markouts[during].append(per_unit[sel])
    event, calm = (np.concatenate(markouts[k]) for k in (True, False))
    assert event.size > 500 and calm.size > 500
    se = math.hypot(event.std() / math.sqrt(event.size), calm.std() / math.sqrt(calm.size))
    assert event.mean() < 0
    assert event.mean() < calm.mean() - 4 * se


@pytest.mark.parametrize("market", ["lob", pytest.param("wide", marks=pytest.mark.xfail(
    strict=True, reason=(
        "measured not to hold on the default calibration: VPIN 0.621 during events, 0.622 "
        "outside (t = -0.6 across 64 episodes; buckets of 100-2,000 shares give t from -1.8 "
        "to 0.7): the bulk classification of a step's volume by its mid change cannot tell "
        "the short informed bursts (19% of the steps) in a sparse book")))])
def test_vpin_is_higher_during_information_events(market: str) -> None:
    run = simulated(market)
    warm, event = run["vpin"][300:], run["event"][300:]  # after the first buckets fill
    # per episode: mean VPIN during events minus outside them, then a t-test across episodes
    diff = np.array([warm[event[:, i], i].mean() - warm[~event[:, i], i].mean()
                     for i in range(N_ENVS)])
    assert diff.mean() > 0
    assert diff.mean() / (diff.std(ddof=1) / math.sqrt(N_ENVS)) > 5


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.slow
def test_a_million_steps_stay_sane_stationary_and_conserve_volume(market: str) -> None:
    facts = MARKETS[market]
    n, steps = 100, 10_000  # one 1,000-second episode per env: 10⁶ env-steps
    env = MarketMakingVectorEnv(n, market=market, episode_seconds=1000.0, **facts.env)
    obs, _ = env.reset(seed=7)
    book = env.core.market
    rec = book.step_record
    lot = book.p.lot
    spread = np.empty((steps, n))
    depth = np.empty((steps, n))
    agent = np.random.default_rng(0)
    for t in range(steps):
        offsets = agent.uniform(*facts.offsets, (n, 2))
        obs, _, _, _, info = env.step(offsets)
        assert np.isfinite(obs).all()
        assert (rec.best[1] > rec.best[0]).all()  # never crossed
        assert (book.depth >= 0).all() and (book.order_lots >= 0).all()
        if facts.keeps_last_lot:
            assert (book.depth.sum(axis=1) >= 1.0).all()
        # what market orders took equals what left the queues, the agent's fills included
        np.testing.assert_allclose(rec.sell_volume, rec.book_traded[0] + info["bid_fill"],
                                   atol=lot * 1e-9)
        np.testing.assert_allclose(rec.buy_volume, rec.book_traded[1] + info["ask_fill"],
                                   atol=lot * 1e-9)
        spread[t] = rec.best[1] - rec.best[0]
        depth[t] = rec.depth.sum(axis=(0, 1))
    assert np.isfinite(info["pnl"]).all()
    # stationary: the second half looks like the first (after a warm-up)
    for x in (spread, depth):
        first, second = x[1000:5500].mean(), x[5500:].mean()
        assert abs(second - first) < 0.05 * first
