"""The linear layer of minirnn/layers/linear.py on time-major rows: the same equation
y = x W + b, arguments, results and cache, on NumPy arrays.

The engine's LSTM returns h as an (N, T, H) view of (T, N, H) memory. The book flattens x to
(N*T, H) rows in (n, t) order, which for such a view is a copy (and another one in backward);
here the GEMMs read the rows in memory order, (t, n), instead. The logits come back as an
ordinary C-contiguous (N, T, M) array, for the book's softmax_ce, and the backward hands dx back
as an (N, T, D) view of time-major memory, the order the engine's LSTM backward reads. Inputs
in (n, t) order go to the book unchanged.

At evaluation time (``infer``, ``nll``) nothing is cached; ``nll`` fuses this layer with
layers/softmax_ce.py's per-token loss, -log softmax(x W + b)[y], over blocks of ``ROWS`` rows: each
block's logits go through the GEMM and the same NumPy reductions as softmax_ce.per_token while they
are in cache, and no (N, T, M) logits, shifted logits or probabilities are written out.
"""
import numpy as np

from ..layers import linear as book
from . import _rnn_kernels

init_params = book.init_params


def _time_major(x):
    """True for an (N, T, K) view of C-contiguous (T, N, K) memory (and not also C-contiguous)."""
    return x.ndim == 3 and not x.flags.c_contiguous and x.transpose(1, 0, 2).flags.c_contiguous


def _rows(x, dtype):
    """An (N, T, K) view of time-major memory as its (T*N, K) rows, in memory order."""
    return np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype).reshape(-1, x.shape[2])


def forward(x, W, b):
    """Returns (y, cache) with y = x W + b, y (N, T, M) C-contiguous."""
    if not _time_major(x):
        return book.forward(x, W, b)
    N, T, D = x.shape
    M = W.shape[1]
    dtype = np.result_type(x.dtype, W.dtype)
    y_tm = np.empty((T, N, M), dtype=dtype)                  # (T, N, M) rows in x's memory order
    _rnn_kernels.matmul_panels(_rows(x, dtype), _rnn_kernels.panels(np.asarray(W, dtype=dtype)),
                               y_tm.reshape(T * N, M))       # (1) x W ...
    y_tm += b                                                # ... + b
    return np.ascontiguousarray(y_tm.transpose(1, 0, 2)), (x, W)  # (N, T, M)


def backward(dy, cache):
    """Returns (dx, dW, db); dx an (N, T, D) view of time-major memory when x was one."""
    x, W = cache
    if not _time_major(x):
        return book.backward(dy, cache)
    N, T, D = x.shape
    M = W.shape[1]
    dtype = np.result_type(x.dtype, W.dtype, dy.dtype)
    dy2 = np.ascontiguousarray(dy.transpose(1, 0, 2), dtype=dtype).reshape(T * N, M)  # (T*N, M)
    # backprop through (1) y = x W + b
    dx_tm = np.empty((T, N, D), dtype=dtype)                 # (T, N, D) dy W^T
    _rnn_kernels.matmul_panels(dy2, _rnn_kernels.panels(np.asarray(W, dtype=dtype).T), dx_tm.reshape(T * N, D))
    dW = np.empty((D, M), dtype=dtype)                       # (D, M) x^T dy
    _rnn_kernels.matmul_tn(_rows(x, dtype), dy2, dW)
    db = dy2.sum(axis=0)                                     # (M,)
    return dx_tm.transpose(1, 0, 2), dW, db                  # (N, T, D) view


def infer(x, W, b):
    """``forward`` at evaluation time: (y,) without the cache."""
    return (forward(x, W, b)[0],)


ROWS = 512                                                   # rows per block in ``nll``


def nll(x, W, b, y):
    """-log softmax(x W + b)[y] for every row: (N, T), the numbers of
    softmax_ce.per_token(forward(x, W, b)[0], y), computed by the same operations row by row
    (layers/softmax_ce.py (1)-(3)), ``ROWS`` rows at a time, in x's memory order."""
    D, M = W.shape
    N, T = y.shape
    y = np.asarray(y)
    tm = _time_major(x)
    if tm:                                                   # rows in (t, n) order, as in memory
        rows, targets = x.transpose(1, 0, 2).reshape(T * N, D), y.T.reshape(-1)  # (T*N, D), (T*N,)
    else:
        rows, targets = x.reshape(N * T, D), y.reshape(-1)   # (N*T, D), (N*T,)
    R = rows.shape[0]
    out = np.empty(R, dtype=np.result_type(x.dtype, W.dtype))  # (R,) nats per row
    z = np.empty((min(ROWS, R), M), dtype=out.dtype)         # (ROWS, M) one block's logits, reused
    Wp = _rnn_kernels.panels(np.asarray(W, dtype=out.dtype))  # W in panels for matmul_panels
    rows = np.ascontiguousarray(rows, dtype=out.dtype)
    for r0 in range(0, R, ROWS):
        k = min(ROWS, R - r0)
        zk = z[:k]                                           # (k, M)
        _rnn_kernels.matmul_panels(rows[r0:r0 + k], Wp, zk)  # (k, M) (1) of linear.py, x W ...
        zk += b                                              # ... + b
        zk -= zk.max(axis=1, keepdims=True)                  # (k, M) s = z - max z: every exp(s) <= 1
        s_y = zk[np.arange(k), targets[r0:r0 + k]]           # (k,) s at the target
        np.exp(zk, out=zk)                                   # (k, M) exp(s)
        out[r0:r0 + k] = np.log(zk.sum(axis=1)) - s_y       # (k,) (3) lse(z) - z_y, shifted
    if tm:
        return np.ascontiguousarray(out.reshape(T, N).T)     # (N, T) in (n, t) order
    return out.reshape(N, T)                                 # (N, T)
