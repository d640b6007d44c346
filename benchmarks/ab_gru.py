#!/usr/bin/env python
"""In-process A/B of a GRU training step: the book (minirnn/layers/gru.py), the engine path
(minirnn/fast/gru.py) and torch.nn.GRU, on bench_rnn.py's step (V = 65 one-hot, N = 50, T = 50,
float32, forward + loss + backward + clip 5 + Adam, state carried), alternating step by step.

    flock /tmp/minirnn-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/ab_gru.py --configs 1x256,2x256,1x512,2x512 --steps 15

Until minirnn/fast/ dispatches the GRU itself, the engine variant is selected here by pointing
stack.CELLS["gru"] at minirnn.fast.gru for its steps. Prints the median ms per step of each variant.
The book-against-engine figures are the fair ones here; PyTorch in the same process competes with
OpenBLAS's spinning threads for the 2 cores, so compare minirnn with PyTorch with bench_rnn.py
(a fresh process per backend), ``--cells gru --path fused`` (engine) or ``--path reference`` (book).
"""
import argparse
import statistics
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import bench_rnn  # noqa: E402
import common  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="1x256,2x256,1x512,2x512", help="comma list of LxH")
    ap.add_argument("--steps", type=int, default=15, help="timed steps per variant (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    import torch  # noqa: F401
    from minirnn import heap
    from minirnn.fast import gru as fast_gru
    from minirnn.layers import gru as book_gru
    from minirnn.layers import stack
    heap.keep_freed_heap()
    for cfg in args.configs.split(","):
        L, H = (int(v) for v in cfg.split("x"))
        spec = {"backend": "numpy", "cell": "gru", "L": L, "H": H, "path": "reference"}  # no engine patch
        book_step = bench_rnn._minirnn_setup(dict(spec))[0]
        fast_step0 = bench_rnn._minirnn_setup(dict(spec))[0]
        torch_step = bench_rnn._torch_setup(dict(spec, backend="torch-cpu"))[0]

        def fast_step():
            stack.CELLS["gru"] = fast_gru
            try:
                return fast_step0()
            finally:
                stack.CELLS["gru"] = book_gru

        variants = {"book": book_step, "engine": fast_step, "torch": torch_step}
        times = {k: [] for k in variants}
        for k, f in variants.items():
            f(); f()                                             # warm-up: compile, first touch
        for i in range(args.steps):
            order = list(variants)[i % 3:] + list(variants)[:i % 3]
            for k in order:
                t0 = time.perf_counter()
                variants[k]()
                times[k].append((time.perf_counter() - t0) * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"gru L={L} H={H}: " + ", ".join(f"{k} {m:.1f} ms" for k, m in med.items())
              + f"; engine/torch {med['engine'] / med['torch']:.2f}x, book/torch {med['book'] / med['torch']:.2f}x",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
