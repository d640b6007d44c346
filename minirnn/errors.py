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
Before ``run_cli`` there is ``startup``, a script's first statement, which runs before NumPy and
Numba are imported (this module imports neither): Ctrl-C or SIGTERM during those imports ends the
process with one line and 130 or 143; an environment they would choke on (``NUMBA_NUM_THREADS=abc``)
is one line and exit 2; stdout prints what it cannot encode (an ASCII terminal) as ``?``, so a
sample never stops a run. ``run_cli`` runs the ``at_end`` hooks when ``main`` returns or fails
(locks released, an unfinished ``--overwrite`` removed, a directory a refused run made removed).

``require_memory`` turns a size the machine cannot hold (``--hidden 10000000``) into a UsageError
before anything is allocated.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading



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


# ---- before the heavy imports -------------------------------------------------------------------
_STARTUP = {"sigint_ignored": None}       # what startup found: SIGINT inherited as ignored?


def _exit_now(signum, frame):
    """A signal during the imports: nothing to save, nothing to clean; one line, 128 + signum."""
    what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
    os.write(2, f"\n{what}\n".encode())
    os._exit(128 + signum)


MAX_THREADS = 1024       # NUMBA_NUM_THREADS above this is taken for a typo (99999 threads crash the process)
NUMBA_LAYERS = ("default", "safe", "forksafe", "threadsafe", "tbb", "omp", "workqueue")


def check_environment() -> None:
    """The environment variables that NumPy/Numba read at import, checked before they are imported:
    UsageError for a value they would fail on with a traceback or a warning."""
    v = os.environ.get("NUMBA_NUM_THREADS")
    if v is not None:
        try:
            ok = 1 <= int(v.strip()) <= MAX_THREADS
        except ValueError:
            ok = False
        if not ok:
            raise UsageError(f"NUMBA_NUM_THREADS={v[:40]!r}: should be a whole number of threads from 1 to "
                             f"{MAX_THREADS:,} (Numba starts that many), or unset")
    v = os.environ.get("NUMBA_THREADING_LAYER")
    if v is not None and v.strip().lower() not in NUMBA_LAYERS:
        raise UsageError(f"NUMBA_THREADING_LAYER={v[:40]!r}: should be one of {', '.join(NUMBA_LAYERS)}, or unset")
    if any(k.startswith("NUMBA_") for k in os.environ) and "numba" not in sys.modules:
        import warnings                                       # Numba's own parse of the rest, a warning each
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import numba.core.config  # noqa: F401
        for w in caught:
            text = str(w.message)
            if "could not be parsed" in text:
                name = text.split("'")[1] if text.count("'") >= 2 else "a NUMBA_ variable"
                raise UsageError(f"{name}={os.environ.get(name, '')[:40]!r}: Numba cannot read this value "
                                 f"(see Numba's documentation of {name}), or unset it")


def startup(name: str) -> None:
    """A script's first statement, ``startup(__name__)``: acts only when the script runs as a program.

    Installs handlers for SIGINT (unless inherited as ignored) and SIGTERM that end the process at
    once with one line (``run_cli`` replaces them with the usual ones); makes stdout replace what its
    encoding cannot print; checks the environment (one line and exit 2)."""
    if name != "__main__":
        return
    if sys.stdout is None:                                    # started with stdout closed (>&-): print nowhere
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    for stream in (sys.stdout,):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):                     # detached or closed: leave it
                pass
    if threading.current_thread() is threading.main_thread():
        _STARTUP["sigint_ignored"] = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if not _STARTUP["sigint_ignored"]:
            signal.signal(signal.SIGINT, _exit_now)
        signal.signal(signal.SIGTERM, _exit_now)
        atexit.register(_deaf_at_exit)
    try:
        check_environment()
    except UsageError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        sys.exit(2)


def _deaf_at_exit() -> None:
    """The script's work is over and its exit status chosen: the interpreter now shuts down, and resets
    every Python signal handler to the default on the way (a Ctrl-C or SIGTERM there killed a finished
    run, which then reported the signal instead of its status). Ignored signals stay ignored."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


# ---- the end of a run ---------------------------------------------------------------------------
_AT_END: list = []


def at_end(fn):
    """Register fn() to run whenever ``run_cli`` finishes a ``main`` (a module's cleanup of what one
    run claimed: locks, unfinished transactions). Returns fn (usable as a decorator)."""
    if fn not in _AT_END:
        _AT_END.append(fn)
    return fn


def _run_at_end() -> None:
    for fn in reversed(_AT_END):
        try:
            fn()
        except Exception as e:                                # cleanup never hides the run's result
            print(f"warning: cleanup failed ({type(e).__name__}: {_one_line(e)[:200]})", file=sys.stderr)


def interrupt_status(e: BaseException) -> int:
    """The exit status of a stop by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(getattr(e, "signum", signal.SIGINT))


def run_cli(main, argv=None) -> int:
    """Run ``main(argv)`` and turn every failure into one line on stderr (see the module docstring)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if main_thread:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
        if signal.getsignal(signal.SIGINT) is _exit_now:      # startup's: Ctrl-C is KeyboardInterrupt again
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _run(main, argv)
    finally:
        try:
            _run_at_end()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _is_usage(e: BaseException) -> bool:
    """UsageError, or the backend's BackendError (looked up, not imported: it imports NumPy)."""
    backend = sys.modules.get("minirnn.backend")
    return isinstance(e, UsageError) or (backend is not None and isinstance(e, backend.BackendError))


def _run(main, argv) -> int:
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt as e:
        print("\nterminated (SIGTERM)" if isinstance(e, Terminated) else "\ninterrupted", file=sys.stderr)
        return interrupt_status(e)
    except Exception as e:
        if _is_usage(e):
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 2
        if isinstance(e, OSError):
            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return 1
        if isinstance(e, MemoryError):
            print("error: out of memory (use smaller sizes or a smaller input)", file=sys.stderr)
            return 1
        if os.environ.get("MINIRNN_TRACEBACK"):
            raise
        print(f"error: internal error, a bug in minirnn ({type(e).__name__}: {_one_line(e)[:300]}); "
              f"rerun with MINIRNN_TRACEBACK=1 to see where, and please report it", file=sys.stderr)
        return 1


def require(condition: bool, message: str) -> None:
    """Raise UsageError(message) unless condition holds (for hyper-parameter checks)."""
    if not condition:
        raise UsageError(message)


def _read_int(path: str):
    try:
        with open(path, "rb") as f:
            return int(f.read(64).split()[0])
    except (OSError, ValueError, IndexError):               # absent, "max", unreadable
        return None


MEMINFO = "/proc/meminfo"
CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),            # cgroup v2
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _available_bytes():
    """Memory a new allocation can get now: the kernel's MemAvailable (free memory plus the caches
    it can drop), and no more than the cgroup (container) limit leaves; None if unknown."""
    found = []
    try:
        with open(MEMINFO, "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in CGROUP_FILES:
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 1 << 60:
            found.append(max(cap - used, 0))
    return min(found) if found else None


def memory_bytes() -> int:
    """Memory available to this process now, in bytes: ``MemAvailable`` (capped by a container's
    limit), not the machine's total, part of which other processes hold; the physical memory
    where that is unknown. ``$MINIRNN_MEMORY`` overrides it, for tests."""
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
    available = _available_bytes()
    if available is not None:
        return available
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
    """UsageError when `what` needs more bytes than are available now (checked before allocating)."""
    have = memory_bytes()
    if nbytes > have:
        raise UsageError(f"{what} needs about {fmt_bytes(nbytes)} of memory, this machine has "
                         f"{fmt_bytes(have)} available: {hint}")
