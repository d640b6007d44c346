#!/usr/bin/env python
"""What quantizing the vocabulary costs and gains: cluster models (K clusters) vs a plain word model.

All models share the corpus, the word vectors, the train/validation split, the RNN (cell, H, L),
the batches, the optimiser and its schedule (train_word.py's defaults), the seed and the number of
iterations; they differ only in what they predict and read:
    cluster model (K)   input = frozen (K+1, D) centroid table, softmax over K+1 classes
    plain word model    input = frozen (V+1, D) word-vector table, softmax over V+1 words

Reported per model
    embedding / output layer: parameters and bytes (plus, for the cluster model, the word->cluster
        map and p(w | c) needed to get words back)
    ms per training step (median after the first min(10, iters // 2) steps) and the bytes of the
        logits of one step
    validation quality, comparable across models:
        word-level CE   cluster model: cluster CE + within-cluster unigram CE (wordlm.py, eq. 3)
                        plain model: its CE
        cluster-level CE for each K: the cluster model's own CE; the plain model's word
                        distribution summed over each cluster's members
Writes quantized_lm.json to --out-dir.
"""
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import common  # noqa: E402

from minirnn.errors import run_cli  # noqa: E402

from minirnn.keyedvectors import KeyedVectors  # noqa: E402
from minirnn.layers import softmax_ce  # noqa: E402
from minirnn.model import RNNLM  # noqa: E402
from minirnn.cli import make_optimizer  # noqa: E402
from minirnn.quantizer import EmbeddingQuantizer  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402
from minirnn.trainer import Trainer  # noqa: E402
from minirnn.wordlm import WordTask, encode_corpus, targets  # noqa: E402

SMOKE_ARGS = ["--iters", "4", "--clusters", "8", "--hidden", "8", "--w2v-dim", "8", "--w2v-epochs", "1",
              "--eval-windows", "2", "--threads", "1"]


def recipe_flags(iters, lr, clip):
    """train_word.py's training flags (its defaults, with these three set): its optimizer, bias
    learning rate and schedule are what every model here trains with."""
    import train_word
    return train_word.build_parser().parse_args(["--iters", str(iters), "--clip", str(clip)] +
                                                (["--lr", str(lr)] if lr is not None else []))


def train(model, train_w, val_w, flags):
    """minirnn's own loop (Trainer.step) with train_word.py's recipe, nothing saved; returns the
    seconds of each step."""
    opt, schedule = make_optimizer(flags, model, len(train_w))
    iters = flags.iters
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, opt, train_w, val_w, iters=iters, eval_every=iters, checkpoint_dir=tmp,
                          meta={}, clip=flags.clip, schedule=schedule)
        times = []
        for it in range(iters):
            t0 = time.perf_counter()
            trainer.step()
            times.append(time.perf_counter() - t0)
            if (it + 1) % 100 == 0:
                print(f"    iter {it + 1}/{iters} loss {float(trainer.last_loss):.3f} "
                      f"{np.median(times[-100:]) * 1e3:.0f} ms/step", flush=True)
    return times


def evaluate(model, val_w, cluster_maps=(), windows=None):
    """Mean CE over the first `windows` validation windows (all by default), and for each
    (K, labels) the CE of the distribution summed onto clusters (for the plain word model)."""
    total, state = 0.0, None
    totals = np.zeros(len(cluster_maps))
    n = len(val_w) if not windows else min(windows, len(val_w))
    for k in range(n):
        x, y = val_w.window(k)
        logits, state, _ = model.forward(x, state)                   # (B, T, C)
        total += float(softmax_ce.per_token(logits, y).mean())
        if cluster_maps:
            z = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)                         # (M, V+1)
            for j, (order, starts, labels) in enumerate(cluster_maps):
                pc = np.add.reduceat(p[:, order], starts, axis=1)     # (M, K+1) summed over members
                totals[j] += -np.log(pc[np.arange(p.shape[0]), labels[y.reshape(-1)]]).mean()
    return total / n, totals / n


def cluster_map(labels):
    """(order, starts, labels): words sorted by cluster, and where each cluster starts."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(labels.max() + 1))
    return order, starts, labels


def layer_sizes(task, model, V):
    emb = task.embedding.size
    out = model.params["out.W"].size + model.params["out.b"].size
    maps = (V + 1) * (8 + 8) if task.clustered else 0               # labels int64 + logp float64
    return {"classes": task.C, "embedding_params": int(emb), "embedding_bytes": int(emb * 4),
            "output_params": int(out), "output_bytes": int(out * 4), "word_map_bytes": int(maps)}


def step_ms(times) -> float:
    """Median ms of a step, leaving out the first min(10, half) steps (compilation, first touch)."""
    return float(np.median(times[min(10, len(times) // 2):]) * 1e3)


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--corpus", default=None, help="UTF-8 corpus (default: the bundled novel)")
    p.add_argument("--vectors", default=None, help="word2vec file (default: train one, --w2v-dim, --w2v-epochs)")
    p.add_argument("--w2v-dim", type=common.count, default=100, help="without --vectors: the vectors' size")
    p.add_argument("--w2v-epochs", type=common.count, default=5, help="without --vectors: word2vec's epochs")
    p.add_argument("--clusters", type=common.counts, default=[256, 1500], help="comma list of K")
    p.add_argument("--metric", default="cosine", choices=("cosine", "euclidean"))
    p.add_argument("--model", default="lstm", choices=("lstm", "gru", "rnn"))
    for flag, default in (("--hidden", 256), ("--layers", 1), ("--batch", 32), ("--seq", 32), ("--iters", 1000)):
        p.add_argument(flag, type=common.count, default=default)
    p.add_argument("--lr", type=common.positive, default=None, help="Adam's peak rate (default: train_word.py's)")
    p.add_argument("--clip", type=common.positive, default=5.0)
    p.add_argument("--eval-windows", type=common.count, default=None,
                   help="validate on the first N windows (default: all); for quick runs only, the within-"
                        "cluster term still counts the whole split")
    p.add_argument("--threads", type=common.count, default=2)
    p.add_argument("--seed", type=common.natural, default=0)
    common.add_output_args(p)
    args = p.parse_args(argv)
    out = common.result_path(args, "quantized_lm.json")
    threads = common.set_threads(args.threads)
    corpus = args.corpus or default_corpus()
    if args.vectors:
        kv = KeyedVectors.load(args.vectors)
    else:
        kv = common.word_vectors(corpus, args.w2v_dim, args.w2v_epochs, args.threads, args.seed + 1)
    vectors = np.asarray(kv.vectors, dtype=np.float32)
    V = len(kv)
    word_ids, n_unk = encode_corpus(corpus, kv.key_to_index)
    n_train = len(word_ids) - int(len(word_ids) * 0.1)
    tasks = {}
    for K in args.clusters:
        print(f"k-means K={K}", flush=True)
        q = EmbeddingQuantizer(K, metric=args.metric, seed=args.seed).fit(kv.index_to_key, vectors, kv.counts)
        tasks[f"clusters_{K}"] = WordTask.clusters(kv.index_to_key, vectors, q.labels, q.centroids)
    tasks["plain_words"] = WordTask.plain(kv.index_to_key, vectors)
    flags = recipe_flags(args.iters, args.lr, args.clip)
    results = {}
    for name, task in tasks.items():
        task.fit_within(word_ids[:n_train])
        train_w, val_w, val_words = task.split(word_ids, 0.1, args.batch, args.seq)
        model = RNNLM(task.C, hidden=args.hidden, layers=args.layers, cell=args.model,
                      embedding=task.embedding, seed=args.seed)
        print(f"{name}: {task.C} classes, training {args.iters} iterations", flush=True)
        times = train(model, train_w, val_w, flags)
        maps = [] if task.clustered else [cluster_map(tasks[f"clusters_{K}"].labels) for K in args.clusters]
        ce, cluster_ces = evaluate(model, val_w, maps, args.eval_windows)
        within = task.within_ce(targets(val_words))
        r = layer_sizes(task, model, V)
        r.update({
            "ms_per_step_median": step_ms(times),
            "logits_bytes_per_step": int(args.batch * args.seq * task.C * 4),
            "val_word_ce": ce + within,
            "val_word_ppl": math.exp(ce + within),
            "val_cluster_ce": {str(K): float(c) for K, c in zip(args.clusters, cluster_ces)}
            if not task.clustered else {str(task.C - 1): ce},
            "within_cluster_ce": within,
        })
        results[name] = r
        print(f"  {name}: word CE {r['val_word_ce']:.3f} (ppl {r['val_word_ppl']:.0f}), cluster CE "
              f"{r['val_cluster_ce']}, {r['ms_per_step_median']:.1f} ms/step, "
              f"embedding+output {(r['embedding_bytes'] + r['output_bytes']) / 1e6:.2f} MB", flush=True)
    base = results["plain_words"]
    summary = [common.row(f"quantized word LM, K = {name[9:]} against the plain word model ({V:,} words), word-level CE",
                          f"{r['val_word_ce']:.3f} nats, {r['ms_per_step_median']:.1f} ms/step", "minirnn's plain word model",
                          f"{base['val_word_ce']:.3f} nats, {base['ms_per_step_median']:.1f} ms/step",
                          r["ms_per_step_median"] / base["ms_per_step_median"], "ratio of step times")
               for name, r in results.items() if name != "plain_words"]
    payload = {"benchmark": "bench_quantized_lm", "machine": common.machine(), "threads": threads,
               "command": common.command_line(), "summary": summary,
               "config": vars(args) | {"corpus": corpus, "vocabulary": V, "tokens": int(len(word_ids)),
                                       "unk_rate": n_unk / len(word_ids)},
               "recipe": {k: getattr(flags, k) for k in ("optimizer", "lr", "bias_lr", "lr_schedule", "warmup",
                                                          "lr_decay_frac", "lr_floor", "clip", "iters")},
               "results": results}
    print("wrote", common.write_json(out, payload))
    print(f"\n{'model':>14} {'classes':>8} {'emb+out MB':>10} {'ms/step':>8} {'word CE':>8} {'ppl':>6}")
    for name, r in results.items():
        print(f"{name:>14} {r['classes']:>8} {(r['embedding_bytes'] + r['output_bytes']) / 1e6:>10.2f} "
              f"{r['ms_per_step_median']:>8.1f} {r['val_word_ce']:>8.3f} {r['val_word_ppl']:>6.0f}"
              f"   speed {base['ms_per_step_median'] / r['ms_per_step_median']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
