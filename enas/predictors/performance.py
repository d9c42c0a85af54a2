"""The search's performance predictor: what it measured (shared-weight scores), learned.

Wraps a `Surrogate` with the search's bookkeeping: every architecture the search evaluates with the
shared weights (controller rewards, derive's scores, the predictor strategy's evaluations) becomes a
training point (`observe`); `refit` runs once per epoch and returns the held-out error that the search
writes to ``metrics.csv``; the predictor counts as `ready` once it has been fitted on ``min_points``.
With zero-cost features, their scores come from a `ZeroCostScorer` (cached per architecture).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .surrogate import Surrogate
from .zero_cost import ZeroCostScorer

__all__ = ["PerformancePredictor"]


class PerformancePredictor:
    def __init__(self, surrogate: Surrogate, zero_cost: Optional[ZeroCostScorer] = None, min_points: int = 30):
        if surrogate.extra and zero_cost is None:
            raise ValueError(f"predictor features {list(surrogate.extra)} need zero-cost proxies")
        self.surrogate, self.zero_cost, self.min_points = surrogate, zero_cost, max(int(min_points), 2)

    def _extra(self, arch: Mapping) -> Optional[Dict[str, float]]:
        return self.zero_cost.score(arch) if self.surrogate.extra else None

    def observe(self, arch: Mapping, score: float) -> None:
        self.surrogate.add(arch, score, self._extra(arch))

    def __len__(self) -> int:
        return len(self.surrogate)

    @property
    def known(self) -> int:
        """Points it learns from: observed here, and from earlier searches (a warm start's prior)."""
        return len(self.surrogate) + len(self.surrogate.prior)

    @property
    def ready(self) -> bool:
        return self.surrogate.fitted and self.known >= self.min_points

    def warm_start(self, points: Sequence[Tuple[Mapping, float]]) -> Dict[str, float]:
        """Learn earlier searches' ``points`` (architecture, rank in [0, 1]) and fit on them now, so the
        predictor guides from the first step when they are ``min_points`` or more."""
        self.surrogate.set_prior(points, [self._extra(a) for a, _ in points] if self.surrogate.extra else None)
        return self.refit()

    def refit(self, force: bool = False) -> Dict[str, float]:
        """Fit on everything observed so far; the held-out error, or {} while points are too few
        (fewer than ``min_points``; with ``force``, fewer than 2)."""
        return self.surrogate.fit() if self.known >= (2 if force else self.min_points) else {}

    def predict(self, archs: Sequence[Mapping]) -> Tuple[List[float], List[float]]:
        extras = [self._extra(a) for a in archs] if self.surrogate.extra else None
        return self.surrogate.predict(archs, extras)

    def state_dict(self) -> dict:
        return self.surrogate.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.surrogate.load_state_dict(state)
