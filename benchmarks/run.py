#!/usr/bin/env python
"""The benchmark suite in one command: each benchmark at its default size, then one table.

    python benchmarks/run.py                      # the suite on this machine (NumPy; CuPy where there is a GPU)
    python benchmarks/run.py --only rnn,kmeans    # some of it (--list names them)
    python benchmarks/run.py --smoke              # every benchmark at its smallest size: seconds, figures meaningless
    python benchmarks/run.py --update-results     # renew the committed figures, benchmarks/results/

Each benchmark of SUITE runs as its own process, one after the other, and writes its JSON; each
JSON's ``summary`` holds its rows: minirnn's figure, its reference library's (PyTorch, cuDNN,
gensim, scikit-learn) and the ratio minirnn / reference. A reference that is not installed is one
line and an empty column; the GPU rows say why they are empty on a machine without one. The table
(Markdown, each row with its machine, date and command) is printed at the end and written to
suite.json in --out-dir, with the seconds each benchmark took and its whole JSON (the benchmarks
write theirs beside it; with --update-results into a temporary folder, so that only suite.json
joins benchmarks/results/). Exit status 1 if a benchmark failed.
"""
from __future__ import annotations

import ast
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import numpy  # noqa: E402,F401  (loaded, so that common.machine() names its BLAS and kernels)

from minirnn.errors import UsageError, run_cli  # noqa: E402

# the registry: name -> (script, the JSON it writes, its arguments at the suite's default size, and at its
# smallest (None: the script's SMOKE_ARGS)). A benchmark joins the suite here, its JSON's "summary"
# (common.row) the table. The sizes aim at 15 minutes on 2 cores (benchmarks/README.md: as measured).
SUITE = {
    "rnn": ("bench_rnn.py", "rnn.json", ["--cells", "lstm,gru", "--layers", "2", "--hidden", "512", "--rounds", "2",
                                         "--repeats", "3", "--warmup", "1"], None),
    "vs_torch": ("bench_rnn.py", "vs_torch.json", ["--rows", "char_train,char_val,sample", "--rounds", "2", "--repeats", "5",
                                                   "--warmup", "1"],
                 ["--rows", "char_val,sample", "--tiny", "--rounds", "1", "--warmup", "0", "--repeats", "1"]),
    "word2vec": ("bench_word2vec.py", "word2vec.json", ["--rounds", "3"], None),
    "kmeans": ("bench_kmeans.py", "kmeans.json", ["--repeats", "1", "--n-b", "50000", "--clusters-b", "500"], None),
    "wiki": ("bench_wiki.py", "wiki.json", ["--repeat", "2", "--rounds", "3"], None),
    "scale": ("bench_scale.py", "scale.json", ["--sizes", "1", "--repeats", "1"], None),
}
SMOKE_ARGS = ["--smoke", "--only", "kmeans"]


def smoke_args(script):
    """The script's SMOKE_ARGS (its smallest size), read from its source."""
    tree = ast.parse(open(os.path.join(HERE, script), encoding="utf-8").read())
    return next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", None) == "SMOKE_ARGS" for t in n.targets))


def cpu_seconds() -> float:
    """User and system seconds of the benchmarks run so far, their processes' children included:
    on a loaded machine the wall clock also counts the other jobs' time."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def scale_rows(payload) -> list:
    """bench_scale.py's JSON has no summary: a row per size, its stages' seconds and the k-means fit
    against scikit-learn's."""
    rows = []
    for r in payload.get("runs", []):
        stages = {k: v for k, v in r.items() if isinstance(v, dict) and "wall_s" in v}
        cmp_ = r.get("compare", {})
        mine, ref = (cmp_.get(k, {}).get("median_s") for k in ("minirnn", "sklearn"))
        rows.append(common.row(f"the word pipeline at {r['tokens'] / 1e6:g}M tokens, k-means fit (k-means++ and Lloyd)",
                               mine and f"{mine:.1f} s", ref and "scikit-learn", ref and f"{ref:.1f} s",
                               mine and ref and mine / ref, "stages' wall seconds: " + ", ".join(
                                   f"{k} {v['wall_s']:.0f}" for k, v in stages.items())))
    return rows


def table(rows) -> str:
    """The suite's rows as Markdown."""
    fmt = lambda v: "-" if v is None else v  # noqa: E731
    lines = ["| what | minirnn | reference | minirnn / reference | machine, date | command |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"**{r['ratio']:.2f}**"
        ref = f"{r['reference']}: {fmt(r['reference_value'])}" if r["reference"] else "-"
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(f"| {r['what']} | {fmt(r['minirnn'])} | {ref} | {ratio}{note} | {r['machine']}, {r['date']} | "
                     f"`{r['command']}` |")
    return "\n".join(lines)


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--only", default=",".join(SUITE), help=f"comma list of {', '.join(SUITE)}")
    p.add_argument("--list", action="store_true", help="name the benchmarks of the suite and their default arguments")
    p.add_argument("--smoke", action="store_true", help="every benchmark at its smallest size (a check that they run)")
    common.add_output_args(p)
    args = p.parse_args(argv)
    names = args.only.split(",")
    if not names or not set(names) <= set(SUITE):
        raise UsageError(f"--only takes a comma list of {', '.join(SUITE)}, got {args.only!r}")
    if args.list:
        for name, (script, _, argv_, _) in SUITE.items():
            print(f"{name:10s} python benchmarks/{script} {' '.join(argv_)}")
        return 0
    path = common.result_path(args, "suite.json")
    mach = common.machine()
    folder = tempfile.mkdtemp(prefix="minirnn-suite-") if args.update_results else os.path.dirname(path)
    rows, runs, failed, t_start = [], {}, [], time.perf_counter()
    for name in names:
        script, json_name, argv_, smoke = SUITE[name]
        argv_ = (smoke or smoke_args(script)) if args.smoke else argv_
        cmd = [sys.executable, os.path.join(HERE, script), *argv_, "--out-dir", folder]
        print(f"\n=== {name}: {' '.join(['python', 'benchmarks/' + script, *argv_])}", flush=True)
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        status = subprocess.run(cmd).returncode
        runs[name] = {"command": cmd[1:], "exit_status": status, "seconds": time.perf_counter() - t0,
                      "cpu_seconds": cpu_seconds() - cpu0}
        if status != 0:
            failed.append(name)
            continue
        with open(os.path.join(folder, json_name), encoding="utf-8") as f:
            runs[name]["result"] = payload = json.load(f)
        m = payload["machine"]
        where = {"machine": m["cpu"] + (f" + {m['gpu']}" if m.get("gpu") else "") + f", load {m['load_average_at_start'][0]:.1f}",
                 "date": m["date"][:10],
                 "command": " ".join(["python", "benchmarks/" + script, *argv_])}
        rows += [dict(r, **where) for r in payload.get("summary") or scale_rows(payload)]
    seconds = time.perf_counter() - t_start
    if args.update_results:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n# {common.machine_line(mach)} at the start, {os.getloadavg()[0]:.1f} at the end; "
          f"the suite took {seconds / 60:.1f} min ({sum(r['cpu_seconds'] for r in runs.values()) / 60:.1f} min of CPU time)"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    print(table(rows))
    common.write_json(path, {"benchmark": "run", "command": common.command_line(), "machine": mach,
                             "load_average_at_end": os.getloadavg(),
                             "smoke": args.smoke, "seconds": seconds, "runs": runs, "rows": rows})
    print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
