"""Hostile use, round three (issue 33), and what a run tells its user (issue 34): one test per cause,
each backing a line of docs/guarantees.md. --overwrite is a transaction; no resume discards history;
one writer for every file a command creates; the metrics line and its checkpoint in an order a kill -9
cannot break; every loop over a user number bounded; signal handlers before the heavy imports; a
fault of the user's input or environment is exit 2, never an internal error."""
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from minirnn import chardata, checkpoint, cli, errors
from minirnn.errors import run_cli
from minirnn.model import RNNLM
from minirnn.optim import Adam
from minirnn.trainer import Trainer

from helpers import TINY, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
import eval_char  # noqa: E402
import generate_words  # noqa: E402
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


def train(text, d, *more, iters=5):
    assert run_cli(train_char.main, ["--text", text, *SMALL, "--iters", str(iters), "--checkpoint-dir", d, *more]) == 0


def snapshot(d):
    """{name: bytes} of the files in d (the lock file aside)."""
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))
            if n != ".lock" and os.path.isfile(os.path.join(d, n))}


def vectors(path, dim=4, rows=40, seed=0):
    vecs = np.random.default_rng(seed).standard_normal((rows, dim))
    lines = [f"{rows} {dim}"] + [f"{w} " + " ".join(f"{x:.4f}" for x in v) for w, v in zip(WORDS, vecs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text(" ".join(WORDS[i % 40] for i in range(3000)), encoding="utf-8")
    return str(p)


def siblings(d):
    """The --overwrite siblings of run directory d that exist."""
    parent, base = os.path.split(os.path.abspath(d))
    return [n for n in os.listdir(parent) if n.startswith(f".{base}.minirnn-")]


# 1. --overwrite is a transaction --------------------------------------------------------------------
def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tiny_text, tmp_path, capsys, monkeypatch):
    d = str(tmp_path / "run")
    train(tiny_text, d)
    (tmp_path / "run" / "notes.txt").write_text("my notes")
    before = snapshot(d)
    old_id = checkpoint.load_meta(os.path.join(d, "latest.npz"))["run_id"]
    (tmp_path / "short.txt").write_text("ab")
    capsys.readouterr()
    for more in (["--text", str(tmp_path / "typo.txt")], ["--text", str(tmp_path / "short.txt")],
                 ["--text", str(tmp_path)], ["--batch", "100000000"]):
        assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d,
                                         *more, "--overwrite"]) == 2, more
        one_line_error(capsys)
        assert snapshot(d) == before and siblings(d) == [], more
    # a run that fails at its first checkpoint (the disk is full) leaves the old run whole too
    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d,
                                     "--overwrite"]) == 1
    monkeypatch.undo()
    assert snapshot(d) == before and siblings(d) == []
    # a directory that cannot be swapped (a mount point) is refused before the work
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: os.path.realpath(p) == os.path.realpath(d) or real_ismount(p))
    capsys.readouterr()
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--checkpoint-dir", d, "--overwrite"]) == 2
    assert "mount point" in one_line_error(capsys)
    monkeypatch.undo()
    assert snapshot(d) == before and siblings(d) == []
    # told, and able: the new run replaces the old one; the user's own file stays
    train(tiny_text, d, "--seed", "3", "--overwrite")
    assert [m["iter"] for m in metrics(d)] == [5] and siblings(d) == []
    meta = checkpoint.load_meta(os.path.join(d, "latest.npz"))
    assert meta["flags"]["seed"] == 3 and meta["run_id"] != old_id
    assert (tmp_path / "run" / "notes.txt").read_text() == "my notes"
    assert "first checkpoint" in " ".join(train_char.build_parser().format_help().split())
    # a kill -9 before the swap left the sibling: the next run removes it, the old run untouched
    work = tmp_path / ".run.minirnn-new"
    work.mkdir()
    (work / cli.STAGING_MARK).write_text("")
    (work / "latest.npz").write_bytes(b"half a new run")
    before = snapshot(d)
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", "10"]) == 0
    assert not work.exists() and [m["iter"] for m in metrics(d)] == [5, 10]
    # ... and after the swap: the old run's directory is removed, the user's files moved back
    shutil.copytree(d, work)
    (work / cli.REPLACED_MARK).write_text("")
    (work / "notes2.txt").write_text("also mine")
    (tmp_path / "run" / cli.STAGING_MARK).write_text("")
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", "15"]) == 0
    assert not work.exists() and (tmp_path / "run" / "notes2.txt").read_text() == "also mine"
    assert not (tmp_path / "run" / cli.STAGING_MARK).exists()


def test_train_word_overwrite_keeps_the_old_run_and_its_stage_outputs(corpus, tmp_path, capsys):
    d = str(tmp_path / "w")
    base = ["--corpus", corpus, "--min-count", "1", "--w2v-epochs", "1", "--dim", "8", "--clusters", "0",
            *SMALL, "--iters", "5", "--checkpoint-dir", d]
    assert run_cli(train_word.main, base) == 0
    assert os.path.exists(os.path.join(d, "vectors.txt"))
    before = snapshot(d)
    bad = tmp_path / "bad.vec"
    bad.write_text("2 3\nw0 1 2\n", encoding="utf-8")
    capsys.readouterr()
    for more in (["--vectors", str(bad)], ["--clusters", "5000"]):       # the second after word2vec ran again
        assert run_cli(train_word.main, [*base, *more, "--overwrite"]) == 2, more
        one_line_error(capsys)
        assert snapshot(d) == before and siblings(d) == [], more
    assert run_cli(train_word.main, [*base, "--seed", "4", "--overwrite"]) == 0
    assert snapshot(d)["vectors.txt"] != before["vectors.txt"] and siblings(d) == []
    meta = checkpoint.load_meta(os.path.join(d, "latest.npz"))
    # the stage output is named where it is now, and is the file the checkpoint was trained on
    assert meta["flags"]["vectors"] == os.path.join(os.path.abspath(d), "vectors.txt")
    assert meta["files"]["vectors"]["path"] == meta["flags"]["vectors"]
    assert run_cli(train_word.main, ["--checkpoint-dir", d, "--resume", "--iters", "10"]) == 0


# 2. every output a command creates, side files included ------------------------------------------------
def test_word2vec_side_files_are_outputs_checked_like_the_others(tmp_path, capsys):
    text = tmp_path / "c.json"                                 # a corpus whose name is --model's side file
    text.write_text(" ".join(WORDS[i % 40] for i in range(2000)), encoding="utf-8")
    mine = tmp_path / "m.json"
    mine.write_text("my notes")
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    base = ["--corpus", str(text), "--min-count", "1", "--epochs", "1", "--dim", "8"]
    for more, says in ((["--out", str(tmp_path / "v.txt"), "--model", str(tmp_path / "m.npz")], "already exist"),
                       (["--out", str(tmp_path / "v.txt"), "--model", str(tmp_path / "c")], "is the input --corpus"),
                       (["--out", str(tmp_path / "v.txt"), "--model", str(tmp_path / "v.txt.counts")],
                        "name the same file"),
                       (["--out", str(tmp_path / "real" / "m.json"), "--model", str(tmp_path / "alias" / "m")],
                        "name the same file")):
        capsys.readouterr()
        assert run_cli(train_word2vec.main, [*base, *more]) == 2, more
        err = one_line_error(capsys)
        assert says in err, err
    assert mine.read_text() == "my notes" and not (tmp_path / "v.txt").exists()
    assert text.read_text(encoding="utf-8").startswith("w0 w1")


def test_an_output_created_while_the_command_works_is_not_replaced(tiny_text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "v.txt"
    train_ = train_word2vec.Word2Vec.train

    def train_and_race(self, *a, **k):                     # another process writes --out meanwhile
        train_(self, *a, **k)
        out.write_text("another process's file")
    monkeypatch.setattr(train_word2vec.Word2Vec, "train", train_and_race)
    capsys.readouterr()
    assert run_cli(train_word2vec.main, ["--corpus", tiny_text, "--min-count", "1", "--epochs", "1", "--dim", "8",
                                         "--out", str(out)]) == 1
    err = one_line_error(capsys)
    assert "another process wrote this file" in err
    assert out.read_text() == "another process's file"
    kept = [n for n in os.listdir(tmp_path) if n.startswith("v.txt.") and n.endswith(".new")]
    assert len(kept) == 1 and err.count(kept[0]) == 1                    # the result is kept, and named


# 3. no resume that discards history ---------------------------------------------------------------------
def test_resume_that_would_discard_history_is_refused(tiny_text, tmp_path, capsys):
    d, other = str(tmp_path / "a"), str(tmp_path / "b")
    train(tiny_text, d)
    shutil.copy(os.path.join(d, "latest.npz"), os.path.join(d, "at5.npz"))
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", "10"]) == 0
    train(tiny_text, other, "--seed", "1", iters=10)
    shutil.copy(os.path.join(other, "latest.npz"), os.path.join(d, "copy.npz"))        # another run's, copied
    before = snapshot(d)
    capsys.readouterr()
    for name, says in (("at5.npz", "discard iterations 6-10"), ("copy.npz", "another run")):
        assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", os.path.join(d, name),
                                         "--iters", "15"]) == 2
        assert says in one_line_error(capsys)
        assert snapshot(d) == before
    # with --overwrite the run goes back to iteration 5 and continues from there, its history kept up to 5
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", os.path.join(d, "at5.npz"),
                                     "--iters", "15", "--overwrite"]) == 0
    assert [m["iter"] for m in metrics(d)] == [5, 10, 15]


def test_overwrite_never_removes_a_directory_named_like_a_run_file(tiny_text, tmp_path, capsys):
    d = tmp_path / "run"
    train(tiny_text, str(d))
    os.remove(d / "best.npz")
    (d / "best.npz").mkdir()
    (d / "best.npz" / "inside.txt").write_text("mine")
    capsys.readouterr()
    for more in ([], ["--overwrite"]):
        assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--checkpoint-dir", str(d), *more]) == 2
        assert "is a directory" in one_line_error(capsys)
        assert (d / "best.npz" / "inside.txt").read_text() == "mine"


# 4. the metrics line and its checkpoint: consistent at any kill -----------------------------------------
KILL = """
import os, signal, sys
import numpy as np
sys.path.insert(0, {scripts!r})
from minirnn.errors import run_cli
from minirnn import trainer
import train_char
point = sys.argv[1]
T = trainer.Trainer
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "line":                                  # the line written, the checkpoint not yet
    append = T._append_metrics
    def f(self, record):
        out = append(self, record)
        if self.it == 10:
            die()
        return out
    T._append_metrics = f
elif point == "rename":                              # latest.npz's temporary file written, not renamed
    savez, calls = np.savez, []
    def f(file, **arrays):
        savez(file, **arrays)
        calls.append(1)
        if len(calls) == 3:
            die()
    np.savez = f
elif point in ("latest", "best"):                    # after that checkpoint's rename
    save = T.save
    def f(self, name):
        out = save(self, name)
        if self.it == 10 and name == point:
            die()
        return out
    T.save = f
sys.exit(run_cli(train_char.main, sys.argv[2:]))
"""


def check_consistent(d, every):
    """At rest after a kill: latest.npz whole; metrics.jsonl whole lines, a line for every evaluation
    up to latest.npz's iteration and at most the one being saved beyond it."""
    latest = os.path.join(d, "latest.npz")
    it = checkpoint.load_meta(latest)["iteration"] if os.path.exists(latest) else 0
    text = open(os.path.join(d, "metrics.jsonl"), encoding="utf-8").read() if \
        os.path.exists(os.path.join(d, "metrics.jsonl")) else ""
    assert text == "" or text.endswith("\n"), text[-80:]
    iters = [json.loads(line)["iter"] for line in text.splitlines()]
    assert [k for k in iters if k <= it] == list(range(every, it + 1, every)), (iters, it)
    assert [k for k in iters if k > it] in ([], [it + every]), (iters, it)
    return it


def test_kill_9_anywhere_in_the_save_leaves_metrics_and_checkpoint_consistent(tiny_text, tmp_path, capsys,
                                                                              monkeypatch):
    flags = ["--text", tiny_text, *SMALL, "--iters", "15"]
    ref = str(tmp_path / "ref")
    assert run_cli(train_char.main, [*flags, "--checkpoint-dir", ref]) == 0
    want = [(m["iter"], m["val_loss"], m["train_loss"]) for m in metrics(ref)]
    code = KILL.format(scripts=SCRIPTS)

    def resumed_equals_unbroken(d):
        assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", "15"]) == 0
        assert [(m["iter"], m["val_loss"], m["train_loss"]) for m in metrics(d)] == want
        best = checkpoint.load_meta(os.path.join(d, "best.npz"))
        assert best["val_loss"] == min(v for _, v, _ in want)
        assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    for point in ("line", "rename", "latest", "best"):
        d = str(tmp_path / point)
        r = subprocess.run([sys.executable, "-c", code, point, *flags, "--checkpoint-dir", d],
                           capture_output=True, text=True, timeout=120, env=ENV)
        assert r.returncode == -signal.SIGKILL, (point, r.stdout, r.stderr)
        it = check_consistent(d, 5)
        assert it == (10 if point in ("latest", "best") else 5), point
        resumed_equals_unbroken(d)
    # a disk that fills at any of the writes: the same (exit 1, then resume)
    real = np.savez
    for fail_at in (3, 4):                               # latest.npz at 10; best.npz at 10
        d, calls = str(tmp_path / f"full{fail_at}"), []

        def savez(f, **arrays):
            calls.append(1)
            if len(calls) == fail_at:
                raise OSError(28, "No space left on device")
            return real(f, **arrays)
        monkeypatch.setattr(np, "savez", savez)
        assert run_cli(train_char.main, [*flags, "--checkpoint-dir", d]) == 1
        monkeypatch.setattr(np, "savez", real)
        assert check_consistent(d, 5) == (5 if fail_at == 3 else 10)
        assert [m["iter"] for m in metrics(d)] == [5] if fail_at == 3 else [5, 10]
        resumed_equals_unbroken(d)
    # and a short randomized loop: kill -9 at a random instant of a run that saves at every iteration
    rand = random.Random(33)
    d = str(tmp_path / "random")
    quick = ["--text", tiny_text, *SMALL[:8], "--eval-every", "1", "--eval-windows", "1", "--print-every", "1",
             "--sample-every", "0", "--iters", "400", "--checkpoint-dir", d]
    run_code = f"import sys; sys.path.insert(0, {SCRIPTS!r}); import train_char; " \
               f"from minirnn.errors import run_cli; sys.exit(run_cli(train_char.main, sys.argv[1:]))"
    for k in range(4):
        p = subprocess.Popen([sys.executable, "-c", run_code, *quick, *(["--resume"] if k else [])],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
        for line in p.stdout:                            # wait until it saves, then kill at a random instant
            if "val loss" in line:
                break
        time.sleep(rand.uniform(0.0, 0.2))
        p.kill()
        p.communicate()
        check_consistent(d, 1)
    it = checkpoint.load_meta(os.path.join(d, "latest.npz"))["iteration"]
    assert run_cli(train_char.main, ["--checkpoint-dir", d, "--resume", "--iters", str(it + 3)]) == 0
    assert [m["iter"] for m in metrics(d)] == list(range(1, it + 4))


# 5. loops over user numbers are bounded before they start ----------------------------------------------
def test_loops_over_user_numbers_are_bounded_before_they_start(tiny_text, tmp_path):
    vec = vectors(tmp_path / "v.vec")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SCRIPTS!r})
        from minirnn.errors import run_cli
        import train_char, train_word2vec, quantize
        print([run_cli(train_char.main, ["--text", {tiny_text!r}, "--layers", "1000000000000",
                                         "--checkpoint-dir", {str(tmp_path / 'c')!r}]),
               run_cli(train_word2vec.main, ["--corpus", {tiny_text!r}, "--min-count", "1", "--epochs", "1",
                                             "--negative", "1000000000", "--out", {str(tmp_path / 'o.txt')!r}]),
               run_cli(quantize.main, ["--vectors", {vec!r}, "--clusters", "2", "--n-init", "1000000000",
                                       "--out", {str(tmp_path / 'q')!r}])])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert r.stdout.strip() == "[2, 2, 2]", r.stdout + r.stderr
    assert "--layers must be in" in r.stderr and "--negative must be in" in r.stderr and "--n-init must be in" in r.stderr
    # the size check is the sum over layers, in closed form
    for L, E, H, cell in ((1, 7, 5, "lstm"), (3, 91, 16, "gru"), (4, 1, 3, "rnn")):
        G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
        loop = sum((E if l == 0 else H) * G * H + H * G * H + G * H for l in range(L))
        assert cli.model_bytes(9, E, H, L, cell, 1, 1, 1) == 4 * (loop + H * 9 + 9) + 9 * E + (L * H * (3 * G + 4) + 27)


# 6. signals during the imports, and the environment they read ----------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_imports_is_one_line_not_a_traceback(signum, tmp_path):
    """The signal arrives while NumPy is being imported, before run_cli: deterministic, through an
    import hook that sends it."""
    code = textwrap.dedent(f"""
        import os, runpy, sys
        class Hook:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy":
                    os.kill(os.getpid(), {int(signum)})
                return None
        sys.meta_path.insert(0, Hook())
        sys.argv = ["train_char.py", "--checkpoint-dir", {str(tmp_path / 'c')!r}]
        runpy.run_path({os.path.join(SCRIPTS, 'train_char.py')!r}, run_name="__main__")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == 128 + signum and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() in ("interrupted", "terminated (SIGTERM)") and not os.path.exists(tmp_path / "c")


def test_junk_in_numba_num_threads_is_one_line_and_exit_2(tmp_path):
    """Checked before Numba is imported; the other NUMBA_ variables too (Numba would warn with a
    traceback's text and go on, or fail at the first parallel loop, or crash with 99999 threads)."""
    for var, junk in (("NUMBA_NUM_THREADS", "abc"), ("NUMBA_NUM_THREADS", "0"), ("NUMBA_NUM_THREADS", "99999"),
                      ("NUMBA_THREADING_LAYER", "bogus"), ("NUMBA_DISABLE_JIT", "abc")):
        r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "sample_char.py"), "--checkpoint",
                            str(tmp_path / "none.npz")], capture_output=True, text=True, timeout=120,
                           env={**ENV, var: junk})
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {var}="), r.stderr


# 7. the user's environment and input: exit 2 (or on with it), never an internal error ------------------
def test_an_ascii_terminal_prints_samples_with_replacement_characters(tmp_path):
    text = tmp_path / "es.txt"
    text.write_text("¿Dónde está el niño? ¡Aquí, señor! " * 100, encoding="utf-8")
    r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "train_char.py"), "--text", str(text), *SMALL[:12],
                        "--sample-length", "40", "--iters", "5", "--checkpoint-dir", str(tmp_path / "c")],
                       capture_output=True, text=True, timeout=120, env={**ENV, "PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    assert "sample: " in r.stdout and "?" in r.stdout.split("sample: ")[1]
    # and a stdout that is closed (cmd >&-) is no reason to stop either
    r = subprocess.run(f"{sys.executable} {os.path.join(SCRIPTS, 'sample_char.py')} --checkpoint "
                       f"{tmp_path / 'c' / 'latest.npz'} --length 20 >&-", shell=True, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_file_names_that_are_not_utf8_work(tmp_path):
    """A text and a checkpoint directory whose names hold the byte 0xff, printed by the real stdout."""
    raw = os.fsencode(str(tmp_path))
    text, d = raw + b"/\xfftext.txt", raw + b"/ck\xff"
    with open(text, "wb") as f:
        f.write(TINY.encode())
    text, d = os.fsdecode(text), os.fsdecode(d)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SCRIPTS!r})
        from minirnn.errors import run_cli, startup
        startup("__main__")
        import eval_char, sample_char, train_char
        print([run_cli(train_char.main, ["--text", {text!r}, *{SMALL!r}, "--iters", "5", "--checkpoint-dir", {d!r}]),
               run_cli(sample_char.main, ["--checkpoint", {d!r} + "/latest.npz", "--length", "5"]),
               run_cli(eval_char.main, ["--checkpoint", {d!r} + "/latest.npz"])])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, env=ENV)
    assert r.stdout.strip().endswith(b"[0, 0, 0]") and b"Traceback" not in r.stderr, r.stdout + r.stderr
    assert b"held out" in r.stdout and os.path.exists(os.path.join(d, "best.npz"))


def test_checkpoint_fields_are_validated_before_use(tiny_text, corpus, tmp_path, capsys):
    a = str(tmp_path / "a")
    train(tiny_text, a)
    arrays, meta = checkpoint.load(os.path.join(a, "latest.npz"))
    out_w = dict(arrays, **{"param/out.W": arrays["param/out.W"] * 1e35})
    state = dict(arrays, **{"state/0/0": np.zeros((3, 16), np.float32)})
    moments = {k: (v[:1] if k.startswith("opt/") and v.ndim == 2 else v) for k, v in arrays.items()}   # broadcast
    for name, arr, m, argv, says in (
            ("smooth", arrays, dict(meta, smooth_loss=float("nan")), ["resume"], "smooth_loss"),
            ("state", state, meta, ["resume"], "carried state"),
            ("huge", out_w, meta, ["sample"], "in magnitude"),
            ("frac", arrays, dict(meta, flags=dict(meta["flags"], val_frac=5)), ["eval"], "val_frac"),
            ("frac2", arrays, dict(meta, flags=dict(meta["flags"], val_frac="abc")), ["eval"], "val_frac"),
            ("step", arrays, dict(meta, optimizer=dict(meta["optimizer"], t=-1)), ["resume"], "optimizer"),
            ("moments", moments, meta, ["resume"], "has shape")):
        path = str(tmp_path / f"{name}.npz")
        checkpoint.save(path, arr, m)
        main, args = {"resume": (train_char.main, ["--resume", path, "--iters", "10", "--checkpoint-dir",
                                                   str(tmp_path / f"r{name}")]),
                      "sample": (sample_char.main, ["--checkpoint", path, "--length", "5"]),
                      "eval": (eval_char.main, ["--checkpoint", path])}[argv[0]]
        capsys.readouterr()
        assert run_cli(main, args) == 2, name
        assert says in one_line_error(capsys), name
    w = str(tmp_path / "w")
    assert run_cli(train_word.main, ["--corpus", corpus, "--vectors", vectors(tmp_path / "v.vec"), "--clusters", "3",
                                     "--min-count", "1", *SMALL, "--iters", "5", "--checkpoint-dir", w]) == 0
    arrays, meta = checkpoint.load(os.path.join(w, "latest.npz"))
    logp = arrays["extra/logp_in"].copy()
    logp[0] = np.nan
    for name, arr, says in (("logp", dict(arrays, **{"extra/logp_in": logp}), "logp_in"),
                            ("narrow", dict(arrays, **{"extra/vectors": arrays["extra/vectors"][:, :2]}),
                             "dimensions")):
        path = str(tmp_path / f"{name}.npz")
        checkpoint.save(path, arr, meta)
        capsys.readouterr()
        assert run_cli(generate_words.main, ["--checkpoint", path, "--start", "w1", "--length", "3",
                                             "--choice", "nearest"]) == 2, name
        assert says in one_line_error(capsys), name


def test_flags_names_and_paths_are_checked_before_the_work(tiny_text, tmp_path, capsys):
    vec = vectors(tmp_path / "v.vec")
    long = "v" * 250                                           # fits; its .counts.json does not
    fits = "f" * 240                                           # fits with its side file, not with a temp suffix
    for main, argv, says in (
            (train_word2vec.main, ["--seed", "-1"], "--seed"),
            (train_char.main, ["--text", tiny_text, "--lr-decay-frac", "1e-300", "--checkpoint-dir",
                               str(tmp_path / "c")], None),
            (train_word2vec.main, ["--sample", "inf"], "--sample"),
            (train_word2vec.main, ["--out", str(tmp_path / long)], "bytes long"),
            (train_word2vec.main, ["--out", str(tmp_path / "x") + "/"], "names a directory"),
            (quantize.main, ["--vectors", vec, "--clusters", "2", "--tol", "inf", "--out", str(tmp_path / "q")], "--tol"),
            (eval_char.main, ["--checkpoint", "none.npz", "--text", str(tmp_path / "missing.txt")], "no such file")):
        if main is train_word2vec.main:
            argv = ["--corpus", tiny_text, "--min-count", "1", "--epochs", "1", "--dim", "8", *argv]
        capsys.readouterr()
        if says is None:                                       # a valid flag that used to fail
            assert run_cli(main, [*argv, *SMALL, "--iters", "3"]) == 0, argv
            continue
        assert run_cli(main, argv) == 2, argv
        err = one_line_error(capsys)
        assert says in err and "vocabulary" not in capsys.readouterr().out, (argv, err)
    assert run_cli(train_word2vec.main, ["--corpus", tiny_text, "--min-count", "1", "--epochs", "1", "--dim", "8",
                                         "--out", str(tmp_path / fits)]) == 0
    assert os.path.exists(tmp_path / (fits + ".counts.json"))


def test_a_word_counts_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    vec = vectors(tmp_path / "v.vec")
    os.mkfifo(vec + ".counts.json")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SCRIPTS!r})
        from minirnn.errors import run_cli
        import quantize
        sys.exit(run_cli(quantize.main, ["--vectors", {vec!r}, "--clusters", "2", "--out", {str(tmp_path / 'q')!r}]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 2 and "counts.json: is a pipe or FIFO" in r.stderr, r.stderr


def test_a_lock_that_is_a_directory_is_exit_2(tiny_text, tmp_path, capsys):
    d = tmp_path / "c"
    (d / ".lock").mkdir(parents=True)
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--checkpoint-dir", str(d)]) == 2
    assert "not a regular file" in one_line_error(capsys)


def test_memory_is_checked_against_what_is_available(tmp_path, monkeypatch):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       104857600 kB\nMemFree:          500000 kB\nMemAvailable:    1048576 kB\n")
    monkeypatch.delenv("MINIRNN_MEMORY", raising=False)
    monkeypatch.setattr(errors, "MEMINFO", str(info))
    monkeypatch.setattr(errors, "CGROUP_FILES", ())
    assert errors.memory_bytes() == 1 << 30                   # MemAvailable, not MemTotal
    with pytest.raises(errors.UsageError, match="available"):
        errors.require_memory(2 << 30, "a model", "use less")


# 8. what the run tells its user (issue 34) ------------------------------------------------------------
def test_a_refused_run_leaves_no_directory_behind(tiny_text, tmp_path, capsys):
    vec = tmp_path / "bad.vec"
    vec.write_text("2 3\nw0 1 2\n")
    for main, argv in ((train_char.main, ["--text", str(tmp_path / "typo.txt"), "--checkpoint-dir", str(tmp_path / "n1" / "c")]),
                       (train_char.main, ["--text", tiny_text, "--batch", "100000000", "--checkpoint-dir", str(tmp_path / "n2")]),
                       (quantize.main, ["--vectors", str(vec), "--clusters", "2", "--out", str(tmp_path / "n3")])):
        assert run_cli(main, argv) == 2, argv
    assert sorted(os.listdir(tmp_path)) == ["bad.vec", "tiny.txt"]


def test_the_run_says_what_it_saved_and_samples_a_short_run(tiny_text, tmp_path, capsys, monkeypatch):
    train(tiny_text, str(tmp_path / "a"))
    assert "saved latest.npz and best.npz" in capsys.readouterr().out
    losses = iter([(2.0, 2.0), (3.0, 3.0)])
    monkeypatch.setattr(Trainer, "_val_pass", lambda self, n, m, progress=False: next(losses))
    train(tiny_text, str(tmp_path / "b"), iters=10)
    lines = [x for x in capsys.readouterr().out.splitlines() if "val loss" in x]
    assert "saved latest.npz and best.npz" in lines[0] and "saved latest.npz in" in lines[1]
    monkeypatch.undo()
    # a run shorter than --eval-every (the default --sample-every) ends with a sample
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL[:8], "--iters", "3", "--sample-length", "10",
                                     "--checkpoint-dir", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().out.count("sample: ") == 1


class FakeClock:
    """The time source of the Trainer's progress: advanced by what the run does, not by the machine."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def timed_trainer(tmp_path, clock, costs, iters, eval_every, eval_windows, val_frac=0.1, sample_every=0):
    """A real tiny Trainer whose steps, validation windows, saves and samples cost `costs` seconds of
    the fake clock: costs(kind, n) -> seconds, n counting calls of that kind from 0."""
    p = tmp_path / "t.txt"
    p.write_text(TINY, encoding="utf-8")
    ids, vocab = chardata.encode_file(str(p))
    tr, va = chardata.split(ids, val_frac, 4, 16)
    model = RNNLM(len(vocab), hidden=8, layers=1, seed=0)
    out = io.StringIO()
    calls = {"step": 0, "val": 0, "save": 0, "sample": 0}

    def charge(kind):
        clock.t += costs(kind, calls[kind])
        calls[kind] += 1

    def sample_fn(model, rng):
        charge("sample")
        return "x"
    t = Trainer(model, Adam(model.trainable(), lr=1e-3), tr, va, iters=iters, eval_every=eval_every,
                checkpoint_dir=str(tmp_path / "ck"), meta={"kind": "char"}, print_every=10,
                eval_windows=eval_windows, sample_every=sample_every, sample_fn=sample_fn if sample_every else None,
                out=out, clock=clock)
    step, eval_loss, save = t.step, model.eval_loss, t.save

    def timed_step():
        step()
        charge("step")

    def timed_eval(*a, **k):
        r = eval_loss(*a, **k)
        charge("val")
        return r

    def timed_save(name):
        r = save(name)
        charge("save")
        return r
    t.step, model.eval_loss, t.save = timed_step, timed_eval, timed_save
    return t, out


def test_eta_is_within_a_quarter_of_the_time_left_once_5_percent_is_done(tmp_path):
    """Compilation in the first iterations and in the first validation windows, evaluations that cost
    as much as a quarter of the training: the ETA is the time that actually remained, +-25%."""
    clock = FakeClock()

    def costs(kind, n):
        return {"step": 30.0 if n < 2 else 1.0, "val": 8.0 if n < 2 else 3.0,
                "save": 0.5, "sample": 2.0}[kind]
    t, out = timed_trainer(tmp_path, clock, costs, iters=400, eval_every=40, eval_windows=0, sample_every=100)
    seen = []
    progress = t._progress

    def record(now):
        r = progress(now)
        seen.append((t.it, now, t.last_eta[1]))
        return r
    t._progress = record
    assert t.run() == 0
    end = clock()
    assert len(t.val) >= 4 and end > 500
    checked = [(it, eta, end - now) for it, now, eta in seen if it >= 0.05 * t.iters]
    assert len(checked) >= 30
    for it, eta, left in checked:
        assert abs(eta - left) <= 0.25 * left + 1e-9, (it, eta, left)


def test_the_end_of_run_validation_shows_its_progress(tmp_path):
    clock = FakeClock()
    t, out = timed_trainer(tmp_path, clock, lambda kind, n: 2.0 if kind == "val" else 0.1,
                           iters=20, eval_every=10, eval_windows=1, val_frac=0.5)
    assert t.run() == 0
    text = out.getvalue()
    final = text[text.index("iter 20/20"):]
    lines = [x for x in final.splitlines() if x.startswith("  validation: ")]
    assert len(lines) >= 2 and f"of {len(t.val):,} windows" in lines[0] and "to go" in lines[0], final
    assert "validation: " not in text[:text.index("iter 20/20")]            # the short passes stay quiet
