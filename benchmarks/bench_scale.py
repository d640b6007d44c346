#!/usr/bin/env python
"""Work that grows with the corpus: word2vec's vocabulary pass over a text with no newline, and one
validation pass of the default char model over a large text, capped (--eval-windows) and whole.

    flock /tmp/minirnn-bench.lock python benchmarks/bench_scale.py

The texts are the bundled novel repeated: for word2vec, to --w2v-mb MB with every newline replaced
by a space (one 50 MB line: the case that made the vocabulary pass quadratic); for the char model,
--val-copies copies of its ids, split as train_char.py splits (10% validation, batch 32 x 64). Each
figure is the median of --repeats runs (the vocabulary pass in a fresh process each time, so that
its peak RSS is its own). Writes scale.json to --out-dir (benchmarks/results/ with
--update-results, or --out).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

SMOKE_ARGS = ["--w2v-mb", "0.2", "--val-copies", "1", "--eval-windows", "2", "--repeats", "1", "--hidden", "8"]

VOCAB_PASS = """
import os, resource, sys, tempfile, time
from minirnn.word2vec import Word2Vec
m = Word2Vec(dim=10, workers=1)
fd, cache = tempfile.mkstemp(); os.close(fd)
t = time.perf_counter()
n = m.build_vocab(sys.argv[1], cache)
dt = time.perf_counter() - t
os.remove(cache)
print(dt, n, len(m.vocab), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def vocab_pass(mb: float, repeats: int) -> dict:
    from minirnn.textio import default_corpus
    novel = open(default_corpus(), encoding="utf-8-sig").read().replace("\n", " ")
    copies = max(1, int(mb * 2 ** 20 / len(novel.encode("utf-8"))))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for _ in range(copies):
            f.write(novel + " ")
        path = f.name
    try:
        runs = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, "-c", VOCAB_PASS, path], capture_output=True,
                                 text=True, check=True).stdout.split()
            runs.append({"s": float(out[0]), "ids": int(out[1]), "vocab": int(out[2]),
                         "peak_rss_mb": float(out[3])})
        size = os.path.getsize(path)
    finally:
        os.remove(path)
    return {"bytes": size, "newlines": 0, "runs": runs,
            "median_s": statistics.median(r["s"] for r in runs),
            "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}


def validation_pass(copies: int, cap: int, repeats: int, hidden: int = 256) -> dict:
    from minirnn import chardata
    from minirnn.model import RNNLM
    from minirnn.optim import Adam
    from minirnn.textio import default_corpus
    from minirnn.trainer import Trainer
    ids, vocab = chardata.encode_file(default_corpus())
    big = np.tile(ids, copies)                                          # the novel, `copies` times
    train, val = chardata.split(big, 0.1, 32, 64)
    model = RNNLM(len(vocab), hidden=hidden, layers=2)                  # train_char.py's model
    with tempfile.TemporaryDirectory() as d:
        t = Trainer(model, Adam(model.trainable()), train, val, iters=1, eval_every=1,
                    checkpoint_dir=d, meta={})
        t.evaluate(1)                                                   # warm-up: kernels, heap
        times = {min(cap, len(val)): [], len(val): []}
        for _ in range(repeats):
            for n in times:
                t0 = time.perf_counter()
                t.evaluate(n)
                times[n].append(time.perf_counter() - t0)
    return {"chars": int(big.size), "val_windows": len(val), "cap": cap, "hidden": hidden,
            "capped_s": statistics.median(times[min(cap, len(val))]), "whole_s": statistics.median(times[len(val)]),
            "runs_s": {str(k): v for k, v in times.items()}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--w2v-mb", type=float, default=50.0, help="size of the no-newline text (MB)")
    p.add_argument("--val-copies", type=int, default=20, help="copies of the novel for the validation pass")
    p.add_argument("--eval-windows", type=int, default=256, help="the training-time cap (train_char's default)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each measurement (median)")
    p.add_argument("--hidden", type=int, default=256, help="the char model's H (train_char's default; less for a smoke run)")
    p.add_argument("--out", default=None, help="JSON path (default: scale.json in --out-dir)")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.w2v_mb <= 0 or min(args.val_copies, args.eval_windows, args.repeats, args.hidden) < 1:
        raise UsageError("--w2v-mb must be positive; --val-copies, --eval-windows, --repeats and --hidden "
                         "at least 1")
    out = args.out or common.result_path(args, "scale.json")
    threads = common.set_threads(2)
    v = vocab_pass(args.w2v_mb, args.repeats)
    print(f"word2vec vocabulary pass, {v['bytes'] / 2 ** 20:.0f} MB, no newline: {v['median_s']:.1f} s, "
          f"peak RSS {v['median_peak_rss_mb']:.0f} MB (median of {args.repeats})")
    e = validation_pass(args.val_copies, args.eval_windows, args.repeats, args.hidden)
    print(f"validation pass, {e['chars'] / 1e6:.0f}M characters: {e['cap']} windows {e['capped_s']:.1f} s, "
          f"all {e['val_windows']} windows {e['whole_s']:.1f} s (median of {args.repeats})")
    common.write_json(out, {"machine": common.machine(), "threads": threads,
                                 "command": common.command_line(), "vocab_pass": v, "validation": e})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
