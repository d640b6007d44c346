"""Numba kernels for skip-gram with negative sampling (SGNS): CPU code on raw NumPy arrays.

Only the hot loops live here. ``minirnn.word2vec`` owns everything else: validation, subsampling and
window sizes (drawn with NumPy before a block reaches the kernel), seeds, the learning-rate schedule,
the epoch loop and printing. Its ``sgns_pair_reference`` / ``sgns_block_reference`` are the readable
NumPy twins of the two kernels below, and a test checks that both give the same numbers.

Dimension legend: V vocabulary size, D vector size, n tokens in a block, C chunks in a block,
K negatives per pair, S size of the noise table.

Arrays:
    syn0       (V, D) float32   input vectors, the word vectors we keep ("W_in")
    syn1neg    (V, D) float32   output vectors, used only for training ("W_out")
    neg_table  (S,)   int32     word ids, word w appearing in proportion to count(w)^0.75
    ids        (n,)   int32     subsampled word ids of a block; -1 ends a sentence
    win        (n,)   int32     the (randomly shrunk) window of each position, in 1..window
    bounds     (C+1,) int64     chunk c is ids[bounds[c]:bounds[c+1]], cut at sentence ends
    seeds      (C,)   uint64    random state of each chunk (for the negatives)
    alpha      (2,)   float32   learning rate at the start and at the end of the block
    out        (C, 2) float64   per chunk: summed loss, number of (center, context) pairs

The equations (1)-(5) of skip-gram with negative sampling, for one (center word o, context word c)
pair with u = syn0[c] and v_t = syn1neg[t], are written in ``minirnn.word2vec``'s docstring, beside
its readable reference ``sgns_pair_reference``; the numbers in the comments below are theirs.
docs/word2vec.md derives them.

The kernels use NumPy's error model (a division by zero gives inf/nan, never an exception from
inside a thread): a run that blows up shows as a non-finite or huge loss, which ``minirnn.word2vec``
checks after every block.

Chunks run in parallel threads with no locks (Hogwild): two threads may update the same row at once,
and the rare lost update does not hurt SGD. Random numbers for negatives come from word2vec.c's linear
congruential generator, ``r = r * 25214903917 + 11 (mod 2^64)``, and index the table with ``r >> 16``.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

LCG_MUL = np.uint64(25214903917)
LCG_ADD = np.uint64(11)
LCG_SHIFT = np.uint64(16)


# llvm.prefetch's name carries its pointer type: "p0i8" for the i8* that llvmlite writes (LLVM 15 and
# later read it as an opaque pointer and the name as "p0"; tests/test_word2vec.py compiles the kernel)
_PREFETCH = "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, arr, i, j):
    """prefetch(arr, i, j): a hint that arr[i, j] (2-D array) will be read soon, so that the CPU
    starts bringing its cache line in now (LLVM's llvm.prefetch: read, keep in all cache levels).
    Changes nothing else; an index outside the array is harmless (a prefetch never faults)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2
            and isinstance(i, types.Integer) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:])]
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aryty.layout, index)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _PREFETCH)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, high locality, data
        return context.get_dummy_value()
    return types.void(arr, i, j), codegen


@njit(cache=True, inline="always")
def prefetch_row(arr, i):
    """Ask for every cache line of row i of a 2-D float32 array (16 floats a line): a row of
    D = 100 spans 7 or 8 lines, and a prefetch brings in only the line it names."""
    D = arr.shape[1]
    for k in range(0, D, 16):
        prefetch(arr, i, k)
    prefetch(arr, i, D - 1)


@njit(cache=True, fastmath=True, error_model="numpy")
def sgns_pair(syn0, syn1neg, neg_table, context, center, negative, alpha, rnd, neu1e):
    """Equations (1)-(5) of ``minirnn.word2vec`` for one (center, context) pair; returns (loss L, new random state).

    ``neu1e`` (D,) float32 is scratch space for the sum in (4), passed in so that nothing is allocated here.
    """
    D = syn0.shape[1]
    n_table = np.uint64(neg_table.shape[0])
    for k in range(D):
        neu1e[k] = 0.0
    # Ask for the output rows of the next pair's K negatives now: the draws that follow this pair's
    # K, which the next pair will make. The rows are random, mostly outside the caches once the
    # vocabulary is large; asked for a pair ahead, each has a whole pair's work to arrive, and their
    # misses overlap instead of coming one after another. (This pair's own rows were asked for by
    # the pair before it, or by sgns_block for a chunk's first pair.) Changes no number
    # (docs/studies.md, word2vec; docs/scale.md).
    r = rnd
    for d in range(negative):  # past this pair's draws
        r = r * LCG_MUL + LCG_ADD
    for d in range(negative):  # the next pair's
        r = r * LCG_MUL + LCG_ADD
        prefetch_row(syn1neg, neg_table[(r >> LCG_SHIFT) % n_table])
    loss = 0.0
    prod = 1.0  # Π (1 + e^-|z|) over the pair's terms: (1) with one log per pair instead of K + 1
    for d in range(negative + 1):
        if d == 0:
            target = center  # the positive: label 1
            sign = np.float32(1.0)
        else:
            rnd = rnd * LCG_MUL + LCG_ADD
            target = neg_table[(rnd >> LCG_SHIFT) % n_table]  # a negative: label 0
            if target == center:
                continue
            sign = np.float32(-1.0)
        f = np.float32(0.0)
        for k in range(D):
            f += syn0[context, k] * syn1neg[target, k]  # u·v_t
        # (1) and (5) with z = ±u·v_t: -log σ(z) and 1 - σ(z), computed without overflow;
        # -log σ(z) = max(-z, 0) + log(1 + e^-|z|), whose logs are summed as one log of the product
        z = sign * f
        if z >= 0:
            e = math.exp(-z)
            prod *= 1.0 + np.float64(e)
            one_minus_sig = e / (np.float32(1.0) + e)
        else:
            e = math.exp(z)
            prod *= 1.0 + np.float64(e)
            loss -= z
            one_minus_sig = np.float32(1.0) / (np.float32(1.0) + e)
        if prod > 1e300:  # each factor is at most 2: only with more than ~1,000 negatives
            loss += math.log(prod)
            prod = 1.0
        # (2) label - σ(u·v_t) is +(1 - σ(z)) for the positive, -(1 - σ(z)) for a negative
        g = np.float32(sign * one_minus_sig * alpha)
        for k in range(D):
            neu1e[k] += g * syn1neg[target, k]  # (4) sums the old v_t
            syn1neg[target, k] += g * syn0[context, k]  # (3)
    for k in range(D):
        syn0[context, k] += neu1e[k]  # (4)
    return loss + math.log(prod), rnd


@njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def sgns_block(ids, win, bounds, seeds, syn0, syn1neg, neg_table, negative, alpha, out):
    """Train on every (center, context) pair of a block, one thread per chunk (Hogwild).

    For each position i with word ids[i] and window b = win[i], the contexts are the positions
    i-b..i+b of the same sentence, left to right, i itself left out. The learning rate falls linearly
    from alpha[0] at the start of each chunk to alpha[1] at its end (chunks run side by side).
    Writes out[c] = (summed loss, pair count) for each chunk c.
    """
    n_chunks = bounds.shape[0] - 1
    D = syn0.shape[1]
    for c in prange(n_chunks):
        lo = bounds[c]
        hi = bounds[c + 1]
        span = max(hi - lo, 1)
        rnd = seeds[c]
        neu1e = np.empty(D, dtype=np.float32)  # (D,) scratch, one per chunk
        r = rnd
        for d in range(negative):  # the first pair's negatives (sgns_pair asks for the next pair's)
            r = r * LCG_MUL + LCG_ADD
            prefetch_row(syn1neg, neg_table[(r >> LCG_SHIFT) % np.uint64(neg_table.shape[0])])
        loss = 0.0
        pairs = 0
        start = lo  # first position of the current sentence
        for i in range(lo, hi):
            center = ids[i]
            if center < 0:  # sentence end
                start = i + 1
                continue
            a = np.float32(alpha[0] + (alpha[1] - alpha[0]) * ((i - lo) / span))
            b = win[i]
            if i + 1 < hi:  # the next position's rows, asked for a position ahead: its center's
                nxt = ids[i + 1]  # output row and the input row of the context entering its window
                if nxt >= 0:
                    prefetch_row(syn1neg, nxt)
                    far = ids[min(hi - 1, i + 1 + win[i + 1])]
                    if far >= 0:
                        prefetch_row(syn0, far)
            for j in range(max(start, i - b), min(hi, i + b + 1)):
                if j == i:
                    continue
                context = ids[j]
                if context < 0:  # the sentence ended on the right
                    break
                pair_loss, rnd = sgns_pair(syn0, syn1neg, neg_table, context, center, negative, a, rnd, neu1e)
                loss += pair_loss
                pairs += 1
        out[c, 0] = loss
        out[c, 1] = pairs
