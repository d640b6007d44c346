"""The walk-through pages' cells (docs/exercises/*.md): the command line's start, check and overfit as
functions that print and return, so that a page (or a notebook made of its cells) runs top to bottom
whatever state the learner's files are in.

    from minirnn.exercises import notebook as nb
    nb.start("lstm_step")        # writes ex/lstm_step.py, or keeps the one you are writing
    nb.check("lstm_step")        # prints the report; True when every output and gradient is right
    nb.overfit("lstm")           # prints the loss as the tiny model fits one batch; True when it does

Files live in ``DIR`` ("ex", beside where the cells run). A check runs in a process of its own with
a time limit, as on the command line; ``ISOLATE = False`` grades in the cell's own process instead
(faster, and what the tests of the pages do, but a file that hangs then hangs the cell).
"""
from __future__ import annotations

import os

from ..errors import UsageError

DIR = "ex"
ISOLATE = True


def path(name: str) -> str:
    return os.path.join(DIR, f"{name}.py")


def start(name: str) -> str:
    """Write DIR/NAME.py (a sequence's step too) unless it is there already. Returns its path."""
    from . import EXERCISES, start as start_files
    written = start_files(name, DIR, keep_existing=True)
    for p in written:
        n = os.path.splitext(os.path.basename(p))[0]
        print(f"{p}: write {', '.join(f'{b}()' for b in EXERCISES[n].blank)} there, then run the check below")
    return path(name)


def check(name: str) -> bool:
    """Grade DIR/NAME.py and print the report. Returns whether it passed."""
    from . import check as check_file, which
    from .isolate import run_isolated
    p = path(name)
    try:
        report = run_isolated("check", p, which(p), echo=print) if ISOLATE else check_file(p, isolate=False)
    except UsageError as e:
        print(f"error: {e}")
        return False
    print(report.text(p))
    return report.passed


def overfit(name: str) -> bool:
    """Train the tiny model with DIR/NAME.py in it on one batch (overfit.py). Returns whether its
    loss got near zero."""
    p = path(name)
    try:
        if ISOLATE:
            from . import which
            from .isolate import run_isolated
            report = run_isolated("overfit", p, which(p), echo=print)
            if report.problem:
                print(report.problem)
            return report.passed
        from .overfit import overfit as fit
        return fit(p)[0]
    except UsageError as e:
        print(f"error: {e}")
        return False
    except Exception as e:  # noqa: BLE001 - the learner's code, in this process (ISOLATE = False)
        print(f"your code raised {type(e).__name__}: {' '.join(str(e).split())[:200]}")
        return False
