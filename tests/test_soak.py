"""The soak's checks (``benchmarks/soak.py``) on a short run: 20,000 agent-steps a case (n = 200,
100 steps) of random actions with withdrawals, clipped and crossing offsets, on every market
(the replay ones when the samples are present), with short episodes so that autoreset starts
many: no non-finite observation, reward or ``info`` entry, no crossed book, the inventory
within its limit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import LOBSTER_MESSAGE, SAMPLE

_PATH = Path(__file__).resolve().parents[1] / "benchmarks/soak.py"
_spec = importlib.util.spec_from_file_location("soak_benchmark", _PATH)
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak_benchmark"] = soak  # dataclasses look their module up
_spec.loader.exec_module(soak)

SHORT = {"as2008": {"T": 0.25}, "lob": {"episode_seconds": 3.0},
         "wide": {"episode_seconds": 3.0},
         "replay": {"episode_seconds": 3.0, "range": "train"}}
"""Episodes of 30 to 50 steps, so that 100 steps end and restart each env's a few times; the
replay's in the training range (the recording's end: the test at the bottom)."""
NEEDS = {"replay-binance": SAMPLE, "replay-lobster": LOBSTER_MESSAGE}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("soak")
    soak.import_samples([m for m, path in NEEDS.items() if path.is_file()], directory)
    return directory


@pytest.mark.parametrize("name", soak.MARKETS)
def test_soak_checks_pass(name: str, data_dir: Path) -> None:
    if name in NEEDS and not NEEDS[name].is_file():
        pytest.skip(f"{NEEDS[name]} not present")
    for case, (market, kwargs) in soak.cases([name], data_dir).items():
        result = soak.soak(case, market, 20_000, 200, seed=1, progress=False,
                           **{**kwargs, **SHORT[market]})
        assert result.agent_steps == 20_000
        assert result.episodes >= 200, case  # autoreset ran
        assert (result.non_finite, result.crossed, result.inventory_breaches) == (0, 0, 0), (
            result.verdict())
        assert result.rss_end > 0 and result.traced_end > 0


def test_random_actions_cover_the_edge_cases() -> None:
    """The action mix has withdrawals (+inf and at or above the bound, both sides at once),
    offsets below the lower bound and deep crossing ones, and is seeded."""
    a = soak.RandomActions(2_000, -10.0, 10.0, seed=3)()
    assert (a == float("inf")).any() and ((a >= 10) & (a < float("inf"))).any()
    assert (a >= 10).all(axis=1).any()
    assert (a < -10).any() and ((a >= -10) & (a < -7.5)).mean() > 0.1
    assert (a == soak.RandomActions(2_000, -10.0, 10.0, seed=3)()).all()



def test_check_step_counts_and_locates_each_failure() -> None:
    """A NaN price on a quoted side counts, one on an unquoted side does not; an inf in the
    observation, a crossed and a locked book, an inventory past the limit are each counted
    with the first one's step, array and env."""
    n = 4
    infos = {key: np.zeros(n) for key in soak.INFO_KEYS}
    infos["bid_price"][1] = np.nan  # quoted: a failure
    infos["ask_price"][2] = np.nan  # unquoted: allowed
    infos["inventory"][3] = -2.0
    unquoted = np.zeros((2, n), dtype=bool)
    unquoted[1, 2] = True
    obs = np.zeros((n, 3), dtype=np.float32)
    obs[2, 1] = np.inf
    best = np.array([[1.0, 2.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    result = soak.SoakResult("case")
    soak.check_step(result, 7, obs, np.zeros(n), infos, unquoted, best, limit=1.0)
    assert (result.non_finite, result.crossed, result.inventory_breaches) == (2, 2, 1)
    assert result.first["non-finite"].startswith(
        "step 7 (0-based, after reset), obs env 2, feature 1")
    assert "env 1" in result.first["crossed"]
    assert "info['inventory'] env 3" in result.first["inventory"]
    assert not result.ok and "FAILED" in result.verdict()
    soak.check_step(result, 8, obs, np.zeros(n), infos, unquoted, None, limit=1.0)
    assert result.non_finite == 4 and result.first["non-finite"].startswith("step 7")


def test_next_step_autoreset_after_the_recordings_last_window(data_dir: Path) -> None:
    """An episode ending at the recording's last boundary, then NextStep's autoreset step,
    which steps the ended env once more before resetting it: the replay holds it (it used to
    raise an IndexError, found by benchmarks/soak.py)."""
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} not present")
    env = soak.MarketMakingVectorEnv(1, market="replay", autoreset_mode="NextStep",
                                     data_path=str(data_dir / "binance.parquet"),
                                     start=284.8)  # the last window of 60 s: 344.8 s
    env.reset(seed=0)
    for _ in range(600):
        _, _, terminated, _, _ = env.step(np.ones((1, 2)))
    assert terminated.all()
    env.step(np.ones((1, 2)))  # only resets the ended env
    assert env.core.market.pos[0] < 3448
