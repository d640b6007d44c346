"""The numbers behind scripts/inspect_char.py and eval_char.py (minirnn/introspect.py), and the page.

Gate saturation on planted weights, the gradient-flow norms against central differences, a planted
line-position cell found by the cell search, bits = nats / ln 2 and eval over a text with unknown
characters, and the HTML page (parsed, no external reference). The drawing needs matplotlib and
skips without it; the missing-matplotlib path is checked by hiding it in a subprocess.
"""
import base64
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

from minirnn import introspect as ins
from minirnn.layers import lstm
from minirnn.layers.softmax_ce import per_token
from minirnn.model import RNNLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import eval_char  # noqa: E402
import train_char  # noqa: E402

TINY = ('-Vamos -dijo don Quijote-, que "la ventura" va guiando\nnuestras cosas (mejor de lo que '
        'acertáramos) a desear.\n\n') * 12


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny float64 LSTM and RNN trained for a few iterations: {'lstm': path, 'rnn': path, 'text': path}."""
    d = tmp_path_factory.mktemp("inspect")
    text = d / "tiny.txt"
    text.write_text(TINY, encoding="utf-8")
    out = {"text": str(text)}
    for cell in ("lstm", "rnn"):
        ck = d / cell
        rc = train_char.main(["--text", str(text), "--model", cell, "--hidden", "8", "--layers", "2",
                              "--batch", "2", "--seq", "16", "--iters", "4", "--eval-every", "2",
                              "--print-every", "2", "--sample-every", "0", "--dtype", "float64",
                              "--checkpoint-dir", str(ck)])
        assert rc == 0
        out[cell] = str(ck / "latest.npz")
    return out


# ---- gate saturation --------------------------------------------------------------------------------

def test_gate_saturation_planted():
    """Gates fixed by planted biases, and one gate driven by the input alone (Wh = 0): the
    fractions are the known share of steps, exactly."""
    H = 4
    m = RNNLM(3, hidden=H, layers=1, cell="lstm", dtype=np.float64)
    I, F, G, O = lstm.gate_slices(H)
    Wx, Wh, b = (np.zeros_like(m.params[f"rnn.0.{k}"]) for k in ("Wx", "Wh", "b"))
    b[I.start + 0], b[F.start + 0] = 20.0, -20.0        # unit 0: i always open, f always shut, o = 0.5
    Wx[0, I.start + 1], Wx[1, I.start + 1] = 20.0, -20.0  # unit 1: i open on id 0, shut on id 1
    b[F.start + 2] = 3.0                                  # unit 2: f = σ(3) = 0.95 always
    for k, v in zip(("Wx", "Wh", "b"), (Wx, Wh, b)):
        m.params[f"rnn.0.{k}"][...] = v
    ids = np.array([[0, 0, 1, 2, 0, 1, 2, 2, 2, 0]])    # 4 x id 0, 2 x id 1, 4 x id 2
    _, layers, _ = ins.run_layers(m, ids)
    sat = ins.gate_saturation(layers[0]["gates"])
    np.testing.assert_array_equal(sat["i"][1], [1, 0.4, 0, 0])      # right: unit 0 always, unit 1 on id 0
    np.testing.assert_array_equal(sat["i"][0], [0, 0.2, 0, 0])      # left: unit 1 on id 1
    np.testing.assert_array_equal(sat["f"][0], [1, 0, 0, 0])
    np.testing.assert_array_equal(sat["f"][1], [0, 0, 1, 0])
    np.testing.assert_array_equal(sat["o"][0] + sat["o"][1], [0, 0, 0, 0])  # σ(0) = 0.5: neither


# ---- gradient flow ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_gradient_flow_matches_finite_differences(cell):
    """G^l(k) = mean_t ||dL_t/dh^l_{t-k}|| (and the c part for the LSTM), state at t-k otherwise
    held fixed, against central differences of L_t in float64, for both layers."""
    V, H, L = 5, 3, 2
    m = RNNLM(V, hidden=H, layers=L, cell=cell, dtype=np.float64, seed=3)
    rng = np.random.default_rng(0)
    for k, v in m.params.items():
        if k != "embed.W":
            v[...] = rng.normal(0, 0.8, v.shape)
    ids = rng.integers(0, V, 16)
    ks = [1, 2, 5]
    flow = ins.gradient_flow(m, ids, ks, n_positions=3, warmup=2)
    assert len(flow["positions"]) == 3 and flow["positions"].min() - max(ks) >= 2
    _, layers, _ = ins.run_layers(m, ids[None])
    keys = ("h", "c") if cell == "lstm" else ("h",)
    eps = 1e-6
    for j, k in enumerate(ks):
        for l in range(L):
            for q, key in enumerate(keys):
                norms = []
                for t in flow["positions"]:
                    s = t - k
                    base = [tuple(d[kk][:, s].copy() for kk in keys) for d in layers]  # (1, H) each
                    grad = np.zeros(H)
                    for u in range(H):
                        vals = []
                        for sign in (1, -1):
                            st = [tuple(a.copy() for a in lay) for lay in base]
                            st[l][q][0, u] += sign * eps
                            vals.append(ins.loss_at(m, ids[None, s + 1:t + 1], ids[[t + 1]], st)[0])
                        grad[u] = (vals[0] - vals[1]) / (2 * eps)
                    norms.append(np.linalg.norm(grad))
                got = flow[key][l, j]
                assert got == pytest.approx(np.mean(norms), rel=1e-6, abs=1e-12), (cell, key, l, k)
    if cell == "rnn":
        assert flow["c"] is None


def test_gradient_flow_text_too_short():
    m = RNNLM(4, hidden=3, layers=1, cell="rnn", dtype=np.float64)
    with pytest.raises(ins.UsageError, match="at least 12 characters"):
        ins.gradient_flow(m, np.zeros(8, dtype=np.int64), [10])


# ---- features and the cell search --------------------------------------------------------------

def test_text_features_definitions():
    text = 'ab "c" (d)\n-Hi -dijo él- ok.\n\nx'
    f = ins.text_features(text)
    at = {name: dict(zip(range(len(text)), v)) for name, v in f.items()}
    q = text.index('"')
    assert [at["inside quotes"][t] for t in range(q - 1, q + 4)] == [0, 1, 1, 0, 0]
    assert at["inside parentheses"][text.index("d")] == 1 and at["inside parentheses"][text.index(")")] == 0
    assert at["position in line"][text.index("\n")] == 0 and at["position in line"][text.index("H")] == 2
    assert at["position in word"][text.index("dijo") + 3] == 4
    speech = [bool(at["inside dialogue"][t]) for t in range(len(text))]
    assert speech[text.index("H")] and not speech[text.index("dijo")] and speech[text.index("ok")]
    assert not speech[-1]                                   # a blank line ended the paragraph
    assert at["read a space"][2] == 1 and at["read a vowel"][0] == 1 and at["read punctuation"][text.index(".")] == 1


def test_cell_search_finds_planted_line_counter():
    """An LSTM unit planted to count the characters since the last newline (i = f = o = 1,
    g = tanh(0.05) per character, f = g = 0 on a newline) is the cell the search returns for
    'position in line', among random units."""
    chars = ["\n", " ", "a", "b"]
    H, u = 4, 2
    m = RNNLM(len(chars), hidden=H, layers=1, cell="lstm", dtype=np.float64, seed=5)
    I, F, G, O = lstm.gate_slices(H)
    Wx, Wh, b = (m.params[f"rnn.0.{k}"] for k in ("Wx", "Wh", "b"))
    Wx[:, [I.start + u, F.start + u, G.start + u, O.start + u]] = 0
    Wh[:, [I.start + u, F.start + u, G.start + u, O.start + u]] = 0
    b[[I.start + u, F.start + u, O.start + u]] = 20.0
    b[G.start + u] = 0.05
    Wx[0, F.start + u], Wx[0, G.start + u] = -40.0, -0.05      # newline: forget, add nothing
    rng = np.random.default_rng(1)
    text = "\n".join("".join(rng.choice(chars[1:], rng.integers(1, 12))) for _ in range(60))
    ids = np.array([chars.index(ch) for ch in text])
    _, layers, _ = ins.run_layers(m, ids[None])
    acts = ins.activations(m, layers)                           # (T, H) tanh(c)
    corrs = ins.feature_correlations(acts, ins.text_features(text))
    best = ins.best_cells(corrs, top=2)
    (j, r), (_, r2) = best["position in line"]
    assert j == u and r > 0.99 and abs(r2) < r
    assert "inside quotes" not in best                          # a feature that never varies


def test_feature_correlations_pearson():
    rng = np.random.default_rng(2)
    acts = rng.normal(size=(50, 3))
    acts[:, 2] = 0.0                                            # a dead cell: r = 0, no NaN
    v = rng.normal(size=50)
    r = ins.feature_correlations(acts, {"v": v})["v"]
    np.testing.assert_allclose(r[:2], [np.corrcoef(acts[:, 0], v)[0, 1], np.corrcoef(acts[:, 1], v)[0, 1]])
    assert r[2] == 0


# ---- bits per character -------------------------------------------------------------------------

def test_eval_char_counts_unknown_and_matches_one_pass(checkpoints, tmp_path, capsys):
    """eval_char over a text with characters the model never saw: they are skipped and reported;
    nats/char equals one forward pass over the known characters, whatever the window; bits/char =
    nats/char / ln 2 and perplexity = e^nats."""
    from minirnn.trainer import load_model
    text = "la ventura ☃ va guiando 😀😀 nuestras cosas\n-dijo\n" * 3
    p = tmp_path / "held.txt"
    p.write_text(text, encoding="utf-8")
    model, _, meta = load_model(checkpoints["lstm"], "char")
    index = {ch: i for i, ch in enumerate(meta["vocab"])}
    known = np.array([index[ch] for ch in text if ch in index])
    logits, _, _ = ins.run_layers(model, known[None, :-1])
    nats, _ = model.token_nll(known[None, :-1], known[None, 1:])             # what eval_char runs
    assert nats == pytest.approx(per_token(logits, known[None, 1:]), rel=1e-5)  # the book's numbers
    want = float(nats.mean())
    for window in (1, 5, 1000):
        assert ins.evaluate_ids(model, ins.stream_ids(str(p), index, chunk_chars=7), window)["nats_per_char"] == \
            pytest.approx(want, rel=1e-12)
    assert eval_char.main(["--checkpoint", checkpoints["lstm"], "--text", str(p), "--window", "4"]) == 0
    out, err = capsys.readouterr()
    got = dict(re.findall(r"^(nats/char|bits/char|perplexity)\s+(\S+)", out, re.M))
    assert float(got["nats/char"]) == pytest.approx(want, abs=1e-4)
    assert float(got["bits/char"]) == pytest.approx(float(got["nats/char"]) / math.log(2), abs=1e-4)
    assert float(got["perplexity"]) == pytest.approx(math.exp(want), rel=1e-4)
    assert f"{len(known) - 1:,} characters scored" in out
    assert "9 character(s) not in the model's vocabulary were skipped" in err and "'😀' x6" in err


def test_bits_and_unknown_report():
    assert ins.bits(math.log(2)) == pytest.approx(1.0)
    assert ins.bits(1.5) == pytest.approx(1.5 / math.log(2))
    assert ins.unknown_report(Counter("xxy")) .startswith("3 character(s)")


def test_eval_char_nothing_to_score(checkpoints, tmp_path, capsys):
    p = tmp_path / "unknown.txt"
    p.write_text("☃☃☃", encoding="utf-8")
    from minirnn.errors import run_cli
    assert run_cli(eval_char.main, ["--checkpoint", checkpoints["lstm"], "--text", str(p)]) == 2
    assert "nothing to score" in capsys.readouterr().err


def test_eval_char_without_text_scores_the_held_out_split(checkpoints, tmp_path, capsys):
    """No --text: the last val_frac (0.1) of the training text, the same numbers as that part saved
    to a file and given with --text; a checkpoint whose text is gone is one line, exit 2."""
    from minirnn.errors import run_cli
    text = TINY
    p = tmp_path / "held.txt"
    p.write_text(text[len(text) - int(len(text) * 0.1):], encoding="utf-8")
    assert eval_char.main(["--checkpoint", checkpoints["lstm"]]) == 0
    held = capsys.readouterr().out
    assert "(held out, its last " in held
    assert eval_char.main(["--checkpoint", checkpoints["lstm"], "--text", str(p)]) == 0
    given = capsys.readouterr().out
    pick = lambda out: re.findall(r"^(?:nats/char|perplexity)\s+\S+|[\d,]+ characters scored", out, re.M)  # noqa: E731
    assert pick(held) == pick(given) and len(pick(held)) == 3
    from minirnn import checkpoint
    arrays, meta = checkpoint.load(checkpoints["lstm"])
    meta["text"] = str(tmp_path / "gone.txt")
    checkpoint.save(str(tmp_path / "moved.npz"), arrays, meta)
    assert run_cli(eval_char.main, ["--checkpoint", str(tmp_path / "moved.npz")]) == 2
    assert "give one with --text" in capsys.readouterr().err
    # a text changed since training: its held-out split is not the model's, so it is refused
    changed = tmp_path / "changed.txt"
    changed.write_text(TINY + "y mas", encoding="utf-8")
    meta["text"] = str(changed)
    checkpoint.save(str(tmp_path / "changed.npz"), arrays, meta)
    assert run_cli(eval_char.main, ["--checkpoint", str(tmp_path / "changed.npz")]) == 2
    assert "not the text this checkpoint was trained on" in capsys.readouterr().err


def test_eval_char_held_out_split_reads_newlines_as_training_does(tmp_path, capsys):
    """A text with lone carriage returns: training reads them as newlines (universal newlines), and
    so does the held-out split, which then equals the last val_frac of what training read."""
    text = tmp_path / "cr.txt"
    text.write_bytes(TINY.replace(". ", ".\r").encode("utf-8"))
    ck = tmp_path / "ck"
    assert train_char.main(["--text", str(text), "--hidden", "8", "--layers", "1", "--batch", "2",
                            "--seq", "16", "--iters", "2", "--eval-every", "2", "--print-every", "2",
                            "--sample-every", "0", "--dtype", "float64", "--checkpoint-dir", str(ck)]) == 0
    capsys.readouterr()
    read = TINY.replace(". ", ".\n")
    held = tmp_path / "held.txt"
    held.write_text(read[len(read) - int(len(read) * 0.1):], encoding="utf-8")
    pick = lambda out: re.findall(r"^(?:nats/char|perplexity)\s+\S+|[\d,]+ characters scored", out, re.M)  # noqa: E731
    assert eval_char.main(["--checkpoint", str(ck / "latest.npz")]) == 0
    a = pick(capsys.readouterr().out)
    assert eval_char.main(["--checkpoint", str(ck / "latest.npz"), "--text", str(held)]) == 0
    assert a == pick(capsys.readouterr().out) and len(a) == 3


# ---- the page and the plots -------------------------------------------------------------------------

class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.h2 = Counter(), [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self._in_h2 = tag == "h2"
        for k, v in attrs:
            if k in ("src", "href", "action", "srcset", "poster", "data"):
                self.refs.append(v or "")

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


_PNG_1x1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


@pytest.fixture(params=["matplotlib", "stub plots"])
def plotting(request, monkeypatch):
    """The page is built with matplotlib where it is installed, and always once with the plots
    replaced by a 1x1 PNG, so that the HTML is checked where matplotlib is missing (CI) too."""
    if request.param == "matplotlib":
        pytest.importorskip("matplotlib")
    else:
        from minirnn import plots
        monkeypatch.setattr(plots, "require_matplotlib", lambda: None)
        for name in ("loss_curves", "saturation_scatter", "gradient_flow"):
            monkeypatch.setattr(plots, name, lambda *a, **k: _PNG_1x1)
    return request.param


def test_inspect_page_is_self_contained(checkpoints, tmp_path, plotting):
    import inspect_char
    out = tmp_path / "report.html"
    rc = inspect_char.main(["--checkpoint", checkpoints["lstm"], "--compare", checkpoints["rnn"],
                            "--text", checkpoints["text"], "--chars", "300", "--show", "120", "--max-k", "6",
                            "--positions", "4", "--sample-length", "30", "--out", str(out),
                            "--png-dir", str(tmp_path / "png")])
    assert rc == 0
    assert sorted(os.listdir(tmp_path / "png")) == ["gate_saturation.png", "gradient_flow.png", "loss_curves.png"]
    page = out.read_text(encoding="utf-8")
    p = _Collect()
    p.feed(page)
    p.close()
    assert p.tags["img"] == 3                                   # loss curves, saturation, gradient flow
    assert all(r.startswith("data:image/png;base64,") or r.startswith("#") for r in p.refs), p.refs
    assert p.tags["link"] == 0 and p.tags["iframe"] == 0
    assert len(p.h2) == 6
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", without_data, re.I)
    assert "url(" not in without_data and "@import" not in without_data
    data = json.loads(re.search(r"id='picker-data'>(.*?)</script>", page, re.S).group(1))
    assert len(base64.b64decode(data["acts"])) == 120 * data["L"] * data["H"]
    assert len(data["r"]) == len(data["features"]) and len(data["r"][0]) == data["L"] * data["H"]


def test_plot_metrics_writes_png(checkpoints, tmp_path):
    pytest.importorskip("matplotlib")
    import plot_metrics
    out = tmp_path / "curves.png"
    dirs = [os.path.dirname(checkpoints[c]) for c in ("lstm", "rnn")]
    assert plot_metrics.main(dirs + ["--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pictures_replace_an_earlier_picture_only_with_overwrite(checkpoints, tmp_path, plotting, capsys):
    # README: "nothing is overwritten unasked". A second run onto the same page or pictures is refused
    # before any work, in one line naming --overwrite, and leaves them as they were; --overwrite replaces them
    import inspect_char
    import plot_metrics
    from minirnn.errors import run_cli
    page = ["--checkpoint", checkpoints["lstm"], "--text", checkpoints["text"], "--chars", "200", "--show", "50",
            "--max-k", "3", "--positions", "2", "--sample-length", "10", "--out"]
    cases = [(inspect_char.main, page + ["report.html"]), (inspect_char.main, page + ["r.html", "--png-dir", "png"])]
    if plotting == "matplotlib":
        cases.append((plot_metrics.main, [os.path.dirname(checkpoints[c]) for c in ("lstm", "rnn")] + ["--out", "c.png"]))
    for k, (main, argv) in enumerate(cases):
        here = tmp_path / str(k)
        here.mkdir()
        argv = [str(here / a) if a in ("report.html", "r.html", "png", "c.png") else a for a in argv]
        assert run_cli(main, argv) == 0
        written = {p: p.read_bytes() for p in here.rglob("*") if p.is_file()}
        assert len(written) == (4 if "--png-dir" in argv else 1)
        for p in written:
            p.write_bytes(written[p][:-1])                       # an earlier picture, told apart from a new one
        capsys.readouterr()
        assert run_cli(main, argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and "--overwrite" in err[0], err
        assert all(p.read_bytes() == written[p][:-1] for p in written)            # untouched
        assert run_cli(main, argv + ["--overwrite"]) == 0
        assert all(p.read_bytes()[-1:] == written[p][-1:] for p in written)      # replaced


@pytest.mark.parametrize("script", ["inspect_char.py", "plot_metrics.py"])
def test_without_matplotlib_one_line_and_exit_2(script, tmp_path):
    code = ("import sys, runpy; sys.modules['matplotlib'] = None; "
            f"sys.argv = ['{script}', '{tmp_path}', '--out', '{tmp_path / 'x'}'] if '{script}' == 'plot_metrics.py' "
            f"else ['{script}', '--checkpoint', 'missing.npz', '--out', '{tmp_path / 'x'}']; "
            f"runpy.run_path({os.path.join(ROOT, 'scripts', script)!r}, run_name='__main__')")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: matplotlib is needed") and '".[plot]"' in lines[0]
