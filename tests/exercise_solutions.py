"""What a learner who got everything right writes, for the exercise tests and the walk-through pages'
tests (not a test module): the book's own code in an exercise file, or, for a sequence exercise, a
forward and backward built on the step file beside it, as the exercise asks."""
import re

from minirnn import exercises
from minirnn.exercises.source import MARKER, exercise_source


def book_text(name, replace=()):
    """The exercise file with the book's own code in place of the TODOs, optionally with planted
    bugs: each (old, new) replaces the last occurrence of old (the code, below the docstring)."""
    ex = exercises.EXERCISES[name]
    text = exercise_source(ex.module, keep=ex.keep, blank=(), header=exercises._header(ex))
    if replace and isinstance(replace[0], str):
        replace = [replace]
    for old, new in replace:
        i = text.rindex(old)
        text = text[:i] + new + text[i + len(old):]
    return text


def fill(text, fn, body):
    """Replace the TODO lines and the NotImplementedError of function ``fn`` in a started file by
    ``body`` (indented four spaces)."""
    lines = text.splitlines(keepends=True)
    raise_at = next(i for i, l in enumerate(lines) if f'raise NotImplementedError("TODO: write {fn}()")' in l)
    first = raise_at
    while lines[first - 1].lstrip().startswith(MARKER):
        first -= 1
    body = "".join("    " + l + "\n" if l.strip() else "\n" for l in body.strip("\n").splitlines())
    return "".join(lines[:first]) + body + "".join(lines[raise_at + 1:])


FORWARD = """
N, T = x.shape[:2]
H = Wh.shape[0]
h_prev = xp.zeros((N, H)) if h0 is None else h0
{c_init}h = xp.empty((N, T, H), dtype=Wx.dtype)
caches = []
for t in range(T):
    {step_fwd}
    h[:, t] = h_prev
    caches.append(cache_t)
return h, {c_ret}(caches, x.ndim == 2)
"""

BACKWARD = """
caches, ids = cache
xp = array_module(dh)
N, T, H = dh.shape
dh_next = xp.zeros((N, H))
{dc_init}dWx = dWh = db = 0
dxs = []
for t in reversed(range(T)):
    {step_bwd}
    dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    dxs.append(dx_t)
dx = None if ids or not need_dx else xp.stack(dxs[::-1], axis=1)
return dx, dh_next, {dc_ret}dWx, dWh, db
"""


def sequence_on_step(cell):
    """(forward body, backward body) of the <cell> exercise, built on step.step_forward/backward."""
    lstm = cell == "lstm"
    fwd = FORWARD.format(
        c_init="c_prev = xp.zeros((N, H)) if c0 is None else c0\n" if lstm else "",
        step_fwd=("h_prev, c_prev, cache_t = step.step_forward(x[:, t], h_prev, c_prev, Wx, Wh, b)" if lstm
                  else "h_prev, cache_t = step.step_forward(x[:, t], h_prev, Wx, Wh, b)"),
        c_ret="c_prev, " if lstm else "")
    bwd = BACKWARD.format(
        dc_init="dc_next = xp.zeros((N, H)) if dcT is None else dcT\n" if lstm else "",
        step_bwd=("dx_t, dh_next, dc_next, dWx_t, dWh_t, db_t = step.step_backward(dh[:, t] + dh_next, dc_next, "
                  "caches[t])" if lstm else
                  "dx_t, dh_next, dWx_t, dWh_t, db_t = step.step_backward(dh[:, t] + dh_next, caches[t])"),
        dc_ret="dc_next, " if lstm else "")
    return fwd, bwd


def solve(name, directory):
    """Write a right answer to exercise ``name`` in ``directory`` (a sequence: its step too), as
    files a learner would have: started, then filled. Returns the path."""
    ex = exercises.EXERCISES[name]
    if ex.after:
        solve(ex.after, directory)
        path = directory / f"{name}.py"
        if not path.exists():
            exercises.start(name, str(directory))
        fwd, bwd = sequence_on_step(name)
        text = fill(fill(path.read_text(encoding="utf-8"), "forward", fwd), "backward", bwd)
    else:
        path = directory / f"{name}.py"
        text = book_text(name)
    path.write_text(text, encoding="utf-8")
    return str(path)


def strip_todo_note(text):
    return re.sub(r"\n# TODO.*", "", text)
