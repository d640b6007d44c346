#!/usr/bin/env python
"""Train the quantized word language model: corpus -> skip-gram -> k-means -> RNN over cluster ids.

    python scripts/train_word.py                                   # the bundled novel, K = 1500 clusters
    python scripts/train_word.py --vectors v.txt --quantizer q/    # reuse earlier stages
    python scripts/train_word.py --clusters 0                      # the plain full-vocabulary word model
    python scripts/train_word.py --resume                          # continue <checkpoint-dir>/latest.npz

Stages, each skipped when its output is given:
  1. word vectors: skip-gram word2vec on the corpus   -> <checkpoint-dir>/vectors.txt (+ .counts.json)
  2. quantizer: k-means of the vectors into K clusters -> <checkpoint-dir>/quantizer/
  3. the RNN: input = the frozen (K+1, D) centroid table (K clusters + <unk>), output = softmax over
     the K+1 classes, trained on the corpus's cluster-id sequence like the char model.
metrics.jsonl records the validation cross-entropy over clusters (val_loss, val_ppl) and the
word-level cross-entropy (word_ce, word_ppl): cluster CE + the within-cluster unigram term.
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: Numba kernels share 2 cores

import argparse
import math
import sys

import numpy as np

from minirnn import backend
from minirnn.cli import (HelpFormatter, StatusLine, add_model_flags, check_fingerprints, check_flags,
                         check_model_size, claim_checkpoint_dir, file_fingerprints, flags_dict,
                         make_optimizer, resume_and_run, resume_checkpoint, staged, trainer_kwargs)
from minirnn.errors import DataError, UsageError, interrupt_status, require, run_cli
from minirnn.exercises.cells import add_cell_file_flags, use_cell_files
from minirnn.keyedvectors import KeyedVectors
from minirnn.model import RNNLM
from minirnn.textio import check_input_file, check_text_file, default_corpus
from minirnn.trainer import Trainer
from minirnn.wordlm import WordTask, encode_corpus, generate, targets


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--corpus", default=None, help="UTF-8 text (default: the bundled Don Quijote)")
    w = p.add_argument_group("stage 1: word vectors")
    w.add_argument("--vectors", default=None, help="word2vec text/binary file to use instead of training one")
    w.add_argument("--dim", type=int, default=100, help="word-vector size D")
    w.add_argument("--min-count", type=int, default=5, help="words seen fewer times become <unk>")
    w.add_argument("--w2v-epochs", type=int, default=5, help="word2vec passes over the corpus")
    w.add_argument("--workers", type=int, default=None, help="word2vec threads (default: all cores)")
    q = p.add_argument_group("stage 2: quantizer")
    q.add_argument("--quantizer", default=None, help="directory saved by scripts/quantize.py to use instead of fitting one")
    q.add_argument("--clusters", type=int, default=1500, help="K clusters; 0 = no quantizer (plain word model)")
    q.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine", help="k-means distance")
    q.add_argument("--kmeans-iter", type=int, default=100, help="most Lloyd iterations")
    # lr 1e-2: measured from 2e-3 to 2e-2 with the char model's recipe (docs/recipe.md)
    add_model_flags(p, hidden=256, layers=1, batch=32, seq=32, lr=1e-2, iters=1000, eval_every=200,
                    checkpoint_dir="checkpoints/word")
    p.add_argument("--finetune-embedding", action="store_true", help="train the input table instead of freezing it")
    p.add_argument("--sample-length", type=int, default=30, help="words in each printed sample")
    p.add_argument("--sample-start", default="en un lugar de la mancha", help="start words of printed samples")
    add_cell_file_flags(p)                                     # --rnn-file, --lstm-file, --gru-file
    return p


def word_vectors(args):
    """Stage 1: load --vectors, or train word2vec and save it in the checkpoint directory."""
    if args.vectors:
        return KeyedVectors.load(args.vectors)
    from minirnn.word2vec import Word2Vec
    print(f"stage 1: skip-gram word2vec on {args.corpus} (dim {args.dim}, {args.w2v_epochs} epochs)")
    w2v = Word2Vec(dim=args.dim, min_count=args.min_count, epochs=args.w2v_epochs,
                   workers=args.workers, seed=args.seed + 1)
    status = StatusLine()

    def progress(p):
        status(f"  epoch {p.epoch}/{p.epochs} loss {p.loss:.4f} {p.words_per_s:,.0f} words/s "
               f"ETA {p.eta_s:.0f}s", force=p.words_done >= p.words_total)
    w2v.train(args.corpus, progress=progress)
    status.done()
    path = os.path.join(os.path.abspath(args.checkpoint_dir), "vectors.txt")
    w2v.wv.save_word2vec_format(staged(path))     # beside the old run until the first checkpoint (--overwrite)
    args.vectors = path
    print(f"  saved {len(w2v.wv):,} vectors to {path}")
    return w2v.wv


def load_quantizer(path):
    from minirnn.quantizer import EmbeddingQuantizer
    try:
        return EmbeddingQuantizer.load(path)
    except (ValueError, OSError) as e:
        raise UsageError(f"--quantizer: {e}") from None


def quantizer(args, kv, q=None):
    """Stage 2: the --quantizer loaded up front (q), or fit k-means on the vectors and save it."""
    from minirnn.quantizer import EmbeddingQuantizer
    if args.quantizer:
        q = q or load_quantizer(args.quantizer)
        if q.words != list(kv.index_to_key):
            raise UsageError(f"{args.quantizer}: the quantizer was fitted on other word vectors than {args.vectors}")
        if q.centroids.shape[1] != kv.vector_size:
            raise UsageError(f"{args.quantizer}: its centroids have {q.centroids.shape[1]} dimensions, the "
                             f"vectors {args.vectors} {kv.vector_size}: it was fitted on other word vectors")
        return q
    require(args.clusters <= len(kv), f"--clusters {args.clusters} is more than the {len(kv)} words")
    print(f"stage 2: k-means, {args.clusters} clusters ({args.metric}) of {len(kv):,} word vectors")

    status = StatusLine()

    def progress(info):
        status(f"  iteration {info.iteration}: inertia {info.inertia:.4f}, moved {info.moved}",
               force=info.moved == 0)
    q = EmbeddingQuantizer(args.clusters, metric=args.metric, seed=args.seed, max_iter=args.kmeans_iter,
                           callback=progress)
    try:
        q.fit(kv.index_to_key, kv.vectors, kv.counts)
    except DataError as e:      # k-means' checks of the data (all-zero vectors for cosine, ...)
        raise UsageError(f"{args.vectors}: {e}") from None
    status.done()
    path = os.path.join(os.path.abspath(args.checkpoint_dir), "quantizer")
    q.save(staged(path))
    args.quantizer = path
    print(f"  saved to {path}: reconstruction error {q.reconstruction_error:.3f}, "
          f"compression {q.compression_ratio:.1f}x")
    return q


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    arrays, meta = resume_checkpoint(build_parser, args, argv, kind="word", must_match=(
        "corpus", "vectors", "quantizer", "clusters", "dim", "min_count", "w2v_epochs", "metric",
        "finetune_embedding"), paths=("corpus", "vectors", "quantizer"))
    # every check before the long work (word2vec, k-means): flags, inputs, outputs, sizes
    require(args.clusters >= 0, f"--clusters must be >= 0, got {args.clusters}")
    require(args.dim >= 1, f"--dim must be >= 1, got {args.dim}")
    require(args.min_count >= 1, f"--min-count must be >= 1, got {args.min_count}")
    require(args.w2v_epochs >= 1, f"--w2v-epochs must be >= 1, got {args.w2v_epochs}")
    require(args.kmeans_iter >= 1, f"--kmeans-iter must be >= 1, got {args.kmeans_iter}")
    require(0 <= args.sample_length <= 100_000,
            f"--sample-length must be in 0..100000 (a printed sample), got {args.sample_length}")
    import numba
    max_threads = numba.config.NUMBA_NUM_THREADS
    require(args.workers is None or 1 <= args.workers <= max_threads,
            f"--workers must be between 1 and {max_threads}, got {args.workers}")
    check_flags(args)
    for line in use_cell_files(args):                          # the learner's own cell, once checked
        print(line)
    args.corpus = os.path.abspath(args.corpus or default_corpus())
    check_text_file(args.corpus)
    if args.vectors:
        check_input_file(args.vectors, "word-vectors file")
    q_loaded = load_quantizer(args.quantizer) if args.quantizer and args.clusters > 0 else None
    outputs = ([] if args.vectors else ["vectors.txt", "vectors.txt.counts.json"]) + \
        ([] if args.quantizer or args.clusters == 0 else ["quantizer"])
    claim_checkpoint_dir(args, outputs, meta=meta, inputs={
        "--corpus": args.corpus, "--vectors": args.vectors,
        "--vectors counts": args.vectors and args.vectors + ".counts.json",
        **({f"--quantizer's {n}": os.path.join(args.quantizer, n) for n in ("quantizer.npz", "quantizer.json")}
           if args.quantizer else {})})
    files = {"corpus": args.corpus, "vectors": args.vectors}
    if meta is not None:
        check_fingerprints(meta, files)
    try:
        kv = word_vectors(args)
        q = quantizer(args, kv, q_loaded) if args.clusters > 0 else None
    except KeyboardInterrupt as e:
        print("\ninterrupted before training started: nothing to save", file=sys.stderr)
        return interrupt_status(e)
    files["vectors"] = args.vectors                     # trained in stage 1, or given
    vectors = np.asarray(kv.vectors, dtype=np.float32)
    task = (WordTask.clusters(kv.index_to_key, vectors, q.labels, q.centroids) if q is not None
            else WordTask.plain(kv.index_to_key, vectors))
    if meta is not None and meta["words"] != task.words:
        raise UsageError("the checkpoint's vocabulary differs from these word vectors: resume with the "
                         "same --corpus, --vectors and --quantizer")
    check_model_size(args, task.C, task.embedding.shape[1])
    word_ids, n_unk = encode_corpus(args.corpus, kv.key_to_index)
    train, val, val_words = task.split(word_ids, args.val_frac, args.batch, args.seq)
    task.fit_within(word_ids[:len(word_ids) - int(len(word_ids) * args.val_frac)])
    within = task.within_ce(targets(val_words))
    model = RNNLM(task.C, hidden=args.hidden, layers=args.layers, cell=args.model, dropout=args.dropout,
                  embedding=task.embedding, freeze_embedding=not args.finetune_embedding, seed=args.seed,
                  dtype=np.dtype(args.dtype))
    opt, schedule = make_optimizer(args, model, len(train))
    print(f"corpus {args.corpus}: {len(word_ids):,} words ({n_unk / len(word_ids):.1%} <unk>), "
          f"vocabulary {len(kv):,}; {'clusters K=' + str(task.C - 1) if q is not None else 'plain word model'}"
          f" -> {task.C} classes; {len(train)} training windows of {args.batch}x{args.seq}")
    print(f"model {args.layers}-layer {args.model.upper()}, H={args.hidden}, input table {task.embedding.shape} "
          f"({'trained' if args.finetune_embedding else 'frozen'}), "
          f"{sum(int(v.size) for v in model.trainable().values()):,} trainable parameters; backend {backend.get_backend()}")

    start_ids, _ = task.word_ids(args.sample_start.lower().split())
    start_ids = start_ids or [0]

    def sample_fn(model, rng):
        return " ".join(task.words[w] for w in generate(model, task, start_ids, args.sample_length, rng,
                                                        temperature=0.8))

    def metrics_fn(val_loss):
        word_ce = val_loss + within
        return {"cluster_ce": val_loss if q is not None else None, "word_ce": word_ce,
                "word_ppl": math.exp(min(word_ce, 700))}

    trainer = Trainer(model, opt, train, val, **trainer_kwargs(args, schedule), sample_fn=sample_fn,
                      metrics_fn=metrics_fn, extra_arrays=task.arrays(), unit="words",
                      meta={"kind": "word", "flags": flags_dict(args), "words": task.words,
                            "clustered": task.clustered, "files": file_fingerprints(files)})
    status = resume_and_run(trainer, arrays, meta)
    if status == 0 and trainer.it >= args.iters:
        print(f"done: best validation cross-entropy {trainer.best_val:.4f} nats per "
              f"{'cluster' if q is not None else 'word'} (word level {trainer.best_val + within:.4f}); "
              f"generate with: python scripts/generate_words.py --checkpoint {args.checkpoint_dir}/best.npz")
    return status


if __name__ == "__main__":
    sys.exit(run_cli(main))
