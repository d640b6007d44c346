"""Counter-based random numbers: Philox4x32-10, written once against ``xp``.

A counter-based generator has no state to carry: the numbers are a pure function of a key and a
counter, (key, counter) -> four 32-bit words, so any draw can be made again from its position
alone. The trainer keys it with the run's seed and counts with the iteration, which makes the
dropout masks of iteration k the same whenever k runs (an unbroken run, or one resumed at k), and
draws them on whichever device holds the arrays, with no generator to set up per iteration.

Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011; the generator behind cuRAND's and CuPy's Philox4x3210). With 32-bit words, a key (k0, k1)
and a counter (c0, c1, c2, c3), one round is

    (1) hi0, lo0 = the high and low words of M0 * c0      M0 = 0xD2511F53
        hi1, lo1 = the high and low words of M1 * c2      M1 = 0xCD9E8D57
    (2) c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    (3) k = (k0 + 0x9E3779B9, k1 + 0xBB67AE85)  mod 2^32  (between rounds)

and ten rounds make the output. Element j of a draw uses the counter
(j // 4, draw, iteration mod 2^32, iteration // 2^32) and word j % 4 of the output; ``draw``
numbers the draws made in one iteration (0, 1, ... in call order), so they never overlap.
Uniform floats take the top 24 bits (float32) or 53 bits (float64, from two words):
u = bits * 2^-24 or 2^-53, in [0, 1).

Every operation is an elementwise integer operation on uint64 arrays (products of two 32-bit
words fit), so the numbers are bit-for-bit the same on NumPy and on CuPy.
"""
from __future__ import annotations

import numpy as np

from . import backend

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
ROUNDS = 10


def philox4x32(counter, key, rounds=ROUNDS):
    """The block function: counter, a tuple of four uint64 arrays of 32-bit words (all the same
    shape, any module), and key, two Python ints < 2^32. Returns the four output words (uint64)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r > 0:                                           # (3) the key schedule
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0 = c0 * M0                                        # (1) < 2^64: exact in uint64
        p1 = c2 * M1
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK,  # (2)
                          (p0 >> 32) ^ c3 ^ k1, p0 & MASK)
    return c0, c1, c2, c3


class CounterRNG:
    """The uniform draws of one iteration, on the module ``xp``: ``random(shape, dtype)`` as NumPy's
    Generator has it (what ``layers/dropout.py`` calls). Made per iteration: it is three numbers."""

    def __init__(self, seed: int, iteration: int, xp=None):
        seed, iteration = int(seed), int(iteration)
        if not (0 <= seed < 2 ** 64 and 0 <= iteration < 2 ** 64):
            raise ValueError(f"seed and iteration must be in [0, 2^64), got {seed}, {iteration}")
        self.key = (seed & MASK, seed >> 32)
        self.iteration = iteration
        self.xp = backend.xp() if xp is None else xp
        self.draws = 0                                      # draws made so far in this iteration

    def _words(self, n):
        """(4 * ceil(n / 4),) uint64 words of the next draw."""
        xp = self.xp
        blocks = xp.arange((n + 3) // 4, dtype=xp.uint64)   # (n/4,) c0: the block number
        fill = lambda v: xp.full(blocks.shape, v, dtype=xp.uint64)  # noqa: E731
        out = philox4x32((blocks, fill(self.draws), fill(self.iteration & MASK),
                          fill(self.iteration >> 32)), self.key)
        self.draws += 1
        return xp.stack(out, axis=1).reshape(-1)            # (4 * n/4,) word j % 4 of block j // 4

    def random(self, size, dtype=np.float64):
        """Uniform numbers in [0, 1), shape ``size``, float32 or float64."""
        dtype = np.dtype(dtype)
        shape = (size,) if np.ndim(size) == 0 else tuple(size)
        n = int(np.prod(shape))
        if dtype == np.float32:
            u = (self._words(n)[:n] >> 8).astype(np.float32) * np.float32(2.0 ** -24)
        elif dtype == np.float64:
            w = self._words(2 * n)                          # (2n,) two words per number
            u = ((w[0:2 * n:2] >> 5) * 67108864 + (w[1:2 * n:2] >> 6)).astype(np.float64) * 2.0 ** -53
        else:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        return u.reshape(shape)


def dropout_rng(seed: int, iteration: int, xp):
    """The generator of iteration ``iteration`` for arrays of module ``xp``, as the trainer uses it.
    NumPy: ``numpy.random.default_rng(seed * 1000003 + iteration)`` (native, cheap to make on the
    host; the CPU's numbers since the first release). A device: ``CounterRNG(seed, iteration)`` on
    it, made of three numbers (no cuRAND state to set up per iteration). Either way the numbers of
    iteration k depend on (seed, k) alone, so a resumed run draws what an unbroken one draws; the
    two sides draw different numbers."""
    if xp is np:
        return np.random.default_rng(seed * 1_000_003 + iteration)
    return CounterRNG(seed, iteration, xp)
