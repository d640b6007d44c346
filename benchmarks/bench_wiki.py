#!/usr/bin/env python
"""get_corpus against wikiextractor: words per second side by side, and the quality of the text.

    flock /work/wt/bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_wiki.py --update-results

Inputs: gensim's enwiki test dump (206 pages, 6 MB of XML; a synthetic dump made of the bundled novel
without gensim) repeated --repeat times as one bz2 stream, and as an official multistream dump (bz2
streams of 100 pages and their index). Speed: each run a fresh process timed from outside,
`scripts/get_corpus.py --workers W` against `python -m wikiextractor.WikiExtractor --processes W`, the
sides alternating (the first changing each round), medians of --rounds compared as words per second (a
word: a lower-cased run of 2-15 letters of the output, wikiextractor's entities unescaped) and per CPU
second (user + system, all processes: on a shared machine the wall clock also depends on how many busy
processes each side has). Quality, on the dump once: recall (the share of wikiextractor's words, as a
multiset, found in ours), precision (the share of ours in wikiextractor's), markup residue per million
words (minirnn.wiki.markup.RESIDUE); gensim's bgwiki dump (UTF-16 with a BOM): its Cyrillic share.
JSON: wiki.json in --out-dir (benchmarks/results/ with --update-results).
"""
from __future__ import annotations

import bz2
import collections
import glob
import html
import importlib.util
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from minirnn.errors import require, run_cli  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402
from minirnn.wiki.markup import residue  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_ARGS = ["--synthetic", "30", "--repeat", "2", "--rounds", "1"]
WORD = re.compile(r"(?<![^\W\d_])[^\W\d_]{2,15}(?![^\W\d_])")
EN = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
BG = "bgwiki-latest-pages-articles-shortened.xml.bz2"


def parse_args(argv):
    p = common.parser(__doc__)
    p.add_argument("--repeat", type=common.count, default=10, help="copies of the dump's pages in the timed inputs")
    p.add_argument("--rounds", type=common.count, default=5, help="runs per side and input, alternated; medians reported")
    p.add_argument("--workers", type=common.count, default=2, help="get_corpus --workers, wikiextractor --processes")
    p.add_argument("--synthetic", type=common.natural, default=0, metavar="N", help="time N pages of the bundled novel instead")
    common.add_output_args(p)
    return p.parse_args(argv)


def summary(result, sides) -> list:
    """The suite's rows: words per second against wikiextractor's, and the text's agreement."""
    rows = []
    for name, r in result["speed"].items():
        ref = r.get("wikiextractor")
        rows.append(common.row(f"Wikipedia dump to text, {name} ({result['xml_bytes_timed'] / 1e6:.0f} MB of XML), words/s",
                               f"{r['get_corpus']['words_per_s'] / 1e3:.0f}k", ref and "wikiextractor",
                               ref and f"{ref['words_per_s'] / 1e3:.0f}k", ref and 1 / r["ratio_words_per_s"],
                               ref and f"ratio of seconds; per CPU second {1 / r['ratio_words_per_cpu_s']:.2f}"))
    q = result["quality"]
    if q:
        rows.append(common.row("the same, the text: recall / precision of wikiextractor's words", f"{q['recall']:.4f} / "
                               f"{q['precision']:.4f}", note=f"markup residue per million words {q['residue_per_million_ours']:.1f}"
                               f" (wikiextractor's {q['residue_per_million_wikiextractor']:.1f})"))
    return rows


def words(text: str) -> collections.Counter:
    return collections.Counter(WORD.findall(text.lower()))


def wikiextractor_text(folder: str) -> str:
    """wikiextractor's output files, <doc> lines dropped, entities unescaped."""
    parts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(os.path.join(folder, "*", "wiki_*")))]
    return html.unescape(re.sub(r"<doc [^>]*>\n|</doc>\n", "", "".join(parts)))


def output(side: str, path: str) -> str:
    return open(path, encoding="utf-8").read() if side == "get_corpus" else wikiextractor_text(path)


def quality(ours: str, theirs: str) -> dict:
    a, b = words(ours), words(theirs)
    common_words = sum((a & b).values())
    per_m = lambda t: 1e6 * sum(residue(t).values()) / max(len(t.split()), 1)      # noqa: E731
    return {"words_ours": sum(a.values()), "words_wikiextractor": sum(b.values()),
            "recall": common_words / max(sum(b.values()), 1), "precision": common_words / max(sum(a.values()), 1),
            "residue_per_million_ours": per_m(ours), "residue_per_million_wikiextractor": per_m(theirs),
            "residue_ours": residue(ours)}


def synthetic_dump(n: int) -> bytes:
    """n pages of the bundled novel's paragraphs with links, refs, templates and a table."""
    paras = [p for p in open(default_corpus(), encoding="utf-8").read().split("\n\n") if len(p) > 200]
    pages = []
    for i in range(n):
        text = "{{Ficha|x=1}}\n" + paras[i % len(paras)].replace(" de ", " de [[la|la]] ", 1) + \
            "<ref>{{cita|a}}</ref>\n{|\n| a\n|}\n== Historia ==\n" + paras[(i + 1) % len(paras)]
        pages.append(f"  <page>\n    <title>P{i}</title>\n    <ns>0</ns>\n    <id>{i + 1}</id>\n    <revision>\n"
                     f"      <text xml:space=\"preserve\">{html.escape(text, quote=False)}</text>\n    </revision>\n  </page>\n")
    head = '<mediawiki xml:lang="es">\n  <siteinfo>\n    <namespaces>\n      <namespace key="6">Archivo</namespace>\n' \
           '      <namespace key="10">Plantilla</namespace>\n    </namespaces>\n  </siteinfo>\n'   # wikiextractor needs 10
    return (head + "".join(pages) + "</mediawiki>\n").encode()


def build_inputs(xml: bytes, repeat: int, folder: str) -> dict:
    """The pages `repeat` times as one bz2 stream, and as a multistream dump with its index."""
    first, last = xml.index(b"<page>"), xml.rindex(b"</page>") + len(b"</page>\n")
    head, foot = xml[:first], xml[last:]
    pages = [p + b"</page>\n" for p in xml[first:last].split(b"</page>\n")[:-1]] * repeat
    paths = {"one bz2 stream": os.path.join(folder, "repeated.xml.bz2"),
             "multistream": os.path.join(folder, "repeated-multistream.xml.bz2")}
    streams, index = [bz2.compress(head, 9)], []
    for s in range(0, len(pages), 100):
        index += [f"{sum(map(len, streams))}:{s + k + 1}:P{s + k}\n" for k in range(len(pages[s:s + 100]))]
        streams.append(bz2.compress(b"".join(pages[s:s + 100]), 9))
    for path, data in ((paths["one bz2 stream"], bz2.compress(head + b"".join(pages) + foot, 9)),
                       (paths["multistream"], b"".join(streams) + bz2.compress(foot, 9)),
                       (os.path.join(folder, "repeated-multistream-index.txt.bz2"), bz2.compress("".join(index).encode()))):
        pathlib.Path(path).write_bytes(data)
    return paths


SIDES = {"get_corpus": lambda dump, out, w: [sys.executable, os.path.join(ROOT, "scripts", "get_corpus.py"), "--dump",
                                            dump, "--out", out, "--workers", str(w), "--overwrite"],
         "wikiextractor": lambda dump, out, w: [sys.executable, "-m", "wikiextractor.WikiExtractor", dump,
                                               "--processes", str(w), "-o", out, "-q"]}


# a small process starts each run and reports its seconds, peak memory and CPU: a child of this process
# would count this process's memory (the dumps it holds) as its own until exec
TIMER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); t = time.perf_counter() - t; "
         "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(t, u.ru_maxrss, r.returncode, u.ru_utime + u.ru_stime)")


def run(cmd: list, check=True) -> tuple:
    """(seconds, peak resident MB of its largest process, exit status, CPU seconds) of a process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", TIMER, *cmd], capture_output=True, text=True, env=env)
    seconds, kb, status, cpu = r.stdout.split()
    require(int(status) == 0 or not check, f"{' '.join(cmd[:4])} ... failed (exit {status}): {r.stderr.strip()[-400:]}")
    return float(seconds), int(kb) / 1024, int(status), float(cpu)


def main(argv=None):
    args = parse_args(argv)
    path = common.result_path(args, "wiki.json")
    sides = ["get_corpus"] + ["wikiextractor"] * (common.reference("wikiextractor") is not None)
    spec = importlib.util.find_spec("gensim")
    data = os.path.join(os.path.dirname(spec.origin), "test", "test_data") if spec else ""
    if not args.synthetic and not os.path.exists(os.path.join(data, EN)):
        print("note: gensim's test dumps are not here (pip install gensim); timing a synthetic dump", file=sys.stderr)
        args.synthetic = 200
    tmp = tempfile.mkdtemp(prefix="bench-wiki-")
    try:
        one = os.path.join(data, EN)
        if args.synthetic:
            one = os.path.join(tmp, "once.xml.bz2")
            pathlib.Path(one).write_bytes(bz2.compress(synthetic_dump(args.synthetic)))
        xml = bz2.BZ2File(one).read()
        result = {"machine": common.machine(), "command": common.command_line(), "workers": args.workers,
                  "dump": os.path.basename(one), "xml_bytes_timed": len(xml) * args.repeat, "rounds": args.rounds,
                  "speed": {}, "quality": None, "bgwiki": None}
        for name, dump in build_inputs(xml, args.repeat, tmp).items():
            runs = {side: [] for side in sides}
            for r in range(args.rounds):                          # alternate, the first side changing
                for side in (sides if r % 2 == 0 else sides[::-1]):
                    runs[side].append(run(SIDES[side](dump, os.path.join(tmp, side), args.workers)))
            row = result["speed"][name] = {}
            for side, rs in runs.items():
                t, n = [x[0] for x in rs], sum(words(output(side, os.path.join(tmp, side))).values())
                cpu = statistics.median(x[3] for x in rs)
                row[side] = {"seconds": t, "median_s": statistics.median(t), "words": n, "words_per_s":
                             n / statistics.median(t), "median_cpu_s": cpu, "peak_rss_mb": max(x[1] for x in rs)}
            if len(sides) == 2:
                mine, ref = row["get_corpus"], row["wikiextractor"]
                row["ratio_words_per_s"] = mine["words_per_s"] / ref["words_per_s"]
                row["ratio_words_per_cpu_s"] = mine["words"] / mine["median_cpu_s"] / (ref["words"] / ref["median_cpu_s"])
            print(f"{name} ({len(xml) * args.repeat / 1e6:.0f} MB of XML): " + ", ".join(
                f"{s} {row[s]['median_s']:.2f} s ({row[s]['median_cpu_s']:.1f} s of CPU), "
                f"{row[s]['words_per_s'] / 1e3:.0f}k words/s" for s in sides) + (
                f"; get_corpus / wikiextractor = {row['ratio_words_per_s']:.2f}x per second, "
                f"{row['ratio_words_per_cpu_s']:.2f}x per CPU second" if len(sides) == 2 else ""))
        texts = {}
        for side in sides:
            run(SIDES[side](one, os.path.join(tmp, "q-" + side), args.workers))
            texts[side] = output(side, os.path.join(tmp, "q-" + side))
        if len(sides) == 2:
            q = result["quality"] = quality(texts["get_corpus"], texts["wikiextractor"])
            print(f"quality on {os.path.basename(one)}: recall {q['recall']:.4f}, precision {q['precision']:.4f}, "
                  f"residue per million words {q['residue_per_million_ours']:.1f} "
                  f"(wikiextractor {q['residue_per_million_wikiextractor']:.1f})")
        if os.path.exists(os.path.join(data, BG)):
            status = [run(SIDES[s](os.path.join(data, BG), os.path.join(tmp, "bg-" + s), 1), check=s == "get_corpus")[2]
                      for s in sides]
            letters = re.findall(r"[^\W\d_]", output("get_corpus", os.path.join(tmp, "bg-get_corpus")))
            cyr = sum("\u0400" <= c <= "\u04ff" for c in letters) / max(len(letters), 1)
            result["bgwiki"] = {"letters": len(letters), "cyrillic_share": cyr, "exit_status": dict(zip(sides, status))}
            print(f"bgwiki (UTF-16 with a BOM): {len(letters)} letters, {100 * cyr:.1f} percent Cyrillic; exit status "
                  + ", ".join(f"{s} {c}" for s, c in zip(sides, status)))
        common.show(result.setdefault("summary", summary(result, sides)))
        print(f"wrote {common.write_json(path, result)}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_cli(main))
