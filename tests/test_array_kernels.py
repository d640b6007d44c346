"""The engine's two Numba array kernels (minirnn/fast/_array_kernels.py) against their NumPy
references, its scatter_add's choice between the row kernel and np.add.at, and row_indices."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.fast import _array_kernels


@settings(max_examples=25, deadline=None, derandomize=True)
@given(V=st.integers(1, 6), K=st.integers(0, 40), D=st.integers(1, 9), s=st.integers(0, 2 ** 32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_scatter_add_rows_matches_add_at(V, K, D, s, dtype):
    rng = np.random.default_rng(s)
    a = rng.standard_normal((V, D)).astype(dtype)
    idx = rng.integers(0, V, K)                              # repeats are likely
    values = rng.standard_normal((K, D)).astype(dtype)
    ref = a.copy()
    np.add.at(ref, idx, values)
    _array_kernels.scatter_add_rows(a, idx, values)
    assert np.array_equal(a, ref)                            # same additions in the same order


@pytest.mark.parametrize("R,C", [(1, 1), (3, 5), (16, 7), (17, 33), (8, 40), (50, 200), (64, 16), (33, 32)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_into_matches_T(R, C, dtype):
    src = np.random.default_rng(R * C).standard_normal((R, C)).astype(dtype)
    dst = np.full((C, R), np.nan, dtype=dtype)
    _array_kernels.transpose_into(src, dst)
    assert np.array_equal(dst, src.T)


def test_engine_scatter_add_rows_and_fallback():
    rng = np.random.default_rng(0)
    idx = np.array([2, 0, 2, -1])                            # a repeat and a negative index
    vals = rng.standard_normal((4, 3))
    a, ref = np.zeros((4, 3)), np.zeros((4, 3))
    _array_kernels.scatter_add(a, idx, vals)                 # rows: the Numba kernel
    np.add.at(ref, idx, vals)
    assert np.allclose(a, ref)
    b, ref1 = np.zeros(5), np.zeros(5)
    _array_kernels.scatter_add(b, np.array([1, 1, 4]), np.array([1.0, 2.0, 3.0]))  # 1-D: np.add.at
    np.add.at(ref1, [1, 1, 4], [1.0, 2.0, 3.0])
    assert np.array_equal(b, ref1)


@pytest.mark.parametrize("bad", [4, -5])
def test_engine_scatter_add_rejects_out_of_range(bad):
    a = np.zeros((4, 2))
    with pytest.raises(IndexError):
        _array_kernels.scatter_add(a, np.array([0, bad]), np.ones((2, 2)))
    assert not a.any()                                       # nothing written


def test_row_indices_follow_numpy_and_come_back_contiguous():
    """Ids into 4 rows, given transposed: the same rows as a[ids] picks, in [0, 4), C order."""
    ids = np.array([[0, -1, 3], [-4, 2, 1]]).T               # (3, 2), not C-contiguous
    rows = _array_kernels.row_indices(ids, 4)
    a = np.arange(4) * 10
    assert np.array_equal(a[rows], a[ids]) and rows.min() >= 0 and rows.flags.c_contiguous
    for bad in (4, -5):
        with pytest.raises(IndexError):
            _array_kernels.row_indices(np.array([0, bad]), 4)
