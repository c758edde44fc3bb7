"""Seeds: training runs with different seeds are independent replicates (no shared market
stream), evaluation episodes are never training episodes, and ``options={"episode": e}``
starts the same episode through every view."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hydra import compose, initialize_config_module

import mmgym
from mmgym.evaluation.rollout import run_episodes
from mmgym.kit.compare import evaluate
from mmgym.kit.config import CONF_MODULE, register, validate, validate_evaluation
from mmgym.kit.training import EVAL_SEED, train
from mmgym.policies import make
from mmgym.rng import TRAINING_SEED_START, RandomStreams, training_seed
from mmgym.validation import ConfigError

AS_ID = "mmgym/AvellanedaStoikov-v0"


def compose_config(name: str, *overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose(name, overrides=["progress=false", *overrides])


@pytest.fixture
def begun(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, np.ndarray]]:
    """Every episode begun from now on, as (the streams' number of envs, the episode keys
    begun), in order: the keys the market then draws from (:class:`RandomStreams`)."""
    log: list[tuple[int, np.ndarray]] = []
    start = RandomStreams.start_episodes

    def recording(self: RandomStreams, mask: np.ndarray | None = None) -> np.ndarray:
        uniforms = start(self, mask)
        log.append((self.n, self.episode_keys[slice(None) if mask is None else mask].copy()))
        return uniforms

    monkeypatch.setattr(RandomStreams, "start_episodes", recording)
    return log


def keys(log: list[tuple[int, np.ndarray]], n: int) -> set[int]:
    return {int(k) for size, ks in log if size == n for k in ks}


def episode_keys(seeds: list[int], episode: int = 0) -> np.ndarray:
    """The keys of episode ``episode`` of each seed, from the streams directly."""
    streams = RandomStreams(len(seeds), 2)
    streams.seed(np.array(seeds, dtype=np.uint64))
    streams.set_episodes(np.full(len(seeds), episode, dtype=np.uint64))
    streams.start_episodes()
    return streams.episode_keys.copy()


def test_runs_and_evaluations_use_disjoint_seeds() -> None:
    train_cfg, eval_cfg = compose_config("config"), compose_config("evaluate")
    n = train_cfg.num_envs
    assert n == 8
    runs = [{training_seed(k, j) for j in range(n)} for k in (0, 1, 2)]
    assert all(len(r) == n for r in runs)
    for a, b in combinations(runs, 2):
        assert not a & b
    evaluated = set(range(eval_cfg.seed, eval_cfg.seed + eval_cfg.episodes))  # 0–999
    compared = set(range(EVAL_SEED, EVAL_SEED + train_cfg.eval_episodes))
    assert not evaluated & compared
    for run in runs:
        assert not run & (evaluated | compared)
        assert min(run) >= TRAINING_SEED_START > max(evaluated | compared)
    # Gymnasium's s + j from a run's first seed gives its environments' seeds
    assert [training_seed(1) + j for j in range(n)] == [training_seed(1, j) for j in range(n)]
    assert training_seed(2**47 - 1, 2**16 - 1) == 2**64 - 1
    with pytest.raises(ValueError, match="env=65536"):
        training_seed(0, 2**16)


@pytest.mark.parametrize("agent", ["ppo", "qlearning"])
def test_training_episodes_are_not_evaluation_episodes(
    tmp_path: Path, begun: list[tuple[int, np.ndarray]], agent: str
) -> None:
    overrides = ["market=as2008", "num_envs=8", "eval_episodes=20", "total_timesteps=4096"]
    if agent == "ppo":
        overrides.append("agent.kwargs.n_steps=256")
    trained, compared = [], set()
    for k in (0, 1):
        train(compose_config("config", f"agent={agent}", f"seed={k}", *overrides),
              tmp_path / str(k))
        trained.append(keys(begun, 8))
        if k == 0:  # the run's first reset, all 8 envs: its training seeds', not SB3's seed + j
            first = next(ks for size, ks in begun if size == 8)
            np.testing.assert_array_equal(
                first, episode_keys([training_seed(0, j) for j in range(8)]))
        compared |= keys(begun, 20)  # the closing comparison's 20 episodes
        begun.clear()
    assert len(trained[0]) >= 2 * 8 and not trained[0] & trained[1]  # independent replicates
    assert compared == {int(k) for k in episode_keys(list(range(EVAL_SEED, EVAL_SEED + 20)))}
    cfg = compose_config("evaluate")
    run_episodes(make("no_quote"), cfg.episodes, seed=cfg.seed, market="as2008")
    evaluated = keys(begun, cfg.episodes)
    assert len(evaluated) == 1000
    for run in trained:
        assert not run & (evaluated | compared)


def test_options_episode_starts_the_same_episode_in_every_view() -> None:
    actions = np.full((200, 2), 0.8, dtype=np.float32)

    def mids(env: gym.Env, **reset: object) -> np.ndarray:
        env.reset(**reset)
        return np.array([env.step(a)[4]["mid"] for a in actions])

    single = gym.make(AS_ID)
    mids(single, seed=5)
    mids(single)
    third = mids(single)  # episode 2 of seed 5
    assert not np.array_equal(third, mids(single, seed=5))
    np.testing.assert_array_equal(mids(single, seed=5, options={"episode": 2}), third)
    vector = gym.make_vec(AS_ID, num_envs=3, vectorization_mode="vector_entry_point")
    vector.reset(seed=3, options={"episode": 2})
    vector_mids = np.array([vector.step(np.tile(a, (3, 1)))[4]["mid"] for a in actions])
    np.testing.assert_array_equal(vector_mids[:, 2], third)
    sb3 = mmgym.MarketMakingSB3VecEnv(3, market="as2008")
    sb3.seed(3)
    sb3.set_options({"episode": 2})
    sb3.reset()
    sb3_mids = np.array([[i["mid"] for i in sb3.step(np.tile(a, (3, 1)))[3]]
                         for a in actions[:-1]])
    np.testing.assert_array_equal(sb3_mids[:, 2], third[:-1])


def test_an_evaluation_entering_the_training_seeds_is_refused(tmp_path: Path) -> None:
    validate_evaluation(compose_config("evaluate", f"seed={2**63 - 1000}", "episodes=1000"))
    cfg = compose_config("evaluate", f"seed={2**63 - 999}", "episodes=1000")
    with pytest.raises(ConfigError, match=r"seed=9223372036854774809, episodes=1000: the "
                       r"evaluation's seeds 9223372036854774809–9223372036854775808 enter the "
                       r"seeds reserved for training, from 2\*\*63"):
        validate_evaluation(cfg)
    with pytest.raises(ConfigError, match=r"seed=9223372036854774809"):
        evaluate(cfg, tmp_path / "eval")
    assert not (tmp_path / "eval").exists()
    with pytest.raises(ConfigError, match=r"seed=4294967296: out of range"):
        validate(compose_config("config", f"seed={2**32}"))


@pytest.mark.parametrize(
    ("agent", "extra", "checkpoint"),
    [("ppo", ["num_envs=4", "agent.kwargs.n_steps=256"], "model_1024.zip"),
     ("qlearning", ["num_envs=8"], "qtable_1024.npz")],
)
def test_a_resumed_run_continues_its_streams_past_the_episodes_it_played(
    tmp_path: Path, begun: list[tuple[int, np.ndarray]], agent: str, extra: list[str],
    checkpoint: str,
) -> None:
    common = ["market=as2008", f"agent={agent}", "seed=3", "eval_episodes=0", *extra]
    n = 4 if agent == "ppo" else 8
    train(compose_config("config", "total_timesteps=3072", "checkpoint_every=1024", *common),
          tmp_path / "first")
    played = keys(begun, n)
    begun.clear()
    train(compose_config("config", "total_timesteps=4096",
                         f"resume={tmp_path / 'first' / 'checkpoints' / checkpoint}", *common),
          tmp_path / "resumed")
    resumed = keys(begun, n)
    # the resumed run starts episode 1,024 (the checkpoint's steps) of each of its streams
    first = next(ks for size, ks in begun if size == n)
    np.testing.assert_array_equal(
        first, episode_keys([training_seed(3, j) for j in range(n)], episode=1024))
    assert len(resumed) > n and not resumed & played
