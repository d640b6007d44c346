"""What the benchmarks share: where results go, optional reference libraries, thread pinning, the
machine description, median timing, the GEMM ceiling, peak memory, JSON output, and the training
loops (minirnn's and PyTorch's) that the recipe and parity comparisons run. Every script in
benchmarks/ imports this module and no script imports another script's helpers from here back.

Conventions
    * Results go to ``--out-dir DIR`` (default ``$MINIRNN_BENCH_OUT`` if set, else
      ``<tempdir>/minirnn-bench``); ``--update-results`` writes into benchmarks/results/, the
      committed figures, instead (``add_output_args``, ``result_path``). A script's ``--out FILE``,
      where it has one, names the file itself.
    * A reference library that is not installed (PyTorch, gensim, scikit-learn) is one line on
      stderr and the minirnn side still runs (``reference``).
    * Every runnable script defines ``SMOKE_ARGS``, the argv of its smallest size, which
      tests/test_benchmarks.py runs.
    * Timings are medians of ``repeats`` runs after ``warmup`` runs, in milliseconds.
    * ``set_threads(n)`` must be called before the timed code, and is recorded in the JSON: it
      pins BLAS (threadpoolctl when installed, plus the *_NUM_THREADS variables for children),
      Numba and PyTorch to the same count so that backends compete on equal terms.
    * Peak memory is the resident-set high-water mark (Linux VmHWM, reset through
      /proc/self/clear_refs) above the resident size just before the measured call: it sees BLAS and
      PyTorch buffers that tracemalloc cannot. ``peak_rss_during`` says how it was taken.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# ---- where results go ----------------------------------------------------------------------------
def default_out_dir() -> str:
    """$MINIRNN_BENCH_OUT, else <tempdir>/minirnn-bench: outside the repository, so that running a
    benchmark never changes the committed figures."""
    return os.environ.get("MINIRNN_BENCH_OUT") or os.path.join(tempfile.gettempdir(), "minirnn-bench")


def add_output_args(parser) -> None:
    """--out-dir DIR and --update-results, the same in every benchmark."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--out-dir", default=None, metavar="DIR",
                       help="folder for the results (default: $MINIRNN_BENCH_OUT if set, else "
                            f"{os.path.join(tempfile.gettempdir(), 'minirnn-bench')})")
    group.add_argument("--update-results", action="store_true",
                       help="write into benchmarks/results/ (the committed figures) instead")


# the skip-gram settings both word2vec benchmarks give minirnn and gensim alike: (option, type, default, help)
WORD2VEC_ARGS = (("dim", int, 100, "vector size"), ("window", int, 5, "largest context window"),
                 ("min_count", int, 5, "vocabulary cut"), ("negative", int, 5, "negatives per pair"),
                 ("sample", float, 1e-3, "subsampling threshold"), ("epochs", int, 5, "passes over the corpus"),
                 ("workers", int, 2, "threads, the same for both libraries"))


def add_word2vec_args(parser) -> None:
    """--dim, --window, --min-count, --negative, --sample, --epochs, --workers (WORD2VEC_ARGS)."""
    for name, kind, default, help_text in WORD2VEC_ARGS:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=help_text)


def result_path(args, name: str) -> str:
    """Where the result file `name` goes for these parsed arguments (see add_output_args)."""
    folder = RESULTS_DIR if args.update_results else (args.out_dir or default_out_dir())
    return os.path.join(folder, name)


# ---- optional reference libraries ---------------------------------------------------------------
INSTALL = {"torch": "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
           "gensim": "pip install gensim", "sklearn": "pip install scikit-learn",
           "faiss": "pip install faiss-cpu"}
NAMES = {"torch": "PyTorch", "gensim": "gensim", "sklearn": "scikit-learn", "faiss": "faiss"}


_missing: set = set()


def reference(module: str):
    """The reference library `module` (torch, gensim, sklearn, faiss), or None after one line on
    stderr (once per process) saying that it is missing and how to install it: the minirnn side
    runs either way."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as e:                # OSError: an install whose shared library is missing
        if module not in _missing:
            _missing.add(module)
            why = "is not installed" if isinstance(e, ModuleNotFoundError) else f"does not load ({e})"
            print(f"note: {NAMES.get(module, module)} {why}; measuring minirnn only "
                  f"(to compare: {INSTALL.get(module, 'pip install ' + module)})", file=sys.stderr)
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


# ---- threads ------------------------------------------------------------------------------------
def set_threads(n: int) -> dict:
    """Use n threads in BLAS and in Numba / PyTorch where the caller has already imported them
    (importing a library only to set its threads can hurt: Numba's threading layer started
    before PyTorch made torch.nn.RNN ~12x slower here). Returns what was done, for the JSON."""
    done = {"threads": int(n)}
    for var in THREAD_VARS:                      # for subprocesses, and libraries loaded later
        if var == "NUMBA_NUM_THREADS" and "numba" in sys.modules:
            # Numba re-reads its environment at every compilation and refuses a NUMBA_NUM_THREADS
            # other than the one it started with once its threads run: set_num_threads below instead
            continue
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(int(n))                # native pools (OpenBLAS, MKL, OpenMP) loaded now
        done["threadpoolctl"] = True
    except ImportError:
        done["threadpoolctl"] = False
    if "numba" in sys.modules:
        import numba
        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
        done["numba"] = numba.get_num_threads()
    if "torch" in sys.modules:
        import torch
        torch.set_num_threads(int(n))
        done["torch"] = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_info
        done["native_pools"] = [{"api": p.get("internal_api"), "lib": os.path.basename(p.get("filepath", "")),
                                 "threads": p.get("num_threads")} for p in threadpool_info()]
    except ImportError:
        pass
    return done


# ---- machine ------------------------------------------------------------------------------------
def _cpu_model() -> str:
    """'AMD EPYC (family 26 model 2)': a VM's model name alone can hide which generation it is."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
                if not line.strip():                         # the first processor is enough
                    break
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f") if x in have]
    except OSError:
        pass
    return []


def _blas() -> dict:
    import numpy as np
    info = {}
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info = {"name": cfg.get("name"), "version": cfg.get("version"),
                "config": cfg.get("openblas configuration")}
    except Exception:
        pass
    # the kernels OpenBLAS runs (it picks them from the CPU at load time, unless OPENBLAS_CORETYPE
    # names a set): AVX2 "Haswell" kernels on an AVX-512 CPU halve its GEMM ceiling
    try:
        import threadpoolctl
        for pool in threadpoolctl.threadpool_info():
            if pool.get("internal_api") == "openblas" and "numpy" in pool.get("filepath", ""):
                info["kernels"] = pool.get("architecture")
    except Exception:
        pass
    info["env"] = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}
    return info


def blas_line(blas: dict) -> str:
    """'scipy-openblas 0.3.31, Haswell kernels (OPENBLAS_CORETYPE=Haswell)': for the printed headers."""
    line = f"{blas.get('name')} {blas.get('version')}"
    if blas.get("kernels"):
        line += f", {blas['kernels']} kernels"
    env = blas.get("env") or {}
    line += " (" + (", ".join(f"{k}={v}" for k, v in env.items()) or "OPENBLAS_CORETYPE unset") + ")"
    return line


def _gpu() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    """CPU model, cores, BLAS, GPU and library versions: where the figures came from."""
    import numpy as np
    from importlib import metadata
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod, dist in (("numba", "numba"), ("torch", "torch"), ("cupy", None), ("scipy", "scipy"),
                      ("threadpoolctl", "threadpoolctl"), ("gensim", "gensim"), ("sklearn", "scikit-learn"),
                      ("faiss", None)):
        if mod in sys.modules:                   # loaded: the version that runs
            versions[mod] = getattr(sys.modules[mod], "__version__", None)
            continue
        for name in ([dist] if dist else [f"{mod}-cuda12x", f"{mod}-cuda13x", f"{mod}-cpu", f"{mod}-gpu"]):
            try:                                 # installed, not loaded: its version without importing it
                versions[mod] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": _cpu_model(), "cpu_flags": _cpu_flags(), "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "blas": _blas(), "gpu": _gpu(), "versions": versions,
            "load_average_at_start": load}


# ---- timing -------------------------------------------------------------------------------------
def median_ms(fn, repeats: int = 5, warmup: int = 1, sync=None) -> dict:
    """Run fn() warmup times, then time `repeats` runs; returns median/min/max in ms.
    ``sync`` (e.g. torch.cuda.synchronize) is called before every clock read."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "repeats": repeats, "warmup": warmup}


def gemm_ceiling(shapes=((2500, 1024, 2048), (50, 512, 2048)), repeats: int = 5, dtype="float32") -> list[dict]:
    """Measured GEMM GFLOP/s of numpy's BLAS for C (m, n) = A (m, k) @ B (k, n), 2mkn flops,
    with whatever threads are set: median and best (fastest run). The first shape is the usual
    ceiling; on a shared machine take the best over several calls."""
    import numpy as np
    rng = np.random.default_rng(0)
    out = []
    for m, k, n in shapes:
        A = rng.standard_normal((m, k)).astype(dtype)        # (m, k)
        B = rng.standard_normal((k, n)).astype(dtype)        # (k, n)
        C = np.empty((m, n), dtype=dtype)                    # (m, n)
        t = median_ms(lambda: np.matmul(A, B, out=C), repeats=repeats, warmup=2)
        flops = 2 * m * k * n
        out.append({"m": m, "k": k, "n": n, "dtype": dtype, "median_ms": t["median_ms"],
                    "min_ms": t["min_ms"], "gflops": flops / (t["median_ms"] * 1e-3) / 1e9,
                    "best_gflops": flops / (t["min_ms"] * 1e-3) / 1e9})
    return out


# ---- memory -------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_freed_memory() -> bool:
    """glibc: send every later allocation >= 64 KiB to mmap (so it leaves the process when freed)
    and give back what is free now (malloc_trim). Call it after timing and before
    ``peak_rss_during``, so that buffers kept from earlier calls do not hide the peak. False where
    glibc is not available."""
    try:
        import ctypes
        from minirnn.fast.heap import M_MMAP_THRESHOLD          # glibc's mallopt parameter number
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 65536) == 1
        libc.malloc_trim(0)
        return ok
    except (OSError, AttributeError):
        return False


def peak_rss_during(fn) -> dict:
    """Peak resident memory fn() adds above the resident size before it (bytes). Linux: resets the
    high-water mark (echo 5 > /proc/self/clear_refs) and reads VmHWM. Freed memory that the
    allocator keeps would hide later peaks: call ``release_freed_memory()`` first."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rss0 = _status_kb("VmRSS")
    fn()
    hwm = _status_kb("VmHWM")
    if rss0 is None or hwm is None:
        return {"peak_bytes": None, "method": "unavailable (no /proc/self/status)"}
    return {"peak_bytes": max(hwm - rss0, 0) * 1024,
            "method": "VmHWM - VmRSS before the call" + (" (HWM reset via clear_refs)" if reset else
                                                        " (HWM not resettable: upper bound)")}


# ---- output -------------------------------------------------------------------------------------
def write_json(path: str, payload: dict) -> str:
    """Write payload as indented JSON, creating the folder; atomic (temp file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path


def command_line() -> str:
    """The command that produced a result, for the JSON and README."""
    return " ".join([os.path.basename(sys.executable)] + sys.argv)


# ---- training loops (the recipe study and the parity comparison) --------------------------------
def curve_of(vals, times) -> list:
    """[[iteration, validation loss, seconds since the start, seconds of that validation pass]]
    from a loop's (iteration, loss) pairs and its `times`."""
    return [[it, v, t, tv] for (it, v), (t, tv) in zip(vals, times)]


def minirnn_step(model, x, y, lr=2e-3, clip=5.0):
    """The training step the step benchmarks time, on fixed windows (x, y): forward, loss, backward,
    clip_grad_norm(clip), Adam(lr), the final state carried (copied) into the next call.
    Returns (step, box): step() returns the loss where it lives (no read back); box["state"] is
    the carried state, for a forward-only timing from the same point."""
    from minirnn.optim import Adam, clip_grad_norm
    opt = Adam(model.trainable(), lr=lr)
    box = {"state": None}

    def step():
        loss, state, cache = model.loss(x, y, box["state"], train=True)
        grads, _ = model.backward(cache)
        clip_grad_norm(grads, clip)
        opt.step(grads)
        box["state"] = [tuple(s.copy() for s in layer) for layer in state]
        return loss
    return step, box


def train_minirnn(model, train, val, iters, lr, clip, val_every, opt=None, schedule=None, times=None,
                  val_windows=None):
    """minirnn's own loop (Trainer.step: window order, carried state, clipping, the optimizer and
    its schedule; plain Adam(lr) unless `opt` is given), nothing saved. `times`, a list, receives
    at each validation point (seconds since the start, validation included; seconds of that
    validation pass). Validation covers the first `val_windows` windows (None: all). Returns
    (train losses, [(iteration, val loss)], seconds)."""
    from minirnn.optim import Adam
    from minirnn.trainer import Trainer
    opt = Adam(model.trainable(), lr=lr) if opt is None else opt
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, opt, train, val, iters=iters, eval_every=iters, checkpoint_dir=tmp,
                          meta={}, clip=clip, schedule=schedule)
        losses, vals = [], []
        t0 = time.perf_counter()
        for it in range(iters):
            trainer.step()
            losses.append(float(trainer.last_loss))
            if (it + 1) % val_every == 0 or it + 1 == iters:
                t_val = time.perf_counter()
                vals.append((it + 1, trainer.evaluate(val_windows)))
                if times is not None:
                    now = time.perf_counter()
                    times.append((now - t0, now - t_val))
        return losses, vals, time.perf_counter() - t0


def train_torch(torch, rnn, out, V, train, val, iters, lr, clip, val_every, dtype, times=None, val_windows=None):
    """The same loop in PyTorch: torch.optim.Adam(lr), clip_grad_norm_(clip), validation as
    Trainer.evaluate. `times`, `val_windows` and the return value as in train_minirnn."""
    F = torch.nn.functional
    params = [p for p in list(rnn.parameters()) + list(out.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(V, dtype=dtype)
    losses, vals, state = [], [], None

    def run(x, state):
        h, state = rnn(eye[torch.from_numpy(x)], state)
        return out(h), state

    t0 = time.perf_counter()
    for it in range(iters):
        w = it % len(train)
        if w == 0:
            state = None
        x, y = train.window(w)
        logits, state = run(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        losses.append(loss.item())
        if (it + 1) % val_every == 0 or it + 1 == iters:
            t_val = time.perf_counter()
            rnn.eval()                                     # no dropout while validating
            with torch.no_grad():
                total, s = 0.0, None
                n = len(val) if not val_windows else min(val_windows, len(val))
                for k in range(n):
                    vx, vy = val.window(k)
                    lg, s = run(vx, s)
                    total += F.cross_entropy(lg.reshape(-1, V), torch.from_numpy(vy).reshape(-1)).item()
            vals.append((it + 1, total / n))
            rnn.train()
            if times is not None:
                now = time.perf_counter()
                times.append((now - t0, now - t_val))
    return losses, vals, time.perf_counter() - t0


def word_vectors(corpus: str, dim: int = 100, epochs: int = 5, workers: int = 2, seed: int = 1):
    """Skip-gram vectors of `corpus` (minirnn.word2vec, as train_word.py makes them): KeyedVectors."""
    from minirnn.word2vec import Word2Vec
    print(f"word2vec on {corpus} (dim {dim}, {epochs} epochs)", flush=True)
    return Word2Vec(dim=dim, epochs=epochs, workers=workers, seed=seed).train(corpus).wv
