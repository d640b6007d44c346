"""Every script in benchmarks/ runs at its smallest size, as a new user would run it.

Each runnable script (one with ``if __name__ == "__main__"``) defines ``SMOKE_ARGS``, the argv of its
smallest size; here it runs in a subprocess with ``--out-dir`` and must exit 0, write parseable JSON
there and nothing into benchmarks/results/, print no traceback, no NumPy warning and no "nan", and
report no share of a ceiling above 100%. The scripts that compare with PyTorch run once more with
PyTorch hidden: one line says so and the minirnn side still runs; bench_rnn.py once more with pyperf
hidden. gpu_check.py, on a machine without a GPU, prints one line and exits 2. The suite's command,
run.py, runs at its smallest size and prints the table. Outputs and flags (issue 33): a result never
replaces a file that is not an earlier result, MINIRNN_BENCH_OUT naming a file and every bad flag
are one line and exit 2.
"""
import ast
import importlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minirnn import backend

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _is_script(tree) -> bool:
    return any(isinstance(n, ast.If) and "__name__" in ast.unparse(n.test) and "__main__" in ast.unparse(n.test)
               for n in tree.body)


def _constant(tree, name):
    """The literal value of a module-level `name = <literal>`, or None."""
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
            return ast.literal_eval(n.value)
    return None


SCRIPTS = {}
for _path in sorted(BENCH.glob("*.py")):
    _tree = ast.parse(_path.read_text(encoding="utf-8"))
    if _is_script(_tree):
        SCRIPTS[_path.name] = {"smoke": _constant(_tree, "SMOKE_ARGS"), "gpu": bool(_constant(_tree, "NEEDS_GPU")),
                               "torch": 'reference("torch")' in _path.read_text(encoding="utf-8")
                               or "import bench_rnn" in _path.read_text(encoding="utf-8")}
CPU_SCRIPTS = [n for n, s in SCRIPTS.items() if not s["gpu"]]
TORCH_SCRIPTS = [n for n, s in SCRIPTS.items() if s["torch"] and not s["gpu"]]


def bench_module(name):
    """Import benchmarks/<name>.py in this process, leaving sys.path as it was."""
    saved = list(sys.path)
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


def _results_state():
    return {p.name: p.stat().st_mtime_ns for p in (BENCH / "results").iterdir()}


def run(script, argv, env_extra=None, timeout=300, keep_bench_out=False):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    if not keep_bench_out:
        env.pop("MINIRNN_BENCH_OUT", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(BENCH / script), *argv], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def check_json(path: Path):
    """Parseable, no NaN or infinity anywhere, no share of a ceiling above 100%."""
    def refuse(constant):
        raise AssertionError(f"{path.name} holds {constant}")
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, str(k))
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, float):
            assert math.isfinite(x), f"{path.name}: {key} = {x}"
            if re.search(r"pct|percent|share", key):
                assert x <= 100, f"{path.name}: {key} = {x} (above 100%)"
    walk(data)
    return data


def check_run(proc, out_dir: Path, before):
    tail = f"\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"exit status {proc.returncode}{tail}"
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, tail
    assert not re.search(r"\bnan\b", proc.stdout, re.IGNORECASE), f"a nan in the output{tail}"
    assert not re.search(r"\b(10[1-9]|1[1-9][0-9]|[2-9][0-9]{2}|[0-9]{4,})%", proc.stdout), \
        f"a share above 100% in the output{tail}"
    written = sorted(out_dir.rglob("*.json"))
    assert written, f"no JSON written to --out-dir{tail}"
    for path in written:
        check_json(path)
    assert _results_state() == before, "the run changed benchmarks/results/"
    return written


# every benchmark script there is: test_benchmark_runs_at_its_smallest_size runs each of the CPU ones
# (the discovery below finds them; this list keeps the discovery honest, and a new script must join it)
EXPECTED_SCRIPTS = {"bench_kmeans.py", "bench_rnn.py", "bench_scale.py", "bench_wiki.py", "bench_word2vec.py", "compare_torch_charlm.py", "gpu_check.py", "recipe.py", "run.py"}


def test_every_benchmark_script_is_found_and_has_smoke_args():
    assert set(SCRIPTS) == EXPECTED_SCRIPTS, (sorted(set(SCRIPTS) - EXPECTED_SCRIPTS),
                                              sorted(EXPECTED_SCRIPTS - set(SCRIPTS)))
    assert set(CPU_SCRIPTS) == EXPECTED_SCRIPTS - {"gpu_check.py"}     # each runs at its smallest size
    missing = [n for n, s in SCRIPTS.items() if not isinstance(s["smoke"], list)]
    assert not missing, f"benchmark scripts without SMOKE_ARGS = [...]: {missing}"
    assert {"bench_rnn.py", "recipe.py", "compare_torch_charlm.py"} <= set(TORCH_SCRIPTS)


@pytest.mark.parametrize("script", CPU_SCRIPTS)
def test_benchmark_runs_at_its_smallest_size(script, tmp_path):
    assert isinstance(SCRIPTS[script]["smoke"], list), f"{script} defines no SMOKE_ARGS = [...]"
    before = _results_state()
    proc = run(script, SCRIPTS[script]["smoke"] + ["--out-dir", str(tmp_path / "out")])
    written = check_run(proc, tmp_path / "out", before)
    source = (BENCH / script).read_text(encoding="utf-8")
    for module, name in (("gensim", "gensim"), ("sklearn", "scikit-learn"), ("torch", "PyTorch")):
        if f'reference("{module}")' in source and importlib.util.find_spec(module) is None:
            notes = [l for l in proc.stderr.splitlines() if f"{name} is not installed" in l]
            assert len(notes) == 1, f"a missing {name} should be one line:\n{proc.stderr}"
    if script == "recipe.py":                                  # each run's line shows its curve
        runs = [l for l in proc.stdout.splitlines() if " seed 0:" in l]
        assert runs and all(re.search(r"seed 0: \d+:\d+\.\d+", l) for l in runs), proc.stdout
    if script == "bench_rnn.py":
        data = check_json(tmp_path / "out" / "rnn.json")
        rows = {(r["backend"], r["cell"]) for r in data["results"]}
        assert {("numpy", c) for c in data["config"]["cells"]} <= rows
        if importlib.util.find_spec("torch") is not None:          # the PyTorch column too
            assert {("torch-cpu", c) for c in data["config"]["cells"]} <= rows
        for r in data["results"]:                              # compilation and warm-up kept apart
            assert all(len(w["first_steps_ms"]) == 2 for w in r["runs"])
            assert r["step_pct_of_ceiling"] is None or 0 < r["step_pct_of_ceiling"] <= 100
        if not backend.gpu_available():                   # the CPU rows, and one line saying why no GPU
            assert data["no_gpu"] and data["gpu_speedups"] == []
            assert len([l for l in proc.stdout.splitlines() if "no GPU" in l and "CPU rows only" in l]) == 1
            gpu_rows = [r for r in data["summary"] if ", GPU," in r["what"]]
            assert gpu_rows and all(r["minirnn"] is None and "no GPU here" in r["note"] for r in gpu_rows)
        if importlib.util.find_spec("pyperf") is not None:     # every timed step, as pyperf reads them
            import pyperf
            suite = pyperf.BenchmarkSuite.load(str(tmp_path / "out" / "rnn.pyperf.json"))
            assert {b.get_name() for b in suite} == {f"lstm L1 H16 {b}" for b in data["config"]["backends"]}
            assert all(b.get_nvalue() == 1 for b in suite)     # --repeats 1, --rounds 1
    if script == "run.py":                                     # the table: a row per summary row
        data = check_json(tmp_path / "out" / "suite.json")
        table = [l for l in proc.stdout.splitlines() if l.startswith("| k-means")]
        assert data["rows"] and len(table) == len(data["rows"]) and data["runs"]["kmeans"]["exit_status"] == 0
        assert all(r["machine"] and r["date"] and r["command"].startswith("python benchmarks/") for r in data["rows"])
    for path in written:                                       # what run.py prints: rows of common.row
        data = json.loads(path.read_text())
        for r in data.get("summary", []) if isinstance(data, dict) else []:
            assert set(r) == {"what", "minirnn", "reference", "reference_value", "ratio", "note"}, r


@pytest.mark.parametrize("cell, arrays", [("lstm", 6), ("gru", 5), ("rnn", 1)])
def test_bench_rnn_counts_the_arrays_each_cell_keeps_for_backward(cell, arrays):
    # the stack's cache holds (cell, caches): the count that crashed every minirnn row when it changed
    bench_rnn = bench_module("bench_rnn")
    from minirnn import fast
    previous = fast.ENABLED
    try:
        for path in ("fused", "reference"):
            spec = {"backend": "numpy", "cell": cell, "L": 2, "H": 8, "path": path}
            cache_bytes = bench_rnn._minirnn_setup(spec)["cache_bytes"]
            # per layer: LSTM gates (4H) + c + h, GRU gates (r, z, n, hn: 4H) + h, RNN h; float32
            assert cache_bytes() == 2 * bench_rnn.N * bench_rnn.T * arrays * 8 * 4
    finally:
        fast.set_enabled(previous)


def test_bench_rnn_flops_as_issue_24_counts_them():
    """H = 512 at torch-rnn's config with an embedding of 64: about 50 GFLOP per training step (3x the forward)."""
    bench_rnn = bench_module("bench_rnn")
    N, T, H = 50, 50, 512
    f = bench_rnn.flops(bench_rnn.ROWS["tr512"])
    assert f == 2 * N * T * (64 + H) * 4 * H + 2 * N * T * (H + H) * 4 * H + 2 * N * T * H * 65
    assert 49e9 < 3 * f < 51e9
    assert bench_rnn.forward_flops("gru", 1, 8) == 2 * N * T * (65 + 8) * 3 * 8 + 2 * N * T * 8 * 65


def test_bench_rnn_rows_write_vs_torch_json(tmp_path):
    # the rows of the former bench_vs_torch.py (issue 24's table), every kind of row on minirnn's side,
    # in the JSON format of benchmarks/results/vs_torch.json
    before = _results_state()
    argv = ["--rows", "char_train,char_val,sample", "--tiny", "--rounds", "1", "--warmup", "0", "--repeats", "1",
            "--backends", "numpy", "--out-dir", str(tmp_path / "out")]
    check_run(run("bench_rnn.py", argv), tmp_path / "out", before)
    data = check_json(tmp_path / "out" / "vs_torch.json")
    old = json.loads((BENCH / "results" / "vs_torch.json").read_text())
    assert set(old) <= set(data) and set(old["ceiling"]) == set(data["ceiling"])
    rows = {r["row"]: r for r in data["rows"]}
    assert sorted(rows) == ["char_train", "char_val", "sample"]
    for r in rows.values():
        assert r["minirnn"]["median_ms"] > 0 and "torch" not in r and "ratio" not in r
        assert set(r) <= set(old["rows"][0]) and r["row"] in {o["row"] for o in old["rows"]}
    assert rows["sample"]["minirnn"]["chars_per_s"] > 0
    bench_rnn = bench_module("bench_rnn")
    assert rows["char_train"]["gflop_per_step"] == pytest.approx(3 * bench_rnn.flops(rows["char_train"]["config"]) / 1e9)
    assert data["ceiling"]["gflops_median"] > 0 and len(data["summary"]) == 3


def test_bench_rnn_profile_categories():
    """perf report lines are sorted into the profile's categories."""
    report = """
    30.00%  libscipy_openblas64_-x.so   [.] sgemm_kernel_HASWELL
    10.00%  libscipy_openblas64_-x.so   [.] blas_thread_server
    20.00%  [JIT] tid 7                 [.] 0x00007f17aa246f88
     5.00%  _multiarray_umath.cpython-311-x86_64-linux-gnu.so  [.] FLOAT_add_X86_V3
    15.00%  libpython3.11.so.1.0        [.] _PyEval_EvalFrameDefault
     8.00%  [kernel.kallsyms]           [k] clear_page_erms
     2.00%  libc.so.6                   [.] __memset_avx2_unaligned_erms
     3.00%  libgomp.so.1.0.0            [.] 0x000000000001f622
     7.00%  libfoo.so                   [.] bar
"""
    s = bench_module("bench_rnn").classify(report)
    assert list(s.values()) == [30, 10, 20, 5, 15, 8, 2, 3, 7] and list(s)[-1] == "other"


@pytest.fixture
def no_torch(tmp_path):
    """A PYTHONPATH folder in which `import torch` fails as it does where PyTorch is not installed."""
    fake = tmp_path / "hide" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    return {"PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "hide")])}


@pytest.mark.parametrize("script", TORCH_SCRIPTS)
def test_benchmark_without_pytorch_says_so_in_one_line_and_runs_minirnn(script, tmp_path, no_torch):
    before = _results_state()
    env = dict(no_torch)
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                          env=dict(os.environ, **env))
    assert proc.returncode != 0                                           # torch is hidden indeed
    proc = run(script, SCRIPTS[script]["smoke"] + ["--out-dir", str(tmp_path / "out")], env_extra=env)
    written = check_run(proc, tmp_path / "out", before)
    notes = [l for l in (proc.stdout + proc.stderr).splitlines() if "PyTorch is not installed" in l]
    assert len(notes) == 1, proc.stdout + proc.stderr
    assert "torch==2.13.0" in notes[0]
    text = "".join(p.read_text() for p in written)
    assert '"torch-cpu"' not in text                                     # no PyTorch figures were made up


def test_update_results_and_out_dir_choose_the_folder(tmp_path, monkeypatch):
    common = bench_module("common")
    p = common.parser("")
    common.add_output_args(p)
    monkeypatch.delenv("MINIRNN_BENCH_OUT", raising=False)
    assert common.result_path(p.parse_args([]), "x.json") == os.path.join(common.default_out_dir(), "x.json")
    assert not common.default_out_dir().startswith(str(ROOT))
    monkeypatch.setenv("MINIRNN_BENCH_OUT", str(tmp_path / "env"))
    assert common.result_path(p.parse_args([]), "x.json") == str(tmp_path / "env" / "x.json")
    d = str(tmp_path / "d")
    assert common.result_path(p.parse_args(["--out-dir", d]), "x.json") == os.path.join(d, "x.json")
    assert common.result_path(p.parse_args(["--update-results"]), "x.json") == str(BENCH / "results" / "x.json")
    with pytest.raises(common.UsageError, match="not allowed with"):
        p.parse_args(["--update-results", "--out-dir", "d"])


def test_a_result_replaces_only_an_earlier_result(tmp_path):
    # issue 33: bench_kmeans.py --json and ab_gru.py --out wrote over any file. Now a benchmark writes
    # only fixed names into its folder and replaces there only what a benchmark wrote, saying so
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "kmeans.json"
    mine.write_text('{"my": "notes"}\n')
    argv = SCRIPTS["bench_kmeans.py"]["smoke"] + ["--out-dir", str(out)]
    proc = run("bench_kmeans.py", argv)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a result of a minirnn benchmark" in proc.stderr
    assert mine.read_text() == '{"my": "notes"}\n'                          # refused before any work
    assert "case (b)" not in proc.stdout
    mine.unlink()
    assert run("bench_kmeans.py", argv).returncode == 0                      # a result of its own ...
    proc = run("bench_kmeans.py", argv)                                      # ... is replaced, and it says so
    assert proc.returncode == 0 and f"note: {mine} replaces an earlier result" in proc.stdout
    assert json.loads(mine.read_text())["written_by"] == "minirnn benchmarks/bench_kmeans.py"
    for gone in ("--json", "--out"):                                         # no flag names another file
        proc = run("bench_kmeans.py", argv + [gone, str(tmp_path / "README.md")])
        assert proc.returncode == 2 and proc.stderr.startswith("error:") and not (tmp_path / "README.md").exists()


def test_bench_out_naming_a_file_is_one_line_exit_2(tmp_path):
    # issue 33: MINIRNN_BENCH_OUT naming a file was "internal error"
    f = tmp_path / "a_file"
    f.write_text("mine")
    for script in ("bench_kmeans.py", "run.py"):
        proc = run(script, SCRIPTS[script]["smoke"], env_extra={"MINIRNN_BENCH_OUT": str(f)}, keep_bench_out=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [f"error: MINIRNN_BENCH_OUT={f}: is not a directory; name a folder "
                                                    "for the results"]
        assert f.read_text() == "mine"


# a bad value for each numeric flag kind, per script that builds its flags with common.parser
BAD_FLAGS = {"bench_kmeans.py": [["--threads", "0"], ["--repeats", "-1"], ["--n-b", "x"], ["--cases", "c"],
                                 ["--clusters-b", "200", "--n-b", "100"]],
             "bench_rnn.py": [["--hidden", "128,0"], ["--layers", ""], ["--rounds", "0"], ["--warmup", "-1"],
                              ["--cells", "lstm,tree"], ["--backends", "numpy,tpu"], ["--threads", "1.5"],
                              ["--rows", "char_val,nope"], ["--tiny"], ["--rows", "all", "--backends", "torch-cpu"]],
             "bench_wiki.py": [["--repeat", "0"], ["--rounds", "x"], ["--synthetic", "-1"], ["--bogus"]],
             "bench_word2vec.py": [["--rounds", "0"], ["--dim", "-3"], ["--epochs", "inf"], ["--corpus", "missing.txt"]],
             "gpu_check.py": [["--hidden", "0"], ["--tests-timeout", "0"], ["--repeats", "many"]],
             "run.py": [["--only", "rnn,nothing"], ["--bogus"]]}


@pytest.mark.parametrize("script", sorted(BAD_FLAGS))
def test_every_bad_flag_is_one_line_and_exit_2(script, tmp_path):
    # issue 33: the benchmarks' flags passed through unchecked, to fail later as "internal error"
    for argv in BAD_FLAGS[script]:
        proc = run(script, argv + ["--out-dir", str(tmp_path / "out")])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), (argv, proc.stderr)
        assert proc.stdout == "" and not (tmp_path / "out").exists(), argv            # before any work


def test_numeric_flags_are_typed_by_common():
    # the root of the fix above: a script built on common.parser types each number with common's checks
    for name in BAD_FLAGS:
        tree = ast.parse((BENCH / name).read_text(encoding="utf-8"))
        bare = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "type"
                and ast.unparse(n.value) in ("int", "float")]
        assert "common.parser(" in (BENCH / name).read_text() and not bare, (name, bare)


@pytest.fixture
def no_pyperf(tmp_path):
    fake = tmp_path / "hide" / "pyperf"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pyperf'\", name='pyperf')\n")
    return {"PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "hide")])}


def test_pyperf_is_optional(tmp_path, no_pyperf):
    before = _results_state()
    proc = run("bench_rnn.py", SCRIPTS["bench_rnn.py"]["smoke"] + ["--out-dir", str(tmp_path / "out")], env_extra=no_pyperf)
    check_run(proc, tmp_path / "out", before)
    notes = [l for l in proc.stderr.splitlines() if "pyperf is not installed" in l]
    assert len(notes) == 1 and "pip install pyperf" in notes[0]
    assert not (tmp_path / "out" / "rnn.pyperf.json").exists()


def test_the_analogy_file_is_what_its_script_writes(tmp_path):
    # benchmarks/data/make_es_analogies.py rewrites benchmarks/data/es_analogies_quijote.txt exactly
    out = tmp_path / "a.txt"
    proc = subprocess.run([sys.executable, str(BENCH / "data" / "make_es_analogies.py"), "--out", str(out)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (BENCH / "data" / "es_analogies_quijote.txt").read_bytes()


def test_no_import_circle_between_benchmark_scripts():
    # a script may import common and the scripts it builds on; none imports back
    imports = {}
    for name in [p.name for p in BENCH.glob("*.py")]:
        tree = ast.parse((BENCH / name).read_text(encoding="utf-8"))
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imports[name[:-3]] = {m for m in mods if (BENCH / f"{m}.py").exists()}
    assert imports["common"] == set()                                     # the shared module imports no script

    def reaches(a, b, seen=()):
        return any(m == b or (m not in seen and reaches(m, b, seen + (m,))) for m in imports.get(a, ()))
    circles = [a for a in imports if reaches(a, a)]
    assert not circles, f"import circles through {circles}"


@pytest.mark.skipif(backend.gpu_available(), reason="the no-GPU path: this machine has a GPU")
def test_gpu_check_without_a_gpu_prints_one_line_and_exits_2(tmp_path):
    before = _results_state()
    proc = run("gpu_check.py", ["--out-dir", str(tmp_path / "out")])
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no GPU here"), proc.stderr
    assert not (tmp_path / "out").exists() and _results_state() == before


@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and an NVIDIA GPU")
def test_gpu_check_runs_at_its_smallest_size_on_a_gpu(tmp_path):
    before = _results_state()
    check_run(run("gpu_check.py", SCRIPTS["gpu_check.py"]["smoke"] + ["--out-dir", str(tmp_path / "out")]),
              tmp_path / "out", before)


def test_every_result_file_is_cited_by_a_page():
    # benchmarks/results/ keeps only what a page (README.md, benchmarks/README.md, docs/) cites, by name
    # in backticks: `x.json`, `benchmarks/results/x.json`, `train_char_default.*`, `rnn_cpu_gru_L{1,2}.json`
    import fnmatch
    pages = [ROOT / "README.md", BENCH / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    cited = set()
    for page in pages:
        for token in re.findall(r"`([^`\s]+)`", page.read_text(encoding="utf-8")):
            name = token.rsplit("/", 1)[-1]
            m = re.search(r"\{([^}]*)\}", name)
            cited |= {name[:m.start()] + alt + name[m.end():] for alt in m.group(1).split(",")} if m else {name}
    files = sorted(p.name for p in (BENCH / "results").iterdir())
    uncited = [f for f in files if not any(fnmatch.fnmatchcase(f, c) for c in cited if not c.startswith("*"))]
    assert not uncited, f"result files no page cites: {uncited}"
    assert len(files) >= 10
