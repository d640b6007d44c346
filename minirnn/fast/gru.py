"""The GRU's CPU engine path: minirnn/layers/gru.py's equations, fused for speed (NumPy arrays only).

``forward`` and ``backward`` have the signatures and the cache format of ``minirnn.layers.gru`` (the
book), so either backward takes either forward's cache; tests/test_fast_gru.py checks that both give
the same numbers (float64 to 1e-12, float32 close). What differs from the book, none of it changing
the equations (gru.py's numbering):
  - all of a step's gate math, (3)-(7) forward and (7)-(3) backward, is one Numba kernel over raw
    arrays (one pass over memory instead of ~15 NumPy temporaries a step);
  - work arrays are time-major, (T, N, .), so step t's block is one contiguous matrix; h lives in a
    (T+1, N, H) buffer whose slot 0 is h0, so that dWh = sum_t h_{t-1}^T dah_t is one GEMM over
    slots 0..T-1 after the loop, and dWx, db likewise (the book accumulates them per step);
  - one-hot ids: the forward kernel reads x_t Wx as row ids[n, t] of Wx, and backward scatters dax_t
    onto dWx's rows as it is made.
Only h_{t-1} Wh (forward) and dah_t Wh^T (backward) stay per-step GEMMs.

Dispatch: ``minirnn.fast.pick`` hands this module out in place of layers/gru.py for NumPy arrays
on the CPU (CuPy arrays get the book); since both write and read the same cache, a cache made by
either forward can go to either backward.

float64 uses libm's tanh (results equal the book to rounding); float32 the rational tanh of
minirnn/fast/_rnn_kernels.py (within a few ulp), as the LSTM's fused path does. Kernels are serial:
see _rnn_kernels.py on prange against OpenBLAS's threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._array_kernels import row_indices, scatter_add_rows, transpose_into
from ._rnn_kernels import KERNEL, ONE, act_sigmoid, act_tanh
from ..layers.gru import gate_slices, init_params  # noqa: F401  (a drop-in module for stack.CELLS)


# ---- kernels: one step's gate math ------------------------------------------------------------------
@njit(**KERNEL, inline="always")
def _cell(ax_r, ax_z, ax_n, ah_r, ah_z, ah_n, b_hn, h_p):
    """(3)-(7) for one unit: returns r, z, n, hn, h_t."""
    r = act_sigmoid(ax_r + ah_r)                                     # (3) reset gate
    z = act_sigmoid(ax_z + ah_z)                                     # (4) update gate
    hn = ah_n + b_hn                                                 # (5)
    n = act_tanh(ax_n + r * hn)                                      # (6) candidate
    return r, z, n, hn, (ONE - z) * n + z * h_p                      # (7) hidden state


@njit(**KERNEL)
def gru_forward_step(ax_t, ah, b_hn, h_prev, gates_t, h_t):
    """(3)-(7) for one step, dense input. ax_t (N, 3H) = x_t Wx + b[:3H]; ah (N, 3H) = h_{t-1} Wh;
    b_hn (H,); h_prev (N, H). Writes gates_t (N, 4H) = r, z, n, hn and h_t (N, H)."""
    N, H = h_t.shape
    for n_ in range(N):
        x_r, x_z, x_n = ax_t[n_, :H], ax_t[n_, H:2 * H], ax_t[n_, 2 * H:]
        a_r, a_z, a_n = ah[n_, :H], ah[n_, H:2 * H], ah[n_, 2 * H:]
        g_r, g_z, g_n, g_hn = gates_t[n_, :H], gates_t[n_, H:2 * H], gates_t[n_, 2 * H:3 * H], gates_t[n_, 3 * H:]
        hp, ho = h_prev[n_], h_t[n_]
        for j in range(H):
            g_r[j], g_z[j], g_n[j], g_hn[j], ho[j] = _cell(x_r[j], x_z[j], x_n[j], a_r[j], a_z[j], a_n[j],
                                                           b_hn[j], hp[j])


@njit(**KERNEL)
def gru_forward_step_ids(Wx, ids_t, bx, ah, b_hn, h_prev, gates_t, h_t):
    """As ``gru_forward_step`` with one-hot input given as ids_t (N,) in [0, D) (checked by the
    caller): ax_t = Wx[ids_t] + bx, read from the (D, 3H) table here."""
    N, H = h_t.shape
    for n_ in range(N):
        w = Wx[ids_t[n_]]                                            # (3H,) x_t Wx for stream n
        w_r, w_z, w_n = w[:H], w[H:2 * H], w[2 * H:]
        b_r, b_z, b_n = bx[:H], bx[H:2 * H], bx[2 * H:]
        a_r, a_z, a_n = ah[n_, :H], ah[n_, H:2 * H], ah[n_, 2 * H:]
        g_r, g_z, g_n, g_hn = gates_t[n_, :H], gates_t[n_, H:2 * H], gates_t[n_, 2 * H:3 * H], gates_t[n_, 3 * H:]
        hp, ho = h_prev[n_], h_t[n_]
        for j in range(H):
            g_r[j], g_z[j], g_n[j], g_hn[j], ho[j] = _cell(w_r[j] + b_r[j], w_z[j] + b_z[j], w_n[j] + b_n[j],
                                                           a_r[j], a_z[j], a_n[j], b_hn[j], hp[j])


@njit(**KERNEL)
def gru_backward_step(dh_up, dh_carry, gates_t, h_prev, dax_t, dah_t):
    """Backprop of step t through (7)-(3).

    dh_up    (N, H)   dL/dh_t from the output at t
    dh_carry (N, H)   in: dL/dh_t from step t+1;  out: the part of dL/dh_{t-1} through (7), dh_t * z
                      (the caller adds dah_t Wh^T, the part through (2))
    gates_t  (N, 4H) r, z, n, hn;  h_prev (N, H)
    writes   dax_t (N, 3H) = [dar, daz, dan],  dah_t (N, 3H) = [dar, daz, dan * r]
    """
    N, H = dh_up.shape
    for n_ in range(N):
        g_r, g_z, g_n, g_hn = gates_t[n_, :H], gates_t[n_, H:2 * H], gates_t[n_, 2 * H:3 * H], gates_t[n_, 3 * H:]
        x_r, x_z, x_n = dax_t[n_, :H], dax_t[n_, H:2 * H], dax_t[n_, 2 * H:]
        a_r, a_z, a_n = dah_t[n_, :H], dah_t[n_, H:2 * H], dah_t[n_, 2 * H:]
        up, carry, hp = dh_up[n_], dh_carry[n_], h_prev[n_]
        for j in range(H):
            r, z, n, hn = g_r[j], g_z[j], g_n[j], g_hn[j]
            dh = up[j] + carry[j]                                    # h_t feeds output t and step t+1
            carry[j] = dh * z                                        # (7) into h_{t-1}
            dan = dh * (ONE - z) * (ONE - n * n)                     # (7) then (6): tanh' = 1 - n^2
            daz = dh * (hp[j] - n) * z * (ONE - z)                   # (7) then (4): σ' = z (1 - z)
            dar = dan * hn * r * (ONE - r)                           # (6) then (3)
            x_r[j] = dar
            a_r[j] = dar
            x_z[j] = daz
            a_z[j] = daz
            x_n[j] = dan
            a_n[j] = dan * r                                         # (6) then (5): dL/dhn


# ---- the wrappers: layers/gru.py's forward and backward ----------------------------------------------
# run the per-step recurrent GEMMs transposed, (3H x H) @ (H x N), as the LSTM's fused path does
# (OpenBLAS is faster that way round for small N), the (3H, N) result transposed back by a strip copy
TRANSPOSED_GEMM = True


def _time_major(a, dtype):
    """(N, T, K) -> contiguous (T, N, K): free for a transposed view of a time-major array."""
    return np.ascontiguousarray(a.transpose(1, 0, 2), dtype=dtype)


def forward(x, h0, Wx, Wh, b):
    """layers/gru.py's ``forward`` on NumPy arrays (converted on entry). Returns (h, cache)."""
    return _forward(x, h0, Wx, Wh, b, keep_gates=True)


def infer(x, h0, Wx, Wh, b):
    """``forward`` at evaluation time: the same h, computed the same way, in a tuple (h,), with no
    backward cache: each step's gates go to one (N, 4H) scratch block instead of a (T, N, 4H) array."""
    return (_forward(x, h0, Wx, Wh, b, keep_gates=False),)


def _forward(x, h0, Wx, Wh, b, keep_gates):
    """``forward`` (keep_gates: returns (h, cache)) or ``infer``'s h (gates overwritten each step)."""
    x = np.asarray(x)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    dtype = np.asarray(Wx).dtype
    Wx, Wh, b = (np.ascontiguousarray(a, dtype=dtype) for a in (Wx, Wh, b))  # (D, 3H), (H, 3H), (4H,)
    bx, b_hn = b[:3 * H], b[3 * H:]                                  # (3H,), (H,)
    hbuf = np.empty((T + 1, N, H), dtype=dtype)                      # (T+1, N, H) slot 0: h0, t+1: h_t
    hbuf[0] = 0 if h0 is None else h0
    gates = np.empty((T if keep_gates else 1, N, 4 * H), dtype=dtype)  # (T, N, 4H) r, z, n, hn
    ah = np.empty((N, 3 * H), dtype=dtype)                           # (N, 3H) work: h_{t-1} Wh
    transposed = TRANSPOSED_GEMM and T > 1                           # one step (sampling): h Wh as it stands
    if transposed:
        WhT = np.ascontiguousarray(Wh.T)                             # (3H, H)
        ahT = np.empty((3 * H, N), dtype=dtype)                      # (3H, N) work: (h_{t-1} Wh)^T
    if x.ndim == 2:
        ids = row_indices(x.T, D)                            # (T, N) in [0, D), checked
    else:
        ax = _time_major(x, dtype).reshape(T * N, D) @ Wx            # (T*N, 3H) (1) every step at once
        ax += bx
        ax = ax.reshape(T, N, 3 * H)                                 # (T, N, 3H)
    for t in range(T):
        if transposed:                                               # (2) as Wh^T h_{t-1}^T
            np.matmul(WhT, hbuf[t].T, out=ahT)                       # (3H, N)
            transpose_into(ahT, ah)                                  # (N, 3H)
        else:
            np.matmul(hbuf[t], Wh, out=ah)                           # (2) (N, 3H)
        g_t = gates[t if keep_gates else 0]                          # (N, 4H)
        if x.ndim == 2:
            gru_forward_step_ids(Wx, ids[t], bx, ah, b_hn, hbuf[t], g_t, hbuf[t + 1])  # (1), (3)-(7)
        else:
            gru_forward_step(ax[t], ah, b_hn, hbuf[t], g_t, hbuf[t + 1])             # (3)-(7)
    h = hbuf[1:].transpose(1, 0, 2)                                  # (N, T, H) view
    if not keep_gates:
        return h
    cache = (x, hbuf[0], Wx, Wh, gates.transpose(1, 0, 2), h)       # the book's cache, as views
    return h, cache


def _h_prev(h_tm, h0):
    """(T, N, H) h_{t-1} for every t: free when h_tm, h0 are views of ``forward``'s buffer."""
    buf = h_tm.base
    if (buf is not None and h0.base is buf and buf.shape == (h_tm.shape[0] + 1,) + h_tm.shape[1:]
            and buf.flags.c_contiguous and h0.ctypes.data == buf.ctypes.data
            and h_tm.ctypes.data == buf.ctypes.data + h0.nbytes):
        return buf[:-1]
    return np.concatenate([h0[None], h_tm[:-1]]).astype(h_tm.dtype, copy=False)


def backward(dh, cache, need_dx=True):
    """layers/gru.py's ``backward`` on NumPy arrays. Returns (dx, dh0, dWx, dWh, db)."""
    x, h0, Wx, Wh, gates, h = cache
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    dtype = gates.dtype
    g_tm, h_tm, dh_tm = (_time_major(np.asarray(a), dtype) for a in (gates, h, dh))  # (T, N, .)
    h0 = np.zeros((N, H), dtype=dtype) if h0 is None else np.ascontiguousarray(h0, dtype=dtype)
    hp = _h_prev(h_tm, h0)                                           # (T, N, H) h_{t-1}
    dax = np.empty((T, N, 3 * H), dtype=dtype)                       # (T, N, 3H)
    dah = np.empty((T, N, 3 * H), dtype=dtype)                       # (T, N, 3H)
    carry = np.zeros((N, H), dtype=dtype)                            # (N, H) dL/dh_t from step t+1
    rec = np.empty((N, H), dtype=dtype)                              # (N, H) work: dah_t Wh^T
    if TRANSPOSED_GEMM:
        recT = np.empty((H, N), dtype=dtype)                         # (H, N) work: (dah_t Wh^T)^T
        Wh_c = np.ascontiguousarray(Wh)                              # (H, 3H)
    else:
        WhT = np.ascontiguousarray(Wh.T)                             # (3H, H)
    if x.ndim == 2:
        rows = row_indices(np.asarray(x).T, D)               # (T, N)
        dWx = np.zeros((D, 3 * H), dtype=dtype)                      # (D, 3H)
    for t in reversed(range(T)):
        gru_backward_step(dh_tm[t], carry, g_tm[t], hp[t], dax[t], dah[t])  # (7)-(3)
        if x.ndim == 2:                                              # (1) with ids: dWx[ids_t] += dax_t
            scatter_add_rows(dWx, rows[t], dax[t])
        if TRANSPOSED_GEMM:                                          # (2) into h_{t-1}, as Wh dah_t^T
            np.matmul(Wh_c, dah[t].T, out=recT)                      # (H, N)
            transpose_into(recT, rec)                                # (N, H)
        else:
            np.matmul(dah[t], WhT, out=rec)                          # (2) into h_{t-1}
        carry += rec                                                 # (N, H) dL/dh_{t-1}
    dax2, dah2 = dax.reshape(T * N, 3 * H), dah.reshape(T * N, 3 * H)
    dWh = hp.reshape(T * N, H).T @ dah2                              # (H, 3H) sum_t h_{t-1}^T dah_t
    db = np.empty(4 * H, dtype=dtype)                                # (4H,)
    db[:3 * H] = dax2.sum(axis=0)
    db[3 * H:] = dah2[:, 2 * H:].sum(axis=0)
    if x.ndim == 2:
        return None, carry, dWx, dWh, db
    x_tm = _time_major(np.asarray(x), dtype).reshape(T * N, D)      # (T*N, D)
    dWx = x_tm.T @ dax2                                              # (D, 3H)
    dx = (dax2 @ Wx.T).reshape(T, N, D).transpose(1, 0, 2) if need_dx else None  # (N, T, D)
    return dx, carry, dWx, dWh, db
