"""The report's figures, each a function of a `Run` returning a matplotlib figure (None when the run
has nothing to show for it): training curves, the controller's curves, the policy's heat map, and
derive's candidates against a benchmark."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from ..predictors.ranking import spearman_rho
from .runfiles import Run, number

__all__ = ["training_figure", "controller_figure", "policy_figure", "candidates_figure", "trials_figure", "spearman"]

CONTROLLER_CURVES = (("reward", "reward"), ("reward_max", "best reward"), ("baseline", "baseline"))


def _epochs(run: Run) -> List[float]:
    return [number(r.get("epoch")) for r in run.metrics]


def _plot(ax, run: Run, columns: Sequence[str], labels: Optional[Dict[str, str]] = None) -> bool:
    x = _epochs(run)
    drawn = False
    for name in columns:
        ys = run.column(name)
        pts = [(a, b) for a, b in zip(x, ys) if a is not None and b is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, ms=3, label=(labels or {}).get(name, name))
            drawn = True
    if drawn:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel("epoch")
    return drawn


def training_figure(run: Run):
    """Loss, accuracy (or perplexity) and learning rate per epoch."""
    import matplotlib.pyplot as plt

    if not run.metrics:
        return None
    keys = list(run.metrics[0])
    losses = [k for k in keys if k.endswith("_loss") and k != "controller_loss" and run.has(k)]
    scores = [k for k in keys if (k.endswith("_acc") or k.endswith("_ppl")) and run.has(k)]
    panels = [(losses, "loss"), (scores, "accuracy" if any(k.endswith("_acc") for k in scores) else "perplexity"),
              (["lr"] if run.has("lr") else [], "learning rate")]
    panels = [(cols, title) for cols, title in panels if cols]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (cols, title) in zip(axes[0], panels):
        _plot(ax, run, cols)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def controller_figure(run: Run):
    """Reward, best reward and baseline; entropy; the skip rate where the space has skips."""
    import matplotlib.pyplot as plt

    if not run.has("reward"):
        return None
    skips = run.has("skip_rate") and any(v for v in run.column("skip_rate") if v)
    panels = [("reward",), ("entropy",)] + ([("skip_rate",)] if skips else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    _plot(axes[0][0], run, [c for c, _ in CONTROLLER_CURVES], dict(CONTROLLER_CURVES))
    axes[0][0].set_title("controller reward (validation)", fontsize=10)
    _plot(axes[0][1], run, ["entropy"])
    axes[0][1].set_title("policy entropy (summed over decisions)", fontsize=10)
    if skips:
        _plot(axes[0][2], run, ["skip_rate"])
        axes[0][2].set_title("skip rate", fontsize=10)
    fig.tight_layout()
    return fig


def policy_figure(epochs: List[int], table: Dict[str, Dict], max_panels: int = 96):
    """One small heat map per decision: the probability of each option (rows) over epochs (columns)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    if not epochs or not table:
        return None
    labels = list(table)[:max_panels]
    cols = min(6, len(labels))
    rows = math.ceil(len(labels) / cols)
    tallest = max(len(table[label]["options"]) for label in labels)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.8, (0.55 + 0.16 * tallest) * rows + 0.6),
                             squeeze=False)
    image = None
    for ax, label in zip(axes.flat, labels):
        probs = np.asarray(table[label]["probs"], dtype=float).T  # options x epochs
        image = ax.imshow(probs, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest",
                          extent=(epochs[0] - 0.5, epochs[-1] + 0.5, len(probs) - 0.5, -0.5))
        ax.set_yticks(range(len(probs)))
        ax.set_yticklabels([o.rsplit("/", 1)[-1] for o in table[label]["options"]], fontsize=6)
        ax.tick_params(axis="x", labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.set_title(label, fontsize=7)
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.suptitle("policy: probability of each option per epoch (along its most likely architecture)"
                 + (f"; first {max_panels} of {len(table)} decisions" if len(table) > max_panels else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.93, 0.97))
    if image is not None:
        fig.colorbar(image, cax=fig.add_axes((0.945, 0.15, 0.012, 0.7)))
    return fig


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get mean ranks); NaN for fewer than 3 pairs or a constant side."""
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan
    return spearman_rho(a, b)


def candidates_figure(scores: List[float], accuracies: List[float], selected: List[bool], score_name: str):
    """Derive's candidates: shared-weight score against benchmark accuracy, the pick marked."""
    import matplotlib.pyplot as plt

    if not scores:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    ax.scatter(scores, accuracies, s=14, alpha=0.6, label="candidates")
    picked = [(s, a) for s, a, p in zip(scores, accuracies, selected) if p]
    if picked:
        ax.scatter(*zip(*picked), s=90, marker="*", color="tab:red", label="derived")
    best = max(accuracies)
    ax.axhline(best, color="0.6", lw=0.8, ls="--", label=f"best candidate {best:.2f}")
    ax.set_xlabel(f"shared-weight {score_name}")
    ax.set_ylabel("NAS-Bench-201 CIFAR-10 test accuracy")
    ax.set_title(f"derive's {len(scores)} candidates: Spearman {spearman(scores, accuracies):.2f}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def trials_figure(trials: Sequence[Dict]):
    """A multi-trial search's children in the order they finished: each one's validation score (marked by how
    it ended) and the best so far among those that trained the whole budget."""
    import matplotlib.pyplot as plt

    if not trials:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for status, marker in (("finished", "o"), ("stopped", "v"), ("timed_out", "s"), ("failed", "x")):
        pts = [(i, t["score"]) for i, t in enumerate(trials) if t["status"] == status]
        if pts:
            ax.scatter(*zip(*pts), s=12, marker=marker, label=status.replace("_", " "))
    full = max(t["epochs"] for t in trials)
    best, line = -math.inf, []
    for i, t in enumerate(trials):
        if t["status"] != "failed" and t["epochs"] == full:
            best = max(best, t["score"])
        line.append(best if math.isfinite(best) else None)
    pts = [(i, b) for i, b in enumerate(line) if b is not None]
    if pts:
        ax.plot(*zip(*pts), color="k", lw=1, label="best (whole budget)")
    ax.set_xlabel("trial (in the order they finished)")
    ax.set_ylabel("validation score")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
