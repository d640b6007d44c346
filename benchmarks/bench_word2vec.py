#!/usr/bin/env python
"""Benchmark minirnn's skip-gram word2vec against gensim's: training words/s and word-pair Spearman.

    flock /tmp/minirnn-bench.lock python benchmarks/bench_word2vec.py --workers 2

Both libraries train on the same sentences (minirnn's tokenizer, a paragraph per sentence; gensim reads
them from a temporary one-sentence-per-line file) with the same parameters, threads, and seeds
seed, seed+1, ... for the repeats. Reported, as medians over the repeats:

* words/s: epochs x (corpus tokens whose word is in the vocabulary) / seconds of the training phase
  (after the vocabulary is built, for both libraries; the vocabulary pass is reported apart);
* spearman / pearson: correlation of cosine similarities with the human scores of ``--pairs``;
* analogy / analogy_cosmul: accuracy on the questions of ``--analogies`` (``evaluate_word_analogies``,
  3CosAdd and 3CosMul), the same minirnn code scoring both libraries' vectors.

gensim is run both ways it can read a corpus: from a Python iterable of sentences, and from a file
(``corpus_file``, its faster multi-threaded reader); the target compares minirnn with the faster of
the two. Without gensim installed, one line says so and only minirnn is measured. Results are printed
and written as JSON: word2vec.json in --out-dir (benchmarks/results/ with --update-results, or --out).
The machine is shared: run this under the flock above, never two benchmarks at once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from minirnn.errors import require, run_cli
from minirnn.keyedvectors import KeyedVectors
from minirnn.textio import default_corpus
from minirnn.tokenize import iter_sentences
from minirnn.word2vec import Word2Vec

HERE = os.path.dirname(os.path.abspath(__file__))
SMOKE_ARGS = ["--repeats", "1", "--epochs", "1", "--dim", "8", "--gensim-modes", "corpus_file", "--workers", "1"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", default=default_corpus(), help="UTF-8 text corpus (default: the bundled novel)")
    p.add_argument("--pairs", default=os.path.join(HERE, "data", "es_word_pairs_quijote.tsv"),
                   help="tab-separated word pairs with human scores, for Spearman")
    p.add_argument("--analogies", default=os.path.join(HERE, "data", "es_analogies_quijote.txt"),
                   help="analogy questions in word2vec's questions-words.txt format (made by data/make_es_analogies.py)")
    common.add_word2vec_args(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the first repeat (then seed+1, ...)")
    p.add_argument("--repeats", type=int, default=11,
                   help="runs per library (seeds seed..seed+repeats-1); medians are reported. Spearman on a small "
                        "corpus varies by about 0.02 from seed to seed, so use many")
    p.add_argument("--gensim-modes", default="iterable,corpus_file",
                   help="comma-separated gensim input modes to measure (iterable, corpus_file)")
    p.add_argument("--no-gensim", action="store_true", help="measure minirnn only")
    p.add_argument("--out", default=None, help="JSON results file (default: word2vec.json in --out-dir)")
    common.add_output_args(p)
    return p.parse_args(argv)


def machine_info(workers) -> dict:
    m = common.machine()
    return {"cpu": m["cpu"], "cores": m["logical_cores"], "threads_used": workers, "python": m["versions"]["python"],
            "numpy": np.__version__, "numba": numba.__version__, "platform": m["platform"],
            "gensim": m["versions"].get("gensim"), "load_average_at_start": m["load_average_at_start"]}


def summarize(runs, words_per_epoch, epochs) -> dict:
    med = lambda k: statistics.median(r[k] for r in runs)
    return {"words_per_s": epochs * words_per_epoch / med("train_s"), "train_s": med("train_s"),
            "vocab_s": med("vocab_s"), "spearman": med("spearman"), "pearson": med("pearson"),
            "analogy": med("analogy"), "analogy_cosmul": med("analogy_cosmul"),
            "analogy_answered": runs[0]["analogy_answered"],
            "oov_rate": runs[0]["oov_rate"], "n_pairs": runs[0]["n_pairs"], "runs": runs}


def analogies(kv, path) -> dict:
    """Accuracy on the analogy file, 3CosAdd and 3CosMul (questions with an unknown word skipped)."""
    add, sections = kv.evaluate_word_analogies(path)
    mul, _ = kv.evaluate_word_analogies(path, similarity_function="most_similar_cosmul")
    total = sections[-1]
    return {"analogy": add, "analogy_cosmul": mul,
            "analogy_answered": len(total["correct"]) + len(total["incorrect"]),
            "analogy_sections": {s["section"]: len(s["correct"]) / max(1, len(s["correct"]) + len(s["incorrect"]))
                                 for s in sections[:-1]}}


def run_minirnn(args, seed) -> tuple[dict, Word2Vec]:
    m = Word2Vec(dim=args.dim, window=args.window, min_count=args.min_count, negative=args.negative,
                 sample=args.sample, epochs=args.epochs, workers=args.workers, seed=seed)
    m.train(args.corpus)
    ev = m.wv.evaluate_word_pairs(args.pairs)
    ev.update(analogies(m.wv, args.analogies))
    return {"seed": seed, "train_s": m.timings["train_s"], "vocab_s": m.timings["vocab_s"],
            "words_per_s": m.timings["words_per_s"], "loss_per_epoch": m.losses, **ev}, m


def run_gensim(args, seed, mode, sentences, sentence_file) -> tuple[dict, KeyedVectors]:
    from gensim.models import Word2Vec as GensimWord2Vec
    g = GensimWord2Vec(vector_size=args.dim, window=args.window, min_count=args.min_count, negative=args.negative,
                       sample=args.sample, epochs=args.epochs, workers=args.workers, seed=seed, sg=1, hs=0)
    src = {"corpus_iterable": sentences} if mode == "iterable" else {"corpus_file": sentence_file}
    t0 = time.perf_counter()
    g.build_vocab(**src)
    t1 = time.perf_counter()
    g.train(**src, total_examples=g.corpus_count, total_words=g.corpus_total_words, epochs=args.epochs)
    t2 = time.perf_counter()
    words = list(g.wv.index_to_key)
    kv = KeyedVectors(words, g.wv.vectors, [g.wv.get_vecattr(w, "count") for w in words])
    ev = kv.evaluate_word_pairs(args.pairs)
    ev.update(analogies(kv, args.analogies))
    return {"seed": seed, "train_s": t2 - t1, "vocab_s": t1 - t0, **ev}, kv


def main(argv=None):
    args = parse_args(argv)
    require(args.repeats >= 1, "--repeats must be >= 1")
    have_gensim = not args.no_gensim and common.reference("gensim") is not None
    modes = [m.strip() for m in args.gensim_modes.split(",") if m.strip()]
    require(all(m in ("iterable", "corpus_file") for m in modes), f"unknown --gensim-modes {args.gensim_modes}")

    # warm-up: load (or compile) the Numba kernels outside the timings
    Word2Vec(dim=8, min_count=1, epochs=1, workers=args.workers).train(args.pairs)

    results = {"benchmark": "word2vec skip-gram negative sampling", "machine": machine_info(args.workers),
               "params": {k: getattr(args, k) for k in ("dim", "window", "min_count", "negative", "sample",
                                                         "epochs", "workers", "seed", "repeats")},
               "corpus": os.path.basename(args.corpus), "pairs": os.path.basename(args.pairs),
               "analogies": os.path.basename(args.analogies)}
    runs, model = [], None
    for r in range(args.repeats):
        run, model = run_minirnn(args, args.seed + r)
        runs.append(run)
        print(f"minirnn  seed {run['seed']}: train {run['train_s']:.2f}s  spearman {run['spearman']:.3f}  "
              f"analogy {run['analogy']:.3f}", file=sys.stderr)
    words_per_epoch = model.vocab.total
    results["corpus_tokens"] = model.vocab.n_tokens
    results["vocab_tokens"] = words_per_epoch
    results["vocab_size"] = len(model.vocab)
    results["minirnn"] = summarize(runs, words_per_epoch, args.epochs)

    if have_gensim:
        sentences = list(iter_sentences(args.corpus))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            for s in sentences:
                f.write(" ".join(s) + "\n")
            sentence_file = f.name
        try:
            results["gensim"] = {}
            for mode in modes:
                runs = []
                for r in range(args.repeats):
                    run, kv = run_gensim(args, args.seed + r, mode, sentences, sentence_file)
                    runs.append(run)
                    print(f"gensim {mode} seed {run['seed']}: train {run['train_s']:.2f}s  "
                          f"spearman {run['spearman']:.3f}  analogy {run['analogy']:.3f}", file=sys.stderr)
                require(len(kv) == len(model.vocab), f"gensim's vocabulary has {len(kv)} words, minirnn's "
                                                     f"{len(model.vocab)}: the comparison would not be fair")
                results["gensim"][mode] = summarize(runs, words_per_epoch, args.epochs)
        finally:
            os.remove(sentence_file)
        best = max(results["gensim"].values(), key=lambda g: g["words_per_s"])
        mine = results["minirnn"]
        results["targets"] = {
            "throughput_ratio_vs_fastest_gensim": mine["words_per_s"] / best["words_per_s"],
            "spearman_minus_gensim": mine["spearman"] - best["spearman"],
            "throughput_met": mine["words_per_s"] >= best["words_per_s"],
            "quality_met": mine["spearman"] >= best["spearman"] - 0.03,
        }

    args.out = args.out or common.result_path(args, "word2vec.json")
    common.write_json(args.out, results)
    m = results["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores, {args.workers} threads; {results['vocab_tokens']} tokens x "
          f"{args.epochs} epochs, V={results['vocab_size']}, D={args.dim}")
    print(f"{'':22s} {'words/s':>10s} {'train s':>8s} {'spearman':>9s} {'pearson':>8s} {'analogy':>8s} {'cosmul':>7s}")
    rows = [("minirnn", results["minirnn"])]
    rows += [(f"gensim ({mode})", g) for mode, g in results.get("gensim", {}).items()]
    for name, r in rows:
        print(f"{name:22s} {r['words_per_s']:10.0f} {r['train_s']:8.2f} {r['spearman']:9.3f} {r['pearson']:8.3f} "
              f"{r['analogy']:8.3f} {r['analogy_cosmul']:7.3f}")
    if "targets" in results:
        t = results["targets"]
        print(f"throughput vs fastest gensim: x{t['throughput_ratio_vs_fastest_gensim']:.2f} "
              f"({'met' if t['throughput_met'] else 'NOT met'}); spearman difference "
              f"{t['spearman_minus_gensim']:+.3f} ({'met' if t['quality_met'] else 'NOT met'})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
