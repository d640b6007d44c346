"""The README's commands run as written, in order, as a new user would run them from a fresh clone.

Every ```bash block of README.md is read top to bottom; a command continued with a backslash is one
command, and a comment after it is dropped. Each runs with bash in an empty directory that holds only
the repository's `scripts/` (a fresh clone's working tree, without the outputs of earlier runs), at
tiny sizes: the flags in TINY are appended to the command (argparse keeps the last value given, so
they override the README's sizes without changing anything else it asks for). What is not run:
`pip install` (the package is installed already; the test puts the repository on PYTHONPATH) and
`python -m pytest` (this suite itself). The GPU commands run as on a machine without a GPU:
`--backend cupy` on the strict CuPy stand-in of tests/standin (as CI proves the device path), and
`benchmarks/gpu_check.py` as it is, where it must say in one line that there is no GPU and exit 2.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import standin_env
from wikidump import DumpServer, many_pages, publish

ROOT = Path(__file__).resolve().parent.parent

# appended to each script's command: a model of a few thousand parameters, a few iterations, a few
# validation windows, short samples, small word vectors and few clusters
TINY = {
    "train_char.py": "--iters 2 --hidden 8 --layers 1 --batch 4 --seq 16 --eval-every 2 --eval-windows 2 "
                     "--print-every 1 --sample-every 0",
    "sample_char.py": "--length 12",
    "inspect_char.py": "--chars 1500 --show 100 --max-k 4 --positions 8 --sample-length 40",
    "eval_char.py": "--max-chars 3000",
    "train_word2vec.py": "--dim 8 --epochs 1 --workers 1",
    "quantize.py": "--clusters 16 --max-iter 5",
    "train_word.py": "--dim 8 --w2v-epochs 1 --workers 1 --clusters 16 --kmeans-iter 5 --iters 2 --hidden 8 "
                     "--batch 4 --seq 8 --eval-every 2 --eval-windows 2 --print-every 1 --sample-every 0",
    "generate_words.py": "--length 5",
}
SCRIPT = re.compile(r"python scripts/(\w+\.py)")


def _strip_comment(line: str) -> str:
    """The line without a trailing `# ...` comment (a # outside quotes, after whitespace)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str):
    """The README's bash commands in order, continuation lines joined, comments dropped."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        pending = ""
        for raw in block.splitlines():
            line = _strip_comment(raw)
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            cmd = (pending + line.strip()).strip()
            pending = ""
            if cmd:
                out.append(cmd)
    return out


def tiny(cmd: str):
    """The command as the test runs it: pip and pytest parts dropped, TINY flags appended."""
    parts = []
    for part in cmd.split(" && "):
        part = part.strip()
        words = shlex.split(part)
        if words[:1] == ["pip"] or words[:3] == ["python", "-m", "pytest"]:
            continue
        m = SCRIPT.match(part)
        if m and "--help" not in words:
            part += " " + TINY.get(m.group(1), "")
        parts.append(part)
    return " && ".join(parts)


def test_readme_commands_are_found():
    """The parser sees the commands a reader sees (a guard against a walk that silently runs nothing)."""
    cmds = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    scripts = {m.group(1) for c in cmds for m in SCRIPT.finditer(c)}
    assert scripts >= set(TINY), set(TINY) - scripts
    assert cmds[0] == "pip install -e . && python scripts/train_char.py"
    assert tiny(cmds[0]).startswith("python scripts/train_char.py --iters 2")
    assert tiny("pip install -e \".[test]\" && python -m pytest -q") == ""


@pytest.fixture
def wiki_mirror(tmp_path_factory):
    """A dump site on 127.0.0.1 (never the internet) holding a small Spanish dump in the official layout:
    the README's get_corpus.py commands download from it through MINIRNN_WIKI_MIRROR, their default --mirror."""
    root = tmp_path_factory.mktemp("site")
    publish(root, "es", "20250101", many_pages(120))
    with DumpServer(root) as site:
        yield site.url


def test_every_readme_command_runs_in_order(tmp_path, wiki_mirror):
    cmds = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "MINIRNN_BACKEND": "numpy", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MINIRNN_WIKI_MIRROR": wiki_mirror}
    ran = []
    for cmd in cmds:
        run = tiny(cmd)
        if not run:
            continue
        # with python on PATH as this interpreter, `python` in the README means this Python
        out = subprocess.run(["bash", "-c", run], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env=standin_env(env) if "--backend cupy" in cmd else env)
        ran.append(cmd)
        assert "Traceback" not in out.stderr, f"{cmd}\n{out.stderr[-3000:]}"
        if "minirnn.exercises check" in cmd:      # a fresh `start` file holds TODOs: graded unfinished
            assert out.returncode == 1 and "TODO" in out.stdout + out.stderr, f"{cmd}\n{out.stdout[-2000:]}"
        elif "--lstm-file" in cmd:                # ... and train_char refuses it with one line
            assert out.returncode == 2 and out.stderr.startswith("error: "), f"{cmd}\n{out.stderr[-3000:]}"
        elif "gpu_check.py" in cmd:               # no GPU here: one line, exit 2
            assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, f"{cmd}\n{out.stderr}"
        else:
            assert out.returncode == 0, f"{cmd}\nrc {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert len(ran) >= 15, ran
    # what the walk made, where the README says it goes; nothing else lands in the clone's root
    for p in ("checkpoints/char/best.npz", "checkpoints/rnn/best.npz", "checkpoints/gru/best.npz",
              "checkpoints/word/best.npz", "checkpoints/word_all/best.npz", "checkpoints/gpu/best.npz", "runs/report.html",
              "runs/curves.png", "runs/vectors.txt", "runs/quant/quantizer.npz", "runs/es_trial.txt",
              "checkpoints/es_trial/best.npz", "runs/eswiki.txt"):
        assert (tmp_path / p).is_file(), p
    assert {p.name for p in tmp_path.iterdir()} <= {"scripts", "benchmarks", "checkpoints", "runs", "mywork", "dumps"}


def test_readme_has_at_most_200_lines():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines; move detail to docs/"
