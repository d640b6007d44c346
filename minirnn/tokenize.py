"""Words from text: a tokenizer and line-by-line corpus streaming in bounded memory.

A word is a maximal run of Unicode letters, lowercased: accents, ñ and ü are kept ("Señor Peñón" ->
["señor", "peñón"]); digits and punctuation separate words and are dropped, unless asked for:

* ``keep_digits=True``: digits count as letters, so "año 1605" -> ["año", "1605"] and "mp3" stays one word;
* ``keep_punct=True``: each punctuation or symbol character becomes a token of its own.

Text is put in Unicode NFC form first, so "n" + combining tilde and the single character "ñ" give the
same word.

Corpus files are read through ``minirnn.textio.iter_lines`` (one line at a time, UTF-8, one-line
``UsageError`` for a missing, empty, binary or non-UTF-8 file; a line longer than ``MAX_PIECE``
characters comes in pieces cut at whitespace), so a corpus of several GB streams through in bounded
memory and linear time, even with no newline at all:

* ``iter_tokens(path)``     every word of the file, in order;
* ``iter_sentences(path)``  lists of words: a paragraph (lines up to a blank line) is one sentence,
  cut every ``max_len`` words. Novels and dumps wrap their text at arbitrary places, so a line end is
  not a sentence end; a blank line is.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterator

from .textio import iter_lines

# [^\W\d_] is "a word character that is neither a digit nor an underscore": nearly always a run of
# Unicode letters and combining marks. Python's \w also takes a few other characters (numbers such as
# "¼" or "Ⅻ", connector punctuation such as "‿"); _split_rare removes those from the rare tokens that
# hold one.
_WORD = re.compile(r"[^\W\d_]+")
_WORD_DIGITS = re.compile(r"[^\W_]+")
_WORD_PUNCT = re.compile(r"[^\W\d_]+|[^\w\s]")
_WORD_DIGITS_PUNCT = re.compile(r"[^\W_]+|[^\w\s]")
_PATTERNS = {(False, False): _WORD, (True, False): _WORD_DIGITS,
             (False, True): _WORD_PUNCT, (True, True): _WORD_DIGITS_PUNCT}

MAX_SENTENCE_LEN = 10_000  # words; the same cap as word2vec.c's reader and gensim
MAX_PIECE = 1 << 20  # characters: a longer line is tokenized in pieces cut at whitespace (textio.iter_lines)


def tokenize(line: str, keep_digits: bool = False, keep_punct: bool = False, lowercase: bool = True) -> list[str]:
    """The words of one line of text, in order (see the module docstring for what a word is)."""
    if not line.isascii() and not unicodedata.is_normalized("NFC", line):
        line = unicodedata.normalize("NFC", line)
    if lowercase:
        line = line.lower()
    tokens = _PATTERNS[bool(keep_digits), bool(keep_punct)].findall(line)
    if all(t.isalpha() for t in tokens):  # the common case: nothing to clean
        return tokens
    return [piece for t in tokens for piece in _split_rare(t, keep_digits)]


def _is_word_char(c: str, keep_digits: bool) -> bool:
    return c.isalpha() or unicodedata.category(c)[0] == "M" or (keep_digits and c.isdecimal())


def _split_rare(token: str, keep_digits: bool) -> list[str]:
    """Split a token at characters that are neither letters, marks nor (if kept) decimal digits."""
    if len(token) == 1 and not token.isalnum() and not unicodedata.category(token)[0] == "M":
        return [token]  # a punctuation token from keep_punct
    pieces, current = [], []
    for c in token:
        if _is_word_char(c, keep_digits):
            current.append(c)
        elif current:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return pieces


def iter_tokens(path, keep_digits: bool = False, keep_punct: bool = False, lowercase: bool = True) -> Iterator[str]:
    """Every word of a UTF-8 text file, streamed line by line."""
    for line in iter_lines(path, max_len=MAX_PIECE):
        yield from tokenize(line, keep_digits, keep_punct, lowercase)


def iter_sentences(path, keep_digits: bool = False, keep_punct: bool = False, lowercase: bool = True,
                   max_len: int = MAX_SENTENCE_LEN) -> Iterator[list[str]]:
    """Lists of words, one per paragraph (ended by a blank line), cut into pieces of at most ``max_len``."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    sentence: list[str] = []
    for line in iter_lines(path, max_len=MAX_PIECE):  # a line without end comes in bounded pieces
        if not line.strip():  # a blank line ends the paragraph
            if sentence:
                yield sentence
                sentence = []
            continue
        sentence.extend(tokenize(line, keep_digits, keep_punct, lowercase))
        if len(sentence) >= max_len:  # cut whole pieces off the front in one pass: linear time
            n_full = len(sentence) // max_len
            for k in range(n_full):
                yield sentence[k * max_len:(k + 1) * max_len]
            sentence = sentence[n_full * max_len:]
    if sentence:
        yield sentence
