"""The README's reading path and the docs/ pages point at files that exist, through links that resolve."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a backticked repository path: minirnn/..., tests/..., scripts/..., benchmarks/..., docs/...
PATH = re.compile(r"`((?:minirnn|tests|scripts|benchmarks|docs)/[\w./{},*-]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


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
        "lstm.md", "rnn.md", "softmax_ce.md", "word2vec.md", "kmeans.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(page):
    text = page.read_text(encoding="utf-8")
    if page.name == "README.md" and page.parent.name == "benchmarks":
        # module names there are those of the commit that produced each figure
        text = text[text.index("## How the benchmarks are run"):]
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
