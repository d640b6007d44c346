"""Checkpoints: round trip, atomic writes, no pickle, clear errors for corrupt files."""
import json
import os

import numpy as np
import pytest

from minirnn import checkpoint
from minirnn.errors import UsageError


def test_round_trip_and_json_twin(tmp_path):
    arrays = {"param/W": np.arange(6, dtype=np.float32).reshape(2, 3), "opt/m.W": np.ones(3)}
    meta = {"kind": "char", "vocab": ["a", "ñ", "\n"], "iteration": 7}
    path = checkpoint.save(str(tmp_path / "latest"), arrays, meta)
    assert path.endswith("latest.npz")
    got, got_meta = checkpoint.load(path)
    assert got_meta == meta
    assert set(got) == set(arrays)
    np.testing.assert_array_equal(got["param/W"], arrays["param/W"])
    assert json.loads((tmp_path / "latest.json").read_text(encoding="utf-8")) == meta
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_failed_write_keeps_the_old_checkpoint(tmp_path):
    path = checkpoint.save(str(tmp_path / "c.npz"), {"a": np.zeros(2)}, {"iteration": 1})

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError):
        checkpoint.save(path, {"a": Boom()}, {"iteration": 2})
    _, meta = checkpoint.load(path)
    assert meta["iteration"] == 1
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_truncated_and_foreign_files(tmp_path):
    path = checkpoint.save(str(tmp_path / "c.npz"), {"a": np.zeros(1000)}, {"iteration": 1})
    data = open(path, "rb").read()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="corrupt or truncated"):
        checkpoint.load(str(tmp_path / "trunc.npz"))
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(UsageError, match="not a minirnn checkpoint"):
        checkpoint.load(str(tmp_path / "plain.npz"))
    with pytest.raises(UsageError, match="no such checkpoint"):
        checkpoint.load(str(tmp_path / "missing.npz"))


def test_object_arrays_are_refused(tmp_path):
    # a pickled object array inside an .npz must not be loaded
    np.savez(tmp_path / "evil.npz", __meta__=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UsageError):
        checkpoint.load(str(tmp_path / "evil.npz"))
