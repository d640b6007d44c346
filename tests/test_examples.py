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
    sample = r.stdout.split("sample:\n", 1)[1].rstrip("\n")
    assert len(sample) == 40 and set(sample) <= set(TINY)


def test_min_char_lstm_refuses_a_text_too_short(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("hola", encoding="utf-8")
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "too short" in r.stderr
    r = subprocess.run([sys.executable, EXAMPLE, "--text", str(tmp_path / "none.txt")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
