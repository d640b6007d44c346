"""benchmarks/bench_vs_torch.py at tiny sizes: it runs, writes its JSON where it is told, counts
flops as issue 24 does, and without PyTorch times minirnn alone after one line saying so."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_vs_torch as bench  # noqa: E402

QUICK = ["--tiny", "--rounds", "1", "--warmup", "0", "--steps", "1"]


def test_flops_as_the_issue_counts_them():
    """H = 512 at torch-rnn's config: about 50 GFLOP per training step (3x the forward)."""
    cfg = bench.ROWS["tr512"]
    f = bench.flops(cfg)
    N, T, H = 50, 50, 512
    assert f == 2 * N * T * (64 + H) * 4 * H + 2 * N * T * (H + H) * 4 * H + 2 * N * T * H * 65
    assert 49e9 < 3 * f < 51e9


def test_runs_and_writes_json_without_torch(tmp_path, monkeypatch, capsys):
    """The minirnn side of every kind of row (train, val, sample) runs when PyTorch is missing."""
    monkeypatch.setattr(bench, "have_torch", lambda: False)
    assert bench.main(QUICK + ["--rows", "char_train,char_val,sample", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "bench_vs_torch: PyTorch is not installed; timing minirnn alone"
    data = json.loads((tmp_path / "vs_torch.json").read_text())
    rows = {r["row"]: r for r in data["rows"]}
    assert sorted(rows) == ["char_train", "char_val", "sample"]
    for r in rows.values():
        assert r["minirnn"]["median_ms"] > 0 and "torch" not in r and "ratio" not in r
    assert rows["sample"]["minirnn"]["chars_per_s"] > 0
    assert rows["char_train"]["gflop_per_step"] == pytest.approx(3 * bench.flops(rows["char_train"]["config"]) / 1e9)
    assert data["ceiling"]["gflops_median"] > 0


def test_smoke_args_parse_and_bad_values_exit_2(tmp_path, capsys):
    assert set(bench.SMOKE_ARGS) >= {"--tiny"}
    for bad in (["--rounds", "0"], ["--rows", "char_val,nope"]):
        assert bench.main(bad + ["--out-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_profile_categories():
    """perf report lines are sorted into the profile's categories."""
    report = """
    30.00%  libscipy_openblas64_-x.so   [.] sgemm_kernel_HASWELL
    10.00%  libscipy_openblas64_-x.so   [.] blas_thread_server
    20.00%  [JIT] tid 7                 [.] 0x00007f17aa246f88
     5.00%  _multiarray_umath.cpython-311-x86_64-linux-gnu.so  [.] FLOAT_add_X86_V3
    15.00%  libpython3.11.so.1.0        [.] _PyEval_EvalFrameDefault
     8.00%  [kernel.kallsyms]           [k] clear_page_erms
     2.00%  libc.so.6                   [.] __memset_avx2_unaligned_erms
    10.00%  libfoo.so                   [.] bar
"""
    s = bench.classify(report)
    assert s["GEMM compute and packing (OpenBLAS kernels)"] == 30
    assert s["BLAS threads waiting / handing out work"] == 10
    assert s["Numba kernels (JIT code)"] == 20
    assert s["NumPy elementwise and reductions"] == 5
    assert s["Python interpreter and call overhead"] == 15
    assert s["kernel: page faults, zeroing, syscalls"] == 8
    assert s["libc: malloc, free, memset, memcpy"] == 2
    assert s["other"] == 10
