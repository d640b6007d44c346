"""The learner's own files, read safely: ``regular_file`` (no FIFO, device or directory),
``import_file``, and ``beside`` (a sequence exercise's import of its step). The training scripts'
``--rnn-file``, ``--lstm-file`` and ``--gru-file`` are ``cells.py``'s, built on these."""
from __future__ import annotations

import importlib.util
import os
import stat
import sys

from ..errors import UsageError

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
