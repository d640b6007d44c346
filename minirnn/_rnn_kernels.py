"""Numba kernels for one time step of the LSTM's gate math: CPU code on raw NumPy arrays.

Only the elementwise part of a step lives here; ``minirnn.layers.lstm`` owns everything else (the
hoisted GEMMs, the per-step recurrent GEMM, the time loop, the cache) and keeps the readable NumPy
version of the same equations beside its fast path. tests/test_fast_path.py checks that both give
the same numbers (float64: 1e-12 relative; float32: close).

Dimension legend: N batch, H hidden size. Gate order along the 4H axis: i, f, g, o.

Layout: the recurrent GEMM runs feature-major, aT (4H, N) = Wh^T h_{t-1}^T, because BLAS is
markedly faster at (4H x H) @ (H x N) with N = 50 than at (N x H) @ (H x 4H) (measured: ~1.4x for
H = 512, ~1.8x for H = 128 with OpenBLAS on 2 cores). The kernels therefore read aT / dhT and write
hT / daT (feature-major copies for the next GEMM) next to the batch-major arrays kept for the cache.

Equations of step t (lstm.py's numbering), σ the logistic sigmoid, xa_t = x_t Wx + b from the
hoisted GEMM:
    (1) a = xa_t + (aT)^T
    (2) i = σ(a_i)  f = σ(a_f)  o = σ(a_o)
    (3) g = tanh(a_g)
    (4) c_t = f * c_prev + i * g
    (5) h_t = o * tanh(c_t)

Transcendentals stay in NumPy: its float32 tanh is SIMD (~3 ns per number here) while Numba's
libm tanhf/expf run scalar (~21 / ~8 ns per number, measured), so a step is split as
    kernel ``lstm_preact``   a = (xa_t + aT^T) * s, s = 1/2 on i, f, o and 1 on g     (1)
    np.tanh                  on the whole (N, 4H) block: σ(a) = (tanh(a/2) + 1) / 2   (2), (3)
    kernel ``lstm_cell``     i, f, o = (tanh + 1) / 2 ; c_t = f * c_prev + i * g      (2), (4)
    np.tanh                  tanh(c_t) into h_t                                       (5)
    kernel ``lstm_hidden``   h_t = o * tanh(c_t), and hT = h_t^T                       (5)
which performs the reference's operations in its order (lstm.py's sigmoid is the same tanh form),
so float64 results agree to rounding. Backward needs tanh(c_t) for every t: lstm.py computes it
for all steps with one np.tanh call before the loop and hands each step its slice.
"""
from __future__ import annotations

from numba import njit


@njit(cache=True)
def lstm_preact(aT, a_t):
    """(1) a_t += (aT)^T in place, then halve the i, f, o quarters: the argument of one tanh.

    aT   (4H, N)  Wh^T h_{t-1}^T, the recurrent GEMM's output
    a_t  (N, 4H)  in: x_t Wx + b;  out: (a_i/2, a_f/2, a_g, a_o/2)
    """
    N = a_t.shape[0]
    H = a_t.shape[1] // 4
    for n in range(N):
        for k in range(4 * H):
            a = a_t[n, k] + aT[k, n]                                # (1) a_t = x_t Wx + b + h_{t-1} Wh
            a_t[n, k] = a if 2 * H <= k < 3 * H else 0.5 * a        # g keeps a_g; σ(a) = (tanh(a/2)+1)/2


@njit(cache=True)
def lstm_cell(gates_t, c_prev, c_t):
    """(2) finish the sigmoids in place, then (4) the cell state.

    gates_t (N, 4H)  in: tanh of lstm_preact's output;  out: activated i, f, g, o
    c_prev  (N, H)   c_{t-1};  writes c_t (N, H)
    """
    N, H = c_t.shape
    for n in range(N):
        for j in range(H):
            i = 0.5 * (gates_t[n, j] + 1)                           # (2) input gate
            f = 0.5 * (gates_t[n, H + j] + 1)                       # (2) forget gate
            g = gates_t[n, 2 * H + j]                               # (3) candidate (already tanh)
            o = 0.5 * (gates_t[n, 3 * H + j] + 1)                   # (2) output gate
            gates_t[n, j] = i
            gates_t[n, H + j] = f
            gates_t[n, 3 * H + j] = o
            c_t[n, j] = f * c_prev[n, j] + i * g                    # (4) cell state


@njit(cache=True)
def lstm_hidden(gates_t, h_t, hT):
    """(5) h_t = o * tanh(c_t) in place (h_t holds tanh(c_t) on entry), and hT = h_t^T.

    gates_t (N, 4H) activated gates;  h_t (N, H);  writes hT (H, N), the next GEMM's input
    """
    N, H = h_t.shape
    for n in range(N):
        for j in range(H):
            h = gates_t[n, 3 * H + j] * h_t[n, j]                   # (5) hidden state
            h_t[n, j] = h
            hT[j, n] = h


@njit(cache=True)
def lstm_step_backward(dh_t, dhT_next, dc_next, gates_t, tanh_c, c_prev, da_t, daT):
    """Backprop of step t through (5), (4), (2), (3), up to da_t; the caller does (1).

    dh_t     (N, H)   dL/dh_t from the layer above (the output at t)
    dhT_next (H, N)   dL/dh_t arriving from step t+1, feature-major (Wh da_{t+1}^T)
    dc_next  (N, H)   in: dL/dc_t from step t+1;  out: dL/dc_{t-1}  (updated in place)
    gates_t  (N, 4H), c_prev (N, H): from the forward cache; tanh_c (N, H) = tanh(c_t)
    writes   da_t (N, 4H) dL/da_t, and daT (4H, N) = da_t^T for the recurrent GEMM
    """
    N = dh_t.shape[0]
    H = dh_t.shape[1]
    for n in range(N):
        for j in range(H):
            i = gates_t[n, j]
            f = gates_t[n, H + j]
            g = gates_t[n, 2 * H + j]
            o = gates_t[n, 3 * H + j]
            tc = tanh_c[n, j]                                       # tanh(c_t)
            dh = dh_t[n, j] + dhT_next[j, n]                        # h_t feeds output t and step t+1
            # backprop through (5) h_t = o * tanh(c_t)
            do = dh * tc
            dc = dc_next[n, j] + dh * o * (1.0 - tc * tc)
            # backprop through (4) c_t = f * c_prev + i * g
            di = dc * g
            df = dc * c_prev[n, j]
            dg = dc * i
            dc_next[n, j] = dc * f                                  # dL/dc_{t-1}
            # backprop through (2) σ' = σ(1 - σ) and (3) tanh' = 1 - tanh^2
            dai = di * i * (1.0 - i)
            daf = df * f * (1.0 - f)
            dag = dg * (1.0 - g * g)
            dao = do * o * (1.0 - o)
            da_t[n, j] = dai
            da_t[n, H + j] = daf
            da_t[n, 2 * H + j] = dag
            da_t[n, 3 * H + j] = dao
            daT[j, n] = dai
            daT[H + j, n] = daf
            daT[2 * H + j, n] = dag
            daT[3 * H + j, n] = dao
