"""Character-LM training-step benchmark: minirnn (NumPy, CuPy) against PyTorch (CPU, CUDA).

The configuration torch-rnn published: vocabulary V = 65, batch N = 50, sequence T = 50, float32,
RNN and LSTM with L in {1, 2, 3} layers and H in {128, 256, 512} hidden units; the GRU on request
(``--cells gru``: minirnn's layers/gru.py against torch.nn.GRU).

    python benchmarks/bench_rnn.py                      # the whole grid, 3 rounds, every backend present
    python benchmarks/bench_rnn.py --quick              # LSTM, L=2, H in {128, 512}, 1 round: under a minute
    python benchmarks/bench_rnn.py --cells lstm --layers 2 --hidden 512 --backends numpy,torch-cpu

On a machine without a GPU one line says so, and the table has the CPU columns (minirnn on NumPy,
PyTorch on the CPU where installed); with a GPU the cupy and torch-cuda columns join them and a line
gives each library's GPU speed-up over its own CPU step. PyTorch missing: one line, minirnn alone.

Run benchmarks one at a time on a shared machine: ``flock /tmp/minirnn-bench.lock python ...``.
Where OPENBLAS_CORETYPE is set (some machines pin OpenBLAS's kernels for older builds), prefix
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` to measure the kernels numpy picks by itself; the
JSON records which kernels ran.

What is measured, per (backend, cell, L, H), each in a fresh subprocess with the same thread count
and the same malloc settings (minirnn.fast.heap.keep_freed_heap, as minirnn's engine makes them), the
whole grid --rounds times; each figure is the median of the rounds' medians:
    step_ms     median of a full training step: forward, loss, backward, clip_grad_norm(5), Adam;
                beside it (in "step") the page faults and system time per step while timing
                (MINIRNN_KEEP_HEAP=0 in the environment measures without minirnn.fast.heap's setting).
                Not counted: the first two steps (the first from a zero state, the second the first
                from a carried one: compilation, PyTorch's lazy start-up, first touch), kept apart
                as first_steps_ms, and the --warmup steps after them
    forward_ms  median of forward + loss alone (PyTorch under no_grad; minirnn has no such mode and
                still builds its cache, which favours PyTorch)
    gflops      achieved GFLOP/s. Forward flops = sum over layers of 2*N*T*(D_l + H)*G (G = 4H for
                the LSTM, 3H for the GRU, H for the RNN: torch-rnn's 2*N*T*L*(D+H)*4H with the exact D of layer 0)
                plus 2*N*T*H*V for the output projection; a step counts 3x the forward.
    ceiling     the worker's own library's sgemm GFLOP/s at (N*T) x 1024 @ 1024 x 2048 (numpy's BLAS for
                minirnn on the CPU, torch.mm for PyTorch, the GPU's for cupy / torch-cuda), the best
                run before and after the timings, in the same process. A step rate above it means
                the machine was disturbed while the ceiling was taken: the share is then left out
                (null, "above_ceiling": true), never reported above 100%
    peak_bytes  resident-memory high-water mark of one step above the resident size before it,
                taken after the timings with glibc's mmap threshold lowered and malloc_trim, so
                freed buffers leave the process (see common.py); CUDA: the allocators' peaks
    cache       bytes the minirnn LSTM layers hold for backward per step, against torch-rnn's
                LSTM.lua memory formula N*T*D + 6*N*T*H + 8*N*H + 8*H^2 + 8*D*H + 9*H per layer

Output: JSON in --out-dir (rnn_cpu.json, rnn_gpu.json when a GPU backend ran, *_quick.json for
--quick; --update-results: benchmarks/results/), a PNG chart beside it when matplotlib is installed,
a table on stdout, and with --update-results for a full run the README section as Markdown,
benchmarks/results/rnn_cpu.md (``--render JSON`` redraws it from a saved result).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

V, N, T = 65, 50, 50
SMOKE_ARGS = ["--cells", "lstm", "--layers", "1", "--hidden", "16", "--repeats", "1", "--rounds", "1",
              "--warmup", "0", "--ceiling-repeats", "1", "--threads", "1"]
ALL_BACKENDS = ("numpy", "cupy", "torch-cpu", "torch-cuda")


# ---- flops and memory formulas --------------------------------------------------------------------
def forward_flops(cell, L, H, D=V, N=N, T=T, V=V):
    G = {"lstm": 4 * H, "gru": 3 * H}.get(cell, H)
    rec = sum(2 * N * T * ((D if l == 0 else H) + H) * G for l in range(L))   # (1) a_t, every layer
    return rec + 2 * N * T * H * V                                             # output projection


def torch_rnn_lstm_numbers(N, T, D, H):
    """torch-rnn LSTM.lua's count of the numbers one layer stores (outputs, grads, weights, buffers)."""
    return N * T * D + 6 * N * T * H + 8 * N * H + 8 * H * H + 8 * D * H + 9 * H


# ---- one measurement, in a worker process --------------------------------------------------------
def _minirnn_setup(spec):
    import numpy as np
    from minirnn import backend, fast
    from minirnn.model import RNNLM
    backend.set_backend(spec["backend"])
    fused = spec["path"] == "fused"
    fast.set_enabled(fused)                                   # the engine, or the book alone
    model = RNNLM(V, hidden=spec["H"], layers=spec["L"], cell=spec["cell"], embed=0, seed=0)
    rng = np.random.default_rng(0)
    x = backend.to_device(rng.integers(0, V, (N, T)))       # (N, T)
    y = backend.to_device(rng.integers(0, V, (N, T)))       # (N, T)
    step, box = common.minirnn_step(model, x, y)

    def forward():
        return model.loss(x, y, box["state"])[0]

    def cache_bytes():
        _, _, cache = model.loss(x, y, None, train=True)
        _, (cell, layer_caches), _, _ = cache                 # (embedding, stack, output, loss)
        own = 0
        for _, c in layer_caches:   # lstm: (x, h0, c0, Wx, Wh, gates, c, h); rnn: (x, h0, Wx, Wh, h);
            # gru: (x, h0, Wx, Wh, gates, h)
            own += sum(a.nbytes for a in (c[5:] if cell == "lstm" else c[4:]))
        return own

    sync = backend.synchronize
    info = {"numba_fused": fast.ENABLED, "numba_adam": fast.ENABLED}
    return step, forward, sync, cache_bytes, info


def _torch_setup(spec):
    import torch
    import torch.nn.functional as F
    dev = "cuda" if spec["backend"] == "torch-cuda" else "cpu"
    torch.manual_seed(0)
    H, L = spec["H"], spec["L"]
    emb = torch.nn.Embedding(V, V).to(dev)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V))                       # one-hot input, as minirnn's embed=0
    emb.weight.requires_grad_(False)
    Rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(spec["cell"], torch.nn.RNN)
    rnn = Rnn(V, H, num_layers=L, batch_first=True).to(dev)
    lin = torch.nn.Linear(H, V).to(dev)
    params = list(rnn.parameters()) + list(lin.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (N, T), generator=g).to(dev)
    y = torch.randint(0, V, (N, T), generator=g).to(dev)
    box = {"state": None}

    def detach(s):
        if s is None:
            return None
        return tuple(a.detach() for a in s) if isinstance(s, tuple) else s.detach()

    def step():
        opt.zero_grad(set_to_none=True)
        out, state = rnn(emb(x), detach(box["state"]))
        loss = F.cross_entropy(lin(out).reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        box["state"] = state
        return loss

    def forward():
        with torch.no_grad():
            out, _ = rnn(emb(x), detach(box["state"]))
            return F.cross_entropy(lin(out).reshape(-1, V), y.reshape(-1))

    sync = torch.cuda.synchronize if dev == "cuda" else None
    return step, forward, sync, None, {"mkldnn": torch.backends.mkldnn.is_available()}


def sgemm_best_gflops(backend_name, repeats):
    """The best sgemm rate of the worker's own library at (N*T) x 1024 @ 1024 x 2048, GFLOP/s."""
    m, k, n = N * T, 1024, 2048
    if backend_name.startswith("torch"):
        import torch
        dev = "cuda" if backend_name == "torch-cuda" else "cpu"
        A, B = torch.randn(m, k, device=dev), torch.randn(k, n, device=dev)      # (m, k), (k, n)
        mm, sync = (lambda: torch.mm(A, B)), (torch.cuda.synchronize if dev == "cuda" else None)
    else:
        import numpy as np
        from minirnn import backend
        rng = np.random.default_rng(0)
        A = backend.to_device(rng.standard_normal((m, k)), np.float32)            # (m, k)
        B = backend.to_device(rng.standard_normal((k, n)), np.float32)            # (k, n)
        mm, sync = (lambda: A @ B), backend.synchronize
    t = common.median_ms(mm, repeats=repeats, warmup=1, sync=sync)
    return 2 * m * k * n / (t["min_ms"] * 1e-3) / 1e9


def worker(spec):
    if spec["backend"].startswith("torch"):                   # import only this backend's libraries,
        import torch  # noqa: F401                            # then pin their threads
    else:
        import minirnn.fast  # noqa: F401  (imports numba)
    threads = common.set_threads(spec["threads"])
    heap_kept = None
    if spec["backend"] in ("numpy", "torch-cpu"):
        # the malloc settings minirnn's engine makes (minirnn/fast/heap.py: freed heap is kept
        # between steps instead of page-faulted back in), for both CPU libraries alike
        from minirnn.fast import heap
        heap_kept = heap.keep_freed_heap()
    setup = _torch_setup if spec["backend"].startswith("torch") else _minirnn_setup
    step, forward, sync, cache_bytes, info = setup(spec)
    info["keep_freed_heap"] = heap_kept
    ceiling = sgemm_best_gflops(spec["backend"], spec["ceiling_repeats"])
    first = []                                                # not counted: the first step from a zero
    for _ in range(2):                                        # state, the first from a carried one
        t0 = time.perf_counter()
        step()
        if sync:
            sync()
        first.append((time.perf_counter() - t0) * 1e3)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t_step = common.median_ms(step, repeats=spec["repeats"], warmup=spec["warmup"], sync=sync)
    ru1, n_steps = resource.getrusage(resource.RUSAGE_SELF), spec["repeats"] + spec["warmup"]
    t_step["minor_faults_per_step"] = (ru1.ru_minflt - ru0.ru_minflt) / n_steps
    t_step["system_ms_per_step"] = (ru1.ru_stime - ru0.ru_stime) * 1e3 / n_steps
    t_step["first_steps_ms"] = first
    t_fwd = common.median_ms(forward, repeats=spec["repeats"], warmup=1, sync=sync)
    ceiling = max(ceiling, sgemm_best_gflops(spec["backend"], spec["ceiling_repeats"]))
    # memory last: it changes the allocator's settings again (timings above ran with keep_freed_heap's)
    if spec["backend"] in ("numpy", "torch-cpu"):
        released = common.release_freed_memory()
        mem = common.peak_rss_during(step)
        mem["method"] += ("; glibc mmap threshold 64 KiB + malloc_trim before the step" if released
                          else "; allocator settings unchanged")
    elif spec["backend"] == "torch-cuda":
        import torch
        torch.cuda.reset_peak_memory_stats()
        step(); sync()
        mem = {"peak_bytes": torch.cuda.max_memory_allocated(), "method": "torch.cuda.max_memory_allocated"}
    else:
        import cupy
        pool = cupy.get_default_memory_pool()
        step(); sync()
        mem = {"peak_bytes": pool.total_bytes(), "method": "cupy default pool total_bytes after a step"}
    out = {"step": t_step, "forward": t_fwd, "memory": mem, "threads": threads, "info": info,
           "ceiling_gflops": ceiling}
    if cache_bytes is not None:
        out["cache_bytes"] = cache_bytes()
    return out


def run_worker(spec, timeout=900):
    env = dict(os.environ)
    for var in common.THREAD_VARS:
        env[var] = str(spec["threads"])
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# ---- the grid ------------------------------------------------------------------------------------
def present_backends():
    """(backends present here, why there is no GPU column or None)."""
    have = ["numpy"]
    sys.path.insert(0, os.path.dirname(HERE))
    from minirnn import backend
    if backend.gpu_available():
        have.append("cupy")
    torch = common.reference("torch")
    if torch is not None:
        have.append("torch-cpu")
        if torch.cuda.is_available():
            have.append("torch-cuda")
    no_gpu = None
    if not any(b in have for b in ("cupy", "torch-cuda")):
        what = ("CuPy sees no CUDA device" if "cupy" in backend.describe() else "CuPy is not installed")
        what += "" if torch is None else ", PyTorch has no CUDA device"
        no_gpu = (f"no GPU on this machine ({what}): CPU columns only, so this run cannot say how much faster "
                  "a GPU is; on a GPU machine run benchmarks/gpu_check.py (or this script) for that")
    return have, no_gpu


def gpu_speedups(results):
    """Each library's GPU step against its own CPU step, per configuration: [(cell, L, H, lib, x)]."""
    ms = {(r["backend"], r["cell"], r["L"], r["H"]): r["step_ms"] for r in results}
    out = []
    for cpu, gpu, lib in (("numpy", "cupy", "minirnn"), ("torch-cpu", "torch-cuda", "torch")):
        for (b, cell, L, H), t in ms.items():
            if b == gpu and (cpu, cell, L, H) in ms:
                out.append({"cell": cell, "L": L, "H": H, "library": lib, "cpu_ms": ms[(cpu, cell, L, H)],
                            "gpu_ms": t, "speedup": ms[(cpu, cell, L, H)] / t})
    return out


def chart(results, path):
    plt = common.pyplot()
    if plt is None:
        return None
    rows = sorted({(r["cell"], r["L"], r["H"]) for r in results})
    backends = sorted({r["backend"] for r in results})
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.7), 4))
    width = 0.8 / len(backends)
    for j, b in enumerate(backends):
        ys = [next((r["step_ms"] for r in results if (r["cell"], r["L"], r["H"]) == k and r["backend"] == b), 0)
              for k in rows]
        ax.bar([i + j * width for i in range(len(rows))], ys, width, label=b)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))])
    ax.set_xticklabels([f"{c} L{L} H{H}" for c, L, H in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("ms per training step (median)")
    ax.set_title(f"char LM, N={N} T={T} V={V}, float32")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="rnn,lstm", help="comma list of rnn, lstm, gru")
    ap.add_argument("--layers", default="1,2,3", help="comma list of L")
    ap.add_argument("--hidden", default="128,256,512", help="comma list of H")
    ap.add_argument("--backends", default="auto",
                    help=f"comma list of {', '.join(ALL_BACKENDS)}; auto = every one present")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads for every library (default: usable cores)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3,
                    help="run the whole grid this many times (fresh processes each time) and report each "
                         "config's median over the rounds")
    ap.add_argument("--path", choices=("fused", "reference"), default="fused",
                    help="minirnn CPU path: fused (the engine, minirnn/fast) or the book alone")
    ap.add_argument("--quick", action="store_true", help="LSTM, L=2, H in {128, 512}, 3 repeats, 1 round")
    ap.add_argument("--ceiling-repeats", type=int, default=9,
                    help="sgemm runs for each measurement of the ceiling (the best counts)")
    ap.add_argument("--out", default=None, help="JSON path (default: rnn_cpu.json or rnn_gpu.json in --out-dir)")
    ap.add_argument("--markdown", default=None,
                    help="also write the README section here (default with --update-results: "
                         "benchmarks/results/rnn_cpu.md for a full run; '' for none)")
    ap.add_argument("--render", metavar="JSON",
                    help="only render --markdown (default: rnn_cpu.md in --out-dir) from an existing result JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    common.add_output_args(ap)
    args = ap.parse_args(argv)

    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0

    default_md = common.result_path(args, "rnn_cpu.md")          # benchmarks/results/ with --update-results
    if args.markdown is None:
        args.markdown = default_md if args.update_results and not args.quick else ""
    if args.render:
        args.markdown = args.markdown or default_md
        with open(args.render) as f:
            print(f"# wrote {write_markdown(json.load(f), args.markdown)}")
        return 0
    if args.quick:
        args.cells, args.layers, args.hidden, args.repeats, args.warmup, args.rounds = "lstm", "2", "128,512", 3, 1, 1
    if args.rounds < 1 or args.repeats < 1 or args.warmup < 0 or args.ceiling_repeats < 1:
        ap.error("--rounds, --repeats and --ceiling-repeats must be at least 1, --warmup at least 0")
    cells = [c for c in args.cells.split(",") if c]
    try:
        Ls = [int(v) for v in args.layers.split(",")]
        Hs = [int(v) for v in args.hidden.split(",")]
    except ValueError:
        raise UsageError("--layers and --hidden take comma lists of whole numbers, e.g. --hidden 128,512") from None
    if not cells or not set(cells) <= {"rnn", "lstm", "gru"} or min(Ls + Hs) < 1:
        raise UsageError("--cells takes rnn, lstm, gru; every L and H must be at least 1")
    have, no_gpu = present_backends()
    backends = have if args.backends == "auto" else [b for b in args.backends.split(",") if b]
    missing = [b for b in backends if b not in have]
    if missing:
        ap.error(f"backend(s) not present here: {', '.join(missing)} (present: {', '.join(have)})")

    threads = common.set_threads(args.threads)
    mach = common.machine()
    # the ceiling, then the LSTM's per-step recurrent GEMM at H = 512 both ways round: minirnn runs
    # it as (4H x H) @ (H x N) (the second), which OpenBLAS does faster than (N x H) @ (H x 4H)
    shapes = ((N * T, 1024, 2048), (4 * 512, 512, N), (N, 512, 4 * 512), (N * T, 256, 512))
    ceiling = common.gemm_ceiling(shapes=shapes, repeats=args.ceiling_repeats)
    print(f"# {mach['cpu']}, {mach['usable_cores']} cores, BLAS {common.blas_line(mach['blas'])}, "
          f"{args.threads} threads, load {mach['load_average_at_start']}")
    if mach["blas"].get("env"):
        print("# note: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set; they pin OpenBLAS's kernels (older builds "
              "need that on some CPUs). To measure what numpy does by default, run this under "
              "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`", file=sys.stderr)
    print("# sgemm: " + ", ".join(f"{c['m']}x{c['k']}@{c['k']}x{c['n']} {c['best_gflops']:.1f} GF/s"
                                  for c in ceiling))
    if no_gpu:
        print(f"# {no_gpu}", flush=True)
    peak = ceiling[0]["best_gflops"]
    results = []
    hdr = f"{'backend':<10} {'cell':<4} {'L':>1} {'H':>4} {'step ms':>9} {'fwd ms':>8} {'GF/s':>6} {'%ceil':>6} {'peak MB':>8}"
    print(hdr)
    t_start = time.time()
    # rounds: the whole grid again, each config in fresh processes; a config's figure is the median
    # of its rounds' medians, so a minute of a noisy neighbour moves one round, not the result
    runs = {}
    for rnd in range(args.rounds):
        for cell in cells:
            for L in Ls:
                for H in Hs:
                    first = (L + H // 128 + rnd) % 2 == 0                  # alternate who goes first
                    for b in (backends if first else backends[::-1]):
                        spec = {"backend": b, "cell": cell, "L": L, "H": H, "threads": args.threads,
                                "repeats": args.repeats, "warmup": args.warmup, "path": args.path,
                                "ceiling_repeats": args.ceiling_repeats}
                        r = run_worker(spec)
                        runs.setdefault((b, cell, L, H), []).append(r)
                        if args.rounds > 1:
                            print(f"  round {rnd + 1}/{args.rounds} {b:<10} {cell:<4} {L} {H:>4} "
                                  f"{r['step']['median_ms']:9.1f} ms", flush=True)
    # the ceiling again after the grid: the best sgemm rate seen in this run is the ceiling
    ceiling_end = common.gemm_ceiling(shapes=shapes[:1], repeats=args.ceiling_repeats)
    peak = max(peak, ceiling_end[0]["best_gflops"])
    for cell in cells:
        for L in Ls:
            for H in Hs:
                for b in backends:
                    rs = runs[(b, cell, L, H)]
                    step_ms = statistics.median(r["step"]["median_ms"] for r in rs)
                    fwd_ms = statistics.median(r["forward"]["median_ms"] for r in rs)
                    fl = forward_flops(cell, L, H)
                    row = {"backend": b, "cell": cell, "L": L, "H": H,
                           "step_ms": step_ms, "step": [r["step"] for r in rs],
                           "forward_ms": fwd_ms, "forward": [r["forward"] for r in rs],
                           "step_ms_rounds": [r["step"]["median_ms"] for r in rs],
                           "forward_gflop": fl / 1e9, "step_gflop": 3 * fl / 1e9,
                           "step_gflops": 3 * fl / (step_ms * 1e-3) / 1e9,
                           "forward_gflops": fl / (fwd_ms * 1e-3) / 1e9,
                           "peak_bytes": max(r["memory"]["peak_bytes"] or 0 for r in rs) or None,
                           "peak_method": rs[-1]["memory"]["method"] + " (largest over the rounds)",
                           "worker_threads": rs[-1]["threads"], "info": rs[-1]["info"]}
                    # the share of the worker's own library's sgemm rate; a rate above that
                    # ceiling says the ceiling was taken in a disturbed moment: no share then
                    row["ceiling_gflops"] = max(r.get("ceiling_gflops", 0.0) for r in rs)
                    pct = 100 * row["step_gflops"] / row["ceiling_gflops"]
                    row["above_ceiling"] = pct > 100
                    row["step_pct_of_ceiling"] = None if pct > 100 else pct
                    if "cache_bytes" in rs[-1]:
                        row["cache_bytes_per_step"] = rs[-1]["cache_bytes"]
                        if cell == "lstm":
                            formula = sum(torch_rnn_lstm_numbers(N, T, V if l == 0 else H, H)
                                          for l in range(L)) * 4
                            row["torch_rnn_formula_bytes"] = formula
                            row["torch_rnn_6NTH_bytes"] = 6 * N * T * H * L * 4
                    results.append(row)
                    pb = row["peak_bytes"]
                    print(f"{b:<10} {cell:<4} {L:>1} {H:>4} {row['step_ms']:>9.1f} {row['forward_ms']:>8.1f} "
                          f"{row['step_gflops']:>6.1f} {_pct(row['step_pct_of_ceiling']):>6} "
                          f"{(pb or 0) / 2**20:>8.1f}", flush=True)
    print(f"# numpy sgemm ceiling (best of start and end): {peak:.1f} GF/s; %ceil is each library's own sgemm"
          + ("; '-': the step ran above it (the ceiling was disturbed)" if any(r["above_ceiling"] for r in results)
             else ""))
    # side-by-side ratios against PyTorch on the same device class
    ratios = []
    for r in results:
        ref = {"numpy": "torch-cpu", "cupy": "torch-cuda"}.get(r["backend"])
        t = next((q for q in results if q["backend"] == ref and (q["cell"], q["L"], q["H"]) ==
                  (r["cell"], r["L"], r["H"])), None)
        if t:
            ratios.append({"cell": r["cell"], "L": r["L"], "H": r["H"], "backend": r["backend"],
                           "vs": ref, "step_ratio": r["step_ms"] / t["step_ms"],
                           "minirnn_ms": r["step_ms"], "torch_ms": t["step_ms"]})
    if ratios:
        print("# minirnn / torch step time: " + ", ".join(
            f"{q['cell']} L{q['L']} H{q['H']} {q['step_ratio']:.2f}x" for q in ratios))
    speedups = gpu_speedups(results)
    if speedups:
        print("# GPU speed-up (CPU step / GPU step, each library against itself): " + ", ".join(
            f"{q['library']} {q['cell']} L{q['L']} H{q['H']} {q['speedup']:.1f}x" for q in speedups))
    elif no_gpu:
        print("# GPU speed-up: not measured, no GPU here")
    gpu = any(b in ("cupy", "torch-cuda") for b in backends)
    name = ("rnn_gpu" if gpu else "rnn_cpu") + ("_quick" if args.quick else "")
    out = args.out or common.result_path(args, name + ".json")
    payload = {"benchmark": "bench_rnn", "command": common.command_line(),
               "config": {"V": V, "N": N, "T": T, "dtype": "float32", "cells": cells, "layers": Ls,
                          "hidden": Hs, "backends": backends, "repeats": args.repeats, "rounds": args.rounds,
                          "warmup": args.warmup, "minirnn_path": args.path, "clip": 5.0,
                          "optimizer": "Adam lr 2e-3 (minirnn on NumPy: one-pass Numba update)", "state": "carried across steps (detached)",
                          "input": "one-hot (frozen identity embedding, D = V = 65) in both"},
               "threads": threads, "machine": mach, "gemm_ceiling": ceiling,
               "gemm_ceiling_end": ceiling_end, "ceiling_gflops": peak,
               "ceiling_note": f"ceiling_gflops: best (fastest-run) numpy sgemm GFLOP/s at {N * T}x1024 @ 1024x2048, "
                               "measured before and after the grid with the same threads; each row's "
                               "step_pct_of_ceiling is of its own worker's library (row ceiling_gflops), null "
                               "with above_ceiling true where the step ran faster than that",
               "gpu": mach["gpu"], "no_gpu": no_gpu, "gpu_speedups": speedups, "flops_note": forward_flops.__doc__ or
               "forward = sum_l 2*N*T*(D_l+H)*G + 2*N*T*H*V; step = 3x forward",
               "memory_note": "peak_bytes: VmHWM above VmRSS for one step, measured after the timings "
                              "with mallopt(M_MMAP_THRESHOLD, 64 KiB) + malloc_trim(0) (sees BLAS/torch "
                              "buffers, unlike tracemalloc); "
                              "cache_bytes_per_step: arrays the minirnn recurrent layers own in the "
                              "backward cache (gates, c, h for the LSTM)",
               "json_path": os.path.relpath(out, HERE) if out.startswith(HERE) else out,
               "results": results, "ratios": ratios, "elapsed_s": time.time() - t_start,
               "load_average_at_end": os.getloadavg()}
    common.write_json(out, payload)
    png = chart(results, os.path.splitext(out)[0] + ".png")
    print(f"# wrote {out}" + (f" and {png}" if png else " (no matplotlib: no chart)"))
    if args.markdown:
        print(f"# wrote {write_markdown(payload, args.markdown)}")
    return 0


def _pct(p):
    """A share of the ceiling for the table: '37%', or '-' where there is none (above the ceiling)."""
    return "-" if p is None else f"{p:.0f}%"


# ---- the README section, rendered from the JSON ---------------------------------------------------
def _loads(la):
    """A load-average triple as '0.67, 0.90, 0.95', the same from a run and from its JSON."""
    return "-" if la is None else ", ".join(f"{v:.2f}" for v in la)


def write_markdown(payload, path):
    """A README section from a result JSON: machine, command, targets, and the tables."""
    m, cfg = payload["machine"], payload["config"]
    res, peak = payload["results"], payload["ceiling_gflops"]
    get = lambda b, c, L, H: next((r for r in res if (r["backend"], r["cell"], r["L"], r["H"]) == (b, c, L, H)), None)  # noqa: E731
    mb = lambda x: "-" if x is None else f"{x / 2**20:.1f}"  # noqa: E731
    th = dict(payload["threads"])
    for r in res:                                  # each worker pins its own libraries: report theirs
        for k in ("numba", "torch"):
            th[k] = th.get(k) or r.get("worker_threads", {}).get(k)
    lines = [
        "## Benchmark: char-LM training step, minirnn (NumPy) vs PyTorch CPU", "",
        f"Configuration of torch-rnn: V = {cfg['V']}, N = {cfg['N']}, T = {cfg['T']}, float32, one-hot input, "
        f"Adam, clip 5, state carried. Median of {cfg['repeats']} steps after {cfg['warmup'] + 1} warm-up steps, "
        "each backend in a fresh process, alternating which goes first"
        + (f"; the whole grid run {cfg['rounds']} times and each figure the median of its rounds' medians."
           if cfg.get("rounds", 1) > 1 else "."), "",
        "The one-hot input: PyTorch multiplies the one-hot rows (an identity nn.Embedding feeding nn.LSTM); "
        "minirnn hands layer 0 the ids, so x_t Wx is a row lookup and dWx a scatter-add. The GF/s columns "
        "count torch-rnn's formula for both, which includes layer 0's one-hot product (2·N·T·V·G per "
        "pass) that minirnn does not execute: at H = 512 that is 11% of the counted flops for L = 1, "
        "4% for L = 2 and 2.5% for L = 3.", "",
        f"- Machine: {m['cpu']} ({', '.join(m['cpu_flags'])}), {m['usable_cores']} cores, "
        f"BLAS {common.blas_line(m['blas'])}, GPU: {m['gpu'] or 'none'}",
        f"- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- Threads: {th['threads']} for every library (threadpoolctl: {th.get('threadpoolctl')}, "
        f"numba {th.get('numba')}, torch {th.get('torch')}, *_NUM_THREADS set for the workers; "
        "the Numba kernels are serial)",
        f"- sgemm ceiling: {peak:.1f} GFLOP/s (best numpy sgemm at 2500x1024 @ 1024x2048 in the same run); "
        + ("each row's % is of its own library's sgemm at that shape, taken in its worker (torch.mm for "
           "PyTorch; '-' where the step ran faster than it, a disturbed ceiling); "
           if any("ceiling_gflops" in r for r in res) else "")
        + "step GFLOP/s count 3x the forward flops (sum over layers of 2·N·T·(D+H)·G, plus the output layer)",
        "- malloc: both CPU workers call minirnn.fast.heap.keep_freed_heap() first, as minirnn's engine does "
        "(glibc M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 64 MiB: a step's freed arrays stay in the heap "
        "instead of being page-faulted back in next step)",
        f"- Load average at start / end: {_loads(m['load_average_at_start'])} / "
        f"{_loads(payload['load_average_at_end'])}",
        f"- Command: `{'' if m['blas'].get('env') else 'env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE '}"
        f"flock /tmp/minirnn-bench.lock {payload['command']}`", "",
        "LSTM (ratio = minirnn / torch step time; cache = bytes minirnn's LSTM layers keep for backward "
        "per step, vs torch-rnn's LSTM.lua count N·T·D + 6·N·T·H + 8·N·H + 8·H² + 8·D·H + 9·H numbers per layer):", "",
        "| L | H | minirnn step ms | torch step ms | ratio | minirnn GF/s (% ceiling) | torch GF/s (% ceiling) "
        "| fwd ms minirnn / torch | peak MB minirnn / torch | cache MB / torch-rnn formula MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for L in cfg["layers"]:
        for H in cfg["hidden"]:
            a, t = get("numpy", "lstm", L, H), get("torch-cpu", "lstm", L, H)
            if a is None:
                continue
            ratio = f"{a['step_ms'] / t['step_ms']:.2f}x" if t else "-"
            tg = f"{t['step_gflops']:.0f} ({_pct(t['step_pct_of_ceiling'])})" if t else "-"
            lines.append(
                f"| {L} | {H} | {a['step_ms']:.1f} | {t['step_ms'] if t else float('nan'):.1f} | {ratio} "
                f"| {a['step_gflops']:.0f} ({_pct(a['step_pct_of_ceiling'])}) | {tg} "
                f"| {a['forward_ms']:.1f} / {t['forward_ms'] if t else float('nan'):.1f} "
                f"| {mb(a['peak_bytes'])} / {mb(t['peak_bytes'] if t else None)} "
                f"| {mb(a.get('cache_bytes_per_step'))} / {mb(a.get('torch_rnn_formula_bytes'))} |")
    # issue 7's targets, checked on these figures
    rows = [(L, H, get("numpy", "lstm", L, H), get("torch-cpu", "lstm", L, H))
            for L in cfg["layers"] for H in cfg["hidden"]]
    rows = [(L, H, a, t) for L, H, a, t in rows if a and t]
    if rows:
        def verdict(sel, limit):
            rs = [a["step_ms"] / t["step_ms"] for L, H, a, t in rows if sel(H)]
            if not rs:
                return "not measured"
            return f"{'met' if max(rs) <= limit else 'not met'} ({min(rs):.2f}x to {max(rs):.2f}x)"
        pct = [a["step_pct_of_ceiling"] for L, H, a, t in rows if H == 512 and a["step_pct_of_ceiling"] is not None]
        lines += ["", "Targets: minirnn LSTM step <= 1.0x PyTorch for H >= 256: "
                  + verdict(lambda H: H >= 256, 1.0) + "; <= 1.3x for H = 128: " + verdict(lambda H: H == 128, 1.3)
                  + "; >= 70% of the sgemm ceiling for H = 512: "
                  + (f"{'met' if min(pct) >= 70 else 'not met'} ({min(pct):.0f}% to {max(pct):.0f}%)" if pct else "not measured")
                  + ". Cache per step <= torch-rnn's formula: "
                  + ("met" if all(a.get("cache_bytes_per_step", 0) <= a.get("torch_rnn_formula_bytes", 0)
                                  for L, H, a, t in rows) else "not met") + "."]
    if "rnn" in cfg["cells"]:
        lines += ["", "Vanilla RNN (tanh; minirnn's engine runs it with NumPy GEMMs, no Numba gate kernel):", "",
                  "| L | H | minirnn step ms | torch step ms | ratio | minirnn GF/s (% ceiling) |",
                  "|---|---|---|---|---|---|"]
        for L in cfg["layers"]:
            for H in cfg["hidden"]:
                a, t = get("numpy", "rnn", L, H), get("torch-cpu", "rnn", L, H)
                if a is None:
                    continue
                lines.append(f"| {L} | {H} | {a['step_ms']:.1f} | {t['step_ms'] if t else float('nan'):.1f} | "
                             f"{(a['step_ms'] / t['step_ms']) if t else float('nan'):.2f}x | "
                             f"{a['step_gflops']:.0f} ({_pct(a['step_pct_of_ceiling'])}) |")
    lines += ["", f"Peak MB: resident high-water mark of one step above the resident size before it "
              "(after the timings, glibc mmap threshold 64 KiB + malloc_trim), so BLAS and PyTorch "
              "buffers count. Source: `benchmarks/results/{}`.".format(os.path.basename(payload.get("json_path", "rnn_cpu.json"))), ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


if __name__ == "__main__":
    sys.exit(run_cli(main))
