"""The gradient checker itself, on functions whose derivatives are known in closed form.

If numeric_gradient or rel_error were wrong, every layer's gradient check would be worthless, so they
are checked first: against exact derivatives (sin, x**3, a matrix product, a scalar function), and
against a deliberately wrong gradient that they must flag.
"""
import numpy as np
import pytest

from minirnn import backend
from minirnn.gradcheck import numeric_gradient, rel_error


def test_rel_error_known_values():
    a = np.array([1.0, 2.0, -3.0])
    assert rel_error(a, a) == 0.0
    # max |a - b| = 0.2, scale = max(|a|, |b|) = 3.0
    assert rel_error(a, a + np.array([0.0, 0.2, 0.0])) == pytest.approx(0.2 / 3.0, rel=1e-15)
    # symmetric, and a scale of zero does not divide by zero
    b = np.array([1.0, 2.5, -3.0])
    assert rel_error(a, b) == rel_error(b, a)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.zeros(3), np.array([0.0, 1e-3, 0.0])) == pytest.approx(1.0)


def test_sin():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))                          # (3, 4)
    dy = rng.standard_normal((3, 4))                         # (3, 4)
    num = numeric_gradient(lambda: np.sin(x), x, dy)
    assert rel_error(num, np.cos(x) * dy) < 1e-8


def test_cube():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (5,))                             # (5,)
    dy = rng.standard_normal(5)                              # (5,)
    num = numeric_gradient(lambda: x ** 3, x, dy)
    assert rel_error(num, 3 * x ** 2 * dy) < 1e-8


def test_matrix_product_both_operands():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 4))                          # (3, 4)
    B = rng.standard_normal((4, 2))                          # (4, 2)
    dY = rng.standard_normal((3, 2))                         # (3, 2) random upstream gradient
    # Y = A B  =>  dA = dY B^T, dB = A^T dY
    assert rel_error(numeric_gradient(lambda: A @ B, A, dY), dY @ B.T) < 1e-8
    assert rel_error(numeric_gradient(lambda: A @ B, B, dY), A.T @ dY) < 1e-8


def test_scalar_function_without_dy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3))
    num = numeric_gradient(lambda: (x ** 2).sum() + np.exp(x[0, 0]), x)
    exact = 2 * x
    exact[0, 0] += np.exp(x[0, 0])
    assert rel_error(num, exact) < 1e-8


def test_input_restored_and_shape_kept():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 2))
    before = x.copy()
    num = numeric_gradient(lambda: np.tanh(x), x, np.ones_like(x))
    assert num.shape == x.shape and num.dtype == x.dtype
    assert np.array_equal(x, before)                         # every perturbation undone exactly


@pytest.mark.parametrize("wrong", ["sign", "one_entry", "scale"])
def test_detects_wrong_gradient(wrong):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 4))
    B = rng.standard_normal((4, 2))
    dY = rng.standard_normal((3, 2))
    dA = dY @ B.T                                            # the right answer
    if wrong == "sign":
        bad = -dA
    elif wrong == "one_entry":
        bad = dA.copy()
        bad[1, 2] += 0.05 * np.abs(dA).max()
    else:
        bad = 2 * dA                                         # e.g. a bias counted twice
    num = numeric_gradient(lambda: A @ B, A, dY)
    assert rel_error(num, dA) < 1e-8
    assert rel_error(num, bad) > 1e-2


def test_numeric_gradient_on_backend(xp):
    """One small check through the selected backend (CuPy arrays where a GPU exists)."""
    x_host = np.random.default_rng(6).standard_normal((2, 3))
    x = backend.to_device(x_host, dtype=np.float64)
    dy = backend.to_device(np.ones((2, 3)), dtype=np.float64)
    num = numeric_gradient(lambda: xp.sin(x) * x, x, dy)
    assert backend.array_module(num) is xp
    assert rel_error(num, np.cos(x_host) * x_host + np.sin(x_host)) < 1e-8


def test_strided_views_are_perturbed():
    """x may be a view that reshape(-1) would copy (a transpose, one gate's block of columns): the
    perturbation must still reach f, or every entry would silently read 0."""
    rng = np.random.default_rng(7)
    W = rng.standard_normal((3, 8))
    f = lambda: (W ** 3).sum()  # noqa: E731
    for view in (W.T, W[:, 2:4], W[::2, 1::3]):
        assert not view.flags.c_contiguous
        num = numeric_gradient(f, view)
        assert rel_error(num, 3 * view ** 2) < 1e-8
    assert np.array_equal(W, np.random.default_rng(7).standard_normal((3, 8)))   # restored
