"""Embedding quantizer: cluster a vocabulary's word vectors with k-means, one code per word.

Dimension legend: V words, D vector size, K clusters.

    q = EmbeddingQuantizer(1500, metric="cosine", seed=0).fit(words, vectors, counts)
    q.word_to_cluster["caballero"]     -> cluster id k
    q.cluster_to_words[k]              -> every word of cluster k, most frequent first
    q.cluster_word_probs[k]            -> p(word | cluster k), aligned with cluster_to_words[k]
    q.centroids                        -> (K, D) float32
    q.save("dir"); EmbeddingQuantizer.load("dir")

The quantized table stores K centroids and one code per word (plus, for cosine, one float32 norm
per word, since the centroids are unit vectors). Reconstruction of word w in cluster k:

    euclidean:  v_hat_w = c_k
    cosine:     v_hat_w = ||v_w|| c_k

    reconstruction_error = sum_w ||v_w - v_hat_w||^2 / sum_w ||v_w||^2     (0 is perfect)
    compression_ratio    = bytes(V x D float32) / bytes(centroids + codes [+ norms])

Saved as ``quantizer.npz`` (arrays, loaded with allow_pickle=False) and ``quantizer.json``
(the words and settings): no pickle anywhere.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import backend
from .checkpoint import atomic_write
from .errors import UsageError
from .kmeans import KMeans, METRICS
from .textio import check_input_file

__all__ = ["EmbeddingQuantizer"]

FORMAT = "minirnn-embedding-quantizer-1"
_ROWS = 1 << 16        # rows per block in the float64 passes over the vectors
_NPZ, _JSON = "quantizer.npz", "quantizer.json"


class EmbeddingQuantizer:
    """k-means codebook for a word-vector table.

    Parameters are KMeans's (n_clusters, metric, seed, n_init, max_iter, tol, init, callback);
    metric defaults to "cosine", the natural distance for word vectors.

    Attributes after `fit` (or `load`)
    ----------------------------------
    words : list[str] (V,), in the order given
    counts : (V,) int64; when none were given, V, V-1, ..., 1 (the given order is frequency order)
    labels : (V,) int64, the cluster of each word (aligned with `words`)
    word_to_cluster : dict word -> cluster id
    cluster_to_words : list of K lists, each every word of that cluster, most frequent first
    cluster_to_indices : list of K int64 arrays, the same as indices into `words`
    cluster_word_probs : list of K float64 arrays, p(word | cluster) = count / cluster count,
        aligned with `cluster_to_words`
    centroids : (K, D) float32 (unit rows for cosine)
    norms : (V,) float32, ||v_w|| (used by cosine reconstruction)
    inertia, n_iter : from k-means
    reconstruction_error, compression_ratio : see the module docstring
    """

    def __init__(self, n_clusters, *, metric="cosine", seed=0, n_init=1, max_iter=300, tol=1e-4,
                 init="k-means++", callback=None):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.n_clusters = n_clusters
        self.metric = metric
        self.seed = seed
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.callback = callback

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, words, vectors, counts=None):
        """Cluster `vectors` (V, D), row w being the vector of words[w]; counts (V,) optional."""
        words = [str(w) for w in words]
        vectors = np.asarray(backend.to_numpy(vectors))
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (V, D), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors")
        if len(set(words)) != len(words):
            raise ValueError("words must be unique")
        if counts is None:
            counts = np.arange(len(words), 0, -1, dtype=np.int64)   # (V,) the given order
        else:
            counts = np.asarray(counts)
            if counts.shape != (len(words),):
                raise ValueError(f"counts must have shape ({len(words)},), got {counts.shape}")
            if counts.dtype.kind not in "iu" or (counts < 0).any():
                raise ValueError("counts must be non-negative integers")
            counts = counts.astype(np.int64)
        km = KMeans(self.n_clusters, init=self.init, n_init=self.n_init, max_iter=self.max_iter,
                    tol=self.tol, seed=self.seed, metric=self.metric, callback=self.callback)
        km.fit(vectors)                                  # validates vectors (finite, 2-D, K <= V ...)
        norms = np.empty(len(words), dtype=np.float32)                      # (V,)
        for s in range(0, len(words), _ROWS):            # float64 a block at a time, never (V, D)
            x = vectors[s:s + _ROWS].astype(np.float64)
            norms[s:s + _ROWS] = np.sqrt((x * x).sum(axis=1))
        self._set(words, counts, backend.to_numpy(km.labels_),
                  backend.to_numpy(km.cluster_centers_).astype(np.float32), norms)
        self.inertia, self.n_iter = float(km.inertia_), int(km.n_iter_)
        self.reconstruction_error = self._reconstruction_error(vectors)
        return self

    def _set(self, words, counts, labels, centroids, norms):
        """Fill every derived map from words, counts, labels, centroids and norms."""
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)                    # (V,)
        self.labels = np.asarray(labels, dtype=np.int64)                    # (V,)
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)  # (K, D)
        self.norms = np.asarray(norms, dtype=np.float32)                    # (V,)
        K = self.centroids.shape[0]
        self.word_to_cluster = dict(zip(self.words, self.labels.tolist()))
        # every word of each cluster, most frequent first (ties: the given order)
        order = np.lexsort((np.arange(len(self.words)), -self.counts, self.labels))  # (V,)
        ends = np.cumsum(np.bincount(self.labels, minlength=K))              # (K,)
        self.cluster_to_indices = np.split(order, ends[:-1])                 # K arrays
        self.cluster_to_words = [[self.words[i] for i in idx] for idx in self.cluster_to_indices]
        self.cluster_word_probs = []
        for idx in self.cluster_to_indices:
            c = self.counts[idx].astype(np.float64)
            total = c.sum()
            uniform = np.full(len(idx), 1.0 / max(len(idx), 1))   # all counts zero: uniform
            self.cluster_word_probs.append(c / total if total > 0 else uniform)
        # position of each word inside its cluster's list (what a class-factored softmax needs)
        self.index_in_cluster = np.empty(len(self.words), dtype=np.int64)    # (V,)
        for idx in self.cluster_to_indices:
            self.index_in_cluster[idx] = np.arange(len(idx))

    # -- reconstruction and size --------------------------------------------------------------------
    def reconstruct(self):
        """The quantized table v_hat (V, D) float32 (see the module docstring)."""
        rec = self.centroids[self.labels]                                    # (V, D)
        if self.metric == "cosine":
            rec = rec * self.norms[:, None]
        return rec.astype(np.float32)

    def _reconstruction_error(self, vectors):
        err = total = 0.0
        for s in range(0, len(self.words), _ROWS):       # in float64, a block of rows at a time
            x = vectors[s:s + _ROWS].astype(np.float64)                     # (b, D)
            rec = self.centroids[self.labels[s:s + _ROWS]]                  # (b, D) v_hat, as reconstruct()
            if self.metric == "cosine":
                rec = rec * self.norms[s:s + _ROWS, None]
            err += float(((x - rec.astype(np.float64)) ** 2).sum())
            total += float((x * x).sum())
        return err / max(total, np.finfo(np.float64).tiny)

    @property
    def n_clusters_(self):
        return self.centroids.shape[0]

    @property
    def code_dtype(self):
        """The smallest unsigned integer type that holds a cluster id."""
        K = self.centroids.shape[0]
        return np.uint8 if K <= 1 << 8 else np.uint16 if K <= 1 << 16 else np.uint32

    @property
    def compression_ratio(self):
        """bytes of the float32 (V, D) table / bytes of centroids + codes (+ norms for cosine)."""
        V, (K, D) = len(self.words), self.centroids.shape
        quantized = K * D * 4 + V * np.dtype(self.code_dtype).itemsize
        if self.metric == "cosine":
            quantized += V * 4
        return V * D * 4 / quantized

    def summary(self):
        """A dict of the figures worth printing."""
        return {"words": len(self.words), "dim": int(self.centroids.shape[1]),
                "clusters": int(self.centroids.shape[0]), "metric": self.metric,
                "inertia": self.inertia, "n_iter": self.n_iter,
                "reconstruction_error": self.reconstruction_error,
                "compression_ratio": self.compression_ratio,
                "cluster_sizes": {"min": int(min(map(len, self.cluster_to_words))),
                                  "max": int(max(map(len, self.cluster_to_words)))}}

    # -- files ------------------------------------------------------------------------------------
    def save(self, directory):
        """Write ``quantizer.npz`` and ``quantizer.json`` into `directory` (created if missing),
        each to a temporary file renamed into place (a crash never leaves half a file)."""
        os.makedirs(directory, exist_ok=True)
        arrays = {"centroids": self.centroids, "labels": self.labels, "counts": self.counts, "norms": self.norms}
        atomic_write(os.path.join(directory, _NPZ), lambda f: np.savez(f, **arrays))
        meta = {"format": FORMAT, "metric": self.metric, "n_clusters": int(self.centroids.shape[0]),
                "seed": self.seed, "n_init": self.n_init, "max_iter": self.max_iter, "tol": self.tol,
                "inertia": self.inertia, "n_iter": self.n_iter,
                "reconstruction_error": self.reconstruction_error, "words": self.words}
        text = json.dumps(meta, ensure_ascii=False).encode("utf-8")
        atomic_write(os.path.join(directory, _JSON), lambda f: f.write(text))

    @classmethod
    def load(cls, directory):
        """Read what `save` wrote. A missing, truncated, malformed or inconsistent file is a
        ``UsageError`` (a ValueError) naming the file and what is wrong with it."""
        directory = os.fspath(directory)
        paths = [os.path.join(directory, n) for n in (_NPZ, _JSON)]
        for p in paths:
            if not os.path.lexists(p):
                raise UsageError(f"{p}: no such file "
                                 "(expected a directory written by EmbeddingQuantizer.save)")
            check_input_file(p, "quantizer file")
        try:
            with open(paths[1], encoding="utf-8") as f:
                meta = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{paths[1]}: not valid JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise UsageError(f"{paths[1]}: not an embedding quantizer file (format {got!r})")

        def need(key, test, want):
            if key not in meta or not test(meta[key]):
                raise UsageError(f"{paths[1]}: {key!r} missing or malformed (should be {want})")
            return meta[key]
        is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)         # noqa: E731
        is_num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        words = need("words", lambda v: isinstance(v, list) and v and all(isinstance(w, str) for w in v)
                     and len(set(v)) == len(v), "a list of distinct words")
        K = need("n_clusters", lambda v: is_int(v) and v >= 1, "an integer >= 1")
        metric = need("metric", lambda v: v in METRICS, f"one of {sorted(METRICS)}")
        settings = {k: need(k, t, w) for k, t, w in (
            ("seed", lambda v: v is None or is_int(v), "an integer"),
            ("n_init", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
            ("max_iter", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
            ("tol", lambda v: is_num(v) and v >= 0, "a number >= 0"))}
        stats = {k: need(k, lambda v: v is None or is_num(v), "a number")
                 for k in ("inertia", "n_iter", "reconstruction_error")}
        try:
            with np.load(paths[0], allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("centroids", "labels", "counts", "norms")}
        except KeyError as e:
            raise UsageError(f"{paths[0]}: array {e} missing") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            why = "holds pickled objects, never loaded" if "pickle" in str(e) else f"corrupt or truncated: {e}"
            raise UsageError(f"{paths[0]}: not a readable quantizer ({why})") from None
        V = len(words)
        c, lab = arrays["centroids"], arrays["labels"]
        if any(arrays[k].shape != (V,) for k in ("labels", "counts", "norms")):
            raise UsageError(f"{directory}: {_NPZ} and {_JSON} disagree on the number of words")
        if c.ndim != 2 or c.shape[0] != K or c.shape[1] < 1:
            raise UsageError(f"{paths[0]}: centroids of shape {c.shape}, expected ({K}, D)")
        if not (np.issubdtype(lab.dtype, np.integer) and (V == 0 or (lab.min() >= 0 and lab.max() < K))):
            raise UsageError(f"{paths[0]}: cluster labels outside 0..{K - 1}")
        for k in ("centroids", "norms"):
            if not np.isfinite(arrays[k]).all():
                raise UsageError(f"{paths[0]}: {k} hold NaN or inf")
        q = cls(K, metric=metric, **settings)
        q._set(words, arrays["counts"], lab, c, arrays["norms"])
        q.inertia, q.n_iter = stats["inertia"], stats["n_iter"]
        q.reconstruction_error = stats["reconstruction_error"]
        return q
