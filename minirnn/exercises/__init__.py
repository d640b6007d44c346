"""Exercises: derive a backward pass (or an update) of the book yourself, and have it graded.

    python -m minirnn.exercises                        # the list
    python -m minirnn.exercises start lstm_step ex/    # writes ex/lstm_step.py: one step, to write
    python -m minirnn.exercises check ex/lstm_step.py  # right/wrong per output and gradient, the mistake named
    python -m minirnn.exercises start lstm ex/         # the sequence, built on your step
    python -m minirnn.exercises overfit ex/lstm.py     # your LSTM fits one tiny batch: loss near zero
    python scripts/train_char.py --lstm-file ex/lstm.py --checkpoint-dir checkpoints/mine-lstm

``start`` writes the file from the book's source (``source.py``): the module docstring with the
forward equations and, in place of the backward ones, the method (``methods.py``: the chain rule
through each node, the shapes, what accumulates, one or two worked lines); the signatures and
shape comments; the body of each function to write cut after its set-up lines and replaced by
TODOs. No file holds more than two answer lines (``answers.py``). ``check`` grades it
(``grading.py``) in a process of its own with a time limit (``isolate.py``): outputs against the
book's forward, gradients against central differences and the book's backward, the known mistakes
named. On success it names the book's derivation to compare with. ``overfit`` trains a tiny model
with the learner's piece in it on one batch until its loss is near zero (``overfit.py``).

Exit status: 0 all right; 1 something wrong or unfinished, or the file exited, or ran past the time
limit; 2 a file that does not import, lacks the function, or is not an exercise, and bad commands
(one line, ``error: ...``).
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UsageError
from . import grading, methods
from .learner import import_file, regular_file
from .source import MARKER, exercise_source

SEED = 25


@dataclass
class Exercise:
    name: str
    group: str                   # the page of docs/exercises/ that walks through it
    summary: str
    module: str                  # the book module the file is made from
    blank: tuple                 # the function(s) to write
    grade: Callable
    keep: tuple | None = None    # top-level definitions copied (None: the whole module)
    setup: object = "names"      # which leading lines of a blanked body stay (source.py)
    solution: str = ""           # the book's derivation to compare with, once it passes
    after: str = ""              # the exercise a sequence is built on (its file beside this one)
    gradients: bool = True       # graded against central differences (else output by output)

    @property
    def hints(self):
        return methods.HINTS.get(self.name, {})


_CELLS = ("init_params", "gate_slices", "sigmoid")


def _step(cell):
    return Exercise(f"{cell}_step", cell, f"one step of the {cell.upper()}: step_forward, step_backward",
                    f"minirnn.layers.{cell}", ("step_forward", "step_backward"), grading.grade_step(cell),
                    keep=("step_forward", "step_backward"), solution=f"docs/{cell}.md")


def _sequence(cell):
    return Exercise(cell, cell, f"the {cell.upper()} over a sequence, forward and backward through time, on your step",
                    f"minirnn.layers.{cell}", ("forward", "backward"), grading.grade_sequence(cell),
                    keep=("init_params", "forward", "backward"), setup={"forward": "names", "backward": "none"},
                    solution=f"docs/{cell}.md", after=f"{cell}_step")


EXERCISES = {e.name: e for e in [
    Exercise("linear", "layers", "the linear layer's backward: dx, dW, db of y = x W + b", "minirnn.layers.linear",
             ("backward",), grading.grade_linear, solution="minirnn/layers/linear.py"),
    Exercise("softmax_ce", "layers", "softmax cross-entropy's backward: dlogits", "minirnn.layers.softmax_ce",
             ("backward",), grading.grade_softmax_ce, solution="docs/softmax_ce.md"),
    Exercise("masked_softmax_ce", "layers", "the temporal softmax cross-entropy with a mask: dlogits",
             "minirnn.layers.masked_softmax_ce", ("backward",), grading.grade_masked_softmax_ce,
             solution="minirnn/layers/masked_softmax_ce.py"),
    Exercise("embedding", "layers", "the embedding's backward: dW, ids repeated", "minirnn.layers.embedding",
             ("backward",), grading.grade_embedding, solution="minirnn/layers/embedding.py"),
    Exercise("dropout", "layers", "inverted dropout, forward and backward", "minirnn.layers.dropout",
             ("forward", "backward"), grading.grade_dropout, setup="none", solution="minirnn/layers/dropout.py"),
    _step("rnn"), _sequence("rnn"), _step("lstm"), _sequence("lstm"), _step("gru"), _sequence("gru"),
    Exercise("stack", "stack", "the layer stack's backward: layers top-down, through the dropout between them",
             "minirnn.layers.stack", ("backward",), grading.grade_stack, setup="none",
             solution="minirnn/layers/stack.py"),
    Exercise("adam", "stack", "one Adam step: m, v and the parameter", "minirnn.optim", ("Adam._update",),
             grading.grade_adam, keep=("Adam",), solution="minirnn/optim.py", gradients=False),
    Exercise("clip_grad_norm", "stack", "the global gradient norm and clipping to it", "minirnn.optim",
             ("global_norm", "clip_grad_norm"), grading.grade_clip, keep=("global_norm", "clip_grad_norm"),
             solution="minirnn/optim.py", gradients=False),
    Exercise("sgns_pair", "words", "word2vec: one skip-gram pair with negative sampling", "minirnn.word2vec",
             ("sgns_pair_reference",), grading.grade_sgns, keep=("sgns_pair_reference",), setup="loop",
             solution="docs/word2vec.md", gradients=False),
    Exercise("sgns_window", "words", "word2vec: every pair of the skip-gram windows over a chunk", "minirnn.word2vec",
             ("sgns_block_reference",), grading.grade_sgns_window, keep=("sgns_block_reference",), setup="none",
             solution="docs/word2vec.md", gradients=False),
    Exercise("lloyd", "words", "k-means: one Lloyd iteration, assignment (4) and cluster sums (5)", "minirnn.kmeans",
             ("ArrayOps.assign", "ArrayOps.sums"), grading.grade_lloyd, keep=("ArrayOps",),
             solution="docs/kmeans.md", gradients=False),
    Exercise("spherical", "words", "k-means: the centre update (5)-(6), Euclidean and spherical", "minirnn.kmeans",
             ("_update_centers",), grading.grade_spherical, keep=("_update_centers",), setup=2,
             solution="docs/kmeans.md", gradients=False),
]}

# the old hints of the output exercises (their files hold no backward to hide)
_OLD_HINTS = {
    "adam": {"Adam._update": ["the Adam lines of the module docstring, in place on m, v and p;",
                              "self.lr is this parameter's rate, self.t the step count (1 at the first)"]},
    "clip_grad_norm": {"global_norm": ["sqrt of the sum of squares of every entry of every gradient"],
                       "clip_grad_norm": ["scale every gradient in place; return the norm before clipping"]},
    "sgns_pair": {"sgns_pair_reference": [
        "equations (1)-(5) of the module docstring: the center word (label 1), then `negative`",
        "draws, each: rnd = (rnd * 25214903917 + 11) & _MASK64;",
        "target = int(neg_table[(rnd >> 16) % len(neg_table)]), skipped when it is the center;",
        "g as np.float32; neg_log_sigmoid gives (5); update syn0[context] (u) after the loop"]},
    "lloyd": {"ArrayOps.assign": ["(4): fill labels[i] with the nearest centre and min_d[i] with its",
                                  "squared distance, in place (x_sq holds ||x_i||^2 for (2))"],
              "ArrayOps.sums": ["(5): sums (K, D) float64 of each cluster's rows, counts (K,) int64"]},
}
for _n, _h in _OLD_HINTS.items():
    methods.HINTS.setdefault(_n, _h)

GROUPS = {"layers": "docs/exercises/layers.md", "rnn": "docs/exercises/rnn.md", "lstm": "docs/exercises/lstm.md",
          "gru": "docs/exercises/gru.md", "stack": "docs/exercises/stack.md", "words": "docs/exercises/words.md"}
OVERFIT = ("linear", "softmax_ce", "masked_softmax_ce", "embedding", "rnn_step", "rnn", "lstm_step", "lstm",
           "gru_step", "gru", "stack", "adam")


def _header(ex: Exercise) -> str:
    blanks = ", ".join(f"{b}()" for b in ex.blank)
    return (f"# minirnn exercise: {ex.name} -- {ex.summary}.\n"
            f"# Made from {ex.module.replace('.', '/')}.py by `python -m minirnn.exercises start`;"
            f" walked through in {GROUPS[ex.group]}.\n"
            f"# Write {blanks} where the TODOs are, then grade it:\n"
            f"#     python -m minirnn.exercises check <this file>\n")


def listing() -> str:
    w = max(map(len, EXERCISES))
    return "\n".join(f"  {n:<{w}}  {e.summary}" for n, e in EXERCISES.items())


def source(name: str) -> str:
    """The text of a fresh exercise file."""
    ex = EXERCISES[name]
    preamble = methods.sequence_preamble(ex.name) if ex.after else ""
    drop, swap, edits = ("One step:",), {}, []
    if ex.name in ("rnn_step", "lstm_step", "gru_step"):
        swap, edits = methods.step_doc(ex.group)
        drop += ("Memory cached",)                          # the sequence's cache, not a step's
    elif ex.after:
        swap, edits = methods.sequence_doc(ex.name)
    return exercise_source(ex.module, keep=ex.keep, blank=ex.blank, hints=ex.hints, header=_header(ex),
                           setup=ex.setup, method=methods.METHOD.get(ex.name), drop=drop, swap=swap,
                           edits=edits, preamble=preamble, blank_uses=not ex.after,
                           helpers=methods.helpers(ex.module))


def _write_new(path: str, text: str) -> None:
    """Create ``path`` with ``text``; one line for every way that can fail (exists, a dangling
    symlink, a read-only or missing directory)."""
    if os.path.lexists(path):
        what = "a dangling symbolic link" if os.path.islink(path) and not os.path.exists(path) else "already exists"
        raise UsageError(f"{path} {what}: it may hold your work; check it, or start in another directory")
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise UsageError(f"{path} already exists: it may hold your work; check it, or start in another "
                         f"directory") from None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def start(name: str, directory: str, keep_existing: bool = False) -> list:
    """Write DIRECTORY/NAME.py (and, for a sequence, the step it is built on when that file is not
    there). Refuses to overwrite, unless ``keep_existing`` (a notebook cell run twice): then a file
    that exists is left as it is. Returns the paths written (or kept)."""
    if name not in EXERCISES:
        raise UsageError(f"no exercise {name!r}; there are: {', '.join(EXERCISES)}")
    if os.path.lexists(directory) and not os.path.isdir(directory):
        what = "a dangling symbolic link" if os.path.islink(directory) else "not a directory"
        raise UsageError(f"{directory}: {what}; start in a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot make the directory {directory}: {e.strerror or e}") from None
    ex = EXERCISES[name]
    names = ([ex.after] if ex.after else []) + [name]
    paths = []
    for n in names:
        path = os.path.join(directory, f"{n}.py")
        if n != name and os.path.lexists(path):
            continue                                        # the learner's step: theirs
        if keep_existing and os.path.lexists(path):
            paths.append(path)
            continue
        _write_new(path, source(n))
        paths.append(path)
    return paths


def which(path: str) -> Exercise:
    """The exercise a file is: from its header line, else its file name."""
    regular_file(path, "exercise file")
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(400)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a Python text file (not UTF-8)") from None
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    m = re.search(r"^# minirnn exercise: (\w+)", head, re.M)
    name = m.group(1) if m else os.path.splitext(os.path.basename(path))[0]
    if name not in EXERCISES:
        raise UsageError(f"{path}: not an exercise file (its name or first line should say one of: "
                         f"{', '.join(EXERCISES)})")
    return EXERCISES[name]


def load(path: str, ex: Exercise):
    """Import the learner's file as a module of its own; every failure is a one-line UsageError."""
    mod_name = f"minirnn_exercise_{ex.name}_{abs(hash(os.path.abspath(path)))}"
    try:
        module = import_file(path, mod_name)
    except SyntaxError as e:
        raise UsageError(f"{path} does not import: SyntaxError at line {e.lineno}: {e.msg}") from None
    except SystemExit as e:
        raise UsageError(f"{path} does not import: it calls sys.exit({e.code!r}) when imported") from None
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
    problem: str = ""         # unfinished, raised, exited, timed out: one line
    todos: int = 0            # TODO(exercise) lines left in the file

    @property
    def passed(self) -> bool:
        return not self.problem and bool(self.verdicts) and all(v.ok for v in self.verdicts)

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
                     (" and central differences (float64)" if ex.gradients else "") + ":"]
            shown = {}
            for v in self.verdicts:
                lines += v.lines(shown)
            bad = sum(not v.ok for v in self.verdicts)
            lines.append(f"{bad} of {len(self.verdicts)} wrong: start with the first." if bad
                         else f"all {len(self.verdicts)} right.")
        if self.todos:
            lines.append(f"note: {self.todos} TODO(exercise) line{'s' * (self.todos > 1)} left in {path}")
        if self.passed:
            lines += success_lines(ex, path)
        return "\n".join(lines)


def success_lines(ex: Exercise, path: str) -> list:
    """What to do next, once a file passes: the solution to compare with, and the next command."""
    out = [f"Compare with the book's derivation, the solution: {ex.solution}"]
    nxt = [e.name for e in EXERCISES.values() if e.after == ex.name]
    if nxt:
        out.append(f"Next, the sequence on your step: python -m minirnn.exercises start {nxt[0]} "
                   f"{os.path.dirname(path) or '.'}")
    if ex.name in OVERFIT:
        out.append(f"Sanity check, your piece in a tiny model fitting one batch: "
                   f"python -m minirnn.exercises overfit {path}")
    if ex.name in ("rnn", "lstm", "gru"):
        out.append(f"Then train the char model on the novel with your {ex.name.upper()}, in a checkpoint "
                   f"directory of its own:\n    python scripts/train_char.py --model {ex.name} --{ex.name}-file "
                   f"{path} --checkpoint-dir checkpoints/mine-{ex.name}")
    return out


def _todos(path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(line.lstrip().startswith(MARKER) for line in f)


def _prerequisite(module, ex: Exercise):
    """For a sequence built on the learner's step: the step file's own report, when it fails."""
    if not ex.after:
        return None
    step = getattr(module, "step", None)
    path = getattr(step, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    try:
        if which(path).name != ex.after:
            return None
    except UsageError:
        return None
    report = check(path, isolate=False)
    if report.passed:
        return None
    return (f"built on {path}, which does not pass its check yet: {report.first_error()} "
            f"(python -m minirnn.exercises check {path})")


def check(path: str, isolate: bool = True, timeout: float | None = None) -> Report:
    """Grade the file at ``path``. ``isolate``: in a process of its own, with a time limit (the
    CLI's way); otherwise here (the tests' way for files they wrote)."""
    if isolate:
        from .isolate import run_isolated
        return run_isolated("check", path, which(path), timeout)
    ex = which(path)
    module = load(path, ex)
    todos = _todos(path)
    problem = _prerequisite(module, ex)
    if problem:
        return Report(ex, [], problem, todos)
    rng = np.random.default_rng(SEED)
    try:
        with np.errstate(all="ignore"):
            verdicts = ex.grade(module, path, rng)
    except (grading.Unfinished, grading.Raised) as e:
        return Report(ex, [], str(e), todos)
    return Report(ex, verdicts, "", todos)


USAGE = ("usage: python -m minirnn.exercises [list | start NAME DIR | check FILE | overfit FILE | overfit NAME DIR]"
         " [--timeout SECONDS]")


def _timeout(args):
    if "--timeout" not in args:
        return args, None
    i = args.index("--timeout")
    try:
        t = float(args[i + 1])
    except (IndexError, ValueError):
        raise UsageError("--timeout needs a number of seconds") from None
    if not 0 < t <= 86400:
        raise UsageError(f"--timeout must be in (0, 86400] seconds, got {args[i + 1]}")
    return args[:i] + args[i + 2:], t


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    args, timeout = _timeout(args)
    if not args or args == ["list"]:
        print("exercises (python -m minirnn.exercises start NAME DIR, then check DIR/NAME.py):")
        print(listing())
        print("walk-throughs, a page per group: " + ", ".join(sorted(set(GROUPS.values()))))
        return 0
    if args[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + __doc__.split("\n\n")[1].strip())
        return 0
    if args[0] == "start" and len(args) == 3:
        paths = start(args[1], args[2])
        for p in paths:
            n = os.path.splitext(os.path.basename(p))[0]
            blanks = ", ".join(f"{b}()" for b in EXERCISES[n].blank)
            print(f"wrote {p}: write {blanks} where the TODOs are, then grade it with\n"
                  f"    python -m minirnn.exercises check {p}")
        return 0
    if args[0] == "check" and len(args) == 2:
        report = check(args[1], isolate=True, timeout=timeout)
        print(report.text(args[1]))
        return 0 if report.passed else 1
    if args[0] == "overfit" and len(args) in (2, 3):
        path = args[1] if len(args) == 2 else os.path.join(args[2], f"{args[1]}.py")
        if len(args) == 3 and args[1] not in EXERCISES:
            raise UsageError(f"no exercise {args[1]!r}; there are: {', '.join(EXERCISES)}")
        name = which(path).name
        if name not in OVERFIT:
            raise UsageError(f"{path}: overfit trains a model with your piece in it: one of {', '.join(OVERFIT)}; "
                             f"the {name} exercise is checked by `check` alone")
        from .isolate import run_isolated
        report = run_isolated("overfit", path, which(path), timeout)
        if report.problem:
            print(f"{report.exercise.name}: {report.problem}")
        return 0 if report.passed else 1
    raise UsageError(f"{' '.join(args)[:80]!r} is not a command; {USAGE}")
