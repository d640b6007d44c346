#!/usr/bin/env python
"""word2vec as a whole process, minirnn against gensim: wall-clock seconds and neighbour agreement.

    flock /tmp/minirnn-bench.lock python benchmarks/bench_word2vec_process.py --update-results

What a user waits for: each run is a fresh Python process that imports its library, reads the corpus,
builds the vocabulary, trains and writes the vectors in word2vec text format, timed from outside
(``scripts/train_word2vec.py`` for minirnn; gensim's ``Word2Vec(corpus_file=...)``, its faster
multi-threaded reader, then ``save_word2vec_format``). Both read the same file: the corpus cut into
words once by minirnn's tokenizer, one sentence per line with a blank line after each (minirnn's
sentence end), so both see the same words and the same vocabulary. Same parameters, threads and
seed; the two libraries alternate, the first one changing from round to round.

Reported: the median of the seconds over rounds, and their ratio minirnn / gensim. Quality, since a
faster run that learns less is no win: the nearest-neighbour agreement. For the ``--top`` most
frequent words, agreement(A, B) is the mean share of the 10 cosine nearest neighbours that runs A
and B have in common. gensim's self-agreement (its runs with different seeds, pair by pair) is the
yardstick, and minirnn-gensim agreement / gensim self-agreement the figure (1.0: minirnn's
neighbours are as close to gensim's as gensim's own from another seed). Without gensim installed,
one line says so and only minirnn is timed. JSON: word2vec_process.json in --out-dir
(benchmarks/results/ with --update-results).
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from minirnn.errors import require, run_cli
from minirnn.keyedvectors import KeyedVectors
from minirnn.textio import default_corpus
from minirnn.tokenize import iter_sentences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_ARGS = ["--rounds", "2", "--epochs", "1", "--dim", "8", "--max-sentences", "300", "--min-count", "2",
              "--top", "50"]
NEIGHBOURS = 10

GENSIM_RUN = """
import sys
from gensim.models import Word2Vec
corpus, out, dim, window, min_count, negative, sample, epochs, workers, seed = sys.argv[1:]
m = Word2Vec(corpus_file=corpus, vector_size=int(dim), window=int(window), min_count=int(min_count),
             negative=int(negative), sample=float(sample), epochs=int(epochs), workers=int(workers),
             seed=int(seed), sg=1, hs=0)
m.wv.save_word2vec_format(out)
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", default=default_corpus(), help="UTF-8 text corpus (default: the bundled novel)")
    common.add_word2vec_args(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the first round (then seed+1, ...)")
    p.add_argument("--rounds", type=int, default=5, help="runs per library, alternated; medians are reported")
    p.add_argument("--top", type=int, default=1000, help="most frequent words whose neighbours are compared")
    p.add_argument("--max-sentences", type=int, default=None, help="use only the first sentences (smoke runs)")
    p.add_argument("--no-gensim", action="store_true", help="time minirnn only")
    common.add_output_args(p)
    return p.parse_args(argv)


def write_tokens(corpus: str, path: str, max_sentences) -> int:
    """The corpus as minirnn's tokenizer cuts it: a sentence per line, a blank line after each."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for sentence in itertools.islice(iter_sentences(corpus), max_sentences):
            f.write(" ".join(sentence) + "\n\n")
            n += len(sentence)
    return n


def run_process(cmd) -> float:
    """Wall-clock seconds of one process, which must succeed."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    require(r.returncode == 0, f"{' '.join(cmd[:3])} ... failed (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    return seconds


def neighbours(kv: KeyedVectors, words) -> dict:
    """The NEIGHBOURS cosine nearest neighbours of each word (itself left out), as sets."""
    X = kv.get_normed_vectors()                                   # (V, D)
    row = {w: i for i, w in enumerate(kv.index_to_key)}
    idx = np.array([row[w] for w in words])                       # (n,)
    sims = X[idx] @ X.T                                           # (n, V)
    sims[np.arange(len(idx)), idx] = -np.inf
    k = min(NEIGHBOURS, X.shape[0] - 1)
    best = np.argpartition(-sims, k - 1, axis=1)[:, :k]           # (n, k), unordered
    return {w: {kv.index_to_key[j] for j in row} for w, row in zip(words, best)}


def agreement(a: dict, b: dict) -> float:
    """Mean share of common neighbours over the words of a."""
    return float(np.mean([len(a[w] & b[w]) / len(a[w]) for w in a]))


def mean_agreement(runs_a, runs_b=None) -> float | None:
    """Over every pair of distinct runs of one list, or every (a, b) across two lists."""
    pairs = list(itertools.combinations(runs_a, 2)) if runs_b is None else list(itertools.product(runs_a, runs_b))
    return float(np.mean([agreement(a, b) for a, b in pairs])) if pairs else None


def main(argv=None):
    args = parse_args(argv)
    require(args.rounds >= 1, "--rounds must be >= 1")
    require(args.top >= 1, "--top must be >= 1")
    have_gensim = not args.no_gensim and common.reference("gensim") is not None
    libs = ["minirnn", "gensim"] if have_gensim else ["minirnn"]
    params = [str(getattr(args, name)) for name, *_ in common.WORD2VEC_ARGS]  # GENSIM_RUN's order
    with tempfile.TemporaryDirectory(prefix="minirnn-w2v-process-") as tmp:
        tokens = os.path.join(tmp, "tokens.txt")
        n_tokens = write_tokens(args.corpus, tokens, args.max_sentences)
        print(f"corpus: {os.path.basename(args.corpus)}, {n_tokens:,} tokens; {args.rounds} rounds, "
              f"{args.workers} threads, alternating {' and '.join(libs)}", flush=True)

        def command(lib, seed, out):
            if lib == "minirnn":
                options = [x for (name, *_), v in zip(common.WORD2VEC_ARGS, params)
                           for x in ("--" + name.replace("_", "-"), v)]      # train_word2vec.py's names
                return [sys.executable, os.path.join(ROOT, "scripts", "train_word2vec.py"), "--corpus", tokens,
                        "--out", out, *options, "--seed", str(seed), "--show"]
            return [sys.executable, "-c", GENSIM_RUN, tokens, out, *params, str(seed)]

        # warm-up, not timed: the first minirnn process compiles (or loads) its Numba kernels
        run_process(command("minirnn", args.seed, os.path.join(tmp, "warmup.txt")))
        seconds = {lib: [] for lib in libs}
        vectors = {lib: [] for lib in libs}
        for r in range(args.rounds):
            seed = args.seed + r
            for lib in (libs if r % 2 == 0 else libs[::-1]):
                out = os.path.join(tmp, f"{lib}-{seed}.txt")
                seconds[lib].append(run_process(command(lib, seed, out)))
                vectors[lib].append(KeyedVectors.load_word2vec_format(out))
                print(f"round {r + 1}/{args.rounds} {lib:8s} {seconds[lib][-1]:6.2f} s", flush=True)

    words = vectors["minirnn"][0].index_to_key[:args.top]          # most frequent first
    for lib in libs:
        missing = [w for w in words if w not in vectors[lib][0]]
        require(not missing, f"{lib}'s vocabulary lacks {len(missing)} of minirnn's words, e.g. {missing[:3]}")
    near = {lib: [neighbours(kv, words) for kv in vectors[lib]] for lib in libs}
    result = {"benchmark": "word2vec whole process", "machine": common.machine(), "command": common.command_line(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "params": {k: getattr(args, k) for k in [name for name, *_ in common.WORD2VEC_ARGS]
                         + ["seed", "rounds", "top", "max_sentences"]},
              "corpus": os.path.basename(args.corpus), "tokens": n_tokens, "vocab_size": len(vectors["minirnn"][0]),
              "neighbours": NEIGHBOURS}
    for lib in libs:
        result[lib] = {"seconds": seconds[lib], "median_s": statistics.median(seconds[lib]),
                       "self_agreement": mean_agreement(near[lib])}
    if have_gensim:
        cross = mean_agreement(near["minirnn"], near["gensim"])
        g_self = result["gensim"]["self_agreement"]
        result["ratio"] = result["minirnn"]["median_s"] / result["gensim"]["median_s"]
        result["round_ratios"] = [a / b for a, b in zip(seconds["minirnn"], seconds["gensim"])]
        result["cross_agreement"] = cross
        result["agreement_vs_gensim_self"] = cross / g_self if g_self else None
    print(f"\n{'':10s} {'median s':>9s} {'self-agreement':>15s}")
    for lib in libs:
        sa = result[lib]["self_agreement"]
        print(f"{lib:10s} {result[lib]['median_s']:9.2f} {'-' if sa is None else f'{sa:.3f}':>15s}")
    if have_gensim:
        rel = result["agreement_vs_gensim_self"]
        print(f"minirnn / gensim: {result['ratio']:.2f}x the seconds (rounds: "
              f"{', '.join(f'{x:.2f}' for x in result['round_ratios'])}); neighbour agreement with gensim "
              f"{result['cross_agreement']:.3f}, {'-' if rel is None else f'{rel:.2f}'} of gensim's self-agreement")
    path = common.write_json(common.result_path(args, "word2vec_process.json"), result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
