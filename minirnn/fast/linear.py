"""The linear layer of minirnn/layers/linear.py on time-major rows: the same equation
y = x W + b, arguments, results and cache, on NumPy arrays.

The engine's LSTM returns h as an (N, T, H) view of (T, N, H) memory. The book flattens x to
(N*T, H) rows in (n, t) order, which for such a view is a copy (and another one in backward);
here the GEMMs read the rows in memory order, (t, n), instead. The logits come back as an
ordinary C-contiguous (N, T, M) array, for the book's softmax_ce, and the backward hands dx back
as an (N, T, D) view of time-major memory, the order the engine's LSTM backward reads. Inputs
in (n, t) order go to the book unchanged.
"""
import numpy as np

from ..layers import linear as book

init_params = book.init_params


def _time_major(x):
    """True for an (N, T, K) view of C-contiguous (T, N, K) memory (and not also C-contiguous)."""
    return x.ndim == 3 and not x.flags.c_contiguous and x.transpose(1, 0, 2).flags.c_contiguous


def forward(x, W, b):
    """Returns (y, cache) with y = x W + b, y (N, T, M) C-contiguous."""
    if not _time_major(x):
        return book.forward(x, W, b)
    y_tm, _ = book.forward(x.transpose(1, 0, 2), W, b)      # (T, N, M) rows in x's memory order
    return np.ascontiguousarray(y_tm.transpose(1, 0, 2)), (x, W)  # (N, T, M)


def backward(dy, cache):
    """Returns (dx, dW, db); dx an (N, T, D) view of time-major memory when x was one."""
    x, W = cache
    if not _time_major(x):
        return book.backward(dy, cache)
    dy_tm = np.ascontiguousarray(dy.transpose(1, 0, 2))      # (T, N, M)
    dx_tm, dW, db = book.backward(dy_tm, (x.transpose(1, 0, 2), W))  # (T, N, D), (D, M), (M,)
    return dx_tm.transpose(1, 0, 2), dW, db                  # (N, T, D) view
