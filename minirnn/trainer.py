"""The training loop shared by the char and word pipelines: truncated BPTT with carried state,
clipping, the optimizer step, progress, validation, metrics, checkpoints, Ctrl-C and resume.

One iteration k (epoch e, window w = k mod W, for W windows per epoch):
    state = zeros if w == 0 else state carried from window w-1
    loss, state = model(x_w, y_w, state)         forward (dropout drawn from rng(seed, k))
    grads = backward ; clip by global norm ; optimizer step with lr = schedule(k)

Determinism: everything random in iteration k is drawn from ``default_rng(seed * 1000003 + k)``, and a
checkpoint holds the parameters, the optimizer moments, the carried state and the smoothed loss,
so stopping at any iteration and resuming gives exactly the losses of an uninterrupted run.

Host synchronisation: losses stay on the device as 0-d arrays and are read back together every
``print_every`` iterations (and before any checkpoint, where a NaN must not be saved: ``save``
refuses non-finite parameters and validation losses, and the run then stops with exit status 1).
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

import numpy as np

from . import backend, checkpoint
from .errors import UsageError
from .model import RNNLM
from .optim import clip_grad_norm

FORMAT = "minirnn-checkpoint-1"


class NonFiniteError(RuntimeError):
    """The parameters or the loss are NaN/inf: nothing is saved, training stops."""


def fmt_time(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Trainer:
    """Owns the loop; the script owns argument parsing and what goes into the checkpoint's meta.

    model       an RNNLM
    optimizer   from minirnn.optim, over model.trainable()
    train, val  chardata.Windows (or anything with len(), .window(k), .chars_per_window)
    meta        JSON-able dict saved in every checkpoint (config, vocabulary, flags)
    sample_fn   sample_fn(model, rng) -> str, printed at each sample point (optional)
    metrics_fn  metrics_fn(val_loss) -> dict of extra metrics for metrics.jsonl (optional)
    extra_arrays  arrays saved in every checkpoint beside the weights (e.g. the word model's maps)
    """

    def __init__(self, model, optimizer, train, val, *, iters, eval_every, checkpoint_dir, meta,
                 clip=5.0, schedule=None, seed=0, print_every=10, sample_every=0, sample_fn=None,
                 metrics_fn=None, extra_arrays=None, unit="chars", out=sys.stdout):
        self.model, self.opt, self.train, self.val = model, optimizer, train, val
        self.iters, self.eval_every, self.dir, self.meta = int(iters), int(eval_every), checkpoint_dir, meta
        self.clip, self.schedule, self.seed = float(clip), schedule, int(seed)
        self.print_every, self.sample_every = max(1, int(print_every)), int(sample_every)
        self.sample_fn, self.metrics_fn, self.unit, self.out = sample_fn, metrics_fn, unit, out
        self.extra_arrays = dict(extra_arrays or {})
        # the loop's state: all of it goes into a checkpoint
        self.it = 0                      # iterations done
        self.state = None                # hidden state carried across windows
        self.smooth = None               # exponentially smoothed training loss
        self.best_val = math.inf
        self.last_val = None
        self.elapsed = 0.0               # training seconds across resumed runs
        self._pending = []               # device losses not yet read back
        self.last_loss = None            # loss of the latest step (a 0-d device array)
        self._stop = False

    # ---- one iteration --------------------------------------------------------------------------
    def rng(self, it: int):
        """The random generator of iteration `it` on the selected backend (dropout masks)."""
        return backend.xp().random.default_rng(self.seed * 1_000_003 + it)

    def step(self):
        W = len(self.train)
        w = self.it % W
        if w == 0:
            self.state = None                                 # a new epoch starts from zeros
        x, y = (backend.to_device(a) for a in self.train.window(w))
        if self.schedule is not None:
            self.opt.lr = self.schedule(self.it)
        rng = self.rng(self.it) if self.model.dropout > 0 else None    # only dropout draws numbers
        loss, state, cache = self.model.loss(x, y, self.state, train=True, rng=rng)
        grads, _ = self.model.backward(cache)
        if self.clip > 0:
            clip_grad_norm(grads, self.clip)
        self.opt.step(grads)
        # keep only the final states (copies: views would keep the whole (N, T, H) arrays alive)
        self.state = [tuple(s.copy() for s in layer) for layer in state]
        self.it += 1
        self.last_loss = loss
        self._pending.append(loss)

    def _flush(self) -> bool:
        """Read pending losses back, update the smoothed loss. False if one was NaN or inf."""
        if not self._pending:
            return True
        xp = backend.array_module(self._pending[0])
        values = backend.to_numpy(xp.stack(self._pending)).astype(np.float64)
        self._pending = []
        for v in values:
            if not np.isfinite(v):
                return False
            self.smooth = v if self.smooth is None else 0.98 * self.smooth + 0.02 * v
        return True

    # ---- validation -----------------------------------------------------------------------------
    def evaluate(self) -> float:
        """Mean cross-entropy (nats per token) over the whole validation split, state carried
        across its windows from zeros."""
        total, state = 0.0, None
        for k in range(len(self.val)):
            x, y = (backend.to_device(a) for a in self.val.window(k))
            loss, state, _ = self.model.loss(x, y, state)
            total = total + loss                              # stays on the device
        return float(total) / len(self.val)                   # one host sync per evaluation

    # ---- checkpoints ----------------------------------------------------------------------------
    def arrays(self) -> dict:
        a = {f"param/{k}": v for k, v in self.model.params.items()}
        a.update({f"extra/{k}": v for k, v in self.extra_arrays.items()})
        scalars, opt_arrays = self.opt.state_dict()
        a.update({f"opt/{k}": v for k, v in opt_arrays.items()})
        for l, layer in enumerate(self.state or []):
            for j, s in enumerate(layer):
                a[f"state/{l}/{j}"] = s
        return a

    def params_finite(self) -> bool:
        """True when every parameter is finite (one device reduction, read back once)."""
        xp = backend.array_module(self.model.params["out.W"])
        return bool(xp.stack([xp.isfinite(v).all() for v in self.model.params.values()]).all())

    def save(self, name: str) -> str:
        """Write checkpoint `name` atomically; NonFiniteError (and nothing written) for NaN/inf weights."""
        if not self.params_finite():
            raise NonFiniteError(f"the parameters are NaN/inf at iteration {self.it}")
        scalars, _ = self.opt.state_dict()
        meta = dict(self.meta, format=FORMAT, iteration=self.it, epoch=self.it / len(self.train),
                    model=self.model.config(), optimizer=scalars, smooth_loss=self.smooth,
                    best_val=None if math.isinf(self.best_val) else self.best_val,
                    val_loss=self.last_val, elapsed_s=self.elapsed,
                    rng={"seed": self.seed, "scheme": "iteration k draws from default_rng(seed*1000003+k)"})
        return checkpoint.save(os.path.join(self.dir, name + ".npz"), self.arrays(), meta)

    def restore(self, arrays: dict, meta: dict) -> None:
        """Continue from a checkpoint (its config was already checked by the caller)."""
        for k, v in self.model.params.items():
            v[...] = backend.to_device(arrays[f"param/{k}"])
        self.opt.load_state_dict(meta["optimizer"],
                                 {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        self.it, self.smooth, self.elapsed = int(meta["iteration"]), meta["smooth_loss"], meta["elapsed_s"]
        self.best_val = math.inf if meta.get("best_val") is None else meta["best_val"]
        self.last_val = meta.get("val_loss")
        layers = sorted({int(k.split("/")[1]) for k in arrays if k.startswith("state/")})
        self.state = [tuple(backend.to_device(arrays[f"state/{l}/{j}"])
                            for j in range(2 if self.model.cell == "lstm" else 1)) for l in layers] or None

    # ---- the loop -------------------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        if self._stop:                                        # second Ctrl-C: stop right now
            raise KeyboardInterrupt
        self._stop = True
        print("\ninterrupt: finishing this iteration, then saving (Ctrl-C again to abort)",
              file=self.out, flush=True)

    def _progress(self, t_run, it_run):
        rate = it_run / t_run if t_run > 0 else 0.0
        eta = (self.iters - self.it) / rate if rate > 0 else 0.0
        val = f"{self.last_val:.4f}" if self.last_val is not None else "-"
        cps = rate * self.train.chars_per_window
        line = (f"iter {self.it}/{self.iters} | epoch {self.it / len(self.train):.2f} | "
                f"train {self.smooth:.4f} | val {val} | {cps:,.0f} {self.unit}/s | ETA {fmt_time(eta)}")
        print(line, file=self.out, flush=True)
        return cps

    def _eval_point(self, cps):
        t0 = time.perf_counter()
        val = self.evaluate()
        if not math.isfinite(val):
            raise NonFiniteError(f"the validation loss is {val} at iteration {self.it}")
        self.last_val = val
        record = {"iter": self.it, "epoch": round(self.it / len(self.train), 4),
                  "train_loss": self.smooth, "val_loss": self.last_val,
                  "val_ppl": math.exp(min(self.last_val, 700)), f"{self.unit}_per_s": cps,
                  "elapsed_s": round(self.elapsed, 3)}
        if self.metrics_fn is not None:
            record.update(self.metrics_fn(self.last_val))
        with open(os.path.join(self.dir, "metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
        improved = self.last_val < self.best_val
        if improved:
            self.best_val = self.last_val
        path = self.save("latest")
        if improved:
            self.save("best")
        print(f"  val loss {self.last_val:.4f} (best {self.best_val:.4f}), saved {path}"
              f" [{time.perf_counter() - t0:.1f}s]", file=self.out, flush=True)

    def _sample_point(self):
        text = self.sample_fn(self.model, np.random.default_rng(self.seed + self.it))
        print("  sample: " + text.replace("\n", "\n          "), file=self.out, flush=True)

    def run(self) -> int:
        """Train until `iters`. Returns the exit status: 0 done or interrupted-and-saved, 1 on NaN."""
        os.makedirs(self.dir, exist_ok=True)
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            return self._loop()
        except NonFiniteError as e:
            latest = os.path.join(self.dir, "latest.npz")
            kept = (f"the last good checkpoint stays: {latest}" if os.path.exists(latest)
                    else "no checkpoint was written")
            print(f"error: training diverged ({e}); stopping, {kept}. Try a lower --lr or a "
                  f"smaller --clip", file=sys.stderr, flush=True)
            return 1
        finally:
            signal.signal(signal.SIGINT, previous)

    def _loop(self) -> int:
        t_start, it_start, cps = time.perf_counter(), self.it, 0.0
        t_mark = t_start
        while self.it < self.iters and not self._stop:
            self.step()
            at_eval = self.it % self.eval_every == 0 or self.it == self.iters
            at_sample = self.sample_fn is not None and self.sample_every > 0 and \
                self.it % self.sample_every == 0
            if self.it % self.print_every == 0 or at_eval or at_sample or self._stop:
                if not self._flush():
                    raise NonFiniteError(f"the training loss is NaN/inf by iteration {self.it}")
                backend.synchronize()
                now = time.perf_counter()
                self.elapsed += now - t_mark
                cps = self._progress(now - t_start, self.it - it_start)
                t_mark = now
            if at_eval:
                self._eval_point(cps)
            if at_sample:
                self._sample_point()
            if at_eval or at_sample:
                t_start, it_start, t_mark = time.perf_counter(), self.it, time.perf_counter()
        if self._stop and self.it < self.iters:
            path = self.save("latest")
            print(f"interrupted at iteration {self.it}: saved {path}; "
                  f"continue with --resume", file=self.out, flush=True)
        return 0


def load_model(path: str, kind: str):
    """(model, arrays, meta) from a checkpoint written by a Trainer for a `kind` ('char'/'word') model."""
    arrays, meta = checkpoint.load(path)
    if meta.get("kind") != kind or meta.get("format") != FORMAT:
        raise UsageError(f"{path}: not a {kind}-model checkpoint (it holds {meta.get('kind')!r})")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    try:
        return RNNLM.from_params(meta["model"], params), arrays, meta
    except (KeyError, ValueError) as e:
        raise UsageError(f"{path}: checkpoint does not match its own config ({e})") from None
