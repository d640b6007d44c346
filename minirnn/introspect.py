"""Looking inside a trained character model: the numbers behind scripts/inspect_char.py and
scripts/eval_char.py. Pure NumPy/xp; the drawing is in minirnn/plots.py (matplotlib, optional).

Everything here runs the model's own layers (rnn.py / lstm.py forward and backward, one layer at a
time, with the model's parameters) and reads what their caches keep: the activated gates, the cell
states and the hidden states of every step. What needs only the model's output (evaluate_ids,
sample_with_probs) runs its forward-only path instead (``RNNLM.token_nll``, ``RNNLM.predict``).

Shapes
    N streams (batch), T time steps, H hidden size, L layers, V vocabulary, F features
    ids      (N, T)   character ids
    h, c     (N, T, H) per layer: hidden and cell state after reading each character
    gates    (N, T, 4H) per LSTM layer: activated i, f, g, o (lstm.py's order)
    acts     (T, L*H)  one stream's cell activations, layer after layer: tanh(c_t) for an LSTM
                       (what Karpathy, Johnson & Fei-Fei 2015 colour text by), h_t for an RNN

The quantities
    (1) bits/char = nats/char / ln 2;  perplexity = e^{nats/char}           (evaluate_ids)
    (2) r_j = corr(acts[:, j], feature) over the T steps (Pearson)          (feature_correlations)
    (3) left_j = #{t : gate_t,j < 0.1} / (N T),  right_j = #{t : gate_t,j > 0.9} / (N T)
        for every unit j of the input, forget and output gates            (gate_saturation)
    (4) G^l(k) = E_t ‖∂L_t/∂h^l_{t-k}‖,  L_t = -log p(y_t | x_<=t)          (gradient_flow)
        defined in ``gradient_flow``'s docstring.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from . import backend
from .errors import UsageError
from .layers import lstm, softmax_ce, stack
from .chardata import read_chunks
from .textio import check_text_file

GATES = ("i", "f", "o")                   # the gates a saturation plot shows (g is a tanh, not a gate)
GATE_NAMES = {"i": "input gate", "f": "forget gate", "o": "output gate"}
# features of text_features that a cell can only track by remembering (the rest describe the
# character just read, which any cell sees in its input)
MEMORY_FEATURES = ("inside quotes", "inside parentheses", "inside dialogue", "position in line",
                   "position in word")


# ---- running the model one layer at a time, keeping what every layer computed -----------------

def _cell(model):
    cfg = model.config()
    return cfg["cell"], cfg["layers"], cfg["hidden"]


def run_layers(model, ids, state=None, keep_caches=False):
    """Run the model over ids (N, T) from ``state`` (a list over layers of (h,) or (h, c), each
    (N, H); None means zeros) with the book's own layers (layers/stack.py, no engine, no dropout:
    the model at evaluation time), keeping what every layer computed.

    Returns (logits (N, T, V), layers, new_state[, cache]): ``layers`` is a list over layers of
    dicts with 'h' (N, T, H) and, for an LSTM, 'c' (N, T, H) and 'gates' (N, T, 4H) (the activated
    i, f, g, o), read from the layers' backward caches; the stack's cache (for ``backward_layers``)
    only when keep_caches is True."""
    ids = backend.to_device(np.asarray(ids, dtype=np.int64))       # (N, T)
    # (1) of model.py: the ids themselves for a one-hot input (the layers read row ids_t of Wx)
    inp = ids if model.one_hot else model.params["embed.W"][ids]   # (N, T) or (N, T, E)
    h, new_state, cache = stack.forward(inp, state, model.layer_params(), model.cell)  # (N, T, H)
    layers = []
    for _, layer_cache in cache[-1]:                               # (mask, cache) per layer
        if model.cell == "lstm":                                   # (x, h0, c0, Wx, Wh, gates, c, h)
            layers.append({"h": layer_cache[7], "c": layer_cache[6], "gates": layer_cache[5]})
        else:                                                      # rnn/gru: h is the last entry
            layers.append({"h": layer_cache[-1]})
    new_state = [tuple(s.copy() for s in layer) for layer in new_state]  # not views of h
    logits = h @ model.params["out.W"] + model.params["out.b"]     # (N, T, V)
    if keep_caches:
        return logits, layers, new_state, cache
    return logits, layers, new_state


def _states(model, ids, chunk=1000):
    """Every layer's h (and, for an LSTM, c) at every step of one text ids (P,), from zeros: a list
    over layers of {'h': (1, P, H)[, 'c': (1, P, H)]}. The text is run ``chunk`` characters at a
    time, state carried, keeping only h and c: memory O(P L H), not the O(P L 6H) of the gates too."""
    xp = backend.array_module(model.params["out.W"])
    parts, state = [], None
    for a in range(0, len(ids), chunk):
        _, layers, state = run_layers(model, ids[None, a:a + chunk], state)
        parts.append([{k: d[k] for k in ("h", "c") if k in d} for d in layers])
    return [{k: xp.concatenate([p[l][k] for p in parts], axis=1) for k in parts[0][l]}
            for l in range(len(parts[0]))]


def backward_layers(model, dh_top, cache):
    """Backprop dh_top (N, T, H), dL/d(top layer's h), down through the stack's cache from
    ``run_layers``. Returns the initial-state gradients: a list over layers of (dh0,) or
    (dh0, dc0), each (N, H)."""
    return stack.backward(dh_top, cache, need_dx=False)[1]


def activations(model, layers, stream=0):
    """(T, L*H) the cells one colours text by, layer after layer: tanh(c) for an LSTM, h for an RNN."""
    cell = _cell(model)[0]
    per = [np.tanh(backend.to_numpy(d["c"][stream])) if cell == "lstm" else backend.to_numpy(d["h"][stream])
           for d in layers]
    return np.concatenate(per, axis=1)                              # (T, L*H)


def char_probs(logits, targets):
    """p(target) under the model (softmax at temperature 1) for every step: (N, T)."""
    nats = softmax_ce.per_token(logits, backend.to_device(np.asarray(targets, dtype=np.int64)))
    return np.exp(-backend.to_numpy(nats).astype(np.float64))


# ---- (2) cells that track simple features of the text -------------------------------------------

_OPEN_CLOSE = {"(": ")", "«": "»", "“": "”", "[": "]"}


def text_features(text: str) -> dict:
    """Simple features of each character of ``text``, as float arrays (T,); feature[t] describes the
    text read up to and including character t (what the cell at step t has seen).

    inside quotes       between a pair of ASCII quotes "..." or of « », “ ”
    inside parentheses  between ( and )
    inside dialogue     Spanish dialogue: a paragraph that opens with a dash is speech from that dash
                        on; " -" (space, dash) starts the narrator's aside ("-dijo don Quijote-")
                        and the next dash ends it; a blank line ends the paragraph
    position in line    characters since the last newline (0 at the newline)
    position in word    letters read since the last non-letter (0 outside words)
    read a space        the character is a space
    read a vowel        the character is a vowel (accents included)
    read punctuation    the character is one of . , ; : ! ? ¡ ¿
    """
    T = len(text)
    f = {k: np.zeros(T) for k in ("inside quotes", "inside parentheses", "inside dialogue",
                                  "position in line", "position in word", "read a space",
                                  "read a vowel", "read punctuation")}
    in_ascii_q = False
    open_q = 0                       # depth of « » / “ ” pairs
    parens = 0
    speech = aside = False
    line_pos = word_pos = 0
    prev = "\n"
    for t, ch in enumerate(text):
        if ch == '"':
            in_ascii_q = not in_ascii_q
        elif ch in "«“":
            open_q += 1
        elif ch in "»”":
            open_q = max(open_q - 1, 0)
        elif ch == "(":
            parens += 1
        elif ch == ")":
            parens = max(parens - 1, 0)
        if ch in "-—":
            if prev == "\n":
                speech, aside = True, False          # a paragraph that opens with a dash
            elif speech and not aside and prev == " ":
                aside = True                         # " -dijo ..."
            elif aside:
                aside = False                        # "...Quijote-." back to speech
        if ch == "\n" and prev == "\n":
            speech = aside = False                   # blank line: the paragraph ended
        line_pos = 0 if ch == "\n" else line_pos + 1
        word_pos = word_pos + 1 if ch.isalpha() else 0
        f["inside quotes"][t] = in_ascii_q or open_q > 0
        f["inside parentheses"][t] = parens > 0
        f["inside dialogue"][t] = speech and not aside
        f["position in line"][t] = line_pos
        f["position in word"][t] = word_pos
        f["read a space"][t] = ch == " "
        f["read a vowel"][t] = ch.lower() in "aeiouáéíóúü"
        f["read punctuation"][t] = ch in ".,;:!?¡¿"
        prev = ch
    return f


def feature_correlations(acts, features: dict, min_std=1e-12):
    """(2) Pearson correlation of every cell with every feature.

    acts (T, C) activations; features name -> (T,). Returns {name: r (C,)}; a feature or cell that
    does not vary over the T steps gets r = 0 (nothing to track)."""
    A = np.asarray(acts, dtype=np.float64)                          # (T, C)
    A = A - A.mean(axis=0)                                          # (T, C) centred
    a_norm = np.sqrt((A * A).sum(axis=0))                           # (C,)
    out = {}
    for name, v in features.items():
        v = np.asarray(v, dtype=np.float64) - np.mean(v)           # (T,) centred
        v_norm = math.sqrt(float(v @ v))
        if v_norm < min_std:
            out[name] = np.zeros(A.shape[1])
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (v @ A) / (a_norm * v_norm)                         # (C,)
        out[name] = np.where(a_norm > min_std, r, 0.0)
    return out


def best_cells(corrs: dict, top=1):
    """For each feature, the ``top`` cells with the largest |r|: {name: [(cell, r), ...]}, best first.
    Features no cell correlates with (all r = 0) are left out."""
    best = {}
    for name, r in corrs.items():
        if not np.any(r):
            continue
        order = np.argsort(-np.abs(r), kind="stable")[:top]
        best[name] = [(int(j), float(r[j])) for j in order]
    return best


# ---- (3) gate saturation -------------------------------------------------------------------------

def gate_saturation(gates, lo=0.1, hi=0.9):
    """(3) For one LSTM layer's activated gates (N, T, 4H): {gate: (left (H,), right (H,))} for
    'i', 'f', 'o', the fraction of the N*T steps each unit spends below ``lo`` (left-saturated)
    and above ``hi`` (right-saturated). A unit on the line left + right = 1 is always saturated."""
    g = backend.to_numpy(gates)
    H = g.shape[-1] // 4
    flat = g.reshape(-1, 4 * H)                                     # (N*T, 4H)
    I, F, _, O = lstm.gate_slices(H)
    out = {}
    for name, s in zip(GATES, (I, F, O)):
        x = flat[:, s]                                              # (N*T, H)
        out[name] = ((x < lo).mean(axis=0), (x > hi).mean(axis=0))  # (H,), (H,)
    return out


# ---- (4) gradient flow through time --------------------------------------------------------------

def gradient_flow(model, ids, ks, n_positions=64, warmup=100, group=32):
    """(4) How much of the loss at step t reaches the hidden state k steps earlier, per layer.

    ids is one text (P,) of character ids; position t reads ids[t] and predicts y_t = ids[t+1],
    with loss L_t = -log p(y_t | ids[0..t]) (nats, that one step only). The model is read as a
    state machine: s_t = (h^0_t, c^0_t, ..., h^{L-1}_t, c^{L-1}_t) = F(s_{t-1}, ids[t]), so that
    L_t is a function of s_{t-k} and the k characters ids[t-k+1..t]. Then

        G^l(k) = mean over t of ‖∂L_t/∂h^l_{t-k}‖_2

    is the partial derivative with respect to the h-part of layer l's state at t-k, every other
    part of s_{t-k} (c^l_{t-k} for an LSTM, and the other layers' states) held fixed: the gradient
    that backprop through time carries from L_t to layer l's h at step t-k through layer l's own
    recurrence (it then reaches the layers above at steps t-k+1 .. t). For the top layer, and for a
    one-layer model, this equals the total derivative of L_t through h^l_{t-k}; for a lower layer
    the total derivative would add the one path h^l_{t-k} -> layer l+1 at step t-k, left out here.
    For an LSTM the same run also gives C^l(k) = mean ‖∂L_t/∂c^l_{t-k}‖.

    The n_positions steps t are spread evenly over the text, with t - k >= ``warmup`` for
    every k: a state read from a zero state only a few characters ago is atypical (its gradients are
    larger), so the first ``warmup`` steps of the text only warm the state up (fewer if the text is
    too short for them).

    How: the states s_{t-k} come from one forward pass over the whole text; then, for each k, the
    stack is run over ids[t-k+1..t] from s_{t-k} (the n_positions values of t as a batch), the
    gradient of L_t enters at the last step only (softmax: p - onehot(y_t), through out.W), and the
    layers' backward hands back dh0 (and dc0) for every layer at once. Cost: sum(ks) steps.
    Memory: the states along the text, 2 P L H numbers (``_states``), and the caches of ``group``
    of the n positions over k steps at a time (the positions are independent streams).

    Returns {'k': ks (K,), 'h': (L, K) G^l(k), 'c': (L, K) C^l(k) or None, 'positions': t (n,)}.
    """
    cell, L, H = _cell(model)
    ks = np.asarray(sorted(set(int(k) for k in ks)), dtype=np.int64)  # (K,)
    ids = np.asarray(ids, dtype=np.int64)                           # (P,)
    if ks.size == 0 or ks[0] < 1:
        raise ValueError("k must be >= 1")
    K = int(ks[-1])
    lo, hi = K, len(ids) - 2                                        # t - K >= 0, t + 1 < P
    if hi < lo:
        raise UsageError(f"gradient flow up to k = {K} needs a text of at least {K + 2} characters, "
                         f"got {len(ids)}")
    lo += min(int(warmup), hi - lo)                                 # t - K >= warmup where possible
    n = min(n_positions, hi - lo + 1)
    t = np.unique(np.linspace(lo, hi, n).round().astype(np.int64))  # (n,) the steps t
    layers = _states(model, ids)                                    # every state along the text
    W_out, b_out = model.params["out.W"], model.params["out.b"]
    xp = backend.array_module(W_out)
    G = np.zeros((L, len(ks)))
    C = np.zeros((L, len(ks))) if cell == "lstm" else None
    for j, k in enumerate(ks):
        for g in range(0, len(t), group):                           # memory: group x k steps at a time
            tg = t[g:g + group]                                     # (m,) these steps t
            y = backend.to_device(ids[tg + 1])                      # (m,) targets y_t
            s = tg - k                                              # (m,) the step whose state we start from
            state = [tuple(d[key][0, backend.to_device(s)] for key in (("h", "c") if cell == "lstm" else ("h",)))
                     for d in layers]                               # per layer (m, H) each
            sub = s[:, None] + 1 + np.arange(k)                     # (m, k) positions t-k+1 .. t
            _, sub_layers, _, caches = run_layers(model, ids[sub], state, keep_caches=True)
            h_top = sub_layers[-1]["h"][:, -1]                      # (m, H)
            z = h_top @ W_out + b_out                               # (m, V) logits at t
            # dL_t/dz_t = p - onehot(y_t) for each stream: the loss's backward, times its mean's 1/m
            _, ce_cache = softmax_ce.forward(z[:, None], y[:, None])
            dz = softmax_ce.backward(ce_cache, dloss=len(tg))[:, 0]  # (m, V)
            dh_top = xp.zeros(sub_layers[-1]["h"].shape, dtype=dz.dtype)  # (m, k, H) no gradient ...
            dh_top[:, -1] = dz @ W_out.T                            # ... but at the last step
            dstate = backward_layers(model, dh_top, caches)
            for l in range(L):                                      # norms in float64: squaring a
                G[l, j] += _norm_sum(dstate[l][0]) / len(t)         # float32 1e-25 would underflow
                if C is not None:
                    C[l, j] += _norm_sum(dstate[l][1]) / len(t)
    return {"k": ks, "h": G, "c": C, "positions": t}


def _norm_sum(d):
    """sum over rows of ||d_n||_2, computed in float64 on the host; d (n, H)."""
    d = backend.to_numpy(d).astype(np.float64)                      # (n, H)
    return float(np.sqrt((d * d).sum(axis=1)).sum())


def loss_at(model, ids_window, y, state):
    """L_t = -log p(y | ids_window) for each of n streams, from ``state``: ids_window (n, k),
    y (n,). For checking ``gradient_flow`` by finite differences."""
    logits, _, _ = run_layers(model, ids_window, state)
    y = backend.to_device(np.asarray(y, dtype=np.int64))
    return backend.to_numpy(softmax_ce.per_token(logits[:, -1:], y[:, None]))[:, 0]  # (n,)


# ---- (1) bits per character over a text, streamed -----------------------------------------------

def stream_ids(path, vocab_index: dict, chunk_chars=1 << 16, unknown=None):
    """Yield the ids (int64 arrays) of a UTF-8 text file, a chunk at a time (bounded memory),
    BOM stripped, universal newlines. Characters not in ``vocab_index`` are left out and counted
    in ``unknown`` (a Counter) when given."""
    for s in read_chunks(check_text_file(path), chunk_chars):
        ids = [vocab_index.get(ch, -1) for ch in s]
        arr = np.array(ids, dtype=np.int64)                         # (len(s),)
        if unknown is not None and (arr < 0).any():
            unknown.update(ch for ch, i in zip(s, ids) if i < 0)
        yield arr[arr >= 0]


def evaluate_ids(model, chunks, window=256):
    """(1) Nats per character of a stream of id chunks, state carried from window to window: the
    model reads the text one character at a time (one stream, N = 1) and is scored on predicting
    each next character; the first character, with no context, is not scored.

    Returns {'chars': scored characters, 'nats': total nats, 'nats_per_char', 'bits_per_char',
    'perplexity'}. Memory: one chunk plus one window's activations."""
    state = None
    total, count = 0.0, 0
    carry = np.zeros(0, dtype=np.int64)                             # ids not yet fed
    last = None                                                     # last fed id: the next target's input
    for chunk in chunks:
        carry = np.concatenate([carry, chunk])
        while len(carry) >= window + (last is None):
            total, count, state, last, carry = _score(model, carry, window, state, last, total, count)
    while len(carry) > (last is None):                              # the tail, a shorter window
        total, count, state, last, carry = _score(model, carry, min(window, len(carry) - (last is None)),
                                                  state, last, total, count)
    if count == 0:
        raise UsageError("the text has fewer than two characters the model knows: nothing to score")
    nats = total / count
    return {"chars": count, "nats": total, "nats_per_char": nats, "bits_per_char": nats / math.log(2),
            "perplexity": math.exp(nats)}


def _score(model, carry, w, state, last, total, count):
    """Score the next w characters of ``carry``: inputs are the previous character of each."""
    if last is None:                                                # the very first character
        x, y, rest = carry[:w], carry[1:w + 1], carry[w + 1:]
        new_last = carry[w]
        x_in = x
    else:
        x_in = np.concatenate([[last], carry[:w - 1]])
        y, rest, new_last = carry[:w], carry[w:], carry[w - 1]
    nats, state = model.token_nll(x_in[None, :], y[None, :], state)  # (1, w) forward only
    total += float(backend.to_numpy(nats).astype(np.float64).sum())
    return total, count + len(y), state, new_last, rest


def bits(nats_per_char: float) -> float:
    """bits/char = nats/char / ln 2."""
    return nats_per_char / math.log(2)


def unknown_report(unknown: Counter, shown=10) -> str:
    """One line naming the characters left out and how often, most frequent first."""
    total = sum(unknown.values())
    parts = ", ".join(f"{ch!r} x{n}" for ch, n in unknown.most_common(shown))
    more = f" and {len(unknown) - shown} more" if len(unknown) > shown else ""
    return (f"{total:,} character(s) not in the model's vocabulary were skipped "
            f"({len(unknown)} distinct: {parts}{more})")


# ---- a sample, with each character's probability ------------------------------------------------

def sample_with_probs(model, prime_ids, length, rng, temperature=0.8):
    """Sample ``length`` ids after ``prime_ids`` at ``temperature``; returns (ids (length,),
    p (length,)) where p is each drawn character's probability under the model itself
    (temperature 1), the number the shading shows."""
    from .sampling import sample_next
    ids = np.asarray(prime_ids, dtype=np.int64).reshape(1, -1)      # (1, P)
    logits, state = model.predict(ids)                              # (1, P, V) forward only
    last = logits[0, -1]                                            # (V,)
    out, probs = [], []
    for _ in range(length):
        nxt = sample_next(last, rng, temperature)
        z = backend.to_numpy(last).astype(np.float64)
        z = z - z.max()
        probs.append(float(np.exp(z[nxt]) / np.exp(z).sum()))
        out.append(nxt)
        logits, state = model.predict(np.array([[nxt]]), state)
        last = logits[0, -1]
    return np.array(out, dtype=np.int64), np.array(probs)


# ---- metrics.jsonl ---------------------------------------------------------------------------------

def read_metrics(path):
    """The records of a run's metrics.jsonl, as a list of dicts (lines that fail to parse are
    reported, not fatal: a run killed mid-write leaves half a line). A file that is not UTF-8, or
    not a regular file (a FIFO would block), is a UsageError."""
    import json
    from .textio import check_input_file
    check_input_file(path, "metrics file (metrics.jsonl)")
    records, bad = [], 0
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    bad += 1
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not valid UTF-8 (byte 0x{e.object[e.start]:02x}); not a metrics.jsonl "
                         f"written by minirnn") from None
    return records, bad


def check_run_metrics(path, records) -> list:
    """The records of one run that can be plotted, or UsageError: each has an integer 'iter', its
    'train_loss' and 'val_loss' are numbers (or absent/null), and 'iter' increases from line to line
    (a file holding two runs, appended one after the other, goes back)."""
    def number(v):
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
    recs = [r for r in records if isinstance(r, dict) and "iter" in r]
    prev = None
    for n, r in enumerate(recs, 1):
        it = r["iter"]
        if not isinstance(it, int) or isinstance(it, bool):
            raise UsageError(f"{path}: record {n} has iter {str(it)[:20]!r}, not an integer")
        for k in ("train_loss", "val_loss"):
            if not number(r.get(k)):
                raise UsageError(f"{path}: record {n} (iter {it}) has {k} {str(r[k])[:20]!r}, not a number")
        if prev is not None and it <= prev:
            raise UsageError(f"{path}: iter goes back from {prev} to {it} at record {n}: the file holds more "
                             f"than one run (give each run its own --checkpoint-dir)")
        prev = it
    return recs
