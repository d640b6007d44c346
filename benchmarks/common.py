"""What the benchmarks share: flags and outputs, optional reference libraries, threads, the machine,
timing and memory. Every script in benchmarks/ imports this module; it imports no script.

Conventions
    * ``parser(doc)`` builds a script's flags: a bad flag is one line, ``error: ...``, exit 2 (the
      scripts run ``main`` through minirnn.errors.run_cli), and the numeric types below (``count``,
      ``natural``, ``positive``, ``counts``) refuse nonsense before any work.
    * Results go to ``--out-dir DIR`` (default ``$MINIRNN_BENCH_OUT`` if set, else
      ``<tempdir>/minirnn-bench``); ``--update-results`` writes into benchmarks/results/, the
      committed figures. ``result_path`` checks the file before the work and ``write_json`` again at
      the rename: a benchmark replaces only an earlier result (a JSON it wrote, marked
      ``written_by``, or a committed figure with --update-results), says so, and refuses any other file.
    * A reference library that is not installed (PyTorch, gensim, scikit-learn, faiss, pyperf) is one
      line on stderr and the minirnn side still runs (``reference``).
    * A script defines ``SMOKE_ARGS``, the argv of its smallest size (tests/test_benchmarks.py runs
      it), and its JSON's ``summary`` holds the rows (``row``) that benchmarks/run.py prints.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from minirnn.errors import UsageError

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
MARK = "minirnn benchmarks/"            # write_json's `written_by`: what a benchmark may replace


# ---- flags ---------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):                         # one line through run_cli, exit 2 (not usage + exit 2)
        raise UsageError(f"{self.prog}: {message}")


def parser(doc: str) -> argparse.ArgumentParser:
    """A script's parser: its docstring as --help, flag errors as one line (exit 2)."""
    return _Parser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)


def _number(kind, least, what):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (value >= least and value < float("inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


count = _number(int, 1, "a whole number >= 1")            # repeats, rounds, sizes, threads
natural = _number(int, 0, "a whole number >= 0")          # warm-up steps, seeds
positive = _number(float, 1e-300, "a finite number > 0")  # tolerances, rates


def counts(text):
    """'128,512' -> [128, 512], each a whole number >= 1."""
    return [count(v) for v in text.split(",")]


def add_output_args(p) -> None:
    """--out-dir DIR and --update-results, the same in every benchmark."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--out-dir", default=None, metavar="DIR",
                       help="folder for the results (default: $MINIRNN_BENCH_OUT if set, else "
                            f"{os.path.join(tempfile.gettempdir(), 'minirnn-bench')})")
    group.add_argument("--update-results", action="store_true",
                       help="write into benchmarks/results/ (the committed figures) instead")


# the skip-gram settings both libraries get in the word2vec benchmark: (option, type, default, help)
WORD2VEC_ARGS = (("dim", count, 100, "vector size"), ("window", count, 5, "largest context window"),
                 ("min_count", count, 5, "vocabulary cut"), ("negative", count, 5, "negatives per pair"),
                 ("sample", float, 1e-3, "subsampling threshold"), ("epochs", count, 5, "passes over the corpus"),
                 ("workers", count, 2, "threads, the same for both libraries"))


def add_word2vec_args(p) -> None:
    """--dim, --window, --min-count, --negative, --sample, --epochs, --workers (WORD2VEC_ARGS)."""
    for name, kind, default, help_text in WORD2VEC_ARGS:
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=help_text)


# ---- outputs ------------------------------------------------------------------------------------
def default_out_dir() -> str:
    """$MINIRNN_BENCH_OUT, else <tempdir>/minirnn-bench: outside the repository, so that running a
    benchmark never changes the committed figures. UsageError if the variable names a file."""
    env = os.environ.get("MINIRNN_BENCH_OUT")
    if env and os.path.exists(env) and not os.path.isdir(env):
        raise UsageError(f"MINIRNN_BENCH_OUT={env}: is not a directory; name a folder for the results")
    return env or os.path.join(tempfile.gettempdir(), "minirnn-bench")


def _replaceable(path: str) -> bool:
    """An earlier result: a committed figure (benchmarks/results/), or a file of ours (write_json's
    `written_by`, save_pyperf's description: MARK near the start)."""
    try:
        with open(path, "rb") as f:
            return os.path.dirname(os.path.abspath(path)) == RESULTS_DIR or MARK.encode() in f.read(1 << 12)
    except OSError:
        return False


def check_result_file(path: str) -> str:
    """UsageError unless `path` can take a result: a regular file or none yet, and if one, an
    earlier result (see _replaceable); its folder is created."""
    if os.path.lexists(path) and not (os.path.isfile(path) and _replaceable(path)):
        what = "is not a regular file" if not os.path.isfile(path) else "exists and is not a result of a minirnn benchmark"
        raise UsageError(f"{path}: {what}; refusing to replace it: choose another --out-dir")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{folder}: is not a directory; choose another --out-dir")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{folder}: cannot create it ({e.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{folder}: not writable; choose another --out-dir")
    return path


def result_path(args, name: str) -> str:
    """Where the result file `name` goes for these parsed arguments (see add_output_args), checked."""
    folder = RESULTS_DIR if args.update_results else (args.out_dir or default_out_dir())
    return check_result_file(os.path.join(folder, name))


def write_json(path: str, payload: dict) -> str:
    """Write payload as indented JSON (marked written_by), atomically (temp file, then rename),
    checked again just before: a file that appeared meanwhile is not replaced unless a result."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "?"
    payload = {"written_by": MARK + script, **payload}
    replacing = os.path.exists(check_result_file(path))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, default=str)
        f.write("\n")
    check_result_file(path)
    os.replace(tmp, path)
    if replacing:
        print(f"note: {path} replaces an earlier result", flush=True)
    return path


def row(what, minirnn, reference=None, ref_value=None, ratio=None, note=""):
    """One line of the suite's table: what, minirnn's figure, the reference library and its figure,
    minirnn / reference (None where there is none) and a note."""
    return {"what": what, "minirnn": minirnn, "reference": reference, "reference_value": ref_value,
            "ratio": ratio, "note": note}


def show(rows) -> None:
    """The summary rows on stdout, a line each (run.py prints them as one table)."""
    for r in rows:
        ref = f"; {r['reference']}: {r['reference_value'] or '-'}" if r["reference"] else ""
        ratio = "" if r["ratio"] is None else f"; minirnn / reference {r['ratio']:.2f}"
        print(f"{r['what']}: minirnn {r['minirnn'] or '-'}{ref}{ratio}" + (f" ({r['note']})" if r["note"] else ""))


def command_line() -> str:
    """The command that produced a result, for the JSON and the front page."""
    return " ".join([os.path.basename(sys.executable)] + sys.argv)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


# ---- optional reference libraries ---------------------------------------------------------------
INSTALL = {"torch": "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
           "gensim": "pip install gensim", "sklearn": "pip install scikit-learn",
           "faiss": "pip install faiss-cpu", "pyperf": "pip install pyperf"}
NAMES = {"torch": "PyTorch", "sklearn": "scikit-learn"}
_missing: set = set()


def reference(module: str, doing: str = "measuring minirnn only"):
    """The reference library `module`, or None after one line on stderr (once per process) saying
    that it is missing and how to install it: the minirnn side runs either way."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as e:                # OSError: an install whose shared library is missing
        if module not in _missing:
            _missing.add(module)
            why = "is not installed" if isinstance(e, ModuleNotFoundError) else f"does not load ({e})"
            print(f"note: {NAMES.get(module, module)} {why}; {doing} (to compare: {INSTALL.get(module, 'pip install ' + module)})",
                  file=sys.stderr)
        return None


def pyplot():
    """matplotlib.pyplot drawing to files (the Agg backend), or None where matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# ---- threads and the machine --------------------------------------------------------------------
def set_threads(n: int) -> dict:
    """Use n threads in BLAS, and in Numba / PyTorch where the caller has already imported them
    (importing a library only to set its threads can hurt: Numba's threading layer started before
    PyTorch made torch.nn.RNN ~12x slower here). Returns what was done, for the JSON."""
    done = {"threads": int(n)}
    for var in THREAD_VARS:                      # for subprocesses, and libraries loaded later
        if not (var == "NUMBA_NUM_THREADS" and "numba" in sys.modules):   # Numba refuses a change once running
            os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(int(n))
        done["native_pools"] = [{"api": p.get("internal_api"), "threads": p.get("num_threads"),
                                 "kernels": p.get("architecture")} for p in threadpool_info()]
    except ImportError:
        pass
    if "numba" in sys.modules:
        import numba
        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
        done["numba"] = numba.get_num_threads()
    if "torch" in sys.modules:
        import torch
        torch.set_num_threads(int(n))
        done["torch"] = torch.get_num_threads()
    return done


def _cpuinfo() -> dict:
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():                         # the first processor is enough
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_name() -> str:
    """'AMD EPYC (family 25 model 17)': a VM's model name alone can hide which generation it is."""
    f = _cpuinfo()
    name = f.get("model name") or platform.processor() or platform.machine()
    return name + (f" (family {f['cpu family']} model {f['model']})" if "cpu family" in f and "model" in f else "")


def _blas() -> dict:
    """numpy's BLAS, the kernels OpenBLAS picked (AVX2 "Haswell" kernels on an AVX-512 CPU halve its
    GEMM ceiling) and the OPENBLAS_* variables that pin them."""
    info = {"env": {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}}
    try:
        import threadpoolctl
        for pool in threadpoolctl.threadpool_info():
            if pool.get("internal_api") == "openblas" and "numpy" in pool.get("filepath", ""):
                info.update(name=f"OpenBLAS {pool.get('version')}", kernels=pool.get("architecture"))
    except ImportError:
        pass
    return info


def machine() -> dict:
    """CPU, cores, BLAS, GPU, load, library versions and the date: where the figures came from."""
    from importlib import metadata
    versions = {"python": platform.python_version()}
    for mod, dist in (("numpy", "numpy"), ("numba", "numba"), ("torch", "torch"), ("gensim", "gensim"),
                      ("sklearn", "scikit-learn"), ("cupy", "cupy-cuda12x"), ("cupy", "cupy-cuda13x"),
                      ("faiss", "faiss-cpu"), ("pyperf", "pyperf")):
        try:
            versions[mod] = getattr(sys.modules[mod], "__version__", None) if mod in sys.modules else metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        gpu = None
    return {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "blas": _blas(), "gpu": gpu, "versions": versions, "load_average_at_start": os.getloadavg(), "date": now()}


def machine_line(m: dict) -> str:
    """'AMD EPYC (family 25 model 17), 2 cores, OpenBLAS 0.3.31 SkylakeX kernels (OPENBLAS_CORETYPE unset), load 0.5, ...'."""
    b = m.get("blas", {})
    env = ", ".join(f"{k}={v}" for k, v in (b.get("env") or {}).items()) or "OPENBLAS_CORETYPE unset"
    load = ", ".join(f"{x:.1f}" for x in m.get("load_average_at_start") or ())
    return f"{m['cpu']}, {m.get('cores')} cores, {b.get('name', 'BLAS')} {b.get('kernels') or ''} kernels ({env}), load {load}"


# ---- timing and memory --------------------------------------------------------------------------
def times_ms(fn, repeats: int = 5, warmup: int = 1, sync=None) -> list:
    """fn() `warmup` times untimed, then `repeats` timed runs: their milliseconds. ``sync`` (e.g.
    torch.cuda.synchronize) is called before every clock read."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def save_pyperf(path: str, benchmarks: dict):
    """{name: [[ms of each timed run] for each worker process]} as a pyperf suite at `path` (each
    process one pyperf run), for ``python -m pyperf stats / hist / compare_to``. Without pyperf,
    one line says so and None is returned."""
    pyperf = reference("pyperf", "no .pyperf.json file written")
    if pyperf is None or not benchmarks:
        return None
    check_result_file(path)
    suite = pyperf.BenchmarkSuite([pyperf.Benchmark([
        pyperf.Run([v / 1e3 for v in values], metadata={"name": name, "unit": "second", "loops": 1,
                                                         "description": MARK + os.path.basename(sys.argv[0])})
        for values in processes]) for name, processes in benchmarks.items()])
    suite.dump(path, replace=True)
    print(f"wrote {path} (python -m pyperf stats {path}; compare two runs with python -m pyperf compare_to)")
    return path


def peak_rss_during(fn) -> int | None:
    """Peak resident memory fn() adds above the resident size before it, in bytes (Linux: the
    high-water mark VmHWM, reset through /proc/self/clear_refs): it sees BLAS and PyTorch buffers
    that tracemalloc cannot. Freed memory kept by the allocator would hide the peak, so glibc is
    first told to return it (mmap threshold 64 KiB, malloc_trim). None where /proc is missing."""
    def status_kb(field):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
    try:
        import ctypes
        from minirnn.fast.heap import M_MMAP_THRESHOLD          # glibc's mallopt parameter number
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 65536)
        libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss0 = status_kb("VmRSS")
    except (OSError, AttributeError, ImportError, StopIteration):
        fn()
        return None
    fn()
    return max(status_kb("VmHWM") - rss0, 0) * 1024
