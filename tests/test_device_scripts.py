"""Every script end to end on the GPU path, without a GPU: each runs in a subprocess in which
``import cupy`` is the strict stand-in (tests/standin first on PYTHONPATH), with ``--backend cupy``
(or ``MINIRNN_BACKEND=cupy`` for the two scripts that hold no model arrays and have no such flag:
plot_metrics and train_word2vec, which trains on the CPU whatever the backend). The stand-in writes its transfer counters at exit
(``CUPY_STANDIN_REPORT``), which shows that the arrays really lived on the "device".

Tiny sizes: the whole file takes some twenty seconds on two cores.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minirnn import checkpoint

from conftest import standin_env
from helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = ["el caballero andante salió de la aldea", "sancho panza el escudero fiel comía pan",
             "la señora dulcinea del toboso era hermosa", "don quijote y sancho hablaban de la ínsula"]
CHAR = ["--hidden", "12", "--layers", "2", "--batch", "4", "--seq", "8", "--eval-every", "4",
        "--print-every", "2", "--sample-length", "20", "--eval-windows", "3"]


def run(tmp, script, *args, flag=True):
    """Run scripts/<script>.py on the stand-in; returns (stdout, counters). Fails on a nonzero exit."""
    env = standin_env()
    report = os.path.join(tmp, f"report-{script}-{len(os.listdir(tmp))}.json")
    env["CUPY_STANDIN_REPORT"] = report
    if flag:
        args = (*args, "--backend", "cupy")
    else:
        env["MINIRNN_BACKEND"] = "cupy"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script + ".py"), *map(str, args)],
                       capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    assert r.returncode == 0, f"{script} exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    with open(report) as f:
        return r.stdout, json.load(f)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("device_scripts")
    (d / "tiny.txt").write_text(TINY, encoding="utf-8")
    rng = np.random.default_rng(0)
    (d / "corpus.txt").write_text("\n".join(SENTENCES[i] for i in rng.integers(0, 4, 300)), encoding="utf-8")
    return str(d)


@pytest.fixture(scope="module")
def char_run(work):
    """An LSTM with dropout trained 8 iterations straight, and 3 + 5 with a resume in between (the
    step schedule: a cosine one would end at --iters 3)."""
    flags = ("--text", "tiny.txt", *CHAR, "--dropout", "0.2", "--lr-schedule", "step")
    out, counts = run(work, "train_char", *flags, "--iters", "8", "--checkpoint-dir", "whole")
    run(work, "train_char", *flags, "--iters", "3", "--checkpoint-dir", "resumed")
    run(work, "train_char", "--checkpoint-dir", "resumed", "--resume", "--iters", "8")
    return out, counts


def test_train_char_runs_on_the_device_and_resume_equals_unbroken(work, char_run):
    out, counts = char_run
    assert "backend cupy" in out and "done: 8 iterations" in out
    assert counts["d2h"] > 0 and counts["generators"] == 0          # masks from Philox, no Generator
    whole, _ = checkpoint.load(os.path.join(work, "whole", "latest.npz"))
    resumed, _ = checkpoint.load(os.path.join(work, "resumed", "latest.npz"))
    for k in whole:
        assert np.array_equal(whole[k], resumed[k]), k                  # weights, moments, state
    losses = [[(m["iter"], m["train_loss"], m["val_loss"]) for m in map(json.loads, open(os.path.join(work, d,
              "metrics.jsonl")))] for d in ("whole", "resumed")]
    assert losses[0][-1] == losses[1][-1] and losses[0][-1][0] == 8


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_train_char_other_cells(work, cell):
    out, counts = run(work, "train_char", "--text", "tiny.txt", *CHAR, "--model", cell, "--embed", "6",
                      "--iters", "4", "--checkpoint-dir", f"c_{cell}")
    assert "backend cupy" in out and counts["d2h"] > 0


def test_sample_char_top_k_and_beam(work, char_run):
    out, counts = run(work, "sample_char", "--checkpoint", "whole/best.npz", "--length", "30", "--top-k", "4")
    assert len(out.rstrip("\n")) >= 30 and counts["d2h"] >= 30            # one read per drawn character
    out, _ = run(work, "sample_char", "--checkpoint", "whole/best.npz", "--length", "5", "--beam", "3")
    assert out.count("--- beam") == 3


def test_eval_char_numbers(work, char_run):
    out, counts = run(work, "eval_char", "--checkpoint", "whole/best.npz", "--text", "tiny.txt",
                      "--window", "128")
    nats = float(out.split("nats/char")[1].split()[0])
    ppl = float(out.split("perplexity")[1].split()[0])
    assert 0 < nats < np.log(30) and abs(ppl - np.exp(nats)) < 1e-3 * ppl and counts["d2h"] > 0
    host = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "eval_char.py"), "--checkpoint",
                           "whole/best.npz", "--text", "tiny.txt", "--window", "128"],
                          capture_output=True, text=True, cwd=work, timeout=300)
    assert host.returncode == 0
    assert abs(float(host.stdout.split("nats/char")[1].split()[0]) - nats) < 1e-4   # NumPy's numbers


def test_inspect_char_and_plot_metrics(work, char_run):
    out, counts = run(work, "inspect_char", "--checkpoint", "whole/best.npz", "--text", "tiny.txt",
                      "--max-k", "5", "--positions", "8", "--sample-length", "20", "--out", "report.html")
    assert os.path.getsize(os.path.join(work, "report.html")) > 10_000 and counts["d2h"] > 0
    run(work, "plot_metrics", "whole", "resumed", "--out", "curves.png", flag=False)
    assert os.path.getsize(os.path.join(work, "curves.png")) > 1000


def test_word_pipeline_with_kmeans_on_the_device(work):
    run(work, "train_word2vec", "--corpus", "corpus.txt", "--dim", "12", "--min-count", "2", "--epochs", "2",
        "--workers", "1", "--out", "vectors.txt", flag=False)
    out, counts = run(work, "quantize", "--vectors", "vectors.txt", "--clusters", "6", "--out", "quant")
    assert counts["d2h"] > 0                                        # k-means ran on the device
    out, counts = run(work, "train_word", "--corpus", "corpus.txt", "--vectors", "vectors.txt",
                      "--quantizer", "quant", "--clusters", "6", "--dim", "12", "--hidden", "12",
                      "--batch", "4", "--seq", "8", "--iters", "4", "--eval-every", "2", "--print-every", "2",
                      "--sample-length", "5", "--checkpoint-dir", "word")
    assert "backend cupy" in out and counts["d2h"] > 0
    out, _ = run(work, "generate_words", "--checkpoint", "word/best.npz", "--length", "5")
    assert len(out.split()) >= 5
    out, _ = run(work, "generate_words", "--checkpoint", "word/best.npz", "--length", "3", "--beam", "2")
    assert out.count("--- beam") == 2
