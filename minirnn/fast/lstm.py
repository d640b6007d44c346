"""The LSTM of minirnn/layers/lstm.py, fused for the CPU: the same equations (1)-(5), forward and
backward, the same arguments, results and cache, on NumPy arrays.

What it does differently from the book, none of which changes the equations:
  - all the gate math of a step, (1)-(5) forward and (5)-(2) backward, runs in one vectorized Numba
    kernel (_rnn_kernels.py), writing into preallocated arrays: no per-step allocation;
  - work arrays are time-major, (T, N, .), so that step t's block is one contiguous (N, .) matrix
    for the GEMM and the kernel; callers see (N, T, .) views of them, and a layer stacked on this
    one (or the output layer, fast/linear.py) gets its time-major rows back without a copy;
  - the kernel reads x_t Wx as a row of a table: for dense x, of one GEMM over all N*T rows made
    before the loop (into a scratch buffer kept between calls, 4*N*T*H numbers); for one-hot ids,
    row ids[n, t] of Wx itself (an L2-resident table) instead of a (T, N, 4H) copy;
  - in backward, dx, dWx, dWh and db are single GEMMs (sums) over all T*N rows after the loop
    rather than per-step sums: the same sum over t, added in another order;
  - h lives in a (T+1, N, H) buffer whose slot 0 is h0, so backward's dWh = sum_t h_{t-1}^T da_t
    is one GEMM over slots 0..T-1 (``_h_prev``), with no concatenated copy;
  - one-hot ids: backward adds da_t to dWx's rows ids_t right after the kernel writes it (while it
    is in cache), and db = sum over dWx's D rows, since every row of da was added to exactly one;
  - the recurrent GEMMs run transposed, (h_{t-1} Wh)^T = Wh^T h_{t-1}^T and
    (da_t Wh^T)^T = Wh da_t^T, because OpenBLAS runs (4H x H) @ (H x N) faster than
    (N x H) @ (H x 4H) for small N; their (4H, N) / (H, N) results are transposed back to (N, .)
    rows by a Numba strip copy (_array_kernels.py, faster than NumPy's strided copy), and Wh^T is
    made once per call (forward with T = 1, one step of sampling, runs h_{t-1} Wh untransposed);
  - float32 tanh is a rational approximation within a few ulp of libm's (_rnn_kernels.py);
    float64 agrees with the book to rounding.
What each of these gains, and on which machine: benchmarks/README.md, Engine.
tests/test_fast_path.py holds it equal to the book.
"""
import threading

import numpy as np

from . import _array_kernels
from . import _rnn_kernels as kernels

_WORK = threading.local()


def _work(name, shape, dtype):
    """A scratch array kept between calls, one per name and thread (contents undefined). Only for
    arrays that never leave the function: a fresh (T, N, 4H) array per step (20 MB at
    N = T = 50, H = 512, float32) costs its page faults again every time (benchmarks/README.md, Engine)."""
    a = getattr(_WORK, name, None)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = np.empty(shape, dtype=dtype)
        setattr(_WORK, name, a)
    return a


FUSED = True        # development switch: the fused step kernels (lstm_step) or BLAS + kernel


def _stepper(Wh, T, N, dtype):
    """A function running (1)-(5) for one step, h_{t-1} Wh included:
    step(h_prev, table, rows_t, b, c_prev, gates_t, c_t, h_t), for the time loop of one call.
    Over several steps it is one parallel Numba kernel (_rnn_kernels.lstm_step: the product on
    tiles, each tile's gate math while it is in cache), reading Wh^T, made once per call. A single
    step (T = 1: sampling and beam search feed one id at a time) runs h_{t-1} Wh as a BLAS call and
    then the serial kernel, since copying Wh^T would cost more than the step."""
    H, G = Wh.shape
    Wh = np.ascontiguousarray(Wh, dtype=dtype)               # (H, 4H)
    ah = _work("ah", (N, G), dtype)                          # (N, 4H) work: h_{t-1} Wh
    if T == 1:
        def step1(h_prev, table, rows_t, b, c_prev, gates_t, c_t, h_t):
            np.matmul(h_prev, Wh, out=ah)                    # (N, 4H) (1)
            kernels.lstm_forward_step(ah, table, rows_t, b, c_prev, gates_t, c_t, h_t)  # (1)-(5)
        return step1
    WhT = _work("WhT", (G, H), dtype)                        # (4H, H) Wh^T, one copy per call
    _array_kernels.transpose_into(Wh, WhT)
    if FUSED:
        def step(h_prev, table, rows_t, b, c_prev, gates_t, c_t, h_t):
            kernels.lstm_step(h_prev, WhT, table, rows_t, b, c_prev, ah, gates_t, c_t, h_t)  # (1)-(5)
        return step
    ahT = _work("ahT", (G, N), dtype)                        # (4H, N) work: (h_{t-1} Wh)^T

    def gemm(h_prev, table, rows_t, b, c_prev, gates_t, c_t, h_t):
        np.matmul(WhT, h_prev.T, out=ahT)                    # (4H, N)
        _array_kernels.transpose_into(ahT, ah)               # (N, 4H)
        kernels.lstm_forward_step(ah, table, rows_t, b, c_prev, gates_t, c_t, h_t)
    return gemm


def _time_major(a, dtype):
    """(N, T, K) -> contiguous (T, N, K): free for a transposed view of a time-major array."""
    return np.ascontiguousarray(a.transpose(1, 0, 2), dtype=dtype)


def _h_prev(h_tm, h0):
    """(T, N, H) h_{t-1} for t = 0 .. T-1, i.e. h0 followed by h_tm[:-1]. Free when h_tm and h0 are
    views of ``forward``'s buffer (h0 in slot 0, h_t in slot t + 1); a copy otherwise."""
    buf = h_tm.base
    if (buf is not None and h0.base is buf and buf.flags.c_contiguous and buf.dtype == h_tm.dtype
            and buf.shape == (h_tm.shape[0] + 1,) + h_tm.shape[1:]
            and h0.ctypes.data == buf.ctypes.data
            and h_tm.ctypes.data == buf.ctypes.data + h0.nbytes):
        return buf[:-1]
    return np.concatenate([h0[None], h_tm[:-1]], dtype=h_tm.dtype)


def _input_rows(x, Wx, dtype):
    """(1)'s input part x_t Wx as (table, rows): step t of stream n reads row rows[t, n] of table.
    For ids, the table is Wx itself (no (T, N, 4H) copy made before the loop); for dense x, the
    output of one GEMM over every step, time-major (a scratch buffer: the kernel writes the gates
    elsewhere, see _rnn_kernels.py on overlap)."""
    N, T = x.shape[:2]
    D, G = Wx.shape
    if x.ndim == 2:                                          # ids: x_t Wx = Wx[ids_t]
        table = np.ascontiguousarray(Wx, dtype=dtype)        # (D, 4H)
        rows = _array_kernels.row_indices(x.T, D)            # (T, N) in [0, D), checked
    else:                                                    # dense: x_t Wx = row t*N + n of x Wx
        table = _work("xa", (T * N, G), dtype)               # (T*N, 4H)
        np.matmul(_time_major(x, dtype).reshape(T * N, D), Wx, out=table)
        rows = np.arange(T * N).reshape(T, N)                # (T, N)
    return table, rows


def forward(x, h0, c0, Wx, Wh, b):
    """The book's ``forward`` on NumPy arrays: per step one GEMM into a preallocated buffer, its
    transpose, and one Numba kernel for (1)-(5); no per-step allocation. Returns (h, cT, cache)."""
    N, T = x.shape[:2]
    H = Wh.shape[0]
    dtype = Wx.dtype
    h0 = np.zeros((N, H), dtype=dtype) if h0 is None else np.ascontiguousarray(h0, dtype=dtype)  # (N, H)
    c0 = np.zeros((N, H), dtype=dtype) if c0 is None else np.ascontiguousarray(c0, dtype=dtype)  # (N, H)
    # (1), the input part x_t Wx, which the kernel reads as row rows[t, n] of a table (see
    # _input_rows); b is added in the kernel.
    b = np.ascontiguousarray(b, dtype=dtype)                 # (4H,)
    table, rows = _input_rows(x, Wx, dtype)                  # (., 4H), (T, N)
    gates = np.empty((T, N, 4 * H), dtype=dtype)             # (T, N, 4H) activated i, f, g, o
    c = np.empty((T, N, H), dtype=dtype)                     # (T, N, H)
    # h_{t-1} for t = 0 .. T in one buffer: slot 0 holds h0, slot t + 1 holds h_t, so that backward's
    # dWh = sum_t h_{t-1}^T da_t is one GEMM over hbuf[:T] (see _h_prev)
    hbuf = np.empty((T + 1, N, H), dtype=dtype)              # (T+1, N, H)
    hbuf[0] = h0
    h0, h = hbuf[0], hbuf[1:]                                # (N, H), (T, N, H) views
    step = _stepper(Wh, T, N, dtype)
    h_prev, c_prev = h0, c0
    for t in range(T):
        # (1) a_t = (x_t Wx + b) + h_{t-1} Wh, then (2)-(5): gates[t], c[t], h[t]
        step(h_prev, table, rows[t], b, c_prev, gates[t], c[t], h[t])
        h_prev, c_prev = h[t], c[t]                          # (N, H) each
    # the cache holds the reference's arrays, as (N, T, .) views of the time-major blocks
    gates_b, c_b, h_b = (a.transpose(1, 0, 2) for a in (gates, c, h))  # (N, T, 4H), (N, T, H) x2
    cache = (x, h0, c0, Wx, Wh, gates_b, c_b, h_b)
    return h_b, c[-1], cache


def infer(x, h0, c0, Wx, Wh, b):
    """``forward`` at evaluation time: the same (h, cT), computed as ``forward`` computes them, but
    no backward cache. The gates and c live in per-step scratch blocks that stay in cache (an
    (N, 4H) block and two (N, H) blocks taking turns) instead of (T, N, 4H) and (T, N, H) arrays
    written out for backward; only h, which the layer above reads, is kept for every step."""
    N, T = x.shape[:2]
    H = Wh.shape[0]
    dtype = Wx.dtype
    b = np.ascontiguousarray(b, dtype=dtype)                 # (4H,)
    table, rows = _input_rows(x, Wx, dtype)                  # (., 4H), (T, N)
    hbuf = np.empty((T + 1, N, H), dtype=dtype)              # (T+1, N, H) slot 0: h0, t+1: h_t
    hbuf[0] = 0 if h0 is None else h0
    h = hbuf[1:]                                             # (T, N, H) view
    gates = _work("gates1", (N, 4 * H), dtype)               # (N, 4H) step t's gates, overwritten
    cbuf = np.empty((2, N, H), dtype=dtype)                  # (2, N, H) c_{t-1} and c_t take turns
    cbuf[1] = 0 if c0 is None else c0                        # c_{-1} in slot 1, c_0 goes to slot 0
    step = _stepper(Wh, T, N, dtype)
    for t in range(T):
        # (1)-(5) as in forward: c_t into slot t % 2, reading c_{t-1} from the other slot
        step(hbuf[t], table, rows[t], b, cbuf[(t + 1) % 2], gates, cbuf[t % 2], h[t])
    return h.transpose(1, 0, 2), cbuf[(T - 1) % 2]          # (N, T, H) view, (N, H) c_{T-1}


def backward(dh, cache, dcT=None, need_dx=True):
    """The book's ``backward`` on NumPy arrays: per step one Numba kernel for (5)-(2) and one GEMM.
    Takes a cache from either forward. Returns (dx, dh0, dc0, dWx, dWh, db)."""
    x, h0, c0, Wx, Wh, gates, c, h = cache
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    dtype = gates.dtype
    # time-major blocks: free for a cache from ``forward`` here, a copy for one from the book
    g_tm, c_tm, h_tm, dh_tm = (_time_major(a, dtype) for a in (gates, c, h, dh))  # (T, N, .)
    c0 = np.ascontiguousarray(c0, dtype=dtype)               # (N, H)
    da = _work("da", (T, N, 4 * H), dtype)                   # (T, N, 4H) dL/da_t (scratch)
    dh_next = np.zeros((N, H), dtype=dtype)                  # (N, H) dL/dh_t from step t+1
    dc_next = (np.zeros((N, H), dtype=dtype) if dcT is None  # (N, H) dL/dc_t from step t+1
               else np.array(dcT, dtype=dtype, order="C"))   # (a copy: the kernel updates it in place)
    dh_prev = np.empty((N, H), dtype=dtype)                  # (N, H) dL/dh_{t-1}, taking turns with dh_next
    Whc = np.ascontiguousarray(Wh, dtype=dtype)              # (H, 4H)
    if x.ndim == 2:                                          # ids: dWx gathers da_t rows as they come
        rows = _array_kernels.row_indices(x.T, D)                   # (T, N) in [0, D)
        dWx = np.zeros((D, 4 * H), dtype=dtype)              # (D, 4H)
    for t in reversed(range(T)):
        c_prev = c_tm[t - 1] if t > 0 else c0                # (N, H)
        # backprop through (5), (4), (2), (3): da[t], and dc_next becomes dL/dc_{t-1}; then
        # through (1) into h_{t-1}, a_t = ... + h_{t-1} Wh: dh_prev = da_t Wh^T, in the same
        # parallel kernel
        kernels.lstm_backward_step_h(dh_tm[t], dh_next, dc_next, g_tm[t], c_tm[t], c_prev, Whc, da[t], dh_prev)
        if x.ndim == 2:                                      # (1) with ids: dWx[ids_t] += da_t
            _array_kernels.scatter_add_rows(dWx, rows[t], da[t])
        dh_next, dh_prev = dh_prev, dh_next                  # dL/dh_{t-1} is step t-1's dh_next
    dh0, dc0 = dh_next, dc_next                              # (N, H) each
    # backprop through (1) into the parameters and x, all steps at once (rows in time-major order)
    da2 = da.reshape(T * N, 4 * H)                           # (T*N, 4H)
    if x.ndim != 2:
        dWx = _time_major(x, dtype).reshape(T * N, D).T @ da2  # (D, 4H)
    dWh = _h_prev(h_tm, h0).reshape(T * N, H).T @ da2       # (H, 4H) sum_t h_{t-1}^T da_t
    if x.ndim == 2:
        # every row of da2 was added to exactly one row of dWx, so summing dWx's D rows gives
        # db = sum of da2's T*N rows (the same numbers, added in another order)
        db = dWx.sum(axis=0)                                 # (4H,)
    else:
        db = da2.sum(axis=0)                                 # (4H,)
    if x.ndim == 2 or not need_dx:
        return None, dh0, dc0, dWx, dWh, db
    dx = (da2 @ Wx.T).reshape(T, N, D).transpose(1, 0, 2)    # (N, T, D) view of time-major rows
    return dx, dh0, dc0, dWx, dWh, db
