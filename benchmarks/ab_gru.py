#!/usr/bin/env python
"""In-process A/B of a GRU training step: the book (minirnn/layers/gru.py), the engine path
(minirnn/fast/gru.py) and torch.nn.GRU, on bench_rnn.py's step (V = 65 one-hot, N = 50, T = 50,
float32, forward + loss + backward + clip 5 + Adam, state carried), alternating step by step.

    flock /tmp/minirnn-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/ab_gru.py --configs 1x256,2x256,1x512,2x512 --steps 15

The book and the engine are the same model code with ``minirnn.fast`` switched off and on around
each variant's steps (``fast.pick`` chooses at every call). Prints the median ms per step of each
variant and writes ab_gru.json to --out-dir. Without PyTorch one line says so and the book and the
engine are compared alone. The book-against-engine figures are the fair ones here; PyTorch in the
same process competes with OpenBLAS's spinning threads for the 2 cores, so compare minirnn with
PyTorch with bench_rnn.py (a fresh process per backend), ``--cells gru --path fused`` (engine) or
``--path reference`` (book).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_rnn  # noqa: E402
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

SMOKE_ARGS = ["--configs", "1x16", "--steps", "2", "--threads", "1"]


def with_engine(step, on: bool):
    """`step` run with minirnn's CPU engine on or off, the setting restored after."""
    from minirnn import fast

    def run():
        previous = fast.set_enabled(on)
        try:
            return step()
        finally:
            fast.set_enabled(previous)
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="1x256,2x256,1x512,2x512", help="comma list of LxH")
    ap.add_argument("--steps", type=int, default=15, help="timed steps per variant (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON path (default: ab_gru.json in --out-dir)")
    common.add_output_args(ap)
    args = ap.parse_args(argv)
    try:
        configs = [tuple(int(v) for v in cfg.split("x")) for cfg in args.configs.split(",")]
    except ValueError:
        raise UsageError(f"--configs takes LxH items such as 1x256,2x512, not {args.configs!r}") from None
    if args.steps < 1 or any(len(c) != 2 or min(c) < 1 for c in configs):
        raise UsageError("--steps, and each L and H of --configs, must be at least 1")
    torch = common.reference("torch")
    threads = common.set_threads(args.threads)
    from minirnn.fast import heap
    heap.keep_freed_heap()
    results = []
    for L, H in configs:
        spec = {"backend": "numpy", "cell": "gru", "L": L, "H": H, "path": "fused"}
        variants = {"book": with_engine(bench_rnn._minirnn_setup(dict(spec))[0], False),
                    "engine": with_engine(bench_rnn._minirnn_setup(dict(spec))[0], True)}
        if torch is not None:
            variants["torch"] = bench_rnn._torch_setup(dict(spec, backend="torch-cpu"))[0]
        times = {k: [] for k in variants}
        for f in variants.values():
            f(); f()                                             # warm-up: compile, first touch
        names = list(variants)
        for i in range(args.steps):
            for k in names[i % len(names):] + names[:i % len(names)]:
                t0 = time.perf_counter()
                variants[k]()
                times[k].append((time.perf_counter() - t0) * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"cell": "gru", "L": L, "H": H, "median_ms": med, "steps_ms": times,
               "engine_over_book": med["engine"] / med["book"]}
        line = f"gru L={L} H={H}: " + ", ".join(f"{k} {m:.1f} ms" for k, m in med.items())
        line += f"; engine/book {row['engine_over_book']:.2f}x"
        if "torch" in med:
            row["engine_over_torch"] = med["engine"] / med["torch"]
            row["book_over_torch"] = med["book"] / med["torch"]
            line += f", engine/torch {row['engine_over_torch']:.2f}x, book/torch {row['book_over_torch']:.2f}x"
        print(line, flush=True)
        results.append(row)
    payload = {"what": "GRU training step, book / engine / torch alternating in one process",
               "config": {"V": bench_rnn.V, "N": bench_rnn.N, "T": bench_rnn.T, "dtype": "float32",
                          "steps": args.steps}, "threads": threads, "machine": common.machine(),
               "command": common.command_line(), "results": results}
    print("wrote", common.write_json(args.out or common.result_path(args, "ab_gru.json"), payload))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
