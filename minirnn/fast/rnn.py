"""The tanh RNN of minirnn/layers/rnn.py with its parameter gradients as single GEMMs: the same
equations, arguments, results and cache, on NumPy arrays.

The book adds each step's share of dWx, dWh and db inside the time loop, to show that shared
weights sum their gradients over t. Here the loop only carries dh_{t-1} = da_t Wh^T back through
time and keeps every da_t; the sums over t then run as one GEMM over all N*T rows each (and, for
one-hot ids, one row scatter-add by the Numba kernel instead of np.add.at): the same sums, added
in another order. Forward is the book's own (its x_t Wx is already one GEMM before the loop).
"""
import numpy as np

from ..layers import rnn as book
from . import _array_kernels

forward = book.forward


def infer(x, h0, Wx, Wh, b):
    """``forward`` at evaluation time: (h,) without the cache (which holds only references)."""
    return book.forward(x, h0, Wx, Wh, b)[:-1]


def backward(dh, cache, need_dx=True):
    """The book's ``backward``: returns (dx, dh0, dWx, dWh, db); dx is None for ids or need_dx=False."""
    x, h0, Wx, Wh, h = cache
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    da = np.empty_like(h)                                      # (N, T, H) dL/da_t for every t
    dh_next = np.zeros((N, H), dtype=h.dtype)                  # (N, H) dL/dh_t arriving from step t+1
    for t in reversed(range(T)):
        dh_t = dh[:, t] + dh_next                              # (N, H) output at t and step t+1
        da[:, t] = dh_t * (1 - h[:, t] * h[:, t])              # (N, H) (2) tanh' = 1 - h_t^2
        dh_next = da[:, t] @ Wh.T                              # (N, H) (1) into h_{t-1}
    dh0 = dh_next                                              # (N, H)
    # (1) into the parameters and x: each sum over t as one GEMM over all N*T rows
    da2 = da.reshape(N * T, H)                                 # (N*T, H)
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (N, T, H) h_{t-1} for each t
    dWh = h_prev.reshape(N * T, H).T @ da2                     # (H, H)
    db = da2.sum(axis=0)                                       # (H,)
    if x.ndim == 2:                                            # ids: dWx[ids] += da, row by row
        dWx = np.zeros((D, H), dtype=da.dtype)                 # (D, H)
        _array_kernels.scatter_add(dWx, x.reshape(-1), da2)
        return None, dh0, dWx, dWh, db
    dWx = x.reshape(N * T, D).T @ da2                          # (D, H)
    dx = (da2 @ Wx.T).reshape(N, T, D) if need_dx else None    # (N, T, D)
    return dx, dh0, dWx, dWh, db
