"""Numba kernels for one time step of the LSTM's gate math: CPU code on raw NumPy arrays.

Only the elementwise part of a step lives here; the engine's lstm.py owns everything else (the
hoisted GEMMs, the per-step recurrent GEMM, the time loop, the cache), and the book,
minirnn/layers/lstm.py, holds the readable NumPy version of the same equations.
tests/test_fast_path.py checks that both give the same numbers (float64: 1e-12 relative; float32:
close) and that each kernel matches its ``.py_func``.

Dimension legend: N batch, H hidden size. Gate order along the 4H axis: i, f, g, o.
Every array argument is a C-contiguous block of one time step (lstm.py keeps its work arrays
time-major, (T, N, .), so that block t is contiguous), or a table whose rows the forward kernel
looks up (Wx for one-hot input, the hoisted x Wx for dense input): with unit inner strides, each
output an array distinct from every input (the backward kernel's dc_next: the very view it was
read from), and
``error_model="numpy"`` (no ZeroDivisionError branch) LLVM vectorizes the loops to the CPU's SIMD
width. Two different views of overlapping memory fail LLVM's runtime overlap check and run its
scalar loop instead, many times slower (benchmarks/README.md, Engine).

Equations of step t (minirnn/layers/lstm.py's numbering), σ the logistic sigmoid:
    (1) a = (x_t Wx + b) + h_{t-1} Wh               (x_t Wx a row of the caller's table or GEMM,
                                                     h_{t-1} Wh the caller's GEMM; lstm.py's order)
    (2) i = σ(a_i)  f = σ(a_f)  o = σ(a_o),  with σ(a) = (tanh(a/2) + 1) / 2 as in lstm.py
    (3) g = tanh(a_g)
    (4) c_t = f * c_prev + i * g
    (5) h_t = o * tanh(c_t)

tanh (``act_tanh``, picked by the array dtype at compile time): float64 calls libm's tanh, so
float64 results match the NumPy reference to rounding. float32 uses a rational approximation that
vectorizes: Eigen's
float tanh (the one TensorFlow and XLA use), x P(x^2) / Q(x^2) on x clamped to [-9, 9], within
3.5e-7 of the true tanh (a few float32 ulp; measured on a 2e6-point grid over [-12, 12]).
It is there for speed: per number it costs a fraction of libm's tanhf and of NumPy's SIMD tanh,
and with it a step's kernel takes a small part of the time of the step's recurrent GEMM (timings:
benchmarks/README.md, Engine).

The kernels are serial on purpose: ``parallel=True`` (prange over N) made a training step several
times slower, its worker threads fighting OpenBLAS's, which spin between the per-step GEMMs; it
stayed slower with Numba's workqueue layer and with OpenMP told not to spin
(OMP_WAIT_POLICY=passive). Measurements: benchmarks/README.md, Engine.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# How every gate kernel of the engine is compiled (here and in gru.py), chosen in one place:
#   error_model="numpy"    no ZeroDivisionError branch, so that LLVM vectorizes the loops;
#   nogil                  the kernels release the GIL, as NumPy's GEMMs do;
#   fastmath={"contract"}  a multiply followed by an add may run as one fused multiply-add (FMA),
#                          rounded once instead of twice: the tanh polynomials and the gate updates
#                          are chains of them, and the kernels ran 8-23% faster (benchmarks/README.md,
#                          Engine). Nothing else of fastmath: no reassociation, NaN and inf kept, so
#                          each result is the book's expression with fewer roundings, not another one.
KERNEL = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

# float32 constants: a float64 literal would promote every float32 operation to float64
HALF, ONE = np.float32(0.5), np.float32(1.0)
CLAMP = np.float32(9.0)                     # |x| >= 9: tanh(x) rounds to ±1 in float32
P1, P3, P5, P7, P9, P11, P13 = (np.float32(v) for v in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
Q0, Q2, Q4, Q6 = (np.float32(v) for v in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))


@njit(**KERNEL, inline="always")
def tanh_f32(a):
    """tanh(a) ≈ x P(x²) / Q(x²), x = clamp(a, -9, 9): Eigen's float32 rational approximation."""
    x = min(max(a, -CLAMP), CLAMP)
    x2 = x * x
    p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * P13 + P11) + P9) + P7) + P5) + P3) + P1
    q = x2 * (x2 * (x2 * Q6 + Q4) + Q2) + Q0
    return (x * p) / q


def act_tanh(a):
    """tanh for the kernels, chosen by the scalar type when Numba compiles them: libm's tanh for
    float64, ``tanh_f32`` for float32. (This Python body is what ``.py_func`` runs: libm.)"""
    return math.tanh(a)


@overload(act_tanh, inline="always")
def _act_tanh_by_type(a):
    if isinstance(a, types.Float) and a.bitwidth == 32:
        return lambda a: tanh_f32(a)
    return lambda a: math.tanh(a)


@njit(**KERNEL, inline="always")
def act_sigmoid(a):
    """σ(a) = (tanh(a/2) + 1) / 2: lstm.py's sigmoid, the same operations."""
    return HALF * (act_tanh(HALF * a) + ONE)


@njit(**KERNEL, inline="always")
def lstm_cell(a_i, a_f, a_g, a_o, c_prev):
    """Equations (2)-(5) for one unit, from its four pre-activations (1) and c_{t-1}:
    returns (i, f, g, o, c_t, h_t). The forward kernel inlines it into its vectorized loop."""
    i = act_sigmoid(a_i)                                             # (2) input gate
    f = act_sigmoid(a_f)                                             # (2) forget gate
    g = act_tanh(a_g)                                                # (3) candidate
    o = act_sigmoid(a_o)                                             # (2) output gate
    c = f * c_prev + i * g                                           # (4) cell state
    return i, f, g, o, c, o * act_tanh(c)                            # (5) hidden state


@njit(**KERNEL)
def lstm_forward_step(ah, xw, rows, b, c_prev, gates_t, c_t, h_t):
    """Equations (1)-(5) for one step; x_t Wx for stream n is row rows[n] of the table xw.

    ah       (N, 4H)  h_{t-1} Wh, the recurrent GEMM's output
    xw       (R, 4H)  the table: for dense input, the hoisted GEMM x Wx over every step
                      (time-major rows, R = T*N, rows[n] = t*N + n); for one-hot ids, Wx itself
                      (R = D, rows = ids_t), read in place instead of from a (T, N, 4H) copy
    rows     (N,)     in [0, R) (checked by the caller: no bounds checks here)
    b        (4H,)    the gate bias (added here rather than in a separate pass over all T steps)
    c_prev   (N, H)   c_{t-1}
    writes   gates_t (N, 4H) the activated gates i, f, g, o (cached), c_t, h_t (N, H). gates_t
             must not overlap xw (see the module docstring on overlap)
    """
    N, H = c_t.shape
    for n in range(N):
        # one row's gate blocks as views, indexed from 0: offsets like H + j would add a
        # negative-index check to every access and stop LLVM from vectorizing the loop
        x_n = xw[rows[n]]                                            # (4H,) x_t Wx for stream n
        x_i, x_f, x_g, x_o = x_n[:H], x_n[H:2 * H], x_n[2 * H:3 * H], x_n[3 * H:]
        r_i, r_f, r_g, r_o = ah[n, :H], ah[n, H:2 * H], ah[n, 2 * H:3 * H], ah[n, 3 * H:]
        b_i, b_f, b_g, b_o = b[:H], b[H:2 * H], b[2 * H:3 * H], b[3 * H:]
        g_i, g_f, g_g, g_o = (gates_t[n, :H], gates_t[n, H:2 * H], gates_t[n, 2 * H:3 * H],
                              gates_t[n, 3 * H:])
        c_p, c_out, h_out = c_prev[n], c_t[n], h_t[n]                  # (H,) each
        for j in range(H):
            g_i[j], g_f[j], g_g[j], g_o[j], c_out[j], h_out[j] = lstm_cell(   # (1)-(5)
                x_i[j] + b_i[j] + r_i[j], x_f[j] + b_f[j] + r_f[j],
                x_g[j] + b_g[j] + r_g[j], x_o[j] + b_o[j] + r_o[j], c_p[j])


@njit(**KERNEL)
def lstm_backward_step(dh_t, dh_next, dc_next, gates_t, c_t, c_prev, da_t):
    """Backprop of step t through (5), (4), (2), (3), up to da_t; the caller does (1).

    dh_t     (N, H)   dL/dh_t from the layer above (the output at t)
    dh_next  (N, H)   dL/dh_t arriving from step t+1 (da_{t+1} Wh^T)
    dc_next  (N, H)   in: dL/dc_t from step t+1;  out: dL/dc_{t-1}  (updated in place)
    gates_t  (N, 4H), c_t, c_prev (N, H): from the forward cache
    writes   da_t (N, 4H) = dL/da_t
    """
    N, H = dh_t.shape
    for n in range(N):
        i_, f_, g_, o_ = gates_t[n, :H], gates_t[n, H:2 * H], gates_t[n, 2 * H:3 * H], gates_t[n, 3 * H:]
        da_i, da_f, da_g, da_o = da_t[n, :H], da_t[n, H:2 * H], da_t[n, 2 * H:3 * H], da_t[n, 3 * H:]
        dh_up, dh_nx, dc_nx, c, cp = dh_t[n], dh_next[n], dc_next[n], c_t[n], c_prev[n]  # (H,) each
        for j in range(H):
            i, f, g, o = i_[j], f_[j], g_[j], o_[j]
            tanh_c = act_tanh(c[j])                         # recomputed, as lstm.py
            dh = dh_up[j] + dh_nx[j]                            # h_t feeds output t and step t+1
            # backprop through (5) h_t = o * tanh(c_t)
            do = dh * tanh_c
            dc = dc_nx[j] + dh * o * (ONE - tanh_c * tanh_c)
            # backprop through (4) c_t = f * c_prev + i * g
            di = dc * g
            df = dc * cp[j]
            dg = dc * i
            dc_nx[j] = dc * f                                   # dL/dc_{t-1}
            # backprop through (2) σ' = σ(1 - σ) and (3) tanh' = 1 - tanh^2
            da_i[j] = di * i * (ONE - i)
            da_f[j] = df * f * (ONE - f)
            da_g[j] = dg * (ONE - g * g)
            da_o[j] = do * o * (ONE - o)
