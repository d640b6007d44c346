"""What the tests share: tolerances, hypothesis settings, the naive sigmoid, the central-difference
check and the one-layer recurrent check; the pipelines' tiny text and metrics reader. (Not a test
module: pytest collects nothing here.)"""
import json
import os

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


def check_forward_on_device(xp, layer, naive, x, h0, params):
    """layer.forward on the selected backend's arrays (module xp) gives the naive loop's h."""
    from minirnn import backend
    dev = lambda a: None if a is None else backend.to_device(a)  # noqa: E731
    h = layer.forward(dev(x), dev(h0), *map(dev, params))[0]
    assert backend.array_module(h) is xp
    assert rel_error(backend.to_numpy(h), naive(x, h0, *params)) < FWD_TOL


def check_recurrent_layer(layer, naive, x, h0, params, dh):
    """A layer with forward(x, h0, Wx, Wh, b) -> (h, cache) and backward(dh, cache) -> (dx, dh0,
    dWx, dWh, db): h equals the naive loop, and every gradient (h0's where given) matches central
    differences of L = sum(h * dh). Returns backward's gradients."""
    h, cache = layer.forward(x, h0, *params)
    assert rel_error(h, naive(x, h0, *params)) < FWD_TOL
    grads = layer.backward(dh, cache)
    dx, dh0, dparams = grads[0], grads[1], grads[2:]
    named = {"x": (x, dx), **{k: (p, g) for k, p, g in zip(("Wx", "Wh", "b"), params, dparams)}}
    if h0 is not None:
        named["h0"] = (h0, dh0)
    check(lambda: (layer.forward(x, h0, *params)[0] * dh).sum(), named)
    return grads


# ---- the pipelines' tests ------------------------------------------------------------------------
TINY = "el hidalgo don quijote de la mancha y su escudero sancho panza salieron de la aldea. " * 40


def metrics(d):
    """The lines of <d>/metrics.jsonl."""
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]
