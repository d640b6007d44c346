"""The exercises: each starts blank and fails its check; the book passes every check; planted bugs
fail with the right gradient (or output) named first and the right equation to reread; a passing
LSTM file trains the char model, a failing one is refused."""
import os
import subprocess
import sys

import pytest

from minirnn import exercises
from minirnn.errors import UsageError, run_cli
from minirnn.exercises import grading
from minirnn.exercises.source import MARKER, exercise_source
from minirnn.layers import gru, lstm, rnn, stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import train_char  # noqa: E402

from helpers import TINY  # noqa: E402

NAMES = list(exercises.EXERCISES)


def book_file(tmp_path, name, replace=None):
    """The exercise file with the book's own body in place of the TODOs (what a perfect learner
    writes), optionally with one planted bug: (old, new) replaces the last occurrence of old, which
    is in the code (the docstring, above it, quotes the same equations)."""
    ex = exercises.EXERCISES[name]
    text = exercise_source(ex.module, keep=ex.keep, blank=(), header=exercises._header(ex))
    if replace is not None:
        old, new = replace
        i = text.rindex(old)
        text = text[:i] + new + text[i + len(old):]
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_list_names_every_exercise(capsys):
    assert exercises.main([]) == 0
    out = capsys.readouterr().out
    assert {"linear", "softmax_ce", "rnn", "lstm", "gru", "adam", "clip_grad_norm", "sgns_pair", "lloyd"} <= set(NAMES)
    for name in NAMES:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", NAMES)
def test_started_file_keeps_the_book_and_fails_its_check(name, tmp_path, capsys):
    d = tmp_path / "fresh"                                   # a directory that does not exist yet
    assert exercises.main(["start", name, str(d)]) == 0
    path = d / f"{name}.py"
    text = path.read_text(encoding="utf-8")
    ex = exercises.EXERCISES[name]
    book = exercise_source(ex.module, keep=ex.keep, blank=())
    module = __import__(ex.module, fromlist=["_"])
    assert module.__doc__.strip() in text                     # the equations, as the book numbers them
    assert MARKER in text and "raise NotImplementedError" in text
    if ex.keep is None:                                       # a layer: its forward, verbatim
        import inspect
        assert inspect.getsource(module.forward) in text and inspect.getsource(module.forward) in book
    capsys.readouterr()
    assert exercises.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "not written yet" in out and "TODO(exercise) line" in out
    report, _ = exercises.check(str(path))
    assert not report.passed


def test_start_refuses_to_overwrite(tmp_path):
    exercises.start("lstm", str(tmp_path))
    (tmp_path / "lstm.py").write_text("# my work\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        exercises.start("lstm", str(tmp_path))
    assert (tmp_path / "lstm.py").read_text(encoding="utf-8") == "# my work\n"
    with pytest.raises(UsageError, match="no exercise"):
        exercises.start("lstmm", str(tmp_path))


@pytest.mark.parametrize("name", NAMES)
def test_the_book_passes_every_check(name, tmp_path, capsys):
    path = book_file(tmp_path, name)
    assert exercises.main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "wrong" not in out and "all " in out
    report, _ = exercises.check(path)
    assert report.passed and report.verdicts and all(v.ok for v in report.verdicts)


PLANTED = [
    # (exercise, (book code, planted bug), first wrong name, equation it names, words in the message)
    ("rnn", ("da_t = dh_t * (1 - h[:, t] * h[:, t])", "da_t = dh_t * (h[:, t] * h[:, t] - 1)"),
     "db", "(4) da_t = dh_t * (1 - h_t^2)", "N=1 T=1"),                               # flipped sign
    ("rnn", ("dWh += h_prev.T @ da_t", "dWh = h_prev.T @ da_t"),
     "dWh", "(6) dWx += x_t^T da_t", "a sum over t"),                                 # missing sum over time
    ("rnn", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"),
     "db", "(3) dh_t = dh[:, t] + dh_next", "from step t+1"),                         # missing dh_next
    ("rnn", ("dh_next = da_t @ Wh.T", "dh_next = da_t @ Wh"),
     "dh0", "(5) dh_next = da_t Wh^T", "N=1 T=1"),                                    # transposed W
    ("lstm", ("dc_next = dc_t * f", "pass"),
     "dc0", "(10) dc_next = dc_t * f_t", "N=1 T=1"),                                  # missing dc_next
    ("lstm", ("dc_t = dc_next + dh_t", "dc_t = dh_t"),
     "db[i]", "(8) dc_t = dc_next + dh_t * o_t", "dcT given"),                        # dc_next not added
    ("lstm", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"),
     "db[i]", "(6) dh_t = dh[:, t] + dh_next", "N=2 T=3"),                            # missing dh_next
    ("lstm", ("df * f * (1 - f)", "-df * f * (1 - f)"),
     "db[f]", "(11) da_i = di_t i_t (1 - i_t)", "N=1 T=1"),                           # flipped sign
    ("lstm", ("dWh += h_prev.T @ da_t", "dWh = h_prev.T @ da_t"),
     "dWh", "(14) dWx += x_t^T da_t", "a sum over t"),                                # missing sum over time
    ("lstm", ("dh_next = da_t @ Wh.T", "dh_next = da_t @ Wh"),
     None, "backward raised ValueError", "dh_next = da_t @ Wh "),                    # transposed W: a crash
    ("gru", ("dz = dh_t * (h_prev - n)", "dz = dh_t * (n - h_prev)"),
     "db[z]", "(4) daz = dz * z_t (1 - z_t)", "N=1 T=1"),                             # flipped sign
    ("gru", ("dh_t = dh[:, t] + dh_next", "dh_t = dh[:, t]"),
     "db[z]", "plus dh_next from step t+1", "N=2 T=3"),                               # missing dh_next
    ("gru", ("dWx += x[:, t].T @ dax", "dWx = x[:, t].T @ dax"),
     "dWx", "(1)  dx_t = dax_t Wx^T", "a sum over t"),                                # missing sum over time
    ("linear", ("db = dy2.sum(axis=0)", "db = -dy2.sum(axis=0)"), "db", "(1) y = x W + b", "N=1"),
    ("linear", ("dW = x.reshape(-1, D).T @ dy2", "dW = x.reshape(-1, D).T @ dy2[:, ::-1]"), "dW", "(1)", "x^T dy"),
    ("softmax_ce", ("dz *= dloss / M", "dz *= dloss"), "dlogits", "(4) dz = (p - onehot(y)) / M", "N*T tokens"),
    ("adam", ("bias1 = 1 - self.beta1 ** self.t", "bias1 = 1"), "p of W", "p -= lr (m / (1-β1^t))", "step 1"),
    ("adam", ("v += (1 - self.beta2) * g * g", "v += (1 - self.beta2) * g"), "v of W", "v = β2 v + (1-β2) g²", ""),
    ("clip_grad_norm", ("g *= coef", "g = g * coef"), "grads['W']", "Scale every gradient", "in place"),
    ("clip_grad_norm", ("return norm", "return global_norm(grads)"), "returned norm", "Returns the norm before", ""),
    ("sgns_pair", ("syn1neg[target] += g * u", "syn1neg[target] -= g * u"), "syn1neg", "(3) v_t += g_t * u", ""),
    ("sgns_pair", ("if target == center:", "if False:"), "loss", "a draw equal to o is skipped", ""),
    ("sgns_pair", ("rnd = (rnd * 25214903917 + 11) & _MASK64", "rnd = (rnd * 25214903917 + 13) & _MASK64"),
     "random state (the draws)", "drawn from the noise table", "skip a target equal to center"),
    ("lloyd", ("lab = scores.argmin(axis=1)", "lab = scores.argmax(axis=1)"), "labels", "(4) assign", "N=20 K=3"),
    ("lloyd", ("sums = csum[ends] - csum[ends - counts]", "sums = csum[ends]"), "sums", "(5) update", ""),
]


@pytest.mark.parametrize("name, bug, first, equation, words", PLANTED,
                         ids=[f"{p[0]}:{p[1][1][:30]}" for p in PLANTED])
def test_planted_bug_is_named_first(name, bug, first, equation, words, tmp_path, capsys):
    path = book_file(tmp_path, name, bug)
    assert exercises.main(["check", path]) == 1
    out = capsys.readouterr().out
    report, _ = exercises.check(path)
    assert not report.passed
    message = report.first_error()
    if first is None:                                        # the learner's code raised: one line, where
        assert report.problem and equation in message and words in message and "\n" not in message
        return
    wrong = [v for v in report.verdicts if not v.ok]
    assert wrong[0].name == first, message
    squeeze = lambda t: " ".join(t.split())  # noqa: E731
    assert squeeze(equation) in squeeze(" ".join(wrong[0].reread)) and words in message, message
    assert wrong[0].err > grading.NUM_TOL or wrong[0].note
    assert f"wrong  {first}" in out.splitlines()[1] and "start with the first" in out


def test_every_equation_the_grader_quotes_is_in_the_book():
    for module, table in ((lstm, grading.LSTM_LOCAL), (rnn, grading.RNN_LOCAL), (gru, grading.GRU_LOCAL)):
        for keys in table.values():
            for k in keys:
                assert grading.equation(module.__doc__, k).startswith(k)
    assert grading.equation(lstm.__doc__, "(10)").startswith("(10) dc_next = dc_t * f_t")
    assert grading.equation(gru.__doc__, "(7)").startswith("(7)  dn")              # the backward section's
    with pytest.raises(KeyError):
        grading.equation(lstm.__doc__, "(99)")


def test_bad_files_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "lstm.py"
    bad.write_text("def backward(:\n", encoding="utf-8")
    missing = tmp_path / "rnn.py"
    missing.write_text("x = 1\n", encoding="utf-8")
    raises = tmp_path / "gru.py"
    raises.write_text("raise RuntimeError('oops')\n", encoding="utf-8")
    unknown = tmp_path / "mine.py"
    unknown.write_text("x = 1\n", encoding="utf-8")
    for path, words in ((bad, "SyntaxError at line 1"), (missing, "has no backward()"),
                        (raises, "does not import: RuntimeError: oops"), (unknown, "not an exercise file"),
                        (tmp_path / "nope.py", "no such file")):
        r = subprocess.run([sys.executable, "-m", "minirnn.exercises", "check", str(path)],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("error: ") and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "minirnn.exercises", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_started_file_in_use_exit_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "minirnn.exercises", "start", "lstm", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "wrote" in r.stdout
    r = subprocess.run([sys.executable, "-m", "minirnn.exercises", "check", str(tmp_path / "lstm.py")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "not written yet" in r.stdout
    r = subprocess.run([sys.executable, "-m", "minirnn.exercises", "start", "lstm", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "already exists" in r.stderr


COUNTING = """

CALLS = {"forward": 0, "backward": 0}
_book_forward, _book_backward = forward, backward


def forward(*args, **kw):
    CALLS["forward"] += 1
    return _book_forward(*args, **kw)


def backward(*args, **kw):
    CALLS["backward"] += 1
    return _book_backward(*args, **kw)
"""


def test_lstm_file_trains_the_char_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stack.CELLS, "lstm", lstm)           # restored after the test
    path = book_file(tmp_path, "lstm")
    with open(path, "a", encoding="utf-8") as f:
        f.write(COUNTING)                                    # counts the calls that reach this file
    text = tmp_path / "tiny.txt"
    text.write_text(TINY, encoding="utf-8")
    flags = ["--text", str(text), "--hidden", "12", "--layers", "2", "--batch", "4", "--seq", "8",
             "--iters", "4", "--eval-every", "4", "--print-every", "2", "--sample-length", "10",
             "--checkpoint-dir", str(tmp_path / "ck"), "--lstm-file", path]
    assert run_cli(train_char.main, flags) == 0
    out = capsys.readouterr().out
    assert f"LSTM layers: {path}" in out and "done: 4 iterations" in out
    learner = stack.CELLS["lstm"]
    assert os.path.samefile(learner.__file__, path)
    checked = len(grading._recurrent_cases(__import__("numpy").random.default_rng(0), "lstm"))
    # the check ran backward once per case; training ran it 2 layers x 4 iterations more
    assert learner.CALLS["backward"] >= checked + 2 * 4
    assert learner.CALLS["forward"] > 2 * 4                   # training, validation and sampling


def test_lstm_file_that_fails_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stack.CELLS, "lstm", lstm)
    path = book_file(tmp_path, "lstm", ("dc_next = dc_t * f", "pass"))
    text = tmp_path / "tiny.txt"
    text.write_text(TINY, encoding="utf-8")
    flags = ["--text", str(text), "--hidden", "12", "--iters", "2", "--checkpoint-dir", str(tmp_path / "ck"),
             "--lstm-file", path]
    assert run_cli(train_char.main, flags) == 2
    err = capsys.readouterr().err
    assert "does not pass its check yet" in err and "dc0" in err and "(10) dc_next = dc_t * f_t" in err
    assert err.count("\n") == 1
    assert stack.CELLS["lstm"] is lstm                       # nothing was installed
    started = tmp_path / "new"
    exercises.start("lstm", str(started))
    assert run_cli(train_char.main, [*flags[:-1], str(started / "lstm.py")]) == 2
    assert "not written yet" in capsys.readouterr().err
    assert run_cli(train_char.main, [*flags, "--model", "rnn"]) == 2
    assert "needs --model lstm" in capsys.readouterr().err


RNN_ANOTHER_WAY = """\
    das = xp.empty((N, T, H), dtype=h.dtype)                   # (N, T, H) every step's da_t
    for t in reversed(range(T)):
        das[:, t] = (dh[:, t] + dh_next) * (1 - h[:, t] ** 2)  # (3) and (4)
        dh_next = das[:, t] @ Wh.T                             # (5)
    h_prev = xp.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (N, T, H) h_{t-1} for every t
    dWh = xp.einsum("nth,ntk->hk", h_prev, das)               # (6) the sum over t in one product
    db = das.sum(axis=(0, 1))
    if ids:
        dWx = xp.zeros((D, H))
        xp.add.at(dWx, x, das)
    else:
        dWx = xp.einsum("ntd,ntk->dk", x, das)
        if dx is not None:
            dx = das @ Wx.T
    return dx, dh_next, dWx, dWh, db
"""


def test_a_correct_backward_written_another_way_passes(tmp_path):
    # the check grades the numbers, not the code: a learner's own formulation (all da_t first, the
    # parameter gradients as single products after the loop) passes as the book does
    exercises.start("rnn", str(tmp_path))
    path = tmp_path / "rnn.py"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(i for i, l in enumerate(lines) if l.lstrip().startswith(MARKER))
    last = next(i for i, l in enumerate(lines) if "raise NotImplementedError" in l)
    path.write_text("".join(lines[:first]) + RNN_ANOTHER_WAY + "".join(lines[last + 1:]), encoding="utf-8")
    report, _ = exercises.check(str(path))
    assert report.passed, report.text(str(path))
    assert report.todos == 0
