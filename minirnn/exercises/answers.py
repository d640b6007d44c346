"""Answer lines: the lines of a text that hand a learner a backward equation to copy.

An *answer line* is a line, in code, a comment, a docstring or a page, that assigns or accumulates a
gradient quantity ``d...`` (``dWx``, ``da_t``, ``dh_{t-1}``, ``dL/dW``) through

- a product: ``*``, ``@``, ``/``, ``·``, ``dot``, ``einsum``, ``outer``, or two math symbols side by
  side (``da_t Wh``);
- a transpose: ``^T``, ``.T``, ``transpose``;
- a sum: ``sum``, ``Σ``, ``mean``, or a scatter-add call into a gradient (``scatter_add(dW, ...)``,
  ``np.add.at(dW, ...)``);
- or a derivative factor: ``(1 - ...)``, ``σ'``, ``tanh'``.

A line that only copies or adds gradients is a hint, not an answer: ``after the loop dh0 = dh_next``,
``dh_t = dh[:, t] + dh_next``, ``dWx[ids] += da``. So are the zeroed gradients of a set-up
(``dW = xp.zeros((D, 4 * H))``), a derivative written dL/dX (notation, not a division), and any
text after the expression: the right-hand side ends at a code comment, at two spaces (a docstring's
columns), at a sentence's end, at a comma outside brackets, or at an English word (``from``,
``over``, ``arriving``).

``answer_lines(text)`` lists them (line number, line); a bracketed statement that spans lines
counts once, at its first line. The exercise files and pages may hold at most two (their worked
lines); tests/test_answer_lines.py runs the detector on the book (which is full of them) and on hints
(which must pass), and greps every stub and page.
"""
from __future__ import annotations

import ast
import re

# a gradient quantity: d + a name (dWx, da_t, dh_next, dc0), with indices or subscripts
# (dx[:, t], dh_{t-1}); or Leibniz's dL/dX, ∂L/∂X
_SUB = r"(?:\[[^\]\n]*\]|_?\{[^}\n]*\})*"
_TARGET = re.compile(r"(?<![\w.'/])(?:(?:d|∂)L/(?:d|∂)[A-Za-zα-ωΑ-Ω]\w*" + _SUB +
                     r"|d[A-Za-zα-ωΑ-Ω]\w*" + _SUB + r")")
_OP = re.compile(r"\s*(\+=|-=|\*=|/=|@=|=(?!=))")
# names that start with d and are not gradients
_NOT_GRADIENTS = {"data", "dtype", "default", "defaults", "done", "dim", "dims", "decay", "delta", "device",
                  "dict", "dir", "dirs", "dirname", "doc", "docs", "draw", "draws", "drop", "dropout", "dist",
                  "distance", "digits", "det", "diag", "diff", "div", "dot", "dest", "desc", "def", "del",
                  "deg", "depth", "description", "destination", "directory", "display",
                  "does", "derive", "derived", "differentiate", "dimension", "dimensions", "divide"}
_LEIBNIZ = re.compile(r"(?:d|∂)\w*/(?:d|∂)\w+" + _SUB)
_ALLOC = re.compile(r"\b(?:\w+\.)?(?:zeros|zeros_like|empty|empty_like|ones|ones_like|full|full_like)\(")
_SCATTER = re.compile(r"\b(?:scatter_add|add\.at|index_add|index_add_|scatter_add_)\(\s*d[A-Za-z]\w*")
_PRODUCT = re.compile(r"[*@/·×⊙∘]|\b(?:dot|matmul|einsum|outer|tensordot|multiply|kron|times)\b")
_TRANSPOSE = re.compile(r"\^T\b|\^\{?T\}?|\.T\b|ᵀ|\btranspose\w*|\.swapaxes\b")
_SUM = re.compile(r"\bsum\w*|Σ|∑|\bmean\b|\bcumsum\b")
_DERIV = re.compile(r"\b1\s*-\s*\S|[σ\w)]'(?!\w)|\bsech\b|\bdtanh\b|\bdsigmoid\b")
# words of a formula that are not English (function names the text may use)
_MATH_WORDS = {"sum", "tanh", "exp", "log", "max", "min", "mean", "sqrt", "sigma", "softmax", "sigmoid",
               "onehot", "lse", "abs", "sign", "sin", "cos", "relu", "argmax", "argmin", "norm", "diag",
               "dot", "outer", "einsum", "transpose", "None", "True", "False", "not", "and", "or", "summed",
               "transposed", "times"}
_WORD = re.compile(r"[A-Za-zα-ωΑ-Ω_][\w']*")
_CLOSE = {")": "(", "]": "[", "}": "{"}


# prose that ends a formula: connectives, and any lowercase word of 5 letters or more
_PROSE = {"from", "for", "over", "with", "when", "where", "which", "the", "of", "is", "are", "and", "then",
          "after", "before", "each", "every", "both", "its", "this", "that", "by", "at", "in", "on", "to",
          "as", "per", "so", "but", "if", "else", "here", "there", "also", "only", "once", "was", "be", "it",
          "an", "a", "or", "not", "than", "like", "into", "you", "your", "we", "one", "two", "gets", "get",
          "give", "gives", "has", "have", "all", "any", "own", "same", "see", "just", "row", "rows", "step"}


def _is_english(text, start, end) -> bool:
    """The word text[start:end] reads as prose: a connective (``from``, ``over``) or a lowercase word
    of 5 letters or more, not a function name of a formula, not an attribute (.sum) and not called
    (onehot(...)). Short names (dan, dhn) are symbols."""
    w = text[start:end]
    if not w.isalpha() or not w.islower() or w in _MATH_WORDS or (w not in _PROSE and len(w) < 5):
        return False
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return before not in ".'" and after not in "([.'"


def _math_token(w) -> bool:
    """A symbol of a formula: 1-2 characters, or with a digit, an underscore or a capital."""
    return len(w) <= 2 or any(c.isdigit() or c == "_" or c.isupper() for c in w)


def _rhs(text, start, in_code) -> str:
    """The right-hand side that starts at text[start]: up to where the expression ends (module doc).
    Code first: what stands before a comment, when it parses as a Python expression, is the whole of it."""
    if in_code:
        code = text[start:].split("#", 1)[0]
        gap = re.search(r"\S\s{2,}", code)                 # a column gap: what follows is a note
        code = code[:gap.start() + 1] if gap else code
        try:
            ast.parse(code.strip(), mode="eval")
            return code
        except SyntaxError:
            pass
    depth, i, n = [], start, len(text)
    while i < n:
        c = text[i]
        if c in "([{":
            depth.append(c)
        elif c in ")]}":
            if depth and depth[-1] == _CLOSE[c]:
                depth.pop()
            elif not depth:
                break
        elif c == "#" and in_code:
            break
        elif not depth:
            if text.startswith("  ", i) and text[start:i].strip():
                break
            if c in ",;" and text[start:i].strip():
                break
            if c == "." and (i + 1 == n or text[i + 1] == " ") and not text[i - 1:i].isdigit():
                break
            if c == ":" and (i + 1 == n or text[i + 1] == " "):
                break
            m = _WORD.match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_'")):
                if _is_english(text, i, m.end()):
                    break
                i = m.end()
                continue
        i += 1
    return text[start:i]


def _strip_allocations(rhs) -> str:
    """xp.zeros((D, 4 * H), dtype=...) -> ALLOC: a set-up's shapes are no product."""
    out, i = [], 0
    for m in _ALLOC.finditer(rhs):
        if m.start() < i:
            continue
        out.append(rhs[i:m.start()])
        depth, j = 1, m.end()
        while j < len(rhs) and depth:
            depth += {"(": 1, ")": -1}.get(rhs[j], 0)
            j += 1
        out.append("ALLOC")
        i = j
    out.append(rhs[i:])
    return "".join(out)


def _is_answer_rhs(rhs) -> bool:
    r = _LEIBNIZ.sub("Q", _strip_allocations(rhs)).strip()
    if not r:
        return False
    if _PRODUCT.search(r) or _TRANSPOSE.search(r) or _SUM.search(r) or _DERIV.search(r):
        return True
    # two symbols side by side, outside brackets: a product written as in the equations (da_t Wh)
    flat = re.sub(r"\([^()]*\)|\[[^\][]*\]|\{[^{}]*\}", " X_ ", r)
    words = _WORD.findall(flat)
    tokens = flat.split()
    if any(w in ("or", "and", "not", "if", "else", "for", "in", "is") for w in words):
        return False                                 # a choice or a condition, not a product
    return len(tokens) >= 2 and len(words) >= 2 and all(_math_token(t) for t in words) and \
        all(_WORD.fullmatch(t) for t in tokens)


def is_answer(line: str, in_code: bool | None = None) -> bool:
    """Whether one (logical) line is an answer line. ``in_code``: whether '#' starts a comment in it
    (None: guessed, true unless the line is prose of a page or docstring that uses '#' itself)."""
    text = line.rstrip("\n")
    if in_code is None:
        in_code = True
    if _SCATTER.search(text):
        return True
    # a comment line is text: its formula is read like a docstring's
    stripped = text.lstrip()
    if in_code and stripped.startswith("#"):
        return is_answer(stripped.lstrip("#"), in_code=False)
    for m in _TARGET.finditer(text):
        name = re.match(r"d(\w*)", m.group(0))
        if name and m.group(0)[:2] not in ("dL", "d∂") and \
                re.sub(r"[_\d].*", "", name.group(0)).lower() in _NOT_GRADIENTS:
            continue
        op = _OP.match(text, m.end())
        if not op:
            continue
        if text[m.start() - 1:m.start()] == "(" and op.group(1) == "=" and in_code:
            continue                                 # a keyword argument: f(dx=...)
        if _is_answer_rhs(_rhs(text, op.end(), in_code)):
            return True
    return False


def _split_comment(line):
    """(code, comment) of one physical line; comment '' when there is none."""
    code, hash_, comment = line.partition("#")
    return code, (hash_ + comment if hash_ else "")


def _logical_lines(text):
    """(first line number, text) for each statement: a line that leaves a bracket open and ends like
    code (a comma, an operator, an opening bracket) joins the next ones, up to 12; their code parts
    are joined, and each comment follows as a comment of its own."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        first = i
        code, comment = _split_comment(lines[i])
        codes, comments = [code], [comment]
        while i + 1 < len(lines) and i - first < 12:
            joined = " ".join(c.strip() for c in codes).rstrip()
            opens = sum(joined.count(c) for c in "([{") - sum(joined.count(c) for c in ")]}")
            if opens > 0 and joined.endswith((",", "(", "[", "{", "+", "-", "*", "/", "@", "=", "\\")):
                i += 1
                code, comment = _split_comment(lines[i])
                codes.append(code)
                comments.append(comment)
            else:
                break
        line = codes[0].rstrip() + "".join(" " + c.strip() for c in codes[1:])
        yield first + 1, "  ".join([line] + [c for c in comments if c])
        i += 1


def answer_lines(text: str) -> list:
    """[(line number, line)] of every answer line in ``text`` (a file, a page, a docstring)."""
    return [(n, line) for n, line in _logical_lines(text) if is_answer(line)]
