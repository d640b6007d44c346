"""The pictures of scripts/inspect_char.py and scripts/plot_metrics.py, drawn with matplotlib.

matplotlib is an optional extra (``pip install -e ".[plot]"``): this module imports it only inside
``require_matplotlib``, which the scripts call first, so that without it they stop with one line
saying how to install it (exit 2) instead of a traceback. The numbers come from minirnn/introspect.py.
Each function returns PNG bytes (or writes a file).
"""
from __future__ import annotations

import io

from .errors import UsageError

INSTALL_HINT = ('matplotlib is needed to draw the plots: pip install -e ".[plot]" '
                '(or pip install matplotlib)')


def require_matplotlib():
    """Import matplotlib with a non-interactive backend; UsageError (one line, exit 2) without it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return plt


def _png(fig, dpi=100) -> bytes:
    plt = require_matplotlib()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def loss_curves(runs, title=None, figsize=(6.5, 3.6)) -> bytes:
    """runs: list of (label, records) with records from metrics.jsonl (dicts with 'iter',
    'train_loss', 'val_loss'). Training loss dashed, validation solid, one colour per run."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=figsize)
    for j, (label, recs) in enumerate(runs):
        color = f"C{j % 10}"
        it = [r["iter"] for r in recs if "train_loss" in r]
        ax.plot(it, [r["train_loss"] for r in recs if "train_loss" in r], "--", color=color,
                label=f"{label} train")
        it = [r["iter"] for r in recs if r.get("val_loss") is not None]
        ax.plot(it, [r["val_loss"] for r in recs if r.get("val_loss") is not None], "-o", color=color,
                markersize=3, label=f"{label} validation")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _png(fig)


def runs_side_by_side(runs, figsize_per=(4.2, 3.4)) -> bytes:
    """One panel per run (training dashed, validation solid), shared y axis: plot_metrics.py."""
    plt = require_matplotlib()
    n = len(runs)
    fig, axes = plt.subplots(1, n, figsize=(figsize_per[0] * n, figsize_per[1]), sharey=True, squeeze=False)
    for ax, (label, recs) in zip(axes[0], runs):
        it = [r["iter"] for r in recs if "train_loss" in r]
        ax.plot(it, [r["train_loss"] for r in recs if "train_loss" in r], "--", color="C0", label="train")
        it = [r["iter"] for r in recs if r.get("val_loss") is not None]
        vals = [r["val_loss"] for r in recs if r.get("val_loss") is not None]
        ax.plot(it, vals, "-o", color="C3", markersize=3, label="validation")
        if vals:
            ax.annotate(f"{vals[-1]:.3f}", (it[-1], vals[-1]), textcoords="offset points", xytext=(-10, 8),
                        fontsize=8, color="C3")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss (nats per character or word)")
    axes[0][0].legend(fontsize=8)
    return _png(fig)


def saturation_scatter(sat_per_layer, figsize=(10, 3.4)) -> bytes:
    """Karpathy, Johnson & Fei-Fei (2015), fig. 3: one panel per gate (input, forget, output), one
    dot per unit at (fraction of steps < 0.1, fraction > 0.9), coloured by layer.
    sat_per_layer: list over layers of gate_saturation() dicts."""
    plt = require_matplotlib()
    from .introspect import GATE_NAMES, GATES
    fig, axes = plt.subplots(1, 3, figsize=figsize, sharex=True, sharey=True)
    for ax, g in zip(axes, GATES):
        for l, sat in enumerate(sat_per_layer):
            left, right = sat[g]
            ax.scatter(left, right, s=9, alpha=0.6, color=f"C{l % 10}", label=f"layer {l}")
        ax.plot([0, 1], [1, 0], color="0.6", lw=0.8)               # always saturated
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(GATE_NAMES[g], fontsize=10)
        ax.set_xlabel("fraction left-saturated (< 0.1)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction right-saturated (> 0.9)")
    axes[0].legend(fontsize=8, loc="upper right")
    return _png(fig)


def gradient_flow(curves, figsize=(6.5, 3.8)) -> bytes:
    """‖∂L_t/∂h^l_{t-k}‖ against k on a log scale. curves: list of (label, flow) with flow from
    introspect.gradient_flow; one colour per model, one line style per layer; an LSTM's
    ‖∂L_t/∂c^l_{t-k}‖ thin and dotted."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=figsize)
    styles = ["-", "--", "-.", ":"]
    for j, (label, flow) in enumerate(curves):
        color = f"C{j % 10}"
        k = flow["k"]
        for l in range(flow["h"].shape[0]):
            ax.plot(k, flow["h"][l], styles[l % 4], color=color, marker="o", markersize=2.5,
                    label=f"{label}: ‖∂L/∂h‖ layer {l}")
            if flow["c"] is not None:
                ax.plot(k, flow["c"][l], styles[l % 4], color=color, lw=0.8, alpha=0.5,
                        label=f"{label}: ‖∂L/∂c‖ layer {l}")
    ax.set_yscale("log")
    ax.set_xlabel("k (steps back from the loss at step t)")
    ax.set_ylabel("mean ‖∂L_t / ∂state_{t-k}‖")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _png(fig)
