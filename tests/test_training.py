"""The training kit: configs, a short run of each agent type, checkpoints and resume,
TensorBoard scalars, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mmgym.agents import QLearning
from mmgym.agents import sb3 as sb3_agents
from mmgym.evaluation import rollout
from mmgym.evaluation.episodes import EpisodeStats
from mmgym.evaluation.metrics import sharpe
from mmgym.evaluation.tensorboard import EPISODE_TAGS, SCALARS
from mmgym.kit.config import CONF_MODULE, env_kwargs, register
from mmgym.kit.lineup import baseline
from mmgym.kit.training import EVAL_SEED, Progress, train
from mmgym.policies import make
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

ROOT = Path(__file__).resolve().parents[1]


def config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


def scalars(run: Path) -> set[str]:
    tags = set()
    for events in (run / "tensorboard").glob("events.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_qlearning_run_saves_logs_and_compares(tmp_path: Path) -> None:
    cfg = config("agent=qlearning", "market=as2008", "total_timesteps=20000",
                 "checkpoint_every=8000", "eval_episodes=20")
    summary = train(cfg, tmp_path)
    assert set(summary.index.unique("policy")) == {"qlearning", "as_inventory"}
    values = summary["value"].unstack("metric")
    # the comparison is the saved Q-table's and AS inventory's, played by hand on its seeds
    for name, policy in (("qlearning", QLearning.load(tmp_path / "qtable.npz")),
                         ("as_inventory", baseline("as_inventory", cfg.market).policy)):
        env = MarketMakingVectorEnv(20, **env_kwargs(cfg))
        obs, info = env.reset(seed=EVAL_SEED)
        total, done = np.zeros(20), np.zeros(20, dtype=bool)
        while not done.all():
            obs, reward, done, _, info = env.step(policy(obs, info))
            total += reward
        assert (values.loc[name, "mean_pnl"], values.loc[name, "reward"]) == pytest.approx(
            (info["pnl"].mean(), total.mean()), rel=1e-12), name
    assert values.loc["qlearning", "mean_pnl"] != values.loc["as_inventory", "mean_pnl"]
    assert (tmp_path / "qtable.npz").is_file()
    comparison = tmp_path / "comparison"  # mmgym-evaluate's files
    assert {p.name for p in comparison.iterdir()} == {"summary.csv", "summary.md",
                                                      "episodes.parquet"}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "qtable_16000.npz", "qtable_8000.npz"]
    assert {f"mmgym/{k}" for k in SCALARS} <= scalars(tmp_path)
    summary = json.loads((tmp_path / "training.json").read_text())
    points = summary["checkpoints"]
    assert [(Path(c["path"]).name, c["env_steps"]) for c in points] == [
        ("qtable_8000.npz", 8000), ("qtable_16000.npz", 16000)]
    assert 0 < points[0]["seconds"] < points[1]["seconds"] <= summary["seconds"] + 1


@pytest.mark.parametrize("view", ["vector", "sb3"])
def test_training_logs_the_evaluations_statistics_of_each_episode(tmp_path: Path,
                                                                  view: str) -> None:
    """A fixed policy played through training's logging (Q-learning's NextStep vector env,
    SB3's SameStep adapter) logs, episode for episode, what the evaluation computes."""
    n, seed = 3, 40
    policy = make("as_inventory", sigma=2.0, k=1.5, gamma=0.1, T=1.0)
    progress = Progress(config("market=as2008", f"num_envs={n}"), tmp_path, 0,
                        next_step_autoreset=view == "vector")
    if view == "vector":
        env = MarketMakingVectorEnv(n, market="as2008")
        obs, info = env.reset(seed=seed)
    else:
        env = MarketMakingSB3VecEnv(n, market="as2008", info_dicts=False)
        env.seed(seed)
        obs, info = env.reset(), env.step_info
    horizon = env.core.horizon_steps
    # two episodes of each env (and, in NextStep, the step between them that only resets)
    for t in range(1, 2 * horizon + (view == "vector") + 1):
        if view == "vector":
            obs, rewards, ended, _, info = env.step(policy(obs, info))
            progress.step(t * n, rewards, ended, info)
        else:
            obs, rewards, ended, _ = env.step(policy(obs, info))
            progress.step(t * n, rewards, ended, env.step_info)
            # the policy sees the new episode's start where the step ended one (all at once)
            info = env.reset_infos.arrays if ended.any() else env.step_info
    progress.log.close()
    first = rollout(policy, n, seed=seed).episodes  # the evaluation's episodes
    # the stream's next episodes, from their start
    again = MarketMakingVectorEnv(n, market="as2008")
    obs, info = again.reset(seed=seed, options={"episode": 1})
    stats = EpisodeStats(n)
    for _ in range(horizon):
        obs, rewards, ended, _, info = again.step(policy(obs, info))
        second = stats.update(rewards, ended, info)
    np.testing.assert_array_equal(progress.recent, [*first["pnl"], *second["pnl"]])
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    ends = (horizon * n, (2 * horizon + (view == "vector")) * n)
    for tag, column in EPISODE_TAGS.items():
        logged = acc.Scalars(f"mmgym/{tag}")
        assert [e.step for e in logged] == list(ends)
        want = [first[column].mean(), second[column].mean()]
        np.testing.assert_array_equal([e.value for e in logged], np.float32(want), tag)
    assert acc.Scalars("mmgym/sharpe")[0].value == np.float32(sharpe(first["pnl"].to_numpy()))


def test_ppo_run_saves_the_model_and_its_normalisation(tmp_path: Path) -> None:
    cfg = config("agent=ppo", "market=as2008", "total_timesteps=4096", "num_envs=4",
                 "agent.kwargs.n_steps=256", "eval_episodes=10")
    train(cfg, tmp_path)
    assert (tmp_path / "model.zip").is_file()
    assert (tmp_path / "model.vecnormalize.pkl").is_file()
    assert {f"mmgym/{k}" for k in SCALARS} <= scalars(tmp_path)


@pytest.mark.parametrize(
    ("agent", "extra", "files"),
    [  # a2c, the quickest, in the fast subset; the off-policy ones train for seconds
        pytest.param("sac", ["agent.kwargs.learning_starts=200"],
                     ["model.zip", "model.replay_buffer.pkl"], marks=pytest.mark.slow),
        pytest.param("td3", ["agent.kwargs.learning_starts=200"],
                     ["model.zip", "model.replay_buffer.pkl"], marks=pytest.mark.slow),
        ("a2c", [], ["model.zip", "model.vecnormalize.pkl"]),
        pytest.param("recurrent_ppo", ["agent.kwargs.n_steps=128", "agent.kwargs.batch_size=128"],
                     ["model.zip", "model.vecnormalize.pkl"], marks=pytest.mark.slow),
        pytest.param("sac", ["agent.algo=TQC", "agent.kwargs.learning_starts=200"],
                     ["model.zip", "model.replay_buffer.pkl"], marks=pytest.mark.slow),
        pytest.param("ppo", ["agent.algo=DDPG", "agent.normalize=false",
                             "+agent.kwargs.learning_starts=200", "~agent.kwargs.n_steps",
                             "~agent.kwargs.n_epochs", "~agent.kwargs.gamma"], ["model.zip"],
                     marks=pytest.mark.slow),
    ],
)
def test_any_sb3_algorithm_is_one_config_away(tmp_path: Path, agent: str, extra: list[str],
                                              files: list[str]) -> None:
    cfg = config(f"agent={agent}", "market=as2008", "total_timesteps=600", "num_envs=2",
                 "eval_episodes=4", *extra)
    train(cfg, tmp_path)
    for name in files:
        assert (tmp_path / name).is_file(), name


def test_a_recurrent_policy_carries_its_state_and_resets_it(tmp_path: Path) -> None:
    train(config("agent=recurrent_ppo", "market=as2008", "total_timesteps=256", "num_envs=2",
                 "agent.kwargs.n_steps=128", "agent.kwargs.batch_size=128", "eval_episodes=0"),
          tmp_path)
    venv = MarketMakingSB3VecEnv(1, market="as2008", normalize_actions=True)
    policy = sb3_agents.SB3Policy(sb3_agents.load("RecurrentPPO", tmp_path / "model.zip", venv))
    assert policy.recurrent
    rng = np.random.default_rng(0)
    history = rng.uniform(-1, 1, (20, 3, 2)).astype(np.float32)
    history[:, :, 1] = rng.uniform(0, 1, (20, 3))  # time_remaining
    policy.reset(np.ones(3, dtype=bool))
    first = [policy(obs, {}) for obs in history]
    again = policy(history[0], {})  # the first observation, after 20 steps of history
    assert not np.array_equal(again, first[0])
    policy.reset(np.array([True, False, True]))  # env 1 keeps its state
    restarted = policy(history[0], {})
    np.testing.assert_array_equal(restarted[[0, 2]], first[0][[0, 2]])
    assert not np.array_equal(restarted[1], first[0][1])


def test_resume_keeps_the_step_count_and_continues(tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(config("agent=ppo", "market=as2008", "total_timesteps=2048", "num_envs=4",
                 "agent.kwargs.n_steps=256", "checkpoint_every=1024", "eval_episodes=0"), first)
    checkpoint = first / "checkpoints" / "model_1024.zip"
    assert checkpoint.is_file()
    from stable_baselines3 import PPO

    assert PPO.load(checkpoint).num_timesteps == 1024
    second = tmp_path / "second"
    train(config("agent=ppo", "market=as2008", "total_timesteps=3072", "num_envs=4",
                 "agent.kwargs.n_steps=256", f"resume={checkpoint}", "eval_episodes=0"),
          second)
    assert PPO.load(second / "model.zip").num_timesteps == 3072
    # Q-learning resumes from its table and step count
    q1 = tmp_path / "q1"
    train(config("agent=qlearning", "market=as2008", "total_timesteps=8000",
                 "checkpoint_every=4000", "eval_episodes=0"), q1)
    q2 = tmp_path / "q2"
    train(config("agent=qlearning", "market=as2008", "total_timesteps=12000",
                 f"resume={q1 / 'checkpoints' / 'qtable_4000.npz'}", "eval_episodes=0"), q2)
    assert QLearning.load(q2 / "qtable.npz").steps >= 12000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["num_envs=0"], r"num_envs=0: out of range"),
        (["agent.algo=PPOO"], r"agent.algo='PPOO': expected qlearning or one of .*PPO"),
        (["+market.params.sigmaa=1", "market=as2008"], r"unknown argument\(s\) 'sigmaa'"),
        (["resume=/no/such/model.zip"], r"resume='/no/such/model.zip': no such checkpoint"),
        (["agent=qlearning", "+agent.kwargs.learning_rat=0.1"],
         r"agent.kwargs: unknown argument\(s\) 'learning_rat'; allowed: "),
        (["agent=qlearning", "+agent.kwargs.learning_rate_exponent=0.3"],
         r"learning_rate_exponent=0.3: out of range, allowed 0 \(a constant step size\)"),
        (["agent.kwargs.learning_rate=lin_fast"],
         r"agent.kwargs.learning_rate='lin_fast': a linear schedule is lin_<v> with v a number"),
    ],
)
def test_bad_configs_fail_before_training(tmp_path: Path, overrides: list[str],
                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train(config("total_timesteps=100", *overrides), tmp_path)


def test_a_typo_in_a_key_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException, match="total_timestep"):
        config("total_timestep=5")


def test_corrupt_checkpoint_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"model.zip'?: not a readable PPO checkpoint"):
        train(config("market=as2008", f"resume={bad}", "total_timesteps=100"), tmp_path / "x")


def test_train_command_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "agent=qlearning", "market=as2008",
         "total_timesteps=4000", "eval_episodes=5", "progress=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "qlearning vs Avellaneda–Stoikov" in run.stdout
    assert (tmp_path / "runs/default/as2008/qlearning-seed0/qtable.npz").is_file()
    typo = subprocess.run([sys.executable, str(ROOT / "train.py"), "total_timestep=5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert typo.returncode != 0 and "total_timestep" in typo.stderr


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [None, "joblib"])
def test_a_sweep_runs_every_job(tmp_path: Path, launcher: str | None) -> None:
    extra = []
    if launcher == "joblib":  # the extra [sweep] (in [dev]): jobs in parallel
        import hydra_plugins.hydra_joblib_launcher  # noqa: F401  (installed: fail, not skip)

        extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    run = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", *extra, "agent=qlearning",
         "market=as2008", "seed=0,1", "total_timesteps=2000", "eval_episodes=2",
         "progress=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for seed in (0, 1):
        assert (tmp_path / f"runs/default/as2008/qlearning-seed{seed}/qtable.npz").is_file()


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "agent=qlearning", "market=as2008",
         "total_timesteps=1000000000", "eval_episodes=0", "progress=false"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    run = tmp_path / "runs/default/as2008/qlearning-seed0"
    deadline = time.monotonic() + 120
    while not (run / "checkpoints").is_dir() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "interrupted: checkpoint saved" in out
    assert list((run / "checkpoints").glob("qtable_*_interrupted.npz"))
    assert QLearning.load(run / "qtable.npz").steps > 0


@pytest.mark.slow
def test_ray_launcher_smoke(tmp_path: Path) -> None:
    """The Ray launcher for sweeps on a cluster, when it is installed (not by default)."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    run = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=ray", "agent=qlearning",
         "market=as2008", "seed=0,1", "total_timesteps=2000", "eval_episodes=2",
         "progress=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr


def test_resume_rejects_a_checkpoint_of_another_observation(tmp_path: Path) -> None:
    train(config("agent=qlearning", "market=as2008", "total_timesteps=2000",
                 "eval_episodes=0"), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"the checkpoint observes \['inventory', 'time_rem"):
        train(config("agent=qlearning", "market=as2008", "total_timesteps=4000",
                     "market.features=[inventory,time_remaining,volatility]",
                     f"resume={tmp_path / 'a' / 'qtable.npz'}"), tmp_path / "b")


def test_an_experiment_preset_overrides_the_defaults_and_the_command_line_overrides_it() -> None:
    assert config("experiment=quick").total_timesteps == 20_000
    assert config("experiment=quick", "total_timesteps=5").total_timesteps == 5
    assert config().total_timesteps == 100_000


def test_a_linear_schedule_decays_to_zero_over_the_run(tmp_path: Path) -> None:
    train(config("agent=ppo", "market=as2008", "total_timesteps=2048", "num_envs=4",
                 "agent.kwargs.n_steps=256", "agent.kwargs.learning_rate=lin_1e-3",
                 "eval_episodes=0"), tmp_path)
    from stable_baselines3 import PPO

    model = PPO.load(tmp_path / "model.zip")
    assert model.lr_schedule(1.0) == pytest.approx(1e-3)
    assert model.lr_schedule(0.25) == pytest.approx(2.5e-4)
    # SB3 sets the rate of an update from the progress remaining after its rollout: 0 at the end
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize(("preset", "market", "reward"), [
    ("wide_ppo", "wide", "realized_spread"), ("lob_ppo", "lob", "realized_spread"),
    ("amzn_ppo", "replay", "realized_spread")])
def test_the_market_presets_compose(preset: str, market: str, reward: str) -> None:
    cfg = config(f"experiment={preset}")
    assert (cfg.market.name, cfg.reward.reward_fn, cfg.agent.algo) == (market, reward, "PPO")
    assert cfg.num_envs * cfg.agent.kwargs.n_steps % cfg.agent.kwargs.batch_size == 0
