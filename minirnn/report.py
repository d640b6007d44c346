"""The page of scripts/inspect_char.py: one self-contained HTML file about a trained char model.

``build(...)`` runs the analyses of minirnn/introspect.py over a text and lays their results out as
six sections: the run's loss curves, the cells that track features of the text, a picker for any
cell, gate saturation (LSTM), gradient flow through time, and a sample and the text shaded by
probability. It returns the page as a string and its pictures as PNG bytes ({file name: bytes});
the script decides where they go. The page works offline: the plots are inline PNGs, the picker a
few lines of inline JavaScript. The pictures come from minirnn/plots.py (matplotlib).
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import sys

import numpy as np

from . import introspect as ins
from . import plots
from .errors import UsageError

PNG_NAMES = ("loss_curves.png", "gate_saturation.png", "gradient_flow.png")
CHUNK = 1000        # characters per forward pass: what a pass holds (gates, c, h) is O(CHUNK L H), not O(T L H)
TRACKED = 0.3       # |r| from which a feature gets its own coloured text


# ---- the numbers ------------------------------------------------------------------------------------

def first_pass(model, ids):
    """One pass over ids (T,) from a zero state, CHUNK characters at a time with the state carried
    (the same numbers as one pass over all of them): p(ids[t+1] | ids[..t]) (T-1,), the activations
    (T, L*H), and for an LSTM each layer's gate saturation (None for an RNN or a GRU)."""
    T = len(ids)
    probs, acts, sums, state = [], [], None, None
    for a in range(0, T, CHUNK):
        chunk, nxt = ids[a:a + CHUNK], ids[a + 1:a + CHUNK + 1]
        logits, layers, state = ins.run_layers(model, chunk[None, :], state)   # (1, n, V)
        probs.append(ins.char_probs(logits[:, :len(nxt)], nxt[None, :])[0])     # (n or n-1,)
        acts.append(ins.activations(model, layers))                            # (n, L*H)
        if model.config()["cell"] == "lstm":     # steps below 0.1 and above 0.9, counted over chunks
            sat = [ins.gate_saturation(d["gates"]) for d in layers]
            if sums is None:
                sums = [{g: [np.zeros_like(l), np.zeros_like(r)] for g, (l, r) in s.items()} for s in sat]
            for total, s in zip(sums, sat):
                for g, (l, r) in s.items():
                    total[g][0] += l * len(chunk)                     # (H,) steps below 0.1
                    total[g][1] += r * len(chunk)                     # (H,) steps above 0.9
    sats = None if sums is None else [{g: (l / T, r / T) for g, (l, r) in s.items()} for s in sums]
    return np.concatenate(probs), np.concatenate(acts, axis=0), sats


def encode_known(vocab, text):
    """(ids, kept text, number of unknown characters): characters the model never saw are dropped."""
    kept = "".join(ch for ch in text if ch in vocab.index)
    return np.array([vocab.index[ch] for ch in kept], dtype=np.int64), kept, len(text) - len(kept)


def model_label(model):
    cfg = model.config()
    return f"{cfg['cell'].upper()} {cfg['layers']}x{cfg['hidden']}"


def surprise_by_kind(text, probs):
    """Mean -log2 p by kind of character predicted: first letter of a word, other letters, the rest."""
    bits = -np.log2(probs)                                     # (T-1,) for text[1:]
    nxt, prev = text[1:], text[:-1]
    kinds = {"the first letter of a word": [c.isalpha() and not q.isalpha() for c, q in zip(nxt, prev)],
             "the other letters": [c.isalpha() and q.isalpha() for c, q in zip(nxt, prev)],
             "spaces, punctuation and newlines": [not c.isalpha() for c in nxt]}
    return ", ".join(f"{bits[np.array(m, dtype=bool)].mean():.2f} bits at {k}" for k, m in kinds.items() if any(m))


# ---- HTML pieces -----------------------------------------------------------------------------------

def esc_char(ch):
    if ch == "\n":
        return "↵\n"
    if ch == "\t":
        return "→"
    return html.escape(ch)


def act_colour(v):
    """tanh activation in [-1, 1]: red for negative, blue for positive, stronger for larger |v|."""
    a = min(abs(float(v)), 1.0)
    return f"rgba(33,102,172,{a:.2f})" if v > 0 else f"rgba(214,39,40,{a:.2f})"


def prob_colour(p):
    """A character's probability: white when the model expected it, orange by its surprise
    -log2 p (bits), full at 6 bits (p = 1/64) and beyond."""
    a = min(-math.log2(max(float(p), 1e-12)) / 6.0, 1.0)
    return f"rgba(230,85,13,{a:.2f})"


def coloured(text, values, colour, titles=None):
    parts = []
    for t, ch in enumerate(text):
        title = f' title="{titles[t]}"' if titles is not None else ""
        parts.append(f'<span style="background:{colour(values[t])}"{title}>{esc_char(ch)}</span>')
    return '<div class="txt">' + "".join(parts) + "</div>"


def img(png: bytes, alt: str, pictures: dict):
    """An inline <img>; the PNG is also kept in `pictures` under its file name (PNG_NAMES)."""
    pictures[alt.replace(" ", "_") + ".png"] = png
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.1em 0 .3em}
.txt{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px;white-space:pre-wrap;line-height:1.5;
border:1px solid #ddd;padding:6px;background:#fff;max-height:22em;overflow:auto}
.note{color:#555;font-size:.92em} table{border-collapse:collapse;font-size:.92em}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:right} th{background:#f4f4f4}
td.l,th.l{text-align:left} img{max-width:100%} .key span{padding:0 6px;font-family:monospace}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
"""

PICKER_JS = """
(function(){
const D = JSON.parse(document.getElementById('picker-data').textContent);
const raw = atob(D.acts);
const T = D.text.length, C = D.L * D.H;
const box = document.getElementById('picked'), spans = [];
for (let t = 0; t < T; t++) {
  const s = document.createElement('span');
  s.textContent = D.text[t] === '\\n' ? '\\u21b5\\n' : D.text[t];
  box.appendChild(s); spans.push(s);
}
const layer = document.getElementById('pick-layer'), cell = document.getElementById('pick-cell');
const info = document.getElementById('pick-info');
function draw() {
  let l = Math.max(0, Math.min(D.L - 1, parseInt(layer.value) || 0));
  let j = Math.max(0, Math.min(D.H - 1, parseInt(cell.value) || 0));
  const col = l * D.H + j;
  for (let t = 0; t < T; t++) {
    let v = raw.charCodeAt(t * C + col); if (v > 127) v -= 256; v /= 127;
    const a = Math.min(Math.abs(v), 1).toFixed(2);
    spans[t].style.background = v > 0 ? 'rgba(33,102,172,' + a + ')' : 'rgba(214,39,40,' + a + ')';
    spans[t].title = v.toFixed(2);
  }
  info.textContent = 'r with ' + D.features.map((f, q) => f + ' ' + (D.r[q][col] >= 0 ? '+' : '') +
                     D.r[q][col].toFixed(2)).join(', ');
}
layer.addEventListener('change', draw); cell.addEventListener('input', draw);
document.querySelectorAll('[data-cell]').forEach(a => a.addEventListener('click', e => {
  e.preventDefault(); const [l, j] = a.dataset.cell.split(','); layer.value = l; cell.value = j; draw();
  box.scrollIntoView({block: 'center'});
}));
const m = location.hash.match(/cell=(\\d+),(\\d+)/);   // report.html#cell=LAYER,CELL opens on that cell
if (m) { layer.value = m[1]; cell.value = m[2]; }
draw();
})();
"""


# ---- the sections ------------------------------------------------------------------------------------

def summary_section(checkpoint, model, meta, source, n_unknown, nats, T):
    cfg = model.config()
    one_hot = cfg["embed"] == cfg["vocab_size"] and "embed.W" in cfg["frozen"]
    val = meta.get("val_loss")
    rows = [("checkpoint", html.escape(checkpoint)),
            ("model", f"{model_label(model)}, {'one-hot' if one_hot else 'embedding ' + str(cfg['embed'])} "
                      f"input, vocabulary {cfg['vocab_size']}, {cfg['dtype']}"),
            ("trained", f"{meta.get('iteration', '?')} iterations; validation loss "
                        + (f"{val:.4f} nats/char" if val is not None else "not measured")),
            ("text analysed", html.escape(source) + (f"; {n_unknown} unknown character(s) left out" if n_unknown else "")),
            ("on this text", f"{nats:.4f} nats/char = {nats / math.log(2):.4f} bits/char, perplexity "
                             f"{math.exp(nats):.3f} ({T - 1:,} characters scored, from a zero state)")]
    return "<table>" + "".join(f'<tr><th class="l">{k}</th><td class="l">{v}</td></tr>' for k, v in rows) + "</table>"


def training_section(checkpoints, pictures):
    """The loss curves of each (checkpoint, model)'s run, from the metrics.jsonl beside it."""
    runs = []
    for ck, m in checkpoints:
        run_dir = os.path.dirname(os.path.abspath(ck))
        mpath = os.path.join(run_dir, "metrics.jsonl")
        if os.path.exists(mpath):
            recs = ins.check_run_metrics(mpath, ins.read_metrics(mpath)[0])
            if recs:
                runs.append((f"{os.path.basename(run_dir)} ({model_label(m)})", recs))
    body = ("<p class='note'>From <code>metrics.jsonl</code> next to the checkpoint: the smoothed training loss "
            "(dashed) and the validation loss over the whole held-out split (solid), at each evaluation.</p>")
    body += (img(plots.loss_curves(runs), "loss curves", pictures) if runs
             else "<p>No metrics.jsonl next to the checkpoint.</p>")
    return "<h2>1. Training</h2>" + body


def cells_section(cell, H, T, text, show, acts, feats, best, order):
    """The cells whose activation best tracks each feature, and a coloured text per tracked feature."""
    tracked = [f for f in order if abs(best[f][0][1]) >= TRACKED]
    # a coloured text for each feature some cell tracks (|r| >= 0.3), at most 2 of the "just read" ones
    shown = ([f for f in tracked if f in ins.MEMORY_FEATURES] + [f for f in tracked if f not in ins.MEMORY_FEATURES][:2])
    untracked = [f for f in order if f not in tracked]
    what = "tanh(c<sub>t</sub>)" if cell == "lstm" else "h<sub>t</sub>"
    rows = "".join(
        f'<tr><td class="l">{html.escape(f)}</td>' + "".join(
            f'<td><a href="#" data-cell="{j // H},{j % H}">layer {j // H} cell {j % H}</a>: r = {r:+.2f}</td>'
            for j, r in best[f]) + "</tr>" for f in order)
    body = (f"<p class='note'>Each cell's activation {what} over the {T:,} characters, correlated (Pearson r) "
            f"with simple features of the text; for each feature the cells with the largest |r| (click one to "
            f"see it in the picker below). The first features need memory (a cell must keep count or "
            f"remember an opening mark); the last ones describe the character just read. Colour: "
            f"<span style='background:rgba(33,102,172,.8)'>&nbsp;+1&nbsp;</span> blue, <span style='background:rgba(214,39,40,.8)'>&nbsp;&minus;1&nbsp;</span> red, white 0. "
            f"A feature's definition is in <code>minirnn/introspect.py: text_features</code>.</p>"
            f"<table><tr><th class='l'>feature</th><th>best</th><th>2nd</th><th>3rd</th></tr>{rows}</table>")
    if untracked:
        body += ("<p class='note'>No cell tracks " + ", ".join(
            f"<i>{html.escape(f)}</i> (best |r| = {abs(best[f][0][1]):.2f})" for f in untracked)
            + f" in this model: below |r| = {TRACKED} a coloured text shows little.</p>")
    absent = [f for f in feats if f not in best]
    if absent:
        body += ("<p class='note'>Not varying in this text, so not searched: "
                 + ", ".join(f"<i>{html.escape(f)}</i>" for f in absent) + ".</p>")
    for f in shown:
        j, r = best[f][0]
        body += (f"<h3>{html.escape(f)}: layer {j // H}, cell {j % H} (r = {r:+.2f})</h3>"
                 + coloured(text[:show], acts[:show, j], act_colour))
    return "<h2>2. Cells that track features of the text</h2>" + body


def picker_section(L, H, text, show, acts, feats, corrs, best, order):
    q = np.clip(np.round(acts[:show] * 127), -127, 127).astype(np.int8)  # (show, L*H)
    data = {"L": L, "H": H, "text": text[:show], "acts": base64.b64encode(q.tobytes()).decode(),
            "features": list(feats), "r": [[round(float(x), 2) for x in corrs[f]] for f in feats]}
    data_json = json.dumps(data).replace("</", "<\\/")     # safe inside <script>
    options = "".join(f'<option value="{l}">layer {l}</option>' for l in range(L))
    body = (f"<p>Layer <select id='pick-layer'>{options}</select> cell <input id='pick-cell' type='number' "
            f"min='0' max='{H - 1}' value='{best[order[0]][0][0] % H if order else 0}'> (0 to {H - 1}); "
            f"hover a character for the value; <code>report.html#cell=1,41</code> opens on a cell.</p><p class='note' id='pick-info'></p>"
            f"<div class='txt' id='picked'></div>"
            f"<script type='application/json' id='picker-data'>{data_json}</script>"
            f"<script>{PICKER_JS}</script>")
    if order:
        body = body.replace(f'<option value="{best[order[0]][0][0] // H}">',
                            f'<option value="{best[order[0]][0][0] // H}" selected>')
    return "<h2>3. Any cell</h2>" + body


def saturation_section(cell, T, sats, pictures):
    if cell == "gru":
        return "<h2>4. Gate saturation</h2><p>Gate saturation is drawn for LSTMs only; this model is a GRU.</p>"
    if cell != "lstm":
        return "<h2>4. Gate saturation</h2><p>An RNN has no gates.</p>"
    rows = ""
    for l, sat in enumerate(sats):
        for g in ins.GATES:
            left, right = sat[g]
            rows += (f"<tr><td>{l}</td><td class='l'>{ins.GATE_NAMES[g]}</td><td>{(right >= 0.9).sum()}</td>"
                     f"<td>{(left >= 0.9).sum()}</td><td>{(left + right >= 0.9).sum()}</td>"
                     f"<td>{(left + right < 0.1).sum()}</td><td>{left.mean():.2f}</td><td>{right.mean():.2f}</td></tr>")
    body = (f"<p class='note'>Every dot is one gate unit: the fraction of the {T:,} steps it spends below 0.1 "
            f"(x, left-saturated) and above 0.9 (y, right-saturated). Dots on the grey diagonal are always "
            f"saturated: a forget-gate unit at the top left remembers through every step (an integrator), one "
            f"at the bottom right resets every step; dots near the origin act as soft, context-dependent "
            f"switches.</p>" + img(plots.saturation_scatter(sats), "gate saturation", pictures)
            + "<p class='note'>Units counted by the share of steps they spend saturated, and the mean fractions "
              "over the layer's units:</p>"
            + "<table><tr><th>layer</th><th class='l'>gate</th><th>&gt; 0.9 on ≥ 90%</th>"
              "<th>&lt; 0.1 on ≥ 90%</th><th>saturated on ≥ 90%</th>"
              "<th>saturated on &lt; 10%</th><th>mean left</th><th>mean right</th></tr>" + rows + "</table>")
    return "<h2>4. Gate saturation</h2>" + body


def flow_section(curves, ks, max_k, n_positions, pictures):
    """curves: [(label, introspect.gradient_flow result)], one per model."""
    shown = (1, 5, 10, 20, 50, 100, max_k)
    head = "".join(f"<th>k = {k}</th>" for k in ks if k in shown)
    rows = ""
    for label, fl in curves:
        for l in range(fl["h"].shape[0]):
            for key in ("h", "c"):
                if fl[key] is None:
                    continue
                rows += (f"<tr><td class='l'>{label}</td><td>{l}</td><td>‖∂L<sub>t</sub>/∂{key}<sub>t−k</sub>‖</td>"
                         + "".join(f"<td>{v:.2e}</td>" for k, v in zip(fl["k"], fl[key][l]) if k in shown) + "</tr>")
    body = (f"<p class='note'>How much of the loss at step t, L<sub>t</sub> = −log p(x<sub>t+1</sub> | x<sub>≤t</sub>), "
            f"reaches a layer's state k steps earlier: the mean over {n_positions} steps t of "
            f"‖∂L<sub>t</sub>/∂h<sup>l</sup><sub>t−k</sub>‖, the derivative with respect to layer l's hidden state "
            f"at t−k with the rest of the state at t−k (its cell state c, the other layers) held fixed, computed by "
            f"running the layers' own backward from step t down to t−k (definition: "
            f"<code>minirnn/introspect.py: gradient_flow</code>). Log scale: a straight falling line is a gradient that "
            f"shrinks by the same factor at every step back; a gradient that underflowed the float type (0) is not "
            f"drawn.</p>" + img(plots.gradient_flow(curves), "gradient flow", pictures)
            + f"<table><tr><th class='l'>model</th><th>layer</th><th></th>{head}</tr>{rows}</table>")
    return "<h2>5. Gradient flow through time</h2>" + body


def expect_section(sample, s_p, text, probs, show, temperature, seed):
    key = ("<p class='key'>probability of the character under the model: p = " + "".join(
        f"<span style='background:{prob_colour(p)}'>{p:g}</span>" for p in (0.01, 0.1, 0.3, 0.5, 0.8, 1.0)) + "</p>")
    body = (f"<p class='note'>A sample at temperature {temperature} (seed {seed}); each character is shaded by "
            f"the probability the model (at temperature 1) gave it: white where it was sure, orange where it took "
            f"a chance.</p>" + key + coloured(sample, s_p, prob_colour, [f"{p:.3f}" for p in s_p])
            + f"<h3>The text, each character shaded by p(character | the text before it)</h3>"
              f"<p class='note'>Orange marks where the model was surprised. Mean surprise over the {len(text) - 1:,} "
              f"characters: {surprise_by_kind(text, probs)}.</p>"
            + coloured(text[1:show + 1], probs[:show], prob_colour, [f"{p:.3f}" for p in probs[:show]]))
    return "<h2>6. What the model expects</h2>" + body


# ---- the page ----------------------------------------------------------------------------------------

def build(model, vocab, meta, raw, source, checkpoint, other=None, show=600, max_k=100, positions=128,
          sample_length=400, temperature=0.8, seed=0, log=None):
    """(page, pictures): the HTML of the page for `model` (with its `vocab` and checkpoint `meta`)
    run over the text `raw` (described by `source`), and {file name: PNG bytes} of its plots.
    `other`: (checkpoint path, model, vocab) of a second model whose loss and gradient flow join the
    plots. `log(str)` reports each stage (stderr by default)."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    ids, text, n_unknown = encode_known(vocab, raw)
    if len(ids) < 2:
        raise UsageError("the text has fewer than two characters the model knows")
    T, pictures = len(ids), {}
    show = min(show, T)
    cfg = model.config()
    cell, L, H = cfg["cell"], cfg["layers"], cfg["hidden"]

    # one forward pass over the text: every gate, cell and hidden state, and p(next char)
    log(f"forward pass over {T:,} characters")
    probs, acts, sats = first_pass(model, ids)
    nats = float(-np.log(probs).mean())
    feats = ins.text_features(text)
    corrs = ins.feature_correlations(acts, feats)
    best = ins.best_cells(corrs, top=3)
    # the features a cell must remember first (strongest first), then those of the character just read
    strength = lambda f: -abs(best[f][0][1])  # noqa: E731
    order = (sorted((f for f in best if f in ins.MEMORY_FEATURES), key=strength)
             + sorted((f for f in best if f not in ins.MEMORY_FEATURES), key=strength))

    ks = sorted({k for k in list(range(1, 11)) + [12, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 200]
                 if k <= max_k} | {max_k})
    log(f"gradient flow: {len(ks)} distances k up to {max_k}, {positions} positions" + (", two models" if other else ""))
    flow = ins.gradient_flow(model, ids, ks, n_positions=positions)
    curves = [(model_label(model), flow)]
    if other:
        ids2 = encode_known(other[2], raw)[0]
        curves.append((model_label(other[1]), ins.gradient_flow(other[1], ids2, ks, n_positions=positions)))

    log(f"a sample of {sample_length:,} characters")
    s_ids, s_p = ins.sample_with_probs(model, vocab.encode(vocab.default_prime()), sample_length,
                                       np.random.default_rng(seed), temperature)
    sections = [
        summary_section(checkpoint, model, meta, source, n_unknown, nats, T),
        training_section([(checkpoint, model)] + ([other[:2]] if other else []), pictures),
        cells_section(cell, H, T, text, show, acts, feats, best, order),
        picker_section(L, H, text, show, acts, feats, corrs, best, order),
        saturation_section(cell, T, sats, pictures),
        flow_section(curves, ks, max_k, len(flow["positions"]), pictures),
        expect_section(vocab.decode(s_ids), s_p, text, probs, show, temperature, seed)]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Inside {html.escape(os.path.basename(checkpoint))}</title><style>{CSS}</style></head><body>"
            f"<h1>Inside a character model: {html.escape(model_label(model))}</h1>" + "".join(sections) + "</body></html>")
    return page, pictures
