#!/usr/bin/env python
"""Benchmark minirnn's KMeans against scikit-learn (and faiss, if installed): time and final inertia.

    python scripts/train_word2vec.py --out /tmp/w2v_quijote.txt      # case (a) needs these vectors
    flock /tmp/minirnn-bench.lock python benchmarks/bench_kmeans.py --threads 2

Cases:
  (a) the skip-gram vectors of the bundled novel (--vectors), K=1500
  (b) synthetic float32 blobs: 100,000 x 100 drawn around 1000 centres (scikit-learn's make_blobs
      recipe: centres uniform in [-10, 10]^D, unit standard deviation), K=1000
Every library runs greedy k-means++ seeding, one init (n_init=1), Lloyd with max_iter=300 and tol=0
(iterate until no label changes), Euclidean metric, the same seeds (0, 1, ...: the same seeding
*method*, each library its own random stream). faiss has no k-means++ and no convergence test: it
runs its default random init and --faiss-iters iterations. Libraries alternate within each repeat
and the medians are reported, so a noisy shared machine affects them alike. Each library is warmed
up once first (Numba loads its cached kernels; nothing is compiled inside the timings).
Thread count: Numba, OpenMP, BLAS (threadpoolctl) and faiss are all held to --threads; idle OpenMP
threads sleep (OMP_WAIT_POLICY=PASSIVE, for every library in this process).
Writes kmeans.json to --out-dir (benchmarks/results/ with --update-results, or --json PATH) and
prints a table. Without scikit-learn (or faiss) one line says so and minirnn runs alone.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before any OpenMP runtime starts

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

SMOKE_ARGS = ["--cases", "b", "--n-b", "2000", "--dim-b", "8", "--clusters-b", "10", "--blobs-b", "10",
              "--repeats", "1", "--max-iter", "20", "--threads", "1"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--vectors", default="/tmp/w2v_quijote.txt",
                   help="word2vec vectors for case (a) (from scripts/train_word2vec.py); "
                        "case (a) is skipped with a note when the file is missing")
    p.add_argument("--clusters-a", type=int, default=1500, help="K for case (a)")
    p.add_argument("--n-b", type=int, default=100_000, help="points in case (b)")
    p.add_argument("--dim-b", type=int, default=100, help="dimensions in case (b)")
    p.add_argument("--clusters-b", type=int, default=1000, help="K for case (b)")
    p.add_argument("--blobs-b", type=int, default=1000, help="true centres in case (b)'s data")
    p.add_argument("--repeats", type=int, default=3, help="runs per library and case (seeds 0..R-1)")
    p.add_argument("--max-iter", type=int, default=300, help="Lloyd iterations at most (tol=0)")
    p.add_argument("--faiss-iters", type=int, default=25, help="faiss iterations (it has no tol)")
    p.add_argument("--threads", type=int, default=2, help="threads for every library")
    p.add_argument("--cases", default="ab", help="which cases to run: a, b or ab")
    p.add_argument("--json", default=None, help="where to write the results (default: kmeans.json in --out-dir)")
    common.add_output_args(p)
    return p.parse_args(argv)


def machine_info(threads):
    """common.machine() with the threads used and OpenMP's wait policy."""
    return common.machine() | {"threads_used": threads, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}


def make_blobs(n, d, centers, seed=0):
    """scikit-learn's make_blobs recipe in NumPy: centres U[-10, 10]^d, unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(-10, 10, size=(centers, d))                          # (centers, d)
    y = rng.integers(0, centers, size=n)                                 # (n,)
    return (C[y] + rng.standard_normal((n, d))).astype(np.float32)       # (n, d)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_minirnn(X, k, seed, max_iter):
    from minirnn.kmeans import KMeans
    t, km = timed(lambda: KMeans(k, init="k-means++", n_init=1, max_iter=max_iter, tol=0.0,
                                 seed=seed).fit(X))
    return {"time_s": t, "inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}


def run_sklearn(X, k, seed, max_iter, threads):
    from sklearn.cluster import KMeans as SKMeans
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=threads):
        t, km = timed(lambda: SKMeans(k, init="k-means++", n_init=1, max_iter=max_iter, tol=0.0,
                                      algorithm="lloyd", random_state=seed).fit(X))
    return {"time_s": t, "inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}


def run_faiss(X, k, seed, iters):
    import faiss
    km = faiss.Kmeans(X.shape[1], k, niter=iters, seed=seed + 1234, verbose=False,
                      max_points_per_centroid=10 ** 9)    # no subsampling: every point, as the others
    t, _ = timed(lambda: km.train(X))
    D, _ = km.index.search(X, 1)                          # final assignment, like the others' inertia
    return {"time_s": t, "inertia": float(D.sum(dtype=np.float64)), "n_iter": iters}


def median(rows, key):
    return float(np.median([r[key] for r in rows]))


def bench_case(name, X, k, args, have):
    print(f"\ncase {name}: X {X.shape} {X.dtype}, K={k}", flush=True)
    runs = {lib: [] for lib in have}
    for seed in range(args.repeats):
        for lib in have:
            if lib == "minirnn":
                r = run_minirnn(X, k, seed, args.max_iter)
            elif lib == "scikit-learn":
                r = run_sklearn(X, k, seed, args.max_iter, args.threads)
            else:
                r = run_faiss(X, k, seed, args.faiss_iters)
            r["seed"] = seed
            runs[lib].append(r)
            print(f"  seed {seed} {lib:>12}: {r['time_s']:8.2f} s  inertia {r['inertia']:.6g}  "
                  f"iterations {r['n_iter']}", flush=True)
    summary = {lib: {"time_s_median": median(rs, "time_s"), "inertia_median": median(rs, "inertia"),
                     "n_iter_median": median(rs, "n_iter"), "runs": rs} for lib, rs in runs.items()}
    result = {"shape": list(X.shape), "dtype": str(X.dtype), "n_clusters": k, "libraries": summary}
    if "scikit-learn" in summary:
        ours, sk = summary["minirnn"], summary["scikit-learn"]
        t_ratio = ours["time_s_median"] / sk["time_s_median"]
        i_ratio = ours["inertia_median"] / sk["inertia_median"]
        result["minirnn_vs_sklearn"] = {"time_ratio": t_ratio, "inertia_ratio": i_ratio,
                                        "target_time_ratio_max": 0.5, "target_inertia_ratio_max": 1.01,
                                        "targets_met": bool(t_ratio <= 0.5 and i_ratio <= 1.01)}
    return result


def warm_up(have, threads):
    X = make_blobs(2000, 8, 10, seed=99)
    run_minirnn(X, 20, 0, 20)
    if "scikit-learn" in have:
        run_sklearn(X, 20, 0, 20, threads)
    if "faiss" in have:
        run_faiss(X, 20, 0, 5)


def main(argv=None):
    args = parse_args(argv)
    import numba
    numba.set_num_threads(args.threads)
    have = ["minirnn"]
    versions = {"numpy": np.__version__, "numba": numba.__version__,
                "numba_threading_layer": None}
    if args.repeats < 1 or min(args.n_b, args.dim_b, args.clusters_b, args.blobs_b, args.clusters_a) < 1:
        raise UsageError("--repeats and the sizes of the cases must be at least 1")
    sklearn = common.reference("sklearn")
    threadpoolctl = common.reference("threadpoolctl") if sklearn is not None else None
    if sklearn is not None and threadpoolctl is not None:
        have.append("scikit-learn")
        versions["scikit-learn"] = sklearn.__version__
        versions["threadpoolctl"] = threadpoolctl.__version__
    faiss = common.reference("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(args.threads)
        have.append("faiss")
        versions["faiss"] = faiss.__version__
    warm_up(have, args.threads)
    versions["numba_threading_layer"] = numba.threading_layer()

    results = {"command": "flock /tmp/minirnn-bench.lock python " + " ".join([sys.argv[0]] + sys.argv[1:]),
               "machine": machine_info(args.threads), "versions": versions,
               "settings": {"init": "k-means++ (faiss: random)", "n_init": 1, "max_iter": args.max_iter,
                            "tol": 0.0, "faiss_iters": args.faiss_iters, "repeats": args.repeats,
                            "metric": "euclidean"},
               "cases": {}, "notes": []}
    if "a" in args.cases:
        if os.path.isfile(args.vectors):
            from minirnn.keyedvectors import KeyedVectors
            X = np.ascontiguousarray(KeyedVectors.load(args.vectors).vectors, dtype=np.float32)
            results["cases"]["a_novel_vectors"] = bench_case("(a) novel vectors", X, args.clusters_a, args, have)
            results["cases"]["a_novel_vectors"]["vectors"] = args.vectors
        else:
            note = f"case (a) skipped: {args.vectors} not found (make it with scripts/train_word2vec.py)"
            print(note)
            results["notes"].append(note)
    if "b" in args.cases:
        X = make_blobs(args.n_b, args.dim_b, args.blobs_b)
        results["cases"]["b_synthetic_blobs"] = bench_case("(b) synthetic blobs", X, args.clusters_b, args, have)
        results["cases"]["b_synthetic_blobs"]["data"] = (f"make_blobs recipe: {args.blobs_b} centres "
                                                         f"U[-10,10]^{args.dim_b}, std 1, seed 0")
    results["machine"]["load_average_at_end"] = os.getloadavg()

    print("\n| case | library | time (s, median) | inertia (median) | iterations | time / sklearn | inertia / sklearn |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case, res in results["cases"].items():
        libs = res["libraries"]
        sk = libs.get("scikit-learn")
        for lib, s in libs.items():
            tr = f"{s['time_s_median'] / sk['time_s_median']:.2f}" if sk else "-"
            ir = f"{s['inertia_median'] / sk['inertia_median']:.4f}" if sk else "-"
            print(f"| {case} (K={res['n_clusters']}) | {lib} | {s['time_s_median']:.2f} | "
                  f"{s['inertia_median']:.6g} | {s['n_iter_median']:.0f} | {tr} | {ir} |")
    path = args.json or common.result_path(args, "kmeans.json")
    common.write_json(path, results)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
