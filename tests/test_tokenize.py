"""Tokenizer: Unicode letters (accents, ñ) kept, digits/punctuation dropped by default; line streaming."""
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.errors import UsageError
from minirnn.tokenize import iter_sentences, iter_tokens, tokenize


def test_spanish_accents_and_enye():
    line = "—¿Qué dices, Sancho? —respondió don Quijote—. ¡Pingüino, ÑANDÚ y señor Peñón!"
    assert tokenize(line) == ["qué", "dices", "sancho", "respondió", "don", "quijote",
                              "pingüino", "ñandú", "y", "señor", "peñón"]


def test_digits_and_punctuation_are_configurable():
    line = "En 1605, el año de mp3: ¡sí!"
    assert tokenize(line) == ["en", "el", "año", "de", "mp", "sí"]
    assert tokenize(line, keep_digits=True) == ["en", "1605", "el", "año", "de", "mp3", "sí"]
    assert tokenize(line, keep_punct=True) == ["en", ",", "el", "año", "de", "mp", ":", "¡", "sí", "!"]
    assert tokenize("Don Quijote", lowercase=False) == ["Don", "Quijote"]


def test_apostrophes_underscores_split_words():
    assert tokenize("d'Artagnan snake_case") == ["d", "artagnan", "snake", "case"]


def test_decomposed_accents_are_composed():
    nfd = unicodedata.normalize("NFD", "Señor Peñón")
    assert nfd != "Señor Peñón"
    assert tokenize(nfd) == ["señor", "peñón"]


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_tokens_are_lowercase_letter_runs(text):
    toks = tokenize(text)
    for t in toks:
        assert t and all(c.isalpha() or unicodedata.category(c).startswith("M") for c in t)
        assert not any(c.isspace() or c.isdigit() for c in t)
    # tokenizing the tokens joined by spaces gives them back (no token is split or merged again)
    assert tokenize(" ".join(toks)) == toks


def test_iter_tokens_and_sentences(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("\ufeffEn un lugar de la Mancha,\nde cuyo nombre\n\n\nno quiero acordarme.\n", encoding="utf-8")
    assert list(iter_tokens(p)) == ["en", "un", "lugar", "de", "la", "mancha", "de", "cuyo", "nombre",
                                    "no", "quiero", "acordarme"]
    # a paragraph (lines up to a blank line) is one sentence
    assert list(iter_sentences(p)) == [["en", "un", "lugar", "de", "la", "mancha", "de", "cuyo", "nombre"],
                                       ["no", "quiero", "acordarme"]]
    assert [len(s) for s in iter_sentences(p, max_len=4)] == [4, 4, 1, 3]


@pytest.mark.parametrize("content", [None, b"", b"\x00\x01binary", b"caf\xe9\n"])
def test_bad_corpus_files(tmp_path, content):
    p = tmp_path / "bad.txt"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(UsageError, match="bad.txt"):
        list(iter_tokens(p))
