"""Claims in the docs that a machine can check, checked: so that they cannot drift from the code again.

- the layer lists (layers/__init__.py, the layout in docs/pipelines.md) name every file of the book;
- the cells and schedules the docs name are those the code has;
- default values quoted in the docs are the scripts' argparse defaults (read from --help, which is
  what a user sees) and the signatures' defaults;
- the equation numbers a doc page cites exist in the docstring of the module it derives.
"""
import functools
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ROOT / "minirnn" / "layers"


def _read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


def _names(listing: str):
    """'embedding, linear, rnn (tanh), stack (L layers), softmax_ce (the loss).' -> the names."""
    listing = re.sub(r"\([^)]*\)", "", listing)
    return {w.strip(" .") for w in listing.split(",") if w.strip(" .")}


# ---- the layer list ---------------------------------------------------------------------------------
def test_layers_package_lists_every_layer_file():
    import minirnn.layers as layers
    files = {p.stem for p in LAYERS.glob("*.py") if p.stem != "__init__"}
    assert set(layers.__all__) == files
    listed = layers.__doc__.split("\n\n")[1].split("\n")[0]        # the line that lists them
    assert _names(listed) == files, listed


def test_layout_lists_every_layer_file_and_every_derivation():
    text = _read("docs/pipelines.md")
    m = re.search(r"on top: (.*?)\n", text)
    assert m, "the layout names the layers after 'on top:'"
    assert _names(m.group(1)) == {p.stem for p in LAYERS.glob("*.py") if p.stem != "__init__"}
    m = re.search(r"one per algorithm \(([^)]*)\)", text)
    assert m, "the layout names the derivation pages"
    pages = {p.stem for p in (ROOT / "docs").glob("*.md") if "## Check it yourself" in p.read_text(encoding="utf-8")}
    assert _names(m.group(1)) == pages


def test_every_cell_and_schedule_is_named_where_the_docs_list_them():
    from minirnn import model, optim
    from minirnn.layers import stack
    cells = "/".join(c.upper() for c in ("rnn", "lstm", "gru"))
    assert set(stack.CELLS) == {"rnn", "lstm", "gru"}
    assert cells in model.RNNLM.__doc__ and cells in _read("docs/pipelines.md")
    classes = {n for n, c in inspect.getmembers(optim, inspect.isclass)
               if c.__module__ == optim.__name__ and n != "Optimizer"}
    optim_line = re.search(r"optim\.py\s+(.*?\n.*?)\n  \S", _read("docs/pipelines.md"), flags=re.S).group(1)
    missing = {c for c in classes if c not in optim_line}
    assert not missing, f"the layout's optim.py line leaves out {missing}"


# ---- defaults ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _help(script: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--help"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def help_default(script: str, flag: str) -> str:
    """The '(default: ...)' that `script --help` prints for `flag`."""
    lines = _help(script).split("options:", 1)[1].splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(rf"\s+{re.escape(flag)}\b", l))
    chunk = [lines[start]]
    for l in lines[start + 1:]:
        if not l.strip() or re.match(r"\s{1,4}-", l) or not l.startswith(" "):
            break
        chunk.append(l)
    m = re.findall(r"\(default: (.*?)\)", " ".join(" ".join(chunk).split()))
    assert m, f"{script} {flag}: no default in --help"
    return m[-1]


def _same(quoted: str, default: str) -> bool:
    """A quoted number equals a number in the default; a quoted word equals the default."""
    try:
        q = float(quoted.replace(",", ""))
    except ValueError:
        return quoted == default
    return any(abs(float(x) - q) <= 1e-12 * max(1.0, abs(q)) for x in re.findall(r"[-+]?\d[\d.]*(?:e[-+]?\d+)?", default))


# (page, regex with one group per flag, script, flags); percentages are compared as fractions
QUOTED_DEFAULTS = [
    ("docs/recipe.md", r"a (\d)-layer (LSTM), H = (\d+)", "train_char.py", ["--layers", "--model", "--hidden"]),
    ("docs/recipe.md", r"batch (\d+) x (\d+) characters", "train_char.py", ["--batch", "--seq"]),
    ("docs/recipe.md", r"Adam at lr ([\d.e-]+) decayed over the last (\d+)%", "train_char.py", ["--lr", "--lr-decay-frac"]),
    ("docs/recipe.md", r"clipping at norm (\d+)", "train_char.py", ["--clip"]),
    ("docs/recipe.md", r"([\d,]+) iterations \(about", "train_char.py", ["--iters"]),
    ("docs/recipe.md", r"validation on the last (\d+)% of the text", "train_char.py", ["--val-frac"]),
    ("docs/recipe.md", r"`train_word.py` trains at lr ([\d.e-]+)", "train_word.py", ["--lr"]),
    ("docs/pipelines.md", r"from `alpha` \(([\d.]+)\)", "train_word2vec.py", ["--alpha"]),
    ("docs/pipelines.md", r"≥ (\d+) occurrences, dim (\d+)", "train_word.py", ["--min-count", "--dim"]),
    ("docs/pipelines.md", r"# Don Quijote, dim (\d+), window (\d+), (\d+) epochs", "train_word2vec.py",
     ["--dim", "--window", "--epochs"]),
]
PERCENT = {"--lr-decay-frac", "--val-frac"}


@pytest.mark.parametrize("page, pattern, script, flags", QUOTED_DEFAULTS,
                         ids=[f"{p}:{f[0] if f else 'command'}" for p, _, _, f in QUOTED_DEFAULTS])
def test_defaults_quoted_in_the_docs_are_the_scripts_defaults(page, pattern, script, flags):
    m = re.search(pattern, " ".join(_read(page).split()) if "#" not in pattern else _read(page))
    assert m, f"{page} no longer says {pattern!r}: update the claim here with the text"
    for flag, quoted in zip(flags, m.groups()):
        default = help_default(script, flag)
        per_model = re.search(r"by --model, lstm ([\d.e-]+)", default)
        if per_model:                   # train_char's --lr: the pages quote the LSTM's (the default model's)
            default = per_model.group(1)
        if flag in PERCENT:
            quoted = str(float(quoted) / 100)
        assert _same(quoted.lower() if flag == "--model" else quoted, default), \
            f"{page} says {flag} {quoted}, {script} --help says {default}"


@pytest.mark.parametrize("page, cls", [("docs/kmeans.md", "minirnn.kmeans.KMeans"),
                                       ("docs/word2vec.md", "minirnn.word2vec.Word2Vec")])
def test_signature_defaults_in_the_functions_sections_are_the_codes(page, cls):
    """In a page's "The functions" section a call with keywords states the defaults."""
    import importlib
    mod, name = cls.rsplit(".", 1)
    sig = inspect.signature(getattr(importlib.import_module(mod), name))
    text = _read(page)
    section = text[text.index("## The functions"):]
    section = section[:section.index("\n## ", 1)]
    call = re.search(rf"{name}\((.*?)\)[.\s]", section, flags=re.S)
    assert call, f"{page}: no {name}(...) in 'The functions'"
    pairs = re.findall(r"(\w+)=([^,\s)]+)", call.group(1))
    assert len(pairs) >= 4
    for key, value in pairs:
        assert key in sig.parameters, f"{page}: {name} has no parameter {key}"
        assert eval(value) == sig.parameters[key].default, f"{page}: {key}={value}, the code's {sig.parameters[key].default!r}"


# ---- equation numbers -------------------------------------------------------------------------------
DERIVES = {"rnn": "minirnn/layers/rnn.py", "lstm": "minirnn/layers/lstm.py", "gru": "minirnn/layers/gru.py",
           "softmax_ce": "minirnn/layers/softmax_ce.py", "word2vec": "minirnn/word2vec.py",
           "kmeans": "minirnn/kmeans.py"}
CITED = re.compile(r"(?<![\w)\]^])\((\d{1,2})\)")


def _defined(module: str):
    """The equation numbers a module's docstring defines: '(k)' opening a line."""
    doc = re.match(r'\s*(?:#.*\n)*\s*"""(.*?)"""', _read(module), flags=re.S).group(1)
    return {int(k) for k in re.findall(r"^\s*\((\d{1,2})\)", doc, flags=re.M)}


@pytest.mark.parametrize("page", sorted(DERIVES))
def test_equation_numbers_cited_exist_in_the_docstring(page):
    defined = _defined(DERIVES[page])
    assert len(defined) >= 4, defined
    cited = {int(k) for k in CITED.findall(_read(f"docs/{page}.md"))}
    assert cited, f"docs/{page}.md cites no equation"
    assert cited <= defined, f"docs/{page}.md cites {sorted(cited - defined)}, not in {DERIVES[page]}"


def test_equation_numbers_in_the_reading_path_exist_in_the_files_named():
    text = _read("README.md")
    section = text[text.index("## Read the code in this order"):]
    section = section[:section.index("\n## ", 1)]
    checked = 0
    for step in re.split(r"\n\d+\. ", section)[1:]:
        files = re.findall(r"\*\*`([^`]+)`\*\*", step)
        cited = {int(k) for k in CITED.findall(step)}
        ranges = re.findall(r"\((\d+)\)-\((\d+)\)", step)
        cited |= {k for a, b in ranges for k in range(int(a), int(b) + 1)}
        if cited:
            defined = set().union(*(_defined(f) for f in files))
            assert cited <= defined, f"{files[0]}: cites {sorted(cited - defined)}"
            checked += 1
    assert checked >= 1


# ---- the size table ---------------------------------------------------------------------------------
# docs/recipe.md's size table states, per text and size, minirnn's final validation loss over seeds 0
# and 1 and PyTorch's at each learning rate; each number is recomputed here from the runs it cites.
SIZE_FLAGS = {"H128x2": "--hidden 128", "H256x2": "", "H512x2": "--hidden 512",
              "H512x3 d0.2": "--hidden 512 --layers 3 --dropout 0.2", "GRU": "--model gru", "RNN": "--model rnn"}
TEXTS = {"novel": "05c70c5000c268ba", "KJV": "82fa5f3788c6a9a0"}      # sha256[:16] of the text the runs read
SIZE_KEYS = ("hidden", "layers", "dropout", "model")
RECIPE_FLAGS = ("model", "hidden", "layers", "embed", "dropout", "batch", "seq", "optimizer", "lr", "bias_lr",
                "lr_schedule", "warmup", "lr_decay_frac", "lr_floor", "clip", "val_frac", "dtype")


def size_row(runs, text, size, iters):
    """The numbers of one row, from the run records (benchmarks/recipe.py's): minirnn's runs at
    train_char.py's defaults for the size, PyTorch's at the same size by lr; each {seed: run}."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_char
    want = vars(train_char.build_parser().parse_args(SIZE_FLAGS[size].split()))
    ours, torch = {}, {}
    for r in runs:
        if r["text"]["sha256"] != TEXTS[text] or r["iters"] != iters or "stopped_at" in r or r.get("val_windows"):
            continue
        cfg = r["config"]
        if cfg["kind"] == "default" and all(r["flags"][k] == want[k] for k in RECIPE_FLAGS if k in r["flags"]):
            ours[r["seed"]] = r
        sized = {"hidden": 256, "layers": 2, "dropout": 0.0, "model": "lstm", **cfg}
        if cfg["kind"] == "torch" and all(sized[k] == want[k] for k in SIZE_KEYS):
            torch.setdefault(cfg["lr"], {})[r["seed"]] = r
    mean = lambda rs, key=lambda r: r["curve"][-1][1]: (            # noqa: E731
        sum(key(r) for r in rs) / len(rs) if rs and all(key(r) is not None for r in rs) else None)
    both = {lr: v for lr, v in torch.items() if {0, 1} <= set(v)}
    best = min(both, key=lambda lr: mean([both[lr][0], both[lr][1]])) if both else None
    pair = lambda d: [d[0], d[1]] if {0, 1} <= set(d) else []         # noqa: E731
    cpu = lambda r: r.get("process_cpu_seconds") and r["process_cpu_seconds"] / r["iters"]  # noqa: E731
    mem = lambda r: r.get("peak_rss_mb")                                # noqa: E731
    row = {"lr": want["lr"], "ours": [ours[s]["curve"][-1][1] for s in (0, 1) if s in ours], "ours_mean": mean(pair(ours)),
           "seed0": {lr: v[0]["curve"][-1][1] for lr, v in sorted(torch.items()) if 0 in v},
           "best": best, "best_mean": best and mean(pair(both[best])),
           "cpu": (mean(pair(ours), cpu), best and mean(pair(both[best]), cpu)),
           "mb": (mean(pair(ours), mem), best and mean(pair(both[best]), mem)),
           "seed0_best": min(torch, key=lambda lr: torch[lr][0]["curve"][-1][1]) if torch else None}
    row["diff"] = row["best_mean"] is not None and row["ours_mean"] is not None and row["ours_mean"] - row["best_mean"]
    return row


def _size_table():
    text = _read("docs/recipe.md")
    section = text[text.index("### The size table"):]
    return [[c.replace("*", "").strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in TEXTS]


def _num(cell):
    cell = cell.strip()
    return None if cell in ("-", "–") else float(cell.replace("−", "-").replace("+", ""))


def test_the_size_table_is_the_runs_it_cites():
    """Each row: | text | size | iterations | minirnn lr | minirnn seed 0, 1 -> mean | PyTorch seed 0 at
    1e-3 / 2e-3 / 3e-3 / 6e-3 | PyTorch best lr: mean of seeds 0, 1 | minirnn - best | within 0.02 |
    CPU s/iteration minirnn / PyTorch | peak MB minirnn / PyTorch |."""
    import json
    runs = json.loads(_read("benchmarks/results/recipe_sizes.json"))
    rows = _size_table()
    assert {r[1] for r in rows if r[0] == "novel"} == set(SIZE_FLAGS), "the novel's table has every size"
    for text, size, iters, lr, ours, seed0, best, diff, within, cpu, mb in rows:
        got = size_row(runs, text, size, int(iters))
        where = f"{text} {size}"
        assert float(lr) == got["lr"], where                           # the rate is train_char.py's default
        seeds, mean = ours.split("->")
        assert [float(x) for x in seeds.split(",")] == pytest.approx(got["ours"], abs=5e-4), where
        assert float(mean) == pytest.approx(got["ours_mean"], abs=5e-4), where
        stated = [_num(x) for x in seed0.split("/")]
        assert stated == [pytest.approx(got["seed0"].get(lr), abs=5e-4) if lr in got["seed0"] else None
                          for lr in (1e-3, 2e-3, 3e-3, 6e-3)], where
        assert got["seed0_best"] == got["best"], f"{where}: PyTorch's best lr at seed 0 has no seed 1"
        best_lr, best_mean = best.split(":")
        assert float(best_lr) == got["best"] and float(best_mean) == pytest.approx(got["best_mean"], abs=5e-4), where
        assert _num(diff) == pytest.approx(got["diff"], abs=1.5e-3), where
        assert within == ("yes" if got["diff"] <= 0.02 else "no"), where
        for cell, pair in ((cpu, got["cpu"]), (mb, got["mb"])):
            assert [_num(x) for x in cell.split("/")] == [None if v is None else pytest.approx(v, rel=0.01, abs=0.0015)
                                                          for v in pair], where
