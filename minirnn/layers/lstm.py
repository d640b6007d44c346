"""LSTM over a whole sequence: forward and backward through time on one page.

Shapes
    N batch, T time steps, D input size, H hidden size
    x       (N, T, D)    input sequence; or (N, T) integer ids, each standing for a one-hot row
                         of size D (the char model's input): x_t Wx is then row ids_t of Wx, an
                         embedding lookup (embedding.py), and dWx a scatter-add. dx is then None.
    h0, c0  (N, H)       initial hidden and cell state (None means zeros)
    Wx      (D, 4H)      input-to-gates weights
    Wh      (H, 4H)      hidden-to-gates weights
    b       (4H,)        gate bias, the sum PyTorch keeps as b_ih + b_hh (see ``init_params``)
    h       (N, T, H)    every hidden state; the final one is h[:, -1]
    cT      (N, H)       final cell state

Gate order along the 4H axis: i, f, g, o (input, forget, candidate, output), the order
PyTorch's nn.LSTM uses, so its weights copy over without reordering. ``gate_slices(H)`` names them.

Equations, for t = 0 .. T-1 with h_{-1} = h0, c_{-1} = c0 (σ is the logistic sigmoid)
    (1) a_t = x_t Wx + h_{t-1} Wh + b                       (N, 4H), split into a_i, a_f, a_g, a_o
    (2) i_t = σ(a_i)   f_t = σ(a_f)   o_t = σ(a_o)          input, forget and output gates
    (3) g_t = tanh(a_g)                                      candidate cell
    (4) c_t = f_t * c_{t-1} + i_t * g_t                      cell state
    (5) h_t = o_t * tanh(c_t)                                hidden state

Speed without hiding the math: x_t Wx + b in (1) is one GEMM over all N*T rows before the loop, and
in backward dx, dWx, dWh and db are single GEMMs after it; only h_{t-1} Wh (forward) and
da_t Wh^T (backward) run per step.

Memory cached for backward: the activated gates (4*N*T*H), c (N*T*H) and h (N*T*H): 6*N*T*H
numbers, torch-rnn's count, plus references to x, h0, c0 and the weights. tanh(c_t) is recomputed
in backward (one elementwise op per step) rather than cached, to stay at that count.

Fast path (NumPy arrays only, ``USE_NUMBA = True``): ``forward`` and ``backward`` below are the
reference. On the CPU they hand over to ``_forward_fused`` / ``_backward_fused``, which run the same
equations with all the gate math of a step in one vectorized Numba kernel (minirnn/_rnn_kernels.py),
time-major work arrays (step t's block is one contiguous (N, .) matrix), and no per-step
allocation. Three more things it does differently, none of which changes the equations:
  - one-hot ids: the kernel reads x_t Wx as row ids[n, t] of Wx (an L2-resident table) instead of
    a (T, N, 4H) copy made by a lookup before the loop (dense x: one GEMM before the loop, whose
    output the kernel activates in place into the cached gates);
  - h lives in a (T+1, N, H) buffer whose slot 0 is h0, so backward's dWh = sum_t h_{t-1}^T da_t
    is one GEMM over slots 0..T-1 (``_h_prev``), with no concatenated copy and no second GEMM;
  - one-hot ids: backward adds da_t to dWx's rows ids_t right after the kernel writes it (while it
    is in cache, rather than reading all of da again after the loop), and db = sum over dWx's D
    rows, since every row of da was added to exactly one of them.
Measured against the version without them, alternating in one process (bench_rnn's step, 2-core
Zen 5): 57.2 -> 54.6 ms at L = 1, H = 512 and 147.9 -> 143.6 ms at L = 2, H = 512.
The recurrent GEMMs run transposed, (h_{t-1} Wh)^T = Wh^T h_{t-1}^T and
(da_t Wh^T)^T = Wh da_t^T, because OpenBLAS is 1.15x (Zen 5) to 1.4x (Zen 2) faster at
(4H x H) @ (H x N) than at (N x H) @ (H x 4H) for N = 50; their (4H, N) / (H, N) results are
transposed back to (N, .) rows by a Numba strip copy (minirnn/_array_kernels.py, 2x faster than
NumPy's strided copy), and Wh^T is made once per call. float64 agrees with the reference to
rounding; float32 uses a rational tanh within a few ulp of libm's.
tests/test_fast_path.py checks that both paths give the same numbers. CuPy arrays always take the
reference path. Set ``lstm.USE_NUMBA = False`` to run the reference on the CPU.
"""
import threading

import numpy as np

from .. import backend
from ..backend import array_module
from . import embedding

try:  # Numba is a dependency, but keep the reference path usable without it
    from .. import _array_kernels
    from .. import _rnn_kernels as kernels
    USE_NUMBA = True
except ImportError:  # pragma: no cover
    kernels = None
    USE_NUMBA = False


def gate_slices(H):
    """Slices of the 4H axis, by name: i, f, g, o."""
    return slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H), slice(3 * H, 4 * H)


def sigmoid(a, xp):
    """σ(a) = 1 / (1 + e^-a), written with tanh so it never overflows."""
    return 0.5 * (xp.tanh(0.5 * a) + 1)


def init_params(D, H, rng, dtype):
    """PyTorch's nn.LSTM initialisation: Wx, Wh ~ U(-k, k), k = 1/sqrt(H), and b = b_ih + b_hh with
    each of its two biases ~ U(-k, k); no forget-gate bias of 1 (README, 'Training recipe', measured
    both). Train b at twice the learning rate to train it as PyTorch does (optim.bias_lr_factors)."""
    k = 1.0 / H ** 0.5
    Wx = rng.uniform(-k, k, (D, 4 * H)).astype(dtype)        # (D, 4H)
    Wh = rng.uniform(-k, k, (H, 4 * H)).astype(dtype)        # (H, 4H)
    b_ih = rng.uniform(-k, k, (4 * H,))                      # (4H,)
    b_hh = rng.uniform(-k, k, (4 * H,))                      # (4H,)
    b = (b_ih + b_hh).astype(dtype)                          # (4H,) one vector, as they enter (1)
    return Wx, Wh, b


def forward(x, h0, c0, Wx, Wh, b):
    """Run the LSTM over x. Returns (h, cT, cache): h (N, T, H) and the final cell state (N, H)."""
    xp = array_module(x)
    if USE_NUMBA and xp is np:
        return _forward_fused(x, h0, c0, Wx, Wh, b)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    I, F, G, O = gate_slices(H)
    if h0 is None:
        h0 = xp.zeros((N, H), dtype=Wx.dtype)                # (N, H)
    if c0 is None:
        c0 = xp.zeros((N, H), dtype=Wx.dtype)                # (N, H)
    # (1), the input part for every step at once: x_t Wx + b
    if x.ndim == 2:                                          # ids: x_t Wx = Wx[ids_t]
        xa = embedding.forward(x, Wx)[0] + b                 # (N, T, 4H)
    else:
        xa = (x.reshape(N * T, D) @ Wx).reshape(N, T, 4 * H) + b  # (N, T, 4H)
    gates = xp.empty_like(xa)                                # (N, T, 4H) activated i, f, g, o
    c = xp.empty((N, T, H), dtype=xa.dtype)                  # (N, T, H)
    h = xp.empty((N, T, H), dtype=xa.dtype)                  # (N, T, H)
    h_prev, c_prev = h0, c0
    for t in range(T):
        # (1) a_t = x_t Wx + b + h_{t-1} Wh
        a = xa[:, t] + h_prev @ Wh                           # (N, 4H)
        i = gates[:, t, I] = sigmoid(a[:, I], xp)            # (2) input gate    (N, H)
        f = gates[:, t, F] = sigmoid(a[:, F], xp)            # (2) forget gate   (N, H)
        g = gates[:, t, G] = xp.tanh(a[:, G])                # (3) candidate     (N, H)
        o = gates[:, t, O] = sigmoid(a[:, O], xp)            # (2) output gate   (N, H)
        c[:, t] = f * c_prev + i * g                         # (4) cell state    (N, H)
        h[:, t] = o * xp.tanh(c[:, t])                       # (5) hidden state  (N, H)
        h_prev, c_prev = h[:, t], c[:, t]
    cache = (x, h0, c0, Wx, Wh, gates, c, h)
    return h, c[:, -1], cache


def backward(dh, cache, dcT=None, need_dx=True):
    """Backprop through time.

    dh  (N, T, H)  dL/dh_t for every step (the final state's gradient included in dh[:, -1])
    dcT (N, H)     dL/dc_{T-1} from whatever used the final cell state (None: nothing did)
    Returns (dx, dh0, dc0, dWx, dWh, db), in the order of forward's inputs; dx is None when
    need_dx is False (the input is a frozen embedding: its GEMM would be wasted).
    """
    xp = array_module(dh)
    if USE_NUMBA and xp is np:
        return _backward_fused(dh, cache, dcT, need_dx)
    x, h0, c0, Wx, Wh, gates, c, h = cache
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    I, F, G, O = gate_slices(H)
    da = xp.empty_like(gates)                                # (N, T, 4H) dL/da_t
    dh_next = xp.zeros((N, H), dtype=h.dtype)                # (N, H) dL/dh_t arriving from step t+1
    dc_next = xp.zeros((N, H), dtype=h.dtype) if dcT is None else dcT  # (N, H) same for c_t
    for t in reversed(range(T)):
        i, f, g, o = (gates[:, t, s] for s in (I, F, G, O))  # (N, H) each
        c_prev = c[:, t - 1] if t > 0 else c0                # (N, H)
        tanh_c = xp.tanh(c[:, t])                            # (N, H) recomputed, see module doc
        # h_t feeds the output at t and step t+1: add both gradients
        dh_t = dh[:, t] + dh_next                            # (N, H)
        # backprop through (5) h_t = o_t * tanh(c_t)
        do = dh_t * tanh_c                                   # (N, H)
        dc_t = dc_next + dh_t * o * (1 - tanh_c * tanh_c)    # (N, H) via tanh(c_t), plus step t+1
        # backprop through (4) c_t = f_t * c_{t-1} + i_t * g_t
        di = dc_t * g                                        # (N, H)
        df = dc_t * c_prev                                   # (N, H)
        dg = dc_t * i                                        # (N, H)
        dc_next = dc_t * f                                   # (N, H) dL/dc_{t-1}
        # backprop through (2) σ' = σ(1 - σ) and (3) tanh' = 1 - tanh^2
        da[:, t, I] = di * i * (1 - i)
        da[:, t, F] = df * f * (1 - f)
        da[:, t, G] = dg * (1 - g * g)
        da[:, t, O] = do * o * (1 - o)
        # backprop through (1) into h_{t-1}: a_t = ... + h_{t-1} Wh
        dh_next = da[:, t] @ Wh.T                            # (N, H)
    dh0, dc0 = dh_next, dc_next                              # (N, H) each
    # backprop through (1) into the parameters and x, all steps at once
    da2 = da.reshape(N * T, 4 * H)                           # (N*T, 4H)
    h_prev = xp.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (N, T, H) h_{t-1} for each t
    dWh = h_prev.reshape(N * T, H).T @ da2                   # (H, 4H)
    db = da2.sum(axis=0)                                     # (4H,)
    if x.ndim == 2:                                          # ids: scatter da onto rows of Wx
        return None, dh0, dc0, embedding.backward(da, (x, Wx.shape)), dWh, db
    dWx = x.reshape(N * T, D).T @ da2                        # (D, 4H)
    dx = (da2 @ Wx.T).reshape(N, T, D) if need_dx else None  # (N, T, D)
    return dx, dh0, dc0, dWx, dWh, db


# ---- the fast CPU path: same equations, same cache contents, fused per-step kernels -------------
# Work arrays are time-major, (T, N, .), so that step t's block is one contiguous (N, .) matrix for
# the GEMM and the vectorized kernel; callers still see (N, T, .) arrays (transposed views), and a
# layer stacked on this one gets its time-major rows back without a copy.

_WORK = threading.local()


def _work(name, shape, dtype):
    """A scratch array kept between calls, one per name and thread (contents undefined). Only for
    arrays that never leave the function: a fresh 20 MB array per step costs its page faults
    again every time (a few percent of a step at H = 512)."""
    a = getattr(_WORK, name, None)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = np.empty(shape, dtype=dtype)
        setattr(_WORK, name, a)
    return a


def _time_major(a, dtype):
    """(N, T, K) -> contiguous (T, N, K): free for a transposed view of a time-major array."""
    return np.ascontiguousarray(a.transpose(1, 0, 2), dtype=dtype)


def _h_prev(h_tm, h0):
    """(T, N, H) h_{t-1} for t = 0 .. T-1, i.e. h0 followed by h_tm[:-1]. Free when h_tm and h0 are
    views of _forward_fused's buffer (h0 in slot 0, h_t in slot t + 1); a copy otherwise."""
    buf = h_tm.base
    if (buf is not None and h0.base is buf and buf.flags.c_contiguous and buf.dtype == h_tm.dtype
            and buf.shape == (h_tm.shape[0] + 1,) + h_tm.shape[1:]
            and h0.ctypes.data == buf.ctypes.data
            and h_tm.ctypes.data == buf.ctypes.data + h0.nbytes):
        return buf[:-1]
    return np.concatenate([h0[None], h_tm[:-1]], dtype=h_tm.dtype)


def _forward_fused(x, h0, c0, Wx, Wh, b):
    """``forward`` on NumPy arrays: per step one GEMM into a preallocated buffer, its transpose,
    and one Numba kernel for (1)-(5) (minirnn/_rnn_kernels.py); no per-step allocation."""
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    dtype = Wx.dtype
    h0 = np.zeros((N, H), dtype=dtype) if h0 is None else np.ascontiguousarray(h0, dtype=dtype)  # (N, H)
    c0 = np.zeros((N, H), dtype=dtype) if c0 is None else np.ascontiguousarray(c0, dtype=dtype)  # (N, H)
    # (1), the input part x_t Wx: for ids, row ids[n, t] of Wx, which the kernel reads itself (no
    # (T, N, 4H) copy); for dense x, one GEMM over every step, time-major, which the kernel then
    # activates in place into the cached gates. b is added in the kernel.
    b = np.ascontiguousarray(b, dtype=dtype)                 # (4H,)
    if x.ndim == 2:                                          # ids
        ids = backend.row_indices(x.T, D)                    # (T, N) in [0, D), checked
        Wx_c = np.ascontiguousarray(Wx, dtype=dtype)         # (D, 4H)
        gates = np.empty((T, N, 4 * H), dtype=dtype)         # (T, N, 4H) activated i, f, g, o
    else:
        gates = (_time_major(x, dtype).reshape(T * N, D) @ Wx).reshape(T, N, 4 * H)  # (T, N, 4H) x_t Wx
    c = np.empty((T, N, H), dtype=dtype)                     # (T, N, H)
    # h_{t-1} for t = 0 .. T in one buffer: slot 0 holds h0, slot t + 1 holds h_t, so that backward's
    # dWh = sum_t h_{t-1}^T da_t is one GEMM over hbuf[:T] (see _h_prev)
    hbuf = np.empty((T + 1, N, H), dtype=dtype)              # (T+1, N, H)
    hbuf[0] = h0
    h0, h = hbuf[0], hbuf[1:]                                # (N, H), (T, N, H) views
    WhT = _work("WhT", (4 * H, H), dtype)                    # (4H, H) Wh^T, one copy per call
    _array_kernels.transpose_into(np.ascontiguousarray(Wh, dtype=dtype), WhT)
    ahT = _work("ahT", (4 * H, N), dtype)                    # (4H, N) work: (h_{t-1} Wh)^T
    ah = _work("ah", (N, 4 * H), dtype)                      # (N, 4H) work: h_{t-1} Wh
    h_prev, c_prev = h0, c0
    for t in range(T):
        # (1) h_{t-1} Wh, computed as Wh^T h_{t-1}^T: OpenBLAS runs (4H x H) @ (H x N) 1.15-1.4x
        # faster than (N x H) @ (H x 4H) for N = 50 (both shapes are in bench_rnn.py's GEMM
        # line); transposing the result back to (N, 4H) costs a fraction of what that saves
        np.matmul(WhT, h_prev.T, out=ahT)                    # (4H, N)
        _array_kernels.transpose_into(ahT, ah)               # (N, 4H), 2x faster than copyto
        # (1) a_t = (x_t Wx + b) + h_{t-1} Wh, then (2)-(5): gates[t], c[t], h[t]
        if x.ndim == 2:
            kernels.lstm_forward_step_ids(ah, Wx_c, ids[t], b, c_prev, gates[t], c[t], h[t])
        else:
            kernels.lstm_forward_step(ah, gates[t], b, c_prev, c[t], h[t])
        h_prev, c_prev = h[t], c[t]                          # (N, H) each
    # the cache holds the reference's arrays, as (N, T, .) views of the time-major blocks
    gates_b, c_b, h_b = (a.transpose(1, 0, 2) for a in (gates, c, h))  # (N, T, 4H), (N, T, H) x2
    cache = (x, h0, c0, Wx, Wh, gates_b, c_b, h_b)
    return h_b, c[-1], cache


def _backward_fused(dh, cache, dcT=None, need_dx=True):
    """``backward`` on NumPy arrays: per step one Numba kernel for (5)-(2) and one GEMM."""
    x, h0, c0, Wx, Wh, gates, c, h = cache
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    dtype = gates.dtype
    # time-major blocks: free for a cache from _forward_fused, a copy for one from ``forward``
    g_tm, c_tm, h_tm, dh_tm = (_time_major(a, dtype) for a in (gates, c, h, dh))  # (T, N, .)
    c0 = np.ascontiguousarray(c0, dtype=dtype)               # (N, H)
    da = _work("da", (T, N, 4 * H), dtype)                   # (T, N, 4H) dL/da_t (scratch)
    dh_next = np.zeros((N, H), dtype=dtype)                  # (N, H) dL/dh_t from step t+1
    dc_next = (np.zeros((N, H), dtype=dtype) if dcT is None  # (N, H) dL/dc_t from step t+1
               else np.array(dcT, dtype=dtype, order="C"))   # (a copy: the kernel updates it in place)
    dhT_next = _work("dhT", (H, N), dtype)                   # (H, N) work: (da_t Wh^T)^T
    if x.ndim == 2:                                          # ids: dWx gathers da_t rows as they come
        rows = backend.row_indices(x.T, D)                   # (T, N) in [0, D)
        dWx = np.zeros((D, 4 * H), dtype=dtype)              # (D, 4H)
    for t in reversed(range(T)):
        c_prev = c_tm[t - 1] if t > 0 else c0                # (N, H)
        # backprop through (5), (4), (2), (3): da[t], and dc_next becomes dL/dc_{t-1}
        kernels.lstm_backward_step(dh_tm[t], dh_next, dc_next, g_tm[t], c_tm[t], c_prev, da[t])
        if x.ndim == 2:                                      # (1) with ids: dWx[ids_t] += da_t
            _array_kernels.scatter_add_rows(dWx, rows[t], da[t])
        # backprop through (1) into h_{t-1}: a_t = ... + h_{t-1} Wh. As in forward, computed
        # transposed, Wh da_t^T, which OpenBLAS runs faster for N = 50
        np.matmul(Wh, da[t].T, out=dhT_next)                 # (H, N)
        _array_kernels.transpose_into(dhT_next, dh_next)     # (N, H) da_t Wh^T
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
