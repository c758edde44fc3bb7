"""The SB3 adapter's lazy ``infos`` read like SB3's list of dicts, for every SB3 consumer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from mmgym import MarketMakingSB3VecEnv, MarketMakingVectorEnv
from mmgym.accounting import INFO_KEYS
from mmgym.sb3_vec_env import StepInfos

N, SEED, HORIZON, LATE = 4, 3, 200, 50


def _side_by_side(
    steps: int, info_dicts: bool = True
) -> Iterator[tuple[MarketMakingSB3VecEnv, tuple, tuple]]:
    """The adapter's and the SameStep vector env's steps on the same seeds and actions; env 0
    restarts at step ``LATE``, so its episodes end ``LATE`` steps after the others'."""
    venv = MarketMakingSB3VecEnv(N, info_dicts=info_dicts)
    venv.seed(SEED)
    venv.reset()
    vec = MarketMakingVectorEnv(N, autoreset_mode="SameStep")
    vec.reset(seed=SEED)
    rng = np.random.default_rng(0)
    for t in range(steps):
        if t == LATE:
            late = np.arange(N) == 0
            venv.core.reset(mask=late)
            vec.reset(options={"reset_mask": late})
        a = rng.uniform(0.0, 2.0, (N, 2)).astype(np.float32)
        yield venv, venv.step(a), vec.step(a)


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


@pytest.mark.parametrize("info_dicts", [True, False])
def test_infos_hold_the_vector_envs_info_and_terminal_observation(info_dicts: bool) -> None:
    """Every env's dict (with ``info_dicts=False``, those of the envs that ended; the others
    are empty) and the arrays hold the vector env's info, bit for bit."""
    ends = []
    steps = _side_by_side(HORIZON + LATE, info_dicts)
    for t, (venv, (_, _, dones, infos), (*_, vinfo)) in enumerate(steps):
        assert isinstance(infos, Sequence) and len(infos) == N
        # read lazily in either order: one dict first, or all at once
        dicts = [infos[i] for i in range(N)] if t % 2 else list(infos)
        ended = vinfo.get("_final_obs", np.zeros(N, dtype=bool))
        np.testing.assert_array_equal(dones, ended)
        before = vinfo["final_info"] if ended.any() else vinfo
        for i, info in enumerate(dicts):
            extra = ["terminal_observation", "TimeLimit.truncated"] if dones[i] else []
            assert list(info) == ([*INFO_KEYS, *extra] if info_dicts or dones[i] else [])
            for k in INFO_KEYS:
                if info:
                    assert type(info[k]) is float and _same(info[k], before[k][i]), (t, i, k)
                assert _same(infos.arrays[k][i], before[k][i])
                assert _same(venv.step_info[k][i], before[k][i])
            if dones[i]:
                np.testing.assert_array_equal(info["terminal_observation"],
                                              vinfo["final_obs"][i])
                assert info["TimeLimit.truncated"] is False
                for k in INFO_KEYS:  # the new episode's start
                    assert _same(venv.reset_infos[i][k], vinfo[k][i])
        if dones.any():
            ends.append(np.flatnonzero(dones).tolist())
    assert ends == [[1, 2, 3], [0]]  # steps where some envs end and others go on


def test_infos_read_like_a_list_of_dicts() -> None:
    *_, (_, (_, _, dones, infos), _) = _side_by_side(HORIZON)
    assert isinstance(infos, StepInfos) and dones.tolist() == [False, True, True, True]
    assert infos[2] is infos[2] is infos[-2] is infos[:][2] is list(infos)[2]
    assert infos[1:3] == [infos[1], infos[2]] and infos[::-1][0] is infos[3]
    with pytest.raises(IndexError):
        infos[N]
    infos[3]["terminal_observation"] = "normalised"  # VecNormalize's way: it sticks
    assert [i.get("terminal_observation") for i in infos][3] == "normalised"
    assert "terminal_observation" not in infos[0]
    with pytest.raises(ValueError, match="read-only"):
        infos.arrays["pnl"][0] = 1.0
    assert [infos.index(i) for i in infos] == list(range(N))


def _episode(venv) -> tuple[np.ndarray, Sequence[dict]]:
    """Step ``venv`` through one episode; the summed rewards and the last step's infos."""
    venv.seed(SEED)
    venv.reset()
    total = np.zeros(N)
    for _ in range(HORIZON):
        _, rewards, dones, infos = venv.step(np.full((N, 2), 0.8, dtype=np.float32))
        total += rewards
    assert dones.all()
    return total, infos


@pytest.mark.parametrize("info_dicts", [True, False])
def test_vec_monitor_and_vec_normalize_see_each_episode_end(info_dicts: bool) -> None:
    raw_total, raw = _episode(MarketMakingSB3VecEnv(N))
    terminal = [info["terminal_observation"] for info in raw]
    norm = VecNormalize(VecMonitor(MarketMakingSB3VecEnv(N, info_dicts=info_dicts)),
                        norm_reward=False)
    total, infos = _episode(norm)
    np.testing.assert_allclose(total, raw_total, rtol=1e-6)  # as float32 through VecNormalize
    assert isinstance(infos, list)  # VecMonitor's copy
    for i, info in enumerate(infos):
        assert info["episode"]["l"] == HORIZON
        assert info["episode"]["r"] == pytest.approx(raw_total[i], rel=1e-5)
        np.testing.assert_allclose(info["terminal_observation"], norm.normalize_obs(terminal[i]))
    # without VecMonitor, VecNormalize writes into the adapter's own dicts
    norm = VecNormalize(MarketMakingSB3VecEnv(N, info_dicts=info_dicts), norm_reward=False)
    _, infos = _episode(norm)
    assert isinstance(infos, StepInfos)
    for i in range(N):
        np.testing.assert_allclose(infos[i]["terminal_observation"],
                                   norm.normalize_obs(terminal[i]))


@pytest.mark.parametrize(("normalize", "info_dicts"), [(False, True), (True, False)])
def test_off_policy_buffer_stores_the_terminal_observation(normalize: bool,
                                                           info_dicts: bool) -> None:
    """SAC's replay buffer holds each episode's last observation (time remaining 0) as the
    next observation of its last step, not the next episode's first, and no timeouts."""
    venv = MarketMakingSB3VecEnv(N, normalize_actions=True, info_dicts=info_dicts)
    env = VecNormalize(venv, norm_reward=False) if normalize else venv
    model = SAC("MlpPolicy", env, learning_starts=10_000, buffer_size=1_000, seed=0,
                device="cpu")
    model.learn(N * (HORIZON + 5))
    buffer = model.replay_buffer
    time_remaining = venv.feature_names.index("time_remaining")
    np.testing.assert_allclose(buffer.next_observations[HORIZON - 1, :, time_remaining], 0.0,
                               atol=1e-6)
    np.testing.assert_array_equal(buffer.observations[HORIZON, :, time_remaining], 1.0)
    assert buffer.dones[HORIZON - 1].all() and not buffer.dones[:HORIZON - 1].any()
    assert not buffer.timeouts.any()
