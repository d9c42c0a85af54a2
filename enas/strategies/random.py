"""``strategy=random``: random search with weight sharing (RSPS, Li & Talwalkar 2019, arXiv:1902.07638).

Uniform sampling trains the shared weights throughout; derive scores uniformly random candidates with
them. With ``trainer.epochs=0`` and a zero-cost ``derive.select`` it is a training-free search.
"""
from __future__ import annotations

from .base import Strategy

__all__ = ["RandomStrategy"]


class RandomStrategy(Strategy):
    """Every step of the protocol as `Strategy` defines it."""

    name = "random"
