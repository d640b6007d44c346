"""The book's one-step functions (rnn, lstm, gru: step_forward / step_backward) and the masked temporal
softmax cross-entropy: a loop of steps is the sequence function, every gradient is checked against
central differences in float64 (ids input included), and the masked loss is softmax_ce's where the
mask is all ones."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from minirnn.gradcheck import rel_error
from minirnn.layers import gru, lstm, masked_softmax_ce, rnn, softmax_ce

from helpers import FWD_TOL, GRAD_SETTINGS, check, dim, seed

CELLS = {"rnn": (rnn, 1, 1), "lstm": (lstm, 4, 4), "gru": (gru, 3, 4)}   # module, gates in W, in b


def params(rng, cell, D, H):
    _, g, nb = CELLS[cell]
    return [rng.standard_normal((D, g * H)) * 0.5, rng.standard_normal((H, g * H)) * 0.5,
            rng.standard_normal(nb * H) * 0.5]


def run_steps(cell, x, h0, c0, P):
    """forward by a loop of step_forward: (h (N, T, H), cT, caches)."""
    layer = CELLS[cell][0]
    h_prev, c_prev, hs, caches = h0, c0, [], []
    for t in range(x.shape[1]):
        if cell == "lstm":
            h_prev, c_prev, cache = layer.step_forward(x[:, t], h_prev, c_prev, *P)
        else:
            h_prev, cache = layer.step_forward(x[:, t], h_prev, *P)
        hs.append(h_prev)
        caches.append(cache)
    return np.stack(hs, axis=1), c_prev, caches


def back_steps(cell, dh, caches, dcT):
    """backward by a loop of step_backward, the parameter shares summed over t."""
    layer = CELLS[cell][0]
    N, T, H = dh.shape
    dh_next, dc_next = np.zeros((N, H)), (np.zeros((N, H)) if dcT is None else dcT)
    dxs, sums = [None] * T, None
    for t in reversed(range(T)):
        if cell == "lstm":
            dx, dh_next, dc_next, *dp = layer.step_backward(dh[:, t] + dh_next, dc_next, caches[t])
        else:
            dx, dh_next, *dp = layer.step_backward(dh[:, t] + dh_next, caches[t])
        dxs[t] = dx
        sums = dp if sums is None else [s + d for s, d in zip(sums, dp)]
    dx = None if dxs[0] is None else np.stack(dxs, axis=1)
    return dx, dh_next, dc_next, sums


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("ids", [False, True])
def test_a_loop_of_steps_is_the_sequence(cell, ids):
    rng = np.random.default_rng(3)
    N, T, D, H = 3, 4, 5, 2
    x = rng.integers(0, D, (N, T)) if ids else rng.standard_normal((N, T, D))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    P = params(rng, cell, D, H)
    dh, dcT = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    layer = CELLS[cell][0]
    h, cT, caches = run_steps(cell, x, h0, c0, P)
    if cell == "lstm":
        h_ref, cT_ref, cache = layer.forward(x, h0, c0, *P)
        assert rel_error(cT, cT_ref) < FWD_TOL
        want = layer.backward(dh, cache, dcT=dcT)
        dx_w, dh0_w, dc0_w, *dp_w = want
    else:
        h_ref, cache = layer.forward(x, h0, *P)
        dx_w, dh0_w, *dp_w = layer.backward(dh, cache)
    assert rel_error(h, h_ref) < FWD_TOL
    dx, dh0, dc0, dp = back_steps(cell, dh, caches, dcT if cell == "lstm" else None)
    assert (dx is None) == ids == (dx_w is None)
    if not ids:
        assert rel_error(dx, dx_w) < 1e-12
    assert rel_error(dh0, dh0_w) < 1e-12
    if cell == "lstm":
        assert rel_error(dc0, dc0_w) < 1e-12
    for g, w in zip(dp, dp_w):
        assert rel_error(g, w) < 1e-12


@pytest.mark.parametrize("cell", list(CELLS))
@GRAD_SETTINGS
@given(N=dim, D=dim, H=dim, s=seed, ids=st.booleans())
@example(N=1, D=1, H=1, s=0, ids=False)
@example(N=3, D=2, H=2, s=1, ids=True)               # 3 ids from 2 rows: one repeats in the step
def test_step_gradcheck(cell, N, D, H, s, ids):
    rng = np.random.default_rng(s)
    layer = CELLS[cell][0]
    x = rng.integers(0, D, N) if ids else rng.standard_normal((N, D))
    h_prev, c_prev = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    P = params(rng, cell, D, H)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    named_in = {"h_prev": h_prev, "Wx": P[0], "Wh": P[1], "b": P[2]}
    if cell == "lstm":
        h, c, cache = layer.step_forward(x, h_prev, c_prev, *P)
        dx, dh_prev, dc_prev, dWx, dWh, db = layer.step_backward(dh, dc, cache)
        f = lambda: ((lambda h_, c_, _: (h_ * dh).sum() + (c_ * dc).sum())(  # noqa: E731
            *layer.step_forward(x, h_prev, c_prev, *P)))
        named = {"c_prev": (c_prev, dc_prev)}
    else:
        h, cache = layer.step_forward(x, h_prev, *P)
        dx, dh_prev, dWx, dWh, db = layer.step_backward(dh, cache)
        f = lambda: (layer.step_forward(x, h_prev, *P)[0] * dh).sum()  # noqa: E731
        named = {}
    named.update({k: (v, g) for (k, v), g in zip(named_in.items(), (dh_prev, dWx, dWh, db))})
    if ids:
        assert dx is None
    else:
        named["x"] = (x, dx)
    check(f, named)


@GRAD_SETTINGS
@given(N=dim, T=dim, V=st.integers(1, 5), s=seed)
@example(N=1, T=1, V=3, s=0)
def test_masked_softmax_ce_gradcheck(N, T, V, s):
    rng = np.random.default_rng(s)
    logits = 2 * rng.standard_normal((N, T, V))
    y = rng.integers(0, V, (N, T))
    mask = rng.random((N, T)) < 0.6
    dloss = float(rng.standard_normal())
    loss, cache = masked_softmax_ce.forward(logits, y, mask)
    dz = masked_softmax_ce.backward(cache, dloss)
    assert dz.shape == logits.shape and np.all(dz[~mask] == 0)   # a masked token gets no gradient
    check(lambda: dloss * masked_softmax_ce.forward(logits, y, mask)[0], {"logits": (logits, dz)})


def test_masked_softmax_ce_is_softmax_ce_over_the_tokens_kept():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4))
    ones = np.ones((3, 4), dtype=bool)
    a, ca = masked_softmax_ce.forward(logits, y, ones)
    b, cb = softmax_ce.forward(logits, y)
    assert abs(float(a) - float(b)) < 1e-12
    assert rel_error(masked_softmax_ce.backward(ca, 0.7), softmax_ce.backward(cb, 0.7)) < 1e-12
    mask = ones.copy()
    mask[:, 2:] = False                                     # the last two steps are padding
    y_pad = y.copy()
    y_pad[:, 2:] = -1                                       # whatever the targets say there
    loss, _ = masked_softmax_ce.forward(logits, y_pad, mask)
    assert abs(float(loss) - float(softmax_ce.forward(logits[:, :2], y[:, :2])[0])) < 1e-12
    empty, cache = masked_softmax_ce.forward(logits, y, np.zeros((3, 4)))
    assert float(empty) == 0 and not masked_softmax_ce.backward(cache).any()
