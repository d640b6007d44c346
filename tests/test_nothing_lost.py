"""Hostile use, round two (issue 26): one test per class of failure, each backing a line of
docs/guarantees.md. Every written path follows one rule (textio.check_output_file); one loader
reads vectors files; input errors are exit 2 wherever they arise; SIGTERM is handled as Ctrl-C."""
import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc

import numpy as np
import pytest

from minirnn import checkpoint, textio
from minirnn.errors import run_cli
from minirnn.model import RNNLM

from helpers import TINY, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import eval_char  # noqa: E402
import plot_metrics  # noqa: E402
import quantize  # noqa: E402
import sample_char  # noqa: E402
import train_char  # noqa: E402
import train_word  # noqa: E402
import train_word2vec  # noqa: E402

SMALL = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "5",
         "--print-every", "5", "--sample-every", "0", "--sample-length", "10"]
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
WORDS = [f"w{i}" for i in range(40)]


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def vectors(path, dim=4, rows=40, header=None, zero=False, seed=0):
    """A word2vec text file of WORDS[:rows]; `header` overrides its first line."""
    vecs = np.random.default_rng(seed).standard_normal((rows, dim)) * (not zero)
    lines = [header or f"{rows} {dim}"] + [f"{w} " + " ".join(f"{x:.4f}" for x in v)
                                             for w, v in zip(WORDS, vecs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text(" ".join(WORDS[i % 40] for i in range(3000)), encoding="utf-8")
    return str(p)


def train(tiny_text, d, *more):
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d, *more]) == 0


# 1. --resume PATH into another run's directory --------------------------------------------------------
def test_resume_from_another_run_into_a_used_directory_is_refused(tiny_text, tmp_path, capsys):
    a, b, c = (str(tmp_path / n) for n in "abc")
    train(tiny_text, a)
    train(tiny_text, b, "--seed", "1")
    before = {n: open(os.path.join(a, n), "rb").read() for n in ("latest.npz", "best.npz", "metrics.jsonl")}
    capsys.readouterr()
    assert run_cli(train_char.main, ["--checkpoint-dir", a, "--resume", os.path.join(b, "latest.npz"),
                                     "--iters", "10"]) == 2
    assert "another directory's run" in one_line_error(capsys)
    assert before == {n: open(os.path.join(a, n), "rb").read() for n in before}     # A untouched
    # into a fresh directory it branches B's run; with --overwrite it replaces A's run
    assert run_cli(train_char.main, ["--checkpoint-dir", c, "--resume", os.path.join(b, "latest.npz"),
                                     "--iters", "10"]) == 0
    assert [m["iter"] for m in metrics(c)] == [10]
    assert run_cli(train_char.main, ["--checkpoint-dir", a, "--resume", os.path.join(b, "latest.npz"),
                                     "--iters", "10", "--overwrite"]) == 0
    assert [m["iter"] for m in metrics(a)] == [10] and checkpoint.load(os.path.join(a, "latest.npz"))[1]["flags"]["seed"] == 1
    # resuming a run in its own directory is what --resume is for
    assert run_cli(train_char.main, ["--checkpoint-dir", b, "--resume", "--iters", "10"]) == 0
    assert [m["iter"] for m in metrics(b)] == [5, 10]


# 2. every written path: checked before the work, never an input, a device, a FIFO or a directory --------
def test_written_paths_are_never_inputs_devices_fifos_or_directories(tiny_text, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import inspect_char
    a = str(tmp_path / "a")
    train(tiny_text, a)
    files = {n: open(os.path.join(a, n), "rb").read() for n in os.listdir(a) if not n.startswith(".")}
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    os.mkdir(tmp_path / "pf")
    os.mkfifo(tmp_path / "pf" / "gradient_flow.png")
    os.mkdir(tmp_path / "pd")
    (tmp_path / "pd" / "gradient_flow.png").write_text("my notes, not a picture")
    dev = "/dev/null"
    ck = os.path.join(a, "latest.npz")
    inspect = ["--checkpoint", ck, "--chars", "200", "--show", "50", "--max-k", "3", "--positions", "2",
               "--sample-length", "5"]
    for main, argv, says in (
            (plot_metrics.main, [a, "--out", os.path.join(a, "metrics.jsonl")], "is the input metrics file"),
            (inspect_char.main, [*inspect, "--out", ck], "is the input --checkpoint"),
            (inspect_char.main, [*inspect, "--out", os.path.join(a, "metrics.jsonl")], "is the input metrics file"),
            (inspect_char.main, [*inspect, "--out", tiny_text], "is the input --text"),
            (inspect_char.main, [*inspect, "--out", str(tmp_path / "r.html"), "--png-dir", str(tmp_path / "pf")],
             "gradient_flow.png: is a pipe or FIFO"),
            (inspect_char.main, [*inspect, "--out", str(tmp_path / "r.html"), "--png-dir", tiny_text],
             "not a directory"),
            (plot_metrics.main, [a, "--out", fifo], "pipe or FIFO"),
            (plot_metrics.main, [a, "--out", dev], "a device"),
            (inspect_char.main, [*inspect, "--out", dev], "a device"),
            (plot_metrics.main, [a, "--out", str(tmp_path)], "is a directory"),
            # an existing file that is not a picture (or a page) of its own: another checkpoint of
            # the run, its JSON twin, any other file, is never replaced
            (plot_metrics.main, [a, "--out", os.path.join(a, "best.npz")], "is not a PNG image"),
            (inspect_char.main, [*inspect, "--out", os.path.join(a, "best.npz")], "is not an HTML page"),
            (inspect_char.main, [*inspect, "--out", os.path.join(a, "latest.json")], "is not an HTML page"),
            (inspect_char.main, [*inspect, "--out", str(tmp_path / "r.html"), "--png-dir", str(tmp_path / "pd")],
             "gradient_flow.png: exists and is not a PNG image"),
            (plot_metrics.main, [a, "--out", ""], "empty"),
            (train_word2vec.main, ["--corpus", tiny_text, "--out", tiny_text], "is the input --corpus"),
            (train_word2vec.main, ["--corpus", tiny_text, "--out", dev], "a device")):
        capsys.readouterr()
        assert run_cli(main, argv) == 2, argv
        err = one_line_error(capsys)
        assert says in err and ".tmp" not in err, (argv, err)
    assert files == {n: open(os.path.join(a, n), "rb").read() for n in files}      # nothing replaced
    assert (tmp_path / "pd" / "gradient_flow.png").read_text() == "my notes, not a picture"
    assert os.path.exists(dev) and not os.path.isfile(dev) and not os.path.isfile(fifo)
    assert open(tiny_text, encoding="utf-8").read() == TINY
    # and where everything is right the pictures are written (atomically: no temporary file left)
    png = str(tmp_path / "png")
    assert run_cli(inspect_char.main, [*inspect, "--out", str(tmp_path / "r.html"), "--png-dir", png]) == 0
    assert sorted(os.listdir(png)) == sorted(inspect_char.PNG_NAMES)
    # and a page or picture of its own kind is replaced when the command runs again with --overwrite
    assert run_cli(inspect_char.main, [*inspect, "--out", str(tmp_path / "r.html"), "--png-dir", png,
                                       "--overwrite"]) == 0
    assert run_cli(plot_metrics.main, [a, "--out", os.path.join(png, "gradient_flow.png"), "--overwrite"]) == 0


# 3. input the user can fix is exit 2, wherever it is found ------------------------------------------------
def test_input_errors_are_exit_2_wherever_they_arise(tiny_text, corpus, tmp_path, capsys, monkeypatch):
    a = str(tmp_path / "a")
    train(tiny_text, a)
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "metrics.jsonl").write_bytes('{"iter": 5, "note": "año"}\n'.encode("latin-1"))
    assert run_cli(plot_metrics.main, [str(latin), "--out", str(tmp_path / "c.png")]) == 2
    assert "UTF-8" in one_line_error(capsys)
    zero = vectors(tmp_path / "zero.vec", zero=True)                    # all-zero vectors: no direction
    assert run_cli(train_word.main, ["--corpus", corpus, "--vectors", zero, "--clusters", "3", "--min-count", "1",
                                     *SMALL, "--checkpoint-dir", str(tmp_path / "w0")]) == 2
    assert "all zeros" in one_line_error(capsys)
    v4, v6 = vectors(tmp_path / "v4.vec"), vectors(tmp_path / "v6.vec", dim=6)
    assert run_cli(quantize.main, ["--vectors", v4, "--clusters", "3", "--out", str(tmp_path / "q4")]) == 0
    capsys.readouterr()
    assert run_cli(train_word.main, ["--corpus", corpus, "--vectors", v6, "--quantizer", str(tmp_path / "q4"),
                                     "--clusters", "3", "--min-count", "1", *SMALL,
                                     "--checkpoint-dir", str(tmp_path / "w1")]) == 2
    assert "dimensions" in one_line_error(capsys)
    arrays, meta = checkpoint.load(os.path.join(a, "latest.npz"))
    nan = dict(arrays)
    nan["param/out.W"] = arrays["param/out.W"].copy()
    nan["param/out.W"][0, 0] = np.inf
    checkpoint.save(str(tmp_path / "nan.npz"), nan, meta)
    surrogate = dict(meta, vocab=["\ud800"] + meta["vocab"][1:])       # json.dumps writes it as \ud800
    checkpoint.save(str(tmp_path / "sur.npz"), arrays, surrogate)
    for path, says in (("nan.npz", "NaN or inf"), ("sur.npz", "vocab")):
        assert run_cli(sample_char.main, ["--checkpoint", str(tmp_path / path), "--length", "5"]) == 2
        assert says in one_line_error(capsys)
        assert run_cli(train_char.main, ["--resume", str(tmp_path / path), "--iters", "10",
                                         "--checkpoint-dir", str(tmp_path / "r")]) == 2
        assert says in one_line_error(capsys)
    monkeypatch.setenv("MINIRNN_MEMORY", "abc")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--checkpoint-dir", str(tmp_path / "m")]) == 2
    assert "MINIRNN_MEMORY" in one_line_error(capsys)


# 4. one loader for vectors files: the header is checked against the lines ----------------------------------
def test_vectors_header_is_checked_against_the_lines(tmp_path, capsys):
    out = str(tmp_path / "q")
    for header, rows, says in (("3 5", 3, "line 2 has 4 numbers, the header says 5"),     # was read as binary
                               ("60 5", 40, "line 2 has 4 numbers, the header says 5"),   # was "word appears twice"
                               ("30 4", 40, "line 32 holds another record"),
                               ("40 4", 30, "the header says 40 words, the file holds 30")):
        path = vectors(tmp_path / "v.vec", rows=rows, header=header)
        assert run_cli(quantize.main, ["--vectors", path, "--clusters", "2", "--out", out]) == 2, header
        err = one_line_error(capsys)
        assert says in err and "appears twice" not in err, err
    # binary: bytes beyond the header's records are refused, the file itself loads
    from minirnn.keyedvectors import KeyedVectors
    kv = KeyedVectors.load(vectors(tmp_path / "v.vec"))
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    data = open(tmp_path / "v.bin", "rb").read()
    assert KeyedVectors.load(str(tmp_path / "v.bin")).index_to_key == WORDS
    (tmp_path / "short.bin").write_bytes(b"30 4" + data[data.index(b"\n"):])
    assert run_cli(quantize.main, ["--vectors", str(tmp_path / "short.bin"), "--clusters", "2", "--out", out]) == 2
    assert "more bytes follow" in one_line_error(capsys)


# 5. messages that name the real problem ------------------------------------------------------------------
def test_messages_name_the_real_problem(tiny_text, tmp_path, capsys):
    assert run_cli(train_char.main, ["--text", tiny_text, "--iters", "0", "--checkpoint-dir", str(tmp_path / "c")]) == 2
    err = one_line_error(capsys)
    assert "--iters" in err and "--warmup" not in err
    vec = vectors(tmp_path / "v.vec")
    assert run_cli(quantize.main, ["--vectors", vec, "--seed", "-1", "--clusters", "2", "--out", str(tmp_path / "q")]) == 2
    err = one_line_error(capsys)
    assert "--seed" in err and "v.vec" not in err
    a = str(tmp_path / "a")
    train(tiny_text, a, "--model", "gru")
    arrays, meta = checkpoint.load(os.path.join(a, "latest.npz"))
    for change, says in (({"kind": "word"}, "it holds a 'word' model"), ({"format": "x"}, "unknown format")):
        checkpoint.save(str(tmp_path / "k.npz"), arrays, dict(meta, **change))
        assert run_cli(sample_char.main, ["--checkpoint", str(tmp_path / "k.npz")]) == 2
        err = one_line_error(capsys)
        assert says in err and "holds 'char'" not in err, err
    pytest.importorskip("matplotlib")
    import inspect_char
    page = str(tmp_path / "gru.html")
    assert run_cli(inspect_char.main, ["--checkpoint", os.path.join(a, "latest.npz"), "--chars", "200",
                                       "--show", "50", "--max-k", "3", "--positions", "2",
                                       "--sample-length", "5", "--out", page]) == 0
    html = open(page, encoding="utf-8").read()
    assert "this model is a GRU" in html and "An RNN has no gates" not in html


# 6. plot_metrics: FIFOs, string losses, two runs in one file -------------------------------------------------
def test_plot_metrics_refuses_fifos_nonsense_values_and_two_runs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    d = tmp_path / "fifo_run"
    d.mkdir()
    os.mkfifo(d / "metrics.jsonl")
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        import plot_metrics
        from minirnn.errors import run_cli
        sys.exit(run_cli(plot_metrics.main, [{str(d)!r}, "--out", {str(tmp_path / 'c.png')!r}]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 2 and "pipe or FIFO" in r.stderr, r.stderr                # not blocked forever
    good = [{"iter": 5, "train_loss": 3.0, "val_loss": 3.1}, {"iter": 10, "train_loss": 2.5, "val_loss": 2.9}]
    for name, recs, says in (("strings", [{"iter": 5, "train_loss": "3.0", "val_loss": 3.1}], "not a number"),
                             ("two_runs", good + good, "more than one run"),
                             ("iter", [{"iter": "5", "train_loss": 3.0}], "not an integer")):
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in recs))
        assert run_cli(plot_metrics.main, [str(p), "--out", str(tmp_path / "c.png")]) == 2
        assert says in one_line_error(capsys)
    assert not os.path.exists(tmp_path / "c.png")
    p = tmp_path / "good.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in good))
    assert run_cli(plot_metrics.main, [str(p), "--out", str(tmp_path / "c.png")]) == 0
    assert open(tmp_path / "c.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# 7. an output that cannot be written is found before the work: exit 2 -----------------------------------
def test_unwritable_output_is_exit_2_before_the_work(tiny_text, corpus, tmp_path, capsys, monkeypatch):
    # the tests may run as root, whom chmod does not stop: the directory's refusal is simulated
    # where it is found, creating the probe file
    ro = tmp_path / "ro"
    ro.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and os.path.realpath(dir).startswith(str(ro)):
            raise OSError(errno.EROFS, "Read-only file system", dir)
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(textio.tempfile, "mkstemp", mkstemp)
    vec = vectors(tmp_path / "v.vec")
    for main, argv in ((train_char.main, ["--text", tiny_text, *SMALL, "--checkpoint-dir", str(ro / "c")]),
                       (train_word.main, ["--corpus", corpus, "--min-count", "1", *SMALL,
                                          "--checkpoint-dir", str(ro)]),
                       (train_word2vec.main, ["--corpus", tiny_text, "--out", str(ro / "v.txt")]),
                       (quantize.main, ["--vectors", vec, "--clusters", "2", "--out", str(ro)])):
        capsys.readouterr()
        assert run_cli(main, argv) == 2, argv
        captured = capsys.readouterr()
        assert "cannot write there (Read-only file system)" in captured.err, captured.err
        assert "stage 1" not in captured.out and "iter" not in captured.out         # before the work
    assert os.listdir(ro) == [] or os.listdir(ro) == ["c"]


# 8. --overwrite never deletes an input -------------------------------------------------------------------
def test_overwrite_never_deletes_an_input(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    text = d / "metrics.jsonl"                               # the text, under a run file's name
    text.write_text(TINY, encoding="utf-8")
    assert run_cli(train_char.main, ["--text", str(text), *SMALL, "--checkpoint-dir", str(d), "--overwrite"]) == 2
    assert "is the input --text" in one_line_error(capsys)
    assert text.read_text(encoding="utf-8") == TINY


# 9. SIGTERM, and interrupts whatever SIGINT the process inherited ------------------------------------------
TERM = {
    "train_char": ("trainer", ["--iters", "1000", "--sample-every", "3"]),
    "train_word": ("trainer", ["--clusters", "0", "--iters", "1000", "--sample-every", "3"]),
    "train_word:word2vec": ("kernel", ["--clusters", "3"]),
    "train_word2vec": ("kernel", []),
    "quantize": ("fit", []),
}


@pytest.mark.parametrize("command", sorted(TERM))
def test_sigterm_saves_and_exits_as_ctrl_c_does(command, tiny_text, corpus, tmp_path):
    """SIGTERM in a child started as a shell's background job starts it (SIGINT ignored): a training
    run saves and exits 0; word2vec and k-means stop at once, exit 143, and write nothing."""
    hook, more = TERM[command]
    script = command.split(":")[0]
    vec = vectors(tmp_path / "v.vec")
    base = {"train_char": ["--text", tiny_text, *SMALL[:8], "--checkpoint-dir", str(tmp_path / "ck")],
            "train_word": ["--corpus", corpus, "--min-count", "1", *SMALL[:8], "--checkpoint-dir", str(tmp_path / "w")]
            + (["--vectors", vec] if hook == "trainer" else []),
            "train_word2vec": ["--corpus", tiny_text, "--min-count", "1", "--out", str(tmp_path / "v.txt")],
            "quantize": ["--vectors", vec, "--clusters", "3", "--out", str(tmp_path / "q")]}[script]
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        from minirnn.errors import run_cli
        import {script} as s
        def term():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
        if {hook!r} == "trainer":
            from minirnn import trainer
            trainer.Trainer._sample_point = lambda self: term()
        elif {hook!r} == "kernel":
            from minirnn import word2vec
            kernel = word2vec.kernels.sgns_block
            def block(*a):
                kernel(*a)
                term()
            word2vec.kernels = type("K", (), {{"sgns_block": staticmethod(block)}})
        else:
            fit = s.EmbeddingQuantizer.fit
            def fit_then_term(self, *a, **k):
                term()
                return fit(self, *a, **k)
            s.EmbeddingQuantizer.fit = fit_then_term
        sys.exit(run_cli(s.main, {[*base, *more]!r}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ENV,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert "Traceback" not in r.stderr, r.stderr
    if hook == "trainer":
        assert r.returncode == 0, r.stderr
        assert "SIGTERM: finishing this iteration" in r.stdout and "interrupted at iteration 3" in r.stdout
        d = tmp_path / ("ck" if script == "train_char" else "w")
        assert checkpoint.load(str(d / "latest.npz"))[1]["iteration"] == 3
    else:
        assert r.returncode == 143, r.stderr
        assert not os.path.exists(tmp_path / "v.txt") and not os.path.exists(tmp_path / "w" / "vectors.txt")
        assert not os.path.exists(tmp_path / "q" / "quantizer.npz")


def test_sigint_ignored_by_the_parent_stays_ignored_and_sigterm_still_saves(tiny_text, tmp_path):
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        from minirnn.errors import run_cli
        from minirnn import trainer
        import train_char
        def point(self):
            os.kill(os.getpid(), signal.SIGINT if self.it < 6 else signal.SIGTERM)   # Ctrl-C: ignored
            time.sleep(0.2)
        trainer.Trainer._sample_point = point
        sys.exit(run_cli(train_char.main, {["--text", tiny_text, *SMALL[:8], "--iters", "1000", "--sample-every",
                                            "3", "--checkpoint-dir", str(tmp_path / "ck")]!r}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ENV,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert r.returncode == 0 and "interrupted at iteration 6" in r.stdout, r.stdout + r.stderr


# 10. progress, memory and limits ---------------------------------------------------------------------
def test_eval_char_prints_progress(tiny_text, tmp_path, capsys, monkeypatch):
    a = str(tmp_path / "a")
    train(tiny_text, a)
    monkeypatch.setattr(eval_char, "PROGRESS_EVERY", 0.0)
    capsys.readouterr()
    assert run_cli(eval_char.main, ["--checkpoint", os.path.join(a, "latest.npz"), "--text", tiny_text]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "characters of about" in x]
    assert lines and f"of about {len(TINY.encode()):,}" in lines[-1]


def test_inspect_char_memory_is_bounded_by_a_chunk_not_the_text():
    pytest.importorskip("matplotlib")
    from minirnn import introspect as ins
    from minirnn import report
    model = RNNLM(20, hidden=32, layers=2, cell="lstm", dtype=np.float64, seed=0)
    ids = np.random.default_rng(0).integers(0, 20, 6000)
    tracemalloc.start()
    probs, acts, sats = report.first_pass(model, ids)
    chunked = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    logits, layers, _ = ins.run_layers(model, ids[None, :])                   # the whole text at once
    whole = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert chunked < whole / 2, (chunked, whole)
    assert np.allclose(probs, ins.char_probs(logits[:, :-1], ids[None, 1:])[0], rtol=1e-12)
    assert np.allclose(acts, ins.activations(model, layers), rtol=1e-12, atol=1e-15)
    for mine, ref in zip(sats, (ins.gate_saturation(d["gates"]) for d in layers)):
        for g in ref:
            assert np.allclose(mine[g][0], ref[g][0]) and np.allclose(mine[g][1], ref[g][1])
    ks = [1, 3, 7]                                     # the gradient flow, its positions in groups
    one = ins.gradient_flow(model, ids[:400], ks, n_positions=40, group=40)
    grouped = ins.gradient_flow(model, ids[:400], ks, n_positions=40, group=7)
    assert np.allclose(one["h"], grouped["h"], rtol=1e-10) and np.allclose(one["c"], grouped["c"], rtol=1e-10)


def test_beam_width_and_length_have_limits_a_flag_raises(tiny_text, tmp_path, capsys):
    a = str(tmp_path / "a")
    train(tiny_text, a)
    ck = ["--checkpoint", os.path.join(a, "latest.npz"), "--prime", "el"]
    capsys.readouterr()
    for argv, flag in ((["--beam", "10000000"], "--max-beam"), (["--length", "5000000"], "--max-length")):
        assert run_cli(sample_char.main, [*ck, *argv]) == 2
        err = one_line_error(capsys)
        assert "above the limit" in err and flag in err
    assert run_cli(sample_char.main, [*ck, "--beam", "300", "--max-beam", "300", "--length", "1"]) == 0
    assert 1 <= capsys.readouterr().out.count("--- beam") <= 300
    pytest.importorskip("matplotlib")
    import inspect_char
    assert run_cli(inspect_char.main, ["--checkpoint", os.path.join(a, "latest.npz"),
                                       "--sample-length", "2000000", "--out", str(tmp_path / "r.html")]) == 2
    assert "--max-length" in one_line_error(capsys)


# 11. the guarantees name tests that exist ----------------------------------------------------------------
def test_every_guarantee_names_a_test_that_exists():
    doc = open(os.path.join(ROOT, "docs", "guarantees.md"), encoding="utf-8").read()
    named = set(re.findall(r"`(test_\w+)`", doc))
    assert len(named) >= 15
    defined = set()
    for f in os.listdir(os.path.join(ROOT, "tests")):
        if f.endswith(".py"):
            defined |= set(re.findall(r"^def (test_\w+)", open(os.path.join(ROOT, "tests", f)).read(), re.M))
    assert named <= defined, sorted(named - defined)
