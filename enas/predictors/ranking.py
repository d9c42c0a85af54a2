"""Ranks, rank correlations and rank combinations of scores over a set of architectures.

Signals on different scales (a loss, a log-determinant, a parameter count) are combined by their
ranks within the set being compared, not by their values. `log_rank_sum` is AZ-NAS's non-linear rank
aggregation (Lee & Ham, CVPR 2024, arXiv:2403.19232, eq. 9): sum over signals of log(rank / n), rank 1
the worst, so an architecture must do well on *every* signal to score high; one bad signal costs more
than one good signal gains.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Sequence

import numpy as np

__all__ = ["ranks", "kendall_tau", "spearman_rho", "log_rank_sum", "rank_sum", "AZ_NAS"]

# AZ-NAS = these four signals, combined by log_rank_sum.
AZ_NAS = ("expressivity", "progressivity", "trainability", "flops")


def ranks(values: Sequence[float]) -> List[float]:
    """1-based ranks, ascending (the largest value gets rank n); ties share their average rank;
    NaN counts as the worst."""
    keyed = [(-math.inf if v is None or math.isnan(v) else v) for v in values]
    order = sorted(range(len(keyed)), key=lambda i: keyed[i])
    out = [0.0] * len(keyed)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and keyed[order[j + 1]] == keyed[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else 0.0


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either list are accounted for). O(n^2) pairs, one vectorised row at a
    time: about a second for the 15,625 cells of NAS-Bench-201."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(xs) - 1):
        with np.errstate(invalid="ignore"):  # NaN inputs or inf - inf: a NaN difference
            dx, dy = np.sign(xs[i + 1:] - xs[i]), np.sign(ys[i + 1:] - ys[i])
        comparable = ~(np.isnan(dx) | np.isnan(dy))  # a pair with a NaN difference counts nowhere
        dx, dy = dx[comparable], dy[comparable]
        product = dx * dy
        concordant += int(np.count_nonzero(product > 0))
        discordant += int(np.count_nonzero(product < 0))
        ties_x += int(np.count_nonzero((dx == 0) & (dy != 0)))
        ties_y += int(np.count_nonzero((dy == 0) & (dx != 0)))
    denom = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denom if denom else 0.0


def _columns(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> Dict[str, List[float]]:
    missing = [n for n in names if any(n not in r for r in rows)]
    if missing:
        raise KeyError(f"signal {missing[0]!r} is missing from some of the scored architectures")
    return {n: [float(r[n]) for r in rows] for n in names}


def log_rank_sum(rows: Sequence[Mapping[str, float]], names: Sequence[str],
                 weights: Mapping[str, float] = None) -> List[float]:
    """AZ-NAS aggregation of ``names`` over ``rows`` (one mapping of signal -> value per
    architecture, higher better): sum of weight * log(rank / n). Higher is better."""
    if not rows:
        return []
    n = len(rows)
    total = [0.0] * n
    for name, column in _columns(rows, names).items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        for i, r in enumerate(ranks(column)):
            total[i] += w * math.log(r / n)
    return total


def rank_sum(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> List[float]:
    """Plain (linear) sum of ranks: a bad signal costs no more than a good one gains."""
    total = [0.0] * len(rows)
    for column in _columns(rows, names).values():
        for i, r in enumerate(ranks(column)):
            total[i] += r
    return total
