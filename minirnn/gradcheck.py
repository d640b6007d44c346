"""Central-difference gradient checking, in the style of torch-rnn's util/gradcheck.lua.

To check a function y = f(x) against its backward pass, pick a random upstream gradient dy and
compare the analytic dx = backward(dy) with the numerical

    dx_i ≈ ( sum(dy * f(x + h e_i)) - sum(dy * f(x - h e_i)) ) / (2h)

which is the derivative of the scalar L = sum(dy * f(x)), exactly what backward computes.
Run it in float64. The truncation error is O(h^2), the round-off O(1e-16 / h); on the stacked LSTM
h = 1e-4 measured the smallest relative error (about 1e-8, against 1e-7 for h = 1e-6).
"""
from __future__ import annotations

import numpy as np

from .backend import array_module, to_numpy


def numeric_gradient(f, x, dy=None, h=1e-4):
    """dL/dx for L = sum(dy * f()), by central differences.

    f   a function of no arguments that reads ``x`` (perturbed in place and restored)
    x   the array to differentiate with respect to (float64)
    dy  upstream gradient shaped like f()'s output; None when f returns a scalar
    """
    xp = array_module(x)
    grad = xp.zeros(x.shape, dtype=x.dtype)            # same shape as x

    def L():
        y = f()
        return float(to_numpy(y if dy is None else (y * dy).sum()))

    # index x itself, not x.reshape(-1): for a strided view (W.T, or one gate's block W[:, :H])
    # reshape makes a copy, the perturbation would never reach f, and every entry would read 0
    for i in np.ndindex(*x.shape):
        old = x[i].copy()                              # stays where x is: no read back
        x[i] = old + h
        Lp = L()
        x[i] = old - h
        Lm = L()
        x[i] = old
        grad[i] = (Lp - Lm) / (2 * h)
    return grad


def rel_error(a, b, eps=1e-30) -> float:
    """max |a - b| / max(|a|, |b|): the relative error of the worst entry against the scale of both."""
    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), eps)
    return float(np.abs(a - b).max(initial=0.0) / scale)
