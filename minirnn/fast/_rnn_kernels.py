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
from numba import njit, prange, types
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


@njit(**KERNEL, inline="always")
def _forward_units(x_n, a_n, b, c_p, gates_n, c_out, h_out, j0, j1, H):
    """(1)-(5) for one stream and the units j0 <= j < j1: x_n (4H,) its x_t Wx, a_n (4H,) its
    h_{t-1} Wh, c_p (H,) its c_{t-1}; writes gates_n (4H,), c_out, h_out (H,) at those units."""
    # each gate block as a view indexed from 0: offsets like H + j would add a negative-index
    # check to every access and stop LLVM from vectorizing the loop
    x_i, x_f, x_g, x_o = x_n[j0:j1], x_n[H + j0:H + j1], x_n[2 * H + j0:2 * H + j1], x_n[3 * H + j0:3 * H + j1]
    r_i, r_f, r_g, r_o = a_n[j0:j1], a_n[H + j0:H + j1], a_n[2 * H + j0:2 * H + j1], a_n[3 * H + j0:3 * H + j1]
    b_i, b_f, b_g, b_o = b[j0:j1], b[H + j0:H + j1], b[2 * H + j0:2 * H + j1], b[3 * H + j0:3 * H + j1]
    g_i, g_f, g_g, g_o = (gates_n[j0:j1], gates_n[H + j0:H + j1], gates_n[2 * H + j0:2 * H + j1],
                          gates_n[3 * H + j0:3 * H + j1])
    cp, co, ho = c_p[j0:j1], c_out[j0:j1], h_out[j0:j1]
    for j in range(j1 - j0):
        g_i[j], g_f[j], g_g[j], g_o[j], co[j], ho[j] = lstm_cell(          # (1)-(5)
            x_i[j] + b_i[j] + r_i[j], x_f[j] + b_f[j] + r_f[j],
            x_g[j] + b_g[j] + r_g[j], x_o[j] + b_o[j] + r_o[j], cp[j])


@njit(**KERNEL, inline="always")
def _backward_units(dh_up, dh_nx, dc_nx, gates_n, c, cp, da_n, H):
    """Backprop through (5), (4), (2), (3) for one stream (rows of lstm_backward_step's arrays):
    writes da_n (4H,) and updates dc_nx (H,) in place to dL/dc_{t-1}."""
    i_, f_, g_, o_ = gates_n[:H], gates_n[H:2 * H], gates_n[2 * H:3 * H], gates_n[3 * H:]
    da_i, da_f, da_g, da_o = da_n[:H], da_n[H:2 * H], da_n[2 * H:3 * H], da_n[3 * H:]
    for j in range(H):
        i, f, g, o = i_[j], f_[j], g_[j], o_[j]
        tanh_c = act_tanh(c[j])                             # recomputed, as lstm.py
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
        _forward_units(xw[rows[n]], ah[n], b, c_prev[n], gates_t[n], c_t[n], h_t[n], 0, H, H)


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
        _backward_units(dh_t[n], dh_next[n], dc_next[n], gates_t[n], c_t[n], c_prev[n], da_t[n], H)


# ---- the step's product, out = a W^T on a block of rows and columns --------------------------------
# dot_rows(a, W, out, r0, r1, c0, c1) sets out[r0:r1, c0:c1] = a[r0:r1] @ W[c0:c1].T (its NumPy
# reference; tests/test_fast_path.py compares the two). Both operands are read along rows (a's
# row r and W's row c are the two vectors of a dot product), and a block of 4 rows x 4 columns
# keeps its 16 sums in registers while k runs along the rows; LLVM vectorizes the k loop once it
# may reorder each sum's additions (``reassoc``, as any BLAS orders its sums). W needs no packing,
# unlike a BLAS call, which packs its operand again at every call. Rows and columns left over from
# the blocks of 4 run as 4 x 1, 1 x 4 and 1 x 1 blocks.
# KERNEL plus reassociation: a dot product's sums in any order (vectorized), as a
# BLAS orders them
DOT = dict(KERNEL, fastmath={"contract", "reassoc"})


def zero_of(a):
    """A zero of a's element type (float32 stays float32 in the sums)."""
    return a.dtype.type(0)


@overload(zero_of, inline="always")
def _zero_of(a):
    dt = a.dtype
    if isinstance(dt, types.Float) and dt.bitwidth == 32:
        return lambda a: np.float32(0)
    return lambda a: np.float64(0)


@njit(**DOT)
def dot_rows(a, W, out, r0, r1, c0, c1):
    """out[r, c] = sum_k a[r, k] W[c, k] for r0 <= r < r1, c0 <= c < c1.

    a (R, K), W (C, K), out (R, C): C-contiguous rows (out may be a view with contiguous rows).
    """
    K = a.shape[1]
    z = zero_of(a)
    r = r0
    while r + 4 <= r1:                                        # blocks of 4 rows
        a0, a1, a2, a3 = a[r], a[r + 1], a[r + 2], a[r + 3]  # (K,) each
        c = c0
        while c + 4 <= c1:                                    # 4 x 4: 16 sums in registers
            w0, w1, w2, w3 = W[c], W[c + 1], W[c + 2], W[c + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
            for k in range(K):
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                y0, y1, y2, y3 = w0[k], w1[k], w2[k], w3[k]
                s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3  # noqa: E702
                s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3  # noqa: E702
                s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3  # noqa: E702
                s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3  # noqa: E702
            out[r, c] = s00; out[r, c + 1] = s01; out[r, c + 2] = s02; out[r, c + 3] = s03  # noqa: E702
            out[r + 1, c] = s10; out[r + 1, c + 1] = s11; out[r + 1, c + 2] = s12; out[r + 1, c + 3] = s13  # noqa: E702
            out[r + 2, c] = s20; out[r + 2, c + 1] = s21; out[r + 2, c + 2] = s22; out[r + 2, c + 3] = s23  # noqa: E702
            out[r + 3, c] = s30; out[r + 3, c + 1] = s31; out[r + 3, c + 2] = s32; out[r + 3, c + 3] = s33  # noqa: E702
            c += 4
        while c < c1:                                         # 4 x 1
            w0 = W[c]
            s0 = s1 = s2 = s3 = z
            for k in range(K):
                y = w0[k]
                s0 += a0[k] * y; s1 += a1[k] * y; s2 += a2[k] * y; s3 += a3[k] * y  # noqa: E702
            out[r, c] = s0; out[r + 1, c] = s1; out[r + 2, c] = s2; out[r + 3, c] = s3  # noqa: E702
            c += 1
        r += 4
    while r < r1:                                             # the last rows, one at a time
        a0 = a[r]
        c = c0
        while c + 4 <= c1:                                    # 1 x 4
            w0, w1, w2, w3 = W[c], W[c + 1], W[c + 2], W[c + 3]
            s0 = s1 = s2 = s3 = z
            for k in range(K):
                x = a0[k]
                s0 += x * w0[k]; s1 += x * w1[k]; s2 += x * w2[k]; s3 += x * w3[k]  # noqa: E702
            out[r, c] = s0; out[r, c + 1] = s1; out[r, c + 2] = s2; out[r, c + 3] = s3  # noqa: E702
            c += 4
        while c < c1:                                         # 1 x 1
            w0 = W[c]
            s = z
            for k in range(K):
                s += a0[k] * w0[k]
            out[r, c] = s
            c += 1
        r += 1


# ---- a whole step in one parallel loop: the product and the gate math, tile by tile ---------------
# lstm.py's time loop calls these instead of a BLAS GEMM and a kernel per step (with T > 1): the
# product h_{t-1} Wh (forward) or da_t Wh^T (backward) runs in dot_rows, on tiles of
# 4 streams x UNITS units, spread over Numba's threads (prange); no BLAS call, so no BLAS thread
# spins between steps against Numba's (why the kernels above stay serial).
UNITS = 32                                  # hidden units per tile


@njit(**KERNEL, parallel=True)
def lstm_step(h_prev, WhT, xw, rows, b, c_prev, ah, gates_t, c_t, h_t):
    """Equations (1)-(5) for one step, h_{t-1} Wh included: ``lstm_forward_step`` after the GEMM.

    h_prev   (N, H)   h_{t-1}
    WhT      (4H, H)  Wh^T (rows are Wh's columns: a dot product per gate unit)
    xw, rows, b, c_prev: as in lstm_forward_step
    ah       (N, 4H)  scratch: h_{t-1} Wh, tile by tile
    writes   gates_t (N, 4H), c_t, h_t (N, H)
    Tiles of 4 streams x UNITS units (all four gates of those units) run in parallel; each computes
    its block of h_{t-1} Wh (dot_rows) and then (1)-(5) on it while it is in cache.
    """
    N, H = c_t.shape
    nb = (N + 3) // 4                                         # blocks of 4 streams
    ub = (H + UNITS - 1) // UNITS                             # blocks of UNITS units
    for q in prange(ub * nb):
        j0 = (q // nb) * UNITS
        j1 = min(j0 + UNITS, H)
        n0 = (q % nb) * 4
        n1 = min(n0 + 4, N)
        for g in range(4):                                    # (1) h_{t-1} Wh, gate g's columns
            dot_rows(h_prev, WhT, ah, n0, n1, g * H + j0, g * H + j1)
        for n in range(n0, n1):
            _forward_units(xw[rows[n]], ah[n], b, c_prev[n], gates_t[n], c_t[n], h_t[n], j0, j1, H)


@njit(**KERNEL, parallel=True)
def lstm_backward_step_h(dh_t, dh_next, dc_next, gates_t, c_t, c_prev, Wh, da_t, dh_prev):
    """``lstm_backward_step`` followed by (1)'s product into h_{t-1}: dh_prev = da_t Wh^T.

    Wh (H, 4H); dh_prev (N, H) is written (dL/dh_{t-1} through a_t), distinct from dh_next.
    Two parallel loops: the gate math by stream, then the product by tiles of 4 streams x UNITS
    (dot_rows over Wh's rows, each a unit's 4H weights).
    """
    N, H = dh_t.shape
    for n in prange(N):                                       # (5)-(2): da_t, dc_next in place
        _backward_units(dh_t[n], dh_next[n], dc_next[n], gates_t[n], c_t[n], c_prev[n], da_t[n], H)
    nb = (N + 3) // 4
    ub = (H + UNITS - 1) // UNITS
    for q in prange(ub * nb):                                 # (1) dL/dh_{t-1} = da_t Wh^T
        j0 = (q // nb) * UNITS
        n0 = (q % nb) * 4
        dot_rows(da_t, Wh, dh_prev, n0, min(n0 + 4, N), j0, min(j0 + UNITS, H))
