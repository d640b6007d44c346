"""User-facing errors: one line on stderr, never a traceback.

Library code raises ``UsageError`` (bad files, impossible hyper-parameters, unknown characters).
Scripts wrap their ``main`` in ``run_cli``, the one place where every failure becomes one line:

    UsageError, BackendError      input the user can fix          ``error: <message>``, exit 2
    OSError, MemoryError          a fault of the machine          ``error: <what failed>``, exit 1
                                  during the work (disk full, out of memory)
    KeyboardInterrupt             Ctrl-C that the script did not   ``interrupted``, exit 130
                                  handle itself (a second Ctrl-C, word2vec)
    Terminated                    SIGTERM, the same way             ``terminated``, exit 143
    any other exception           a bug in minirnn                 ``internal error: ...``, exit 1
                                  (``MINIRNN_TRACEBACK=1`` shows the traceback instead)

Whether an output that cannot be written is input or fault depends on when it is found: every path a command writes is
checked before the work (``textio.check_output_file``), so a read-only directory, a missing one or
an input given as the output is input the user can fix, exit 2; a write that fails during the work
(disk full, the directory made read-only meanwhile) is a fault of the machine, exit 1.

Signals: ``run_cli`` makes SIGTERM (what ``kill``, nohup jobs and cluster schedulers send) raise
``Terminated``, a KeyboardInterrupt, so it takes the path Ctrl-C takes: a training run saves and
exits 0 (``Trainer``), anything else stops with one line. SIGINT keeps the disposition the process
inherited: a job started in the background by a shell (SIGINT ignored) stays deaf to Ctrl-C.

``require_memory`` turns a size the machine cannot hold (``--hidden 10000000``) into a UsageError
before anything is allocated.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

from .backend import BackendError


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit status 2."""


class DataError(UsageError):
    """Data that fails a library's check (k-means' rows: NaN, all zeros, ...): still a ValueError
    for the library's callers; a script names the file the data came from (exit 2)."""


def _one_line(text) -> str:
    return " ".join(str(text).split())


def describe_os_error(e: OSError) -> str:
    """``<file>: <reason>`` for an OSError, on one line (no errno numbers, no traceback)."""
    reason = e.strerror or str(e) or type(e).__name__
    where = e.filename if e.filename is not None else ""
    return _one_line(f"{where}: {reason}" if where else reason)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled wherever Ctrl-C is (a KeyboardInterrupt), exit status 143."""

    signum = signal.SIGTERM


def _on_sigterm(signum, frame):
    raise Terminated()


def interrupt_status(e: BaseException) -> int:
    """The exit status of a stop by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(getattr(e, "signum", signal.SIGINT))


def run_cli(main, argv=None) -> int:
    """Run ``main(argv)`` and turn every failure into one line on stderr (see the module docstring)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return _run(main, argv)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(main, argv) -> int:
    try:
        return int(main(argv) or 0)
    except (UsageError, BackendError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory (use smaller sizes or a smaller input)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("\nterminated (SIGTERM)" if isinstance(e, Terminated) else "\ninterrupted", file=sys.stderr)
        return interrupt_status(e)
    except Exception as e:
        if os.environ.get("MINIRNN_TRACEBACK"):
            raise
        print(f"error: internal error, a bug in minirnn ({type(e).__name__}: {_one_line(e)[:300]}); "
              f"rerun with MINIRNN_TRACEBACK=1 to see where, and please report it", file=sys.stderr)
        return 1


def require(condition: bool, message: str) -> None:
    """Raise UsageError(message) unless condition holds (for hyper-parameter checks)."""
    if not condition:
        raise UsageError(message)


def memory_bytes() -> int:
    """Physical memory of this machine in bytes ($MINIRNN_MEMORY overrides it, for tests)."""
    override = os.environ.get("MINIRNN_MEMORY")
    if override:
        try:
            value = int(float(override))
        except (ValueError, OverflowError):
            value = 0
        if value < 1:
            raise UsageError(f"MINIRNN_MEMORY={override[:40]!r}: should be a number of bytes (e.g. 8e9), "
                             f"or unset")
        return value
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):           # not POSIX: no up-front check
        return 1 << 62


def fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.3g} EB"


def require_memory(nbytes: float, what: str, hint: str) -> None:
    """UsageError when `what` needs more bytes than the machine has (checked before allocating)."""
    have = memory_bytes()
    if nbytes > have:
        raise UsageError(f"{what} needs about {fmt_bytes(nbytes)} of memory, this machine has "
                         f"{fmt_bytes(have)}: {hint}")
