"""The GRU's engine path (minirnn/fast/gru.py) against the book (minirnn/layers/gru.py): the same
outputs and gradients (float64 to 1e-12, float32 close), dense and one-hot input, either backward on
either forward's cache; and each Numba kernel against its .py_func."""
import numpy as np
import pytest

from minirnn.gradcheck import rel_error
from minirnn.layers import gru as book

fast = pytest.importorskip("minirnn.fast.gru", reason="the engine's GRU needs Numba")


def case(rng, N, T, D, H, ids, with_h0, dtype=np.float64):
    x = rng.integers(0, D, (N, T)) if ids else rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) if with_h0 else None
    params = (0.5 * rng.standard_normal((D, 3 * H)), 0.5 * rng.standard_normal((H, 3 * H)),
              0.5 * rng.standard_normal(4 * H))
    return x, h0, tuple(p.astype(dtype) for p in params), rng.standard_normal((N, T, H)).astype(dtype)


@pytest.mark.parametrize("ids", [False, True])
@pytest.mark.parametrize("with_h0", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 3, 2), (5, 7, 6, 16)])
def test_fast_equals_book_float64(ids, with_h0, shape):
    rng = np.random.default_rng(sum(shape) + 2 * ids + with_h0)
    x, h0, params, dh = case(rng, *shape, ids, with_h0)
    h_ref, c_ref = book.forward(x, h0, *params)
    h, c = fast.forward(x, h0, *params)
    assert rel_error(h, h_ref) < 1e-12
    g_ref = book.backward(dh, c_ref)
    for got in (fast.backward(dh, c), fast.backward(dh, c_ref), book.backward(dh, c)):
        for a, b in zip(got, g_ref):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.shape == b.shape and rel_error(a, b) < 1e-12
    assert fast.backward(dh, c, need_dx=False)[0] is None


@pytest.mark.parametrize("ids", [False, True])
def test_fast_float32_close_to_book(ids):
    rng = np.random.default_rng(5)
    x, h0, params, dh = case(rng, 4, 6, 7, 32, ids, True, np.float32)
    h_ref, c_ref = book.forward(x, h0, *params)
    h, c = fast.forward(x, h0, *params)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h, h_ref, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast.backward(dh, c)[1:], book.backward(dh, c_ref)[1:]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_kernels_equal_their_py_func():
    rng = np.random.default_rng(1)
    N, H, D = 3, 4, 5
    ax, ah = rng.standard_normal((N, 3 * H)), rng.standard_normal((N, 3 * H))
    b_hn, hp = rng.standard_normal(H), rng.standard_normal((N, H))
    outs = [(np.empty((N, 4 * H)), np.empty((N, H))) for _ in range(2)]
    fast.gru_forward_step(ax, ah, b_hn, hp, *outs[0])
    fast.gru_forward_step.py_func(ax, ah, b_hn, hp, *outs[1])
    for a, b in zip(*outs):
        assert rel_error(a, b) < 1e-14
    Wx, ids, bx = rng.standard_normal((D, 3 * H)), np.array([4, 0, 4]), rng.standard_normal(3 * H)
    fast.gru_forward_step_ids(Wx, ids, bx, ah, b_hn, hp, *outs[0])
    fast.gru_forward_step.py_func(Wx[ids] + bx, ah, b_hn, hp, *outs[1])
    for a, b in zip(*outs):
        assert rel_error(a, b) < 1e-14
    gates, up, carry0 = outs[0][0], rng.standard_normal((N, H)), rng.standard_normal((N, H))
    res = []
    for kernel in (fast.gru_backward_step, fast.gru_backward_step.py_func):
        carry, dax, dah = carry0.copy(), np.empty((N, 3 * H)), np.empty((N, 3 * H))
        kernel(up, carry, gates, hp, dax, dah)
        res.append((carry, dax, dah))
    for a, b in zip(*res):
        assert rel_error(a, b) < 1e-14
