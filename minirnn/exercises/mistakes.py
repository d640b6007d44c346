"""Known mistakes, made on purpose in the book's own backward so that the grader can recognise them.

Each entry edits the source of one book function (a string replaced by another, as a learner would
write it), compiles the result in the book module's namespace, and hands back the mutated function
with the mistake's name and its message, and, where the gradient's usual path would point away
from the mistake, the forward equations the message is about (the grader quotes those instead).
The grader runs each on the case it grades and, when the learner's gradient equals a mutant's and
not the book's, names the mistake (grading.diagnose). One mistake may take several edits (one
mutant each), for the several ways a learner makes it.
The mistakes that can be read off a value alone (a bias mean, a transpose, a gate in another's slot,
a dropped repeated index) need no mutant: grading.diagnose reads them directly.

tests/test_exercises.py checks that every edit applies to today's book (a book edit that moves a
string fails there, not silently here) and that each mutant differs from the book.
"""
from __future__ import annotations

import functools
import inspect
import textwrap

from ..layers import gru, lstm, rnn, stack

NO_TANH = "forgotten tanh'"
NO_SIGMOID = "forgotten σ'"
NO_SUM_OVER_T = "missing accumulation over t"
TRANSPOSED = "transposed product"
NO_DROPOUT_MASK = "dropout mask left out"
NO_CARRIED_DC = "carried cell gradient left out"
NO_CARRIED_DH = "carried hidden gradient left out"
NO_DIRECT_PATH = "direct path left out"
NO_RESET_FACTOR = "reset factor left out"
FORWARD_ORDER = "backward loop in forward order"
NOT_CARRIED = "carried gradient never updated"


def _tanh(eq):
    return (NO_TANH, f"this is the gradient without the derivative of tanh in {eq}: a gradient that goes back "
                     f"through tanh is multiplied by tanh' there, 1 - tanh^2")


def _sigmoid(gate, eq):
    return (NO_SIGMOID, f"this is the gradient without the derivative of σ for gate {gate} in {eq}: a gradient "
                        f"that goes back through σ is multiplied by σ' there, σ (1 - σ)")


_SUM = (NO_SUM_OVER_T, "this is one step's share alone (t = 0's: each step replaced the sum). The weights "
                       "are the same at every step, so their gradient adds up every step's share")
_TRANSPOSE_WH = (TRANSPOSED, "this is what Wh untransposed gives: the gradient that goes back through "
                             "h_{t-1} Wh to h_{t-1} multiplies by Wh transposed (check the shapes with H != D)")

_DC_STEP = (NO_CARRIED_DC, "this is the gradient without what reaches c_t from step t+1. c_t is used twice, by (5) "
                          "in this step and by (4) in step t+1, which sent back dc_t: c_t's gradient is the "
                          "sum of both, and every gradient below c_t (its gates, c_{t-1}, a_t) carries it",
            ("(5)", "(4)"))
_DC_SEQ = (NO_CARRIED_DC, "this is the gradient without what reaches c_t from step t+1: the dc_prev that step "
                          "t+1's backward returned (dcT, when given, at t = T-1) belongs in step t's gradient "
                          "of c_t, beside what (5) sends it",
           ("(5)", "(4)"))

_ORDER = (FORWARD_ORDER, "this is the gradient of a backward loop that ran t = 0 .. T-1: step t needs what step "
                         "t+1 sent back (dh_next), so step t+1's backward must run first: for t = T-1 down to 0, "
                         "reversed(range(T))")


def _not_carried(name, state, eq):
    return (NOT_CARRIED, f"this is the gradient with {name} never updated in the loop: it keeps its value from "
                         f"before the loop (zeros) at every step. After step t's backward, {name} must hold the "
                         f"gradient of {state} that step t found through {eq}, for step t-1, and after the loop it "
                         f"is the gradient of the initial state", (eq,))


def _dh_seq(*eqs):
    return (NO_CARRIED_DH, f"this is the gradient without what reaches h_t from step t+1: h_t is used by the layer "
                           f"above (dh[:, t]) and by step t+1's {' and '.join(eqs)}, and the dh_prev that step's "
                           f"backward returned belongs in step t's gradient of h_t, beside dh[:, t]", eqs)


_DIRECT = (NO_DIRECT_PATH, "this is dh_prev without h_{t-1}'s direct path: (7) uses h_{t-1} itself, weighted by "
                           "z_t, besides (2) inside the gates; h_{t-1}'s gradient is the sum of what both send "
                           "back", ("(7)", "(2)"))
_RESET = (NO_RESET_FACTOR, "the n block of the hidden side lacks the factor r_t: in (6) hn_t enters multiplied by "
                           "r_t, so what reaches hn_t, and through (5) the n block of ah_t (and b_hn), carries r_t; "
                           "dh_prev and dWh are computed from that block through (2)", ("(6)", "(5)", "(2)"))

# (module, function) -> [((label, message[, forward equations]), [(book text, mistaken text), ...]), ...]
EDITS = {
    (rnn, "step_backward"): [(_tanh("(2) h_t = tanh(a_t)"), [("(1 - h_t * h_t)", "1")]),
                             (_TRANSPOSE_WH, [("da @ Wh.T", "da @ Wh")])],
    (rnn, "backward"): [(_tanh("(2) h_t = tanh(a_t)"), [("(1 - h[:, t] * h[:, t])", "1")]),
                        (_TRANSPOSE_WH, [("da_t @ Wh.T", "da_t @ Wh")]),
                        (_SUM, [("dWh += ", "dWh = "), ("db += ", "db = "), ("dWx += ", "dWx = ")]),
                        (_dh_seq("(1)"), [("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]")]),
                        (_ORDER, [("for t in reversed(range(T)):", "for t in range(T):")]),
                        (_not_carried("dh_next", "h_{t-1}", "(1)"),
                         [("dh_next = da_t @ Wh.T", "dh_prev = da_t @ Wh.T")])],
    (lstm, "step_backward"): [(_tanh("(5) h_t = o_t * tanh(c_t)"), [("(1 - tanh_c * tanh_c)", "1")]),
                              (_tanh("(3) g_t = tanh(a_g)"), [("dg * (1 - g * g)", "dg")]),
                              (_sigmoid("i", "(2)"), [("di * i * (1 - i)", "di")]),
                              (_sigmoid("f", "(2)"), [("df * f * (1 - f)", "df")]),
                              (_sigmoid("o", "(2)"), [("do * o * (1 - o)", "do")]),
                              (_DC_STEP, [("dc = dc_t + dh_t", "dc = dh_t")])],
    (lstm, "backward"): [(_tanh("(5) h_t = o_t * tanh(c_t)"), [("(1 - tanh_c * tanh_c)", "1")]),
                         (_tanh("(3) g_t = tanh(a_g)"), [("dg * (1 - g * g)", "dg")]),
                         (_sigmoid("i", "(2)"), [("di * i * (1 - i)", "di")]),
                         (_sigmoid("f", "(2)"), [("df * f * (1 - f)", "df")]),
                         (_sigmoid("o", "(2)"), [("do * o * (1 - o)", "do")]),
                         (_SUM, [("dWh += ", "dWh = "), ("db += ", "db = "), ("dWx += ", "dWx = ")]),
                         (_DC_SEQ, [("dc_t = dc_next + dh_t", "dc_t = dh_t")]),
                         (_dh_seq("(1)"), [("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]")]),
                         (_ORDER, [("for t in reversed(range(T)):", "for t in range(T):")]),
                         (_not_carried("dc_next", "c_{t-1}", "(4)"),
                          [("dc_next = dc_t * f ", "dc_prev = dc_t * f ")]),
                         (_not_carried("dh_next", "h_{t-1}", "(1)"),
                          [("dh_next = da_t @ Wh.T", "dh_prev = da_t @ Wh.T")])],
    (gru, "step_backward"): [(_tanh("(6) n_t = tanh(ax_n + r_t * hn_t)"), [("dn * (1 - n * n)", "dn")]),
                             (_sigmoid("z", "(4)"), [("dz * z * (1 - z)", "dz")]),
                             (_sigmoid("r", "(3)"), [("dr * r * (1 - r)", "dr")]),
                             (_DIRECT, [("dh_prev = dh_t * z", "dh_prev = 0 * z")]),
                             (_RESET, [("dah[:, Nn] = dan * r", "dah[:, Nn] = dan"),     # r_t left out of dah alone
                                       ("db[3 * H:] = dah[:, Nn].sum(axis=0)", "db[3 * H:] = (dan * r).sum(axis=0)")]),
                             (_RESET, [("dah[:, Nn] = dan * r", "dah[:, Nn] = dan")])],  # ... and of db_hn
    (gru, "backward"): [(_tanh("(6) n_t = tanh(ax_n + r_t * hn_t)"), [("dn * (1 - n * n)", "dn")]),
                        (_sigmoid("z", "(4)"), [("dz * z * (1 - z)", "dz")]),
                        (_sigmoid("r", "(3)"), [("dr * r * (1 - r)", "dr")]),
                        (_SUM, [("dWh += ", "dWh = "), ("db[3 * H:] += ", "db[3 * H:] = "),
                                ("db[:3 * H] += ", "db[:3 * H] = "), ("dWx += ", "dWx = ")]),
                        (_DIRECT, [("dh_prev = dh_t * z", "dh_prev = 0 * z")]),
                        (_RESET, [("dah[:, Nn] = dan * r", "dah[:, Nn] = dan"),
                                  ("db[3 * H:] += dah[:, Nn].sum(axis=0)", "db[3 * H:] += (dan * r).sum(axis=0)")]),
                        (_RESET, [("dah[:, Nn] = dan * r", "dah[:, Nn] = dan")]),
                        (_dh_seq("(7)", "(2)"), [("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]")]),
                        (_ORDER, [("for t in reversed(range(T)):", "for t in range(T):")])],
    (stack, "backward"): [((NO_DROPOUT_MASK, "the gradient went down to the layer below without going back "
                                             "through the dropout between them"),
                           [("dh = dropout_layer.backward(dx, mask) if l > 0 else dx", "dh = dx")])],
}


def mutate(fn, edits):
    """fn with each (old, new) of ``edits`` made in its source, compiled in fn's module namespace.
    LookupError when an old text is not in the source."""
    src = textwrap.dedent(inspect.getsource(fn))
    for old, new in edits:
        if old not in src:
            raise LookupError(f"{fn.__module__}.{fn.__name__} no longer holds {old!r}")
        src = src.replace(old, new)
    namespace = dict(fn.__globals__)
    exec(compile(src, f"<{fn.__module__}.{fn.__name__}, mistaken>", "exec"), namespace)  # noqa: S102
    return namespace[fn.__name__]


@functools.lru_cache(maxsize=None)
def _built(module, name):
    return tuple((m[0], m[1], mutate(getattr(module, name), edits), tuple(m[2]) if len(m) > 2 else ())
                 for m, edits in EDITS.get((module, name), ()))


def for_function(module, name):
    """[(label, message, mutated function)] for the book function ``module.name``."""
    return [b[:3] for b in _built(module, name)]


def mutants(module, name):
    """[(label, message, mutated function, forward equations the message is about (may be ()))]."""
    return list(_built(module, name))
