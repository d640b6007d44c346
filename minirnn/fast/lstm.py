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
What each of these gains, and on which machine: docs/studies.md, Engine.
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
    N = T = 50, H = 512, float32) costs its page faults again every time (docs/studies.md, Engine)."""
    a = getattr(_WORK, name, None)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = np.empty(shape, dtype=dtype)
        setattr(_WORK, name, a)
    return a


def _run_steps(hbuf, Wh, table, rows, b, c0, gates, c):
    """(1)-(5) for t = 0 .. T-1 (T = len(rows)): h_{t-1} from hbuf[t], h_t into hbuf[t + 1], the
    gates into gates[t % len(gates)], c_t into c[t % len(c)] (c_{-1} = c0). Over several steps:
    one Numba call for the whole loop (_rnn_kernels.lstm_forward_loop), each step one parallel
    loop over tiles that computes h_{t-1} Wh from Wh in panels (made here, once per call) and the
    gate math on it. A single step (T = 1: sampling and beam search feed one id at a time) runs
    h_{t-1} Wh as a BLAS call and then the serial kernel: making the panels would cost more than
    the step."""
    N, H = c0.shape
    dtype = c0.dtype
    Wh = np.ascontiguousarray(Wh, dtype=dtype)               # (H, 4H)
    if len(rows) == 1:
        ah = np.matmul(hbuf[0], Wh, out=_work("ah", (N, 4 * H), dtype))  # (N, 4H) (1) h_{t-1} Wh
        kernels.lstm_forward_step(ah, table, rows[0], b, c0, gates[0], c[0], hbuf[1])  # (1)-(5)
    else:
        Wp = kernels.gate_panels(np.empty((0, 4 * H), dtype=dtype), Wh)  # (P, H, 64) Wh in panels
        kernels.lstm_forward_loop(hbuf, Wp, table, rows, b, c0, gates, c)


def _time_major(a, dtype):
    """(N, T, K) -> contiguous (T, N, K): free for a transposed view of a time-major array."""
    return np.ascontiguousarray(a.transpose(1, 0, 2), dtype=dtype)


def _h_prev(h_tm, h0):
    """(T, N, H) h_{t-1} for t = 0 .. T-1, i.e. h0 followed by h_tm[:-1]. Free when h0 and h_tm are
    consecutive slots of one buffer (``forward``'s (T+1, N, H), or a stack's (L, T+1, N, H), where
    h0 is in slot 0 and h_t in slot t + 1); a copy otherwise."""
    buf = h_tm.base
    if (buf is not None and h0.base is buf and buf.flags.c_contiguous and buf.dtype == h_tm.dtype
            and h0.flags.c_contiguous and h_tm.flags.c_contiguous
            and h_tm.ctypes.data == h0.ctypes.data + h0.nbytes
            and (h0.ctypes.data - buf.ctypes.data) % h0.nbytes == 0):
        i = (h0.ctypes.data - buf.ctypes.data) // h0.nbytes   # h0's slot
        return buf.reshape((-1,) + h0.shape)[i:i + h_tm.shape[0]]
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
        kernels.matmul_panels(_time_major(x, dtype).reshape(T * N, D),
                              kernels.panels(np.asarray(Wx, dtype=dtype)), table)
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
    # (1) a_t = (x_t Wx + b) + h_{t-1} Wh, then (2)-(5): gates[t], c[t], h[t] for every t
    _run_steps(hbuf, Wh, table, rows, b, c0, gates, c)
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
    gates = _work("gates1", (1, N, 4 * H), dtype)            # (1, N, 4H) step t's gates, overwritten
    cbuf = np.empty((2, N, H), dtype=dtype)                  # (2, N, H) c_t in slot t % 2, taking turns
    c0 = np.zeros((N, H), dtype=dtype) if c0 is None else np.ascontiguousarray(c0, dtype=dtype)  # (N, H)
    _run_steps(hbuf, Wh, table, rows, b, c0, gates, cbuf)    # (1)-(5) as in forward
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
    # Wh^T in panels, for the product da_t Wh^T into h_{t-1} (once per call)
    WTp = kernels.panels(np.asarray(Wh, dtype=dtype).T)      # (P, 4H, 64)
    if x.ndim == 2:                                          # ids: dWx gathers da_t rows as they come
        rows = _array_kernels.row_indices(x.T, D)            # (T, N) in [0, D)
        dWx = np.zeros((D, 4 * H), dtype=dtype)              # (D, 4H)
    else:
        rows, dWx = np.empty((0, N), dtype=np.int64), np.empty((0, 4 * H), dtype=dtype)
    # for t = T-1 .. 0: backprop through (5), (4), (2), (3) into da[t] (dc_next becoming dL/dc_{t-1}),
    # then through (1) into h_{t-1}: dL/dh_{t-1} = da_t Wh^T; with ids, dWx[ids_t] += da_t
    dh_next = kernels.lstm_backward_loop(dh_tm, g_tm, c_tm, c0, WTp, da, dh_next, dc_next,
                                         np.empty((N, H), dtype=dtype), rows, dWx)
    dh0, dc0 = dh_next, dc_next                              # (N, H) each
    # backprop through (1) into the parameters and x, all steps at once (rows in time-major order)
    da2 = da.reshape(T * N, 4 * H)                           # (T*N, 4H)
    da_panels = kernels.panels(da2)                           # da in panels, for both sums below
    if x.ndim != 2:
        dWx = np.empty((D, 4 * H), dtype=dtype)              # (D, 4H) sum_t x_t^T da_t
        kernels.matmul_tn(_time_major(x, dtype).reshape(T * N, D), da2, dWx, da_panels)
    dWh = np.empty((H, 4 * H), dtype=dtype)                  # (H, 4H) sum_t h_{t-1}^T da_t
    kernels.matmul_tn(_h_prev(h_tm, h0).reshape(T * N, H), da2, dWh, da_panels)
    if x.ndim == 2:
        # every row of da2 was added to exactly one row of dWx, so summing dWx's D rows gives
        # db = sum of da2's T*N rows (the same numbers, added in another order)
        db = dWx.sum(axis=0)                                 # (4H,)
    else:
        db = da2.sum(axis=0)                                 # (4H,)
    if x.ndim == 2 or not need_dx:
        return None, dh0, dc0, dWx, dWh, db
    dx = np.empty((T, N, D), dtype=dtype)                    # (T, N, D) da_t Wx^T
    kernels.matmul_panels(da2, kernels.panels(np.asarray(Wx, dtype=dtype).T), dx.reshape(T * N, D))
    dx = dx.transpose(1, 0, 2)                               # (N, T, D) view of time-major rows
    return dx, dh0, dc0, dWx, dWh, db
