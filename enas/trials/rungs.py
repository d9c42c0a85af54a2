"""Early stopping of poor trials: asynchronous successive halving (ASHA, Li et al., MLSys 2020, arXiv:1810.05934).

A child is scored on validation at every rung (``rung_epochs``, ``rung_epochs * eta``, ... below its full
budget of ``epochs``). It continues past a rung only if its score is among the best ``1/eta`` of all scores
recorded at that rung so far (itself included; the first to arrive always continues), so the epochs go to
promising children without waiting for a whole generation: the asynchronous, stop-or-continue form that
Ray Tune's ``ASHAScheduler`` also uses. Synchronous successive halving over a fixed set of finalists is
`enas.search.short_train`.
"""
from __future__ import annotations

from typing import Dict, List

__all__ = ["Rungs"]


class Rungs:
    """The epochs at which a child is judged, and the scores recorded there."""

    def __init__(self, epochs: int, rung_epochs: int = 0, eta: int = 3):
        self.epochs, self.eta = epochs, eta
        self.milestones: List[int] = []
        r = rung_epochs
        while r and r < epochs:
            self.milestones.append(r)
            r *= eta
        self.scores: Dict[int, List[float]] = {m: [] for m in self.milestones}

    def next_stop(self, epoch: int) -> int:
        """The epoch a child that has trained ``epoch`` epochs trains to next: its next rung, else its budget."""
        return next((m for m in self.milestones if m > epoch), self.epochs)

    def record(self, epoch: int, score: float) -> bool:
        """Record a child's ``score`` at rung ``epoch``; whether it continues (always at the full budget: no)."""
        if epoch not in self.scores:
            return False
        scores = self.scores[epoch]
        scores.append(score)
        keep = max(1, len(scores) // self.eta)
        return sum(s > score for s in scores) < keep

    def replay(self, rung_scores: Dict) -> None:
        """Add a finished trial's rung scores (from the trials file of a resumed run)."""
        for epoch, score in rung_scores.items():
            if int(epoch) in self.scores:
                self.scores[int(epoch)].append(float(score))
