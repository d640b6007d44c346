"""Known mistakes, made on purpose in the book's own backward so that the grader can recognise them.

Each entry edits the source of one book function (a string replaced by another, as a learner would
write it), compiles the result in the book module's namespace, and hands back the mutated function
with the mistake's name and its message. The grader runs each on the case it grades and, when the
learner's gradient equals a mutant's and not the book's, names the mistake (grading.diagnose).
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

# (module, function) -> [((label, message), [(book text, mistaken text), ...]), ...]
EDITS = {
    (rnn, "step_backward"): [(_tanh("(2) h_t = tanh(a_t)"), [("(1 - h_t * h_t)", "1")]),
                             (_TRANSPOSE_WH, [("da @ Wh.T", "da @ Wh")])],
    (rnn, "backward"): [(_tanh("(2) h_t = tanh(a_t)"), [("(1 - h[:, t] * h[:, t])", "1")]),
                        (_TRANSPOSE_WH, [("da_t @ Wh.T", "da_t @ Wh")]),
                        (_SUM, [("dWh += ", "dWh = "), ("db += ", "db = "), ("dWx += ", "dWx = ")])],
    (lstm, "step_backward"): [(_tanh("(5) h_t = o_t * tanh(c_t)"), [("(1 - tanh_c * tanh_c)", "1")]),
                              (_tanh("(3) g_t = tanh(a_g)"), [("dg * (1 - g * g)", "dg")]),
                              (_sigmoid("i", "(2)"), [("di * i * (1 - i)", "di")]),
                              (_sigmoid("f", "(2)"), [("df * f * (1 - f)", "df")]),
                              (_sigmoid("o", "(2)"), [("do * o * (1 - o)", "do")])],
    (lstm, "backward"): [(_tanh("(5) h_t = o_t * tanh(c_t)"), [("(1 - tanh_c * tanh_c)", "1")]),
                         (_tanh("(3) g_t = tanh(a_g)"), [("dg * (1 - g * g)", "dg")]),
                         (_sigmoid("i", "(2)"), [("di * i * (1 - i)", "di")]),
                         (_sigmoid("f", "(2)"), [("df * f * (1 - f)", "df")]),
                         (_sigmoid("o", "(2)"), [("do * o * (1 - o)", "do")]),
                         (_SUM, [("dWh += ", "dWh = "), ("db += ", "db = "), ("dWx += ", "dWx = ")])],
    (gru, "step_backward"): [(_tanh("(6) n_t = tanh(ax_n + r_t * hn_t)"), [("dn * (1 - n * n)", "dn")]),
                             (_sigmoid("z", "(4)"), [("dz * z * (1 - z)", "dz")]),
                             (_sigmoid("r", "(3)"), [("dr * r * (1 - r)", "dr")])],
    (gru, "backward"): [(_tanh("(6) n_t = tanh(ax_n + r_t * hn_t)"), [("dn * (1 - n * n)", "dn")]),
                        (_sigmoid("z", "(4)"), [("dz * z * (1 - z)", "dz")]),
                        (_sigmoid("r", "(3)"), [("dr * r * (1 - r)", "dr")]),
                        (_SUM, [("dWh += ", "dWh = "), ("db[3 * H:] += ", "db[3 * H:] = "),
                                ("db[:3 * H] += ", "db[:3 * H] = "), ("dWx += ", "dWx = ")])],
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
    return tuple((label, message, mutate(getattr(module, name), edits))
                 for (label, message), edits in EDITS.get((module, name), ()))


def for_function(module, name):
    """[(label, message, mutated function)] for the book function ``module.name``."""
    return list(_built(module, name))
