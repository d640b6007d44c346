"""Char data: streaming encoder, vocabulary, char-rnn batching and the train/validation split."""
import numpy as np
import pytest

from minirnn import chardata
from minirnn.errors import UsageError
from minirnn.textio import default_corpus


def write(tmp_path, data: bytes, name="t.txt"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_encode_strips_bom_and_uses_code_points(tmp_path):
    path = write(tmp_path, "\ufeffaño ñu\r\nÁé".encode("utf-8"))
    ids, vocab = chardata.encode_file(path)
    assert vocab.decode(ids) == "año ñu\nÁé"               # BOM gone, CRLF -> LF
    assert vocab.chars == sorted(set("año ñu\nÁé"))          # sorted by code point
    assert ids.dtype == np.uint16


def test_encode_chunked_equals_whole(tmp_path, monkeypatch):
    text = "En un lugar de la Mancha, de cuyo nombre no quiero acordarme\n" * 50
    path = write(tmp_path, text.encode("utf-8"))
    monkeypatch.setattr(chardata, "_CHUNK", 7)                 # many chunk boundaries
    ids, vocab = chardata.encode_file(path)
    assert vocab.decode(ids) == text


def test_bundled_novel_loads():
    ids, vocab = chardata.encode_file(default_corpus())
    assert len(ids) > 1_000_000
    assert "ñ" in vocab.index and "\ufeff" not in vocab.index


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x00\x01\x02binary", "binary"),
    (b"hola \xff\xfe mundo", "UTF-8"),
    (b"   \n\n  ", "no text"),
])
def test_bad_files(tmp_path, data, message):
    with pytest.raises(UsageError, match=message):
        chardata.encode_file(write(tmp_path, data))


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        chardata.encode_file(str(tmp_path / "nope.txt"))


def test_vocab_encode_lists_unknown_characters():
    vocab = chardata.CharVocab("abc ")
    assert vocab.encode("a cab").tolist() == [0, 3, 2, 0, 1]
    with pytest.raises(UsageError, match=r"2 character\(s\).*'x'.*'z'"):
        vocab.encode("zax")


def test_windows_are_streams_with_shifted_targets():
    data = np.arange(101)
    w = chardata.Windows(data, batch=4, seq=5)               # S = 25 per stream, 5 windows
    assert len(w) == 5
    x0, y0 = w.window(0)
    x1, _ = w.window(1)
    assert x0.shape == (4, 5)
    assert (y0 == x0 + 1).all()                              # targets are the next id
    assert (x0[:, 0] == [0, 25, 50, 75]).all()               # stream b starts at b * S
    assert (x1[:, 0] == x0[:, -1] + 1).all()                 # window 1 continues window 0


def test_split_by_position_and_too_short():
    ids = np.arange(1000)
    train, val = chardata.split(ids, 0.1, batch=4, seq=10)
    assert train.x.max() < 900 and val.x.min() >= 900        # the last 10% is validation
    with pytest.raises(UsageError, match="too short"):
        chardata.split(np.arange(50), 0.1, batch=4, seq=10)
    with pytest.raises(UsageError, match="val-frac"):
        chardata.split(ids, 0.0, batch=4, seq=10)
