"""Beam search: on tiny models, the K best continuations equal those of an exhaustive search."""
import itertools

import numpy as np
import pytest

from minirnn.errors import UsageError
from minirnn.model import RNNLM
from minirnn.sampling import beam_search, generate, log_softmax


def tiny_model(V=3, cell="lstm", seed=0):
    model = RNNLM(V, hidden=5, layers=2, cell=cell, embed=0, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for v in model.params.values():                      # sharper distributions than the initial ones
        if v.ndim == 2 and v.shape[0] != v.shape[1] or v.ndim == 1:
            v[...] = rng.standard_normal(v.shape) * 1.5
    return model


def sequence_logp(model, prime, seqs, token_class=None, token_logp=None):
    """log p of each continuation in seqs, by teacher forcing every full sequence at once."""
    tc = np.arange(model.V) if token_class is None else np.asarray(token_class)
    extra = np.zeros(len(tc)) if token_logp is None else np.asarray(token_logp)
    out = []
    for s in seqs:
        ids = np.array([list(prime) + [int(tc[w]) for w in s]])            # (1, P+L)
        logits, _, _ = model.forward(ids)                                  # (1, P+L, V)
        lp = log_softmax(logits[0])                                        # (P+L, V)
        P = len(prime)
        out.append(sum(lp[P - 1 + t, tc[w]] + extra[w] for t, w in enumerate(s)))
    return np.array(out)


def exhaustive(model, prime, W, L, end_ids=(), length_norm=False, **kw):
    """Every continuation of at most L tokens (stopping at the first end token), ranked."""
    seqs = []
    for n in range(1, L + 1):
        for s in itertools.product(range(W), repeat=n):
            ended = [i for i, w in enumerate(s) if w in end_ids]
            if (ended and ended[0] == n - 1) or (not ended and n == L):
                seqs.append(list(s))
    lp = sequence_logp(model, prime, seqs, **kw)
    score = lp / np.array([len(s) for s in seqs]) if length_norm else lp
    order = np.argsort(-score, kind="stable")
    return [(seqs[i], score[i], lp[i]) for i in order]


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_beam_wide_enough_is_the_exhaustive_search(cell):
    V, L = 3, 4
    model = tiny_model(V, cell)
    prime = [2, 0]
    K = V ** (L - 1)                                    # nothing is ever pruned
    got = beam_search(model, prime, L, K)
    want = exhaustive(model, prime, V, L)[:K]
    assert [t for t, _, _ in got] == [t for t, _, _ in want]
    np.testing.assert_allclose([lp for _, _, lp in got], [lp for _, _, lp in want], rtol=1e-10)


@pytest.mark.parametrize("length_norm", [False, True])
def test_end_tokens_and_length_normalisation_against_exhaustive(length_norm):
    V, L = 3, 4
    model = tiny_model(V, seed=3)
    got = beam_search(model, [1], L, V ** (L - 1), length_norm=length_norm, end_ids=[0])
    want = exhaustive(model, [1], V, L, end_ids=(0,), length_norm=length_norm)[:V ** (L - 1)]
    assert [t for t, _, _ in got] == [t for t, _, _ in want]
    np.testing.assert_allclose([sc for _, sc, _ in got], [sc for _, sc, _ in want], rtol=1e-10)
    assert any(len(t) < L for t, _, _ in got)           # some continuations did end early


def test_narrow_beam_scores_are_true_log_probabilities_and_greedy_is_beam_one():
    V, L = 4, 6
    model = tiny_model(V, seed=5)
    got = beam_search(model, [1, 2], L, 3)
    lp = sequence_logp(model, [1, 2], [t for t, _, _ in got])
    np.testing.assert_allclose([x for _, _, x in got], lp, rtol=1e-10)
    assert [x for _, _, x in got] == sorted([x for _, _, x in got], reverse=True)
    assert exhaustive(model, [1, 2], V, L)[0][2] >= got[0][2] - 1e-12        # never better than the optimum
    greedy = list(generate(model, [1, 2], L, np.random.default_rng(0), temperature=0))
    assert beam_search(model, [1, 2], L, 1)[0][0] == greedy


def test_tokens_through_classes_and_banned_tokens():
    """The quantized word model: 5 words in 3 classes; the beam ranks words by log p(c) + log p(w|c)."""
    model = tiny_model(3, seed=7)
    token_class = np.array([0, 0, 1, 2, 2])
    token_logp = np.log([0.7, 0.3, 1.0, 0.4, 0.6])
    L, K = 3, 16                                        # the 4 allowed words, nothing pruned
    got = beam_search(model, [0], L, K, token_class=token_class, token_logp=token_logp, banned=[2])
    want = [c for c in exhaustive(model, [0], 5, L, token_class=token_class, token_logp=token_logp)
            if 2 not in c[0]][:K]
    # words of one class swapped give exactly equal log p: compare (log p, tokens) rounded, in order
    key = lambda r: [(round(float(x), 9), tuple(t)) for t, _, x in r]
    assert sorted(key(got), reverse=True) == sorted(key(want), reverse=True)
    np.testing.assert_allclose([x for _, _, x in got], [x for _, _, x in want], rtol=1e-10)
    assert all(2 not in t for t, _, _ in got)


def test_bad_beam():
    with pytest.raises(UsageError):
        beam_search(tiny_model(), [0], 3, 0)
