"""Adam's update (minirnn/optim.py, ``Adam._update``) in one pass over memory, on NumPy arrays.

The book's in-place NumPy lines make ~13 passes over memory with temporaries; ``adam_update`` (a
Numba kernel) runs the same formula, the same operations in the same order and dtype, in one
pass. tests/test_optim.py holds both equal.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


def _adam_update(p, g, m, v, beta1, one_m_beta1, beta2, one_m_beta2, step_size, sqrt_bias2, eps):
    """Adam's update of one parameter, in one pass: the operations of ``Adam._update`` in its order.

    p, g, m, v  1-D arrays of one dtype (raveled views); the scalars are of that dtype too, so
    float32 arithmetic stays float32 as NumPy's does. step_size = lr / (1-β1^t),
    sqrt_bias2 = sqrt(1-β2^t).
    """
    for k in range(p.shape[0]):
        gk = g[k]
        mk = m[k] * beta1 + one_m_beta1 * gk               # m = β1 m + (1-β1) g
        vk = v[k] * beta2 + one_m_beta2 * gk * gk          # v = β2 v + (1-β2) g²
        m[k] = mk
        v[k] = vk
        p[k] -= step_size * mk / (math.sqrt(vk) / sqrt_bias2 + eps)


adam_update = njit(cache=True, nogil=True, error_model="numpy")(_adam_update)


def fusable(p, *others) -> bool:
    """Same dtype (float32 or float64), same shape, all C-contiguous: ravel gives views."""
    return (p.dtype in (np.float32, np.float64) and p.flags.c_contiguous
            and all(a.dtype == p.dtype and a.shape == p.shape and a.flags.c_contiguous for a in others))


def update(p, g, m, v, t, lr, beta1, beta2, eps) -> bool:
    """One Adam step of parameter p in place (m, v updated too), step number t >= 1.
    Returns False, having done nothing, where the arrays do not fit the kernel (see ``fusable``)."""
    if not fusable(p, g, m, v):
        return False
    c = p.dtype.type                         # scalars in the arrays' dtype, as NumPy casts them
    bias1 = 1 - beta1 ** t
    bias2 = 1 - beta2 ** t
    adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                c(beta1), c(1 - beta1), c(beta2), c(1 - beta2),
                c(lr / bias1), c(math.sqrt(bias2)), c(eps))
    return True


def update_of(opt, name, p, g) -> None:
    """``opt._update(name, p, g)`` for an optim.Adam, in one pass where the arrays fit the kernel
    (the reference lines otherwise): reads opt's step t, rate, betas, eps and moments m, v."""
    if not update(p, g, opt.state["m"][name], opt.state["v"][name], opt.t, opt.lr,
                  opt.beta1, opt.beta2, opt.eps):
        opt._update(name, p, g)
