"""Hostile but realistic use (issue 16): one test per class of failure, each backing a line of the
docs/guarantees.md: nothing lost, never a traceback, one line and the right exit status."""
import errno
import fcntl
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from minirnn import checkpoint, chardata, textio, tokenize
from minirnn.errors import UsageError, run_cli
from minirnn.model import RNNLM
from minirnn.optim import Adam
from minirnn.quantizer import EmbeddingQuantizer
from minirnn.trainer import Trainer

from helpers import TINY, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import quantize  # noqa: E402
import sample_char  # noqa: E402
import train_char  # noqa: E402
import train_word  # noqa: E402
import train_word2vec  # noqa: E402

SMALL = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "5",
         "--print-every", "5", "--sample-every", "0", "--sample-length", "10"]
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def vectors_file(path, rows=12, dim=4, nan_row=None):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((rows, dim)).astype(np.float32)
    if nan_row is not None:
        vecs[nan_row, 1] = np.nan
    lines = [f"{rows} {dim}"] + [f"w{i} " + " ".join(f"{x:.4f}" for x in v) for i, v in enumerate(vecs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# 1. work lost ------------------------------------------------------------------------------------
def test_used_directory_is_refused_unless_overwrite_and_locked_while_running(tiny_text, tmp_path, capsys):
    d = str(tmp_path / "run")
    argv = ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d]
    assert run_cli(train_char.main, argv) == 0
    before = open(os.path.join(d, "latest.npz"), "rb").read()
    capsys.readouterr()
    assert run_cli(train_char.main, [*argv, "--seed", "3"]) == 2                 # a fresh run: refused
    assert "already holds a run" in one_line_error(capsys)
    assert open(os.path.join(d, "latest.npz"), "rb").read() == before and len(metrics(d)) == 1
    assert run_cli(train_char.main, [*argv, "--seed", "3", "--overwrite"]) == 0  # told: starts afresh
    assert [m["iter"] for m in metrics(d)] == [5]
    _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    assert meta["flags"]["seed"] == 3
    other = str(tmp_path / "busy")                                              # another process's lock
    os.makedirs(other)
    with open(os.path.join(other, ".lock"), "w") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        capsys.readouterr()
        assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", other]) == 2
        assert "another run is writing there" in one_line_error(capsys)
    assert not os.path.exists(os.path.join(other, "latest.npz"))


# 2. write failures -------------------------------------------------------------------------------
def test_disk_full_is_one_line_exit_1_and_metrics_match_checkpoints(tiny_text, tmp_path, capsys, monkeypatch):
    d = str(tmp_path / "full")
    real, calls = np.savez, []

    def savez(f, **arrays):                       # latest+best at iteration 5 succeed, latest at 10 fails
        calls.append(1)
        if len(calls) == 3:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)
    monkeypatch.setattr(np, "savez", savez)
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "20", "--checkpoint-dir", d]) == 1
    err = one_line_error(capsys)
    assert "No space left on device" in err and "latest.npz" in err
    _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    assert meta["iteration"] == 5 and [m["iter"] for m in metrics(d)] == [5]   # no line without its checkpoint
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    monkeypatch.setattr(np, "savez", real)
    # a SIGKILLed save left a temp file, and a line beyond the checkpoint: resume cleans both
    open(os.path.join(d, "latest.npz.x1y2.tmp"), "wb").write(b"half")
    with open(os.path.join(d, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"iter": 10, "val_loss": 1.0}) + "\n{\"iter\": 1")
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", "15"]) == 0
    assert [m["iter"] for m in metrics(d)] == [5, 10, 15]
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]


# 3. impossible sizes and rates -------------------------------------------------------------------
def test_impossible_sizes_and_rates_are_refused_before_allocating(tiny_text, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    for argv in (["--hidden", "10000000"], ["--embed", "100000000000"], ["--layers", "1000", "--hidden", "4096"]):
        assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, *argv, "--checkpoint-dir", ck]) == 2
        assert "of memory" in one_line_error(capsys)
    huge = tmp_path / "huge.vec"
    huge.write_text("100000000000 100\nw 1 2\n", encoding="utf-8")
    assert run_cli(quantize.main, ["--vectors", str(huge), "--out", str(tmp_path / "q")]) == 2
    assert "the header says 100000000000 words" in one_line_error(capsys)
    out = str(tmp_path / "v.txt")
    for argv, message in ((["--alpha", "2"], "--alpha"), (["--alpha", "1"], "--alpha"),
                          (["--dim", "1000000000000"], "of memory")):
        assert run_cli(train_word2vec.main, ["--corpus", tiny_text, "--min-count", "1", "--epochs", "1",
                                             "--workers", "1", "--out", out, *argv]) == 2
        assert message in one_line_error(capsys)


def test_word_vectors_and_quantizer_outputs_are_not_replaced_unless_overwrite(tiny_text, tmp_path, capsys):
    out = str(tmp_path / "v.txt")
    w2v = ["--corpus", tiny_text, "--min-count", "1", "--epochs", "1", "--dim", "8", "--workers", "1", "--out", out]
    assert run_cli(train_word2vec.main, w2v) == 0
    before = open(out, "rb").read()
    capsys.readouterr()
    assert run_cli(train_word2vec.main, [*w2v, "--seed", "5"]) == 2
    assert "already exist" in one_line_error(capsys) and open(out, "rb").read() == before
    assert run_cli(train_word2vec.main, [*w2v, "--seed", "5", "--overwrite"]) == 0
    assert open(out, "rb").read() != before
    q = str(tmp_path / "q")
    quant = ["--vectors", out, "--clusters", "3", "--out", q]
    assert run_cli(quantize.main, quant) == 0
    before = open(os.path.join(q, "quantizer.npz"), "rb").read()
    capsys.readouterr()
    assert run_cli(quantize.main, [*quant, "--seed", "4"]) == 2
    captured = capsys.readouterr()
    assert "quantizer.npz" in captured.err and "iter" not in captured.out             # before k-means
    assert open(os.path.join(q, "quantizer.npz"), "rb").read() == before
    assert run_cli(quantize.main, [*quant, "--seed", "4", "--overwrite"]) == 0


def test_word2vec_divergence_is_caught_whatever_the_rate(tiny_text, monkeypatch):
    from minirnn import word2vec
    monkeypatch.setattr(word2vec, "MAX_ALPHA", 10.0)                           # past the validated range
    with pytest.raises(UsageError, match="diverged"):
        word2vec.Word2Vec(dim=50, min_count=1, alpha=2.0, epochs=3, workers=1, sample=0).train(tiny_text)


# 4. outputs checked before the long work -----------------------------------------------------------
def test_outputs_and_stage_flags_are_checked_before_the_long_work(tiny_text, tmp_path, capsys):
    a_dir, a_file = tmp_path / "adir", tmp_path / "afile"
    a_dir.mkdir()
    a_file.write_text("x")
    assert run_cli(train_word2vec.main, ["--corpus", tiny_text, "--min-count", "1", "--out", str(a_dir)]) == 2
    assert "is a directory" in one_line_error(capsys)
    assert run_cli(train_word2vec.main, ["--corpus", tiny_text, "--min-count", "1", "--out",
                                         str(tmp_path / "nodir" / "v.txt")]) == 2
    assert "does not exist" in one_line_error(capsys)
    vec = vectors_file(tmp_path / "v.txt")
    assert run_cli(quantize.main, ["--vectors", vec, "--clusters", "3", "--out", str(a_file)]) == 2
    captured = capsys.readouterr()
    assert "not a directory" in captured.err and "iter" not in captured.out           # before k-means
    assert run_cli(train_word.main, ["--corpus", tiny_text, "--kmeans-iter", "0",
                                     "--checkpoint-dir", str(tmp_path / "w")]) == 2
    captured = capsys.readouterr()
    assert "--kmeans-iter" in captured.err and "stage 1" not in captured.out          # before word2vec


# 5. corrupt or hostile side files --------------------------------------------------------------------
def test_corrupt_side_files_are_one_line_errors(tiny_text, tmp_path, capsys):
    d = str(tmp_path / "c")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d]) == 0
    arrays, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    for field, value in (("vocab", 7), ("vocab", meta["vocab"][:-3]), ("model", []), ("iteration", "5"),
                         ("flags", None), ("flags", dict(meta["flags"], hidden="16", dropout=None))):
        bad = str(tmp_path / f"bad_{field}.npz")
        checkpoint.save(bad, arrays, dict(meta, **{field: value}))
        capsys.readouterr()
        if field != "flags":                                                    # the sampler reads no flags
            assert run_cli(sample_char.main, ["--checkpoint", bad, "--length", "5"]) == 2
            assert "checkpoint" in one_line_error(capsys)
        assert run_cli(train_char.main, ["--resume", bad, "--iters", "10", "--checkpoint-dir", d]) == 2
        assert "checkpoint" in one_line_error(capsys)
    # a quantizer: truncated npz, json without its keys, invalid json
    words = [f"w{i}" for i in range(12)]
    vecs = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    qd = tmp_path / "q"
    EmbeddingQuantizer(3, seed=0).fit(words, vecs).save(qd)
    good_npz, good_json = (qd / "quantizer.npz").read_bytes(), (qd / "quantizer.json").read_text()
    for name, content in (("quantizer.npz", good_npz[:len(good_npz) // 2]),
                          ("quantizer.json", json.dumps({"format": json.loads(good_json)["format"]})),
                          ("quantizer.json", good_json[:-20]),
                          ("quantizer.json", good_json.replace('"metric": "cosine"', '"metric": 3'))):
        (qd / "quantizer.npz").write_bytes(good_npz)
        (qd / "quantizer.json").write_text(good_json)
        (qd / name).write_bytes(content) if isinstance(content, bytes) else (qd / name).write_text(content)
        with pytest.raises(UsageError):
            EmbeddingQuantizer.load(qd)
    # vectors with a NaN row never reach k-means
    nan_vec = vectors_file(tmp_path / "nan.vec", nan_row=5)
    assert run_cli(quantize.main, ["--vectors", nan_vec, "--clusters", "3", "--out", str(tmp_path / "qq")]) == 2
    assert "NaN" in one_line_error(capsys)


# 6. special files ----------------------------------------------------------------------------------
def test_fifo_and_process_substitution_are_refused_not_hung(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    r_fd, w_fd = os.pipe()                                                      # what <(cat file) gives
    os.write(w_fd, TINY.encode())
    os.close(w_fd)
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        import train_char, train_word2vec
        from minirnn.errors import run_cli
        for path in ({fifo!r}, "/dev/fd/{r_fd}"):
            print(run_cli(train_char.main, ["--text", path, "--checkpoint-dir", {str(tmp_path / 'ck')!r}]))
            print(run_cli(train_word2vec.main, ["--corpus", path, "--out", {str(tmp_path / 'v.txt')!r}]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV,
                       pass_fds=(r_fd,))
    os.close(r_fd)
    assert r.stdout.split() == ["2", "2", "2", "2"], r.stderr
    assert r.stderr.count("pipe or FIFO") == 4 and "Traceback" not in r.stderr


# 7. resume picks the right file ---------------------------------------------------------------------
def test_resume_uses_the_file_it_was_trained_on(tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "t.txt").write_text(TINY, encoding="utf-8")
    (b / "t.txt").write_text(TINY[::-1], encoding="utf-8")                      # same characters, other text
    ck = str(tmp_path / "ck")
    monkeypatch.chdir(a)
    assert run_cli(train_char.main, ["--text", "t.txt", *SMALL, "--iters", "5", "--checkpoint-dir", ck]) == 0
    _, meta = checkpoint.load(os.path.join(ck, "latest.npz"))
    assert meta["flags"]["text"] == str(a / "t.txt") and meta["files"]["text"]["bytes"] == len(TINY)
    monkeypatch.chdir(b)                                                        # resume elsewhere: a's file
    assert run_cli(train_char.main, ["--resume", "--iters", "10", "--checkpoint-dir", ck]) == 0
    _, meta = checkpoint.load(os.path.join(ck, "latest.npz"))
    assert meta["text"] == str(a / "t.txt")
    (a / "t.txt").write_text(TINY.replace("sancho", "panzas"), encoding="utf-8")  # the file changed
    capsys.readouterr()
    assert run_cli(train_char.main, ["--resume", "--iters", "15", "--checkpoint-dir", ck]) == 2
    assert "not the file this checkpoint was trained on" in one_line_error(capsys)
    arrays, meta = checkpoint.load(os.path.join(ck, "latest.npz"))              # an older, relative one
    meta["flags"]["text"] = "gone.txt"
    checkpoint.save(os.path.join(ck, "old.npz"), arrays, meta)
    assert run_cli(train_char.main, ["--resume", os.path.join(ck, "old.npz"), "--iters", "15"]) == 2
    assert "relative path" in one_line_error(capsys)


# 8. messages that mislead ---------------------------------------------------------------------------
def test_foreign_checkpoints_and_nan_vectors_get_true_messages(tiny_text, tmp_path, capsys):
    js = tmp_path / "latest.json"
    js.write_text('{"iteration": 5}')
    rnd = tmp_path / "random.npz"
    rnd.write_bytes(np.random.default_rng(0).bytes(4000))
    for path, says in ((js, "JSON"), (rnd, "not a minirnn checkpoint")):
        assert run_cli(sample_char.main, ["--checkpoint", str(path)]) == 2
        err = one_line_error(capsys)
        assert says in err and "pickle" not in err
    nan_vec = vectors_file(tmp_path / "nan.vec", rows=40, nan_row=2)
    corpus = tmp_path / "c.txt"
    corpus.write_text(" ".join(f"w{i % 40}" for i in range(3000)), encoding="utf-8")
    assert run_cli(train_word.main, ["--corpus", str(corpus), "--vectors", nan_vec, "--clusters", "0",
                                     *SMALL, "--checkpoint-dir", str(tmp_path / "w")]) == 2
    err = one_line_error(capsys)
    assert "NaN" in err and "diverged" not in err and "--lr" not in err


# 9. interrupts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["train_char", "train_word2vec", "train_word"])
def test_interrupts_end_with_one_line_never_a_traceback(script, tiny_text, tmp_path):
    # train_char: Ctrl-C twice at a sample point (the second stops at once);
    # train_word2vec, and train_word's word2vec stage: Ctrl-C once inside the epochs
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        from minirnn.errors import run_cli
        # Ctrl-C as at a terminal, even when the tests run in a background job (SIGINT inherited
        # ignored, which the scripts respect): the test must not depend on how it was started
        signal.signal(signal.SIGINT, signal.default_int_handler)
        def ctrl_c(times):
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
        if {script!r} == "train_char":
            import train_char as s
            from minirnn import trainer
            trainer.Trainer._sample_point = lambda self: ctrl_c(2)
            argv = ["--text", {tiny_text!r}, "--hidden", "8", "--batch", "4", "--seq", "8",
                    "--sample-every", "3", "--checkpoint-dir", {str(tmp_path / 'ck')!r}]
        else:
            import train_word2vec as s
            import train_word
            from minirnn import word2vec
            kernel = word2vec.kernels.sgns_block
            def interrupted(*a):
                kernel(*a)
                ctrl_c(1)
            word2vec.kernels = type("K", (), {{"sgns_block": staticmethod(interrupted)}})
            argv = ["--corpus", {tiny_text!r}, "--min-count", "1", "--out", {str(tmp_path / 'v.txt')!r}]
            if {script!r} == "train_word":
                s = train_word
                argv = ["--corpus", {tiny_text!r}, "--min-count", "1", "--checkpoint-dir", {str(tmp_path / 'w')!r}]
        sys.exit(run_cli(s.main, argv))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr and "interrupted" in r.stderr
    assert not os.path.exists(tmp_path / "v.txt") and not os.path.exists(tmp_path / "w" / "vectors.txt")


# 10. scale ---------------------------------------------------------------------------------------------
def test_a_corpus_without_newlines_streams_in_bounded_memory(tmp_path, monkeypatch):
    words = ["sancho", "panza", "quijote", "rocinante", "dulcinea", "mancha"]
    text = " ".join(words[i % 6] for i in range(500_000))                      # ~3.7 MB, no newline
    p = tmp_path / "flat.txt"
    p.write_text(text, encoding="utf-8")
    pieces = list(textio.iter_lines(str(p), max_len=10_000))
    assert "".join(pieces) == text and max(map(len, pieces)) <= 10_000
    monkeypatch.setattr(tokenize, "MAX_PIECE", 1 << 16)
    tracemalloc.start()
    n = sum(len(s) for s in tokenize.iter_sentences(str(p), max_len=1000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 500_000 and peak < 8 << 20                                      # not the whole line


def test_validation_is_capped_during_training_and_whole_at_the_end(tiny_text, tmp_path):
    ids, vocab = chardata.encode_file(tiny_text)
    train, val = chardata.split(ids, 0.4, 2, 8)
    assert len(val) > 3
    model = RNNLM(len(vocab), hidden=8, layers=1)
    d = str(tmp_path / "v")
    t = Trainer(model, Adam(model.trainable()), train, val, iters=10, eval_every=5, checkpoint_dir=d,
                meta={"kind": "char"}, eval_windows=3, out=open(os.devnull, "w"))
    assert t.run() == 0
    first, last = metrics(d)
    assert first["val_windows"] == 3 and "val_loss_full" not in first
    assert np.isclose(last["val_loss"], t.evaluate(3)) and np.isclose(last["val_loss_full"], t.evaluate())
    # a cap at or above the split's size changes nothing: the bundled novel's default run keeps its numbers
    t2 = Trainer(model, Adam(model.trainable()), train, val, iters=1, eval_every=1,
                 checkpoint_dir=str(tmp_path / "w"), meta={"kind": "char"}, eval_windows=len(val),
                 out=open(os.devnull, "w"))
    t2.run()
    (rec,) = metrics(str(tmp_path / "w"))
    assert "val_windows" not in rec and rec["val_loss"] == t2.evaluate()


def test_data_errors_are_input_and_other_value_errors_are_bugs(tmp_path, capsys, monkeypatch):
    """quantize.py: k-means' checks of the vectors (more clusters than distinct vectors, NaN) are the
    input's fault, exit 2 naming the file; any other ValueError inside the clustering is a bug of
    minirnn, exit 1 ("internal error"), not blamed on the user's file."""
    vec = vectors_file(tmp_path / "v.txt", rows=6)
    dup = tmp_path / "dup.txt"                       # 6 rows, 2 distinct vectors
    dup.write_text("6 2\n" + "".join(f"w{i} {i % 2}.0 1.0\n" for i in range(6)), encoding="utf-8")
    assert run_cli(quantize.main, ["--vectors", str(dup), "--clusters", "3", "--out", str(tmp_path / "q1")]) == 2
    err = one_line_error(capsys)
    assert str(dup) in err and "distinct" in err
    from minirnn.quantizer import EmbeddingQuantizer

    def broken(self, *a, **k):
        raise ValueError("operands could not be broadcast together")
    monkeypatch.setattr(EmbeddingQuantizer, "fit", broken)
    assert run_cli(quantize.main, ["--vectors", vec, "--clusters", "3", "--out", str(tmp_path / "q2")]) == 1
    err = one_line_error(capsys)
    assert "internal error" in err and vec not in err
