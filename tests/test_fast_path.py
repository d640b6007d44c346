"""The LSTM's fast CPU path (Numba kernels, feature-major recurrent GEMM) against its readable
reference path: same numbers, forward and backward, float64 to 1e-12 and float32 closely.

``lstm.USE_NUMBA`` selects the path; every test sets it explicitly and restores it.
tests/test_layers.py runs its naive-loop and gradient checks on the default (fast) path; here the
gradient check also runs with the fast path forced on, so both paths are covered wherever the
default changes. No timings here: speed is measured by benchmarks/bench_rnn.py.
"""
import numpy as np
import pytest

from minirnn import _rnn_kernels as kernels
from minirnn.gradcheck import numeric_gradient, rel_error
from minirnn.layers import lstm
from minirnn.model import RNNLM

TOL = {np.float64: 1e-12, np.float32: 2e-5}
SHAPES = [(1, 1, 3, 2), (2, 3, 4, 5), (1, 4, 2, 3), (3, 1, 4, 4), (4, 6, 5, 7)]  # N, T, D, H


@pytest.fixture
def use_path(monkeypatch):
    """use_path(True) runs the fast path, use_path(False) the reference; restored afterwards."""
    def set_path(fused):
        monkeypatch.setattr(lstm, "USE_NUMBA", bool(fused))
    return set_path


def rand_problem(N, T, D, H, dtype, seed, with_state=True, with_dcT=True):
    """Every input and parameter random, biases included, at a scale where the gates vary."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    x, dh = r(N, T, D), r(N, T, H)
    h0 = r(N, H) if with_state else None
    c0 = r(N, H) if with_state else None
    Wx, Wh, b = 0.5 * r(D, 4 * H), 0.5 * r(H, 4 * H), r(4 * H)
    dcT = r(N, H) if with_dcT else None
    return x, h0, c0, Wx, Wh, b, dh, dcT


def run(x, h0, c0, Wx, Wh, b, dh, dcT):
    """forward then backward; returns every output, cache array and gradient, by name."""
    h, cT, cache = lstm.forward(x, h0, c0, Wx, Wh, b)
    grads = lstm.backward(dh, cache, dcT)
    out = {"h": h, "cT": cT, "gates": cache[5], "c": cache[6]}
    out.update(zip(("dx", "dh0", "dc0", "dWx", "dWh", "db"), grads))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("with_state,with_dcT", [(True, True), (False, False), (True, False)])
def test_fused_matches_reference(use_path, dtype, N, T, D, H, with_state, with_dcT):
    args = rand_problem(N, T, D, H, dtype, seed=N * 100 + T * 10 + H, with_state=with_state,
                        with_dcT=with_dcT)
    use_path(False)
    ref = run(*args)
    use_path(True)
    fast = run(*args)
    for name, value in ref.items():
        assert fast[name].dtype == value.dtype, name
        assert fast[name].shape == value.shape, name
        assert rel_error(fast[name], value) < TOL[dtype], name


def test_fused_leaves_inputs_alone(use_path):
    """N = 1 makes h0.T contiguous: the fast path must copy it, not write through it."""
    args = rand_problem(1, 3, 2, 4, np.float64, seed=7)
    before = [None if a is None else a.copy() for a in args]
    use_path(True)
    run(*args)
    for a, a0 in zip(args, before):
        if a is not None:
            assert np.array_equal(a, a0)


def test_caches_are_interchangeable(use_path):
    """The fast path caches exactly what the reference caches: either backward takes either cache."""
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(3, 4, 3, 5, np.float64, seed=3)
    use_path(False)
    _, _, cache_ref = lstm.forward(x, h0, c0, Wx, Wh, b)
    g_ref = lstm.backward(dh, cache_ref, dcT)
    use_path(True)
    _, _, cache_fast = lstm.forward(x, h0, c0, Wx, Wh, b)
    assert len(cache_fast) == len(cache_ref)
    for a, r in zip(cache_fast, cache_ref):
        assert a.shape == r.shape and rel_error(a, r) < 1e-12
    g_fast = lstm.backward(dh, cache_ref, dcT)
    for a, r in zip(g_fast, g_ref):
        assert rel_error(a, r) < 1e-12
    use_path(False)                                          # and the reference takes the fast cache
    for a, r in zip(lstm.backward(dh, cache_fast, dcT), g_ref):
        assert rel_error(a, r) < 1e-12


@pytest.mark.parametrize("T", [1, 4])
def test_h_prev_is_the_forward_buffer(use_path, T):
    """dWh's GEMM reads h_{t-1} for every t from the fast forward's (T+1, N, H) buffer, h0 in slot
    0, without a copy; a reference cache gets the same numbers from a concatenated copy."""
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(3, T, 2, 4, np.float64, seed=5)
    for fused in (True, False):
        use_path(fused)
        h, _, cache = lstm.forward(x, h0, c0, Wx, Wh, b)
        h_tm = lstm._time_major(cache[7], np.float64)        # (T, N, H)
        h_prev = lstm._h_prev(h_tm, cache[1])                # (T, N, H)
        assert np.array_equal(h_prev, np.concatenate([h0[None], h.transpose(1, 0, 2)[:-1]]))
        assert (h_prev.base is not None and h_prev.base is h_tm.base) == fused


@pytest.mark.parametrize("N,T,D,H", [(2, 3, 4, 5), (1, 1, 2, 3), (2, 2, 3, 2)])
def test_fused_gradcheck(use_path, N, T, D, H):
    """Central differences of L = sum(h * dh) + sum(cT * dcT), every input and parameter."""
    use_path(True)
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(N, T, D, H, np.float64, seed=11)
    _, _, cache = lstm.forward(x, h0, c0, Wx, Wh, b)
    dx, dh0, dc0, dWx, dWh, db = lstm.backward(dh, cache, dcT)

    def f():
        h, cT, _ = lstm.forward(x, h0, c0, Wx, Wh, b)
        return (h * dh).sum() + (cT * dcT).sum()

    for name, (a, da) in {"x": (x, dx), "h0": (h0, dh0), "c0": (c0, dc0), "Wx": (Wx, dWx),
                          "Wh": (Wh, dWh), "b": (b, db)}.items():
        assert rel_error(numeric_gradient(f, a), da) < 1e-7, name


def test_kernels_match_their_python_source():
    """Each compiled kernel against its own Python body (``.py_func``) on small inputs, in both
    dtypes (float32 compiles the rational tanh, ``.py_func`` always runs libm's)."""
    rng = np.random.default_rng(0)
    N, H = 3, 4
    for dtype in (np.float64, np.float32):
        r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        ah, a_t = r(N, 4 * H), r(N, 4 * H)
        c_prev, dh_t, dh_next, dc_next = r(N, H), r(N, H), r(N, H), r(N, H)
        gates = (1 / (1 + np.exp(-r(N, 4 * H)))).astype(dtype)
        c_t, b = r(N, H), r(4 * H)
        xw, rows = r(5, 4 * H), np.array([3, 0, 3])         # (D, 4H) rows, (N,) ids
        z = lambda *s: np.zeros(s, dtype)  # noqa: E731
        cases = [
            (kernels.lstm_forward_step, lambda: [ah, a_t.copy(), b, c_prev, z(N, H), z(N, H)]),
            # x_t Wx as rows of a table looked up by id (ids repeat and skip rows), as for one-hot input
            (kernels.lstm_forward_step_ids, lambda: [ah, xw, rows, b, c_prev, z(N, 4 * H), z(N, H),
                                                     z(N, H)]),
            (kernels.lstm_backward_step, lambda: [dh_t, dh_next, dc_next.copy(), gates, c_t, c_prev,
                                                  z(N, 4 * H)]),
        ]
        for kernel, make in cases:
            jit_args, py_args = make(), make()
            kernel(*jit_args)
            kernel.py_func(*py_args)
            for a, p in zip(jit_args, py_args):
                assert np.allclose(a, p, rtol=1e-6, atol=1e-6), kernel.__name__


def test_float32_tanh_approximation():
    """The float32 rational tanh stays within 4e-7 of the true tanh, saturates, and is odd."""
    x = np.linspace(-12, 12, 200001).astype(np.float32)
    approx = np.array([kernels.tanh_f32(v) for v in x[::50]], dtype=np.float64)
    exact = np.tanh(x[::50].astype(np.float64))
    assert np.abs(approx - exact).max() < 4e-7
    assert kernels.tanh_f32(np.float32(30.0)) == np.float32(1.0)
    assert kernels.tanh_f32(np.float32(-0.3)) == -kernels.tanh_f32(np.float32(0.3))


def test_model_step_same_on_both_paths(use_path):
    """A whole RNNLM loss and gradients (2 layers, float64) agree between the paths."""
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, 11, (3, 5)), rng.integers(0, 11, (3, 5))
    results = []
    for fused in (False, True):
        use_path(fused)
        model = RNNLM(11, hidden=6, layers=2, cell="lstm", embed=4, seed=2, dtype=np.float64)
        loss, _, cache = model.loss(ids, targets)
        grads, _ = model.backward(cache)
        results.append((float(loss), grads))
    (l0, g0), (l1, g1) = results
    assert abs(l0 - l1) <= 1e-12 * abs(l0)
    for k in g0:
        assert rel_error(g1[k], g0[k]) < 1e-12, k
