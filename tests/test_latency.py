"""Order-entry and cancellation latency (:mod:`mmgym.markets.latency`) in every market: a
quote is priced at submission and in force ``entry_latency_steps`` later, a withdrawal
``cancel_latency_steps`` later, the latest submission that has arrived wins."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import test_lob_mechanics as lobm
import test_wide_mechanics as widem
from reference import SAMPLE

from mmgym.data.binance import import_binance
from mmgym.markets import AS2008Market, LOBMarket, ReplayMarket, WideMarket
from mmgym.validation import ConfigError

BID, ASK = 0, 1
LATENCIES = [(3, 1), (1, 3), (2, 2), (0, 2), (2, 0), (4, 0)]


def in_force(quoted: list[bool], entry: int, cancel: int) -> list[int | None]:
    """For each step, the submission in force: the latest sent among those arrived by then
    (a quote ``entry`` steps after it was sent, a withdrawal ``cancel`` steps after)."""
    out: list[int | None] = []
    for t in range(len(quoted)):
        arrived = [k for k in range(t + 1) if k + (entry if quoted[k] else cancel) <= t]
        out.append(max(arrived) if arrived else None)
    return out


def submissions(seed: int, steps: int, low: float, high: float) -> np.ndarray:
    """``(steps, 2)`` offsets uniform on [low, high), one in three NaN (withdrawn)."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(low, high, size=(steps, 2))
    d[rng.uniform(size=d.shape) < 1 / 3] = np.nan
    return d


def check(prices: np.ndarray, sent: np.ndarray, expected_price, entry: int,
          cancel: int) -> None:
    """``prices`` ``(steps, 2)`` in force; ``expected_price(k, side, t)`` the price submission
    ``k`` was given on ``side`` when sent (in force at step ``t``)."""
    for side in (BID, ASK):
        quoted = [not math.isnan(x) for x in sent[:, side]]
        for t, k in enumerate(in_force(quoted, entry, cancel)):
            want = np.nan if k is None or not quoted[k] else expected_price(k, side, t)
            assert prices[t, side] == pytest.approx(want, nan_ok=True), (side, t, k)


@pytest.mark.parametrize(("entry", "cancel"), LATENCIES)
def test_as2008(entry: int, cancel: int) -> None:
    m = AS2008Market(1, entry_latency_steps=entry, cancel_latency_steps=cancel)
    m.reset(np.ones(1, dtype=bool), np.zeros((3, 1)))
    sent = submissions(1, 80, 0.0, 2.0)
    rng = np.random.default_rng(2)
    mids, prices = [], []
    for d in sent:
        rec = m.step(d[:, None].copy(), rng.uniform(size=(3, 1)))
        mids.append(rec.mid_before[0])
        prices.append(rec.prices[:, 0].copy())
    assert np.ptp(mids) > 0  # the mid moved while orders were in flight
    check(np.array(prices), sent,
          lambda k, s, t: mids[k] + (2 * s - 1) * sent[k, s], entry, cancel)


def moving_book_prices(m, sent: np.ndarray, shift, mid_ticks) -> tuple[np.ndarray, list]:
    """Step ``m`` through the submissions, moving the whole book by ``shift(t)`` ticks before
    each step; the prices in force and the mids (ticks) the submissions saw."""
    mids, prices = [], []
    for t, d in enumerate(sent):
        shift(m, t)
        mids.append(mid_ticks(m))
        prices.append(m.step(d[:, None].copy(), uniforms_of(m)).prices[:, 0].copy())
    return np.array(prices), mids


def uniforms_of(m) -> np.ndarray:
    return lobm.uniforms(m) if isinstance(m, LOBMarket) else widem.uniforms(m)


def walk(m, t: int) -> None:
    """Move the book by −1, 0 or +1 tick (a fixed pattern), keeping its shape."""
    step = (0, 1, 1, -1, 0, -1, 1, 0, -1)[t % 9]
    m.best[BID, 0] -= step
    m.best[ASK, 0] += step
    if isinstance(m, WideMarket):
        m.anchor[0] += step
        m.consensus[0] += step
        m.fundamental[0] += step


@pytest.mark.parametrize(("entry", "cancel"), LATENCIES)
@pytest.mark.parametrize("market", ["lob", "wide"])
def test_book_markets(market: str, entry: int, cancel: int) -> None:
    params = {"entry_latency_steps": entry, "cancel_latency_steps": cancel}
    m = lobm.quiet_market(**params) if market == "lob" else widem.quiet_market(**params)
    sent = submissions(3, 90, 3.0, 6.0)  # far enough from the mid never to cross
    prices, mids = moving_book_prices(
        m, sent, walk, lambda m: (m.best[ASK, 0] - m.best[BID, 0]) / 2)
    assert np.ptp(mids) >= 2
    # bid floor(mid − δ), ask ceil(mid + δ) against the mid when sent (tick 1)
    check(prices, sent, lambda k, s, t: (math.ceil(sent[k, s] + mids[k]) if s else
                                         math.floor(mids[k] - sent[k, s])), entry, cancel)


def test_lob_quote_in_force_exactly_entry_steps_later_at_its_submission_price() -> None:
    m = lobm.quiet_market(entry_latency_steps=3, cancel_latency_steps=1)  # mid 100.5
    seen = []
    for t in range(5):
        if t == 1:
            walk(m, 1)  # the book moves up a tick: mid 101.5
        seen.append(m.step(lobm.offsets(bid=1.5), lobm.uniforms(m)).prices[BID, 0])
    assert np.isnan(seen[:3]).all()
    assert seen[3:] == [99.0, 100.0]  # floor(100.5 − 1.5), then floor(101.5 − 1.5)
    # a withdrawal (1 step) overtakes the quotes sent before it (3 steps)
    seen = [m.step(lobm.offsets(bid=np.nan if t == 0 else 1.5), lobm.uniforms(m)).prices[BID, 0]
            for t in range(5)]
    assert seen[0] == 100.0 and np.isnan(seen[1:4]).all() and seen[4] == 100.0


@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} not present")
@pytest.mark.parametrize(("entry", "cancel"), LATENCIES[:3])
def test_replay(tmp_path: Path, entry: int, cancel: int) -> None:
    path = tmp_path / "btcusdt.parquet"
    import_binance(SAMPLE, path)
    m = ReplayMarket(1, data_path=str(path), episode_seconds=30.0,
                     entry_latency_steps=entry, cancel_latency_steps=cancel)
    m.reset(np.ones(1, dtype=bool), np.zeros((1, 1)))
    sent = submissions(4, 200, 8.0, 15.0)
    tick, mids, prices, bests = m.p.tick, [], [], []
    for d in sent:
        bests.append(m.step_record.best[:, 0] / tick)  # the book the order arrives at
        rec = m.step(d[:, None].copy(), np.zeros((1, 1)))
        mids.append(rec.mid_before[0] / tick)
        prices.append(rec.prices[:, 0].copy())
    assert np.ptp(mids) >= 2
    # post-only at arrival: at least a tick behind the opposite best of that step (the
    # recorded mid moves by tens of ticks at times)
    check(np.array(prices) / tick, sent,
          lambda k, s, t: (max(math.ceil(sent[k, s] + mids[k]), round(bests[t][BID]) + 1) if s
                           else min(math.floor(mids[k] - sent[k, s]), round(bests[t][ASK]) - 1)),
          entry, cancel)


@pytest.mark.parametrize("cls", [AS2008Market, LOBMarket, WideMarket])
@pytest.mark.parametrize("field", ["entry_latency_steps", "cancel_latency_steps"])
@pytest.mark.parametrize("value", [-1, 1001, 1.5])
def test_bad_latencies_fail_naming_field_value_and_range(cls, field: str, value) -> None:
    with pytest.raises(ConfigError, match=rf"{field}={value!r}.*1000"):
        cls(1, **{field: value})
