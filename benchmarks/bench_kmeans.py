#!/usr/bin/env python
"""minirnn's KMeans against scikit-learn's (and faiss's, if installed): time and final inertia.

    python benchmarks/bench_kmeans.py                    # both cases, 3 seeds, 2 threads
    python benchmarks/bench_kmeans.py --cases a --vectors runs/vectors.txt

Cases: (a) the skip-gram vectors of the bundled novel, K = 1500 (--vectors, or trained here with
minirnn's word2vec: 5 epochs, dim 100, seed 1); (b) synthetic float32 blobs, 100,000 x 100 around
1,000 centres (scikit-learn's make_blobs recipe: centres uniform in [-10, 10]^D, unit deviation),
K = 1000. Every library runs greedy k-means++, one init, Lloyd until no label changes (tol = 0,
--max-iter), Euclidean, seeds 0, 1, ... (the same method, each library its own random stream).
faiss has no k-means++ and no convergence test: its random init and --faiss-iters iterations. The
libraries alternate within each seed; medians are reported. Each is warmed up once first (Numba
loads its kernels). Numba, OpenMP, BLAS (threadpoolctl) and faiss are held to --threads, and idle
OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE). JSON: kmeans.json in --out-dir.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before any OpenMP runtime starts

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402
from minirnn.keyedvectors import KeyedVectors  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402
from minirnn.word2vec import Word2Vec  # noqa: E402

SMOKE_ARGS = ["--cases", "b", "--n-b", "2000", "--dim-b", "8", "--clusters-b", "10", "--blobs-b", "10",
              "--repeats", "1", "--max-iter", "20", "--threads", "1"]


def make_blobs(n, d, centers, seed=0):
    """scikit-learn's make_blobs recipe in NumPy: centres U[-10, 10]^d, unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(-10, 10, size=(centers, d))                          # (centers, d)
    y = rng.integers(0, centers, size=n)                                 # (n,)
    return (C[y] + rng.standard_normal((n, d))).astype(np.float32)       # (n, d)


def fit(lib, X, k, seed, args):
    """(seconds, inertia, Lloyd iterations) of one fit by `lib`."""
    t0 = time.perf_counter()
    if lib == "minirnn":
        from minirnn.kmeans import KMeans
        km = KMeans(k, init="k-means++", n_init=1, max_iter=args.max_iter, tol=0.0, seed=seed).fit(X)
        return time.perf_counter() - t0, float(km.inertia_), int(km.n_iter_)
    if lib == "scikit-learn":
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=args.threads):
            km = KMeans(k, init="k-means++", n_init=1, max_iter=args.max_iter, tol=0.0, algorithm="lloyd",
                        random_state=seed).fit(X)
        return time.perf_counter() - t0, float(km.inertia_), int(km.n_iter_)
    import faiss
    km = faiss.Kmeans(X.shape[1], k, niter=args.faiss_iters, seed=seed + 1234, verbose=False,
                      max_points_per_centroid=10 ** 9)      # no subsampling: every point, as the others
    km.train(X)
    t = time.perf_counter() - t0
    D, _ = km.index.search(X, 1)                            # final assignment, like the others' inertia
    return t, float(D.sum(dtype=np.float64)), args.faiss_iters


def bench_case(name, X, k, args, libs):
    print(f"\ncase {name}: X {X.shape} {X.dtype}, K={k}", flush=True)
    runs = {lib: [] for lib in libs}
    for seed in range(args.repeats):
        for lib in libs if seed % 2 == 0 else libs[::-1]:
            t, inertia, n_iter = fit(lib, X, k, seed, args)
            runs[lib].append({"seed": seed, "time_s": t, "inertia": inertia, "n_iter": n_iter})
            print(f"  seed {seed} {lib:>12}: {t:8.2f} s  inertia {inertia:.6g}  iterations {n_iter}", flush=True)
    med = lambda rs, key: statistics.median(r[key] for r in rs)  # noqa: E731
    libraries = {lib: {"time_s_median": med(rs, "time_s"), "inertia_median": med(rs, "inertia"),
                       "n_iter_median": med(rs, "n_iter"), "runs": rs} for lib, rs in runs.items()}
    return {"shape": list(X.shape), "n_clusters": k, "libraries": libraries}


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--cases", default="ab", choices=("a", "b", "ab"), help="which cases to run")
    p.add_argument("--vectors", default=None, help="word vectors for case (a) (default: trained on the novel here)")
    p.add_argument("--clusters-a", type=common.count, default=1500, help="K for case (a)")
    p.add_argument("--n-b", type=common.count, default=100_000, help="points in case (b)")
    p.add_argument("--dim-b", type=common.count, default=100, help="dimensions in case (b)")
    p.add_argument("--clusters-b", type=common.count, default=1000, help="K for case (b)")
    p.add_argument("--blobs-b", type=common.count, default=1000, help="true centres in case (b)'s data")
    p.add_argument("--repeats", type=common.count, default=3, help="runs per library and case (seeds 0..R-1)")
    p.add_argument("--max-iter", type=common.count, default=300, help="Lloyd iterations at most (tol = 0)")
    p.add_argument("--faiss-iters", type=common.count, default=25, help="faiss's iterations (it has no tol)")
    p.add_argument("--threads", type=common.count, default=2, help="threads for every library")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.clusters_b > args.n_b:
        raise UsageError(f"--clusters-b {args.clusters_b} is more than the --n-b {args.n_b} points")
    path = common.result_path(args, "kmeans.json")
    mach = common.machine()
    import numba
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    libs = ["minirnn"] + (["scikit-learn"] if common.reference("sklearn") else [])
    faiss = common.reference("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(args.threads)
        libs.append("faiss")
    threads = common.set_threads(args.threads)
    for lib in libs:                                          # warm-up: Numba's kernels, sklearn's imports
        fit(lib, make_blobs(2000, 8, 10, seed=99), 20, 0, args)
    cases = {}
    if "a" in args.cases:
        if args.vectors:
            kv = KeyedVectors.load(args.vectors)
        else:                                                 # as train_word.py makes them
            print("word2vec on the novel (dim 100, 5 epochs)", flush=True)
            kv = Word2Vec(dim=100, epochs=5, workers=args.threads, seed=1).train(default_corpus()).wv
        X = np.ascontiguousarray(kv.vectors, dtype=np.float32)
        cases["a_novel_vectors"] = dict(bench_case("(a) novel vectors", X, args.clusters_a, args, libs),
                                        vectors=args.vectors or "word2vec of the novel, 5 epochs, seed 1")
    if "b" in args.cases:
        X = make_blobs(args.n_b, args.dim_b, args.blobs_b)
        cases["b_synthetic_blobs"] = dict(bench_case("(b) synthetic blobs", X, args.clusters_b, args, libs),
                                          data=f"make_blobs recipe: {args.blobs_b} centres U[-10,10]^{args.dim_b}, std 1")
    summary = []
    for case, res in cases.items():
        mine, sk = res["libraries"]["minirnn"], res["libraries"].get("scikit-learn")
        summary.append(common.row(
            f"k-means++ and Lloyd, {res['shape'][0]:,} x {res['shape'][1]} {'novel vectors' if case[0] == 'a' else 'blobs'}, "
            f"K = {res['n_clusters']}", f"{mine['time_s_median']:.2f} s",
            sk and f"scikit-learn {mach['versions'].get('sklearn')}", sk and f"{sk['time_s_median']:.2f} s",
            sk and mine["time_s_median"] / sk["time_s_median"],
            f"inertia {mine['inertia_median'] / sk['inertia_median']:.4f}x scikit-learn's" if sk else ""))
    common.show(summary)
    common.write_json(path, {"benchmark": "bench_kmeans", "command": common.command_line(), "machine": mach,
                             "threads": threads, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                             "numba_threading_layer": numba.threading_layer(),
                             "settings": {"init": "k-means++ (faiss: random)", "n_init": 1, "max_iter": args.max_iter,
                                          "tol": 0.0, "faiss_iters": args.faiss_iters, "repeats": args.repeats},
                             "cases": cases, "summary": summary})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
