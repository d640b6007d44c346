"""Exercises: write a backward pass (or an update) of the book yourself, and have it graded.

    python -m minirnn.exercises                      # the list
    python -m minirnn.exercises start lstm ex/       # writes ex/lstm.py: the book's LSTM, backward blanked
    python -m minirnn.exercises check ex/lstm.py     # right/wrong per gradient, what to reread
    python scripts/train_char.py --lstm-file ex/lstm.py   # once it passes: the char model on your LSTM

``start`` generates the file from the book's source (``source.py``): the module docstring with the
numbered equations, the forward, the signatures and the shape comments stay; the body of the
function to write is cut after its set-up lines and replaced by TODOs. ``check`` grades it
(``grading.py``): gradients against central differences and the book's backward; updates against
the book's on the same inputs. Exit status: 0 all right, 1 something wrong or unfinished, 2 a file
that does not import or lacks the function (one line, ``error: ...``).
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import UsageError
from . import grading
from .source import MARKER, exercise_source

SEED = 25


@dataclass
class Exercise:
    name: str
    summary: str
    module: str                  # the book module the file is made from
    blank: tuple                 # the function(s) to write
    grade: Callable
    keep: tuple | None = None    # top-level definitions copied (None: the whole module)
    setup: str = "names"         # which leading lines of a blanked body stay (source.py)
    hints: dict = field(default_factory=dict)


_BPTT = "for t = T-1 .. 0 (reversed(range(T))): undo one step of forward per iteration"
EXERCISES = {e.name: e for e in [
    Exercise("linear", "the linear layer's backward: dx, dW, db of y = x W + b", "minirnn.layers.linear",
             ("backward",), grading.grade_linear,
             hints={"backward": ["backprop through (1) y = x W + b: treat x as rows, x.reshape(-1, D),",
                                 "and dy as rows, dy.reshape(-1, M); dx must have x's shape"]}),
    Exercise("softmax_ce", "softmax cross-entropy's backward: dlogits", "minirnn.layers.softmax_ce",
             ("backward",), grading.grade_softmax_ce,
             hints={"backward": ["equation (4): p minus the one-hot targets, over M tokens, times dloss;",
                                 "return an array of the logits' shape (p is (M, V))"]}),
    Exercise("rnn", "the tanh RNN's backward through time", "minirnn.layers.rnn", ("backward",),
             grading.grade_rnn, setup="loop",
             hints={"backward": [f"equations (3)-(7), {_BPTT};",
                                 "with ids (x.ndim == 2), (6) is scatter_add(dWx, x[:, t], da_t) and dx stays None;",
                                 "after the loop dh0 = dh_next"]}),
    Exercise("lstm", "the LSTM's backward through time", "minirnn.layers.lstm", ("backward",),
             grading.grade_lstm, setup="loop",
             hints={"backward": [f"equations (6)-(15), {_BPTT};",
                                 "gates[:, t, I] holds i_t (and F, G, O the others); c_{t-1} is c0 at t = 0;",
                                 "with ids (x.ndim == 2), (14) is scatter_add(dWx, x[:, t], da_t) and dx stays None;",
                                 "after the loop dh0 = dh_next, dc0 = dc_next"]}),
    Exercise("gru", "the GRU's backward through time", "minirnn.layers.gru", ("backward",),
             grading.grade_gru, setup="loop",
             hints={"backward": [f"the Backward equations (7) down to (1), {_BPTT};",
                                 "gates[:, t] holds r, z, n and hn; dax and dah above are one step's scratch;",
                                 "with ids (x.ndim == 2), scatter_add(dWx, x[:, t], dax) and dx stays None;",
                                 "after the loop dh0 = dh_next"]}),
    Exercise("adam", "one Adam step: m, v and the parameter", "minirnn.optim", ("Adam._update",),
             grading.grade_adam, keep=("Adam",),
             hints={"Adam._update": ["the Adam lines of the module docstring, in place on m, v and p;",
                                     "self.lr is this parameter's rate, self.t the step count (1 at the first)"]}),
    Exercise("clip_grad_norm", "the global gradient norm and clipping to it", "minirnn.optim",
             ("global_norm", "clip_grad_norm"), grading.grade_clip, keep=("global_norm", "clip_grad_norm"),
             hints={"global_norm": ["sqrt of the sum of squares of every entry of every gradient"],
                    "clip_grad_norm": ["scale every gradient in place; return the norm before clipping"]}),
    Exercise("sgns_pair", "word2vec: one skip-gram pair with negative sampling", "minirnn.word2vec",
             ("sgns_pair_reference",), grading.grade_sgns, keep=("sgns_pair_reference",), setup="loop",
             hints={"sgns_pair_reference": [
                 "equations (1)-(5) of the module docstring: the center word (label 1), then `negative`",
                 "draws, each: rnd = (rnd * 25214903917 + 11) & _MASK64;",
                 "target = int(neg_table[(rnd >> 16) % len(neg_table)]), skipped when it is the center;",
                 "g as np.float32; neg_log_sigmoid gives (5); update syn0[context] (u) after the loop"]}),
    Exercise("lloyd", "k-means: one Lloyd iteration, assignment (4) and cluster sums (5)", "minirnn.kmeans",
             ("ArrayOps.assign", "ArrayOps.sums"), grading.grade_lloyd, keep=("ArrayOps",),
             hints={"ArrayOps.assign": ["(4): fill labels[i] with the nearest centre and min_d[i] with its",
                                        "squared distance, in place (x_sq holds ||x_i||^2 for (2))"],
                    "ArrayOps.sums": ["(5): sums (K, D) float64 of each cluster's rows, counts (K,) int64"]}),
]}


def _header(ex: Exercise) -> str:
    blanks = ", ".join(f"{b}()" for b in ex.blank)
    return (f"# minirnn exercise: {ex.name} -- {ex.summary}.\n"
            f"# Made from {ex.module.replace('.', '/')}.py by `python -m minirnn.exercises start`.\n"
            f"# Write {blanks} where the TODOs are, then grade it:\n"
            f"#     python -m minirnn.exercises check <this file>\n")


def listing() -> str:
    w = max(map(len, EXERCISES))
    return "\n".join(f"  {n:<{w}}  {e.summary}" for n, e in EXERCISES.items())


def source(name: str) -> str:
    """The text of a fresh exercise file."""
    ex = EXERCISES[name]
    return exercise_source(ex.module, keep=ex.keep, blank=ex.blank, hints=ex.hints,
                           header=_header(ex), setup=ex.setup)


def start(name: str, directory: str) -> str:
    """Write DIRECTORY/NAME.py; refuses to overwrite. Returns its path."""
    if name not in EXERCISES:
        raise UsageError(f"no exercise {name!r}; there are: {', '.join(EXERCISES)}")
    path = os.path.join(directory, f"{name}.py")
    if os.path.exists(path):
        raise UsageError(f"{path} already exists: it may hold your work; check it, or start in another directory")
    text = source(name)
    os.makedirs(directory, exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)
    return path


def which(path: str) -> Exercise:
    """The exercise a file is: from its header line, else its file name."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(400)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (start one with: python -m minirnn.exercises start NAME DIR)") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise UsageError(f"{path}: not a Python text file") from None
    m = re.search(r"^# minirnn exercise: (\w+)", head, re.M)
    name = m.group(1) if m else os.path.splitext(os.path.basename(path))[0]
    if name not in EXERCISES:
        raise UsageError(f"{path}: not an exercise file (its name or first line should say one of: "
                         f"{', '.join(EXERCISES)})")
    return EXERCISES[name]


def load(path: str, ex: Exercise):
    """Import the learner's file as a module of its own; every failure is a one-line UsageError."""
    mod_name = f"minirnn_exercise_{ex.name}_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UsageError(f"{path} does not import: SyntaxError at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - the learner's file, whatever it raises
        raise UsageError(f"{path} does not import: {type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
    for dotted in ex.blank:
        obj = module
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
        if not callable(obj):
            raise UsageError(f"{path} has no {dotted}(): the {ex.name} exercise grades that function")
    return module


@dataclass
class Report:
    exercise: Exercise
    verdicts: list            # grading.Verdict, wrong ones first
    problem: str = ""         # unfinished or raised: one line
    todos: int = 0            # TODO(exercise) lines left in the file

    @property
    def passed(self) -> bool:
        return not self.problem and all(v.ok for v in self.verdicts)

    def first_error(self) -> str:
        if self.problem:
            return self.problem
        v = next((v for v in self.verdicts if not v.ok), None)
        return "" if v is None else " ".join(" ".join(v.lines()).split())

    def text(self, path) -> str:
        ex = self.exercise
        what = ", ".join(f"{b}()" for b in ex.blank)
        if self.problem:
            lines = [f"{ex.name}: {self.problem}"]
        else:
            lines = [f"{ex.name}: {what} graded against the book" +
                     (" and central differences (float64)" if ex.grade in GRADIENT_GRADERS else "") + ":"]
            shown = set()
            for v in self.verdicts:
                lines += v.lines(shown)
            bad = sum(not v.ok for v in self.verdicts)
            lines.append(f"{bad} of {len(self.verdicts)} wrong: start with the first." if bad
                         else f"all {len(self.verdicts)} right.")
        if self.todos:
            lines.append(f"note: {self.todos} TODO(exercise) line{'s' * (self.todos > 1)} left in {path}")
        if self.passed and ex.name == "lstm":
            lines.append(f"Now train the char model on the novel with your LSTM:\n"
                         f"    python scripts/train_char.py --lstm-file {path}")
        return "\n".join(lines)


GRADIENT_GRADERS = (grading.grade_linear, grading.grade_softmax_ce, grading.grade_rnn, grading.grade_lstm,
                    grading.grade_gru)


def check(path: str) -> tuple[Report, object]:
    """Grade the file at ``path``. Returns (report, the learner's module)."""
    ex = which(path)
    module = load(path, ex)
    with open(path, encoding="utf-8") as f:
        todos = sum(line.lstrip().startswith(MARKER) for line in f)
    rng = np.random.default_rng(SEED)
    try:
        with np.errstate(all="ignore"):
            verdicts = ex.grade(module, path, rng)
    except (grading.Unfinished, grading.Raised) as e:
        return Report(ex, [], str(e), todos), module
    return Report(ex, verdicts, "", todos), module


def use_lstm_file(path: str):
    """Check the learner's LSTM file and, when it passes, make it the char model's LSTM: the book
    path for that layer (the engine has no twin of it, so ``fast.pick`` hands back the file itself).
    A file that fails is refused with the check's first error. Returns the module."""
    from ..layers import stack
    ex = which(path)
    if ex.name != "lstm":
        raise UsageError(f"--lstm-file {path}: that is the {ex.name} exercise, not the lstm one")
    report, module = check(path)
    if not report.passed:
        raise UsageError(f"--lstm-file {path} does not pass its check yet: {report.first_error()} "
                         f"(see: python -m minirnn.exercises check {path})")
    stack.CELLS["lstm"] = module
    return module


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    usage = ("usage: python -m minirnn.exercises [list | start NAME DIR | check FILE]")
    if not args or args == ["list"]:
        print("exercises (python -m minirnn.exercises start NAME DIR, then check DIR/NAME.py):")
        print(listing())
        return 0
    if args[0] in ("-h", "--help"):
        print(usage + "\n\n" + __doc__.split("\n\n")[1].strip())
        return 0
    if args[0] == "start" and len(args) == 3:
        path = start(args[1], args[2])
        blanks = ", ".join(f"{b}()" for b in EXERCISES[args[1]].blank)
        print(f"wrote {path}: write {blanks} where the TODOs are, then grade it with\n"
              f"    python -m minirnn.exercises check {path}")
        return 0
    if args[0] == "check" and len(args) == 2:
        report, _ = check(args[1])
        print(report.text(args[1]))
        return 0 if report.passed else 1
    raise UsageError(f"{' '.join(args)[:80]!r} is not a command; {usage}")
