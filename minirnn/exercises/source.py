"""Write an exercise file from the book's own source, so that it cannot drift from the book.

``exercise_source(module, keep, blank, hints)`` reads ``module``'s source with ``ast`` and returns
a file that holds

- the module docstring (the equations, numbered as the book numbers them), without the answers:
  its "Backward" paragraph is replaced by the exercise's ``method`` (the chain rule through each
  node, the shapes, what accumulates, one or two worked lines), the paragraphs named in ``drop``
  go, and any answer line left (``answers.py``) is cut;
- a ``preamble`` of the exercise's own (the sequence exercises import the learner's step there);
- the imports the kept code uses, made absolute (``from ..backend import x`` becomes
  ``from minirnn.backend import x``), and ``from <module> import ...`` for the book's own names
  the kept code uses but the file does not define;
- the top-level functions and classes named in ``keep`` (None: all of them), verbatim, with the
  shape comments; except that the body of each function named in ``blank`` ("backward", or
  "Adam._update" for a method) is cut after its docstring and its set-up lines and replaced by
  TODO comments and ``raise NotImplementedError``.

The set-up lines kept at the top of a blanked body: with ``setup="loop"`` every statement before the
body's first ``for`` loop (unpacking the cache, the zero gradients, dh_next: the loop over time is
the exercise); with ``setup="names"`` the leading assignments that only name things
(``x, W = cache``, ``D, M = W.shape``, ``xp = array_module(p)``, ``I, F, G, O = gate_slices(H)``);
with ``setup="none"`` nothing; with a number, that many leading statements. ``setup`` may also map
each blanked function to its own.

What the learner reads is fitted to the exercise, each change checked against the book (a text
that is no longer there raises LookupError, so that a book edit fails a test instead of leaving a
stale stub): ``swap`` maps the first words of a docstring paragraph to the paragraph that replaces
it (a step's shapes in place of the sequence's), and ``edits`` replaces exact texts anywhere in the
file (a sentence about the book's loop, a function docstring's equation numbers). With
``blank_uses=False`` the names used only inside the blanked bodies are not imported (a sequence
built on the learner's step needs none of the book's gate helpers). Every name the file imports
from minirnn is listed above the imports with its signature and one line from ``helpers``
(LookupError when ``helpers`` lacks one).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re

from .answers import is_answer

MARKER = "# TODO(exercise)"   # every generated TODO line starts with it; check reports those left


def _defs(tree):
    """Top-level function and class definitions by name."""
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _find(tree, dotted):
    """The function node named 'f' or 'Class.method'."""
    node = None
    scope = tree.body
    for part in dotted.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part),
                    None)
        if node is None:
            raise LookupError(f"the book has no {dotted}")
        scope = node.body
    return node


def _is_naming(value) -> bool:
    """An expression that only names or unpacks things: a name, an attribute (W.shape), a subscript
    of those (p.shape[0], self.state["m"][name]), a constant, a tuple of them, array_module(...)."""
    if isinstance(value, (ast.Name, ast.Constant)):
        return True
    if isinstance(value, ast.Attribute):
        return _is_naming(value.value)
    if isinstance(value, ast.Subscript):
        return _is_naming(value.value) and _is_naming(value.slice)
    if isinstance(value, ast.Tuple):
        return all(_is_naming(e) for e in value.elts)
    if isinstance(value, ast.Call):
        f = value.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in ("array_module", "gate_slices") and all(_is_naming(a) for a in value.args)
    return False


def _setup_count(body, setup) -> int:
    """How many leading statements of a body (docstring excluded) to keep: see the module doc."""
    loops = [i for i, s in enumerate(body) if isinstance(s, ast.For)]
    if setup == "none":
        return 0
    if isinstance(setup, int):
        return setup
    if setup == "loop" and loops:
        return loops[0]
    n = 0
    while n < len(body) and isinstance(body[n], ast.Assign) and _is_naming(body[n].value):
        n += 1
    return n


def _cut(fn, setup):
    """(index of the docstring's end in fn.body, index of the first statement blanked)."""
    body = fn.body
    start = 1 if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str) else 0
    return start, start + _setup_count(body[start:], setup)


def _mode(setup, dotted):
    return setup.get(dotted, "names") if isinstance(setup, dict) else setup


def _blank_lines(lines, fn, hints, what, setup):
    """Replace fn's body after its docstring and set-up by TODO lines. Returns the new lines of
    the range fn.body[first cut].lineno .. fn.end_lineno and that range (1-based, inclusive)."""
    body = fn.body
    start, cut = _cut(fn, setup)
    indent = " " * body[start if start < len(body) else 0].col_offset
    ret = next((s for s in reversed(body) if isinstance(s, ast.Return)), None)
    todo = [f"{indent}{MARKER}: {h}".rstrip() for h in hints]
    names = ret.value.elts if ret is not None and isinstance(ret.value, ast.Tuple) else \
        [ret.value] if ret is not None else []
    if names and all(isinstance(n, ast.Name) for n in names):      # the names, never the formula
        todo.append(f"{indent}{MARKER}: end with  return {', '.join(ast.unparse(n) for n in names)}")
    todo.append(f'{indent}raise NotImplementedError("TODO: write {what}")')
    if cut >= len(body):
        raise LookupError(f"{what}: the book's body has nothing past its set-up to blank")
    first = body[cut].lineno
    floor = body[cut - 1].end_lineno if cut > 0 else fn.lineno
    while first - 1 > floor and lines[first - 2].strip().startswith("#"):
        first -= 1                                        # comments just above belong to the cut
    return todo, (first, fn.end_lineno)


def _absolute_import(node, package):
    mod = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
    return ast.unparse(ast.ImportFrom(module=mod, names=node.names, level=0))


def _paragraphs(doc):
    return re.split(r"\n\s*\n", doc)


def exercise_doc(doc, method=None, drop=(), swap=None):
    """The book's module docstring for an exercise file: the paragraph that starts with "Backward"
    (or the rest of a paragraph from a line that starts or a sentence that ends with it) replaced by
    ``method`` (when given), each that starts with a key of ``swap`` by its value, those
    that start with a prefix in ``drop`` left out, and every answer line still in the book's text
    cut (see the module doc); the method's own worked lines stay."""
    out, swapped = [], set()
    for para in _paragraphs(doc):
        head = para.lstrip("\n")
        key = next((k for k in (swap or {}) if head.startswith(k)), None)
        lines = head.split("\n")
        inner = next((i for i, l in enumerate(lines) if i and l.startswith("Backward") or l.endswith(". Backward")),
                     None)                                 # "Backward" inside a paragraph, not at its head
        if method is not None and inner is not None and not head.startswith("Backward"):
            last = lines[inner][:-len(" Backward")] if lines[inner].endswith(". Backward") else None
            kept = lines[:inner] + ([last] if last else [])
            out.append("\n".join(line for line in kept if not is_answer(line)))
            out.append(method.strip("\n"))
        elif method is not None and head.startswith("Backward"):
            out.append(method.strip("\n"))
        elif key is not None:
            out.append(swap[key].strip("\n"))
            swapped.add(key)
        elif not (drop and head.startswith(tuple(drop))):
            out.append("\n".join(line for line in para.split("\n") if not is_answer(line)))
    missing = set(swap or {}) - swapped
    if missing:
        raise LookupError(f"the book's docstring has no paragraph that starts with {sorted(missing)[0]!r}")
    text = "\n\n".join(p for p in out if p.strip())
    return text if text.endswith("\n") else text + "\n"


def _imported(line):
    """[(name as imported, module, attribute)] of one import line from minirnn; [] for any other."""
    node = ast.parse(line).body[0]
    if not isinstance(node, ast.ImportFrom) or not (node.module or "").split(".")[0] == "minirnn":
        return []
    return [(a.asname or a.name, node.module, a.name) for a in node.names]


def _resolve(module, attr):
    mod = importlib.import_module(module)
    if hasattr(mod, attr):
        return getattr(mod, attr)
    return importlib.import_module(f"{module}.{attr}")


def helper_signature(name, obj) -> str:
    """How the helper list names ``obj``: a function or class with its parameters (no annotations),
    a module or any other value by its name."""
    if inspect.ismodule(obj) or not callable(obj):
        return name
    params = inspect.signature(obj).parameters.values()
    return f"{name}({', '.join(str(p.replace(annotation=inspect.Parameter.empty)) for p in params)})"


def _wrap(text, width=100):
    """One helper's comment lines: '#   ' first, '#       ' after, at most ``width`` characters."""
    lines, line = [], "#  "
    for word in text.split(" "):
        if len(line) + 1 + len(word) > width and line.strip("# "):
            lines.append(line)
            line = "#      "
        line += " " + word
    return lines + [line]


def helper_lines(import_lines, helpers) -> list:
    """The comment block that lists every name ``import_lines`` take from minirnn: its signature
    and one line of what it does (``helpers[name]``)."""
    rows = []
    for line in import_lines:
        for name, module, attr in _imported(line):
            if name not in helpers:
                raise LookupError(f"no line about {name} (from {module}) in the exercise helpers")
            rows += _wrap(f"{helper_signature(name, _resolve(module, attr))}: {helpers[name]}")
    if not rows:
        return []
    return ["# What the imports below give you (minirnn's own, to use as they are):"] + rows


def exercise_source(module_name, *, keep=None, blank=(), hints=None, header="", setup="names", method=None,
                    drop=(), preamble="", swap=None, edits=(), blank_uses=True, helpers=None):
    """The text of an exercise file made from the book module ``module_name`` (see the module doc).
    ``hints`` maps each name in ``blank`` to its TODO lines."""
    module = importlib.import_module(module_name)
    src = inspect.getsource(module)
    lines = src.splitlines()
    tree = ast.parse(src)
    defs = _defs(tree)
    keep = list(defs) if keep is None else list(keep)
    package = module.__package__

    # which names the kept code uses (with blank_uses=False, not counting the blanked bodies)
    skip = set()
    if not blank_uses:
        for dotted in blank:
            fn = _find(tree, dotted)
            skip.update(id(n) for s in fn.body[_cut(fn, _mode(setup, dotted))[1]:] for n in ast.walk(s))
    used = set()
    for name in keep:
        for n in ast.walk(defs[name]):
            if id(n) in skip:
                continue
            if isinstance(n, ast.Name):
                used.add(n.id)
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                used.add(n.value.id)

    out = []
    imports, defined = [], set(keep)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                imports.insert(0, ast.unparse(node))
                continue
            if len(keep) == len(defs) or any(n in used for n in names):
                if isinstance(node, ast.ImportFrom) and len(keep) < len(defs):   # only the names used
                    node = ast.ImportFrom(module=node.module, level=node.level,
                                          names=[a for a in node.names if (a.asname or a.name) in used])
                    names = [a.asname or a.name for a in node.names]
                if isinstance(node, ast.ImportFrom) and node.level:
                    imports.append(_absolute_import(node, package))
                else:
                    imports.append(ast.unparse(node))
                defined.update(names)
    book_names = set(defs) | {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                              for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                              if isinstance(t, ast.Name)}
    borrowed = sorted((used & book_names) - defined)
    if borrowed:
        imports.append(f"from {module_name} import {', '.join(borrowed)}  # the book's, unchanged")
    doc = ast.get_docstring(tree, clean=False)
    if doc is not None and blank:
        doc = exercise_doc(doc, method, drop, swap)
    pre = preamble.strip("\n").splitlines() if preamble else []
    if helpers is not None:
        first = 1 if imports and imports[0].startswith("from __future__") else 0
        imports[first:first] = helper_lines(imports[first:] + [p for p in pre if p.startswith("from ")], helpers)
    out.append(('"""' + doc + '"""\n' if doc is not None else "") + "\n".join(imports + pre))

    # the kept definitions, each with its blanked function(s)
    cuts = {}
    for dotted in blank:
        fn = _find(tree, dotted)
        what = f"{dotted}()"
        todo, (a, b) = _blank_lines(lines, fn, (hints or {}).get(dotted, ()), what, _mode(setup, dotted))
        cuts[a] = (b, todo)
    for name in keep:
        node = defs[name]
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        i, chunk = first, []
        while i <= node.end_lineno or i in cuts:
            if i in cuts:
                b, todo = cuts[i]
                chunk.extend(todo)
                i = b + 1
                continue
            chunk.append(lines[i - 1])
            i += 1
        out.append("\n".join(chunk))
    text = "\n\n\n".join(out) + "\n"
    for old, new in edits:
        if old not in text:
            raise LookupError(f"{module_name}: the exercise edits {old!r}, which the book no longer holds")
        text = text.replace(old, new)
    return header + text
