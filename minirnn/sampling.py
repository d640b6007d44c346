"""Sampling from a language model: temperature, top-k and top-p (nucleus) filtering.

For logits z (V,) the next id is drawn from
    (1) p = softmax(z / temperature)                      temperature 0 means argmax (greedy)
    (2) top-k: keep the k most probable ids (k = 0 keeps all)
    (3) top-p: keep the smallest set of most probable ids whose total probability >= top_p
    (4) renormalise what is kept and draw one id.
The most probable id always survives (2) and (3), so something can always be drawn.
The math runs on the host: one id per step has to come back there anyway, to be printed.
"""
from __future__ import annotations

import math

import numpy as np

from .backend import to_device, to_numpy
from .errors import UsageError


def check_options(temperature: float, top_k: int, top_p: float) -> None:
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise UsageError(f"--temperature must be a finite number >= 0, got {temperature}")
    if top_k < 0:
        raise UsageError(f"--top-k must be >= 0 (0 keeps every id), got {top_k}")
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {top_p}")


def filtered_probs(logits, temperature=1.0, top_k=0, top_p=1.0) -> np.ndarray:
    """The distribution (V,) the next id is drawn from, after (1)-(4)."""
    z = np.asarray(to_numpy(logits), dtype=np.float64).reshape(-1)    # (V,)
    V = z.shape[0]
    if temperature == 0:
        p = np.zeros(V)
        p[int(np.argmax(z))] = 1.0
        return p
    with np.errstate(over="ignore"):                                   # a tiny temperature gives -inf: fine
        z = (z - z.max()) / temperature                                # (V,) <= 0: exp never overflows
    p = np.exp(z)                                                      # (V,) (1)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")                              # (V,) most probable first
    keep = np.ones(V, dtype=bool)
    if 0 < top_k < V:
        keep[order[top_k:]] = False                                    # (2)
    if top_p < 1.0:
        cum = np.cumsum(p[order])                                      # (V,)
        n_keep = int(np.searchsorted(cum, top_p) + 1)                  # first prefix reaching top_p
        keep[order[n_keep:]] = False                                   # (3)
    p = np.where(keep, p, 0.0)
    return p / p.sum()                                                 # (4)


def sample_next(logits, rng, temperature=1.0, top_k=0, top_p=1.0) -> int:
    p = filtered_probs(logits, temperature, top_k, top_p)
    return int(rng.choice(p.shape[0], p=p))


def generate(model, prime_ids, length, rng, temperature=1.0, top_k=0, top_p=1.0, state=None):
    """Yield `length` ids sampled one at a time after feeding `prime_ids` (a non-empty sequence).

    rng is a host ``numpy.random.Generator``; the same seed gives the same text.
    """
    ids = np.asarray(prime_ids, dtype=np.int64).reshape(1, -1)          # (1, P)
    logits, state, _ = model.forward(to_device(ids), state)            # (1, P, V)
    last = logits[0, -1]                                               # (V,)
    for _ in range(length):
        nxt = sample_next(last, rng, temperature, top_k, top_p)
        yield nxt
        step = to_device(np.array([[nxt]], dtype=np.int64))            # (1, 1)
        logits, state, _ = model.forward(step, state)
        last = logits[0, -1]
