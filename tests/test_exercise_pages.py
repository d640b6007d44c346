"""The walk-through pages (docs/exercises/*.md) run top to bottom: every python cell, in order, in one
namespace, from a fresh directory. Once on fresh files (every check says what is missing, no cell
fails) and once on right answers (every check passes, every overfit fits)."""
import contextlib
import io
import re
from pathlib import Path

import pytest

from minirnn import exercises
from minirnn.exercises import notebook

from exercise_solutions import solve

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs" / "exercises").glob("*.md"))
CELL = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def cells(page):
    return CELL.findall(page.read_text(encoding="utf-8"))


def run_page(page, directory, monkeypatch, isolate=False):
    """Run every cell of ``page`` in ``directory``; returns (printed text, [(kind, name, result)])."""
    calls = []
    check, overfit = notebook.check, notebook.overfit

    def recorded(kind, fn):
        def call(name):
            result = fn(name)
            calls.append((kind, name, result))
            return result
        return call
    monkeypatch.setattr(notebook, "check", recorded("check", check))
    monkeypatch.setattr(notebook, "overfit", recorded("overfit", overfit))
    monkeypatch.setattr(notebook, "ISOLATE", isolate)
    monkeypatch.chdir(directory)
    out = io.StringIO()
    namespace = {"__name__": "__page__"}
    with contextlib.redirect_stdout(out):
        for i, cell in enumerate(cells(page)):
            exec(compile(cell, f"{page.name}, cell {i + 1}", "exec"), namespace)  # noqa: S102
    return out.getvalue(), calls


def started(page):
    return re.findall(r'nb\.start\("(\w+)"\)', page.read_text(encoding="utf-8"))


def test_every_exercise_has_its_page():
    on_pages = {n for p in PAGES for n in started(p)}
    assert on_pages == set(exercises.EXERCISES)
    for name, ex in exercises.EXERCISES.items():
        assert name in started(ROOT / exercises.GROUPS[ex.group])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_on_fresh_files(page, tmp_path, monkeypatch):
    out, calls = run_page(page, tmp_path, monkeypatch)
    checks = [c for c in calls if c[0] == "check"]
    assert checks and not any(result for _, _, result in calls), out
    for name in started(page):
        assert (tmp_path / "ex" / f"{name}.py").is_file()
    assert out.count("not written yet") + out.count("does not pass its check yet") >= len(checks), out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_on_right_answers(page, tmp_path, monkeypatch):
    (tmp_path / "ex").mkdir()
    for name in started(page):
        solve(name, tmp_path / "ex")
    out, calls = run_page(page, tmp_path, monkeypatch, isolate=page.name == "rnn.md")  # one page as a learner's
    assert calls and all(result for _, _, result in calls), out
    assert {n for k, n, _ in calls if k == "check"} == set(started(page))
    assert "Traceback" not in out and "error:" not in out
    if page.name == "rnn.md":                                # the vanishing-gradient cell printed its norms
        assert len(re.findall(r"T = +\d+: \|dL/dh0\| = ", out)) == 5


EQ_REF = re.compile(r"\((\d{1,2})\)")
EQ_DEF = re.compile(r"^\s*\((\d{1,2})\)\s", re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_equation_number_on_a_page_is_defined_where_the_learner_reads_it(page):
    """A page's prose cites equations by number: each is stated on the page itself, or in the
    docstring of the files its exercises start (the page sends the learner there)."""
    text = page.read_text(encoding="utf-8")
    prose = CELL.sub("", text)                                # not the numbers inside code cells
    defined = set(EQ_DEF.findall(text))
    for name in started(page):
        defined |= set(EQ_DEF.findall(exercises.source(name).split('"""')[1]))
    assert set(EQ_REF.findall(prose)) <= defined, sorted(set(EQ_REF.findall(prose)) - defined)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_helper_a_started_file_imports_is_on_its_page(page):
    from test_exercises import imported_helpers
    text = page.read_text(encoding="utf-8")
    for name in started(page):
        for _, written in imported_helpers(exercises.source(name)):
            assert f"`{written}`" in text, (name, written)


@pytest.mark.parametrize("name", ["rnn.md", "lstm.md", "gru.md"])
def test_through_time_says_what_must_be_true_and_leaves_the_loop(name):
    from test_exercises import LOOP_GIVEN_AWAY
    text = (ROOT / "docs" / "exercises" / name).read_text(encoding="utf-8")
    section = text[text.index("## Through time"):]
    section = section[:section.index("\n## ", 5)] if "\n## " in section[5:] else section
    prose = CELL.sub("", section)
    for phrase in LOOP_GIVEN_AWAY:
        assert phrase not in prose, phrase
    assert "What must be true" in prose and "one set of weights" in prose
