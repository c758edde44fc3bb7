"""Several recordings replayed as one ``multi_asset`` market (``leg="replay"``): the assets'
windows aligned in recorded time, no synthetic coupling, reproducible, ranges respected.

No two same-day recordings of different symbols exist in ``../shared/data``, so the second
asset is made from the first: the LOBSTER AMZN sample's first 20 minutes, and the same
events with their timestamps shifted by ``SHIFT_S`` (a follower lagging the leader by
exactly that) or the same file twice (perfect co-movement).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from reference import LOBSTER_MESSAGE
from test_reproducibility import _check_views

import mmgym
from mmgym.data.lobster import read_lobster
from mmgym.data.store import read_events, write_events
from mmgym.vector import MarketMakingVectorEnv

S = 10**9  # ns per second
KEEP_S = 1200  # seconds of the sample kept (a fast build: 12,000 steps of 0.1 s)
SHIFT_S = 5  # the follower's lag, s (50 steps of 0.1 s)
AMZN = {"quote_size": 100.0, "max_inventory": 1000.0}  # the sample's units: shares


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Event files: ``amzn`` (the sample's first ``KEEP_S`` s), ``lagged`` (the same,
    ``SHIFT_S`` s later), ``late`` (the same, an hour later: no overlap) and ``short`` (the
    same, ``KEEP_S − 10`` s later: a 10-s overlap)."""
    if not LOBSTER_MESSAGE.is_file():
        pytest.skip(f"{LOBSTER_MESSAGE} not present")
    folder = tmp_path_factory.mktemp("multi_replay")
    events, report = read_lobster(LOBSTER_MESSAGE)
    ts = events["ts_ns"].to_numpy()
    events = events[ts < ts[0] + KEEP_S * S].reset_index(drop=True)
    out = {}
    for name, shift_s in (("amzn", 0), ("lagged", SHIFT_S), ("late", 3600),
                          ("short", KEEP_S - 10)):
        moved = events.copy()
        moved["ts_ns"] += shift_s * S
        out[name] = str(folder / f"{name}.parquet")
        write_events(moved, out[name], report.metadata)
    return out


def two(files: dict[str, str], a: str, b: str, n: int = 4, **kwargs) -> MarketMakingVectorEnv:
    """A vector env of the recordings ``a`` (the leader) and ``b``."""
    return MarketMakingVectorEnv(n, market="multi_asset", leg="replay",
                                 asset_params=[{"data_path": files[a]}, {"data_path": files[b]}],
                                 **AMZN | kwargs)


def play(env: MarketMakingVectorEnv, seed: int, steps: int | None = None,
         offset: float = 3.0) -> dict[str, np.ndarray]:
    """Reset with ``seed`` and step ``steps`` (default: the episode) quoting ``offset`` ticks
    from every mid; the ``info`` arrays stacked over the steps, ``(steps, n, N)``."""
    env.reset(seed=seed)
    core = env.core
    steps = core.horizon_steps if steps is None else steps
    act = np.full((core.n, 2 * core.assets), offset)
    infos = [env.step(act)[4] for _ in range(steps)]
    return {k: np.stack([i[k] for i in infos]) for k in ("mid", "bid_fill", "ask_fill", "pnl")}


def event_span(path: str) -> tuple[int, int]:
    """The first and last event time of the file, ns since the epoch."""
    ts = read_events(path)[0]["ts_ns"]
    return int(ts.iloc[0]), int(ts.iloc[-1])


def test_the_same_recording_twice_plays_the_same_book(files: dict[str, str]) -> None:
    env = two(files, "amzn", "amzn", n=8)
    run = play(env, seed=11)
    legs = env.core.market.legs
    np.testing.assert_array_equal(legs[0].episode_start_ns(), legs[1].episode_start_ns())
    assert len(set(legs[0].episode_start_ns().tolist())) > 1  # the seed draws the windows
    np.testing.assert_array_equal(run["mid"][:, :, 0], run["mid"][:, :, 1])
    # the same quotes in the same book: the same fills and PnL
    for k in ("bid_fill", "ask_fill", "pnl"):
        np.testing.assert_array_equal(run[k][:, :, 0], run[k][:, :, 1])
    assert run["bid_fill"].sum() > 0


def test_a_lagged_copy_is_the_leader_shift_seconds_earlier(files: dict[str, str]) -> None:
    env = two(files, "amzn", "lagged", n=8)
    market = env.core.market
    # from the follower's first event to the leader's last
    start = event_span(files["lagged"])[0]
    assert market.span_ns == (start, event_span(files["amzn"])[1])
    run = play(env, seed=4)
    starts = [leg.episode_start_ns() for leg in market.legs]
    np.testing.assert_array_equal(starts[0], starts[1])
    assert (starts[0] >= start).all() and (starts[0] < market.span_ns[1]).all()
    assert ((starts[0] - start) % round(env.core.market.dt * S) == 0).all()  # on the grid
    lag = round(SHIFT_S / market.dt)
    # asset 1's mid at t is asset 0's at t − shift, step by step
    np.testing.assert_array_equal(run["mid"][lag:, :, 1], run["mid"][:-lag, :, 0])
    assert not np.array_equal(run["mid"][:, :, 1], run["mid"][:, :, 0])


def test_a_fixed_start_counts_from_the_common_span(files: dict[str, str]) -> None:
    """Asset 0 replays its recording from the span's start, 5 s after its first event: a
    100-s start is the plain replay's 105-s start, bit for bit."""
    env = two(files, "amzn", "lagged", n=1, start=100.0)
    market = env.core.market
    run = play(env, seed=0, offset=1.0)
    for leg in market.legs:
        assert leg.episode_start_ns()[0] == market.span_ns[0] + 100 * S
    alone = MarketMakingVectorEnv(1, market="replay", data_path=files["amzn"],
                                  start=100.0 + SHIFT_S, **AMZN)
    ref = play(alone, seed=0, offset=1.0)
    for k in ref:
        np.testing.assert_array_equal(run[k][:, :, 0], ref[k])
    assert ref["bid_fill"].sum() + ref["ask_fill"].sum() > 0


def test_one_recorded_asset_is_the_replay_market(files: dict[str, str]) -> None:
    features = ["inventory", "imbalance", "ofi", "volatility"]
    one = MarketMakingVectorEnv(3, market="multi_asset", leg="replay", assets=1,
                                data_path=files["amzn"], features=features,
                                portfolio_features=[], **AMZN)
    alone = MarketMakingVectorEnv(3, market="replay", data_path=files["amzn"],
                                  features=features, **AMZN)
    a, _ = one.reset(seed=5)
    b, _ = alone.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    for t in range(700):  # through an episode's end and the next one's start
        act = np.full((3, 2), 1.0 + t % 4)
        a, ra, *_, ia = one.step(act)
        b, rb, *_, ib = alone.step(act)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(ia["pnl"], ib["pnl"])


def test_views_agree_bit_for_bit(files: dict[str, str]) -> None:
    """The same seed gives the same episode through the single env, the vector env and the
    SB3 adapter."""
    _check_views("mmgym/MultiAsset-v0", {
        "leg": "replay", "episode_seconds": 20.0, **AMZN,
        "asset_params": [{"data_path": files["amzn"]}, {"data_path": files["lagged"]}]})


def test_same_seed_same_windows_other_seed_other_windows(files: dict[str, str]) -> None:
    env = two(files, "amzn", "lagged", n=1)
    env.reset(seed=9)
    first = env.core.market.legs[1].episode_start_ns().copy()
    single = gym.make("mmgym/MultiAsset-v0", leg="replay", **AMZN, asset_params=[
        {"data_path": files["amzn"]}, {"data_path": files["lagged"]}])
    single.reset(seed=9)
    legs = single.unwrapped.core.market.legs
    np.testing.assert_array_equal(legs[0].episode_start_ns(), first)
    np.testing.assert_array_equal(legs[1].episode_start_ns(), first)
    single.reset(seed=10)
    assert legs[0].episode_start_ns()[0] != first[0]


@pytest.mark.parametrize("data_range", ["train", "eval"])
def test_windows_lie_in_every_assets_range(files: dict[str, str], data_range: str) -> None:
    env = two(files, "amzn", "lagged", n=64, range=data_range)
    market = env.core.market
    ranges = [leg.window_range() for leg in market.legs]
    assert ranges[0].start_s == ranges[1].start_s and ranges[0].end_s == ranges[1].end_s
    span_s = (market.span_ns[1] - market.span_ns[0]) / S
    assert ranges[0].split_s == pytest.approx(0.7 * span_s, abs=1e-9)
    for seed in (0, 1):
        env.reset(seed=seed)
        start_s = (market.legs[0].episode_start_ns() - market.span_ns[0]) / S
        np.testing.assert_array_equal(market.legs[1].episode_start_ns(),
                                      market.legs[0].episode_start_ns())
        end_s = start_s + env.core.horizon_steps * market.dt
        if data_range == "train":
            assert (end_s <= ranges[0].split_s + 1e-9).all()
        else:
            assert (start_s >= ranges[0].split_s - 1e-9).all()
            assert (end_s <= span_s + 1e-9).all()


@pytest.mark.parametrize(("other", "match"), [
    ("late", r"the recordings do not overlap"),
    ("short", r"the recordings share 9\.9\d* s, less than an episode \(episode_seconds=60\)"),
])
def test_recordings_that_do_not_overlap_are_refused(files: dict[str, str], other: str,
                                                    match: str) -> None:
    with pytest.raises(mmgym.ConfigError, match=match) as e:
        two(files, "amzn", other)
    for a, name in enumerate(("amzn", other)):  # each file and its span, UTC
        first, last = (np.datetime64(t, "ns") for t in event_span(files[name]))
        assert f"asset {a}: {files[name]} from {first} to {last}" in str(e.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"beta": 0.8}, r"beta=0.8: leg='replay' replays recordings.*leave both out"),
    ({"lag_steps": [3]}, r"lag_steps=\[3\]: leg='replay'.*coupling"),
    ({"asset_params": [{"start": 10.0}, {"start": 20.0}]},
     r"asset_params\[1\]: start=20.0 differs from asset 0's 10.0"),
    ({"asset_params": [{}, {"dt": 0.2}]}, r"asset_params\[1\]: dt = 0.2 differs"),
    ({"asset_params": [{"range": "train"}, {"range": "eval"}]},
     r"no window of 60 s has a two-sided book in every recording inside every asset's range "
     r"\(asset 0: train range of .*amzn.parquet.*; asset 1: eval range of .*lagged.parquet"),
    ({"portfolio_features": ["hedge"]},
     r"hedge.beta: market 'multi_asset' has no configured loadings.*give the 2 assets' betas"),
])
def test_bad_arguments_are_refused_naming_them(files: dict[str, str], kwargs: dict,
                                               match: str) -> None:
    own = kwargs.pop("asset_params", [{}, {}])
    asset_params = [{"data_path": files["amzn"]} | own[0], {"data_path": files["lagged"]} | own[1]]
    with pytest.raises(mmgym.ConfigError, match=match):
        MarketMakingVectorEnv(2, market="multi_asset", leg="replay", asset_params=asset_params,
                              **AMZN | kwargs)


def test_hedge_needs_the_loadings_given(files: dict[str, str]) -> None:
    default = two(files, "amzn", "lagged", n=2)
    assert default.core.market.betas() is None
    assert default.core.feature_names[-2:] == ("relative_volatility_0", "relative_volatility_1")
    assert "hedge" not in default.core.feature_names
    env = two(files, "amzn", "lagged", n=2, feature_params={"hedge": {"beta": [1.0, 0.5]}})
    names = env.core.feature_names
    assert "hedge" in names
    env.reset(seed=1)
    for _ in range(300):
        obs, *_, info = env.step(np.full((2, 4), 0.0))
    q = info["inventory"]
    assert np.abs(q).sum() > 0
    np.testing.assert_allclose(obs[:, names.index("hedge")], -(q[:, 0] + 0.5 * q[:, 1]) / 1000.0,
                               rtol=1e-6)
