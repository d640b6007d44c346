"""A/B in one process: this tree's minirnn against another commit's (default 79a04ec, the layout
before the book/engine split), bench_rnn's LSTM training step, alternating.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE flock /tmp/minirnn-bench.lock \\
        python benchmarks/ab_engine.py --hidden 128,512 --layers 2

The other commit's ``minirnn/`` is extracted with ``git archive`` into a temporary folder as the
package ``minirnn_base`` (its imports inside the package are relative), so both versions run in
the same process, on the same heap setting (minirnn.fast.heap.keep_freed_heap, made once before
anything runs) and the same threads. The step is bench_rnn's: V = 65 one-hot input, N = T = 50,
float32, forward + loss + backward + clip_grad_norm(5) + Adam, state carried, both models from the
same weights (B's initialisation, copied into A: the initialisation itself has changed since some
older commits, and the A/B is of speed). Each round times a
block of ``--steps`` steps of A then of B (the order swapped every round), each block's median
taken; the result per variant is the median over rounds, and the ratio B/A is also taken per
round (its median and spread). On a shared machine other processes slow some blocks by 10x and
more (two BLAS threads on two busy cores spin); the best block of each variant ("best") is then
the steadier figure, and --threads 1 avoids the spinning. Writes ab_engine.json to --out-dir
(benchmarks/results/ with --update-results, or --out). Needs a git checkout (``git archive``).
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

V, N, T = 65, 50, 50
SMOKE_ARGS = ["--base", "HEAD", "--layers", "1", "--hidden", "16", "--rounds", "2", "--steps", "1", "--threads", "1"]


def extract(commit: str, into: str) -> str:
    """``minirnn/`` of ``commit`` as package ``minirnn_base`` under ``into``."""
    try:
        proc = subprocess.run(["git", "-C", ROOT, "archive", commit, "minirnn"], capture_output=True)
    except OSError as e:
        raise UsageError(f"ab_engine needs git to extract commit {commit}: {e}") from None
    if proc.returncode != 0:
        why = " ".join(proc.stderr.decode(errors="replace").split()) or f"exit status {proc.returncode}"
        raise UsageError(f"cannot extract minirnn/ of commit {commit!r} ({why}); it needs a git checkout "
                         "that has that commit (a shallow clone may not)")
    archive = proc.stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    os.rename(os.path.join(into, "minirnn"), os.path.join(into, "minirnn_base"))
    return into


def make_step(pkg: str, L: int, H: int):
    import numpy as np
    model_mod = importlib.import_module(pkg + ".model")
    optim = importlib.import_module(pkg + ".optim")
    model = model_mod.RNNLM(V, hidden=H, layers=L, cell="lstm", embed=0, seed=0)
    opt = optim.Adam(model.trainable(), lr=2e-3)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    box = {"state": None}

    def step():
        loss, state, cache = model.loss(x, y, box["state"], train=True)
        grads, _ = model.backward(cache)
        optim.clip_grad_norm(grads, 5.0)
        opt.step(grads)
        box["state"] = [tuple(s.copy() for s in layer) for layer in state]
        return loss
    return step, model


def block_ms(step, steps: int) -> float:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def same_start(a, b) -> None:
    """Give model `a` model `b`'s parameters (same names and shapes), so that both start alike."""
    import numpy as np
    if set(a.params) != set(b.params) or any(a.params[k].shape != b.params[k].shape for k in a.params):
        raise UsageError("the two commits' models have different parameters "
                         f"({sorted(set(a.params) ^ set(b.params)) or 'shapes differ'}): no like-for-like A/B")
    for k, v in b.params.items():
        a.params[k][...] = np.asarray(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="79a04ec", help="commit to compare against (A)")
    ap.add_argument("--layers", default="2")
    ap.add_argument("--hidden", default="128,512")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5, help="steps per block (the block's median counts)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON path (default: ab_engine.json in --out-dir)")
    common.add_output_args(ap)
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        raise UsageError("--rounds and --steps must be at least 1")

    tmp = tempfile.mkdtemp(prefix="minirnn_ab_")
    try:
        return ab(args, extract(args.base, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ab(args, base_dir):
    """Time A (`base_dir`/minirnn_base) against B (this tree) and write the JSON."""
    sys.path.insert(0, base_dir)
    threads = common.set_threads(args.threads)   # before Numba loads: it reads NUMBA_NUM_THREADS once
    import numpy as np
    from minirnn.fast import heap
    heap_kept = heap.keep_freed_heap()
    results = []
    for L in [int(v) for v in args.layers.split(",")]:
        for H in [int(v) for v in args.hidden.split(",")]:
            steps = {"A": make_step("minirnn_base", L, H), "B": make_step("minirnn", L, H)}
            same_start(steps["A"][1], steps["B"][1])
            pa = {k: np.asarray(v) for k, v in steps["A"][1].params.items()}
            pb = {k: np.asarray(v) for k, v in steps["B"][1].params.items()}
            assert all(np.array_equal(pa[k], pb[k]) for k in pa), "the two models start differently"
            for s, _ in steps.values():                       # compile, first touch
                for _ in range(3):
                    s()
            ms = {"A": [], "B": []}
            for r in range(args.rounds):
                for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
                    ms[k].append(block_ms(steps[k][0], args.steps))
            ratios = [b / a for a, b in zip(ms["A"], ms["B"])]
            row = {"cell": "lstm", "L": L, "H": H,
                   "A_ms": statistics.median(ms["A"]), "B_ms": statistics.median(ms["B"]),
                   "ratio_B_over_A": statistics.median(ratios),
                   "ratio_min": min(ratios), "ratio_max": max(ratios),
                   "A_best_ms": min(ms["A"]), "B_best_ms": min(ms["B"]),
                   "ratio_of_best": min(ms["B"]) / min(ms["A"]),
                   "A_blocks_ms": [round(v, 3) for v in ms["A"]], "B_blocks_ms": [round(v, 3) for v in ms["B"]]}
            results.append(row)
            print(f"LSTM L={L} H={H}: A ({args.base}) {row['A_ms']:.2f} ms, B (this tree) {row['B_ms']:.2f} ms, "
                  f"B/A {row['ratio_B_over_A']:.3f} (rounds {row['ratio_min']:.3f}..{row['ratio_max']:.3f}); "
                  f"best blocks A {row['A_best_ms']:.2f}, B {row['B_best_ms']:.2f} ms, B/A {row['ratio_of_best']:.3f}",
                  flush=True)
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "minirnn"], capture_output=True,
                                text=True).stdout.strip())
    payload = {"what": "bench_rnn's LSTM training step, A/B alternating in one process",
               "A": args.base, "B": head + (" (+ uncommitted changes)" if dirty else ""),
               "config": {"V": V, "N": N, "T": T, "dtype": "float32", "input": "one-hot ids",
                          "rounds": args.rounds, "steps_per_block": args.steps},
               "threads": threads, "keep_freed_heap": heap_kept, "machine": common.machine(),
               "command": common.command_line(), "results": results}
    print("wrote", common.write_json(args.out or common.result_path(args, "ab_engine.json"), payload))


if __name__ == "__main__":
    sys.exit(run_cli(main))
