"""What an exercise file says in place of the book's answers: the method (which replaces the book's
"Backward" paragraph in the file's docstring) and the TODO lines of each function to write.

Each method gives the chain rule through each node of the forward, the shapes, what accumulates
(over rows, over time), and at most one or two worked lines; never the rest of the backward. The
exercise pages (docs/exercises/) say the same at more length, with cells to run.
tests/test_answer_lines.py holds every file made from these to two answer lines at most.
"""

_CHAIN = ("go through the forward in reverse, one node at a time: the gradient of a node's output\n"
          "    times the node's local derivative gives the gradient of each of its inputs, and a\n"
          "    quantity that feeds several nodes gets the sum of what each of them sends back.")

_LINEAR_RULE = ("A product P = A B (A (n, k), B (k, m)) sends back to A the gradient of P times B\n"
                "    transposed, and to B A transposed times it: check by the shapes, each gradient has the\n"
                "    shape of what it differentiates, and only one order of the operands gives it.")

METHOD = {}
HINTS = {}

METHOD["linear"] = f"""Backward: yours to derive. dy (..., M) is dL/dy; return (dx, dW, db), each the shape of x, W, b.
    Method: {_CHAIN}
    Write (1) for one row r: y_r = x_r W + b. W[d, m] multiplies x_r[d] in y_r[m] of every row;
    b[m] is added to y_r[m] of every row; x_r[d] reaches every y_r[m] of its own row.
    {_LINEAR_RULE}
    Every leading axis of x is a row: work on x.reshape(-1, D) and dy.reshape(-1, M)."""
HINTS["linear"] = {"backward": [
    "differentiate (1): dx, dW, db, with the shapes of x, W and b",
    "b is added to every row: what does each row send back to it?"]}

METHOD["softmax_ce"] = """Backward: yours to derive: dz, the gradient of dloss * loss by the logits (their shape).
    Method: for one token the loss is lse(z) - z_y (3). Differentiate each term by every z_v:
    work out the derivative of lse from (1) by the chain rule through exp and log (it is one of
    the quantities forward cached), and z_y depends on z_y alone. The loss (3) is a mean over
    M = N*T tokens: each token's share carries that 1/M, and the whole is scaled by dloss."""
HINTS["softmax_ce"] = {"backward": [
    "every token at once: p (M, V) is the softmax forward cached, y (M,) the targets;",
    "return an array of the logits' shape"]}

METHOD["masked_softmax_ce"] = """Backward: yours to derive: dz (N, T, V), the gradient of dloss * loss by the logits.
    Method: one token's term of (3) is softmax_ce's (docs/softmax_ce.md; the softmax_ce exercise),
    multiplied by its mask and divided by K. So a token whose mask is 0 sends back nothing, and
    one whose mask is 1 sends back softmax_ce's gradient of that token with 1/K in place of 1/M."""
HINTS["masked_softmax_ce"] = {"backward": [
    "p (M, V), y (M,), m (M,) the mask as numbers, K the tokens that count;",
    "return an array of the logits' shape, zero on every row whose mask is 0"]}

METHOD["embedding"] = """Backward: yours to derive. dout (N, T, D) is dL/dout; return dW (V, D).
    Method: (1) copies row ids[n, t] of W to position (n, t) of out. Ask, for each row v of W,
    which positions of out it reaches, and add up what each of them sends back. A batch may look
    up the same row many times, in one step or in many: make sure every one of them counts."""
HINTS["embedding"] = {"backward": [
    "row v of dW collects dout at every position where ids == v; rows never looked up stay 0;",
    "test it on ids that repeat (the check does)"]}

HINTS["dropout"] = {
    "forward": ["(1)-(2): draw u with rng.random(x.shape, dtype=x.dtype) (the check gives you an rng",
                "that draws the book's u); return (x, None) when p <= 0, else (y, mask)"],
    "backward": ["y = x * mask with the mask fixed by forward; mask None means nothing was dropped"]}

_STEP_SHAPES = ("each the shape of what it differentiates (dx_t None for ids: x_t (N,) holds row\n"
                "    numbers of Wx, and x_t Wx is a row lookup, the embedding exercise's)")

METHOD["rnn_step"] = f"""Backward of one step: yours to derive, back through (2), then (1).
    dh_t (N, H) is all of dL/dh_t (the layer above's and step t+1's); return
    (dx_t, dh_prev, dWx, dWh, db),
    {_STEP_SHAPES}.
    Method: {_CHAIN}
    (2) first: tanh is applied entry by entry, so its local derivative is entry by entry too,
    tanh'(a) = 1 - tanh(a)^2, cheapest from h_t itself. The worked line:
        da = dh_t * (1 - h_t * h_t)          (N, H)  dL/da_t
    Then (1) is a sum of three terms; each receives all of da.
    {_LINEAR_RULE}
    b is added to every row n. These are this step's shares: the sequence adds them up over t."""
HINTS["rnn_step"] = {
    "step_forward": ["(1) and (2) for one step: x_t Wx is Wx[x_t] when x_t holds ids (x_t.ndim == 1);",
                     "end with  return h_t, (x_t, h_prev, Wx, Wh, h_t)  (the cache step_backward unpacks)"],
    "step_backward": ["go back through (2), then (1): dx_t (None for ids), dh_prev, dWx, dWh, db;",
                      "with ids, row x_t[n] of dWx collects row n of the gradient (ids may repeat)"]}

METHOD["lstm_step"] = f"""Backward of one step: yours to derive, back through (5) down to (1).
    dh_t (N, H) is all of dL/dh_t (the layer above's and step t+1's); dc_t (N, H) is what reaches
    c_t from step t+1 (through its (4)). Return (dx_t, dh_prev, dc_prev, dWx, dWh, db),
    {_STEP_SHAPES}.
    Method: {_CHAIN}
    Derivatives: σ'(a) = σ(a) (1 - σ(a)) and tanh'(a) = 1 - tanh(a)^2, both cheapest from the
    activated gates forward cached. Take (5) first; its output-gate part is the worked line:
        do = dh_t * tanh(c_t)                (N, H)  dL/do_t
    c_t is used twice, by (5) here and by step t+1's (4) (that is dc_t): its gradient is both.
    Then (4), then (2)-(3) gate by gate. The four gate gradients, side by side in the order
    i, f, g, o (gate_slices), make da (N, 4H), and (1) is the RNN's (1) with 4H columns. The
    parameter gradients are this step's shares: the sequence adds them up over t."""
HINTS["lstm_step"] = {
    "step_forward": ["(1)-(5) for one step: x_t Wx is Wx[x_t] when x_t holds ids (x_t.ndim == 1);",
                     "gates (N, 4H) holds i, f, g, o after (2)-(3), in gate_slices' order;",
                     "end with  return h_t, c_t, (x_t, h_prev, c_prev, Wx, Wh, gates, c_t)"],
    "step_backward": ["(5), (4), then (2)-(3) gate by gate, then (1): dx_t (None for ids), dh_prev,",
                      "dc_prev, dWx, dWh, db; with ids, row x_t[n] of dWx collects row n (ids may repeat)"]}

METHOD["gru_step"] = f"""Backward of one step: yours to derive, back through (7) down to (1).
    dh_t (N, H) is all of dL/dh_t (the layer above's and step t+1's); return
    (dx_t, dh_prev, dWx, dWh, db),
    {_STEP_SHAPES}.
    Method: {_CHAIN}
    Derivatives: σ'(a) = σ(a) (1 - σ(a)) and tanh'(a) = 1 - tanh(a)^2, from the cached gates.
    Take (7) first; its update-gate part is the worked line:
        dz = dh_t * (h_prev - n)             (N, H)  dL/dz_t
    h_{{t-1}} reaches h_t twice: directly in (7), and through (2) inside r, z and n: dh_prev is
    the sum of both. In (6) the reset gate multiplies hn = ah_n + b_hn, so b_hn and the n block
    of ah sit inside it, and b_in outside. Gather the input-side gradients in the order r, z, n
    (dax, (N, 3H)) and the hidden-side ones likewise (dah); db is (4H,): b_r, b_z, b_in, b_hn.
    The parameter gradients are this step's shares: the sequence adds them up over t."""
HINTS["gru_step"] = {
    "step_forward": ["(1)-(7) for one step: x_t Wx is Wx[x_t] when x_t holds ids (x_t.ndim == 1);",
                     "gates (N, 4H): r, z, n in gate_slices(H)'s R, Z, Nn (the first 3H columns), then",
                     "hn in the last H, gates[:, 3 * H:];",
                     "end with  return h_t, (x_t, h_prev, Wx, Wh, gates)"],
    "step_backward": ["(7) down to (1): dx_t (None for ids), dh_prev, dWx, dWh, db (4H,);",
                      "with ids, row x_t[n] of dWx collects row n (ids may repeat)"]}

_SEQUENCE = """Backward through time: yours to build on your step_backward (the {cell}_step exercise,
    ``step`` below: the file {cell}_step.py beside this one). Nothing new to differentiate: the
    work is to account for the unrolled forward. What must be true:
    - unrolled, forward is T copies of your step, t = 0 .. T-1. Step t's {outs} {are} of
      step t+1; h_t is also the layer's output at t, and dh[:, t] is its gradient from above.
    - step_backward wants all of dL/dh_t{wants_c}. It returns the gradients of step t's
      inputs, x_t, h_{{t-1}}{c_prev}, and step t's share of the weights' gradients.
    - step 0's {first} the layer's input{s} {inputs}.{last}
    - Wx, Wh and b are one set of weights, used by every step.
    From these, work out the order of the calls (what must be known before step t's), what one
    call hands to the next and what the first call gets in its place, what becomes of the
    steps' shares, and what is left when the loop ends."""


def _sequence_method(cell):
    lstm = cell == "lstm"
    return _SEQUENCE.format(
        cell=cell, outs="h_t and c_t" if lstm else "h_t", are="are inputs" if lstm else "is an input",
        wants_c=(",\n      and in dc_t what reaches c_t from outside step t" if lstm else ""),
        c_prev=", c_{t-1}" if lstm else "",
        first="h_{-1} and c_{-1} are" if lstm else "h_{-1} is", s="s" if lstm else "",
        inputs="h0 and c0" if lstm else "h0",
        last=("\n      The last step's c_{T-1} is the layer's output cT, and dcT its gradient (None: nothing used it)."
              if lstm else ""))


for _cell in ("rnn", "lstm", "gru"):
    METHOD[_cell] = _sequence_method(_cell)


def _sequence_hints(cell):
    state = "h0, c0" if cell == "lstm" else "h0"
    fwd = "h_t, c_t, cache_t = step.step_forward(...)" if cell == "lstm" else "h_t, cache_t = step.step_forward(...)"
    ret = "h, c_T, cache" if cell == "lstm" else "h, cache"
    return {
        "forward": [f"{state} None means zeros (N, H); for t in range(T): {fwd}",
                    "with x[:, t] (a row of ids, or (N, D)); keep h_t in h (N, T, H), Wx's dtype, and every cache_t;",
                    f"return {ret}, where cache is whatever your backward needs (a list of the cache_t, x's kind)"],
        "backward": ["cache is what your forward returned; call step.step_backward once per step, in the",
                     "order the Method leads you to; leave dh" + (" and dcT" if cell == "lstm" else "") +
                     " as they are (they are the caller's);",
                     "dx (N, T, D), or None for ids (x.ndim == 2), or when need_dx is False"]}


for _cell in ("rnn", "lstm", "gru"):
    HINTS[_cell] = _sequence_hints(_cell)


def sequence_preamble(cell):
    return (f"from minirnn.exercises.learner import beside\n\n"
            f"step = beside(__file__, \"{cell}_step.py\")   # your {cell}_step exercise: step.step_forward, "
            f"step.step_backward")


METHOD["stack"] = """Backward: yours. dh (N, T, H) is dL/d(top layer's output); return (dx, dstate, dparams).
    Method: forward ran the layers bottom-up, each layer's output (after dropout) the next one's
    input; backward runs them top-down. Each layer's backward turns the gradient of its output
    into the gradients of its input, its initial state and its parameters; the gradient of layer
    l's input is the gradient of layer l-1's output, once it has gone back through the dropout
    between them (dropout.backward with the mask forward drew, cached per layer). The final
    states get no gradient (truncated BPTT stops at the window's end)."""
HINTS["stack"] = {"backward": [
    "for l in reversed(range(L)): layer.backward (lstm: dx, dh0, dc0, dWx, dWh, db; rnn, gru: no dc0)",
    "with need_dx=need_dx or l > 0; dstate[l] = (dh0, dc0) or (dh0,); dparams[l] = (dWx, dWh, db);",
    "below layer l > 0, the gradient goes back through dropout with that layer's mask"]}

HINTS["sgns_window"] = {"sgns_block_reference": [
    "each chunk c (bounds[c] .. bounds[c+1]) starts its random state at seeds[c]; a negative id ends a",
    "sentence; alpha falls linearly from alpha[0] to alpha[1] over the chunk's positions (as np.float32);",
    "center i, contexts j within win[i] positions, j != i, in the same sentence and chunk, j in order;",
    "each pair: loss, rnd = sgns_pair_reference(syn0, syn1neg, neg_table, ids[j], ids[i], negative, a, rnd);",
    "out[c] adds (loss, 1) per pair"]}

HINTS["spherical"] = {"_update_centers": [
    "(5): each centre the mean of its cluster's rows (sums / counts), float64;",
    "spherical: then scaled to unit length; a centre whose cluster is empty (or, spherical, whose",
    "mean is 0) keeps its old centre; return the (K, D) centres in X's dtype, contiguous"]}


# ---- the book's text fitted to a step, and to a sequence built on the learner's step -------------

_TITLE = {"rnn": "Vanilla RNN (tanh) over a whole sequence", "lstm": "LSTM over a whole sequence",
          "gru": "GRU over a whole sequence"}
_STATES = {"rnn": ("h_prev", "h_{t-1}", "h0"), "lstm": ("h_prev, c_prev", "h_{t-1} and c_{t-1}", "h0, c0"),
           "gru": ("h_prev", "h_{t-1}", "h0")}
_WIDTH = {"rnn": ("H", "H"), "lstm": ("4H", "4H"), "gru": ("3H", "4H")}
_PRECOMPUTE = "x_t Wx + b does not depend on the recurrence, so it is computed for every step before the loop.\n"
_OUT = {"rnn": "h_t", "lstm": "h_t, c_t", "gru": "h_t"}


def _step_shapes(cell):
    prev, names, first = _STATES[cell]
    w, wb = _WIDTH[cell]
    return f"""Shapes, for one step t
    N batch, D input size, H hidden size
    x_t             (N, D)   this step's input; or (N,) integer ids, each standing for a one-hot
                             row of size D: x_t Wx is then row x_t[n] of Wx for row n, and dx_t None
    {prev:<15} (N, H)   {names}, the previous step's output ({first} at t = 0)
    Wx, Wh, b       (D, {w}), (H, {w}), ({wb},): the weights, the same at every step
    {_OUT[cell]:<15} (N, H)   this step's output"""


def step_doc(cell):
    """(swap, edits) that make the book's module text describe one step (source.exercise_source)."""
    swap = {_TITLE[cell]: f"One step of the {cell.upper()}: forward and backward for a single time step t "
                          f"(the {cell} exercise\nthen runs it over a sequence).",
            "Shapes": _step_shapes(cell)}
    edits = [(_PRECOMPUTE, "")] if cell != "gru" else []
    edits.append(("everything that reaches h_t (dh[:, t] + dh_next in\n    ``backward``)",
                  "everything that reaches h_t (from the layer\n    above and from step t+1)"))
    if cell == "lstm":
        edits.append(("what reaches c_t from step t+1 (dc_next; zeros or dcT at the last\n    step)",
                      "what reaches c_t from step t+1 (through\n    its (4))"))
    if cell == "rnn":
        edits.append(("``forward`` (which does x_t Wx for every t at once)", "``forward``"))
    return swap, edits


def sequence_doc(cell):
    """(swap, edits) for the sequence exercise: no word of the book's loop, which the learner's
    forward does not have, and no backward equation number, which the file does not show."""
    edits = [(_PRECOMPUTE, "")] if cell != "gru" else []
    first = {"rnn": "Backprop through time, equations (3)-(7).", "lstm": "Backprop through time, equations (6)-(15).",
             "gru": None}[cell]
    if first:
        edits.append((first, "Backprop through time, on your step_backward."))
    return {}, edits


# ---- the names a file imports from minirnn: one line each (the signature is read off the object) -----

HELPERS = {
    "array_module": "numpy, or cupy when one of the arrays is a CuPy array: the xp your lines call",
    "scatter_add": "in place, a[indices[k]] += values[k] for every k, a repeated index adding all its rows "
                   "(np.add.at on NumPy); returns None",
    "beside": "the module in the file ``filename`` beside the file ``here`` (your step, beside this "
              "file), imported once",
    "embedding": "the book's embedding (layers/embedding.py): forward(ids, W) -> (W[ids], cache), a row lookup",
    "log_sum_exp": "softmax_ce's (1) for every row of z (M, V), shifted by the row's max m so that no exp "
                   "overflows; returns (lse(z) - m, s = z - m, exp(s))",
    "dropout_layer": "the book's dropout (layers/dropout.py): forward(x, p, rng) -> (y, mask); backward(dy, mask) "
                     "returns the gradient of x",
    "rnn": "the book's RNN (layers/rnn.py): forward(x, h0, Wx, Wh, b) -> (h, cache); backward(dh, cache, need_dx) "
           "-> (dx, dh0, dWx, dWh, db)",
    "lstm": "the book's LSTM (layers/lstm.py): forward(x, h0, c0, Wx, Wh, b) -> (h, cT, cache); "
            "backward(dh, cache, dcT, need_dx) -> (dx, dh0, dc0, dWx, dWh, db)",
    "gru": "the book's GRU (layers/gru.py): forward(x, h0, Wx, Wh, b) -> (h, cache); backward(dh, cache, need_dx) "
           "-> (dx, dh0, dWx, dWh, db)",
    "CELLS": "{'rnn': rnn, 'lstm': lstm, 'gru': gru}: the cell's module by name",
    "to_device": "the array on the selected backend (no copy when it is there already, in that dtype)",
    "to_numpy": "a NumPy copy of a device array; NumPy arrays and scalars pass through",
    "Optimizer": "the base class: keeps params, lr, lr_factors, the step count t (1 at the first step) and "
                 "self.state; its step(grads) calls self._update(name, p, g) for each parameter at that "
                 "parameter's rate",
    "_MASK64": "2**64 - 1: `& _MASK64` keeps a product to 64 bits, as word2vec.c's unsigned long long",
    "neg_log_sigmoid": "(5): (-log σ(z), 1 - σ(z)) for a float z, without overflow",
    "sgns_pair_reference": "one skip-gram pair, the sgns_pair exercise: updates syn0 and syn1neg in place and "
                           "returns (loss, rnd)",
    "backend": "the array backend: backend.array_module(X) is the xp of X (numpy or cupy)",
    "XP_BLOCK_ELEMENTS": "how many distances (B rows x K centres) one block of the array-code assignment "
                         "holds: it bounds the memory",
    "_relocate_empty": "(6): each empty cluster takes the point farthest from its centre in a cluster of two "
                       "or more; returns (sums, counts, labels, min_d) updated, as host arrays",
}

# the same names, where a book module means something of its own by them
HELPERS_OF = {
    "minirnn.layers.lstm": {
        "gate_slices": "(I, F, G, O): the slices of the 4H gate axis (of a_t, gates, Wx's and Wh's columns, "
                       "b), in the order i, f, g, o",
        "sigmoid": "σ(a) = 1 / (1 + e^-a), entry by entry, for an array a of the module xp (numpy or cupy): "
                   "pass your xp"},
    "minirnn.layers.gru": {
        "gate_slices": "(R, Z, Nn): the slices of the 3H axis (of Wx's and Wh's columns, ax, ah), in the order "
                       "r, z, n; gates (N, 4H) keeps hn after them, in gates[:, 3 * H:]",
        "sigmoid": "σ(a) = 1 / (1 + e^-a), entry by entry, for an array a of the module xp (numpy or cupy): "
                   "pass your xp"},
}


def helpers(module):
    """The helper lines for a file made from the book module ``module``."""
    return {**HELPERS, **HELPERS_OF.get(module, {})}
