"""What the layer tests share: tolerances, hypothesis settings, the naive sigmoid and the
central-difference check. (Not a test module: pytest collects nothing here.)"""
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from minirnn.gradcheck import numeric_gradient, rel_error

TOL = 1e-6        # gradient check, relative (rel_error)
FWD_TOL = 1e-12   # forward against the naive loop, float64

GRAD_SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
dim = st.integers(1, 4)
seed = st.integers(0, 2 ** 32 - 1)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def check(f, named, tol=TOL):
    """named: {name: (array, analytic grad)}; f() is the scalar L. Asserts every rel_error < tol."""
    for name, (arr, grad) in named.items():
        err = rel_error(numeric_gradient(f, arr), grad)
        assert err < tol, f"{name}: rel error {err:.2e}"
