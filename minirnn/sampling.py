"""Sampling from a language model: temperature, top-k and top-p (nucleus) filtering.

For logits z (V,) the next id is drawn from
    (1) p = softmax(z / temperature)                      temperature 0 means argmax (greedy)
    (2) top-k: keep the k most probable ids (k = 0 keeps all)
    (3) top-p: keep the smallest set of most probable ids whose total probability >= top_p
    (4) renormalise what is kept and draw one id.
The most probable id always survives (2) and (3), so something can always be drawn.
The math runs on the host: one id per step has to come back there anyway, to be printed.

Beam search (``beam_search``) instead looks for the K most likely continuations y_1..y_L of the prime:
    (5) log p(y) = sum_t log softmax(z_t)[y_t]        z_t the logits after the prime and y_1..y_{t-1}
    (6) score(y) = log p(y), or log p(y) / len(y) with length normalisation
Each step extends every kept continuation (a "beam") by every id, and keeps the K best by (5). The
beams run through the model together: the carried state has the beams as its batch axis (N = K), and
after each step the state rows are gathered by the beam each survivor came from.
"""
from __future__ import annotations

import math

import numpy as np

from .backend import to_device, to_numpy
from .errors import UsageError


def check_options(temperature: float, top_k: int, top_p: float, temperature_flag="--temperature") -> None:
    """UsageError for impossible sampling options (named as the script's flags)."""
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise UsageError(f"{temperature_flag} must be a finite number >= 0, got {temperature}")
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
    logits, state = model.predict(to_device(ids), state)               # (1, P, V)
    last = logits[0, -1]                                               # (V,)
    for _ in range(length):
        nxt = sample_next(last, rng, temperature, top_k, top_p)
        yield nxt
        step = to_device(np.array([[nxt]], dtype=np.int64))            # (1, 1)
        logits, state = model.predict(step, state)
        last = logits[0, -1]


def log_softmax(z) -> np.ndarray:
    """log softmax over the last axis, in float64 on the host: (B, V) -> (B, V)."""
    z = np.asarray(to_numpy(z), dtype=np.float64)                     # (B, V)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _take_rows(state, rows):
    """The carried state with its batch axis (N) re-indexed by ``rows`` (K,): beam k continues rows[k]."""
    idx = to_device(np.asarray(rows, dtype=np.int64))                  # (K,)
    return [tuple(a[idx] for a in layer) for layer in state]          # each (K, H)


def beam_search(model, prime_ids, length, beam, length_norm=False, end_ids=(), token_class=None,
                token_logp=None, banned=(), state=None):
    """The ``beam`` most likely continuations of ``prime_ids`` (a non-empty sequence of model ids).

    Returns a list of (tokens, score, logp), best first: ``tokens`` the continuation (a list of at
    most ``length`` ids), ``logp`` its log-probability (5), ``score`` what it is ranked by (6).

    length_norm   rank by the mean log-probability per token instead of the sum; it only matters when
                  continuations differ in length, that is when ``end_ids`` is given
    end_ids       tokens that end a continuation (they are included in it; it is not extended)
    token_class, token_logp
                  for a model over classes of tokens (the quantized word model): token w is fed to
                  the model as class token_class[w] and has log p(w) = log p(class) + token_logp[w].
                  Default: tokens are the model's ids, token_logp = 0.
    banned        tokens never generated (e.g. <unk>)

    Search: at each step every alive continuation is extended by every token, and the ``beam`` best
    alive ones by (5) go on (among equal lengths, (6) ranks as (5) does). A continuation that emits an
    end token is finished and put aside; at the end the alive and finished ones are ranked by (6).
    This is exact when nothing is ever pruned (beam >= V^(length-1)) and an approximation otherwise.
    """
    if beam < 1:
        raise UsageError(f"--beam must be >= 1, got {beam}")
    prime = np.asarray(prime_ids, dtype=np.int64).reshape(1, -1)      # (1, P)
    logits, state = model.predict(to_device(prime), state)            # (1, P, C)
    C = logits.shape[-1]
    token_class = np.arange(C) if token_class is None else np.asarray(token_class, dtype=np.int64)  # (W,)
    W = token_class.shape[0]
    extra = np.zeros(W) if token_logp is None else np.asarray(token_logp, dtype=np.float64)        # (W,)
    extra = extra.copy()
    extra[list(banned)] = -np.inf
    is_end = np.zeros(W, dtype=bool)
    is_end[list(end_ids)] = True
    score = (lambda c: c[1] / max(1, len(c[0]))) if length_norm else (lambda c: c[1])  # (6)
    alive = [((), 0.0)]                                               # (tokens, log p) of each beam
    finished = []                                                     # the best `beam` ended ones
    last = logits[:, -1]                                              # (1, C) logits of each beam
    for step in range(length):
        lp = log_softmax(last)[:, token_class] + extra                # (B, W) log p of each next token
        total = np.array([c[1] for c in alive])[:, None] + lp         # (B, W) (5) of every extension
        flat = total.reshape(-1)                                      # (B*W,)
        ends = np.tile(is_end, len(alive)) & np.isfinite(flat)        # (B*W,) extensions that finish
        goes_on = ~np.tile(is_end, len(alive)) & np.isfinite(flat)    # (B*W,) extensions that go on
        # the best `beam` of each kind; np.argsort is stable: ties go to the lower beam, then lower id
        kept = [i for i in np.argsort(-np.where(goes_on, flat, -np.inf), kind="stable")[:beam] if goes_on[i]]
        done = [i for i in np.argsort(-np.where(ends, flat, -np.inf), kind="stable")[:beam] if ends[i]]
        extend = lambda i: (alive[i // W][0] + (int(i % W),), float(flat[i]))
        finished = sorted(finished + [extend(i) for i in done], key=lambda c: -score(c))[:beam]
        parents = [int(i // W) for i in kept]
        alive = [extend(i) for i in kept]
        if not alive or step == length - 1:
            break
        ids = token_class[[c[0][-1] for c in alive]].reshape(-1, 1)   # (K, 1) the class each beam feeds
        logits, state = model.predict(to_device(ids), _take_rows(state, parents))  # (K, 1, C)
        last = logits[:, -1]                                          # (K, C)
    ranked = sorted(alive + finished, key=lambda c: -score(c))        # stable: ties keep search order
    return [(list(t), score((t, lp)), lp) for t, lp in ranked[:beam]]
