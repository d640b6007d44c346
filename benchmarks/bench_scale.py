#!/usr/bin/env python
"""The word pipeline at Wikipedia's scale: each stage's time and peak RSS on a synthetic corpus of
Wikipedia's shape at several sizes, each stage's log-log slope, minirnn's k-means against
scikit-learn's on every vector kept, and the projection to the Spanish Wikipedia (docs/scale.md).

    flock /work/wt/bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_scale.py
    python benchmarks/bench_scale.py --large           # 100M tokens as well (an hour here, 1.5 GB of disk)
    python benchmarks/bench_scale.py --sizes 100 --stages vocab,word2vec --tmp D --keep   # a part, files kept
    python benchmarks/bench_scale.py --merge a.json b.json      # fit and project runs made apart

Corpus: ranks drawn from Zipf's law (s = 1.07) over --types words (Spanish-like syllables, ñ and
accents), sentences of 8-40 words, about four a line (a paragraph), a blank line every eighth
paragraph (an article, as get_corpus writes). Each stage is a fresh process; its peak RSS is the
process's ru_maxrss (os.wait4), interpreter and libraries included; the load average after it is kept:
  vocab       Word2Vec.build_vocab, min-count 5 (the counting pass and the id cache)
  word2vec    scripts/train_word2vec.py --epochs 1 --binary (its vocabulary pass included); once more
              with --max-vocab --fixed-vocab, the same V at every size
  kmeans      scripts/quantize.py --clusters K --max-iter M --tol 0 (loading and saving included)
  compare     KMeans.fit alone, minirnn's (float32) and scikit-learn's (float64, its fast path), k-means++
              and M Lloyd iterations on the same unit vectors, alternated, --repeats times: medians
  encode      wordlm.encode_corpus + WordTask.split + fit_within: train_word's loading of the corpus
  train_word  scripts/train_word.py --vectors --quantizer --iters 100 --eval-every 100 --val-frac F
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
              "--iters", "2", "--hidden", "8", "--fixed-vocab", "300"]
SYLLABLES = [c + v for c in ("", "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "ll", "ñ",
                             "qu", "z", "j") for v in "aeiou"] + list("áéíóú")
STAGES = ("vocab", "word2vec", "kmeans", "encode", "train_word")
TIME_OF = {"vocab": "s", "word2vec": "epoch_s", "kmeans": "fit_s", "encode": "s", "train_word": "wall_s"}
KEPT = ("wall_s", "cpu_s", "peak_rss_mb", "load")


def word(rank: int) -> str:
    """The rank-th type: rank in bijective base 105, a syllable a digit (frequent words are short)."""
    out, rank = [], rank + 1
    while rank:
        rank -= 1
        out.append(SYLLABLES[rank % len(SYLLABLES)])
        rank //= len(SYLLABLES)
    return "".join(out)


def write_corpus(path: str, n_tokens: int, n_types: int, s: float = 1.07, seed: int = 0, chunk: int = 1 << 20):
    """n_tokens Zipf(s) words in sentences, paragraphs (lines) and articles (blank lines), a chunk at a time."""
    rng = np.random.default_rng(seed)
    pieces = [word(r).encode() for r in range(n_types)] + [b" ", b". ", b".\n", b".\n\n"]
    lens = np.fromiter(map(len, pieces), np.int64, len(pieces))                   # (types + 4,)
    starts, pool = np.cumsum(lens) - lens, np.frombuffer(b"".join(pieces), np.uint8)
    cdf = np.cumsum(np.arange(1, n_types + 1, dtype=np.float64) ** -s)
    cdf /= cdf[-1]                                                                # (types,)
    with open(path, "wb") as f:
        for lo in range(0, n_tokens, chunk):
            n = min(chunk, n_tokens - lo)
            ranks = np.minimum(np.searchsorted(cdf, rng.random(n)), n_types - 1)  # (n,)
            sep = np.full(n, n_types)                                             # (n,) a space after each word
            ends = np.cumsum(rng.integers(8, 41, size=n // 8 + 2)) - 1            # sentence ends
            sep[ends[ends < n]] = n_types + 1
            para = ends[ends < n][rng.random(int((ends < n).sum())) < 0.25]
            sep[para] = n_types + 2
            sep[para[rng.random(len(para)) < 0.125]] = n_types + 3
            seq = np.stack([ranks, sep], axis=1).reshape(-1)                      # (2n,) word, separator, ...
            L = lens[seq]
            f.write(pool[np.repeat(starts[seq] - (np.cumsum(L) - L), L) + np.arange(L.sum())].tobytes())


def spawn(*argv) -> dict:
    """Run a Python file in a fresh process: its stdout, seconds, CPU seconds, peak RSS (MB) and the load
    average after it; raises with its stderr if it fails. Idle OpenMP threads sleep (a shared machine)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([sys.executable, *map(str, argv)], stdout=out, stderr=err, cwd=ROOT,
                             env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:2]))} failed:\n{stderr[-3000:]}")
    return {"stdout": stdout, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "load": os.getloadavg()}


def script(name, *argv) -> dict:
    """scripts/NAME with argv: its figures, its stdout's lines under "lines"."""
    r = spawn(os.path.join(ROOT, "scripts", name), *argv)
    return {"lines": r["stdout"].splitlines(), **{k: r[k] for k in KEPT}}


def child(name, *args) -> dict:
    """A library stage in a fresh process (this file, --child NAME): its JSON line and figures."""
    r = spawn(__file__, "--child", name, *args)
    return {**json.loads(r["stdout"].splitlines()[-1]), **{k: r[k] for k in KEPT}}


def run_child(name, args) -> int:
    """The --child side: one stage in this process, timed; prints one JSON line."""
    common.set_threads(2)
    from minirnn.keyedvectors import KeyedVectors
    t = time.perf_counter()
    if name == "corpus":
        write_corpus(args[0], int(args[1]), int(args[2]))
        out = {}
    elif name == "vocab":
        from minirnn.word2vec import Word2Vec
        m = Word2Vec(min_count=5)
        out = {"ids": m.build_vocab(args[0], args[1]), "V": len(m.vocab), **m.counting}
        os.remove(args[1])
    elif name == "encode":
        from minirnn.quantizer import EmbeddingQuantizer
        from minirnn.wordlm import WordTask, encode_corpus
        kv, q = KeyedVectors.load(args[1]), EmbeddingQuantizer.load(args[2])
        t = time.perf_counter()
        ids, _ = encode_corpus(args[0], kv.key_to_index)
        task = WordTask.clusters(kv.index_to_key, kv.vectors, q.labels, q.centroids)
        train, val, _ = task.split(ids, 0.1, 32, 32)
        task.fit_within(ids[:len(ids) - int(len(ids) * 0.1)])
        out = {"tokens": len(ids), "windows": len(train) + len(val)}
    else:                                                       # kmeans-minirnn, kmeans-sklearn
        X = KeyedVectors.load(args[0]).vectors
        X = X / np.linalg.norm(X, axis=1, keepdims=True)        # (V, D) unit vectors, for both sides
        if name == "kmeans-sklearn":                            # float64: with float32 its k-means++ upcasts
            from sklearn.cluster import KMeans                  # in chunks at every step, ~10x slower here
            X, kw = X.astype(np.float64), {"algorithm": "lloyd", "random_state": 0}
        else:
            from minirnn.kmeans import KMeans
            kw = {"seed": 0, "metric": "cosine"}
        KMeans(8, n_init=1, max_iter=1, **kw).fit(X[:2000])     # warm-up: kernels loaded, thread pools up
        t = time.perf_counter()
        km = KMeans(int(args[1]), init="k-means++", n_init=1, max_iter=int(args[2]), tol=0, **kw).fit(X)
        out = {"n_iter": int(km.n_iter_), "N": int(X.shape[0])}
    print(json.dumps({**out, "s": time.perf_counter() - t}))
    return 0


def word2vec(corpus, out, *flags) -> dict:
    """One epoch of scripts/train_word2vec.py: its figures, the epoch's seconds and words/s."""
    r = script("train_word2vec.py", "--corpus", corpus, "--epochs", 1, "--workers", 2, "--binary", "--out", out,
               "--show", *flags)
    line = next(x for x in r.pop("lines") if x.startswith("vocabulary:"))
    return {**r, "V": int(line.split()[1]), "epoch_s": float(line.split("training ")[1].split("s")[0]),
            "words_per_s": float(line.split("(")[1].split("k words/s")[0]) * 1e3}


def scale_run(tokens: int, args, tmp: str) -> dict:
    """The stages asked for at one corpus size; files a later stage needs stay in tmp."""
    corpus, vec, quant = (os.path.join(tmp, n) for n in ("corpus.txt", "vectors.bin", "quant"))
    after = ("kmeans", "compare", "encode", "train_word") if args.on_fixed_vocab else ()
    if after:                                                   # the stages after word2vec on its --max-vocab vectors
        vec, quant = vec + ".fixed", quant + ".fixed"
    if not os.path.exists(corpus):      # in a child: a process's peak RSS passes to the processes it starts
        r = child("corpus", corpus, tokens, args.types)
        print(f"{tokens / 1e6:g}M tokens: corpus written ({os.path.getsize(corpus) / 2 ** 20:.0f} MB, "
              f"{r['wall_s']:.0f} s)", flush=True)
    res, stages = {"tokens": tokens}, args.stages.split(",")
    if "vocab" in stages:
        res["vocab"] = child("vocab", corpus, os.path.join(tmp, "ids"))
    if "word2vec" in stages:
        res["word2vec"] = word2vec(corpus, vec)
        if args.fixed_vocab:                                    # the same V at every size: streaming alone
            res["word2vec_fixed_vocab"] = word2vec(corpus, vec + ".fixed", "--max-vocab", args.fixed_vocab)
    if "kmeans" in stages:
        r = script("quantize.py", "--vectors", vec, "--clusters", args.clusters, "--max-iter", args.kmeans_iter,
                   "--tol", 0, "--out", quant, "--show", 0, "--threads", 2, "--overwrite")
        lines = r.pop("lines")
        at = [float(x.rsplit("(", 1)[1].split()[0]) for x in lines if " iter " in x]  # seconds at each iteration
        per_iter = (at[-1] - at[0]) / max(len(at) - 1, 1)
        res["kmeans"] = {**r, "V": int(lines[0].split()[1]), "iter_s": per_iter, "kpp_s": at[0] - per_iter,
                         "fit_s": float(next(x for x in lines if x.startswith("done in")).split()[2])}
    if "compare" in stages and common.reference("sklearn"):
        fits = {"minirnn": [], "sklearn": []}
        for _ in range(args.repeats):                           # alternated, separate processes
            for side in fits:
                fits[side].append(child(f"kmeans-{side}", vec, args.clusters, args.kmeans_iter))
        res["compare"] = {side: {"median_s": statistics.median(f["s"] for f in runs),
                                 "median_cpu_s": statistics.median(f["cpu_s"] for f in runs), "runs": runs}
                          for side, runs in fits.items()}
    if "encode" in stages:
        res["encode"] = child("encode", corpus, vec, quant)
    if "train_word" in stages:
        r = script("train_word.py", "--corpus", corpus, "--vectors", vec, "--quantizer", quant, "--iters", args.iters,
                   "--eval-every", args.iters, "--print-every", args.iters, "--val-frac", args.val_frac, "--hidden",
                   args.hidden, "--sample-length", 0, "--checkpoint-dir", os.path.join(tmp, "ck"), "--overwrite")
        ev = [x for x in r.pop("lines") if x.strip().startswith("val loss")][-1]
        res["train_word"] = {**r, "val_frac": args.val_frac, "eval_s": float(ev.rsplit("[", 1)[1].rstrip("s]"))}
    return {k + "_fixed_vocab" if k in after else k: v for k, v in res.items()}


def fits(runs: list, tokens: float, vocab: int, types: int, epochs: int, iters: int) -> tuple[dict, dict]:
    """(slopes, projection). Slopes: least squares of log time and log peak RSS on log tokens, per stage
    (also on the --fixed-vocab vectors), over the sizes that ran it. Projection to `tokens` tokens,
    V = `vocab`, `types` words held while counting: time from the largest timed run's rate per token
    (vocabulary pass, encoding), from words/s fitted on log V (word2vec; words/s counts kept words, the
    projection every token: an upper bound),
    from seconds per vector of k-means++ and of a Lloyd iteration (k-means); "s_own_cores" scales each
    by CPU seconds / (threads x wall seconds) of that run: the same work on cores of its own. Peak RSS
    from a straight line through the runs, in types held (vocabulary pass) or in V (the others)."""
    def slope(st, key):                                         # over the sizes that ran the stage
        has = [r for r in runs if st in r]
        return float(np.polyfit(np.log([r["tokens"] for r in has]), np.log([r[st][key] for r in has]), 1)[0]) \
            if len(has) > 1 else None
    slopes = {st: {"time": slope(st, TIME_OF[next(b for b in STAGES if st.startswith(b))]),
                   "cpu": slope(st, "cpu_s"), "peak_rss": slope(st, "peak_rss_mb")}
              for st in [s + f for s in STAGES for f in ("", "_fixed_vocab")] if any(st in r for r in runs)}
    timed = lambda st: [r for r in runs if st in r and "word2vec" in r]  # noqa: E731

    def rss(st, x, at):                                         # a line through the runs of the stage
        pts = [(x(r), r[st]["peak_rss_mb"]) for r in timed(st)]
        return float(np.polyval(np.polyfit(*zip(*pts), min(1, len({p[0] for p in pts}) - 1)), at)) if pts else None

    def own(st, s, threads):                                    # the run's seconds as on cores of its own
        r = timed(st)[-1][st]
        return {"s": s, "s_own_cores": s * min(1.0, r["cpu_s"] / (threads * r["wall_s"]))}
    if not all(timed(st) for st in ("vocab", "word2vec", "kmeans", "encode")):
        return slopes, {}
    V_of = lambda r: r["word2vec"]["V"]  # noqa: E731
    w = timed("word2vec")

    def on_log_v(ys):                                           # a line in log V, at V = vocab
        xs = np.log([V_of(r) for r in w])
        return float(np.exp(np.polyval(np.polyfit(xs, np.log(ys), min(1, len(set(xs)) - 1)), np.log(vocab))))
    wps = on_log_v([r["word2vec"]["words_per_s"] for r in w])
    counting = rss("vocab", lambda r: r["vocab"]["types_held"], types)
    voc, k, enc = timed("vocab")[-1], timed("kmeans")[-1], timed("encode")[-1]
    own_wps = [2 * r["word2vec"]["words_per_s"] * r["word2vec"]["epoch_s"]  # the epoch's CPU seconds: the process's
               / (r["word2vec"]["cpu_s"] - r["vocab"]["cpu_s"]) for r in w if "vocab" in r]  # less the counting pass's
    own_wps = on_log_v(own_wps) if len(own_wps) == len(w) else None                       # on 2 cores of its own
    pj = {"vocab": {**own("vocab", tokens / voc["tokens"] * voc["vocab"]["s"], 1), "peak_rss_mb": counting},
          "word2vec": {**own("word2vec", epochs * tokens / wps, 2), "words_per_s": wps,
                       "peak_rss_mb": max(rss("word2vec", V_of, vocab), counting)},
          "kmeans": {**own("kmeans", vocab / k["kmeans"]["V"] * (k["kmeans"]["kpp_s"] + iters * k["kmeans"]["iter_s"]),
                           2),
                     "peak_rss_mb": rss("kmeans", V_of, vocab)},
          "encode": {**own("encode", tokens / enc["tokens"] * enc["encode"]["s"], 1),
                     "peak_rss_mb": rss("encode", V_of, vocab)},
          "train_word": {"peak_rss_mb": rss("train_word", V_of, vocab)}}
    if own_wps is not None:
        pj["word2vec"].update(s_own_cores=epochs * tokens / own_wps, words_per_s_own_cores=own_wps)
    pj["total_s"] = sum(v.get("s", 0.0) for v in pj.values())
    pj["total_s_own_cores"] = sum(v.get("s_own_cores", 0.0) for v in pj.values() if isinstance(v, dict))
    return slopes, {"tokens": tokens, "V": vocab, "types_held": types, "epochs": epochs, "kmeans_iter": iters, **pj}


def report(r: dict) -> None:
    parts = [f"{r['tokens'] / 1e6:g}M tokens"]
    for st in STAGES + ("word2vec_fixed_vocab",):
        if st in r:
            wps = f", {r[st]['words_per_s'] / 1e3:.0f}k words/s, V {r[st]['V']:,}" if "words_per_s" in r[st] else ""
            parts.append(f"{st} {r[st][TIME_OF.get(st, 'epoch_s')]:.1f} s{wps}, {r[st]['peak_rss_mb']:.0f} MB")
    if "compare" in r:
        m, k = r["compare"]["minirnn"], r["compare"]["sklearn"]
        parts.append(f"k-means fit {m['median_s']:.1f} s = {m['median_s'] / k['median_s']:.2f}x scikit-learn's "
                     f"{k['median_s']:.1f} s (process CPU time {m['median_cpu_s'] / k['median_cpu_s']:.2f}x)")
    print(" | ".join(parts), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, kind, default, text in (
            ("--sizes", str, "10,30", "corpus sizes, millions of tokens"), ("--types", int, 5_000_000, "Zipf's types"),
            ("--stages", str, "vocab,word2vec,kmeans,compare,encode,train_word", "the stages to run"),
            ("--clusters", int, 1500, "K"), ("--kmeans-iter", int, 10, "Lloyd iterations (tol 0), both libraries"),
            ("--repeats", int, 3, "alternated k-means fits of each library (median)"),
            ("--fixed-vocab", int, 100_000, "word2vec once more with this --max-vocab (0: no)"),
            ("--iters", int, 100, "train_word iterations"),
            ("--val-frac", float, 0.01, "train_word's validation share"),
            ("--hidden", int, 256, "train_word's H"), ("--tmp", str, None, "folder for the stages' files ($TMPDIR)"),
            ("--out", str, None, "JSON path (default: scale.json in --out-dir)")):
        p.add_argument(flag, type=kind, default=default, help=text)
    p.add_argument("--large", action="store_true", help="add the 100M-token size")
    p.add_argument("--keep", action="store_true", help="keep --tmp's files for a later run of other --stages")
    p.add_argument("--on-fixed-vocab", action="store_true",
                   help="k-means, encoding and train_word on the --fixed-vocab vectors (keys *_fixed_vocab)")
    p.add_argument("--project", nargs=5, type=float, default=[700e6, 500_000, 4e6, 5, 20],
                   metavar=("TOKENS", "VOCAB", "TYPES", "EPOCHS", "ITERS"), help="the projection's corpus and command")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="fit and project earlier runs instead")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.child:
        return run_child(args.child[0], args.child[1:])
    out = args.out or common.result_path(args, "scale.json")
    if args.merge:                                              # stages of one size from several files join
        runs, machines = {}, []
        for path in args.merge:
            with open(path, encoding="utf-8") as f:
                payload = json.load(f)
            machines.append({"file": path, "command": payload.get("command"), **payload.get("machine", {})})
            for r in payload["runs"]:
                runs.setdefault(r["tokens"], {}).update(r)
        payload.update(runs=sorted(runs.values(), key=lambda r: r["tokens"]), merged_from=machines)
    else:
        payload = {"machine": common.machine(), "threads": common.set_threads(2), "command": common.command_line(),
                   "config": {k: getattr(args, k) for k in ("types", "clusters", "kmeans_iter", "repeats", "iters",
                                                            "val_frac", "hidden", "fixed_vocab")}, "runs": []}
        tmp = args.tmp or tempfile.mkdtemp(prefix="minirnn-scale-")
        try:
            for m in [float(s) for s in args.sizes.split(",")] + ([100.0] if args.large else []):
                sub = os.path.join(tmp, f"{m:g}M")
                os.makedirs(sub, exist_ok=True)
                payload["runs"].append(scale_run(int(m * 1e6), args, sub))
                if not args.keep:
                    shutil.rmtree(sub, ignore_errors=True)
        finally:
            if not args.keep and not args.tmp:
                shutil.rmtree(tmp, ignore_errors=True)
    for r in payload["runs"]:
        report(r)
    tokens, vocab, types, epochs, iters = args.project
    payload["slopes"], payload["projection"] = fits(payload["runs"], tokens, *map(int, (vocab, types, epochs, iters)))
    for st, sl in payload["slopes"].items():
        if sl["time"] is not None:
            print(f"  log-log slope on tokens, {st}: time {sl['time']:.2f}, CPU time {sl['cpu']:.2f}, "
                  f"peak RSS {sl['peak_rss']:.2f}")
    if pj := payload["projection"]:
        print(f"projection: {pj['tokens'] / 1e6:g}M tokens, V {pj['V']:,}, {pj['epochs']} epochs, "
              f"{pj['kmeans_iter']} Lloyd iterations: " + ", ".join(
                  f"{st} {pj[st].get('s', 0) / 3600:.2f} h {pj[st]['peak_rss_mb']:.0f} MB" for st in STAGES)
              + f"; vocabulary + epochs + k-means + encoding {pj['total_s'] / 3600:.2f} h "
              f"({pj['total_s_own_cores'] / 3600:.2f} h on cores of its own)")
    common.write_json(out, payload)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
