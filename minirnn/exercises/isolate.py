"""Run the learner's code in a process of its own, with a time limit.

``run_isolated(mode, path, ex, timeout)`` checks (mode "check") or overfits (mode "overfit") the file at
``path`` in a child process, ``python -m minirnn.exercises._child MODE PATH RESULT``, which writes
its result as JSON to the file RESULT and nothing else. Whatever the learner's code does, the parent
answers with a report:

- it returns: the child's report (its text, whether it passed, its first error);
- it exits (``sys.exit`` is caught in the child; ``os._exit`` or a crash leaves no result): the check
  fails, saying so, with the last line the child wrote to stderr;
- it runs past the time limit (an endless loop, a sleep, ``input()`` at import): the child's process
  group is killed and the check fails, saying so;
- it does not import, or is not an exercise: a one-line UsageError (exit 2), as in process.

What the learner's code prints goes to stdout as it would in their own run (or, with ``echo``, to
that function once the child is done: a notebook cell shows it); the child's stderr is kept for the
message above. The limit: ``timeout`` seconds, else $MINIRNN_EXERCISE_TIMEOUT, else 60
for a check and 300 for an overfit run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from ..errors import UsageError

DEFAULT_TIMEOUT = {"check": 60.0, "overfit": 300.0}


@dataclass
class IsolatedReport:
    """The report of a run in a child process: what ``Report`` offers the CLI and the scripts."""
    exercise: object
    ok: bool
    report_text: str = ""
    first: str = ""
    problem: str = ""

    @property
    def passed(self) -> bool:
        return self.ok and not self.problem

    def first_error(self) -> str:
        return self.problem or self.first

    def text(self, path) -> str:
        return self.report_text if not self.problem else f"{self.exercise.name}: {self.problem}"


def time_limit(mode: str, timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    env = os.environ.get("MINIRNN_EXERCISE_TIMEOUT")
    if env:
        try:
            value = float(env)
        except ValueError:
            value = -1.0
        if not 0 < value <= 86400:
            raise UsageError(f"MINIRNN_EXERCISE_TIMEOUT must be a number of seconds in (0, 86400], got {env[:40]!r}")
        return value
    return DEFAULT_TIMEOUT[mode]


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_isolated(mode: str, path: str, ex, timeout: float | None = None, echo=None) -> IsolatedReport:
    """See the module doc. ``ex``: the exercise the file is (``which(path)``, found by the caller, so a
    FIFO, a directory or a file that is not an exercise is exit 2 before any child runs). ``echo``: None lets the child write to this process's stdout as it goes
    (a terminal); a function is handed what the child printed, once it is done (a notebook cell)."""
    limit = time_limit(mode, timeout)
    fd, result = tempfile.mkstemp(prefix="minirnn-exercise-", suffix=".json")
    os.close(fd)
    os.unlink(result)                                # the child creates it: no result = no file
    try:
        proc = subprocess.Popen([sys.executable, "-m", "minirnn.exercises._child", mode, path, result],
                                stdin=subprocess.DEVNULL, stdout=None if echo is None else subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            printed, err = proc.communicate(timeout=limit)
            if echo is not None and printed:
                echo(printed.decode("utf-8", "replace").rstrip("\n"))
        except subprocess.TimeoutExpired:
            _kill(proc)
            return IsolatedReport(ex, False, problem=(
                f"{path} ran past the {limit:g} s time limit (at import, or in a graded function: an endless "
                f"loop, a sleep, input()?); the {mode} was stopped"))
        except BaseException:
            _kill(proc)
            raise
        try:
            with open(result, encoding="utf-8") as f:
                out = json.load(f)
        except (OSError, ValueError):
            tail = [l for l in err.decode("utf-8", "replace").splitlines() if l.strip()][-1:]
            said = f"; its last words: {tail[0].strip()[:200]}" if tail else ""
            return IsolatedReport(ex, False, problem=(
                f"{path} stopped the {mode} before it finished: the process exited with status {proc.returncode} "
                f"(os._exit, a signal or a crash in your file?){said}"))
    finally:
        if os.path.exists(result):
            os.unlink(result)
    if "usage_error" in out:
        raise UsageError(out["usage_error"])
    return IsolatedReport(ex, bool(out["passed"]), out.get("text", ""), out.get("first", ""), out.get("problem", ""))
