"""The queue-position models of :mod:`mmgym.markets.queue` against a plain-Python reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmgym.markets import LOBMarket, WideMarket
from mmgym.markets.queue import QUEUE_MODELS, ahead_after_cancel
from mmgym.validation import ConfigError


def reference(model: str, power: float, ahead: float, queue: float, cancelled: float) -> float:
    """hftbacktest's estimate, written out: ``prob`` of a cancellation behind the agent,
    ``est_front = front − (1 − prob)·c + min(back − prob·c, 0)``; the conservative model
    takes all from behind first, the proportional one ``front/queue`` from the front."""
    front, back = ahead, max(queue - ahead, 0.0)
    if model == "conservative":
        return max(front - max(cancelled - back, 0.0), 0.0)
    if model == "probabilistic":
        return max(front - cancelled * front / queue, 0.0) if queue > 0 else front
    f = (lambda x: x**power) if model == "power" else (lambda x: math.log(1.0 + x))
    if front == 0.0:
        return 0.0
    prob = f(back) / (f(back) + f(front))
    return max(front - (1.0 - prob) * cancelled + min(back - prob * cancelled, 0.0), 0.0)


@pytest.mark.parametrize("model", list(QUEUE_MODELS))
@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_queue_models_match_the_reference(model: str, power: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(500):
        queue = float(rng.integers(0, 200))
        ahead = float(rng.integers(0, queue + 1))
        cancelled = float(rng.integers(0, queue + 1))
        got = ahead_after_cancel(QUEUE_MODELS[model], power, ahead, queue, cancelled)
        assert got == pytest.approx(reference(model, power, ahead, queue, cancelled),
                                    rel=1e-12, abs=1e-12)


def test_power_one_is_the_proportional_model() -> None:
    for ahead, queue, cancelled in [(3.0, 10.0, 4.0), (9.0, 10.0, 10.0), (0.5, 2.5, 1.5)]:
        assert ahead_after_cancel(QUEUE_MODELS["power"], 1.0, ahead, queue, cancelled) == (
            pytest.approx(ahead_after_cancel(QUEUE_MODELS["probabilistic"], 1.0, ahead, queue,
                                             cancelled), rel=1e-12))


def test_large_powers_do_not_overflow() -> None:
    power = QUEUE_MODELS["power"]
    # near the front: the cancellations come from behind; near the back: from the front
    assert ahead_after_cancel(power, 100.0, 1e4, 1e6, 1e5) == 1e4
    assert ahead_after_cancel(power, 100.0, 9.9e5, 1e6, 1e5) == pytest.approx(8.9e5)


@pytest.mark.parametrize("market", [LOBMarket, WideMarket])
@pytest.mark.parametrize(("params", "message"), [
    ({"queue_model": "fifo"}, r"queue_model='fifo': expected one of"),
    ({"queue_power": 0.0}, r"queue_power=0.0: out of range, allowed \(0, 100\]"),
    ({"queue_power": 101}, r"queue_power=101: out of range, allowed \(0, 100\]"),
])
def test_queue_parameters_are_validated(market: type, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        market(1, **params)
