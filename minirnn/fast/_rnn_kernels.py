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
scalar loop instead, many times slower (docs/studies.md, Engine).

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
docs/studies.md, Engine).

The kernels are serial on purpose: ``parallel=True`` (prange over N) made a training step several
times slower, its worker threads fighting OpenBLAS's, which spin between the per-step GEMMs; it
stayed slower with Numba's workqueue layer and with OpenMP told not to spin
(OMP_WAIT_POLICY=passive). Measurements: docs/studies.md, Engine.
"""
from __future__ import annotations

import math

import numpy as np
from numba import carray, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._array_kernels import scatter_add_rows, transpose_into

# How every gate kernel of the engine is compiled (here and in gru.py), chosen in one place:
#   error_model="numpy"    no ZeroDivisionError branch, so that LLVM vectorizes the loops;
#   nogil                  the kernels release the GIL, as NumPy's GEMMs do;
#   fastmath={"contract"}  a multiply followed by an add may run as one fused multiply-add (FMA),
#                          rounded once instead of twice: the tanh polynomials and the gate updates
#                          are chains of them, and the kernels ran 8-23% faster (docs/studies.md,
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


# ---- a whole step in one parallel loop: the product and the gate math, tile by tile ---------------
# Over several steps lstm.py's time loop calls ``lstm_step`` and ``lstm_backward_step_h`` instead of
# a BLAS GEMM and one of the kernels above: the step's product, h_{t-1} Wh (forward) or da_t Wh^T
# (backward), runs here on tiles of 4 streams x TILE columns, spread over Numba's threads
# (prange), and the forward's gate math runs on each tile while it is in registers. No BLAS call
# in the time loop, so no BLAS thread spins between steps against Numba's (why the kernels above
# stay serial).
#
# A tile is 4 x TILE sums (16 AVX-512 registers of float32) held in a stack array that LLVM keeps
# in registers (``tile_array``): per k, TILE numbers of the weight panel's row k, 4 numbers of the
# input broadcast, 4 x TILE/16 fused multiply-adds. The sums run over k in order, each rounded once
# per FMA. The weights are read from panels made once per call (``gate_panels``, ``panels``): panel
# p holds the TILE columns of its tile as contiguous rows, so a tile reads its weights in order.
TILE = 64                                   # columns per tile: the forward's tile is 16 units x 4 gates
PANELS_IN_CACHE = 1 << 18                   # numbers of panels that stay in a core's L2 (1 MB of float32)
UNITS = TILE // 4


@intrinsic
def tile_array(typingctx, like):
    """An uninitialised (4, TILE) array of like's dtype on the stack of the calling function, which
    LLVM may then hold in registers (the accumulators of a tile; a heap array would not be)."""
    dt = like.dtype

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(dt), size=4 * TILE)
    return types.CPointer(dt)(like), codegen


@njit(**KERNEL, inline="always")
def _tile_product(a, n0, rows, panel, acc):
    """acc[r] = a[n0 + r] @ panel for r < rows (rows <= 4): panel (K, TILE), acc (4, TILE)."""
    for r in range(4):
        for j in range(TILE):
            acc[r, j] = 0
    _tile_add(a, n0, rows, panel, 0, acc)


@njit(**KERNEL, inline="always")
def _tile_add(a, n0, rows, panel, k0, acc):
    """acc[r] += a[n0 + r] @ panel[k0:k0 + K] for r < rows (1 <= rows <= 4), a (N, K): the rows of a
    product whose left factor is a's columns followed by other ones (x_t, then h_{t-1}). Always
    the 4-row register tile: with fewer rows left, the last row stands in for the missing ones
    (acc's rows past `rows` hold its sums again, which the caller does not read)."""
    K = a.shape[1]
    a0, a1 = a[n0], a[n0 + min(1, rows - 1)]
    a2, a3 = a[n0 + min(2, rows - 1)], a[n0 + min(3, rows - 1)]
    for k in range(K):
        w = panel[k0 + k]                                     # (TILE,)
        x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
        for j in range(TILE):
            acc[0, j] += x0 * w[j]
            acc[1, j] += x1 * w[j]
            acc[2, j] += x2 * w[j]
            acc[3, j] += x3 * w[j]


def gate_panels(Wx, Wh, out=None):
    """The weights of one LSTM layer's gates, Wx (Kx, 4H) stacked on Wh (H, 4H) (Kx = 0: Wh alone),
    as (ceil(H / UNITS), Kx + H, TILE) panels: panel p, row k holds row k of [Wx; Wh] at units
    p*UNITS .. p*UNITS + UNITS - 1 of gates i, f, g, o (zeros past unit H - 1). Into `out` if given."""
    H = Wh.shape[0]
    out = np.empty((-(-H // UNITS), Wx.shape[0] + H, TILE), dtype=Wh.dtype) if out is None else out
    _pack_gate_panels(np.ascontiguousarray(Wx, dtype=Wh.dtype), np.ascontiguousarray(Wh), out)
    return out


@njit(**KERNEL, parallel=True)
def _pack_gate_panels(Wx, Wh, out):
    Kx, H = Wx.shape[0], Wh.shape[0]
    for p in prange(out.shape[0]):
        u0 = p * UNITS
        m = min(UNITS, H - u0)
        for k in range(Kx + H):
            src, dst = (Wx[k] if k < Kx else Wh[k - Kx]), out[p, k]   # (4H,), (TILE,)
            for g in range(4):
                for j in range(UNITS):
                    dst[g * UNITS + j] = src[g * H + u0 + j] if j < m else 0


def panels(B):
    """B (K, C) -> (ceil(C / TILE), K, TILE): panel p, row k holds B[k, p*TILE .. p*TILE + TILE - 1]
    (zeros past column C - 1). B may be a transposed view (Wh.T)."""
    K, C = B.shape
    out = np.empty((-(-C // TILE), K, TILE), dtype=B.dtype)
    _pack_panels(B, out)
    return out


@njit(**KERNEL, parallel=True)
def _pack_panels(B, out):
    K, C = B.shape
    for p in prange(out.shape[0]):
        j0 = p * TILE
        for k in range(K):
            src, dst = B[k], out[p, k]
            for j in range(TILE):
                dst[j] = src[j0 + j] if j0 + j < C else 0


@njit(**KERNEL, parallel=True)
def matmul_panels(a, Bp, out):
    """out = a @ B for B in panels (``panels(B)``): a (R, K), Bp (P, K, TILE), out (R, C) with
    C <= P * TILE (rows of out contiguous). Tiles of 4 rows x TILE columns in parallel: where all
    panels fit in cache (PANELS_IN_CACHE numbers), those of 4 rows one after another (the rows stay
    in cache while the panels stream past); otherwise those of one panel (it stays in cache while
    the rows stream past)."""
    R, C = out.shape
    P, nb = Bp.shape[0], (R + 3) // 4
    rows_first = Bp.size <= PANELS_IN_CACHE                   # all panels fit in cache: stream them
    for q in prange(P * nb):
        p, r0 = (q % P, (q // P) * 4) if rows_first else (q // nb, (q % nb) * 4)
        acc = carray(tile_array(a), (4, TILE))                # (4, TILE)
        _tile_product(a, r0, min(4, R - r0), Bp[p], acc)
        j0 = p * TILE
        for r in range(min(4, R - r0)):
            o = out[r0 + r]
            for j in range(min(TILE, C - j0)):
                o[j0 + j] = acc[r, j]


def matmul_tn(a, B, out, Bp=None):
    """out = a^T @ B, the weight gradients' sum over rows: a (K, R), B (K, C), out (R, C). As
    matmul_panels on a^T (a strip-transposed copy) and B in panels (Bp, if the caller has them):
    tiles reading a's and B's rows in place would stride across K pages, and the TLB misses cost
    more than the copies."""
    aT = np.empty((a.shape[1], a.shape[0]), dtype=a.dtype)   # (R, K)
    transpose_into(np.ascontiguousarray(a), aT)
    matmul_panels(aT, panels(B) if Bp is None else Bp, out)


@njit(**KERNEL, parallel=True)
def lstm_step(h_prev, Wp, xw, rows, b, c_prev, gates_t, c_t, h_t):
    """Equations (1)-(5) for one step, h_{t-1} Wh included: ``lstm_forward_step`` after the GEMM.

    h_prev   (N, H)   h_{t-1}
    Wp       (P, H, TILE)  Wh in gate panels (``gate_panels``)
    xw, rows, b, c_prev: as in lstm_forward_step
    writes   gates_t (N, 4H), c_t, h_t (N, H)
    Each tile, 4 streams x UNITS units (all four gates), computes its part of h_{t-1} Wh and then
    (1)-(5) on it while it is in registers.
    """
    N, H = c_t.shape
    nb = (N + 3) // 4                                         # blocks of 4 streams
    for q in prange(Wp.shape[0] * nb):
        p, n0 = q // nb, (q % nb) * 4
        acc = carray(tile_array(h_prev), (4, TILE))           # (4, TILE) h_{t-1} Wh of the tile
        _tile_product(h_prev, n0, min(4, N - n0), Wp[p], acc)
        ax = carray(tile_array(h_prev), (4, TILE))            # (4, TILE) zeros: x_t Wx is in xw
        for r in range(4):
            for j in range(TILE):
                ax[r, j] = 0
        _tile_gates(acc, n0, min(4, N - n0), p * UNITS, xw, rows, b, c_prev, gates_t, c_t, h_t, ax)


@njit(**KERNEL, inline="always")
def _tile_gates(acc, n0, nrows, u0, xw, rows, b, c_prev, gates_t, c_t, h_t, ax):
    """(1)-(5) for streams n0 .. n0 + nrows - 1 and the UNITS units from u0 of a tile whose
    acc (4, TILE) holds their h_{t-1} Wh, gates i, f, g, o in blocks of UNITS; x_t Wx is
    xw[rows[n]] + ax (one of them zero: a looked-up row, or the tile's own product), b added here."""
    H = c_t.shape[1]
    m = min(UNITS, H - u0)                                    # units of this tile
    for r in range(nrows):
        n = n0 + r
        a_r = acc[r]                                          # (TILE,) i, f, g, o of the tile's units
        # each gate's units as views indexed from 0 (as in _forward_units)
        x_n, g_n = xw[rows[n]], gates_t[n]
        x_i, x_f, x_g, x_o = x_n[u0:u0 + m], x_n[H + u0:H + u0 + m], x_n[2 * H + u0:2 * H + u0 + m], \
            x_n[3 * H + u0:3 * H + u0 + m]
        b_i, b_f, b_g, b_o = b[u0:u0 + m], b[H + u0:H + u0 + m], b[2 * H + u0:2 * H + u0 + m], \
            b[3 * H + u0:3 * H + u0 + m]
        r_i, r_f, r_g, r_o = a_r[:m], a_r[UNITS:UNITS + m], a_r[2 * UNITS:2 * UNITS + m], \
            a_r[3 * UNITS:3 * UNITS + m]
        z_r = ax[r]                                           # (TILE,)
        z_i, z_f, z_g, z_o = z_r[:m], z_r[UNITS:UNITS + m], z_r[2 * UNITS:2 * UNITS + m], \
            z_r[3 * UNITS:3 * UNITS + m]
        g_i, g_f, g_g, g_o = g_n[u0:u0 + m], g_n[H + u0:H + u0 + m], g_n[2 * H + u0:2 * H + u0 + m], \
            g_n[3 * H + u0:3 * H + u0 + m]
        cp, co, ho = c_prev[n, u0:u0 + m], c_t[n, u0:u0 + m], h_t[n, u0:u0 + m]
        for j in range(m):
            g_i[j], g_f[j], g_g[j], g_o[j], co[j], ho[j] = lstm_cell(            # (1)-(5)
                (x_i[j] + z_i[j]) + b_i[j] + r_i[j], (x_f[j] + z_f[j]) + b_f[j] + r_f[j],
                (x_g[j] + z_g[j]) + b_g[j] + r_g[j], (x_o[j] + z_o[j]) + b_o[j] + r_o[j], cp[j])


@njit(**KERNEL, parallel=True)
def lstm_backward_step_h(dh_t, dh_next, dc_next, gates_t, c_t, c_prev, WTp, da_t, dh_prev):
    """``lstm_backward_step`` followed by (1)'s product into h_{t-1}: dh_prev = da_t Wh^T.

    WTp (P, 4H, TILE): Wh^T in panels (``panels(Wh.T)``); dh_prev (N, H) is written, distinct from
    dh_next. Two parallel loops: the gate math by stream, then the product by tiles of 4 streams x
    TILE units of h_{t-1}.
    """
    N, H = dh_t.shape
    for n in prange(N):                                       # (5)-(2): da_t, dc_next in place
        _backward_units(dh_t[n], dh_next[n], dc_next[n], gates_t[n], c_t[n], c_prev[n], da_t[n], H)
    nb = (N + 3) // 4
    for q in prange(WTp.shape[0] * nb):                       # (1) dL/dh_{t-1} = da_t Wh^T
        p, n0 = q // nb, (q % nb) * 4
        acc = carray(tile_array(da_t), (4, TILE))             # (4, TILE)
        _tile_product(da_t, n0, min(4, N - n0), WTp[p], acc)
        k0 = p * TILE
        for r in range(min(4, N - n0)):
            out = dh_prev[n0 + r]
            for j in range(min(TILE, H - k0)):
                out[k0 + j] = acc[r, j]


# ---- the time loops, so that no step returns to Python --------------------------------------------
@njit(**KERNEL)
def lstm_forward_loop(hbuf, Wp, xw, rows, b, c0, gates, c):
    """``lstm_step`` for t = 0 .. T-1 (T = rows.shape[0]): h_{t-1} from hbuf[t], h_t into hbuf[t+1];
    the gates into gates[t % len(gates)], c_t into c[t % len(c)], c_{-1} = c0. With len(gates) = T
    and len(c) = T every step is kept (training); with 1 and 2, scratch blocks taking turns
    (evaluation)."""
    Tg, Tc = gates.shape[0], c.shape[0]
    for t in range(rows.shape[0]):
        c_prev = c0 if t == 0 else c[(t - 1) % Tc]           # (N, H)
        lstm_step(hbuf[t], Wp, xw, rows[t], b, c_prev, gates[t % Tg], c[t % Tc], hbuf[t + 1])


@njit(**KERNEL)
def lstm_backward_loop(dh_tm, gates, c, c0, WTp, da, dh_next, dc_next, dh_prev, ids, dWx):
    """``lstm_backward_step_h`` for t = T-1 .. 0 on time-major blocks (T, N, .): writes da (T, N, 4H);
    dc_next (dL/dc_T in) ends as dL/dc0, and the returned (N, H) block (dh_next or dh_prev, which
    take turns; dh_next holds zeros on entry) is dL/dh0. With one-hot input (ids (T, N) in [0, D), checked
    by the caller; an empty (0, N) array otherwise) it also adds da_t to dWx's rows ids_t, while
    da_t is in cache."""
    for t in range(dh_tm.shape[0] - 1, -1, -1):
        c_prev = c0 if t == 0 else c[t - 1]                  # (N, H)
        lstm_backward_step_h(dh_tm[t], dh_next, dc_next, gates[t], c[t], c_prev, WTp, da[t], dh_prev)
        if ids.shape[0]:                                     # (1) with ids: dWx[ids_t] += da_t
            scatter_add_rows(dWx, ids[t], da[t])
        dh_next, dh_prev = dh_prev, dh_next                  # dL/dh_{t-1} is step t-1's dh_next
    return dh_next


# ---- a stack of LSTM layers at evaluation time, as a wavefront ------------------------------------
@njit(**KERNEL, parallel=True)
def lstm_wave(s, x0, h, c, c0, Wp0, xw0, rows0, b0, Wpu, bu, xwu, rowsu, gates):
    """Wave s of a stack at evaluation time: layer l runs its step t = s - l, for every l with
    0 <= t < T, all in one parallel loop over their tiles (layer l's step t needs layer l-1's
    step t, of wave s - 1).

    x0 (T, N, D) layer 0's dense input (D = 0 for ids); h (L, T+1, N, H): h[l, t+1] = layer l's h_t,
    h[l, 0] its initial h; c (L, 2, N, H): c_t in slot t % 2; c0 (L, N, H) the initial c;
    gates (L, N, 4H) scratch. Layer 0: gate panels Wp0 of Wx stacked on Wh (of Wh alone for ids),
    the table xw0 (Wx for ids, a zero row otherwise) at rows0[t], b0. Layers l >= 1: Wpu[l-1] gate
    panels of [Wx; Wh] over [layer l-1's h_t, h_{t-1}], bu[l-1], xwu a zero row, rowsu zeros (N,).
    Each tile sums x_t Wx and h_{t-1} Wh apart and adds them as lstm.py's forward does,
    ((x_t Wx + b) + h_{t-1} Wh), every sum in the same order: the same numbers, bit for bit.
    """
    L, T = h.shape[0], h.shape[1] - 1
    N, H = h.shape[2], h.shape[3]
    P, nb = Wp0.shape[0], (N + 3) // 4
    l_lo, l_hi = max(0, s - T + 1), min(L - 1, s)
    nl = l_hi - l_lo + 1                                      # layers in this wave
    for q in prange(nl * P * nb):
        # panel by panel, each layer's tiles of the panel one after another (the panel stays in
        # cache), so that each thread's share of panels holds as many tiles of each layer
        p, l, n0 = q // (nl * nb), l_lo + (q // nb) % nl, (q % nb) * 4
        t = s - l
        nrows = min(4, N - n0)
        ax = carray(tile_array(c0), (4, TILE))                # (4, TILE) x_t Wx of the tile
        acc = carray(tile_array(c0), (4, TILE))               # (4, TILE) h_{t-1} Wh of the tile
        if l == 0:
            inp, panel, xw, rows, b = x0[t], Wp0[p], xw0, rows0[t], b0
        else:                                                 # input: layer l-1's h_t
            inp, panel, xw, rows, b = h[l - 1, t + 1], Wpu[l - 1, p], xwu, rowsu, bu[l - 1]
        _tile_product(inp, n0, nrows, panel, ax)              # rows 0 .. K_x - 1 of the panel
        for r in range(4):
            for j in range(TILE):
                acc[r, j] = 0
        _tile_add(h[l, t], n0, nrows, panel, inp.shape[1], acc)  # rows K_x .. of the panel
        c_prev = c0[l] if t == 0 else c[l, (t - 1) % 2]
        _tile_gates(acc, n0, nrows, p * UNITS, xw, rows, b, c_prev, gates[l], c[l, t % 2], h[l, t + 1], ax)


@njit(**KERNEL)
def lstm_stack_infer(x0, h, c, c0, Wp0, xw0, rows0, b0, Wpu, bu, xwu, rowsu, gates):
    """``lstm_wave`` for s = 0 .. T + L - 2: every layer's every step."""
    for s in range(h.shape[1] - 1 + h.shape[0] - 1):
        lstm_wave(s, x0, h, c, c0, Wp0, xw0, rows0, b0, Wpu, bu, xwu, rowsu, gates)
