#!/usr/bin/env python
"""The word pipeline at Wikipedia's scale: each stage's time and peak RSS on a synthetic corpus of
Wikipedia's shape at several sizes, each stage's log-log slope, and minirnn's k-means against
scikit-learn's on every vector kept.

    flock /work/wt/bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_scale.py
    python benchmarks/bench_scale.py --large        # 100M tokens as well (tens of minutes, 2 GB of disk)
    python benchmarks/bench_scale.py --merge a.json b.json --out scale.json   # fit runs made apart

Corpus (written to --tmp, deleted after): token ranks drawn from Zipf's law (s = 1.07) over --types
word types (Spanish-like syllables, ñ and accents included), sentences of 8-40 words, about four
sentences a line (a paragraph), a blank line every eight paragraphs (an article, as get_corpus writes).
Stages, each a fresh process whose peak RSS is its ru_maxrss (os.wait4):
  vocab       Word2Vec.build_vocab (the counting pass and the id cache), --min-count 5
  word2vec    scripts/train_word2vec.py --epochs 1 --binary (its own vocabulary pass included)
  kmeans      scripts/quantize.py --clusters K --max-iter M --tol 0 (loading and saving included); then
              KMeans.fit alone, minirnn's and scikit-learn's (k-means++, M Lloyd iterations, tol 0, the
              same unit vectors), alternated in separate processes, --repeats times: median fit seconds
  encode      wordlm.encode_corpus + WordTask.split + fit_within: train_word's loading of the corpus
  train_word  scripts/train_word.py --vectors --quantizer --iters 100 --eval-every 100 --val-frac F:
              loading, 100 iterations, the capped validation and the whole split once at the end
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import common  # noqa: E402

SMOKE_ARGS = ["--sizes", "0.03", "--types", "20000", "--clusters", "8", "--kmeans-iter", "2", "--repeats", "1",
              "--iters", "2", "--hidden", "8"]
SYLLABLES = [c + v for c in ("", "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "ll", "ñ",
                             "qu", "z", "j") for v in "aeiou"] + list("áéíóú")
STAGES = ("vocab", "word2vec", "kmeans", "encode", "train_word")


def word(rank: int) -> str:
    """The rank-th type: rank in bijective base 105, one syllable per digit (frequent words are short)."""
    out, rank = [], rank + 1
    while rank:
        rank -= 1
        out.append(SYLLABLES[rank % len(SYLLABLES)])
        rank //= len(SYLLABLES)
    return "".join(out)


def write_corpus(path: str, n_tokens: int, n_types: int, s: float = 1.07, seed: int = 0, chunk: int = 1 << 20):
    """n_tokens Zipf(s)-distributed words, in sentences, paragraphs (lines) and articles (blank lines)."""
    rng = np.random.default_rng(seed)
    pieces = [word(r).encode() for r in range(n_types)] + [b" ", b". ", b".\n", b".\n\n"]
    lens = np.fromiter(map(len, pieces), np.int64, len(pieces))                   # (types + 4,)
    starts = np.cumsum(lens) - lens
    pool = np.frombuffer(b"".join(pieces), np.uint8)
    cdf = np.cumsum(np.arange(1, n_types + 1, dtype=np.float64) ** -s)
    cdf /= cdf[-1]                                                                # (types,)
    with open(path, "wb") as f:
        for lo in range(0, n_tokens, chunk):
            n = min(chunk, n_tokens - lo)
            ranks = np.minimum(np.searchsorted(cdf, rng.random(n)), n_types - 1)  # (n,)
            sep = np.full(n, n_types)                                             # (n,) a space after each word
            ends = np.cumsum(rng.integers(8, 41, size=n // 8 + 2)) - 1            # sentence ends
            ends = ends[ends < n]
            sep[ends] = n_types + 1
            para = ends[rng.random(len(ends)) < 0.25]
            sep[para] = n_types + 2
            sep[para[rng.random(len(para)) < 0.125]] = n_types + 3
            seq = np.stack([ranks, sep], axis=1).reshape(-1)                      # (2n,) word, separator, ...
            L = lens[seq]
            pos = np.repeat(starts[seq] - (np.cumsum(L) - L), L) + np.arange(L.sum())
            f.write(pool[pos].tobytes())


def spawn(argv, env=None) -> dict:
    """Run argv; returns its stdout, seconds and peak RSS (MB), or raises with its stderr."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{stderr[-3000:]}")
    return {"stdout": stdout, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def child(name, *args) -> dict:
    """A library stage in a fresh process (this file, --child NAME): its own JSON plus wall and peak RSS."""
    r = spawn([sys.executable, __file__, "--child", name, *map(str, args)])
    return {**json.loads(r["stdout"].splitlines()[-1]), "wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"]}


def run_child(name, args) -> dict:
    """The --child side: one stage in this process, timed; prints one JSON line."""
    common.set_threads(2)
    t = time.perf_counter()
    if name == "vocab":
        from minirnn.word2vec import Word2Vec
        m = Word2Vec(min_count=5)
        n_ids = m.build_vocab(args[0], args[1])
        os.remove(args[1])
        out = {"V": len(m.vocab), "tokens": m.vocab.n_tokens, "ids": n_ids}
    elif name == "encode":
        from minirnn.keyedvectors import KeyedVectors
        from minirnn.quantizer import EmbeddingQuantizer
        from minirnn.wordlm import WordTask, encode_corpus
        kv, q = KeyedVectors.load(args[1]), EmbeddingQuantizer.load(args[2])
        t = time.perf_counter()
        ids, _ = encode_corpus(args[0], kv.key_to_index)
        task = WordTask.clusters(kv.index_to_key, kv.vectors, q.labels, q.centroids)
        train, val, val_words = task.split(ids, 0.1, 32, 32)
        task.fit_within(ids[:len(ids) - int(len(ids) * 0.1)])
        out = {"tokens": len(ids), "windows": len(train) + len(val)}
    else:                                                    # kmeans-minirnn, kmeans-sklearn
        from minirnn.keyedvectors import KeyedVectors
        X = KeyedVectors.load(args[0]).vectors
        X = X / np.linalg.norm(X, axis=1, keepdims=True)     # (V, D) unit vectors, for both sides
        K, iters = int(args[1]), int(args[2])
        t = time.perf_counter()
        if name == "kmeans-sklearn":
            from sklearn.cluster import KMeans
            km = KMeans(K, init="k-means++", n_init=1, max_iter=iters, tol=0, algorithm="lloyd", random_state=0).fit(X)
        else:
            from minirnn.kmeans import KMeans
            km = KMeans(K, init="k-means++", n_init=1, max_iter=iters, tol=0, seed=0, metric="cosine").fit(X)
        out = {"n_iter": int(km.n_iter_), "N": int(X.shape[0])}
    print(json.dumps({**out, "s": time.perf_counter() - t}))


def scale_run(tokens: int, args, tmp: str) -> dict:
    """Every stage at one corpus size."""
    corpus, vec, quant = (os.path.join(tmp, n) for n in ("corpus.txt", "vectors.bin", "quant"))
    t = time.perf_counter()
    write_corpus(corpus, tokens, args.types)
    print(f"{tokens / 1e6:g}M tokens: corpus written ({os.path.getsize(corpus) / 2 ** 20:.0f} MB, "
          f"{time.perf_counter() - t:.0f} s)", flush=True)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    py, scripts = sys.executable, os.path.join(ROOT, "scripts")
    res = {"tokens": tokens, "vocab": child("vocab", corpus, os.path.join(tmp, "ids"))}
    r = spawn([py, f"{scripts}/train_word2vec.py", "--corpus", corpus, "--epochs", "1", "--workers", "2",
               "--binary", "--out", vec, "--show"], env)
    line = next(x for x in r["stdout"].splitlines() if x.startswith("vocabulary:"))
    words_per_s = float(line.split("(")[1].split("k words/s")[0]) * 1e3
    res["word2vec"] = {"wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "words_per_s": words_per_s,
                       "epoch_s": float(line.split("training ")[1].split("s")[0])}
    r = spawn([py, f"{scripts}/quantize.py", "--vectors", vec, "--clusters", str(args.clusters), "--max-iter",
               str(args.kmeans_iter), "--tol", "0", "--out", quant, "--show", "0", "--threads", "2"], env)
    done = next(x for x in r["stdout"].splitlines() if x.startswith("done in"))
    res["kmeans"] = {"wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "fit_s": float(done.split()[2])}
    fits = {"minirnn": [], "sklearn": []}
    for _ in range(args.repeats if common.reference("sklearn") else 0):  # alternated, separate processes
        for side in fits:
            fits[side].append(child(f"kmeans-{side}", vec, args.clusters, args.kmeans_iter))
    res["kmeans"]["vs_sklearn"] = {side: {"median_s": statistics.median(f["s"] for f in runs),
                                          "runs": runs} for side, runs in fits.items() if runs}
    res["encode"] = child("encode", corpus, vec, quant)
    ck = os.path.join(tmp, "ck")
    r = spawn([py, f"{scripts}/train_word.py", "--corpus", corpus, "--vectors", vec, "--quantizer", quant,
               "--iters", str(args.iters), "--eval-every", str(args.iters), "--print-every", str(args.iters),
               "--val-frac", str(args.val_frac), "--hidden", str(args.hidden), "--sample-length", "0",
               "--checkpoint-dir", ck], env)
    evals = [x for x in r["stdout"].splitlines() if x.strip().startswith("val loss")]
    res["train_word"] = {"wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "val_frac": args.val_frac,
                         "eval_s": float(evals[-1].rsplit("[", 1)[1].rstrip("s]"))}
    shutil.rmtree(ck, ignore_errors=True)
    for n in ("corpus.txt", "vectors.bin", "vectors.bin.counts.json"):
        os.remove(os.path.join(tmp, n))
    shutil.rmtree(quant, ignore_errors=True)
    return res


TIME_OF = {"vocab": "s", "word2vec": "epoch_s", "kmeans": "fit_s", "encode": "s", "train_word": "wall_s"}


def seconds(stage: dict, name: str) -> float:
    """The time a stage is judged by: the pass itself where the process reports it, else its wall time."""
    return stage[TIME_OF[name]]


def slopes(runs: list) -> dict:
    """Least-squares slope of log(time) and log(peak RSS) against log(tokens), per stage."""
    runs = sorted(runs, key=lambda r: r["tokens"])
    if len(runs) < 2:
        return {}
    x = np.log([r["tokens"] for r in runs])
    fit = lambda ys: float(np.polyfit(x, np.log(ys), 1)[0])                      # noqa: E731
    return {st: {"time": fit([seconds(r[st], st) for r in runs]), "peak_rss": fit([r[st]["peak_rss_mb"] for r in runs])}
            for st in STAGES}


def report(runs: list) -> None:
    for r in sorted(runs, key=lambda r: r["tokens"]):
        v, w, k = r["vocab"], r["word2vec"], r["kmeans"]
        vs = k.get("vs_sklearn", {})
        ratio = (f", {vs['minirnn']['median_s'] / vs['sklearn']['median_s']:.2f}x scikit-learn's fit"
                 if len(vs) == 2 else "")
        print(f"{r['tokens'] / 1e6:g}M tokens, V = {v['V']:,}: vocabulary {v['s']:.1f} s {v['peak_rss_mb']:.0f} MB | "
              f"word2vec epoch {w['epoch_s']:.1f} s ({w['words_per_s'] / 1e3:.0f}k words/s) {w['peak_rss_mb']:.0f} MB | "
              f"k-means fit {k['fit_s']:.1f} s{ratio}, process {k['peak_rss_mb']:.0f} MB | encode "
              f"{r['encode']['s']:.1f} s {r['encode']['peak_rss_mb']:.0f} MB | train_word {r['train_word']['wall_s']:.1f} s "
              f"(eval {r['train_word']['eval_s']:.1f} s) {r['train_word']['peak_rss_mb']:.0f} MB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,30", help="corpus sizes, millions of tokens, comma-separated")
    p.add_argument("--large", action="store_true", help="add the 100M-token size")
    p.add_argument("--types", type=int, default=5_000_000, help="word types of the Zipf distribution")
    p.add_argument("--clusters", type=int, default=1500, help="K")
    p.add_argument("--kmeans-iter", type=int, default=10, help="Lloyd iterations (tol 0), both libraries")
    p.add_argument("--repeats", type=int, default=3, help="alternated k-means fits of each library (median)")
    p.add_argument("--iters", type=int, default=100, help="train_word iterations")
    p.add_argument("--val-frac", type=float, default=0.01, help="train_word's validation share (its whole pass is linear in it)")
    p.add_argument("--hidden", type=int, default=256, help="train_word's H")
    p.add_argument("--tmp", default=None, help="folder for the corpus and its files (default: $TMPDIR)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="fit and report earlier runs instead")
    p.add_argument("--out", default=None, help="JSON path (default: scale.json in --out-dir)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.child:
        return run_child(args.child[0], args.child[1:])
    out = args.out or common.result_path(args, "scale.json")
    if args.merge:
        runs = {}
        for path in args.merge:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            runs.update({r["tokens"]: r for r in data["runs"]})
        payload = {**data, "runs": sorted(runs.values(), key=lambda r: r["tokens"]), "merged_from": args.merge}
    else:
        sizes = [float(s) for s in args.sizes.split(",")] + ([100.0] if args.large else [])
        payload = {"machine": common.machine(), "threads": common.set_threads(2), "command": common.command_line(),
                   "config": {k: getattr(args, k) for k in ("types", "clusters", "kmeans_iter", "repeats", "iters",
                                                            "val_frac", "hidden")}, "runs": []}
        tmp = tempfile.mkdtemp(prefix="minirnn-scale-", dir=args.tmp)
        try:
            for m in sizes:
                payload["runs"].append(scale_run(int(m * 1e6), args, tmp))
                report(payload["runs"][-1:])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    payload["slopes"] = slopes(payload["runs"])
    report(payload["runs"])
    for st, sl in payload["slopes"].items():
        print(f"  log-log slope {st}: time {sl['time']:.2f}, peak RSS {sl['peak_rss']:.2f}")
    common.write_json(out, payload)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
