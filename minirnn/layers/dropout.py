"""Inverted dropout, used between stacked recurrent layers.

Shapes
    x, y, mask  (any shape, all the same)

Equations (p is the probability of dropping a unit)
    (1) mask = [u >= p] / (1 - p),  u ~ U(0, 1)   (so E[y] = x and evaluation needs no rescaling)
    (2) y = x * mask
At evaluation time (or p = 0) dropout is the identity.
"""


def forward(x, p, rng):
    """Returns (y, mask); mask is None when nothing is dropped. ``rng.random(shape, dtype)`` draws u
    where x lives (``philox.dropout_rng`` hands out one for NumPy or for a device)."""
    if p <= 0:
        return x, None
    mask = (rng.random(x.shape, dtype=x.dtype) >= p) / x.dtype.type(1 - p)  # same shape as x (1)
    return x * mask, mask                                    # (2)


def backward(dy, mask):
    """Returns dx: the same mask applied to the gradient."""
    # backprop through (2) y = x * mask
    return dy if mask is None else dy * mask
