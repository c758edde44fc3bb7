"""Counter-based random streams, one per environment, drawn in batches.

Environment ``i`` draws its random numbers from a SplitMix64 sequence (Steele, Lea & Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) that starts at a random point
given by its episode key:

    x[i, c] = splitmix64(key_i + (c + 1)·γ),   γ = 0x9E3779B97F4A7C15,

where ``splitmix64`` is that generator's output function. Each 64-bit value gives two
uniform numbers of 32 bits, its high and its low half divided by 2^32. The ``m`` uniforms of
step ``t`` (``t = -1`` for the ones drawn at reset) use the values ``c = (t + 1)·h + j``,
``j < h = ceil(m / 2)``: uniform ``j`` is the high half of value ``j`` and uniform ``h + j`` its
low half.

Three properties follow, and the environments rely on them:

* the same seed gives the same episode whether the environment runs alone or as member
  ``i`` of a batch of any size (Gymnasium's convention: member ``i`` of a batch seeded with
  ``s`` is seeded with ``s + i``);
* the market's randomness cannot depend on the agent's actions (common random numbers:
  two policies evaluated on episode ``i`` face the same market draws);
* numbers for many steps can be drawn in one call (a compiled loop, numba), which keeps the
  per-step cost at a single environment low.

A resolution of 2^-32 is far finer than any probability the simulators compare against.

Episodes: a seed's base key is ``seed_keys(seed)``; episode ``e`` of that seed (``e = 0`` at
the reset with the seed, then one more per reset without one) has the key
``mix64(base ^ mix64(e·0xD1B54A32D192ED03 + γ))``, from which all its numbers are drawn
(:attr:`RandomStreams.episode_keys`). A reset can also start episode ``e`` directly
(:meth:`RandomStreams.set_episodes`; the views' ``options={"episode": e}``).

Seed spaces. Evaluation plays one episode (episode 0) of each seed of a range starting low
(``evaluate.py``: seeds 0–999 by default; the training kit's closing comparison:
``mmgym.kit.training.EVAL_SEED`` = 1,000,000 on). Training draws from a space of its own, the
seeds from :data:`TRAINING_SEED_START` = 2^63 on: environment ``j`` of the run with seed
``k`` plays the seed :func:`training_seed` ``(k, j)`` = 2^63 + k·2^16 + j, so runs with
different seeds, and the environments of a run, never share a stream (up to 2^16
environments a run), and no training episode is an evaluation one; an evaluation whose
seeds would enter the training space is refused where its config is checked
(:func:`mmgym.kit.config.validate_evaluation`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_EPISODE = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S32 = (np.uint64(s) for s in (30, 27, 31, 32))
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
_TO_UNIT = 1.0 / 2.0**32
_MAX_SEED = 2**64 - 1
TRAINING_SEED_START = 2**63
"""The first seed of the space reserved for training runs, [2^63, 2^64)."""
SEEDS_PER_RUN = 2**16
"""Seeds of one training run in :func:`training_seed`'s layout: one per environment."""


@njit(cache=True)
def _splitmix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function of one value (uint64 arithmetic, modulo 2^64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _mix_all(z: np.ndarray) -> None:
    """:func:`_splitmix` in place on a 1-D uint64 array."""
    for k in range(z.shape[0]):
        z[k] = _splitmix(z[k])


@njit(cache=True)
def _hash_into(z, out, b, j, i):
    """Hash counter ``z`` into uniforms ``j`` (its high half) and ``h + j`` (its low half)
    of step ``b`` of ``out`` (``(steps, 2h, n)``)."""
    x = _splitmix(z)
    out[b, j, i] = (x >> _S32) * _TO_UNIT
    out[b, out.shape[1] // 2 + j, i] = (x & _LOW32) * _TO_UNIT


@njit(cache=True)
def _hash_counters(z, out):
    """Uniforms ``out`` (``(steps, 2h, n)``) from the counters ``z`` (``(steps, h, n)``)."""
    for b in range(z.shape[0]):
        for j in range(z.shape[1]):
            for i in range(z.shape[2]):
                _hash_into(z[b, j, i], out, b, j, i)


@njit(cache=True)
def _step_block(keys, steps, h, offsets, out):
    """Uniforms of the steps after ``steps`` (``(n,)``) into ``out`` (``(steps, 2h, n)``):
    counters ``key + (step + 1)·h·γ + offsets[b, j]`` with ``offsets[b, j] = (b·h + j + 1)·γ``."""
    for b in range(offsets.shape[0]):
        for j in range(h):
            for i in range(keys.shape[0]):
                start = (np.uint64(steps[i]) + _ONE) * np.uint64(h) * _GAMMA + keys[i]
                _hash_into(start + offsets[b, j], out, b, j, i)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of a uint64 array (a new array)."""
    z = np.array(x, dtype=np.uint64)
    _mix_all(z.reshape(-1))
    return z


def seed_keys(seeds: np.ndarray) -> np.ndarray:
    """Base keys of environments from their integer seeds (``0 <= seed < 2**64``)."""
    return mix64(mix64(np.asarray(seeds, dtype=np.uint64)) + _GAMMA)


def fresh_seeds(n: int) -> np.ndarray:
    """``n`` seeds from operating-system entropy, for a reset without a seed."""
    return np.random.SeedSequence().generate_state(n, dtype=np.uint64)


def check_seed(seed: object, field: str = "seed") -> int:
    """Return ``seed`` as an int after checking ``0 <= seed < 2**64`` (``field`` names it in
    the error)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not (
        0 <= int(seed) <= _MAX_SEED
    ):
        raise ValueError(f"{field}={seed!r}: expected an integer in [0, 2**64 - 1]")
    return int(seed)


def training_seed(run: int, env: int = 0) -> int:
    """The seed of environment ``env`` of the training run with seed ``run``:
    ``2**63 + run·2**16 + env`` (module doc, "Seed spaces"), for ``0 <= run < 2**47`` and
    ``0 <= env < 2**16``. Environment ``j`` of a vector env reset with ``training_seed(run)``
    plays ``training_seed(run, j)`` (Gymnasium's ``s + j``)."""
    if not (0 <= run < (2**64 - TRAINING_SEED_START) // SEEDS_PER_RUN and
            0 <= env < SEEDS_PER_RUN):
        raise ValueError(f"training_seed(run={run}, env={env}): expected 0 <= run < 2**47 "
                         "and 0 <= env < 2**16")
    return TRAINING_SEED_START + run * SEEDS_PER_RUN + env


class RandomStreams:
    """Uniform numbers in [0, 1) for ``n`` environments, ``m`` per environment per step.

    Steps are numbered per environment; every call of :meth:`step_uniforms` advances every
    environment by one step, and :meth:`start_episodes` puts the chosen environments at step 0
    of a new episode. Numbers are produced in blocks of several steps at once (fewer calls for
    small ``n``); the block size never changes the numbers.

    Args:
        n: number of environments.
        m: uniforms per environment per step (and at reset).
        block_elements: target size of one block, in 64-bit values.
    """

    def __init__(self, n: int, m: int, block_elements: int = 4096) -> None:
        self.n = n
        self.m = m
        self.h = (m + 1) // 2
        self.block_steps = max(1, block_elements // (n * self.h))
        self.base_keys = np.zeros(n, dtype=np.uint64)
        self.episode_index = np.zeros(n, dtype=np.uint64)
        self.episode_keys = np.zeros(n, dtype=np.uint64)
        self.steps = np.zeros(n, dtype=np.int64)
        c = np.arange(1, self.block_steps * self.h + 1, dtype=np.uint64)
        self._offsets = (c * _GAMMA).reshape(self.block_steps, self.h)
        self._block = np.empty((self.block_steps, 2 * self.h, n))
        self._next = self.block_steps

    def seed(self, seeds: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Set the base keys of the masked environments from integer seeds and restart
        their episode count."""
        sel = slice(None) if mask is None else mask
        self.base_keys[sel] = seed_keys(seeds)
        self.episode_index[sel] = 0

    def set_episodes(self, episodes: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Make the next episode of the masked environments episode ``episodes`` (indices
        from 0) of their seeds' streams."""
        sel = slice(None) if mask is None else mask
        self.episode_index[sel] = episodes

    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Begin the next episode of the masked environments and return their reset
        uniforms, shape ``(m, k)`` for the ``k`` masked environments."""
        sel = slice(None) if mask is None else mask
        self.episode_keys[sel] = mix64(
            self.base_keys[sel] ^ mix64(self.episode_index[sel] * _EPISODE + _GAMMA)
        )
        self.episode_index[sel] += np.uint64(1)
        self.steps[sel] = 0
        self._next = self.block_steps
        z = self.episode_keys[sel][None] + self._offsets[0][:, None]
        u = np.empty((1, 2 * self.h, z.shape[1]))
        _hash_counters(z[None], u)
        return u[0, : self.m]

    def step_uniforms(self) -> np.ndarray:
        """The uniforms of every environment's current step, shape ``(m, n)`` (row ``j`` is
        uniform ``j`` of every environment); advances every environment by one step. The
        array is reused: copy it to keep it."""
        if self._next == self.block_steps:
            _step_block(self.episode_keys, self.steps, self.h, self._offsets, self._block)
            self._next = 0
        u = self._block[self._next, : self.m]
        self._next += 1
        self.steps += 1
        return u
