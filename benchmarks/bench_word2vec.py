#!/usr/bin/env python
"""word2vec as a user runs it, minirnn against gensim: seconds, words/s and the quality of the vectors.

    python benchmarks/bench_word2vec.py                       # the novel, 5 rounds, 2 threads
    python benchmarks/bench_word2vec.py --gensim-mode iterable

Each run is a fresh process that imports its library, reads the corpus, builds the vocabulary,
trains and writes the vectors in word2vec's text format, timed from outside: minirnn's
``scripts/train_word2vec.py``, gensim's ``Word2Vec(corpus_file=...)`` (its faster multi-threaded
reader; ``--gensim-mode iterable`` feeds it a Python iterable of sentences instead) then
``save_word2vec_format``. Both read the same file: the corpus cut into words once by minirnn's
tokenizer, a sentence per line and a blank line after each (minirnn's sentence end), so both see
the same vocabulary. Same parameters, threads and seed; the libraries alternate, the first one
changing from round to round. Reported, as medians over the rounds:
  * seconds of the whole process, and their ratio minirnn / gensim;
  * words/s of the training phase (epochs x vocabulary tokens / its seconds, as each library reports:
    minirnn's includes loading its compiled kernels, gensim's does not compile);
  * the vectors' quality: Spearman of cosine similarities against the human scores of --pairs,
    analogy accuracy on --analogies (3CosAdd and 3CosMul, the same minirnn code scoring both), and
    nearest-neighbour agreement: for the --top most frequent words, the mean share of the 10 nearest
    neighbours two runs have in common, minirnn against gensim, over gensim's agreement with itself
    from another seed (1.0: minirnn's neighbours are as close to gensim's as gensim's own).
Without gensim, one line says so and minirnn runs alone. JSON: word2vec.json in --out-dir.
"""
from __future__ import annotations

import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402
from minirnn.keyedvectors import KeyedVectors  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402
from minirnn.tokenize import iter_sentences  # noqa: E402

ROOT = os.path.dirname(HERE)
SMOKE_ARGS = ["--rounds", "2", "--epochs", "1", "--dim", "8", "--max-sentences", "300", "--min-count", "2", "--top", "50"]
NEIGHBOURS = 10
GENSIM_RUN = """
import sys, time
from gensim.models import Word2Vec
mode, corpus, out, dim, window, min_count, negative, sample, epochs, workers, seed = sys.argv[1:]
m = Word2Vec(vector_size=int(dim), window=int(window), min_count=int(min_count), negative=int(negative),
             sample=float(sample), epochs=int(epochs), workers=int(workers), seed=int(seed), sg=1, hs=0)
src = ({"corpus_file": corpus} if mode == "corpus_file" else
       {"corpus_iterable": [line.split() for line in open(corpus, encoding="utf-8") if line.strip()]})
m.build_vocab(**src)
t0 = time.perf_counter()
m.train(**src, total_examples=m.corpus_count, total_words=m.corpus_total_words, epochs=m.epochs)
print(f"training {time.perf_counter() - t0:.4f}s")
m.wv.save_word2vec_format(out)
"""


def write_tokens(corpus, path, max_sentences) -> int:
    """The corpus as minirnn's tokenizer cuts it: a sentence per line, a blank line after each."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for sentence in itertools.islice(iter_sentences(corpus), max_sentences):
            f.write(" ".join(sentence) + "\n\n")
            n += len(sentence)
    return n


def run_process(cmd):
    """(wall-clock seconds, what it printed) of one process, which must succeed."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    return seconds, r.stdout


def training_rate(lib, out, epochs, box):
    """Words/s of the training phase: epochs x vocabulary tokens / its seconds. train_word2vec.py prints
    its rate and the vocabulary tokens (kept in box for gensim's line), gensim's snippet its seconds."""
    if lib == "minirnn":
        m = re.search(r", (\d+) of \d+ tokens.*?\((\d+)k words/s", out, re.S)
        box["tokens"] = int(m.group(1))
        return 1000.0 * int(m.group(2))
    return epochs * box["tokens"] / max(float(re.search(r"training ([0-9.]+)s", out).group(1)), 1e-9)


def quality(kv, args, words):
    """Spearman, analogies (3CosAdd, 3CosMul) and the nearest neighbours of `words`, as sets."""
    add, sections = kv.evaluate_word_analogies(args.analogies)
    mul, _ = kv.evaluate_word_analogies(args.analogies, similarity_function="most_similar_cosmul")
    X = kv.get_normed_vectors()                                   # (V, D)
    idx = np.array([kv.key_to_index[w] for w in words])          # (n,)
    sims = X[idx] @ X.T                                           # (n, V)
    sims[np.arange(len(idx)), idx] = -np.inf
    best = np.argpartition(-sims, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]            # (n, 10), unordered
    return {"spearman": kv.evaluate_word_pairs(args.pairs)["spearman"], "analogy": add, "analogy_cosmul": mul,
            "analogies_answered": len(sections[-1]["correct"]) + len(sections[-1]["incorrect"]),
            "near": [{kv.index_to_key[j] for j in row} for row in best]}


def agreement(runs_a, runs_b=None):
    """Mean share of common neighbours, over every pair of runs of one list or across two lists."""
    pairs = itertools.combinations(runs_a, 2) if runs_b is None else itertools.product(runs_a, runs_b)
    shares = [np.mean([len(x & y) / len(x) for x, y in zip(a, b)]) for a, b in pairs]
    return float(np.mean(shares)) if shares else None


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--corpus", default=default_corpus(), help="UTF-8 text corpus (default: the bundled novel)")
    p.add_argument("--pairs", default=os.path.join(HERE, "data", "es_word_pairs_quijote.tsv"),
                   help="word pairs with human scores, for Spearman")
    p.add_argument("--analogies", default=os.path.join(HERE, "data", "es_analogies_quijote.txt"),
                   help="analogy questions, word2vec's questions-words.txt format (data/make_es_analogies.py)")
    common.add_word2vec_args(p)
    p.add_argument("--seed", type=common.natural, default=1, help="seed of the first round (then seed+1, ...)")
    p.add_argument("--rounds", type=common.count, default=5, help="runs per library, alternated")
    p.add_argument("--top", type=common.count, default=1000, help="most frequent words whose neighbours are compared")
    p.add_argument("--max-sentences", type=common.count, default=None, help="use only the first sentences (smoke runs)")
    p.add_argument("--gensim-mode", choices=("corpus_file", "iterable"), default="corpus_file", help="how gensim reads")
    p.add_argument("--no-gensim", action="store_true", help="run minirnn only")
    common.add_output_args(p)
    args = p.parse_args(argv)
    for path in (args.corpus, args.pairs, args.analogies):
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file")
    out = common.result_path(args, "word2vec.json")
    mach = common.machine()
    libs = ["minirnn"] + (["gensim"] if not args.no_gensim and common.reference("gensim") else [])
    params = [str(getattr(args, name)) for name, *_ in common.WORD2VEC_ARGS]      # GENSIM_RUN's order
    seconds, rates, kvs, box = *({lib: [] for lib in libs} for _ in range(3)), {}
    with tempfile.TemporaryDirectory(prefix="minirnn-w2v-") as tmp:
        tokens = os.path.join(tmp, "tokens.txt")
        n_tokens = write_tokens(args.corpus, tokens, args.max_sentences)
        print(f"corpus: {os.path.basename(args.corpus)}, {n_tokens:,} tokens; {args.rounds} rounds, "
              f"{args.workers} threads, alternating {' and '.join(libs)}", flush=True)

        def command(lib, seed, vectors):
            if lib == "gensim":
                return [sys.executable, "-c", GENSIM_RUN, args.gensim_mode, tokens, vectors, *params, str(seed)]
            options = [x for (name, *_), v in zip(common.WORD2VEC_ARGS, params) for x in ("--" + name.replace("_", "-"), v)]
            return [sys.executable, os.path.join(ROOT, "scripts", "train_word2vec.py"), "--corpus", tokens,
                    "--out", vectors, *options, "--seed", str(seed), "--show"]
        training_rate("minirnn", run_process(command("minirnn", args.seed, os.path.join(tmp, "warmup.txt")))[1],
                      args.epochs, box)                       # untimed: Numba compiles; the vocabulary's tokens
        for r in range(args.rounds):
            for lib in libs if r % 2 == 0 else libs[::-1]:
                vectors = os.path.join(tmp, f"{lib}-{r}.txt")
                s, printed = run_process(command(lib, args.seed + r, vectors))
                seconds[lib].append(s)
                rates[lib].append(training_rate(lib, printed, args.epochs, box))
                kvs[lib].append(KeyedVectors.load_word2vec_format(vectors))
                print(f"round {r + 1}/{args.rounds} {lib:8s} {s:6.2f} s ({rates[lib][-1]:,.0f} words/s training)", flush=True)
    kv0 = kvs["minirnn"][0]
    words = kv0.index_to_key[:args.top]                          # the most frequent first
    for lib in libs:
        if len(kvs[lib][0]) != len(kv0) or any(w not in kvs[lib][0] for w in words):
            raise RuntimeError(f"{lib}'s vocabulary differs from minirnn's: the comparison would not be fair")
    result = {"benchmark": "bench_word2vec", "machine": mach, "command": common.command_line(),
              "params": {k: getattr(args, k) for k in [n for n, *_ in common.WORD2VEC_ARGS] + ["seed", "rounds", "top"]},
              "gensim_mode": args.gensim_mode, "corpus": os.path.basename(args.corpus), "tokens": n_tokens,
              "vocab_size": len(kv0), "vocab_tokens": box["tokens"]}
    for lib in libs:
        q = [quality(kv, args, words) for kv in kvs[lib]]
        result[lib] = {"seconds": seconds[lib], "median_s": statistics.median(seconds[lib]),
                       "words_per_s_rounds": rates[lib], "words_per_s": statistics.median(rates[lib]),
                       "self_agreement": agreement([x["near"] for x in q]),
                       **{k: statistics.median(x[k] for x in q) for k in ("spearman", "analogy", "analogy_cosmul")},
                       "analogies_answered": q[0]["analogies_answered"], "near": [x["near"] for x in q]}
    mine, ref = result["minirnn"], result.get("gensim")
    if ref:
        result["ratio"] = mine["median_s"] / ref["median_s"]
        result["round_ratios"] = [a / b for a, b in zip(seconds["minirnn"], seconds["gensim"])]
        result["cross_agreement"] = agreement(mine["near"], ref["near"])
        result["agreement_vs_gensim_self"] = result["cross_agreement"] / max(ref["self_agreement"], 1e-12)
    vs = lambda k, f: f"{mine[k]:{f}}" + (f" vs {ref[k]:{f}}" if ref else "")  # noqa: E731
    gensim = f"gensim {result['machine']['versions'].get('gensim')} ({args.gensim_mode})" if ref else None
    result["summary"] = [
        common.row(f"word2vec, whole process ({n_tokens:,} tokens, {args.epochs} epochs, {args.workers} threads)",
                   f"{mine['median_s']:.2f} s", gensim, ref and f"{ref['median_s']:.2f} s", result.get("ratio"),
                   f"Spearman {vs('spearman', '.3f')}, analogies {vs('analogy', '.3f')}" + (
                       f", neighbours {result['agreement_vs_gensim_self']:.2f} of gensim's self-agreement" if ref else "")),
        common.row("word2vec, training phase, words/s", f"{mine['words_per_s']:,.0f}", gensim,
                   ref and f"{ref['words_per_s']:,.0f}", ref and ref["words_per_s"] / mine["words_per_s"],
                   "ratio of times")]
    common.show(result["summary"])
    for lib in libs:
        result[lib]["near"] = None                              # sets: not for the JSON
    common.write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
