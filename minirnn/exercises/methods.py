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

METHOD["softmax_ce"] = """Backward: yours to derive, as equation (4): dz, the shape of the logits, times dloss.
    Method: for one token the loss is lse(z) - z_y (3). Differentiate each term by every z_v:
    work out the derivative of lse from (1) by the chain rule through exp and log (it is one of
    the quantities forward cached), and z_y depends on z_y alone. The loss (3) is a mean over
    M = N*T tokens: each token's share carries that 1/M, and the whole is scaled by dloss."""
HINTS["softmax_ce"] = {"backward": [
    "(4) for every token at once: p (M, V) is the softmax forward cached, y (M,) the targets;",
    "return an array of the logits' shape"]}

METHOD["masked_softmax_ce"] = """Backward: yours to derive, as equation (4): dz (N, T, V) times dloss.
    Method: one token's term of (3) is softmax_ce's (docs/softmax_ce.md; the softmax_ce exercise),
    multiplied by its mask and divided by K. So a token whose mask is 0 sends back nothing, and
    one whose mask is 1 sends back softmax_ce's gradient of that token with 1/K in place of 1/M."""
HINTS["masked_softmax_ce"] = {"backward": [
    "(4): p (M, V), y (M,), m (M,) the mask as numbers, K the tokens that count;",
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

METHOD["rnn_step"] = f"""Backward of one step: yours to derive (the book numbers it (4)-(7)).
    dh_t (N, H) is all of dL/dh_t (the layer above's and step t+1's); return
    (dx_t, dh_prev, dWx, dWh, db), {_STEP_SHAPES}.
    Method: {_CHAIN}
    (2) first: tanh is applied entry by entry, so its local derivative is entry by entry too,
    tanh'(a) = 1 - tanh(a)^2, cheapest from h_t itself. The worked line:
        da = dh_t * (1 - h_t * h_t)          (N, H)  dL/da_t
    Then (1) is a sum of three terms; each receives all of da. {_LINEAR_RULE}
    b is added to every row n. These are this step's shares: the sequence adds them up over t."""
HINTS["rnn_step"] = {
    "step_forward": ["(1) and (2) for one step: x_t Wx is Wx[x_t] when x_t holds ids (x_t.ndim == 1);",
                     "end with  return h_t, (x_t, h_prev, Wx, Wh, h_t)  (the cache step_backward unpacks)"],
    "step_backward": ["go back through (2), then (1): dx_t (None for ids), dh_prev, dWx, dWh, db;",
                      "with ids, row x_t[n] of dWx collects row n of the gradient (ids may repeat)"]}

METHOD["lstm_step"] = f"""Backward of one step: yours to derive (the book numbers it (7)-(15)).
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

METHOD["gru_step"] = f"""Backward of one step: yours to derive (the book numbers it (7) down to (1)).
    dh_t (N, H) is all of dL/dh_t (the layer above's and step t+1's); return
    (dx_t, dh_prev, dWx, dWh, db), {_STEP_SHAPES}.
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
                     "gates (N, 4H) holds r, z, n and hn side by side;",
                     "end with  return h_t, (x_t, h_prev, Wx, Wh, gates)"],
    "step_backward": ["(7) down to (1): dx_t (None for ids), dh_prev, dWx, dWh, db (4H,);",
                      "with ids, row x_t[n] of dWx collects row n (ids may repeat)"]}

_SEQUENCE = """Backward through time: yours, built on your step_backward (the {cell}_step exercise,
    ``step`` below: the file {cell}_step.py beside this one).
    Method: forward ran step_forward for t = 0 .. T-1, each step's output feeding the next; run
    step_backward for t = T-1 .. 0. h_t is used twice, by the layer above (dh[:, t]) and by step
    t+1 (the dh_prev that step t+1's step_backward returned; call it dh_next): its gradient is
    both. {extra}Wx, Wh and b are the same at every step: their gradient adds up every step's
    share. After the loop the gradient that reached h_{{-1}} is dh0{dc0}."""
_LSTM_EXTRA = ("c_t's gradient from step t+1 is the dc_prev that step returned (dcT, or\n"
               "    zeros, at t = T-1). ")

METHOD["rnn"] = _SEQUENCE.format(cell="rnn", extra="", dc0="")
METHOD["lstm"] = _SEQUENCE.format(cell="lstm", extra=_LSTM_EXTRA, dc0=", and the one that reached c_{-1} dc0")
METHOD["gru"] = _SEQUENCE.format(cell="gru", extra="", dc0="")


def _sequence_hints(cell):
    state = "h0, c0" if cell == "lstm" else "h0"
    fwd = "h_t, c_t, cache_t = step.step_forward(...)" if cell == "lstm" else "h_t, cache_t = step.step_forward(...)"
    ret = "h, c_T, cache" if cell == "lstm" else "h, cache"
    return {
        "forward": [f"{state} None means zeros (N, H); for t in range(T): {fwd}",
                    "with x[:, t] (a row of ids, or (N, D)); keep h_t in h (N, T, H), Wx's dtype, and every cache_t;",
                    f"return {ret}, where cache is whatever your backward needs (a list of the cache_t, x's kind)"],
        "backward": ["cache is what your forward returned; for t in reversed(range(T)): step.step_backward;",
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
