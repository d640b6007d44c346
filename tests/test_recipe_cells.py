"""train_char's per-cell default learning rate (docs/recipe_cells.md): taken when --lr is not given,
named in --help, recorded in the checkpoint and kept on resume."""
import os
import sys

import pytest

from minirnn import checkpoint
from minirnn.errors import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import train_char  # noqa: E402

SMALL = ["--hidden", "12", "--layers", "1", "--batch", "4", "--seq", "8", "--eval-every", "3",
         "--print-every", "3", "--sample-every", "0", "--lr-schedule", "step"]


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_default_lr_follows_the_model_in_any_order(cell):
    p = train_char.build_parser()
    assert p.parse_args(["--model", cell]).lr == train_char.DEFAULT_LR[cell]
    assert p.parse_args(["--lr", "1e-4", "--model", cell]).lr == 1e-4
    assert p.parse_args(["--model", cell, "--lr", "1e-4"]).lr == 1e-4


def test_default_lr_differs_by_cell_and_help_says_which(capsys):
    assert train_char.DEFAULT_LR["lstm"] == 6e-3
    assert train_char.DEFAULT_LR["rnn"] < train_char.DEFAULT_LR["lstm"]      # 6e-3 diverges for the RNN
    with pytest.raises(SystemExit):
        train_char.build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: by --model, " + ", ".join(f"{k} {v:g}" for k, v in train_char.DEFAULT_LR.items()) in text


def test_run_records_the_cells_rate_and_resume_keeps_it(tiny_text, tmp_path):
    d = str(tmp_path / "rnn")
    assert run_cli(train_char.main, ["--text", tiny_text, *SMALL, "--model", "rnn", "--iters", "3",
                                     "--checkpoint-dir", d]) == 0
    _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    assert meta["flags"]["lr"] == meta["optimizer"]["lr"] == train_char.DEFAULT_LR["rnn"]
    assert run_cli(train_char.main, ["--iters", "6", "--checkpoint-dir", d, "--resume"]) == 0
    _, meta = checkpoint.load(os.path.join(d, "latest.npz"))
    assert meta["flags"]["model"] == "rnn" and meta["optimizer"]["lr"] == train_char.DEFAULT_LR["rnn"]


def test_the_doc_states_the_defaults_the_script_takes():
    import re
    with open(os.path.join(ROOT, "docs", "recipe_cells.md"), encoding="utf-8") as f:
        line = next(l for l in f if l.startswith("Defaults:"))
    stated = {cell: float(rate) for cell, rate in re.findall(r"`--model (\w+)` (\d[\d.]*e-\d+)", line)}
    assert stated == train_char.DEFAULT_LR
