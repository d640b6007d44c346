"""The training loop shared by the char and word pipelines: truncated BPTT with carried state,
clipping, the optimizer step, progress, validation, metrics, checkpoints, Ctrl-C and resume.

One iteration k (epoch e, window w = k mod W, for W windows per epoch):
    state = zeros if w == 0 else state carried from window w-1
    loss, state = model(x_w, y_w, state)         forward (dropout drawn from rng(seed, k))
    grads = backward ; clip by global norm ; optimizer step with lr = schedule(k)

Determinism: everything random in iteration k is drawn from ``philox.dropout_rng(seed, k, xp)`` (NumPy's
``default_rng(seed * 1000003 + k)`` on the CPU; on a device, Philox keyed by the seed with k as its
counter), and a
checkpoint holds the parameters, the optimizer moments, the carried state and the smoothed loss,
so stopping at any iteration and resuming gives exactly the losses of an uninterrupted run.

Host synchronisation: losses stay on the device as 0-d arrays and are read back together every
``print_every`` iterations (and before any checkpoint, where a NaN must not be saved: ``save``
refuses non-finite parameters and validation losses, and the run then stops with exit status 1).

Checkpoints and metrics stay consistent. At an evaluation point the metrics.jsonl line is written
first (one ``write`` of the whole line, fsynced), then latest.npz (temp + rename: the commit), then
best.npz when validation improved. So every checkpoint's evaluation has its line; a kill -9 between
the line and the rename leaves at most that one line beyond latest.npz, which the resumed run drops
(and, training being deterministic, writes again); a write that fails (disk full, the directory made
read-only) truncates the line away again and stops the run with one line and exit status 1, the
previous checkpoint intact. A kill between latest.npz and best.npz leaves best.npz one evaluation
behind; the resumed run copies latest.npz over it (that state is the best). Each checkpoint carries
the run's identity (``run_id``), which ``cli.claim_checkpoint_dir`` compares on resume. SIGTERM is
handled as Ctrl-C is (save, exit 0). A second Ctrl-C stops at once with one line and exit status
130, without saving.

Progress: a line every ``print_every`` iterations with the ETA of the whole rest of the run, measured,
not guessed: the time per iteration is the median over recent progress windows (the first one, which
pays for compiling the kernels, drops out), validation windows are timed once at the first progress
line (a few windows, after their compilation) and at every evaluation, checkpoint saves and samples as
they happen; the ETA adds the remaining iterations, evaluations (the whole split once more at the end),
saves and samples. A validation pass longer than a few seconds prints its own progress.

Validation: every ``eval_every`` iterations the first ``eval_windows`` windows of the validation
split (all of them when it holds fewer), so that an evaluation on a large text costs what one on the
bundled novel costs; at the last iteration the whole split as well (``val_loss_full`` in metrics).
"""
from __future__ import annotations

import errno
import json
import math
import os
import signal
import sys
import time

import numpy as np

from . import backend, checkpoint, philox
from .errors import Terminated, UsageError, describe_os_error, interrupt_status
from .layers import stack
from .model import RNNLM
from .optim import clip_grad_norm

FORMAT = "minirnn-checkpoint-1"
VAL_PROGRESS_EVERY = 5.0         # seconds between the progress lines of a long validation pass
RATE_WINDOWS = 20                # progress windows the time per iteration is the median of


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
    run_id      the run's identity, saved in every checkpoint
    on_checkpoint  called after each latest.npz is written; returns the directory to write in from
                then on (an --overwrite swaps its new run in at the first: ``cli.commit``)
    clock       the time source of progress and ETA (a test injects one)
    """

    def __init__(self, model, optimizer, train, val, *, iters, eval_every, checkpoint_dir, meta,
                 clip=5.0, schedule=None, seed=0, print_every=10, sample_every=0, sample_fn=None,
                 metrics_fn=None, extra_arrays=None, unit="chars", out=None, eval_windows=None,
                 run_id=None, on_checkpoint=None, clock=time.perf_counter):
        self.model, self.opt, self.train, self.val = model, optimizer, train, val
        self.iters, self.eval_every, self.dir, self.meta = int(iters), int(eval_every), checkpoint_dir, meta
        self.clip, self.schedule, self.seed = float(clip), schedule, int(seed)
        self.print_every, self.sample_every = max(1, int(print_every)), int(sample_every)
        self.sample_fn, self.metrics_fn, self.unit = sample_fn, metrics_fn, unit
        self.out = sys.stdout if out is None else out      # looked up now: a redirected stdout counts
        self.extra_arrays = dict(extra_arrays or {})
        self.eval_windows = None if not eval_windows else int(eval_windows)   # None: the whole split
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
        self.run_id, self.on_checkpoint, self.clock = run_id, on_checkpoint, clock
        # what the ETA is made of: seconds per iteration of recent progress windows, per validation
        # window, per save (an evaluation point's writes), per sample
        self._rates, self._t_valwin, self._t_save, self._t_sample = [], None, 0.0, 0.0
        self._probed = False
        self.last_eta = None             # (clock time, ETA in seconds) of the latest progress line

    # ---- one iteration --------------------------------------------------------------------------
    def rng(self, it: int):
        """The random generator of iteration `it` where the weights live (dropout masks)."""
        return philox.dropout_rng(self.seed, it, backend.array_module(self.model.params["out.W"]))

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
    def evaluate(self, windows=None) -> float:
        """Mean cross-entropy (nats per token) over the first `windows` windows of the validation
        split (default: all of them), state carried across its windows from zeros."""
        n = len(self.val) if windows is None else max(1, min(int(windows), len(self.val)))
        return self._val_pass(n, n)[0]

    def _val_pass(self, n_prefix: int, n_total: int, progress: bool = False):
        """Mean loss over the first n_prefix windows and over the first n_total, in one pass
        (`progress`: a line every VAL_PROGRESS_EVERY seconds). A stop asked for (Ctrl-C, SIGTERM)
        once the prefix is done ends the pass there: the second mean is then None (the whole split
        at the end of a run can take many minutes, and a scheduler's SIGKILL follows its SIGTERM)."""
        total, state, prefix = 0.0, None, None
        t0 = last = self.clock()
        for k in range(n_total):
            if self._stop and k >= n_prefix:                  # Ctrl-C/SIGTERM: the whole split can wait
                return float(backend.to_numpy(prefix)) / n_prefix, None
            x, y = (backend.to_device(a) for a in self.val.window(k))
            loss, state = self.model.eval_loss(x, y, state)     # forward only: no caches
            total = total + loss                              # stays on the device
            if k + 1 == n_prefix:
                prefix = total
            if progress and k + 1 < n_total and self.clock() - last >= VAL_PROGRESS_EVERY:
                last = self.clock()
                rate = (k + 1) / max(last - t0, 1e-9)
                print(f"  validation: {k + 1:,} of {n_total:,} windows, {fmt_time(last - t0)} so far, "
                      f"{fmt_time((n_total - k - 1) / rate)} to go", file=self.out, flush=True)
        prefix, total = backend.to_numpy(backend.array_module(total).stack([prefix, total]))
        return float(prefix) / n_prefix, float(total) / n_total   # one read back per evaluation

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
        """True when every parameter is finite and at most MAX_WEIGHT in magnitude, the bound every
        checkpoint loader checks (one device reduction, read back once): a rate such as --lr 1e30
        drives weights to 1e30 while the loss stays finite, and a checkpoint of them could not be used."""
        xp = backend.array_module(self.model.params["out.W"])
        ok = [(xp.abs(v) <= MAX_WEIGHT).all() for v in self.model.params.values()]   # False for NaN too
        return bool(backend.to_numpy(xp.stack(ok).all()))

    def save(self, name: str) -> str:
        """Write checkpoint `name` atomically; NonFiniteError (and nothing written) for NaN/inf weights."""
        if not self.params_finite():
            raise NonFiniteError(f"the parameters are NaN/inf or above {MAX_WEIGHT:g} at iteration {self.it}")
        scalars, _ = self.opt.state_dict()
        meta = dict(self.meta, format=FORMAT, iteration=self.it, epoch=self.it / len(self.train),
                    model=self.model.config(), optimizer=scalars, smooth_loss=self.smooth,
                    best_val=None if math.isinf(self.best_val) else self.best_val,
                    val_loss=self.last_val, elapsed_s=self.elapsed, run_id=self.run_id,
                    rng={"seed": self.seed, "scheme": "iteration k draws from philox.dropout_rng(seed, k, xp)"})
        return checkpoint.save(os.path.join(self.dir, name + ".npz"), self.arrays(), meta)

    def restore(self, arrays: dict, meta: dict) -> None:
        """Continue from a checkpoint (its config was already checked by the caller). ValueError when
        an array has another shape than what it restores (an assignment would broadcast it)."""
        for k, v in self.model.params.items():
            if arrays[f"param/{k}"].shape != v.shape:
                raise ValueError(f"param/{k} has shape {arrays[f'param/{k}'].shape}, the model's is {v.shape}")
            v[...] = backend.to_device(arrays[f"param/{k}"])
        scalars, now = self.opt.state_dict()
        saved = {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
        for k, v in now.items():
            if k in saved and saved[k].shape != v.shape:
                raise ValueError(f"opt/{k} has shape {saved[k].shape}, the optimizer's is {v.shape}")
        self.opt.load_state_dict(meta["optimizer"], saved)
        self.it, self.smooth, self.elapsed = int(meta["iteration"]), meta["smooth_loss"], meta["elapsed_s"]
        self.best_val = math.inf if meta.get("best_val") is None else meta["best_val"]
        self.last_val = meta.get("val_loss")
        layers = sorted({int(k.split("/")[1]) for k in arrays if k.startswith("state/")})
        self.state = [tuple(backend.to_device(arrays[f"state/{l}/{j}"])
                            for j in range(2 if self.model.cell == "lstm" else 1)) for l in layers] or None

    # ---- the loop -------------------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        """Ctrl-C (SIGINT) or SIGTERM: finish the iteration, save, exit 0; a second one stops at once."""
        if self._stop:                                        # second Ctrl-C: stop right now
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self._stop = True
        what = "SIGTERM" if signum == signal.SIGTERM else "interrupt"
        print(f"\n{what}: finishing this iteration, then saving (Ctrl-C again to abort)",
              file=self.out, flush=True)

    # ---- progress and ETA -----------------------------------------------------------------------
    def step_time(self) -> float:
        """Seconds per training iteration: the median of the recent progress windows, the first
        window of this process left out once there are others (it compiled the kernels)."""
        rates = self._rates[1:] if len(self._rates) > 1 else self._rates
        rates = sorted(rates[-RATE_WINDOWS:])
        return rates[len(rates) // 2] if rates else 0.0

    def _points(self, every: int, done: int) -> int:
        """How many of the iterations done+1 .. iters are points of `every` (the last one is always)."""
        if every <= 0 or done >= self.iters:
            return 0
        return self.iters // every - done // every + (self.iters % every != 0)

    def eta(self) -> float:
        """Seconds left: the iterations, evaluations (and the whole split at the end), checkpoint
        saves and samples still to come, each at its measured cost."""
        t = (self.iters - self.it) * self.step_time()
        W = len(self.val)
        n = W if self.eval_windows is None else min(self.eval_windows, W)
        evals = self._points(self.eval_every, self._last_eval)
        if evals:
            t += evals * (n * (self._t_valwin or 0.0) + self._t_save) + (W - n) * (self._t_valwin or 0.0)
        if self.sample_fn is not None and self.sample_every > 0:
            t += self._points(self.sample_every, self._last_sample) * self._t_sample
        return t

    def _probe_validation(self) -> None:
        """Time a few validation windows (state carried, as in a pass), once, at the first progress
        line: the ETA then counts the evaluations before the first one has run. The first two windows
        compile the forward-only kernels (with and without a carried state) and are not counted."""
        self._probed = True
        k = min(3, len(self.val))
        if k == 0:
            return
        state, t0 = None, None
        for w in range(k):
            if w == k - 1:
                backend.synchronize()
                t0 = self.clock()
            x, y = (backend.to_device(a) for a in self.val.window(w))
            _, state = self.model.eval_loss(x, y, state)
        backend.synchronize()
        self._t_valwin = self.clock() - t0

    def _progress(self, now):
        t_step = self.step_time()
        cps = self.train.chars_per_window / t_step if t_step > 0 else 0.0
        eta = self.eta()
        self.last_eta = (now, eta)
        val = f"{self.last_val:.4f}" if self.last_val is not None else "-"
        line = (f"iter {self.it}/{self.iters} | epoch {self.it / len(self.train):.2f} | "
                f"train {self.smooth:.4f} | val {val} | {cps:,.0f} {self.unit}/s | ETA {fmt_time(eta)}")
        print(line, file=self.out, flush=True)
        return cps

    # ---- evaluation points: metrics line, then checkpoints -------------------------------------
    def _eval_point(self, cps):
        t0 = self.clock()
        W = len(self.val)
        n = W if self.eval_windows is None else min(self.eval_windows, W)
        full_too = n < W and self.it >= self.iters            # the whole split once, at the end
        val, full = self._val_pass(n, W if full_too else n, progress=True)
        t1 = self.clock()
        skipped = full_too and full is None                   # stopped during the whole split
        if skipped:
            full_too, full = False, val
        else:
            self._t_valwin = (t1 - t0) / (W if full_too else n)
        self._last_eval = self.it
        for v in (val, full):
            if not math.isfinite(v):
                raise NonFiniteError(f"the validation loss is {v} at iteration {self.it}")
        if not self.params_finite():
            raise NonFiniteError(f"the parameters are NaN/inf or above {MAX_WEIGHT:g} at iteration {self.it}")
        self.last_val = val
        record = {"iter": self.it, "epoch": round(self.it / len(self.train), 4),
                  "train_loss": self.smooth, "val_loss": self.last_val,
                  "val_ppl": math.exp(min(self.last_val, 700)), f"{self.unit}_per_s": cps,
                  "elapsed_s": round(self.elapsed, 3)}
        if n < W:
            record.update(val_windows=n, val_windows_total=W)
        if full_too:
            record.update(val_loss_full=full, val_ppl_full=math.exp(min(full, 700)))
        if self.metrics_fn is not None:
            record.update(self.metrics_fn(self.last_val))
        improved = self.last_val < self.best_val
        if improved:
            self.best_val = self.last_val
        before = self._append_metrics(record)                 # the line first ...
        try:
            self.save("latest")                               # ... then the checkpoint that commits it
        except BaseException:
            self._truncate_metrics(before)                    # not saved: no line for it either
            raise
        if improved:
            self.save("best")
        self._checkpointed()
        self._t_save = self.clock() - t1
        if full_too:
            print(f"  whole validation split ({W} windows): {full:.4f}", file=self.out, flush=True)
        if skipped:
            print(f"  whole validation split skipped (stopped): eval_char.py --checkpoint "
                  f"{os.path.join(self.dir, 'latest.npz')} computes it", file=self.out, flush=True)
        saved = "latest.npz and best.npz" if improved else "latest.npz"
        print(f"  val loss {self.last_val:.4f} (best {self.best_val:.4f}), saved {saved} in {self.dir}"
              f" [{self.clock() - t0:.1f}s]", file=self.out, flush=True)

    def _checkpointed(self) -> None:
        """latest.npz is written: hand over to ``on_checkpoint`` (which may move the run's directory)."""
        if self.on_checkpoint is not None:
            self.dir = self.on_checkpoint() or self.dir

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.dir, "metrics.jsonl")

    def _append_metrics(self, record: dict) -> int:
        """Append the record as one line, in one write, fsynced. Returns the file's size before it."""
        line = (json.dumps(record, allow_nan=False) + "\n").encode("utf-8")
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        before = None
        try:
            before = os.fstat(fd).st_size
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.metrics_path)
            os.fsync(fd)
        except BaseException:
            if before is not None:
                os.ftruncate(fd, before)                      # never half a line
            raise
        finally:
            os.close(fd)
        return before

    def _truncate_metrics(self, size: int) -> None:
        try:
            os.truncate(self.metrics_path, size)
        except OSError:
            pass                                              # the resumed run drops the line

    def trim_metrics(self) -> int:
        """Drop the metrics.jsonl lines beyond iteration `self.it` (and any line a killed write left
        half-written), so the file matches the checkpoint the run continues from. Returns the
        number of lines dropped."""
        if not os.path.exists(self.metrics_path):
            return 0
        with open(self.metrics_path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
                if isinstance(record, dict) and isinstance(record.get("iter"), int) and record["iter"] <= self.it:
                    kept.append(line)
            except ValueError:
                pass
        if len(kept) != len(lines):
            text = "".join(line + "\n" for line in kept).encode("utf-8")
            checkpoint.atomic_write(self.metrics_path, lambda f: f.write(text))
        return len(lines) - len(kept)

    def _repair_best(self) -> bool:
        """A kill between latest.npz and best.npz left best.npz behind a latest.npz whose evaluation
        was the best: copy latest.npz (+ .json) over it. True if it did."""
        latest, best = (os.path.join(self.dir, n + ".npz") for n in ("latest", "best"))
        if self.last_val is None or self.last_val != self.best_val or not os.path.isfile(latest):
            return False
        try:
            now = checkpoint.load_meta(latest)
            then = checkpoint.load_meta(best) if os.path.isfile(best) else {}
        except UsageError:
            return False
        if (now.get("iteration") != self.it or now.get("run_id") != self.run_id or
                then.get("iteration") == self.it and then.get("run_id") == self.run_id):
            return False
        for ext in (".npz", ".json"):
            if os.path.isfile(latest[:-4] + ext):
                with open(latest[:-4] + ext, "rb") as f:
                    data = f.read()
                checkpoint.atomic_write(best[:-4] + ext, lambda f: f.write(data))
        return True

    def _sample_point(self):
        t0 = self.clock()
        text = self.sample_fn(self.model, np.random.default_rng(self.seed + self.it))
        print("  sample: " + text.replace("\n", "\n          "), file=self.out, flush=True)
        self._t_sample = self.clock() - t0
        self._last_sample = self.it

    def run(self) -> int:
        """Train until `iters`. Returns the exit status: 0 done or interrupted-and-saved, 1 on NaN
        or a failed write, 130 on a second Ctrl-C."""
        os.makedirs(self.dir, exist_ok=True)
        dropped = self.trim_metrics()
        if dropped:
            print(f"dropped {dropped} metrics.jsonl line(s) beyond iteration {self.it}, where this run "
                  f"continues", file=self.out, flush=True)
        if self._repair_best():
            print(f"best.npz was behind latest.npz (a save was cut short): copied latest.npz over it",
                  file=self.out, flush=True)
        # SIGTERM as Ctrl-C; SIGINT unless the process inherited it ignored (a background job)
        sigs = [signal.SIGTERM] + [signal.SIGINT] * (signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
        previous = {s: signal.signal(s, self._on_sigint) for s in sigs}
        try:
            return self._loop()
        except NonFiniteError as e:
            print(f"error: training diverged ({e}); stopping, {self._kept()}. Try a lower --lr or a "
                  f"smaller --clip", file=sys.stderr, flush=True)
            return 1
        except OSError as e:
            print(f"error: cannot write in {self.dir} ({describe_os_error(e)}); stopping at iteration "
                  f"{self.it}, {self._kept()}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt as e:
            print(f"\ninterrupted again: stopped at once without saving; {self._kept()}",
                  file=sys.stderr, flush=True)
            return interrupt_status(e)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _kept(self) -> str:
        latest = os.path.join(self.dir, "latest.npz")
        return (f"the last good checkpoint stays: {latest}" if os.path.exists(latest)
                else "no checkpoint was written")

    def _loop(self) -> int:
        clock = self.clock
        self._last_eval = self._last_sample = self.it
        t_mark, it_mark, cps = clock(), self.it, 0.0
        while self.it < self.iters and not self._stop:
            self.step()
            at_eval = self.it % self.eval_every == 0 or self.it == self.iters
            at_sample = self.sample_fn is not None and self.sample_every > 0 and \
                (self.it % self.sample_every == 0 or self.it == self.iters)   # a short run samples too
            if self.it % self.print_every == 0 or at_eval or at_sample or self._stop:
                if not self._flush():
                    raise NonFiniteError(f"the training loss is NaN/inf by iteration {self.it}")
                backend.synchronize()
                now = clock()
                self.elapsed += now - t_mark
                self._rates.append((now - t_mark) / (self.it - it_mark))
                t_mark, it_mark = now, self.it
                if not self._probed:
                    self._probe_validation()
                    t_mark = clock()
                cps = self._progress(now)
            if at_eval:
                self._eval_point(cps)
            if at_sample:
                self._sample_point()
            if at_eval or at_sample:
                t_mark = clock()
        if self._stop and self.it < self.iters:
            self.save("latest")
            self._checkpointed()
            print(f"interrupted at iteration {self.it}: saved {os.path.join(self.dir, 'latest.npz')}; "
                  f"continue with --resume", file=self.out, flush=True)
        return 0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _utf8(s: str) -> bool:
    """True when s can be written as UTF-8 (no lone surrogate such as '\\ud800')."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool))


def _finite(v) -> bool:
    return _is_number(v) and math.isfinite(v)


# the largest weight a checkpoint may hold: with |w| <= 1e6 no forward pass overflows float32 (gate
# pre-activations stay below 1e6 * 1e6 * D, h is bounded by tanh); a trained model's are below 100
MAX_WEIGHT = 1e6


def check_meta(meta: dict, arrays: dict, path: str, kind: str) -> None:
    """One check of a Trainer checkpoint's metadata, before anything reads it: the JSON types of
    every field the loop, the scripts and ``RNNLM.from_params`` use, and their agreement with the
    arrays (a vocabulary as long as the output layer, a config matching the weights' shapes).
    A checkpoint that fails it is a UsageError naming the field, never an AttributeError later."""
    def bad(field, want):
        got = meta.get(field) if isinstance(meta, dict) else meta
        raise UsageError(f"{path}: checkpoint metadata is malformed: {field} should be {want}, "
                         f"got {json.dumps(got)[:60]}")
    if meta.get("kind") != kind:
        held = meta.get("kind")
        raise UsageError(f"{path}: not a {kind}-model checkpoint (it holds " +
                         (f"a {str(held)[:40]!r} model)" if held else "no model kind)"))
    if meta.get("format") != FORMAT:
        raise UsageError(f"{path}: a {kind}-model checkpoint of an unknown format "
                         f"({str(meta.get('format'))[:40]!r}, expected {FORMAT!r})")
    for field, test, want in (
            ("iteration", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
            ("smooth_loss", lambda v: v is None or _finite(v), "a finite number"),
            ("elapsed_s", lambda v: _finite(v) and v >= 0, "a finite number >= 0"),
            ("best_val", lambda v: v is None or _finite(v), "a finite number or null"),
            ("val_loss", lambda v: v is None or _finite(v), "a finite number or null"),
            ("run_id", lambda v: v is None or isinstance(v, str), "a string"),
            ("optimizer", lambda v: isinstance(v, dict), "an object"),
            ("flags", lambda v: isinstance(v, dict), "an object"),
            ("model", lambda v: isinstance(v, dict), "an object")):
        if field in meta or field in ("iteration", "model"):
            if not test(meta.get(field)):
                bad(field, want)
    opt = meta.get("optimizer")
    if isinstance(opt, dict) and not (isinstance(opt.get("type"), str) and _finite(opt.get("lr")) and opt["lr"] >= 0
                                      and _is_int(opt.get("t")) and opt["t"] >= 0):
        bad("optimizer", "an object with type, lr >= 0 and a step count t >= 0")
    m = meta["model"]
    for field, test, want in (
            ("vocab_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
            ("hidden", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
            ("layers", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
            ("cell", lambda v: v in stack.CELLS, "one of " + ", ".join(map(repr, stack.CELLS))),
            ("dropout", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
            ("dtype", lambda v: v in ("float32", "float64"), "'float32' or 'float64'"),
            ("frozen", lambda v: isinstance(v, list), "a list")):
        if not test(m.get(field)):
            raise UsageError(f"{path}: checkpoint metadata is malformed: model.{field} should be {want}, "
                             f"got {json.dumps(m.get(field))[:60]}")
    out_w = arrays.get("param/out.W")
    if out_w is None or out_w.shape != (m["hidden"], m["vocab_size"]):
        raise UsageError(f"{path}: the checkpoint's weights do not match its config (out.W "
                         f"{None if out_w is None else out_w.shape}, config H={m['hidden']}, "
                         f"V={m['vocab_size']})")
    for k, a in arrays.items():                               # weights NaN/inf: the file is damaged
        if k.startswith(("param/", "opt/", "state/")) and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise UsageError(f"{path}: the checkpoint's {k} holds NaN or inf; it cannot be used "
                             f"(train again, or use an earlier checkpoint such as best.npz)")
    for k, a in arrays.items():                               # finite but absurd: the file is damaged
        if k.startswith("param/") and a.dtype.kind == "f" and a.size and float(np.abs(a).max()) > MAX_WEIGHT:
            raise UsageError(f"{path}: the checkpoint's {k} holds weights up to {float(np.abs(a).max()):.3g} in "
                             f"magnitude (a trained model's are far below {MAX_WEIGHT:g}); it cannot be used")
    n_layers = len({k.split(".")[1] for k in arrays if k.startswith("param/rnn.")})
    if n_layers != m["layers"]:
        raise UsageError(f"{path}: the checkpoint holds {n_layers} recurrent layers, its config says {m['layers']}")
    _check_state(meta, arrays, path, m)
    names = {"char": "vocab", "word": "words"}[kind] if kind in ("char", "word") else None
    if names is not None:
        table = meta.get(names)
        if not (isinstance(table, list) and all(isinstance(c, str) and c and _utf8(c) for c in table)
                and len(set(table)) == len(table)) or (kind == "char" and any(len(c) != 1 for c in table)):
            bad(names, "a list of distinct " + ("characters" if kind == "char" else "words"))
        # the char model predicts its characters; the word model's classes are clusters or words
        if kind == "char" and len(table) != m["vocab_size"]:
            raise UsageError(f"{path}: the checkpoint's vocabulary has {len(table)} characters, its weights "
                             f"{m['vocab_size']}")
        if kind == "word":
            if not isinstance(meta.get("clustered"), bool):
                bad("clustered", "true or false")
            labels = arrays.get("extra/labels")
            if labels is None or labels.shape != (len(table),):
                raise UsageError(f"{path}: the checkpoint's word list ({len(table)} words) does not match its "
                                 f"word maps ({None if labels is None else labels.shape})")
            if labels.size and (labels.min() < 0 or labels.max() >= m["vocab_size"]):
                raise UsageError(f"{path}: the checkpoint's word maps point outside its {m['vocab_size']} classes")
            for key in ("extra/logp_in", "extra/vectors"):
                a = arrays.get(key)
                if a is None or a.ndim != (1 if key == "extra/logp_in" else 2) or a.shape[0] != len(table):
                    raise UsageError(f"{path}: the checkpoint's {key} does not match its {len(table)} words")
            logp = arrays["extra/logp_in"]
            if logp.dtype.kind != "f" or not np.isfinite(logp).all() or (logp > 1e-9).any():
                raise UsageError(f"{path}: the checkpoint's extra/logp_in should hold log-probabilities "
                                 f"(finite, <= 0), it does not")
            table_w = arrays.get("param/embed.W")
            width = arrays["extra/vectors"].shape[1]
            if table_w is None or table_w.ndim != 2 or table_w.shape[1] != width:
                raise UsageError(f"{path}: the checkpoint's word vectors have {width} dimensions, its input "
                                 f"table {None if table_w is None else table_w.shape}: they do not belong together")
            if arrays["extra/vectors"].dtype.kind != "f" or not np.isfinite(arrays["extra/vectors"]).all():
                raise UsageError(f"{path}: the checkpoint's extra/vectors holds NaN or inf")


def _check_state(meta: dict, arrays: dict, path, m: dict) -> None:
    """The carried state (state/<layer>/<j>): none, or every layer's, each (N, H) with N the batch."""
    keys = sorted(k for k in arrays if k.startswith("state/"))
    if not keys:
        return
    per = 2 if m["cell"] == "lstm" else 1
    want = {f"state/{l}/{j}" for l in range(m["layers"]) for j in range(per)}
    batch = meta.get("flags", {}).get("batch") if isinstance(meta.get("flags"), dict) else None
    shapes = {arrays[k].shape for k in keys}
    n = next(iter(shapes))[0] if len(shapes) == 1 and len(next(iter(shapes))) == 2 else None
    if set(keys) != want or n is None or next(iter(shapes))[1] != m["hidden"] or \
            (_is_int(batch) and n != batch) or any(arrays[k].dtype.kind != "f" for k in keys):
        raise UsageError(f"{path}: the checkpoint's carried state ({len(keys)} arrays of shape "
                         f"{sorted(shapes)[:2]}) does not fit its model ({m['layers']} layers x {per}, "
                         f"each (batch {batch}, H {m['hidden']}))")


def load_model(path: str, kind: str):
    """(model, arrays, meta) from a checkpoint written by a Trainer for a `kind` ('char'/'word') model."""
    arrays, meta = checkpoint.load(path)
    check_meta(meta, arrays, path, kind)
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    try:
        return RNNLM.from_params(meta["model"], params), arrays, meta
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError(f"{path}: checkpoint does not match its own config ({e})") from None
