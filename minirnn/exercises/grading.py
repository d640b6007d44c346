"""Grading: each exercise's cases, and the verdict on every gradient (or output) a learner's file gives.

A gradient exercise runs the learner's forward and backward on a few random float64 cases, ordered
from the simplest (N = 1, T = 1: no recurrence) to the longest, and compares every gradient with
two references: the central-difference gradient of L = sum(dout * forward(...)) taken on the book's
forward (``minirnn.gradcheck``), and the book's own backward. A gradient is right when both relative
errors are small (``NUM_TOL``, ``BOOK_TOL``). Each wrong one is reported once, at the first case
where it fails, with the equations of the book's derivation to reread; which ones depends on that
case (a bug seen at T = 1 is in one step's equations; one seen only at T > 1 is in what carries the
gradient through time, or in a parameter gradient's sum over t when dx is still right).

The other exercises (Adam, clipping, the skip-gram pair, one Lloyd iteration) run the learner's code
and the book's side by side on the same random inputs and compare each output.
"""
from __future__ import annotations

import inspect
import os
import re
import traceback
from dataclasses import dataclass, field

import numpy as np

from .. import fast, kmeans, optim, word2vec
from ..gradcheck import numeric_gradient, rel_error
from ..layers import gru, linear, lstm, rnn, softmax_ce

NUM_TOL = 1e-6    # against central differences (h = 1e-4 gives about 1e-8 on these sizes)
BOOK_TOL = 1e-8   # against the book's backward, float64
OUT_TOL = 1e-9    # non-gradient outputs, float64 (float32 ones: F32_TOL)
F32_TOL = 1e-5


class Unfinished(Exception):
    """The learner's function still raises NotImplementedError (its TODOs)."""


class Raised(Exception):
    """The learner's code raised: the message names the exception and the line of their file."""


@dataclass
class Verdict:
    name: str                  # 'dc0', 'db[f]', 'm'
    ok: bool
    err: float = 0.0           # relative error of the worst entry
    where: str = ""            # the case where it first failed
    reread: list = field(default_factory=list)  # lines of the book's derivation
    note: str = ""

    def lines(self, shown=None):
        """The report's lines. ``shown``: equations printed above, not repeated (updated here)."""
        if self.ok:
            return [f"  right  {self.name}"]
        new = [r for r in self.reread if shown is None or r not in shown]
        head = f"  wrong  {self.name}: " + (self.note if self.note and not self.err else
                                             f"relative error {self.err:.1e}" + (f" ({self.note})" if self.note else ""))
        head += f", at {self.where}" if self.where else ""
        if self.reread and not new:
            head += "; may follow from the errors above"
        out = [head + ("; reread" if new else "")] + [f"           {r}" for r in new]
        if shown is not None:
            shown.update(new)
        return out


# ---- the book's equations, quoted ---------------------------------------------------------------

def equation(doc: str, key: str, section: str | None = "Backward") -> str:
    """The line of ``doc`` that states equation ``key`` ('(10)'; or a phrase it contains), looked for
    first in the section that starts with ``section``; spaces squeezed. KeyError if none does."""
    lines = doc.splitlines()
    start = next((i for i, l in enumerate(lines) if section and l.strip().startswith(section)), 0)
    for l in lines[start:] + lines[:start]:
        s = l.strip()
        if (s.startswith(key + " ") or s == key) if key.startswith("(") else key in s:
            return re.sub(r"\s{3,}", "   ", s)
    raise KeyError(f"the book's docstring states no {key}")


def _call(fn, *args, path, what, **kw):
    """Run the learner's fn; NotImplementedError -> Unfinished, anything else -> Raised (one line)."""
    try:
        return fn(*args, **kw)
    except NotImplementedError as e:
        raise Unfinished(f"{what} is not written yet: fill in its TODOs ({e})") from None
    except Exception as e:  # noqa: BLE001 - the learner's bug, reported as one line
        frames = [f for f in traceback.extract_tb(e.__traceback__) if _same(f.filename, path)]
        where = f" at line {frames[-1].lineno} of {path}: {frames[-1].line}" if frames else ""
        raise Raised(f"{what} raised {type(e).__name__}: {' '.join(str(e).split())[:200]}{where}") from None


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _compare(got, want, tol, numeric=None):
    """(ok, err, note) for one array against the book's (and the central-difference one)."""
    if want is None:
        return (got is None, 0.0, "" if got is None else "should be None (no dx for ids input)")
    if got is None:
        return False, 0.0, "returned None"
    got = np.asarray(got)
    if got.shape != np.shape(want):
        return False, 0.0, f"shape {got.shape}, should be {np.shape(want)}"
    if not np.all(np.isfinite(got)):
        return False, float("inf"), "holds inf or nan"
    err = rel_error(got, want)
    ok = err < tol
    if numeric is not None:
        err_num = rel_error(got, numeric)
        ok, err = ok and err_num < NUM_TOL, max(err, err_num)
    return ok, err, ""


# ---- gradient exercises ---------------------------------------------------------------------------

@dataclass
class Case:
    where: str          # 'N=1 T=1'
    kind: str           # 'local' (T = 1), 'dcT' (T = 1, dcT given), 'time' (T > 1)
    args: dict


def _grade(cases, run, order, reread, path):
    """Run every case; each gradient's verdict from its first failing case, wrong ones first in
    ``order``. ``run(case)`` -> {name: (got, book, numeric)}; ``reread(name, case, ok)`` -> (lines, note)."""
    first = {}                                            # name -> (case index, verdict)
    for c, case in enumerate(cases):
        results = run(case)
        ok_now = {}
        for name, (got, want, num) in results.items():
            ok_now[name] = _compare(got, want, BOOK_TOL, num)
        for name in order:
            if name in ok_now and not ok_now[name][0] and name not in first:
                ok, err, note = ok_now[name]
                lines, extra = reread(name, case, ok_now)
                first[name] = c, Verdict(name, False, err, case.where, lines, " ".join(filter(None, (note, extra))))
    return _first_error_first(first, order)


def _first_error_first(first, order):
    """Wrong verdicts by the case that showed them (simplest first), then in ``order``; right ones after."""
    wrong = sorted((first[n] for n in order if n in first), key=lambda cv: cv[0])   # stable: keeps order
    return [v for _, v in wrong] + [Verdict(n, True) for n in order if n not in first]


def _numeric(forward, arrays, dout):
    """Central differences of L = sum over outputs of sum(dout_k * out_k), for each named array."""
    def L():
        outs = forward()
        return sum((o * d).sum() for o, d in zip(outs, dout) if d is not None)
    return {k: numeric_gradient(L, a) for k, a in arrays.items()}


def _blocks(name, g, k):
    """Split a bias gradient (kH,) into named blocks: {'db[i]': ...}."""
    if g is None or np.ndim(g) != 1 or np.shape(g)[0] % len(k):
        return {f"{name}[{b}]": g for b in k}
    H = np.shape(g)[0] // len(k)
    return {f"{name}[{b}]": g[j * H:(j + 1) * H] for j, b in enumerate(k)}


def _recurrent_cases(rng, cell):
    """Float x unless ids; h0 (and c0) given or None; the simplest first."""
    spec = [("N=1 T=1", "local", 1, 1, 3, 2, True, False, False),
            ("N=2 T=1, no h0" + (" c0" if cell == "lstm" else ""), "local", 2, 1, 4, 3, False, False, False),
            ("N=2 T=1, dcT given", "dcT", 2, 1, 4, 3, True, True, False),
            ("N=2 T=3", "time", 2, 3, 4, 3, True, False, False),
            ("N=1 T=4", "time", 1, 4, 3, 2, True, True, False),
            ("N=3 T=3, ids input", "time", 3, 3, 5, 3, False, True, True)]
    if cell != "lstm":
        spec = [s for s in spec if s[1] != "dcT"]
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    nb = {"rnn": 1, "lstm": 4, "gru": 4}[cell]
    cases = []
    for where, kind, N, T, D, H, state, dcT, ids in spec:
        a = dict(x=rng.integers(0, D, (N, T)) if ids else rng.standard_normal((N, T, D)),
                 h0=rng.standard_normal((N, H)) if state else None,
                 Wx=rng.standard_normal((D, G * H)) * 0.5, Wh=rng.standard_normal((H, G * H)) * 0.5,
                 b=rng.standard_normal(nb * H) * 0.5, dh=rng.standard_normal((N, T, H)))
        if cell == "lstm":
            a["c0"] = rng.standard_normal((N, H)) if state else None
            a["dcT"] = rng.standard_normal((N, H)) if dcT else None
        cases.append(Case(where, kind, a))
    return cases


def _run_recurrent(learner, book, cell, path):
    names = {"lstm": ("dx", "dh0", "dc0", "dWx", "dWh", "db"), "rnn": ("dx", "dh0", "dWx", "dWh", "db"),
             "gru": ("dx", "dh0", "dWx", "dWh", "db")}[cell]
    gates = {"lstm": "ifgo", "gru": ("r", "z", "n", "hn")}.get(cell)

    def run(case):
        a = {k: (None if v is None else v.copy()) for k, v in case.args.items()}
        N, T = a["x"].shape[:2]
        H = a["Wh"].shape[0]
        state = ["h0", "c0"] if cell == "lstm" else ["h0"]
        ins = [a["x"]] + [a[s] for s in state] + [a["Wx"], a["Wh"], a["b"]]
        dcT = a.get("dcT")
        mine = [None if v is None else v.copy() for v in ins]   # the learner's own copies
        out = _call(learner.forward, *mine, path=path, what="forward")
        got = _call(learner.backward, a["dh"].copy(), out[-1], path=path, what="backward",
                    **({"dcT": None if dcT is None else dcT.copy()} if cell == "lstm" else {}))
        ref_out = book.forward(*ins)
        want = book.backward(a["dh"], ref_out[-1], **({"dcT": dcT} if cell == "lstm" else {}))
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            raise Raised(f"backward returned {type(got).__name__}"
                         f"{f' of {len(got)}' if isinstance(got, tuple) else ''}; the book returns the "
                         f"tuple ({', '.join(names)})")
        # central differences on the book's forward, with the omitted state as explicit zeros
        full = {k: (np.zeros((N, H)) if a.get(k, 0) is None and k in state else a.get(k)) for k in
                ("x", *state, "Wx", "Wh", "b")}
        wrt = {k: v for k, v in full.items() if not (k == "x" and v.ndim == 2)}
        douts = [a["dh"]] + ([dcT] if cell == "lstm" else [])
        num = _numeric(lambda: book.forward(*[full[k] for k in ("x", *state, "Wx", "Wh", "b")])[:len(douts)],
                       wrt, douts)
        res = {}
        for n, g, w in zip(names, got, want):
            key = n[1:]
            res[n] = (g, w, num.get(key))
        if gates:                                        # the bias gradient, gate by gate
            db_got, db_want, db_num = res.pop("db")
            res.update({k: (g, w, u) for (k, g), w, u in zip(
                _blocks("db", db_got, gates).items(), _blocks("db", db_want, gates).values(),
                _blocks("db", db_num, gates).values())})
        return res
    return run


LSTM_LOCAL = {"db[i]": ["(9)", "(11)"], "db[f]": ["(9)", "(11)"], "db[g]": ["(9)", "(12)"],
              "db[o]": ["(7)", "(11)"], "dc0": ["(10)"], "dh0": ["(13)"], "dWh": ["(14)"], "dWx": ["(14)"],
              "dx": ["(15)"]}
RNN_LOCAL = {"db": ["(4)"], "dh0": ["(5)"], "dWh": ["(6)"], "dWx": ["(6)"], "dx": ["(7)"]}
GRU_LOCAL = {"db[z]": ["(7)", "(4)"], "db[n]": ["(7)", "(6)"], "db[hn]": ["(6)", "(5)"], "db[r]": ["(6)", "(3)"],
             "dh0": ["(7)", "(2)"], "dWh": ["(2)"], "dWx": ["(1)"], "dx": ["(1)"]}
SUM_NOTE = "a sum over t: each step adds its share with +="


def _recurrent_reread(module, local, through_time, sum_eq):
    """reread(name, case, ok_now) for a recurrent cell: by the case's kind (see the module doc)."""
    doc = module.__doc__

    def reread(name, case, ok_now):
        if case.kind == "local":
            keys, note = local[name], ""
        elif case.kind == "dcT":
            keys, note = (["(8)", "(10)"] if name == "dc0" else ["(8)"]), "dcT enters as the first dc_next"
        elif name in ("dx", "dh0", "dc0"):
            keys, note = through_time + [k for k in local[name] if k not in through_time], ""
        elif ok_now.get("dx", (False,))[0] and case.args["x"].ndim == 3:
            keys, note = sum_eq(name), SUM_NOTE             # every da_t right: the sum over t is not
        else:
            keys, note = through_time, "the gradient arriving from step t+1"
        return [equation(doc, k) for k in keys], note
    return reread


def grade_lstm(learner, path, rng):
    order = ["db[i]", "db[f]", "db[g]", "db[o]", "dc0", "dh0", "dWh", "dWx", "dx"]
    run = _run_recurrent(learner, lstm, "lstm", path)
    reread = _recurrent_reread(lstm, LSTM_LOCAL, ["(6)", "(8)"], lambda n: ["(14)"])
    return _grade(_recurrent_cases(rng, "lstm"), run, order, reread, path)


def grade_rnn(learner, path, rng):
    order = ["db", "dh0", "dWh", "dWx", "dx"]
    run = _run_recurrent(learner, rnn, "rnn", path)
    reread = _recurrent_reread(rnn, RNN_LOCAL, ["(3)"], lambda n: ["(6)"])
    return _grade(_recurrent_cases(rng, "rnn"), run, order, reread, path)


def grade_gru(learner, path, rng):
    order = ["db[z]", "db[n]", "db[hn]", "db[r]", "dh0", "dWh", "dWx", "dx"]
    run = _run_recurrent(learner, gru, "gru", path)
    reread = _recurrent_reread(gru, GRU_LOCAL, ["plus dh_next"],
                               lambda n: GRU_LOCAL[n][-1:] if n.startswith("dW") else ["(5)"] if n == "db[hn]" else ["db[:3H]"])
    return _grade(_recurrent_cases(rng, "gru"), run, order, reread, path)


def grade_linear(learner, path, rng):
    shapes = [("N=1, x (1, 3)", (1, 3), 2), ("N=4, x (4, 3)", (4, 3), 5), ("x (2, 3, 4): N=2 T=3", (2, 3, 4), 3)]
    cases = [Case(w, "local", dict(x=rng.standard_normal(s), W=rng.standard_normal((s[-1], M)),
                                    b=rng.standard_normal(M), dy=rng.standard_normal(s[:-1] + (M,))))
             for w, s, M in shapes]
    notes = {"db": "db = dy summed over every row (every leading axis of x), shape (M,)",
             "dW": "dW = x^T dy, x's rows against dy's rows, shape (D, M)",
             "dx": "dx = dy W^T, the shape of x"}

    def run(case):
        a = case.args
        y, cache = _call(learner.forward, a["x"].copy(), a["W"].copy(), a["b"].copy(), path=path, what="forward")
        got = _call(learner.backward, a["dy"].copy(), cache, path=path, what="backward")
        want = linear.backward(a["dy"], linear.forward(a["x"], a["W"], a["b"])[1])
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Raised("backward must return the tuple (dx, dW, db)")
        num = _numeric(lambda: (linear.forward(a["x"], a["W"], a["b"])[0],), {"x": a["x"], "W": a["W"], "b": a["b"]},
                       [a["dy"]])
        return {n: (g, w, num[n[1:]]) for n, g, w in zip(("dx", "dW", "db"), got, want)}

    return _grade(cases, run, ["db", "dW", "dx"],
                  lambda n, c, ok: ([equation(linear.__doc__, "(1)", None)], notes[n]), path)


def grade_softmax_ce(learner, path, rng):
    spec = [("N=1 T=1 V=3", 1, 1, 3, 1.0), ("N=2 T=3 V=5", 2, 3, 5, 1.0), ("N=3 T=2 V=4, dloss=0.7", 3, 2, 4, 0.7)]
    cases = [Case(w, "local", dict(z=rng.standard_normal((N, T, V)) * 2, y=rng.integers(0, V, (N, T)), dloss=d))
             for w, N, T, V, d in spec]

    def run(case):
        a = case.args
        _, cache = _call(learner.forward, a["z"].copy(), a["y"].copy(), path=path, what="forward")
        got = _call(learner.backward, cache, a["dloss"], path=path, what="backward")
        want = softmax_ce.backward(softmax_ce.forward(a["z"], a["y"])[1], a["dloss"])
        num = numeric_gradient(lambda: softmax_ce.forward(a["z"], a["y"])[0] * a["dloss"], a["z"])
        return {"dlogits": (got, want, num)}

    def reread(n, case, ok):
        note = "" if case.where.startswith("N=1 T=1") else "the mean is over M = N*T tokens"
        return [equation(softmax_ce.__doc__, "(4)")], note
    return _grade(cases, run, ["dlogits"], reread, path)


# ---- outputs compared with the book ---------------------------------------------------------------

def _outputs(cases, run, order, reread, tol=OUT_TOL):
    """Like _grade for exercises without gradients: run(case) -> {name: (got, book)}."""
    first = {}
    for c, case in enumerate(cases):
        for name, (got, want) in run(case).items():
            ok, err, note = _compare(got, want, tol)
            if not ok and name not in first:
                lines, extra = reread(name, case)
                first[name] = c, Verdict(name, False, err, case.where, lines, " ".join(filter(None, (note, extra))))
    return _first_error_first(first, order)


def grade_adam(learner, path, rng):
    spec = [("step 1..3, betas (0.9, 0.999)", (0.9, 0.999), 1e-2), ("step 1..3, betas (0.8, 0.99)", (0.8, 0.99), 3e-3)]
    cases = [Case(w, "local", dict(betas=be, lr=lr, p={"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)},
                                   g=[{"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)} for _ in range(3)]))
             for w, be, lr in spec]
    names = [f"{s} of {k}" for s in ("m", "v", "p") for k in ("W", "b")]

    def run(case):
        a = case.args
        mine = {k: v.copy() for k, v in a["p"].items()}
        ref = {k: v.copy() for k, v in a["p"].items()}
        opt = _call(learner.Adam, mine, lr=a["lr"], betas=a["betas"], lr_factors={"b": 2.0}, path=path, what="Adam()")
        book = optim.Adam(ref, lr=a["lr"], betas=a["betas"], lr_factors={"b": 2.0})
        out, pairs = {}, {}
        previous = fast.set_enabled(False)               # the book's lines, not the engine's one pass
        try:
            for g in a["g"]:
                _call(opt.step, {k: v.copy() for k, v in g.items()}, path=path, what="Adam._update")
                book.step({k: v.copy() for k, v in g.items()})
                for k in ("W", "b"):
                    pairs.update({f"m of {k}": (opt.state["m"][k], book.state["m"][k]),
                                  f"v of {k}": (opt.state["v"][k], book.state["v"][k]),
                                  f"p of {k}": (mine[k], ref[k])})
                for n, (x, y) in pairs.items():          # the first step that goes wrong
                    if n not in out and not _compare(x, y, OUT_TOL)[0]:
                        out[n] = (np.array(x, copy=True), y.copy())
        finally:
            fast.set_enabled(previous)
        return {**pairs, **out}

    def reread(name, case):
        key = "m = β1 m" if name[0] in "mv" else "p -= lr (m"
        note = {"m": "update self.state['m'][name] in place (m *= ..., m += ...)",
                "v": "update self.state['v'][name] in place",
                "p": "in place (p -= ...); self.lr is this parameter's rate, and self.t counts steps from 1"}[name[0]]
        return [equation(optim.__doc__, key, None)], note
    return _outputs(cases, run, names, reread)


def grade_clip(learner, path, rng):
    spec = [("norm above max_norm (clips)", 0.5), ("norm below max_norm (no change)", 100.0)]
    cases = [Case(w, "local", dict(mx=mx, g={"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}))
             for w, mx in spec]
    order = ["global_norm", "returned norm", "grads['W']", "grads['b']"]

    def run(case):
        a = case.args
        mine = {k: v.copy() for k, v in a["g"].items()}
        ref = {k: v.copy() for k, v in a["g"].items()}
        gn = _call(learner.global_norm, {k: v.copy() for k, v in a["g"].items()}, path=path, what="global_norm")
        n_mine = _call(learner.clip_grad_norm, mine, a["mx"], path=path, what="clip_grad_norm")
        n_ref = optim.clip_grad_norm(ref, a["mx"])
        f = lambda v: None if v is None else np.asarray(v, dtype=np.float64)  # noqa: E731
        return {"global_norm": (f(gn), f(optim.global_norm(a["g"]))), "returned norm": (f(n_mine), f(n_ref)),
                "grads['W']": (mine["W"], ref["W"]), "grads['b']": (mine["b"], ref["b"])}

    def reread(name, case):
        fn = optim.global_norm if name == "global_norm" else optim.clip_grad_norm
        note = {"returned norm": "the norm before clipping",
                "grads['W']": "scale each gradient in place", "grads['b']": "scale each gradient in place"}
        return [" ".join(inspect.getdoc(fn).split())], note.get(name, "")
    return _outputs(cases, run, order, reread)


def grade_sgns(learner, path, rng):
    V, D = 6, 5
    counts = rng.integers(1, 50, V)
    table = word2vec.noise_table(counts, size=64)
    spec = [("one pair, 1 negative", 1, 0.025), ("one pair, 5 negatives", 5, 0.025),
            ("one pair, 5 negatives, alpha 0.25", 5, 0.25), ("center = context word, 8 negatives", 8, 0.1)]
    cases = []
    for w, K, alpha in spec:
        c, o = (int(rng.integers(V)),) * 2 if w.startswith("center") else rng.choice(V, 2, replace=False)
        cases.append(Case(w, "local", dict(
            syn0=((rng.random((V, D)) - 0.5) / D).astype(np.float32),
            syn1=(rng.standard_normal((V, D)) * 0.3).astype(np.float32),
            context=int(c), center=int(o), K=K, alpha=np.float32(alpha), rnd=int(rng.integers(1 << 62)))))
    order = ["random state (the draws)", "loss", "syn1neg", "syn0"]

    def run(case):
        a = case.args
        s0, s1 = a["syn0"].copy(), a["syn1"].copy()
        r0, r1 = a["syn0"].copy(), a["syn1"].copy()
        got = _call(learner.sgns_pair_reference, s0, s1, table, a["context"], a["center"], a["K"], a["alpha"],
                    a["rnd"], path=path, what="sgns_pair_reference")
        loss, rnd = word2vec.sgns_pair_reference(r0, r1, table, a["context"], a["center"], a["K"], a["alpha"], a["rnd"])
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Raised("sgns_pair_reference must return the tuple (loss, rnd)")
        return {"random state (the draws)": (np.float64(int(got[1]) == rnd), np.float64(1.0)),
                "loss": (np.float64(got[0]), np.float64(loss)), "syn1neg": (s1, r1), "syn0": (s0, r0)}

    def reread(name, case):
        doc = word2vec.__doc__
        keys = {"random state (the draws)": ["drawn from the noise table"], "loss": ["(1)", "drawn from the noise table", "(5)"],
                "syn1neg": ["(2)", "(3)"], "syn0": ["(4)"]}[name]
        note = ("draw as word2vec.c: rnd = (rnd * 25214903917 + 11) & _MASK64, target = "
                "neg_table[(rnd >> 16) % len(neg_table)], skip a target equal to center"
                if name.startswith("random") else "")
        return [equation(doc, k, None) for k in keys], note
    return _outputs(cases, run, order, reread, tol=F32_TOL)


def grade_lloyd(learner, path, rng):
    spec = [("N=1 K=1", 1, 1, 2, False), ("N=20 K=3", 20, 3, 2, False), ("N=30 K=4, one cluster left empty", 30, 4, 3, True)]
    cases = []
    for w, N, K, D, empty in spec:
        X = rng.standard_normal((N, D))
        C = X[rng.choice(N, K, replace=False)].copy()
        if empty:
            C[-1] = 100.0                                  # no point is nearest to it
        cases.append(Case(w, "local", dict(X=X, C=C)))
    order = ["labels", "min_d", "counts", "sums", "centres after one iteration"]

    def run(case):
        X, C = case.args["X"], case.args["C"]
        N, K = X.shape[0], C.shape[0]
        x_sq = (X * X).sum(axis=1)                         # (N,)
        ops, ref = _call(learner.ArrayOps, X, K, path=path, what="ArrayOps()"), kmeans.ArrayOps(X, K)
        lab, dist = np.full(N, -1, dtype=np.int64), np.full(N, np.nan)
        rlab, rdist = np.full(N, -1, dtype=np.int64), np.empty(N)
        _call(ops.assign, X, C.copy(), x_sq, lab, dist, path=path, what="ArrayOps.assign")
        ref.assign(X, C, x_sq, rlab, rdist)
        got = _call(ops.sums, X, rlab.copy(), K, path=path, what="ArrayOps.sums")
        want = ref.sums(X, rlab, K)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Raised("ArrayOps.sums must return the tuple (sums, counts)")
        out = {"labels": (lab.astype(np.float64), rlab.astype(np.float64)), "min_d": (dist, rdist),
               "counts": (np.asarray(got[1], dtype=np.float64), want[1].astype(np.float64)),
               "sums": (got[0], want[0])}
        try:                                               # the book's loop, with the learner's two steps
            mine = kmeans.lloyd(X, C.copy(), max_iter=1, tol_abs=0.0, ops=ops)[0]
        except Exception:  # noqa: BLE001 - wrong shapes from assign or sums: already reported above
            return out
        out["centres after one iteration"] = (mine, kmeans.lloyd(X, C.copy(), max_iter=1, tol_abs=0.0, ops=ref)[0])
        return out

    def reread(name, case):
        keys = {"labels": ["(4)", "(2)"], "min_d": ["(2)", "(4)"], "counts": ["(5)"], "sums": ["(5)"],
                "centres after one iteration": ["(5)", "(6)"]}[name]
        note = {"min_d": "the distance to the chosen centre, >= 0",
                "counts": "points per cluster, 0 for an empty one", "sums": "float64 sums of each cluster's rows"}
        return [equation(kmeans.__doc__, k, None) for k in keys], note.get(name, "")
    return _outputs(cases, run, order, reread)
