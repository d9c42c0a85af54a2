"""Search strategies that plug into the one loop, and the registry that builds them by name (``strategy=``).

Each strategy builds itself from the search config (`Strategy.from_config`: its own node, the seed and the
trainer's schedule). `enas.strategies.base.Strategy` is the protocol, with a default for every step.
"""
from __future__ import annotations

from typing import Dict, Sequence, Type

from supernet import Decision

from .base import Strategy
from .differentiable import DARTSStrategy, GDASStrategy
from .enas import ENASStrategy
from .evolution import EvolutionStrategy, RegularizedEvolution, crossover, mutate
from .predictor import PredictorStrategy
from .random import RandomStrategy

__all__ = ["STRATEGIES", "create_strategy", "Strategy", "RandomStrategy", "ENASStrategy", "EvolutionStrategy",
           "PredictorStrategy", "DARTSStrategy", "GDASStrategy", "RegularizedEvolution", "crossover", "mutate"]

STRATEGIES: Dict[str, Type[Strategy]] = {
    "enas": ENASStrategy, "random": RandomStrategy, "evolution": EvolutionStrategy, "predictor": PredictorStrategy,
    "darts": DARTSStrategy, "gdas": GDASStrategy,
}


def create_strategy(cfg, decisions: Sequence[Decision], device, constraint=None, predictor=None) -> Strategy:
    """The strategy ``cfg.strategy`` of a search config, over ``decisions``."""
    if cfg.strategy not in STRATEGIES:
        raise KeyError(f"unknown strategy {cfg.strategy!r}; available: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[cfg.strategy].from_config(cfg, decisions, device, constraint, predictor)
