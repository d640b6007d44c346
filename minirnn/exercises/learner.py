"""The learner's own files, where the library uses them: a sequence exercise's import of its step
(``beside``), and the training scripts' ``--rnn-file``, ``--lstm-file`` and ``--gru-file``.

    from minirnn.exercises.learner import add_cell_file_flags, use_cell_files
    add_cell_file_flags(parser)            # in build_parser
    for line in use_cell_files(args):      # after the flags are checked, before the model is built
        print(line)

A cell file is checked first, in a process of its own with a time limit (``exercises.check``): one
that fails, or exits, or hangs, is refused with the check's first error (exit 2). One that passes
becomes the model's cell: ``stack.CELLS[cell]`` names it, so every layer of that kind runs the
learner's forward and backward (the book path: the engine has no twin of it, so ``fast.pick``
hands back the file itself). Nothing here imports the grader until a file is given.
"""
from __future__ import annotations

import importlib.util
import os
import stat
import sys

from ..errors import UsageError

CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def regular_file(path: str, what: str) -> str:
    """``path`` if it is a regular file; a one-line UsageError for a missing file, a directory, a
    FIFO or a device (which a read would block on or never finish)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file (start one with: python -m minirnn.exercises start "
                         f"NAME DIR)") from None
    except OSError as e:
        raise UsageError(f"{what} {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what} {path}: a directory, not a Python file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path}: not a regular file (a FIFO, a socket or a device); give a Python file")
    return path


def import_file(path: str, name: str):
    """Import the file at ``path`` as a module of its own, named ``name`` (kept in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def beside(here: str, filename: str):
    """The module in the file ``filename`` of the directory of ``here`` (a file's ``__file__``):
    a sequence exercise's own step, ``step = beside(__file__, "lstm_step.py")``. Loaded once per path."""
    path = os.path.join(os.path.dirname(os.path.abspath(here)), filename)
    name = f"minirnn_learner_{os.path.splitext(filename)[0]}_{abs(hash(os.path.realpath(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    if not os.path.isfile(path):
        exercise = os.path.splitext(filename)[0]
        raise ImportError(f"{path}: no such file; this exercise is built on it: python -m minirnn.exercises "
                          f"start {exercise} {os.path.dirname(path) or '.'}")
    return import_file(path, name)


def add_cell_file_flags(parser) -> None:
    """--rnn-file, --lstm-file, --gru-file: a learner's checked cell in place of the book's."""
    for cell, upper in CELL_NAMES.items():
        parser.add_argument(f"--{cell}-file", default=None, metavar="FILE",
                            help=f"your {upper} exercise file (python -m minirnn.exercises start {cell} DIR): once "
                                 f"it passes its check, the model's {upper} layers run it (the book path, not "
                                 f"the engine); needs --model {cell}")


def use_cell_files(args) -> list:
    """Check each cell file given and install it (see the module doc). Returns the lines to print."""
    given = [(cell, getattr(args, f"{cell}_file", None)) for cell in CELL_NAMES]
    given = [(cell, path) for cell, path in given if path]
    lines = []
    for cell, path in given:
        if args.model != cell:
            raise UsageError(f"--{cell}-file is an {CELL_NAMES[cell]}; it needs --model {cell}, not {args.model}")
        use_cell_file(cell, path)
        lines.append(f"{CELL_NAMES[cell]} layers: {path} (checked: every output and gradient right)")
    return lines


def use_cell_file(cell: str, path: str):
    """Check the learner's ``cell`` file and, when it passes, make it the model's ``cell`` (see the
    module doc). A file that fails is refused with the check's first error. Returns the module."""
    from . import check, load, which
    from ..layers import stack
    flag = f"--{cell}-file"
    regular_file(path, flag)
    ex = which(path)
    if ex.name != cell:
        hint = (f" (the {cell} exercise is built on it: start {cell} beside it)" if ex.name == f"{cell}_step"
                else "")
        raise UsageError(f"{flag} {path}: that is the {ex.name} exercise, not the {cell} one{hint}")
    report = check(path, isolate=True)
    if not report.passed:
        raise UsageError(f"{flag} {path} does not pass its check yet: {report.first_error()} "
                         f"(see: python -m minirnn.exercises check {path})")
    module = load(path, ex)
    if not callable(getattr(module, "init_params", None)):      # the model initialises the cell's weights
        module.init_params = stack.CELLS[cell].init_params
    stack.CELLS[cell] = module
    return module
