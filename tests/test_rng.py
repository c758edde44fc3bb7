"""The counter-based random streams."""

from __future__ import annotations

import numpy as np

from mmgym.rng import RandomStreams, mix64


def _streams(n: int, m: int, block: int) -> RandomStreams:
    s = RandomStreams(n, m, block_elements=block)
    s.seed(np.arange(100, 100 + n, dtype=np.uint64))
    s.start_episodes()
    return s


def test_block_size_and_batch_size_do_not_change_the_numbers() -> None:
    big = _streams(5, 3, block=1)
    draws_big = np.stack([big.step_uniforms().copy() for _ in range(50)])
    for block in (7, 4096):
        other = _streams(5, 3, block)
        np.testing.assert_array_equal(
            np.stack([other.step_uniforms().copy() for _ in range(50)]), draws_big
        )
    alone = RandomStreams(1, 3)
    alone.seed(np.array([102], dtype=np.uint64))
    alone.start_episodes()
    np.testing.assert_array_equal(
        np.stack([alone.step_uniforms().copy() for _ in range(50)])[:, :, 0], draws_big[:, :, 2]
    )


def test_partial_restart_leaves_other_streams_alone() -> None:
    a, b = _streams(3, 2, 64), _streams(3, 2, 64)
    for _ in range(5):
        a.step_uniforms()
        b.step_uniforms()
    a.start_episodes(np.array([True, False, False]))
    ua, ub = a.step_uniforms(), b.step_uniforms()
    np.testing.assert_array_equal(ua[:, 1:], ub[:, 1:])
    assert not np.array_equal(ua[:, 0], ub[:, 0])
    assert a.steps.tolist() == [1, 6, 6]


def test_uniforms_are_uniform_and_uncorrelated() -> None:
    s = _streams(1000, 4, 4096)
    u = np.stack([s.step_uniforms().copy() for _ in range(100)])  # (steps, m, n)
    flat = u.ravel()
    assert flat.min() >= 0.0 and flat.max() < 1.0
    # 400,000 numbers: mean 1/2 and variance 1/12 within 5 standard errors
    assert abs(flat.mean() - 0.5) < 5 * np.sqrt(1 / 12 / flat.size)
    assert abs(flat.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / flat.size)
    # decile counts pass a chi-square test at the 0.1% level (27.9 for 9 dof)
    counts = np.bincount((flat * 10).astype(int), minlength=10)
    expected = flat.size / 10
    assert ((counts - expected) ** 2 / expected).sum() < 27.9
    # no correlation between streams, steps or neighbouring environments
    for a, b in [(u[:, 0], u[:, 1]), (u[:, 0], u[:, 2]), (u[:-1], u[1:]),
                 (u[..., :-1], u[..., 1:])]:
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 5 / np.sqrt(a.size)


def test_mix64_is_splitmix64() -> None:
    # SplitMix64 seeded with 0 yields mix64(γ), mix64(2γ), ...: its published first output
    gamma = np.uint64(0x9E3779B97F4A7C15)
    assert int(mix64(np.array([gamma]))[0]) == 0xE220A8397B1DCDAF
