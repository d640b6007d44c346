"""Every script in benchmarks/ runs at its smallest size, as a new user would run it.

Each runnable script (one with ``if __name__ == "__main__"``) defines ``SMOKE_ARGS``, the argv of its
smallest size; here it runs in a subprocess with ``--out-dir`` and must exit 0, write parseable JSON
there and nothing into benchmarks/results/, print no traceback, no NumPy warning and no "nan", and
report no share of a ceiling above 100%. The scripts that compare with PyTorch run once more with
PyTorch hidden: one line says so and the minirnn side still runs. gpu_check.py, on a machine
without a GPU, prints one line and exits 2.
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


def run(script, argv, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    env.update(env_extra or {})
    env.pop("MINIRNN_BENCH_OUT", None)
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
EXPECTED_SCRIPTS = {"ab_engine.py", "ab_gru.py", "bench_kmeans.py", "bench_quantized_lm.py", "bench_rnn.py",
                    "bench_scale.py", "bench_vs_torch.py", "bench_word2vec.py", "bench_word2vec_process.py",
                    "compare_torch_charlm.py",
                    "gpu_check.py", "recipe.py", "recipe_word.py", "bench_wiki.py"}


def test_every_benchmark_script_is_found_and_has_smoke_args():
    assert set(SCRIPTS) == EXPECTED_SCRIPTS, (sorted(set(SCRIPTS) - EXPECTED_SCRIPTS),
                                              sorted(EXPECTED_SCRIPTS - set(SCRIPTS)))
    assert set(CPU_SCRIPTS) == EXPECTED_SCRIPTS - {"gpu_check.py"}     # each runs at its smallest size
    missing = [n for n, s in SCRIPTS.items() if not isinstance(s["smoke"], list)]
    assert not missing, f"benchmark scripts without SMOKE_ARGS = [...]: {missing}"
    assert {"bench_rnn.py", "recipe.py", "compare_torch_charlm.py", "ab_gru.py"} <= set(TORCH_SCRIPTS)


@pytest.mark.parametrize("script", CPU_SCRIPTS)
def test_benchmark_runs_at_its_smallest_size(script, tmp_path):
    if script == "ab_engine.py" and not (ROOT / ".git").exists():
        pytest.skip("ab_engine.py extracts a commit with git archive: needs a git checkout")
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
        data = check_json(written[0])
        rows = {(r["backend"], r["cell"]) for r in data["results"]}
        assert {("numpy", c) for c in data["config"]["cells"]} <= rows
        if importlib.util.find_spec("torch") is not None:          # the PyTorch column too
            assert {("torch-cpu", c) for c in data["config"]["cells"]} <= rows
        for r in data["results"]:                              # compilation and warm-up kept apart
            assert all(len(s["first_steps_ms"]) == 2 for s in r["step"])
            assert r["step_pct_of_ceiling"] is None or 0 < r["step_pct_of_ceiling"] <= 100
        if not backend.gpu_available():                   # the CPU columns, and one line saying why no GPU
            assert data["no_gpu"] and data["gpu_speedups"] == []
            assert len([l for l in proc.stdout.splitlines() if "no GPU" in l and "CPU columns only" in l]) == 1


@pytest.mark.parametrize("cell, arrays", [("lstm", 6), ("gru", 5), ("rnn", 1)])
def test_bench_rnn_counts_the_arrays_each_cell_keeps_for_backward(cell, arrays):
    # the stack's cache holds (cell, caches): the count that crashed every minirnn row when it changed
    bench_rnn = bench_module("bench_rnn")
    from minirnn import fast
    previous = fast.ENABLED
    try:
        for path in ("fused", "reference"):
            spec = {"backend": "numpy", "cell": cell, "L": 2, "H": 8, "path": path}
            cache_bytes = bench_rnn._minirnn_setup(spec)[3]
            # per layer: LSTM gates (4H) + c + h, GRU gates (r, z, n, hn: 4H) + h, RNN h; float32
            assert cache_bytes() == 2 * bench_rnn.N * bench_rnn.T * arrays * 8 * 4
    finally:
        fast.set_enabled(previous)


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
    import argparse
    p = argparse.ArgumentParser()
    common.add_output_args(p)
    monkeypatch.delenv("MINIRNN_BENCH_OUT", raising=False)
    assert common.result_path(p.parse_args([]), "x.json") == os.path.join(common.default_out_dir(), "x.json")
    assert not common.default_out_dir().startswith(str(ROOT))
    monkeypatch.setenv("MINIRNN_BENCH_OUT", str(tmp_path))
    assert common.result_path(p.parse_args([]), "x.json") == str(tmp_path / "x.json")
    assert common.result_path(p.parse_args(["--out-dir", "d"]), "x.json") == os.path.join("d", "x.json")
    assert common.result_path(p.parse_args(["--update-results"]), "x.json") == str(BENCH / "results" / "x.json")
    with pytest.raises(SystemExit):
        p.parse_args(["--update-results", "--out-dir", "d"])


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


def test_gpu_check_resume_and_table_on_the_cpu(tiny_text):
    # the GPU check's parts, run here on numpy: an unbroken run equals a stopped and resumed one,
    # and the table fills the CPU column and leaves the GPU ones empty
    common, gpu_check = bench_module("common"), bench_module("gpu_check")
    r = gpu_check.resume_check(6, 1e-4, backend_name="numpy", hidden=8, text=tiny_text)
    assert r["ok"] and r["bitwise_equal"] and r["max_weight_rel_diff"] == 0.0, r
    payload = {"device": {"gpu": "none"}, "machine": common.machine(), "command": "test", "tests": None,
               "resume": r, "timings": [{"cell": "lstm", "L": 1, "H": 8, "numpy": {"step_ms": 2.0},
                                         "gpu_speedup_over_cpu_engine": None, "gpu_over_cudnn": None}]}
    md = gpu_check.markdown(payload)
    assert "| lstm | 1 | 8 | - | 2.0 | - | - | - |" in md and "stop and resume on the GPU: passed" in md
