"""The char model end to end: memorising a tiny text, exact resume, Ctrl-C, NaN, and bad inputs."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from minirnn.chardata import CharVocab
from minirnn.errors import run_cli
from minirnn.model import RNNLM
from minirnn.optim import Adam, WarmupCosine, clip_grad_norm
from minirnn.trainer import Trainer
from minirnn import chardata

from helpers import TINY, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sample_char  # noqa: E402
import train_char  # noqa: E402

SMALL = ["--hidden", "24", "--layers", "2", "--batch", "4", "--seq", "16", "--eval-every", "5",
         "--print-every", "5", "--sample-every", "0", "--sample-length", "20"]



@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_memorises_a_tiny_text(cell):
    text = "en un lugar de la mancha, de cuyo nombre no quiero acordarme"
    vocab = CharVocab(sorted(set(text)))
    ids = vocab.encode(text)
    x, y = ids[None, :-1], ids[None, 1:]                                   # (1, T)
    model = RNNLM(len(vocab), hidden=48, layers=1, cell=cell, embed=0, seed=0)
    opt = Adam(model.trainable(), lr=1e-2)
    for _ in range(300):
        loss, _, cache = model.loss(x, y)
        grads, _ = model.backward(cache)
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
    assert float(loss) < 0.1


def test_resume_gives_the_losses_of_an_uninterrupted_run(tiny_text, tmp_path, capsys):
    # stop at 13 (not an evaluation point), resume across the epoch boundary (47 windows per epoch);
    # a constant learning rate, as --iters 13 would end a cosine schedule at 13
    flags = ["--text", tiny_text, "--dropout", "0.3", "--lr-schedule", "step", *SMALL]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert run_cli(train_char.main, [*flags, "--iters", "60", "--checkpoint-dir", a]) == 0
    assert run_cli(train_char.main, [*flags, "--iters", "13", "--checkpoint-dir", b]) == 0
    # resume takes every flag from the checkpoint
    assert run_cli(train_char.main, ["--iters", "60", "--checkpoint-dir", b, "--resume"]) == 0
    ma = metrics(a)
    mb = {m["iter"]: m for m in metrics(b)}
    assert [m["iter"] for m in ma] == list(range(5, 65, 5))
    for ra in ma:
        rb = mb[ra["iter"]]
        assert ra["train_loss"] == rb["train_loss"] and ra["val_loss"] == rb["val_loss"]
    assert ma[-1]["val_loss"] < ma[0]["val_loss"]
    from minirnn import checkpoint
    wa, _ = checkpoint.load(os.path.join(a, "latest.npz"))
    wb, _ = checkpoint.load(os.path.join(b, "latest.npz"))
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])                       # weights, moments, state


def test_interrupted_run_resumes_on_the_same_learning_rate_schedule(tiny_text, tmp_path, monkeypatch):
    # the default schedule (warm-up, cosine to --lr-floor at --iters) is a function of the iteration:
    # a run stopped at 13 (as Ctrl-C stops it) and resumed matches an uninterrupted one
    flags = ["--text", tiny_text, *SMALL, "--iters", "40", "--lr", "3e-3", "--warmup", "6", "--lr-floor", "0.2",
             "--lr-decay-frac", "0.8"]                                      # the cosine from 40 - 32 = 8
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert run_cli(train_char.main, [*flags, "--checkpoint-dir", a]) == 0
    step = Trainer.step

    def step_then_stop(self):
        step(self)
        self._stop = self._stop or self.it == 13

    monkeypatch.setattr(Trainer, "step", step_then_stop)
    assert run_cli(train_char.main, [*flags, "--checkpoint-dir", b]) == 0
    monkeypatch.setattr(Trainer, "step", step)
    from minirnn import checkpoint
    _, meta = checkpoint.load(os.path.join(b, "latest.npz"))
    assert meta["iteration"] == 13
    assert meta["optimizer"]["lr"] == WarmupCosine(3e-3, 40, 6, 0.2, 8)(12)   # the lr of step 13
    assert run_cli(train_char.main, ["--checkpoint-dir", b, "--resume"]) == 0
    ma, mb = metrics(a), metrics(b)
    assert [m["iter"] for m in mb] == [m["iter"] for m in ma] == list(range(5, 45, 5))
    assert [(m["train_loss"], m["val_loss"]) for m in ma] == [(m["train_loss"], m["val_loss"]) for m in mb]
    wa, meta_a = checkpoint.load(os.path.join(a, "latest.npz"))
    wb, meta_b = checkpoint.load(os.path.join(b, "latest.npz"))
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert meta_a["optimizer"]["lr"] == meta_b["optimizer"]["lr"] == pytest.approx(3e-3 * (0.2 + 0.8 * 0.5 * (
        1 + np.cos(np.pi * 31 / 32))), rel=1e-12)


def test_checkpoint_from_before_the_recipe_flags_resumes_on_its_old_recipe(tiny_text, tmp_path):
    # a checkpoint whose flags predate --bias-lr / --lr-schedule was trained with one bias rate and
    # a constant (step) learning rate: resuming it keeps those, not today's defaults
    from minirnn import checkpoint
    d = str(tmp_path / "old")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--lr", "0.004",
                                     "--lr-schedule", "step", "--bias-lr", "1", "--checkpoint-dir", d]) == 0
    path = os.path.join(d, "latest.npz")
    arrays, meta = checkpoint.load(path)
    for k in ("bias_lr", "lr_schedule", "warmup", "lr_floor", "lr_decay_frac"):
        del meta["flags"][k]
    checkpoint.save(path, arrays, meta)                             # as an older minirnn wrote it
    lr_saved = meta["optimizer"]["lr"]
    assert lr_saved == 0.004
    assert run_cli(train_char.main, ["--iters", "10", "--checkpoint-dir", d, "--resume"]) == 0
    _, meta = checkpoint.load(path)
    assert meta["iteration"] == 10
    assert meta["flags"]["bias_lr"] == 1.0 and meta["flags"]["lr_schedule"] == "step"
    assert meta["optimizer"]["lr"] == lr_saved                       # constant, not today's cosine


def test_resume_with_a_new_lr_trains_at_it_on_either_schedule(tiny_text, tmp_path):
    # the schedule sets every iteration's rate from the flags, so a --lr given on resume is used
    # (the optimizer's saved rate does not win over it)
    from minirnn import checkpoint
    for schedule in ("step", "cosine"):
        d = str(tmp_path / schedule)
        assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--lr-schedule",
                                         schedule, "--checkpoint-dir", d]) == 0
        assert run_cli(train_char.main, ["--iters", "30", "--lr", "0.002", "--checkpoint-dir", d,
                                         "--resume"]) == 0
        _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
        assert meta["flags"]["lr"] == 0.002
        # the rate of the last iteration (29 of 30): step keeps --lr, cosine is near its floor
        expected = 0.002 if schedule == "step" else None
        if expected is not None:
            assert meta["optimizer"]["lr"] == expected, schedule
        else:
            assert 0.0002 <= meta["optimizer"]["lr"] < 0.002 * 0.2, schedule


def test_resume_with_more_iters_says_the_cosine_schedule_is_planned_again(tiny_text, tmp_path, capsys):
    from minirnn import checkpoint
    d = str(tmp_path / "run")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "10", "--checkpoint-dir", d]) == 0
    _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    capsys.readouterr()
    assert run_cli(train_char.main, ["--iters", "40", "--checkpoint-dir", d, "--resume"]) == 0
    out = capsys.readouterr().out
    rate = WarmupCosine(6e-3, 40, 0, 0.1, 28)(10)                       # held at --lr until 40 - 12
    assert (f"the checkpoint's run planned 10 iterations; the cosine schedule is planned again over --iters 40, "
            f"so the learning rate goes from {meta['optimizer']['lr']:.3g} to {rate:.3g} at iteration 11") in out
    assert run_cli(train_char.main, ["--iters", "50", "--checkpoint-dir", d, "--resume", "--lr-schedule",
                                     "step"]) == 0
    assert "planned again" not in capsys.readouterr().out                # a constant rate: nothing to say


def test_resume_path_keeps_writing_beside_the_checkpoint(tiny_text, tmp_path, monkeypatch):
    d = tmp_path / "here"
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", str(d)]) == 0
    monkeypatch.chdir(tmp_path)
    assert run_cli(train_char.main, ["--resume", str(d / "latest.npz"), "--iters", "10"]) == 0
    assert [m["iter"] for m in metrics(str(d))] == [5, 10]
    assert not (tmp_path / "checkpoints").exists()


def test_diverging_update_at_an_evaluation_saves_nothing(tiny_text, tmp_path, capsys):
    d = tmp_path / "div"
    argv = ["--text", tiny_text, *SMALL, "--optimizer", "sgd", "--lr", "1e39", "--iters", "1",
            "--eval-every", "1", "--checkpoint-dir", str(d)]
    assert run_cli(train_char.main, argv) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "no checkpoint was written" in err
    assert not (d / "latest.npz").exists() and not (d / "best.npz").exists()
    assert not (d / "metrics.jsonl").exists()


def test_resume_refuses_another_config(tiny_text, tmp_path, capsys):
    d = str(tmp_path / "c")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d]) == 0
    capsys.readouterr()
    assert run_cli(train_char.main, ["--iters", "10", "--checkpoint-dir", d, "--resume", "--hidden", "32"]) == 2
    err = capsys.readouterr().err
    assert "--hidden 24 (you gave 32)" in err and err.count("\n") == 1
    other = tmp_path / "other.txt"
    other.write_text(TINY.upper(), encoding="utf-8")
    assert run_cli(train_char.main, ["--iters", "10", "--checkpoint-dir", d, "--resume", "--text", str(other)]) == 2
    assert "--text" in capsys.readouterr().err


def test_ctrl_c_saves_and_exits_zero_then_resumes(tiny_text, tmp_path):
    d = str(tmp_path / "ctrlc")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train_char.py"), "--text", tiny_text, *SMALL,
           "--print-every", "1", "--eval-every", "1000", "--iters", "100000", "--checkpoint-dir", d]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,   # Ctrl-C's
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even in a & job
    line = proc.stdout.readline()
    while line and not line.startswith("iter 3/"):                      # training is under way
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrupted at iteration" in out and "Traceback" not in err
    _, meta = __import__("minirnn.checkpoint").checkpoint.load(os.path.join(d, "latest.npz"))
    assert 3 <= meta["iteration"] < 100000
    assert run_cli(train_char.main, ["--iters", str(meta["iteration"] + 2), "--checkpoint-dir", d,
                                     "--resume"]) == 0


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_text, tmp_path, capsys):
    ids, vocab = chardata.encode_file(tiny_text)
    train, val = chardata.split(ids, 0.1, 4, 16)
    model = RNNLM(len(vocab), hidden=16, layers=1, embed=0)
    d = str(tmp_path / "nan")
    t = Trainer(model, Adam(model.trainable()), train, val, iters=10, eval_every=5, checkpoint_dir=d,
                meta={"kind": "char"}, print_every=1)
    assert t.run() == 0
    model.params["out.b"][0] = np.nan                                   # poison the weights
    t.iters = 20
    assert t.run() == 1
    assert "NaN" in capsys.readouterr().err
    from minirnn import checkpoint
    arrays, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    assert meta["iteration"] == 10 and np.isfinite(arrays["param/out.b"]).all()


def test_sample_script_streams_and_is_reproducible(tiny_text, tmp_path, capsys):
    d = str(tmp_path / "s")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d]) == 0
    ck = os.path.join(d, "latest.npz")
    outs = []
    for seed in ["3", "3", "4"]:
        capsys.readouterr()
        assert run_cli(sample_char.main, ["--checkpoint", ck, "--prime", "don ", "--length", "60",
                                          "--seed", seed, "--top-p", "0.95", "--top-k", "10"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] != outs[2]
    assert outs[0].startswith("don ") and len(outs[0]) == len("don ") + 60 + 1


@pytest.mark.parametrize("argv, message", [
    (["--text", "{tmp}/missing.txt"], "no such file"),
    (["--text", "{tmp}/empty.txt"], "empty"),
    (["--text", "{tmp}/binary.bin"], "binary"),
    (["--text", "{tmp}/latin1.txt"], "UTF-8"),
    (["--text", "{tmp}/short.txt"], "too short"),
    (["--text", "{tiny}", "--hidden", "0"], "--hidden"),
    (["--text", "{tiny}", "--dropout", "1.5"], "--dropout"),
    (["--text", "{tiny}", "--val-frac", "0"], "--val-frac"),
    (["--text", "{tiny}", "--lr", "-1"], "--lr"),
    (["--text", "{tiny}", "--resume", "{tmp}/nothing.npz"], "no such checkpoint"),
    (["--text", "{tiny}", "--resume", "{tmp}/bare.npy"], "not an .npz"),
    (["--text", "{tiny}", "--seed", "-1"], "--seed"),
    (["--text", "{tiny}", "--lr", "inf"], "--lr"),
    (["--text", "{tiny}", "--sample-temperature", "nan"], "--sample-temperature must"),
    (["--text", "{tiny}", "--checkpoint-dir", "{tiny}"], "not a directory"),
    (["--text", "{tiny}", "--lr-schedule", "step", "--warmup", "5"], "--warmup 5 applies to --lr-schedule cosine"),
    (["--text", "{tiny}", "--lr-decay-every", "7"], "--lr-decay-every 7 applies to --lr-schedule step"),
    (["--text", "{tiny}", "--lr-decay", "0.5"], "--lr-decay 0.5 applies to --lr-schedule step"),
])
def test_bad_inputs_one_line_exit_2(argv, message, tmp_path, tiny_text, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin1.txt").write_bytes("año de gracia".encode("latin-1"))
    (tmp_path / "short.txt").write_text("demasiado corto", encoding="utf-8")
    np.save(tmp_path / "bare.npy", np.zeros(3))
    argv = [a.format(tmp=tmp_path, tiny=tiny_text) for a in argv]
    assert run_cli(train_char.main, [*SMALL, "--checkpoint-dir", str(tmp_path / "ck"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_sampling_edge_options(tmp_path, capsys):
    no_newline = tmp_path / "flat.txt"
    no_newline.write_text(TINY.replace("\n", " "), encoding="utf-8")
    d = str(tmp_path / "flat")
    assert run_cli(train_char.main, ["--text", str(no_newline), *SMALL, "--iters", "5", "--checkpoint-dir", d]) == 0
    ck = os.path.join(d, "latest.npz")
    capsys.readouterr()
    assert run_cli(sample_char.main, ["--checkpoint", ck, "--length", "10", "--seed", "1"]) == 0  # default prime
    assert run_cli(sample_char.main, ["--checkpoint", ck, "--length", "10", "--temperature", "1e-320"]) == 0
    for bad in (["--temperature", "nan"], ["--seed", "-3"]):
        capsys.readouterr()
        assert run_cli(sample_char.main, ["--checkpoint", ck, *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_bad_prime_and_checkpoint_from_the_command_line(tiny_text, tmp_path):
    d = str(tmp_path / "p")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--checkpoint-dir", d]) == 0
    script = os.path.join(ROOT, "scripts", "sample_char.py")
    r = subprocess.run([sys.executable, script, "--checkpoint", os.path.join(d, "latest.npz"),
                        "--prime", "don Quijote ☃"], capture_output=True, text=True)
    assert r.returncode == 2 and "not in the model's vocabulary" in r.stderr and "'☃'" in r.stderr
    assert "'Q'" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    r = subprocess.run([sys.executable, script, "--checkpoint", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_gru_model_and_sample_script_beam_prints_k_continuations_best_first(tiny_text, tmp_path, capsys):
    d = str(tmp_path / "b")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--iters", "5", "--model", "gru",
                                     "--checkpoint-dir", d]) == 0
    capsys.readouterr()
    assert run_cli(sample_char.main, ["--checkpoint", os.path.join(d, "latest.npz"), "--prime", "don ",
                                      "--length", "12", "--beam", "3", "--beam-end", ".", "--length-norm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    heads, texts = lines[0::2], lines[1::2]
    assert len(heads) == 3 and all(h.startswith("--- beam ") for h in heads)
    per_char = [float(h.split("(")[1].split()[0]) for h in heads]
    assert per_char == sorted(per_char, reverse=True)          # --length-norm ranks by log p per char
    assert len(set(texts)) == 3 and all(t.startswith("don ") and 4 < len(t) <= 4 + 12 for t in texts)
    assert run_cli(sample_char.main, ["--checkpoint", os.path.join(d, "latest.npz"), "--beam", "-1"]) == 2
