"""The evaluation kit on a multi-asset market: the portfolio's and each asset's episode
statistics against plain loops, the lineup of policies of the assets, and the comparison's
tables, plots and TensorBoard runs (short episodes: ``episode_seconds``)."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mmgym.evaluation.episodes import (
    ASSET_STATISTICS,
    PORTFOLIO,
    STATISTICS,
    EpisodeStats,
    asset_column,
    columns,
)
from mmgym.evaluation.metrics import ASSET_METRICS, VERDICTS, metrics
from mmgym.evaluation.rollout import rollout
from mmgym.evaluation.tensorboard import EPISODE_TAGS, SCALARS
from mmgym.kit.compare import evaluate
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.lineup import INDEPENDENT, baseline, market_layout
from mmgym.policies import make
from mmgym.registry import POLICIES
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))
import multi_asset_standin  # tiny_multi, a user's multi-asset policy

SHORT = {"episode_seconds": 10.0}  # 100 steps of 0.1 s
ADDITIVE = [k for k in ASSET_STATISTICS if k not in ("max_drawdown", "spread")]


@pytest.fixture(autouse=True)
def _standins() -> None:
    """``tiny_multi`` registered (the registries are restored after each test)."""
    multi_asset_standin.register()


def config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("evaluate", overrides=[
            "market=multi_wide", "progress=false", "bootstrap_resamples=200", "episodes=8",
            "+market.params.episode_seconds=10", *overrides])


def _tiny() -> multi_asset_standin.TinyMulti:
    return make("tiny_multi", assets=2, asset_feature_names=("inventory",), half_spread=4.0)


def test_portfolio_and_asset_statistics_against_plain_loops() -> None:
    """Each asset's columns are the single-asset statistics of its own account; the
    portfolio's additive ones their sums, its PnL path the assets' summed (drawdown from it),
    its reward the environment's, its spread pooled over the assets' quoted steps."""
    n, seed, policy = 6, 21, _tiny()
    out = rollout(policy, n, seed=seed, market="multi_asset", **SHORT)
    table = out.episodes
    assert list(table.columns) == columns(2)
    assert out.pnl.shape == (100, n) and out.inventory.shape == out.asset_pnl.shape == (100, n, 2)
    assert out.mid.shape == out.bid.shape == out.ask_fill.shape == (100, 2) and out.assets == 2

    env = MarketMakingVectorEnv(n, market="multi_asset", **SHORT)
    obs, info = env.reset(seed=seed)
    legs = [EpisodeStats(n) for _ in range(2)]  # the single-asset statistics of each asset
    total, paths, spreads, quoted = np.zeros(n), [], np.zeros(n), np.zeros(n)
    done = np.zeros(n, dtype=bool)
    while not done.all():
        obs, reward, done, _, info = env.step(policy(obs, info))
        total += reward
        paths.append(info["pnl"].sum(axis=1))
        both = ~(np.isnan(info["bid_price"]) | np.isnan(info["ask_price"]))
        spreads += np.where(both, info["ask_price"] - info["bid_price"], 0.0).sum(axis=1)
        quoted += both.sum(axis=1)
        own = [stats.update(np.zeros(n), done, {k: v[:, a] for k, v in info.items()
                                               if not k.startswith("_")})
               for a, stats in enumerate(legs)]
    for a, leg in enumerate(own):
        mine = table[[asset_column(k, a) for k in ASSET_STATISTICS]].set_axis(
            list(ASSET_STATISTICS), axis=1)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True),
                                      leg[list(ASSET_STATISTICS)].reset_index(drop=True),
                                      check_exact=True)
    for k in ADDITIVE:
        np.testing.assert_array_equal(table[k], table[asset_column(k, 0)]
                                      + table[asset_column(k, 1)], err_msg=k)
    path = np.array(paths)
    np.testing.assert_array_equal(out.pnl, path)
    np.testing.assert_array_equal(table["pnl"], path[-1])
    peak = np.maximum.accumulate(np.vstack([np.zeros(n), path]), axis=0)[1:]
    np.testing.assert_array_equal(table["max_drawdown"], (peak - path).max(axis=0))
    np.testing.assert_array_equal(table["reward"], total)
    np.testing.assert_allclose(table["spread"], spreads / quoted, rtol=1e-12)
    assert (table["fills"] > 0).any() and not table["pnl"].equals(table["pnl_0"])
    assert set(PORTFOLIO) == set(STATISTICS)


def test_one_asset_keeps_the_single_asset_table_and_metrics() -> None:
    out = rollout(make("as_inventory", sigma=2.42, k=0.2669, gamma=0.01, T=10.0, unit=100.0),
                  4, seed=3, market="wide", **SHORT)
    assert list(out.episodes.columns) == list(STATISTICS) == columns(1)
    assert out.asset_pnl is None and out.assets == 1 and out.inventory.shape == (100, 4)
    assert [(m.name, m.column, m.description) for m in metrics(0.1, 1)] == [
        (m.name, m.column, m.description) for m in metrics(0.1)]
    names = [m.name for m in metrics(0.1, 2)]
    assert names[:len(metrics(0.1))] == [m.name for m in metrics(0.1)]
    assert names[len(metrics(0.1)):] == [asset_column(m, a) for a in range(2)
                                         for m in ASSET_METRICS]


def test_the_lineup_builds_policies_of_the_assets() -> None:
    cfg = config()
    features = list(market_layout(cfg.market)[1])
    assert market_layout(cfg.market)[0] == 2 and "mid_return" in features
    tiny = baseline("tiny_multi", cfg.market)
    assert (tiny.policy.assets, tiny.observation["features"]) == (2, features)
    assert "asset_feature_names" not in tiny.params and tiny.params["assets"] == 2
    # independent: its base (market.policies.independent.base) a single-asset baseline with
    # the market's model parameters, observing each asset's features
    independent = baseline(INDEPENDENT, cfg.market)
    assert independent.params["base"] == "as_inventory"
    assert independent.params["base.sigma"] == cfg.market.baseline.sigma
    assert independent.observation["features"] == features
    # a single-asset baseline plays each asset through independent, under its own name
    wrapped = baseline("as_inventory", cfg.market)
    assert (wrapped.label, wrapped.params["per_asset"]) == ("as_inventory", INDEPENDENT)
    single = baseline("as_inventory", cfg.market, per_asset=True).policy
    env = MarketMakingVectorEnv(5, **(env_kwargs(cfg) | wrapped.observation))
    obs, info = env.reset(seed=4)
    F = len(features)
    for _ in range(30):
        actions = wrapped.policy(obs, info)
        for a in range(2):
            np.testing.assert_array_equal(
                actions[:, 2 * a:2 * a + 2],
                single(obs[:, a * F:(a + 1) * F], {k: v[:, a] for k, v in info.items()
                                                   if not k.startswith("_")}))
        obs, _, _, _, info = env.step(actions)


def test_a_single_asset_baseline_needs_independent_on_a_multi_asset_market() -> None:
    POLICIES._entries.pop(INDEPENDENT, None)  # restored after the test (conftest)
    with pytest.raises(ConfigError, match=r"policy 'as_inventory': a single-asset policy "
                                          r"plays each asset .* through 'independent'"):
        baseline("as_inventory", config().market)


def test_the_comparison_shows_the_portfolio_and_each_asset(tmp_path: Path) -> None:
    cfg = config("policies=[as_inventory,tiny_multi]", "quote_steps=0", "trace_episodes=2",
                 "+policy_params.tiny_multi.half_spread=4")
    summary = evaluate(cfg, tmp_path)
    table = pd.read_csv(tmp_path / "summary.csv", index_col=[0, 1])
    pd.testing.assert_frame_equal(table, summary, check_exact=False, rtol=1e-12)
    shown = list(table.loc["tiny_multi"].index)
    assert shown == [m.name for m in metrics(cfg.market.risk_aversion, 2)]
    assert {"mean_pnl_0", "mean_pnl_1", "adverse_selection_1"} <= set(shown)
    assert set(table["verdict"]) <= set(VERDICTS)
    episodes = pd.read_parquet(tmp_path / "episodes.parquet")
    assert list(episodes.columns) == ["policy", *columns(2)] and len(episodes) == 16
    np.testing.assert_array_equal(episodes["pnl"], episodes["pnl_0"] + episodes["pnl_1"])
    pnl = episodes.groupby("policy")["pnl_1"].mean()
    assert table.loc[("tiny_multi", "mean_pnl_1"), "value"] == pytest.approx(
        pnl["tiny_multi"], rel=1e-12)
    markdown = (tmp_path / "summary.md").read_text()
    assert "a portfolio of 2 assets" in markdown and "| mean_pnl_1 " in markdown
    for name in ("pnl_distribution", "pnl_over_time", "inventory_paths", "quotes"):
        image = matplotlib.image.imread(tmp_path / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.05, name
    per_asset = {f"mmgym/{asset_column(tag, a)}" for a in range(2)
                 for tag, column in EPISODE_TAGS.items() if column in ASSET_STATISTICS}
    for policy in ("as_inventory", "tiny_multi"):
        acc = EventAccumulator(str(tmp_path / "tensorboard" / policy))
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        assert {f"mmgym/{k}" for k in SCALARS} | per_asset <= tags
        assert "mmgym/reward_0" not in tags  # the reward is the portfolio's only
        logged = [e.value for e in acc.Scalars("mmgym/episode_pnl_1")]
        want = episodes[episodes["policy"] == policy]["pnl_1"]
        np.testing.assert_array_equal(logged, np.float32(want))
    figures = EventAccumulator(str(tmp_path / "tensorboard" / "figures"))
    figures.Reload()
    assert len(figures.Tags()["images"]) == 4
