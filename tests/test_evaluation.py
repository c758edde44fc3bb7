"""The evaluation kit: paired differences under common random numbers, metrics on hand-made
paths, the markout against a plain loop, outputs, sweeps and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mmgym.evaluation import report
from mmgym.evaluation.episodes import READ_KEYS, EpisodeStats
from mmgym.evaluation.metrics import (
    VERDICTS,
    Bootstrap,
    mean_variance,
    metrics,
    sharpe,
    sortino,
    summarize,
)
from mmgym.evaluation.rollout import rollout
from mmgym.evaluation.tensorboard import SCALARS
from mmgym.kit.compare import evaluate
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.lineup import checkpoint
from mmgym.kit.training import train
from mmgym.policies import make
from mmgym.spaces import offsets_of
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

ROOT = Path(__file__).resolve().parents[1]
AS = {"sigma": 2.0, "k": 1.5, "gamma": 0.1, "T": 1.0}
FAST = ["progress=false", "bootstrap_resamples=200", "episodes=40"]


def config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("evaluate", overrides=[*FAST, *overrides])


class Deviating:
    """AS inventory, except in the episodes ``envs`` from step ``start`` on, where it quotes
    ``offset`` on both sides."""

    def __init__(self, envs: list[int], start: int, offset: float = 0.3) -> None:
        self.base = make("as_inventory", **AS)
        self.envs, self.start, self.offset, self.t = envs, start, offset, 0

    def __call__(self, obs: np.ndarray, info: dict[str, np.ndarray]) -> np.ndarray:
        actions = self.base(obs, info)
        if self.t >= self.start:
            actions[self.envs] = self.offset
        self.t += 1
        return actions


def test_a_policy_compared_with_itself_differs_by_exactly_zero() -> None:
    runs = {name: rollout(make("as_inventory", **AS), 50, seed=7).episodes
            for name in ("a", "b")}
    summary = summarize(runs, "a", metrics(0.1), Bootstrap(resamples=200))
    diff = summary.loc["b", ["diff", "diff_low", "diff_high"]]
    assert (diff.to_numpy() == 0.0).all()


def test_a_policy_differing_on_some_episodes_and_steps_differs_only_there() -> None:
    reference = rollout(make("as_inventory", **AS), 12, seed=3)
    changed = rollout(Deviating(envs=[2, 5], start=120), 12, seed=3)
    same = [i for i in range(12) if i not in (2, 5)]
    pd.testing.assert_frame_equal(reference.episodes.iloc[same], changed.episodes.iloc[same])
    np.testing.assert_array_equal(reference.pnl[:, same], changed.pnl[:, same])
    # the deviating episodes are identical up to the step the policy changes, not after it
    np.testing.assert_array_equal(reference.pnl[:120, [2, 5]], changed.pnl[:120, [2, 5]])
    assert (reference.pnl[120:, [2, 5]] != changed.pnl[120:, [2, 5]]).any(axis=0).all()
    summary = summarize({"as": reference.episodes, "dev": changed.episodes}, "as",
                        metrics(0.1), Bootstrap(resamples=200))
    episode_diff = changed.episodes["pnl"] - reference.episodes["pnl"]
    assert summary.loc[("dev", "mean_pnl"), "diff"] == pytest.approx(episode_diff.mean())


def _max_drawdown(paths: np.ndarray) -> np.ndarray:
    """The episode statistics' max drawdown of PnL ``paths`` (one row per episode)."""
    n, steps = paths.shape
    stats = EpisodeStats(n)
    zero, nan = np.zeros(n), np.full(n, np.nan)
    for t in range(steps):
        info = {k: zero for k in READ_KEYS} | {"pnl": paths[:, t], "bid_price": nan,
                                                "ask_price": nan}
        finished = stats.update(zero, np.full(n, t == steps - 1), info)
    return finished["max_drawdown"].to_numpy()


def test_metrics_on_hand_made_paths() -> None:
    paths = np.array([[1.0, 5.0, 2.0, 7.0, 1.0, 3.0],     # peak 7, trough 1
                      [-1.0, -3.0, 2.0, 1.0, 1.5, 0.5],   # from the start (0) to −3
                      [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])    # never falls
    np.testing.assert_array_equal(_max_drawdown(paths), [6.0, 3.0, 0.0])
    pnl = np.array([-1.0, 2.0, 3.0, 4.0])
    mean, std = 2.0, np.sqrt(((pnl - 2.0) ** 2).sum() / 3)
    assert sharpe(pnl) == pytest.approx(mean / std)
    assert sortino(pnl) == pytest.approx(mean / np.sqrt(1.0 / 4))
    assert mean_variance(0.5)(pnl) == pytest.approx(mean - 0.25 * std**2)
    assert sortino(np.array([1.0, 2.0])) == np.inf  # no downside at all


def _episodes(rng: np.random.Generator, n: int, **columns: tuple[float, float]
              ) -> pd.DataFrame:
    """``n`` hand-made episodes: each column normal with the (mean, std) given."""
    return pd.DataFrame({c: rng.normal(m, s, n) for c, (m, s) in columns.items()},
                        index=pd.RangeIndex(n, name="seed"))


def _compare(reference: pd.DataFrame, **policies: pd.DataFrame) -> pd.DataFrame:
    chosen = tuple(m for m in metrics(0.01) if m.column in reference.columns)
    return summarize({"ref": reference, **policies}, "ref", chosen, Bootstrap(resamples=500))


def _diff_table(summary: pd.DataFrame) -> pd.DataFrame:
    chosen = tuple(m for m in metrics(0.01) if m.name in summary.index.unique("metric"))
    return report.wide(summary, chosen, True, "ref")


def test_a_bigger_loser_with_a_larger_sharpe_is_not_marked_better() -> None:
    rng = np.random.default_rng(5)
    small_loser = _episodes(rng, 2000, pnl=(-1.0, 1.0))     # Sharpe −1
    big_loser = _episodes(rng, 2000, pnl=(-3.0, 10.0))      # Sharpe −0.3: larger, loses 3×
    summary = _compare(small_loser, big=big_loser)
    sharpe_diff = summary.loc[("big", "sharpe")]
    assert sharpe_diff["diff_low"] > 0  # the raw difference would read "significantly better"
    for name in ("sharpe", "sortino"):
        assert summary.loc[("big", name), "verdict"] == "unranked"
    assert summary.loc[("big", "mean_pnl"), "verdict"] == "worse"
    assert summary.loc[("big", "std_pnl"), "verdict"] == "worse"
    assert summary.loc[("big", "mean_variance"), "verdict"] == "worse"
    cells = _diff_table(summary)["big"]
    assert cells["sharpe"].endswith(" n/a") and "better" not in cells["sharpe"]
    assert cells["mean_pnl"].startswith("-") and cells["mean_pnl"].endswith(" worse")
    text = report.text(summary, metrics(0.01), "ref", 0.95)
    assert "higher is better if both earn†" in text
    assert "The reference ref does not earn: no verdict (n/a) for any policy." in text


@pytest.mark.slow  # bootstraps 4 policies × 2,000 episodes
def test_a_sharpe_difference_is_marked_only_where_both_surely_earn() -> None:
    rng = np.random.default_rng(6)
    reference = _episodes(rng, 2000, pnl=(1.0, 1.0))             # Sharpe 1
    unsure = _episodes(rng, 2000, pnl=(0.0, 1.0))
    unsure["pnl"] += 0.01 - unsure["pnl"].mean()                  # mean 0.01 ± 0.022 (se)
    summary = _compare(
        reference,
        steadier=_episodes(rng, 2000, pnl=(2.0, 1.0)),           # Sharpe 2
        noisier=_episodes(rng, 2000, pnl=(1.0, 4.0)),            # Sharpe 0.25, mean > 0
        unsure=unsure,                                           # mean > 0, interval holds 0
    )
    assert summary.loc[("noisier", "mean_pnl"), "low"] > 0
    mean_pnl = summary.loc[("unsure", "mean_pnl")]
    assert mean_pnl["value"] > 0 > mean_pnl["low"]
    for name in ("sharpe", "sortino"):
        assert summary.loc[("steadier", name), "verdict"] == "better"
        assert summary.loc[("noisier", name), "verdict"] == "worse"
        # a positive point estimate is not enough: the mean's sign must be sure
        assert summary.loc[("unsure", name), "diff_high"] < 0
        assert summary.loc[("unsure", name), "verdict"] == "unranked"
    cells = _diff_table(summary).loc["sharpe"]
    assert cells["steadier"].startswith("+") and cells["steadier"].endswith(" better")
    assert cells["noisier"].endswith(" worse")
    assert cells["unsure"].endswith(" n/a")
    assert cells["reading"] == "higher is better if both earn†"
    assert "No verdict (n/a) for: unsure." in report.text(summary, metrics(0.01), "ref", 0.95)


def test_lower_is_better_and_descriptive_metrics_are_marked_their_way() -> None:
    rng = np.random.default_rng(7)
    columns = {"pnl": (1.0, 1.0), "max_drawdown": (5.0, 1.0), "mean_abs_inventory": (3.0, 1.0),
               "adverse_selection": (2.0, 1.0), "fills": (20.0, 2.0)}
    reference = _episodes(rng, 500, **columns)
    lower = _episodes(rng, 500, **{c: (m - 1.0, s) for c, (m, s) in columns.items()})
    higher = _episodes(rng, 500, **{c: (m + 1.0, s) for c, (m, s) in columns.items()})
    same = reference.copy()
    summary = _compare(reference, lower=lower, higher=higher, same=same)
    assert set(summary["verdict"]) <= set(VERDICTS)
    for name in ("max_drawdown", "mean_abs_inventory", "adverse_selection"):
        assert summary.loc[("lower", name), "verdict"] == "better"
        assert summary.loc[("higher", name), "verdict"] == "worse"
        assert summary.loc[("same", name), "verdict"] == "inconclusive"
    assert summary.loc[("lower", "mean_pnl"), "verdict"] == "worse"
    assert summary.loc[("higher", "mean_pnl"), "verdict"] == "better"
    assert summary.loc[("lower", "fills"), "verdict"] == "differs"  # no better side
    cells = _diff_table(summary)
    assert cells.loc["max_drawdown", "reading"] == "lower is better"
    assert cells.loc["max_drawdown", "lower"].startswith("-")
    assert cells.loc["max_drawdown", "lower"].endswith(" better")
    assert cells.loc["max_drawdown", "higher"].endswith(" worse")
    assert cells.loc["fills", "reading"] == "descriptive"
    assert cells.loc["fills", "lower"].endswith("] *")
    assert cells.loc["max_drawdown", "same"] == "0 [0, 0]"


def test_bootstrap_interval_of_a_mean_matches_the_normal_approximation() -> None:
    x = np.random.default_rng(1).normal(3.0, 2.0, 2000)
    point, low, high = Bootstrap(resamples=2000).estimate(lambda a, axis: a.mean(axis), x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert point == pytest.approx(x.mean())
    assert low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(x.mean() + half, abs=0.15 * half)


def test_markout_and_adverse_selection_against_a_plain_loop() -> None:
    h, n = 5, 6
    policy = make("as_inventory", **AS)
    out = rollout(policy, n, seed=11, markout_steps=h).episodes
    env = MarketMakingVectorEnv(n, market="as2008")
    obs, info = env.reset(seed=11)
    fills, mids = [], []
    done = np.zeros(n, dtype=bool)
    while not done.all():
        obs, _, done, _, info = env.step(policy(obs, info))
        fills.append((info["bid_fill"].copy(), info["bid_price"].copy(),
                      info["ask_fill"].copy(), info["ask_price"].copy()))
        mids.append(info["mid"].copy())
    for i in range(n):
        expected = 0.0
        for t, (b, bp, a, ap) in enumerate(fills):
            later = mids[min(t + h, len(mids) - 1)][i]
            if b[i] > 0:
                expected += b[i] * (later - bp[i])
            if a[i] > 0:
                expected += a[i] * (ap[i] - later)
        assert out["markout"].iloc[i] == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(out["adverse_selection"],
                               out["spread_captured"] - out["markout"])


def test_evaluation_writes_readable_outputs(tmp_path: Path) -> None:
    cfg = config("market=as2008", "policies=[as_inventory,as_symmetric,glft]",
                 "quote_steps=0", "trace_episodes=3")
    summary = evaluate(cfg, tmp_path)
    table = pd.read_csv(tmp_path / "summary.csv", index_col=[0, 1])
    pd.testing.assert_frame_equal(table, summary, check_exact=False, rtol=1e-12)
    assert set(table.index.unique("policy")) == {"as_inventory", "as_symmetric", "glft"}
    episodes = pd.read_parquet(tmp_path / "episodes.parquet")
    assert len(episodes) == 3 * 40 and episodes["policy"].nunique() == 3
    assert set(table["verdict"]) <= set(VERDICTS)
    markdown = (tmp_path / "summary.md").read_text()
    assert "Paired difference to as_inventory" in markdown and "Std(Final q)" in markdown
    assert report.LEGEND in markdown and "| reading " in markdown
    for name in ("pnl_distribution", "pnl_over_time", "inventory_paths", "quotes"):
        image = matplotlib.image.imread(tmp_path / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.05
    for policy in ("as_inventory", "as_symmetric", "glft"):
        acc = EventAccumulator(str(tmp_path / "tensorboard" / policy))
        acc.Reload()
        assert {f"mmgym/{k}" for k in SCALARS} <= set(acc.Tags()["scalars"])
        assert len(acc.Scalars("mmgym/episode_pnl")) == 40
    figures = EventAccumulator(str(tmp_path / "tensorboard" / "figures"))
    figures.Reload()
    assert len(figures.Tags()["images"]) == 4


def test_trained_checkpoints_are_evaluated_beside_the_baselines(tmp_path: Path) -> None:
    """The numbers evaluated for a checkpoint are its own: each episode's PnL equals the PnL
    of the checkpoint loaded by hand (the Q-table; the PPO model with its normalisation
    statistics, its [-1, 1] actions mapped onto the market's bounds) played on the same
    seeds."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from mmgym.agents import QLearning
    from mmgym.sb3_vec_env import MarketMakingSB3VecEnv

    train_cfg = _train_config("agent=qlearning", "market=as2008", "total_timesteps=4000",
                              "eval_episodes=0")
    train(train_cfg, tmp_path / "q")
    ppo_cfg = _train_config("agent=ppo", "market=as2008", "total_timesteps=1024",
                            "num_envs=4", "agent.kwargs.n_steps=256", "eval_episodes=0")
    train(ppo_cfg, tmp_path / "ppo")
    cfg = config("market=as2008", "policies=[as_inventory]", "plots=false",
                 "tensorboard=false",
                 f"checkpoints=[{tmp_path / 'q' / 'qtable.npz'},PPO:{tmp_path / 'ppo/model.zip'}]")
    summary = evaluate(cfg, tmp_path / "eval")
    # labelled by their runs' configurations, which training writes beside them
    assert list(summary.index.unique("policy")) == ["as_inventory", "qlearning-seed0",
                                                    "ppo-seed0"]
    episodes = pd.read_parquet(tmp_path / "eval" / "episodes.parquet")

    def play(policy) -> np.ndarray:
        env = MarketMakingVectorEnv(cfg.episodes, **env_kwargs(cfg))
        obs, info = env.reset(seed=cfg.seed)
        done = np.zeros(cfg.episodes, dtype=bool)
        while not done.all():
            obs, _, done, _, info = env.step(policy(obs, info))
        return info["pnl"]

    qtable = QLearning.load(tmp_path / "q" / "qtable.npz")
    model = PPO.load(tmp_path / "ppo" / "model.zip", device="cpu")
    stats = VecNormalize.load(str(tmp_path / "ppo" / "model.vecnormalize.pkl"),
                              MarketMakingSB3VecEnv(1))
    core = MarketMakingVectorEnv(1).core
    low, high = core.action_low, core.action_high
    by_hand = {
        "qlearning-seed0": play(qtable),
        "ppo-seed0": play(lambda obs, info: offsets_of(
            model.predict(stats.normalize_obs(obs), deterministic=True)[0], low, high)),
    }
    for label, pnl in by_hand.items():
        evaluated = episodes[episodes["policy"] == label]["pnl"]
        assert evaluated.index.tolist() == list(range(cfg.seed, cfg.seed + cfg.episodes))
        np.testing.assert_array_equal(evaluated.to_numpy(), pnl, err_msg=label)
        mean_pnl = summary.loc[(label, "mean_pnl"), "value"]
        assert mean_pnl == pytest.approx(pnl.mean(), rel=1e-12)
    assert not np.array_equal(by_hand["qlearning-seed0"], by_hand["ppo-seed0"])


def test_a_checkpoint_acts_in_the_action_form_it_was_trained_on(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = _train_config("agent=ppo", "market=wide", "total_timesteps=512", "num_envs=2",
                        "agent.kwargs.n_steps=256", "eval_episodes=0",
                        "agent.action_bounds=[0,30]")
    train(cfg, run)  # with its .hydra/config.yaml, which tells the checkpoint's action form
    contender = checkpoint(str(run / "model.zip"), 0, cfg.market, env_kwargs(cfg))
    policy = contender.policy
    assert (policy.bounds, policy.model.get_env().unwrapped.core.action_high) == ((0.0, 30.0),
                                                                                 30.0)
    env = MarketMakingVectorEnv(6, **(env_kwargs(cfg) | contender.observation))
    obs, info = env.reset(seed=3)
    for _ in range(50):
        obs, *_, info = env.step(policy(obs, info))
    actions = policy.model.predict(policy.normalize.normalize_obs(obs), deterministic=True)[0]
    expected = offsets_of(actions, 0.0, 30.0)
    np.testing.assert_array_equal(policy(obs, info), expected)
    assert np.isfinite(expected).any() and (expected[np.isfinite(expected)] >= 0).all()


def _train_config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["policies=[as_inventory,as_inventry]"], r"policies='as_inventry': expected one of"),
        (["checkpoints=[runs/nowhere/model.zip]"],
         r"checkpoints\[0\]='runs/nowhere/model.zip': no such checkpoint file"),
        (["checkpoints=[PPO:runs/nowhere/model.zip]"], r"checkpoints\[0\]=.*no such"),
        (["episodes=1"], r"episodes=1: out of range, allowed \[2, inf\]"),
        (["reference=nobody"], r"reference='nobody': not among the evaluated policies"),
        (["+policy_params.glft.gamma=0.1"], r"policy_params: \['glft'\] not among"),
        (["+policy_params.as_symmetric.gamma=-1"], r"gamma=-1"),
        (["market.risk_aversion=-0.5"], r"market.risk_aversion=-0.5"),
        (["data_range=holdout"], r"data_range='holdout': expected one of 'all', 'train', 'eval'"),
        (["policies=[as_inventory,obi_skew]"],
         r"policy 'obi_skew' cannot run on market 'as2008': .*'imbalance' reads an order book"),
    ],
)
def test_bad_input_fails_before_anything_is_written(tmp_path: Path, overrides: list[str],
                                                     message: str) -> None:
    out = tmp_path / "out"
    with pytest.raises((ConfigError, ValueError), match=message):
        evaluate(config("market=as2008", "policies=[as_inventory,as_symmetric]", *overrides),
                 out)  # the later policies= override replaces the default list
    assert not out.exists()


def test_a_sensitivity_sweep_is_gathered_into_one_table_and_plot(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "-m", "market=as2008",
         "policies=[as_inventory,as_symmetric]", "+policy_params.as_symmetric.gamma=0.05,0.2",
         "episodes=20", "bootstrap_resamples=100", "plots=false", "tensorboard=false",
         "progress=false", "name=sens"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    sweep = tmp_path / "runs/eval/sens-sweep/as2008"
    table = pd.read_csv(sweep / "sweep.csv")
    assert sorted(table["+policy_params.as_symmetric.gamma"].unique()) == [0.05, 0.2]
    pnl = table[(table["metric"] == "mean_pnl") & (table["policy"] == "as_symmetric")]
    assert pnl["value"].nunique() == 2  # the parameter took effect
    assert matplotlib.image.imread(sweep / "sweep.png").std() > 0.05
    assert "as_symmetric" in (sweep / "sweep.md").read_text()


def test_evaluate_command_line_reports_a_bad_policy_name(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "market=as2008", "policies=[glfd]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode != 0 and "policies='glfd': expected one of" in run.stderr
    assert not (tmp_path / "runs/eval/default/as2008/summary.csv").exists()


def test_the_rewards_optimum_plays_with_the_rewards_parameters() -> None:
    from mmgym.kit.compare import lineup

    def value(*overrides: str) -> np.ndarray:
        cfg = config("market=as2008", "reward=running_inventory_penalty",
                     "policies=[cartea_jaimungal]", *overrides)
        (cj,) = [c for c in lineup(cfg, env_kwargs(cfg)) if c.label == "cartea_jaimungal"]
        return cj.policy.value(0.5)

    def expected(phi: float) -> np.ndarray:
        return make("cartea_jaimungal", A=140.0, k=1.5, phi=phi, max_inventory=50,
                    T=1.0).value(0.5)

    np.testing.assert_allclose(value(), expected(0.01))  # the reward's φ, not the market's 0.2
    np.testing.assert_allclose(value("+policy_params.cartea_jaimungal.phi=0.2"), expected(0.2))
