"""The GPU path without a GPU: minirnn on the strict CuPy stand-in (tests/standin), in this process.

Every test here runs on a device backend: the stand-in always, and real CuPy where a GPU exists.
The stand-in computes with NumPy underneath, so on it a device result must equal the NumPy result
(to float rounding where the CPU engine's Numba kernels sum in another order); on a real GPU the
comparisons hold to float32 tolerance, and discrete outcomes (sampled ids, beams) are compared on
the stand-in only. What this file holds, by the hazard it guards:

- gradient checks of every layer, the stack and the whole model with the arrays on the device;
- dropout masks drawn on the device from Philox keyed by (seed, iteration): no device Generator is
  made per iteration, a resumed run equals an unbroken one, and Philox matches its published answers;
- the layers and ``fast.pick`` take the array module from the weights: host ids with device
  weights, and a model built on the device used after a switch back to NumPy;
- the host reads of a training step: none but the losses the progress line prints;
- k-means fitted on the device predicts on NumPy (and back), and reads back once per Lloyd iteration;
- sampling, beam search, eval_char's numbers and introspect agree with NumPy;
- word vectors -> k-means on the device -> quantizer -> the word LM.
The scripts end to end, each in a subprocess with the stand-in installed as ``cupy``, are in
tests/test_device_scripts.py.
"""
import io
import math

import numpy as np
import pytest

from minirnn import backend, chardata, fast, introspect, philox, sampling
from minirnn.gradcheck import rel_error
from minirnn.kmeans import KMeans, lloyd
from minirnn.layers import dropout, embedding, gru, linear, lstm, rnn, softmax_ce, stack
from minirnn.model import RNNLM
from minirnn.optim import Adam
from minirnn.trainer import Trainer

from conftest import standin_module
from helpers import TINY, check

DEVICE_PARAMS = [
    pytest.param("standin", id="standin"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.skipif(
        not backend.gpu_available(), reason="cupy backend needs CuPy and an NVIDIA GPU")),
]


@pytest.fixture(params=DEVICE_PARAMS)
def device(request):
    """Backend 'cupy' selected on the stand-in, or on real CuPy; yields its array module."""
    if request.param == "standin":
        request.getfixturevalue("standin")
    with backend.use_backend("cupy") as mod:
        yield mod


def on_standin(mod):
    return mod is standin_module


def dev(a):
    return None if a is None else backend.to_device(a)


def reads():
    return standin_module.counters["d2h"]


# ---- Philox ------------------------------------------------------------------------------------
def test_philox_known_answers():
    """Philox4x32-10's known-answer vectors (Random123's kat_vectors): the words, bit for bit."""
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for counter, key, expected in cases:
        out = philox.philox4x32(tuple(np.array([c], dtype=np.uint64) for c in counter), key)
        assert tuple(int(w[0]) for w in out) == expected


def test_philox_same_numbers_on_host_and_device(device):
    for dtype in (np.float32, np.float64):
        host, on_dev = philox.CounterRNG(7, 2 ** 33 + 5, np), philox.CounterRNG(7, 2 ** 33 + 5, device)
        for shape in ((3, 5, 7), (1,), (2, 2)):                         # successive draws differ
            a, b = host.random(shape, dtype), on_dev.random(shape, dtype)
            assert isinstance(b, device.ndarray) and b.dtype == dtype and b.shape == shape
            assert np.array_equal(a, backend.to_numpy(b))
        u = philox.CounterRNG(1, 0, np).random(100_000, dtype)
        assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    first = philox.CounterRNG(7, 3, np)
    assert not np.array_equal(first.random(8), first.random(8))         # a second draw: new numbers
    assert not np.array_equal(philox.CounterRNG(7, 3, np).random(8), philox.CounterRNG(7, 4, np).random(8))
    assert not np.array_equal(philox.CounterRNG(7, 3, np).random(8), philox.CounterRNG(8, 3, np).random(8))


def test_dropout_rng_keeps_the_cpu_numbers():
    """On NumPy the generator of iteration k is the one CPU runs always used."""
    a = philox.dropout_rng(3, 5, np).random(10)
    assert np.array_equal(a, np.random.default_rng(3 * 1_000_003 + 5).random(10))


# ---- gradient checks on the device -------------------------------------------------------------
def test_layer_gradients_on_device(device):
    """Every layer's backward against central differences, the arrays on the device (float64)."""
    rng = np.random.default_rng(0)
    N, T, D, H, V = 2, 3, 3, 2, 4
    x, dh = dev(rng.standard_normal((N, T, D))), dev(rng.standard_normal((N, T, H)))
    ids = dev(rng.integers(0, V, (N, T)))
    # embedding
    W = dev(rng.standard_normal((V, D)))
    dout = dev(rng.standard_normal((N, T, D)))
    dW = embedding.backward(dout, embedding.forward(ids, W)[1])
    check(lambda: (embedding.forward(ids, W)[0] * dout).sum(), {"W": (W, dW)})
    # linear
    Wl, bl = dev(rng.standard_normal((D, H))), dev(rng.standard_normal(H))
    dx, dWl, dbl = linear.backward(dh, linear.forward(x, Wl, bl)[1])
    check(lambda: (linear.forward(x, Wl, bl)[0] * dh).sum(), {"x": (x, dx), "W": (Wl, dWl), "b": (bl, dbl)})
    # the three cells, on dense input and on ids
    for cell, G, nb in ((rnn, H, H), (lstm, 4 * H, 4 * H), (gru, 3 * H, 4 * H)):
        for inp, Din in ((x, D), (ids, V)):
            p = [dev(0.5 * rng.standard_normal(s)) for s in ((Din, G), (H, G), (nb,))]
            h0 = dev(rng.standard_normal((N, H)))
            extra = (None,) if cell is lstm else ()                       # c0 omitted: zeros

            def f():
                return cell.forward(inp, h0, *extra, *p)[0]
            g = cell.backward(dh, cell.forward(inp, h0, *extra, *p)[-1])
            named = {"h0": (h0, g[1]), **{k: (a, ga) for k, a, ga in zip(("Wx", "Wh", "b"), p, g[-3:])}}
            if inp is x:
                named["x"] = (x, g[0])
            check(lambda: (f() * dh).sum(), named)
    # softmax cross-entropy
    logits, y = dev(rng.standard_normal((N, T, V))), dev(rng.integers(0, V, (N, T)))
    dz = softmax_ce.backward(softmax_ce.forward(logits, y)[1], 0.7)
    check(lambda: 0.7 * softmax_ce.forward(logits, y)[0], {"logits": (logits, dz)})


def test_stack_with_dropout_gradients_on_device(device):
    rng = np.random.default_rng(1)
    N, T, D, H, L = 2, 3, 3, 2, 3
    x, dh = dev(rng.standard_normal((N, T, D))), dev(rng.standard_normal((N, T, H)))
    params = [tuple(dev(0.5 * rng.standard_normal(s)) for s in ((D if l == 0 else H, 4 * H), (H, 4 * H), (4 * H,)))
              for l in range(L)]

    def fwd():   # the same masks at every call: dropout with a fixed mask
        return stack.forward(x, None, params, "lstm", 0.3, philox.dropout_rng(5, 9, device))
    h, _, cache = fwd()
    mask = cache[1][1][0]                                              # layer 1's dropout mask
    assert isinstance(mask, device.ndarray)                              # drawn where x lives
    dx, _, dparams = stack.backward(dh, cache)
    named = {"x": (x, dx), **{f"{l}.{k}": (a, g) for l in range(L)
                              for k, a, g in zip(("Wx", "Wh", "b"), params[l], dparams[l])}}
    check(lambda: (fwd()[0] * dh).sum(), named)
    y, m = dropout.forward(x, 0.5, philox.dropout_rng(1, 2, device))
    assert isinstance(m, device.ndarray) and rel_error(dropout.backward(device.ones_like(y), m), m) == 0


def test_whole_model_gradients_on_device(device):
    model = RNNLM(5, hidden=3, layers=2, cell="gru", embed=2, freeze_embedding=False, seed=2, dtype=np.float64)
    rng = np.random.default_rng(2)
    ids, targets = rng.integers(0, 5, (2, 3)), rng.integers(0, 5, (2, 3))
    assert all(isinstance(v, device.ndarray) for v in model.params.values())
    grads, _ = model.backward(model.loss(ids, targets)[2])
    check(lambda: model.loss(ids, targets)[0], {k: (model.params[k], g) for k, g in grads.items()})


# ---- the array module comes from the weights ---------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_host_ids_with_device_weights(device, cell):
    """A layer handed host ids and device weights computes on the device, as with device ids; the
    engine (Numba, CPU only) is never handed the device weights."""
    rng = np.random.default_rng(3)
    N, T, V, H = 2, 4, 5, 3
    book = stack.CELLS[cell]
    G = {"rnn": H, "lstm": 4 * H, "gru": 3 * H}[cell]
    p = [dev(rng.standard_normal(s)) for s in ((V, G), (H, G), (4 * H if cell == "gru" else G,))]
    ids = rng.integers(0, V, (N, T))
    assert fast.pick(book, ids, *p) is book                              # not the Numba twin
    dh = dev(rng.standard_normal((N, T, H)))
    out_host, out_dev = (book.forward(i, None, *p) if cell != "lstm" else book.forward(i, None, None, *p)
                         for i in (ids, dev(ids)))
    assert isinstance(out_host[0], device.ndarray)
    assert rel_error(out_host[0], out_dev[0]) == 0
    for a, b in zip(book.backward(dh, out_host[-1]), book.backward(dh, out_dev[-1])):
        assert (a is None and b is None) or rel_error(a, b) == 0


def test_model_built_on_device_runs_after_switch_to_numpy(device):
    model = RNNLM(6, hidden=4, layers=2, cell="lstm", seed=4, dtype=np.float64)
    with backend.use_backend("numpy"):
        host_model = RNNLM(6, hidden=4, layers=2, cell="lstm", seed=4, dtype=np.float64)
        ids, targets = np.random.default_rng(4).integers(0, 6, (2, 2, 5))
        loss, _, cache = model.loss(ids, targets)                       # host ids, device weights
        grads, _ = model.backward(cache)
        ref_loss, _, ref_cache = host_model.loss(ids, targets)
        ref_grads, _ = host_model.backward(ref_cache)
    assert isinstance(loss, device.ndarray)
    assert abs(float(backend.to_numpy(loss)) - float(ref_loss)) < 1e-12
    for k in ref_grads:
        assert rel_error(grads[k], ref_grads[k]) < 1e-10


# ---- training on the device: host reads, generators, resume -------------------------------------
def make_trainer(tmp_path, iters, *, dropout=0.3, print_every=10, cell="lstm", name="run"):
    ids = chardata.CharVocab(sorted(set(TINY))).encode(TINY)
    train, val = chardata.split(ids, 0.1, 4, 8)
    model = RNNLM(int(ids.max()) + 1, hidden=8, layers=2, cell=cell, dropout=dropout, seed=0)
    return Trainer(model, Adam(model.trainable(), lr=1e-2), train, val, iters=iters, eval_every=iters,
                   checkpoint_dir=str(tmp_path / name), meta={}, seed=3, print_every=print_every,
                   out=io.StringIO(), eval_windows=2)


def test_training_step_reads_nothing_back_but_the_printed_losses(standin, tmp_path):
    """With dropout on, a run of 40 iterations reads back from the device exactly 3 times more than
    a run of 10 (printing every 10: one read of the pending losses per progress line), and no
    device random Generator is made (the masks come from Philox keyed by (seed, iteration))."""
    counts = {}
    with backend.use_backend("cupy"):
        for iters in (10, 40):
            t = make_trainer(tmp_path, iters, name=f"r{iters}")
            standin.reset_counters()
            assert t.run() == 0
            counts[iters] = dict(standin.counters)
        assert counts[10]["generators"] == counts[40]["generators"] == 0
        assert counts[40]["d2h"] - counts[10]["d2h"] == 3
        # and step() alone reads nothing
        t = make_trainer(tmp_path, 5, name="steps")
        before = reads()
        for _ in range(5):
            t.step()
        assert reads() == before
        assert t._flush() and reads() == before + 1


def test_resumed_run_equals_unbroken_on_device(device, tmp_path):
    """Stop at 4 of 8 iterations (dropout on), save, restore into a fresh trainer, finish: the same
    weights as an unbroken run of 8 (bit for bit on the stand-in)."""
    from minirnn import checkpoint
    whole = make_trainer(tmp_path, 8, name="whole")
    for _ in range(8):
        whole.step()
    part = make_trainer(tmp_path, 8, name="part")
    for _ in range(4):
        part.step()
    part._flush()
    path = part.save("latest")
    arrays, meta = checkpoint.load(path)
    resumed = make_trainer(tmp_path, 8, name="resumed")
    resumed.restore(arrays, meta)
    for _ in range(4):
        resumed.step()
    tol = 0 if on_standin(device) else 1e-5
    for k, v in whole.model.params.items():
        assert rel_error(resumed.model.params[k], v) <= tol, k
    assert rel_error(resumed.last_loss, whole.last_loss) <= tol


def test_device_training_matches_numpy_without_dropout(device, tmp_path):
    runs = {}
    for name in ("numpy", "cupy"):
        with backend.use_backend(name):
            t = make_trainer(tmp_path, 6, dropout=0.0, cell="gru", name=name)
            for _ in range(6):
                t.step()
            runs[name] = t
    for k, v in runs["numpy"].model.params.items():
        assert rel_error(runs["cupy"].model.params[k], v) < 1e-4, k


# ---- k-means ------------------------------------------------------------------------------------
def blobs(n=300, k=4, d=5, seed=0):
    rng = np.random.default_rng(seed)
    centers = 10 * rng.standard_normal((k, d))
    return (centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(np.float64)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_kmeans_fitted_on_device_predicts_on_either_side(device, metric):
    X = blobs()
    km = KMeans(4, seed=0, metric=metric).fit(X)                         # on the device
    assert isinstance(km.cluster_centers_, device.ndarray)
    with backend.use_backend("numpy"):
        host_labels = km.predict(X)                                      # host data, device centres
        ref = KMeans(4, seed=0, metric=metric).fit(X)
        assert isinstance(host_labels, np.ndarray)
        back = ref.predict(backend.to_module(X, device))                 # device data, host centres
    assert np.array_equal(host_labels, backend.to_numpy(km.labels_))
    assert np.array_equal(backend.to_numpy(back), ref.labels_)
    assert np.array_equal(ref.labels_, backend.to_numpy(km.labels_))


def test_kmeans_reads_back_once_per_lloyd_iteration(standin):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2000, 8))                                   # no clusters: slow to settle
    with backend.use_backend("cupy"):
        Xd = backend.to_device(X)
        runs = {}
        for m in (3, 8):
            before = reads()
            _, _, _, n_iter = lloyd(Xd, Xd[:16], max_iter=m, tol_abs=-1.0)
            runs[m] = (reads() - before, n_iter)
    assert runs[3][1] == 3 and runs[8][1] == 8
    assert runs[8][0] - runs[3][0] == 8 - 3                              # one read per iteration


# ---- sampling, beam search, eval_char, introspect ----------------------------------------------
@pytest.fixture
def models(device):
    """The same small char model (weights drawn on the host from one seed) on NumPy and on the device."""
    out = {}
    for name in ("numpy", "cupy"):
        with backend.use_backend(name):
            out[name] = RNNLM(7, hidden=6, layers=2, cell="lstm", seed=5)
    return out


def test_sampling_and_beam_search_on_device(device, models):
    prime = [1, 2, 3]
    got = {}
    for name, m in models.items():
        with backend.use_backend(name):
            got[name] = (list(sampling.generate(m, prime, 30, np.random.default_rng(0), top_k=4)),
                         sampling.beam_search(m, prime, 4, beam=3))
    ids, beams = got["cupy"]
    assert len(ids) == 30 and len(beams) == 3
    ref_beams = got["numpy"][1]
    for (t, s, lp), (rt, rs, rlp) in zip(beams, ref_beams):
        assert abs(lp - rlp) < 1e-4 and abs(s - rs) < 1e-4
    if on_standin(device):
        assert ids == got["numpy"][0] and [b[0] for b in beams] == [b[0] for b in ref_beams]


def test_eval_and_introspect_on_device(device, models):
    ids = np.random.default_rng(6).integers(0, 7, 400)
    chunks = lambda: [ids[:150], ids[150:]]  # noqa: E731
    res = {}
    for name, m in models.items():
        with backend.use_backend(name):
            ev = introspect.evaluate_ids(m, chunks(), window=64)
            flow = introspect.gradient_flow(m, ids, [1, 3], n_positions=8, warmup=10)
            logits, layers, _ = introspect.run_layers(m, ids[None, :50])
            res[name] = (ev, flow, introspect.activations(m, layers),
                         introspect.gate_saturation(layers[0]["gates"]),
                         introspect.char_probs(logits, ids[None, 1:51]),
                         introspect.sample_with_probs(m, [1, 2], 10, np.random.default_rng(1)))
    (ev, flow, act, sat, probs, (s_ids, s_p)), ref = res["cupy"], res["numpy"]
    assert ev["chars"] == ref[0]["chars"] == 399
    assert abs(ev["nats_per_char"] - ref[0]["nats_per_char"]) < 1e-5
    assert math.isclose(ev["perplexity"], math.exp(ev["nats_per_char"]))
    assert rel_error(flow["h"], ref[1]["h"]) < 1e-4 and rel_error(flow["c"], ref[1]["c"]) < 1e-4
    assert rel_error(act, ref[2]) < 1e-5 and rel_error(probs, ref[4]) < 1e-5
    for g in ("i", "f", "o"):
        assert np.allclose(sat[g][0], ref[3][g][0], atol=0.05)
    if on_standin(device):
        assert np.array_equal(s_ids, ref[5][0])
    assert rel_error(s_p, ref[5][1]) < 1e-4 or not on_standin(device)


# ---- the word pipeline: vectors -> k-means on the device -> quantizer -> word LM ----------------
def test_word_chain_on_device(device):
    from minirnn.quantizer import EmbeddingQuantizer as Quantizer
    from minirnn.wordlm import WordTask, generate
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(40)]
    vectors = blobs(40, 5, 6, seed=7).astype(np.float32)
    res = {}
    for name in ("numpy", "cupy"):
        with backend.use_backend(name):
            q = Quantizer(5, metric="cosine", seed=0).fit(words, vectors)
            task = WordTask.clusters(words, vectors, q.labels, q.centroids)
            corpus = rng.integers(0, 40, 400) if name == "numpy" else corpus
            task.fit_within(corpus)
            K = int(task.labels.max()) + 1
            model = RNNLM(K, hidden=6, layers=1, embedding=task.embedding, seed=0)
            classes = task.labels[corpus]
            loss = model.loss(classes[None, :-1], classes[None, 1:])[0]
            out = list(generate(model, task, [1, 2], 6, np.random.default_rng(3)))
            res[name] = (q.labels, float(backend.to_numpy(loss)), out, type(model.params["out.W"]))
    assert res["cupy"][3] is device.ndarray
    assert np.array_equal(res["cupy"][0], res["numpy"][0])
    assert abs(res["cupy"][1] - res["numpy"][1]) < 1e-5
    if on_standin(device):
        assert res["cupy"][2] == res["numpy"][2]
