"""examples/min_char_lstm.py, the one-page char LSTM: it runs, its loss falls, it prints a sample."""
import os
import re
import subprocess
import sys

from helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "min_char_lstm.py")


def test_min_char_lstm_fits_on_a_page():
    with open(EXAMPLE, encoding="utf-8") as f:
        text = f.read()
    assert len(text.splitlines()) <= 150
    assert "from minirnn.layers import" in text                   # the book's layers, not a copy
    assert "minirnn.fast" not in text and "import fast" not in text     # the engine stays out


def test_min_char_lstm_loss_falls_and_it_samples(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY, encoding="utf-8")
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(path), "--iters", "200", "--hidden", "32",
                        "--batch", "4", "--seq", "16", "--print-every", "50", "--sample-length", "40"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    losses = [float(x) for x in re.findall(r"^iter +\d+ +loss ([\d.]+)", r.stdout, re.M)]
    assert len(losses) == 4
    first, last = map(float, re.search(r"loss: ([\d.]+) at the first window, ([\d.]+)", r.stdout).groups())
    assert first > 3.0 and last < first - 1.0, r.stdout         # ln(28 characters) = 3.3 at the start
    assert losses == sorted(losses, reverse=True), r.stdout       # falling at every line
    sample = r.stdout.split("':\n", 1)[1].rstrip("\n")
    assert len(sample) == 40 and set(sample) <= set(TINY)


def run_example(tmp_path, text, *flags):
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(path), *flags], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_byte_order_mark_is_not_a_character(tmp_path):
    out = run_example(tmp_path, "\ufeff" + TINY, "--iters", "1", "--hidden", "4", "--batch", "2", "--seq", "8",
                      "--sample-length", "0")
    assert f"{len(TINY):,} characters, {len(set(TINY))} distinct" in out, out


def test_the_sample_goes_on_from_the_state_it_is_given(tmp_path):
    """On a text of period 4 whose next character needs the last two (aabb: after "ab" comes "b",
    after "bb" comes "a"), the trained model's sample continues the text the state has read. A
    sample that fed the last character read once more (the state then reads "abb") starts one step off."""
    out = run_example(tmp_path, "aabb" * 300, "--iters", "150", "--hidden", "16", "--batch", "4", "--seq", "16",
                      "--print-every", "150", "--sample-length", "12", "--lr", "0.02")
    first, last = map(float, re.search(r"loss: ([\d.]+) at the first window, ([\d.]+)", out).groups())
    assert last < 0.05, out                                      # the pattern is learnt
    read = re.search(r"going on after \.\.\.'([ab]+)':\n([ab]+)\n", out)
    assert read, out
    assert (read.group(1) + read.group(2)) in "aabb" * 20, out


def test_min_char_lstm_refuses_a_text_too_short(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("hola", encoding="utf-8")
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "too short" in r.stderr
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(tmp_path / "none.txt")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
