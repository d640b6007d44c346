#!/usr/bin/env python
"""Cluster word vectors with k-means and save the quantized embedding table.

    python scripts/train_word2vec.py --out vectors.txt          # vectors of the bundled novel
    python scripts/quantize.py --vectors vectors.txt --clusters 1500 --metric cosine --out quant/

Reads word2vec text or binary vectors (counts from VECTORS.counts.json when present, else the file
order is taken as frequency order), prints one line per Lloyd iteration (inertia, points that
changed cluster, centre shift), then a summary: reconstruction error, compression ratio and the
most frequent words of a few clusters. Writes OUT/quantizer.npz and OUT/quantizer.json, which
`minirnn.quantizer.EmbeddingQuantizer.load(OUT)` reads back.
Bad input (missing or malformed vectors file, --clusters < 1 or more than the vocabulary, ...)
is one line on stderr and exit status 2.
"""
from __future__ import annotations

from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import argparse
import math
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning: k-means++ runs K short parallel steps, and on a
# shared machine spinning threads made each step up to 10x slower. Must precede the first kernel.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

from minirnn import backend  # noqa: E402
from minirnn.errors import DataError, UsageError, require, run_cli  # noqa: E402
from minirnn.keyedvectors import KeyedVectors  # noqa: E402
from minirnn.quantizer import EmbeddingQuantizer  # noqa: E402
from minirnn.textio import check_output_dir, refuse_existing  # noqa: E402


MAX_N_INIT = 100        # --n-init above this is taken for a typo


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--vectors", required=True,
                   help="word vectors in word2vec text or binary format (detected), e.g. the output "
                        "of scripts/train_word2vec.py")
    p.add_argument("--clusters", type=int, default=1500, help="number of clusters K")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine",
                   help="cosine: spherical k-means on unit vectors (word2vec's -classes); "
                        "euclidean: plain k-means")
    p.add_argument("--out", required=True, help="directory for quantizer.npz and quantizer.json")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a quantizer already in --out; without it one is refused")
    p.add_argument("--seed", type=int, default=0, help="random seed of the k-means++ seeding")
    p.add_argument("--n-init", type=int, default=1, help="k-means runs from different seeds; the best is kept")
    p.add_argument("--max-iter", type=int, default=300, help="Lloyd iterations per run at most")
    p.add_argument("--tol", type=float, default=1e-4,
                   help="stop when the centres' total squared shift is below tol x the mean feature "
                        "variance (0: only when no word changes cluster)")
    p.add_argument("--threads", type=int, default=None,
                   help="Numba threads (default: NUMBA_NUM_THREADS, normally the number of cores)")
    p.add_argument("--show", type=int, default=8,
                   help="clusters to print in the summary: those of the most frequent words of 4 "
                        "letters or more whose cluster has at least 3 words")
    p.add_argument("--top", type=int, default=10, help="words printed per cluster")
    p.add_argument("--words", nargs="*", default=(),
                   help="also print the clusters of these words")
    p.add_argument("--backend", choices=list(backend.BACKENDS), default=None,
                   help="array backend of the k-means (default: $MINIRNN_BACKEND or numpy)")
    return p.parse_args(argv)


def show_cluster(q, k, top, label=""):
    ws = q.cluster_to_words[k]
    more = f" (+{len(ws) - top} more)" if len(ws) > top else ""
    print(f"  cluster {k:>5} [{len(ws):>4} words]{label}: {' '.join(ws[:top])}{more}")


def main(argv=None):
    args = parse_args(argv)
    require(args.clusters >= 1, f"--clusters must be at least 1, got {args.clusters}")
    require(1 <= args.n_init <= MAX_N_INIT,
            f"--n-init must be in 1..{MAX_N_INIT} (a guard against typos: each is a whole k-means), got {args.n_init}")
    require(args.max_iter >= 1, f"--max-iter must be at least 1, got {args.max_iter}")
    require(args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    require(math.isfinite(args.tol) and args.tol >= 0, f"--tol must be a finite number >= 0, got {args.tol}")
    require(args.show >= 0 and args.top >= 1, "--show must be >= 0 and --top >= 1")
    if args.backend:
        backend.set_backend(args.backend)
    if args.threads is not None:
        require(1 <= args.threads <= numba.config.NUMBA_NUM_THREADS,
                f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}, got {args.threads}")
        numba.set_num_threads(args.threads)
    refuse_existing([os.path.join(args.out, n) for n in ("quantizer.npz", "quantizer.json")], "--out",
                    args.overwrite)
    check_output_dir(args.out, "--out", names=("quantizer.npz", "quantizer.json"),   # before the clustering
                     inputs={"--vectors": args.vectors, "--vectors counts": args.vectors + ".counts.json"})
    kv = KeyedVectors.load(args.vectors)
    V, D = kv.vectors.shape
    require(args.clusters <= V, f"--clusters {args.clusters} is more than the {V} words in {args.vectors}")
    missing = [w for w in args.words if w not in kv.key_to_index]
    require(not missing, f"not in the vocabulary of {args.vectors}: {' '.join(missing)}")
    source = "from the sidecar file" if kv.counts is not None else "unknown (file order = frequency order)"
    print(f"{args.vectors}: {V} words x {D} dims, counts {source}")
    print(f"k-means: K={args.clusters}, metric={args.metric}, n_init={args.n_init}, "
          f"threads={numba.get_num_threads()}")

    start = time.perf_counter()

    def progress(info):
        print(f"  run {info.run} iter {info.iteration:>3}  inertia {info.inertia:.6g}  "
              f"moved {info.moved:>6}  shift {info.shift:.3g}  ({time.perf_counter() - start:.1f} s)",
              flush=True)

    q = EmbeddingQuantizer(args.clusters, metric=args.metric, seed=args.seed, n_init=args.n_init,
                           max_iter=args.max_iter, tol=args.tol, callback=progress)
    try:
        q.fit(kv.index_to_key, kv.vectors, kv.counts)
    except DataError as e:  # k-means' checks of the data (NaN in vectors, too few distinct vectors, ...)
        raise UsageError(f"{args.vectors}: {e}") from None
    elapsed = time.perf_counter() - start
    q.save(args.out)

    s = q.summary()
    print(f"done in {elapsed:.1f} s, {s['n_iter']} iterations: inertia {s['inertia']:.6g}, "
          f"reconstruction error {s['reconstruction_error']:.4f} (relative squared), "
          f"compression {s['compression_ratio']:.1f}x, cluster sizes {s['cluster_sizes']['min']}"
          f"..{s['cluster_sizes']['max']}")
    print(f"saved {args.out}/quantizer.npz and {args.out}/quantizer.json")
    shown = []
    for w in args.words:
        k = q.word_to_cluster[w]
        if k not in shown:
            shown.append(k)
            show_cluster(q, k, args.top, f" <- {w}")
    picked = 0
    for w in kv.index_to_key:                            # frequency order
        if picked >= args.show:
            break
        k = q.word_to_cluster[w]
        if len(w) >= 4 and k not in shown and len(q.cluster_to_words[k]) >= 3:
            shown.append(k)
            picked += 1
            show_cluster(q, k, args.top, f" <- {w}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
