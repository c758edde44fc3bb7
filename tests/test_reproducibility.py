"""The same seed gives the same episode, bit for bit, through every view of the core."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from reference import SAMPLE, needs_sample

import mmgym
from mmgym.data.binance import import_binance

N_ENVS, SEED, EPISODES = 3, 7, 2
KEYS = ("obs", "reward", "bid_fill", "ask_fill", "mid", "pnl", "bid_price")


def _actions(horizon: int, width: int = 2) -> np.ndarray:
    """Test actions [env, episode, step, side (per asset)], around the AS quotes, some
    through the mid."""
    return np.random.default_rng(0).uniform(-0.5, 2.5, (N_ENVS, EPISODES, horizon, width))


def _record(traj: dict, obs, reward, info, i=None) -> None:
    pick = (lambda v: v) if i is None else (lambda v: v[i])
    traj["obs"].append(np.array(pick(obs)))
    traj["reward"].append(float(pick(reward)))
    for k in KEYS[2:]:  # floats, or one per asset in a multi-asset env
        traj[k].append(np.array(pick(info[k]) if i is None else info[k][i], dtype=float))


def _new() -> dict:
    return {k: [] for k in KEYS} | {"reset_obs": []}


def single_env(env_id: str, acts: np.ndarray, **kwargs) -> list[dict]:
    out = []
    for i in range(N_ENVS):
        env, traj = gym.make(env_id, **kwargs), _new()
        for e in range(EPISODES):
            obs, _ = env.reset(seed=SEED + i) if e == 0 else env.reset()
            traj["reset_obs"].append(obs)
            for a in acts[i, e]:
                obs, r, term, _, info = env.step(a.astype(np.float32))
                _record(traj, obs, r, info)
            assert term
        out.append(traj)
    return out


def vector_env(env_id: str, acts: np.ndarray, **kwargs) -> list[dict]:
    env = gym.make_vec(env_id, num_envs=N_ENVS, vectorization_mode="vector_entry_point", **kwargs)
    trajs = [_new() for _ in range(N_ENVS)]
    obs, _ = env.reset(seed=SEED)
    for e in range(EPISODES):
        if e > 0:  # NextStep autoreset: this step only resets
            obs, *_ = env.step(acts[:, e, 0].astype(np.float32))
        for i in range(N_ENVS):
            trajs[i]["reset_obs"].append(obs[i])
        for t in range(acts.shape[2]):
            obs, r, term, _, info = env.step(acts[:, e, t].astype(np.float32))
            for i in range(N_ENVS):
                _record(trajs[i], obs, r, info, i)
        assert term.all()
    return trajs


def sb3_adapter(market: str, acts: np.ndarray, **kwargs) -> list[dict]:
    venv = mmgym.MarketMakingSB3VecEnv(N_ENVS, market=market, **kwargs)
    venv.seed(SEED)
    obs = venv.reset()
    trajs = [_new() for _ in range(N_ENVS)]
    for e in range(EPISODES):
        for i in range(N_ENVS):
            trajs[i]["reset_obs"].append(obs[i])
        for t in range(acts.shape[2]):
            obs, r, done, infos = venv.step(acts[:, e, t].astype(np.float32))
            for i in range(N_ENVS):
                last = infos[i]["terminal_observation"] if done[i] else obs[i]
                _record(trajs[i], last, r[i], infos[i])
        assert done.all()
    return trajs


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("mmgym/AvellanedaStoikov-v0", {}),
        ("mmgym/AvellanedaStoikov-v0", {"fill_rule": "poisson", "max_inventory": 3,
                                        "entry_latency_steps": 2, "cancel_latency_steps": 1}),
        ("mmgym/MarketMaking-v0", {"episode_seconds": 20.0}),
        ("mmgym/MarketMaking-v0", {"episode_seconds": 20.0, "quote_levels": 2,
                                   "entry_latency_steps": 2, "cancel_latency_steps": 1,
                                   "queue_model": "conservative",
                                   "event_rate": 0.2}),
        ("mmgym/WideSpread-v0", {"episode_seconds": 20.0,
                                 "feature_params": {"vpin": {"bucket_volume": 200.0}}}),
        ("mmgym/WideSpread-v0", {"episode_seconds": 20.0, "two_sided": 0.0,
                                 "limit_sizes": "geometric", "entry_latency_steps": 1,
                                 "cancel_latency_steps": 3,
                                 "queue_model": "conservative", "requote_rate": 0.5,
                                 "event_rate": 0.5}),
        ("mmgym/MultiAsset-v0", {"episode_seconds": 20.0, "lag_steps": 7, "beta": 0.8,
                                 "event_rate": 0.5,
                                 "feature_params": {"vpin": {"bucket_volume": 200.0}}}),
        ("mmgym/MultiAsset-v0", {"leg": "lob", "assets": 3, "episode_seconds": 20.0,
                                 "beta": [1.0, -0.5], "lag_steps": [0, 12],
                                 "asset_params": [{}, {"entry_latency_steps": 2},
                                                  {"event_rate": 0.0}]}),
        ("mmgym/MultiAsset-v0", {"leg": "as2008", "max_inventory": 3, "lag_steps": 3}),
    ],
)
def test_single_vector_and_sb3_agree_bit_for_bit(env_id: str, kwargs: dict) -> None:
    _check_views(env_id, kwargs)


@needs_sample
@pytest.mark.parametrize("queue_model", ["probabilistic", "conservative"])
def test_replay_views_agree_bit_for_bit(tmp_path: Path, queue_model: str) -> None:
    path = tmp_path / "btcusdt.parquet"
    import_binance(SAMPLE, path)
    _check_views("mmgym/LOBReplay-v0", {"data_path": str(path), "episode_seconds": 20.0,
                                        "queue_model": queue_model, "max_inventory": 0.03})


def _check_views(env_id: str, kwargs: dict) -> None:
    acts = _actions(200, 2 * gym.make(env_id, **kwargs).unwrapped.core.assets)
    views = {
        "single": single_env(env_id, acts, **kwargs),
        "vector": vector_env(env_id, acts, **kwargs),
        "sb3": sb3_adapter(mmgym.ENV_IDS[env_id], acts, **kwargs),
    }
    ref = views["single"]
    assert np.all(sum(np.sum(t["bid_fill"], axis=0) for t in ref) > 0)  # every asset trades
    for name, trajs in views.items():
        for i in range(N_ENVS):
            for k in ref[i]:
                a, b = np.array(ref[i][k]), np.array(trajs[i][k])
                assert a.shape == b.shape, (name, i, k)
                assert np.array_equal(a, b, equal_nan=True), (name, i, k)


def test_different_seeds_differ_and_episodes_differ() -> None:
    acts = _actions(200)
    trajs = single_env("mmgym/AvellanedaStoikov-v0", acts)
    mids = [np.array(t["mid"]).reshape(EPISODES, -1) for t in trajs]
    assert not np.array_equal(mids[0], mids[1])
    assert not np.array_equal(mids[0][0], mids[0][1])


def test_market_draws_do_not_depend_on_actions() -> None:
    """Common random numbers: two policies on the same seed see the same market randomness:
    the ``as2008`` mid path, the ``lob`` and ``wide`` fundamentals (there the agent's fills
    change the book, but not the draws)."""
    paths = []
    for offset in (0.2, 3.0):
        env = gym.make("mmgym/AvellanedaStoikov-v0")
        env.reset(seed=3)
        paths.append([env.step(np.array([offset, offset]))[4]["mid"] for _ in range(200)])
    assert paths[0] == paths[1]
    for env_id, offsets in (("mmgym/MarketMaking-v0", (0.0, 5.0)),
                            ("mmgym/WideSpread-v0", (0.0, 8.0))):
        paths = []
        for offset in offsets:
            env = gym.make(env_id)
            env.reset(seed=3)
            market = env.unwrapped.core.market
            paths.append([(env.step(np.array([offset, offset])), market.fundamental[0])[1]
                          for _ in range(600)])
        # the same information events, whatever the agent quotes
        assert paths[0] == paths[1], env_id
        assert len(set(paths[0])) > 3, env_id  # lob: ~30 events in 60 s; wide: ~5


def test_unseeded_resets_differ() -> None:
    a, b = (mmgym.MarketMakingEnv() for _ in range(2))
    a.reset()
    b.reset()
    mids = [[e.step(np.ones(2))[4]["mid"] for _ in range(50)] for e in (a, b)]
    assert mids[0] != mids[1]
