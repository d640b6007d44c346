"""The training scripts' ``--rnn-file``, ``--lstm-file`` and ``--gru-file``: a learner's checked cell
in place of the book's.

    from minirnn.exercises.cells import add_cell_file_flags, use_cell_files
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

from ..errors import UsageError
from .learner import regular_file

CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


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
