"""Counter-based random streams, one per environment, drawn in batches.

The uniform number ``j`` of step ``t`` of environment ``i`` is a pure function of that
environment's episode key and ``(t, j)``:

    u[i, t, j] = splitmix64(key_i + c·γ) / 2^64,   c = (t + 1)·m + j,   γ = 0x9E3779B97F4A7C15

where ``splitmix64`` is the output function of Steele, Lea & Flood's SplitMix64 generator
("Fast splittable pseudorandom number generators", OOPSLA 2014), so each episode reads a
SplitMix64 sequence from a random start. ``t = -1`` addresses the numbers drawn at reset.

Three properties follow, and the environments rely on them:

* the same seed gives the same episode whether the environment runs alone or as member
  ``i`` of a batch of any size (Gymnasium's convention: member ``i`` of a batch seeded with
  ``s`` is seeded with ``s + i``);
* the market's randomness cannot depend on the agent's actions (common random numbers:
  two policies evaluated on episode ``i`` face the same market draws);
* numbers for many steps can be drawn in one vectorised call, which keeps the per-step cost
  at a single environment low.
"""

from __future__ import annotations

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_EPISODE = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 1.0 / 2.0**53
_MAX_SEED = 2**64 - 1


def _mix64(z: np.ndarray, tmp: np.ndarray) -> None:
    """SplitMix64's output function, in place on ``z`` (``tmp`` is scratch of its shape)."""
    np.right_shift(z, _S30, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    np.multiply(z, _M1, out=z)
    np.right_shift(z, _S27, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    np.multiply(z, _M2, out=z)
    np.right_shift(z, _S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of a uint64 array (a new array)."""
    z = np.array(x, dtype=np.uint64)
    _mix64(z, np.empty_like(z))
    return z


def seed_keys(seeds: np.ndarray) -> np.ndarray:
    """Base keys of environments from their integer seeds (``0 <= seed < 2**64``)."""
    return mix64(mix64(np.asarray(seeds, dtype=np.uint64)) + _GAMMA)


def fresh_seeds(n: int) -> np.ndarray:
    """``n`` seeds from operating-system entropy, for a reset without a seed."""
    return np.random.SeedSequence().generate_state(n, dtype=np.uint64)


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int after checking ``0 <= seed < 2**64``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not (
        0 <= int(seed) <= _MAX_SEED
    ):
        raise ValueError(f"seed={seed!r}: expected an integer in [0, 2**64 - 1]")
    return int(seed)


class RandomStreams:
    """Uniform numbers in [0, 1) for ``n`` environments, ``m`` per environment per step.

    Steps are numbered per environment; every call of :meth:`step_uniforms` advances every
    environment by one step, and :meth:`start_episodes` puts the chosen environments at step 0
    of a new episode. Numbers are produced in blocks of several steps at once (fewer, larger
    numpy calls for small ``n``); the block size never changes the numbers.

    Args:
        n: number of environments.
        m: uniforms per environment per step (and at reset).
        block_elements: target size of one block, in numbers.
    """

    def __init__(self, n: int, m: int, block_elements: int = 4096) -> None:
        self.n = n
        self.m = m
        self.block_steps = max(1, block_elements // (n * m))
        self.base_keys = np.zeros(n, dtype=np.uint64)
        self.episode_index = np.zeros(n, dtype=np.uint64)
        self.episode_keys = np.zeros(n, dtype=np.uint64)
        self.steps = np.zeros(n, dtype=np.int64)
        offsets = np.arange(self.block_steps * m, dtype=np.uint64).reshape(self.block_steps, m)
        self._offsets = offsets * _GAMMA
        self._z = np.empty((n, self.block_steps, m), dtype=np.uint64)
        self._tmp = np.empty_like(self._z)
        self._block = np.empty((n, self.block_steps, m), dtype=np.float64)
        self._next = self.block_steps

    def seed(self, seeds: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Set the base keys of the masked environments from integer seeds and restart
        their episode count."""
        sel = slice(None) if mask is None else mask
        self.base_keys[sel] = seed_keys(seeds)
        self.episode_index[sel] = 0

    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Begin the next episode of the masked environments and return their reset
        uniforms, shape ``(k, m)`` for the ``k`` masked environments."""
        sel = slice(None) if mask is None else mask
        self.episode_keys[sel] = mix64(self.base_keys[sel] ^ mix64(
            self.episode_index[sel] * _EPISODE + _GAMMA))
        self.episode_index[sel] += np.uint64(1)
        self.steps[sel] = 0
        self._next = self.block_steps
        keys = self.episode_keys[sel]
        z = keys[:, None] + self._offsets[0][None]
        _mix64(z, np.empty_like(z))
        return (z >> _S11) * _TO_UNIT

    def step_uniforms(self) -> np.ndarray:
        """The uniforms of every environment's current step, shape ``(n, m)``; advances the
        step of every environment by one. The array is reused: copy it to keep it."""
        if self._next == self.block_steps:
            self._fill_block()
        u = self._block[:, self._next]
        self._next += 1
        self.steps += 1
        return u

    def _fill_block(self) -> None:
        counters = (self.steps.astype(np.uint64) + np.uint64(1)) * np.uint64(self.m) * _GAMMA
        np.add((self.episode_keys + counters)[:, None, None], self._offsets[None], out=self._z)
        _mix64(self._z, self._tmp)
        np.right_shift(self._z, _S11, out=self._z)
        np.multiply(self._z, _TO_UNIT, out=self._block)
        self._next = 0
