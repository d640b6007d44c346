"""The exercises: each starts blank and fails its check; the book passes every check; a sequence built
on the learner's step passes, and is refused while its step fails; each known mistake is named; the
check survives a learner file that exits, raises or hangs; a passing cell file trains the char and
word models, a failing one is refused; overfit fits a batch."""
import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from minirnn import exercises
from minirnn.errors import UsageError, run_cli
from minirnn.exercises import grading, mistakes
from minirnn.exercises.answers import answer_lines
from minirnn.exercises.source import MARKER
from minirnn.layers import gru, lstm, stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import train_char  # noqa: E402
import train_word  # noqa: E402

from exercise_solutions import book_text, solve  # noqa: E402
from helpers import TINY  # noqa: E402

NAMES = list(exercises.EXERCISES)
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def book_file(tmp_path, name, replace=()):
    path = tmp_path / f"{name}.py"
    path.write_text(book_text(name, replace), encoding="utf-8")
    return str(path)


def cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "minirnn.exercises", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env or ENV, timeout=timeout)


class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def main(capsys):
    """python -m minirnn.exercises ARGS, run here (the learner's code still runs in a child process)."""
    def run(*args):
        capsys.readouterr()
        rc = run_cli(exercises.main, list(args))
        out = capsys.readouterr()
        return Ran(rc, out.out, out.err)
    return run


def test_list_names_every_exercise(capsys):
    assert exercises.main([]) == 0
    out = capsys.readouterr().out
    wanted = {"linear", "softmax_ce", "masked_softmax_ce", "embedding", "dropout", "rnn_step", "rnn", "lstm_step",
              "lstm", "gru_step", "gru", "stack", "adam", "clip_grad_norm", "sgns_pair", "sgns_window", "lloyd",
              "spherical"}
    assert wanted <= set(NAMES)
    for name in NAMES:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", NAMES)
def test_started_file_keeps_the_forward_equations_and_fails_its_check(name, tmp_path, capsys):
    d = tmp_path / "fresh"                                   # a directory that does not exist yet
    assert exercises.main(["start", name, str(d)]) == 0
    path = d / f"{name}.py"
    text = path.read_text(encoding="utf-8")
    ex = exercises.EXERCISES[name]
    module = __import__(ex.module, fromlist=["_"])
    head = module.__doc__.split("\n\n")[0]
    if name.endswith("_step"):                               # a step's file speaks of one step
        assert head not in text and text.count('"""One step of the') == 1
        cell = grading.CELL[ex.group]
        for k in grading.FORWARD_EQS[ex.group]:               # the forward equations, the book's lines
            line = next(l for l in cell.__doc__.splitlines() if l.strip().startswith(k + " "))
            assert line in text
    else:
        assert head in text                                  # the book's docstring, as it starts
    assert MARKER in text and "raise NotImplementedError" in text
    if ex.after:                                             # the sequence: its step written beside it
        assert (d / f"{ex.after}.py").is_file() and f'beside(__file__, "{ex.after}.py")' in text
    capsys.readouterr()
    report = exercises.check(str(path), isolate=False)
    assert not report.passed
    assert "not written yet" in report.first_error() or "does not pass its check yet" in report.first_error()
    assert report.todos > 0 or ex.after


def test_the_stub_hides_the_backward_equations_and_gives_the_method():
    text = exercises.source("lstm_step")
    for eq in ("dc_next = dc_t * f_t", "dh_next = da_t Wh^T", "dWx += x_t^T da_t"):   # the book's (10), (13), (14)
        assert eq in lstm.__doc__ and eq not in text
    assert "(4) c_t = f_t * c_{t-1} + i_t * g_t" in text and "Method:" in text
    assert "σ'(a) = σ(a) (1 - σ(a))" in text                 # the derivatives: facts, not answers
    assert len(answer_lines(text)) == 1                      # the worked line
    assert "dn = dh_t * (1 - z_t)" not in exercises.source("gru_step")


def imported_helpers(text):
    """[(name, how the file must write it)] of every name a file imports from minirnn: a function or
    class with its parameters, sigmoid(a, xp); a module or a constant by its name."""
    out = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "minirnn":
            mod = importlib.import_module(node.module)
            for a in node.names:
                obj = getattr(mod, a.name, None) or importlib.import_module(f"{node.module}.{a.name}")
                name = a.asname or a.name
                if callable(obj) and not inspect.ismodule(obj):
                    params = inspect.signature(obj).parameters.values()
                    name += "(" + ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in params) + ")"
                out.append((a.asname or a.name, name))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_every_helper_a_file_imports_is_documented_in_it(name):
    """Each name a file takes from minirnn (sigmoid, scatter_add, gate_slices, beside, ...) is listed
    above the imports with its signature and a line of what it does."""
    text = exercises.source(name)
    comments = []                                              # each entry, its wrapped lines joined
    for line in text.splitlines():
        if line.startswith("#       ") and comments:
            comments[-1] += " " + line.strip("# ")
        elif line.startswith("#   ") and not line.startswith("#    "):
            comments.append(line[4:])
    first_import = text.find("\nfrom minirnn")
    for short, written in imported_helpers(text):
        row = next((c for c in comments if c.startswith(written + ": ")), None)
        assert row and len(row) > len(written) + 20, (short, written)
        assert text.index("#   " + written + ": ") < first_import
    if name in ("lstm_step", "gru_step"):                      # the student's crash: sigmoid wants xp
        assert "#   sigmoid(a, xp): σ(a) = 1 / (1 + e^-a)" in text
        assert ("gate_slices", "gate_slices(H)") in imported_helpers(text)
    if name == "gru_step":                                     # where hn sits in gates
        assert "gates[:, 3 * H:]" in text.split("#   gate_slices(H): ")[1].split("#   sigmoid")[0]


EQ_REF = re.compile(r"\((\d{1,2})\)")                            # (4), and both ends of (1)-(5)
EQ_DEF = re.compile(r"^\s*\((\d{1,2})\)\s", re.M)                  # a line that states equation (4)


@pytest.mark.parametrize("name", NAMES)
def test_every_equation_number_a_file_shows_is_defined_in_it(name):
    """The numbers a learner reads (the method, the TODOs, the kept docstrings, the grader's named
    mistakes) are those of equations the file's own docstring states: never the book's backward
    numbers, which the file does not show."""
    text = exercises.source(name)
    defined = set(EQ_DEF.findall(text.split('"""')[1]))
    assert set(EQ_REF.findall(text)) <= defined, sorted(set(EQ_REF.findall(text)) - defined)
    ex = exercises.EXERCISES[name]
    module = __import__(ex.module, fromlist=["_"])
    for fn in ex.blank:
        for label, message, _, keys in mistakes.mutants(module, fn.split(".")[-1]):
            assert set(EQ_REF.findall(message)) | {k.strip("()") for k in keys} <= defined, (label, message)


LOOP_GIVEN_AWAY = ("reversed(range", "T-1 .. 0", "T-1 down to 0", "after the loop", "dh_next", "dc_next",
                   "dh0 = ", "zeros at t = T-1", "zero at t = T-1")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_step_file_speaks_of_a_step_and_a_sequence_file_leaves_the_loop_to_derive(cell):
    step = exercises.source(f"{cell}_step")
    for phrase in ("before the loop", "(N, T, D)", "Memory cached", "dh_next", "over a whole sequence"):
        assert phrase not in step, phrase
    assert "Shapes, for one step t" in step and "x_t             (N, D)" in step
    sequence = exercises.source(cell)
    for phrase in LOOP_GIVEN_AWAY + ("before the loop",):
        assert phrase not in sequence, phrase
    method = sequence[sequence.index("Backward through time"):sequence.index("Memory cached")]
    assert "What must be true" in method and "dh[:, t]" in method and "one set of weights" in method
    assert "work out the order of the calls" in method


def test_start_refuses_to_overwrite(tmp_path):
    exercises.start("lstm_step", str(tmp_path))
    (tmp_path / "lstm_step.py").write_text("# my work\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        exercises.start("lstm_step", str(tmp_path))
    assert exercises.start("lstm", str(tmp_path)) == [str(tmp_path / "lstm.py")]   # the step is the learner's
    assert (tmp_path / "lstm_step.py").read_text(encoding="utf-8") == "# my work\n"
    assert exercises.start("lstm", str(tmp_path), keep_existing=True) == [str(tmp_path / "lstm.py")]
    with pytest.raises(UsageError, match="no exercise"):
        exercises.start("lstmm", str(tmp_path))


@pytest.mark.parametrize("name", NAMES)
def test_the_book_passes_every_check(name, tmp_path):
    report = exercises.check(book_file(tmp_path, name), isolate=False)
    assert report.passed, report.text("")
    assert report.verdicts and all(v.ok for v in report.verdicts)
    assert f"the solution: {exercises.EXERCISES[name].solution}" in report.text("x.py")
    assert os.path.exists(os.path.join(ROOT, exercises.EXERCISES[name].solution))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_sequence_built_on_the_learners_step_passes(cell, tmp_path):
    path = solve(cell, tmp_path)
    assert "step.step_backward" in open(path, encoding="utf-8").read()
    report = exercises.check(path, isolate=False)
    assert report.passed, report.text(path)
    assert {"h", "dWx", "dh0"} <= {v.name for v in report.verdicts}
    # a step that fails: the sequence is refused, naming the step file and its first error
    step = tmp_path / f"{cell}_step.py"
    step.write_text(step.read_text(encoding="utf-8").replace("db = da", "db = 2 * da").replace(
        "db[:3 * H] = dax", "db[:3 * H] = 2 * dax"), encoding="utf-8")
    report = exercises.check(path, isolate=False)
    assert not report.passed and f"built on {step}" in report.problem and "does not pass" in report.problem


# ---- each known mistake, named ---------------------------------------------------------------------

MISTAKES = [
    # (exercise, planted edits, first wrong name, the mistake's name)
    ("lstm_step", ("db = da.sum(axis=0)", "db = da.mean(axis=0)"), "db[i]", grading.BIAS_MEAN),
    ("rnn", ("db += da_t.sum(axis=0)", "db += da_t.mean(axis=0)"), "db", grading.BIAS_MEAN),
    ("linear", ("db = dy2.sum(axis=0)", "db = dy2.mean(axis=0)"), "db", grading.BIAS_MEAN),
    ("lstm_step", ("scatter_add(dWx, x_t, da)", "dWx[x_t] += da"), "dWx", grading.DROPPED_INDEX),
    ("rnn", ("scatter_add(dWx, x[:, t], da_t)", "dWx[x[:, t]] += da_t"), "dWx", grading.DROPPED_INDEX),
    ("embedding", ("scatter_add(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))",
                   "dW[ids.reshape(-1)] += dout.reshape(-1, shape[1])"), "dW", grading.DROPPED_INDEX),
    ("rnn", ("dWh += h_prev.T @ da_t", "dWh = h_prev.T @ da_t"), "dWh", mistakes.NO_SUM_OVER_T),
    ("lstm", ("dWx += x[:, t].T @ da_t", "dWx = x[:, t].T @ da_t"), "dWx", mistakes.NO_SUM_OVER_T),
    ("gru", ("dWh += h_prev.T @ dah", "dWh = h_prev.T @ dah"), "dWh", mistakes.NO_SUM_OVER_T),
    ("rnn_step", ("dWh = h_prev.T @ da", "dWh = da.T @ h_prev"), "dWh", grading.TRANSPOSED),
    ("lstm_step", ("dWh = h_prev.T @ da", "dWh = da.T @ h_prev"), "dWh", grading.TRANSPOSED),
    ("rnn_step", ("dh_prev = da @ Wh.T", "dh_prev = da @ Wh"), "dh_prev", grading.TRANSPOSED),
    ("linear", ("dW = x.reshape(-1, D).T @ dy2", "dW = dy2.T @ x.reshape(-1, D)"), "dW", grading.TRANSPOSED),
    ("lstm_step", [("                         df * f * (1 - f),", "                         di * i * (1 - i),"),
                   ("[di * i * (1 - i),", "[df * f * (1 - f),")], "db[i]", grading.GATE_SLOT),
    ("gru_step", [("dax[:, Z] = dah[:, Z] = dz * z * (1 - z)", "dax[:, R] = dah[:, R] = dz * z * (1 - z)"),
                  ("dax[:, R] = dah[:, R] = dr * r * (1 - r)", "dax[:, Z] = dah[:, Z] = dr * r * (1 - r)")],
     "db[r]", grading.GATE_SLOT),
    ("lstm_step", ("dg * (1 - g * g)", "dg"), "db[g]", mistakes.NO_TANH),
    ("lstm_step", ("dh_t * o * (1 - tanh_c * tanh_c)", "dh_t * o"), "db[i]", mistakes.NO_TANH),
    ("rnn_step", ("(1 - h_t * h_t)", "1"), "db", mistakes.NO_TANH),
    ("gru_step", ("dan = dn * (1 - n * n)", "dan = dn"), "db[r]", mistakes.NO_TANH),
    ("lstm", ("dg * (1 - g * g)", "dg"), "db[g]", mistakes.NO_TANH),
    ("lstm_step", ("do * o * (1 - o)", "do"), "db[o]", mistakes.NO_SIGMOID),
    ("dropout", ("/ x.dtype.type(1 - p)", "* x.dtype.type(1)"), "y", grading.NOT_INVERTED),
    ("stack", ("dh = dropout_layer.backward(dx, mask) if l > 0 else dx", "dh = dx"), "dparams[below]",
     mistakes.NO_DROPOUT_MASK),
    # the gradients carried through time, and the GRU's two ways into h_{t-1}
    ("lstm_step", ("dc = dc_t + dh_t", "dc = dh_t"), "db[i]", mistakes.NO_CARRIED_DC),
    ("lstm", ("dc_t = dc_next + dh_t", "dc_t = dh_t"), "db[i]", mistakes.NO_CARRIED_DC),
    ("lstm", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"), "db[i]", mistakes.NO_CARRIED_DH),
    ("rnn", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"), "db", mistakes.NO_CARRIED_DH),
    ("gru", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"), "db[r]", mistakes.NO_CARRIED_DH),
    ("gru_step", ("dh_prev = dh_t * z", "dh_prev = 0"), "dh_prev", mistakes.NO_DIRECT_PATH),
    ("gru", ("dh_prev = dh_t * z", "dh_prev = 0"), "dh0", mistakes.NO_DIRECT_PATH),
    ("gru_step", [("dah[:, Nn] = dan * r", "dah[:, Nn] = dan"),               # r_t left out of dah alone
                  ("db[3 * H:] = dah[:, Nn].sum(axis=0)", "db[3 * H:] = (dan * r).sum(axis=0)")],
     "dh_prev", mistakes.NO_RESET_FACTOR),
    ("gru_step", ("dah[:, Nn] = dan * r", "dah[:, Nn] = dan"), "db[hn]", mistakes.NO_RESET_FACTOR),
    ("gru", ("dah[:, Nn] = dan * r", "dah[:, Nn] = dan"), "db[hn]", mistakes.NO_RESET_FACTOR),
    # the loop's direction, and a carried gradient computed but never handed on
    ("rnn", ("for t in reversed(range(T)):", "for t in range(T):"), "db", mistakes.FORWARD_ORDER),
    ("lstm", ("for t in reversed(range(T)):", "for t in range(T):"), "db[i]", mistakes.FORWARD_ORDER),
    ("gru", ("for t in reversed(range(T)):", "for t in range(T):"), "db[r]", mistakes.FORWARD_ORDER),
    ("rnn", ("dh_next = da_t @ Wh.T", "dh_prev = da_t @ Wh.T"), "dh0", mistakes.NOT_CARRIED),
    ("lstm", ("dc_next = dc_t * f ", "dc_prev = dc_t * f "), "dc0", mistakes.NOT_CARRIED),
    ("lstm", ("dh_next = da_t @ Wh.T", "dh_prev = da_t @ Wh.T"), "dh0", mistakes.NOT_CARRIED),
]


@pytest.mark.parametrize("name, bug, first, mistake", MISTAKES,
                         ids=[f"{m[0]}:{m[3]}:{i}" for i, m in enumerate(MISTAKES)])
def test_each_mistake_is_named(name, bug, first, mistake, tmp_path):
    path = book_file(tmp_path, name, bug)
    report = exercises.check(path, isolate=False)
    assert not report.passed and not report.problem, report.text(path)
    wrong = [v for v in report.verdicts if not v.ok]
    assert wrong[0].name == first, report.text(path)
    assert wrong[0].mistake.startswith(mistake), report.text(path)
    text = report.text(path)
    assert mistake in text.splitlines()[2]                   # right under the first wrong line
    assert answer_lines(text) == [], answer_lines(text)      # the message names the mistake, not the answer


def test_a_mistake_is_named_once_in_full(tmp_path):
    """Forgetting dc_t makes 8 of 11 wrong: the first names the mistake and the equations it is about,
    the others say it is the same one."""
    path = book_file(tmp_path, "lstm_step", ("dc = dc_t + dh_t", "dc = dh_t"))
    report = exercises.check(path, isolate=False)
    text = report.text(path)
    wrong = [v for v in report.verdicts if not v.ok]
    assert len(wrong) == 8 and all(v.mistake.startswith(mistakes.NO_CARRIED_DC) for v in wrong), text
    assert text.count("c_t is used twice") == 1
    assert text.count(f"the same mistake as db[i] above: {mistakes.NO_CARRIED_DC}") == 7
    assert [r.split(" ")[0] for r in wrong[0].reread] == ["(5)", "(4)"]
    assert "may follow" not in text and answer_lines(text) == []


# a learner's own GRU step (not the book's lines): the mistakes are recognised by their values
GRU_STEP_ANOTHER_WAY = """
x_t, h_prev, Wx, Wh, gates = cache
xp = array_module(dh_t)
H = Wh.shape[0]
r, z, n, hn = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
dn = dh_t * (1 - z)
dz = dh_t * (h_prev - n)
dh_prev = dh_t * z                               # the direct path
ds = dn * (1 - n * n)
dr = ds * hn
dhn = ds * r
dsr = dr * r * (1 - r)
dsz = dz * z * (1 - z)
dax = xp.concatenate([dsr, dsz, ds], axis=1)
dah = xp.concatenate([dsr, dsz, dhn], axis=1)
db = xp.concatenate([dax.sum(axis=0), dhn.sum(axis=0)])
dWh = h_prev.T @ dah
dh_prev = dh_prev + dah @ Wh.T
if x_t.ndim == 1:
    dWx = xp.zeros_like(Wx)
    xp.add.at(dWx, x_t, dax)
    return None, dh_prev, dWx, dWh, db
return dax @ Wx.T, dh_prev, x_t.T @ dax, dWh, db
"""


def _gru_step_another_way(tmp_path, old=None, new=None):
    path = tmp_path / "gru_step.py"
    text = book_text("gru_step")
    start = text.index("    x_t, h_prev, Wx, Wh, gates = cache\n", text.index("def step_backward"))
    body = GRU_STEP_ANOTHER_WAY if old is None else GRU_STEP_ANOTHER_WAY.replace(old, new)
    path.write_text(text[:start] + "".join("    " + l + "\n" for l in body.strip("\n").splitlines()),
                    encoding="utf-8")
    return str(path)


def test_the_grus_two_ways_into_h_prev_are_told_apart(tmp_path):
    """A dropped direct path and a missing r_t in the n block of dah both leave dh_prev wrong; each
    gets its own name and the forward equations it is about."""
    assert exercises.check(_gru_step_another_way(tmp_path), isolate=False).passed
    seen = {}
    for bug, mistake in ((("dh_prev = dh_t * z ", "dh_prev = 0 * z "), mistakes.NO_DIRECT_PATH),
                         (("dah = xp.concatenate([dsr, dsz, dhn]", "dah = xp.concatenate([dsr, dsz, ds]"),
                          mistakes.NO_RESET_FACTOR)):
        path = _gru_step_another_way(tmp_path, *bug)
        report = exercises.check(path, isolate=False)
        wrong = [v for v in report.verdicts if not v.ok]
        assert wrong[0].name == "dh_prev" and wrong[0].mistake.startswith(mistake), report.text(path)
        seen[mistake] = [r.split(" ")[0] for r in wrong[0].reread]
        text = report.text(path)
        assert "may follow" not in text and answer_lines(text) == []
    assert seen == {mistakes.NO_DIRECT_PATH: ["(7)", "(2)"], mistakes.NO_RESET_FACTOR: ["(6)", "(5)", "(2)"]}


def test_an_error_is_tied_only_to_one_it_can_follow_from(tmp_path):
    # within one step dWh is not computed from dc_prev (nor from dh_prev): two errors of their own
    path = book_file(tmp_path, "lstm_step", [("dc_prev = dc * f", "dc_prev = dc * f * 1.5"),
                                             ("dWh = h_prev.T @ da", "dWh = 2 * h_prev.T @ da")])
    report = exercises.check(path, isolate=False)
    wrong = {v.name: v for v in report.verdicts if not v.ok}
    assert set(wrong) == {"dc_prev", "dWh"} and not wrong["dWh"].related
    assert "(1) a_t = x_t Wx" in report.text(path) and "may " not in report.text(path)
    # dWh and dh_prev are both computed from dL/dah_t: an error there may be one
    path = _gru_step_another_way(tmp_path, "dhn = ds * r", "dhn = ds * r\ndhn_b = dhn\ndhn = 1.5 * dhn")
    path_text = open(path, encoding="utf-8").read().replace("dhn.sum(axis=0)", "dhn_b.sum(axis=0)")
    open(path, "w", encoding="utf-8").write(path_text)
    report = exercises.check(path, isolate=False)
    wrong = {v.name: v for v in report.verdicts if not v.ok}
    assert set(wrong) == {"dh_prev", "dWh"}, report.text(path)
    assert wrong["dWh"].related == "may share the error of dh_prev above: both are computed from dL/dah_t"
    # the linear layer's db and dW are each computed from dy alone: not tied
    path = book_file(tmp_path, "linear", [("db = dy2.sum(axis=0)", "db = 2 * dy2.sum(axis=0)"),
                                          ("dW = x.reshape(-1, D).T @ dy2", "dW = 2 * x.reshape(-1, D).T @ dy2")])
    text = exercises.check(path, isolate=False).text(path)
    assert "may " not in text and "it flows back through (1), quoted above under db" in text
    # Adam's p is computed from m: tied
    path = book_file(tmp_path, "adam", ("m *= ", "m *= 0.5 * "))
    text = exercises.check(path, isolate=False).text(path)
    assert "may follow from the error in m of W above: p of W is computed from it" in text


def test_a_right_gradient_is_never_named_a_mistake(tmp_path):
    """A wrong value that is no known mistake gets the equations to reread and no name."""
    path = book_file(tmp_path, "lstm_step", ("dc_prev = dc * f", "dc_prev = dc * f * 1.5"))
    report = exercises.check(path, isolate=False)
    wrong = [v for v in report.verdicts if not v.ok]
    assert [v.name for v in wrong] == ["dc_prev"] and not wrong[0].mistake
    assert any(r.startswith("(4) c_t = f_t * c_{t-1}") for r in wrong[0].reread)


def test_a_transposed_product_that_crashes_says_so(tmp_path):
    path = book_file(tmp_path, "lstm_step", ("dh_prev = da @ Wh.T", "dh_prev = da @ Wh"))
    report = exercises.check(path, isolate=False)
    assert "raised ValueError" in report.problem and "transposed product?" in report.problem
    assert f"line " in report.problem and "\n" not in report.problem


def test_every_mistake_edit_applies_to_the_book():
    for (module, name), entries in mistakes.EDITS.items():
        built = mistakes.for_function(module, name)
        assert len(built) == len(entries)
        for label, message, fn in built:
            assert fn is not getattr(module, name) and label in message or label


def test_forward_equations_quoted_are_the_books():
    for cell, table in grading.FLOWS.items():
        for keys in table.values():
            for k in keys:
                assert grading.equation(grading.CELL[cell].__doc__, k).startswith(k)
    assert grading.equation(gru.__doc__, "(7)").startswith("(7) h_t = (1 - z_t) * n_t")    # the forward's (7)
    with pytest.raises(KeyError):
        grading.equation(lstm.__doc__, "(99)")


# ---- files that misbehave ---------------------------------------------------------------------------

def test_bad_files_are_one_line_exit_2(tmp_path, main):
    bad = tmp_path / "lstm.py"
    bad.write_text("def backward(:\n", encoding="utf-8")
    missing = tmp_path / "rnn.py"
    missing.write_text("x = 1\n", encoding="utf-8")
    raises = tmp_path / "gru.py"
    raises.write_text("raise RuntimeError('oops')\n", encoding="utf-8")
    exits = tmp_path / "linear.py"
    exits.write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    unknown = tmp_path / "mine.py"
    unknown.write_text("x = 1\n", encoding="utf-8")
    fifo = tmp_path / "embedding.py"
    os.mkfifo(fifo)
    for path, words in ((bad, "SyntaxError at line 1"), (missing, "has no forward()"),
                        (raises, "does not import: RuntimeError: oops"), (exits, "calls sys.exit(0) when imported"),
                        (unknown, "not an exercise file"), (tmp_path / "nope.py", "no such file"),
                        (fifo, "not a regular file"), (tmp_path, "a directory")):
        r = main("check", str(path))
        assert r.returncode == 2, (path, r.stderr)
        assert r.stderr.startswith("error: ") and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = cli("check", str(raises))                            # the whole command, as a learner runs it
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = main("frobnicate")
    assert r.returncode == 2 and "usage" in r.stderr


def test_a_file_that_exits_or_hangs_fails_the_check(tmp_path, main, monkeypatch):
    exit_in_backward = book_text("linear", ("    dx = (dy2 @ W.T)",
                                            "    import sys; sys.exit(0)\n    dx = (dy2 @ W.T)"))
    os_exit = book_text("linear", ("    dx = (dy2 @ W.T)", "    import os; os._exit(0)\n    dx = (dy2 @ W.T)"))
    sleeps = "import time\ntime.sleep(60)\n" + book_text("linear")
    cases = [(exit_in_backward, "backward called sys.exit(0)"), (os_exit, "stopped the check before it finished"),
             (sleeps, "ran past the 2 s time limit")]
    monkeypatch.setenv("MINIRNN_EXERCISE_TIMEOUT", "2")
    for i, (text, words) in enumerate(cases):
        d = tmp_path / str(i)
        d.mkdir()
        (d / "linear.py").write_text(text, encoding="utf-8")
        t0 = time.monotonic()
        r = main("check", str(d / "linear.py"))
        assert r.returncode == 1, r.stdout + r.stderr
        assert words in r.stdout and "all 3 right" not in r.stdout and "Traceback" not in r.stderr, r.stdout
        assert time.monotonic() - t0 < 30
    monkeypatch.setenv("MINIRNN_EXERCISE_TIMEOUT", "x")
    r = main("check", str(tmp_path / "0" / "linear.py"))
    assert r.returncode == 2 and "MINIRNN_EXERCISE_TIMEOUT" in r.stderr


def test_start_in_a_read_only_directory_or_over_a_dangling_link_is_one_line(tmp_path, main):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only directory is writable")
        r = main("start", "lstm_step", str(ro))
        assert r.returncode == 2 and r.stderr.startswith("error: cannot write") and r.stderr.count("\n") == 1
        r = main("start", "lstm_step", str(ro / "sub"))
        assert r.returncode == 2 and r.stderr.startswith("error: cannot make the directory")
    finally:
        ro.chmod(0o700)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "lstm_step.py").symlink_to(tmp_path / "gone.py")
    r = main("start", "lstm_step", str(tmp_path / "d"))
    assert r.returncode == 2 and "dangling symbolic link" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "gone.py").exists()
    (tmp_path / "e").symlink_to(tmp_path / "nowhere")
    r = main("start", "lstm_step", str(tmp_path / "e"))
    assert r.returncode == 2 and "dangling symbolic link" in r.stderr and r.stderr.count("\n") == 1


def test_started_file_in_use_exit_1_and_the_cli_grades_in_a_child(tmp_path, main):
    r = main("start", "lstm", str(tmp_path))
    assert r.returncode == 0 and "wrote" in r.stdout and "lstm_step.py" in r.stdout
    r = main("check", str(tmp_path / "lstm.py"))
    assert r.returncode == 1 and "lstm_step.py, which does not pass its check yet" in r.stdout
    solve("lstm", tmp_path / "s") if (tmp_path / "s").mkdir() is None else None
    r = main("check", str(tmp_path / "s" / "lstm.py"))
    assert r.returncode == 0 and "all 11 right." in r.stdout, r.stdout + r.stderr
    # the next command trains in a checkpoint directory of its own, not the default run's
    line = next(l for l in r.stdout.splitlines() if "train_char.py" in l)
    ckpt = line.split("--checkpoint-dir ")[1].split()[0]
    assert ckpt == "checkpoints/mine-lstm"
    assert ckpt != train_char.build_parser().get_default("checkpoint_dir") != train_word.build_parser().get_default(
        "checkpoint_dir")
    r = main("start", "lstm", str(tmp_path))
    assert r.returncode == 2 and "already exists" in r.stderr


def test_a_write_that_fails_is_one_line_for_root_too(tmp_path, main, monkeypatch):
    """A read-only directory does not stop root: the same failure, made by open() itself."""
    def read_only(*args, **kw):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(exercises, "open", read_only, raising=False)
    r = main("start", "rnn_step", str(tmp_path))
    assert r.returncode == 2 and r.stderr == "error: cannot write " + str(tmp_path / "rnn_step.py") + \
        ": Permission denied\n"
    monkeypatch.setattr(exercises.os, "makedirs", read_only)
    r = main("start", "rnn_step", str(tmp_path / "new"))
    assert r.returncode == 2 and r.stderr.startswith("error: cannot make the directory") and r.stderr.count("\n") == 1


def test_a_fifo_as_a_cell_file_is_refused(tmp_path, capsys):
    fifo = tmp_path / "lstm.py"
    os.mkfifo(fifo)
    assert run_cli(train_char.main, ["--lstm-file", str(fifo), "--iters", "1",
                                     "--checkpoint-dir", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and err.count("\n") == 1


# ---- train what you wrote ---------------------------------------------------------------------------

COUNTING = """

CALLS = {"forward": 0, "backward": 0}
_mine_forward, _mine_backward = forward, backward


def forward(*args, **kw):
    CALLS["forward"] += 1
    return _mine_forward(*args, **kw)


def backward(*args, **kw):
    CALLS["backward"] += 1
    return _mine_backward(*args, **kw)
"""


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_learners_cell_trains_the_char_model(cell, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stack.CELLS, cell, stack.CELLS[cell])     # restored after the test
    path = solve(cell, tmp_path)
    with open(path, "a", encoding="utf-8") as f:
        f.write(COUNTING)                                    # counts the calls that reach this file
    text = tmp_path / "tiny.txt"
    text.write_text(TINY, encoding="utf-8")
    flags = ["--text", str(text), "--model", cell, "--hidden", "12", "--layers", "2", "--batch", "4", "--seq", "8",
             "--iters", "4", "--eval-every", "4", "--print-every", "2", "--sample-length", "10",
             "--checkpoint-dir", str(tmp_path / "ck"), f"--{cell}-file", path]
    assert run_cli(train_char.main, flags) == 0
    out = capsys.readouterr().out
    assert f"{cell.upper()} layers: {path}" in out and "done: 4 iterations" in out
    learner = stack.CELLS[cell]
    assert os.path.samefile(learner.__file__, path)
    assert learner.CALLS["backward"] == 2 * 4                # checked in a child; here only training
    assert learner.CALLS["forward"] > 2 * 4                  # training, validation and sampling


@pytest.fixture(scope="module")
def word_inputs(tmp_path_factory):
    """A tiny corpus and word vectors for it (no word2vec or k-means run: --vectors, --clusters 0)."""
    d = tmp_path_factory.mktemp("words")
    corpus = d / "corpus.txt"
    corpus.write_text(TINY, encoding="utf-8")
    words = sorted(set(TINY.replace(".", " ").split()))
    rng = np.random.default_rng(0)
    vec = d / "v.txt"
    vec.write_text(f"{len(words)} 6\n" + "".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(6)) + "\n"
                                                 for w in words), encoding="utf-8")
    return corpus, vec


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_learners_cell_trains_the_word_model(cell, word_inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stack.CELLS, cell, stack.CELLS[cell])
    corpus, vec = word_inputs
    path = solve(cell, tmp_path)
    flags = ["--corpus", str(corpus), "--vectors", str(vec), "--clusters", "0", "--model", cell, "--hidden", "8",
             "--batch", "2", "--seq", "4", "--iters", "3", "--eval-every", "3", "--sample-length", "3",
             "--checkpoint-dir", str(tmp_path / "ck"), f"--{cell}-file", path]
    assert run_cli(train_word.main, flags) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"{cell.upper()} layers: {path}" in out and "done:" in out
    assert os.path.samefile(stack.CELLS[cell].__file__, path)


def test_a_cell_file_that_fails_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stack.CELLS, "lstm", lstm)
    monkeypatch.setitem(stack.CELLS, "gru", gru)
    path = solve("lstm", tmp_path)
    step = tmp_path / "lstm_step.py"
    step.write_text(step.read_text(encoding="utf-8").replace("dc_prev = dc * f", "dc_prev = dc"), encoding="utf-8")
    text = tmp_path / "tiny.txt"
    text.write_text(TINY, encoding="utf-8")
    flags = ["--text", str(text), "--hidden", "12", "--iters", "2", "--checkpoint-dir", str(tmp_path / "ck"),
             "--lstm-file", path]
    assert run_cli(train_char.main, flags) == 2
    err = capsys.readouterr().err
    assert "does not pass its check yet" in err and "lstm_step.py, which does not pass" in err and "dc_prev" in err
    assert err.count("\n") == 1
    assert stack.CELLS["lstm"] is lstm                       # nothing was installed
    started = tmp_path / "new"
    exercises.start("lstm", str(started))
    assert run_cli(train_char.main, [*flags[:-1], str(started / "lstm.py")]) == 2
    assert "not written yet" in capsys.readouterr().err
    assert run_cli(train_char.main, [*flags, "--model", "rnn"]) == 2
    assert "needs --model lstm" in capsys.readouterr().err
    assert run_cli(train_char.main, [*flags[:-2], "--model", "gru", "--gru-file", str(step)]) == 2
    assert "that is the lstm_step exercise" in capsys.readouterr().err
    assert stack.CELLS["gru"] is gru


# ---- overfit ------------------------------------------------------------------------------------------

def test_overfit_fits_a_batch_with_the_learners_piece(tmp_path):
    from minirnn.exercises.overfit import overfit
    lines = []
    for name in ("lstm", "gru_step", "embedding", "masked_softmax_ce"):
        ok, line = overfit(solve(name, tmp_path), out=lines.append)
        assert ok and "fits a batch" in line, lines
    broken = book_file(tmp_path / "x", "rnn_step", ("dh_prev = da @ Wh.T", "dh_prev = 0 * da @ Wh.T")) \
        if (tmp_path / "x").mkdir() is None else None
    ok, line = overfit(broken, iters=60, out=lines.append)
    assert not ok and "the loss stayed at" in line


def test_overfit_cli(tmp_path, main):
    solve("rnn", tmp_path)
    r = cli("overfit", "rnn_step", str(tmp_path))               # NAME DIR, as the walk-through says
    assert r.returncode == 0 and "your RNN step fits a batch" in r.stdout, r.stdout + r.stderr
    assert "iteration   50" in r.stdout
    r = main("overfit", book_file(tmp_path, "lloyd"))
    assert r.returncode == 2 and "overfit trains a model" in r.stderr


RNN_ANOTHER_WAY = """\
caches, ids = cache
xp = array_module(dh)
N, T, H = dh.shape
x = xp.stack([c[0] for c in caches], axis=1)                 # (N, T) or (N, T, D)
h = xp.stack([c[4] for c in caches], axis=1)                 # (N, T, H)
h0 = caches[0][1]
Wx, Wh = caches[0][2], caches[0][3]
das = xp.empty((N, T, H))                                    # every step's gradient of a_t
dh_next = xp.zeros((N, H))
for t in reversed(range(T)):
    das[:, t] = (dh[:, t] + dh_next) * (1 - h[:, t] ** 2)
    dh_next = das[:, t] @ Wh.T
h_prev = xp.concatenate([h0[:, None], h[:, :-1]], axis=1)
dWh = xp.einsum("nth,ntk->hk", h_prev, das)                  # the sum over t in one product
db = das.sum(axis=(0, 1))
dx = None
if ids:
    dWx = xp.zeros(Wx.shape)
    xp.add.at(dWx, x, das)
else:
    dWx = xp.einsum("ntd,ntk->dk", x, das)
    dx = das @ Wx.T if need_dx else None
return dx, dh_next, dWx, dWh, db
"""


def test_a_correct_backward_written_another_way_passes(tmp_path):
    # the check grades the numbers, not the code: a learner's own formulation (all da_t first, the
    # parameter gradients as single products after the loop) passes as the book does
    path = solve("rnn", tmp_path)
    text = open(path, encoding="utf-8").read()
    i = text.index("    caches, ids = cache\n")
    j = text.index("    return dx, dh_next, dWx, dWh, db\n", i) + len("    return dx, dh_next, dWx, dWh, db\n")
    body = "".join("    " + l + "\n" for l in RNN_ANOTHER_WAY.splitlines())
    open(path, "w", encoding="utf-8").write(text[:i] + body + text[j:])
    report = exercises.check(path, isolate=False)
    assert report.passed, report.text(path)
    assert report.todos == 0
