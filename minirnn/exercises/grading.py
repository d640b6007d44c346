"""Grading: each exercise's cases, and the verdict on every output and gradient a learner's file gives.

A gradient exercise runs the learner's functions on a few random float64 cases, ordered from the
simplest (N = 1, T = 1: no recurrence) to the longest, and compares every output with the book's
forward, and every gradient with two references: the central-difference gradient of
L = sum(dout * forward(...)) taken on the book's forward (``minirnn.gradcheck``), and the book's own
backward. A gradient is right when both relative errors are small (``NUM_TOL``, ``BOOK_TOL``).

Each wrong one is reported once, at the first case where it fails, with

- the mistake, when its value is what a known mistake gives (``diagnose``): the bias gradient
  averaged instead of summed, a repeated index dropped from a scatter-add, the sum over t missing,
  a product transposed, a gate in another gate's slot, a derivative (tanh', σ') left out. The
  values of the mistakes that need the whole backward are the book's backward with that one
  mistake made in its source (``mistakes.py``); the others are read off the value itself;
- the forward equations the gradient flows back through, quoted from the book (never a backward
  equation: those are the exercise), or those the named mistake is about; and where the case
  points: a bug seen at T = 1 is in one step; one seen only at T > 1 is in what carries the
  gradient through time, or in a parameter gradient's sum over t when dx is still right;
- or, when an earlier wrong gradient is computed from the same quantity (``NODES``: dL/dc_t,
  dL/dah_t, ...), and no right gradient clears that quantity, that they may share one error.
  Siblings that share nothing (within one step dWh is not computed from dh_prev) are not tied.

The other exercises (Adam, clipping, the skip-gram pair and window, one Lloyd iteration, the
spherical update, dropout's forward) run the learner's code and the book's side by side on the same
random inputs and compare each output.
"""
from __future__ import annotations

import inspect
import os
import re
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import numeric_gradient, rel_error
from ..layers import dropout, embedding, gru, linear, lstm, masked_softmax_ce, rnn, softmax_ce, stack
from . import mistakes

NUM_TOL = 1e-6    # against central differences (h = 1e-4 gives about 1e-8 on these sizes)
BOOK_TOL = 1e-8   # against the book's backward, float64
OUT_TOL = 1e-9    # non-gradient outputs, float64 (float32 ones: F32_TOL)
F32_TOL = 1e-5
MATCH_TOL = 1e-7  # a wrong value "is" a mistake's value within this
APART_TOL = 1e-4  # ... when that mistake's value is at least this far from the right one


class Unfinished(Exception):
    """The learner's function still raises NotImplementedError (its TODOs)."""


class Raised(Exception):
    """The learner's code raised: the message names the exception and the line of their file."""


@dataclass
class Verdict:
    name: str                  # 'dc0', 'db[f]', 'h'
    ok: bool
    err: float = 0.0           # relative error of the worst entry
    where: str = ""            # the case where it first failed
    reread: list = field(default_factory=list)  # forward equations of the book it flows through
    note: str = ""
    mistake: str = ""          # the named mistake class, when diagnosed
    related: str = ""          # an earlier wrong one computed from the same quantity (``_relate``)

    def lines(self, shown=None):
        """The report's lines. ``shown`` (a dict, updated here): equations and mistakes printed
        above, each with the name it was printed under; not repeated."""
        if self.ok:
            return [f"  right  {self.name}"]
        shown = {} if shown is None else shown
        what = f"relative error {self.err:.1e}" if self.err else ""
        head = f"  wrong  {self.name}: " + ", ".join(filter(None, (what, f"at {self.where}" if self.where else "")))
        out = [head]
        if self.mistake and self.mistake in shown:           # the same mistake, named once in full
            label = self.mistake.split(":")[0]
            out.append(f"           the same mistake as {shown[self.mistake]} above: {label}")
            return out
        if self.mistake:
            out.append(f"           {self.mistake}")
            shown[self.mistake] = self.name
        elif self.note:
            out.append(f"           {self.note}")
        if self.related:
            out.append(f"           {self.related}")
        new = [r for r in self.reread if r not in shown]
        if new:
            out.append("           it flows back through:")
            out += [f"             {r}" for r in new]
        elif self.reread and not self.related:
            keys = ", ".join(r.split(" ")[0] for r in self.reread if r.startswith("("))
            out.append(f"           it flows back through {keys or 'the same lines'}, quoted above under "
                       f"{shown[self.reread[0]]}")
        for r in new:
            shown[r] = self.name
        return out


# ---- the book's equations, quoted ---------------------------------------------------------------

def equation(doc: str, key: str, section: str | None = None) -> str:
    """The line of ``doc`` that states equation ``key`` ('(4)'; or a phrase it contains), looked for
    first in the section that starts with ``section`` (default: from the top, so the forward's);
    spaces squeezed. KeyError if none does."""
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
    except SystemExit as e:
        raise Raised(f"{what} called sys.exit({e.code!r}): a graded function must return its results") from None
    except Exception as e:  # noqa: BLE001 - the learner's bug, reported as one line
        frames = [f for f in traceback.extract_tb(e.__traceback__) if _same(f.filename, path)]
        where = f" at line {frames[-1].lineno} of {path}: {frames[-1].line}" if frames else ""
        hint = ""
        if isinstance(e, ValueError) and "matmul" in str(e):
            hint = " (transposed product? the shapes of a product do not chain: check each operand's shape)"
        raise Raised(f"{what} raised {type(e).__name__}: {' '.join(str(e).split())[:200]}{where}{hint}") from None


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _compare(got, want, tol, numeric=None):
    """(ok, err, note) for one array against the book's (and the central-difference one)."""
    if want is None:
        return (got is None, 0.0, "" if got is None else "should be None (no dx for ids input, or need_dx False)")
    if got is None:
        return False, 0.0, "returned None"
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False, 0.0, f"not an array of numbers ({type(got).__name__})"
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


# ---- named mistakes -------------------------------------------------------------------------------

# the names of the mistakes read off a value; those that need a mutant are in mistakes.py
from .mistakes import NO_DROPOUT_MASK, NO_SIGMOID, NO_SUM_OVER_T, NO_TANH, TRANSPOSED  # noqa: E402,F401

BIAS_MEAN = "bias mean"
DROPPED_INDEX = "dropped repeated index"
GATE_SLOT = "gate in the wrong slot"
NOT_INVERTED = "dropout not inverted"


@dataclass
class Context:
    """What ``diagnose`` reads for one case: the values of the mistakes that need the whole
    backward, the rows a bias is added to, the ids of a table lookup, the gate names of each
    gradient with gate blocks, and the full arrays of the gradients reported block by block."""
    mutants: dict = field(default_factory=dict)     # key -> (message, {name: value}, equations quoted)
    rows: int = 1
    ids: object = None                              # the ids of the lookup that ``tables`` come from
    tables: tuple = ()                              # gradient names of looked-up tables (dWx, dW)
    gates: dict = field(default_factory=dict)       # base name -> gate names along the last axis
    full: dict = field(default_factory=dict)        # base name -> (got, want) before the split


def _close(a, b, tol=MATCH_TOL) -> bool:
    try:
        return np.shape(a) == np.shape(b) and rel_error(a, b) < tol
    except (TypeError, ValueError):
        return False


def _blocks_of(a, k):
    a = np.asarray(a, dtype=np.float64)
    H = a.shape[-1] // k
    return [a[..., j * H:(j + 1) * H] for j in range(k)]


def _misplaced(got, want, names):
    """[(gate in got's slot j, gate whose value it holds)] when got's blocks are want's in another
    order; None otherwise."""
    k = len(names)
    if np.shape(got) != np.shape(want) or np.shape(want)[-1] % k:
        return None
    g, w = _blocks_of(got, k), _blocks_of(want, k)
    moved = []
    for j in range(k):
        if _close(g[j], w[j]):
            continue
        match = [i for i in range(k) if i != j and _close(g[j], w[i]) and not _close(w[i], w[j], APART_TOL)]
        if not match:
            return None
        moved.append((names[j], names[match[0]]))
    return moved or None


def diagnose(name, got, want, ctx: Context):
    """(message, the forward equations it is about, quoted, or []) of the known mistake whose value
    ``got`` is; None when it is none of them."""
    if got is None or want is None:
        return None
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    want = np.asarray(want, dtype=np.float64)
    base, _, gate = name.partition("[")
    gate = gate.rstrip("]")
    if got.ndim == 2 and got.shape == want.shape[::-1] and got.shape != want.shape and _close(got.T, want):
        return (f"{TRANSPOSED}: shape {got.shape} is the transpose of {name}'s {want.shape}, and "
                f"its values are the transpose of the right ones: the operands of a product in the "
                f"other order, or one transposed that should not be (a gradient has its variable's shape)"), []
    if got.shape != want.shape:
        return None
    for message, values, quoted in ctx.mutants.values():
        v = values.get(name)
        if v is not None and _close(got, v) and not _close(v, want, APART_TOL):
            return message, quoted
    if base.startswith("db") and ctx.rows > 1 and _close(got * ctx.rows, want) and \
            not _close(want, 0 * want, APART_TOL):
        return (f"{BIAS_MEAN} instead of sum: {name} is 1/{ctx.rows} of the right value. The bias is "
                f"added to every one of the {ctx.rows} rows, so every row's gradient adds to its "
                f"gradient: a sum over the rows, not a mean"), []
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _close(got.T, want) and not _close(want.T, want, APART_TOL):
        return (f"{TRANSPOSED}: {name} is the transpose of the right value: the operands of a "
                f"product in the other order, or one transposed that should not be"), []
    names = ctx.gates.get(base)
    if names:
        g_full, w_full = ctx.full.get(base, (got, want))
        moved = _misplaced(g_full, w_full, names) if g_full is not None else None
        if moved:
            slot, holds = next(((s, h) for s, h in moved if s == gate), moved[0])
            return (f"{GATE_SLOT}: {base}'s block of gate {slot} holds what belongs to gate {holds}. "
                    f"Along the gate axis the blocks go in the order {', '.join(names)} "
                    f"(gate_slices), in forward and in backward alike"), []
    if base in ctx.tables and ctx.ids is not None and got.ndim >= 1:
        ids = np.asarray(ctx.ids).ravel()
        counts = np.bincount(ids, minlength=got.shape[0])[:got.shape[0]]
        scale = max(np.abs(want).max(), 1e-30)
        row_err = np.abs(got - want).reshape(got.shape[0], -1).max(axis=1) / scale
        wrong = row_err > MATCH_TOL
        if wrong.any() and np.all(counts[wrong] >= 2) and not np.any(wrong & (counts == 1)):
            v = int(np.flatnonzero(wrong)[0])
            return (f"{DROPPED_INDEX}: {name} is right on the rows looked up once and wrong on "
                    f"rows looked up more than once (row {v}: {int(counts[v])} times). An indexed "
                    f"+= (table[ids] += rows) keeps one of the rows that share an id; a "
                    f"scatter-add (np.add.at, or minirnn.backend.scatter_add) adds them all"), []
    return None


# ---- the grading loop -------------------------------------------------------------------------------

@dataclass
class Case:
    where: str          # 'N=1 T=1'
    kind: str           # 'local' (T = 1), 'dcT' (T = 1, dcT given), 'time' (T > 1), 'forward'
    args: dict


def _grade(cases, run, order, explain, path, nodes=None):
    """Run every case; each verdict from its first failing case, wrong ones first in ``order``.
    ``run(case)`` -> ({name: (got, book, numeric or None)}, Context);
    ``explain(name, case, ok_now)`` -> (forward equations, note);
    ``nodes(name, case)`` -> the quantities the gradient is computed from (``_relate``)."""
    first = {}                                            # name -> (case index, verdict)
    for c, case in enumerate(cases):
        results, ctx = run(case)
        ok_now = {name: _compare(got, want, BOOK_TOL, num) for name, (got, want, num) in results.items()}
        for name in order:
            if name in ok_now and not ok_now[name][0] and name not in first:
                ok, err, note = ok_now[name]
                lines, extra = explain(name, case, ok_now)
                found = diagnose(name, results[name][0], results[name][1], ctx)
                if found and found[1]:                    # the equations the mistake is about
                    lines = found[1]
                v = Verdict(name, False, err, case.where, lines, " ".join(filter(None, (note, extra))),
                            found[0] if found else "")
                first[name] = c, v
    if nodes is not None:
        _relate(first, order, lambda n, c: nodes(n, cases[c]), range(len(cases)))
    return _first_error_first(first, order)


def _relate(first, order, nodes, case_ids):
    """Tie each wrong verdict to an earlier wrong one computed from the same quantity: the quantity
    deepest on its own path that the earlier one's path holds too, unless a gradient that is right
    in every case is computed from it (then that quantity is right, and it explains nothing).
    ``nodes(name, case index)`` -> (quantity, ...) nearest the output first; a quantity is a key of
    ``QUANTITY`` or a graded name itself (an output computed from another)."""
    cleared = {k for n in order if n not in first for c in case_ids for k in nodes(n, c)}
    above = []
    for name, (c, v) in sorted(first.items(), key=lambda kv: kv[1][0]):    # the printed order
        mine = [k for k in nodes(name, c) if k not in cleared]
        best = None
        for e, ec in above:
            theirs = set(nodes(e, ec)) | {e}
            shared = [i for i, k in enumerate(mine) if k in theirs]
            if shared and (best is None or shared[-1] > best[0]):
                best = shared[-1], e
        if best is not None and not v.mistake:
            k, e = mine[best[0]], best[1]
            v.related = (f"may follow from the error in {e} above: {name} is computed from it" if k == e else
                         f"may share the error of {e} above: both are computed from {QUANTITY.get(k, k)}")
        above.append((name, c))


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


def _split(name, g, k):
    """Split a gradient with gate blocks along its last axis into named blocks: {'db[i]': ...}."""
    if g is None or not hasattr(g, "shape") or np.ndim(g) < 1 or np.shape(g)[-1] % len(k):
        return {f"{name}[{b}]": g for b in k}
    return {f"{name}[{b}]": blk for b, blk in zip(k, _blocks_of(g, len(k)))}


def _tuple(got, names, what):
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        n = f" of {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise Raised(f"{what} returned {type(got).__name__}{n}; the book returns the tuple ({', '.join(names)})")
    return got


def _copy(v):
    return None if v is None else np.array(v, copy=True)


# ---- recurrent cells: one step, and the sequence ----------------------------------------------------

CELL = {"rnn": rnn, "lstm": lstm, "gru": gru}
GATES = {"rnn": None, "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
BIAS_GATES = {"rnn": None, "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n", "hn")}
WIDTH = {"rnn": (1, 1), "lstm": (4, 4), "gru": (3, 4)}      # gate blocks in Wx/Wh, in b

# the forward equations a gradient flows back through, by cell (quoted from the book's docstring)
FLOWS = {
    "rnn": {"db": ["(2)", "(1)"], "dh0": ["(2)", "(1)"], "dh_prev": ["(2)", "(1)"], "dWh": ["(2)", "(1)"],
            "dWx": ["(2)", "(1)"], "dx": ["(2)", "(1)"], "dx_t": ["(2)", "(1)"]},
    "lstm": {"db[i]": ["(4)", "(2)"], "db[f]": ["(4)", "(2)"], "db[g]": ["(4)", "(3)"], "db[o]": ["(5)", "(2)"],
             "dc0": ["(4)"], "dc_prev": ["(4)"], "dh0": ["(5)", "(1)"], "dh_prev": ["(5)", "(1)"],
             "dWh": ["(1)"], "dWx": ["(1)"], "dx": ["(1)"], "dx_t": ["(1)"]},
    "gru": {"db[z]": ["(7)", "(4)"], "db[n]": ["(7)", "(6)"], "db[hn]": ["(6)", "(5)"], "db[r]": ["(6)", "(3)"],
            "dh0": ["(7)", "(2)"], "dh_prev": ["(7)", "(2)"], "dWh": ["(2)"], "dWx": ["(1)"], "dx": ["(1)"],
            "dx_t": ["(1)"]},
}
FORWARD_EQS = {"rnn": ["(1)", "(2)"], "lstm": ["(1)", "(2)", "(3)", "(4)", "(5)"],
               "gru": ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)"]}
# the quantities of one step's backward each gradient is computed from, nearest the output first:
# the learner computes them, the check sees only the gradients made from them (``_relate``)
_DA = ("da[i]", "da[f]", "da[g]", "da[o]")
_DAX = ("dz", "daz", "dn", "ds", "dr", "dar")
NODES = {
    "rnn": {n: ("da",) for n in ("db", "dh_prev", "dWh", "dWx", "dx_t")},
    "lstm": {"db[i]": ("dc", "da[i]"), "db[f]": ("dc", "da[f]"), "db[g]": ("dc", "da[g]"), "db[o]": ("do", "da[o]"),
             "dc_prev": ("dc",), **{n: ("dc", "do") + _DA + ("da",) for n in ("dh_prev", "dWh", "dWx", "dx_t")}},
    "gru": {"db[r]": ("dn", "ds", "dr", "dar"), "db[z]": ("dz", "daz"), "db[n]": ("dn", "ds"),
            "db[hn]": ("dn", "ds", "dhn"), "dWx": _DAX + ("dax",), "dx_t": _DAX + ("dax",),
            "dWh": _DAX + ("dhn", "dah"), "dh_prev": _DAX + ("dhn", "dah")},
}
STEP_NAME = {"dx": "dx_t", "dh0": "dh_prev", "dc0": "dc_prev"}     # a sequence's gradient -> its step's
QUANTITY = {
    "da": "dL/da_t", "dc": "dL/dc_t (from (5) and from step t+1)", "do": "dL/do_t",
    **{f"da[{g}]": f"the {g} block of dL/da_t" for g in "ifgo"},
    "dz": "dL/dz_t", "daz": "the z block of dL/dax_t and dL/dah_t", "dn": "dL/dn_t",
    "ds": "the gradient of (6)'s tanh argument", "dr": "dL/dr_t", "dar": "the r block of dL/dax_t and dL/dah_t",
    "dhn": "dL/dhn_t, the n block of dL/dah_t", "dax": "dL/dax_t", "dah": "dL/dah_t",
    "carried": "the gradient carried back from step t+1",
    "top": "what the top layer's backward is given", "down": "the gradient handed down to the layers below",
}
SUM_NOTE = ("a sum over t: the weights are the same at every step, so their gradient adds up every "
            "step's share")


def _flows(cell, name):
    table = FLOWS[cell]
    return table.get(name, table.get(name.split("[")[0], ["(1)"]))


# ids that repeat within a step and ids that occur once: the dropped-index mistake shows on them
_IDS_SEQ = np.array([[0, 1, 2], [0, 3, 2], [4, 1, 1]])       # N=3 T=3 D=5
_IDS_STEP = np.array([1, 3, 1, 4])                           # N=4 D=5


def _params(rng, cell, D, H):
    g, nb = WIDTH[cell]
    return dict(Wx=rng.standard_normal((D, g * H)) * 0.5, Wh=rng.standard_normal((H, g * H)) * 0.5,
                b=rng.standard_normal(nb * H) * 0.5)


def _gate_ctx(cell, rows, ids, full):
    gates = {}
    if GATES[cell]:
        gates = {"dWx": GATES[cell], "dWh": GATES[cell], "db": BIAS_GATES[cell]}
    return Context(rows=rows, ids=ids, tables=("dWx",), gates=gates, full=full)


def _with_blocks(cell, res, mut):
    """Split db into its gate blocks (the verdicts name one gate); keep the full arrays for diagnose."""
    full = {}
    if BIAS_GATES[cell]:
        db_got, db_want, db_num = res.pop("db")
        full["db"] = (db_got, db_want)
        res.update({k: (g, w, u) for (k, g), w, u in zip(
            _split("db", db_got, BIAS_GATES[cell]).items(), _split("db", db_want, BIAS_GATES[cell]).values(),
            _split("db", db_num, BIAS_GATES[cell]).values())})
        for msg, vals, _ in mut.values():
            if "db" in vals:
                vals.update(_split("db", vals.pop("db"), BIAS_GATES[cell]))
    for k in ("dWx", "dWh"):
        if k in res:
            full[k] = res[k][:2]
    return full


def _mutant_values(module, name, call, names):
    """{key: (message, {name: value}, equations quoted)}: each mutant of the book function
    ``module.name`` (mistakes.py) run by ``call``."""
    out = {}
    for i, (label, message, fn, keys) in enumerate(mistakes.mutants(module, name)):
        try:
            vals = call(fn)
        except Exception:  # noqa: BLE001 - a mistake that crashes on this case shows nothing here
            continue
        out[i] = (f"{label}: {message}", {n: v for n, v in zip(names, vals) if v is not None},
                  [equation(module.__doc__, k) for k in keys])
    return out


def _step_cases(rng, cell):
    spec = [("N=1, one step", 1, 3, 2, False), ("N=3, one step", 3, 4, 3, False),
            ("N=4, ids input (an id repeats)", 4, 5, 3, True)]
    cases = []
    for where, N, D, H, ids in spec:
        a = dict(x=_IDS_STEP.copy() if ids else rng.standard_normal((N, D)), h_prev=rng.standard_normal((N, H)),
                 **_params(rng, cell, D, H), dh=rng.standard_normal((N, H)))
        if cell == "lstm":
            a["c_prev"], a["dc"] = rng.standard_normal((N, H)), rng.standard_normal((N, H))
        cases.append(Case(where, "local", a))
    return cases


def grade_step(cell):
    """The grader of the <cell>_step exercise: step_forward's outputs against the book's, then
    step_backward's gradients, on the cache of the book's step_forward (the layout the file's
    step_backward unpacks; a step_backward that reads another layout is given the learner's)."""
    book = CELL[cell]
    lstm_ = cell == "lstm"
    outs = ["h_t", "c_t"] if lstm_ else ["h_t"]
    grads = ["dx_t", "dh_prev", "dc_prev", "dWx", "dWh", "db"] if lstm_ else ["dx_t", "dh_prev", "dWx", "dWh", "db"]
    bias = [f"db[{g}]" for g in BIAS_GATES[cell]] if BIAS_GATES[cell] else ["db"]
    order = outs + bias + (["dc_prev"] if lstm_ else []) + ["dh_prev", "dWh", "dWx", "dx_t"]
    state = ["h_prev", "c_prev"] if lstm_ else ["h_prev"]

    def grade(learner, path, rng):
        def run(case):
            a = case.args
            ins = [a["x"]] + [a[s] for s in state] + [a["Wx"], a["Wh"], a["b"]]
            mine = _tuple(_call(learner.step_forward, *[_copy(v) for v in ins], path=path, what="step_forward"),
                          outs + ["cache"], "step_forward")
            ref = book.step_forward(*ins)
            res = {n: (g, w, None) for n, g, w in zip(outs, mine, ref)}
            upstream = [a["dh"]] + ([a["dc"]] if lstm_ else [])
            try:
                got = learner.step_backward(*[u.copy() for u in upstream], ref[-1])
            except NotImplementedError:
                got = _call(learner.step_backward, *[u.copy() for u in upstream], ref[-1], path=path,
                            what="step_backward")
            except Exception:  # noqa: BLE001 - reads another cache layout: its own step_forward's
                got = _call(learner.step_backward, *[u.copy() for u in upstream], mine[-1], path=path,
                            what="step_backward")
            got = _tuple(got, grads, "step_backward")
            want = book.step_backward(*upstream, ref[-1])
            wrt = {"h_prev": a["h_prev"], "Wx": a["Wx"], "Wh": a["Wh"], "b": a["b"]}
            if lstm_:
                wrt["c_prev"] = a["c_prev"]
            if a["x"].ndim == 2:
                wrt["x_t"] = a["x"]
            num = _numeric(lambda: book.step_forward(*ins)[:len(outs)], wrt, upstream)
            for n, g, w in zip(grads, got, want):
                res[n] = (g, w, num.get(n[1:]))
            mut = _mutant_values(book, "step_backward", lambda fn: fn(*upstream, ref[-1]), grads)
            full = _with_blocks(cell, res, mut)
            ctx = _gate_ctx(cell, a["x"].shape[0], a["x"] if a["x"].ndim == 1 else None, full)
            ctx.mutants = mut
            return res, ctx

        def explain(name, case, ok_now):
            if name in outs:
                return ([equation(book.__doc__, k) for k in FORWARD_EQS[cell]],
                        "step_forward's output differs from the book's")
            return [equation(book.__doc__, k) for k in _flows(cell, name)], ""
        return _grade(_step_cases(rng, cell), run, order, explain, path, lambda n, case: NODES[cell].get(n, ()))
    return grade


def _sequence_cases(rng, cell):
    """Float x unless ids; h0 (and c0) given or None; the simplest first."""
    spec = [("N=1 T=1", "local", 1, 1, 3, 2, True, False, False),
            ("N=2 T=1, no h0" + (" c0" if cell == "lstm" else ""), "local", 2, 1, 4, 3, False, False, False),
            ("N=2 T=1, dcT given", "dcT", 2, 1, 4, 3, True, True, False),
            ("N=2 T=3", "time", 2, 3, 4, 3, True, False, False),
            ("N=1 T=4", "time", 1, 4, 3, 2, True, True, False),
            ("N=3 T=3, ids input (ids repeat in a step)", "time", 3, 3, 5, 3, False, True, True)]
    if cell != "lstm":
        spec = [s for s in spec if s[1] != "dcT"]
    cases = []
    for where, kind, N, T, D, H, state, dcT, ids in spec:
        a = dict(x=_IDS_SEQ.copy() if ids else rng.standard_normal((N, T, D)),
                 h0=rng.standard_normal((N, H)) if state else None, **_params(rng, cell, D, H),
                 dh=rng.standard_normal((N, T, H)))
        if cell == "lstm":
            a["c0"] = rng.standard_normal((N, H)) if state else None
            a["dcT"] = rng.standard_normal((N, H)) if dcT else None
        cases.append(Case(where, kind, a))
    return cases


def grade_sequence(cell):
    """The grader of the <cell> exercise: forward's outputs against the book's, then backward's
    gradients on the learner's own forward's cache (the cache is theirs to choose)."""
    book = CELL[cell]
    lstm_ = cell == "lstm"
    names = ("dx", "dh0", "dc0", "dWx", "dWh", "db") if lstm_ else ("dx", "dh0", "dWx", "dWh", "db")
    outs = ["h", "cT"] if lstm_ else ["h"]
    bias = [f"db[{g}]" for g in BIAS_GATES[cell]] if BIAS_GATES[cell] else ["db"]
    order = outs + bias + (["dc0"] if lstm_ else []) + ["dh0", "dWh", "dWx", "dx"]
    state = ["h0", "c0"] if lstm_ else ["h0"]

    def grade(learner, path, rng):
        def run(case):
            a = {k: _copy(v) for k, v in case.args.items()}
            N, T = a["x"].shape[:2]
            H = a["Wh"].shape[0]
            ins = [a["x"]] + [a[s] for s in state] + [a["Wx"], a["Wh"], a["b"]]
            dcT = a.get("dcT")
            kw = {"dcT": _copy(dcT)} if lstm_ else {}
            out = _tuple(_call(learner.forward, *[_copy(v) for v in ins], path=path, what="forward"),
                         outs + ["cache"], "forward")
            got = _tuple(_call(learner.backward, a["dh"].copy(), out[-1], path=path, what="backward", **kw),
                         names, "backward")
            ref = book.forward(*ins)
            want = book.backward(a["dh"], ref[-1], **({"dcT": dcT} if lstm_ else {}))
            res = {n: (g, w, None) for n, g, w in zip(outs, out, ref)}
            # central differences on the book's forward, with the omitted state as explicit zeros
            full = {k: (np.zeros((N, H)) if a.get(k, 0) is None and k in state else a.get(k))
                    for k in ("x", *state, "Wx", "Wh", "b")}
            wrt = {k: v for k, v in full.items() if not (k == "x" and v.ndim == 2)}
            douts = [a["dh"]] + ([dcT] if lstm_ else [])
            num = _numeric(lambda: book.forward(*[full[k] for k in ("x", *state, "Wx", "Wh", "b")])[:len(douts)],
                           wrt, douts)
            for n, g, w in zip(names, got, want):
                res[n] = (g, w, num.get(n[1:]))
            mut = _mutant_values(book, "backward",
                                 lambda fn: fn(a["dh"], ref[-1], **({"dcT": dcT} if lstm_ else {})), names)
            fulls = _with_blocks(cell, res, mut)
            ctx = _gate_ctx(cell, N, a["x"] if a["x"].ndim == 2 else None, fulls)
            ctx.mutants = mut
            return res, ctx

        doc = book.__doc__

        def explain(name, case, ok_now):
            if name in outs:
                return [equation(doc, k) for k in FORWARD_EQS[cell]], "forward's output differs from the book's"
            flows = _flows(cell, name)
            if case.kind == "local":
                return [equation(doc, k) for k in flows], ""
            if case.kind == "dcT":
                return [equation(doc, k) for k in ("(5)", "(4)")], \
                    "dcT (the final cell state's gradient) enters at t = T-1, beside what (5) sends c_T"
            if name in ("dx", "dh0", "dc0"):
                return [equation(doc, "(1)")], ("h_t is used twice, by the layer above and by step t+1: "
                                                "its gradient is both" + (", and c_t's likewise (by (5), by step "
                                                                          "t+1's (4))" if lstm_ else ""))
            if ok_now.get("dx", (False,))[0] and case.args["x"].ndim == 3:
                return [equation(doc, "(1)")], SUM_NOTE      # every step's gradient right: the sum over t is not
            return [equation(doc, k) for k in flows], "the gradient arriving from step t+1"
        def nodes(name, case):
            step = NODES[cell].get(STEP_NAME.get(name, name), ())
            return (("carried",) if case.kind == "time" else ()) + step
        return _grade(_sequence_cases(rng, cell), run, order, explain, path, nodes)
    return grade


# ---- the layers -----------------------------------------------------------------------------------

def grade_linear(learner, path, rng):
    shapes = [("N=1, x (1, 3)", (1, 3), 2), ("N=4, x (4, 3)", (4, 3), 5), ("x (2, 3, 4): N=2 T=3", (2, 3, 4), 3)]
    cases = [Case(w, "local", dict(x=rng.standard_normal(s), W=rng.standard_normal((s[-1], M)),
                                    b=rng.standard_normal(M), dy=rng.standard_normal(s[:-1] + (M,))))
             for w, s, M in shapes]
    notes = {"db": "b is added to every row: what every row sends back to it adds up",
             "dW": "W[d, m] multiplies x[r, d] in every row r",
             "dx": "dx has x's shape, every leading axis included"}

    def run(case):
        a = case.args
        y, cache = _tuple(_call(linear.forward, a["x"].copy(), a["W"].copy(), a["b"].copy(), path=path,
                                what="forward"), ("y", "cache"), "forward")
        got = _tuple(_call(learner.backward, a["dy"].copy(), cache, path=path, what="backward"), ("dx", "dW", "db"),
                     "backward")
        want = linear.backward(a["dy"], linear.forward(a["x"], a["W"], a["b"])[1])
        num = _numeric(lambda: (linear.forward(a["x"], a["W"], a["b"])[0],), {"x": a["x"], "W": a["W"], "b": a["b"]},
                       [a["dy"]])
        rows = int(np.prod(a["x"].shape[:-1]))
        return {n: (g, w, num[n[1:]]) for n, g, w in zip(("dx", "dW", "db"), got, want)}, Context(rows=rows)

    return _grade(cases, run, ["db", "dW", "dx"],
                  lambda n, c, ok: ([equation(linear.__doc__, "(1)")], notes[n]), path)


def grade_softmax_ce(learner, path, rng):
    spec = [("N=1 T=1 V=3", 1, 1, 3, 1.0), ("N=2 T=3 V=5", 2, 3, 5, 1.0), ("N=3 T=2 V=4, dloss=0.7", 3, 2, 4, 0.7)]
    cases = [Case(w, "local", dict(z=rng.standard_normal((N, T, V)) * 2, y=rng.integers(0, V, (N, T)), dloss=d))
             for w, N, T, V, d in spec]

    def run(case):
        a = case.args
        _, cache = _tuple(_call(learner.forward, a["z"].copy(), a["y"].copy(), path=path, what="forward"),
                          ("loss", "cache"), "forward")
        got = _call(learner.backward, cache, a["dloss"], path=path, what="backward")
        want = softmax_ce.backward(softmax_ce.forward(a["z"], a["y"])[1], a["dloss"])
        num = numeric_gradient(lambda: softmax_ce.forward(a["z"], a["y"])[0] * a["dloss"], a["z"])
        return {"dlogits": (got, want, num)}, Context()

    def explain(n, case, ok):
        note = "" if case.where.startswith("N=1 T=1") else "the loss is a mean over M = N*T tokens"
        return [equation(softmax_ce.__doc__, k) for k in ("(3)", "(2)")], note
    return _grade(cases, run, ["dlogits"], explain, path)


def grade_masked_softmax_ce(learner, path, rng):
    spec = [("N=1 T=1, mask 1", 1, 1, 3, [[1]], 1.0), ("N=2 T=3, mask all 1", 2, 3, 5, None, 1.0),
            ("N=3 T=4, padding masked", 3, 4, 4, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], 0.7),
            ("N=2 T=2, random mask, dloss=-1.3", 2, 2, 3, [[0, 1], [1, 1]], -1.3)]
    cases = []
    for w, N, T, V, m, d in spec:
        mask = np.ones((N, T), dtype=bool) if m is None else np.array(m, dtype=bool)
        cases.append(Case(w, "local", dict(z=rng.standard_normal((N, T, V)) * 2, y=rng.integers(0, V, (N, T)),
                                           mask=mask, dloss=d)))
    mod = masked_softmax_ce

    def run(case):
        a = case.args
        _, cache = _tuple(_call(learner.forward, a["z"].copy(), a["y"].copy(), a["mask"].copy(), path=path,
                                what="forward"), ("loss", "cache"), "forward")
        got = _call(learner.backward, cache, a["dloss"], path=path, what="backward")
        want = mod.backward(mod.forward(a["z"], a["y"], a["mask"])[1], a["dloss"])
        num = numeric_gradient(lambda: mod.forward(a["z"], a["y"], a["mask"])[0] * a["dloss"], a["z"])
        return {"dlogits": (got, want, num)}, Context()

    def explain(n, case, ok):
        note = "" if case.where.endswith("mask 1") else \
            "a token with mask 0 sends back nothing, and the mean is over the K tokens whose mask is 1"
        return [equation(mod.__doc__, "(3)")], note
    return _grade(cases, run, ["dlogits"], explain, path)


def grade_embedding(learner, path, rng):
    spec = [("N=1 T=3, every id once", np.array([[2, 0, 3]]), 5, 2),
            ("N=2 T=3, ids repeat", np.array([[0, 1, 2], [0, 3, 0]]), 4, 3),
            ("N=3 T=2, V=6", rng.integers(0, 6, (3, 2)), 6, 2)]
    cases = [Case(w, "local", dict(ids=ids, W=rng.standard_normal((V, D)),
                                    dout=rng.standard_normal(ids.shape + (D,)))) for w, ids, V, D in spec]

    def run(case):
        a = case.args
        _, cache = _tuple(_call(learner.forward, a["ids"].copy(), a["W"].copy(), path=path, what="forward"),
                          ("out", "cache"), "forward")
        got = _call(learner.backward, a["dout"].copy(), cache, path=path, what="backward")
        want = embedding.backward(a["dout"], embedding.forward(a["ids"], a["W"])[1])
        num = _numeric(lambda: (embedding.forward(a["ids"], a["W"])[0],), {"W": a["W"]}, [a["dout"]])["W"]
        return {"dW": (got, want, num)}, Context(ids=a["ids"], tables=("dW",))

    return _grade(cases, run, ["dW"], lambda n, c, ok: ([equation(embedding.__doc__, "(1)")],
                                                        "every position where ids == v sends its dout back to row v"),
                  path)


class _SeededRng:
    """An rng that draws u as the book's dropout does (``rng.random(shape, dtype)``), the same
    numbers for the learner and the book; keeps how often it was asked."""

    def __init__(self, seed):
        self.gen, self.calls = np.random.default_rng(seed), 0

    def random(self, shape=None, dtype=np.float64, out=None):
        self.calls += 1
        return self.gen.random(shape, dtype=dtype)


def grade_dropout(learner, path, rng):
    spec = [("p=0 (identity)", 0.0, (2, 3)), ("p=0.5, x (4, 3, 5)", 0.5, (4, 3, 5)), ("p=0.2, x (3, 6)", 0.2, (3, 6))]
    cases = [Case(w, "local", dict(x=rng.standard_normal(s), p=p, seed=int(rng.integers(1 << 30)),
                                    dy=rng.standard_normal(s))) for w, p, s in spec]
    order = ["y", "mask", "dx"]

    def run(case):
        a = case.args
        y, mask = _tuple(_call(learner.forward, a["x"].copy(), a["p"], _SeededRng(a["seed"]), path=path,
                               what="forward"), ("y", "mask"), "forward")
        y_ref, mask_ref = dropout.forward(a["x"], a["p"], _SeededRng(a["seed"]))
        dx = _call(learner.backward, a["dy"].copy(), mask_ref, path=path, what="backward")
        res = {"y": (y, y_ref, None), "mask": (mask, mask_ref, None),
               "dx": (dx, dropout.backward(a["dy"], mask_ref), None)}
        ctx = Context()
        if mask_ref is not None:
            kept = (mask_ref > 0).astype(np.float64)
            ctx.mutants = {NOT_INVERTED: (f"{NOT_INVERTED}: the kept units are not scaled by 1/(1-p), so "
                                          f"E[y] = (1-p) x and evaluation (no dropout) would see larger inputs "
                                          f"than training did", {"y": a["x"] * kept, "mask": kept}, [])}
        return res, ctx

    def explain(name, case, ok):
        return [equation(dropout.__doc__, "(1)"), equation(dropout.__doc__, "(2)")], \
            ("p <= 0 returns (x, None)" if case.args["p"] <= 0 else "")
    return _grade(cases, run, order, explain, path)


def grade_stack(learner, path, rng):
    spec = [("lstm, L=1", "lstm", 1, 0.0), ("rnn, L=2", "rnn", 2, 0.0), ("gru, L=2, dropout 0.4", "gru", 2, 0.4),
            ("lstm, L=3, dropout 0.3", "lstm", 3, 0.3)]
    N, T, D, H = 2, 3, 4, 3
    cases = []
    for w, cell, L, p in spec:
        g, nb = WIDTH[cell]
        params = [(rng.standard_normal((D if l == 0 else H, g * H)) * 0.5, rng.standard_normal((H, g * H)) * 0.5,
                   rng.standard_normal(nb * H) * 0.5) for l in range(L)]
        st = [tuple(rng.standard_normal((N, H)) for _ in range(2 if cell == "lstm" else 1)) for _ in range(L)]
        cases.append(Case(w, "local", dict(cell=cell, L=L, p=p, x=rng.standard_normal((N, T, D)), params=params,
                                           state=st, dh=rng.standard_normal((N, T, H)),
                                           seed=int(rng.integers(1 << 30)))))
    order = ["dparams[top]", "dstate[top]", "dparams[below]", "dstate[below]", "dx"]

    def run(case):
        a = case.args
        cell, L = a["cell"], a["L"]

        def fwd():
            return stack.forward(a["x"], a["state"], a["params"], cell, a["p"], _SeededRng(a["seed"]))
        h, _, cache = fwd()
        got = _tuple(_call(learner.backward, a["dh"].copy(), cache, path=path, what="backward"),
                     ("dx", "dstate", "dparams"), "backward")
        want = stack.backward(a["dh"], fwd()[2])
        arrays = {"x": a["x"], **{f"s{l}{k}": s for l in range(L) for k, s in enumerate(a["state"][l])},
                  **{f"p{l}{k}": p for l in range(L) for k, p in enumerate(a["params"][l])}}
        num = _numeric(lambda: (fwd()[0],), arrays, [a["dh"]])

        def pick(tree, kind, l):
            try:
                return np.concatenate([np.ravel(v) for v in tree[l]]) if tree is not None else None
            except (TypeError, ValueError, IndexError):
                return None
        res = {"dx": (got[0], want[0], num["x"])}
        groups = {"top": [L - 1], "below": list(range(L - 1))}
        for part, idx, key in (("dstate", 1, "s"), ("dparams", 2, "p")):
            for g, layers in groups.items():
                if not layers:
                    continue
                gv = [pick(got[idx], part, l) for l in layers]
                res[f"{part}[{g}]"] = (
                    None if any(v is None for v in gv) else np.concatenate(gv),
                    np.concatenate([pick(want[idx], part, l) for l in layers]),
                    np.concatenate([np.ravel(num[f"{key}{l}{k}"]) for l in layers
                                    for k in range(len(a["state"][l] if key == "s" else a["params"][l]))]))
        mut = {}
        if a["p"] > 0:
            fn = mistakes.for_function(stack, "backward")[0][2]
            w2 = fn(a["dh"], fwd()[2])
            vals = {"dx": w2[0]}
            for part, idx in (("dstate", 1), ("dparams", 2)):
                for g, layers in groups.items():
                    if layers:
                        vals[f"{part}[{g}]"] = np.concatenate([pick(w2[idx], part, l) for l in layers])
            mut[NO_DROPOUT_MASK] = (f"{NO_DROPOUT_MASK}: the gradient went down to the layer below without "
                                    f"going back through the dropout between them (its mask)", vals, [])
        return res, Context(mutants=mut)

    def explain(name, case, ok):
        return [equation(stack.__doc__, k) for k in ("(2)", "(3)")], \
            {"dx": "the gradient of the lowest layer's input",
             "dstate[top]": "the top layer's initial state", "dstate[below]": "the initial states of the layers below",
             "dparams[top]": "the top layer's (dWx, dWh, db)",
             "dparams[below]": "the (dWx, dWh, db) of the layers below"}[name]
    return _grade(cases, run, order, explain, path,
                  lambda n, case: ("top",) if n.endswith("[top]") else ("top", "down"))


# ---- outputs compared with the book ---------------------------------------------------------------

def _outputs(cases, run, order, reread, tol=OUT_TOL, made_from=None):
    """Like _grade for exercises without gradients: run(case) -> {name: (got, book)}.
    ``made_from``: {output: the outputs it is computed from} (``_relate``)."""
    first = {}
    for c, case in enumerate(cases):
        for name, (got, want) in run(case).items():
            ok, err, note = _compare(got, want, tol)
            if not ok and name not in first:
                lines, extra = reread(name, case)
                first[name] = c, Verdict(name, False, err, case.where, lines, " ".join(filter(None, (note, extra))))
    if made_from:
        first = {n: first[n] for n in order if n in first}           # the order _relate reads as printed
        _relate(first, order, lambda n, c: tuple(made_from.get(n, ())) + (n,), range(len(cases)))
    return _first_error_first(first, order)


def grade_adam(learner, path, rng):
    from .. import fast, optim
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
        return [equation(optim.__doc__, key)], note
    return _outputs(cases, run, names, reread, made_from={f"p of {k}": (f"m of {k}", f"v of {k}") for k in "Wb"})


def grade_clip(learner, path, rng):
    from .. import optim
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
    return _outputs(cases, run, order, reread, made_from={"grads['W']": ("global_norm", "returned norm"),
                                                           "grads['b']": ("global_norm", "returned norm")})


def grade_sgns(learner, path, rng):
    from .. import word2vec
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
        return [equation(doc, k) for k in keys], note
    draws = "random state (the draws)"
    return _outputs(cases, run, order, reread, tol=F32_TOL,
                    made_from={"loss": (draws,), "syn1neg": (draws,), "syn0": (draws, "syn1neg")})


def grade_lloyd(learner, path, rng):
    from .. import kmeans
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
        return [equation(kmeans.__doc__, k) for k in keys], note.get(name, "")
    return _outputs(cases, run, order, reread,
                    made_from={"min_d": ("labels",), "centres after one iteration": ("labels", "counts", "sums")})


def grade_sgns_window(learner, path, rng):
    from .. import word2vec
    V, D = 7, 4
    table = word2vec.noise_table(rng.integers(1, 50, V), size=64)
    spec = [("one sentence, one chunk, window 1", [3, 1, 4, 1, 5], [1] * 5, [0, 5], 2),
            ("two sentences (a -1 between), window up to 3", [2, 6, 0, -1, 5, 3, 5, 1], [3, 1, 2, 1, 2, 3, 1, 2],
             [0, 8], 3),
            ("two chunks, a pair never crosses a chunk's end", [0, 1, 2, 3, 4, 5, 6, 0, 1], [2] * 9, [0, 4, 9], 1)]
    cases = []
    for w, ids, win, bounds, K in spec:
        cases.append(Case(w, "local", dict(
            ids=np.array(ids, dtype=np.int64), win=np.array(win, dtype=np.int64),
            bounds=np.array(bounds, dtype=np.int64),
            seeds=rng.integers(1, 1 << 40, len(bounds) - 1), syn0=((rng.random((V, D)) - 0.5) / D).astype(np.float32),
            syn1=(rng.standard_normal((V, D)) * 0.3).astype(np.float32), K=K,
            alpha=np.array([0.05, 0.02], dtype=np.float32))))
    order = ["out (loss, pairs) per chunk", "syn1neg", "syn0"]

    def run(case):
        a = case.args
        s0, s1, r0, r1 = a["syn0"].copy(), a["syn1"].copy(), a["syn0"].copy(), a["syn1"].copy()
        got = _call(learner.sgns_block_reference, a["ids"], a["win"], a["bounds"], a["seeds"], s0, s1, table,
                    a["K"], a["alpha"], path=path, what="sgns_block_reference")
        want = word2vec.sgns_block_reference(a["ids"], a["win"], a["bounds"], a["seeds"], r0, r1, table, a["K"],
                                             a["alpha"])
        return {"out (loss, pairs) per chunk": (got, want), "syn1neg": (s1, r1), "syn0": (s0, r0)}

    def reread(name, case):
        doc = word2vec.__doc__
        note = {"out (loss, pairs) per chunk": "out[c] = (the sum of the pairs' losses, the number of pairs)"}
        keys = ("b. dynamic window", "c. every (center, context)", "d. the learning rate")
        return [equation(doc, k) for k in keys], \
            note.get(name, "")
    return _outputs(cases, run, order, reread, tol=F32_TOL)


def grade_spherical(learner, path, rng):
    from .. import kmeans
    spec = [("euclidean, every cluster filled", False, False, False), ("spherical", True, False, False),
            ("spherical, one cluster empty (keeps its centre)", True, True, False),
            ("euclidean, one cluster empty, relocate", False, True, True)]
    cases = []
    for w, sph, empty, relocate in spec:
        N, K, D = 12, 3, 4
        X = rng.standard_normal((N, D))
        if sph:
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        labels = rng.integers(0, K - 1 if empty else K, N)
        if not empty:
            labels[:K] = np.arange(K)
        old = rng.standard_normal((K, D))
        min_d = rng.random(N) * 3
        sums = np.zeros((K, D))
        np.add.at(sums, labels, X)
        counts = np.bincount(labels, minlength=K).astype(np.int64)
        cases.append(Case(w, "local", dict(X=X, sums=sums, counts=counts, labels=labels, min_d=min_d, old=old,
                                           spherical=sph, relocate=relocate)))
    order = ["centres", "labels", "min_d"]

    def run(case):
        a = case.args
        lab, md = a["labels"].copy(), a["min_d"].copy()
        rlab, rmd = a["labels"].copy(), a["min_d"].copy()
        got = _call(learner._update_centers, a["X"], a["sums"].copy(), a["counts"].copy(), lab, md, a["old"].copy(),
                    a["spherical"], relocate=a["relocate"], path=path, what="_update_centers")
        want = kmeans._update_centers(a["X"], a["sums"].copy(), a["counts"].copy(), rlab, rmd, a["old"].copy(),
                                      a["spherical"], relocate=a["relocate"])
        return {"centres": (got, want), "labels": (lab.astype(np.float64), rlab.astype(np.float64)),
                "min_d": (md, rmd)}

    def reread(name, case):
        keys = ["(5)", "metric=\"cosine\" is spherical"] + (["(6)"] if case.args["relocate"] else [])
        note = {"centres": "empty clusters keep their old centre" if "empty" in case.where else "",
                "labels": "with relocate, (6) moves the point to the empty cluster first (the book's first lines)"}
        return [equation(kmeans.__doc__, k) for k in keys], note.get(name, "")
    return _outputs(cases, run, order, reread)
