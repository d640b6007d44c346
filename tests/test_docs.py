"""The README's reading path and the docs/ pages point at files that exist, through links that resolve;
every derivation page states its functions, shapes and cache, and ends with a check that runs."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a backticked repository path: minirnn/..., tests/..., scripts/..., benchmarks/..., docs/...
PATH = re.compile(r"`((?:minirnn|tests|scripts|benchmarks|docs)/[\w./{},*-]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# pages that the README links to but other branches of issues 24-26 write; until they are merged a
# link to them is not an error (once they exist, their links and anchors are checked like any other)
WRITTEN_ON_OTHER_BRANCHES = {"docs/exercises.md", "docs/guarantees.md", "docs/gpu.md"}


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _expand(path: str):
    """'a/{b,c}.json' -> ['a/b.json', 'a/c.json']; 'a/x.*' is left to glob."""
    m = re.search(r"\{([^}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in _expand(path[:m.start()] + alt + path[m.end():])]


def test_docs_folder_has_one_page_per_algorithm():
    assert {p.name for p in (ROOT / "docs").glob("*.md")} >= {
        "lstm.md", "rnn.md", "gru.md", "softmax_ce.md", "word2vec.md", "kmeans.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for m in PATH.finditer(text):
        for p in _expand(m.group(1).rstrip(".,")):
            if p.rstrip("/") == "minirnn/fast" or p.startswith("minirnn/fast/"):
                continue  # the engine package is checked by its own tests
            if not list(ROOT.glob(p.rstrip("/") + ("*" if p.endswith(".") else ""))):
                missing.append(p)
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for m in LINK.finditer(page.read_text(encoding="utf-8")):
        target, _, anchor = m.group(1).partition("#")
        if target.startswith(("http://", "https://")):
            continue
        dest = (page.parent / target).resolve() if target else page
        if not dest.exists() and str(dest.relative_to(ROOT)) in WRITTEN_ON_OTHER_BRANCHES:
            continue  # checked once the branch that writes it is merged
        if not dest.exists():
            broken.append(m.group(1))
        elif anchor:
            headings = [_anchor(l.lstrip("#")) for l in dest.read_text(encoding="utf-8").splitlines()
                        if l.startswith("#")]
            if anchor not in headings:
                broken.append(m.group(1))
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_reading_path_names_what_its_files_hold():
    """Each step of the README's "Read the code in this order" names files in bold and, in backticks,
    functions, classes and variables to look for: every such name is found in that step's files."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Read the code in this order"):]
    section = section[:section.index("\n## ", 1)]
    steps = re.split(r"\n\d+\. ", section)[1:]
    assert len(steps) >= 12
    missing = []
    for step in steps:
        files = re.findall(r"\*\*`([^`]+)`\*\*", step)
        assert files, step[:80]
        source = "".join((ROOT / f).read_text(encoding="utf-8") for f in files)
        for name in re.findall(r"`([A-Za-z_][\w.]*)`", step):
            if "/" in name or name in files:
                continue
            missing += [f"{files[0]}: {name}" for part in name.split(".") if part not in source]
    assert not missing, f"the reading path names what its files do not hold: {missing}"


# ---- every derivation page stands alone and ends with a check that a reader can run ---------------
ALGORITHM_PAGES = ["rnn", "lstm", "gru", "softmax_ce", "word2vec", "kmeans"]
ERROR_LINE = re.compile(r"^\s*(\w+)\s+([-+0-9.eE]+|nan|inf)\s*$")


def _check_block(text: str) -> str:
    """The one ```python block of the page's last section, "## Check it yourself"."""
    last = text[text.rindex("\n## "):]
    assert last.startswith("\n## Check it yourself"), "the page must end with '## Check it yourself'"
    blocks = re.findall(r"```python\n(.*?)```", last, flags=re.S)
    assert len(blocks) == 1, f"'Check it yourself' holds {len(blocks)} python blocks, not one"
    return blocks[0]


@pytest.mark.parametrize("name", ALGORITHM_PAGES)
def test_page_states_signatures_shapes_and_cache(name):
    """Each page names the functions a reader must write, with a table of shapes, and says what is
    returned and what is cached (or that nothing is)."""
    text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
    assert "## The functions" in text
    section = text[text.index("## The functions"):]
    section = section[:section.index("\n## ", 1)]
    assert "| name | shape | what |" in section
    assert "returned" in section and ("cache" in section.lower())


@pytest.mark.parametrize("name", ALGORITHM_PAGES)
def test_check_it_yourself_runs_and_prints_small_errors(name, tmp_path):
    """The page's last block runs as a reader would run it (a fresh interpreter, another directory)
    and prints lines 'name error', every error small; a planted bug would print a large one."""
    code = _check_block((ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8"))
    script = tmp_path / "check.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [ERROR_LINE.match(l) for l in out.stdout.splitlines()]
    assert rows and all(rows), f"not all lines are 'name error':\n{out.stdout}"
    errors = {m.group(1): float(m.group(2)) for m in rows}
    assert len(errors) >= 3, errors
    assert all(e < 1e-6 for e in errors.values()), errors


def test_check_fails_on_a_planted_bug(tmp_path):
    """The LSTM page's check is not a formality: with dcT ignored by backward, it prints large errors."""
    code = _check_block((ROOT / "docs" / "lstm.md").read_text(encoding="utf-8"))
    buggy = tmp_path / "buggy_lstm.py"
    buggy.write_text("from minirnn.layers.lstm import forward, init_params\n"
                     "from minirnn.layers import lstm as _book\n"
                     "def backward(dh, cache, dcT=None, need_dx=True):\n"
                     "    return _book.backward(dh, cache, None, need_dx)   # the bug: dcT dropped\n")
    code = code.replace("from minirnn.layers import lstm", "import buggy_lstm as lstm")
    assert "import buggy_lstm as lstm" in code
    (tmp_path / "check.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "check.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    errors = {m.group(1): float(m.group(2)) for m in map(ERROR_LINE.match, out.stdout.splitlines())}
    assert errors["dc0"] > 1e-3 and errors["dWx"] > 1e-3, errors
